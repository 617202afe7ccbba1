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
