// Owns the CLI's terminal conventions: results to stdout, logs and progress to stderr, a spinner
// only on a TTY (never in CI or with NO_COLOR/TERM=dumb), sizes and rates formatted for people.

import { readFileSync } from 'node:fs';
import ora, { type Ora } from 'ora';
import { ZtocError } from '../errors.js';

export const out = (s: string): void => {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
};
export const log = (s: string): void => {
  process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
};

export function interactive(): boolean {
  // A TTY that reports no width (e.g. under `script`) makes spinners redraw forever: treat it as none.
  return (
    Boolean(process.stderr.isTTY) &&
    (process.stderr.columns ?? 0) > 0 &&
    !process.env['CI'] &&
    process.env['TERM'] !== 'dumb' &&
    !process.env['NO_COLOR']
  );
}

/** A progress line on stderr; a no-op when stderr isn't an interactive terminal. */
export class Progress {
  private readonly spinner: Ora | undefined;
  constructor(text: string) {
    this.spinner = interactive() ? ora({ text, stream: process.stderr }).start() : undefined;
  }
  update(text: string): void {
    if (this.spinner) this.spinner.text = text;
  }
  stop(): void {
    this.spinner?.stop();
  }
}

const UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1 << 20, g: 1e9, gb: 1e9, gib: 1 << 30,
};

/** Parses "4194304", "4MiB", "10MB", "1GiB" to a byte count. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new ZtocError('INVALID_ARGUMENT', `invalid size ${JSON.stringify(text)} (use bytes or e.g. 4MiB)`);
  const v = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(v)) throw new ZtocError('INVALID_ARGUMENT', `size ${text} is too large`);
  return v;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function rate(bytes: number, seconds: number): string {
  return seconds > 0 ? `${(bytes / 1e6 / seconds).toFixed(1)} MB/s` : '-';
}

/** Go-like JSON for --json output: two-space indent, newline at the end. */
export function printJson(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

/** Commander collector for a repeatable option. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The text of a `--prefetch-files-json` file; an unreadable file is a usage error. */
export function readPrefetchJson(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ZtocError('INVALID_ARGUMENT', `--prefetch-files-json ${path}: ${(err as Error).message}`);
  }
}
