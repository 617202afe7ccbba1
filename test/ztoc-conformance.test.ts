// Conformance with the SOCI zTOC format (shared/docs/soci-format.md §1–3, §7), written from the
// reference rather than from our code: every expected value below is derived from how the input
// was constructed (known deflate block boundaries, known gzip header bytes, an independent tar
// walk, hand-parsed flatbuffers), never from what the builder returns.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as flatbuffers from 'flatbuffers';
import { buildZtoc, type BuildResult } from '../src/ztoc/build.js';
import { decodeZtoc } from '../src/ztoc/decode.js';
import { collect, extractFile, findEntry, type RangeReader } from '../src/ztoc/extract.js';
import { verifyZtoc } from '../src/ztoc/verify.js';
import { decodeZinfo } from '../src/inflate/zinfo.js';
import type { Ztoc } from '../src/ztoc/model.js';
import {
  FTEXT,
  gzipHeader,
  gzipHeaderLength,
  gzipN,
  parsePaxBody,
  syncFlushedGzip,
  walkTar,
  withHeader,
  type HeaderSpec,
} from './helpers/gzip-craft.js';

const work = mkdtempSync(join(tmpdir(), 'ztoc-conf-'));
after(() => rmSync(work, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// Inputs

/** Deterministic PRNG (xorshift32). */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function randomData(n: number, seed: number): Buffer {
  const r = prng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE(r(), Math.min(i, n - 4));
  return b;
}

/** Text that compresses about 3:1, so deflate writes Huffman blocks ending at any bit. */
function textData(n: number, seed: number): Buffer {
  const words = ['layer', 'span', 'checkpoint', 'window', 'inflate', 'digest', '{', '}', ';\n', 'const', 'return', 'tar'];
  const r = prng(seed);
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = words[r() % words.length]!;
    parts.push(w, ' ');
    len += w.length + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

/** GNU tar (reproducible flags) of `dir`, with the given extra flags; names are "./…". */
function gnuTar(dir: string, flags: string[] = ['--format=gnu']): Buffer {
  return execFileSync(
    'tar',
    [...flags, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', '-C', dir, '-cf', '-', '.'],
    { maxBuffer: 1 << 28 },
  );
}

function makeDir(name: string, files: Record<string, Uint8Array>): string {
  const dir = join(work, name);
  for (const [p, data] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), data);
  }
  return dir;
}

async function* chunked(b: Uint8Array, size = 65536): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, Math.min(i + size, b.length));
}

const memReader =
  (b: Uint8Array): RangeReader =>
  async (s, e) =>
    b.subarray(s, e);

function build(layer: Uint8Array, spanSize: number, kind: 'auto' | 'gzip' | 'tar' = 'auto'): Promise<BuildResult> {
  return buildZtoc(chunked(layer, 48 * 1024 + 7), { spanSize, kind, layer: 'test-layer' });
}

const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * Checks a zTOC end to end against the tar it was built from: verifyZtoc (independent
 * sequential inflate) passes, and every regular file in the tar, found by our own walk, is in the
 * TOC at the same data offset and extracts to the same bytes.
 */
async function checkAllFiles(z: Ztoc, layer: Uint8Array, tar: Uint8Array): Promise<number> {
  await verifyZtoc(z, memReader(layer), Readable.from(chunked(layer)));
  const regs = walkTar(tar).headers.filter((h) => h.typeflag === '0');
  assert.ok(regs.length > 0);
  for (const h of regs) {
    const e = findEntry(z, h.name);
    assert.ok(e, `${h.name} missing from the zTOC`);
    assert.equal(e.offset, h.dataOffset, `${h.name}: data offset`);
    assert.equal(e.size, h.size, `${h.name}: size`);
    const got = await collect(extractFile(z, e, memReader(layer)));
    assert.ok(got.equals(tar.subarray(h.dataOffset, h.dataOffset + h.size)), `${h.name}: extracted bytes differ`);
  }
  return regs.length;
}

// ---------------------------------------------------------------------------------------------
// Raw flatbuffer access (no generated code): table fields by vtable offset.

interface RawTable {
  bb: flatbuffers.ByteBuffer;
  pos: number;
}

function rawRoot(bytes: Uint8Array): RawTable {
  const bb = new flatbuffers.ByteBuffer(bytes);
  return { bb, pos: bb.readUint32(0) };
}

/** The field's offset inside its table, or 0 when the vtable doesn't have it (absent). */
function slot(t: RawTable, vtableOffset: number): number {
  const vt = t.pos - t.bb.readInt32(t.pos);
  const vtSize = t.bb.readUint16(vt);
  return vtableOffset < vtSize ? t.bb.readUint16(vt + vtableOffset) : 0;
}

function rawSub(t: RawTable, vtableOffset: number): RawTable {
  const f = slot(t, vtableOffset);
  assert.notEqual(f, 0, `sub-table at vtable offset ${vtableOffset} absent`);
  const loc = t.pos + f;
  return { bb: t.bb, pos: loc + t.bb.readUint32(loc) };
}

function rawBytes(t: RawTable, vtableOffset: number): Uint8Array {
  const f = slot(t, vtableOffset);
  assert.notEqual(f, 0, `vector at vtable offset ${vtableOffset} absent`);
  const loc = t.pos + f;
  const vec = loc + t.bb.readUint32(loc);
  const n = t.bb.readUint32(vec);
  return t.bb.bytes().subarray(vec + 4, vec + 4 + n);
}

// Ztoc slots: version 4, build_tool 6, compressed 8, uncompressed 10, toc 12, compression_info 14.
// CompressionInfo slots: compression_algorithm 4, max_span_id 6, span_digests 8, checkpoints 10.
// TarZinfo slots: version 4, span_size 6, size 8.
const CI = 14;
const CI_ALG = 4;
const CI_MAX_SPAN = 6;
const CI_CHECKPOINTS = 10;

// ---------------------------------------------------------------------------------------------
// Shared fixtures

/** ~100 KB of text in one file: the tar for the block-boundary tests. */
const smallDir = makeDir('small', { 'f.txt': textData(100_000, 7) });
const smallTar = gnuTar(smallDir);

/** A few MB of mixed data in several files. */
const mixedFiles: Record<string, Uint8Array> = {
  'bin/random.bin': randomData(900_000, 3),
  'doc/text.txt': textData(1_800_000, 11),
  'doc/small.txt': Buffer.from('hello\n'),
  'doc/mid.bin': randomData(70_001, 5),
  'a/b/c/more.txt': textData(400_000, 13),
  'empty': new Uint8Array(0),
};
const mixedDir = makeDir('mixed', mixedFiles);
const mixedTar = gnuTar(mixedDir);
const mixedGz = gzipN(mixedTar, 6);

// ---------------------------------------------------------------------------------------------
// §2.2: checkpoints at block boundaries where out - last > span (strictly)

/** SOCI's rule applied to the eligible boundaries (all non-final block ends, in order). */
function expectedOuts(boundaries: number[], span: number): number[] {
  const outs = [0];
  let last = 0;
  for (const b of boundaries) {
    if (b - last > span) {
      outs.push(b);
      last = b;
    }
  }
  return outs;
}

test('span rule is strict: out - last > span, at block boundaries known by construction', async () => {
  const S = 3000;
  assert.notEqual(smallTar.length % S, 0, 'want a partial final piece');
  const f = await syncFlushedGzip(smallTar, S);
  // Boundaries: after each piece's block (out = kS) and again after the empty stored block of
  // the sync flush (same out). The final block (remainder, BFINAL set) is never eligible.
  const boundaries = f.flushOuts.flatMap((o) => [o, o]);
  assert.equal(f.flushOuts.length, Math.floor(smallTar.length / S));

  const cases: Array<[number, (outs: number[]) => void]> = [
    [S, (outs) => {
      assert.ok(!outs.includes(S), 'a checkpoint at S: the rule must be > span, not >=');
      assert.deepEqual(outs.slice(0, 4), [0, 2 * S, 4 * S, 6 * S]);
    }],
    [S - 1, (outs) => assert.deepEqual(outs.slice(0, 4), [0, S, 2 * S, 3 * S])],
    [S + 1, (outs) => assert.deepEqual(outs.slice(0, 3), [0, 2 * S, 4 * S])],
    [2 * S - 1, (outs) => assert.deepEqual(outs.slice(0, 3), [0, 2 * S, 4 * S])],
    [2 * S, (outs) => assert.deepEqual(outs.slice(0, 3), [0, 3 * S, 6 * S])],
    [0, (outs) => assert.equal(outs.length, 1 + f.flushOuts.length)],
    [1 << 30, (outs) => assert.deepEqual(outs, [0])],
  ];
  for (const [span, extra] of cases) {
    const r = await build(f.gz, span);
    const zi = decodeZinfo(r.ztoc.checkpoints);
    const outs = zi.checkpoints.map((c) => c.out);
    const want = expectedOuts(boundaries, span);
    assert.deepEqual(outs, want, `span ${span}`);
    extra(outs);
    assert.equal(zi.spanSize, span);
    assert.equal(r.ztoc.spanDigests.length, want.length);

    // `in` and `bits` follow from the flush layout: the block before an empty stored block ends
    // at bit P; its 3-bit header then pads to a byte, then 00 00 ff ff ends at flushEnds[k].
    // bits in 3..7 put P in the byte before LEN (in = end - 4); bits 0..2 one byte earlier.
    assert.deepEqual([zi.checkpoints[0]!.in, zi.checkpoints[0]!.bits], [10, 0]);
    for (const c of zi.checkpoints.slice(1)) {
      const k = f.flushOuts.indexOf(c.out);
      assert.ok(k >= 0, `checkpoint at ${c.out} is not a flush boundary`);
      const end = f.flushEnds[k]!;
      assert.equal(c.in, c.bits >= 3 ? end - 4 : end - 5, `checkpoint at out ${c.out}: in=${c.in} bits=${c.bits}, flush ends at ${end}`);
    }
    await checkAllFiles(r.ztoc, f.gz, smallTar);
  }
});

test('every boundary with out = 0 is a checkpoint: a leading empty stored block gives two (as SOCI measured)', async () => {
  const f = await syncFlushedGzip(smallTar, 4096, 6, true);
  // The 10-byte header, then an empty stored block: 3 header bits padded to a byte + 00 00 ff ff.
  assert.equal(f.flushEnds[0], 15);
  const r = await build(f.gz, 1 << 20);
  const cps = decodeZinfo(r.ztoc.checkpoints).checkpoints;
  assert.deepEqual(
    cps.slice(0, 2).map((c) => [c.in, c.out, c.bits]),
    [[10, 0, 0], [15, 0, 0]],
  );
  assert.deepEqual(
    cps.map((c) => c.out),
    expectedOuts(f.flushOuts.slice(1).flatMap((o) => [o, o]), 1 << 20).flatMap((o) => (o === 0 ? [0, 0] : [o])),
  );
});

// ---------------------------------------------------------------------------------------------
// §2.3: span digests, with the one-byte overlap when bits != 0

test('span digests cover [in_i - (bits != 0), in_{i+1}); neighbours share the byte at in-1', async () => {
  const r = await build(mixedGz, 65536);
  const z = r.ztoc;
  const cps = decodeZinfo(z.checkpoints).checkpoints;
  assert.ok(cps.length >= 10, `expected many spans, got ${cps.length}`);
  assert.equal(z.spanDigests.length, cps.length);
  const start = (i: number): number => cps[i]!.in - (cps[i]!.bits !== 0 ? 1 : 0);
  const end = (i: number): number => (i + 1 < cps.length ? cps[i + 1]!.in : mixedGz.length);
  for (let i = 0; i < cps.length; i++) {
    assert.equal(z.spanDigests[i], sha(mixedGz.subarray(start(i), end(i))), `span ${i}`);
  }
  let overlaps = 0;
  for (let i = 0; i + 1 < cps.length; i++) {
    const next = cps[i + 1]!;
    if (next.bits === 0) continue;
    overlaps++;
    const shared = next.in - 1;
    assert.equal(z.spanDigests[i], sha(mixedGz.subarray(start(i), next.in)), `span ${i} must end after byte ${shared}`);
    assert.equal(z.spanDigests[i + 1], sha(mixedGz.subarray(shared, end(i + 1))), `span ${i + 1} must start at byte ${shared}`);
    assert.notEqual(z.spanDigests[i + 1], sha(mixedGz.subarray(next.in, end(i + 1))));
  }
  assert.ok(overlaps > 0, 'no checkpoint with bits != 0: the overlap rule was not exercised');
  // The header bytes belong to no span; the last span includes the trailer.
  assert.equal(cps[0]!.in, 10);
  assert.equal(end(cps.length - 1), mixedGz.length);
  assert.equal(z.compressedArchiveSize, mixedGz.length);
  await checkAllFiles(z, mixedGz, mixedTar);
});

// ---------------------------------------------------------------------------------------------
// §2.2/§2.8: checkpoint 0 sits right after the gzip header, whatever the header holds

function assertCheckpoint0(z: Ztoc, headerLength: number): void {
  const c0 = decodeZinfo(z.checkpoints).checkpoints[0]!;
  assert.equal(c0.in, headerLength, 'checkpoint 0 in');
  assert.equal(c0.out, 0);
  assert.equal(c0.bits, 0);
  assert.equal(c0.window.length, 32768);
  assert.ok(c0.window.every((b) => b === 0), 'checkpoint 0 window must be all zeros');
}

test('checkpoint 0: gzip -n has in=10, out=0, bits=0, zero window', async () => {
  assert.equal(mixedGz[3], 0, 'gzip -n writes no optional fields');
  const r = await build(mixedGz, 1 << 20);
  assertCheckpoint0(r.ztoc, 10);
});

test('checkpoint 0: gzip with FNAME has in = 10 + strlen(name) + 1', async () => {
  const name = 'layer-with-a-name.tar';
  const dir = join(work, 'fname');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), smallTar);
  const gz = execFileSync('gzip', ['-6', '-c', name], { cwd: dir, maxBuffer: 1 << 28 });
  assert.equal(gz[3]! & 0x08, 0x08, 'gzip should have stored FNAME');
  const r = await build(gz, 16384);
  assertCheckpoint0(r.ztoc, 10 + name.length + 1);
  await checkAllFiles(r.ztoc, gz, smallTar);
});

const headerCases: Array<[string, HeaderSpec]> = [
  ['FEXTRA', { extra: Buffer.concat([Buffer.from('AB'), Buffer.from([6, 0]), Buffer.from('zTOC!!')]) }],
  ['FEXTRA with an empty payload', { extra: new Uint8Array(0) }],
  ['FCOMMENT', { comment: 'a comment, with spaces' }],
  ['FHCRC', { hcrc: true }],
  ['FNAME + FCOMMENT', { name: 'x.tar', comment: 'c' }],
  ['FTEXT + FEXTRA + FNAME + FCOMMENT + FHCRC', { flagBits: FTEXT, extra: randomData(300, 9), name: 'all.tar', comment: 'everything', hcrc: true, mtime: 1700000000 }],
];

for (const [label, spec] of headerCases) {
  test(`checkpoint 0 after a crafted header with ${label}: in = header length, files extract`, async () => {
    const hdr = gzipHeader(spec);
    const gz = withHeader(mixedGz, hdr);
    assert.equal(gzipHeaderLength(gz), hdr.length);
    const r = await build(gz, 262144);
    assertCheckpoint0(r.ztoc, hdr.length);
    assert.ok(r.ztoc.spanDigests.length > 3);
    // The last span still runs to the end of the file; span 0 starts after the header.
    const cps = decodeZinfo(r.ztoc.checkpoints).checkpoints;
    assert.equal(r.ztoc.spanDigests[0], sha(gz.subarray(hdr.length, cps[1]!.in)));
    await checkAllFiles(r.ztoc, gz, mixedTar);
  });
}

// ---------------------------------------------------------------------------------------------
// §1.1/§1.2: max_span_id absent for a single span, present otherwise

test('max_span_id: absent from the flatbuffer for one span, present and n-1 for several', async () => {
  const one = await build(mixedGz, 64 << 20);
  assert.equal(one.ztoc.spanDigests.length, 1);
  const ci1 = rawSub(rawRoot(one.bytes), CI);
  assert.equal(slot(ci1, CI_MAX_SPAN), 0, 'max_span_id must not be written when it is 0');
  assert.equal(decodeZtoc(one.bytes).maxSpanId, 0);
  // gzip: compression_algorithm equals the default (1) and is not written either.
  assert.equal(slot(ci1, CI_ALG), 0);

  const many = await build(mixedGz, 65536);
  const ci = rawSub(rawRoot(many.bytes), CI);
  const f = slot(ci, CI_MAX_SPAN);
  assert.notEqual(f, 0, 'max_span_id must be written for several spans');
  const n = decodeZinfo(rawBytes(ci, CI_CHECKPOINTS)).checkpoints.length;
  assert.equal(ci.bb.readInt32(ci.pos + f), n - 1);
  assert.equal(decodeZtoc(many.bytes).maxSpanId, n - 1);
});

// ---------------------------------------------------------------------------------------------
// §2.1: blob layout

test('checkpoint blob: 12 + n·32785 bytes, int32 n and int64 span size little-endian', async () => {
  const named = withHeader(mixedGz, gzipHeader({ name: 'n.tar' }));
  const pigz = execFileSync('pigz', ['-n', '-6', '-b', '128', '-c'], { input: mixedTar, maxBuffer: 1 << 28 });
  const layers: Array<[string, Buffer, number]> = [
    ['gzip -n, 64 KiB', mixedGz, 65536],
    ['gzip -n, 1 MiB', mixedGz, 1 << 20],
    ['gzip -n, one span', mixedGz, 1 << 30],
    ['FNAME, 300000', named, 300_000],
    ['pigz, 100000', pigz, 100_000],
  ];
  for (const [label, gz, span] of layers) {
    const r = await build(gz, span);
    const blob = rawBytes(rawSub(rawRoot(r.bytes), CI), CI_CHECKPOINTS);
    const n = r.ztoc.spanDigests.length;
    assert.equal(blob.length, 12 + n * 32785, `${label}: blob length`);
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    assert.equal(view.getInt32(0, true), n, `${label}: count`);
    assert.equal(view.getBigInt64(4, true), BigInt(span), `${label}: span size`);
    // Checkpoint k: int64 in, int64 out, uint8 bits; ins and outs increase.
    let prevIn = -1;
    let prevOut = -1;
    for (let k = 0; k < n; k++) {
      const base = 12 + k * 32785;
      const cin = Number(view.getBigInt64(base, true));
      const cout = Number(view.getBigInt64(base + 8, true));
      assert.ok(blob[base + 16]! <= 7);
      assert.ok(cin > prevIn && cout > prevOut, `${label}: checkpoint ${k} not increasing`);
      assert.ok(cin <= gz.length && cout <= mixedTar.length);
      prevIn = cin;
      prevOut = cout;
    }
  }
});

// ---------------------------------------------------------------------------------------------
// §2.2: multi-member gzip

test('multi-member gzip split mid-file: checkpoints continue across members, files extract', async () => {
  const big = walkTar(mixedTar).headers.find((h) => h.name === './doc/text.txt')!;
  const cut = big.dataOffset + Math.floor(big.size / 2) + 3; // inside the file's data
  const m1 = gzipN(mixedTar.subarray(0, cut), 6);
  const m2 = gzipN(mixedTar.subarray(cut), 1);
  const gz = Buffer.concat([m1, m2]);
  const r = await build(gz, 65536);
  const cps = decodeZinfo(r.ztoc.checkpoints).checkpoints;
  for (let i = 1; i < cps.length; i++) {
    assert.ok(cps[i]!.out > cps[i - 1]!.out, `outs not strictly increasing at ${i}`);
    assert.ok(cps[i]!.in > cps[i - 1]!.in, `ins not strictly increasing at ${i}`);
  }
  const inSecond = cps.filter((c) => c.in > m1.length);
  assert.ok(inSecond.length > 3, 'no checkpoints in the second member');
  // Uncompressed offsets in the second member continue from the first member's data (a
  // checkpoint right after the second header has out = cut).
  assert.ok(inSecond.every((c) => c.out >= cut));
  assert.ok(inSecond.some((c) => c.out > cut));
  assert.ok(cps.filter((c) => c.in <= m1.length).every((c) => c.out <= cut));
  assert.equal(r.inflatedSize, mixedTar.length);
  assert.equal(r.ztoc.compressedArchiveSize, gz.length);
  const files = await checkAllFiles(r.ztoc, gz, mixedTar);
  assert.equal(files, Object.keys(mixedFiles).length);
});

// ---------------------------------------------------------------------------------------------
// §2.7: uncompressed tar layers

test('uncompressed tar: algorithm 2 written, nested TarZinfo, fixed spans and their digests', async () => {
  for (const span of [65536, 100_000, mixedTar.length, 10240]) {
    const r = await build(mixedTar, span);
    const ci = rawSub(rawRoot(r.bytes), CI);
    const alg = slot(ci, CI_ALG);
    assert.notEqual(alg, 0, 'compression_algorithm must be written for uncompressed layers');
    assert.equal(ci.bb.readInt8(ci.pos + alg), 2);
    // Nested TarZinfo {version: int32, span_size: int64, size: int64}.
    const nested = rawRoot(rawBytes(ci, CI_CHECKPOINTS));
    const fv = slot(nested, 4);
    const fs = slot(nested, 6);
    const fz = slot(nested, 8);
    assert.ok(fv !== 0 && fs !== 0 && fz !== 0);
    assert.equal(nested.bb.readInt32(nested.pos + fv), 2);
    assert.equal(nested.bb.readInt64(nested.pos + fs), BigInt(span));
    assert.equal(nested.bb.readInt64(nested.pos + fz), BigInt(mixedTar.length));

    const nSpans = Math.ceil(mixedTar.length / span);
    assert.equal(r.ztoc.maxSpanId, nSpans - 1, `span ${span}`);
    assert.equal(r.ztoc.compression, 'uncompressed');
    assert.equal(r.ztoc.compressedArchiveSize, mixedTar.length);
    const want = Array.from({ length: nSpans }, (_, i) => sha(mixedTar.subarray(i * span, Math.min((i + 1) * span, mixedTar.length))));
    assert.deepEqual(r.ztoc.spanDigests, want);
    if (nSpans === 1) assert.equal(slot(ci, CI_MAX_SPAN), 0);
    await checkAllFiles(r.ztoc, mixedTar, mixedTar);
  }
  assert.equal(mixedTar.length % 10240, 0, 'the 10240 case divides evenly');
});

// ---------------------------------------------------------------------------------------------
// §3: Go archive/tar semantics in the TOC

/** Go's Time.MarshalText for a UTC time given as PAX/octal seconds and fraction digits. */
function goTime(seconds: number, fraction = ''): string {
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  const frac = fraction.padEnd(9, '0').slice(0, 9).replace(/0+$/, '');
  return `${base}${frac ? `.${frac}` : ''}Z`;
}

function octalField(b: Uint8Array, off: number, len: number): number {
  return parseInt(Buffer.from(b.subarray(off, off + len)).toString('latin1').replace(/[\0 ]/g, '') || '0', 8);
}

test('GNU --format=posix tar: verbatim names, end-of-archive size, PAX records as xattrs, RFC 3339 times', async () => {
  const dir = join(work, 'posix');
  mkdirSync(join(dir, 'sub/deeper'), { recursive: true });
  writeFileSync(join(dir, 'sub/a.txt'), 'alpha\n');
  writeFileSync(join(dir, 'sub/deeper/b.bin'), randomData(1000, 21));
  writeFileSync(join(dir, 'c.txt'), 'c');
  execFileSync('setfattr', ['-n', 'user.zeta', '-v', 'last', join(dir, 'sub/a.txt')]);
  execFileSync('setfattr', ['-n', 'user.Alpha', '-v', 'first', join(dir, 'sub/a.txt')]);
  execFileSync('touch', ['-d', '@1700000000.123456789', join(dir, 'sub/a.txt')]);
  execFileSync('touch', ['-d', '@1700000001.5', join(dir, 'c.txt')]);
  execFileSync('touch', ['-d', '@1600000000', join(dir, 'sub/deeper/b.bin')]);
  const tar = execFileSync('tar', ['--format=posix', '--xattrs', '--xattrs-include=user.*', '--sort=name', '-C', dir, '-cf', '-', '.'], {
    maxBuffer: 1 << 24,
  });
  assert.equal(tar.length % 10240, 0, 'GNU tar pads to 10240-byte records');
  const walk = walkTar(tar);
  assert.ok(walk.end < tar.length, 'record padding after the end blocks');

  // Expected entries from our own walk: each non-'x' header, with the PAX records just before it.
  interface Want {
    name: string;
    offset: number;
    size: number;
    mode: number;
    xattrs: Array<[string, string]>;
    modTime: string;
  }
  const want: Want[] = [];
  let pending: Array<[string, string]> = [];
  for (const h of walk.headers) {
    if (h.typeflag === 'x') {
      pending = parsePaxBody(tar.subarray(h.dataOffset, h.dataOffset + h.size));
      continue;
    }
    const recs = new Map(pending);
    const mtime = recs.get('mtime');
    const [sec, frac] = mtime !== undefined ? mtime.split('.') : [String(h.mtime), ''];
    const sorted = [...pending].sort((a, b) => Buffer.compare(Buffer.from(a[0], 'latin1'), Buffer.from(b[0], 'latin1')));
    want.push({
      name: recs.get('path') ?? h.name,
      offset: h.dataOffset,
      size: h.size,
      mode: octalField(tar, h.offset + 100, 8),
      xattrs: sorted,
      modTime: goTime(Number(sec), frac ?? ''),
    });
    pending = [];
  }
  assert.deepEqual(
    want.map((w) => w.name),
    ['./', './c.txt', './sub/', './sub/a.txt', './sub/deeper/', './sub/deeper/b.bin'],
  );
  const a = want.find((w) => w.name === './sub/a.txt')!;
  const keys = a.xattrs.map(([k]) => k);
  for (const k of ['atime', 'ctime', 'mtime', 'SCHILY.xattr.user.Alpha', 'SCHILY.xattr.user.zeta']) assert.ok(keys.includes(k), `tar lacks PAX ${k}`);
  assert.equal(a.modTime, '2023-11-14T22:13:20.123456789Z');
  assert.equal(want.find((w) => w.name === './c.txt')!.modTime, '2023-11-14T22:13:21.5Z');
  assert.equal(want.find((w) => w.name === './sub/deeper/b.bin')!.modTime, '2020-09-13T12:26:40Z');

  for (const [label, layer] of [['tar', tar], ['gzip', gzipN(tar)]] as const) {
    const r = await build(layer, 4096);
    const z = r.ztoc;
    assert.equal(z.uncompressedArchiveSize, walk.end, `${label}: uncompressed_archive_size = end of the second zero block`);
    assert.notEqual(z.uncompressedArchiveSize, tar.length);
    assert.deepEqual(
      z.entries.map((e) => ({ name: e.name, offset: e.offset, size: e.size, mode: e.mode, xattrs: e.xattrs, modTime: e.modTime })),
      want,
      label,
    );
    assert.deepEqual(
      z.entries.map((e) => e.type),
      ['dir', 'reg', 'dir', 'reg', 'dir', 'reg'],
    );
    await checkAllFiles(z, layer, tar);
  }
});

test('GNU format tar (no PAX): empty xattrs, names and archive size from the headers', async () => {
  const walk = walkTar(mixedTar);
  const r = await build(mixedGz, 1 << 20);
  assert.equal(r.ztoc.uncompressedArchiveSize, walk.end);
  assert.ok(walk.end < mixedTar.length, 'GNU tar record padding after the end blocks');
  assert.deepEqual(
    r.ztoc.entries.map((e) => [e.name, e.offset, e.xattrs.length, e.modTime]),
    walk.headers.map((h) => [h.name, h.dataOffset, 0, goTime(1700000000)]),
  );
  assert.equal(r.ztoc.entries[0]!.name, './');
  assert.ok(r.ztoc.entries.some((e) => e.name === './a/b/c/' && e.type === 'dir'));
});

test('zTOC read back from disk equals the built model', async () => {
  const r = await build(mixedGz, 65536);
  const p = join(work, 'mixed.ztoc');
  writeFileSync(p, r.bytes);
  assert.deepEqual(decodeZtoc(readFileSync(p)), r.ztoc);
});
