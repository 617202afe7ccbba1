// Owns the worker threads that run LayerEngines: a small pool so parallel layers use every core,
// reused across layers (a worker costs ~30 ms to start), unref'd so an idle pool never holds the
// process open. Workers inherit the parent's Node flags (--import, --conditions, --cpu-prof, ...)
// except those about the parent's entry point: `node --input-type=module -e '...'` using the
// library would otherwise fail every worker's start.

import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

/**
 * The parent's flags about its own entry point, which a worker must not inherit (`--input-type`
 * fails a worker's start: "--input-type can only be used with string input"), with the ones that
 * take a value as the next argument unless written `--flag=value`.
 */
const ENTRY_POINT = new Set(['-i', '--interactive', '-c', '--check', '--watch', '--watch-preserve-output']);
const ENTRY_POINT_WITH_VALUE = new Set(['--input-type', '-e', '--eval', '-p', '--print', '--watch-path']);

/** The execArgv an inflate worker starts with: the parent's (preloads, conditions, profiling), minus its entry-point flags. */
export function workerExecArgv(parent: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const a = parent[i]!;
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    if (ENTRY_POINT_WITH_VALUE.has(name)) {
      if (eq < 0) i++; // and its value
    } else if (!ENTRY_POINT.has(a)) out.push(a);
  }
  return out;
}

export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly waiters: Array<(w: Worker) => void> = [];
  private live = 0;
  private closed = false;

  constructor(readonly size: number = availableParallelism()) {}

  async acquire(): Promise<Worker> {
    const w = this.idle.pop();
    if (w !== undefined) {
      w.ref();
      return w;
    }
    if (this.live < this.size) return this.spawn();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private spawn(): Worker {
    this.live++;
    const worker = new Worker(new URL('./worker.js', import.meta.url), { execArgv: workerExecArgv(process.execArgv) });
    worker.on('exit', () => {
      this.live--;
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
      // A terminated (broken) worker frees a slot: hand it to the next waiter, which would otherwise wait for a
      // release that never comes (and, holding no handle, let the event loop empty under a pending promise).
      const next = this.closed ? undefined : this.waiters.shift();
      if (next !== undefined) next(this.spawn());
    });
    return worker;
  }

  /**
   * Starts up to `n` workers now, idle and unref'd, so that their start (~85 ms here: a new isolate, the
   * worker's modules, the addon) overlaps the caller's own start-up instead of delaying the first
   * inflate. A command that is about to build layers calls it first thing.
   */
  prestart(n = 1): void {
    while (!this.closed && this.live < Math.min(n, this.size)) {
      const w = this.spawn();
      w.unref();
      this.idle.push(w);
    }
  }

  /** Returns a worker; `broken` ones (crashed, or mid-layer when aborted) are terminated. */
  release(w: Worker, broken = false): void {
    if (broken || this.closed) {
      void w.terminate();
      return;
    }
    w.removeAllListeners('message');
    w.removeAllListeners('error');
    const next = this.waiters.shift();
    if (next !== undefined) {
      next(w);
      return;
    }
    w.unref();
    this.idle.push(w);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.splice(0).map((w) => w.terminate()));
  }
}

let shared: WorkerPool | undefined;

/** The process-wide pool used when a caller doesn't bring its own. */
export function sharedPool(): WorkerPool {
  shared ??= new WorkerPool();
  return shared;
}
