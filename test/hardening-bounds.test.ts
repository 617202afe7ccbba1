// Bounds on hostile input, each a clear error instead of memory growth or a hang: a PAX record and a
// GNU long name over 1 MiB (TAR_LIMIT, through the whole build on both threads), more entries than
// maxEntries (TAR_LIMIT; the default is 10 million), negative sizes in base-256 and PAX (TAR_BAD_HEADER),
// negative offsets in a zTOC (ZTOC_INVALID), a manifest over 4 MiB (MANIFEST_TOO_LARGE) and more than 1000
// layers or platforms (MANIFEST_INVALID) — the last ones also through a real registry and `ztoc index`
// (exit 1, a clear message, nothing pushed).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runCliHermetic, type TextResult } from './helpers/cli.js';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ZtocError, isZtocError } from '../src/errors.js';
import { buildZtoc } from '../src/ztoc/build.js';
import { decodeZtoc } from '../src/ztoc/decode.js';
import { encodeZtoc } from '../src/ztoc/encode.js';
import { extractRange } from '../src/ztoc/extract.js';
import { TarScanner } from '../src/tar/scanner.js';
import { MAX_MANIFEST_BYTES, MAX_MANIFEST_ENTRIES, parseManifestOrIndex } from '../src/oci/validate.js';
import { MediaType } from '../src/oci/types.js';
import { Repository } from '../src/registry/index.js';
import { END, b256, concat, entry, header, pax, paxRecord, randomBytes } from './helpers/tar-fixtures.js';
import { blobOf, startRegistry, type RunningRegistry } from './helpers/registry.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { memReader } from './helpers/fuzz-targets.js';

const MiB = 1 << 20;
const A = entry({ name: 'a' }, 'abc');

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

/** buildZtoc of a gzip layer inline and on its inflate thread: both must fail with `code`; returns the threaded build's error. */
async function buildFails(tar: Uint8Array, code: string): Promise<ZtocError> {
  const gz = gzipSync(tar, { level: 1 });
  let last: ZtocError | undefined;
  for (const thread of ['inline', 'worker'] as const) {
    await assert.rejects(buildZtoc(once(gz), { thread, kind: 'auto', layer: 'sha256:test' }), (e: unknown) => {
      assert.ok(isZtocError(e), String(e));
      assert.equal(e.code, code, `${thread}: ${e.message}`);
      assert.equal(e.layer, 'sha256:test');
      last = e;
      return true;
    });
  }
  return last!;
}

test('a PAX record over 1 MiB: TAR_LIMIT at its header, without buffering the body', async () => {
  const big = concat([A, pax(paxRecord('comment', 'c'.repeat(MiB + 10))), A, END]);
  const e = await buildFails(big, 'TAR_LIMIT');
  assert.equal(e.offset, 1024);
  assert.equal(e.offsetKind, 'uncompressed');
  assert.match(e.message, /'x' header at offset 1024 has a \d+-byte body; the limit is 1048576 bytes/);
  // A path of exactly the limit is fine (Go's maxSpecialFileSize is inclusive).
  const s = new TarScanner();
  const rec = paxRecord('path', 'p'.repeat(MiB - 20));
  assert.ok(Buffer.byteLength(rec) <= MiB);
  s.push(concat([pax(rec), A, END]));
  assert.equal(s.end().entries[0]!.name.length, MiB - 20);
});

test('a GNU long name (and long link) over 1 MiB: TAR_LIMIT', async () => {
  const name = concat([entry({ name: '././@LongLink', typeflag: 'L', format: 'gnu' }, 'n'.repeat(MiB + 1)), A, END]);
  const e = await buildFails(name, 'TAR_LIMIT');
  assert.equal(e.offset, 0);
  assert.match(e.message, /'L' header at offset 0/);
  const link = concat([A, entry({ name: '././@LongLink', typeflag: 'K', format: 'gnu' }, 't'.repeat(2 * MiB)), entry({ name: 's', typeflag: '2', format: 'gnu' }), END]);
  assert.equal((await buildFails(link, 'TAR_LIMIT')).offset, 1024);
});

test('more entries than maxEntries: TAR_LIMIT naming the limit; the default (10 million) takes 20 000 easily', () => {
  const many = concat([...Array.from({ length: 6 }, (_, i) => entry({ name: `f${i}` }, 'x')), END]);
  const s = new TarScanner({ maxEntries: 5 });
  assert.throws(
    () => s.push(many),
    (e: unknown) => isZtocError(e, 'TAR_LIMIT') && /more than 5 entries/.test(e.message) && e.offset === 5 * 1024 && e.entry === 'f5',
  );
  const exactly = new TarScanner({ maxEntries: 6 });
  exactly.push(many);
  assert.equal(exactly.end().entries.length, 6);
  const hdr = header({ name: 'e', size: 0 });
  const big = new Uint8Array(20_000 * 512 + 1024);
  for (let i = 0; i < 20_000; i++) big.set(hdr, i * 512);
  const d = new TarScanner();
  d.push(big);
  assert.equal(d.end().entries.length, 20_000);
  assert.throws(() => new TarScanner({ maxEntries: -1 }), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'));
});

test('negative sizes: base-256 and PAX, on a file → TAR_BAD_HEADER (through the build); a 2^62 PAX size → TAR_TRUNCATED, not a hang', async () => {
  for (const neg of [b256(-1n, 12), b256(-(1n << 40n), 12), b256(-(1n << 94n), 12)]) {
    const e = await buildFails(concat([A, header({ name: 'neg', size: neg }), END]), 'TAR_BAD_HEADER');
    assert.equal(e.offset, 1024);
  }
  const paxNeg = await buildFails(concat([pax([['size', '-5']]), entry({ name: 'n' }, 'abcde'), END]), 'TAR_BAD_HEADER');
  assert.equal(paxNeg.offset, 1024, 'reported at the entry the PAX size applies to');
  const huge = await buildFails(concat([pax([['size', String(2n ** 62n)]]), entry({ name: 'h' }, 'abc'), END]), 'TAR_TRUNCATED');
  assert.match(huge.message, /size beyond 2\^53 bytes/);
  // Go keeps a negative size on a header-only entry; SOCI's reader would reject the zTOC, so the build refuses it.
  const dir = await buildFails(concat([A, header({ name: 'd/', typeflag: '5', size: b256(-1n, 12) }), A, END]), 'TAR_BAD_HEADER');
  assert.equal(dir.entry, 'd/');
  assert.match(dir.message, /negative size \(-1\)/);
  // Other numeric fields may be negative in base-256 without breaking anything (Go keeps them).
  const s = new TarScanner();
  s.push(concat([entry({ name: 'm', mtime: b256(-1n, 12), uid: b256(-2n, 8) }, 'x'), END]));
  const [m] = s.end().entries;
  assert.equal(m!.uid, 0xfffffffe);
});

test('a header-only entry that declares a size: the build refuses it (TAR_UNSUPPORTED_ENTRY) instead of writing a zTOC SOCI rejects', async () => {
  // Go's reader skips no data for a directory, so the next header sits inside the 1000 bytes it declares.
  const e = await buildFails(concat([header({ name: 'd/', typeflag: '5', size: 1000 }), A, END]), 'TAR_UNSUPPORTED_ENTRY');
  assert.equal(e.entry, 'd/');
  assert.equal(e.offset, 0);
  assert.match(e.message, /"d\/" \(dir\) declares 1000 bytes of data that the next entry "a" overlaps; SOCI's zTOC reader rejects/);
  // The same size on the last entry overlaps nothing: fine, as in SOCI.
  const s = await buildZtoc(once(gzipSync(concat([A, header({ name: 'd/', typeflag: '5', size: 1000 }), END]))), { thread: 'inline', kind: 'auto' });
  assert.equal(s.ztoc.entries[1]!.size, 1000);
});

test('negative or misplaced offsets in a zTOC: ZTOC_INVALID, never a read outside the layer', async () => {
  const tar = concat([entry({ name: 'a' }, randomBytes(70_000, 5)), entry({ name: 'b' }, 'y'.repeat(5000)), END]);
  const gz = gzipSync(tar, { level: 6 });
  const built = await buildZtoc(once(gz), { spanSize: 16384, thread: 'inline', kind: 'gzip' });
  const z = built.ztoc;
  const negEntry = { ...z, entries: z.entries.map((e, i) => (i === 1 ? { ...e, offset: -512 } : e)) };
  assert.throws(() => decodeZtoc(encodeZtoc(negEntry)), (e: unknown) => isZtocError(e, 'ZTOC_INVALID') && /negative size or offset|overlaps/.test(e.message));
  const negSize = { ...z, entries: z.entries.map((e, i) => (i === 0 ? { ...e, size: -1 } : e)) };
  assert.throws(() => decodeZtoc(encodeZtoc(negSize)), (e: unknown) => isZtocError(e, 'ZTOC_INVALID'));
  // A checkpoint with a negative compressed offset decodes (the blob is opaque to the flatbuffer) but is refused by the reader.
  const blob = Buffer.from(z.checkpoints);
  blob.writeBigInt64LE(-100n, 12 + 8 + 8 + 1 + 32768);
  const negCp = decodeZtoc(encodeZtoc({ ...z, checkpoints: blob }));
  const { read, calls } = memReader(gz);
  await assert.rejects(
    (async () => {
      for await (const _ of extractRange(negCp, 0, 75_000, read));
    })(),
    (e: unknown) => isZtocError(e, 'ZTOC_INVALID') && /checkpoint 1/.test(e.message),
  );
  assert.equal(calls(), 0, 'nothing may be read through a zTOC with a broken span table');
});

test('manifest bounds in the parser: over 4 MiB → MANIFEST_TOO_LARGE; over 1000 layers / platforms → MANIFEST_INVALID', () => {
  const d = { mediaType: MediaType.OciLayerGzip, digest: `sha256:${'a'.repeat(64)}`, size: 1 };
  const cfg = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'b'.repeat(64)}`, size: 2 };
  const big = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg, layers: [d], annotations: { pad: 'x'.repeat(MAX_MANIFEST_BYTES) } }));
  assert.throws(() => parseManifestOrIndex(big), (e: unknown) => isZtocError(e, 'MANIFEST_TOO_LARGE') && /limit is 4194304 bytes/.test(e.message));
  const layers = (n: number): Buffer => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg, layers: Array(n).fill(d) }));
  assert.equal(parseManifestOrIndex(layers(MAX_MANIFEST_ENTRIES)).kind, 'manifest');
  assert.throws(() => parseManifestOrIndex(layers(MAX_MANIFEST_ENTRIES + 1)), (e: unknown) => isZtocError(e, 'MANIFEST_INVALID') && /has 1001 layers; at most 1000/.test(e.message));
  const platforms = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: Array(MAX_MANIFEST_ENTRIES + 1).fill({ ...d, mediaType: MediaType.OciManifest, platform: { os: 'linux', architecture: 'amd64' } }) }),
  );
  assert.throws(() => parseManifestOrIndex(platforms), (e: unknown) => isZtocError(e, 'MANIFEST_INVALID') && /has 1001 manifests; at most 1000/.test(e.message));
});

// --- through a real registry and the CLI ---------------------------------------------------------------------------

let reg: RunningRegistry;
let proxy: FaultProxy;
let work: string;
const NAME = 'bounds/app';

type Run = TextResult;

/** The real CLI (the fault proxy runs in this process). */
function ztoc(args: string[]): Promise<Run> {
  return runCliHermetic(args, join(work, 'home'));
}

let manyLayersDigest: string;

before(async () => {
  work = tempDir('ztoc-bounds-');
  mkdirSync(join(work, 'home'), { recursive: true });
  writeFileSync(join(work, 'home', 'config.json'), '{}');
  reg = await startRegistry();
  proxy = await startFaultProxy({ upstream: reg.host });
  const repo = new Repository(reg.host, NAME);
  try {
    const cfg = blobOf(Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'), 'application/vnd.oci.image.config.v1+json');
    const layer = blobOf(gzipSync(concat([A, END])), MediaType.OciLayerGzip);
    await repo.pushBlob(cfg.desc, cfg.bytes);
    await repo.pushBlob(layer.desc, layer.bytes);
    // The registry accepts a manifest that lists the same layer 1001 times; ztoc must not.
    const many = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg.desc, layers: Array(1001).fill(layer.desc) }));
    manyLayersDigest = (await repo.pushManifest('many-layers', many, MediaType.OciManifest)).digest;
    const one = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg.desc, layers: [layer.desc] }));
    const oneDigest = (await repo.pushManifest('one', one, MediaType.OciManifest)).digest;
    const platform = { mediaType: MediaType.OciManifest, digest: oneDigest, size: one.length, platform: { architecture: 'amd64', os: 'linux' } };
    const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: Array(1001).fill(platform) }));
    await repo.pushManifest('many-platforms', idx, MediaType.OciIndex);
  } finally {
    await repo.close();
  }
}, { timeout: 30_000 });

after(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (work) cleanup(work);
});

function assertNoWrites(): void {
  const writes = proxy.requests.filter((r) => ['PUT', 'POST', 'PATCH', 'DELETE'].includes(r.method)).map((r) => `${r.method} ${r.url}`);
  assert.deepEqual(writes, [], 'something was written to the registry');
}

test('ztoc index: an image with 1001 layers → exit 1, MANIFEST_INVALID naming the count, nothing pushed', async () => {
  proxy.requests.length = 0;
  const r = await ztoc(['index', `${proxy.host}/${NAME}:many-layers`]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^ztoc: error: .*has 1001 layers; at most 1000 are accepted.*\[MANIFEST_INVALID\]$/m);
  assertNoWrites();
  const direct = new Repository(reg.host, NAME);
  try {
    assert.equal(await direct.headManifest(`sha256-${manyLayersDigest.slice(7)}`), undefined);
  } finally {
    await direct.close();
  }
});

test('ztoc index: an index with 1001 platforms → exit 1, MANIFEST_INVALID, nothing pushed', async () => {
  proxy.requests.length = 0;
  const r = await ztoc(['index', `${proxy.host}/${NAME}:many-platforms`, '--all-platforms']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^ztoc: error: .*has 1001 manifests; at most 1000 are accepted.*\[MANIFEST_INVALID\]$/m);
  assertNoWrites();
});

test('ztoc index: a registry that serves a manifest over 4 MiB → exit 1, MANIFEST_TOO_LARGE, nothing pushed', async () => {
  proxy.requests.length = 0;
  proxy.clearRules();
  // The registry itself refuses to store one (4 MiB PUT limit), so a hostile registry is played by the proxy.
  const huge = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, pad: 'x'.repeat(MAX_MANIFEST_BYTES + 1) });
  proxy.addRule({ method: 'GET', path: `/v2/${NAME}/manifests/huge`, action: { kind: 'status', status: 200, headers: { 'content-type': MediaType.OciManifest }, body: huge } });
  const r = await ztoc(['index', `${proxy.host}/${NAME}:huge`]);
  proxy.clearRules();
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /larger than 4194304 bytes \(4 MiB\).*\[MANIFEST_TOO_LARGE\]$/m);
  assertNoWrites();
});

test('ztoc build of a layer with an over-long PAX record: exit 1, TAR_LIMIT with the layer and offset, no output file', async () => {
  const layer = join(work, 'pax-bomb.tar.gz');
  writeFileSync(layer, gzipSync(concat([A, pax(paxRecord('comment', 'c'.repeat(2 * MiB))), A, END]), { level: 1 }));
  const out = join(work, 'pax-bomb.ztoc');
  const r = await ztoc(['build', layer, '-o', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the limit is 1048576 bytes \(.*uncompressed offset 1024\) \[TAR_LIMIT\]$/m);
  assert.equal(existsSync(out), false);
});
