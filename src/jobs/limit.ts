// Owns bounded concurrency for jobs: run at most N async tasks at once, in submission order.

import { ZtocError } from '../errors.js';

/** A concurrency option checked where it enters the library (limiter() alone would round NaN to "no limit"). */
export function checkConcurrency(n: number, what = 'concurrency'): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new ZtocError('INVALID_ARGUMENT', `${what} must be a positive integer, got ${n}`);
  return n;
}

export type Limit = <T>(task: () => Promise<T>) => Promise<T>;

export function limiter(n: number): Limit {
  const max = Math.max(1, Math.floor(n));
  let active = 0;
  const queue: Array<() => void> = [];
  // A finishing task hands its slot straight to the next waiter, so no newcomer can jump in.
  const release = (): void => {
    const next = queue.shift();
    if (next !== undefined) next();
    else active--;
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= max) await new Promise<void>((r) => queue.push(r));
    else active++;
    try {
      return await task();
    } finally {
      release();
    }
  };
}
