// The zTOC encoder (src/ztoc/encode.ts, a cut-down flatbuffers writer, with the entries written by
// the addon's native/ztoc_encode.c or by the same steps in TypeScript) against the flatbuffers
// library driven in SOCI's Go call order: random models (xattrs, negative and 2^53-range numbers,
// high latin1 bytes, a non-ASCII build tool id, both compressions) give identical bytes under both
// entry encoders, also when the buffer has to grow from a tiny start, when an entry has more xattrs
// than the C side takes, and when the entry log spans several chunks. The golden tests hold them to
// SOCI's real bytes. Encoding in place (around a build's checkpoint blob, in the blob's own memory)
// gives the same bytes, writes every byte it returns (the room around the blob starts as garbage),
// never writes into the blob, and shares the blob's ArrayBuffer instead of copying it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as flatbuffers from 'flatbuffers';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { decodeZtoc } from '../src/ztoc/decode.js';
import { encodeZtoc, encodeZtocFrom, type EntryEncoder, type InPlaceBlob } from '../src/ztoc/encode.js';
import { EntryLog } from '../src/ztoc/entry-log.js';
import { native } from '../src/inflate/native.js';
import type { Ztoc } from '../src/ztoc/model.js';
import { goldenCases } from './helpers/golden.js';
import type { EntryType, TocEntry } from '../src/tar/types.js';

/** The flatbuffers library, called as SOCI's ztocToFlatbuffer calls it (soci-format.md §1.2). */
function oracle(z: Ztoc): Uint8Array {
  const b = new flatbuffers.Builder(1024);
  const str = (s: string): number => b.createString(Buffer.from(s, 'latin1'));
  const i64 = (slot: number, v: number): void => b.addFieldInt64(slot, BigInt(v), 0n);
  const version = b.createString(z.version);
  const tool = b.createString(z.buildToolIdentifier);
  const metas: number[] = [];
  for (let i = z.entries.length - 1; i >= 0; i--) {
    const e = z.entries[i]!;
    const o = [e.name, e.type, e.linkname, e.uname, e.gname, e.modTime].map(str);
    const xs = [...e.xattrs].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)).map(([k, v]) => {
      const ko = str(k);
      const vo = str(v);
      b.startObject(2);
      b.addFieldOffset(0, ko, 0);
      b.addFieldOffset(1, vo, 0);
      return b.endObject();
    });
    b.startVector(4, xs.length, 4);
    for (let k = xs.length - 1; k >= 0; k--) b.addOffset(xs[k]!);
    const xvec = b.endVector();
    b.startObject(14);
    b.addFieldOffset(0, o[0]!, 0);
    b.addFieldOffset(1, o[1]!, 0);
    i64(2, e.offset);
    i64(3, e.size);
    b.addFieldOffset(4, o[2]!, 0);
    i64(5, e.mode);
    b.addFieldInt32(6, e.uid | 0, 0);
    b.addFieldInt32(7, e.gid | 0, 0);
    b.addFieldOffset(8, o[3]!, 0);
    b.addFieldOffset(9, o[4]!, 0);
    b.addFieldOffset(10, o[5]!, 0);
    i64(11, e.devmajor);
    i64(12, e.devminor);
    b.addFieldOffset(13, xvec, 0);
    metas[i] = b.endObject();
  }
  b.startVector(4, metas.length, 4);
  for (let i = metas.length - 1; i >= 0; i--) b.addOffset(metas[i]!);
  const metaVec = b.endVector();
  b.startObject(1);
  b.addFieldOffset(0, metaVec, 0);
  const toc = b.endObject();
  const cps = b.createByteVector(z.checkpoints);
  const ds = z.spanDigests.map((d) => b.createString(d));
  b.startVector(4, ds.length, 4);
  for (let i = ds.length - 1; i >= 0; i--) b.addOffset(ds[i]!);
  const digests = b.endVector();
  b.startObject(4);
  b.addFieldInt32(1, z.maxSpanId, 0);
  b.addFieldOffset(2, digests, 0);
  b.addFieldOffset(3, cps, 0);
  b.addFieldInt8(0, z.compression === 'gzip' ? 1 : 2, 1);
  const info = b.endObject();
  b.startObject(6);
  b.addFieldOffset(0, version, 0);
  b.addFieldOffset(1, tool, 0);
  b.addFieldOffset(4, toc, 0);
  i64(2, z.compressedArchiveSize);
  i64(3, z.uncompressedArchiveSize);
  b.addFieldOffset(5, info, 0);
  b.finish(b.endObject());
  return b.asUint8Array();
}

const latin1 = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }).map((a) => String.fromCharCode(...a));
const num = fc.oneof(fc.constant(0), fc.integer({ min: -5, max: 1 << 20 }), fc.maxSafeInteger(), fc.constant(-(2 ** 40)), fc.constant(2 ** 32));
const types: EntryType[] = ['reg', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'];
const entry: fc.Arbitrary<TocEntry> = fc.record({
  name: latin1,
  type: fc.constantFrom(...types),
  offset: num,
  size: num,
  linkname: fc.oneof(fc.constant(''), latin1),
  mode: num,
  uid: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  gid: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  uname: fc.constantFrom('', 'root', 'b\u00e9a'),
  gname: fc.constantFrom('', 'root', 'staff'),
  modTime: fc.constantFrom('', '2023-11-14T22:13:20Z', '2023-11-14T22:13:20.5Z'),
  devmajor: fc.oneof(fc.constant(0), num),
  devminor: fc.oneof(fc.constant(0), num),
  xattrs: fc.uniqueArray(fc.tuple(latin1, latin1), { maxLength: 4, selector: (kv) => kv[0] }),
  headerOffset: fc.constant(0),
});
const ztoc: fc.Arbitrary<Ztoc> = fc.record({
  version: fc.constant('0.9'),
  buildToolIdentifier: fc.constantFrom('ztoc 0.1.0', 'AWS SOCI CLI v0.2', 'b\u00fbild \u2713'),
  compressedArchiveSize: num,
  uncompressedArchiveSize: num,
  entries: fc.array(entry, { maxLength: 30 }),
  compression: fc.constantFrom('gzip' as const, 'uncompressed' as const),
  maxSpanId: fc.integer({ min: 0, max: 1000 }),
  spanDigests: fc.array(fc.constant(`sha256:${'ab'.repeat(32)}`), { maxLength: 5 }),
  checkpoints: fc.uint8Array({ maxLength: 300 }),
});

const ENCODERS: EntryEncoder[] = ['native', 'js'];

test('encodeZtoc equals the flatbuffers library in SOCI call order, with or without growing, under both entry encoders', () => {
  fc.assert(
    fc.property(ztoc, fc.integer({ min: 1, max: 64 }), (z, hint) => {
      const want = Buffer.from(oracle(z));
      for (const enc of ENCODERS) {
        assert.deepEqual(Buffer.from(encodeZtoc(z, undefined, enc)), want, enc);
        assert.deepEqual(Buffer.from(encodeZtoc(z, hint, enc)), want, `${enc}, start size ${hint}`);
      }
    }),
    { numRuns: 400 },
  );
});

function bigEntry(i: number, xattrs: number): TocEntry {
  return {
    name: `usr/lib/some/rather/long/path/number/${i}/${'x'.repeat(i % 97)}`,
    type: i % 5 === 0 ? 'dir' : 'reg',
    offset: 512 * i,
    size: i % 7 === 0 ? 0 : i * 13,
    linkname: i % 11 === 0 ? `target-${i}` : '',
    mode: i % 3 === 0 ? 0o755 : 0o644,
    uid: i % 4,
    gid: i % 6,
    uname: i % 2 === 0 ? 'root' : '',
    gname: 'root',
    modTime: '2023-11-14T22:13:20Z',
    devmajor: i % 13 === 0 ? 8 : 0,
    devminor: i % 17 === 0 ? 1 : 0,
    xattrs: Array.from({ length: xattrs }, (_, k) => [`user.k${String(k).padStart(5, '0')}`, `v${k}`] as [string, string]),
    headerOffset: 0,
  };
}

test('both entry encoders equal the library for a log of several chunks and for entries with very many xattrs', () => {
  // ~2.5 MB of log (3 chunks); one entry has more xattrs than the C side takes at once (1024), one
  // more than its first vtable room (256).
  const entries = Array.from({ length: 25_000 }, (_, i) => bigEntry(i, i === 7 ? 1100 : i === 9000 ? 300 : i % 50 === 0 ? 2 : 0));
  const z: Ztoc = {
    version: '0.9',
    buildToolIdentifier: 'ztoc test',
    compressedArchiveSize: 123456789,
    uncompressedArchiveSize: 987654321,
    entries,
    compression: 'gzip',
    maxSpanId: 3,
    spanDigests: Array.from({ length: 4 }, () => `sha256:${'cd'.repeat(32)}`),
    checkpoints: new Uint8Array(1000).fill(7),
  };
  const want = Buffer.from(oracle(z));
  const log = EntryLog.from(entries);
  assert.ok(log.chunksBackwards().length >= 3, 'the log should span several chunks');
  for (const enc of ENCODERS) {
    assert.deepEqual(Buffer.from(encodeZtocFrom(z, log, undefined, enc)), want, enc);
    assert.deepEqual(Buffer.from(encodeZtocFrom(z, log, 64, enc)), want, `${enc}, growing from 64 bytes`);
    // In place: the entries stop above the blob (and grow away from it when the room is too small).
    assert.deepEqual(Buffer.from(inPlace(z, new GarbageBlob(z.checkpoints), undefined, enc, log)), want, `${enc}, in place`);
    assert.deepEqual(Buffer.from(inPlace(z, new GarbageBlob(z.checkpoints), 100_000, enc, log)), want, `${enc}, in place, room too small`);
  }
});

test('the addon checks what it is handed to encode entries', () => {
  const n = native();
  const buf = new Uint8Array(4096);
  const ok = (): [Uint8Array, Float64Array, Float64Array, Uint8Array, Float64Array, Int32Array] => [buf, new Float64Array([4096, 4096, 0, 1, 0]), new Float64Array(8), new Uint8Array(0), new Float64Array([0, 0]), new Int32Array(0)];
  assert.equal(n.encodeEntries(...ok()), 0); // nothing to encode: done
  const bad: Array<[string, (a: ReturnType<typeof ok>) => void]> = [
    ['space beyond cap', (a) => (a[1][1] = 5000)],
    ['floor above space', (a) => (a[1][2] = 4097)],
    ['minalign 3', (a) => (a[1][3] = 3)],
    ['more vtables than the array', (a) => (a[1][4] = 9)],
    ['a vtable outside the written bytes', (a) => { a[1][4] = 1; a[2][0] = 100; }],
    ['cursor past the chunk', (a) => (a[4][0] = 1)],
    ['meta index past the array', (a) => (a[4][1] = 1)],
  ];
  for (const [what, spoil] of bad) {
    const a = ok();
    spoil(a);
    assert.throws(() => n.encodeEntries(...a), (e: unknown) => e instanceof RangeError, what);
  }
  assert.throws(() => n.encodeEntries(buf, new Float64Array(5), new Float64Array(1), buf, new Float64Array(2), new Float64Array(1) as unknown as Int32Array), TypeError);
  // A damaged record is refused, not read past.
  const chunk = new Uint8Array(64);
  new DataView(chunk.buffer).setUint32(60, 1000, true);
  assert.equal(n.encodeEntries(buf, new Float64Array([4096, 4096, 0, 1, 0]), new Float64Array(8), chunk, new Float64Array([64, 1]), new Int32Array(1)), -1);
});

/** An InPlaceBlob over a plain ArrayBuffer whose room is garbage (the addon's is uninitialised), as is what a move leaves. */
class GarbageBlob implements InPlaceBlob {
  buffer: ArrayBuffer | undefined;
  moves = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly extraFront = 0,
  ) {}
  take(before: number, after: number): Uint8Array {
    assert.equal(this.buffer, undefined, 'taken twice');
    const at = before + this.extraFront;
    const ab = new ArrayBuffer(at + this.bytes.length + after);
    new Uint8Array(ab).fill(0xa5).set(this.bytes, at);
    this.buffer = ab;
    return new Uint8Array(ab, at, this.bytes.length);
  }
  moveDown(buf: Uint8Array, from: number, to: number, length: number): void {
    assert.equal(buf.buffer, this.buffer);
    assert.ok(to <= from && from + length <= this.buffer!.byteLength);
    const all = new Uint8Array(this.buffer!);
    all.copyWithin(to, from, from + length);
    all.fill(0x5a, Math.max(to + length, from), from + length);
    this.moves++;
  }
}

const inPlace = (z: Ztoc, blob: GarbageBlob, hint?: number, enc?: EntryEncoder, log = EntryLog.from(z.entries)): Uint8Array =>
  encodeZtocFrom({ ...z, checkpoints: blob }, log, hint, enc);

test('encoding in place around the checkpoints gives the same bytes, also when it falls back to copying', () => {
  fc.assert(
    fc.property(ztoc, fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 64 }), (z, extra, hint) => {
      const want = Buffer.from(oracle(z));
      for (const enc of ENCODERS) {
        assert.deepEqual(Buffer.from(inPlace(z, new GarbageBlob(z.checkpoints, extra), undefined, enc)), want, enc);
        assert.deepEqual(Buffer.from(inPlace(z, new GarbageBlob(z.checkpoints, extra), hint, enc)), want, `${enc}, room ${hint}`);
      }
    }),
    { numRuns: 300 },
  );
});

test("golden zTOCs encoded in place share the blob's memory: the checkpoints are not copied", () => {
  const cases = goldenCases();
  assert.ok(cases.length > 0);
  for (const c of cases) {
    const golden = readFileSync(c.ztocPath);
    const z = decodeZtoc(golden);
    for (const enc of ENCODERS) {
      const blob = new GarbageBlob(z.checkpoints.slice(), 3);
      const got = inPlace(z, blob, undefined, enc);
      assert.deepEqual(Buffer.from(got), golden, `${c.layer} span ${c.span}, ${enc}`);
      assert.equal(got.buffer, blob.buffer, `${c.layer} span ${c.span}, ${enc}: the zTOC is not in the blob's buffer`);
      assert.ok(blob.moves <= 1);
    }
  }
});
