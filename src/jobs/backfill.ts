// Owns `ztoc backfill`: index every selected image of one registry, as a batch that is safe to start, stop, rerun and
// split across machines. Selection and sharding come from backfill-select.ts; each image is one indexImage call
// (idempotent: an existing SOCI index with the same span size means one referrers lookup and nothing pushed); a
// JSONL journal (backfill-state.ts) makes restarts skip finished work; a shared zTOC cache (backfill-cache.ts) builds
// a layer that appears in many repositories once and mounts its zTOC into the others. All images share one
// RegistryClient (connections, tokens, per-host backoff, the rate limiter of backfill-rate.ts) and one WorkerPool.

import { availableParallelism } from 'node:os';
import { ZtocError } from '../errors.js';
import { RegistryStore } from '../image/registry-store.js';
import { formatPlatform } from '../oci/platform.js';
import type { Platform } from '../oci/types.js';
import type { RegistryClient } from '../registry/client.js';
import { Repository } from '../registry/repository.js';
import type { SociIndexVersion } from '../soci/index.js';
import { DEFAULT_BUILD_TOOL_ID } from '../ztoc/build.js';
import { DEFAULT_SPAN_SIZE } from '../ztoc/model.js';
import type { WorkerPool } from '../ztoc/pool.js';
import { ZtocStore, type ZtocStoreStats } from './backfill-cache.js';
import { compileMatcher, describe, selectImages, shardOf, type Candidate, type RepoSpec, type Shard } from './backfill-select.js';
import { imageKey, Journal, loadJournal, settingsKey, type JournalEntry, type JournalStatus } from './backfill-state.js';
import { DEFAULT_MIN_LAYER_SIZE, indexImage, type IndexEvent, type IndexResult } from './index-image.js';
import { pruneIndexes } from './remove.js';
import { limiter } from './limit.js';

export const DEFAULT_V2_TAG_SUFFIX = '-soci';

export interface BackfillOptions {
  /** Registry name as in references (`registry.example.com`, `127.0.0.1:5000`, `docker.io`). */
  registry: string;
  /** Shared by every image of the run (pass a ThrottledClient for --rps). The caller closes it. */
  client: RegistryClient;
  /** From --repos; undefined = the registry's catalog. */
  repos?: RepoSpec[];
  /** --match globs over `repo:tag` (see compileMatcher). */
  match?: string[];
  shard?: Shard;
  /** The JSONL journal; undefined = none (the registry alone says what is done). */
  statePath?: string;
  /** zTOC cache; default: in memory, 256 MiB. */
  cache?: ZtocStore;
  /** Images at once. Default 2 × cores. */
  concurrency?: number;
  /** Layers built at once within one image. Default: cores. */
  layerConcurrency?: number;
  /** Shared by all images; default: the process-wide pool. */
  pool?: WorkerPool;
  /** Stop starting new images after the first failure (default: keep going). */
  failFast?: boolean;
  /** List what would be indexed; build and push nothing. */
  dryRun?: boolean;
  platforms?: Platform[] | 'all';
  spanSize?: number;
  minLayerSize?: number;
  indexVersion?: SociIndexVersion;
  /**
   * v2: the SOCI-enabled index of `repo:tag` is pushed as `repo:<tag><suffix>` (default `-soci`). Tags ending in the
   * suffix are never selected, in v1 runs too: they are outputs of v2 runs.
   */
  tagSuffix?: string;
  force?: boolean;
  buildToolId?: string;
  /** v1: after indexing an image, remove its other SOCI indexes whose span size or build settings differ (remove.ts). */
  prune?: boolean;
  /** Aborting stops starting new images; images in flight finish and are recorded. */
  signal?: AbortSignal;
  /** Live counters, updated as the run goes (for a progress line). */
  progress?: BackfillProgress;
  onEvent?: (e: BackfillEvent) => void;
}

export type ImageStatus = JournalStatus;

/**
 * indexed: SOCI index(es) pushed · exists: already indexed with this span size · no-ztocs: no layer needed a zTOC ·
 * not-an-image / no-platform: nothing to index · state: finished in an earlier run (journal) · failed ·
 * dry-run: would be indexed · not-run: left out after --fail-fast or an interruption.
 */
export type ImageOutcome = 'indexed' | 'exists' | 'no-ztocs' | 'not-an-image' | 'no-platform' | 'state' | 'failed' | 'dry-run' | 'not-run';

export interface ImageRecord {
  /** `registry/repo:tag` (the first tag naming the digest) or `registry/repo@digest`. */
  ref: string;
  repo: string;
  tags: string[];
  digest: string;
  status: ImageStatus;
  outcome: ImageOutcome;
  reason?: string;
  error?: string;
  /** The ZtocError code of the failure (DIGEST_MISMATCH, REGISTRY_NETWORK…). */
  code?: string;
  /** zTOCs in the SOCI indexes pushed for this image. */
  ztocs: number;
  /** Of those: built from the layer here / taken from the run's cache. */
  ztocsBuilt: number;
  ztocsReused: number;
  /** Compressed layer bytes read. */
  bytes: number;
  seconds: number;
  /** SOCI index digests pushed or found. */
  sociIndexes: string[];
  /** With prune: the stale SOCI index digests removed. */
  pruned?: string[];
  at: string;
}

export interface BackfillTotals {
  images: number;
  done: number;
  skipped: number;
  failed: number;
  byOutcome: Partial<Record<ImageOutcome, number>>;
  ztocs: number;
  ztocsBuilt: number;
  ztocsReused: number;
  /** zTOC blob pushes by result: uploaded, mounted from another repository, already there. */
  blobs: { pushed: number; mounted: number; exists: number };
  bytesRead: number;
  seconds: number;
  imagesPerMinute: number;
  mbPerSecond: number;
}

export interface BackfillReport {
  registry: string;
  shard?: Shard;
  dryRun: boolean;
  settings: Record<string, unknown>;
  startedAt: string;
  finishedAt: string;
  selection: {
    repositories: number;
    tags: number;
    ignoredTags: number;
    /** Distinct images selected over all shards. */
    images: number;
    /** Of those, in this shard. */
    inShard: number;
    /** In this shard, finished in an earlier run according to the journal. */
    fromState: number;
  };
  totals: BackfillTotals;
  cache: ZtocStoreStats & { dir?: string; maxBytes: number };
  /** Journal lines ignored because they were written under other settings, or unreadable. */
  journal?: { path: string; lines: number; otherSettings: number; unreadable: number };
  /** Registry calls made (when the client counts them). */
  requests?: number;
  /** True when the run stopped early (--fail-fast or interrupted). */
  stopped: boolean;
  images: ImageRecord[];
}

export class BackfillProgress {
  total = 0;
  finished = 0;
  failed = 0;
  running = 0;
  bytesRead = 0;
  readonly startedAt = performance.now();
  get seconds(): number {
    return (performance.now() - this.startedAt) / 1000;
  }
}

export type BackfillEvent =
  | { type: 'selecting'; what: string }
  | { type: 'selected'; images: number; inShard: number; fromState: number; toRun: number }
  | { type: 'image-start'; ref: string; digest: string }
  | { type: 'image-done'; record: ImageRecord; finished: number; total: number }
  | { type: 'notice'; message: string };

function hex(d: string): string {
  return d.replace(/^sha256:/, '');
}

function displayRef(registry: string, c: Candidate): string {
  return c.tags.length > 0 ? `${registry}/${c.repo}:${c.tags[0]}` : `${registry}/${c.repo}@${c.digest}`;
}

/** "2 layers smaller than --min-layer-size; 1 zstd layer…" from indexImage's per-layer reasons. */
function summariseSkips(r: IndexResult): string {
  const counts = new Map<string, number>();
  for (const p of r.platforms) {
    for (const s of p.skipped) {
      const why = /less than min-layer-size/.test(s.reason) ? 'smaller than --min-layer-size' : s.reason;
      counts.set(why, (counts.get(why) ?? 0) + 1);
    }
  }
  if (counts.size === 0) return 'the image has no layers';
  return `no layer needs a zTOC: ${[...counts].map(([why, n]) => `${n} layer${n === 1 ? '' : 's'} ${why}`).join('; ')}`;
}

function platformsKey(p: Platform[] | 'all' | undefined): string {
  if (p === undefined) return 'default';
  if (p === 'all') return 'all';
  return p.map(formatPlatform).sort().join(',');
}

export async function backfill(o: BackfillOptions): Promise<BackfillReport> {
  const startedAt = new Date();
  const cores = availableParallelism();
  const concurrency = o.concurrency ?? 2 * cores;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new ZtocError('INVALID_ARGUMENT', `concurrency must be a positive integer, got ${concurrency}`);
  const spanSize = o.spanSize ?? DEFAULT_SPAN_SIZE;
  const minLayerSize = o.minLayerSize ?? DEFAULT_MIN_LAYER_SIZE;
  const indexVersion = o.indexVersion ?? 'v1';
  const buildToolId = o.buildToolId ?? DEFAULT_BUILD_TOOL_ID;
  const tagSuffix = o.tagSuffix ?? DEFAULT_V2_TAG_SUFFIX;
  if (!/^[\w.-]*$/.test(tagSuffix)) throw new ZtocError('INVALID_ARGUMENT', `invalid tag suffix ${JSON.stringify(tagSuffix)}`);
  const emit = o.onEvent ?? (() => {});
  const progress = o.progress ?? new BackfillProgress();
  const cache = o.cache ?? new ZtocStore();

  const settings: Record<string, unknown> = {
    registry: o.registry,
    spanSize,
    minLayerSize,
    platforms: platformsKey(o.platforms),
    indexVersion,
    buildToolId,
    ...(indexVersion === 'v2' ? { tagSuffix } : {}),
  };
  const key = settingsKey(settings);

  // 1. Select.
  const sel = await selectImages({
    client: o.client,
    registry: o.registry,
    ...(o.repos !== undefined ? { repos: o.repos } : {}),
    matcher: compileMatcher(o.match ?? []),
    ignoreTagSuffix: tagSuffix,
    concurrency: Math.max(4, concurrency),
    ...(o.signal ? { signal: o.signal } : {}),
    onProgress: (what) => emit({ type: 'selecting', what }),
  });
  const inShard = (k: string): boolean => o.shard === undefined || shardOf(k, o.shard.count) === o.shard.index;
  const mine = sel.candidates.filter((c) => inShard(`${c.repo}@${c.digest}`));
  const problems = sel.problems.filter((p) => inShard(`${p.repo}:${p.tag}`));

  // 2. The journal: done and skipped images are not retried.
  const journal = o.statePath !== undefined ? loadJournal(o.statePath, key) : undefined;
  if (journal !== undefined && journal.otherSettings > 0) {
    emit({ type: 'notice', message: `state file ${o.statePath}: ${journal.otherSettings} entries were written with other settings and are ignored` });
  }
  const records: ImageRecord[] = [];
  const toRun: Candidate[] = [];
  for (const c of mine) {
    const prev = journal?.entries.get(imageKey(c.repo, c.digest));
    if (prev !== undefined && prev.status !== 'failed') {
      records.push(
        newRecord(o.registry, c, prev.status, 'state', {
          reason: `${prev.outcome} in an earlier run (${prev.at})${prev.reason ? `: ${prev.reason}` : ''}`,
        }),
      );
    } else toRun.push(c);
  }
  for (const p of problems) {
    const c: Candidate = { repo: p.repo, digest: '', tags: p.tag === '*' ? [] : [p.tag] };
    records.push(
      newRecord(o.registry, c, p.status, p.status === 'failed' ? 'failed' : 'not-an-image', {
        ref: `${o.registry}/${p.repo}:${p.tag}`,
        ...(p.status === 'failed' ? { error: p.error } : { reason: p.error }),
      }),
    );
  }
  const fromState = mine.length - toRun.length;
  emit({ type: 'selected', images: sel.candidates.length, inShard: mine.length, fromState, toRun: toRun.length });
  progress.total = toRun.length;

  const blobs = { pushed: 0, mounted: 0, exists: 0 };
  let stopped = false;

  if (o.dryRun) {
    for (const c of toRun) {
      records.push(newRecord(o.registry, c, 'skipped', 'dry-run', { reason: 'dry run: would be indexed (unless a SOCI index with this span size exists)' }));
    }
  } else {
    const j = o.statePath !== undefined ? Journal.open(o.statePath) : undefined;
    try {
      const limit = limiter(concurrency);
      await Promise.all(
        toRun.map((c) =>
          limit(async () => {
            if (stopped || o.signal?.aborted === true) {
              stopped = true;
              records.push(notRun(o.registry, c, o.signal?.aborted === true ? 'interrupted' : 'stopped by --fail-fast after a failure'));
              return;
            }
            progress.running++;
            emit({ type: 'image-start', ref: displayRef(o.registry, c), digest: c.digest });
            const rec = await runOne(c);
            progress.running--;
            progress.finished++;
            if (rec.status === 'failed') {
              progress.failed++;
              if (o.failFast) stopped = true;
            }
            records.push(rec);
            j?.append(toJournal(rec, key));
            emit({ type: 'image-done', record: rec, finished: progress.finished, total: progress.total });
          }),
        ),
      );
    } finally {
      j?.close();
    }
  }

  async function runOne(c: Candidate): Promise<ImageRecord> {
    const t0 = performance.now();
    const rec = newRecord(o.registry, c, 'failed', 'failed', { at: '' });
    const repo = new Repository(o.registry, c.repo, { client: o.client });
    const store = new RegistryStore(repo);
    const seen = new Map<string, number>();
    const onEvent = (e: IndexEvent): void => {
      if (e.type === 'layer-progress') {
        const before = seen.get(e.layer) ?? 0;
        seen.set(e.layer, e.bytes);
        progress.bytesRead += e.bytes - before;
        rec.bytes += e.bytes - before;
      } else if (e.type === 'layer-done') rec.ztocsBuilt++;
      else if (e.type === 'layer-reused') rec.ztocsReused++;
      else if (e.type === 'push' && e.what === 'ztoc') {
        if (e.result === 'mounted') blobs.mounted++;
        else if (e.result === 'exists') blobs.exists++;
        else blobs.pushed++;
      }
    };
    try {
      // v2: the SOCI-enabled index goes under `<tag><suffix>` for each tag of the image.
      const v2Tags = (c.tags.length > 0 ? c.tags : [hex(c.digest).slice(0, 32)]).map((t) => `${t}${tagSuffix}`.slice(0, 128));
      if (indexVersion === 'v2' && !o.force) {
        const have = await Promise.all(v2Tags.map((t) => repo.headManifest(t)));
        if (have.every((d) => d !== undefined)) {
          rec.status = 'skipped';
          rec.outcome = 'exists';
          rec.reason = `SOCI v2 index tag${v2Tags.length > 1 ? 's' : ''} ${v2Tags.join(', ')} already exist${v2Tags.length > 1 ? '' : 's'}`;
          rec.sociIndexes = [...new Set(have.map((d) => d!.digest))];
          return rec;
        }
      }
      const r = await indexImage(store, c.digest, {
        ...(o.platforms !== undefined ? { platforms: o.platforms } : {}),
        spanSize,
        minLayerSize,
        indexVersion,
        ...(indexVersion === 'v2' ? { tag: v2Tags[0]! } : {}),
        force: Boolean(o.force),
        buildToolId,
        concurrency: o.layerConcurrency ?? availableParallelism(),
        ...(o.pool ? { pool: o.pool } : {}),
        ztocCache: cache.forRepository(c.repo),
        onEvent,
      });
      if (o.prune && indexVersion === 'v1') {
        const removed = [];
        for (const p of r.platforms) {
          if (p.sociIndex === undefined || (p.status !== 'indexed' && p.status !== 'exists')) continue;
          removed.push(...(await pruneIndexes(store, { platform: p.platform, manifest: p.manifest.digest }, p.sociIndex)));
        }
        const failed = removed.filter((x) => x.outcome !== 'removed');
        if (failed.length > 0) throw new ZtocError('REGISTRY_DENIED', `--prune: ${failed.map((x) => `${x.index}: ${x.note ?? 'not removed'}`).join('; ')}`);
        if (removed.length > 0) rec.pruned = removed.map((x) => x.index);
      }
      if (r.v2Index !== undefined && v2Tags.length > 1) {
        const doc = await repo.resolve(r.v2Index.descriptor.digest);
        for (const t of v2Tags.slice(1)) await repo.pushManifest(t, doc.bytes, doc.descriptor.mediaType);
      }
      const indexed = r.platforms.filter((p) => p.status === 'indexed');
      rec.sociIndexes = [...new Set([...r.platforms.flatMap((p) => (p.sociIndex ? [p.sociIndex.digest] : [])), ...(r.v2Index ? [r.v2Index.descriptor.digest] : [])])];
      if (indexed.length > 0 || r.v2Index !== undefined) {
        rec.status = 'done';
        rec.outcome = 'indexed';
        rec.ztocs = indexed.reduce((n, p) => n + p.ztocs.length, 0);
        const exists = r.platforms.filter((p) => p.status === 'exists').length;
        const none = r.platforms.filter((p) => p.status === 'no-ztocs').length;
        const extra = [exists > 0 ? `${exists} already indexed` : '', none > 0 ? `${none} with no layer to index` : ''].filter((s) => s !== '');
        rec.reason = `${indexed.length} platform${indexed.length === 1 ? '' : 's'} indexed${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
      } else if (r.platforms.some((p) => p.status === 'exists')) {
        rec.status = 'skipped';
        rec.outcome = 'exists';
        rec.reason = `already indexed with span size ${spanSize}: ${r.platforms.filter((p) => p.sociIndex).map((p) => `${p.platform} ${p.sociIndex!.digest}`).join(', ')}`;
      } else {
        rec.status = 'skipped';
        rec.outcome = 'no-ztocs';
        rec.reason = summariseSkips(r);
      }
      if (rec.pruned !== undefined) rec.reason = `${rec.reason ?? ''}; pruned ${rec.pruned.length} stale SOCI index${rec.pruned.length === 1 ? '' : 'es'}`;
    } catch (err) {
      if (err instanceof ZtocError && err.code === 'PLATFORM_NOT_FOUND') {
        rec.status = 'skipped';
        rec.outcome = 'no-platform';
        rec.reason = err.describe();
      } else if (err instanceof ZtocError && err.code === 'MANIFEST_INVALID' && /not an image manifest or index/.test(err.message)) {
        rec.status = 'skipped';
        rec.outcome = 'not-an-image';
        rec.reason = err.describe();
      } else {
        rec.status = 'failed';
        rec.outcome = 'failed';
        rec.error = describe(err);
        if (err instanceof ZtocError) rec.code = err.code;
      }
    } finally {
      rec.seconds = (performance.now() - t0) / 1000;
      rec.at = new Date().toISOString();
    }
    return rec;
  }

  // 3. Report.
  const order = new Map(mine.map((c, i) => [`${c.repo}@${c.digest}`, i]));
  records.sort((a, b) => (order.get(`${a.repo}@${a.digest}`) ?? Infinity) - (order.get(`${b.repo}@${b.digest}`) ?? Infinity) || a.ref.localeCompare(b.ref));
  const seconds = progress.seconds;
  const ran = records.filter((r) => r.outcome !== 'state' && r.outcome !== 'not-run' && r.outcome !== 'dry-run' && r.digest !== '');
  const byOutcome: Partial<Record<ImageOutcome, number>> = {};
  for (const r of records) byOutcome[r.outcome] = (byOutcome[r.outcome] ?? 0) + 1;
  const bytesRead = records.reduce((n, r) => n + r.bytes, 0);
  const totals: BackfillTotals = {
    images: records.length,
    done: records.filter((r) => r.status === 'done').length,
    skipped: records.filter((r) => r.status === 'skipped').length,
    failed: records.filter((r) => r.status === 'failed').length,
    byOutcome,
    ztocs: records.reduce((n, r) => n + r.ztocs, 0),
    ztocsBuilt: records.reduce((n, r) => n + r.ztocsBuilt, 0),
    ztocsReused: records.reduce((n, r) => n + r.ztocsReused, 0),
    blobs,
    bytesRead,
    seconds,
    imagesPerMinute: seconds > 0 ? (ran.length / seconds) * 60 : 0,
    mbPerSecond: seconds > 0 ? bytesRead / 1e6 / seconds : 0,
  };
  const requests = 'calls' in o.client ? [...(o.client as { calls: Map<string, number> }).calls.values()].reduce((a, b) => a + b, 0) : undefined;
  return {
    registry: o.registry,
    ...(o.shard !== undefined ? { shard: o.shard } : {}),
    dryRun: Boolean(o.dryRun),
    settings,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    selection: {
      repositories: sel.repositories,
      tags: sel.tags,
      ignoredTags: sel.ignoredTags,
      images: sel.candidates.length,
      inShard: mine.length,
      fromState,
    },
    totals,
    cache: { ...cache.stats, ...(cache.dir !== undefined ? { dir: cache.dir } : {}), maxBytes: cache.maxBytes },
    ...(journal !== undefined && o.statePath !== undefined
      ? { journal: { path: o.statePath, lines: journal.lines, otherSettings: journal.otherSettings, unreadable: journal.unreadable } }
      : {}),
    ...(requests !== undefined ? { requests } : {}),
    stopped,
    images: records,
  };
}

/** A record for candidate `c` with nothing built yet; callers fill in what happened. */
function newRecord(
  registry: string,
  c: Candidate,
  status: ImageStatus,
  outcome: ImageOutcome,
  extra: Partial<ImageRecord> = {},
): ImageRecord {
  return {
    ref: displayRef(registry, c),
    repo: c.repo,
    tags: c.tags,
    digest: c.digest,
    status,
    outcome,
    ztocs: 0,
    ztocsBuilt: 0,
    ztocsReused: 0,
    bytes: 0,
    seconds: 0,
    sociIndexes: [],
    at: new Date().toISOString(),
    ...extra,
  };
}

function notRun(registry: string, c: Candidate, why: string): ImageRecord {
  return newRecord(registry, c, 'skipped', 'not-run', { reason: why });
}

function toJournal(r: ImageRecord, key: string): JournalEntry {
  const e: JournalEntry = {
    ref: r.ref,
    repo: r.repo,
    digest: r.digest,
    status: r.status,
    outcome: r.outcome,
    ztocs: r.ztocs,
    bytes: r.bytes,
    seconds: Math.round(r.seconds * 1000) / 1000,
    at: r.at,
    key,
  };
  if (r.reason !== undefined) e.reason = r.reason;
  if (r.error !== undefined) e.error = r.error;
  if (r.code !== undefined) e.code = r.code;
  return e;
}

/** Whether the run should exit non-zero: anything failed, or work was left undone. */
export function backfillFailed(r: BackfillReport): boolean {
  return r.totals.failed > 0 || r.stopped;
}
