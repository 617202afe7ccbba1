// `ztoc rm` on an OCI layout (index.json edited, every other entry kept), the choice of what `--index`/`--all` and
// `--prune` remove (pure), and a v2 index that rm reports instead of breaking the SOCI-enabled image.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isZtocError } from '../src/errors.js';
import { LayoutStore } from '../src/image/layout-store.js';
import { indexImage } from '../src/jobs/index-image.js';
import { findSociIndexes, type FoundSociIndex } from '../src/jobs/inspect.js';
import { platformManifests, type PlatformManifest } from '../src/jobs/platforms.js';
import { removeSociIndexes, selectRemovals, staleIndexes } from '../src/jobs/remove.js';
import { OciLayout } from '../src/layout/index.js';
import { marshalManifest } from '../src/oci/gojson.js';
import { buildSociIndex, parseSociIndex } from '../src/soci/index.js';
import { MediaType, type Descriptor, type ImageIndex } from '../src/oci/types.js';
import { runCli } from './helpers/cli.js';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { makeSmallLayers, writeLayoutImage } from './helpers/images.js';

const work = tempDir('ztoc-rm-layout-');
after(() => cleanup(work));

const D = (c: string): string => `sha256:${c.repeat(64)}`;

function sociInfo(opts: { span?: number; tool?: string; layers?: string[]; xattr?: boolean; prefetch?: boolean }): FoundSociIndex {
  const layers = opts.layers ?? [D('1'), D('2')];
  const built = buildSociIndex({
    version: 'v1',
    buildToolId: opts.tool ?? 'ztoc',
    subject: { mediaType: MediaType.OciManifest, digest: D('9'), size: 100 },
    ztocs: layers.map((l, i) => ({
      layer: { mediaType: MediaType.OciLayerGzip, digest: l, size: 1000 },
      ztoc: { mediaType: MediaType.OctetStream, digest: D(String.fromCharCode(97 + i)), size: 10 },
      spanSize: opts.span ?? 4194304,
      ...(opts.xattr ? { disableXattrs: true } : {}),
    })),
    ...(opts.prefetch ? { prefetches: [{ mediaType: MediaType.SociPrefetch, digest: D('f'), size: 60, annotations: { 'com.amazon.soci.image-layer-digest': layers[0]! } }] } : {}),
  });
  return { descriptor: built.descriptor, info: parseSociIndex(built.bytes), via: 'referrer' };
}

test('--prune removes only indexes whose settings differ from the run\'s index', () => {
  const current = sociInfo({});
  const same = sociInfo({}); // identical bytes: it is the run's own index
  const span = sociInfo({ span: 65536 });
  const tool = sociInfo({ tool: 'AWS SOCI CLI v0.2' });
  const minSize = sociInfo({ layers: [D('2')] });
  const xattr = sociInfo({ xattr: true });
  const prefetch = sociInfo({ prefetch: true });
  const v2: FoundSociIndex = { ...sociInfo({ span: 65536 }), via: 'annotation' };
  const stale = staleIndexes(current.info, [same, span, tool, minSize, xattr, prefetch, v2]);
  assert.deepEqual(stale.map((s) => s.descriptor.digest), [span, tool, minSize, xattr, prefetch].map((s) => s.descriptor.digest));
});

test('--index and --all choose among the indexes found; neither is a usage error that lists them', () => {
  const a = sociInfo({});
  const b = sociInfo({ span: 65536 });
  const pm: PlatformManifest = { descriptor: { mediaType: MediaType.OciManifest, digest: D('9'), size: 100 }, manifest: { schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: D('8'), size: 2 }, layers: [] }, platform: { architecture: 'arm64', os: 'linux' } };
  const [ca, cb] = [a, b].map((f) => ({ descriptor: f.descriptor, version: f.info.version, via: f.via }));
  const found = [{ pm, found: [ca!, cb!] }];
  assert.throws(() => selectRemovals(found, {}), (e) => isZtocError(e, 'INVALID_ARGUMENT') && e.message.includes(a.descriptor.digest) && e.message.includes('linux/arm64'));
  assert.deepEqual(selectRemovals(found, { all: true }).choices[0]!.remove, [ca, cb]);
  const one = selectRemovals(found, { indexes: [b.descriptor.digest, D('7')] });
  assert.deepEqual(one.choices[0]!.remove, [cb]);
  assert.deepEqual(one.notFound, [D('7')]);
});

test('rm on a layout edits index.json: other referrers and tags stay, a second rm is a no-op', async () => {
  const dir = join(work, 'layout');
  await writeLayoutImage(dir, makeSmallLayers(work, 'rm'), 'v1');
  const store = await LayoutStore.open(dir);
  const a = (await indexImage(store, 'v1', { minLayerSize: 0, spanSize: 65536 })).platforms[0]!.sociIndex!;
  const b = (await indexImage(store, 'v1', { minLayerSize: 0, spanSize: 131072, force: true })).platforms[0]!.sociIndex!;
  // An unrelated referrer (an SBOM) of the same image.
  const layout = await OciLayout.open(dir);
  const image = await store.resolve('v1');
  const sbomConfig = await layout.writeBlob(Buffer.from('{}'));
  const sbomBytes = marshalManifest({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: 'application/vnd.example.sbom', digest: sbomConfig, size: 2 },
    layers: [],
    subject: { mediaType: image.descriptor.mediaType, digest: image.descriptor.digest, size: image.bytes.length },
  });
  const sbom = await layout.addReferrer({ mediaType: MediaType.OciManifest, digest: await layout.writeBlob(sbomBytes), size: sbomBytes.length });
  const indexJson = (): ImageIndex => JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as ImageIndex;
  const before = indexJson().manifests;
  assert.ok([a, b, sbom].every((d) => before.some((m: Descriptor) => m.digest === d.digest)));

  const r1 = await removeSociIndexes(store, 'v1', { indexes: [a.digest] });
  assert.deepEqual(r1.indexes.map((x) => [x.index, x.outcome, x.mechanism]), [[a.digest, 'removed', 'layout']]);
  assert.deepEqual(indexJson().manifests, before.filter((m) => m.digest !== a.digest), 'index.json keeps everything else, in order');
  assert.deepEqual((await store.referrers(image.descriptor.digest)).map((d) => d.digest).sort(), [b.digest, sbom.digest].sort());
  const r2 = await removeSociIndexes(store, 'v1', { indexes: [a.digest] });
  assert.deepEqual(r2.indexes, []);
  assert.deepEqual(r2.notFound, [a.digest]);

  // Through the CLI: --dry-run changes nothing, --all takes the other SOCI index and leaves the SBOM.
  const dry = runCli(['rm', `oci:${dir}:v1`, '--all', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout.toString(), new RegExp(`would remove ${b.digest}`));
  assert.ok(indexJson().manifests.some((m) => m.digest === b.digest));
  const all = runCli(['rm', `oci:${dir}:v1`, '--all']);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout.toString(), new RegExp(`removed ${b.digest} .*layout index\\.json.*blobs stay`));
  assert.deepEqual((await store.referrers(image.descriptor.digest)).map((d) => d.digest), [sbom.digest]);
  assert.equal(runCli(['rm', `oci:${dir}:v1`, '--all']).code, 0);
  assert.equal((await store.resolve('v1')).descriptor.digest, image.descriptor.digest);

  // A broken SOCI index (a zTOC descriptor without its layer annotation) breaks list, yet rm removes it by digest.
  const brokenBytes = marshalManifest({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.SociIndexV1, digest: sbomConfig, size: 2 },
    layers: [{ mediaType: MediaType.OctetStream, digest: sbomConfig, size: 2 }],
    subject: { mediaType: image.descriptor.mediaType, digest: image.descriptor.digest, size: image.bytes.length },
  });
  const broken = await layout.addReferrer({ mediaType: MediaType.OciManifest, digest: await layout.writeBlob(brokenBytes), size: brokenBytes.length });
  assert.notEqual(runCli(['list', `oci:${dir}:v1`]).code, 0);
  const rmBroken = runCli(['rm', `oci:${dir}:v1`, '--index', broken.digest]);
  assert.equal(rmBroken.code, 0, rmBroken.stderr);
  assert.deepEqual((await store.referrers(image.descriptor.digest)).map((d) => d.digest), [sbom.digest]);
  await store.close();
});

test('a v2 index is reported, not removed: it belongs to the SOCI-enabled image', async () => {
  const dir = join(work, 'layout-v2');
  await writeLayoutImage(dir, makeSmallLayers(work, 'v2'), 'v1');
  const store = await LayoutStore.open(dir);
  const r = await indexImage(store, 'v1', { minLayerSize: 0, spanSize: 65536, indexVersion: 'v2', tag: 'v1-soci' });
  const before = readFileSync(join(dir, 'index.json'));
  const res = await removeSociIndexes(store, 'v1-soci', { all: true });
  assert.deepEqual(res.indexes.map((x) => [x.index, x.outcome]), [[r.platforms[0]!.sociIndex!.digest, 'kept-v2']]);
  assert.match(res.indexes[0]!.note!, /com\.amazon\.soci\.index-digest/);
  assert.ok(readFileSync(join(dir, 'index.json')).equals(before));
  const [pm] = await platformManifests(store, await store.resolve('v1-soci'));
  assert.equal((await findSociIndexes(store, pm!)).length, 1);
  await store.close();
});
