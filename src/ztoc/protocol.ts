// Owns the messages between the build driver and its worker threads, and how a ZtocError crosses
// the thread boundary (structured clone keeps fields but not the class).

import { ZtocError, type ZtocErrorCode } from '../errors.js';
import type { EncodedZtoc, FinishInput, LayerKind } from './engine.js';

export type ToWorker =
  | { type: 'init'; kind: LayerKind; spanSize: number }
  | { type: 'chunk'; buf: ArrayBuffer; length: number; start: number }
  | { type: 'end'; input: FinishInput };

export interface SerializedError {
  code: ZtocErrorCode;
  message: string;
  offset?: number | undefined;
  offsetKind?: 'compressed' | 'uncompressed' | undefined;
  entry?: string | undefined;
}

export type FromWorker =
  | { type: 'chunk'; buf: ArrayBuffer; length: number; start: number; checkpoints: Float64Array }
  | { type: 'result'; result: EncodedZtoc }
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
