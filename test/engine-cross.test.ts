// Cross-engine conformance: the fast inflate engine gives byte-identical zTOCs to the zlib engine
// (the oracle, fed in one piece) on every kind of gzip layer we know of, under random chunkings of
// the input, inline and on an inflate thread; bad inputs give the same error code at the same offset; and
// golden zTOCs made by AWS's SOCI code reproduce under each engine.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zc, crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { buildZtoc, type BuildOptions, type BuildResult } from '../src/ztoc/build.js';
import { decodeZinfo } from '../src/inflate/zinfo.js';
import { availableEngines, type Engine } from '../src/inflate/native.js';
import { ZtocError } from '../src/errors.js';
import { SOCI_BUILD_TOOL_ID } from '../src/ztoc/model.js';
import { cleanup, makeTree, prngBytes, tempDir } from './helpers/fixtures.js';
import { goldenCases, goldenLayer, sha256 } from './helpers/golden.js';
import { REPO_ROOT } from './helpers/cli.js';
import { qemuX86 } from './helpers/qemu.js';
import { bumpIsize, flipCrc, gzipHeader, gzipN, reservedBtype, syncFlushedGzip, withHeader } from './helpers/gzip-craft.js';

const work = tempDir();
after(() => cleanup(work));
const treeDir = makeTree(join(work, 'tree'), { bigSize: 256 << 10 });
const tar = execFileSync('tar', ['--format=gnu', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', '-C', treeDir, '-cf', '-', '.'], {
  maxBuffer: 1 << 28,
});

test('this build has both engines', () => {
  assert.deepEqual(availableEngines().sort(), ['fast', 'zlib']);
});

/** Splits `b` into pieces of pseudo-random sizes in [1, max] (deterministic per seed). */
async function* randomChunks(b: Uint8Array, seed: number, max: number): AsyncGenerator<Uint8Array> {
  let x = seed >>> 0 || 1;
  for (let off = 0; off < b.length; ) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const n = 1 + (x % max);
    yield b.subarray(off, off + n);
    off += n;
  }
}

async function* whole(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

type Outcome = { ok: BuildResult } | { err: ZtocError };

async function outcome(src: AsyncIterable<Uint8Array>, opts: BuildOptions): Promise<Outcome> {
  try {
    return { ok: await buildZtoc(src, { kind: 'auto', ...opts }) };
  } catch (err) {
    assert.ok(err instanceof ZtocError, `not a ZtocError: ${String(err)}`);
    return { err };
  }
}

const show = (o: Outcome): string => ('ok' in o ? `zTOC ${o.ok.digest}` : `${o.err.code} at ${o.err.offset}: ${o.err.message}`);

/** The oracle (zlib, one piece, inline) and the fast engine under several chunkings must agree. */
async function agree(layer: Uint8Array, spanSize: number, what: string, runs: Array<{ seed: number; max: number; thread: 'inline' | 'separate' }>): Promise<Outcome> {
  const oracle = await outcome(whole(layer), { spanSize, engine: 'zlib', thread: 'inline' });
  if ('ok' in oracle) assert.equal(oracle.ok.engine, 'zlib');
  for (const r of runs) {
    const fast = await outcome(randomChunks(layer, r.seed, r.max), { spanSize, engine: 'fast', thread: r.thread });
    const where = `${what}, span ${spanSize}, ${r.thread}, chunks ≤ ${r.max} (seed ${r.seed})`;
    if ('ok' in oracle && 'ok' in fast) {
      assert.equal(fast.ok.engine, 'fast', where);
      assert.equal(fast.ok.digest, oracle.ok.digest, `${where}: zTOCs differ`);
    } else {
      assert.ok('err' in oracle && 'err' in fast, `${where}: fast ${show(fast)}, zlib ${show(oracle)}`);
      assert.equal(fast.err.code, oracle.err.code, `${where}: fast ${show(fast)}, zlib ${show(oracle)}`);
      assert.equal(fast.err.offset, oracle.err.offset, `${where}: fast ${show(fast)}, zlib ${show(oracle)}`);
    }
  }
  return oracle;
}

const CHUNKINGS = [
  { seed: 1, max: 509, thread: 'inline' as const },
  { seed: 2, max: 5000, thread: 'inline' as const },
  { seed: 3, max: 300_000, thread: 'separate' as const },
];

/** Compresses consecutive parts of `data` as separate gzip members (what pigz --independent and mgzip do). */
function members(data: Uint8Array, cuts: number[], compress: (b: Uint8Array) => Uint8Array = (b) => gzipN(b)): Buffer {
  const parts: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...cuts, data.length]) {
    parts.push(compress(data.subarray(prev, c)));
    prev = c;
  }
  return Buffer.concat(parts);
}

function tool(cmd: string, args: string[], input: Uint8Array): Buffer {
  return execFileSync(cmd, args, { input, maxBuffer: 1 << 28 });
}

const third = Math.floor(tar.length / 3);
const layers: Array<[string, () => Promise<Uint8Array> | Uint8Array]> = [
  ['gzip -n -6', () => gzipN(tar)],
  ['gzip -1', () => tool('gzip', ['-n', '-1', '-c'], tar)],
  ['gzip -9', () => tool('gzip', ['-n', '-9', '-c'], tar)],
  ['pigz', () => tool('pigz', ['-c'], tar)],
  ['pigz --independent -b 32', () => tool('pigz', ['-c', '--independent', '-b', '32'], tar)],
  ['stored blocks (level 0)', () => gzipSync(tar, { level: 0 })],
  ['fixed Huffman blocks', () => gzipSync(tar, { strategy: zc.Z_FIXED })],
  ['Huffman only', () => gzipSync(tar, { strategy: zc.Z_HUFFMAN_ONLY })],
  ['RLE', () => gzipSync(tar, { strategy: zc.Z_RLE })],
  ['multi-member with empty members', () => {
    const empty = gzipN(new Uint8Array(0));
    return Buffer.concat([empty, gzipN(tar.subarray(0, third)), empty, empty, gzipN(tar.subarray(third)), empty]);
  }],
  ['FHCRC + FEXTRA + FNAME + FCOMMENT headers on every member', () =>
    members(tar, [third, 2 * third], (b) => withHeader(gzipN(b), gzipHeader({ extra: new Uint8Array([1, 2, 3, 4, 0, 0]), name: 'layer.tar', comment: 'c', hcrc: true })))],
  ['sync flush every 4 KiB (Go pgzip-like)', async () => (await syncFlushedGzip(tar, 4096)).gz],
  // Zeros after the end-of-archive marker are still a valid tar; pad to k * 64 KiB + 1.
  ['sync flush every 64 KiB with a 1-byte last block', async () => {
    const padded = Buffer.alloc(Math.ceil(tar.length / 65536) * 65536 + 1);
    padded.set(tar);
    return (await syncFlushedGzip(padded, 65536)).gz;
  }],
  ['leading empty stored block', async () => (await syncFlushedGzip(tar, 32768, 6, true)).gz],
  ['incompressible data in a tar', () => {
    const t = Buffer.from(tar);
    t.set(prngBytes(200_000, 9), 2048); // inside random.bin's data (its header is at 1024 or later)
    return gzipN(t);
  }],
];

for (const [name, make] of layers) {
  test(`fast engine = zlib engine: ${name}`, async () => {
    const layer = await make();
    for (const span of [0, 100_000, 4 << 20]) {
      const r = await agree(layer, span, name, span === 0 ? CHUNKINGS.slice(1, 2) : CHUNKINGS);
      assert.ok('ok' in r, `${name}: the oracle failed: ${show(r)}`);
    }
  });
}

test('streaming: chunks of 1 to 7 bytes give the same zTOC (small layers)', async () => {
  const small = tar.subarray(0, 40_960);
  for (const layer of [gzipN(small), (await syncFlushedGzip(small, 3000)).gz, members(small, [9000, 20000]), gzipSync(small, { level: 0 })]) {
    await agree(layer, 4096, 'tiny chunks', [{ seed: 11, max: 7, thread: 'inline' }, { seed: 12, max: 1, thread: 'inline' }]);
  }
});

test('a span threshold that falls on the last block of a member: the checkpoint moves past the next header', async () => {
  // Member 1 is exactly one final block; with span = its size - 1, the rule first holds at that
  // block's end, where SOCI never checkpoints; the next boundary is member 2's header.
  const m1 = tar.subarray(0, 20_000);
  const layer = Buffer.concat([gzipSync(m1, { level: 6 }), gzipSync(tar.subarray(20_000), { level: 6 })]);
  const r = await agree(layer, m1.length - 1, 'threshold on a final block', CHUNKINGS);
  assert.ok('ok' in r);
  const cps = decodeZinfo(r.ok.ztoc.checkpoints).checkpoints;
  const second = cps[1]!;
  assert.equal(second.out, m1.length, 'the second checkpoint is at the start of member 2');
  assert.equal(second.bits, 0);
  assert.equal(second.in, gzipSync(m1, { level: 6 }).length + 10, 'right after member 2\'s 10-byte header');
});

test('bad inputs: the same error code at the same offset under each engine', async () => {
  const gz = gzipN(tar);
  const cases: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['one byte', gz.subarray(0, 1)],
    ['header only', gz.subarray(0, 10)],
    ['bad magic', Buffer.concat([Buffer.from([0x1f, 0x8c]), gz.subarray(2)])],
    ['bad CM', Buffer.concat([gz.subarray(0, 2), Buffer.from([7]), gz.subarray(3)])],
    ['reserved FLG bits', withHeader(gz, gzipHeader({ flagBits: 0xe0 }))],
    ['bad FHCRC', withHeader(gz, gzipHeader({ name: 'x', hcrc: true, hcrcXor: 1 }))],
    ['reserved BTYPE', reservedBtype(gz)],
    ['bad CRC32', flipCrc(gz)],
    ['bad ISIZE', bumpIsize(gz)],
    ['trailing garbage', Buffer.concat([gz, Buffer.from('not gzip at all')])],
    ['trailing zeros', Buffer.concat([gz, Buffer.alloc(512)])],
    ['one trailing byte', Buffer.concat([gz, Buffer.from([0x1f])])],
    ['truncated in the trailer', gz.subarray(0, gz.length - 3)],
  ];
  // Truncations and single-byte damage all over the deflate data.
  const rnd = prngBytes(400, 4242);
  for (let i = 0; i < 60; i++) {
    const at = 10 + (rnd.readUInt32LE(i * 4) % (gz.length - 18));
    if (i % 3 === 0) {
      cases.push([`truncated at ${at}`, gz.subarray(0, at)]);
    } else {
      const b = Buffer.from(gz);
      b[at] = b[at]! ^ (1 << (rnd[240 + i]! % 8));
      cases.push([`bit flip at ${at}`, b]);
    }
  }
  const codes = new Set<string>();
  let i = 0;
  for (const [name, bytes] of cases) {
    const o = await agree(bytes, 65536, name, [CHUNKINGS[i++ % 2]!]);
    codes.add('ok' in o ? 'ok' : o.err.code);
  }
  for (const c of ['LAYER_EMPTY', 'GZIP_TRUNCATED', 'GZIP_NOT_GZIP', 'GZIP_BAD_HEADER', 'GZIP_CORRUPT', 'GZIP_BAD_CRC', 'GZIP_BAD_ISIZE', 'GZIP_TRAILING_GARBAGE']) {
    assert.ok(codes.has(c), `no case gave ${c} (got ${[...codes].join(', ')})`);
  }
});

test('crafted deflate streams: invalid codes and tables fail alike under each engine', async () => {
  // Raw deflate bodies inside a minimal gzip header; every one is malformed in a different way.
  const hdr = gzipHeader();
  const bodies: Array<[string, number[]]> = [
    ['stored LEN != ~NLEN', [0x01, 0x05, 0x00, 0xfa, 0xfe]],
    ['fixed block with length code 286', [0x03, 0xc0, 0x30, 0x00]],
    ['fixed block with distance code 30', [0x03, 0x03, 0x78, 0x00]],
    ['distance too far back', [0x63, 0x00, 0x02, 0x00]],
    ['dynamic: HLIT too large', [0xfd, 0xff, 0xff, 0x00]],
    ['dynamic: all-zero code length code', [0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]],
    ['dynamic: over-subscribed code length code', [0x05, 0xe0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00]],
  ];
  for (const [name, body] of bodies) {
    const layer = Buffer.concat([hdr, Buffer.from(body), Buffer.alloc(16)]);
    const o = await agree(layer, 65536, name, [{ seed: 5, max: 3, thread: 'inline' }, CHUNKINGS[1]!]);
    assert.ok('err' in o, `${name}: accepted`);
  }
});

test('a gzip member may not copy from the member before it, wherever the members sit in the buffers', async () => {
  // The second member is deflated against the first one's text as a preset dictionary, so its
  // first match reaches before its own start: zlib refuses that ("invalid distance too far back").
  // Small members put both in one output buffer, the case the fuzz target once caught the fast
  // engine missing; large chunks and the inflate thread put them apart.
  const text = Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(40));
  const raw = deflateRawSync(text, { dictionary: text });
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(text), 0);
  trailer.writeUInt32LE(text.length, 4);
  const layer = Buffer.concat([gzipN(text), gzipHeader(), raw, trailer]);
  for (const runs of [[{ seed: 7, max: 1 << 20, thread: 'inline' as const }], CHUNKINGS]) {
    const o = await agree(layer, 65536, 'member copying from the member before', runs);
    assert.ok('err' in o && o.err.code === 'GZIP_CORRUPT' && /too far back/.test(o.err.message), JSON.stringify('err' in o ? o.err.message : 'accepted'));
  }
});

for (const engine of ['fast', 'zlib'] as Engine[]) {
  test(`golden zTOCs reproduce byte for byte under the ${engine} engine`, async () => {
    const cases = goldenCases();
    assert.ok(cases.length >= 16);
    for (const c of cases) {
      const layer = readFileSync(goldenLayer(c.layer));
      const r = await buildZtoc(randomChunks(layer, c.span, 100_000), { spanSize: c.span, buildToolId: SOCI_BUILD_TOOL_ID, kind: 'auto', engine });
      assert.equal(r.engine, r.kind === 'gzip' ? engine : 'none');
      assert.equal(sha256(r.bytes), sha256(readFileSync(c.ztocPath)), `${c.layer} span ${c.span}`);
    }
  });
}

test('both builds of the fast Huffman loop reproduce the golden zTOCs: generic on a CPU without BMI2, bmi2 with it (qemu-x86_64)', (t) => {
  // The loop is compiled twice and picked by CPU; this host only ever runs one of them natively.
  const qemu = qemuX86(t);
  if (qemu === undefined) return;
  const mod = (p: string): string => JSON.stringify(join(REPO_ROOT, 'dist', p));
  const script = `
    const { readFileSync } = await import('node:fs');
    const { nativeInfo } = await import(${mod('src/inflate/native.js')});
    const { buildZtoc } = await import(${mod('src/ztoc/build.js')});
    const { SOCI_BUILD_TOOL_ID } = await import(${mod('src/ztoc/model.js')});
    const { goldenCases, goldenLayer, sha256 } = await import(${mod('test/helpers/golden.js')});
    const bad = [];
    let n = 0;
    for (const c of goldenCases()) {
      const layer = readFileSync(goldenLayer(c.layer));
      const r = await buildZtoc((async function* () { yield layer; })(), { spanSize: c.span, buildToolId: SOCI_BUILD_TOOL_ID, engine: 'fast', thread: 'inline' });
      n++;
      if (r.engine === 'fast' && sha256(r.bytes) !== sha256(readFileSync(c.ztocPath))) bad.push(c.layer + ' span ' + c.span);
    }
    console.log(JSON.stringify({ variant: nativeInfo().engine.fastVariant, n, bad }));`;
  for (const [cpu, variant] of [['Westmere', 'generic'], ['Haswell', 'bmi2']] as const) {
    const r: SpawnSyncReturns<string> = spawnSync(qemu, ['-cpu', cpu, process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 240_000 });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { variant: string; n: number; bad: string[] };
    assert.equal(got.variant, variant, cpu);
    assert.ok(got.n >= 16, `${cpu}: ${got.n} golden cases`);
    assert.deepEqual(got.bad, [], cpu);
  }
});

test('an unknown engine is refused before anything is read', async () => {
  await assert.rejects(
    buildZtoc(whole(gzipN(tar)), { engine: 'turbo' as Engine }),
    (e: unknown) => e instanceof ZtocError && e.code === 'INVALID_ARGUMENT' && /turbo/.test(e.message),
  );
});
