// The native addon refuses misuse instead of trusting it (issue 10 item 8): handles are type-tagged
// (a reader handle passed to a builder call throws, and the reverse), every integer argument is
// range-checked, result arrays must be Float64Arrays with enough named slots, and after all that
// the addon still builds a layer correctly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { BuilderInfo, BUILDER_INFO_SLOTS, native, ReaderInfo, READER_INFO_SLOTS, type BuilderHandle, type ReaderHandle } from '../src/inflate/native.js';
import { prngBytes } from './helpers/fixtures.js';
import { gzipN } from './helpers/gzip-craft.js';

const n = native();
const window = new Uint8Array(32768);
const input = gzipN(prngBytes(100_000, 5).map((b) => b & 0x0f));
const out = new Uint8Array(1 << 18);
const info = new Float64Array(BUILDER_INFO_SLOTS);
// Deliberately wrong-typed values, as a caller without TypeScript could pass them.
const asBuilder = (v: unknown): BuilderHandle => v as BuilderHandle;
const asReader = (v: unknown): ReaderHandle => v as ReaderHandle;

const typeErr = (re: RegExp) => (e: unknown) => e instanceof TypeError && re.test(e.message);
const rangeErr = (re: RegExp) => (e: unknown) => e instanceof RangeError && re.test(e.message);

test('named result slots: the addon exports the layout the TypeScript side reads', () => {
  assert.deepEqual({ ...n.builderInfoSlots }, { consumed: 0, produced: 1, totalIn: 2, totalOut: 3, checkpoints: 4, memberEnded: 5, members: 6 });
  assert.deepEqual({ ...n.builderInfoSlots }, { ...BuilderInfo });
  assert.deepEqual({ ...n.readerInfoSlots }, { consumed: 0, produced: 1, membersEnded: 2 });
  assert.deepEqual({ ...n.readerInfoSlots }, { ...ReaderInfo });
  assert.deepEqual({ ...n.engines }, { zlib: 0, fast: 1 });
  const st = n.builderState(n.builderCreate(0, true, 1));
  assert.deepEqual(Object.keys(st).sort(), ['checkpoints', 'engine', 'memberEnded', 'members', 'started', 'totalIn', 'totalOut']);
  assert.equal(st.engine, 1);
});

test('type-tagged handles: a reader handle is refused by every builder call, and the reverse', () => {
  const reader = n.readerCreate(0, 0, window);
  const builder = n.builderCreate(4096, true, 0);
  assert.throws(() => n.builderInflate(asBuilder(reader), input, 0, out, info), typeErr(/expected a builder handle/));
  assert.throws(() => n.builderMessage(asBuilder(reader)), typeErr(/builder handle/));
  assert.throws(() => n.builderState(asBuilder(reader)), typeErr(/builder handle/));
  assert.throws(() => n.builderCheckpoints(asBuilder(reader), 0), typeErr(/builder handle/));
  assert.throws(() => n.builderBlob(asBuilder(reader), 1), typeErr(/builder handle/));
  assert.throws(() => n.readerInflate(asReader(builder), input, 0, out, 0, new Float64Array(READER_INFO_SLOTS)), typeErr(/expected a reader handle/));
  assert.throws(() => n.readerMessage(asReader(builder)), typeErr(/reader handle/));
  for (const bogus of [{}, null, undefined, 42, 'builder', new Uint8Array(8)]) {
    assert.throws(() => n.builderInflate(asBuilder(bogus), input, 0, out, info), typeErr(/builder handle/));
    assert.throws(() => n.readerMessage(asReader(bogus)), typeErr(/reader handle/));
  }
});

test('integer arguments are range-checked', () => {
  assert.throws(() => n.builderCreate(-1, true, 0), rangeErr(/spanSize/));
  assert.throws(() => n.builderCreate(1.5, true, 0), rangeErr(/spanSize/));
  assert.throws(() => n.builderCreate(NaN, true, 0), rangeErr(/spanSize/));
  assert.throws(() => n.builderCreate(2 ** 60, true, 0), rangeErr(/spanSize/));
  assert.throws(() => n.builderCreate(4096, true, 2), rangeErr(/engine/));
  assert.throws(() => n.builderCreate(4096, true, -1), rangeErr(/engine/));
  assert.throws(() => n.builderCreate('4096' as unknown as number, true, 0), typeErr(/spanSize must be a number/));
  const h = n.builderCreate(4096, true, 1);
  for (const off of [-1, input.length + 1, 0.5, Infinity, NaN]) {
    assert.throws(() => n.builderInflate(h, input, off, out, info), rangeErr(/inOffset/), `inOffset ${off}`);
  }
  assert.throws(() => n.builderCheckpoints(h, -1), rangeErr(/from/));
  assert.throws(() => n.builderCheckpoints(h, 1), rangeErr(/from/)); // no checkpoint yet
  assert.throws(() => n.readerCreate(8, 0, window), rangeErr(/bits/));
  assert.throws(() => n.readerCreate(-1, 0, window), rangeErr(/bits/));
  assert.throws(() => n.readerCreate(3, 256, window), rangeErr(/firstByte/));
  assert.throws(() => n.readerCreate(0, 0, new Uint8Array(100)), rangeErr(/32768/));
  const r = n.readerCreate(0, 0, window);
  const ri = new Float64Array(READER_INFO_SLOTS);
  assert.throws(() => n.readerInflate(r, input, input.length + 1, out, 0, ri), rangeErr(/inOffset/));
  assert.throws(() => n.readerInflate(r, input, 0, out, out.length + 1, ri), rangeErr(/outOffset/));
});

test('buffers and result arrays are type-checked, and missing arguments refused', () => {
  const h = n.builderCreate(4096, true, 1);
  assert.throws(() => n.builderInflate(h, Array.from(input) as unknown as Uint8Array, 0, out, info), typeErr(/Uint8Array/));
  assert.throws(() => n.builderInflate(h, new Uint16Array(8) as unknown as Uint8Array, 0, out, info), typeErr(/Uint8Array/));
  assert.throws(() => n.builderInflate(h, input, 0, out, new Float64Array(BUILDER_INFO_SLOTS - 1)), typeErr(/Float64Array of at least 7/));
  assert.throws(() => n.builderInflate(h, input, 0, out, new Float32Array(8) as unknown as Float64Array), typeErr(/Float64Array/));
  const partial = n.builderInflate as unknown as (...a: unknown[]) => number;
  assert.throws(() => partial(h, input, 0), typeErr(/expected 5 arguments, got 3/));
  assert.throws(() => (n.builderCreate as unknown as (...a: unknown[]) => unknown)(), typeErr(/expected 3 arguments/));
});

test('after the misuse, both engines still inflate correctly and report through the named slots', () => {
  const want = gunzipSync(input);
  for (const engine of [0, 1]) {
    const h = n.builderCreate(8192, true, engine);
    const got: Buffer[] = [];
    let off = 0;
    for (;;) {
      const status = n.builderInflate(h, input, off, out, info);
      assert.equal(status, 0);
      off += info[BuilderInfo.consumed]!;
      got.push(Buffer.from(out.subarray(0, info[BuilderInfo.produced]!)));
      if (off === input.length && info[BuilderInfo.produced]! < out.length) break;
    }
    assert.ok(Buffer.concat(got).equals(want), `engine ${engine}: output`);
    assert.equal(info[BuilderInfo.totalOut], want.length);
    assert.equal(info[BuilderInfo.members], 1);
    const st = n.builderState(h);
    assert.equal(st.memberEnded, 1);
    assert.equal(st.totalIn, input.length);
    assert.ok(st.checkpoints > 1);
  }
});
