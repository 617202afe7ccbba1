// Authentication against real registries: htpasswd Basic (right/wrong/missing password, credentials from a docker
// config + credential helper, redacted debug trace, Authorization dropped on a cross-origin redirect) and token auth
// through our token server (one token per push, wrong password, anonymous pull vs push, OAuth2 identity tokens with
// the GET fallback, re-challenge after a rejected token).

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isZtocError } from '../src/errors.js';
import { createCredentialLookup, RegistryClient, Repository } from '../src/registry/index.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { makeImage, startRegistry, type RunningRegistry, type TestImage } from './helpers/registry.js';
import type { TokenServer } from './helpers/token-server.js';

const FAST = { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 3 };

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

async function pushImage(r: Repository, img: TestImage, tag: string): Promise<void> {
  for (const b of [img.config, ...img.layers]) await r.pushBlob(b.desc, b.bytes);
  await r.pushManifest(tag, img.manifest.bytes, img.manifest.desc.mediaType);
}

describe('htpasswd (Basic)', () => {
  let reg: RunningRegistry;
  let tmp: string;
  const clients: RegistryClient[] = [];
  const mk = (opts: ConstructorParameters<typeof RegistryClient>[0]): RegistryClient => {
    const c = new RegistryClient({ retry: FAST, ...opts });
    clients.push(c);
    return c;
  };

  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    tmp = mkdtempSync(join(tmpdir(), 'ztoc-auth-'));
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await reg?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('pushes and pulls with the right password; the debug trace redacts Authorization', async () => {
    const lines: string[] = [];
    const client = mk({ credentials: { username: reg.username, password: reg.password }, onDebug: (l) => lines.push(l) });
    const r = new Repository(reg.host, 'basic/app', { client });
    const img = makeImage([2048]);
    await pushImage(r, img, 'v1');
    const got = await r.resolve('v1');
    assert.equal(got.descriptor.digest, img.manifest.desc.digest);
    const trace = lines.join('\n');
    assert.match(trace, /authorization: \*\*\*\*\*/);
    assert.ok(!trace.includes(Buffer.from(`${reg.username}:${reg.password}`).toString('base64')));
    assert.ok(!trace.includes(reg.password ?? '???'));
    assert.match(trace, /user-agent: ztoc\//);
  });

  it('fails a wrong password with REGISTRY_UNAUTHORIZED naming the registry, not the password', async () => {
    const r = new Repository(reg.host, 'basic/app', { client: mk({ credentials: { username: 'ztoc', password: 'not-the-password' } }) });
    await assert.rejects(r.resolve('v1'), (e: unknown) => {
      assert.ok(isZtocError(e, 'REGISTRY_UNAUTHORIZED'));
      assert.ok(e.message.includes(reg.host), e.message);
      assert.match(e.message, /username or password rejected/);
      assert.match(e.message, /user "ztoc"/);
      assert.ok(!e.message.includes('not-the-password'));
      return true;
    });
  });

  it('says credentials are missing when there are none', async () => {
    const r = new Repository(reg.host, 'basic/app', { client: mk({ credentials: createCredentialLookup({ env: { HOME: tmp, PATH: '/nonexistent' } }) }) });
    await assert.rejects(r.resolve('v1'), (e: unknown) => isZtocError(e, 'REGISTRY_UNAUTHORIZED') && /requires authentication.*no credentials were found/.test(e.message));
  });

  it('gets the password from a docker config credHelper (docker-credential-test on PATH)', async () => {
    const bin = join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-test');
    writeFileSync(
      helper,
      `#!/bin/sh\nread -r server\nif [ "$server" = "${reg.host}" ]; then printf '{"ServerURL":"%s","Username":"${reg.username}","Secret":"${reg.password}"}' "$server"; else echo "credentials not found in native keychain"; exit 1; fi\n`,
    );
    chmodSync(helper, 0o755);
    const cfg = join(tmp, 'docker');
    mkdirSync(cfg, { recursive: true });
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'test' }, auths: { [reg.host]: { auth: Buffer.from('ztoc:wrong').toString('base64') } } }));
    const lookup = createCredentialLookup({ env: { PATH: `${bin}:${process.env.PATH ?? ''}`, DOCKER_CONFIG: cfg, HOME: tmp } });
    const r = new Repository(reg.host, 'basic/app', { client: mk({ credentials: lookup }) });
    assert.deepEqual((await r.listTags()).sort(), ['v1']);
  });

  describe('redirects', () => {
    let front: FaultProxy;
    let store: FaultProxy;
    before(async () => {
      // `store` plays a blob store on another origin (other port): it needs no client credentials (it adds its own
      // upstream, like a presigned URL would carry its signature).
      store = await startFaultProxy({ upstream: reg.host, injectAuthorization: `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}` });
      front = await startFaultProxy({ upstream: reg.host });
    });
    after(async () => {
      await front?.stop();
      await store?.stop();
    });

    it('drops Authorization when a blob GET redirects to another origin, keeps it on the same origin', async () => {
      const client = mk({ credentials: { username: reg.username, password: reg.password } });
      const r = new Repository(front.host, 'basic/redirect', { client });
      const img = makeImage([50_000]);
      await pushImage(r, img, 'v1');
      const layer = img.layers[0];
      assert.ok(layer !== undefined);

      front.addRule({
        method: 'GET',
        path: `/blobs/${layer.desc.digest}`,
        withAuth: true,
        times: 1,
        action: { kind: 'redirect', location: (req) => `http://${store.host}${req.url ?? ''}`, status: 307 },
      });
      const got = await collect(r.fetchBlob(layer.desc));
      assert.ok(got.equals(layer.bytes));
      const atStore = store.requests.filter((q) => q.url.includes(layer.desc.digest));
      assert.equal(atStore.length, 1);
      assert.equal(atStore[0]?.headers.authorization, undefined, 'credentials must not cross origins');
      assert.match(String(atStore[0]?.headers['user-agent']), /^ztoc\//);

      // Same origin: the Authorization header survives the hop.
      front.requests.length = 0;
      front.addRule({
        method: 'GET',
        path: `/blobs/${layer.desc.digest}`,
        withAuth: true,
        times: 1,
        action: { kind: 'redirect', location: (req) => `${req.url ?? ''}?hop=1`, status: 302 },
      });
      assert.ok((await r.fetchBlobRange(layer.desc.digest, 10, 20)).equals(layer.bytes.subarray(10, 20)));
      const hop = front.requests.find((q) => q.url.includes('hop=1'));
      assert.ok(hop?.headers.authorization !== undefined);
      assert.equal(hop?.headers.range, 'bytes=10-19', 'Range survives a redirect');

      // HEAD is never followed: a 3xx on a blob HEAD means the blob exists.
      front.addRule({ method: 'HEAD', path: '/blobs/', times: 1, action: { kind: 'redirect', location: 'http://127.0.0.1:1/nowhere', status: 307 } });
      assert.equal(await r.blobExists(`sha256:${'7'.repeat(64)}`), true);
    });
  });
});

describe('token auth (our token server)', () => {
  let reg: RunningRegistry;
  let ts: TokenServer;
  const clients: RegistryClient[] = [];
  const mk = (opts: ConstructorParameters<typeof RegistryClient>[0]): RegistryClient => {
    const c = new RegistryClient({ retry: FAST, ...opts });
    clients.push(c);
    return c;
  };
  const img = makeImage([4096, 100]);

  before(async () => {
    reg = await startRegistry({ auth: 'token', token: { refreshTokens: { 'refresh-ok': 'ztoc' } } });
    assert.ok(reg.tokenServer !== undefined);
    ts = reg.tokenServer;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await reg?.stop();
  });

  it('pushes and pulls with one token request per scope set; tokens never reach the debug trace', async () => {
    const lines: string[] = [];
    const r = new Repository(reg.host, 'tok/app', { client: mk({ credentials: { username: reg.username, password: reg.password }, onDebug: (l) => lines.push(l) }) });
    ts.requests.length = 0;
    await pushImage(r, img, 'v1');
    assert.equal(ts.requests.length, 1, JSON.stringify(ts.requests));
    assert.deepEqual(ts.requests[0]?.scopes, ['repository:tok/app:pull,push']);
    assert.equal(ts.requests[0]?.user, 'ztoc');
    assert.equal(ts.requests[0]?.service, 'test-registry');
    const got = await r.fetchManifest('v1');
    assert.equal(got.descriptor.digest, img.manifest.desc.digest);
    const layer = img.layers[0];
    assert.ok(layer !== undefined);
    assert.ok((await collect(r.fetchBlob(layer.desc))).equals(layer.bytes));
    assert.equal(ts.requests.length, 2, 'pull scope got its own token, then cached');
    const trace = lines.join('\n');
    assert.match(trace, /<redacted: body carries a token>/);
    assert.doesNotMatch(trace, /eyJ[A-Za-z0-9_-]{10,}/, 'no JWT in the trace');
  });

  it('asks one token for the mount with the source pull scope', async () => {
    const r = new Repository(reg.host, 'tok/other', { client: mk({ credentials: { username: reg.username, password: reg.password } }) });
    ts.requests.length = 0;
    const layer = img.layers[0];
    assert.ok(layer !== undefined);
    assert.equal(await r.mountBlob(layer.desc, 'tok/app', layer.bytes), 'mounted');
    assert.equal(ts.requests.length, 1);
    assert.deepEqual(ts.requests[0]?.scopes, ['repository:tok/app:pull', 'repository:tok/other:pull,push']);
  });

  it('fails a wrong password clearly', async () => {
    const r = new Repository(reg.host, 'tok/app', { client: mk({ credentials: { username: 'ztoc', password: 'bad-secret' } }) });
    await assert.rejects(r.resolve('v1'), (e: unknown) => {
      assert.ok(isZtocError(e, 'REGISTRY_UNAUTHORIZED'));
      assert.ok(e.message.includes(reg.host));
      assert.match(e.message, /token server .* answered HTTP 401/);
      assert.ok(!e.message.includes('bad-secret'));
      return true;
    });
  });

  it('pulls anonymously but cannot push anonymously', async () => {
    const r = new Repository(reg.host, 'tok/app', { client: mk({ credentials: async () => undefined }) });
    assert.equal((await r.resolve('v1')).descriptor.digest, img.manifest.desc.digest);
    await assert.rejects(r.pushManifest('anon', img.manifest.bytes, img.manifest.desc.mediaType), (e: unknown) => isZtocError(e, 'REGISTRY_UNAUTHORIZED') && /anonymous/.test(e.message));
  });

  it('uses an identity token through the OAuth2 POST flow, and falls back to GET when POST is 404', async () => {
    ts.requests.length = 0;
    const r = new Repository(reg.host, 'tok/app', { client: mk({ credentials: { identityToken: 'refresh-ok' } }) });
    await r.pushManifest('by-identity', img.manifest.bytes, img.manifest.desc.mediaType);
    assert.equal(ts.requests[0]?.method, 'POST');
    assert.equal(ts.requests[0]?.grantType, 'refresh_token');
    assert.equal(ts.requests[0]?.clientId, 'ztoc');
    assert.deepEqual(ts.requests[0]?.scopes, ['repository:tok/app:pull,push']);

    ts.oauth = false;
    ts.useAccessTokenField = true;
    try {
      ts.requests.length = 0;
      const r2 = new Repository(reg.host, 'tok/app', { client: mk({ credentials: { identityToken: 'refresh-ok' } }) });
      assert.equal((await r2.resolve('v1')).descriptor.digest, img.manifest.desc.digest);
      assert.deepEqual(ts.requests.map((q) => `${q.method} ${q.status}`), ['POST 404', 'GET 200']);
    } finally {
      ts.oauth = true;
      ts.useAccessTokenField = false;
    }
  });

  it('re-challenges once when the registry rejects a token, then succeeds', async () => {
    const client = mk({ credentials: { username: reg.username, password: reg.password } });
    const r = new Repository(reg.host, 'tok/app', { client });
    await r.resolve('v1'); // caches a pull token
    ts.requests.length = 0;
    ts.expireNext = 1;
    // A new scope set: the proactive token is already expired, the registry answers 401, we fetch a fresh one.
    const r2 = new Repository(reg.host, 'tok/third', { client });
    await pushImage(r2, img, 'x');
    assert.equal(ts.requests.length, 2);
    ts.expireNext = 5;
    await assert.rejects(new Repository(reg.host, 'tok/fourth', { client }).listTags(), (e: unknown) => isZtocError(e, 'REGISTRY_UNAUTHORIZED'));
    ts.expireNext = 0;
  });
});

describe('TLS: certificate checks, insecure, extra CA', () => {
  let reg: RunningRegistry;
  const clients: RegistryClient[] = [];
  const mk = (opts: ConstructorParameters<typeof RegistryClient>[0]): RegistryClient => {
    const c = new RegistryClient({ retry: FAST, ...opts });
    clients.push(c);
    return c;
  };
  before(async () => {
    reg = await startRegistry({ tls: true });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await reg?.stop();
  });

  it('refuses an untrusted certificate without retrying, works with insecure or with the CA', async () => {
    const retried: string[] = [];
    const strict = new Repository(reg.host, 'tls/app', { client: mk({ plainHttp: false, onRetry: (e) => retried.push(e.reason) }) });
    await assert.rejects(strict.listTags(), (e: unknown) => isZtocError(e, 'REGISTRY_NETWORK') && /certificate/i.test(e.message) && e.message.includes(reg.host));
    assert.deepEqual(retried, []);

    const insecure = new Repository(reg.host, 'tls/app', { client: mk({ plainHttp: false, insecure: true }) });
    const img = makeImage([1000]);
    await pushImage(insecure, img, 'v1');

    const { readFileSync } = await import('node:fs');
    const trusted = new Repository(reg.host, 'tls/app', { client: mk({ plainHttp: false, ca: readFileSync(reg.caCertPath ?? '') }) });
    assert.equal((await trusted.resolve('v1')).descriptor.digest, img.manifest.desc.digest);
  });

  it('explains a plain-http client talking to TLS and vice versa', async () => {
    const plain = new Repository(reg.host, 'tls/app', { client: mk({}) }); // 127.0.0.1 defaults to plain HTTP
    await assert.rejects(plain.listTags(), (e: unknown) => isZtocError(e) && e.status === 400);

    const { createServer } = await import('node:http');
    const srv = createServer((_req, res) => res.end('plain'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    try {
      const tlsToPlain = new Repository(`127.0.0.1:${port}`, 'x', { client: mk({ plainHttp: false, retry: { maxAttempts: 1 } }) });
      await assert.rejects(tlsToPlain.listTags(), (e: unknown) => isZtocError(e, 'REGISTRY_NETWORK') && /does not speak TLS/.test(e.message));
    } finally {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
