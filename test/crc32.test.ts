// The CRC-32 engines of native/crc32.c (the fast inflater's gzip CRC) against Node's zlib.crc32 as
// the oracle: every length 0..1024 at every misalignment in a 64-byte line, the lengths where an
// engine changes strategy, random multi-MB buffers, chained calls split at random points and
// non-zero starting values, on every engine this machine has. The addon must also offer each
// engine the CPU supports (read from /proc/cpuinfo here, independently of the addon's own check),
// and no other: emulated x86-64 CPUs without PCLMULQDQ or AVX-512 (qemu-x86_64) get zlib's or
// the pclmul engine.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { native, nativeCrc32, nativeInfo, type Crc32Choice, type Crc32Engine } from '../src/inflate/native.js';
import { REPO_ROOT } from './helpers/cli.js';
import { qemuX86 } from './helpers/qemu.js';
import { prngBytes } from './helpers/fixtures.js';

const info = native().crc32Info;
assert.ok(info !== undefined, 'the addon exports no crc32Info: rebuild it');
const engines: Crc32Choice[] = ['auto', ...info.available];
/** Fresh each run, and named in every failure message. */
const seed = (Date.now() ^ (process.pid << 8)) >>> 0;
let rng = seed || 1;
const rand = (n: number): number => {
  rng ^= rng << 13;
  rng >>>= 0;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  rng >>>= 0;
  return rng % n;
};

function cpuFlags(): Set<string> {
  const text = readFileSync('/proc/cpuinfo', 'utf8');
  const line = /^(?:flags|Features)\s*:(.*)$/m.exec(text)?.[1] ?? '';
  return new Set(line.trim().split(/\s+/));
}

test('the addon offers every CRC-32 engine this CPU has, and auto picks the fastest of them', () => {
  const flags = cpuFlags();
  const want: Crc32Engine[] = [];
  if (process.arch === 'x64') {
    const pclmul = flags.has('pclmulqdq') && flags.has('sse4_1');
    if (pclmul && flags.has('avx512f') && flags.has('vpclmulqdq')) want.push('vpclmul');
    if (pclmul) want.push('pclmul');
  }
  if (process.arch === 'arm64' && flags.has('crc32')) want.push('armv8');
  want.push('zlib', 'table');
  assert.deepEqual(info.available, want);
  assert.equal(info.auto, want[0]);
  assert.deepEqual(nativeInfo().crc32, info);
  for (const e of ['vpclmul', 'pclmul', 'armv8'] as const) {
    if (!want.includes(e)) assert.throws(() => nativeCrc32(new Uint8Array(100), 0, e), { code: 'ZTOC_NATIVE_UNSUPPORTED' });
  }
});

test('on an x86-64 CPU without PCLMULQDQ (qemu64) the addon runs zlib\'s CRC, with it (Westmere) pclmul, all right', (t) => {
  const qemu = qemuX86(t);
  if (qemu === undefined) return;
  const script = `
    const { nativeInfo, nativeCrc32 } = await import(${JSON.stringify(join(REPO_ROOT, 'dist/src/inflate/native.js'))});
    const { crc32 } = await import('node:zlib');
    const buf = (await import('node:crypto')).randomBytes(70000);
    const bad = [];
    for (const len of [0, 1, 15, 16, 63, 64, 65, 200, 4097, 70000 - 3])
      for (const e of ['auto', ...nativeInfo().crc32.available])
        if (nativeCrc32(buf.subarray(3, 3 + len), 77, e) !== crc32(buf.subarray(3, 3 + len), 77)) bad.push(e + ':' + len);
    console.log(JSON.stringify({ ...nativeInfo().crc32, bad }));`;
  for (const [cpu, want] of [
    ['qemu64', ['zlib', 'table']],
    ['Westmere', ['pclmul', 'zlib', 'table']],
  ] as const) {
    const r: SpawnSyncReturns<string> = spawnSync(qemu, ['-cpu', cpu, process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { auto: want[0], available: want, bad: [] }, cpu);
  }
});

test('the folding constants in native/crc32.c are the ones the polynomial gives', () => {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'crc32-constants.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('the check value and the empty buffer, as zlib gives them', () => {
  for (const e of engines) {
    assert.equal(nativeCrc32(Buffer.from('123456789'), 0, e), 0xcbf43926, e);
    assert.equal(nativeCrc32(new Uint8Array(0), 0, e), 0, e);
    assert.equal(nativeCrc32(new Uint8Array(0), 0xdeadbeef, e), 0xdeadbeef, e);
  }
});

test('every length 0..1024 at every misalignment 0..63, from zero and from a random crc', () => {
  const buf = prngBytes(1024 + 64, seed);
  for (const e of engines) {
    for (let off = 0; off < 64; off++) {
      for (let len = 0; len <= 1024; len++) {
        const v = buf.subarray(off, off + len);
        const start = len % 2 === 0 ? 0 : rand(2 ** 32);
        const got = nativeCrc32(v, start, e);
        if (got !== zlibCrc32(v, start)) assert.fail(`${e}: length ${len} at offset ${off} from ${start}: ${got} != ${zlibCrc32(v, start)} (seed ${seed})`);
      }
    }
  }
});

test('lengths around each engine change of strategy (16, 64, 256 bytes and their multiples), on zeros, ones and noise', () => {
  const lens = [15, 16, 17, 63, 64, 65, 79, 80, 127, 128, 129, 255, 256, 257, 271, 320, 511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 65537];
  const fills = [Buffer.alloc(65537 + 8), Buffer.alloc(65537 + 8, 0xff), prngBytes(65537 + 8, seed + 1)];
  for (const e of engines) {
    for (const fill of fills) {
      for (const len of lens) {
        for (const off of [0, 1, 7, 8]) {
          const v = fill.subarray(off, off + len);
          assert.equal(nativeCrc32(v, 0x12345678, e), zlibCrc32(v, 0x12345678), `${e}: length ${len} at offset ${off} (seed ${seed})`);
        }
      }
    }
  }
});

test('random buffers of a few MB, at random offsets', () => {
  const big = prngBytes(6 << 20, seed + 2);
  for (let i = 0; i < 6; i++) {
    const off = rand(4096);
    const v = big.subarray(off, off + (1 << 20) + rand(5 << 20) - off);
    const want = zlibCrc32(v);
    for (const e of engines) assert.equal(nativeCrc32(v, 0, e), want, `${e}: ${v.length} bytes at offset ${off} (seed ${seed})`);
  }
});

test('chained calls split at random points give the CRC of the whole, mixing engines', () => {
  const data = prngBytes(3 << 20, seed + 3);
  const want = zlibCrc32(data);
  for (let round = 0; round < 8; round++) {
    for (const e of engines) {
      let crc = 0;
      let pos = 0;
      // Pieces from 1 byte to ~256 KiB, the mix the inflater's output buffers and gzip headers make.
      while (pos < data.length) {
        const n = Math.min(data.length - pos, rand(4) === 0 ? rand(64) : rand(1 << (8 + rand(11))));
        const eng = round % 2 === 0 ? e : engines[rand(engines.length)]!;
        crc = nativeCrc32(data.subarray(pos, pos + n), crc, eng);
        pos += n;
      }
      assert.equal(crc, want, `${e}, round ${round} (seed ${seed})`);
    }
  }
});

test('bad arguments are refused', () => {
  const n = native();
  assert.ok(n.crc32 !== undefined);
  const crc32 = n.crc32.bind(n) as (...args: unknown[]) => number;
  assert.throws(() => crc32(new Uint8Array(4), -1), RangeError);
  assert.throws(() => crc32(new Uint8Array(4), 2 ** 32), RangeError);
  assert.throws(() => crc32(new Uint8Array(4), 1.5), RangeError);
  assert.throws(() => crc32(new Uint8Array(4)), TypeError);
  assert.throws(() => crc32([1, 2, 3], 0), TypeError);
  assert.throws(() => crc32(new Uint16Array(4), 0), TypeError);
  assert.throws(() => crc32(new Uint8Array(4), 0, 7), TypeError);
  assert.throws(() => crc32(new Uint8Array(4), 0, 'sse'), RangeError);
  assert.throws(() => crc32(new Uint8Array(4), 0, 'pclmulqdq-but-longer'), RangeError);
  assert.equal(crc32(Buffer.from('123456789'), 0, undefined), 0xcbf43926);
});
