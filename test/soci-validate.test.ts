// Tests manifest/index validation and parsing (src/oci/validate.ts): kind detection, limits, schema
// error messages, Docker types, and Go-compatible string decoding before a canonical re-marshal.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isZtocError } from '../src/errors.js';
import { MediaType } from '../src/oci/types.js';
import { MAX_MANIFEST_BYTES, parseManifestOrIndex, validateDescriptor, validatePlatform } from '../src/oci/validate.js';
import { marshalManifest } from '../src/oci/gojson.js';

const D = 'sha256:' + 'a'.repeat(64);
const desc = (mediaType: string, size = 1): { mediaType: string; digest: string; size: number } => ({ mediaType, digest: D, size });
const manifest = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: desc(MediaType.OciConfig),
  layers: [desc(MediaType.OciLayerGzip)],
  ...extra,
});
const buf = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const invalid = (re: RegExp) => (e: unknown): boolean => isZtocError(e, 'MANIFEST_INVALID') && re.test((e as Error).message);

test('manifest and index are told apart by content type, body mediaType, or shape', () => {
  assert.equal(parseManifestOrIndex(buf(manifest())).kind, 'manifest');
  const noType = manifest();
  delete noType['mediaType'];
  const r = parseManifestOrIndex(buf(noType));
  assert.equal(r.kind, 'manifest');
  assert.equal(r.mediaType, MediaType.OciManifest);
  const idx = { schemaVersion: 2, manifests: [desc(MediaType.OciManifest)] };
  assert.equal(parseManifestOrIndex(buf(idx)).kind, 'index');
  const list = { schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [{ ...desc(MediaType.DockerManifest), platform: { architecture: 'amd64', os: 'linux', features: ['sse4'] } }] };
  const l = parseManifestOrIndex(buf(list), `${MediaType.DockerManifestList}; charset=utf-8`);
  assert.equal(l.kind, 'index');
  assert.equal(l.mediaType, MediaType.DockerManifestList);
  const docker = manifest({ mediaType: MediaType.DockerManifest, config: desc(MediaType.DockerConfig), layers: [desc(MediaType.DockerLayerGzip)] });
  assert.equal(parseManifestOrIndex(buf(docker), 'application/json').mediaType, MediaType.DockerManifest);
});

test('type confusion and unsupported types are rejected', () => {
  assert.throws(() => parseManifestOrIndex(buf(manifest()), MediaType.OciIndex), invalid(/mismatch/));
  assert.throws(() => parseManifestOrIndex(buf(manifest({ mediaType: undefined, manifests: [] }))), invalid(/cannot tell/));
  assert.throws(() => parseManifestOrIndex(buf(manifest({ manifests: [] }))), invalid(/must not have "manifests"/));
  assert.throws(() => parseManifestOrIndex(buf({ schemaVersion: 1, mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' })), invalid(/schema 1/));
  assert.throws(() => parseManifestOrIndex(buf(manifest({ mediaType: 'application/x.other' }))), invalid(/unsupported manifest media type/));
  assert.throws(() => parseManifestOrIndex(Buffer.from('[1,2]')), invalid(/not a JSON object/));
  assert.throws(() => parseManifestOrIndex(Buffer.from('{"schemaVersion":2,')), invalid(/not valid JSON/));
  assert.throws(() => parseManifestOrIndex(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), buf(manifest())])), invalid(/not valid JSON/));
});

test('schema errors name the first failing path', () => {
  const badDigest = manifest({ layers: [desc(MediaType.OciLayerGzip), { ...desc(MediaType.OciLayerGzip), digest: 'sha256:ABC' }] });
  assert.throws(() => parseManifestOrIndex(buf(badDigest)), invalid(/\/layers\/1\/digest: not a valid digest/));
  const noConfig = manifest();
  delete noConfig['config'];
  assert.throws(() => parseManifestOrIndex(buf(noConfig), MediaType.OciManifest), invalid(/missing required field "config"/));
  assert.throws(() => parseManifestOrIndex(buf(manifest({ config: { ...desc(MediaType.OciConfig), size: -1 } }))), invalid(/\/config\/size/));
  assert.throws(() => parseManifestOrIndex(buf(manifest({ config: { ...desc(MediaType.OciConfig), size: 1.5 } }))), invalid(/\/config\/size: must be integer/));
  assert.throws(() => parseManifestOrIndex(buf(manifest({ schemaVersion: 1 }))), invalid(/\/schemaVersion/));
  assert.throws(() => parseManifestOrIndex(buf(manifest({ annotations: { a: 1 } }))), invalid(/\/annotations\/a: must be string/));
  assert.throws(() => parseManifestOrIndex(buf(manifest({ layers: [{ ...desc('notamediatype') }] }))), invalid(/\/layers\/0\/mediaType: not a valid media type/));
  assert.throws(
    () => parseManifestOrIndex(buf({ schemaVersion: 2, manifests: [{ ...desc(MediaType.OciManifest), platform: { os: 'linux' } }] })),
    invalid(/\/manifests\/0\/platform: missing required field "architecture"/),
  );
  // a sha512 digest and an unregistered algorithm are fine; a short sha256 is not
  validateDescriptor({ mediaType: 'a/b', digest: 'sha512:' + 'b'.repeat(128), size: 0 });
  validateDescriptor({ mediaType: 'a/b', digest: 'blake3+x:AbC=_-', size: 0 });
  assert.throws(() => validateDescriptor({ mediaType: 'a/b', digest: 'sha256:' + 'b'.repeat(63), size: 0 }), invalid(/digest/));
  assert.throws(() => validatePlatform({ architecture: 'amd64', os: '' }), invalid(/\/os/));
});

test('limits: 4 MiB and 1000 entries', () => {
  const big = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20);
  assert.throws(() => parseManifestOrIndex(big), (e: unknown) => isZtocError(e, 'MANIFEST_TOO_LARGE'));
  const atLimit = Buffer.concat([buf(manifest()), Buffer.alloc(MAX_MANIFEST_BYTES - buf(manifest()).length, 0x20)]);
  assert.equal(atLimit.length, MAX_MANIFEST_BYTES);
  assert.equal(parseManifestOrIndex(atLimit).kind, 'manifest');
  const layers = Array.from({ length: 1001 }, () => desc(MediaType.OciLayerGzip));
  assert.throws(() => parseManifestOrIndex(buf(manifest({ layers }))), invalid(/1001 layers/));
  assert.equal(parseManifestOrIndex(buf(manifest({ layers: layers.slice(0, 1000) }))).kind, 'manifest');
  const manifests = Array.from({ length: 1001 }, () => desc(MediaType.OciManifest));
  assert.throws(() => parseManifestOrIndex(buf({ schemaVersion: 2, manifests })), invalid(/1001 manifests/));
});

test('invalid UTF-8 in a manifest re-marshals as Go would after Unmarshal (one raw U+FFFD per bad byte)', () => {
  const before = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":' + JSON.stringify(desc(MediaType.OciConfig)) + ',"layers":[],"annotations":{"k":"');
  const after = Buffer.from('","esc":"\\ud800\\u003c"}}');
  const bytes = Buffer.concat([before, Buffer.from([0x61, 0xe2, 0x82, 0x62]), after]);
  const r = parseManifestOrIndex(bytes);
  assert.equal(r.kind, 'manifest');
  if (r.kind !== 'manifest') return;
  assert.equal(r.manifest.annotations?.['k'], 'a\ufffd\ufffdb');
  const out = marshalManifest(r.manifest).toString('utf8');
  assert.ok(out.endsWith('"annotations":{"esc":"\ufffd\\u003c","k":"a\ufffd\ufffdb"}}'), out);
});
