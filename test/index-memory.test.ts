// Fast tests of indexImage's orchestration over an in-memory ImageStore that records every push (helpers/memory-store):
// push order (zTOC blobs, then the empty config, then each SOCI index manifest last; v2: the indexes, the rewritten
// image manifests, the tagged image index last), that any failure before the manifests pushes nothing (v1, v2 and a
// multi-platform run), that a layer shared by platforms or repositories is read once, and the skip codes. The layers
// are the committed golden ones, so every zTOC pushed is compared with the bytes AWS's SOCI code made. The
// real-registry tests (index-registry, index-faults, backfill-registry) stay as the end-to-end layer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isZtocError, ZtocError } from '../src/errors.js';
import { ZtocStore } from '../src/jobs/backfill-cache.js';
import { recordError } from '../src/jobs/backfill-image.js';
import { describeSkips, newRecord } from '../src/jobs/backfill-report.js';
import { indexImage, type IndexOptions } from '../src/jobs/index-image.js';
import { BuildPlacer } from '../src/jobs/index-layers.js';
import { MediaType, type Descriptor } from '../src/oci/types.js';
import { EMPTY_CONFIG_DIGEST, parseSociIndex } from '../src/soci/index.js';
import { marshalManifest } from '../src/oci/gojson.js';
import { buildZtoc } from '../src/ztoc/build.js';
import { decodeZtoc } from '../src/ztoc/decode.js';
import { SOCI_BUILD_TOOL_ID } from '../src/ztoc/model.js';
import { LOCAL_GOLDEN } from './helpers/golden.js';
import { MemoryStore, type MemoryRegistry, type PushRecord } from './helpers/memory-store.js';

const SPAN = 65536;
const SEMVER = readFileSync(join(LOCAL_GOLDEN, 'layers', 'semver-7.6.3.tgz'));
const PAX = readFileSync(join(LOCAL_GOLDEN, 'layers', 'pax-records.tar.gz'));
const GOLDEN_ZTOC = new Map<Buffer, Buffer>([
  [SEMVER, readFileSync(join(LOCAL_GOLDEN, 'ztoc', `semver-7.6.3.tgz.span${SPAN}.ztoc`))],
  [PAX, readFileSync(join(LOCAL_GOLDEN, 'ztoc', `pax-records.tar.gz.span${SPAN}.ztoc`))],
]);
/** Below the minimum layer size: skipped without being read. */
const TINY = Buffer.from('not even gzip: never read');
const OPTS: IndexOptions = { spanSize: SPAN, minLayerSize: 1000, buildToolId: SOCI_BUILD_TOOL_ID };

const ops = (s: MemoryStore): string[] => s.pushes.map((p) => (p.op === 'blob' ? (p.digest === EMPTY_CONFIG_DIGEST ? 'config' : 'blob') : p.op));
/** The pushes as [the blobs and the empty config, sorted (they go side by side), then everything after them, in order]. */
function phases(s: MemoryStore): [string[], string[]] {
  const o = ops(s);
  const n = o.findIndex((x) => x !== 'blob' && x !== 'config');
  const cut = n < 0 ? o.length : n;
  return [o.slice(0, cut).sort(), o.slice(cut)];
}
const blobs = (s: MemoryStore): Array<PushRecord & { op: 'blob' }> => s.pushes.filter((p): p is PushRecord & { op: 'blob' } => p.op === 'blob' && p.digest !== EMPTY_CONFIG_DIGEST);

/** The zTOC blobs pushed equal AWS's zTOCs of these layers, and the counts reported match the zTOCs. */
function assertGoldenZtocs(store: MemoryStore, layers: Buffer[], records: Array<{ ztoc: Descriptor; spans: number; files: number }>): void {
  const want = layers.map((l) => GOLDEN_ZTOC.get(l)!);
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  assert.deepEqual(blobs(store).map((b) => hex(store.blob(b.digest))).sort(), want.map(hex).sort());
  for (const r of records) {
    const z = decodeZtoc(store.blob(r.ztoc.digest));
    assert.equal(r.spans, z.maxSpanId + 1);
    assert.equal(r.files, z.entries.length);
  }
}

/** How a failed run must leave the store: no push at all. */
async function assertFailsPushingNothing(store: MemoryStore, run: Promise<unknown>, layer: string): Promise<void> {
  await assert.rejects(run, (e: unknown) => e instanceof ZtocError && e.layer === layer && ['DIGEST_MISMATCH', 'GZIP_BAD_CRC', 'GZIP_CORRUPT', 'GZIP_BAD_ISIZE'].includes(e.code));
  assert.deepEqual(store.pushes, []);
}

/** A copy of `b` with one byte flipped in the middle: same size, wrong digest. */
function damaged(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c[c.length >> 1]! ^= 0xff;
  return c;
}

test('v1: zTOC blobs and the empty config first, the SOCI index last; the zTOCs are AWS\'s bytes', async () => {
  const store = new MemoryStore();
  const img = store.addImage([{ bytes: SEMVER }, { bytes: TINY }, { bytes: PAX }], { tag: 'v1' });
  const r = await indexImage(store, 'v1', OPTS);

  assert.deepEqual(phases(store), [['blob', 'blob', 'config'], ['referrer']]);
  const p = r.platforms[0]!;
  assert.equal(p.status, 'indexed');
  assert.equal(p.mechanism, 'api');
  assertGoldenZtocs(store, [SEMVER, PAX], p.ztocs);
  assert.equal(p.bytesRead, SEMVER.length + PAX.length);
  assert.deepEqual(p.skipped.map((s) => [s.layer, s.code]), [[img.layers[1]!.digest, 'LAYER_BELOW_MIN_SIZE']]);
  // Each layer with a zTOC read once, the largest first; the small one not at all.
  assert.ok(PAX.length > SEMVER.length);
  assert.deepEqual(store.reads, [img.layers[2]!.digest, img.layers[0]!.digest]);

  const ref = store.pushes[3]!;
  assert.ok(ref.op === 'referrer' && ref.subject === img.descriptor.digest && ref.artifactType === MediaType.SociIndexV1);
  assert.equal(ref.digest, p.sociIndex!.digest);
  const info = parseSociIndex(store.blob(ref.digest));
  assert.deepEqual([...info.ztocByLayer].map(([layer, z]) => [layer, z.digest]), p.ztocs.map((z) => [z.layer, z.ztoc.digest]));
  assert.deepEqual(info.subject?.digest, img.descriptor.digest);
});

test('builds side by side: a build beside one at least as large runs in the background; the largest keeps the normal priority', () => {
  const two = new BuildPlacer(2);
  const big = two.start(300);
  assert.equal(big.placement.priority, 'normal', 'the first (largest-first order) runs alone');
  const small = two.start(10);
  assert.equal(small.placement.priority, 'background');
  const same = two.start(300);
  assert.equal(same.placement.priority, 'background', 'as large as a running build');
  big.done();
  same.done();
  const tiny = two.start(5);
  assert.equal(tiny.placement.priority, 'background', 'the running 10 is larger');
  small.done();
  tiny.done();
  assert.equal(two.start(5).placement.priority, 'normal', 'nothing else runs: alone');
  // The largest layer came from the cache: the largest that is built starts with nothing larger running.
  const next = new BuildPlacer(2);
  assert.equal(next.start(200).placement.priority, 'normal');
  assert.equal(next.start(400).placement.priority, 'normal', 'a larger build than any running is the critical path');
  const one = new BuildPlacer(1);
  const a = one.start(10);
  assert.equal(a.placement.priority, 'normal');
  assert.equal(one.start(300).placement.priority, 'normal', 'one build at a time: each is alone');
});

test('the largest layer reused from the cache: the largest that is built runs at the normal priority, the others beside it', async () => {
  const third = gzipSync(gunzipSync(PAX), { level: 1 });
  assert.ok(third.length > PAX.length && PAX.length > SEMVER.length);
  const store = new MemoryStore();
  store.addImage([{ bytes: third }], { tag: 'first' });
  const img = store.addImage([{ bytes: SEMVER }, { bytes: PAX }, { bytes: third }], { tag: 'second' });
  const cache = new ZtocStore();
  await indexImage(store, 'first', { ...OPTS, ztocCache: cache.forRepository('repo'), dryRun: true });
  const starts: { layer: string; priority: string }[] = [];
  const reused: string[] = [];
  await indexImage(store, 'second', {
    ...OPTS,
    ztocCache: cache.forRepository('repo'),
    dryRun: true,
    concurrency: 2,
    onEvent: (e) => {
      if (e.type === 'layer-start') starts.push({ layer: e.layer, priority: e.priority });
      if (e.type === 'layer-reused') reused.push(e.layer);
    },
  });
  assert.deepEqual(reused, [img.layers[2]!.digest]);
  assert.deepEqual(starts, [
    { layer: img.layers[1]!.digest, priority: 'normal' },
    { layer: img.layers[0]!.digest, priority: 'background' },
  ]);
});

test('three layers built at once (two in the background beside the largest): the zTOCs are the same bytes', async () => {
  // A third gzip layer: the PAX layer's tar at another level; its oracle is a lone build.
  const third = gzipSync(gunzipSync(PAX), { level: 1 });
  const oracle = Buffer.from((await buildZtoc((async function* () { yield third; })(), { spanSize: SPAN, buildToolId: SOCI_BUILD_TOOL_ID })).bytes);
  const store = new MemoryStore();
  store.addImage([{ bytes: SEMVER }, { bytes: PAX }, { bytes: third }], { tag: 'three' });
  const r = await indexImage(store, 'three', { ...OPTS, concurrency: 3 });
  const p = r.platforms[0]!;
  assert.equal(p.status, 'indexed');
  const got = p.ztocs.map((z) => Buffer.from(store.blob(z.ztoc.digest)).toString('hex'));
  assert.deepEqual(got, [GOLDEN_ZTOC.get(SEMVER)!, GOLDEN_ZTOC.get(PAX)!, oracle].map((b) => b.toString('hex')));
});

test('v1: a referrer that fails to load for a network error fails the run; a garbled one is skipped', async () => {
  const store = new MemoryStore();
  store.addImage([{ bytes: SEMVER }], { tag: 'v1' });
  const first = await indexImage(store, 'v1', OPTS);
  const index = first.platforms[0]!.sociIndex!.digest;
  const fetch = store.fetchDocument.bind(store);
  store.fetchDocument = async (d) => {
    if (d.digest === index) throw new ZtocError('REGISTRY_NETWORK', 'injected: connection reset reading the referrer');
    return fetch(d);
  };
  const pushed = store.pushes.length;
  // Not knowing whether the image is indexed is an error, not a "no": a second index must not be pushed.
  await assert.rejects(indexImage(store, 'v1', OPTS), (e: unknown) => isZtocError(e) && e.code === 'REGISTRY_NETWORK');
  assert.equal(store.pushes.length, pushed);
  // A referrer that is no SOCI index at all is not ours: skipped, and the image is indexed.
  store.fetchDocument = async (d) => {
    if (d.digest === index) throw new ZtocError('MANIFEST_INVALID', 'injected: not a SOCI index');
    return fetch(d);
  };
  const again = await indexImage(store, 'v1', OPTS);
  assert.equal(again.platforms[0]!.status, 'indexed');
});

test('v1 again: already indexed, nothing pushed or read; a dry run pushes nothing', async () => {
  const store = new MemoryStore();
  store.addImage([{ bytes: SEMVER }], { tag: 'v1' });
  const dry = await indexImage(store, 'v1', { ...OPTS, dryRun: true });
  assert.equal(dry.platforms[0]!.status, 'dry-run');
  assert.ok(dry.platforms[0]!.sociIndex !== undefined);
  assert.deepEqual(store.pushes, []);

  const first = await indexImage(store, 'v1', OPTS);
  assert.equal(first.platforms[0]!.sociIndex!.digest, dry.platforms[0]!.sociIndex!.digest, 'the dry run names the index it would push');
  const pushed = store.pushes.length;
  const read = store.reads.length;
  const again = await indexImage(store, 'v1', OPTS);
  assert.equal(again.platforms[0]!.status, 'exists');
  assert.equal(again.platforms[0]!.sociIndex!.digest, first.platforms[0]!.sociIndex!.digest);
  assert.equal(store.pushes.length, pushed);
  assert.equal(store.reads.length, read);
});

test('v2: zTOCs, config, the SOCI index, the rewritten image manifest, and the tagged image index last', async () => {
  const store = new MemoryStore();
  store.addImage([{ bytes: PAX }, { bytes: SEMVER }], { tag: 'v1' });
  const r = await indexImage(store, 'v1', { ...OPTS, indexVersion: 'v2', tag: 'v1-soci' });

  assert.deepEqual(phases(store), [['blob', 'blob', 'config'], ['manifest', 'manifest', 'manifest']]);
  assertGoldenZtocs(store, [PAX, SEMVER], r.platforms[0]!.ztocs);
  const [sociIndex, imageManifest, imageIndex] = store.pushes.slice(3) as Array<PushRecord & { op: 'manifest' }>;
  assert.equal(sociIndex!.digest, r.platforms[0]!.sociIndex!.digest);
  assert.equal(sociIndex!.tag, undefined);
  assert.equal(imageManifest!.tag, undefined);
  assert.deepEqual([imageIndex!.tag, imageIndex!.mediaType, imageIndex!.digest], ['v1-soci', MediaType.OciIndex, r.v2Index!.descriptor.digest]);
  assert.equal(store.tagged('v1-soci'), r.v2Index!.descriptor.digest);
  // The rewritten manifest points at its SOCI index; the index lists it.
  const m = JSON.parse(store.blob(imageManifest!.digest).toString()) as { annotations?: Record<string, string> };
  assert.equal(m.annotations?.['com.amazon.soci.index-digest'], sociIndex!.digest);
  const idx = JSON.parse(store.blob(imageIndex!.digest).toString()) as { manifests: Descriptor[] };
  assert.ok(idx.manifests.some((d) => d.digest === imageManifest!.digest));
  assert.ok(idx.manifests.some((d) => d.digest === sociIndex!.digest));
});

test('multi-platform: a shared layer is read and pushed once, and both indexes come after every blob', async () => {
  const store = new MemoryStore();
  const amd = store.addImage([{ bytes: PAX }, { bytes: SEMVER }], { platform: { architecture: 'amd64', os: 'linux' } });
  const arm = store.addImage([{ bytes: PAX }, { bytes: TINY }], { platform: { architecture: 'arm64', os: 'linux' } });
  store.addIndex([{ descriptor: amd.descriptor, platform: { architecture: 'amd64', os: 'linux' } }, { descriptor: arm.descriptor, platform: { architecture: 'arm64', os: 'linux' } }], 'multi');
  const r = await indexImage(store, 'multi', OPTS);

  assert.deepEqual(r.platforms.map((p) => [p.platform, p.status, p.ztocs.length]), [['linux/amd64', 'indexed', 2], ['linux/arm64', 'indexed', 1]]);
  assert.deepEqual([...store.reads].sort(), [amd.layers[0]!.digest, amd.layers[1]!.digest].sort());
  assert.deepEqual(phases(store), [['blob', 'blob', 'config'], ['referrer', 'referrer']]);
  assertGoldenZtocs(store, [PAX, SEMVER], r.platforms.flatMap((p) => p.ztocs));
  const subjects = store.pushes.flatMap((p) => (p.op === 'referrer' ? [p.subject] : []));
  assert.deepEqual(subjects, [amd.descriptor.digest, arm.descriptor.digest]);
  // Both platforms index the shared layer with the same zTOC.
  assert.equal(r.platforms[0]!.ztocs[0]!.ztoc.digest, r.platforms[1]!.ztocs[0]!.ztoc.digest);
});

test('a layer that fails its checks fails the image and pushes nothing (v1)', async () => {
  const store = new MemoryStore();
  const img = store.addImage([{ bytes: PAX }, { bytes: SEMVER }], { tag: 'v1' });
  store.addCorruptBlob(img.layers[1]!, damaged(SEMVER));
  await assertFailsPushingNothing(store, indexImage(store, 'v1', OPTS), img.layers[1]!.digest);
});

test('a layer that fails its checks fails the image and pushes nothing (v2)', async () => {
  const store = new MemoryStore();
  const img = store.addImage([{ bytes: PAX }, { bytes: SEMVER }], { tag: 'v1' });
  store.addCorruptBlob(img.layers[0]!, damaged(PAX));
  await assertFailsPushingNothing(store, indexImage(store, 'v1', { ...OPTS, indexVersion: 'v2', tag: 'v1-soci' }), img.layers[0]!.digest);
  assert.equal(store.tagged('v1-soci'), undefined);
});

test('multi-platform: one platform\'s bad layer pushes nothing for any platform, though the good one was built', async () => {
  const store = new MemoryStore();
  const amd = store.addImage([{ bytes: PAX }], { platform: { architecture: 'amd64', os: 'linux' } });
  const arm = store.addImage([{ bytes: SEMVER }], { platform: { architecture: 'arm64', os: 'linux' } });
  store.addCorruptBlob(arm.layers[0]!, damaged(SEMVER));
  store.addIndex([{ descriptor: amd.descriptor, platform: { architecture: 'amd64', os: 'linux' } }, { descriptor: arm.descriptor, platform: { architecture: 'arm64', os: 'linux' } }], 'multi');
  await assertFailsPushingNothing(store, indexImage(store, 'multi', OPTS), arm.layers[0]!.digest);
  assert.ok(store.reads.includes(amd.layers[0]!.digest), 'every layer checks out before anything is pushed');
});

test('a failed blob push stops before every manifest, and nothing is pushed after the error', async () => {
  const store = new MemoryStore();
  store.addImage([{ bytes: PAX }, { bytes: SEMVER }], { tag: 'v1' });
  store.failPush((p) => p.op === 'blob');
  await assert.rejects(indexImage(store, 'v1', OPTS), (e: unknown) => isZtocError(e, 'REGISTRY_ERROR'));
  const after = store.pushes.length;
  assert.ok(after <= 2, 'at most the other zTOC blob and the empty config');
  assert.ok(store.pushes.every((p) => p.op === 'blob'), JSON.stringify(ops(store)));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(store.pushes.length, after, 'the pushes beside the failed one had ended before the error');
});

test('multi-platform v1: the indexes go side by side; one that fails lets the other finish, and the run fails after both', async () => {
  const store = new MemoryStore();
  const amd = store.addImage([{ bytes: PAX }], { platform: { architecture: 'amd64', os: 'linux' } });
  const arm = store.addImage([{ bytes: SEMVER }], { platform: { architecture: 'arm64', os: 'linux' } });
  store.addIndex([{ descriptor: amd.descriptor, platform: { architecture: 'amd64', os: 'linux' } }, { descriptor: arm.descriptor, platform: { architecture: 'arm64', os: 'linux' } }], 'multi');
  store.failPush((p) => p.op === 'referrer');
  await assert.rejects(indexImage(store, 'multi', OPTS), (e: unknown) => isZtocError(e, 'REGISTRY_ERROR'));
  const after = store.pushes.length;
  assert.deepEqual(phases(store), [['blob', 'blob', 'config'], ['referrer']], 'the other platform\'s index is in');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(store.pushes.length, after);
});

test('layers SOCI cannot index are skipped with a code, without being read; no index is pushed', async () => {
  const store = new MemoryStore();
  const img = store.addImage(
    [
      { bytes: SEMVER, mediaType: MediaType.OciLayerZstd },
      { bytes: SEMVER, mediaType: MediaType.SociPrefetch },
      { bytes: SEMVER, mediaType: 'application/x-not-a-layer' },
      { bytes: TINY },
    ],
    { tag: 'v1' },
  );
  const r = await indexImage(store, 'v1', OPTS);
  const p = r.platforms[0]!;
  assert.equal(p.status, 'no-ztocs');
  assert.equal(p.sociIndex, undefined);
  assert.deepEqual(p.skipped.map((s) => s.code), ['LAYER_ZSTD', 'LAYER_PREFETCH_ARTIFACT', 'LAYER_MEDIA_TYPE', 'LAYER_BELOW_MIN_SIZE']);
  assert.deepEqual(p.skipped.map((s) => s.layer), img.layers.map((l) => l.digest));
  assert.deepEqual(store.pushes, []);
  assert.deepEqual(store.reads, []);
});

test('a zTOC cache shared by two repositories: the second reads nothing and mounts the zTOC from the first', async () => {
  const registry: MemoryRegistry = new Map();
  const a = new MemoryStore('a', registry);
  const b = new MemoryStore('b', registry);
  a.addImage([{ bytes: SEMVER }], { tag: 'v1' });
  const img = b.addImage([{ bytes: SEMVER }], { tag: 'v1', platform: { architecture: 'arm64', os: 'linux' } });
  const cache = new ZtocStore();
  const ra = await indexImage(a, 'v1', { ...OPTS, ztocCache: cache.forRepository('a') });
  const rb = await indexImage(b, 'v1', { ...OPTS, ztocCache: cache.forRepository('b') });

  assert.deepEqual(b.reads, [], 'the layer was not read again');
  const za = ra.platforms[0]!.ztocs[0]!;
  const zb = rb.platforms[0]!.ztocs[0]!;
  assert.equal(zb.reused, true);
  assert.deepEqual([zb.ztoc, zb.spans, zb.files], [za.ztoc, za.spans, za.files]);
  assert.equal(rb.platforms[0]!.bytesRead, 0);
  assert.deepEqual(phases(b), [['blob', 'config'], ['referrer']]);
  assert.deepEqual(blobs(b)[0], { op: 'blob', digest: za.ztoc.digest, mediaType: MediaType.OctetStream, result: 'mounted', from: 'a' });
  assert.ok(b.pushes[2]!.op === 'referrer' && b.pushes[2]!.subject === img.descriptor.digest);
  assertGoldenZtocs(b, [SEMVER], rb.platforms[0]!.ztocs);
});

test('bad options and a broken image config fail with a code before anything is read or pushed', async () => {
  const store = new MemoryStore();
  store.addImage([{ bytes: SEMVER }], { tag: 'v1' });
  for (const concurrency of [Number.NaN, 0, 1.5]) {
    await assert.rejects(indexImage(store, 'v1', { ...OPTS, concurrency }), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT') && /concurrency must be a positive integer/.test((e as Error).message));
  }
  await assert.rejects(indexImage(store, 'v1', { ...OPTS, indexVersion: 'v2' }), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT') && !(e as Error).message.includes('--'));
  for (const [bytes, what] of [['{"architecture":', 'not valid JSON'], ['null', 'not a JSON object']] as const) {
    const config = store.addBlob(Buffer.from(bytes), MediaType.OciConfig);
    const layer = store.addBlob(SEMVER, MediaType.OciLayerGzip);
    store.addDocument(marshalManifest({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }), MediaType.OciManifest, 'bad');
    await assert.rejects(indexImage(store, 'bad', OPTS), (e: unknown) => isZtocError(e, 'MANIFEST_INVALID') && (e as Error).message.includes(`image config ${config.digest} is ${what}`));
  }
  assert.deepEqual(store.reads, []);
  assert.deepEqual(store.pushes, []);
});

test('backfill: outcomes come from error codes, not message text', () => {
  const rec = (err: unknown): ReturnType<typeof newRecord> => {
    const r = newRecord('reg.example', { repo: 'app', digest: 'sha256:00', tags: ['1'] }, 'failed', 'failed');
    recordError(r, err);
    return r;
  };
  assert.deepEqual(pick(rec(new ZtocError('NOT_AN_IMAGE', 'app:1 is application/x-foo'))), ['skipped', 'not-an-image', undefined]);
  assert.deepEqual(pick(rec(new ZtocError('PLATFORM_NOT_FOUND', 'no manifest for linux/s390x'))), ['skipped', 'no-platform', undefined]);
  // The old message text alone no longer makes an image "not an image".
  assert.deepEqual(pick(rec(new ZtocError('MANIFEST_INVALID', 'x is not an image manifest or index'))), ['failed', 'failed', 'MANIFEST_INVALID']);
  assert.deepEqual(pick(rec(new Error('socket hang up'))), ['failed', 'failed', undefined]);
});

test('backfill: skipped layers are worded by code; the caller words the minimum size (the CLI names its flag)', () => {
  const skipped = [
    { code: 'LAYER_BELOW_MIN_SIZE' as const, reason: 'layer size 10 is less than min-layer-size 1000' },
    { code: 'LAYER_BELOW_MIN_SIZE' as const, reason: 'layer size 20 is less than min-layer-size 1000' },
    { code: 'LAYER_ZSTD' as const, reason: 'zstd layers are not supported by SOCI' },
  ];
  assert.equal(describeSkips(skipped), 'no layer needs a zTOC: 2 layers smaller than the minimum layer size; 1 layer zstd layers are not supported by SOCI');
  assert.equal(describeSkips(skipped, { LAYER_BELOW_MIN_SIZE: 'smaller than --min-layer-size' }), 'no layer needs a zTOC: 2 layers smaller than --min-layer-size; 1 layer zstd layers are not supported by SOCI');
  assert.equal(describeSkips([]), 'the image has no layers');
});

function pick(r: { status: string; outcome: string; code?: string }): [string, string, string | undefined] {
  return [r.status, r.outcome, r.code];
}
