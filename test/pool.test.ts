// The worker pool hands every slot on: a worker released as broken (terminated) must not strand the callers
// waiting for one (they hold no handle, so the process would otherwise exit under a pending promise).
// Workers inherit the parent's flags but not those about its entry point, so a library user's
// `node --input-type=module -e` doesn't break them. A background worker (a lowered thread priority) is never handed
// to a normal build, and on Linux its thread really runs at the lower priority.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WorkerPool, withoutRefusedFlags, workerExecArgv } from '../src/ztoc/pool.js';
import { NICE } from '../src/ztoc/protocol.js';
import { buildZtoc } from '../src/ztoc/build.js';
import { readFileChunks } from '../src/ztoc/source.js';
import { goldenLayer } from './helpers/golden.js';

test('a waiter gets a fresh worker when a busy one is released as broken', async () => {
  const pool = new WorkerPool(1);
  const first = await pool.acquire();
  const waiting = pool.acquire();
  pool.release(first, true);
  const second = await waiting;
  assert.notEqual(second, first);
  assert.equal(typeof second.threadId, 'number');
  pool.release(second);
  await pool.close();
});

test('a waiter gets the released worker itself when it is healthy', async () => {
  const pool = new WorkerPool(1);
  const first = await pool.acquire();
  const waiting = pool.acquire();
  pool.release(first);
  assert.equal(await waiting, first);
  pool.release(first);
  await pool.close();
});

test("workers inherit the parent's flags but those about its entry point", () => {
  const parent = ['--input-type=module', '--import', 'tsx', '-r', 'x', '--cpu-prof', '--cpu-prof-dir', '/p', '-e', 'code', '--input-type', 'commonjs', '--eval=more', '-p', '1', '--check', '--no-warnings'];
  assert.deepEqual(workerExecArgv(parent), ['--import', 'tsx', '-r', 'x', '--cpu-prof', '--cpu-prof-dir', '/p', '--no-warnings']);
  assert.deepEqual(workerExecArgv([]), []);
});

test('the per-process flags Node refuses in a worker are dropped with their values, and only those', () => {
  const refusal = (flags: string): Error => Object.assign(new Error(`Initiated Worker with invalid execArgv flags: ${flags}`), { code: 'ERR_WORKER_INVALID_EXEC_ARGV' });
  const args = ['--v8-pool-size=1', '--title', 'my tool', '--import', 'tsx', '--no-warnings'];
  assert.deepEqual(withoutRefusedFlags(args, refusal('--v8-pool-size=1, --title')), ['--import', 'tsx', '--no-warnings']);
  assert.equal(withoutRefusedFlags(args, new Error('Initiated Worker with invalid execArgv flags: --title')), undefined, 'no code: another error');
  assert.equal(withoutRefusedFlags(args, new TypeError('boom')), undefined);
});

test('the library builds on workers from `node --input-type=module -e`, also under per-process flags', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const layer = goldenLayer('pax-records.tar.gz');
  const script = [
    `import { buildZtoc } from ${JSON.stringify(pathToFileURL(join(root, 'dist/src/ztoc/build.js')).href)};`,
    `import { readFileChunks } from ${JSON.stringify(pathToFileURL(join(root, 'dist/src/ztoc/source.js')).href)};`,
    `const r = await buildZtoc(readFileChunks(${JSON.stringify(layer)}), { spanSize: 65536, thread: 'worker' });`,
    'process.stdout.write(String(r.spans));',
  ].join('\n');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.ok(Number(out) >= 1, out);
  // And under per-process flags, which Node refuses in a worker's execArgv.
  const flagged = execFileSync(process.execPath, ['--v8-pool-size=2', '--title', 'ztoc test', '--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(flagged, out);
});

test('prestarted workers are the ones a build then gets, and no more than the pool holds are started', async () => {
  const pool = new WorkerPool(2);
  pool.prestart(3);
  pool.prestart(3); // again: nothing more
  const a = await pool.acquire();
  const b = await pool.acquire();
  assert.notEqual(a, b);
  const third = pool.acquire(); // the pool is full: this one waits for a release
  let got = false;
  void third.then(() => (got = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(got, false);
  pool.release(a);
  assert.equal(await third, a);
  pool.release(a);
  // A prestarted worker runs a real layer (the pool is full, so the build can only get one of them).
  const { buildZtoc } = await import('../src/ztoc/build.js');
  const { gzipSync } = await import('node:zlib');
  const tar = Buffer.alloc(2048); // two zero blocks: an empty tar
  const r = await buildZtoc((async function* () { yield gzipSync(tar); })(), { pool, spanSize: 1 << 20 });
  assert.equal(r.inflatedSize, 2048);
  pool.release(b);
  await pool.close();
});

test('a background worker goes to background builds only; a normal build gets a normal one', async () => {
  const pool = new WorkerPool(1);
  const bg = await pool.acquire('background');
  assert.equal(pool.priorityOf(bg), 'background');
  pool.release(bg);
  assert.equal(await pool.acquire('background'), bg, 'an idle background worker serves the next background build');
  pool.release(bg);
  // The pool is full and its one idle worker is a background one: a normal build replaces it, it doesn't wait.
  const normal = await pool.acquire('normal');
  assert.notEqual(normal, bg);
  assert.equal(pool.priorityOf(normal), 'normal');
  // A normal worker may lower itself for a background build.
  pool.release(normal);
  assert.equal(await pool.acquire('background'), normal);
  // A normal build waiting on a busy background worker gets a fresh one when it is released.
  const waiting = pool.acquire('normal');
  pool.release(normal);
  const fresh = await waiting;
  assert.notEqual(fresh, normal);
  assert.equal(pool.priorityOf(fresh), 'normal');
  pool.release(fresh);
  await pool.close();
});

/** The nice value of each of this process's threads, by thread id (Linux). */
function threadNices(): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    nices.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
  }
  return nices;
}

test('a background build runs its worker thread at the background nice value and makes the same zTOC', { skip: process.platform !== 'linux' && 'per-thread priorities are Linux only' }, async () => {
  const layer = goldenLayer('pax-records.tar.gz');
  const pool = new WorkerPool(2);
  // Threads of the earlier tests' workers may still be exiting: only threads that weren't there count.
  const before = new Set(threadNices().keys());
  const newAtBackground = (): number[] => [...threadNices()].filter(([tid, n]) => !before.has(tid) && n === NICE.background).map(([tid]) => tid);
  const bg = await buildZtoc(readFileChunks(layer), { pool, spanSize: 65536, priority: 'background' });
  // Its worker idles in the pool now, still at the background priority it set itself.
  const worker = newAtBackground();
  assert.equal(worker.length, 1);
  const normal = await buildZtoc(readFileChunks(layer), { pool, spanSize: 65536 });
  assert.deepEqual(newAtBackground(), worker, 'the normal build ran on another worker, at the normal priority');
  assert.equal(Buffer.from(bg.bytes).toString('hex'), Buffer.from(normal.bytes).toString('hex'));
  assert.equal(threadNices().get(process.pid), 0, 'the driver thread keeps its priority');
  await pool.close();
});
