// Conformance of the whole pipeline: indexing the golden image (shared/golden/index/manifest.json
// over real layers) with --min-layer-size 1048576 and SOCI's build tool identifier must produce
// exactly AWS's soci-index-v1.json and soci-index-v2.json. The full image needs typescript-5.9.3.tgz
// (4.4 MB, not in the committed subset), so it runs where ../shared is. Everywhere, CI included, the
// same pipeline runs on the golden image without that layer, and must produce AWS's indexes with
// that layer's entry cut out of their bytes (and, for v1, the subject pointing at the smaller manifest).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { LayoutStore } from '../src/image/layout-store.js';
import { indexImage } from '../src/jobs/index-image.js';
import { SOCI_BUILD_TOOL_ID } from '../src/ztoc/model.js';
import { MediaType, type ImageManifest } from '../src/oci/types.js';
import { marshalIndex } from '../src/oci/gojson.js';
import { LOCAL_GOLDEN, SHARED_GOLDEN, goldenLayer, goldenLayerAvailable, hasShared, sha256 } from './helpers/golden.js';
import { tempDir, cleanup } from './helpers/fixtures.js';

const manifestBytes = readFileSync(join(LOCAL_GOLDEN, 'index', 'manifest.json'));
const manifest = JSON.parse(manifestBytes.toString()) as ImageManifest;
const layerFiles: Record<string, string> = {};
for (const line of readFileSync(join(LOCAL_GOLDEN, 'SHA256SUMS'), 'utf8').trim().split('\n')) {
  const [hash, path] = line.split(/\s+/) as [string, string];
  if (path.startsWith('layers/')) layerFiles[`sha256:${hash}`] = path.slice('layers/'.length);
}
const available = manifest.layers.every((l) => {
  const name = layerFiles[l.digest]!;
  return existsSync(join(LOCAL_GOLDEN, 'layers', name)) || existsSync(join(SHARED_GOLDEN, 'layers', name)) || name === 'pax-tree.tar';
});

/** An OCI layout holding the golden manifest (or `manifestBytes`), its config and its layers, byte for byte. */
function goldenLayout(mBytes: Buffer = manifestBytes): string {
  const m = JSON.parse(mBytes.toString()) as ImageManifest;
  const dir = tempDir('ztoc-golden-layout-');
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const put = (digest: string, src: string | Buffer): void => {
    const dst = join(dir, 'blobs', 'sha256', digest.slice(7));
    if (typeof src === 'string') copyFileSync(src, dst);
    else writeFileSync(dst, src);
  };
  put(`sha256:${sha256(mBytes)}`, mBytes);
  put(m.config.digest, readFileSync(join(LOCAL_GOLDEN, 'index', 'config.json')));
  for (const l of m.layers) put(l.digest, goldenLayer(layerFiles[l.digest]!));
  const desc = { mediaType: MediaType.OciManifest, digest: `sha256:${sha256(mBytes)}`, size: mBytes.length, annotations: { 'org.opencontainers.image.ref.name': 'golden' } };
  writeFileSync(join(dir, 'index.json'), marshalIndex({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [desc] }));
  return dir;
}

/** Indexes the layout as v1 and v2 with SOCI's settings; returns both index blobs. */
async function indexV1V2(dir: string): Promise<{ v1: string; v2: string; skipped: string[] }> {
  const store = await LayoutStore.open(dir);
  const opts = { minLayerSize: 1048576, buildToolId: SOCI_BUILD_TOOL_ID, spanSize: 4194304 };
  const r1 = await indexImage(store, 'golden', { ...opts, indexVersion: 'v1' });
  const v1 = readFileSync(join(dir, 'blobs', 'sha256', r1.platforms[0]!.sociIndex!.digest.slice(7)), 'utf8');
  const r2 = await indexImage(store, 'golden', { ...opts, indexVersion: 'v2', tag: 'golden-soci' });
  const v2 = readFileSync(join(dir, 'blobs', 'sha256', r2.platforms[0]!.sociIndex!.digest.slice(7)), 'utf8');
  return { v1, v2, skipped: r1.platforms[0]!.skipped.map((x) => x.reason) };
}

test('golden image → SOCI index v1 and v2 byte for byte', { skip: available ? false : 'golden typescript layer not available (no ../shared)' }, async () => {
  const dir = goldenLayout();
  try {
    const { v1, v2, skipped } = await indexV1V2(dir);
    assert.equal(v1, readFileSync(join(LOCAL_GOLDEN, 'index', 'soci-index-v1.json'), 'utf8'));
    assert.equal(v2, readFileSync(join(LOCAL_GOLDEN, 'index', 'soci-index-v2.json'), 'utf8'));
    // The semver layer is below the minimum and skipped with a reason.
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!, /less than min-layer-size 1048576/);
  } finally {
    cleanup(dir);
  }
});

/** `text` without the one occurrence of `cut` (which must be there exactly once). */
function cutOnce(text: string, cut: string): string {
  const at = text.indexOf(cut);
  assert.ok(at >= 0 && text.indexOf(cut, at + 1) < 0, `${cut.slice(0, 60)}… occurs once`);
  return text.slice(0, at) + text.slice(at + cut.length);
}

// The typescript layer and its zTOC, as literals from shared/golden/SHA256SUMS and soci-index-v1.json.
const TS_LAYER = 'sha256:10e108c9cf7d5f2879053dff18515fb405abf2ccef63eaaf017d9c571687a1d3';
const TS_ZTOC = 'sha256:7488360fb11646a1d34adb3c131c2e77f9dcf7a08c3f79e28d02a3e71eebe503';

test('committed golden subset → AWS SOCI index v1 and v2 without the typescript entry, byte for byte (runs without ../shared)', async () => {
  const m = cutOnce(manifestBytes.toString(), `,{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"${TS_LAYER}","size":4377468}`);
  const tsEntry =
    `{"mediaType":"application/octet-stream","digest":"${TS_ZTOC}","size":220048,"annotations":{"com.amazon.soci.image-layer-digest":"${TS_LAYER}",` +
    `"com.amazon.soci.image-layer-mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","com.amazon.soci.span-size":"4194304"}},`;
  const subject = (bytes: string): string => `"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:${sha256(Buffer.from(bytes))}","size":${bytes.length}}`;
  const awsV1 = readFileSync(join(LOCAL_GOLDEN, 'index', 'soci-index-v1.json'), 'utf8');
  const wantV1 = cutOnce(awsV1, tsEntry).replace(subject(manifestBytes.toString()), subject(m));
  assert.notEqual(wantV1, cutOnce(awsV1, tsEntry), 'the subject was replaced');
  const wantV2 = cutOnce(readFileSync(join(LOCAL_GOLDEN, 'index', 'soci-index-v2.json'), 'utf8'), tsEntry);
  const dir = goldenLayout(Buffer.from(m));
  try {
    const { v1, v2, skipped } = await indexV1V2(dir);
    assert.equal(v1, wantV1);
    assert.equal(v2, wantV2);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!, /less than min-layer-size 1048576/);
  } finally {
    cleanup(dir);
  }
});

test('only the typescript layer is missing without ../shared, none with it', () => {
  const missing = manifest.layers.map((l) => layerFiles[l.digest]!).filter((name) => !goldenLayerAvailable(name));
  assert.deepEqual(missing, hasShared ? [] : ['typescript-5.9.3.tgz']);
  assert.equal(available, hasShared);
});
