// Fuzz helper: where the committed corpus lives (testdata/fuzz: seeds made by real tools, and
// regressions = inputs that once failed, replayed by every test run), and how an input is saved:
// JSON where byte arrays are {"$b64": "..."} so a saved failure reads back as the exact value.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './golden.js';

export const FUZZ_DIR = join(repoRoot(), 'testdata', 'fuzz');
export const SEEDS_DIR = join(FUZZ_DIR, 'seeds');
export const REGRESSIONS_DIR = join(FUZZ_DIR, 'regressions');

export function seed(name: string): Buffer {
  return readFileSync(join(SEEDS_DIR, name));
}

export function seedNames(prefix: RegExp): string[] {
  return readdirSync(SEEDS_DIR)
    .filter((f) => prefix.test(f))
    .sort();
}

/** JSON with Uint8Arrays as {"$b64"} and bigints as {"$big"}; undefined object fields are dropped. */
export function encodeInput(v: unknown): string {
  return JSON.stringify(
    v,
    function (this: unknown, _k: string, val: unknown) {
      if (val instanceof Uint8Array) return { $b64: Buffer.from(val.buffer, val.byteOffset, val.byteLength).toString('base64') };
      if (typeof val === 'bigint') return { $big: val.toString() };
      // Buffer.toJSON runs before the replacer sees it: catch its shape too.
      if (typeof val === 'object' && val !== null && (val as { type?: unknown }).type === 'Buffer' && Array.isArray((val as { data?: unknown }).data)) {
        return { $b64: Buffer.from((val as { data: number[] }).data).toString('base64') };
      }
      return val;
    },
    1,
  );
}

export function decodeInput<T>(text: string): T {
  return JSON.parse(text, (_k, val: unknown) => {
    if (typeof val === 'object' && val !== null) {
      const o = val as Record<string, unknown>;
      if (typeof o['$b64'] === 'string' && Object.keys(o).length === 1) return new Uint8Array(Buffer.from(o['$b64'], 'base64'));
      if (typeof o['$big'] === 'string' && Object.keys(o).length === 1) return BigInt(o['$big']);
    }
    return val;
  }) as T;
}

export interface SavedCase<T> {
  target: string;
  /** What went wrong when it was saved (for people; the test decides anew). */
  note: string;
  input: T;
}

/** Saves a failing input under testdata/fuzz/regressions/<target>/<hash>.json; returns the path. */
export function saveRegression<T>(target: string, input: T, note: string): string {
  const dir = join(REGRESSIONS_DIR, target);
  mkdirSync(dir, { recursive: true });
  const body = encodeInput(input);
  const name = `${createHash('sha256').update(body).digest('hex').slice(0, 16)}.json`;
  const path = join(dir, name);
  writeFileSync(path, `${encodeInput({ target, note: note.slice(0, 2000), input: decodeInput<unknown>(body) })}\n`);
  return path;
}

/** Every saved input of a target, oldest name first. */
export function regressions<T>(target: string): Array<{ file: string; input: T }> {
  const dir = join(REGRESSIONS_DIR, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, input: decodeInput<SavedCase<T>>(readFileSync(join(dir, f), 'utf8')).input }));
}
