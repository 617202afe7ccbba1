// Credential resolution order with a temp DOCKER_CONFIG, containers auth.json and a fake docker-credential-test
// helper on PATH (the environment is passed in, never mutated).

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isZtocError } from '../src/errors.js';
import {
  createCredentialLookup,
  credentialServerUrl,
  normalizeAuthKey,
  resolveCredential,
  runCredentialHelper,
} from '../src/registry/credentials.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

let root: string;
let bin: string;

/** A docker-credential-<name> script answering from a fixed table; logs the server URLs it was asked for. */
function writeHelper(name: string, table: Record<string, { Username: string; Secret: string }>, mode: 'ok' | 'broken' = 'ok'): void {
  const cases = Object.entries(table)
    .map(([server, c]) => `  ${JSON.stringify(server)}) printf '%s' '${JSON.stringify({ ServerURL: server, ...c })}' ;;`)
    .join('\n');
  const script =
    mode === 'broken'
      ? '#!/bin/sh\necho "helper exploded" >&2\nexit 3\n'
      : `#!/bin/sh\n[ "$1" = get ] || exit 2\nread -r server\necho "$server" >> "${join(root, `${name}.log`)}"\ncase "$server" in\n${cases}\n  *) echo "credentials not found in native keychain"; exit 1 ;;\nesac\n`;
  const p = join(bin, `docker-credential-${name}`);
  writeFileSync(p, script);
  chmodSync(p, 0o755);
}

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: join(root, 'home'), ...extra };
}

function dockerConfig(name: string, config: unknown): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'ztoc-creds-'));
  bin = join(root, 'bin');
  mkdirSync(bin);
  mkdirSync(join(root, 'home'));
  writeHelper('test', {
    'helped.example': { Username: 'helper-user', Secret: 'helper-pass' },
    'tokened.example': { Username: '<token>', Secret: 'refresh-123' },
    'https://index.docker.io/v1/': { Username: 'hubuser', Secret: 'hubpass' },
  });
  writeHelper('store', { 'stored.example': { Username: 'store-user', Secret: 'store-pass' }, 'helped.example': { Username: 'wrong', Secret: 'wrong' } });
  writeHelper('broken', {}, 'broken');
});
after(() => rmSync(root, { recursive: true, force: true }));

describe('credential helpers', () => {
  it('runs docker-credential-<name> get with the server URL on stdin', async () => {
    const e = env({});
    assert.deepEqual(await runCredentialHelper('test', 'helped.example', { env: e }), { username: 'helper-user', password: 'helper-pass' });
    assert.deepEqual(await runCredentialHelper('test', 'tokened.example', { env: e }), { identityToken: 'refresh-123' });
    assert.equal(await runCredentialHelper('test', 'unknown.example', { env: e }), undefined);
  });
  it('reports a missing or failing helper clearly, without secrets', async () => {
    await assert.rejects(runCredentialHelper('absent', 'x', { env: env({}) }), (e: unknown) => isZtocError(e, 'CREDENTIALS') && /docker-credential-absent.*not found on PATH/.test(e.message));
    await assert.rejects(runCredentialHelper('broken', 'x', { env: env({}) }), (e: unknown) => isZtocError(e, 'CREDENTIALS') && /helper exploded/.test(e.message));
    await assert.rejects(runCredentialHelper('../evil', 'x', { env: env({}) }), (e: unknown) => isZtocError(e, 'CREDENTIALS'));
  });
});

describe('resolution order', () => {
  it('explicit credentials win over everything', async () => {
    const dir = dockerConfig('explicit', { credHelpers: { 'helped.example': 'test' } });
    const r = await resolveCredential('helped.example', undefined, { env: env({ DOCKER_CONFIG: dir }), explicit: { username: 'me', password: 'pw' } });
    assert.deepEqual(r?.credential, { username: 'me', password: 'pw' });
  });
  it('credHelpers[host] before credsStore before auths', async () => {
    const dir = dockerConfig('order', {
      credHelpers: { 'helped.example': 'test' },
      credsStore: 'store',
      auths: { 'helped.example': { auth: b64('file:pw') }, 'stored.example': { auth: b64('file:pw') }, 'https://filed.example/v2/': { auth: b64('fileuser:p:w') } },
    });
    const e = env({ DOCKER_CONFIG: dir });
    assert.deepEqual((await resolveCredential('helped.example', undefined, { env: e }))?.credential, { username: 'helper-user', password: 'helper-pass' });
    const stored = await resolveCredential('stored.example', undefined, { env: e });
    assert.deepEqual(stored?.credential, { username: 'store-user', password: 'store-pass' });
    assert.match(stored?.source ?? '', /credsStore/);
    // The store has nothing for filed.example → the auths entry (key normalised: scheme and path stripped).
    const filed = await resolveCredential('filed.example', undefined, { env: e });
    assert.deepEqual(filed?.credential, { username: 'fileuser', password: 'p:w' });
    assert.match(filed?.source ?? '', /auths in .*config\.json/);
  });
  it('maps Docker Hub to https://index.docker.io/v1/ for helpers and auths', async () => {
    assert.equal(credentialServerUrl('docker.io'), 'https://index.docker.io/v1/');
    assert.equal(credentialServerUrl('registry-1.docker.io'), 'https://index.docker.io/v1/');
    assert.equal(normalizeAuthKey('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeAuthKey('http://Ghcr.io/v2/x'), 'ghcr.io');
    const viaHelper = dockerConfig('hubhelper', { credHelpers: { 'https://index.docker.io/v1/': 'test' } });
    assert.deepEqual((await resolveCredential('docker.io', 'library/ubuntu', { env: env({ DOCKER_CONFIG: viaHelper }) }))?.credential, { username: 'hubuser', password: 'hubpass' });
    const viaAuths = dockerConfig('hubauths', { auths: { 'https://index.docker.io/v1/': { username: 'u', password: 'p' } } });
    assert.deepEqual((await resolveCredential('registry-1.docker.io', undefined, { env: env({ DOCKER_CONFIG: viaAuths }) }))?.credential, { username: 'u', password: 'p' });
  });
  it('reads identitytoken and registrytoken, and ignores empty auth entries', async () => {
    const dir = dockerConfig('tokens', {
      auths: { 'id.example': { identitytoken: 'rt' }, 'reg.example': { registrytoken: 'bt' }, 'empty.example': { auth: '' } },
    });
    const e = env({ DOCKER_CONFIG: dir });
    assert.deepEqual((await resolveCredential('id.example', undefined, { env: e }))?.credential, { identityToken: 'rt' });
    assert.deepEqual((await resolveCredential('reg.example', undefined, { env: e }))?.credential, { registryToken: 'bt' });
    assert.equal(await resolveCredential('empty.example', undefined, { env: e }), undefined);
  });
  it('uses ~/.docker/config.json when DOCKER_CONFIG is unset', async () => {
    const home = join(root, 'home2');
    mkdirSync(join(home, '.docker'), { recursive: true });
    writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'home.example': { auth: b64('h:p') } } }));
    const r = await resolveCredential('home.example', undefined, { env: { PATH: bin, HOME: home } });
    assert.deepEqual(r?.credential, { username: 'h', password: 'p' });
  });
  it('falls back to REGISTRY_AUTH_FILE, then $XDG_RUNTIME_DIR/containers/auth.json, with namespaced keys', async () => {
    const dir = dockerConfig('none', { auths: {} });
    const authFile = join(root, 'auth.json');
    writeFileSync(
      authFile,
      JSON.stringify({ auths: { 'quay.example': { auth: b64('whole:1') }, 'quay.example/org': { auth: b64('org:2') }, 'quay.example/org/repo': { auth: b64('repo:3') } } }),
    );
    const e = env({ DOCKER_CONFIG: dir, REGISTRY_AUTH_FILE: authFile });
    assert.equal((await resolveCredential('quay.example', 'org/repo', { env: e }))?.credential.username, 'repo');
    assert.equal((await resolveCredential('quay.example', 'org/other', { env: e }))?.credential.username, 'org');
    assert.equal((await resolveCredential('quay.example', 'elsewhere/x', { env: e }))?.credential.username, 'whole');
    const xdg = join(root, 'xdg');
    mkdirSync(join(xdg, 'containers'), { recursive: true });
    writeFileSync(join(xdg, 'containers', 'auth.json'), JSON.stringify({ auths: { 'podman.example': { auth: b64('pod:man') } } }));
    const r = await resolveCredential('podman.example', undefined, { env: env({ DOCKER_CONFIG: dir, XDG_RUNTIME_DIR: xdg }) });
    assert.deepEqual(r?.credential, { username: 'pod', password: 'man' });
    // The docker config wins over auth.json.
    const both = dockerConfig('both', { auths: { 'podman.example': { auth: b64('docker:wins') } } });
    assert.equal((await resolveCredential('podman.example', undefined, { env: env({ DOCKER_CONFIG: both, XDG_RUNTIME_DIR: xdg }) }))?.credential.username, 'docker');
  });
  it('returns nothing for unknown hosts, and errors on broken files without echoing them', async () => {
    const dir = dockerConfig('empty', {});
    assert.equal(await resolveCredential('nowhere.example', undefined, { env: env({ DOCKER_CONFIG: dir }) }), undefined);
    const bad = join(root, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'config.json'), '{"auths": {"x": {"auth": "c2VjcmV0"}} oops');
    await assert.rejects(resolveCredential('x', undefined, { env: env({ DOCKER_CONFIG: bad }) }), (e: unknown) => isZtocError(e, 'CREDENTIALS') && !/c2VjcmV0|secret/.test(e.message));
  });
  it('caches per host in a lookup and asks the helper once', async () => {
    const dir = dockerConfig('cache', { credHelpers: { 'helped.example': 'test' } });
    const lookup = createCredentialLookup({ env: env({ DOCKER_CONFIG: dir }) });
    const [a, b] = await Promise.all([lookup('helped.example'), lookup('helped.example')]);
    assert.equal(a, b);
    assert.equal(a?.credential.username, 'helper-user');
  });
});
