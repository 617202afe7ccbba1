// Owns byte <-> ByteString conversion for the tar scanner: latin1 decoding of header fields (one JS
// char per byte, like a Go string) and the UTF-8 helpers for showing or building such strings.

import type { ByteString } from './types.js';

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;

// Node's Buffer.prototype.latin1Slice accepts any Uint8Array and is the fastest exact latin1
// decoder; Buffer#toString('latin1') is the documented fallback. (TextDecoder('latin1') is
// windows-1252, which is not exact.)
const nativeSlice: Latin1Slice | undefined = (Buffer.prototype as unknown as { latin1Slice?: Latin1Slice })
  .latin1Slice;

/** Bytes [start, end) of b as a ByteString. */
export const latin1: (b: Uint8Array, start: number, end: number) => string =
  typeof nativeSlice === 'function'
    ? (b, start, end) => (start >= end ? '' : nativeSlice.call(b, start, end))
    : (b, start, end) =>
        start >= end ? '' : Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');

/** Decode a ByteString's bytes as UTF-8 (invalid sequences become U+FFFD), for display. */
export function utf8(s: ByteString): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** The ByteString holding the UTF-8 bytes of a JS string. */
export function byteString(utf8Text: string): ByteString {
  return Buffer.from(utf8Text, 'utf8').toString('latin1');
}
