// Tests platform parsing, containerd-style normalisation, matching, attestation filtering and the
// host platform (src/oci/platform.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isZtocError } from '../src/errors.js';
import {
  formatPlatform,
  hostPlatform,
  ociPlatformOf,
  type NodeHost,
  isAttestation,
  matchPlatform,
  normalizePlatform,
  parsePlatform,
  samePlatform,
  selectManifests,
} from '../src/oci/platform.js';
import { MediaType, type Descriptor, type ImageIndex, type Platform } from '../src/oci/types.js';

test('parsePlatform normalises like containerd', () => {
  assert.deepEqual(parsePlatform('linux/amd64'), { architecture: 'amd64', os: 'linux' });
  assert.deepEqual(parsePlatform('linux/x86_64'), { architecture: 'amd64', os: 'linux' });
  assert.deepEqual(parsePlatform('linux/x86-64'), { architecture: 'amd64', os: 'linux' });
  assert.deepEqual(parsePlatform('Linux/AMD64'), { architecture: 'amd64', os: 'linux' });
  assert.deepEqual(parsePlatform('linux/aarch64'), { architecture: 'arm64', os: 'linux' });
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { architecture: 'arm64', os: 'linux' });
  assert.deepEqual(parsePlatform('linux/arm64/v9'), { architecture: 'arm64', os: 'linux', variant: 'v9' });
  assert.deepEqual(parsePlatform('linux/arm'), { architecture: 'arm', os: 'linux', variant: 'v7' });
  assert.deepEqual(parsePlatform('linux/arm/6'), { architecture: 'arm', os: 'linux', variant: 'v6' });
  assert.deepEqual(parsePlatform('linux/armhf'), { architecture: 'arm', os: 'linux', variant: 'v7' });
  assert.deepEqual(parsePlatform('linux/i386'), { architecture: '386', os: 'linux' });
  assert.deepEqual(parsePlatform('macos/arm64'), { architecture: 'arm64', os: 'darwin' });
  assert.deepEqual(parsePlatform('arm64'), { architecture: 'arm64', os: 'linux' });
  const osOnly = parsePlatform('linux');
  assert.equal(osOnly.os, 'linux');
  assert.equal(osOnly.architecture, hostPlatform().architecture);
  for (const bad of ['', 'linux//amd64', 'a/b/c/d', 'linux/amd 64', 'nosuchthing']) {
    assert.throws(() => parsePlatform(bad), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'), bad);
  }
});

test('formatPlatform', () => {
  assert.equal(formatPlatform({ architecture: 'arm', os: 'linux', variant: 'v7' }), 'linux/arm/v7');
  assert.equal(formatPlatform({ architecture: 'amd64', os: 'windows', 'os.version': '10.0.17763.1' }), 'windows/amd64 (10.0.17763.1)');
});

test('matchPlatform: arm64 v8 optional, arm defaults to v7, variants otherwise strict', () => {
  const p = parsePlatform;
  assert.ok(matchPlatform(p('linux/arm64'), { architecture: 'arm64', os: 'linux', variant: 'v8' }));
  assert.ok(matchPlatform(p('linux/arm64/v8'), { architecture: 'arm64', os: 'linux' }));
  assert.ok(matchPlatform({ architecture: 'aarch64', os: 'linux' }, { architecture: 'arm64', os: 'linux' }));
  assert.ok(matchPlatform(p('linux/arm'), { architecture: 'arm', os: 'linux', variant: 'v7' }));
  assert.ok(matchPlatform(p('linux/arm/v7'), { architecture: 'arm', os: 'linux' }));
  assert.ok(!matchPlatform(p('linux/arm/v7'), { architecture: 'arm', os: 'linux', variant: 'v6' }));
  assert.ok(!matchPlatform(p('linux/arm64'), { architecture: 'arm64', os: 'linux', variant: 'v9' }));
  assert.ok(!matchPlatform(p('linux/amd64'), { architecture: 'arm64', os: 'linux' }));
  assert.ok(!matchPlatform(p('linux/amd64'), { architecture: 'amd64', os: 'windows' }));
  assert.ok(!matchPlatform(p('linux/amd64'), undefined));
  assert.ok(matchPlatform(p('linux/amd64'), { architecture: 'amd64', os: 'linux', variant: 'v1' }));
  // os.version only matters when the wanted platform sets it
  const win = { architecture: 'amd64', os: 'windows', 'os.version': '10.0.20348.1' };
  assert.ok(matchPlatform(p('windows/amd64'), win));
  assert.ok(!matchPlatform({ ...win, 'os.version': '10.0.17763.1' }, win));
  assert.ok(samePlatform({ architecture: 'arm64', os: 'linux', variant: 'v8' }, { architecture: 'arm64', os: 'linux' }));
  assert.ok(!samePlatform(win, { architecture: 'amd64', os: 'windows' }));
  assert.deepEqual(normalizePlatform({ architecture: 'ARM64', os: 'Linux', variant: 'V8', 'os.features': [] }), { architecture: 'arm64', os: 'linux' });
});

test('hostPlatform maps Node names to OCI names', () => {
  // Literal expectations (containerd's names), not the implementation's own mapping.
  const cases: Array<[NodeHost, Platform]> = [
    [{ platform: 'linux', arch: 'x64' }, { os: 'linux', architecture: 'amd64' }],
    [{ platform: 'linux', arch: 'arm64' }, { os: 'linux', architecture: 'arm64' }],
    [{ platform: 'darwin', arch: 'arm64' }, { os: 'linux', architecture: 'arm64' }],
    [{ platform: 'darwin', arch: 'x64' }, { os: 'linux', architecture: 'amd64' }],
    [{ platform: 'win32', arch: 'x64' }, { os: 'windows', architecture: 'amd64' }],
    [{ platform: 'win32', arch: 'ia32' }, { os: 'windows', architecture: '386' }],
    [{ platform: 'linux', arch: 'arm', armVersion: 6 }, { os: 'linux', architecture: 'arm', variant: 'v6' }],
    [{ platform: 'linux', arch: 'arm', armVersion: '7' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
    [{ platform: 'linux', arch: 'arm' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
    [{ platform: 'linux', arch: 'ppc64', endianness: 'LE' }, { os: 'linux', architecture: 'ppc64le' }],
    [{ platform: 'aix', arch: 'ppc64', endianness: 'BE' }, { os: 'aix', architecture: 'ppc64' }],
    [{ platform: 'linux', arch: 'mipsel' }, { os: 'linux', architecture: 'mipsle' }],
    [{ platform: 'linux', arch: 's390x' }, { os: 'linux', architecture: 's390x' }],
    [{ platform: 'linux', arch: 'riscv64' }, { os: 'linux', architecture: 'riscv64' }],
    [{ platform: 'freebsd', arch: 'x64' }, { os: 'freebsd', architecture: 'amd64' }],
  ];
  for (const [node, oci] of cases) assert.deepEqual(ociPlatformOf(node), oci, `${node.platform}/${node.arch}`);
  const host = hostPlatform();
  if (process.platform === 'linux' && process.arch === 'x64') assert.deepEqual(host, { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(normalizePlatform(host), host);
});

const D = (c: string): string => 'sha256:' + c.repeat(64);
const attestationByPlatform: Descriptor = { mediaType: MediaType.OciManifest, digest: D('3'), size: 1, platform: { architecture: 'unknown', os: 'unknown' } };
const attestationByAnnotation: Descriptor = {
  mediaType: MediaType.OciManifest,
  digest: D('4'),
  size: 1,
  annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': D('1') },
};

test('isAttestation', () => {
  assert.ok(isAttestation(attestationByPlatform));
  assert.ok(isAttestation(attestationByAnnotation));
  assert.ok(!isAttestation({ mediaType: MediaType.OciManifest, digest: D('1'), size: 1, platform: { architecture: 'amd64', os: 'linux' } }));
  assert.ok(!isAttestation({ mediaType: MediaType.OciManifest, digest: D('1'), size: 1, platform: { architecture: 'unknown', os: 'linux' } }));
});

test('selectManifests skips attestations, SOCI indexes and nested indexes', () => {
  const amd: Descriptor = { mediaType: MediaType.OciManifest, digest: D('1'), size: 1, platform: { architecture: 'amd64', os: 'linux' } };
  const arm: Descriptor = { mediaType: MediaType.DockerManifest, digest: D('2'), size: 1, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } };
  const soci: Descriptor = { mediaType: MediaType.OciManifest, digest: D('5'), size: 1, platform: { architecture: 'amd64', os: 'linux' }, artifactType: MediaType.SociIndexV2 };
  const nested: Descriptor = { mediaType: MediaType.OciIndex, digest: D('6'), size: 1, platform: { architecture: 'amd64', os: 'linux' } };
  const index: ImageIndex = { schemaVersion: 2, manifests: [amd, attestationByPlatform, arm, attestationByAnnotation, soci, nested] };
  assert.deepEqual(selectManifests(index, 'all'), [amd, arm]);
  assert.deepEqual(selectManifests(index, parsePlatform('linux/arm64')), [arm]);
  assert.deepEqual(selectManifests(index, parsePlatform('linux/amd64')), [amd]);
  assert.deepEqual(selectManifests(index, parsePlatform('linux/s390x')), []);
});
