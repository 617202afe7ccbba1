// The worker pool hands every slot on: a worker released as broken (terminated) must not strand the callers
// waiting for one (they hold no handle, so the process would otherwise exit under a pending promise).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerPool } from '../src/ztoc/pool.js';

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
