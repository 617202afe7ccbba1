// Owns bounded concurrency for jobs: run at most N async tasks at once, in submission order; wait for a whole batch
// before its first failure is thrown; and the rule for a concurrency setting (a positive integer; NaN or 0 would
// otherwise mean "no limit").

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

/**
 * Every task's result, once all have ended; the first failure (in task order) if any failed. Unlike Promise.all,
 * nothing is still running when this throws, so no push or event follows the job's error.
 */
export async function settleAll<T>(tasks: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(tasks);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** `fn` over `items`, at most `n` at a time, the results in item order (settleAll's failure rule). */
export function mapLimited<T, R>(items: readonly T[], n: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const limit = limiter(n);
  return settleAll(items.map((item, i) => limit(() => fn(item, i))));
}
