// The referrers fallback update without HTTP: applyReferrerChanges (add, replace, remove, dedupe, order), the pure
// step function of the read–merge–write–confirm protocol, and the loop driven through an in-memory tag that a
// simulated concurrent writer overwrites.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isZtocError } from '../src/errors.js';
import { MediaType, type Descriptor, type ImageIndex } from '../src/oci/types.js';
import { FALLBACK_CONFIRMATIONS, MAX_FALLBACK_REREADS, MAX_FALLBACK_WRITES, fallbackStep, newFallbackState, updateFallbackIndex, type FallbackIo } from '../src/registry/referrers-fallback.js';
import { applyReferrerChanges } from '../src/registry/referrers.js';

const d = (c: string, artifactType = 'application/vnd.example+json'): Descriptor => ({ mediaType: MediaType.OciManifest, digest: `sha256:${c.repeat(64)}`, size: 100, artifactType });
const A = d('a');
const B = d('b');
const C = d('c');
const digests = (xs: Descriptor[]): string[] => xs.map((x) => x.digest[7]!);

describe('applyReferrerChanges', () => {
  it('adds at the end, replaces by digest (moving it last), removes, dedupes, drops empty entries', () => {
    assert.deepEqual(digests(applyReferrerChanges([], { add: [A] }).index.manifests), ['a']);
    assert.deepEqual(digests(applyReferrerChanges([A, B], { add: [C] }).index.manifests), ['a', 'b', 'c']);
    const replaced = applyReferrerChanges([A, B], { add: [{ ...A, size: 7 }] });
    assert.deepEqual(digests(replaced.index.manifests), ['b', 'a']);
    assert.equal(replaced.index.manifests[1]!.size, 7);
    assert.deepEqual(digests(applyReferrerChanges([A, B, C], { remove: [B.digest] }).index.manifests), ['a', 'c']);
    assert.deepEqual(digests(applyReferrerChanges([A, B, A, { ...C, digest: '' }, { ...C, mediaType: '' }], {}).index.manifests), ['a', 'b']);
    assert.deepEqual(digests(applyReferrerChanges([A, B], { add: [C], remove: [A.digest] }).index.manifests), ['b', 'c']);
    const idx = applyReferrerChanges([A], { remove: [A.digest] }).index;
    assert.deepEqual(idx, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
  });

  it('says whether anything changed', () => {
    assert.equal(applyReferrerChanges([A, B], { add: [B] }).changed, false, 're-adding the last entry as is');
    assert.equal(applyReferrerChanges([A, B], { remove: [C.digest] }).changed, false);
    assert.equal(applyReferrerChanges([A, B], { add: [A] }).changed, true, 'moved to the end');
    assert.equal(applyReferrerChanges([A, B], { remove: [B.digest] }).changed, true);
  });
});

describe('fallbackStep', () => {
  it('a fresh add: write, then two reads showing it confirm it', () => {
    const s = newFallbackState();
    const w = fallbackStep(s, [], { add: [A] });
    assert.equal(w.kind, 'write');
    assert.deepEqual(w.kind === 'write' ? digests(w.index.manifests) : [], ['a']);
    s.writes++;
    assert.deepEqual(fallbackStep(s, [A], { add: [A] }), { kind: 'confirm' });
    assert.equal(FALLBACK_CONFIRMATIONS, 2);
    assert.deepEqual(fallbackStep(s, [A], { add: [A] }), { kind: 'done' });
  });

  it('an entry seen once and then dropped by another writer is merged back; our removals are not', () => {
    const s = newFallbackState();
    assert.equal(fallbackStep(s, [A, B], { add: [C], remove: [A.digest] }).kind, 'write');
    s.writes++;
    // Another writer overwrote our index with one from an older read: it lost B and still has A.
    const step = fallbackStep(s, [A], { add: [C], remove: [A.digest] });
    assert.equal(step.kind, 'write');
    if (step.kind !== 'write') return;
    assert.equal(step.lost.length, 1);
    assert.equal(step.ourMissing, true);
    assert.deepEqual(digests(step.index.manifests), ['b', 'c']);
    // A read that shows the change but has lost nothing confirms; a confirmation interrupted starts again.
    assert.deepEqual(fallbackStep(s, [B, C], { add: [C], remove: [A.digest] }), { kind: 'confirm' });
    assert.equal(fallbackStep(s, [C], { add: [C], remove: [A.digest] }).kind, 'write');
    assert.equal(s.confirmed, 0);
  });

  it('removing what is not there needs no write at all', () => {
    const s = newFallbackState();
    assert.deepEqual(fallbackStep(s, [], { remove: [A.digest] }), { kind: 'confirm' });
    assert.deepEqual(fallbackStep(s, [], { remove: [A.digest] }), { kind: 'done' });
  });

  it('gives up after MAX_FALLBACK_WRITES writes that keep being undone', () => {
    const s = newFallbackState();
    s.writes = MAX_FALLBACK_WRITES;
    assert.deepEqual(fallbackStep(s, [B], { add: [A] }), { kind: 'give-up', writes: MAX_FALLBACK_WRITES });
  });
});

/**
 * An in-memory tag; `onWrite` lets a test play a concurrent writer. `deleted` holds the manifests the repository no
 * longer has; with `checksIndex`, a write listing one is refused as the distribution registry refuses it.
 */
function memoryTag(
  initial: Descriptor[] | undefined,
  opts: { deletes?: boolean; checksIndex?: boolean; deleted?: Set<string>; onWrite?: (n: number, tag: { index: Descriptor[] | undefined }) => void } = {},
) {
  const tag: { index: Descriptor[] | undefined; version: number } = { index: initial, version: 0 };
  const log: string[] = [];
  const deleted = opts.deleted ?? new Set<string>();
  let writes = 0;
  const io: FallbackIo = {
    read: async () => (tag.index === undefined ? undefined : { manifests: [...tag.index], digest: `v${tag.version}` }),
    head: async () => (tag.index === undefined ? undefined : `v${tag.version}`),
    write: async (index: ImageIndex) => {
      if (opts.checksIndex === true && index.manifests.some((m) => deleted.has(m.digest))) {
        log.push(`refused ${digests(index.manifests).join('')}`);
        return 'dangling';
      }
      log.push(`write ${digests(index.manifests).join('')}`);
      tag.index = index.manifests;
      tag.version++;
      opts.onWrite?.(++writes, tag);
      return 'written';
    },
    exists: async (digest: string) => !deleted.has(digest),
    remove: async (digest: string) => {
      log.push(`delete ${digest}`);
      if (opts.deletes === false) return false;
      tag.index = undefined;
      return true;
    },
    sleep: async () => undefined,
    backoff: () => 1,
    debug: (line: string) => log.push(`debug ${line}`),
  };
  return { tag, io, log };
}

describe('updateFallbackIndex (in memory)', () => {
  it('adds to an existing index, keeps the others, and writes once', async () => {
    const m = memoryTag([A, B]);
    await updateFallbackIndex(m.io, { add: [C] }, 'reg/app:sha256-x');
    assert.deepEqual(digests(m.tag.index!), ['a', 'b', 'c']);
    assert.deepEqual(m.log, ['write abc']);
  });

  it('merges back what a concurrent writer dropped right after our write', async () => {
    const m = memoryTag([A], {
      onWrite: (n, tag) => {
        if (n === 1) tag.index = [B]; // another tool wrote its index over ours, from an old read
      },
    });
    await updateFallbackIndex(m.io, { add: [C] }, 'reg/app:sha256-x');
    assert.deepEqual(digests(m.tag.index!).sort(), ['a', 'b', 'c']);
    assert.equal(m.log.filter((l) => l.startsWith('write')).length, 2);
    assert.ok(m.log.some((l) => l.includes('went missing after a write')));
  });

  it('removes one referrer and keeps the rest; removing the last deletes the index, or empties it where deletes are refused', async () => {
    const m = memoryTag([A, B, C]);
    await updateFallbackIndex(m.io, { remove: [B.digest] }, 'reg/app:sha256-x');
    assert.deepEqual(digests(m.tag.index!), ['a', 'c']);

    const last = memoryTag([A]);
    await updateFallbackIndex(last.io, { remove: [A.digest] }, 'reg/app:sha256-x');
    assert.equal(last.tag.index, undefined);
    assert.deepEqual(last.log, ['delete v0']);

    const refused = memoryTag([A], { deletes: false });
    await updateFallbackIndex(refused.io, { remove: [A.digest] }, 'reg/app:sha256-x');
    assert.deepEqual(refused.tag.index, []);
    assert.deepEqual(refused.log, ['delete v0', 'write ']);
  });

  it('re-reads while another writer keeps moving the tag, without using up its rounds, and still ends', async () => {
    // Another writer adds an entry between every read and HEAD for the first 30 reads (more than the rounds).
    const m = memoryTag([A]);
    let reads = 0;
    const read = m.io.read;
    m.io.read = async () => {
      const r = await read();
      if (++reads <= 30) {
        m.tag.index = [...(m.tag.index ?? []), { ...B, digest: `sha256:other${reads}` }];
        m.tag.version++;
      }
      return r;
    };
    await updateFallbackIndex(m.io, { add: [C] }, 'reg/app:sha256-x');
    const d = m.tag.index!.map((x) => x.digest);
    assert.ok(d.includes(A.digest) && d.includes(C.digest));
    assert.equal(d.filter((x) => x.startsWith('sha256:other')).length, 30);
    assert.equal(m.log.filter((l) => l.includes('changed since we read it')).length, 30);

    // A tag that moves on every read: bounded all the same, with the clear error.
    const busy = memoryTag([A]);
    const read2 = busy.io.read;
    let n = 0;
    busy.io.read = async () => {
      const r = await read2();
      busy.tag.version++;
      n++;
      return r;
    };
    await assert.rejects(updateFallbackIndex(busy.io, { add: [C] }, 'reg/app:sha256-x'), (e: unknown) => isZtocError(e, 'REGISTRY_ERROR'));
    assert.ok(n > MAX_FALLBACK_REREADS && n < 3 * MAX_FALLBACK_REREADS, String(n));
  });

  it('does not merge back an entry that went missing because its manifest was deleted (ztoc rm beside us)', async () => {
    // We read [A, B]; before our write, another process unlists B and deletes its manifest.
    const deleted = new Set<string>();
    const m = memoryTag([A, B], { deleted });
    const read = m.io.read;
    let reads = 0;
    m.io.read = async () => {
      const r = await read();
      if (++reads === 2) {
        m.tag.index = [A, C];
        m.tag.version++;
        deleted.add(B.digest);
      }
      return r;
    };
    // Our write of [A, B, C] is undone by the "rm" above; B is then seen missing, found deleted, and stays out.
    await updateFallbackIndex(m.io, { add: [C] }, 'reg/app:sha256-x');
    assert.deepEqual(digests(m.tag.index!), ['a', 'c']);
    assert.ok(m.log.some((l) => l.includes('their manifests are deleted; not merging them back')), m.log.join('\n'));

    // A lost entry whose manifest still exists is merged back as before (a lost write, not a removal).
    const kept = memoryTag([A, B]);
    const read2 = kept.io.read;
    let reads2 = 0;
    kept.io.read = async () => {
      const r = await read2();
      if (++reads2 === 2) {
        kept.tag.index = [A];
        kept.tag.version++;
      }
      return r;
    };
    await updateFallbackIndex(kept.io, { add: [C] }, 'reg/app:sha256-x');
    assert.deepEqual(digests(kept.tag.index!).sort(), ['a', 'b', 'c']);
  });

  it('a registry that refuses an index listing a deleted manifest: the entry is dropped and the write made again', async () => {
    // The listing still names B, whose manifest was deleted (rm deletes after unlisting; we read in between).
    const m = memoryTag([A, B], { checksIndex: true, deleted: new Set([B.digest]) });
    await updateFallbackIndex(m.io, { add: [C] }, 'reg/app:sha256-x');
    assert.deepEqual(digests(m.tag.index!), ['a', 'c']);
    assert.deepEqual(m.log.filter((l) => !l.startsWith('debug')), ['refused abc', 'write ac']);
    // Refused with every listed manifest present: a clear error, not a loop.
    const odd = memoryTag([A], { checksIndex: true });
    odd.io.write = async () => 'dangling';
    await assert.rejects(updateFallbackIndex(odd.io, { add: [C] }, 'reg/app:sha256-x'), /yet every listed manifest exists/);
  });

  it('gives up with a clear error when every write is undone', async () => {
    const m = memoryTag([], { onWrite: (_n, tag) => (tag.index = [B]) });
    await assert.rejects(updateFallbackIndex(m.io, { add: [A] }, 'reg/app:sha256-x'), (e: unknown) => {
      assert.ok(isZtocError(e, 'REGISTRY_ERROR'));
      assert.equal(e.message, `referrers fallback reg/app:sha256-x: could not keep ${A.digest} in the index after ${MAX_FALLBACK_WRITES} writes (other writers keep replacing it)`);
      return true;
    });
  });
});
