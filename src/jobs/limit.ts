// Owns bounded concurrency for jobs: run at most N async tasks at once, in submission order, and the
// rule for a concurrency setting (a positive integer; NaN or 0 would otherwise mean "no limit").

import { ZtocError } from '../errors.js';

export type Limit = <T>(task: () => Promise<T>) => Promise<T>;

/** `n` if it is a positive safe integer, else INVALID_ARGUMENT naming `what` (an option or flag name) and `given`. */
export function checkConcurrency(n: number, what = 'concurrency', given = String(n)): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new ZtocError('INVALID_ARGUMENT', `${what} must be a positive integer, got ${given}`);
  return n;
}

export function limiter(n: number): Limit {
  const max = checkConcurrency(n);
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
