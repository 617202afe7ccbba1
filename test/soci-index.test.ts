// Tests the SOCI index builder and parser (src/soci/index.ts) against AWS SOCI's own output:
// testdata/golden/index/soci-index-v{1,2}.json must be reproduced byte for byte.
//
// Inputs come only from testdata/golden (copied from the shared golden set, so a clone without ../shared
// works): manifest.json is the image, its layer digests are mapped to file names through SHA256SUMS, and
// the zTOC descriptors are the sha256 and size of the span-4194304 zTOC files (pax-tree.tar.gz, pax-tree.tar
// and typescript-5.9.3.tgz, 292 568 bytes together). semver is below --min-layer-size 1048576.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isZtocError } from '../src/errors.js';
import { MediaType, type Descriptor } from '../src/oci/types.js';
import { parseManifestOrIndex } from '../src/oci/validate.js';
import {
  ANNOTATION_IMAGE_LAYER_DIGEST,
  EMPTY_CONFIG_BYTES,
  EMPTY_CONFIG_DIGEST,
  EMPTY_CONFIG_SIZE,
  SOCI_CLI_BUILD_TOOL_ID,
  buildSociIndex,
  parseSociIndex,
  remarshalLikeSnapshotter,
  type SociZtocInput,
} from '../src/soci/index.js';
import { marshalManifest } from '../src/oci/gojson.js';

function findUp(rel: string): string {
  for (const start of [process.cwd(), dirname(fileURLToPath(import.meta.url))]) {
    let dir = start;
    for (;;) {
      const p = join(dir, rel);
      if (existsSync(p)) return p;
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  throw new Error(`${rel} not found from ${process.cwd()}`);
}

const GOLDEN = findUp('testdata/golden/index/manifest.json').replace(/\/index\/manifest\.json$/, '');
const MIN_LAYER_SIZE = 1048576;
const SPAN = 4194304;

function sha256(b: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

/** digest → path relative to the golden dir, from SHA256SUMS. */
function sums(): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readFileSync(join(GOLDEN, 'SHA256SUMS'), 'utf8').split('\n')) {
    const [hex, name] = line.trim().split(/\s+/);
    if (hex && name) m.set('sha256:' + hex, name);
  }
  return m;
}

function goldenInputs(): { manifestBytes: Buffer; subject: Descriptor; ztocs: SociZtocInput[]; skipped: string[] } {
  const manifestBytes = readFileSync(join(GOLDEN, 'index', 'manifest.json'));
  const parsed = parseManifestOrIndex(manifestBytes);
  assert.equal(parsed.kind, 'manifest');
  if (parsed.kind !== 'manifest') throw new Error('unreachable');
  const names = sums();
  const ztocs: SociZtocInput[] = [];
  const skipped: string[] = [];
  for (const layer of parsed.manifest.layers) {
    const name = names.get(layer.digest);
    if (name === undefined || !name.startsWith('layers/')) throw new Error(`layer ${layer.digest} is not listed in SHA256SUMS`);
    const base = name.slice('layers/'.length);
    if (layer.size < MIN_LAYER_SIZE) {
      skipped.push(base);
      continue;
    }
    const ztocRel = `ztoc/${base}.span${SPAN}.ztoc`;
    const bytes = readFileSync(join(GOLDEN, ztocRel));
    const digest = sha256(bytes);
    assert.equal(names.get(digest), ztocRel, `${ztocRel} matches SHA256SUMS`);
    ztocs.push({ layer, ztoc: { mediaType: MediaType.OctetStream, digest, size: bytes.length }, spanSize: SPAN });
  }
  const subject: Descriptor = { mediaType: parsed.manifest.mediaType!, digest: sha256(manifestBytes), size: manifestBytes.length };
  return { manifestBytes, subject, ztocs, skipped };
}

test('golden manifest.json is itself Go-canonical', () => {
  const { manifestBytes } = goldenInputs();
  const parsed = parseManifestOrIndex(manifestBytes);
  assert.equal(parsed.kind, 'manifest');
  if (parsed.kind === 'manifest') assert.ok(marshalManifest(parsed.manifest).equals(manifestBytes));
});

test('SOCI index v1 equals soci-index-v1.json byte for byte', () => {
  const { subject, ztocs, skipped } = goldenInputs();
  assert.deepEqual(skipped, ['semver-7.6.3.tgz']);
  assert.equal(ztocs.length, 3);
  const built = buildSociIndex({ version: 'v1', ztocs, subject, buildToolId: SOCI_CLI_BUILD_TOOL_ID });
  const golden = readFileSync(join(GOLDEN, 'index', 'soci-index-v1.json'));
  assert.equal(built.bytes.toString('utf8'), golden.toString('utf8'));
  assert.ok(built.bytes.equals(golden));
  assert.deepEqual(built.descriptor, {
    mediaType: MediaType.OciManifest,
    digest: sha256(golden),
    size: golden.length,
    artifactType: MediaType.SociIndexV1,
  });
  assert.equal(built.manifest.artifactType, undefined);
});

test('SOCI index v2 equals soci-index-v2.json byte for byte', () => {
  const { ztocs } = goldenInputs();
  const built = buildSociIndex({ version: 'v2', ztocs, buildToolId: SOCI_CLI_BUILD_TOOL_ID });
  const golden = readFileSync(join(GOLDEN, 'index', 'soci-index-v2.json'));
  assert.equal(built.bytes.toString('utf8'), golden.toString('utf8'));
  assert.equal(built.descriptor.digest, sha256(golden));
  assert.equal(built.manifest.subject, undefined);
});

test('the empty config constant is the digest of {}', () => {
  assert.equal(sha256(EMPTY_CONFIG_BYTES), EMPTY_CONFIG_DIGEST);
  assert.equal(EMPTY_CONFIG_BYTES.length, EMPTY_CONFIG_SIZE);
});

test('subject is reduced to mediaType/digest/size; the zTOC media type is always octet-stream', () => {
  const { subject, ztocs } = goldenInputs();
  const noisy = ztocs.map((z) => ({ ...z, ztoc: { ...z.ztoc, mediaType: 'application/x.whatever', annotations: { a: 'b' } } }));
  const built = buildSociIndex({
    version: 'v1',
    ztocs: noisy,
    subject: { ...subject, annotations: { x: 'y' }, platform: { architecture: 'amd64', os: 'linux' } },
    buildToolId: SOCI_CLI_BUILD_TOOL_ID,
  });
  assert.ok(built.bytes.equals(readFileSync(join(GOLDEN, 'index', 'soci-index-v1.json'))));
});

test('disableXattrs adds com.amazon.soci.disable-xattrs', () => {
  const { ztocs } = goldenInputs();
  const built = buildSociIndex({ version: 'v2', ztocs: [{ ...ztocs[0]!, disableXattrs: true }], buildToolId: 'ztoc test' });
  const s = built.bytes.toString('utf8');
  assert.ok(s.includes('"com.amazon.soci.disable-xattrs":"true","com.amazon.soci.image-layer-digest"'), s);
  assert.equal(parseSociIndex(built.bytes).ztocs[0]!.disableXattrs, true);
});

test('argument errors: empty, v1 without subject, v2 with subject, bad span size', () => {
  const { subject, ztocs } = goldenInputs();
  const bad = (e: unknown): boolean => isZtocError(e, 'INVALID_ARGUMENT');
  assert.throws(() => buildSociIndex({ version: 'v1', ztocs: [], subject, buildToolId: 'x' }), bad);
  assert.throws(() => buildSociIndex({ version: 'v1', ztocs, buildToolId: 'x' }), bad);
  assert.throws(() => buildSociIndex({ version: 'v2', ztocs, subject, buildToolId: 'x' }), bad);
  assert.throws(() => buildSociIndex({ version: 'v2', ztocs: [{ ...ztocs[0]!, spanSize: 0 }], buildToolId: 'x' }), bad);
  assert.throws(() => buildSociIndex({ version: 'v2', ztocs, buildToolId: '' }), bad);
});

test('parseSociIndex reads back version, span sizes and the zTOC → layer map', () => {
  const { ztocs, subject } = goldenInputs();
  for (const version of ['v1', 'v2'] as const) {
    const golden = readFileSync(join(GOLDEN, 'index', `soci-index-${version}.json`));
    const info = parseSociIndex(golden);
    assert.equal(info.version, version);
    assert.deepEqual(info.spanSizes, [SPAN]);
    assert.equal(info.buildToolId, SOCI_CLI_BUILD_TOOL_ID);
    assert.equal(info.canonical, true);
    assert.equal(info.digest, sha256(golden));
    assert.equal(info.size, golden.length);
    assert.deepEqual(info.subject, version === 'v1' ? subject : undefined);
    assert.equal(info.ztocs.length, 3);
    for (const z of ztocs) {
      assert.equal(info.ztocByLayer.get(z.layer.digest)?.digest, z.ztoc.digest);
      const entry = info.ztocs.find((e) => e.layerDigest === z.layer.digest)!;
      assert.equal(entry.layerMediaType, z.layer.mediaType);
      assert.equal(entry.spanSize, SPAN);
      assert.equal(entry.disableXattrs, false);
    }
  }
});

test('parseSociIndex: pretty-printed index is parsed but flagged non-canonical; non-SOCI is rejected', () => {
  const golden = readFileSync(join(GOLDEN, 'index', 'soci-index-v1.json'), 'utf8');
  const pretty = Buffer.from(JSON.stringify(JSON.parse(golden), null, 2));
  const info = parseSociIndex(pretty);
  assert.equal(info.canonical, false);
  assert.ok(remarshalLikeSnapshotter(info.manifest).equals(Buffer.from(golden)));
  // an artifactType at the top level is dropped by the snapshotter's re-marshal: not canonical
  const withArtifact = golden.replace('"mediaType":"application/vnd.oci.image.manifest.v1+json",', '$&"artifactType":"application/vnd.amazon.soci.index.v1+json",');
  assert.equal(parseSociIndex(Buffer.from(withArtifact)).canonical, false);
  const manifest = readFileSync(join(GOLDEN, 'index', 'manifest.json'));
  assert.throws(() => parseSociIndex(manifest), (e: unknown) => isZtocError(e, 'MANIFEST_INVALID') && /not a SOCI index/.test((e as Error).message));
  const noLayerDigest = golden.replace(`"${ANNOTATION_IMAGE_LAYER_DIGEST}"`, '"x"');
  assert.throws(() => parseSociIndex(Buffer.from(noLayerDigest)), (e: unknown) => isZtocError(e, 'MANIFEST_INVALID'));
});
