// RegistryClient.blobWrite: one write per (registry, repository, digest) in flight on a client. Concurrent
// pushes of one blob to one repository join the first (Debian's registry rewrites the blob link on every
// committed upload, which can fail a concurrent manifest PUT); other keys and later calls run on their own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryClient } from '../src/registry/client.js';

test('concurrent writes with one key run once; the others join it', async () => {
  const client = new RegistryClient();
  let runs = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const write = async (): Promise<string> => {
    runs++;
    await gate;
    return 'pushed';
  };
  const a = client.blobWrite('h/repo@sha256:1', write);
  const b = client.blobWrite('h/repo@sha256:1', write);
  const other = client.blobWrite('h/other@sha256:1', write);
  release();
  assert.deepEqual(await Promise.all([a, b, other]), [
    { result: 'pushed', joined: false },
    { result: 'pushed', joined: true },
    { result: 'pushed', joined: false },
  ]);
  assert.equal(runs, 2);
  // Done writes are forgotten: the next one runs again (and asks the registry whether the blob is there).
  assert.deepEqual(await client.blobWrite('h/repo@sha256:1', write), { result: 'pushed', joined: false });
  assert.equal(runs, 3);
  await client.close();
});

test('a failed write fails every joiner and is not remembered', async () => {
  const client = new RegistryClient();
  let runs = 0;
  const failing = async (): Promise<string> => {
    runs++;
    await new Promise((r) => setTimeout(r, 5));
    throw new Error('upload refused');
  };
  const results = await Promise.allSettled([client.blobWrite('k', failing), client.blobWrite('k', failing)]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  assert.equal(runs, 1);
  assert.deepEqual(await client.blobWrite('k', async () => 'ok'), { result: 'ok', joined: false });
  await client.close();
});
