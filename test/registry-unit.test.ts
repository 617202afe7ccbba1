// Pure pieces of the registry client: WWW-Authenticate parsing, scopes, Retry-After and backoff, Link paging,
// the referrers fallback tag and its index JSON, debug redaction, the plain-HTTP default, error bodies; the Agent loaded
// without the rest of undici.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MediaType, referrerDescriptor } from '../src/oci/types.js';
import { cleanScopes, parseWWWAuthenticate, repositoryScope } from '../src/registry/auth.js';
import { defaultsToPlainHttp } from '../src/registry/client.js';
import { responseError } from '../src/registry/errors.js';
import { nextLink } from '../src/registry/link.js';
import { mergeReferrer, referrersTag, serializeReferrersIndex, withKeyLock } from '../src/registry/referrers.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, isRetryableStatus, parseRetryAfter, retryDelay } from '../src/registry/retry.js';
import { redactBodyForDebug, redactUrl } from '../src/registry/transport.js';
import { Agent } from '../src/registry/agent.js';
import { createServer } from 'node:http';

describe('parseWWWAuthenticate', () => {
  it('parses a Docker Hub bearer challenge', () => {
    assert.deepEqual(parseWWWAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io' } },
    ]);
  });
  it('parses scope with spaces and escaped quotes', () => {
    const [c] = parseWWWAuthenticate('Bearer realm="r",scope="repository:a:pull repository:b:pull",error="insufficient_scope",x="a\\"b"');
    assert.equal(c?.params.scope, 'repository:a:pull repository:b:pull');
    assert.equal(c?.params.error, 'insufficient_scope');
    assert.equal(c?.params.x, 'a"b');
  });
  it('splits several challenges in one header (Codeberg style)', () => {
    const got = parseWWWAuthenticate('Bearer realm="https://codeberg.org/v2/token",service="container_registry",scope="*",Basic realm="codeberg"');
    assert.equal(got.length, 2);
    assert.deepEqual(got[0], { scheme: 'bearer', params: { realm: 'https://codeberg.org/v2/token', service: 'container_registry', scope: '*' } });
    assert.deepEqual(got[1], { scheme: 'basic', params: { realm: 'codeberg' } });
  });
  it('handles ECR and Artifactory Basic challenges, case-insensitive names and spacing', () => {
    assert.deepEqual(parseWWWAuthenticate('Basic realm="https://1.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"'), [
      { scheme: 'basic', params: { realm: 'https://1.dkr.ecr.us-east-1.amazonaws.com/', service: 'ecr.amazonaws.com' } },
    ]);
    assert.deepEqual(parseWWWAuthenticate('BASIC  Realm = "Artifactory Realm"'), [{ scheme: 'basic', params: { realm: 'Artifactory Realm' } }]);
  });
  it('accepts several header values, token68 and bare schemes', () => {
    const got = parseWWWAuthenticate(['Negotiate abc123==', 'Basic realm=simple, Bearer realm="x"', 'NTLM']);
    assert.deepEqual(got, [
      { scheme: 'negotiate', params: {}, token68: 'abc123==' },
      { scheme: 'basic', params: { realm: 'simple' } },
      { scheme: 'bearer', params: { realm: 'x' } },
      { scheme: 'ntlm', params: {} },
    ]);
  });
  it('tolerates unquoted URLs and empty input', () => {
    assert.deepEqual(parseWWWAuthenticate('Bearer realm=https://x.io/token,service=x.io'), [
      { scheme: 'bearer', params: { realm: 'https://x.io/token', service: 'x.io' } },
    ]);
    assert.deepEqual(parseWWWAuthenticate(''), []);
  });
});

describe('scopes', () => {
  it('merges actions per resource and sorts', () => {
    assert.deepEqual(cleanScopes([repositoryScope('b', 'push'), repositoryScope('a', 'pull'), 'repository:b:pull', 'repository:b:pull', '']), [
      'repository:a:pull',
      'repository:b:pull,push',
    ]);
    assert.deepEqual(cleanScopes(['registry:catalog:*', 'repository:x:pull,*']), ['registry:catalog:*', 'repository:x:*']);
    assert.deepEqual(cleanScopes(['repository:host:5000/x:pull']), ['repository:host:5000/x:pull']);
  });
});

describe('retry timing', () => {
  it('parses Retry-After seconds and HTTP-dates', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    assert.equal(parseRetryAfter('3', now), 3000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', now), 10_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });
  it('bounds Retry-After and backs off exponentially with jitter and a cap', () => {
    const p = { ...DEFAULT_RETRY_POLICY, maxRetryAfterMs: 2000 };
    assert.equal(retryDelay(1, p, '3600'), 2000);
    assert.equal(retryDelay(1, p, '1'), 1000);
    const noJitter = { ...DEFAULT_RETRY_POLICY, jitter: 0 };
    assert.deepEqual([1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelay(n, noJitter)), [200, 400, 800, 1600, 3200, 5000, 5000]);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(2, DEFAULT_RETRY_POLICY);
      assert.ok(d >= 320 && d <= 480, String(d));
    }
  });
  it('knows which statuses are transient', () => {
    assert.deepEqual([408, 429, 500, 502, 503, 504, 501, 505, 404, 401, 400].map(isRetryableStatus), [
      true, true, true, true, true, true, false, false, false, false, false,
    ]);
  });
});

describe('Link paging', () => {
  const base = new URL('https://r.io/v2/_catalog?n=2');
  it('resolves relative next links and ignores other rels', () => {
    assert.equal(nextLink(['</v2/_catalog?last=b&n=2>; rel="next"'], base)?.toString(), 'https://r.io/v2/_catalog?last=b&n=2');
    assert.equal(nextLink(['<https://r.io/p?a=1,2>; rel="prev", <https://r.io/n>; rel=next'], base)?.toString(), 'https://r.io/n');
    assert.equal(nextLink(['<https://r.io/p>; rel="prev"'], base), undefined);
    assert.equal(nextLink([], base), undefined);
  });
});

describe('referrers fallback pieces', () => {
  const subject = `sha256:${'c'.repeat(64)}`;
  it('builds the fallback tag name', () => {
    assert.equal(referrersTag(subject), `sha256-${'c'.repeat(64)}`);
    assert.equal(referrersTag(`sha512:${'d'.repeat(128)}`), `sha512-${'d'.repeat(64)}`);
  });
  it('makes the entry from the manifest (artifactType, else config media type) and serialises in Go order', () => {
    const d1 = `sha256:${'1'.repeat(64)}`;
    const d2 = `sha256:${'2'.repeat(64)}`;
    const e1 = referrerDescriptor(
      { mediaType: MediaType.OciManifest, digest: d1, size: 10 },
      { config: { mediaType: MediaType.SociIndexV1 }, annotations: { 'b.key': 'x<y', 'a.key': 'z' }, subject: { mediaType: MediaType.OciManifest, digest: subject, size: 1 } },
    );
    assert.deepEqual(e1, { mediaType: MediaType.OciManifest, digest: d1, size: 10, annotations: { 'b.key': 'x<y', 'a.key': 'z' }, artifactType: MediaType.SociIndexV1 });
    const e2 = referrerDescriptor(
      { mediaType: MediaType.OciManifest, digest: d2, size: 20 },
      { artifactType: 'application/x-sig', config: { mediaType: MediaType.OciEmpty }, subject: { mediaType: MediaType.OciManifest, digest: subject, size: 1 } },
    );
    const idx = mergeReferrer(mergeReferrer([], e1).manifests, e2);
    const again = mergeReferrer(idx.manifests, e1); // dedupe by digest, ours moves to the end
    assert.deepEqual(again.manifests.map((m) => m.digest), [d2, d1]);
    const json = serializeReferrersIndex(idx).toString('utf8');
    assert.equal(
      json,
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
        `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${d1}","size":10,"annotations":{"a.key":"z","b.key":"x\\u003cy"},"artifactType":"application/vnd.amazon.soci.index.v1+json"},` +
        `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${d2}","size":20,"artifactType":"application/x-sig"}]}`,
    );
    assert.equal(serializeReferrersIndex(mergeReferrer([], e2)).includes('"manifests":['), true);
  });
  it('serialises work per key', async () => {
    const order: string[] = [];
    const slow = withKeyLock('k', async () => {
      await new Promise((r) => setTimeout(r, 30));
      order.push('first');
    });
    const fast = withKeyLock('k', async () => {
      order.push('second');
    });
    const other = withKeyLock('other', async () => {
      order.push('other');
    });
    await Promise.all([slow, fast, other]);
    assert.deepEqual(order, ['other', 'first', 'second']);
  });
});

describe('transport helpers', () => {
  it('redacts signature-like query values and token bodies', () => {
    assert.equal(
      redactUrl(new URL('https://s3.example/b?X-Amz-Signature=abc&X-Amz-Credential=k&part=1')),
      'https://s3.example/b?X-Amz-Signature=*****&X-Amz-Credential=*****&part=1',
    );
    assert.equal(redactBodyForDebug('application/json', Buffer.from('{"token":"secret"}')), '<redacted: body carries a token>');
    assert.equal(redactBodyForDebug('application/json', Buffer.from('{"access_token":"secret"}')), '<redacted: body carries a token>');
    assert.equal(redactBodyForDebug('application/json', Buffer.from('{"tags":["a"]}')), '{"tags":["a"]}');
    assert.equal(redactBodyForDebug('application/octet-stream', Buffer.from('xx')), undefined);
  });
  it('defaults to plain HTTP only for loopback names', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.0.0.1:1', '[::1]:5000', '[::1]']) assert.equal(defaultsToPlainHttp(h), true, h);
    for (const h of ['ghcr.io', 'registry.local:5000', '10.0.0.1:5000', 'localhost.example.com', '127.0.0.2:5000']) assert.equal(defaultsToPlainHttp(h), false, h);
  });
});

describe('error bodies', () => {
  it('maps distribution errors to typed codes with method, URL and status', () => {
    const e = responseError('GET', 'https://r.io/v2/a/manifests/x?_state=secret', 404, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}');
    assert.equal(e.code, 'REGISTRY_NOT_FOUND');
    assert.equal(e.status, 404);
    assert.match(e.message, /^GET https:\/\/r\.io\/v2\/a\/manifests\/x: HTTP 404 — MANIFEST_UNKNOWN: manifest unknown/);
    assert.doesNotMatch(e.message, /secret/);
    assert.equal(e.hasRegistryCode('MANIFEST_UNKNOWN'), true);
    assert.equal(responseError('PUT', 'https://r.io/', 403, '{"errors":[{"code":"DENIED","message":"no"}]}').code, 'REGISTRY_DENIED');
    assert.equal(responseError('PUT', 'https://r.io/', 401, '').code, 'REGISTRY_UNAUTHORIZED');
    assert.equal(responseError('PUT', 'https://r.io/', 500, '<html>oops</html>').code, 'REGISTRY_ERROR');
  });
});

describe('the Agent loaded without the rest of undici', () => {
  it('is undici\'s own Agent class, with the request API its index installs, and answers a request', async () => {
    const undici = await import('undici');
    assert.equal(Agent, undici.Agent);
    assert.equal(typeof Agent.prototype.request, 'function');
    const server = createServer((_req, res) => res.end('pong'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const agent = new Agent();
    try {
      const res = await agent.request({ origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' });
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), 'pong');
    } finally {
      await agent.close();
      server.close();
    }
  });
});
