// Fuzz helper: the fuzz targets shared by the CI property tests (test/fuzz-*.test.ts, a few
// seconds each) and the long runner (fuzz/run.ts, `npm run fuzz`). A target is a fast-check
// arbitrary of mutation recipes over the committed seeds plus a check that throws when a property
// is broken. The properties:
//  - gzip: a mutated real layer through buildZtoc, inline and on a worker, gives a result or a
//    ZtocError with a code (never another error, a crash or a hang), offsets within the input; both
//    paths agree; the fast engine and the zlib engine (the oracle) give the same zTOC or the same
//    error code at the same offset; a result decodes, passes verifyZtoc and its checkpoints lie inside the input;
//  - tar: mutated headers / PAX / base-256 / GNU long names give a result or a ZtocError; the same
//    for every split of the input into chunks, and the same through buildZtoc;
//  - ztoc: mutated zTOC bytes are rejected with ZTOC_INVALID or decode; then extractFile /
//    extractRange over the real layer end with exactly the bytes asked for or a ZtocError, within
//    bounded reads and steps; when verifyZtoc accepts the zTOC, extracted bytes are the true ones;
//  - manifest: parseManifestOrIndex of mutated JSON gives a valid document or a ZtocError.

import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { ZtocError } from '../../src/errors.js';
import { buildZtoc, type BuildResult } from '../../src/ztoc/build.js';
import { decodeZtoc } from '../../src/ztoc/decode.js';
import { encodeZtoc } from '../../src/ztoc/encode.js';
import { extractFile, extractRange, type RangeReader } from '../../src/ztoc/extract.js';
import { verifyZtoc } from '../../src/ztoc/verify.js';
import { CHECKPOINT_SIZE, ZINFO_HEADER_SIZE, decodeZinfo } from '../../src/inflate/zinfo.js';
import type { Ztoc } from '../../src/ztoc/model.js';
import type { EngineChoice } from '../../src/inflate/native.js';
import type { EntryType, TarScanResult } from '../../src/tar/types.js';
import { DIGEST_PATTERN, MAX_MANIFEST_ENTRIES, parseManifestOrIndex } from '../../src/oci/validate.js';
import { seed, seedNames } from './fuzz-corpus.js';
import {
  applyBytes,
  applyGzHeader,
  applyJson,
  applyTar,
  byteOp,
  chunksOf,
  edited,
  gzHeaderOp,
  jsonOp,
  regzip,
  splits,
  tarOp,
  ztocOp,
  type ByteOp,
  type GzHeaderOp,
  type JsonOp,
  type TarOp,
  type ZtocOp,
} from './fuzz-mutate.js';
import { END, b256, concat, entry, pax, type ScanOutcome } from './tar-fixtures.js';
import { TarScanner } from '../../src/tar/scanner.js';

export interface Target<T> {
  name: string;
  arbitrary: fc.Arbitrary<T>;
  /** Throws (an assertion error or a PropertyError) when the input breaks a property. */
  check(input: T): Promise<void>;
}

export class PropertyError extends Error {}

/** A hang is a failure: give up on `p` after `ms` (generous: a run normally takes milliseconds). */
export async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PropertyError(`${what} did not finish within ${ms} ms (hang?)`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const HANG_MS = 20_000;

/** The error must be a ZtocError with a code, and its offset a non-negative integer within the input. */
export function checkZtocError(err: unknown, inputLength: number, what: string): ZtocError {
  if (!(err instanceof ZtocError)) {
    throw new PropertyError(`${what}: threw a ${err instanceof Error ? err.constructor.name : typeof err}, not a ZtocError: ${err instanceof Error ? err.stack : String(err)}`);
  }
  if (typeof err.code !== 'string' || (err.code as string) === '') throw new PropertyError(`${what}: ZtocError without a code: ${err.message}`);
  if (err.code === 'INTERNAL') throw new PropertyError(`${what}: INTERNAL error: ${err.message}`);
  if (err.offset !== undefined) {
    if (!Number.isSafeInteger(err.offset) || err.offset < 0) throw new PropertyError(`${what}: bad error offset ${err.offset} (${err.code} ${err.message})`);
    if (err.offsetKind !== 'uncompressed' && err.offset > inputLength) {
      throw new PropertyError(`${what}: compressed offset ${err.offset} beyond the ${inputLength}-byte input (${err.code} ${err.message})`);
    }
  }
  return err;
}

/** An in-memory RangeReader that counts its calls and refuses ranges outside the layer. */
export function memReader(layer: Uint8Array): { read: RangeReader; calls: () => number } {
  let n = 0;
  return {
    calls: () => n,
    read: async (start, end) => {
      n++;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end > layer.length || start > end) {
        throw new ZtocError('ZTOC_MISMATCH', `range ${start}-${end} is outside the ${layer.length}-byte layer`, { offset: Math.max(0, Math.min(start, layer.length)) });
      }
      return layer.subarray(start, end);
    },
  };
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

async function* chunked(b: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  for (const c of chunksOf(b, cuts)) yield c;
}

// ---------------------------------------------------------------------------------------------
// Seeds

export interface Seeds {
  gzip: Array<{ name: string; bytes: Uint8Array }>;
  tar: Array<{ name: string; bytes: Uint8Array }>;
  ztoc: Array<{ name: string; layer: Uint8Array; tar: Uint8Array; ztoc: Uint8Array; model: Ztoc }>;
  manifest: Array<{ name: string; text: string }>;
}

/** Hand-made tar corners the real tools do not write: base-256 numbers, PAX sizes and times, GNU L/K, devices. */
function craftedTar(): Uint8Array {
  return concat([
    entry({ name: 'b256', size: b256(5n, 12), uid: b256(70000n, 8), gid: b256(-2n, 8), mtime: b256(-1n, 12) }, 'hello'),
    pax([['path', `p/${'x'.repeat(150)}`], ['SCHILY.xattr.user.k', 'v'], ['mtime', '1700000000.5'], ['uid', '4294967297'], ['size', '3']]),
    entry({ name: 'short' }, 'abc'),
    entry({ name: '././@LongLink', typeflag: 'L', format: 'gnu' }, `${'n'.repeat(200)}\0`),
    entry({ name: 'gnushort', format: 'gnu' }, 'x'),
    entry({ name: '././@LongLink', typeflag: 'K', format: 'gnu' }, `${'t'.repeat(180)}\0`),
    entry({ name: 'sym', typeflag: '2', format: 'gnu' }),
    entry({ name: 'base', prefix: 'some/prefix' }, 'u'),
    entry({ name: 'dev', typeflag: '3', devmajor: 1, devminor: b256(3n, 8) }),
    entry({ name: 'dir/', typeflag: '5', size: 0 }),
    entry({ name: 'v7', format: 'v7' }, 'seven'),
    entry({ name: 'star', format: 'star', prefix: 'sp', atime: 1, ctime: 2 }, 'star'),
    END,
  ]);
}

let seedsCache: Promise<Seeds> | undefined;

export function loadSeeds(): Promise<Seeds> {
  seedsCache ??= (async () => {
    const gzip = seedNames(/^layer-.*\.gz$/).map((name) => ({ name, bytes: new Uint8Array(seed(name)) }));
    const tar = [...gzip.map((g) => ({ name: g.name.replace(/\.gz$/, ''), bytes: new Uint8Array(gunzipSync(g.bytes)) })), { name: 'crafted.tar', bytes: craftedTar() }];
    const ztoc: Seeds['ztoc'] = [];
    for (const g of gzip) {
      for (const span of [16384, 65536]) {
        const r = await buildZtoc(once(g.bytes), { spanSize: span, thread: 'inline', kind: 'auto' });
        ztoc.push({ name: `${g.name}@${span}`, layer: g.bytes, tar: new Uint8Array(gunzipSync(g.bytes)), ztoc: r.bytes.slice(), model: r.ztoc });
      }
    }
    const t = tar[0]!.bytes;
    const u = await buildZtoc(once(t), { spanSize: 8192, thread: 'inline', kind: 'tar' });
    ztoc.push({ name: `${tar[0]!.name}@8192`, layer: t, tar: t, ztoc: u.bytes.slice(), model: u.ztoc });
    const manifest = seedNames(/\.json$/).map((name) => ({ name, text: seed(name).toString('utf8') }));
    return { gzip, tar, ztoc, manifest };
  })();
  return seedsCache;
}

// ---------------------------------------------------------------------------------------------
// gzip: mutated layers through buildZtoc, inline and on a worker

export interface GzipInput {
  seed: number;
  raw: Uint8Array;
  tar: TarOp[];
  header: GzHeaderOp | null;
  bytes: ByteOp[];
  cuts: number[];
  span: number;
}

const some = <T>(arb: fc.Arbitrary<T>, max: number, emptyWeight = 1, fullWeight = 1): fc.Arbitrary<T[]> =>
  fc.oneof({ weight: emptyWeight, arbitrary: fc.constant([] as T[]) }, { weight: fullWeight, arbitrary: fc.array(arb, { minLength: 1, maxLength: max }) });

export const gzipArbitrary: fc.Arbitrary<GzipInput> = fc.record({
  seed: fc.nat({ max: 100 }),
  raw: fc.uint8Array({ maxLength: 700 }),
  tar: some(tarOp, 3, 3, 2),
  header: fc.option(gzHeaderOp, { freq: 2 }),
  bytes: some(byteOp, 4, 2, 3),
  cuts: fc.array(fc.nat(), { maxLength: 6 }),
  span: fc.constantFrom(8192, 65536, 1 << 22),
});

export function gzipLayer(s: Seeds, input: GzipInput): Uint8Array {
  const pick = input.seed % (s.gzip.length + 1);
  let layer: Uint8Array;
  if (pick === s.gzip.length) {
    // Random bytes behind a plausible gzip header.
    layer = concat([new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), input.raw]);
  } else {
    layer = s.gzip[pick]!.bytes;
    if (input.tar.length > 0) layer = regzip(applyTar(gunzipSync(layer), input.tar));
  }
  if (input.header !== null) layer = applyGzHeader(layer, input.header);
  return applyBytes(layer, input.bytes);
}

export type BuildOutcome = { ok: BuildResult } | { err: ZtocError };

async function build(layer: Uint8Array, input: GzipInput, thread: 'inline' | 'worker', engine: EngineChoice = 'auto'): Promise<BuildOutcome> {
  try {
    const r = await deadline(buildZtoc(chunked(layer, splits(layer.length, input.cuts)), { spanSize: input.span, thread, kind: 'auto', engine }), HANG_MS, `buildZtoc (${thread}, ${engine})`);
    return { ok: r };
  } catch (err) {
    if (err instanceof PropertyError) throw err;
    return { err: checkZtocError(err, layer.length, `buildZtoc (${thread})`) };
  }
}

/** A built zTOC must decode, lie inside the layer, and pass the independent verifier. */
async function checkBuilt(r: BuildResult, layer: Uint8Array, what: string): Promise<void> {
  assert.equal(r.compressedSize, layer.length, `${what}: compressedSize`);
  let z: Ztoc;
  try {
    z = decodeZtoc(r.bytes);
  } catch (err) {
    throw new PropertyError(`${what}: the build produced a zTOC that decodeZtoc rejects: ${(err as Error).message}`);
  }
  assert.ok(z.uncompressedArchiveSize <= r.inflatedSize, `${what}: archive size ${z.uncompressedArchiveSize} > inflated ${r.inflatedSize}`);
  if (z.compression === 'gzip') {
    const { checkpoints } = decodeZinfo(z.checkpoints);
    let prev = { in: 0, out: 0 };
    for (const c of checkpoints) {
      assert.ok(c.in >= prev.in && c.in <= layer.length, `${what}: checkpoint in=${c.in} outside [${prev.in}, ${layer.length}]`);
      assert.ok(c.out >= prev.out && c.out <= r.inflatedSize, `${what}: checkpoint out=${c.out} outside [${prev.out}, ${r.inflatedSize}]`);
      prev = c;
    }
  }
  for (const e of z.entries) {
    assert.ok(e.offset >= 0 && e.offset <= z.uncompressedArchiveSize, `${what}: entry offset ${e.offset}`);
    if (e.type === 'reg') assert.ok(e.offset + e.size <= z.uncompressedArchiveSize, `${what}: entry ${JSON.stringify(e.name)} runs past the archive`);
  }
  const { read } = memReader(layer);
  try {
    await deadline(verifyZtoc(z, read, once(layer)), HANG_MS, `${what}: verifyZtoc`);
  } catch (err) {
    if (err instanceof PropertyError) throw err;
    throw new PropertyError(`${what}: verifyZtoc rejects the zTOC the build produced: ${(err as Error).message}`);
  }
}

const showOutcome = (o: BuildOutcome): string => ('ok' in o ? `ok ${o.ok.digest}` : `${o.err.code} at ${o.err.offset}: ${o.err.message}`);

/** The engines must agree exactly: the same zTOC bytes, or the same error code and offset. */
export function compareEngines(fast: BuildOutcome, zlib: BuildOutcome): void {
  const same =
    'ok' in fast && 'ok' in zlib
      ? fast.ok.digest === zlib.ok.digest
      : 'err' in fast && 'err' in zlib && fast.err.code === zlib.err.code && fast.err.offset === zlib.err.offset;
  if (!same) throw new PropertyError(`fast and zlib engines disagree: fast ${showOutcome(fast)}; zlib ${showOutcome(zlib)}`);
}

export function gzipTarget(s: Seeds): Target<GzipInput> {
  return {
    name: 'gzip',
    arbitrary: gzipArbitrary,
    async check(input) {
      const layer = gzipLayer(s, input);
      const inline = await build(layer, input, 'inline');
      // The zlib engine is the oracle, fed in one piece: the fast engine under any chunking must agree.
      const oracle = await build(layer, { ...input, cuts: [] }, 'inline', 'zlib');
      compareEngines(inline, oracle);
      // A failed build retires its worker (a new one takes ~0.1 s to start), so failing inputs take
      // the worker path one time in three; successful ones always do.
      if ('err' in inline && input.cuts.length % 3 !== 0) return;
      const worker = await build(layer, input, 'worker');
      if ('ok' in inline) await checkBuilt(inline.ok, layer, 'inline build');
      if ('ok' in worker) await checkBuilt(worker.ok, layer, 'worker build');
      const show = (o: BuildOutcome): string => ('ok' in o ? `ok ${o.ok.digest}` : `${o.err.code}: ${o.err.message}`);
      if ('ok' in inline !== 'ok' in worker || ('ok' in inline && 'ok' in worker && inline.ok.digest !== worker.ok.digest) || ('err' in inline && 'err' in worker && inline.err.code !== worker.err.code)) {
        throw new PropertyError(`inline and worker builds disagree: inline ${show(inline)}; worker ${show(worker)}`);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// tar: the scanner, chunking invariance, and the uncompressed build path

export interface TarInput {
  seed: number;
  ops: TarOp[];
  bytes: ByteOp[];
  cuts: number[];
}

export const tarArbitrary: fc.Arbitrary<TarInput> = fc.record({
  seed: fc.nat({ max: 100 }),
  ops: some(tarOp, 5, 1, 6),
  bytes: some(byteOp, 2, 4, 1),
  cuts: fc.array(fc.nat(), { minLength: 1, maxLength: 24 }),
});

export function tarBytes(s: Seeds, input: TarInput): Uint8Array {
  return applyBytes(applyTar(s.tar[input.seed % s.tar.length]!.bytes, input.ops), input.bytes);
}

function outcomeKey(o: ScanOutcome): string {
  if ('err' in o) return JSON.stringify({ code: o.err.code, offset: o.err.offset, entry: o.err.entry, message: o.err.message });
  return JSON.stringify({ size: o.ok.archiveSize, entries: o.ok.entries });
}

function scanPieces(pieces: Uint8Array[]): ScanOutcome {
  const s = new TarScanner();
  try {
    for (const p of pieces) {
      const scratch = new Uint8Array(p.length + 5);
      scratch.set(p, 2);
      s.push(scratch, 2, 2 + p.length);
      scratch.fill(0xee);
    }
    return { ok: s.end() };
  } catch (e) {
    if (e instanceof ZtocError) return { err: e };
    throw new PropertyError(`TarScanner threw a non-ZtocError: ${e instanceof Error ? e.stack : String(e)}`);
  }
}

/** SOCI's reader rules: no negative size; an entry may not start before the previous one's data (offset + size, rounded up to 512) ends. */
/**
 * What SOCI's reader can't serve (docs/tar-rules.md), restated here: a negative size, a derived
 * header offset (align512(previous offset + size)) that is not the entry's real one, a uid/gid
 * beyond uint32, an mtime outside years 0-9999, or mode file-type bits of another kind. GNU sparse
 * entries have checks of their own (tar-sparse tests); the build may refuse them too.
 */
function unreadable(r: TarScanResult): boolean {
  const kinds: Record<number, string[]> = { 0o040000: ['dir'], 0o010000: ['fifo'], 0o120000: ['symlink'], 0o060000: ['block', 'char'], 0o020000: ['char'], 0o140000: [] };
  if (r.lossy.length > 0) return true;
  for (const [i, e] of r.entries.entries()) {
    if (e.size < 0 || e.modTime === '') return true;
    const k = kinds[((e.mode >>> 0) & ~0o7777) >>> 0];
    if (k !== undefined && !k.includes(e.type)) return true;
    const prev = r.entries[i - 1];
    if (prev !== undefined && Math.ceil((prev.offset + prev.size) / 512) * 512 !== e.headerOffset) return true;
  }
  return false;
}

const HEADER_ONLY = new Set<EntryType>(['hardlink', 'symlink', 'char', 'block', 'dir', 'fifo']);

export function tarTarget(s: Seeds): Target<TarInput> {
  return {
    name: 'tar',
    arbitrary: tarArbitrary,
    async check(input) {
      const tar = tarBytes(s, input);
      const whole = scanPieces([tar]);
      const cuts = splits(tar.length, input.cuts);
      const pieces = scanPieces([...chunksOf(tar, cuts)]);
      if (outcomeKey(whole) !== outcomeKey(pieces)) {
        throw new PropertyError(`chunking changes the result: whole ${outcomeKey(whole).slice(0, 400)} vs split at ${cuts.join(',')} ${outcomeKey(pieces).slice(0, 400)}`);
      }
      if ('err' in whole) {
        checkZtocError(whole.err, tar.length, 'TarScanner');
        assert.equal(whole.err.offsetKind, 'uncompressed');
        assert.ok(whole.err.offset === undefined || whole.err.offset <= tar.length, `error offset ${whole.err.offset} past the input`);
      } else {
        const r = whole.ok;
        assert.ok(r.archiveSize <= tar.length, `archiveSize ${r.archiveSize} > input ${tar.length}`);
        let prev = 0;
        for (const e of r.entries) {
          assert.ok(Number.isSafeInteger(e.offset) && e.offset >= prev, `entry offsets go backwards at ${JSON.stringify(e.name)}`);
          assert.ok(e.headerOffset >= 0 && e.headerOffset <= e.offset - 512, `headerOffset ${e.headerOffset} vs offset ${e.offset}`);
          if (!HEADER_ONLY.has(e.type)) assert.ok(e.size >= 0 && e.offset + e.size <= r.archiveSize, `entry ${JSON.stringify(e.name)} data runs past the archive`);
          prev = e.offset;
        }
      }
      // The uncompressed-layer build runs the same scanner: same verdict, and a zTOC its reader accepts.
      if (tar.length === 0) return;
      let built: BuildResult | undefined;
      try {
        built = await deadline(buildZtoc(chunked(tar, cuts), { spanSize: 65536, thread: 'inline', kind: 'tar' }), HANG_MS, 'buildZtoc (tar)');
      } catch (err) {
        if (err instanceof PropertyError) throw err;
        const e = checkZtocError(err, tar.length, 'buildZtoc (tar)');
        if ('ok' in whole) {
          // The one legitimate difference: a TOC that SOCI's reader would reject or misread is refused by the build.
          if (!((unreadable(whole.ok) || whole.ok.sparse.length > 0) && (e.code === 'TAR_UNSUPPORTED_ENTRY' || e.code === 'TAR_BAD_HEADER'))) throw new PropertyError(`the scanner accepts the tar but buildZtoc fails: ${e.code} ${e.message}`);
        } else {
          assert.equal(e.code, whole.err.code, 'scanner and build report different codes');
        }
      }
      if (built !== undefined) {
        if ('err' in whole) throw new PropertyError(`the scanner rejects the tar (${whole.err.code}) but buildZtoc succeeds`);
        if (unreadable(whole.ok)) throw new PropertyError('buildZtoc made a zTOC that SOCI\'s reader rejects or misreads');
        await checkBuilt(built, tar, 'tar build');
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// ztoc: mutated zTOCs through decode, extract and verify

export interface ZtocInput {
  base: number;
  ops: ZtocOp[];
  bytes: ByteOp[];
  picks: number[];
  range: { offset: number; length: number };
}

export const ztocArbitrary: fc.Arbitrary<ZtocInput> = fc.record({
  base: fc.nat({ max: 100 }),
  ops: some(ztocOp, 3, 1, 5),
  bytes: some(byteOp, 3, 3, 2),
  picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
  range: fc.record({ offset: fc.nat({ max: 400_000 }), length: fc.nat({ max: 200_000 }) }),
});

function applyZtocOps(base: Ztoc, ops: readonly ZtocOp[]): Ztoc {
  const z: Ztoc = { ...base, entries: base.entries.map((e) => ({ ...e })), spanDigests: [...base.spanDigests], checkpoints: base.checkpoints.slice() };
  for (const o of ops) {
    switch (o.op) {
      case 'entry': {
        if (z.entries.length === 0) break;
        const e = z.entries[o.i % z.entries.length]!;
        e[o.field] = edited(e[o.field], o.edit);
        break;
      }
      case 'entryType': {
        if (z.entries.length === 0) break;
        z.entries[o.i % z.entries.length]!.type = o.type as EntryType;
        break;
      }
      case 'archiveSize':
        if (o.which === 'compressed') z.compressedArchiveSize = edited(z.compressedArchiveSize, o.edit);
        else z.uncompressedArchiveSize = edited(z.uncompressedArchiveSize, o.edit);
        break;
      case 'checkpoint':
      case 'window':
      case 'cpCount':
      case 'cpSpan':
      case 'cpTruncate': {
        if (z.compression !== 'gzip' || z.checkpoints.length < ZINFO_HEADER_SIZE) break;
        const b = Buffer.from(z.checkpoints.buffer, z.checkpoints.byteOffset, z.checkpoints.byteLength);
        const n = Math.max(1, Math.floor((b.length - ZINFO_HEADER_SIZE) / CHECKPOINT_SIZE));
        if (o.op === 'cpTruncate') {
          z.checkpoints = z.checkpoints.slice(0, Math.max(0, b.length - o.drop));
          break;
        }
        if (o.op === 'cpCount') {
          b.writeInt32LE(Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, edited(b.readInt32LE(0), o.edit))), 0);
          break;
        }
        if (o.op === 'cpSpan') {
          b.writeBigInt64LE(BigInt(edited(Number(b.readBigInt64LE(4)), o.edit)), 4);
          break;
        }
        const at = ZINFO_HEADER_SIZE + (o.k % n) * CHECKPOINT_SIZE;
        if (at + CHECKPOINT_SIZE > b.length) break;
        if (o.op === 'window') b[at + 17 + o.at] = o.value;
        else if (o.field === 'bits') b[at + 16] = edited(b[at + 16]!, o.edit) & 0xff;
        else {
          const off = at + (o.field === 'in' ? 0 : 8);
          b.writeBigInt64LE(BigInt(edited(Number(b.readBigInt64LE(off)), o.edit)), off);
        }
        break;
      }
      case 'digest': {
        const d = z.spanDigests;
        if (d.length === 0) break;
        const i = o.i % d.length;
        const j = o.j % d.length;
        if (o.kind === 'swap') [d[i], d[j]] = [d[j]!, d[i]!];
        else if (o.kind === 'replace') d[i] = `sha256:${'0'.repeat(63)}${(o.j % 10).toString()}`;
        else if (o.kind === 'drop') d.splice(i, 1);
        else d.splice(i, 0, d[j]!);
        break;
      }
      case 'maxSpanId':
        z.maxSpanId = edited(z.maxSpanId, o.edit) | 0;
        break;
      case 'compression':
        z.compression = z.compression === 'gzip' ? 'uncompressed' : 'gzip';
        break;
    }
  }
  return z;
}

/** Byte edits land half the time in the last 8 KiB: the flatbuffer tables and strings, not the 32 KiB windows. */
function ztocPositions(n: number, len: number): number {
  if (len === 0) return 0;
  if (n % 2 === 0) return (n >>> 1) % len;
  return len - 1 - ((n >>> 1) % Math.min(len, 8192));
}

export function ztocBytes(s: Seeds, input: ZtocInput): { bytes: Uint8Array; base: Seeds['ztoc'][number] } {
  const base = s.ztoc[input.base % s.ztoc.length]!;
  let bytes = base.ztoc;
  if (input.ops.length > 0) {
    try {
      bytes = encodeZtoc(applyZtocOps(base.model, input.ops)).slice();
    } catch {
      // An edit the encoder cannot represent (e.g. an int64 out of range): mutate the original bytes only.
      bytes = base.ztoc;
    }
  }
  return { bytes: applyBytes(bytes, input.bytes, ztocPositions), base };
}

/** Drains an extraction, failing if it yields more than `length` bytes or more chunks than bytes. */
async function drain(it: AsyncIterable<Uint8Array>, length: number, what: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let total = 0;
  let steps = 0;
  for await (const c of it) {
    steps++;
    total += c.length;
    if (c.length === 0) throw new PropertyError(`${what}: yielded an empty chunk`);
    if (total > length) throw new PropertyError(`${what}: yielded ${total} bytes, more than the ${length} asked for`);
    if (steps > length + 1) throw new PropertyError(`${what}: more steps than bytes`);
    parts.push(c.slice());
  }
  return Buffer.concat(parts);
}

type Extraction = { what: string; offset: number; length: number; run: () => AsyncIterable<Uint8Array> };

export function ztocTarget(s: Seeds): Target<ZtocInput> {
  return {
    name: 'ztoc',
    arbitrary: ztocArbitrary,
    async check(input) {
      const { bytes, base } = ztocBytes(s, input);
      const pristine = input.ops.length === 0 && input.bytes.length === 0;
      let z: Ztoc;
      try {
        z = decodeZtoc(bytes);
      } catch (err) {
        const e = checkZtocError(err, bytes.length, 'decodeZtoc');
        if (e.code !== 'ZTOC_INVALID') throw new PropertyError(`decodeZtoc threw ${e.code}, not ZTOC_INVALID: ${e.message}`);
        if (pristine) throw new PropertyError(`decodeZtoc rejects the unmodified zTOC: ${e.message}`);
        return;
      }
      const jobs: Extraction[] = [];
      if (z.entries.length > 0) {
        for (const p of input.picks) {
          const e = z.entries[p % z.entries.length]!;
          jobs.push({ what: `extractFile(${JSON.stringify(e.name)} ${e.type} @${e.offset}+${e.size})`, offset: e.offset, length: e.type === 'reg' ? e.size : 0, run: () => extractFile(z, e, reader.read) });
        }
      }
      const { offset, length } = input.range;
      jobs.push({ what: `extractRange(${offset}, ${length})`, offset, length, run: () => extractRange(z, offset, length, reader.read) });
      let reader = memReader(base.layer);
      const results: Array<Buffer | ZtocError> = [];
      for (const j of jobs) {
        reader = memReader(base.layer);
        try {
          const got = await deadline(drain(j.run(), j.length, j.what), HANG_MS, j.what);
          if (got.length !== j.length) throw new PropertyError(`${j.what}: finished with ${got.length} bytes, not ${j.length}, and no error`);
          results.push(got);
        } catch (err) {
          if (err instanceof PropertyError) throw err;
          results.push(checkZtocError(err, Number.MAX_SAFE_INTEGER, j.what));
        }
        if (reader.calls() > Math.max(1, z.spanDigests.length)) throw new PropertyError(`${j.what}: ${reader.calls()} range reads for ${z.spanDigests.length} spans`);
      }
      // The independent verifier: when it accepts the zTOC, what the zTOC reads must be the layer's true bytes.
      let verified = false;
      try {
        const r = memReader(base.layer);
        await deadline(verifyZtoc(z, r.read, once(base.layer)), HANG_MS, 'verifyZtoc');
        verified = true;
      } catch (err) {
        if (err instanceof PropertyError) throw err;
        checkZtocError(err, Number.MAX_SAFE_INTEGER, 'verifyZtoc');
        if (pristine) throw new PropertyError(`verifyZtoc rejects the unmodified zTOC: ${(err as Error).message}`);
      }
      if (!verified) return;
      jobs.forEach((j, i) => {
        const r = results[i]!;
        if (r instanceof ZtocError) {
          // A range past the end of the archive is a legitimate error; a listed file must read.
          if (j.what.startsWith('extractFile') && j.length > 0) throw new PropertyError(`${j.what} failed on a zTOC that verifies: ${r.code} ${r.message}`);
          return;
        }
        const truth = Buffer.from(base.tar.subarray(j.offset, j.offset + j.length));
        if (!truth.equals(r)) throw new PropertyError(`${j.what}: the bytes read through a zTOC that verifies differ from the layer's`);
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// manifest: parseManifestOrIndex of mutated documents

export interface ManifestInput {
  seed: number;
  ops: JsonOp[];
  bytes: ByteOp[];
  contentType: number;
  bom: boolean;
}

const CONTENT_TYPES = [
  undefined,
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json; charset=utf-8',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/json',
  'text/plain',
  '',
  ';;;',
];

export const manifestArbitrary: fc.Arbitrary<ManifestInput> = fc.record({
  seed: fc.nat({ max: 100 }),
  ops: some(jsonOp, 4, 1, 6),
  bytes: some(byteOp, 3, 4, 1),
  contentType: fc.nat({ max: CONTENT_TYPES.length - 1 }),
  bom: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

export function manifestBytes(s: Seeds, input: ManifestInput): Uint8Array {
  const text = applyJson(s.manifest[input.seed % s.manifest.length]!.text, input.ops);
  const b = Buffer.from(text, 'utf8');
  return applyBytes(input.bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]) : b, input.bytes);
}

const digestRe = new RegExp(DIGEST_PATTERN);

function checkDescriptor(d: unknown, what: string): void {
  assert.ok(typeof d === 'object' && d !== null, `${what} is not an object`);
  const r = d as Record<string, unknown>;
  assert.ok(typeof r['digest'] === 'string' && digestRe.test(r['digest']), `${what}.digest ${JSON.stringify(r['digest'])} is not a digest`);
  assert.ok(typeof r['size'] === 'number' && Number.isSafeInteger(r['size']) && r['size'] >= 0, `${what}.size ${String(r['size'])}`);
  assert.ok(typeof r['mediaType'] === 'string', `${what}.mediaType`);
}

export function manifestTarget(s: Seeds): Target<ManifestInput> {
  return {
    name: 'manifest',
    arbitrary: manifestArbitrary,
    async check(input) {
      const bytes = manifestBytes(s, input);
      const ct = CONTENT_TYPES[input.contentType % CONTENT_TYPES.length];
      let parsed: ReturnType<typeof parseManifestOrIndex>;
      try {
        parsed = parseManifestOrIndex(bytes, ct);
      } catch (err) {
        const e = checkZtocError(err, bytes.length, 'parseManifestOrIndex');
        if (e.code !== 'MANIFEST_INVALID' && e.code !== 'MANIFEST_TOO_LARGE') throw new PropertyError(`parseManifestOrIndex threw ${e.code}: ${e.message}`);
        if (e.code === 'MANIFEST_TOO_LARGE' && bytes.length <= 4 * 1024 * 1024) throw new PropertyError(`MANIFEST_TOO_LARGE for ${bytes.length} bytes`);
        return;
      }
      assert.ok(bytes.length <= 4 * 1024 * 1024, 'a document over 4 MiB was accepted');
      if (parsed.kind === 'manifest') {
        const m = parsed.manifest;
        assert.equal(m.schemaVersion, 2);
        checkDescriptor(m.config, 'config');
        assert.ok(Array.isArray(m.layers) && m.layers.length <= MAX_MANIFEST_ENTRIES, 'layers');
        m.layers.forEach((l, i) => checkDescriptor(l, `layers[${i}]`));
      } else {
        const x = parsed.index;
        assert.equal(x.schemaVersion, 2);
        assert.ok(Array.isArray(x.manifests) && x.manifests.length <= MAX_MANIFEST_ENTRIES, 'manifests');
        x.manifests.forEach((d, i) => checkDescriptor(d, `manifests[${i}]`));
      }
    },
  };
}

export async function allTargets(): Promise<Array<Target<never>>> {
  const s = await loadSeeds();
  return [gzipTarget(s), tarTarget(s), ztocTarget(s), manifestTarget(s)] as unknown as Array<Target<never>>;
}
