// Owns updating the `sha256-<hex>` referrers fallback index (distribution-spec §Referrers Tag Schema) against
// concurrent writers: a pure step function (what to do after a read: done, confirm, write, give up) tested without
// HTTP, and the loop that drives it through injected I/O (read, HEAD, write, delete, sleep). A change adds referrers,
// removes them, or both (`ztoc rm`). There is no conditional PUT for a tag, so the loop reads, merges, writes, reads
// again, and counts as done only when two reads a pause apart show the change with every entry seen kept. An entry
// that went missing is merged back only while its manifest exists: `ztoc rm` (or another tool) that unlisted it and
// then deleted it meant to remove it, and a registry that checks an index's manifests refuses one that lists it.

import { ZtocError } from '../errors.js';
import type { Descriptor, ImageIndex } from '../oci/types.js';
import { applyReferrerChanges, type ReferrerChange } from './referrers.js';

/** Writes of the fallback index per update before giving up. */
export const MAX_FALLBACK_WRITES = 6;
/** Reads in a row that must show the change before an update counts as done. */
export const FALLBACK_CONFIRMATIONS = 2;
const MAX_FALLBACK_ROUNDS = 3 * MAX_FALLBACK_WRITES + FALLBACK_CONFIRMATIONS;
/**
 * Re-reads because the tag moved between our read and our write (another writer is active), on top of the rounds:
 * they cost a read and a HEAD, never a write, and another tool that writes every ~100 ms (the concurrency test's
 * foreign writer beside two `ztoc index` runs) used up the rounds with them alone.
 */
export const MAX_FALLBACK_REREADS = 40;
/** Shortest and longest pause between confirming reads. */
const FALLBACK_SETTLE_FLOOR_MS = 100;
const FALLBACK_SETTLE_CAP_MS = 10_000;

export interface FallbackState {
  /** Every entry seen during this update that the change does not touch: a concurrent overwrite must not drop it. */
  seen: Map<string, Descriptor>;
  /** Entries whose manifests were found deleted from the repository: never merged back or written again. */
  gone: Set<string>;
  confirmed: number;
  writes: number;
}

export function newFallbackState(): FallbackState {
  return { seen: new Map(), gone: new Set(), confirmed: 0, writes: 0 };
}

export type FallbackStep =
  /** The change has been seen in FALLBACK_CONFIRMATIONS reads in a row. */
  | { kind: 'done' }
  /** The read shows the change: pause and read again to confirm. */
  | { kind: 'confirm' }
  /** Write `index` (empty: the change removed the last referrer). `lost` = entries seen before and missing now, merged back. */
  | { kind: 'write'; index: ImageIndex; ourMissing: boolean; lost: Descriptor[] }
  | { kind: 'give-up'; writes: number };

/**
 * One step of the update, after reading the index (`current`: its entries, [] when the tag does not exist). Pure
 * apart from advancing `state`. An entry that vanishes between reads was dropped by a concurrent writer, so it is
 * merged back, unless it is known gone (`state.gone`: its manifest was deleted); the change's own removals are not.
 */
export function fallbackStep(state: FallbackState, read: Descriptor[], change: ReferrerChange): FallbackStep {
  const current = read.filter((d) => !state.gone.has(d.digest));
  const touched = new Set([...(change.add ?? []).map((d) => d.digest), ...(change.remove ?? [])]);
  const present = new Set(current.map((d) => d.digest));
  for (const d of current) if (!touched.has(d.digest) && !state.seen.has(d.digest)) state.seen.set(d.digest, d);
  const lost = [...state.seen.values()].filter((d) => !present.has(d.digest) && !state.gone.has(d.digest));
  const ourMissing = (change.add ?? []).some((d) => !present.has(d.digest)) || (change.remove ?? []).some((d) => present.has(d));
  if (!ourMissing && lost.length === 0) {
    return ++state.confirmed >= FALLBACK_CONFIRMATIONS ? { kind: 'done' } : { kind: 'confirm' };
  }
  state.confirmed = 0;
  if (state.writes >= MAX_FALLBACK_WRITES) return { kind: 'give-up', writes: state.writes };
  return { kind: 'write', index: applyReferrerChanges([...current, ...lost], change).index, ourMissing, lost };
}

/** Marks the entries whose manifests the repository no longer has as gone; returns how many it found. */
async function markGone(io: FallbackIo, state: FallbackState, entries: Descriptor[]): Promise<number> {
  let found = 0;
  for (const d of entries) {
    if (state.gone.has(d.digest) || (await io.exists(d.digest))) continue;
    state.gone.add(d.digest);
    state.seen.delete(d.digest);
    found++;
  }
  return found;
}

/** What updateFallbackIndex needs from the registry, injected so that the loop is the only logic here. */
export interface FallbackIo {
  /** The index under the tag and the digest of its bytes; undefined when the tag does not exist. */
  read(): Promise<{ manifests: Descriptor[]; digest: string } | undefined>;
  /** The digest the tag points at now (a cheap HEAD); undefined when absent or unknown. */
  head(): Promise<string | undefined>;
  /** 'dangling' when the registry refused the index because a manifest it lists is not in the repository. */
  write(index: ImageIndex): Promise<'written' | 'dangling'>;
  /** Whether the repository still has manifest `digest` (true unless it says it has not: a lookup that fails counts as there). */
  exists(digest: string): Promise<boolean>;
  /** Delete the index manifest `digest` (which untags it); false when the registry refuses deletes. */
  remove(digest: string): Promise<boolean>;
  sleep(ms: number): Promise<void>;
  /** Backoff before retry `attempt` (the injected retry policy's). */
  backoff(attempt: number): number;
  debug(line: string): void;
}

/**
 * Apply `change` to the fallback index named `where` (for messages), bounded and jittered. Call it under the
 * per-subject lock (referrers.ts withKeyLock) so that updates within one process do not race each other.
 */
export async function updateFallbackIndex(io: FallbackIo, change: ReferrerChange, where: string): Promise<void> {
  const state = newFallbackState();
  // The pause between confirming reads is at least twice our own read-to-write time (jittered): another writer's
  // read-to-write time against the same registry is about the same, so one that read before our PUT has written
  // by then, and is merged with.
  let window = 0;
  const settle = (): Promise<void> =>
    io.sleep(Math.min(FALLBACK_SETTLE_CAP_MS, Math.max(FALLBACK_SETTLE_FLOOR_MS, io.backoff(1), Math.round(window * (2 + Math.random())))));
  const ours = [...(change.add ?? []).map((d) => d.digest), ...(change.remove ?? [])].join(', ');
  let rereads = 0;
  for (let round = 0; round < MAX_FALLBACK_ROUNDS; round++) {
    const readStart = performance.now();
    const read = await io.read();
    const readTime = performance.now() - readStart;
    const step = fallbackStep(state, read?.manifests ?? [], change);
    if (step.kind === 'done') return;
    if (step.kind === 'confirm') {
      await settle();
      continue;
    }
    if (step.kind === 'give-up') break;
    // Entries to merge back whose manifests were deleted meanwhile were removed on purpose: read and step again.
    const gone = await markGone(io, state, step.lost);
    if (gone > 0) {
      io.debug(`referrers fallback ${where}: ${gone} entries seen before went missing and their manifests are deleted; not merging them back`);
      continue;
    }
    if (state.writes > 0) {
      io.debug(
        `referrers fallback ${where}: ${step.ourMissing ? `our change (${ours}) ` : ''}${step.lost.length > 0 ? `${step.lost.length} entries seen before ` : ''}went missing after a write (concurrent writer?); merging again`,
      );
      await io.sleep(io.backoff(state.writes));
    }
    const writeStart = performance.now();
    // Narrow the race: if the tag moved since our read (a HEAD is cheap), read and merge again instead of
    // overwriting what another writer just put there.
    const head = await io.head().catch(() => undefined);
    if (head !== undefined && head !== read?.digest) {
      io.debug(`referrers fallback ${where}: changed since we read it (concurrent writer); reading again`);
      state.confirmed = 0;
      // A re-read, not a round, while its own budget lasts; the pause grows so that busy writers spread out.
      if (rereads < MAX_FALLBACK_REREADS) round--;
      rereads++;
      await io.sleep(Math.round(io.backoff(Math.min(rereads, 4)) * Math.random()));
      continue;
    }
    // The last referrer removed: delete the index (untagging it) as oras-go does; an empty index where deletes are refused.
    let written: 'written' | 'dangling' = 'written';
    if (step.index.manifests.length > 0 || read === undefined || !(await io.remove(read.digest))) written = await io.write(step.index);
    window = Math.max(window, readTime + (performance.now() - writeStart));
    state.writes++;
    // A manifest the index lists was deleted since we read it (`ztoc rm` beside us): leave it out and try again.
    if (written === 'dangling') {
      const found = await markGone(io, state, step.index.manifests);
      io.debug(`referrers fallback ${where}: the registry refused an index listing a deleted manifest (${found} found gone); merging again`);
      if (found === 0) {
        throw new ZtocError('REGISTRY_ERROR', `referrers fallback ${where}: the registry refuses the index as listing an unknown manifest, yet every listed manifest exists`);
      }
    }
  }
  const verb = (change.remove ?? []).length > 0 ? (change.add ?? []).length > 0 ? 'apply' : 'remove' : 'keep';
  throw new ZtocError(
    'REGISTRY_ERROR',
    `referrers fallback ${where}: could not ${verb} ${ours} ${verb === 'remove' ? 'from' : 'in'} the index after ${state.writes} writes (other writers keep replacing it)`,
  );
}
