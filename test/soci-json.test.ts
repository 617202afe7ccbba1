// Tests Go-canonical JSON (src/oci/gojson.ts) against expectations written by hand from Go's
// encoding/json rules (Go >= 1.22) and the image-spec v1.1.1 struct tags.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeUtf8Go,
  goJsonString,
  goJsonValue,
  marshalDescriptor,
  marshalIndex,
  marshalManifest,
  marshalPlatform,
} from '../src/oci/gojson.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../src/oci/types.js';
import { isZtocError } from '../src/errors.js';

const D1 = 'sha256:' + '1'.repeat(64);
const D2 = 'sha256:' + '2'.repeat(64);
const D3 = 'sha256:' + '3'.repeat(64);

test('HTML characters are escaped as \\u003c \\u003e \\u0026', () => {
  assert.equal(goJsonString('<a href="x">&</a>'), '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"');
});

test('U+2028 and U+2029 are escaped, other non-ASCII is raw', () => {
  assert.equal(goJsonString('a\u2028b\u2029c'), '"a\\u2028b\\u2029c"');
  assert.equal(goJsonString('é€😀'), '"é€😀"');
  assert.equal(goJsonString(new Uint8Array([0xe2, 0x80, 0xa8])), '"\\u2028"');
});

test('control characters: short forms for \\b \\f \\n \\r \\t, lower-case \\u00xx otherwise, DEL raw', () => {
  const s = '\x00\x01\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f\x7f"\\/';
  assert.equal(goJsonString(s), '"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001b\\u001f\x7f\\"\\\\/"');
});

test('invalid UTF-8 bytes become \\ufffd one per byte (utf8.DecodeRune)', () => {
  // 0xff; E2 82 then 'c' (truncated 3-byte sequence: two bad bytes); ED A0 80 (an encoded surrogate: three bad bytes)
  const bytes = new Uint8Array([0x61, 0xff, 0x62, 0xe2, 0x82, 0x63, 0xed, 0xa0, 0x80, 0xc3, 0xa9]);
  assert.equal(goJsonString(bytes), '"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdé"');
  // overlong encodings and code points above U+10FFFF are invalid too
  assert.equal(goJsonString(new Uint8Array([0xc0, 0xaf, 0xf4, 0x90, 0x80, 0x80])), '"' + '\\ufffd'.repeat(6) + '"');
});

test('lone surrogates in a JS string become a raw U+FFFD; pairs stay', () => {
  const out = goJsonString('a\ud800b\udc00c\ud83d\ude00');
  assert.equal(out, '"a\ufffdb\ufffdc\ud83d\ude00"');
  assert.deepEqual([...Buffer.from(out, 'utf8').subarray(2, 5)], [0xef, 0xbf, 0xbd]);
});

test('decodeUtf8Go replaces per byte, unlike WHATWG TextDecoder', () => {
  const bytes = new Uint8Array([0xe2, 0x82, 0x41]);
  assert.equal(decodeUtf8Go(bytes), '\ufffd\ufffdA');
  assert.equal(new TextDecoder().decode(bytes), '\ufffdA');
  assert.equal(decodeUtf8Go(Buffer.from('héllo')), 'héllo');
  assert.equal(decodeUtf8Go(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b])), '\ufeff{'); // BOM kept, so JSON.parse rejects it like Go
});

test('map keys are sorted by UTF-8 bytes, not UTF-16 code units', () => {
  // U+FB00 (EF AC 80) sorts before U+1F600 (F0 9F 98 80) in UTF-8, after it (FB00 > D83D) in UTF-16.
  const annotations: Record<string, string> = { 'ﬀ': '1', b: '2', '😀': '3', a: '4', 'é': '5', Z: '6', z: '7', '10': '8', '9': '9' };
  const d: Descriptor = { mediaType: 'a/b', digest: D1, size: 1, annotations };
  assert.equal(
    marshalDescriptor(d).toString('utf8'),
    '{"mediaType":"a/b","digest":"' + D1 + '","size":1,"annotations":{"10":"8","9":"9","Z":"6","a":"4","b":"2","z":"7","é":"5","ﬀ":"1","😀":"3"}}',
  );
  // a generic value sorts the same way and escapes keys like values
  assert.equal(goJsonValue({ '<k>': 1, 'ﬀ': 2, '😀': [true, null, 'x'] }), '{"\\u003ck\\u003e":1,"ﬀ":2,"😀":[true,null,"x"]}');
});

test('a full manifest: field order, omitempty, unknown fields dropped, compact, no newline', () => {
  const m = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/x.test',
    unknownTopLevel: 'dropped',
    config: { size: 7, digest: D1, mediaType: 'application/vnd.oci.image.config.v1+json', urls: [], annotations: {}, data: '' },
    layers: [
      {
        extra: 1,
        artifactType: 'application/x.layer',
        platform: { variant: 'v8', 'os.features': ['f1'], 'os.version': '10.0', os: 'linux', architecture: 'arm64', junk: 'x' },
        data: 'aG\nk=',
        annotations: { 'org.z': '<&>', 'org.a': 'tab\there' },
        urls: ['https://example.com/a?b=1&c=2'],
        size: 1234567890123,
        digest: D2,
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      },
    ],
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D3, size: 99, annotations: {} },
    annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
  } as unknown as ImageManifest;
  const expected =
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x.test",' +
    '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"' + D1 + '","size":7},' +
    '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"' + D2 + '","size":1234567890123,' +
    '"urls":["https://example.com/a?b=1\\u0026c=2"],"annotations":{"org.a":"tab\\there","org.z":"\\u003c\\u0026\\u003e"},' +
    '"data":"aGk=","platform":{"architecture":"arm64","os":"linux","os.version":"10.0","os.features":["f1"],"variant":"v8"},' +
    '"artifactType":"application/x.layer"}],' +
    '"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"' + D3 + '","size":99},' +
    '"annotations":{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}';
  const out = marshalManifest(m);
  assert.equal(out.toString('utf8'), expected);
  assert.ok(!out.includes(0x0a) && !out.includes(0x20), 'no whitespace at all');
});

test('layers/manifests: [] stays [], a missing (Go nil) slice is null; empty mediaType omitted', () => {
  const m = { schemaVersion: 2, config: { mediaType: 'a/b', digest: D1, size: 2 }, layers: [] } as ImageManifest;
  assert.equal(marshalManifest(m).toString(), '{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"' + D1 + '","size":2},"layers":[]}');
  const nil = { schemaVersion: 2, mediaType: '', config: { mediaType: 'a/b', digest: D1, size: 2 } } as unknown as ImageManifest;
  assert.equal(marshalManifest(nil).toString(), '{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"' + D1 + '","size":2},"layers":null}');
  const i: ImageIndex = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
  assert.equal(marshalIndex(i).toString(), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
  const full: ImageIndex = {
    schemaVersion: 2,
    artifactType: 'application/x.t',
    manifests: [{ mediaType: 'a/b', digest: D1, size: 3, platform: { architecture: 'amd64', os: 'linux', 'os.features': [] } }],
    subject: { mediaType: 'a/b', digest: D2, size: 4 },
    annotations: { k: 'v' },
  };
  assert.equal(
    marshalIndex(full).toString(),
    '{"schemaVersion":2,"artifactType":"application/x.t","manifests":[{"mediaType":"a/b","digest":"' + D1 +
      '","size":3,"platform":{"architecture":"amd64","os":"linux"}}],"subject":{"mediaType":"a/b","digest":"' + D2 +
      '","size":4},"annotations":{"k":"v"}}',
  );
  assert.equal(marshalPlatform({ architecture: 'arm', os: 'linux', variant: 'v7' }).toString(), '{"architecture":"arm","os":"linux","variant":"v7"}');
});

test('numbers: sizes must be integers; generic floats print like Go', () => {
  assert.throws(() => marshalDescriptor({ mediaType: 'a/b', digest: D1, size: 1.5 }), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => marshalDescriptor({ mediaType: 'a/b', digest: D1, size: 2 ** 53 }), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => marshalDescriptor({ mediaType: 'a/b', digest: D1, size: 1, data: 'not base64!' }), (e: unknown) =>
    isZtocError(e, 'INVALID_ARGUMENT'),
  );
  assert.equal(goJsonValue([1, 1.5, 1e21, 1e-7, 0.000001, -0, 123456789012345680000]), '[1,1.5,1e+21,1e-7,0.000001,-0,123456789012345680000]');
  assert.throws(() => goJsonValue(Number.NaN), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'));
});
