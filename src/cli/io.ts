// Owns the CLI's terminal conventions, behind an injected `CliIO` (corepack's context, npm's output):
// results to stdout, logs and progress to stderr, a spinner only on an interactive terminal (never in CI
// or with NO_COLOR/TERM=dumb), sizes and rates formatted for people. Commands write only through a
// `Terminal`, so tests run them in-process with captured streams; ora loads only when a spinner shows.

import type { Ora } from 'ora';
import { ZtocError } from '../errors.js';

/** The streams a command talks to; `processIO()` in the executable, buffers in tests. */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  /** stderr is a terminal a person watches: spinners may redraw it. */
  interactive: boolean;
}

/** The real process streams. */
export function processIO(env: NodeJS.ProcessEnv = process.env): CliIO {
  // A TTY that reports no width (e.g. under `script`) makes spinners redraw forever: treat it as none.
  const interactive =
    Boolean(process.stderr.isTTY) && (process.stderr.columns ?? 0) > 0 && !env['CI'] && env['TERM'] !== 'dumb' && !env['NO_COLOR'];
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, interactive };
}

const line = (s: string): string => (s.endsWith('\n') ? s : `${s}\n`);

/** What commands print through. */
export class Terminal {
  constructor(readonly io: CliIO) {}

  /** A result line on stdout. */
  out = (s: string): void => {
    this.io.stdout.write(line(s));
  };

  /** A log line on stderr. */
  log = (s: string): void => {
    this.io.stderr.write(line(s));
  };

  /** Go-like JSON for --json output: two-space indent, newline at the end; on stderr when stdout carries data. */
  json(v: unknown, to: 'stdout' | 'stderr' = 'stdout'): void {
    (to === 'stdout' ? this.out : this.log)(JSON.stringify(v, null, 2));
  }

  /** A progress line on stderr; a no-op unless stderr is interactive (then ora is loaded). */
  async progress(text: string): Promise<Progress> {
    if (!this.io.interactive) return new Progress(undefined);
    const { default: ora } = await import('ora');
    return new Progress(ora({ text, stream: this.io.stderr as NodeJS.WriteStream }).start());
  }
}

/** Shortest time between two throttled progress texts: about ora's frame interval (80 ms). */
export const PROGRESS_TICK_MS = 100;

export class Progress {
  private shown = -Infinity;

  constructor(
    private readonly spinner: Ora | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  update(text: string): void {
    if (this.spinner) this.spinner.text = text;
  }

  /**
   * A text for frequent events (a layer's bytes, one per chunk read: thousands a second), made by `text` at most
   * once per PROGRESS_TICK_MS and never without a spinner: setting ora's text measures the line's width each time.
   */
  tick(text: () => string): void {
    if (this.spinner === undefined) return;
    const t = this.now();
    if (t - this.shown < PROGRESS_TICK_MS) return;
    this.shown = t;
    this.spinner.text = text();
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
