// Test helper: gzip streams with known structure, built from first principles (RFC 1952 / 1951)
// rather than through the code under test:
//  - headers with any combination of FEXTRA / FNAME / FCOMMENT / FHCRC / reserved bits, spliced
//    onto the deflate body of a real `gzip -n` stream;
//  - deflate streams whose block boundaries sit at known uncompressed offsets (one block per
//    Z_SYNC_FLUSH), with the compressed offset of every flush recorded;
//  - surgical damage (CRC32, ISIZE, BTYPE, truncation);
//  - a minimal independent tar walker (header offsets, end of archive, PAX bodies).

import { execFileSync } from 'node:child_process';
import { createGzip, constants as zc } from 'node:zlib';

// ----- CRC-32 (IEEE, reflected), written out so it does not depend on the code under test. -----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ----- Headers -----

export const FTEXT = 0x01;
export const FHCRC = 0x02;
export const FEXTRA = 0x04;
export const FNAME = 0x08;
export const FCOMMENT = 0x10;

export interface HeaderSpec {
  /** FEXTRA payload (XLEN is written from its length). */
  extra?: Uint8Array;
  /** FNAME, without the terminating NUL. */
  name?: string;
  /** FCOMMENT, without the terminating NUL. */
  comment?: string;
  /** FHCRC: write the CRC16 of the header (low 16 bits of its CRC-32). */
  hcrc?: boolean;
  /** XOR the CRC16 with this (to make it wrong). */
  hcrcXor?: number;
  /** Extra FLG bits to set (e.g. the reserved 0xe0). */
  flagBits?: number;
  mtime?: number;
}

/** A gzip member header (RFC 1952 §2.3) with the chosen optional fields, in spec order. */
export function gzipHeader(spec: HeaderSpec = {}): Buffer {
  let flg = spec.flagBits ?? 0;
  if (spec.extra !== undefined) flg |= FEXTRA;
  if (spec.name !== undefined) flg |= FNAME;
  if (spec.comment !== undefined) flg |= FCOMMENT;
  if (spec.hcrc) flg |= FHCRC;
  const fixed = Buffer.alloc(10);
  fixed[0] = 0x1f;
  fixed[1] = 0x8b;
  fixed[2] = 8; // CM = deflate
  fixed[3] = flg;
  fixed.writeUInt32LE(spec.mtime ?? 0, 4);
  fixed[8] = 0; // XFL
  fixed[9] = 3; // OS = Unix
  const parts: Buffer[] = [fixed];
  if (spec.extra !== undefined) {
    const xlen = Buffer.alloc(2);
    xlen.writeUInt16LE(spec.extra.length, 0);
    parts.push(xlen, Buffer.from(spec.extra));
  }
  if (spec.name !== undefined) parts.push(Buffer.from(`${spec.name}\0`, 'latin1'));
  if (spec.comment !== undefined) parts.push(Buffer.from(`${spec.comment}\0`, 'latin1'));
  if (spec.hcrc) {
    const before = Buffer.concat(parts);
    const c = Buffer.alloc(2);
    c.writeUInt16LE((crc32(before) & 0xffff) ^ (spec.hcrcXor ?? 0), 0);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/** Length of a gzip member header, parsed per RFC 1952 (independent of zlib). */
export function gzipHeaderLength(gz: Uint8Array): number {
  if (gz[0] !== 0x1f || gz[1] !== 0x8b || gz[2] !== 8) throw new Error('not a gzip member');
  const flg = gz[3]!;
  let p = 10;
  if (flg & FEXTRA) p += 2 + (gz[p]! | (gz[p + 1]! << 8));
  if (flg & FNAME) p = gz.indexOf(0, p) + 1;
  if (flg & FCOMMENT) p = gz.indexOf(0, p) + 1;
  if (flg & FHCRC) p += 2;
  return p;
}

/** Replaces the plain 10-byte header of `gz` (FLG = 0, as `gzip -n` writes) with `header`. */
export function withHeader(gz: Uint8Array, header: Uint8Array): Buffer {
  if (gz[0] !== 0x1f || gz[1] !== 0x8b || gz[3] !== 0) throw new Error('expected a gzip stream with a bare 10-byte header');
  return Buffer.concat([header, gz.subarray(10)]);
}

/** `gzip -n -<level>` of `data`, through the real gzip binary. */
export function gzipN(data: Uint8Array, level = 6): Buffer {
  return execFileSync('gzip', ['-n', `-${level}`, '-c'], { input: data, maxBuffer: 1 << 28 });
}

// ----- Damage -----

/** Flips one bit of the trailer's CRC-32 (the 8 bytes at the end of the last member). */
export function flipCrc(gz: Uint8Array): Buffer {
  const b = Buffer.from(gz);
  b[b.length - 8]! ^= 0x01;
  return b;
}

/** Adds one to the trailer's ISIZE. */
export function bumpIsize(gz: Uint8Array): Buffer {
  const b = Buffer.from(gz);
  b.writeUInt32LE((b.readUInt32LE(b.length - 4) + 1) >>> 0, b.length - 4);
  return b;
}

/** Makes the first deflate block's BTYPE the reserved value 11 (RFC 1951 §3.2.3). */
export function reservedBtype(gz: Uint8Array): Buffer {
  const b = Buffer.from(gz);
  const at = gzipHeaderLength(b);
  b[at]! |= 0x06; // bits 1-2 of the first byte are BTYPE (bit 0 is BFINAL)
  return b;
}

// ----- Deflate with block boundaries at known places -----

export interface FlushedGzip {
  gz: Buffer;
  /** Compressed length (header included) right after each piece's Z_SYNC_FLUSH. */
  flushEnds: number[];
  /** Uncompressed offset at each of those flushes. */
  flushOuts: number[];
}

/**
 * Compresses `data` with zlib (createGzip, 10-byte header), calling Z_SYNC_FLUSH after every
 * `piece` bytes, then finishing. Each sync flush ends the current deflate block and appends an
 * empty stored block (00 00 ff ff after its 3-bit header), so the output is byte-aligned at every
 * flushEnds[k]. With a piece far below zlib's 16K-symbol buffer, each piece is exactly one block.
 * The remainder (< piece bytes, possibly empty) goes into the final block. `leadingFlush` first
 * writes an empty stored block before any data.
 */
export async function syncFlushedGzip(data: Uint8Array, piece: number, level = 6, leadingFlush = false): Promise<FlushedGzip> {
  const gz = createGzip({ level, memLevel: 8 });
  const chunks: Buffer[] = [];
  let produced = 0;
  gz.on('data', (c: Buffer) => {
    chunks.push(c);
    produced += c.length;
  });
  const done = new Promise<void>((resolve, reject) => {
    gz.on('end', resolve);
    gz.on('error', reject);
  });
  const flushEnds: number[] = [];
  const flushOuts: number[] = [];
  if (leadingFlush) {
    // An empty stored block before any data (its end is recorded with out = 0).
    await new Promise<void>((r) => gz.flush(zc.Z_SYNC_FLUSH, () => r()));
    flushEnds.push(produced);
    flushOuts.push(0);
  }
  let off = 0;
  for (; off + piece <= data.length; off += piece) {
    gz.write(data.subarray(off, off + piece));
    await new Promise<void>((r) => gz.flush(zc.Z_SYNC_FLUSH, () => r()));
    // 'data' events for a flush are emitted before its callback runs.
    flushEnds.push(produced);
    flushOuts.push(off + piece);
  }
  gz.end(data.subarray(off));
  await done;
  const out = Buffer.concat(chunks);
  for (const e of flushEnds) {
    if (out.readUInt32BE(e - 4) !== 0x0000ffff) throw new Error(`no empty stored block before compressed offset ${e}`);
  }
  return { gz: out, flushEnds, flushOuts };
}

// ----- A minimal tar walker (ustar/gnu/pax block layout only) -----

export interface TarHeaderInfo {
  /** Offset of the 512-byte header block. */
  offset: number;
  typeflag: string;
  /** The 100-byte name field, NUL-trimmed, latin1. */
  name: string;
  size: number;
  /** The header's 12-byte mtime field (octal). */
  mtime: number;
  /** Offset of the entry's data. */
  dataOffset: number;
}

function octal(b: Uint8Array, off: number, len: number): number {
  const s = Buffer.from(b.subarray(off, off + len)).toString('latin1').replace(/[\0 ]+$/g, '').replace(/^[ ]+/, '');
  return s === '' ? 0 : parseInt(s, 8);
}

function isZero(b: Uint8Array, off: number): boolean {
  for (let i = off; i < off + 512; i++) if (b[i] !== 0) return false;
  return true;
}

/** Every header block (meta headers included) and the offset just past the second zero block. */
export function walkTar(tar: Uint8Array): { headers: TarHeaderInfo[]; end: number } {
  const headers: TarHeaderInfo[] = [];
  let p = 0;
  while (p + 512 <= tar.length) {
    if (isZero(tar, p)) {
      if (p + 1024 <= tar.length && isZero(tar, p + 512)) return { headers, end: p + 1024 };
      throw new Error(`single zero block at ${p}`);
    }
    const nameEnd = tar.indexOf(0, p);
    const name = Buffer.from(tar.subarray(p, Math.min(nameEnd < 0 ? p + 100 : nameEnd, p + 100))).toString('latin1');
    const size = octal(tar, p + 124, 12);
    const typeflag = String.fromCharCode(tar[p + 156]!);
    headers.push({ offset: p, typeflag, name, size, mtime: octal(tar, p + 136, 12), dataOffset: p + 512 });
    p += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error('tar ended without two zero blocks');
}

/** PAX records of an 'x' body, in file order: "%d %s=%s\n" each. */
export function parsePaxBody(body: Uint8Array): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let p = 0;
  while (p < body.length) {
    const sp = body.indexOf(0x20, p);
    const len = parseInt(Buffer.from(body.subarray(p, sp)).toString('latin1'), 10);
    const rec = Buffer.from(body.subarray(sp + 1, p + len - 1)).toString('latin1');
    const eq = rec.indexOf('=');
    out.push([rec.slice(0, eq), rec.slice(eq + 1)]);
    p += len;
  }
  return out;
}

/** Sets the checksum field of the header at `off` to the correct unsigned sum. */
export function fixTarChecksum(tar: Uint8Array, off: number): void {
  tar.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = off; i < off + 512; i++) sum += tar[i]!;
  Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `, 'latin1').copy(Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength), off + 148);
}
