// The registry client's layers on their own: the Range-resuming reader (resumable.ts) over scripted responses, no
// HTTP; a Repository's injected debug sink (not its client's); and the catalog on Registry, against
// Debian's docker-registry.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isZtocError } from '../src/errors.js';
import { Registry, RegistryClient, Repository, resumableBody, type HttpResponse, type ResumableSource } from '../src/registry/index.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { makeImage, startRegistry, type RunningRegistry } from './helpers/registry.js';

/** A response whose body yields `chunks`, then fails with ECONNRESET when `cut` is set. */
function scripted(status: number, chunks: string[], opts: { cut?: boolean; headers?: Record<string, string> } = {}): HttpResponse {
  const headers = opts.headers ?? {};
  return {
    status,
    url: new URL('http://r.test/v2/a/blobs/sha256:x'),
    method: 'GET',
    header: (n: string) => headers[n.toLowerCase()],
    headerValues: (n: string) => (headers[n.toLowerCase()] === undefined ? [] : [headers[n.toLowerCase()]!]),
    body: {
      async *[Symbol.asyncIterator]() {
        for (const c of chunks) yield Buffer.from(c);
        if (opts.cut === true) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      },
      destroy() {},
    },
    bytes: async () => Buffer.from(chunks.join('')),
    textPrefix: async () => '',
    discard: async () => undefined,
  };
}

function source(responses: HttpResponse[], size: number, log: string[]): ResumableSource {
  return {
    where: 'blob r.test/a@sha256:x',
    layer: 'sha256:x',
    size,
    get: async (offset) => {
      log.push(`get ${offset}`);
      const r = responses.shift();
      assert.ok(r, `unexpected request at ${offset}`);
      return r;
    },
    checkFirst: async (res) => {
      if (res.status !== 200) throw new Error(`first answered ${res.status}`);
    },
    fail: async (res, context) => new Error(`${context}: ${res.status}`),
    maxStuck: 2,
    backoff: () => 0,
    sleep: async () => undefined,
    debug: (line) => log.push(line),
  };
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<string> {
  let s = '';
  for await (const c of it) s += Buffer.from(c).toString();
  return s;
}

describe('resumableBody', () => {
  it('resumes a cut body from the byte reached and delivers one continuous stream', async () => {
    const log: string[] = [];
    const body = await collect(
      resumableBody(
        source(
          [scripted(200, ['hello '], { cut: true }), scripted(206, ['wor'], { cut: true, headers: { 'content-range': 'bytes 6-10/11' } }), scripted(206, ['ld'], { headers: { 'content-range': 'bytes 9-10/11' } })],
          11,
          log,
        ),
      ),
    );
    assert.equal(body, 'hello world');
    assert.deepEqual(log.filter((l) => l.startsWith('get')), ['get 0', 'get 6', 'get 9']);
    assert.ok(log.includes('blob r.test/a@sha256:x: body cut at byte 6 of 11; resuming with Range'));
  });

  it('refuses a resume answered 200 (a restart from zero) or with a Content-Range elsewhere', async () => {
    await assert.rejects(collect(resumableBody(source([scripted(200, ['ab'], { cut: true }), scripted(200, ['abcd'])], 4, []))), (e: unknown) => {
      assert.ok(isZtocError(e, 'REGISTRY_PROTOCOL'));
      assert.equal(e.offset, 2);
      assert.match(e.message, /ignored "Range: bytes=2-" \(answered 200, not 206\)/);
      return true;
    });
    await assert.rejects(
      collect(resumableBody(source([scripted(200, ['ab'], { cut: true }), scripted(206, ['d'], { headers: { 'content-range': 'bytes 3-3/4' } })], 4, []))),
      /asked for bytes 2- but got Content-Range "bytes 3-3\/4"/,
    );
  });

  it('gives up after maxStuck attempts without progress, and refuses more bytes than the size', async () => {
    const stuck = [scripted(200, ['ab'], { cut: true }), ...[1, 2, 3].map(() => scripted(206, [], { cut: true, headers: { 'content-range': 'bytes 2-3/4' } }))];
    await assert.rejects(collect(resumableBody(source(stuck, 4, []))), (e: unknown) => isZtocError(e, 'REGISTRY_NETWORK') && /gave up resuming at byte 2 of 4/.test(e.message));
    await assert.rejects(collect(resumableBody(source([scripted(200, ['abcde'])], 4, []))), (e: unknown) => isZtocError(e, 'SIZE_MISMATCH'));
  });
});

describe('a Repository with its own retry policy and debug sink', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(async () => {
    await reg?.stop();
  });

  it('sends its resume decisions to the injected sink, not the client\'s', async () => {
    const proxy = await startFaultProxy({ upstream: reg.host });
    const clientLines: string[] = [];
    const client = new RegistryClient({ onDebug: (l) => clientLines.push(l) });
    try {
      const img = makeImage([200_000]);
      const setup = new Repository(reg.host, 'layers/app');
      for (const b of [img.config, ...img.layers]) await setup.pushBlob(b.desc, b.bytes);
      await setup.close();
      const lines: string[] = [];
      const r = new Repository(proxy.host, 'layers/app', { client, debug: (l) => lines.push(l), retryPolicy: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1, jitter: 0 } });
      const layer = img.layers[0]!;
      proxy.addRule({ path: `/blobs/${layer.desc.digest}`, times: 1, action: { kind: 'cut', afterBytes: 70_000 } });
      const parts: Uint8Array[] = [];
      for await (const c of r.fetchBlob(layer.desc)) parts.push(c);
      assert.ok(Buffer.concat(parts).equals(layer.bytes));
      assert.ok(lines.some((l) => /body cut at byte \d+ of 200000; resuming with Range/.test(l)), lines.join('\n'));
      assert.ok(clientLines.length > 0, 'the client still traces HTTP');
      assert.ok(!clientLines.some((l) => l.includes('resuming with Range')), 'the repository line went to the client sink');
    } finally {
      await client.close();
      await proxy.stop();
    }
  });

  it('lists the catalog on Registry, paged', async () => {
    const img = makeImage([64]);
    const registry = new Registry(reg.host);
    try {
      for (const n of ['cat2/a', 'cat2/b', 'cat2/c']) {
        const r = registry.repository(n);
        for (const b of [img.config, ...img.layers]) await r.pushBlob(b.desc, b.bytes);
        await r.pushManifest('one', img.manifest.bytes, img.manifest.desc.mediaType);
      }
      const all = await registry.catalog({ pageSize: 1 });
      for (const n of ['cat2/a', 'cat2/b', 'cat2/c']) assert.ok(all.includes(n), n);
      assert.deepEqual(await registry.catalog({ last: 'cat2/b' }), all.filter((n) => n > 'cat2/b'));
      await assert.rejects(registry.catalog({ pageSize: 1, maxPages: 2 }), (e: unknown) => isZtocError(e, 'REGISTRY_PROTOCOL'));
    } finally {
      await registry.close();
    }
  });
});
