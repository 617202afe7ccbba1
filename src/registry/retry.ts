// Owns retrying: which failures are transient (connection errors, 408, 429, 5xx), the jittered exponential backoff,
// `Retry-After` in both its forms with a hard upper bound, and a per-host "not before" gate so that parallel workers
// hitting the same rate-limited host slow down together (regclient's model). Only requests whose body is a buffer
// reach this layer, so every attempt can be replayed.

import { setTimeout as sleepTimer } from 'node:timers/promises';
import { isRetryableNetworkError, type HttpResponse } from './transport.js';

export interface RetryPolicy {
  /** Total tries including the first. Default 5. */
  maxAttempts: number;
  /** First backoff. Default 200 ms. */
  baseDelayMs: number;
  /** Backoff cap (not applied to Retry-After). Default 5 s. */
  maxDelayMs: number;
  /** Hard upper bound on a server-requested Retry-After wait. Default 60 s. */
  maxRetryAfterMs: number;
  /** Relative jitter, 0..1: each delay is scaled by a random factor in [1-j, 1+j]. Default 0.2. */
  jitter: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  maxRetryAfterMs: 60_000,
  jitter: 0.2,
});

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  reason: string;
}

/** Statuses worth another try. 501/505 are permanent. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP-date; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** Backoff before retry number `attempt` (1 = first retry), jittered, capped. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(Math.min(policy.maxDelayMs, exp * factor)));
}

/** The wait for a retryable response: Retry-After when given (bounded), else the backoff. */
export function retryDelay(attempt: number, policy: RetryPolicy, retryAfter: string | undefined, now: number = Date.now()): number {
  const ra = parseRetryAfter(retryAfter, now);
  if (ra !== undefined) return Math.min(ra, policy.maxRetryAfterMs);
  return backoffDelay(attempt, policy);
}

export function resolvePolicy(p?: Partial<RetryPolicy>): RetryPolicy {
  const out: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...(p ?? {}) };
  out.maxAttempts = Math.max(1, Math.floor(out.maxAttempts));
  return out;
}

async function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) return;
  await sleepTimer(ms, undefined, signal === undefined ? undefined : { signal });
}

/** Runs attempts under a policy; shared by all requests of a client so the per-host gate is shared too. */
export class Retrier {
  readonly policy: RetryPolicy;
  private readonly notBefore = new Map<string, number>();
  private readonly onRetry: ((e: RetryEvent) => void) | undefined;

  constructor(policy?: Partial<RetryPolicy>, onRetry?: (e: RetryEvent) => void) {
    this.policy = resolvePolicy(policy);
    this.onRetry = onRetry;
  }

  /** Wait until the host's gate (set by a Retry-After) opens. */
  private async gate(host: string, signal: AbortSignal | undefined): Promise<void> {
    const until = this.notBefore.get(host);
    if (until === undefined) return;
    const wait = until - Date.now();
    if (wait <= 0) {
      this.notBefore.delete(host);
      return;
    }
    await sleep(wait, signal);
  }

  /**
   * Run `attempt` until it yields a non-retryable response, a non-retryable error, or the tries run out. The last
   * retryable response is returned as is (the caller turns it into an error); the last retryable error is thrown.
   */
  async run(host: string, attempt: () => Promise<HttpResponse>, signal?: AbortSignal): Promise<HttpResponse> {
    for (let n = 1; ; n++) {
      await this.gate(host, signal);
      let res: HttpResponse;
      try {
        res = await attempt();
      } catch (err) {
        if (signal?.aborted === true || !isRetryableNetworkError(err) || n >= this.policy.maxAttempts) throw err;
        const delay = backoffDelay(n, this.policy);
        this.onRetry?.({ attempt: n, delayMs: delay, reason: err instanceof Error ? err.message : String(err) });
        await sleep(delay, signal);
        continue;
      }
      if (!isRetryableStatus(res.status) || n >= this.policy.maxAttempts) return res;
      const retryAfter = res.header('retry-after');
      const delay = retryDelay(n, this.policy, retryAfter);
      if (retryAfter !== undefined) {
        // regclient-style: a Retry-After throttles every request to this host, not just this one.
        this.notBefore.set(host, Math.max(this.notBefore.get(host) ?? 0, Date.now() + delay));
      }
      await res.discard();
      this.onRetry?.({ attempt: n, delayMs: delay, reason: `HTTP ${res.status} from ${res.method} ${res.url.host}${res.url.pathname}` });
      await sleep(delay, signal);
    }
  }
}
