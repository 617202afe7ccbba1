// Owns how many layers inflate at once in this process. Each build inflates on a native thread of its
// own (CheckpointInflater.startThread), started for that layer and ended with it: a thread costs
// microseconds, where a Node worker cost ~85 ms of CPU and ~15 MB to start. The pool only caps how
// many run together (one per core by default), so that parallel images and layers share the cores
// instead of time-slicing more inflates than there are cores.

import { availableParallelism } from 'node:os';
import { ZtocError } from '../errors.js';

export class InflatePool {
  private running = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly size: number = availableParallelism()) {
    if (!Number.isSafeInteger(size) || size < 1) throw new ZtocError('INVALID_ARGUMENT', `an inflate pool needs a size of at least 1, got ${size}`);
  }

  /** Inflates running now. */
  get active(): number {
    return this.running;
  }

  /** Waits for a place; the function returned gives it back (once; later calls do nothing). */
  async acquire(): Promise<() => void> {
    if (this.running < this.size) this.running++;
    else await new Promise<void>((resolve) => this.waiters.push(resolve)); // the place is handed over, still counted
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const next = this.waiters.shift();
      if (next !== undefined) next();
      else this.running--;
    };
  }

  /** Kept for callers that close a pool: there is nothing to free, each thread ends with its build. */
  async close(): Promise<void> {}
}

/** @deprecated The pool's name from when builds inflated on Node worker threads. */
export const WorkerPool = InflatePool;
/** @deprecated See InflatePool. */
export type WorkerPool = InflatePool;

let shared: InflatePool | undefined;

/** The process-wide pool used when a caller doesn't bring its own. */
export function sharedPool(): InflatePool {
  shared ??= new InflatePool();
  return shared;
}
