// Resources are released after failures: 200 failing pulls in a loop against a real registry (through a fault proxy)
// — missing blobs, corrupted bytes, wrong sizes, cut connections whose resume is refused, and zTOC builds that fail
// mid-stream on a corrupted layer (inline and on the inflate thread) — leave the number of open file descriptors and sockets
// of this process where it was, give or take a small slack. Counted in /proc/self/fd (Linux).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { isZtocError } from '../src/errors.js';
import { RegistryClient, Repository } from '../src/registry/index.js';
import { buildZtoc } from '../src/ztoc/build.js';
import { MediaType } from '../src/oci/types.js';
import { blobOf, startRegistry, type RunningRegistry, type TestBlob } from './helpers/registry.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { END, concat, entry, randomBytes } from './helpers/tar-fixtures.js';

const NAME = 'res/app';
let reg: RunningRegistry;
let proxy: FaultProxy;
let layer: TestBlob;

function fds(): { total: number; sockets: number } {
  let total = 0;
  let sockets = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = '';
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed while listing (the fd of the directory itself)
    }
    total++;
    if (target.startsWith('socket:')) sockets++;
  }
  return { total, sockets };
}

before(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy({ upstream: reg.host });
  // Compressible text (Huffman-coded blocks, where a flipped byte breaks the deflate stream) and some random bytes.
  const words = ['layer', 'span', 'checkpoint', 'window', 'inflate', 'digest', 'registry', 'manifest', '{', '}', ';', '\n'];
  const r = randomBytes(60_000, 7);
  const text = (i: number): string => Array.from({ length: 12_000 }, (_, k) => words[(r[k]! + i) % words.length]).join(' ');
  // Text first, then 2 MB of random bytes: the build inflates its first 1 MiB slot (and meets the damage) while the
  // blob is still streaming, so the failure is mid-stream, before the blob's digest can be checked.
  const files = [...Array.from({ length: 10 }, (_, i) => entry({ name: `t${i}` }, text(i))), entry({ name: 'r1' }, randomBytes(1 << 20, 1)), entry({ name: 'r2' }, randomBytes(1 << 20, 2))];
  layer = blobOf(gzipSync(concat([...files, END]), { level: 6 }), MediaType.OciLayerGzip);
  const repo = new Repository(reg.host, NAME);
  try {
    await repo.pushBlob(layer.desc, layer.bytes);
  } finally {
    await repo.close();
  }
}, { timeout: 30_000 });

after(async () => {
  await proxy?.stop();
  await reg?.stop();
});

test('200 failing pulls and builds in a loop: no growth of open file descriptors or sockets', { timeout: 180_000 }, async (t) => {
  assert.ok(readdirSync('/proc/self/fd').length > 0, 'needs /proc/self/fd');
  const client = new RegistryClient({ retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 }, bodyTimeoutMs: 2000 });
  const repo = new Repository(proxy.host, NAME, { client });
  const missing = { mediaType: MediaType.OciLayerGzip, digest: `sha256:${'e'.repeat(64)}`, size: 100 };
  const path = `/blobs/${layer.desc.digest}`;
  const drain = async (it: AsyncIterable<Uint8Array>): Promise<void> => {
    for await (const _ of it);
  };
  const codes = new Map<string, number>();
  const buildCodes = new Map<string, number>();
  const round = async (i: number): Promise<void> => {
    proxy.clearRules();
    let p: Promise<unknown>;
    switch (i % 5) {
      case 0:
        p = drain(repo.fetchBlob(missing));
        break;
      case 1:
        proxy.addRule({ method: 'GET', path, times: 1, action: { kind: 'corrupt', offset: 1000 + i } });
        p = drain(repo.fetchBlob(layer.desc));
        break;
      case 2:
        p = drain(repo.fetchBlob({ ...layer.desc, size: layer.desc.size + 1 }));
        break;
      case 3:
        // Cut mid-body, and the resume is answered with 200 (Range ignored): REGISTRY_PROTOCOL mid-stream.
        proxy.addRule({ method: 'GET', path, times: 1, action: { kind: 'cut', afterBytes: 50_000 } });
        proxy.addRule({ method: 'GET', path, action: { kind: 'ignoreRange' } });
        p = drain(repo.fetchBlob(layer.desc));
        break;
      default:
        // A zTOC build that fails mid-stream: a corrupted byte deep in the layer, inline or on the inflate thread.
        proxy.addRule({ method: 'GET', path, times: 1, action: { kind: 'corrupt', offset: 20_000 + 97 * i } });
        p = buildZtoc(repo.fetchBlob(layer.desc), { kind: 'auto', thread: i % 10 === 4 ? 'worker' : 'inline', expectedDigest: layer.desc.digest });
        break;
    }
    await assert.rejects(p, (e: unknown) => {
      assert.ok(isZtocError(e), `round ${i}: ${String(e)}`);
      const m = i % 5 === 4 ? buildCodes : codes;
      m.set(e.code, (m.get(e.code) ?? 0) + 1);
      return true;
    });
  };
  try {
    // Warm up: connection pool, inflate pool, lazily opened handles.
    for (let i = 0; i < 10; i++) await round(i);
    const before = fds();
    for (let i = 0; i < 200; i++) await round(i);
    const afterLoop = fds();
    t.diagnostic(`fds ${before.total} -> ${afterLoop.total}, sockets ${before.sockets} -> ${afterLoop.sockets}; failures ${JSON.stringify([...codes, ...buildCodes])}`);
    assert.ok(afterLoop.total <= before.total + 8, `open fds grew from ${before.total} to ${afterLoop.total}`);
    assert.ok(afterLoop.sockets <= before.sockets + 4, `sockets grew from ${before.sockets} to ${afterLoop.sockets}`);
    // Every kind of failure happened.
    for (const c of ['REGISTRY_NOT_FOUND', 'DIGEST_MISMATCH', 'SIZE_MISMATCH', 'REGISTRY_PROTOCOL']) assert.ok((codes.get(c) ?? 0) > 0, `no ${c} in ${JSON.stringify([...codes])}`);
    assert.ok([...buildCodes.keys()].some((c) => c.startsWith('GZIP_') || c.startsWith('TAR_')), `no mid-stream build failure in ${JSON.stringify([...buildCodes])}`);
  } finally {
    await repo.close();
    await client.close();
  }
  // With the client closed, its sockets are gone too.
  proxy.clearRules();
});
