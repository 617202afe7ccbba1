// The zTOC encoder (src/ztoc/encode.ts, a cut-down flatbuffers writer) against the flatbuffers
// library driven in SOCI's Go call order: random models (xattrs, negative and 2^53-range numbers,
// high latin1 bytes, a non-ASCII build tool id, both compressions) give identical bytes, also when
// the buffer has to grow from a tiny start. The golden tests hold both to SOCI's real bytes.
// Encoding in place (around a build's checkpoint blob, in the blob's own memory) gives the same
// bytes, writes every byte it returns (the room around the blob starts as garbage), and shares the
// blob's ArrayBuffer instead of copying it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as flatbuffers from 'flatbuffers';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { decodeZtoc } from '../src/ztoc/decode.js';
import { encodeZtoc, encodeZtocFrom, type InPlaceBlob } from '../src/ztoc/encode.js';
import { EntryLog } from '../src/ztoc/entry-log.js';
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

test('encodeZtoc equals the flatbuffers library in SOCI call order, with or without growing', () => {
  fc.assert(
    fc.property(ztoc, fc.integer({ min: 1, max: 64 }), (z, hint) => {
      const want = Buffer.from(oracle(z));
      assert.deepEqual(Buffer.from(encodeZtoc(z)), want);
      assert.deepEqual(Buffer.from(encodeZtoc(z, hint)), want);
    }),
    { numRuns: 400 },
  );
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

const inPlace = (z: Ztoc, blob: GarbageBlob, hint?: number): Uint8Array => encodeZtocFrom({ ...z, checkpoints: blob }, EntryLog.from(z.entries), hint);

test('encoding in place around the checkpoints gives the same bytes, also when it falls back to copying', () => {
  fc.assert(
    fc.property(ztoc, fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 64 }), (z, extra, hint) => {
      const want = Buffer.from(oracle(z));
      assert.deepEqual(Buffer.from(inPlace(z, new GarbageBlob(z.checkpoints, extra))), want);
      assert.deepEqual(Buffer.from(inPlace(z, new GarbageBlob(z.checkpoints, extra), hint)), want);
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
    const blob = new GarbageBlob(z.checkpoints.slice(), 3);
    const got = inPlace(z, blob);
    assert.deepEqual(Buffer.from(got), golden, `${c.layer} span ${c.span}`);
    assert.equal(got.buffer, blob.buffer, `${c.layer} span ${c.span}: the zTOC is not in the blob's buffer`);
    assert.ok(blob.moves <= 1);
  }
});
