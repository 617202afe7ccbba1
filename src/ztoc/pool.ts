// Owns the worker threads that run LayerEngines: a small pool so parallel layers use every core,
// reused across layers (a worker costs ~85 ms to start), unref'd so an idle pool never holds the
// process open. A worker has a scheduling priority (protocol.ts, BuildPriority): a build asking for
// 'background' may take a normal worker (which lowers itself), but a normal build never gets a
// background one, because an unprivileged thread can lower its priority and never raise it again.
// Workers inherit the parent's Node flags (--import, --conditions, --cpu-prof, ...) except those
// about the parent's entry point (`node --input-type=module -e '...'` using the library would
// otherwise fail every worker's start) and the per-process ones Node refuses in a worker
// (--v8-pool-size, --title, ...), which it names when it refuses them.

import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { BuildPriority } from './protocol.js';

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

/**
 * `args` without the flags a worker's ERR_WORKER_INVALID_EXEC_ARGV names ("Initiated Worker with
 * invalid execArgv flags: --v8-pool-size=1, --title"), each with its value when that is the next
 * argument (in execArgv, an argument not starting with '-' is always a flag's value); undefined if
 * `err` is another error.
 */
export function withoutRefusedFlags(args: readonly string[], err: unknown): string[] | undefined {
  if (!(err instanceof Error) || (err as NodeJS.ErrnoException).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') return undefined;
  const refused = new Set(/flags: (.*)$/.exec(err.message)?.[1]?.split(', ') ?? []);
  if (refused.size === 0) return undefined;
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (!refused.has(args[i]!)) out.push(args[i]!);
    else while (i + 1 < args.length && !args[i + 1]!.startsWith('-')) i++;
  }
  return out;
}

/** The flags workers start with, narrowed once Node refused some. */
let inherited: string[] | undefined;

function newWorker(): Worker {
  const url = new URL('./worker.js', import.meta.url);
  inherited ??= workerExecArgv(process.execArgv);
  try {
    return new Worker(url, { execArgv: inherited });
  } catch (err) {
    const narrowed = withoutRefusedFlags(inherited, err);
    if (narrowed === undefined) throw err;
    inherited = narrowed;
    return new Worker(url, { execArgv: inherited });
  }
}

interface Waiter {
  priority: BuildPriority;
  resolve: (w: Worker) => void;
}

export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly waiters: Waiter[] = [];
  /** The priority each live worker runs at (set by the build that last used it). */
  private readonly priorities = new Map<Worker, BuildPriority>();
  private live = 0;
  private closed = false;

  constructor(readonly size: number = availableParallelism()) {}

  /** A worker for a build at `priority`: an idle one that may run it, a new one, or the next one released. */
  async acquire(priority: BuildPriority = 'normal'): Promise<Worker> {
    const w = this.takeIdle(priority);
    if (w !== undefined) return this.handOut(w, priority);
    if (this.live < this.size) return this.handOut(this.spawn(), priority);
    // Full, and only background workers idle: a normal build replaces one rather than wait behind it.
    const stale = priority === 'normal' ? this.idle.pop() : undefined;
    if (stale !== undefined) return this.handOut(this.replace(stale), priority);
    return new Promise((resolve) => this.waiters.push({ priority, resolve }));
  }

  /** The priority `w` runs at. */
  priorityOf(w: Worker): BuildPriority {
    return this.priorities.get(w) ?? 'normal';
  }

  /** An idle worker that may run a build at `priority`; for a background build, a background one first. */
  private takeIdle(priority: BuildPriority): Worker | undefined {
    let i = this.idle.findLastIndex((w) => this.priorityOf(w) === priority);
    if (i < 0 && priority === 'background') i = this.idle.length - 1;
    return i < 0 ? undefined : this.idle.splice(i, 1)[0];
  }

  private handOut(w: Worker, priority: BuildPriority): Worker {
    w.ref();
    this.priorities.set(w, priority);
    return w;
  }

  /** Terminates `w` and starts a normal worker in its place (the pool's size is unchanged). */
  private replace(w: Worker): Worker {
    this.priorities.delete(w);
    w.removeAllListeners('exit');
    this.live--;
    void w.terminate();
    return this.spawn();
  }

  private spawn(): Worker {
    this.live++;
    const worker = newWorker();
    worker.on('exit', () => {
      this.live--;
      this.priorities.delete(worker);
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
      // A terminated (broken) worker frees a slot: hand it to the next waiter, which would otherwise wait for a
      // release that never comes (and, holding no handle, let the event loop empty under a pending promise).
      const next = this.closed ? undefined : this.waiters.shift();
      if (next !== undefined) next.resolve(this.handOut(this.spawn(), next.priority));
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
      const fits = next.priority === 'background' || this.priorityOf(w) === 'normal';
      next.resolve(this.handOut(fits ? w : this.replace(w), next.priority));
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
