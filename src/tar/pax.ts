// Owns PAX extended-header parsing with Go archive/tar semantics (parsePAX, parsePAXRecord,
// validPAXRecord, GNU sparse 0.0 folding). Errors are reported as PaxError; the scanner adds offsets.

import { latin1 } from './bytes.js';

/** A PAX body Go rejects with ErrHeader. */
export class PaxError extends Error {}

const SPARSE_OFFSET = 'GNU.sparse.offset';
const SPARSE_NUMBYTES = 'GNU.sparse.numbytes';

function isUstarStringKey(k: string): boolean {
  return k === 'path' || k === 'linkpath' || k === 'uname' || k === 'gname';
}

/** Go parsePAX over body bytes b[start, end). Later records with the same key override earlier ones. */
export function parsePax(b: Uint8Array, start: number, end: number): Map<string, string> {
  const recs = new Map<string, string>();
  let sparseMap: string[] | null = null;
  let p = start;
  while (p < end) {
    // The size field ends at the first space.
    let sp = p;
    while (sp < end && b[sp] !== 0x20) sp++;
    if (sp === end) throw new PaxError('PAX record has no length field');
    // strconv.ParseInt(nStr, 10, 0): optional sign, then digits.
    let k = p;
    let neg = false;
    if (k < sp && (b[k] === 0x2b || b[k] === 0x2d)) {
      neg = b[k] === 0x2d;
      k++;
    }
    if (k === sp) throw new PaxError('bad PAX record length');
    let n = 0;
    for (; k < sp; k++) {
      const d = b[k] - 0x30;
      if (d < 0 || d > 9) throw new PaxError('bad PAX record length');
      n = n * 10 + d; // any value over the body length fails below, so precision loss is harmless
    }
    if (neg) n = -n;
    if (n < 5 || n > end - p) throw new PaxError(`bad PAX record length ${n}`);
    const restStart = sp + 1;
    const nRest = n - (sp - p + 1); // index in rest
    if (nRest <= 0) throw new PaxError(`bad PAX record length ${n}`);
    const nl = restStart + nRest - 1;
    if (b[nl] !== 0x0a) throw new PaxError('PAX record does not end with a newline');
    let eq = restStart;
    while (eq < nl && b[eq] !== 0x3d) eq++;
    if (eq === nl) throw new PaxError("PAX record has no '='");
    const key = latin1(b, restStart, eq);
    const value = latin1(b, eq + 1, nl);
    // validPAXRecord
    if (key.length === 0) throw new PaxError('PAX record has an empty key');
    if (isUstarStringKey(key)) {
      if (value.includes('\0')) throw new PaxError(`PAX record ${JSON.stringify(key)} has a NUL in its value`);
    } else if (key.includes('\0')) {
      throw new PaxError('PAX record key has a NUL');
    }
    p = nl + 1;
    if (key === SPARSE_OFFSET || key === SPARSE_NUMBYTES) {
      // GNU sparse 0.0: validate order and value, fold into GNU.sparse.map.
      sparseMap ??= [];
      if (
        (sparseMap.length % 2 === 0 && key !== SPARSE_OFFSET) ||
        (sparseMap.length % 2 === 1 && key !== SPARSE_NUMBYTES) ||
        value.includes(',')
      ) {
        throw new PaxError('bad GNU sparse 0.0 records');
      }
      sparseMap.push(value);
    } else {
      recs.set(key, value);
    }
  }
  if (sparseMap !== null && sparseMap.length > 0) recs.set('GNU.sparse.map', sparseMap.join(','));
  return recs;
}
