// Owns the messages between the build driver and its inflate workers, and how a ZtocError crosses
// the thread boundary (structured clone keeps fields but not the class). Data moves through
// SharedArrayBuffer slots, not transfers: detaching transferred ArrayBuffers stalled the worker for
// milliseconds per message whenever the driver's heap was being swept (measured: ~0.6 ms per
// message, a quarter of the inflate time), while a small message naming a slot costs ~10 µs.
// The checkpoint blob doesn't travel in a message either: the worker moves it into the driver's
// blob box (named by id in `init`) before it sends `done`.

import { ZtocError, type ZtocErrorCode } from '../errors.js';
import type { Engine } from '../inflate/native.js';
import type { InflateSummary } from './engine.js';

/**
 * How a build's inflate worker is scheduled against the process's other threads. 'background' lowers
 * the worker thread's priority (Linux schedules each thread on its own), so that when builds run side
 * by side the one on the critical path gets the cores first; the others use what it leaves idle.
 */
export type BuildPriority = 'normal' | 'background';

/** The nice value of each priority: 10 gives a background thread ~1/10 of a core a normal one contends for. */
export const NICE: Readonly<Record<BuildPriority, number>> = { normal: 0, background: 10 };

export type ToWorker =
  /** Input and output slots are views over SharedArrayBuffers owned by the driver. */
  | { type: 'init'; spanSize: number; engine: Engine; inputs: SharedArrayBuffer[]; outputs: SharedArrayBuffer[]; blobBox: number; hashSpans: boolean; priority: BuildPriority }
  /** Input slot `slot` holds `length` compressed bytes starting at layer offset `start`. */
  | { type: 'chunk'; slot: number; length: number; start: number }
  /** Output slot `slot` was scanned and may be refilled. */
  | { type: 'output'; slot: number }
  | { type: 'end' };

/**
 * The end of a layer as the worker reports it: the blob itself is in the driver's box by now; the
 * span digests when `init` asked the worker to hash the spans.
 */
export type WorkerSummary = Omit<InflateSummary, 'blob'>;

export interface SerializedError {
  code: ZtocErrorCode;
  message: string;
  offset?: number | undefined;
  offsetKind?: 'compressed' | 'uncompressed' | undefined;
  entry?: string | undefined;
}

export type FromWorker =
  /** An input slot fully consumed, with the checkpoints found in it ([in, out, bits] triples). */
  | { type: 'chunk'; slot: number; length: number; start: number; checkpoints: Float64Array }
  /** Output slot `slot` holds `length` uncompressed bytes, the next in order. */
  | { type: 'output'; slot: number; length: number }
  | { type: 'done'; summary: WorkerSummary }
  | { type: 'error'; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof ZtocError) {
    return { code: err.code, message: err.message, offset: err.offset, offsetKind: err.offsetKind, entry: err.entry };
  }
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

export function deserializeError(e: SerializedError): ZtocError {
  return new ZtocError(e.code, e.message, { offset: e.offset, offsetKind: e.offsetKind, entry: e.entry });
}
