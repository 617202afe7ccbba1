// Owns the one-pass zTOC build: read the layer once, hash it (whole blob and per span) on this
// thread while a LayerEngine inflates and scans it on a worker thread, then assemble the zTOC.
// Nothing is written to disk and nothing is decompressed twice.

import { createHash } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { ZtocError } from '../errors.js';
import { decodeZtoc } from './decode.js';
import { LayerEngine, type EncodedZtoc, type FinishInput, type LayerKind } from './engine.js';
import { DEFAULT_SPAN_SIZE, type Ztoc } from './model.js';
import { deserializeError, type FromWorker, type ToWorker } from './protocol.js';
import { sharedPool, type WorkerPool } from './pool.js';
import { SpanHasher } from './spans.js';
import { VERSION } from '../version.js';

export const DEFAULT_BUILD_TOOL_ID = `ztoc ${VERSION}`;
const CHUNK_SIZE = 1 << 20;
const IN_FLIGHT = 4;

export interface BuildOptions {
  spanSize?: number;
  buildToolId?: string;
  /** 'auto' sniffs the first bytes: gzip magic, else a tar header. */
  kind?: LayerKind | 'auto';
  /** Layer digest or name, for error messages. */
  layer?: string;
  /** Verify the blob against these before returning. */
  expectedDigest?: string;
  expectedSize?: number;
  /** Run the engine on a worker thread (default) or on this thread. */
  thread?: 'worker' | 'inline';
  pool?: WorkerPool;
  /** Called with the compressed bytes read so far. */
  onProgress?: (bytesRead: number) => void;
}

export interface BuildResult {
  /** The zTOC model, decoded from `bytes` on first access (the build itself only needs bytes). */
  readonly ztoc: Ztoc;
  /** The serialised zTOC and its descriptor fields. */
  bytes: Uint8Array;
  digest: string;
  kind: LayerKind;
  layerDigest: string;
  compressedSize: number;
  inflatedSize: number;
  seconds: number;
}

/** What the engine side looks like to the driver, on a worker or inline. */
interface EngineLink {
  send(buf: ArrayBuffer, length: number, start: number): void;
  end(input: FinishInput): void;
  release(broken: boolean): void;
}

interface LinkEvents {
  chunk(buf: ArrayBuffer, length: number, start: number, checkpoints: Float64Array): void;
  result(r: EncodedZtoc): void;
  error(e: unknown): void;
}

function inlineLink(kind: LayerKind, spanSize: number, ev: LinkEvents): EngineLink {
  const engine = new LayerEngine(kind, spanSize);
  let failed = false;
  return {
    send(buf, length, start) {
      let cps: Float64Array = new Float64Array(0);
      if (!failed) {
        try {
          cps = engine.push(new Uint8Array(buf, 0, length));
        } catch (err) {
          failed = true;
          ev.error(err);
        }
      }
      ev.chunk(buf, length, start, cps);
    },
    end(input) {
      if (failed) return;
      try {
        ev.result(engine.encode(input));
      } catch (err) {
        ev.error(err);
      }
    },
    release() {},
  };
}

function workerLink(worker: Worker, pool: WorkerPool, kind: LayerKind, spanSize: number, ev: LinkEvents): EngineLink {
  worker.on('message', (m: FromWorker) => {
    if (m.type === 'chunk') ev.chunk(m.buf, m.length, m.start, m.checkpoints);
    else if (m.type === 'result') ev.result(m.result);
    else ev.error(deserializeError(m.error));
  });
  worker.on('error', (err) => ev.error(new ZtocError('INTERNAL', `worker failed: ${err.message}`, { cause: err })));
  const post = (m: ToWorker, transfer: ArrayBuffer[] = []): void => worker.postMessage(m, transfer);
  post({ type: 'init', kind, spanSize });
  return {
    send: (buf, length, start) => post({ type: 'chunk', buf, length, start }, [buf]),
    end: (input) => post({ type: 'end', input }),
    release: (broken) => pool.release(worker, broken),
  };
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(b: Uint8Array, magic: number[]): boolean {
  return magic.every((m, i) => b[i] === m);
}

/** Sniffs a layer's format from its first bytes (at least 512 when available). */
export function sniffKind(head: Uint8Array): LayerKind {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) throw new ZtocError('LAYER_UNSUPPORTED', 'zstd layers are not supported by SOCI', { offset: 0 });
  if (head.length >= 512 && looksLikeTar(head)) return 'tar';
  throw new ZtocError('GZIP_NOT_GZIP', 'not a gzip or tar layer', { offset: 0 });
}

function looksLikeTar(h: Uint8Array): boolean {
  let sum = 0;
  let zero = true;
  for (let i = 0; i < 512; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i]!;
    sum += c;
    if (h[i] !== 0) zero = false;
  }
  if (zero) return true;
  const field = Buffer.from(h.subarray(148, 156)).toString('latin1').replace(/[\0 ]+/g, ' ').trim();
  return /^[0-7]+$/.test(field) && parseInt(field, 8) === sum;
}

/** Groups source chunks into fixed transfer buffers, each reused once the engine hands it back. */
class ChunkPacker {
  private free: ArrayBuffer[] = [];
  private cur: Uint8Array | undefined;
  private fill = 0;
  private inFlight = 0;
  private waiter: (() => void) | undefined;
  private aborted = false;
  private drainWaiter: (() => void) | undefined;

  constructor(private readonly flush: (buf: ArrayBuffer, length: number) => void) {}

  private take(): Uint8Array {
    return new Uint8Array(this.free.pop() ?? new ArrayBuffer(CHUNK_SIZE));
  }

  async write(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length && !this.aborted) {
      if (this.cur === undefined) {
        while (this.inFlight >= IN_FLIGHT && !this.aborted) await new Promise<void>((r) => (this.waiter = r));
        if (this.aborted) return;
        this.cur = this.take();
        this.fill = 0;
      }
      const n = Math.min(chunk.length - off, this.cur.length - this.fill);
      this.cur.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.cur.length) this.send();
    }
  }

  send(): void {
    if (this.cur === undefined || this.fill === 0) return;
    const buf = this.cur.buffer as ArrayBuffer;
    this.cur = undefined;
    this.inFlight++;
    this.flush(buf, this.fill);
  }

  /** A buffer came back from the engine. */
  returned(buf: ArrayBuffer): void {
    this.inFlight--;
    this.free.push(buf);
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
    if (this.inFlight === 0) {
      const d = this.drainWaiter;
      this.drainWaiter = undefined;
      d?.();
    }
  }

  /** Resolves once every sent buffer came back (so every byte was hashed). */
  async drained(): Promise<void> {
    while (this.inFlight > 0 && !this.aborted) await new Promise<void>((r) => (this.drainWaiter = r));
  }

  /** Wakes a writer blocked on back-pressure (used when the build fails). */
  abort(): void {
    this.aborted = true;
    for (const w of [this.waiter, this.drainWaiter]) w?.();
    this.waiter = undefined;
    this.drainWaiter = undefined;
  }
}

/**
 * Builds the zTOC of one layer from its compressed bytes, in one pass.
 * The source is read exactly once; the blob digest and size are checked when expected values are given.
 */
export async function buildZtoc(source: AsyncIterable<Uint8Array>, opts: BuildOptions = {}): Promise<BuildResult> {
  const t0 = performance.now();
  const spanSize = opts.spanSize ?? DEFAULT_SPAN_SIZE;
  if (!Number.isSafeInteger(spanSize) || spanSize < 0) throw new ZtocError('INVALID_ARGUMENT', `span size must be a non-negative integer, got ${spanSize}`);
  const layer = opts.layer;
  const blobHash = createHash('sha256');
  const spans = new SpanHasher();
  let total = 0;
  let kind: LayerKind | undefined = opts.kind === 'auto' ? undefined : opts.kind;
  let failure: unknown;
  let link: EngineLink | undefined;
  let workerBroken = false;
  let resolveResult!: (r: EncodedZtoc) => void;
  let rejectResult!: (e: unknown) => void;
  const resultP = new Promise<EncodedZtoc>((res, rej) => {
    resolveResult = res;
    rejectResult = rej;
  });
  resultP.catch(() => {});

  const packer = new ChunkPacker((buf, length) => {
    link!.send(buf, length, sent);
    sent += length;
  });
  let sent = 0;

  const events: LinkEvents = {
    chunk(buf, length, start, cps) {
      if (failure === undefined) {
        const view = new Uint8Array(buf, 0, length);
        for (let i = 0; i < cps.length; i += 3) spans.boundary(cps[i]!, cps[i + 2]! !== 0, view, start);
        if (kind === 'tar') tarBoundaries(spans, spanSize, start, start + length, view);
        spans.feedTo(start + length, view, start);
      }
      packer.returned(buf);
    },
    result: (r) => resolveResult(r),
    error(e) {
      if (failure === undefined) failure = e;
      rejectResult(e);
      packer.abort();
    },
  };

  const pool = opts.pool ?? sharedPool();
  let head: Uint8Array | undefined;
  try {
    const startLink = async (k: LayerKind): Promise<void> => {
      if (k === 'tar' && spanSize === 0) throw new ZtocError('INVALID_ARGUMENT', 'span size 0 is not allowed for uncompressed layers');
      if (opts.thread === 'inline') link = inlineLink(k, spanSize, events);
      else link = workerLink(await pool.acquire(), pool, k, spanSize, events);
    };
    if (kind !== undefined) await startLink(kind);
    for await (const chunk of source) {
      if (failure !== undefined) break;
      if (chunk.length === 0) continue;
      blobHash.update(chunk);
      total += chunk.length;
      if (kind === undefined) {
        // Sniff from the first 512 bytes, then replay what was held back.
        head = head === undefined ? chunk.slice() : Buffer.concat([head, chunk]);
        if (head.length < 512) continue;
        kind = sniffKind(head);
        await startLink(kind);
        await packer.write(head);
        head = undefined;
      } else {
        await packer.write(chunk);
      }
      opts.onProgress?.(total);
    }
    if (failure !== undefined) throw failure;
    if (kind === undefined) {
      if (head === undefined) throw new ZtocError('LAYER_EMPTY', 'layer is empty (0 bytes)', { offset: 0 });
      kind = sniffKind(head);
      await startLink(kind);
      await packer.write(head);
    }
    packer.send();
    await packer.drained();
    if (failure !== undefined) throw failure;
    const layerDigest = `sha256:${blobHash.digest('hex')}`;
    checkExpected(layerDigest, total, opts);
    link!.end({ spanDigests: spans.finish(), compressedSize: total, buildToolId: opts.buildToolId ?? DEFAULT_BUILD_TOOL_ID });
    const r = await resultP;
    const bytes = r.bytes;
    let model: Ztoc | undefined;
    return {
      get ztoc(): Ztoc {
        model ??= decodeZtoc(bytes);
        return model;
      },
      bytes,
      digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      kind,
      layerDigest,
      compressedSize: total,
      inflatedSize: r.inflatedSize,
      seconds: (performance.now() - t0) / 1000,
    };
  } catch (err) {
    workerBroken = true;
    throw ZtocError.withLayer(err, layer ?? 'layer');
  } finally {
    link?.release(workerBroken);
  }
}

/** Uncompressed layers use fixed spans [i*span, (i+1)*span). */
function tarBoundaries(spans: SpanHasher, spanSize: number, start: number, end: number, view: Uint8Array): void {
  let next = start === 0 ? 0 : Math.ceil(start / spanSize) * spanSize;
  for (; next < end; next += spanSize) spans.boundary(next, false, view, start);
}

function checkExpected(digest: string, size: number, opts: BuildOptions): void {
  if (opts.expectedSize !== undefined && opts.expectedSize !== size) {
    throw new ZtocError('SIZE_MISMATCH', `layer size ${size} does not match the descriptor size ${opts.expectedSize}`, { offset: size });
  }
  if (opts.expectedDigest !== undefined && opts.expectedDigest !== digest) {
    throw new ZtocError('DIGEST_MISMATCH', `layer digest ${digest} does not match the descriptor digest ${opts.expectedDigest}`);
  }
}
