// Reference and digest parsing: distribution/reference semantics (our own expectation table) and layout refs.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isZtocError } from '../src/errors.js';
import { assertSha256Digest, isValidDigest, parseDigest, sha256Digest } from '../src/oci/digest.js';
import {
  formatReference,
  parseReference,
  parseRegistryReference,
  registryApiHost,
  type ImageReference,
} from '../src/oci/reference.js';

const D = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'0123456789abcdef'.repeat(4)}`;

type Want = { registry: string; repository: string; tag?: string; digest?: string };

const valid: Array<[string, Want]> = [
  ['ubuntu', { registry: 'docker.io', repository: 'library/ubuntu', tag: 'latest' }],
  ['ubuntu:22.04', { registry: 'docker.io', repository: 'library/ubuntu', tag: '22.04' }],
  ['docker.io/ubuntu', { registry: 'docker.io', repository: 'library/ubuntu', tag: 'latest' }],
  ['docker.io/library/ubuntu', { registry: 'docker.io', repository: 'library/ubuntu', tag: 'latest' }],
  ['index.docker.io/library/ubuntu:x', { registry: 'docker.io', repository: 'library/ubuntu', tag: 'x' }],
  ['index.docker.io/ubuntu', { registry: 'docker.io', repository: 'library/ubuntu', tag: 'latest' }],
  ['foo/bar', { registry: 'docker.io', repository: 'foo/bar', tag: 'latest' }],
  ['foo/bar/baz', { registry: 'docker.io', repository: 'foo/bar/baz', tag: 'latest' }],
  ['docker://alpine:3', { registry: 'docker.io', repository: 'library/alpine', tag: '3' }],
  ['localhost/foo', { registry: 'localhost', repository: 'foo', tag: 'latest' }],
  ['localhost:5000/foo/bar:v1', { registry: 'localhost:5000', repository: 'foo/bar', tag: 'v1' }],
  ['127.0.0.1:5000/a/b', { registry: '127.0.0.1:5000', repository: 'a/b', tag: 'latest' }],
  ['[::1]:5000/a', { registry: '[::1]:5000', repository: 'a', tag: 'latest' }],
  ['ghcr.io/o/r@' + D, { registry: 'ghcr.io', repository: 'o/r', digest: D }],
  ['ghcr.io/o/r:v2@' + D, { registry: 'ghcr.io', repository: 'o/r', tag: 'v2', digest: D }],
  ['ubuntu@' + D2, { registry: 'docker.io', repository: 'library/ubuntu', digest: D2 }],
  ['Foo/bar', { registry: 'Foo', repository: 'bar', tag: 'latest' }],
  ['example.com:443/team/app', { registry: 'example.com:443', repository: 'team/app', tag: 'latest' }],
  ['a/foo__bar', { registry: 'docker.io', repository: 'a/foo__bar', tag: 'latest' }],
  ['a/foo--bar', { registry: 'docker.io', repository: 'a/foo--bar', tag: 'latest' }],
  ['a/foo.bar_baz-q', { registry: 'docker.io', repository: 'a/foo.bar_baz-q', tag: 'latest' }],
  [`a:${'t'.repeat(128)}`, { registry: 'docker.io', repository: 'library/a', tag: 't'.repeat(128) }],
  ['a:_tag.1-x', { registry: 'docker.io', repository: 'library/a', tag: '_tag.1-x' }],
  // A 64-hex *tag* is fine; only a 64-hex repository name is refused.
  [`sha256:${'b'.repeat(64)}`, { registry: 'docker.io', repository: 'library/sha256', tag: 'b'.repeat(64) }],
  ['my-registry.local:8443/x', { registry: 'my-registry.local:8443', repository: 'x', tag: 'latest' }],
];

const invalid: string[] = [
  '',
  ':tag',
  'foo:',
  'UPPER',
  'docker.io/Upper/case',
  'foo//bar',
  'foo/bar/',
  '/foo',
  '-foo',
  'foo-',
  'a/foo___bar',
  'a/foo.-bar',
  `a:${'t'.repeat(129)}`,
  'a:-tag',
  'a:.tag',
  'a@sha256:abc',
  `a@sha256:${'A'.repeat(64)}`,
  `a@md5:${'a'.repeat(32)}`,
  'a' + '@' + D + '@' + D,
  'a'.repeat(64).replace(/a/g, 'f'),
  'host:port/x',
  'https://ghcr.io/o/r',
  `docker.io/${'a'.repeat(250)}`,
];

describe('parseRegistryReference (distribution/reference semantics)', () => {
  for (const [input, want] of valid) {
    it(`parses ${JSON.stringify(input.length > 60 ? input.slice(0, 60) + '…' : input)}`, () => {
      const got = parseRegistryReference(input);
      assert.deepEqual(got, { kind: 'registry', ...want });
    });
  }
  for (const input of invalid) {
    it(`rejects ${JSON.stringify(input.length > 60 ? input.slice(0, 60) + '…' : input)}`, () => {
      assert.throws(
        () => parseRegistryReference(input),
        (e: unknown) => isZtocError(e, 'REFERENCE_INVALID'),
      );
    });
  }
  it('accepts a 255-character name and rejects 256', () => {
    const path = (n: number): string => `${'a'.repeat(n - 'example.com/'.length)}`;
    assert.equal(parseRegistryReference(`example.com/${path(255)}`).repository.length, 255 - 'example.com/'.length);
    assert.throws(() => parseRegistryReference(`example.com/${path(256)}`), (e: unknown) => isZtocError(e, 'REFERENCE_INVALID'));
  });
  it('maps docker.io to its API host', () => {
    assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryApiHost('ghcr.io'), 'ghcr.io');
  });
  it('formats full references, keeping the tag for display next to the digest', () => {
    assert.equal(formatReference(parseRegistryReference('ubuntu')), 'docker.io/library/ubuntu:latest');
    assert.equal(formatReference(parseRegistryReference(`ghcr.io/o/r:v2@${D}`)), `ghcr.io/o/r:v2@${D}`);
  });
});

describe('parseReference (layout vs registry)', () => {
  const cases: Array<[string, ImageReference]> = [
    ['oci:/tmp/layout', { kind: 'layout', dir: '/tmp/layout' }],
    ['oci:./img:v1', { kind: 'layout', dir: './img', tag: 'v1' }],
    [`oci:img@${D}`, { kind: 'layout', dir: 'img', digest: D }],
    ['oci:rel/dir', { kind: 'layout', dir: 'rel/dir' }],
    ['127.0.0.1:5000/a:b', { kind: 'registry', registry: '127.0.0.1:5000', repository: 'a', tag: 'b' }],
  ];
  for (const [input, want] of cases) {
    it(`parses ${input.slice(0, 40)}`, () => assert.deepEqual(parseReference(input), want));
  }
  for (const bad of ['oci:', 'oci:dir:bad tag', 'oci://host/repo', `oci:dir:t@${D}`, 'oci:dir@sha256:nothex']) {
    it(`rejects ${bad}`, () => assert.throws(() => parseReference(bad), (e: unknown) => isZtocError(e, 'REFERENCE_INVALID')));
  }
});

describe('digest helpers', () => {
  it('hashes bytes', () => {
    assert.equal(sha256Digest(Buffer.from('')), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
  it('parses and validates', () => {
    assert.deepEqual(parseDigest(D), { algorithm: 'sha256', hex: 'a'.repeat(64) });
    assert.equal(isValidDigest(D), true);
    assert.equal(isValidDigest(`sha256:${'a'.repeat(63)}`), false);
    assert.equal(isValidDigest(`sha256:${'A'.repeat(64)}`), false);
    assert.equal(isValidDigest(`sha512:${'a'.repeat(128)}`), true);
    assert.equal(isValidDigest('sha256'), false);
    assert.throws(() => parseDigest('nope'), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'));
    assert.throws(() => assertSha256Digest(`sha512:${'a'.repeat(128)}`), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'));
  });
});
