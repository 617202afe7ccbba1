// Owns the messages between the build driver and its inflate workers, and how a ZtocError crosses
// the thread boundary (structured clone keeps fields but not the class). Every buffer is
// transferred, never copied: compressed chunks go in and come back for hashing, output buffers go
// out full and come back empty.

import { ZtocError, type ZtocErrorCode } from '../errors.js';
import type { InflateSummary } from './engine.js';

export type ToWorker =
  | { type: 'init'; spanSize: number; outputs: ArrayBuffer[] }
  | { type: 'chunk'; buf: ArrayBuffer; length: number; start: number }
  | { type: 'output'; buf: ArrayBuffer }
  | { type: 'end' };

export interface SerializedError {
  code: ZtocErrorCode;
  message: string;
  offset?: number | undefined;
  offsetKind?: 'compressed' | 'uncompressed' | undefined;
  entry?: string | undefined;
}

export type FromWorker =
  /** A compressed chunk fully consumed, with the checkpoints found in it ([in, out, bits] triples). */
  | { type: 'chunk'; buf: ArrayBuffer; length: number; start: number; checkpoints: Float64Array }
  /** Uncompressed bytes, in order. */
  | { type: 'output'; buf: ArrayBuffer; length: number }
  | { type: 'done'; summary: InflateSummary }
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
