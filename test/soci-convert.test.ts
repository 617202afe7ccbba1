// Tests the SOCI v2 conversion (src/soci/convert.ts, soci-format.md §5.3) on a two-platform Docker
// manifest list built here, with expected bytes written by hand from the Go rules.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { isZtocError } from '../src/errors.js';
import { MediaType, type Descriptor, type ImageIndex, type ImageManifest } from '../src/oci/types.js';
import { convertToSociV2Index } from '../src/soci/convert.js';
import { buildSociIndex } from '../src/soci/index.js';
import { marshalManifest } from '../src/oci/gojson.js';

const h = (c: string): string => 'sha256:' + c.repeat(64);
const sha256 = (b: Uint8Array): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

const amd64Manifest: ImageManifest = {
  schemaVersion: 2,
  mediaType: MediaType.DockerManifest,
  config: { mediaType: MediaType.DockerConfig, digest: h('a'), size: 100 },
  layers: [{ mediaType: MediaType.DockerLayerGzip, digest: h('b'), size: 2000000 }],
};
const arm64Manifest: ImageManifest = {
  schemaVersion: 2,
  mediaType: MediaType.DockerManifest,
  config: { mediaType: MediaType.DockerConfig, digest: h('c'), size: 101 },
  layers: [{ mediaType: MediaType.DockerLayerGzip, digest: h('d'), size: 3000000 }],
  annotations: { 'org.example.k': 'v' },
};
const amd64Bytes = marshalManifest(amd64Manifest);
const arm64Bytes = marshalManifest(arm64Manifest);
const amd64Desc: Descriptor = {
  mediaType: MediaType.DockerManifest,
  digest: sha256(amd64Bytes),
  size: amd64Bytes.length,
  annotations: { 'org.opencontainers.image.ref.name': 'dropped' },
  platform: { architecture: 'amd64', os: 'linux' },
};
const arm64Desc: Descriptor = {
  mediaType: MediaType.DockerManifest,
  digest: sha256(arm64Bytes),
  size: arm64Bytes.length,
  platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
};
const missingDesc: Descriptor = {
  mediaType: MediaType.DockerManifest,
  digest: h('e'),
  size: 500,
  platform: { architecture: 's390x', os: 'linux' },
};
const sourceIndex: ImageIndex = { schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [amd64Desc, arm64Desc, missingDesc] };

function sociV2(layer: Descriptor, ztocChar: string): Descriptor {
  return buildSociIndex({
    version: 'v2',
    ztocs: [{ layer, ztoc: { mediaType: MediaType.OctetStream, digest: h(ztocChar), size: 1234 }, spanSize: 4194304 }],
    buildToolId: 'ztoc test',
  }).descriptor;
}

test('two-platform list: manifests re-encoded, annotated, SOCI indexes appended', () => {
  const sociAmd = sociV2(amd64Manifest.layers[0]!, '1');
  const sociArm = sociV2(arm64Manifest.layers[0]!, '2');
  const result = convertToSociV2Index({
    source: { kind: 'index', index: sourceIndex },
    manifests: new Map([
      [amd64Desc.digest, amd64Manifest],
      [arm64Desc.digest, arm64Manifest],
    ]),
    sociIndexes: new Map([
      [amd64Desc.digest, { descriptor: sociAmd, platform: { architecture: 'amd64', os: 'linux' } }],
      [arm64Desc.digest, { descriptor: sociArm, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } }],
    ]),
  });

  // Step 3: exact re-encoding, written by hand.
  const amdExpected =
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"' +
    h('a') +
    '","size":100},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"' +
    h('b') +
    '","size":2000000}],"annotations":{"com.amazon.soci.index-digest":"' +
    sociAmd.digest +
    '"}}';
  const armExpected =
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"' +
    h('c') +
    '","size":101},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"' +
    h('d') +
    '","size":3000000}],"annotations":{"com.amazon.soci.index-digest":"' +
    sociArm.digest +
    '","org.example.k":"v"}}';
  assert.equal(result.rewrittenManifests.length, 2);
  const [amd, arm] = result.rewrittenManifests;
  assert.equal(amd!.originalDigest, amd64Desc.digest);
  assert.equal(amd!.bytes.toString(), amdExpected);
  assert.equal(arm!.bytes.toString(), armExpected);
  assert.deepEqual(amd!.descriptor, { mediaType: MediaType.OciManifest, digest: sha256(Buffer.from(amdExpected)), size: Buffer.byteLength(amdExpected) });
  assert.equal(arm!.descriptor.digest, sha256(Buffer.from(armExpected)));

  // Steps 1, 3, 4: the index.
  const amdNew = sha256(Buffer.from(amdExpected));
  const armNew = sha256(Buffer.from(armExpected));
  const expectedIndex =
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[' +
    `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${amdNew}","size":${Buffer.byteLength(amdExpected)},` +
    `"annotations":{"com.amazon.soci.index-digest":"${sociAmd.digest}"},"platform":{"architecture":"amd64","os":"linux"}},` +
    `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${armNew}","size":${Buffer.byteLength(armExpected)},` +
    `"annotations":{"com.amazon.soci.index-digest":"${sociArm.digest}","org.example.k":"v"},"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},` +
    `{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"${h('e')}","size":500,"platform":{"architecture":"s390x","os":"linux"}},` +
    `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${sociAmd.digest}","size":${sociAmd.size},` +
    `"annotations":{"com.amazon.soci.image-manifest-digest":"${amdNew}"},"platform":{"architecture":"amd64","os":"linux"},` +
    `"artifactType":"application/vnd.amazon.soci.index.v2+json"},` +
    `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${sociArm.digest}","size":${sociArm.size},` +
    `"annotations":{"com.amazon.soci.image-manifest-digest":"${armNew}"},"platform":{"architecture":"arm64","os":"linux","variant":"v8"},` +
    `"artifactType":"application/vnd.amazon.soci.index.v2+json"}]}`;
  assert.equal(result.indexBytes.toString(), expectedIndex);
  assert.deepEqual(result.descriptor, { mediaType: MediaType.OciIndex, digest: sha256(Buffer.from(expectedIndex)), size: Buffer.byteLength(expectedIndex) });
  assert.equal(result.sociIndexDescriptors.length, 2);
  // the input was not mutated
  assert.equal(sourceIndex.mediaType, MediaType.DockerManifestList);
  assert.equal(sourceIndex.manifests.length, 3);
  assert.equal(amd64Manifest.mediaType, MediaType.DockerManifest);

  // Re-converting the result for amd64 replaces its SOCI entry instead of appending a second one,
  // and leaves the existing SOCI entries alone (not re-encoded as images).
  const again = convertToSociV2Index({
    source: { kind: 'index', index: result.index },
    manifests: new Map([
      [amdNew, amd!.manifest],
      [armNew, arm!.manifest],
    ]),
    sociIndexes: new Map([[amdNew, { descriptor: sociV2(amd64Manifest.layers[0]!, '3'), platform: { architecture: 'amd64', os: 'linux' } }]]),
  });
  assert.equal(again.index.manifests.length, 5);
  const sociEntries = again.index.manifests.filter((d) => d.artifactType === MediaType.SociIndexV2);
  assert.equal(sociEntries.length, 2);
  assert.equal(sociEntries[0]!.digest, again.sociIndexDescriptors[0]!.digest);
  assert.equal(sociEntries[1]!.digest, sociArm.digest);
  // arm64 was re-encoded without a new index: its annotations (incl. the old index digest) are kept, bytes unchanged
  assert.equal(again.index.manifests[1]!.digest, armNew);
});

test('single manifest source is wrapped with its platform', () => {
  const soci = sociV2(amd64Manifest.layers[0]!, '4');
  const target: Descriptor = { mediaType: MediaType.DockerManifest, digest: amd64Desc.digest, size: amd64Desc.size };
  const result = convertToSociV2Index({
    source: { kind: 'manifest', descriptor: target, manifest: amd64Manifest, platform: { architecture: 'amd64', os: 'linux' } },
    manifests: new Map(),
    sociIndexes: new Map([[target.digest, { descriptor: soci, platform: { architecture: 'amd64', os: 'linux' } }]]),
  });
  assert.equal(result.index.manifests.length, 2);
  assert.deepEqual(result.index.manifests[0]!.platform, { architecture: 'amd64', os: 'linux' });
  assert.equal(result.index.manifests[0]!.annotations?.['com.amazon.soci.index-digest'], soci.digest);
  assert.equal(result.index.manifests[1]!.artifactType, MediaType.SociIndexV2);
  assert.equal(result.index.manifests[1]!.annotations?.['com.amazon.soci.image-manifest-digest'], result.rewrittenManifests[0]!.descriptor.digest);
  assert.ok(result.indexBytes.toString().startsWith('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{'));
});

test('a SOCI index for a manifest that is missing or not in the image is an error', () => {
  const soci = sociV2(amd64Manifest.layers[0]!, '5');
  assert.throws(
    () =>
      convertToSociV2Index({
        source: { kind: 'index', index: sourceIndex },
        manifests: new Map(),
        sociIndexes: new Map([[amd64Desc.digest, { descriptor: soci, platform: { architecture: 'amd64', os: 'linux' } }]]),
      }),
    (e: unknown) => isZtocError(e, 'MANIFEST_INVALID'),
  );
  assert.throws(
    () =>
      convertToSociV2Index({
        source: { kind: 'index', index: sourceIndex },
        manifests: new Map([[amd64Desc.digest, amd64Manifest]]),
        sociIndexes: new Map([[h('f'), { descriptor: soci, platform: { architecture: 'amd64', os: 'linux' } }]]),
      }),
    (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'),
  );
});
