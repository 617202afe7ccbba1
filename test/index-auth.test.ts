// `ztoc index` (the CLI, as a user runs it) against registries that require authentication: Debian's
// docker-registry with htpasswd (Basic) and with token auth (test/helpers/token-server.ts). Credentials come from a
// docker config `auths` entry, a `credHelpers` credential helper, `-u` + `--password-stdin`, and `-u -p` (which
// warns). A wrong password fails with a clear REGISTRY_UNAUTHORIZED naming the registry and never prints the secret,
// not even in the --debug trace. Every successful run is read back through the registry API.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from './helpers/registry.js';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { makeSmallLayers, skopeoPush, skopeoPushAsync, writeLayoutImage } from './helpers/images.js';
import { runCliHermetic, type TextResult } from './helpers/cli.js';
import { Repository } from '../src/registry/index.js';
import { MediaType, type ImageIndex, type ImageManifest } from '../src/oci/types.js';
import { parseSociIndex } from '../src/soci/index.js';

const common = ['--min-layer-size', '64KiB', '--span-size', '128KiB'];
const HTPASSWD_REPOS = ['auths', 'helper', 'stdin', 'argv', 'wrong'];

let reg: RunningRegistry; // htpasswd
let tokReg: RunningRegistry; // token auth
let work: string;
/** An empty HOME / XDG_RUNTIME_DIR / DOCKER_CONFIG, so nothing of the machine's own credentials leaks in. */
let home: string;
let emptyConfig: string;

type Run = TextResult;

/** The real CLI with a hermetic credential environment plus `env` (the token server runs in this process). */
function ztoc(args: string[], env: NodeJS.ProcessEnv = {}, input = ''): Promise<Run> {
  return runCliHermetic(args, home, { input, env, dockerConfig: emptyConfig, timeoutMs: 45_000 });
}

/** A DOCKER_CONFIG directory holding `config`. */
function dockerConfig(name: string, config: unknown): string {
  const dir = join(work, `docker-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

function authsFor(host: string, user: string, password: string): unknown {
  return { auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } };
}

before(async () => {
  work = tempDir('ztoc-index-auth-');
  home = join(work, 'home');
  emptyConfig = join(work, 'docker-empty');
  mkdirSync(home, { recursive: true });
  mkdirSync(emptyConfig, { recursive: true });
  [reg, tokReg] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry({ auth: 'token' })]);
  const layout = join(work, 'layout');
  await writeLayoutImage(layout, makeSmallLayers(work, 'auth'), 'v1');
  for (const name of HTPASSWD_REPOS) skopeoPush(layout, 'v1', reg.host, name, { creds: `${reg.username}:${reg.password}` });
  // Async: the token server lives in this process and must keep answering while skopeo pushes.
  await skopeoPushAsync(layout, 'v1', tokReg.host, 'tok/app', { creds: `${tokReg.username}:${tokReg.password}` });
}, { timeout: 50_000 });

after(async () => {
  await Promise.all([reg?.stop(), tokReg?.stop()]);
  if (work) cleanup(work);
});

function authedRepo(r: RunningRegistry, name: string): Repository {
  return new Repository(r.host, name, { credentials: { username: r.username!, password: r.password! } });
}

/**
 * The run's JSON says "indexed via the tag fallback", and the registry agrees: the `sha256-<hex>` tag lists the SOCI
 * index, which points back at the (unchanged) image and at two zTOC blobs that exist.
 */
async function assertIndexed(r: RunningRegistry, name: string, run: Run): Promise<string> {
  assert.equal(run.code, 0, run.stderr);
  const out = JSON.parse(run.stdout) as { digest: string; platforms: Array<{ status: string; mechanism: string; sociIndex: { digest: string }; ztocs: unknown[] }> };
  const p = out.platforms[0]!;
  assert.equal(p.status, 'indexed');
  assert.equal(p.mechanism, 'tag');
  assert.equal(p.ztocs.length, 2);
  const repo = authedRepo(r, name);
  try {
    const image = await repo.resolve('v1');
    assert.equal(image.descriptor.digest, out.digest);
    const fallback = (await repo.fetchManifest(`sha256-${out.digest.slice(7)}`)).manifest as ImageIndex;
    const entry = fallback.manifests.find((d) => d.digest === p.sociIndex.digest);
    assert.ok(entry, 'the SOCI index is missing from the referrers fallback tag');
    assert.equal(entry.artifactType, MediaType.SociIndexV1);
    const info = parseSociIndex((await repo.fetchManifest(p.sociIndex.digest)).bytes);
    assert.equal(info.subject?.digest, out.digest);
    assert.deepEqual(
      info.ztocs.map((z) => z.layerDigest),
      (image.manifest as ImageManifest).layers.slice(0, 2).map((l) => l.digest),
    );
    for (const z of info.ztocs) assert.ok(await repo.blobExists(z.ztoc.digest), `zTOC ${z.ztoc.digest} was not pushed`);
  } finally {
    await repo.close();
  }
  return p.sociIndex.digest;
}

test('htpasswd: credentials from docker config `auths` (DOCKER_CONFIG)', async () => {
  const cfg = dockerConfig('auths', authsFor(reg.host, reg.username!, reg.password!));
  const run = await ztoc(['index', `${reg.host}/auths:v1`, ...common, '--json'], { DOCKER_CONFIG: cfg });
  await assertIndexed(reg, 'auths', run);
  assert.doesNotMatch(run.stderr, /warning/);

  // The same config serves the read side: verify checks both zTOCs against their layers.
  const v = await ztoc(['verify', `${reg.host}/auths:v1`], { DOCKER_CONFIG: cfg });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /2 zTOCs in 1 SOCI indexes match/);

  // Without credentials the registry is closed, and the message says how to fix it.
  const anon = await ztoc(['list', `${reg.host}/auths:v1`]);
  assert.equal(anon.code, 1);
  assert.match(anon.stderr, /REGISTRY_UNAUTHORIZED/);
  assert.ok(anon.stderr.includes(`registry ${reg.host} requires authentication`), anon.stderr);
});

test('htpasswd: credentials from a credential helper (credHelpers → docker-credential-ztoctest on PATH)', async () => {
  const binDir = join(work, 'helper-bin');
  mkdirSync(binDir, { recursive: true });
  const askedLog = join(work, 'helper-asked.log');
  writeFileSync(askedLog, '');
  const script = join(binDir, 'docker-credential-ztoctest');
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      '# Test credential helper: answers `get` for one registry and logs every server it is asked about.',
      '[ "$1" = get ] || { echo "unsupported: $1" >&2; exit 1; }',
      'server=$(cat)',
      `printf '%s\\n' "$server" >> '${askedLog}'`,
      `if [ "$server" = '${reg.host}' ]; then`,
      `  printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\\n' "$server" '${reg.username}' '${reg.password}'`,
      'else',
      '  echo "credentials not found in native keychain"',
      '  exit 1',
      'fi',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  const cfg = dockerConfig('helper', { credHelpers: { [reg.host]: 'ztoctest' } });
  const run = await ztoc(['index', `${reg.host}/helper:v1`, ...common, '--json'], { DOCKER_CONFIG: cfg, PATH: `${binDir}:${process.env['PATH'] ?? ''}` });
  await assertIndexed(reg, 'helper', run);
  // The helper was asked about exactly this registry (and the lookup is cached: not once per request).
  const asked = readFileSync(askedLog, 'utf8').trim().split('\n');
  assert.ok(asked.length >= 1 && asked.every((s) => s === reg.host), JSON.stringify(asked));
  assert.ok(asked.length <= 2, `helper ran ${asked.length} times`);

  // Configured but not on PATH: a clear CREDENTIALS error, not an anonymous attempt.
  const missing = await ztoc(['index', `${reg.host}/helper:v1`, ...common, '--json'], { DOCKER_CONFIG: cfg, PATH: '/usr/bin:/bin' });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /docker-credential-ztoctest is configured but not found on PATH \[CREDENTIALS\]/);
});

test('htpasswd: -u with --password-stdin (no warning)', async () => {
  const run = await ztoc(['index', `${reg.host}/stdin:v1`, ...common, '--json', '-u', reg.username!, '--password-stdin'], {}, `${reg.password}\n`);
  await assertIndexed(reg, 'stdin', run);
  assert.doesNotMatch(run.stderr, /warning/);
  assert.ok(!run.stdout.includes(reg.password!) && !run.stderr.includes(reg.password!));
});

test('htpasswd: -u with -p on the command line works and warns on stderr', async () => {
  const run = await ztoc(['index', `${reg.host}/argv:v1`, ...common, '--json', '-u', reg.username!, '-p', reg.password!]);
  await assertIndexed(reg, 'argv', run);
  assert.match(run.stderr, /warning: a password on the command line can leak .*use --password-stdin/);
  assert.ok(!run.stdout.includes(reg.password!) && !run.stderr.includes(reg.password!));
});

/** Every way the secret could show up in output: as is, and inside a Basic header value. */
function assertNoSecret(run: Run, user: string, password: string): void {
  const basic = Buffer.from(`${user}:${password}`).toString('base64');
  for (const [name, text] of [['stdout', run.stdout], ['stderr', run.stderr]] as const) {
    assert.ok(!text.includes(password), `the password appears on ${name}`);
    assert.ok(!text.includes(basic), `the Basic credential appears on ${name}`);
  }
}

test('htpasswd: a wrong password fails clearly (REGISTRY_UNAUTHORIZED, registry named) and is never printed', async () => {
  const wrong = 'Wr0ng-Passw0rd-4711';
  const run = await ztoc(['index', `${reg.host}/wrong:v1`, ...common, '-u', reg.username!, '--password-stdin'], {}, `${wrong}\n`);
  assert.equal(run.code, 1, run.stderr);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^ztoc: error: authentication to registry 127\.0\.0\.1:\d+ failed: username or password rejected \(user "ztoc" from explicit credentials\) \[REGISTRY_UNAUTHORIZED\]$/m);
  assert.ok(run.stderr.includes(reg.host), run.stderr);
  assertNoSecret(run, reg.username!, wrong);

  // Nothing was written.
  const repo = authedRepo(reg, 'wrong');
  try {
    const image = await repo.resolve('v1');
    assert.deepEqual(await repo.referrers(image.descriptor.digest), []);
  } finally {
    await repo.close();
  }
});

test('htpasswd: a wrong password from the docker config with --debug: the trace redacts Authorization', async () => {
  const wrong = 'An0ther-Wr0ng-One';
  const cfg = dockerConfig('wrong', authsFor(reg.host, reg.username!, wrong));
  const run = await ztoc(['index', `${reg.host}/wrong:v1`, ...common, '--debug'], { DOCKER_CONFIG: cfg });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /failed: username or password rejected \(user "ztoc" from auths in .*config\.json\) \[REGISTRY_UNAUTHORIZED\]/);
  assert.ok(run.stderr.includes(`registry ${reg.host}`));
  // The trace is there (requests, the 401 challenge) and every Authorization header in it is masked.
  assert.match(run.stderr, /^debug: > GET http:\/\/127\.0\.0\.1:\d+\/v2\/wrong\/manifests\/v1$/m);
  assert.match(run.stderr, /^debug: <   www-authenticate: Basic realm="test"$/m);
  const authLines = run.stderr.split('\n').filter((l) => /authorization:/i.test(l) && !/www-authenticate/i.test(l));
  assert.ok(authLines.length > 0, 'the trace shows no Authorization header at all');
  for (const l of authLines) assert.match(l, /^debug: >\s+authorization: \*{5}$/, l);
  assertNoSecret(run, reg.username!, wrong);
});

test('token auth: docker config credentials, push and verify end to end; anonymous may pull but not push', async () => {
  const cfg = dockerConfig('token', authsFor(tokReg.host, tokReg.username!, tokReg.password!));
  const tokens = tokReg.tokenServer!;
  tokens.requests.length = 0;
  const run = await ztoc(['index', `${tokReg.host}/tok/app:v1`, ...common, '--json'], { DOCKER_CONFIG: cfg });
  const sociDigest = await assertIndexed(tokReg, 'tok/app', run);
  // Tokens were issued to our user, and the push ones carry the push action.
  assert.ok(tokens.requests.length > 0);
  assert.ok(tokens.requests.every((r) => r.status === 200 && r.user === tokReg.username), JSON.stringify(tokens.requests));
  assert.ok(tokens.requests.some((r) => r.scopes.includes('repository:tok/app:pull,push')), JSON.stringify(tokens.requests.map((r) => r.scopes)));

  const v = await ztoc(['verify', `${tokReg.host}/tok/app:v1`], { DOCKER_CONFIG: cfg });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /2 zTOCs in 1 SOCI indexes match/);
  // With --debug: Basic to the token server and Bearer to the registry are both masked, the token body too.
  const list = await ztoc(['list', `${tokReg.host}/tok/app:v1`, '--json', '--debug'], { DOCKER_CONFIG: cfg });
  assert.equal(list.code, 0, list.stderr);
  assert.equal((JSON.parse(list.stdout) as Array<{ index: string }>)[0]?.index, sociDigest);
  assert.match(list.stderr, /^debug: > GET http:\/\/127\.0\.0\.1:\d+\/token\?/m);
  const authLines = list.stderr.split('\n').filter((l) => /authorization:/i.test(l) && !/www-authenticate/i.test(l));
  assert.ok(authLines.length >= 2, list.stderr);
  for (const l of authLines) assert.match(l, /^debug: >\s+authorization: \*{5}$/, l);
  assert.doesNotMatch(list.stderr, /eyJ[\w-]+\.[\w-]+\./, 'a JWT appears in the trace');
  assertNoSecret(list, tokReg.username!, tokReg.password!);

  // Anonymous: the token server hands out pull-only tokens, so reading works and the first write is refused.
  const anon = await ztoc(['index', `${tokReg.host}/tok/app:v1`, ...common, '--force', '--span-size', '64KiB']);
  assert.equal(anon.code, 1, anon.stderr);
  assert.match(anon.stderr, /REGISTRY_UNAUTHORIZED/);
  assert.ok(anon.stderr.includes(tokReg.host), anon.stderr);
  assert.match(anon.stderr, /anonymous/);
});
