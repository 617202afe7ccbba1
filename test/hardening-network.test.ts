// Network faults not covered by index-faults / registry-faults (cuts, stalls, 503, 429 with Retry-After, corruption,
// lying digests live there): 500 and 502 with and without Retry-After, a slow server (a bandwidth-limiting TCP proxy),
// and blob GETs redirected to another host, where the Authorization header must not follow. `ztoc index` (the CLI,
// htpasswd auth) must produce byte-identical zTOCs every time, or fail clearly without pushing.

import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { runCliHermetic, type TextResult } from './helpers/cli.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from './helpers/registry.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { makeSmallLayers, skopeoPush, writeLayoutImage } from './helpers/images.js';
import { Repository } from '../src/registry/index.js';
import type { ImageManifest } from '../src/oci/types.js';

const NAME = 'net/app';
const common = ['--min-layer-size', '64KiB', '--span-size', '128KiB', '--dry-run', '--json'];
let reg: RunningRegistry;
let proxy: FaultProxy;
let store: FaultProxy; // "another host": a second origin that serves blobs without client credentials
let work: string;
let layers: string[];
let baseline: Map<string, string>;

type Run = TextResult;

/** The real CLI with the registry's credentials on stdin (the proxy runs in this process). */
function ztoc(args: string[]): Promise<Run> {
  return runCliHermetic([...args, '-u', reg.username!, '--password-stdin'], join(work, 'home'), { input: reg.password!, timeoutMs: 90_000 });
}

function ztocs(r: Run): Map<string, string> {
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { platforms: Array<{ status: string; ztocs: Array<{ layer: string; ztoc: { digest: string } }> }> };
  assert.equal(out.platforms[0]!.status, 'dry-run');
  return new Map(out.platforms[0]!.ztocs.map((z) => [z.layer, z.ztoc.digest]));
}

/** A TCP proxy that forwards at most `bytesPerSecond` from the server to the client (the slow server). */
async function startThrottle(upstream: string, bytesPerSecond: number): Promise<{ host: string; stop(): Promise<void> }> {
  const [h, p] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];
  const sockets = new Set<Socket>();
  const slice = Math.max(1, Math.floor(bytesPerSecond / 20)); // 20 slices a second
  const server: Server = createServer((client) => {
    const up = connect(p, h);
    sockets.add(client).add(up);
    client.pipe(up);
    const queue: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const pump = (): void => {
      timer = undefined;
      let budget = slice;
      while (budget > 0 && queue.length > 0) {
        const b = queue[0]!;
        const n = Math.min(budget, b.length);
        client.write(b.subarray(0, n));
        budget -= n;
        if (n === b.length) queue.shift();
        else queue[0] = b.subarray(n);
      }
      if (queue.length > 0) timer = setTimeout(pump, 50);
      else up.resume();
    };
    up.on('data', (d: Buffer) => {
      queue.push(d);
      up.pause();
      timer ??= setTimeout(pump, 50);
    });
    const close = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      client.destroy();
      up.destroy();
    };
    up.on('end', () => {
      const wait = (): void => {
        if (queue.length === 0) client.end();
        else setTimeout(wait, 50);
      };
      wait();
    });
    up.on('error', close);
    client.on('error', close);
    client.on('close', () => {
      sockets.delete(client);
      up.destroy();
    });
    up.on('close', () => sockets.delete(up));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

before(async () => {
  work = tempDir('ztoc-net-');
  mkdirSync(join(work, 'home'), { recursive: true });
  writeFileSync(join(work, 'home', 'config.json'), '{}');
  reg = await startRegistry({ auth: 'htpasswd' });
  proxy = await startFaultProxy({ upstream: reg.host });
  const basic = `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`;
  store = await startFaultProxy({ upstream: reg.host, injectAuthorization: basic });
  const layout = join(work, 'layout');
  await writeLayoutImage(layout, makeSmallLayers(work, 'net'), 'v1');
  skopeoPush(layout, 'v1', reg.host, NAME, { creds: `${reg.username}:${reg.password}` });
  const repo = new Repository(reg.host, NAME, { credentials: { username: reg.username!, password: reg.password! } });
  try {
    layers = ((await repo.fetchManifest('v1')).manifest as ImageManifest).layers.map((l) => l.digest);
  } finally {
    await repo.close();
  }
  baseline = ztocs(await ztoc(['index', `${reg.host}/${NAME}:v1`, ...common]));
  assert.equal(baseline.size, 2);
}, { timeout: 90_000 });

after(async () => {
  await proxy?.stop();
  await store?.stop();
  await reg?.stop();
  if (work) cleanup(work);
});

beforeEach(() => {
  proxy.clearRules();
  store.clearRules();
  proxy.requests.length = 0;
  store.requests.length = 0;
});

const blob = (d: string): string => `/v2/${NAME}/blobs/${d}`;

test('500 and 502 without Retry-After, on the manifest and on layer GETs: retried, byte-identical zTOCs', async () => {
  proxy.addRule({ method: 'GET', path: `/v2/${NAME}/manifests/v1`, times: 1, action: { kind: 'status', status: 500 } });
  proxy.addRule({ method: 'GET', path: blob(layers[0]!), times: 1, action: { kind: 'status', status: 502, body: '<html>bad gateway</html>', headers: { 'content-type': 'text/html' } } });
  proxy.addRule({ method: 'GET', path: blob(layers[1]!), times: 2, action: { kind: 'status', status: 500 } });
  assert.deepEqual(ztocs(await ztoc(['index', `${proxy.host}/${NAME}:v1`, ...common])), baseline);
  assert.equal(proxy.requests.filter((r) => r.method === 'GET' && r.url === blob(layers[1]!)).length, 3);
});

test('502 and 500 with Retry-After (seconds and HTTP-date): waited for, then byte-identical zTOCs', async () => {
  // One form per run: a Retry-After holds back the whole host (a per-host gate), so two in one run would hide each other.
  // The proxy stamps each arrival; a retry must come no earlier than its Retry-After said (timers never fire early).
  const gets = (layer: string): number[] => proxy.requests.filter((r) => r.method === 'GET' && r.url === blob(layer)).map((r) => r.at);
  proxy.addRule({ method: 'GET', path: blob(layers[0]!), times: 1, action: { kind: 'status', status: 502, headers: { 'retry-after': '1' } } });
  assert.deepEqual(ztocs(await ztoc(['index', `${proxy.host}/${NAME}:v1`, ...common])), baseline);
  const [first0, retry0] = gets(layers[0]!);
  assert.ok(retry0! - first0! >= 990, `retried ${retry0! - first0!} ms after "Retry-After: 1"`);

  proxy.clearRules();
  proxy.requests.length = 0;
  // The HTTP-date is made when the request arrives, 2 s ahead; being whole seconds, it asks for a wait of 1–2 s.
  proxy.addRule({ method: 'GET', path: blob(layers[1]!), times: 1, action: { kind: 'status', status: 500, retryAfterDateInMs: 2000 } });
  assert.deepEqual(ztocs(await ztoc(['index', `${proxy.host}/${NAME}:v1`, ...common])), baseline);
  const [first1, retry1] = gets(layers[1]!);
  assert.ok(retry1! - first1! >= 990, `retried ${retry1! - first1!} ms after a Retry-After date 1–2 s ahead`);
});

test('a persistent 500 fails clearly (exit 1, the status and the URL), and nothing is written', async () => {
  proxy.addRule({ method: 'GET', path: blob(layers[0]!), action: { kind: 'status', status: 500 } });
  const r = await ztoc(['index', `${proxy.host}/${NAME}:v1`, '--min-layer-size', '64KiB', '--span-size', '128KiB', '--json']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /HTTP 500.*\[REGISTRY_ERROR\]$/m);
  assert.ok(r.stderr.includes(layers[0]!), r.stderr);
  assert.deepEqual(proxy.requests.filter((q) => ['PUT', 'POST', 'PATCH', 'DELETE'].includes(q.method)), []);
});

test('a slow server (bandwidth limited to 600 KB/s): byte-identical zTOCs', { timeout: 120_000 }, async () => {
  const slow = await startThrottle(reg.host, 600_000);
  try {
    assert.deepEqual(ztocs(await ztoc(['index', `${slow.host}/${NAME}:v1`, ...common])), baseline);
  } finally {
    await slow.stop();
  }
});

test('layer GETs redirected to another host: Authorization does not follow, zTOCs are byte-identical', async () => {
  for (const l of layers.slice(0, 2)) {
    proxy.addRule({ method: 'GET', path: blob(l), action: { kind: 'redirect', location: (req) => `${store.url}${req.url ?? ''}`, status: 307 } });
  }
  assert.deepEqual(ztocs(await ztoc(['index', `${proxy.host}/${NAME}:v1`, ...common])), baseline);
  const redirected = proxy.requests.filter((r) => r.method === 'GET' && r.url.includes('/blobs/') && r.rule !== undefined);
  assert.ok(redirected.length >= 2, 'no blob GET was redirected');
  assert.ok(redirected.every((r) => typeof r.headers.authorization === 'string'), 'the registry itself got credentials');
  const atStore = store.requests.filter((r) => r.method === 'GET');
  assert.ok(atStore.length >= 2, 'the other host was not asked');
  for (const r of atStore) assert.equal(r.headers.authorization, undefined, `Authorization followed the redirect to ${store.host}${r.url}`);
});
