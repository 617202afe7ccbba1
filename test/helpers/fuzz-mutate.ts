// Fuzz helper: mutations as plain data (so fast-check can generate and shrink them, and a failing
// one can be saved as JSON and replayed), the fast-check arbitraries that generate them, and the
// functions that apply them: raw byte edits, gzip member header rewrites (FLG, FEXTRA/XLEN, FNAME,
// FCOMMENT, FHCRC), tar edits that keep parsing going deeper (header fields with the checksum fixed
// up afterwards, PAX records, base-256 numbers, GNU long names, inserted meta entries), zTOC model
// edits and JSON document edits.

import fc from 'fast-check';
import { gzipSync, constants as zc } from 'node:zlib';
import { crc32 } from './gzip-craft.js';
import { b256, paxRecord } from './tar-fixtures.js';

// ---------------------------------------------------------------------------------------------
// Raw bytes

export type ByteOp =
  | { op: 'flip'; at: number; bit: number; fromEnd: boolean }
  | { op: 'set'; at: number; value: number; fromEnd: boolean }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number }
  | { op: 'append'; bytes: Uint8Array }
  | { op: 'copy'; from: number; to: number; len: number };

const pos = fc.nat({ max: 0x7fffffff });

export const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: pos, bit: fc.integer({ min: 0, max: 7 }), fromEnd: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), at: pos, value: fc.integer({ min: 0, max: 255 }), fromEnd: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: pos }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), at: pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 48 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at: pos, len: fc.integer({ min: 1, max: 4096 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 48 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('copy' as const), from: pos, to: pos, len: fc.integer({ min: 1, max: 4096 }) }) },
);

function at(n: number, len: number, fromEnd = false): number {
  if (len === 0) return 0;
  const i = n % len;
  return fromEnd ? len - 1 - (i % Math.min(len, 64)) : i;
}

/** Applies byte edits in order; never throws. `positions` optionally maps an edit's `at` to a chosen index. */
export function applyBytes(input: Uint8Array, ops: readonly ByteOp[], positions?: (n: number, len: number) => number): Uint8Array {
  let b = Buffer.from(input);
  const pick = (n: number, fromEnd = false): number => (positions !== undefined && !fromEnd ? positions(n, b.length) : at(n, b.length, fromEnd));
  for (const o of ops) {
    switch (o.op) {
      case 'flip':
        if (b.length > 0) b[pick(o.at, o.fromEnd)]! ^= 1 << o.bit;
        break;
      case 'set':
        if (b.length > 0) b[pick(o.at, o.fromEnd)] = o.value;
        break;
      case 'truncate':
        b = b.subarray(0, o.at % (b.length + 1));
        break;
      case 'insert': {
        const i = o.at % (b.length + 1);
        b = Buffer.concat([b.subarray(0, i), o.bytes, b.subarray(i)]);
        break;
      }
      case 'delete': {
        const i = at(o.at, b.length);
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + o.len)]);
        break;
      }
      case 'append':
        b = Buffer.concat([b, o.bytes]);
        break;
      case 'copy': {
        if (b.length === 0) break;
        const f = at(o.from, b.length);
        const t = at(o.to, b.length);
        b = Buffer.from(b);
        b.copy(b, t, f, Math.min(b.length, f + o.len));
        break;
      }
    }
  }
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

// ---------------------------------------------------------------------------------------------
// gzip member header

export interface Filler {
  len: number;
  byte: number;
}

export interface GzHeaderOp {
  /** XORed into the FLG the present fields imply (0 = consistent flags). */
  flagNoise: number;
  cm: number;
  mtime: number;
  xfl: number;
  os: number;
  /** FEXTRA with an XLEN that may disagree with the bytes that follow. */
  extra?: { xlen: number; body: Filler };
  /** FNAME / FCOMMENT, NUL-terminated or not. */
  name?: { body: Filler; nul: boolean };
  comment?: { body: Filler; nul: boolean };
  /** FHCRC: the right CRC16 of the header, or `value`. */
  hcrc?: { right: boolean; value: number };
}

const filler = (max: number): fc.Arbitrary<Filler> =>
  fc.record({
    len: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 300 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: max }) }),
    byte: fc.integer({ min: 0, max: 255 }),
  });

export const gzHeaderOp: fc.Arbitrary<GzHeaderOp> = fc.record(
  {
    flagNoise: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    cm: fc.oneof({ weight: 8, arbitrary: fc.constant(8) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    mtime: fc.nat(),
    xfl: fc.integer({ min: 0, max: 255 }),
    os: fc.integer({ min: 0, max: 255 }),
    extra: fc.record({ xlen: fc.integer({ min: 0, max: 0xffff }), body: filler(70_000) }),
    name: fc.record({ body: filler(70_000), nul: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }),
    comment: fc.record({ body: filler(2000), nul: fc.boolean() }),
    hcrc: fc.record({ right: fc.boolean(), value: fc.integer({ min: 0, max: 0xffff }) }),
  },
  { requiredKeys: ['flagNoise', 'cm', 'mtime', 'xfl', 'os'] },
);

function fill(f: Filler, noNul = false): Buffer {
  return Buffer.alloc(f.len, noNul && f.byte === 0 ? 0x41 : f.byte);
}

/** Replaces the first member's header (`gzip -n` / `pigz -n` write a bare 10-byte one) with a rewritten one. */
export function applyGzHeader(gz: Uint8Array, h: GzHeaderOp): Uint8Array {
  let hlen = 10;
  if (gz.length >= 10 && gz[0] === 0x1f && gz[1] === 0x8b && gz[3] !== 0) return gz; // only bare headers are rewritten
  if (gz.length < hlen) hlen = gz.length;
  let flg = 0;
  const parts: Buffer[] = [];
  const fixed = Buffer.alloc(10);
  if (h.extra !== undefined) {
    flg |= 0x04;
    const x = Buffer.alloc(2);
    x.writeUInt16LE(h.extra.xlen);
    parts.push(x, fill(h.extra.body));
  }
  if (h.name !== undefined) {
    flg |= 0x08;
    parts.push(fill(h.name.body, true), Buffer.from(h.name.nul ? [0] : []));
  }
  if (h.comment !== undefined) {
    flg |= 0x10;
    parts.push(fill(h.comment.body, true), Buffer.from(h.comment.nul ? [0] : []));
  }
  if (h.hcrc !== undefined) flg |= 0x02;
  fixed[0] = 0x1f;
  fixed[1] = 0x8b;
  fixed[2] = h.cm;
  fixed[3] = (flg ^ h.flagNoise) & 0xff;
  fixed.writeUInt32LE(h.mtime >>> 0, 4);
  fixed[8] = h.xfl;
  fixed[9] = h.os;
  const head = Buffer.concat([fixed, ...parts]);
  const out = [head];
  if (h.hcrc !== undefined) {
    const c = Buffer.alloc(2);
    c.writeUInt16LE(h.hcrc.right ? crc32(head) & 0xffff : h.hcrc.value);
    out.push(c);
  }
  out.push(Buffer.from(gz.subarray(hlen)));
  return new Uint8Array(Buffer.concat(out));
}

// ---------------------------------------------------------------------------------------------
// tar

/** A field of the 512-byte header: [offset, width]. */
export const TAR_FIELDS = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
  atime: [345, 12],
  ctime: [357, 12],
} as const;
export type TarField = keyof typeof TAR_FIELDS;

export type FieldValue =
  | { kind: 'octal'; n: number }
  | { kind: 'b256'; n: bigint }
  | { kind: 'text'; s: string }
  | { kind: 'fill'; byte: number };

export type TarOp =
  /** Header `hdr` (index among header blocks), one field; `fix` recomputes the checksum afterwards. */
  | { op: 'field'; hdr: number; field: TarField; value: FieldValue; fix: boolean }
  /** Any byte of header `hdr`. */
  | { op: 'hbyte'; hdr: number; at: number; value: number; fix: boolean }
  /** PAX record edits in the 'x'/'g' body of header `hdr` (the nearest one at or after it). */
  | { op: 'paxLen'; hdr: number; rec: number; len: string }
  | { op: 'paxKey'; hdr: number; rec: number; key: string }
  | { op: 'paxValue'; hdr: number; rec: number; value: string | Filler }
  | { op: 'paxAdd'; hdr: number; key: string; value: string | Filler }
  | { op: 'paxRaw'; hdr: number; body: string }
  /** Rewrite (or insert before header `hdr`) a GNU 'L'/'K' long name body. */
  | { op: 'longName'; hdr: number; type: 'L' | 'K'; body: Filler; nul: boolean }
  /** Insert a PAX 'x' or 'g' entry before header `hdr`. */
  | { op: 'insertPax'; hdr: number; type: 'x' | 'g'; records: Array<[string, string]> }
  /** Remove the entry at header `hdr` (header and data). */
  | { op: 'drop'; hdr: number };

const PAX_KEYS = [
  'path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'atime', 'ctime', 'uname', 'gname', 'comment', 'charset',
  'GNU.sparse.major', 'GNU.sparse.minor', 'GNU.sparse.offset', 'GNU.sparse.numbytes', 'GNU.sparse.map', 'GNU.sparse.name',
  'SCHILY.xattr.user.k', 'SCHILY.xattr.security.capability', 'LIBARCHIVE.xattr.user.k', '', 'pa\0th', 'k=v', 'x y',
];
const PAX_VALUES = [
  '', '0', '-1', '1', '+5', '0x10', '1e3', '1.5', '-1.5', '.5', '1700000000.123456789', '-1700000000.5', '1700000000.1234567891234',
  '9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '99999999999999999999999',
  '9007199254740993', 'a\0b', '/abs/path', '../../etc/passwd', 'dir/', '\xff\xfe', ' ', '1,2,3', 'x'.repeat(300),
];

const paxValue: fc.Arbitrary<string | Filler> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...PAX_VALUES) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.record({ len: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: (1 << 20) - 64, max: (1 << 20) + 64 })), byte: fc.integer({ min: 0x20, max: 0x7e }) }) },
);
const paxKey: fc.Arbitrary<string> = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...PAX_KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) });

const fieldValue: fc.Arbitrary<FieldValue> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('octal' as const), n: fc.oneof(fc.nat({ max: 4096 }), fc.maxSafeNat()) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('b256' as const),
      n: fc.oneof(fc.bigInt({ min: -(1n << 20n), max: 1n << 20n }), fc.bigInt({ min: -(1n << 95n), max: 1n << 95n }), fc.constantFrom(-1n, 0n, (1n << 53n), (1n << 63n) - 1n, -(1n << 63n))),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('text' as const), s: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(' 12 ', '0000644\0', '  \0  ', '8', '77777777777', '-1', '\x80', 'ustar\0', 'ustar ', '00', ' \0')) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fill' as const), byte: fc.constantFrom(0, 0x20, 0x30, 0x37, 0x80, 0xff) }) },
);

const hdrIdx = fc.nat({ max: 1000 });

export const tarOp: fc.Arbitrary<TarOp> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('field' as const),
      hdr: hdrIdx,
      field: fc.constantFrom(...(Object.keys(TAR_FIELDS) as TarField[])),
      value: fieldValue,
      fix: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('hbyte' as const),
      hdr: hdrIdx,
      at: fc.integer({ min: 0, max: 511 }),
      value: fc.integer({ min: 0, max: 255 }),
      fix: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('paxLen' as const), hdr: hdrIdx, rec: fc.nat({ max: 20 }), len: fc.oneof(fc.integer({ min: -10, max: 400 }).map(String), fc.constantFrom('', '+9', '-0', '00011', '1e2', ' 9', '99999999999999999999')) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('paxKey' as const), hdr: hdrIdx, rec: fc.nat({ max: 20 }), key: paxKey }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('paxValue' as const), hdr: hdrIdx, rec: fc.nat({ max: 20 }), value: paxValue }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('paxAdd' as const), hdr: hdrIdx, key: paxKey, value: paxValue }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('paxRaw' as const), hdr: hdrIdx, body: fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('garbage', '11 path=x\n', '7 a=b\n', '5 =\n\n', '6 a=b.', '0 \n', '30 path=' + 'a'.repeat(21) + '\n')) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('longName' as const),
      hdr: hdrIdx,
      type: fc.constantFrom('L' as const, 'K' as const),
      body: fc.record({ len: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 3000 }) }, { weight: 1, arbitrary: fc.integer({ min: (1 << 20) - 8, max: (1 << 20) + 600 }) }), byte: fc.integer({ min: 0, max: 255 }) }),
      nul: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insertPax' as const), hdr: hdrIdx, type: fc.constantFrom('x' as const, 'x' as const, 'g' as const), records: fc.array(fc.tuple(paxKey, fc.constantFrom(...PAX_VALUES)), { maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const), hdr: hdrIdx }) },
);

interface TarRecord {
  header: Uint8Array;
  body: Uint8Array;
}

function readSize(h: Uint8Array): number | undefined {
  if ((h[124]! & 0x80) !== 0) {
    let x = 0n;
    for (let i = 124; i < 136; i++) x = (x << 8n) | BigInt(i === 124 ? h[i]! & 0x7f : h[i]!);
    return x < 1n << 40n ? Number(x) : undefined;
  }
  const s = Buffer.from(h.subarray(124, 136)).toString('latin1').replace(/[\0 ]+$/g, '').replace(/^[ \0]+/, '');
  if (!/^[0-7]*$/.test(s)) return undefined;
  return s === '' ? 0 : parseInt(s, 8);
}

function isZeroBlock(b: Uint8Array, off: number): boolean {
  for (let i = off; i < off + 512; i++) if (b[i] !== 0) return false;
  return true;
}

/** Splits a (well-formed) tar into header+body records and the tail (end blocks and whatever follows). */
export function parseTarRecords(tar: Uint8Array): { records: TarRecord[]; tail: Uint8Array } {
  const records: TarRecord[] = [];
  let p = 0;
  while (p + 512 <= tar.length && !isZeroBlock(tar, p)) {
    const header = tar.slice(p, p + 512);
    const t = String.fromCharCode(header[156]!);
    let size = readSize(header);
    if (size === undefined) break;
    if ('123456'.includes(t)) size = 0;
    if (p + 512 + size > tar.length) break;
    records.push({ header, body: tar.slice(p + 512, p + 512 + size) });
    p += 512 + Math.ceil(size / 512) * 512;
  }
  return { records, tail: tar.slice(p) };
}

export function fixChecksum(h: Uint8Array, off = 0): void {
  h.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = off; i < off + 512; i++) sum += h[i]!;
  h.set(Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `, 'latin1'), off + 148);
}

function putSize(h: Uint8Array, n: number): void {
  if (n < 8 ** 11) h.set(Buffer.from(`${n.toString(8).padStart(11, '0')}\0`, 'latin1'), 124);
  else h.set(b256(BigInt(n), 12), 124);
}

function metaHeader(type: string, name: string, size: number): Uint8Array {
  const h = new Uint8Array(512);
  h.set(Buffer.from(name, 'latin1'), 0);
  h.set(Buffer.from('0000644\0', 'latin1'), 100);
  h.set(Buffer.from('0000000\0', 'latin1'), 108);
  h.set(Buffer.from('0000000\0', 'latin1'), 116);
  putSize(h, size);
  h.set(Buffer.from('00000000000\0', 'latin1'), 136);
  h[156] = type.charCodeAt(0);
  h.set(Buffer.from(type === 'L' || type === 'K' ? 'ustar  \0' : 'ustar\x0000', 'latin1'), 257);
  fixChecksum(h);
  return h;
}

function fillStr(v: string | Filler): string {
  return typeof v === 'string' ? v : String.fromCharCode(v.byte).repeat(v.len);
}

interface PaxRec {
  len?: string;
  key: string;
  value: string;
}

function parsePaxLoose(body: Uint8Array): PaxRec[] | undefined {
  const s = Buffer.from(body).toString('latin1');
  const out: PaxRec[] = [];
  let p = 0;
  while (p < s.length) {
    const sp = s.indexOf(' ', p);
    if (sp < 0) return undefined;
    const n = Number(s.slice(p, sp));
    if (!Number.isInteger(n) || n <= 0 || p + n > s.length) return undefined;
    const rec = s.slice(sp + 1, p + n - 1);
    const eq = rec.indexOf('=');
    if (eq < 0) return undefined;
    out.push({ key: rec.slice(0, eq), value: rec.slice(eq + 1) });
    p += n;
  }
  return out;
}

function paxBodyOf(recs: PaxRec[]): Uint8Array {
  return Buffer.from(
    recs
      .map((r) => {
        if (r.len === undefined) return paxRecord(r.key, r.value);
        return `${r.len} ${r.key}=${r.value}\n`;
      })
      .join(''),
    'latin1',
  );
}

function writeField(h: Uint8Array, field: TarField, v: FieldValue): void {
  const [off, width] = TAR_FIELDS[field];
  let bytes: Uint8Array;
  switch (v.kind) {
    case 'octal': {
      const s = v.n.toString(8);
      bytes = Buffer.from(s.length < width ? `${s.padStart(width - 1, '0')}\0` : s.slice(-width), 'latin1');
      break;
    }
    case 'b256':
      bytes = b256(v.n, width);
      break;
    case 'text':
      bytes = Buffer.from(v.s, 'latin1').subarray(0, width);
      break;
    case 'fill':
      bytes = new Uint8Array(width).fill(v.byte);
      break;
  }
  h.fill(0, off, off + width);
  h.set(bytes.subarray(0, width), off);
}

/** Applies tar edits: structural ones on the parsed records, then header byte edits; never throws. */
export function applyTar(tar: Uint8Array, ops: readonly TarOp[]): Uint8Array {
  const { records, tail } = parseTarRecords(tar);
  const idx = (n: number): number => (records.length === 0 ? -1 : n % records.length);
  /** The PAX record list of the first 'x'/'g' record at or after `hdr` (wrapping), with its index. */
  const paxAt = (hdr: number): [number, PaxRec[]] | undefined => {
    for (let k = 0; k < records.length; k++) {
      const i = (idx(hdr) + k) % records.length;
      const t = records[i]!.header[156];
      if (t === 0x78 || t === 0x67) {
        const recs = parsePaxLoose(records[i]!.body);
        if (recs !== undefined) return [i, recs];
      }
    }
    return undefined;
  };
  const late: Array<Extract<TarOp, { op: 'field' | 'hbyte' }>> = [];
  const dirty = new Set<number>();
  for (const o of ops) {
    switch (o.op) {
      case 'field':
      case 'hbyte':
        late.push(o);
        break;
      case 'paxLen':
      case 'paxKey':
      case 'paxValue': {
        const found = paxAt(o.hdr);
        if (found === undefined || found[1].length === 0) break;
        const [i, recs] = found;
        const r = recs[o.rec % recs.length]!;
        if (o.op === 'paxLen') r.len = o.len;
        else if (o.op === 'paxKey') r.key = o.key;
        else r.value = fillStr(o.value);
        records[i]!.body = paxBodyOf(recs);
        break;
      }
      case 'paxAdd': {
        const found = paxAt(o.hdr);
        if (found === undefined) {
          if (records.length === 0) break;
          records.splice(idx(o.hdr), 0, { header: metaHeader('x', 'PaxHeaders/f', 0), body: paxBodyOf([{ key: o.key, value: fillStr(o.value) }]) });
          break;
        }
        const [i, recs] = found;
        recs.push({ key: o.key, value: fillStr(o.value) });
        records[i]!.body = paxBodyOf(recs);
        break;
      }
      case 'paxRaw': {
        const found = paxAt(o.hdr);
        if (found !== undefined) records[found[0]]!.body = Buffer.from(o.body, 'latin1');
        break;
      }
      case 'longName': {
        if (records.length === 0) break;
        const i = idx(o.hdr);
        const body = Buffer.concat([Buffer.alloc(o.body.len, o.body.byte), Buffer.from(o.nul ? [0] : [])]);
        const t = String.fromCharCode(records[i]!.header[156]!);
        if (t === 'L' || t === 'K') records[i]!.body = body;
        else records.splice(i, 0, { header: metaHeader(o.type, '././@LongLink', 0), body });
        break;
      }
      case 'insertPax': {
        if (records.length === 0) break;
        records.splice(idx(o.hdr), 0, {
          header: metaHeader(o.type, o.type === 'g' ? 'pax_global_header' : 'PaxHeaders/f', 0),
          body: paxBodyOf(o.records.map(([key, value]) => ({ key, value }))),
        });
        break;
      }
      case 'drop':
        if (records.length > 1) records.splice(idx(o.hdr), 1);
        break;
    }
  }
  // Serialise with sizes and checksums that match the (possibly rewritten) bodies.
  const parts: Uint8Array[] = [];
  const headerAt: number[] = [];
  let off = 0;
  for (const r of records) {
    const h = r.header.slice();
    const t = String.fromCharCode(h[156]!);
    if (!'123456'.includes(t)) putSize(h, r.body.length);
    fixChecksum(h);
    headerAt.push(off);
    parts.push(h, r.body, new Uint8Array((512 - (r.body.length % 512)) % 512));
    off += 512 + r.body.length + ((512 - (r.body.length % 512)) % 512);
  }
  parts.push(tail);
  const out = new Uint8Array(Buffer.concat(parts));
  for (const o of late) {
    if (headerAt.length === 0) break;
    const i = o.hdr % headerAt.length;
    const h = out.subarray(headerAt[i]!, headerAt[i]! + 512);
    if (o.op === 'field') writeField(h, o.field, o.value);
    else h[o.at] = o.value;
    if (o.fix && !(o.op === 'field' && o.field === 'chksum')) dirty.add(i);
    else dirty.delete(i);
  }
  for (const i of dirty) fixChecksum(out, headerAt[i]!);
  return out;
}

/** gzip -1 of a (mutated) tar, through Node's zlib: the gzip target re-compresses after tar edits. */
export function regzip(tar: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(tar, { level: 1, strategy: zc.Z_DEFAULT_STRATEGY }));
}

/** Split points for chunked feeding: sorted unique offsets in (0, len). */
export function splits(len: number, raw: readonly number[]): number[] {
  if (len <= 1) return [];
  return [...new Set(raw.map((r) => 1 + (r % (len - 1))))].sort((a, b) => a - b);
}

export function* chunksOf(b: Uint8Array, cuts: readonly number[]): Generator<Uint8Array> {
  let p = 0;
  for (const c of cuts) {
    if (c > p) yield b.slice(p, c);
    p = c;
  }
  if (p < b.length) yield b.slice(p);
}

// ---------------------------------------------------------------------------------------------
// zTOC model and bytes

export type NumEdit = { kind: 'delta'; d: number } | { kind: 'abs'; v: number };

export const numEdit: fc.Arbitrary<NumEdit> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delta' as const), d: fc.oneof(fc.integer({ min: -8, max: 8 }), fc.integer({ min: -200_000, max: 200_000 })) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('abs' as const),
      v: fc.oneof(fc.constantFrom(0, -1, 1, 7, 8, 10, 512, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -(2 ** 53) + 1, -(2 ** 31)), fc.integer({ min: 0, max: 1 << 20 })),
    }),
  },
);

export type ZtocOp =
  | { op: 'entry'; i: number; field: 'offset' | 'size'; edit: NumEdit }
  | { op: 'entryType'; i: number; type: string }
  | { op: 'archiveSize'; which: 'compressed' | 'uncompressed'; edit: NumEdit }
  | { op: 'checkpoint'; k: number; field: 'in' | 'out' | 'bits'; edit: NumEdit }
  | { op: 'window'; k: number; at: number; value: number }
  | { op: 'cpCount'; edit: NumEdit }
  | { op: 'cpSpan'; edit: NumEdit }
  | { op: 'cpTruncate'; drop: number }
  | { op: 'digest'; kind: 'swap' | 'replace' | 'drop' | 'dup'; i: number; j: number }
  | { op: 'maxSpanId'; edit: NumEdit }
  | { op: 'compression' };

export const ztocOp: fc.Arbitrary<ZtocOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('entry' as const), i: fc.nat({ max: 100 }), field: fc.constantFrom('offset' as const, 'size' as const), edit: numEdit }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('entryType' as const), i: fc.nat({ max: 100 }), type: fc.constantFrom('reg', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'sparse', '') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('archiveSize' as const), which: fc.constantFrom('compressed' as const, 'uncompressed' as const), edit: numEdit }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('checkpoint' as const), k: fc.nat({ max: 100 }), field: fc.constantFrom('in' as const, 'out' as const, 'bits' as const), edit: numEdit }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('window' as const), k: fc.nat({ max: 100 }), at: fc.oneof(fc.integer({ min: 32768 - 300, max: 32767 }), fc.nat({ max: 32767 })), value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cpCount' as const), edit: numEdit }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cpSpan' as const), edit: numEdit }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cpTruncate' as const), drop: fc.integer({ min: 1, max: 40000 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('digest' as const), kind: fc.constantFrom('swap' as const, 'replace' as const, 'drop' as const, 'dup' as const), i: fc.nat({ max: 100 }), j: fc.nat({ max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('maxSpanId' as const), edit: numEdit }) },
  { weight: 1, arbitrary: fc.constant({ op: 'compression' as const }) },
);

export function edited(v: number, e: NumEdit): number {
  return e.kind === 'delta' ? v + e.d : e.v;
}

// ---------------------------------------------------------------------------------------------
// JSON documents

export type JsonOp =
  | { op: 'set'; path: number; value: unknown }
  | { op: 'delete'; path: number }
  | { op: 'nest'; path: number; depth: number }
  | { op: 'many'; path: number; count: number }
  | { op: 'dupKey'; path: number; key: string; value: unknown }
  | { op: 'pad'; bytes: number };

const DIGESTS = [
  `sha256:${'a'.repeat(64)}`, `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, `sha512:${'b'.repeat(128)}`, 'sha256:', ':', 'md5:abc',
  `sha256:${'a'.repeat(64)}\n`, `foo+bar.baz:${'Z'.repeat(10)}`,
];
const MEDIA = [
  'application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.oci.image.layer.v1.tar+gzip', 'text/plain', '', 'a/b/c', 'application/vnd.oci.image.manifest.v1+json; charset=utf-8',
];

export const jsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<unknown>(...DIGESTS, ...MEDIA, 0, -1, 1.5, 2, 1e308, -0, 2 ** 53, 2 ** 53 + 2, null, true, false, '', [], {}, 'linux', 'amd64', { architecture: 'amd64', os: 'linux' }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
);

export const jsonOp: fc.Arbitrary<JsonOp> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), path: fc.nat(), value: jsonValue }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), path: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('nest' as const), path: fc.nat(), depth: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1000, max: 100_000 })) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('many' as const), path: fc.nat(), count: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 995, max: 1010 })) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('dupKey' as const), path: fc.nat(), key: fc.constantFrom('mediaType', 'schemaVersion', 'manifests', 'layers', 'config', 'digest', '__proto__', 'constructor'), value: jsonValue }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('pad' as const), bytes: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 4 * 1024 * 1024 - 2048, max: 4 * 1024 * 1024 + 10 })) }) },
);

type Container = Record<string, unknown> | unknown[];

/** Every container (object/array) and value location in the document: [parent, key]. */
function locations(doc: unknown): Array<[Container, string | number]> {
  const out: Array<[Container, string | number]> = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth > 20 || typeof v !== 'object' || v === null) return;
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push([v, i]);
        walk(x, depth + 1);
      });
    } else {
      for (const k of Object.keys(v)) {
        out.push([v as Record<string, unknown>, k]);
        walk((v as Record<string, unknown>)[k], depth + 1);
      }
    }
  };
  walk(doc, 0);
  return out;
}

/** Applies JSON edits to a parsed copy and serialises; 'dupKey' and 'pad' work on the text. */
export function applyJson(text: string, ops: readonly JsonOp[]): string {
  const doc: unknown = JSON.parse(text);
  const textOps: JsonOp[] = [];
  for (const o of ops) {
    if (o.op === 'dupKey' || o.op === 'pad') {
      textOps.push(o);
      continue;
    }
    const locs = locations(doc);
    if (locs.length === 0) continue;
    const [parent, key] = locs[o.path % locs.length]!;
    const set = (v: unknown): void => {
      (parent as Record<string | number, unknown>)[key] = v;
    };
    switch (o.op) {
      case 'set':
        set(structuredClone(o.value));
        break;
      case 'delete':
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key as string];
        break;
      case 'nest': {
        let v: unknown = (parent as Record<string | number, unknown>)[key];
        for (let d = 0; d < Math.min(o.depth, 200); d++) v = d % 2 === 0 ? [v] : { x: v };
        set(v);
        break;
      }
      case 'many': {
        const v = (parent as Record<string | number, unknown>)[key];
        const arr = Array.isArray(v) ? v : [v];
        set(Array.from({ length: o.count }, (_, i) => structuredClone(arr[i % Math.max(1, arr.length)] ?? null)));
        break;
      }
    }
  }
  let out = JSON.stringify(doc);
  for (const o of textOps) {
    if (o.op === 'dupKey') {
      const braces = [...out.matchAll(/\{/g)].map((m) => m.index);
      if (braces.length === 0) continue;
      const at = braces[o.path % braces.length]! + 1;
      const close = out[at] === '}' ? '' : ',';
      out = `${out.slice(0, at)}${JSON.stringify(o.key)}:${JSON.stringify(o.value) ?? 'null'}${close}${out.slice(at)}`;
    } else if (o.op === 'pad') {
      out = `${out}${' '.repeat(o.bytes)}`;
    }
  }
  // Deep nesting that JSON.stringify could not reach: add it as text.
  for (const o of ops) {
    if (o.op === 'nest' && o.depth > 200) {
      const i = out.lastIndexOf('}');
      if (i > 0) out = `${out.slice(0, i)},"deep":${'['.repeat(o.depth)}${']'.repeat(o.depth)}${out.slice(i)}`;
    }
  }
  return out;
}
