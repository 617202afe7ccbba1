// Owns the one-pass zTOC build. The layer is read once; this thread hashes the compressed bytes
// (whole blob, unless the source verifies itself, and per span) and scans tar headers in the
// inflated bytes, while a native thread inflates with checkpoints, so both cores work. Bytes cross
// threads through fixed input and output slots (src/inflate/inflater.ts, InflateThread). Nothing
// touches disk and nothing is inflated twice.

import { createHash } from 'node:crypto';
import { ZtocError } from '../errors.js';
import { BlobBox, CheckpointInflater, DEFAULT_OUTPUT_SIZE } from '../inflate/inflater.js';
import { resolveEngine, type Engine, type EngineChoice } from '../inflate/native.js';
import { TocAssembler, type InflateSummary, type LayerKind } from './engine.js';
import { DEFAULT_BUILD_TOOL_ID, DEFAULT_SPAN_SIZE, type Ztoc } from './model.js';
import { sharedPool, type InflatePool } from './pool.js';
import { SpanHasher } from './spans.js';
import { verifiedDigestOf } from './source.js';

export { DEFAULT_BUILD_TOOL_ID };
// The slots between this thread and the inflate thread: 8 MiB of compressed input and 12 MiB of output
// in flight. One driver thread serves every build of a `ztoc index` run, and a slot it is late to hand
// back stalls that build's inflate thread; this depth rides out the delays (measured, docs/performance.md:
// two layers indexed 1.65–1.69 s against 1.75–1.76 s with 4 + 4, single builds unchanged). An output
// slot costs memory only once used: the thread takes the one handed back last.
const CHUNK_SIZE = 1 << 20;
const IN_FLIGHT = 8;
const OUTPUT_SIZE = 1 << 20;
const OUTPUTS = 12;

/**
 * Slot sets of finished builds, for the next ones. Allocated afresh, a build's 20 MiB of zeroed slots cost more than
 * inflating a small layer, and a long run (backfill) kept ~200 MB of dead ones around between collections. A set
 * comes back only once no inflate thread can touch it; its old bytes are never read (a slot is read up to what was
 * written into it in this build).
 */
class SlotSets {
  // Weakly held: a process that stops building gets the memory back at its next full collection.
  private readonly spare: Array<WeakRef<Uint8Array[]>> = [];

  constructor(
    private readonly count: number,
    private readonly size: number,
  ) {}

  take(): Uint8Array[] {
    for (let r = this.spare.pop(); r !== undefined; r = this.spare.pop()) {
      const set = r.deref();
      if (set !== undefined) return set;
    }
    return Array.from({ length: this.count }, () => Buffer.allocUnsafeSlow(this.size));
  }

  give(set: Uint8Array[]): void {
    if (this.spare.length < SPARE_SETS) this.spare.push(new WeakRef(set));
  }
}

/** Sets kept for reuse: two builds' worth (the pool's usual size on the machines ztoc runs on). */
const SPARE_SETS = 2;
const INPUT_SETS = new SlotSets(IN_FLIGHT, CHUNK_SIZE);
const OUTPUT_SETS = new SlotSets(OUTPUTS, OUTPUT_SIZE);

/**
 * How a build's inflate thread is scheduled against the process's other threads. 'background' lowers its
 * priority (Linux schedules each thread on its own), so that when builds run side by side the one on the
 * critical path gets the cores first, and the others use what it leaves idle.
 */
export type BuildPriority = 'normal' | 'background';

/** The nice value of each priority: 10 gives a background thread ~1/10 of a core a normal one contends for. */
export const NICE: Readonly<Record<BuildPriority, number>> = { normal: 0, background: 10 };

export interface BuildOptions {
  spanSize?: number;
  buildToolId?: string;
  /**
   * 'auto' (the default) sniffs the first bytes: gzip magic, else a tar header. 'gzip' or 'tar' is
   * how the layer is declared (its media type): content that is plainly the other kind (or zstd)
   * fails with LAYER_KIND_MISMATCH, as the snapshotter would read it the declared way.
   */
  kind?: LayerKind | 'auto';
  /** What declared `kind`, for the mismatch message (e.g. "media type application/vnd.oci.image.layer.v1.tar+gzip"). */
  declaredBy?: string;
  /** Layer digest or name, for error messages. */
  layer?: string;
  /**
   * Verify the blob against these before the zTOC is produced. A source marked as verifying this
   * digest itself (verifiedSource) is not hashed again: its clean end is the proof.
   */
  expectedDigest?: string;
  expectedSize?: number;
  /**
   * Inflate on a native thread of the build's own ('separate', the default) or on this thread ('inline').
   * 'worker', the old name of 'separate' from when that thread was a Node worker, is still accepted.
   */
  thread?: 'separate' | 'inline' | 'worker';
  /**
   * The inflate thread's scheduling priority. 'background' suits a build beside one that is on the
   * critical path (indexImage runs every layer but the largest so): it takes the cores the critical
   * build leaves idle instead of slowing it down. Ignored where threads have no priority.
   */
  priority?: BuildPriority;
  /** Inflate engine: 'auto' (default) is the fast engine when the addon has it, else zlib. */
  engine?: EngineChoice;
  /** Caps the inflates running at once (default: the process-wide pool, one per core). */
  pool?: InflatePool;
  /** Called with the compressed bytes read so far. */
  onProgress?: (bytesRead: number) => void;
}

export interface BuildResult {
  /** The zTOC model, decoded from `bytes` on first access (the build itself only needs bytes). */
  readonly ztoc: Ztoc;
  /** The serialised zTOC and its digest. */
  bytes: Uint8Array;
  digest: string;
  kind: LayerKind;
  layerDigest: string;
  /** Spans and TOC entries in the zTOC (what `ztoc info` calls num_spans and num_files), without decoding it. */
  spans: number;
  files: number;
  compressedSize: number;
  inflatedSize: number;
  /** The inflate engine that ran ('none' for an uncompressed layer). */
  engine: Engine | 'none';
  seconds: number;
}

/** The inflate side as the driver sees it: on its own thread, inline, or absent (tar layers). */
interface Inflate {
  /** Takes input slot `slot` (compressed bytes); the slot comes back through Events.chunk. */
  send(slot: number, length: number, start: number): void;
  end(): void;
  /** Ends the inflate; true when nothing touches the input slots any more (an inflate thread that drained). */
  release(): boolean;
}

interface Events {
  chunk(slot: number, length: number, start: number, checkpoints: Float64Array): void;
  output(view: Uint8Array): void;
  done(s: InflateSummary): void;
  error(e: unknown): void;
}

const NONE: Float64Array = new Float64Array(0);

function inlineInflate(slots: Uint8Array[], spanSize: number, engine: Engine, box: BlobBox, ev: Events): Inflate {
  const inflater = new CheckpointInflater(spanSize, true, DEFAULT_OUTPUT_SIZE, engine);
  let failed = false;
  return {
    send(slot, length, start) {
      let cps: Float64Array = NONE;
      if (!failed) {
        try {
          inflater.write(slots[slot]!.subarray(0, length), ev.output);
          cps = inflater.takeCheckpoints();
        } catch (err) {
          failed = true;
          ev.error(err);
        }
      }
      ev.chunk(slot, length, start, cps);
    },
    end() {
      if (failed) return;
      try {
        const e = inflater.end(box);
        ev.done({ blob: box, inflatedSize: e.totalOut, members: e.members, engine: e.engine });
      } catch (err) {
        ev.error(err);
      }
    },
    release: () => true,
  };
}

/** Inflates on a native thread of its own; `release` frees the pool's place. */
function threadInflate(slots: Uint8Array[], spanSize: number, engine: Engine, nice: number, box: BlobBox, release: () => void, ev: Events): Inflate {
  const inflater = new CheckpointInflater(spanSize, true, DEFAULT_OUTPUT_SIZE, engine);
  const outputs = OUTPUT_SETS.take();
  // Each input slot's length and layer offset, while the thread has it.
  const sent = slots.map(() => ({ length: 0, start: 0 }));
  // Set once the thread has left its loop: it touches no slot after that.
  let drained = false;
  const thread = inflater.startThread(slots, outputs, nice, {
    input(slot, cps) {
      ev.chunk(slot, sent[slot]!.length, sent[slot]!.start, cps);
    },
    output(slot, length) {
      ev.output(outputs[slot]!.subarray(0, length));
      thread.output(slot);
    },
    drained() {
      drained = true;
      try {
        const e = inflater.end(box);
        ev.done({ blob: box, inflatedSize: e.totalOut, members: e.members, engine: e.engine });
      } catch (err) {
        ev.error(err);
      }
    },
    error: (err) => ev.error(err),
  });
  return {
    send(slot, length, start) {
      sent[slot] = { length, start };
      thread.input(slot, length, start);
    },
    end: () => thread.end(),
    release() {
      thread.stop();
      release();
      // A thread stopped mid-layer may still be inside a step, writing into an output slot: its slots go to the collector.
      if (drained) OUTPUT_SETS.give(outputs);
      return drained;
    },
  };
}

function tarPassthrough(slots: Uint8Array[], spans: SpanHasher, spanSize: number, ev: Events): Inflate {
  return {
    send(slot, length, start) {
      const view = slots[slot]!.subarray(0, length);
      // Uncompressed layers use fixed spans [i*span, (i+1)*span).
      for (let next = Math.ceil(start / spanSize) * spanSize; next < start + length; next += spanSize) spans.boundary(next, false, view, start);
      ev.output(view);
      ev.chunk(slot, length, start, NONE);
    },
    end() {},
    release: () => true,
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

/** The declared kind, unless the first bytes plainly say otherwise (then LAYER_KIND_MISMATCH). */
export function checkDeclaredKind(declared: LayerKind, head: Uint8Array, declaredBy?: string): LayerKind {
  let actual: string | undefined;
  if (startsWith(head, ZSTD_MAGIC)) actual = 'zstd';
  else if (declared === 'tar' && startsWith(head, GZIP_MAGIC)) actual = 'gzip';
  else if (declared === 'gzip' && !startsWith(head, GZIP_MAGIC) && head.length >= 512 && looksLikeTar(head)) actual = 'an uncompressed tar';
  if (actual === undefined) return declared;
  const by = declaredBy !== undefined ? ` (${declaredBy})` : '';
  throw new ZtocError('LAYER_KIND_MISMATCH', `the layer is declared ${declared === 'gzip' ? 'gzip' : 'an uncompressed tar'}${by}, but its content is ${actual}`, { offset: 0 });
}

function looksLikeTar(h: Uint8Array): boolean {
  let sum = 0;
  let zero = true;
  for (let i = 0; i < 512; i++) {
    sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (h[i] !== 0) zero = false;
  }
  if (zero) return true;
  const field = Buffer.from(h.subarray(148, 156)).toString('latin1').replace(/[\0 ]+/g, ' ').trim();
  return /^[0-7]+$/.test(field) && parseInt(field, 8) === sum;
}

/** Copies source chunks into fixed input slots; a slot is reused once the engine hands it back. */
class ChunkPacker {
  private readonly free: number[];
  private cur = -1;
  private fill = 0;
  private inFlight = 0;
  private waiter: (() => void) | undefined;
  private aborted = false;

  constructor(
    private readonly slots: Uint8Array[],
    private readonly flush: (slot: number, length: number) => void,
  ) {
    this.free = slots.map((_, i) => slots.length - 1 - i);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async wait(cond: () => boolean): Promise<void> {
    while (cond() && !this.aborted) await new Promise<void>((r) => (this.waiter = r));
  }

  async write(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length && !this.aborted) {
      if (this.cur < 0) {
        await this.wait(() => this.free.length === 0);
        if (this.aborted) return;
        this.cur = this.free.pop()!;
        this.fill = 0;
      }
      const slot = this.slots[this.cur]!;
      const n = Math.min(chunk.length - off, slot.length - this.fill);
      slot.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === slot.length) this.send();
    }
  }

  send(): void {
    if (this.cur < 0 || this.fill === 0) return;
    const slot = this.cur;
    this.cur = -1;
    this.inFlight++;
    this.flush(slot, this.fill);
  }

  returned(slot: number): void {
    this.inFlight--;
    this.free.push(slot);
    this.wake();
  }

  /** Resolves once every sent slot came back (so every byte was hashed). */
  drained(): Promise<void> {
    return this.wait(() => this.inFlight > 0);
  }

  abort(): void {
    this.aborted = true;
    this.wake();
  }
}

/**
 * Builds the zTOC of one layer from its compressed bytes, in one pass. The source is read exactly
 * once; with expectedDigest/expectedSize, a blob that doesn't match fails before any zTOC exists.
 */
export async function buildZtoc(source: AsyncIterable<Uint8Array>, opts: BuildOptions = {}): Promise<BuildResult> {
  const t0 = performance.now();
  // The decoder (flatbuffers and the generated readers) serves only the result's `ztoc` getter: it loads while the
  // layer inflates, not before the first byte is read (~8 ms of every `ztoc build`'s start, issue 12).
  const decoder = import('./decode.js');
  decoder.catch(() => {});
  const spanSize = opts.spanSize ?? DEFAULT_SPAN_SIZE;
  if (!Number.isSafeInteger(spanSize) || spanSize < 0) throw new ZtocError('INVALID_ARGUMENT', `span size must be a non-negative integer, got ${spanSize}`);
  const engine = resolveEngine(opts.engine);
  // Each byte is hashed once per digest: the span hasher always, the blob hash unless the source
  // already checks the very digest we were asked to verify.
  const trusted = opts.expectedDigest !== undefined && verifiedDigestOf(source) === opts.expectedDigest;
  const blobHash = trusted ? undefined : createHash('sha256');
  const spans = new SpanHasher();
  let total = 0;
  let sent = 0;
  const declared: LayerKind | undefined = opts.kind === 'auto' ? undefined : opts.kind;
  const kindOf = (h: Uint8Array): LayerKind => (declared === undefined ? sniffKind(h) : checkDeclaredKind(declared, h, opts.declaredBy));
  let kind: LayerKind | undefined;
  let assembler: TocAssembler | undefined;
  let inflate: Inflate | undefined;
  let failure: unknown;
  let resolveDone!: (s: InflateSummary) => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<InflateSummary>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => {});

  const slots = INPUT_SETS.take();
  const packer = new ChunkPacker(slots, (slot, length) => {
    inflate!.send(slot, length, sent);
    sent += length;
  });
  const events: Events = {
    chunk(slot, length, start, cps) {
      if (failure === undefined) {
        const view = slots[slot]!.subarray(0, length);
        try {
          spans.consumed(cps, view, start);
        } catch (err) {
          events.error(err);
        }
      }
      packer.returned(slot);
    },
    output(view) {
      if (failure !== undefined) return;
      try {
        assembler!.scan(view);
      } catch (err) {
        events.error(err);
      }
    },
    done: (s) => resolveDone(s),
    error(e) {
      failure ??= e;
      rejectDone(e);
      packer.abort();
    },
  };

  const pool = opts.pool ?? sharedPool();
  // The checkpoint blob is delivered here by the inflater and taken by the encoder (it exists once).
  const box = new BlobBox();
  const start = async (k: LayerKind): Promise<void> => {
    if (k === 'tar' && spanSize === 0) throw new ZtocError('INVALID_ARGUMENT', 'span size 0 is not allowed for uncompressed layers');
    assembler = new TocAssembler(k, spanSize);
    if (k === 'tar') inflate = tarPassthrough(slots, spans, spanSize, events);
    else if (opts.thread === 'inline') inflate = inlineInflate(slots, spanSize, engine, box, events);
    else {
      const release = await pool.acquire();
      try {
        inflate = threadInflate(slots, spanSize, engine, NICE[opts.priority ?? 'normal'], box, release, events);
      } catch (err) {
        release();
        throw err;
      }
    }
  };
  let head: Uint8Array | undefined;
  try {
    for await (const chunk of source) {
      if (failure !== undefined) break;
      if (chunk.length === 0) continue;
      blobHash?.update(chunk);
      total += chunk.length;
      if (kind === undefined) {
        // Sniff (or check the declared kind) from the first 512 bytes, then replay what was held back.
        head = head === undefined ? chunk.slice() : Buffer.concat([head, chunk]);
        if (head.length < 512) continue;
        kind = kindOf(head);
        await start(kind);
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
      kind = kindOf(head);
      await start(kind);
      await packer.write(head);
    }
    if (total === 0) throw new ZtocError('LAYER_EMPTY', 'layer is empty (0 bytes)', { offset: 0 });
    packer.send();
    await packer.drained();
    if (failure !== undefined) throw failure;
    const layerDigest = blobHash === undefined ? opts.expectedDigest! : `sha256:${blobHash.digest('hex')}`;
    checkExpected(layerDigest, total, opts);
    let summary: InflateSummary | undefined;
    if (kind === 'gzip') {
      inflate!.end();
      summary = await done;
      if (failure !== undefined) throw failure;
    }
    const spanDigests = spans.finish();
    const encoded = assembler!.encode(summary, { spanDigests, compressedSize: total, buildToolId: opts.buildToolId ?? DEFAULT_BUILD_TOOL_ID });
    const bytes = encoded.bytes;
    const { decodeZtoc } = await decoder;
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
      spans: encoded.spans,
      files: encoded.files,
      compressedSize: total,
      inflatedSize: encoded.inflatedSize,
      engine: summary?.engine ?? 'none',
      seconds: (performance.now() - t0) / 1000,
    };
  } catch (err) {
    throw ZtocError.withLayer(err, opts.layer ?? 'layer');
  } finally {
    if (inflate?.release() ?? true) INPUT_SETS.give(slots);
    box.drop(); // a blob the encoder didn't take (a failure after the inflate) is freed now
  }
}

function checkExpected(digest: string, size: number, opts: BuildOptions): void {
  if (opts.expectedSize !== undefined && opts.expectedSize !== size) {
    throw new ZtocError('SIZE_MISMATCH', `layer size ${size} does not match the descriptor size ${opts.expectedSize}`, { offset: size });
  }
  if (opts.expectedDigest !== undefined && opts.expectedDigest !== digest) {
    throw new ZtocError('DIGEST_MISMATCH', `layer digest ${digest} does not match the descriptor digest ${opts.expectedDigest}`);
  }
}
