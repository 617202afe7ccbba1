// Owns resuming a cut download with Range, as a reader layer of its own (ggcr's resumable transport): it reads a body
// of known size; when the connection breaks mid-body (or the body ends early) it asks again from the byte reached with
// `Range: bytes=<reached>-`, requires a 206 whose Content-Range starts there, and carries on, so the consumer sees one
// continuous stream and never a restart from zero (a single-pass inflater cannot restart). Bounded: a run of attempts
// without progress and a total number of resumes. Knows nothing of digests: the caller verifies what it consumes.

import { ZtocError } from '../errors.js';
import { isRetryableNetworkError, networkError, type HttpResponse } from './transport.js';

const MAX_TOTAL_RESUMES = 100;

/** `bytes <first>-<last>/<total|*>` */
export function parseContentRange(v: string | undefined): { first: number; last: number; total: number | undefined } | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v);
  if (m === null) return undefined;
  return { first: Number(m[1]), last: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

export interface ResumableSource {
  /** What is read, for messages (`blob 127.0.0.1:5000/app@sha256:…`). */
  where: string;
  /** Digest named in errors (their `layer`). */
  layer: string;
  /** Bytes the body has in all. */
  size: number;
  /** GET the body, from `offset` on: with `Range: bytes=<offset>-` when offset > 0. */
  get(offset: number): Promise<HttpResponse>;
  /** Judge the first response (offset 0) before its body is read; throw to stop. */
  checkFirst(res: HttpResponse): Promise<void>;
  /** The error for an answer to a resume that is neither 200 nor 206. */
  fail(res: HttpResponse, context: string): Promise<Error>;
  /** Attempts in a row without progress before giving up. */
  maxStuck: number;
  /** Pause before resume attempt `n` of a run without progress (the injected retry policy's backoff). */
  backoff(n: number): number;
  sleep(ms: number): Promise<void>;
  debug(line: string): void;
  signal?: AbortSignal | undefined;
}

/** Check the answer to a resume from `reached`: a 206 whose Content-Range starts exactly there. */
async function checkResumed(src: ResumableSource, res: HttpResponse, reached: number): Promise<void> {
  if (res.status === 200) {
    throw new ZtocError(
      'REGISTRY_PROTOCOL',
      `${src.where}: the connection broke at byte ${reached} and the server ignored "Range: bytes=${reached}-" (answered 200, not 206); ` +
        'a single-pass stream cannot restart from zero',
      { layer: src.layer, offset: reached, status: 200 },
    );
  }
  if (res.status !== 206) throw await src.fail(res, `${src.where} (resuming at byte ${reached})`);
  const cr = parseContentRange(res.header('content-range'));
  if (cr === undefined || cr.first !== reached) {
    throw new ZtocError('REGISTRY_PROTOCOL', `${src.where}: asked for bytes ${reached}- but got Content-Range ${JSON.stringify(res.header('content-range') ?? '')}`, {
      layer: src.layer,
      offset: reached,
      status: 206,
    });
  }
}

/** The body of `src`, `src.size` bytes in order, resumed across cuts. Never yields more than `size` bytes. */
export async function* resumableBody(src: ResumableSource): AsyncGenerator<Uint8Array, void, undefined> {
  let delivered = 0;
  let stuck = 0;
  let resumes = 0;
  for (;;) {
    const reached = delivered;
    const res = await src.get(reached);
    try {
      if (reached === 0) await src.checkFirst(res);
      else await checkResumed(src, res, reached);
    } catch (err) {
      res.body.destroy();
      throw err;
    }

    let cut: unknown;
    const it = res.body[Symbol.asyncIterator]();
    try {
      for (;;) {
        let r: IteratorResult<Uint8Array>;
        try {
          r = await it.next();
        } catch (err) {
          if (src.signal?.aborted === true) throw src.signal.reason;
          if (!isRetryableNetworkError(err)) throw networkError(err, 'GET', res.url);
          cut = err;
          break;
        }
        if (r.done === true) break;
        const chunk = r.value;
        if (delivered + chunk.length > src.size) {
          throw new ZtocError('SIZE_MISMATCH', `${src.where}: the registry sent more than the ${src.size} bytes the descriptor says`, {
            layer: src.layer,
            offset: src.size,
          });
        }
        delivered += chunk.length;
        yield chunk;
      }
    } finally {
      res.body.destroy();
    }

    if (delivered === src.size) return;
    // Short: the connection was cut (or the body ended early). Resume from where we are.
    stuck = delivered > reached ? 1 : stuck + 1;
    resumes++;
    if (stuck > src.maxStuck || resumes > MAX_TOTAL_RESUMES) {
      if (cut !== undefined) {
        const e = networkError(cut, 'GET', res.url);
        throw new ZtocError('REGISTRY_NETWORK', `${src.where}: gave up resuming at byte ${delivered} of ${src.size}: ${e.message}`, {
          layer: src.layer,
          offset: delivered,
          cause: cut,
        });
      }
      throw new ZtocError('SIZE_MISMATCH', `${src.where}: the body ended at byte ${delivered}, the descriptor says ${src.size}`, {
        layer: src.layer,
        offset: delivered,
      });
    }
    src.debug(`${src.where}: body cut at byte ${delivered} of ${src.size}; resuming with Range`);
    await src.sleep(src.backoff(stuck));
  }
}
