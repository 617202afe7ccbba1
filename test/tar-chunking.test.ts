// Chunking invariance of the tar scanner: every way of splitting the stream (1, 7, 511, 512, 513,
// 65536 bytes, random splits in reused buffers) gives the same entries, or the same error and offset.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ZtocError } from '../src/errors.js';
import { TarScanner } from '../src/tar/scanner.js';
import { craftedCases } from './helpers/tar-crafted.js';
import { makeTree, scan, type ScanOutcome } from './helpers/tar-fixtures.js';

function summary(o: ScanOutcome): unknown {
  if ('err' in o) return { code: o.err.code, offset: o.err.offset, message: o.err.message, entry: o.err.entry };
  return o.ok;
}

/** Scan view[start, end) pushed in `step`-byte pieces of the same view. */
function scanView(view: Uint8Array, start: number, end: number, step: number): unknown {
  const s = new TarScanner();
  try {
    for (let i = start; i < end; i += step) s.push(view, i, Math.min(end, i + step));
    return s.end();
  } catch (e) {
    if (e instanceof ZtocError) return { code: e.code, offset: e.offset, message: e.message, entry: e.entry };
    throw e;
  }
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

  it('chunks at every byte alignment of the underlying ArrayBuffer', () => {
    for (const c of craftedCases().filter((x) => x.bytes.length > 0 && x.bytes.length < 50_000)) {
      const whole = summary(scan(c.bytes));
      for (let shift = 0; shift < 8; shift++) {
        const backing = new Uint8Array(c.bytes.length + 16);
        backing.set(c.bytes, shift);
        const view = new Uint8Array(backing.buffer, 1 + (shift % 3), backing.length - 4);
        // The tar starts at view index shift - 1 - shift % 3 (may be negative: then skip).
        const at = shift - 1 - (shift % 3);
        if (at < 0) continue;
        const s = scanView(view, at, at + c.bytes.length, 700 + shift);
        assert.deepEqual(s, whole, `${c.name} shift ${shift}`);
      }
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
