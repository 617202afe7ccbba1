// Owns one image of a backfill: index it with indexImage (v2: skip it when its `<tag><suffix>` tags exist), and turn
// what happened into its ImageRecord. Outcomes are decided on result statuses and error codes, never on message text.

import { ZtocError } from '../errors.js';
import { RegistryStore } from '../image/registry-store.js';
import type { Platform } from '../oci/types.js';
import type { RegistryClient } from '../registry/client.js';
import { Repository } from '../registry/repository.js';
import type { SociIndexVersion } from '../soci/index.js';
import type { Optimization } from '../soci/optimizations.js';
import type { InflatePool } from '../ztoc/pool.js';
import type { ZtocStore } from './backfill-cache.js';
import { countSkips, describeSkips, newRecord, type BlobCounts, type ImageRecord, type SkipLabels } from './backfill-report.js';
import { describe, type Candidate } from './backfill-select.js';
import { indexImage, type IndexEvent, type IndexResult } from './index-image.js';
import { pruneIndexes } from './remove.js';

/** What every image of a run shares. */
export interface ImageJob {
  registry: string;
  client: RegistryClient;
  spanSize: number;
  minLayerSize: number;
  indexVersion: SociIndexVersion;
  buildToolId: string;
  tagSuffix: string;
  optimizations: readonly Optimization[];
  prefetchPaths: readonly string[];
  platforms: Platform[] | 'all' | undefined;
  force: boolean;
  /** v1: remove the image's other SOCI indexes whose settings differ from the run's (remove.ts pruneIndexes). */
  prune: boolean;
  layerConcurrency: number;
  pool: InflatePool | undefined;
  cache: ZtocStore;
  skipLabels: SkipLabels;
  /** Counted across the run as images push their zTOC blobs. */
  blobs: BlobCounts;
  /** Called with the compressed bytes each image reads, as it reads them. */
  onBytes: (n: number) => void;
}

/** v2: the SOCI-enabled index goes under `<tag><suffix>` for each tag of the image (a digest prefix if untagged). */
export function v2Tags(c: Candidate, tagSuffix: string): string[] {
  return (c.tags.length > 0 ? c.tags : [c.digest.replace(/^sha256:/, '').slice(0, 32)]).map((t) => `${t}${tagSuffix}`.slice(0, 128));
}

export async function indexCandidate(c: Candidate, job: ImageJob): Promise<ImageRecord> {
  const t0 = performance.now();
  const rec = newRecord(job.registry, c, 'failed', 'failed', { at: '' });
  const repo = new Repository(job.registry, c.repo, { client: job.client });
  try {
    const tags = v2Tags(c, job.tagSuffix);
    if (job.indexVersion === 'v2' && !job.force && (await v2Exists(repo, tags, rec))) return rec;
    const r = await indexImage(new RegistryStore(repo), c.digest, {
      ...(job.platforms !== undefined ? { platforms: job.platforms } : {}),
      spanSize: job.spanSize,
      minLayerSize: job.minLayerSize,
      indexVersion: job.indexVersion,
      ...(job.indexVersion === 'v2' ? { tag: tags[0]! } : {}),
      force: job.force,
      buildToolId: job.buildToolId,
      optimizations: job.optimizations,
      prefetchPaths: job.prefetchPaths,
      concurrency: job.layerConcurrency,
      ...(job.pool ? { pool: job.pool } : {}),
      ztocCache: job.cache.forRepository(c.repo),
      onEvent: counter(rec, job),
    });
    if (r.v2Index !== undefined && tags.length > 1) {
      const doc = await repo.resolve(r.v2Index.descriptor.digest);
      for (const t of tags.slice(1)) await repo.pushManifest(t, doc.bytes, doc.descriptor.mediaType);
    }
    recordResult(rec, r, job);
    if (job.prune && job.indexVersion === 'v1') await prune(new RegistryStore(repo), r, rec);
  } catch (err) {
    recordError(rec, err);
  } finally {
    rec.seconds = (performance.now() - t0) / 1000;
    rec.at = new Date().toISOString();
  }
  return rec;
}

/** `--prune`: the stale indexes next to each platform's index (pushed or found); one not removed fails the image. */
async function prune(store: RegistryStore, r: IndexResult, rec: ImageRecord): Promise<void> {
  const removed = [];
  for (const p of r.platforms) {
    if (p.sociIndex === undefined || (p.status !== 'indexed' && p.status !== 'exists')) continue;
    removed.push(...(await pruneIndexes(store, { platform: p.platform, manifest: p.manifest.digest }, p.sociIndex)));
  }
  const refused = removed.filter((x) => x.outcome !== 'removed');
  if (refused.length > 0) throw new ZtocError('REGISTRY_DENIED', `--prune: ${refused.map((x) => `${x.index}: ${x.note ?? 'not removed'}`).join('; ')}`);
  if (removed.length === 0) return;
  rec.pruned = removed.map((x) => x.index);
  rec.reason = `${rec.reason ?? ''}; pruned ${removed.length} stale SOCI index${removed.length === 1 ? '' : 'es'}`;
}

/** v2 without force: an image whose every `<tag><suffix>` exists is done (recorded as exists). */
async function v2Exists(repo: Repository, tags: string[], rec: ImageRecord): Promise<boolean> {
  const have = await Promise.all(tags.map((t) => repo.headManifest(t)));
  const found = have.filter((d) => d !== undefined);
  if (found.length < tags.length) return false;
  rec.status = 'skipped';
  rec.outcome = 'exists';
  rec.reason = `SOCI v2 index tag${tags.length > 1 ? 's' : ''} ${tags.join(', ')} already exist${tags.length > 1 ? '' : 's'}`;
  rec.sociIndexes = [...new Set(found.map((d) => d.digest))];
  return true;
}

/** Counts bytes read, zTOCs built and reused, and blob pushes from indexImage's events. */
function counter(rec: ImageRecord, job: ImageJob): (e: IndexEvent) => void {
  const seen = new Map<string, number>();
  return (e) => {
    if (e.type === 'layer-progress') {
      const more = e.bytes - (seen.get(e.layer) ?? 0);
      seen.set(e.layer, e.bytes);
      rec.bytes += more;
      job.onBytes(more);
    } else if (e.type === 'layer-done') rec.ztocsBuilt++;
    else if (e.type === 'layer-reused') rec.ztocsReused++;
    else if (e.type === 'push' && e.what === 'ztoc') {
      if (e.result === 'mounted') job.blobs.mounted++;
      else if (e.result === 'exists') job.blobs.exists++;
      else job.blobs.pushed++;
    }
  };
}

function recordResult(rec: ImageRecord, r: IndexResult, job: ImageJob): void {
  const indexed = r.platforms.filter((p) => p.status === 'indexed');
  const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  rec.sociIndexes = [...new Set([...r.platforms.flatMap((p) => (p.sociIndex ? [p.sociIndex.digest] : [])), ...(r.v2Index ? [r.v2Index.descriptor.digest] : [])])];
  if (indexed.length > 0 || r.v2Index !== undefined) {
    rec.status = 'done';
    rec.outcome = 'indexed';
    rec.ztocs = indexed.reduce((n, p) => n + p.ztocs.length, 0);
    const exists = r.platforms.filter((p) => p.status === 'exists').length;
    const none = r.platforms.filter((p) => p.status === 'no-ztocs').length;
    const extra = [exists > 0 ? `${exists} already indexed` : '', none > 0 ? `${none} with no layer to index` : ''].filter((s) => s !== '');
    rec.reason = `${plural(indexed.length, 'platform')} indexed${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
  } else if (r.platforms.some((p) => p.status === 'exists')) {
    rec.status = 'skipped';
    rec.outcome = 'exists';
    rec.reason = `already indexed with span size ${job.spanSize}: ${r.platforms.flatMap((p) => (p.sociIndex ? [`${p.platform} ${p.sociIndex.digest}`] : [])).join(', ')}`;
  } else {
    const skipped = r.platforms.flatMap((p) => p.skipped);
    rec.status = 'skipped';
    rec.outcome = 'no-ztocs';
    rec.reason = describeSkips(skipped, job.skipLabels);
    rec.skips = countSkips(skipped);
  }
}

/** Images with nothing to index are skipped; anything else failed. */
export function recordError(rec: ImageRecord, err: unknown): void {
  if (err instanceof ZtocError && (err.code === 'PLATFORM_NOT_FOUND' || err.code === 'NOT_AN_IMAGE')) {
    rec.status = 'skipped';
    rec.outcome = err.code === 'PLATFORM_NOT_FOUND' ? 'no-platform' : 'not-an-image';
    rec.reason = err.describe();
    return;
  }
  rec.status = 'failed';
  rec.outcome = 'failed';
  rec.error = describe(err);
  if (err instanceof ZtocError) rec.code = err.code;
}
