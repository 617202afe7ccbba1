// Conformance of the whole pipeline: indexing the golden image (shared/golden/index/manifest.json
// over real layers) with --min-layer-size 1048576 and SOCI's build tool identifier must produce
// exactly AWS's soci-index-v1.json and soci-index-v2.json. Runs where the golden layers are
// available: the committed subset lacks typescript-5.9.3.tgz, so without ../shared it checks the
// zTOCs it can and the index bytes are covered by test/soci-index.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { LayoutStore } from '../src/image/layout-store.js';
import { indexImage } from '../src/jobs/index-image.js';
import { SOCI_BUILD_TOOL_ID } from '../src/ztoc/model.js';
import { MediaType, type ImageManifest } from '../src/oci/types.js';
import { marshalIndex } from '../src/oci/gojson.js';
import { LOCAL_GOLDEN, SHARED_GOLDEN, goldenLayer, hasShared, sha256 } from './helpers/golden.js';
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

/** An OCI layout holding the golden manifest, its config and its layers, byte for byte. */
function goldenLayout(): string {
  const dir = tempDir('ztoc-golden-layout-');
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const put = (digest: string, src: string | Buffer): void => {
    const dst = join(dir, 'blobs', 'sha256', digest.slice(7));
    if (typeof src === 'string') copyFileSync(src, dst);
    else writeFileSync(dst, src);
  };
  put(`sha256:${sha256(manifestBytes)}`, manifestBytes);
  put(manifest.config.digest, readFileSync(join(LOCAL_GOLDEN, 'index', 'config.json')));
  for (const l of manifest.layers) put(l.digest, goldenLayer(layerFiles[l.digest]!));
  const desc = { mediaType: MediaType.OciManifest, digest: `sha256:${sha256(manifestBytes)}`, size: manifestBytes.length, annotations: { 'org.opencontainers.image.ref.name': 'golden' } };
  writeFileSync(join(dir, 'index.json'), marshalIndex({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [desc] }));
  return dir;
}

test('golden image → SOCI index v1 and v2 byte for byte', { skip: available ? false : 'golden typescript layer not available (no ../shared)' }, async () => {
  const dir = goldenLayout();
  try {
    const store = await LayoutStore.open(dir);
    const opts = { minLayerSize: 1048576, buildToolId: SOCI_BUILD_TOOL_ID, spanSize: 4194304 };
    const v1 = await indexImage(store, 'golden', { ...opts, indexVersion: 'v1' });
    const got1 = readFileSync(join(dir, 'blobs', 'sha256', v1.platforms[0]!.sociIndex!.digest.slice(7)));
    assert.equal(got1.toString(), readFileSync(join(LOCAL_GOLDEN, 'index', 'soci-index-v1.json'), 'utf8'));
    const v2 = await indexImage(store, 'golden', { ...opts, indexVersion: 'v2', tag: 'golden-soci' });
    const got2 = readFileSync(join(dir, 'blobs', 'sha256', v2.platforms[0]!.sociIndex!.digest.slice(7)));
    assert.equal(got2.toString(), readFileSync(join(LOCAL_GOLDEN, 'index', 'soci-index-v2.json'), 'utf8'));
    // The semver layer is below the minimum and skipped with a reason.
    assert.equal(v1.platforms[0]!.skipped.length, 1);
    assert.match(v1.platforms[0]!.skipped[0]!.reason, /less than min-layer-size 1048576/);
  } finally {
    cleanup(dir);
  }
});

test('the golden run is possible where ../shared exists', () => {
  if (hasShared) assert.ok(available, 'shared golden layers missing');
});
