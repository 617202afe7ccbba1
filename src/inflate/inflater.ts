// Owns the TypeScript face of the checkpointed inflater: feed compressed chunks in order, get
// decompressed pieces through a callback (views into one reused output buffer), and learn the
// SOCI checkpoints as they are found. Maps inflate failures to typed errors with the compressed
// offset. Both engines (zlib, fast) report zlib's messages, so one mapping serves both. The inflater
// runs on the calling thread, or on a native thread of its own fed through fixed slots
// (InflateThread). At the end the checkpoint blob moves, uncopied, into a BlobBox.

import { ZtocError, type ZtocErrorCode } from '../errors.js';
import {
  BuilderInfo,
  BUILDER_INFO_SLOTS,
  engineId,
  native,
  NativeStatus,
  resolveEngine,
  ThreadEvent,
  type BlobBoxHandle,
  type BuilderHandle,
  type Engine,
  type EngineChoice,
  type ThreadHandle,
} from './native.js';

export const DEFAULT_OUTPUT_SIZE = 1 << 20;

/**
 * Where a finished inflater's zinfo blob (soci-format.md §2.1) goes, created by the thread that will
 * encode the zTOC: an inflater on any thread delivers into it by `id`, and `take` returns that same
 * memory, never a copy, with room around it for the zTOC (native/ztoc_native.c, "Blob hand-over").
 */
export class BlobBox {
  private readonly h: BlobBoxHandle = native().blobBoxCreate();
  readonly id: number = native().blobBoxId(this.h);

  /** The blob as a view whose ArrayBuffer has ≥ `before` bytes in front of it and exactly `after` behind it. Once. */
  take(before = 0, after = 0): Uint8Array {
    return native().blobBoxTake(this.h, before, after);
  }

  /** buf.buffer's bytes [from, from+length) moved down to `to`; the pages left behind are given back. */
  moveDown(buf: Uint8Array, from: number, to: number, length: number): void {
    native().blobBufferMoveDown(buf, from, to, length);
  }

  /** Frees an untaken blob now rather than at the box's collection. */
  drop(): void {
    native().blobBoxDrop(this.h);
  }
}

export interface InflaterEnd {
  /** Bytes of the zinfo blob delivered to the box (header-only when checkpoints are off). */
  blobLength: number;
  totalIn: number;
  totalOut: number;
  members: number;
  checkpoints: number;
  engine: Engine;
}

export class CheckpointInflater {
  private readonly h: BuilderHandle;
  /** write()'s output buffer, made on its first call (a build on a thread brings its own slots). */
  private out: Uint8Array | undefined;
  private readonly info = new Float64Array(BUILDER_INFO_SLOTS);
  /** The engine this inflater runs. */
  readonly engine: Engine;
  private reported = 0;
  private totalIn = 0;
  private members = 0;
  private ended = false;
  private readonly outputSize: number;

  /**
   * @param spanSize SOCI span size: a checkpoint at a block boundary once more than this many
   *   bytes were produced since the last one.
   * @param checkpoints false runs a plain loop without checkpoints (the benchmark baseline).
   * @param engine 'auto' runs the fast engine when the addon has it, else zlib.
   */
  constructor(spanSize: number, checkpoints = true, outputSize = DEFAULT_OUTPUT_SIZE, engine: EngineChoice = 'auto') {
    this.engine = resolveEngine(engine);
    this.h = native().builderCreate(spanSize, checkpoints, engineId(this.engine));
    this.outputSize = outputSize;
  }

  /** Inflates one chunk. `onOutput` gets views into a reused buffer, valid only during the call. */
  write(chunk: Uint8Array, onOutput: (out: Uint8Array) => void): void {
    const out = (this.out ??= new Uint8Array(this.outputSize));
    let off = 0;
    for (;;) {
      const [consumed, produced] = this.inflateInto(chunk, off, out, onOutput);
      off += consumed;
      // Done with this chunk once its input is used up and the output buffer was not the limit.
      if (off >= chunk.length && produced < out.length) break;
      if (consumed === 0 && produced === 0) break;
    }
  }

  /**
   * One step: inflates `input[inOffset..]` into `output` until either runs out. Returns
   * [consumed, produced]. When the step fails, what it produced is not handed to `onOutput`: it
   * may be garbage zlib wrote before it noticed the corruption, and dropping it makes the inline
   * and threaded builds report the same (deflate) error (native/inflate_thread.c drops it too).
   */
  inflateInto(input: Uint8Array, inOffset: number, output: Uint8Array, onOutput?: (out: Uint8Array) => void): [number, number] {
    if (this.ended) throw new ZtocError('INTERNAL', 'write after end');
    const n = native();
    const status = n.builderInflate(this.h, input, inOffset, output, this.info);
    const consumed = this.info[BuilderInfo.consumed]!;
    const produced = this.info[BuilderInfo.produced]!;
    this.totalIn = this.info[BuilderInfo.totalIn]!;
    this.members = this.info[BuilderInfo.members]!;
    if (status !== NativeStatus.Ok) throw this.error(status, n.builderMessage(this.h));
    if (produced > 0) onOutput?.(output.subarray(0, produced));
    return [consumed, produced];
  }

  /**
   * Runs this inflater on a native thread of its own (native/inflate_thread.c) over these slots, until
   * `drained` (then `end` completes it here) or a failure. Until then every other call throws. `nice`:
   * the thread's priority (0..19), where threads have their own.
   */
  startThread(inputs: Uint8Array[], outputs: Uint8Array[], nice: number, ev: InflateThreadEvents): InflateThread {
    const thread: InflateThread = new InflateThread(
      native().inflateThreadStart(this.h, inputs, outputs, nice, (kind, slot, value, totalIn, members) => {
        if (thread.stopped) return; // reported before the stop reached the thread
        try {
          if (kind === ThreadEvent.input) ev.input(slot, value as Float64Array);
          else if (kind === ThreadEvent.output) ev.output(slot, value as number);
          else if (kind === ThreadEvent.drained) ev.drained();
          else {
            this.totalIn = totalIn;
            this.members = members;
            ev.error(slot === ThreadEvent.stalled ? new ZtocError('INTERNAL', value as string, { offset: totalIn }) : this.error(slot, value as string));
          }
        } catch (err) {
          ev.error(err); // a handler's own fault, which would otherwise surface as an uncaught exception
        }
      }),
    );
    return thread;
  }

  /** Checkpoints found since the previous call, as [in, out, bits] triples. */
  takeCheckpoints(): Float64Array {
    const n = native();
    const count = this.info[BuilderInfo.checkpoints]!;
    if (count === this.reported) return EMPTY;
    const arr = n.builderCheckpoints(this.h, this.reported);
    this.reported = count;
    return arr;
  }

  /**
   * Completes the stream: it must have ended exactly at the end of a gzip member. The blob goes to
   * `box` (or the box with that id, made on another thread).
   */
  end(box: BlobBox | number): InflaterEnd {
    this.ended = true;
    const { memberEnded, members, started, totalIn, totalOut, checkpoints } = native().builderState(this.h);
    if (!started) throw new ZtocError('LAYER_EMPTY', 'layer is empty (0 bytes)', { offset: 0 });
    if (!memberEnded) {
      throw new ZtocError(
        'GZIP_TRUNCATED',
        members > 0 ? `gzip stream truncated inside member ${members + 1}` : 'gzip stream truncated',
        { offset: totalIn },
      );
    }
    const blobLength = native().builderBlob(this.h, typeof box === 'number' ? box : box.id);
    return { blobLength, totalIn, totalOut, members, checkpoints, engine: this.engine };
  }

  private error(status: number, msg: string): ZtocError {
    const offset = this.totalIn;
    if (status === NativeStatus.MemError) return new ZtocError('INTERNAL', `inflate: ${msg}`, { offset });
    let code: ZtocErrorCode = 'GZIP_CORRUPT';
    let text = `corrupt deflate data: ${msg}`;
    const headerish = /incorrect header check|unknown compression method|unknown header flags set|invalid window size/.test(msg);
    if (headerish && this.members > 0) {
      code = 'GZIP_TRAILING_GARBAGE';
      text = `trailing garbage after gzip member ${this.members} (${msg})`;
    } else if (/unknown header flags set/.test(msg)) {
      code = 'GZIP_BAD_HEADER';
      text = 'gzip header has reserved flag bits set';
    } else if (headerish) {
      code = 'GZIP_NOT_GZIP';
      text = `not a gzip stream (${msg})`;
    } else if (/header crc mismatch/.test(msg)) {
      code = 'GZIP_BAD_HEADER';
      text = 'gzip header CRC16 mismatch';
    } else if (/incorrect data check/.test(msg)) {
      code = 'GZIP_BAD_CRC';
      text = 'gzip CRC32 mismatch';
    } else if (/incorrect length check/.test(msg)) {
      code = 'GZIP_BAD_ISIZE';
      text = 'gzip ISIZE mismatch';
    }
    return new ZtocError(code, text, { offset });
  }
}

const EMPTY = new Float64Array(0);

/** What an InflateThread reports, on the thread that started it. */
export interface InflateThreadEvents {
  /** Input slot `slot` was used up, with the checkpoints found in it ([in, out, bits] triples). */
  input(slot: number, checkpoints: Float64Array): void;
  /** Output slot `slot` holds `length` bytes, the next in order; hand it back (`output`) once read. */
  output(slot: number, length: number): void;
  /** Everything queued before `end` was inflated: the inflater may be ended (`CheckpointInflater.end`). */
  drained(): void;
  /** The inflate failed (a typed error with the compressed offset); every queued input still comes back. */
  error(err: unknown): void;
}

/**
 * One layer's inflate on a native thread (CheckpointInflater.startThread): input slots go in in layer order and
 * come back through `input` once used up; output slots come back full through `output` and are handed back here,
 * which is the back-pressure.
 */
export class InflateThread {
  private halted = false;

  constructor(private readonly t: ThreadHandle) {}

  /** Whether `stop` was called: events still on their way are dropped. */
  get stopped(): boolean {
    return this.halted;
  }

  /** Queues input slot `slot`: `length` bytes from layer offset `start`. */
  input(slot: number, length: number, start: number): void {
    if (!native().inflateThreadInput(this.t, slot, length, start)) throw new ZtocError('INTERNAL', `inflate thread refused input slot ${slot}`);
  }

  /** Hands output slot `slot` back. */
  output(slot: number): void {
    if (!this.stopped && !native().inflateThreadOutput(this.t, slot)) throw new ZtocError('INTERNAL', `inflate thread refused output slot ${slot}`);
  }

  /** No more input: `drained` follows once the queued input is inflated. */
  end(): void {
    native().inflateThreadEnd(this.t);
  }

  /** Stops the thread (within one step); nothing more is reported. */
  stop(): void {
    this.halted = true;
    native().inflateThreadStop(this.t);
  }
}
