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

/**
 * Record keys repeat across entries (atime, mtime, SCHILY.xattr.*): one string per key, found by a
 * hash of the bytes and checked byte by byte, so a repeated key allocates nothing. One per scanner.
 */
export class PaxKeyCache {
  private readonly keys = new Map<number, string>();

  get(b: Uint8Array, s: number, e: number): string {
    let h = e - s;
    for (let k = s; k < e; k++) h = (Math.imul(h, 31) + b[k]) | 0;
    const c = this.keys.get(h);
    if (c !== undefined && c.length === e - s) {
      let k = 0;
      while (k < c.length && c.charCodeAt(k) === b[s + k]) k++;
      if (k === c.length) return c;
    }
    const key = latin1(b, s, e);
    if (this.keys.size < 4096 && e - s <= 128) this.keys.set(h, key);
    return key;
  }
}

/** A key/value record list: the Go map, with unique keys in first-seen order. */
export type PaxRecords = Array<[string, string]>;

function set(recs: PaxRecords, key: string, value: string): void {
  for (let i = 0; i < recs.length; i++) {
    if (recs[i]![0] === key) {
      recs[i]![1] = value;
      return;
    }
  }
  recs.push([key, value]);
}

/**
 * Go parsePAX over body bytes b[start, end). Later records with the same key override earlier ones.
 * keys (optional) shares key strings across calls.
 */
export function parsePax(b: Uint8Array, start: number, end: number, keys?: PaxKeyCache): PaxRecords {
  const recs: PaxRecords = [];
  let big: Map<string, number> | null = null; // index of keys, once there are many records
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
    const key = keys !== undefined ? keys.get(b, restStart, eq) : latin1(b, restStart, eq);
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
    } else if (big !== null) {
      const i = big.get(key);
      if (i === undefined) {
        big.set(key, recs.length);
        recs.push([key, value]);
      } else {
        recs[i]![1] = value;
      }
    } else {
      set(recs, key, value);
      if (recs.length > 16) big = new Map(recs.map(([k], i) => [k, i]));
    }
  }
  if (sparseMap !== null && sparseMap.length > 0) {
    const v = sparseMap.join(',');
    const i = big?.get('GNU.sparse.map');
    if (i !== undefined) recs[i]![1] = v;
    else set(recs, 'GNU.sparse.map', v);
  }
  return recs;
}
