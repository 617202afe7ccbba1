// Owns `ztoc backfill`: index every selected image of one registry, as a batch that is safe to start, stop, rerun and
// split across machines. Selection and sharding come from backfill-select.ts; each image is one indexImage call
// (idempotent: an existing SOCI index with the same span size, or with optimizations or prefetch files a byte-identical one, means one referrers lookup and nothing pushed); a
// JSONL journal (backfill-state.ts) makes restarts skip finished work; a shared zTOC cache (backfill-cache.ts) builds
// a layer that appears in many repositories once and mounts its zTOC into the others. All images share one
// RegistryClient (connections, tokens, per-host backoff, the rate limiter of backfill-rate.ts) and one InflatePool.
// One image is backfill-image.ts; records and totals are backfill-report.ts.

import { availableParallelism } from 'node:os';
import { ZtocError } from '../errors.js';
import { formatPlatform } from '../oci/platform.js';
import type { Platform } from '../oci/types.js';
import type { RegistryClient } from '../registry/client.js';
import type { SociIndexVersion } from '../soci/index.js';
import type { Optimization } from '../soci/optimizations.js';
import { DEFAULT_BUILD_TOOL_ID } from '../ztoc/build.js';
import { DEFAULT_SPAN_SIZE } from '../ztoc/model.js';
import type { InflatePool } from '../ztoc/pool.js';
import { ZtocStore, type ZtocStoreStats } from './backfill-cache.js';
import { indexCandidate, type ImageJob } from './backfill-image.js';
import { displayRef, newRecord, toJournal, totalsOf, type BackfillTotals, type BlobCounts, type ImageRecord, type SkipLabels } from './backfill-report.js';
import { compileMatcher, selectImages, shardOf, type Candidate, type RepoSpec, type Selection, type Shard } from './backfill-select.js';
import { imageKey, Journal, loadJournal, settingsKey, type LoadedJournal } from './backfill-state.js';
import { DEFAULT_MIN_LAYER_SIZE } from './index-image.js';
import { DEFAULT_V2_TAG_SUFFIX } from './defaults.js';
import { checkConcurrency, limiter } from './limit.js';

export { describeSkips, type BackfillTotals, type BlobCounts, type ImageOutcome, type ImageRecord, type ImageStatus, type SkipLabels } from './backfill-report.js';

export { DEFAULT_V2_TAG_SUFFIX };

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
  pool?: InflatePool;
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
  /** v1: after indexing an image, remove its other SOCI indexes whose span size or build settings differ (remove.ts). */
  prune?: boolean;
  buildToolId?: string;
  /** SOCI `--optimizations` for every image's index (index-types.ts IndexOptions). */
  optimizations?: readonly Optimization[];
  /** SOCI `--prefetch-file` paths for every image's index (index-types.ts IndexOptions). */
  prefetchPaths?: readonly string[];
  /** Aborting stops starting new images; images in flight finish and are recorded. */
  signal?: AbortSignal;
  /** Live counters, updated as the run goes (for a progress line). */
  progress?: BackfillProgress;
  onEvent?: (e: BackfillEvent) => void;
  /** How skipped layers are worded in reasons, by skip code (the CLI names its flags here). */
  skipLabels?: SkipLabels;
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
  /** True when the run stopped early (failFast after a failure, or interrupted). */
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

function platformsKey(p: Platform[] | 'all' | undefined): string {
  if (p === undefined) return 'default';
  if (p === 'all') return 'all';
  return p.map(formatPlatform).sort().join(',');
}

/** BackfillOptions with defaults applied and checked, and the settings that decide what "indexed" means. */
interface RunSettings extends Pick<ImageJob, 'spanSize' | 'minLayerSize' | 'indexVersion' | 'buildToolId' | 'tagSuffix' | 'optimizations' | 'prefetchPaths'> {
  concurrency: number;
  /** Recorded in the report; their fingerprint keys the journal. */
  settings: Record<string, unknown>;
  key: string;
}

function runSettings(o: BackfillOptions): RunSettings {
  const concurrency = checkConcurrency(o.concurrency ?? 2 * availableParallelism());
  if (o.layerConcurrency !== undefined) checkConcurrency(o.layerConcurrency, 'layer concurrency');
  const tagSuffix = o.tagSuffix ?? DEFAULT_V2_TAG_SUFFIX;
  if (!/^[\w.-]*$/.test(tagSuffix)) throw new ZtocError('INVALID_ARGUMENT', `invalid tag suffix ${JSON.stringify(tagSuffix)}`);
  const r = {
    concurrency,
    spanSize: o.spanSize ?? DEFAULT_SPAN_SIZE,
    minLayerSize: o.minLayerSize ?? DEFAULT_MIN_LAYER_SIZE,
    indexVersion: o.indexVersion ?? 'v1',
    buildToolId: o.buildToolId ?? DEFAULT_BUILD_TOOL_ID,
    tagSuffix,
    optimizations: [...new Set(o.optimizations ?? [])].sort(),
    prefetchPaths: o.prefetchPaths ?? [],
  } as const;
  const settings: Record<string, unknown> = {
    registry: o.registry,
    spanSize: r.spanSize,
    minLayerSize: r.minLayerSize,
    platforms: platformsKey(o.platforms),
    indexVersion: r.indexVersion,
    buildToolId: r.buildToolId,
    ...(r.indexVersion === 'v2' ? { tagSuffix } : {}),
    // Only when set, so that journals written before these options existed keep their key. Prefetch paths keep their
    // order: it is the order of the artifacts' files.
    ...(r.optimizations.length > 0 ? { optimizations: r.optimizations } : {}),
    ...(r.prefetchPaths.length > 0 ? { prefetchPaths: r.prefetchPaths } : {}),
  };
  return { ...r, settings, key: settingsKey(settings) };
}

/** The work of this shard: what the journal says is finished, what is left to run, and the selection problems. */
interface ShardPlan {
  mine: Candidate[];
  toRun: Candidate[];
  /** Records of images not to run: finished earlier (journal), and tags that could not be resolved. */
  records: ImageRecord[];
}

function planShard(o: BackfillOptions, sel: Selection, journal: LoadedJournal | undefined): ShardPlan {
  const inShard = (k: string): boolean => o.shard === undefined || shardOf(k, o.shard.count) === o.shard.index;
  const mine = sel.candidates.filter((c) => inShard(`${c.repo}@${c.digest}`));
  const records: ImageRecord[] = [];
  const toRun: Candidate[] = [];
  // Done and skipped images are not retried; failed ones are.
  for (const c of mine) {
    const prev = journal?.entries.get(imageKey(c.repo, c.digest));
    if (prev === undefined || prev.status === 'failed') toRun.push(c);
    else records.push(newRecord(o.registry, c, prev.status, 'state', { reason: `${prev.outcome} in an earlier run (${prev.at})${prev.reason ? `: ${prev.reason}` : ''}` }));
  }
  for (const p of sel.problems.filter((x) => inShard(`${x.repo}:${x.tag}`))) {
    const c: Candidate = { repo: p.repo, digest: '', tags: p.tag === '*' ? [] : [p.tag] };
    records.push(
      newRecord(o.registry, c, p.status, p.status === 'failed' ? 'failed' : 'not-an-image', {
        ref: `${o.registry}/${p.repo}:${p.tag}`,
        ...(p.status === 'failed' ? { error: p.error } : { reason: p.error }),
      }),
    );
  }
  return { mine, toRun, records };
}

export async function backfill(o: BackfillOptions): Promise<BackfillReport> {
  const startedAt = new Date();
  const run = runSettings(o);
  const emit = o.onEvent ?? (() => {});
  const progress = o.progress ?? new BackfillProgress();
  const cache = o.cache ?? new ZtocStore();

  const sel = await selectImages({
    client: o.client,
    registry: o.registry,
    ...(o.repos !== undefined ? { repos: o.repos } : {}),
    matcher: compileMatcher(o.match ?? []),
    ignoreTagSuffix: run.tagSuffix,
    concurrency: Math.max(4, run.concurrency),
    ...(o.signal ? { signal: o.signal } : {}),
    onProgress: (what) => emit({ type: 'selecting', what }),
  });
  const journal = o.statePath !== undefined ? loadJournal(o.statePath, run.key) : undefined;
  if (journal !== undefined && journal.otherSettings > 0) {
    emit({ type: 'notice', message: `state file ${o.statePath}: ${journal.otherSettings} entries were written with other settings and are ignored` });
  }
  const plan = planShard(o, sel, journal);
  const fromState = plan.mine.length - plan.toRun.length;
  emit({ type: 'selected', images: sel.candidates.length, inShard: plan.mine.length, fromState, toRun: plan.toRun.length });
  progress.total = plan.toRun.length;

  const blobs: BlobCounts = { pushed: 0, mounted: 0, exists: 0 };
  const ran = o.dryRun
    ? { records: plan.toRun.map((c) => newRecord(o.registry, c, 'skipped', 'dry-run', { reason: 'dry run: would be indexed (unless a SOCI index with this span size exists)' })), stopped: false }
    : await runImages(o, run, plan.toRun, imageJob(o, run, cache, blobs, progress), progress);
  const records = sortRecords([...plan.records, ...ran.records], plan.mine);
  const seconds = progress.seconds;
  const requests = 'calls' in o.client ? [...(o.client as { calls: Map<string, number> }).calls.values()].reduce((a, b) => a + b, 0) : undefined;
  return {
    registry: o.registry,
    ...(o.shard !== undefined ? { shard: o.shard } : {}),
    dryRun: Boolean(o.dryRun),
    settings: run.settings,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    selection: { repositories: sel.repositories, tags: sel.tags, ignoredTags: sel.ignoredTags, images: sel.candidates.length, inShard: plan.mine.length, fromState },
    totals: totalsOf(records, blobs, seconds),
    cache: { ...cache.stats, ...(cache.dir !== undefined ? { dir: cache.dir } : {}), maxBytes: cache.maxBytes },
    ...(journal !== undefined && o.statePath !== undefined
      ? { journal: { path: o.statePath, lines: journal.lines, otherSettings: journal.otherSettings, unreadable: journal.unreadable } }
      : {}),
    ...(requests !== undefined ? { requests } : {}),
    stopped: ran.stopped,
    images: records,
  };
}

function imageJob(o: BackfillOptions, run: RunSettings, cache: ZtocStore, blobs: BlobCounts, progress: BackfillProgress): ImageJob {
  return {
    registry: o.registry,
    client: o.client,
    spanSize: run.spanSize,
    minLayerSize: run.minLayerSize,
    indexVersion: run.indexVersion,
    buildToolId: run.buildToolId,
    tagSuffix: run.tagSuffix,
    optimizations: run.optimizations,
    prefetchPaths: run.prefetchPaths,
    platforms: o.platforms,
    force: Boolean(o.force),
    prune: Boolean(o.prune),
    layerConcurrency: o.layerConcurrency ?? availableParallelism(),
    pool: o.pool,
    cache,
    skipLabels: o.skipLabels ?? {},
    blobs,
    onBytes: (n) => (progress.bytesRead += n),
  };
}

/** Indexes the images `concurrency` at a time, journaling each as it finishes; stops starting new ones once told to. */
async function runImages(o: BackfillOptions, run: RunSettings, toRun: Candidate[], job: ImageJob, progress: BackfillProgress): Promise<{ records: ImageRecord[]; stopped: boolean }> {
  const emit = o.onEvent ?? (() => {});
  const records: ImageRecord[] = [];
  let stopped = false;
  const j = o.statePath !== undefined ? Journal.open(o.statePath) : undefined;
  try {
    const limit = limiter(run.concurrency);
    await Promise.all(
      toRun.map((c) =>
        limit(async () => {
          if (stopped || o.signal?.aborted === true) {
            stopped = true;
            records.push(newRecord(o.registry, c, 'skipped', 'not-run', { reason: o.signal?.aborted === true ? 'interrupted' : 'not started: the run stopped after a failure' }));
            return;
          }
          progress.running++;
          emit({ type: 'image-start', ref: displayRef(o.registry, c), digest: c.digest });
          const rec = await indexCandidate(c, job);
          progress.running--;
          progress.finished++;
          if (rec.status === 'failed') {
            progress.failed++;
            if (o.failFast) stopped = true;
          }
          records.push(rec);
          j?.append(toJournal(rec, run.key));
          emit({ type: 'image-done', record: rec, finished: progress.finished, total: progress.total });
        }),
      ),
    );
  } finally {
    j?.close();
  }
  return { records, stopped };
}

/** Records in selection order (problems, which have no digest, last by ref). */
function sortRecords(records: ImageRecord[], mine: Candidate[]): ImageRecord[] {
  const order = new Map(mine.map((c, i) => [`${c.repo}@${c.digest}`, i]));
  const at = (r: ImageRecord): number => order.get(`${r.repo}@${r.digest}`) ?? Infinity;
  return records.sort((a, b) => at(a) - at(b) || a.ref.localeCompare(b.ref));
}

/** Whether the run should exit non-zero: anything failed, or work was left undone. */
export function backfillFailed(r: BackfillReport): boolean {
  return r.totals.failed > 0 || r.stopped;
}
