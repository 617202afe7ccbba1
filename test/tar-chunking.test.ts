// Chunking invariance of the tar scanner: every way of splitting the stream (1, 7, 511, 512, 513,
// 65536 bytes, random splits in reused buffers) gives the same entries, or the same error and offset.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { craftedCases } from './helpers/tar-crafted.js';
import { makeTree, scan, type ScanOutcome } from './helpers/tar-fixtures.js';

function summary(o: ScanOutcome): unknown {
  if ('err' in o) return { code: o.err.code, offset: o.err.offset, message: o.err.message, entry: o.err.entry };
  return o.ok;
}

const SPLITS: Array<number | { seed: number; max: number }> = [
  1,
  7,
  511,
  512,
  513,
  65536,
  { seed: 1, max: 64 },
  { seed: 2, max: 1500 },
  { seed: 3, max: 100_000 },
];

function checkInvariant(label: string, bytes: Uint8Array, splits = SPLITS): void {
  const whole = summary(scan(bytes));
  for (const s of splits) {
    assert.deepEqual(summary(scan(bytes, s)), whole, `${label} split ${JSON.stringify(s)}`);
  }
}

describe('tar scanner chunking invariance', () => {
  it('every crafted case, under every split', () => {
    for (const c of craftedCases()) {
      // 1-byte feeding of the 1 MiB bodies is slow and adds nothing over 7.
      const splits = c.bytes.length > 200_000 ? SPLITS.filter((s) => s !== 1) : SPLITS;
      checkInvariant(c.name, c.bytes, splits);
    }
  });

  it('a GNU tar posix archive of a varied tree, under every split', { skip: spawnSync('tar', ['--version']).status !== 0 }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ztoc-tar-chunk-'));
    try {
      makeTree(dir);
      for (const fmt of ['posix', 'gnu']) {
        const f = path.join(dir, `${fmt}.tar`);
        spawnSync('tar', ['-C', dir, `--format=${fmt}`, '-cf', f, 'tree']);
        const bytes = new Uint8Array(fs.readFileSync(f));
        checkInvariant(fmt, bytes);
        for (let seed = 10; seed < 40; seed++) {
          assert.deepEqual(summary(scan(bytes, { seed, max: 2048 })), summary(scan(bytes)), `${fmt} seed ${seed}`);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
