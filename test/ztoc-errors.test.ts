// Bad inputs: each gives a typed ZtocError with a plausible offset from the library, and through
// the CLI an exit status of 1, one stderr line naming the layer and the offset, and no output file.
// Expected codes and offset ranges come from where each input was damaged, not from the code.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { prngBytes } from './helpers/fixtures.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { buildZtoc } from '../src/ztoc/build.js';
import { decodeZtoc } from '../src/ztoc/decode.js';
import { encodeZtoc } from '../src/ztoc/encode.js';
import { collect, extractFile, findEntry, spanTable, type RangeReader } from '../src/ztoc/extract.js';
import { isZtocError, ZtocError, type ZtocErrorCode } from '../src/errors.js';
import {
  bumpIsize,
  flipCrc,
  gzipHeader,
  gzipN,
  reservedBtype,
  walkTar,
  withHeader,
} from './helpers/gzip-craft.js';
import { runCli, runCliAsync } from './helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'ztoc-err-'));
after(() => rmSync(work, { recursive: true, force: true }));


// A tar with two regular files: text first, then random data (so the second header is far in).
const treeDir = join(work, 'tree');
mkdirSync(treeDir);
writeFileSync(join(treeDir, 'a.txt'), Array.from({ length: 30000 }, (_, i) => `line ${i}\n`).join(''));
writeFileSync(join(treeDir, 'b.bin'), prngBytes(200_000, 5));
const tar = execFileSync('tar', ['--format=gnu', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', '-C', treeDir, '-cf', '-', 'a.txt', 'b.bin'], {
  maxBuffer: 1 << 26,
});
const walk = walkTar(tar);
assert.deepEqual(
  walk.headers.map((h) => h.name),
  ['a.txt', 'b.bin'],
);
const gz = gzipN(tar);

async function* chunked(b: Uint8Array, size = 16384): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, Math.min(i + size, b.length));
}

const memReader =
  (b: Uint8Array): RangeReader =>
  async (s, e) =>
    b.subarray(s, e);

interface BadCase {
  name: string;
  bytes: Uint8Array;
  code: ZtocErrorCode;
  /** Inclusive range the reported offset must fall in. */
  offset: [number, number];
  offsetKind?: 'uncompressed';
  /** Also check that `ztoc build LAYER` (default output name) leaves nothing behind. */
  defaultOutput?: boolean;
}

/** A tar whose second header has one name byte changed, so its checksum no longer matches. */
function badSecondHeader(): Buffer {
  const b = Buffer.from(tar);
  b[walk.headers[1]!.offset + 2]! ^= 0x20;
  return b;
}

const junk = Buffer.from('this is not a gzip member at all');
const badHcrcHeader = gzipHeader({ name: 'n', hcrc: true, hcrcXor: 0x0101 });
const cut = Math.floor(gz.length / 2);
const secondHeader = walk.headers[1]!.offset;
const zstdLayer = execFileSync('zstd', ['-q', '-c'], { input: tar, maxBuffer: 1 << 26 });
const notGzip = prngBytes(4096, 77);
notGzip[0] = 0x42; // neither gzip (1f 8b) nor zstd magic; 4096 random bytes are no tar header either

const cases: BadCase[] = [
  // Every byte was read before the stream was found short.
  { name: 'truncated gzip', bytes: gz.subarray(0, cut), code: 'GZIP_TRUNCATED', offset: [cut, cut], defaultOutput: true },
  // The CRC32 is the first 4 bytes of the 8-byte trailer.
  { name: 'bad CRC32', bytes: flipCrc(gz), code: 'GZIP_BAD_CRC', offset: [gz.length - 8, gz.length - 4] },
  // ISIZE is the last 4 bytes.
  { name: 'bad ISIZE', bytes: bumpIsize(gz), code: 'GZIP_BAD_ISIZE', offset: [gz.length - 4, gz.length] },
  // The junk starts right after the member; a header check needs at most a few of its bytes.
  { name: 'trailing garbage', bytes: Buffer.concat([gz, junk]), code: 'GZIP_TRAILING_GARBAGE', offset: [gz.length, gz.length + 10] },
  // The first deflate byte is at 10.
  { name: 'reserved BTYPE 11', bytes: reservedBtype(gz), code: 'GZIP_CORRUPT', offset: [10, 12] },
  { name: 'random bytes', bytes: notGzip, code: 'GZIP_NOT_GZIP', offset: [0, 0] },
  { name: 'empty file', bytes: new Uint8Array(0), code: 'LAYER_EMPTY', offset: [0, 0] },
  // FLG is byte 3; the error is known once the fixed header is read.
  { name: 'reserved FLG bits', bytes: withHeader(gz, gzipHeader({ flagBits: 0xe0 })), code: 'GZIP_BAD_HEADER', offset: [3, 10] },
  // A wrong header CRC16 is known once it was read (it ends the header).
  {
    name: 'bad header CRC16',
    bytes: withHeader(gz, badHcrcHeader),
    code: 'GZIP_BAD_HEADER',
    offset: [badHcrcHeader.length - 2, badHcrcHeader.length],
  },
  {
    name: 'tar header bad checksum (plain tar)',
    bytes: badSecondHeader(),
    code: 'TAR_BAD_HEADER',
    offset: [secondHeader, secondHeader],
    offsetKind: 'uncompressed',
  },
  {
    name: 'tar header bad checksum (in gzip)',
    bytes: gzipN(badSecondHeader()),
    code: 'TAR_BAD_HEADER',
    offset: [secondHeader, secondHeader],
    offsetKind: 'uncompressed',
    defaultOutput: true,
  },
  { name: 'zstd layer', bytes: zstdLayer, code: 'LAYER_UNSUPPORTED', offset: [0, 0] },
];

function checkError(c: BadCase, e: unknown, layer: string): ZtocError {
  assert.ok(e instanceof ZtocError, `${c.name}: expected a ZtocError, got ${String(e)}`);
  assert.equal(e.code, c.code, `${c.name}: ${e.message}`);
  assert.equal(e.layer, layer, `${c.name}: layer`);
  assert.ok(e.offset !== undefined, `${c.name}: no offset`);
  assert.ok(e.offset >= c.offset[0] && e.offset <= c.offset[1], `${c.name}: offset ${e.offset} not in [${c.offset[0]}, ${c.offset[1]}]`);
  assert.equal(e.offsetKind ?? 'compressed', c.offsetKind ?? 'compressed', `${c.name}: offset kind`);
  return e;
}

for (const c of cases) {
  test(`${c.name} → ${c.code}, library (worker and inline) and CLI`, async () => {
    const lib: ZtocError[] = [];
    for (const thread of ['worker', 'inline'] as const) {
      let caught: unknown;
      try {
        await buildZtoc(chunked(c.bytes), { layer: c.name, kind: 'auto', spanSize: 65536, thread });
      } catch (err) {
        caught = err;
      }
      assert.ok(caught !== undefined, `${c.name} (${thread}): build succeeded`);
      lib.push(checkError(c, caught, c.name));
    }
    assert.equal(lib[0]!.offset, lib[1]!.offset, 'worker and inline report the same offset');

    const dir = join(work, c.name.replace(/[^a-z0-9]+/gi, '-'));
    mkdirSync(dir);
    const layer = join(dir, 'layer.bin');
    writeFileSync(layer, c.bytes);
    const out = join(dir, 'out.ztoc');
    // The default output name (<layer>.ztoc in the working directory) must not be created either.
    const [r, r2] = await Promise.all([
      runCliAsync(['build', layer, '-o', out]),
      c.defaultOutput ? runCliAsync(['build', layer], { cwd: dir }) : undefined,
    ]);
    assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
    const where = `${c.offsetKind ?? 'compressed'} offset ${lib[0]!.offset}`;
    const line = r.stderr.split('\n').find((l) => l.includes(`[${c.code}]`));
    assert.ok(line, `no stderr line with [${c.code}]: ${r.stderr}`);
    assert.ok(line.includes(`layer ${layer}`), `stderr does not name the layer: ${line}`);
    assert.ok(line.includes(where), `stderr does not give "${where}": ${line}`);
    assert.equal(r.stdout.length, 0);
    assert.ok(!existsSync(out), 'a zTOC was written despite the failure');
    if (r2 !== undefined) {
      assert.equal(r2.code, 1);
      assert.deepEqual(readdirSync(dir).sort(), [basename(layer)]);
    }
  });
}

test('stdin input: the error names "stdin" and the offset, nothing is written', () => {
  const out = join(work, 'stdin.ztoc');
  const r = runCli(['build', '-', '-o', out], { input: flipCrc(gz) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[GZIP_BAD_CRC\]/);
  assert.match(r.stderr, /layer stdin/);
  const m = /compressed offset (\d+)/.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.ok(Number(m[1]) >= gz.length - 8 && Number(m[1]) <= gz.length - 4);
  assert.ok(!existsSync(out));
});

// ---------------------------------------------------------------------------------------------
// A zTOC used with a layer it was not built from

test('extracting through zTOC A from layer B of the same size: SPAN_DIGEST_MISMATCH, no data', async () => {
  const a = await buildZtoc(chunked(gz), { spanSize: 65536, kind: 'auto' });
  const z = a.ztoc;
  const other = prngBytes(gz.length, 99); // same size, different bytes
  for (const name of ['a.txt', 'b.bin']) {
    const e = findEntry(z, name)!;
    const got: Uint8Array[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of extractFile(z, e, memReader(other))) got.push(chunk);
      })(),
      (err: unknown) => isZtocError(err, 'SPAN_DIGEST_MISMATCH') || isZtocError(err, 'ZTOC_MISMATCH'),
    );
    assert.equal(got.length, 0, `${name}: bytes were produced before the mismatch was found`);
  }

  // The same layer with one byte changed in the middle: only the span holding it fails.
  const damaged = Buffer.from(gz);
  const spans = spanTable(z);
  const mid = Math.floor(gz.length / 2);
  damaged[mid]! ^= 0xff;
  const hit = spans.findIndex((s) => s.compressedStart <= mid && mid < s.compressedEnd);
  assert.ok(hit > 0);
  const inHit = z.entries.filter((en) => en.type === 'reg' && en.size > 0).map((en) => {
    const first = spans.findIndex((s) => s.uncompressedStart <= en.offset && en.offset < s.uncompressedEnd);
    const last = spans.findIndex((s) => s.uncompressedStart <= en.offset + en.size - 1 && en.offset + en.size - 1 < s.uncompressedEnd);
    return { en, touches: first <= hit && hit <= last };
  });
  assert.ok(inHit.some((x) => x.touches));
  for (const { en, touches } of inHit) {
    const p = collect(extractFile(z, en, memReader(damaged)));
    if (touches) {
      await assert.rejects(p, (err: unknown) => {
        assert.ok(isZtocError(err, 'SPAN_DIGEST_MISMATCH'), String(err));
        // The offset is where the failing span starts.
        assert.equal((err as ZtocError).offset, spans[hit]!.compressedStart);
        return true;
      });
    } else {
      assert.ok((await p).equals(tar.subarray(en.offset, en.offset + en.size)));
    }
  }
});

test('uncompressed layers: zTOC A with tar B of the same size → SPAN_DIGEST_MISMATCH', async () => {
  const a = await buildZtoc(chunked(tar), { spanSize: 65536, kind: 'auto' });
  const other = Buffer.from(tar);
  other[walk.headers[1]!.dataOffset + 100_000]! ^= 1; // inside b.bin's data
  const e = findEntry(a.ztoc, 'b.bin')!;
  await assert.rejects(collect(extractFile(a.ztoc, e, memReader(other))), (err: unknown) => isZtocError(err, 'SPAN_DIGEST_MISMATCH'));
  // a.txt lies in spans that are intact.
  const t = findEntry(a.ztoc, 'a.txt')!;
  assert.ok((await collect(extractFile(a.ztoc, t, memReader(other)))).equals(tar.subarray(t.offset, t.offset + t.size)));
});

test('a TOC entry that claims more bytes than the layer holds → ZTOC_MISMATCH, not a hang or garbage', async () => {
  const a = await buildZtoc(chunked(gz), { spanSize: 65536, kind: 'auto' });
  const model = decodeZtoc(a.bytes);
  const last = model.entries[model.entries.length - 1]!;
  last.size = a.inflatedSize; // runs far past the end of the stream
  const z = decodeZtoc(encodeZtoc(model));
  await assert.rejects(collect(extractFile(z, findEntry(z, 'b.bin')!, memReader(gz))), (err: unknown) => {
    assert.ok(isZtocError(err, 'ZTOC_MISMATCH'), String(err));
    return true;
  });
});

test('CLI get-file with the wrong layer: exit 1, the layer and offset on stderr, no output file', async () => {
  const dir = join(work, 'getfile');
  mkdirSync(dir);
  const layerA = join(dir, 'a.tar.gz');
  const layerB = join(dir, 'b.bin');
  const layerC = join(dir, 'c.bin');
  writeFileSync(layerA, gz);
  writeFileSync(layerB, prngBytes(gz.length, 1234));
  writeFileSync(layerC, prngBytes(gz.length + 1, 1234));
  const zt = join(dir, 'a.ztoc');
  writeFileSync(zt, (await buildZtoc(chunked(gz), { spanSize: 65536, kind: 'auto' })).bytes);

  const r = runCli(['get-file', '--ztoc', zt, '--layer', layerB, 'b.bin']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /\[(SPAN_DIGEST_MISMATCH|ZTOC_MISMATCH)\]/);
  assert.ok(r.stderr.includes(`layer ${layerB}`), `stderr does not name the layer: ${r.stderr}`);
  assert.match(r.stderr, /offset \d+/);
  assert.equal(r.stdout.length, 0, 'garbage written to stdout');

  const sized = runCli(['get-file', '--ztoc', zt, '--layer', layerC, 'b.bin']);
  assert.equal(sized.code, 1);
  assert.match(sized.stderr, /\[ZTOC_MISMATCH\]/);
  assert.ok(sized.stderr.includes(`layer ${layerC}`));
  assert.ok(sized.stderr.includes(String(gz.length + 1)) && sized.stderr.includes(String(gz.length)), sized.stderr);
  assert.equal(sized.stdout.length, 0);
});

test(
  'CLI get-file -o: nothing is left at the output path when the read fails',
  async () => {
    const dir = join(work, 'getfile-o');
    mkdirSync(dir);
    const layerA = join(dir, 'a.tar.gz');
    const layerB = join(dir, 'b.bin');
    writeFileSync(layerA, gz);
    writeFileSync(layerB, prngBytes(gz.length, 4321));
    const zt = join(dir, 'a.ztoc');
    writeFileSync(zt, (await buildZtoc(chunked(gz), { spanSize: 65536, kind: 'auto' })).bytes);
    const out = join(dir, 'out.bin');
    const r = runCli(['get-file', '--ztoc', zt, '--layer', layerB, '-o', out, 'b.bin']);
    assert.equal(r.code, 1);
    assert.ok(!existsSync(out), 'output file left behind after a failed get-file');
  },
);

// ---------------------------------------------------------------------------------------------
// Damaged zTOC files

test('damaged zTOC bytes: decodeZtoc throws ZTOC_INVALID (never another error), ztoc info exits 1', async () => {
  const a = await buildZtoc(chunked(gz), { spanSize: 65536, kind: 'auto' });
  const good = a.bytes;
  const bad: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['4 bytes', good.subarray(0, 4)],
    ['random', prngBytes(5000, 3)],
    ['random, same size', prngBytes(good.length, 4)],
  ];
  // Truncations anywhere (the flatbuffer's tables and strings sit at its end, the blob at its start).
  for (let n = 1; n < 64; n++) bad.push([`first ${n} bytes`, good.subarray(0, n)]);
  for (let k = 1; k <= 40; k++) {
    const n = Math.floor((good.length * k) / 41);
    bad.push([`first ${n} bytes`, good.subarray(0, n)]);
  }
  // Cutting only the zero bytes at the very end (the version string's NUL and alignment) leaves
  // every field intact: readers do not need the NUL. Cutting anything more must be rejected.
  let pad = 0;
  while (good[good.length - 1 - pad] === 0) pad++;
  assert.ok(pad < 8);
  for (let n = good.length - 64; n < good.length - pad; n++) bad.push([`first ${n} bytes`, good.subarray(0, n)]);
  for (let n = good.length - pad; n < good.length; n++) assert.deepEqual(decodeZtoc(good.subarray(0, n)), decodeZtoc(good));
  for (const [label, bytes] of bad) {
    assert.throws(
      () => decodeZtoc(bytes),
      (err: unknown) => {
        assert.ok(isZtocError(err, 'ZTOC_INVALID'), `${label}: ${String(err)}`);
        return true;
      },
      label,
    );
  }

  // Single-byte corruptions: either still a valid zTOC or ZTOC_INVALID; never a RangeError etc.
  let rejected = 0;
  for (let i = 0; i < 600; i++) {
    const b = Buffer.from(good);
    const at = i < 300 ? good.length - 1 - i * 3 : Math.floor((i * 7919) % good.length);
    b[at]! ^= 1 << (i % 8);
    try {
      decodeZtoc(b);
    } catch (err) {
      assert.ok(isZtocError(err, 'ZTOC_INVALID'), `flip at ${at}: ${String(err)}`);
      rejected++;
    }
  }
  assert.ok(rejected > 0);

  const dir = join(work, 'bad-ztoc');
  mkdirSync(dir);
  const runs: Array<Promise<void>> = [];
  for (const [label, bytes] of [
    ['truncated', good.subarray(0, Math.floor(good.length / 3))],
    ['random', prngBytes(3000, 8)],
  ] as const) {
    const p = join(dir, `${label}.ztoc`);
    writeFileSync(p, bytes);
    for (const args of label === 'random' ? [['info', p]] : [['info', p], ['info', '--json', '--files', p]]) {
      runs.push(
        runCliAsync(args).then((r) => {
          assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
          assert.match(r.stderr, /\[ZTOC_INVALID\]/);
          assert.equal(r.stdout.length, 0);
        }),
      );
    }
  }
  await Promise.all(runs);
  const missing = runCli(['info', join(dir, 'does-not-exist.ztoc')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /does-not-exist\.ztoc/);
});
