// `npm run bench:latency`: what a remote registry's round trips cost `ztoc index`, the CI step right after a push.
// A proxy in front of Debian's docker-registry on 127.0.0.1 holds every request for BENCH_DELAY_MS (default 25 ms,
// a registry in another region) before forwarding it. Two images, each pushed fresh for every run: the committed
// example (one platform, two layers) and four platforms of small real layers. Each is indexed through the proxy
// with no delay and with the delay, alternating, and the bench reports the median wall time of each (with min and
// max), the requests a run makes, and the round trips it waits for in a row: (wall with delay − wall without) ÷
// delay. The baseline is the same run without the delay; ZTOC_BIN points at another build to compare code.

import { execFile } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { startRegistry } from '../test/helpers/registry.js';
import { cleanup } from '../test/helpers/fixtures.js';
import { makeSmallLayers, writeMultiPlatform } from '../test/helpers/images.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = process.env['ZTOC_BIN'] ?? join(root, 'bin', 'ztoc.js');
const DELAY = Number(process.env['BENCH_DELAY_MS'] ?? 25);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 120_000 }, (err, _out, stderr) => (err === null ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`)))),
  );
}

/** A proxy that holds each request `delay.ms` before forwarding it to `upstream`, and counts them. */
async function delayProxy(upstream: string, delay: { ms: number }): Promise<{ server: Server; host: string; requests: () => number }> {
  const [host, port] = upstream.split(':');
  let n = 0;
  const server = createServer(async (req, res) => {
    n++;
    const body: Buffer[] = [];
    for await (const c of req) body.push(c as Buffer);
    setTimeout(() => {
      const up = request({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(Buffer.concat(body));
    }, delay.ms);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => n };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'ztoc-bench-latency-'));
  const reg = await startRegistry();
  const delay = { ms: 0 };
  const proxy = await delayProxy(reg.host, delay);
  try {
    const per = ['amd64', 'arm64', 'ppc64le', 's390x'].map((architecture, i) => ({ layers: makeSmallLayers(work, `p${i}`), platform: { architecture, os: 'linux' } }));
    await writeMultiPlatform(join(work, 'multi'), per, 'latest');
    const images = { 'one platform (testdata/example)': `oci:${join(root, 'testdata', 'example')}`, 'four platforms': `oci:${join(work, 'multi')}:latest` };
    const load0 = loadavg();
    const results = new Map<string, { wall: number[]; requests: number }>();
    let fresh = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, src] of Object.entries(images)) {
        for (const ms of [0, DELAY]) {
          const repo = `fresh${fresh++}`;
          await run('skopeo', ['copy', '-q', '--all', src, `docker://${reg.host}/${repo}:latest`, '--dest-tls-verify=false']);
          delay.ms = ms;
          const before = proxy.requests();
          const t = performance.now();
          await run(process.execPath, [bin, 'index', `${proxy.host}/${repo}:latest`, '--plain-http', '--min-layer-size', '0', '-q']);
          const wall = (performance.now() - t) / 1000;
          const key = `${name}|${ms}`;
          const r = results.get(key) ?? { wall: [], requests: 0 };
          r.wall.push(wall);
          r.requests = proxy.requests() - before;
          results.set(key, r);
        }
      }
    }
    const load1 = loadavg();
    const f2 = (x: number): string => x.toFixed(2);
    const lines = [
      `ztoc index of a freshly pushed image through a proxy delaying each request; ${ROUNDS} alternating runs per case, median [min-max]`,
      `bin: ${bin}; load average before ${load0.map(f2).join(' ')}, after ${load1.map(f2).join(' ')}`,
      '',
      `| image | requests | wall s, no delay | wall s, ${DELAY} ms per request | round trips waited for |`,
      '|---|---|---|---|---|',
    ];
    for (const name of Object.keys(images)) {
      const a = results.get(`${name}|0`)!;
      const b = results.get(`${name}|${DELAY}`)!;
      const span = (w: number[]): string => `${f2(median(w))} [${f2(Math.min(...w))}-${f2(Math.max(...w))}]`;
      lines.push(`| ${name} | ${b.requests} | ${span(a.wall)} | ${span(b.wall)} | ${((median(b.wall) - median(a.wall)) / (DELAY / 1000)).toFixed(1)} |`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    proxy.server.close();
    await reg.stop();
    cleanup(work);
  }
}

await main();
