// Fault injection between the client and a real registry: cut and stalled blob bodies resume with Range, servers
// that ignore Range, 503/429 retries (Retry-After bounded), corrupted bytes, lying Docker-Content-Digest headers,
// oversized and invalid manifests, and dead hosts.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isZtocError } from '../src/errors.js';
import { MediaType } from '../src/oci/types.js';
import { RegistryClient, Repository } from '../src/registry/index.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { makeImage, startRegistry, type RunningRegistry, type TestImage } from './helpers/registry.js';

let reg: RunningRegistry;
let proxy: FaultProxy;
let client: RegistryClient;
let img: TestImage;
const NAME = 'faults/app';
const retries: string[] = [];

function viaProxy(): Repository {
  return new Repository(proxy.host, NAME, { client });
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

function blobRequests(digest: string): Array<{ method: string; range: string | undefined }> {
  return proxy.requests
    .filter((r) => r.url.includes(`/blobs/${digest}`) && r.method === 'GET')
    .map((r) => ({ method: r.method, range: typeof r.headers.range === 'string' ? r.headers.range : undefined }));
}

before(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy({ upstream: reg.host });
  client = new RegistryClient({
    retry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 4, maxRetryAfterMs: 150 },
    bodyTimeoutMs: 300,
    onRetry: (e) => retries.push(e.reason),
  });
  img = makeImage([1_000_000, 3000]);
  const direct = new Repository(reg.host, NAME, { client });
  for (const b of [img.config, ...img.layers]) await direct.pushBlob(b.desc, b.bytes);
  await direct.pushManifest('v1', img.manifest.bytes, img.manifest.desc.mediaType);
});
after(async () => {
  await client?.close();
  await proxy?.stop();
  await reg?.stop();
});
beforeEach(() => {
  proxy.clearRules();
  proxy.requests.length = 0;
  retries.length = 0;
});

const big = (): TestImage['layers'][number] => img.layers[0] as TestImage['layers'][number];

describe('blob stream resume', () => {
  it('resumes a body cut mid-way with Range and yields the exact bytes', async () => {
    const l = big();
    proxy.addRule({ method: 'GET', path: `/blobs/${l.desc.digest}`, times: 1, action: { kind: 'cut', afterBytes: 300_000 } });
    const got = await collect(viaProxy().fetchBlob(l.desc));
    assert.ok(got.equals(l.bytes));
    const reqs = blobRequests(l.desc.digest);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0]?.range, undefined);
    assert.match(reqs[1]?.range ?? '', /^bytes=\d+-$/);
    const from = Number(/^bytes=(\d+)-$/.exec(reqs[1]?.range ?? '')?.[1]);
    assert.ok(from > 0 && from <= 300_000, String(from));
  });

  it('survives several cuts in a row (each resume makes progress)', async () => {
    const l = big();
    proxy.addRule({ method: 'GET', path: `/blobs/${l.desc.digest}`, times: 6, action: { kind: 'cut', afterBytes: 100_000 } });
    const got = await collect(viaProxy().fetchBlob(l.desc));
    assert.ok(got.equals(l.bytes));
    assert.equal(blobRequests(l.desc.digest).length, 7);
  });

  it('turns a stalled body into a resume via the read timeout', async () => {
    const l = big();
    proxy.addRule({ method: 'GET', path: `/blobs/${l.desc.digest}`, times: 1, action: { kind: 'stall', afterBytes: 200_000 } });
    const t0 = Date.now();
    const got = await collect(viaProxy().fetchBlob(l.desc));
    assert.ok(got.equals(l.bytes));
    assert.equal(blobRequests(l.desc.digest).length, 2);
    assert.ok(Date.now() - t0 < 5000);
  });

  it('fails clearly when the server answers a resume with 200 instead of 206', async () => {
    const l = big();
    proxy.addRule({ method: 'GET', path: `/blobs/${l.desc.digest}`, times: 1, action: { kind: 'cut', afterBytes: 50_000 } });
    proxy.addRule({ method: 'GET', path: `/blobs/${l.desc.digest}`, action: { kind: 'ignoreRange' } });
    let seen = 0;
    await assert.rejects(
      (async () => {
        for await (const c of viaProxy().fetchBlob(l.desc)) seen += c.length;
      })(),
      (e: unknown) => isZtocError(e, 'REGISTRY_PROTOCOL') && /ignored "Range: bytes=\d+-" \(answered 200, not 206\)/.test(e.message) && e.layer === l.desc.digest,
    );
    assert.ok(seen > 0 && seen <= 50_000);
  });

  it('reports a corrupted byte as DIGEST_MISMATCH naming the blob', async () => {
    const l = big();
    proxy.addRule({ method: 'GET', path: `/blobs/${l.desc.digest}`, times: 1, action: { kind: 'corrupt', offset: 123_456 } });
    await assert.rejects(collect(viaProxy().fetchBlob(l.desc)), (e: unknown) => {
      assert.ok(isZtocError(e, 'DIGEST_MISMATCH'));
      assert.ok(e.message.includes(l.desc.digest));
      assert.equal(e.layer, l.desc.digest);
      return true;
    });
  });

  it('rejects a blob whose size differs from the descriptor, and a lying Docker-Content-Digest', async () => {
    const l = big();
    await assert.rejects(collect(viaProxy().fetchBlob({ ...l.desc, size: l.desc.size - 1 })), (e: unknown) => isZtocError(e, 'SIZE_MISMATCH'));
    proxy.addRule({ method: 'GET', path: `/blobs/${l.desc.digest}`, times: 1, action: { kind: 'headers', set: { 'docker-content-digest': `sha256:${'9'.repeat(64)}` } } });
    await assert.rejects(collect(viaProxy().fetchBlob(l.desc)), (e: unknown) => isZtocError(e, 'DIGEST_MISMATCH'));
  });

  it('stops consuming when the consumer breaks out early', async () => {
    const l = big();
    let n = 0;
    for await (const c of viaProxy().fetchBlob(l.desc)) {
      n += c.length;
      break;
    }
    assert.ok(n > 0);
  });
});

describe('retries', () => {
  it('retries a 503 and then succeeds', async () => {
    proxy.addRule({ method: 'GET', path: '/manifests/v1', times: 2, action: { kind: 'status', status: 503 } });
    const m = await viaProxy().resolve('v1');
    assert.equal(m.descriptor.digest, img.manifest.desc.digest);
    assert.equal(proxy.requests.filter((r) => r.url.includes('/manifests/v1')).length, 3);
    assert.equal(retries.length, 2);
  });

  it('honours Retry-After on 429, bounded by maxRetryAfterMs', async () => {
    proxy.addRule({ method: 'GET', path: '/manifests/v1', times: 1, action: { kind: 'status', status: 429, headers: { 'retry-after': '3600' } } });
    const t0 = Date.now();
    await viaProxy().resolve('v1');
    const took = Date.now() - t0;
    assert.ok(took >= 140 && took < 2000, `took ${took} ms`);
  });

  it('retries a 429 without Retry-After with backoff, and gives up after maxAttempts with the status', async () => {
    proxy.addRule({ method: 'GET', path: '/manifests/v1', times: 1, action: { kind: 'status', status: 429 } });
    await viaProxy().resolve('v1');
    proxy.addRule({ method: 'HEAD', path: '/manifests/v1', action: { kind: 'status', status: 503 } });
    await assert.rejects(viaProxy().headManifest('v1'), (e: unknown) => isZtocError(e, 'REGISTRY_ERROR') && e.status === 503 && /HEAD http:\/\/127\.0\.0\.1:\d+\/v2\/faults\/app\/manifests\/v1: HTTP 503/.test(e.message));
    assert.equal(proxy.requests.filter((r) => r.method === 'HEAD').length, 4);
  });

  it('retries a manifest body cut mid-way (buffered reads are replayed)', async () => {
    proxy.addRule({ method: 'GET', path: '/manifests/v1', times: 1, action: { kind: 'cut', afterBytes: 20 } });
    const m = await viaProxy().resolve('v1');
    assert.ok(m.bytes.equals(img.manifest.bytes));
  });

  it('retries connection failures, then reports REGISTRY_NETWORK', async () => {
    const dead = new Repository('127.0.0.1:1', 'x', { client });
    await assert.rejects(dead.resolve('v1'), (e: unknown) => isZtocError(e, 'REGISTRY_NETWORK') && /ECONNREFUSED/.test(e.message));
    assert.equal(retries.length, 3);
  });
});

describe('manifest checks', () => {
  it('verifies digests of manifests fetched by digest (bytes and Docker-Content-Digest)', async () => {
    proxy.addRule({ method: 'GET', path: '/manifests/sha256:', times: 1, action: { kind: 'headers', set: { 'docker-content-digest': `sha256:${'8'.repeat(64)}` } } });
    await assert.rejects(viaProxy().resolve(img.manifest.desc.digest), (e: unknown) => isZtocError(e, 'DIGEST_MISMATCH'));
    proxy.addRule({ method: 'GET', path: '/manifests/sha256:', times: 1, action: { kind: 'corrupt', offset: 5 } });
    await assert.rejects(viaProxy().resolve(img.manifest.desc.digest), (e: unknown) => isZtocError(e, 'DIGEST_MISMATCH'));
    // By tag, a wrong Docker-Content-Digest is ignored (many registries get it wrong); the bytes decide.
    proxy.addRule({ method: 'GET', path: '/manifests/v1', times: 1, action: { kind: 'headers', set: { 'docker-content-digest': `sha256:${'8'.repeat(64)}` } } });
    assert.equal((await viaProxy().resolve('v1')).descriptor.digest, img.manifest.desc.digest);
  });

  it('rejects manifests over 4 MiB with MANIFEST_TOO_LARGE', async () => {
    const huge = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, pad: 'x'.repeat(4 * 1024 * 1024) });
    proxy.addRule({ method: 'GET', path: '/manifests/big', times: 1, action: { kind: 'status', status: 200, headers: { 'content-type': MediaType.OciManifest }, body: huge } });
    await assert.rejects(viaProxy().resolve('big'), (e: unknown) => isZtocError(e, 'MANIFEST_TOO_LARGE'));
  });

  it('validates manifest JSON (bad digest, > 1000 layers, wrong schemaVersion)', async () => {
    const layer = { mediaType: MediaType.OciLayerGzip, digest: img.config.desc.digest, size: 1 };
    const docs = [
      { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { ...img.config.desc, digest: 'sha256:nothex' }, layers: [] },
      { schemaVersion: 2, mediaType: MediaType.OciManifest, config: img.config.desc, layers: Array.from({ length: 1001 }, () => layer) },
      { schemaVersion: 1, mediaType: MediaType.OciManifest, config: img.config.desc, layers: [] },
      { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { ...img.config.desc, size: -1 }, layers: [] },
    ];
    for (const d of docs) {
      proxy.addRule({ method: 'GET', path: '/manifests/bad', times: 1, action: { kind: 'status', status: 200, headers: { 'content-type': MediaType.OciManifest }, body: JSON.stringify(d) } });
      await assert.rejects(viaProxy().resolve('bad'), (e: unknown) => isZtocError(e, 'MANIFEST_INVALID'));
    }
  });

  it('fetches a byte range through the proxy and checks 206', async () => {
    const l = big();
    const got = await viaProxy().fetchBlobRange(l.desc.digest, 500_000, 500_100);
    assert.ok(got.equals(l.bytes.subarray(500_000, 500_100)));
    proxy.addRule({ method: 'GET', path: `/blobs/${l.desc.digest}`, times: 1, action: { kind: 'ignoreRange' } });
    await assert.rejects(viaProxy().fetchBlobRange(l.desc.digest, 0, 10), (e: unknown) => isZtocError(e, 'REGISTRY_PROTOCOL'));
  });
});
