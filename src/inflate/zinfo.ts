// Owns the gzip checkpoint ("zinfo") blob of soci-format.md §2.1: decoding it, and the span
// geometry derived from it (§2.3). The builder writes the blob in C already packed; this is the
// read side plus the rules that both sides share.

import { ZtocError } from '../errors.js';

export const WINDOW_SIZE = 32768;
export const CHECKPOINT_SIZE = 8 + 8 + 1 + WINDOW_SIZE;
export const ZINFO_HEADER_SIZE = 12;

export interface Checkpoint {
  /** Compressed offset of the first byte not fully consumed. */
  in: number;
  /** Uncompressed offset. */
  out: number;
  /** Unused bits (0-7) of the byte at in-1. */
  bits: number;
  /** 32 KiB of history before `out`, zero-padded on the left (a view into the blob). */
  window: Uint8Array;
}

export interface Zinfo {
  spanSize: number;
  checkpoints: Checkpoint[];
}

function readI64(view: DataView, off: number): number {
  const v = view.getBigInt64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ZtocError('ZTOC_INVALID', `checkpoint value out of range at blob offset ${off}`);
  }
  return Number(v);
}

/** Decodes a v2 blob, or a legacy v1 blob (no checkpoint 0) the way SOCI's blob_to_zinfo does. */
export function decodeZinfo(blob: Uint8Array): Zinfo {
  if (blob.length < ZINFO_HEADER_SIZE) throw new ZtocError('ZTOC_INVALID', `checkpoint blob too short (${blob.length} bytes)`);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const n = view.getInt32(0, true);
  const spanSize = readI64(view, 4);
  if (n < 0) throw new ZtocError('ZTOC_INVALID', `negative checkpoint count ${n}`);
  const body = blob.length - ZINFO_HEADER_SIZE;
  let legacy = false;
  if (body === n * CHECKPOINT_SIZE) legacy = false;
  else if (n > 0 && body === (n - 1) * CHECKPOINT_SIZE) legacy = true;
  else throw new ZtocError('ZTOC_INVALID', `cannot convert blob to gzip_zinfo: ${blob.length} bytes for ${n} checkpoints`);
  const checkpoints: Checkpoint[] = [];
  if (legacy) checkpoints.push({ in: 10, out: 0, bits: 0, window: new Uint8Array(WINDOW_SIZE) });
  for (let off = ZINFO_HEADER_SIZE; off < blob.length; off += CHECKPOINT_SIZE) {
    const bits = blob[off + 16]!;
    if (bits > 7) throw new ZtocError('ZTOC_INVALID', `checkpoint ${checkpoints.length} has bits=${bits}`);
    checkpoints.push({
      in: readI64(view, off),
      out: readI64(view, off + 8),
      bits,
      window: blob.subarray(off + 17, off + 17 + WINDOW_SIZE),
    });
  }
  return { spanSize, checkpoints };
}

/** First compressed byte of span i: one earlier when the checkpoint starts mid-byte. */
export function spanStart(c: Pick<Checkpoint, 'in' | 'bits'>): number {
  return c.in - (c.bits !== 0 ? 1 : 0);
}

export interface SpanRange {
  compressedStart: number;
  compressedEnd: number;
  uncompressedStart: number;
  uncompressedEnd: number;
}

/** Span geometry of §2.3: span i ends where checkpoint i+1 begins; the last runs to end of blob. */
export function gzipSpans(
  checkpoints: ReadonlyArray<Pick<Checkpoint, 'in' | 'out' | 'bits'>>,
  compressedSize: number,
  uncompressedSize: number,
): SpanRange[] {
  return checkpoints.map((c, i) => {
    const next = checkpoints[i + 1];
    return {
      compressedStart: spanStart(c),
      compressedEnd: next ? next.in : compressedSize,
      uncompressedStart: c.out,
      uncompressedEnd: next ? next.out : uncompressedSize,
    };
  });
}

/** Index of the last checkpoint with out <= offset (SOCI's pt_index_from_ucmp_offset). */
export function spanForOffset(checkpoints: ReadonlyArray<{ out: number }>, offset: number): number {
  let lo = 0;
  let hi = checkpoints.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (checkpoints[mid]!.out <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
