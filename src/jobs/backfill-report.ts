// Owns what a backfill reports, as pure functions: the record of one image (and its journal line), the wording of
// skipped layers, and the run's totals.

import type { Candidate } from './backfill-select.js';
import type { JournalEntry, JournalStatus } from './backfill-state.js';
import type { LayerSkipCode } from './index-types.js';

export type ImageStatus = JournalStatus;

/**
 * indexed: SOCI index(es) pushed · exists: already indexed with this span size · no-ztocs: no layer needed a zTOC ·
 * not-an-image / no-platform: nothing to index · state: finished in an earlier run (journal) · failed ·
 * dry-run: would be indexed · not-run: left out after a failure (failFast) or an interruption.
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
  /** no-ztocs: layers left without a zTOC, by skip code. */
  skips?: Partial<Record<LayerSkipCode, number>>;
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

/** zTOC blob pushes by result: uploaded, mounted from another repository, already there. */
export interface BlobCounts {
  pushed: number;
  mounted: number;
  exists: number;
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
  blobs: BlobCounts;
  bytesRead: number;
  seconds: number;
  imagesPerMinute: number;
  mbPerSecond: number;
}

/** How a group of skipped layers is worded in reasons, by code. The CLI names its flags here. */
export type SkipLabels = Partial<Record<LayerSkipCode, string>>;

const DEFAULT_SKIP_LABELS: SkipLabels = { LAYER_BELOW_MIN_SIZE: 'smaller than the minimum layer size' };

export function displayRef(registry: string, c: Candidate): string {
  return c.tags.length > 0 ? `${registry}/${c.repo}:${c.tags[0]}` : `${registry}/${c.repo}@${c.digest}`;
}

/** A record for candidate `c` with nothing built yet; callers fill in what happened. */
export function newRecord(registry: string, c: Candidate, status: ImageStatus, outcome: ImageOutcome, extra: Partial<ImageRecord> = {}): ImageRecord {
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

/**
 * "no layer needs a zTOC: 2 layers smaller than the minimum layer size; 1 layer zstd layers are not supported…": the
 * skipped layers grouped by code where a label words the code, else by their own reason.
 */
export function describeSkips(skipped: ReadonlyArray<{ code: LayerSkipCode; reason: string }>, labels: SkipLabels = {}): string {
  const counts = new Map<string, number>();
  for (const s of skipped) {
    const why = labels[s.code] ?? DEFAULT_SKIP_LABELS[s.code] ?? s.reason;
    counts.set(why, (counts.get(why) ?? 0) + 1);
  }
  if (counts.size === 0) return 'the image has no layers';
  return `no layer needs a zTOC: ${[...counts].map(([why, n]) => `${n} layer${n === 1 ? '' : 's'} ${why}`).join('; ')}`;
}

export function countSkips(skipped: ReadonlyArray<{ code: LayerSkipCode }>): Partial<Record<LayerSkipCode, number>> {
  const out: Partial<Record<LayerSkipCode, number>> = {};
  for (const s of skipped) out[s.code] = (out[s.code] ?? 0) + 1;
  return out;
}

export function toJournal(r: ImageRecord, key: string): JournalEntry {
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

export function totalsOf(records: readonly ImageRecord[], blobs: BlobCounts, seconds: number): BackfillTotals {
  const sum = (f: (r: ImageRecord) => number): number => records.reduce((n, r) => n + f(r), 0);
  const count = (f: (r: ImageRecord) => boolean): number => records.filter(f).length;
  // Images this run worked on (not taken from the journal, not left out, not a selection problem).
  const ran = count((r) => r.outcome !== 'state' && r.outcome !== 'not-run' && r.outcome !== 'dry-run' && r.digest !== '');
  const byOutcome: Partial<Record<ImageOutcome, number>> = {};
  for (const r of records) byOutcome[r.outcome] = (byOutcome[r.outcome] ?? 0) + 1;
  const bytesRead = sum((r) => r.bytes);
  return {
    images: records.length,
    done: count((r) => r.status === 'done'),
    skipped: count((r) => r.status === 'skipped'),
    failed: count((r) => r.status === 'failed'),
    byOutcome,
    ztocs: sum((r) => r.ztocs),
    ztocsBuilt: sum((r) => r.ztocsBuilt),
    ztocsReused: sum((r) => r.ztocsReused),
    blobs,
    bytesRead,
    seconds,
    imagesPerMinute: seconds > 0 ? (ran / seconds) * 60 : 0,
    mbPerSecond: seconds > 0 ? bytesRead / 1e6 / seconds : 0,
  };
}
