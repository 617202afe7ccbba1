// Each build inflates on a native thread of its own (native/inflate_thread.c): the pool caps how many run at
// once and hands places on in order; the thread runs at the build's priority (Linux: per thread), ends with its
// build (also one that fails mid-layer), and while it runs the builder refuses every call from JavaScript. An env
// torn down mid-build (a terminated worker, process.exit) stops the thread first, instead of freeing the builder
// under it. The library still builds from `node --input-type=module -e` and under per-process Node flags, which
// the worker threads of old refused. Builds reuse the slots of earlier ones (only once no thread can write into
// them), and no byte of an earlier layer reaches a later zTOC.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { InflatePool } from '../src/ztoc/pool.js';
import { buildZtoc, NICE } from '../src/ztoc/build.js';
import { readFileChunks } from '../src/ztoc/source.js';
import { CheckpointInflater } from '../src/inflate/inflater.js';
import { ZtocError } from '../src/errors.js';
import { goldenCases, goldenLayer } from './helpers/golden.js';
import { cleanup, makeLayer, prngBytes, tempDir } from './helpers/fixtures.js';
import { SOCI_BUILD_TOOL_ID } from '../src/ztoc/model.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LINUX = process.platform === 'linux';
const dist = (p: string): string => JSON.stringify(pathToFileURL(join(ROOT, 'dist', p)).href);

/** This process's inflate threads (Linux: named ztoc-inflate) and their nice values, by thread id. */
function inflateThreads(): Map<number, number> {
  const found = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== 'ztoc-inflate') continue;
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      found.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // the thread ended while we looked
    }
  }
  return found;
}

/** This process's inflate threads once there is one (it names itself as it starts), within 2 s. */
async function runningInflateThreads(): Promise<Map<number, number>> {
  for (let i = 0; i < 200 && inflateThreads().size === 0; i++) await new Promise((r) => setTimeout(r, 10));
  return inflateThreads();
}

/** Waits (up to 2 s) until no inflate thread is left. */
async function noInflateThreads(): Promise<void> {
  for (let i = 0; i < 200 && inflateThreads().size > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(inflateThreads().size, 0, 'an inflate thread outlived its build');
}

/** The layer in 64 KiB chunks, calling `mid` once after the first chunk (the thread is running then). */
async function* withPause(layer: Buffer, mid: () => void | Promise<void>): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < layer.length; off += 65536) {
    yield layer.subarray(off, off + 65536);
    if (off === 0) await mid();
  }
}

test('the pool runs at most `size` inflates at once and hands its places on in order', async () => {
  const pool = new InflatePool(2);
  const a = await pool.acquire();
  const b = await pool.acquire();
  assert.equal(pool.active, 2);
  const order: string[] = [];
  const c = pool.acquire().then((r) => (order.push('c'), r));
  const d = pool.acquire().then((r) => (order.push('d'), r));
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(order, [], 'the pool is full: both wait');
  a();
  a(); // a second release of the same place does nothing
  const releaseC = await c;
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(order, ['c'], 'one place came free, and the first waiter got it');
  b();
  const releaseD = await d;
  assert.deepEqual(order, ['c', 'd']);
  assert.equal(pool.active, 2);
  releaseC();
  releaseD();
  assert.equal(pool.active, 0);
  assert.throws(() => new InflatePool(0), (e: unknown) => e instanceof ZtocError && e.code === 'INVALID_ARGUMENT');
});

test('builds beyond the pool size wait for a place, and all of them give the same zTOC', async () => {
  const layer = readFileSync(goldenLayer('pax-records.tar.gz'));
  const pool = new InflatePool(1);
  let most = 0;
  const watch = setInterval(() => (most = Math.max(most, pool.active)), 1);
  const builds = await Promise.all([1, 2, 3].map(() => buildZtoc(withPause(layer, () => new Promise((r) => setTimeout(r, 5))), { pool, spanSize: 65536 })));
  clearInterval(watch);
  assert.equal(most, 1);
  assert.equal(pool.active, 0);
  for (const r of builds) assert.deepEqual(r.bytes, builds[0]!.bytes);
});

test("a background build's inflate thread runs at the background nice value; the driver keeps its own", { skip: !LINUX && 'per-thread priorities are Linux only' }, async () => {
  const layer = readFileSync(goldenLayer('pax-records.tar.gz'));
  await noInflateThreads();
  const seen: Array<Map<number, number>> = [];
  const look = async (): Promise<void> => void seen.push(await runningInflateThreads());
  const bg = await buildZtoc(withPause(layer, look), { spanSize: 65536, priority: 'background' });
  await noInflateThreads();
  const normal = await buildZtoc(withPause(layer, look), { spanSize: 65536 });
  assert.deepEqual([...seen[0]!.values()], [NICE.background], 'one inflate thread, at nice 10, while the background build ran');
  assert.deepEqual([...seen[1]!.values()], [NICE.normal], 'the normal build ran on a new thread at the normal priority');
  assert.notDeepEqual([...seen[0]!.keys()], [...seen[1]!.keys()]);
  assert.deepEqual(bg.bytes, normal.bytes);
  const stat = readFileSync('/proc/thread-self/stat', 'utf8');
  assert.equal(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]), 0, 'the driver thread keeps its priority');
  await noInflateThreads();
});

test('the inflate thread ends with its build, also when the source fails mid-layer or the data is corrupt', { skip: !LINUX && 'threads are counted in /proc' }, async () => {
  const layer = readFileSync(goldenLayer('pax-records.tar.gz'));
  await buildZtoc(readFileChunks(goldenLayer('pax-records.tar.gz')), { spanSize: 65536 });
  await noInflateThreads();
  const failing = (async function* () {
    yield layer.subarray(0, 4096);
    throw new Error('the network went away');
  })();
  await assert.rejects(buildZtoc(failing, { spanSize: 65536 }), /the network went away/);
  await noInflateThreads();
  const corrupt = Buffer.from(layer);
  for (let i = 200; i < 400; i++) corrupt[i] = 0xff;
  await assert.rejects(buildZtoc((async function* () { yield corrupt; })(), { spanSize: 65536 }), (e: unknown) => e instanceof ZtocError && e.code === 'GZIP_CORRUPT' && e.offset !== undefined && e.offset > 0);
  await noInflateThreads();
});

test('builds reusing the slots of earlier ones (bigger layers, failed and stopped builds) still give the golden bytes', async () => {
  // A bigger layer of other bytes (GNU tar, gzip) fills every input slot and many output slots and gives them back;
  // the same layer corrupted fails mid-layer with its thread inside a step; a source that fails leaves its thread
  // stopped. Each golden layer built after them must come out as SOCI made it, inline and on the thread: stale
  // bytes in a reused slot would change it.
  const work = tempDir('ztoc-slots-');
  try {
    mkdirSync(join(work, 'tree'));
    writeFileSync(join(work, 'tree', 'a.bin'), prngBytes(12 << 20, 7));
    writeFileSync(join(work, 'tree', 'b.txt'), Buffer.alloc(12 << 20, 'slot reuse '));
    const big = readFileSync(makeLayer(join(work, 'tree'), join(work, 'big.tar.gz'), 'gnu', 'gzip-n'));
    const corrupt = Buffer.from(big);
    corrupt.fill(0x55, big.length >> 1, (big.length >> 1) + 4096);
    for (const thread of ['separate', 'inline'] as const) {
      const whole = await buildZtoc((async function* () { yield big; })(), { spanSize: 65536, thread });
      assert.ok(whole.inflatedSize > 24 << 20);
      await assert.rejects(buildZtoc((async function* () { yield corrupt; })(), { spanSize: 65536, thread }), (e: unknown) => e instanceof ZtocError && e.code.startsWith('GZIP_'));
      const failing = (async function* () {
        yield big.subarray(0, 3 << 20);
        throw new Error('cut');
      })();
      await assert.rejects(buildZtoc(failing, { spanSize: 65536, thread }), /cut/);
      for (const c of goldenCases()) {
        const r = await buildZtoc((async function* () { yield readFileSync(goldenLayer(c.layer)); })(), { spanSize: c.span, buildToolId: SOCI_BUILD_TOOL_ID, kind: 'auto', thread });
        assert.deepEqual(Buffer.from(r.bytes), readFileSync(c.ztocPath), `${c.layer} span ${c.span} (${thread}) after other builds`);
      }
    }
  } finally {
    cleanup(work);
  }
});

test('while its thread runs, the builder refuses every call from JavaScript; once drained it ends as usual', async () => {
  const data = gzipSync(Buffer.alloc(2048)); // an empty tar
  const inflater = new CheckpointInflater(1 << 20);
  const input = new Uint8Array(data.length);
  input.set(data);
  const out = new Uint8Array(1 << 16);
  let produced = 0;
  let failure: unknown;
  const drained = new Promise<void>((resolve, reject) => {
    const t = inflater.startThread([input], [out], 0, {
      input: () => t.end(),
      output: (slot, length) => {
        produced += length;
        t.output(slot);
      },
      drained: resolve,
      error: (e) => ((failure = e), reject(e as Error)),
    });
    assert.throws(() => inflater.inflateInto(input, 0, out), (e: unknown) => (e as { code?: string }).code === 'ZTOC_NATIVE_BUSY');
    assert.throws(() => inflater.startThread([input], [out], 0, { input() {}, output() {}, drained() {}, error() {} }), (e: unknown) => (e as { code?: string }).code === 'ZTOC_NATIVE_BUSY');
    assert.throws(() => t.input(1, 1, 0), /refused input slot 1/, 'a slot the thread was not given is refused');
    assert.throws(() => t.input(0, data.length + 1, 0), /refused input slot 0/, 'more bytes than the slot holds are refused');
    t.input(0, data.length, 0);
  });
  await drained;
  assert.equal(failure, undefined);
  assert.equal(produced, 2048);
  const { BlobBox } = await import('../src/inflate/inflater.js');
  const end = inflater.end(new BlobBox());
  assert.equal(end.totalOut, 2048);
  assert.equal(end.members, 1);
});

test("a library user's worker thread builds as the main thread does: the inflate thread reports to the worker's env", async () => {
  const { Worker } = await import('node:worker_threads');
  const layer = goldenLayer('pax-records.tar.gz');
  const code = [
    `import { buildZtoc } from ${dist('src/ztoc/build.js')};`,
    `import { readFileChunks } from ${dist('src/ztoc/source.js')};`,
    `import { parentPort } from 'node:worker_threads';`,
    `const r = await buildZtoc(readFileChunks(${JSON.stringify(layer)}), { spanSize: 65536, priority: 'background' });`,
    'parentPort.postMessage(r.bytes);',
  ].join('\n');
  const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`));
  try {
    const inWorker = await new Promise<Uint8Array>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    const here = await buildZtoc(readFileChunks(layer), { spanSize: 65536 });
    assert.deepEqual(Buffer.from(inWorker), Buffer.from(here.bytes));
  } finally {
    await w.terminate();
  }
});

test('an env torn down mid-build stops the inflate thread first: a terminated worker, then process.exit', () => {
  // An endless layer (gzip members of zeros, a checkpoint every 64 KiB, so the blob keeps growing): the inflate
  // thread is busy inside a step, in the builder's memory, when the env goes.
  const body = [
    `import { buildZtoc } from ${dist('src/ztoc/build.js')};`,
    `import { gzipSync } from 'node:zlib';`,
    'const member = gzipSync(Buffer.alloc(1 << 20));',
    'async function* endless() { for (;;) { for (let i = 0; i < 64; i++) yield member; await new Promise((r) => setImmediate(r)); } }',
    'void buildZtoc(endless(), { spanSize: 65536 });',
    'await new Promise((r) => setTimeout(r, 150));',
  ].join('\n');
  const parent = [
    `import { Worker } from 'node:worker_threads';`,
    `const w = new Worker(${JSON.stringify(body + "\nprocess.stdout.write('started ');")}, { eval: true, type: 'module' });`,
    'await new Promise((r) => setTimeout(r, 500));',
    'await w.terminate();',
    `process.stdout.write('terminated ');`,
    `${body}`,
    'process.exit(7);',
  ].join('\n');
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', parent], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.stdout, 'started terminated ', r.stderr);
    assert.equal(r.status, 7, r.stderr);
  }
});

test('the library builds from `node --input-type=module -e`, also under per-process flags', () => {
  const layer = goldenLayer('pax-records.tar.gz');
  const script = [
    `import { buildZtoc } from ${dist('src/ztoc/build.js')};`,
    `import { readFileChunks } from ${dist('src/ztoc/source.js')};`,
    `const r = await buildZtoc(readFileChunks(${JSON.stringify(layer)}), { spanSize: 65536, thread: 'separate' });`,
    'process.stdout.write(String(r.spans));',
  ].join('\n');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.ok(Number(out) >= 1, out);
  const flagged = execFileSync(process.execPath, ['--v8-pool-size=2', '--title', 'ztoc test', '--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(flagged, out);
});
