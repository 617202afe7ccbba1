// Owns a backfill's manners towards a registry: a token bucket (`--rps`) that every registry call of the run goes
// through, whichever image worker makes it, and pacing of manifest GETs when Docker Hub's `ratelimit-remaining`
// header runs low. Both live in a RegistryClient subclass, so the per-host backoff of the retry layer (429,
// Retry-After) and the connection pool stay shared as well.

import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryClient, type ClientOptions, type RegistryRequest } from '../registry/client.js';
import type { HttpResponse } from '../registry/transport.js';

/** A token bucket: `rate` tokens a second, at most `burst` saved up. Callers wait their turn (FIFO by reservation). */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    readonly burst: number = Math.max(1, Math.ceil(rate)),
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(rate > 0)) throw new RangeError(`token bucket rate must be positive, got ${rate}`);
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Reserves one token; returns how many ms the caller must wait before using it. */
  reserve(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }

  async take(signal?: AbortSignal): Promise<void> {
    const wait = this.reserve();
    if (wait > 0) await sleep(wait, undefined, signal === undefined ? undefined : { signal });
  }
}

/** `ratelimit-remaining: 76;w=21600` (Docker Hub) → { value: 76, windowSeconds: 21600 }. */
export function parseRateLimitHeader(v: string | undefined): { value: number; windowSeconds: number | undefined } | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?/.exec(v);
  if (m === null) return undefined;
  return { value: Number(m[1]), windowSeconds: m[2] === undefined ? undefined : Number(m[2]) };
}

export const MAX_PACE_MS = 5 * 60_000;
const DEFAULT_WINDOW_SECONDS = 6 * 3600;

/**
 * The gap to keep between manifest GETs given Docker Hub's headers: none while more than 10 % of the limit (and more
 * than 5) is left; below that, the rest of the window spread evenly over what remains, capped at MAX_PACE_MS.
 */
export function hubPaceMs(limit: string | undefined, remaining: string | undefined): number | undefined {
  const r = parseRateLimitHeader(remaining);
  if (r === undefined) return undefined;
  const l = parseRateLimitHeader(limit);
  const lowWater = Math.max(5, Math.ceil((l?.value ?? 0) * 0.1));
  if (r.value > lowWater) return 0;
  const window = (r.windowSeconds ?? l?.windowSeconds ?? DEFAULT_WINDOW_SECONDS) * 1000;
  return Math.min(MAX_PACE_MS, Math.round(window / Math.max(1, r.value)));
}

export interface ThrottleOptions {
  /** Registry calls a second, over all workers; 0 or undefined = unlimited. */
  rps?: number;
  /** Called when the Docker Hub pacing changes (ms between manifest GETs, 0 = off). */
  onPace?: (host: string, paceMs: number, remaining: string) => void;
}

function isManifestGet(req: RegistryRequest): boolean {
  return req.method === 'GET' && /\/manifests\/[^/]+$/.test(req.url.pathname);
}

/**
 * A RegistryClient whose calls first take a token of the host's bucket, and whose manifest GETs keep the gap that
 * Docker Hub's rate-limit headers ask for. Counted once per call: auth round trips and retries inside a call are not
 * counted again (the retry layer has its own per-host backoff).
 */
export class ThrottledClient extends RegistryClient {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly pace = new Map<string, { gapMs: number; next: number }>();
  private readonly rps: number;
  private readonly onPace: ThrottleOptions['onPace'];
  /** Registry calls made, by host (for the report). */
  readonly calls = new Map<string, number>();

  constructor(opts: ClientOptions = {}, throttle: ThrottleOptions = {}) {
    super(opts);
    this.rps = throttle.rps ?? 0;
    this.onPace = throttle.onPace;
  }

  override async request(req: RegistryRequest): Promise<HttpResponse> {
    const host = req.url.host;
    this.calls.set(host, (this.calls.get(host) ?? 0) + 1);
    if (this.rps > 0) {
      let b = this.buckets.get(host);
      if (b === undefined) {
        b = new TokenBucket(this.rps);
        this.buckets.set(host, b);
      }
      await b.take(req.signal);
    }
    const manifestGet = isManifestGet(req);
    if (manifestGet) {
      const p = this.pace.get(host);
      if (p !== undefined && p.gapMs > 0) {
        const t = performance.now();
        const at = Math.max(t, p.next);
        p.next = at + p.gapMs;
        if (at > t) await sleep(at - t, undefined, req.signal === undefined ? undefined : { signal: req.signal });
      }
    }
    const res = await super.request(req);
    const remaining = res.header('ratelimit-remaining');
    if (remaining !== undefined) {
      const gap = hubPaceMs(res.header('ratelimit-limit'), remaining);
      if (gap !== undefined) {
        const p = this.pace.get(host) ?? { gapMs: 0, next: 0 };
        if (p.gapMs !== gap) this.onPace?.(host, gap, remaining);
        p.gapMs = gap;
        this.pace.set(host, p);
      }
    }
    return res;
  }
}
