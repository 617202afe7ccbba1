// Secrets never leak: every auth mode runs with a distinctive secret (password from -p, --password-stdin, docker
// config `auths`, a credential helper; an identity token; bearer tokens issued by the token server), with --debug and
// --json, on success and on failure, and every output is searched for the secret in all its encodings (plain, base64 of
// user:secret, base64, URL-encoded) and for any JWT: stdout, stderr and every file the run wrote. Also: a password on
// the command line warns even when ZTOC_PASSWORD is set too (and ZTOC_PASSWORD alone does not), and credential helper
// names are never interpreted by a shell.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runCliAsync } from './helpers/cli.js';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from './helpers/registry.js';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { makeSmallLayers, skopeoPush, skopeoPushAsync, writeLayoutImage } from './helpers/images.js';

const USER = 'ztoc';
const PASSWORD = 'Pw-7c1e9a40-LEAKCHECK-secret';
const WRONG = 'Wrong-3b5d7f91-LEAKCHECK-secret';
const TOKEN_PASSWORD = 'Tk-2f4a6c8e-LEAKCHECK-secret';
const IDENTITY = 'Id-9e8d7c6b-LEAKCHECK-refresh';
const REGTOKEN = 'Rt-5a4b3c2d-LEAKCHECK-bearer';
const common = ['--min-layer-size', '64KiB', '--span-size', '128KiB'];

let basic: RunningRegistry;
let tok: RunningRegistry;
let work: string;
let n = 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Every file under the run's cwd and HOME afterwards, with its contents. */
  files: Array<{ path: string; text: string }>;
}

function walk(dir: string, out: Array<{ path: string; text: string }>): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, out);
    else if (st.isFile()) out.push({ path: p, text: readFileSync(p).toString('latin1') });
  }
}

/** The real CLI in a fresh cwd and HOME; DOCKER_CONFIG (which holds secrets by design) lives outside both. */
async function ztoc(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; dockerConfig?: unknown; pathPrepend?: string } = {}): Promise<Run> {
  const base = join(work, `run-${n++}`);
  const cwd = join(base, 'cwd');
  const home = join(base, 'home');
  const cfg = join(base, 'docker');
  for (const d of [cwd, home, cfg]) mkdirSync(d, { recursive: true });
  writeFileSync(join(cfg, 'config.json'), JSON.stringify(opts.dockerConfig ?? {}));
  const env: NodeJS.ProcessEnv = { HOME: home, XDG_RUNTIME_DIR: home, DOCKER_CONFIG: cfg, TMPDIR: home, ...opts.env };
  if (opts.pathPrepend !== undefined) env['PATH'] = `${opts.pathPrepend}:${process.env['PATH'] ?? ''}`;
  const r = await runCliAsync(args, { cwd, env, input: opts.input ?? '', timeoutMs: 60_000, unset: ['REGISTRY_AUTH_FILE', 'ZTOC_PASSWORD'] });
  const files: Run['files'] = [];
  walk(cwd, files);
  walk(home, files);
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr, files };
}

/** Every form a secret could take in an output. */
function needles(secret: string, user = USER): string[] {
  return [secret, Buffer.from(`${user}:${secret}`).toString('base64'), Buffer.from(secret).toString('base64'), encodeURIComponent(secret), secret.slice(0, 12)];
}

const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}/;

function assertClean(r: Run, secrets: string[], what: string): void {
  const outputs: Array<[string, string]> = [
    ['stdout', r.stdout],
    ['stderr', r.stderr],
    ...r.files.map((f): [string, string] => [`file ${f.path}`, f.text]),
  ];
  for (const [where, text] of outputs) {
    for (const s of secrets) for (const nd of needles(s)) assert.ok(!text.includes(nd), `${what}: ${where} contains a secret (${JSON.stringify(nd)})`);
    assert.doesNotMatch(text, JWT, `${what}: ${where} contains a bearer token (JWT)`);
    assert.doesNotMatch(text, /(authorization|cookie):\s*(basic|bearer)\s+\S/i, `${what}: ${where} shows an Authorization header value`);
  }
}

before(async () => {
  work = tempDir('ztoc-secrets-');
  [basic, tok] = await Promise.all([
    startRegistry({ auth: 'htpasswd', username: USER, password: PASSWORD }),
    startRegistry({ auth: 'token', username: USER, password: TOKEN_PASSWORD, token: { refreshTokens: { [IDENTITY]: USER } } }),
  ]);
  const layout = join(work, 'layout');
  await writeLayoutImage(layout, makeSmallLayers(work, 'secrets'), 'v1');
  skopeoPush(layout, 'v1', basic.host, 'sec/app', { creds: `${USER}:${PASSWORD}` });
  await skopeoPushAsync(layout, 'v1', tok.host, 'sec/app', { creds: `${USER}:${TOKEN_PASSWORD}` });
}, { timeout: 90_000 });

after(async () => {
  await Promise.all([basic?.stop(), tok?.stop()]);
  if (work) cleanup(work);
});

test('Basic auth: --password-stdin with --debug --json indexes and leaks nothing; no warning', async () => {
  const r = await ztoc(['index', `${basic.host}/sec/app:v1`, ...common, '-u', USER, '--password-stdin', '--debug', '--json', '--force'], { input: `${PASSWORD}\n` });
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { platforms: Array<{ status: string }> }).platforms[0]!.status, 'indexed');
  assert.match(r.stderr, /authorization: \*\*\*\*\*/i, 'the debug trace shows the redacted header');
  assert.doesNotMatch(r.stderr, /warning/);
  assertClean(r, [PASSWORD], 'password-stdin');
});

test('Basic auth: -p on the command line warns, also when ZTOC_PASSWORD is set too; ZTOC_PASSWORD alone does not', async () => {
  const argv = await ztoc(['list', `${basic.host}/sec/app:v1`, '-u', USER, '-p', PASSWORD, '--debug'], { env: { ZTOC_PASSWORD: WRONG } });
  assert.equal(argv.code, 0, argv.stderr);
  assert.match(argv.stderr, /^ztoc: warning: a password on the command line can leak .* use --password-stdin$/m);
  assertClean(argv, [PASSWORD, WRONG], '-p with ZTOC_PASSWORD');
  const envOnly = await ztoc(['list', `${basic.host}/sec/app:v1`, '-u', USER, '--debug', '--json'], { env: { ZTOC_PASSWORD: PASSWORD } });
  assert.equal(envOnly.code, 0, envOnly.stderr);
  assert.doesNotMatch(envOnly.stderr, /warning/);
  assertClean(envOnly, [PASSWORD], 'ZTOC_PASSWORD');
});

test('Basic auth: a wrong password (argv), docker config `auths`, and a credential helper: failures and successes leak nothing', async () => {
  const wrong = await ztoc(['index', `${basic.host}/sec/app:v1`, ...common, '-u', USER, '-p', WRONG, '--debug', '--json']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /REGISTRY_UNAUTHORIZED/);
  assertClean(wrong, [WRONG, PASSWORD], 'wrong password');

  const auths = { auths: { [basic.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } };
  const cfg = await ztoc(['index', `${basic.host}/sec/app:v1`, ...common, '--debug', '--json', '--force'], { dockerConfig: auths });
  assert.equal(cfg.code, 0, cfg.stderr);
  assertClean(cfg, [PASSWORD], 'docker config auths');
  const cfgWrong = await ztoc(['list', `${basic.host}/sec/app:v1`, '--debug'], { dockerConfig: { auths: { [basic.host]: { auth: Buffer.from(`${USER}:${WRONG}`).toString('base64') } } } });
  assert.equal(cfgWrong.code, 1);
  assertClean(cfgWrong, [WRONG, PASSWORD], 'wrong docker config auths');

  const helperDir = join(work, 'helper-bin');
  mkdirSync(helperDir, { recursive: true });
  const helper = join(helperDir, 'docker-credential-leakcheck');
  writeFileSync(helper, `#!/bin/sh\ncat > /dev/null\nprintf '%s' '{"ServerURL":"x","Username":"${USER}","Secret":"${PASSWORD}"}'\n`);
  chmodSync(helper, 0o755);
  const viaHelper = await ztoc(['index', `${basic.host}/sec/app:v1`, ...common, '--debug', '--json', '--force'], {
    dockerConfig: { credHelpers: { [basic.host]: 'leakcheck' } },
    pathPrepend: helperDir,
  });
  assert.equal(viaHelper.code, 0, viaHelper.stderr);
  assertClean(viaHelper, [PASSWORD], 'credential helper');
});

test('token auth: password, identity token (OAuth2 refresh) and a bad registry token; issued JWTs never printed', async () => {
  const pw = await ztoc(['index', `${tok.host}/sec/app:v1`, ...common, '-u', USER, '--password-stdin', '--debug', '--json', '--force'], { input: TOKEN_PASSWORD });
  assert.equal(pw.code, 0, pw.stderr);
  assert.ok(tok.tokenServer!.requests.some((q) => q.user === USER && q.status === 200), 'no token was issued');
  assert.match(pw.stderr, /body: <redacted: body carries a token>|authorization: \*\*\*\*\*/i);
  assertClean(pw, [TOKEN_PASSWORD], 'token server, password');

  const id = await ztoc(['index', `${tok.host}/sec/app:v1`, ...common, '--debug', '--json', '--force'], {
    dockerConfig: { auths: { [tok.host]: { identitytoken: IDENTITY } } },
  });
  assert.equal(id.code, 0, id.stderr);
  assert.ok(tok.tokenServer!.requests.some((q) => q.grantType === 'refresh_token' && q.status === 200), 'the identity token was not used');
  assertClean(id, [IDENTITY, TOKEN_PASSWORD], 'identity token');

  const badId = await ztoc(['list', `${tok.host}/sec/app:v1`, '--debug'], { dockerConfig: { auths: { [tok.host]: { identitytoken: `${IDENTITY}-revoked` } } } });
  assert.equal(badId.code, 1);
  assertClean(badId, [IDENTITY], 'revoked identity token');

  const reg = await ztoc(['list', `${tok.host}/sec/app:v1`, '--debug', '--json'], { dockerConfig: { auths: { [tok.host]: { registrytoken: REGTOKEN } } } });
  assert.equal(reg.code, 1);
  assertClean(reg, [REGTOKEN], 'registry token');
});

test('credential helper names are never interpreted by a shell', async () => {
  const marker = join(work, 'pwned');
  for (const name of [`x;touch ${marker}`, `$(touch ${marker})`, `x\`touch ${marker}\``, `x && touch ${marker}`, `x|touch ${marker}`, '../../bin/sh']) {
    const r = await ztoc(['list', `${basic.host}/sec/app:v1`], { dockerConfig: { credHelpers: { [basic.host]: name } } });
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, /invalid credential helper name .*\[CREDENTIALS\]$/m, name);
    assert.equal(existsSync(marker), false, `helper name ${JSON.stringify(name)} ran a shell command`);
  }
  // A valid name runs exactly docker-credential-<name> with argv ["get"] and the server on stdin, not through sh -c.
  const dir = join(work, 'argv-bin');
  mkdirSync(dir, { recursive: true });
  const log = join(work, 'argv.log');
  writeFileSync(join(dir, 'docker-credential-argv'), `#!/bin/sh\nprintf '%s|' "$0" "$@" > '${log}'\nprintf 'stdin=' >> '${log}'\ncat >> '${log}'\nexit 1\n`);
  chmodSync(join(dir, 'docker-credential-argv'), 0o755);
  const r = await ztoc(['list', `${basic.host}/sec/app:v1`], { dockerConfig: { credHelpers: { [basic.host]: 'argv' } }, pathPrepend: dir });
  assert.equal(r.code, 1);
  assert.equal(readFileSync(log, 'utf8'), `${join(dir, 'docker-credential-argv')}|get|stdin=${basic.host}`);
});
