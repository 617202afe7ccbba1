// Tests the one atomic-write helper (src/fs/atomic-write.ts) that the layout, the backfill report and
// get-file share: the target is replaced whole, a failing source leaves the old file and no temp file.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atomicWriteFile } from '../src/fs/atomic-write.js';

const work = mkdtempSync(join(tmpdir(), 'ztoc-atomic-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('bytes, strings and chunk streams replace the target whole; mkdir creates parents', async () => {
  const p = join(work, 'a', 'b', 'out.json');
  await assert.rejects(atomicWriteFile(p, 'x'), { code: 'ENOENT' });
  await atomicWriteFile(p, '{"v":1}\n', { mkdir: true });
  assert.equal(readFileSync(p, 'utf8'), '{"v":1}\n');
  await atomicWriteFile(p, Buffer.from('two'));
  assert.equal(readFileSync(p, 'utf8'), 'two');
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield Buffer.from('thr');
    yield Buffer.from('ee');
  }
  await atomicWriteFile(p, chunks());
  assert.equal(readFileSync(p, 'utf8'), 'three');
  assert.deepEqual(readdirSync(join(work, 'a', 'b')), ['out.json']);
});

test('a source that fails midway keeps the old file and leaves no temp file', async () => {
  const dir = join(work, 'fail');
  const p = join(dir, 'kept');
  await atomicWriteFile(p, 'old', { mkdir: true });
  async function* broken(): AsyncGenerator<Uint8Array> {
    yield Buffer.alloc(1 << 16, 1);
    throw new Error('source cut');
  }
  await assert.rejects(atomicWriteFile(p, broken()), /source cut/);
  assert.equal(readFileSync(p, 'utf8'), 'old');
  assert.deepEqual(readdirSync(dir), ['kept']);
});
