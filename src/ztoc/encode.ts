// Owns zTOC serialisation. The bytes must equal what SOCI's Go marshaler (`ztocToFlatbuffer`)
// writes (soci-format.md §1.2): flatbuffers builds back to front, so call order, alignment padding
// and vtable sharing decide the bytes. FbWriter is a flatbuffers builder cut down to what a zTOC
// needs and made cheap for ~100k entries (no BigInt per int64, latin1 strings written straight
// into the buffer, one allocation sized up front); each step mirrors the flatbuffers Builder call
// it replaces, and the golden tests hold it to SOCI's bytes. The tiny TarZinfo uses the library.

import * as flatbuffers from 'flatbuffers';
import type { TocEntry } from '../tar/types.js';
import type { Ztoc } from './model.js';

const GZIP = 1;
const UNCOMPRESSED = 2;
const TWO32 = 4294967296;

/** The flatbuffers Builder steps a zTOC uses, writing back to front into one Buffer. */
class FbWriter {
  private buf: Buffer;
  private dv: DataView;
  private cap: number;
  private space: number;
  private minalign = 1;
  private readonly vt = new Int32Array(16);
  private vtInUse = 0;
  private objectStart = 0;
  /** Offsets (from the end) of the vtables written so far; identical vtables are shared. */
  private readonly vtables: number[] = [];
  private lastShared = 0;

  constructor(size: number) {
    this.buf = Buffer.alloc(size);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, size);
    this.cap = size;
    this.space = size;
  }

  offset(): number {
    return this.cap - this.space;
  }

  /** Builder.prep: zero padding so that `size` is aligned after `additional` more bytes. */
  prep(size: number, additional: number): void {
    if (size > this.minalign) this.minalign = size;
    const align = -(this.cap - this.space + additional) & (size - 1);
    if (this.space < align + size + additional) this.grow(align + size + additional);
    // Explicit zeros: a shared vtable's bytes were written here and then dropped.
    for (let i = 0; i < align; i++) this.buf[--this.space] = 0;
  }

  private grow(need: number): void {
    let cap = this.cap;
    while (cap - this.offset() < need) cap *= 2;
    const nb = Buffer.alloc(cap);
    nb.set(this.buf.subarray(this.space), cap - this.offset());
    this.space += cap - this.cap;
    this.cap = cap;
    this.buf = nb;
    this.dv = new DataView(nb.buffer, nb.byteOffset, cap);
  }

  private writeInt32(v: number): void {
    this.space -= 4;
    this.dv.setInt32(this.space, v, true);
  }

  private addOffset(off: number): void {
    this.prep(4, 0);
    this.writeInt32(this.offset() - off + 4);
  }

  /** Builder.createString over bytes: NUL, bytes, length. `latin1` strings are Go byte strings. */
  string(s: string, latin1: boolean): number {
    const n = latin1 ? s.length : Buffer.byteLength(s, 'utf8');
    // addInt8(0) (its prep(1, 0) never pads), then startVector's prep(4, n).
    if (this.space < n + 8) this.grow(n + 8);
    this.buf[--this.space] = 0;
    const align = -(this.cap - this.space + n) & 3;
    for (let i = 0; i < align; i++) this.buf[--this.space] = 0;
    if (this.minalign < 4) this.minalign = 4;
    this.space -= n;
    const at = this.space;
    if (latin1 && n < 24) {
      for (let k = 0; k < n; k++) this.buf[at + k] = s.charCodeAt(k);
    } else {
      this.buf.write(s, at, n, latin1 ? 'latin1' : 'utf8');
    }
    this.writeInt32(n);
    return this.offset();
  }

  /** Builder.createByteVector. */
  bytes(v: Uint8Array): number {
    this.prep(4, v.length);
    this.space -= v.length;
    this.buf.set(v, this.space);
    this.writeInt32(v.length);
    return this.offset();
  }

  /** startVector(4, n, 4), addOffset from the last element to the first, endVector. */
  offsetVector(offs: ArrayLike<number>, n: number): number {
    this.prep(4, 4 * n);
    for (let i = n - 1; i >= 0; i--) this.addOffset(offs[i]!);
    this.writeInt32(n);
    return this.offset();
  }

  startObject(numFields: number): void {
    this.vt.fill(0, 0, numFields);
    this.vtInUse = numFields;
    this.objectStart = this.offset();
  }

  fieldOffset(slot: number, off: number): void {
    this.addOffset(off);
    this.vt[slot] = this.offset();
  }

  /** addFieldInt64 with default 0, from a safe integer. */
  fieldInt64(slot: number, v: number): void {
    if (v === 0) return;
    this.prep(8, 0);
    this.space -= 8;
    this.dv.setUint32(this.space, v >>> 0, true);
    this.dv.setInt32(this.space + 4, Math.floor(v / TWO32), true);
    this.vt[slot] = this.offset();
  }

  /** addFieldInt32 with default 0. */
  fieldInt32(slot: number, v: number): void {
    if (v === 0) return;
    this.prep(4, 0);
    this.writeInt32(v);
    this.vt[slot] = this.offset();
  }

  /** addFieldInt8 with a default. */
  fieldInt8(slot: number, v: number, dflt: number): void {
    if (v === dflt) return;
    this.prep(1, 0);
    this.buf[--this.space] = v;
    this.vt[slot] = this.offset();
  }

  /** Builder.endObject: writes the vtable, or points at an identical earlier one. */
  endObject(): number {
    this.prep(4, 0);
    this.writeInt32(0);
    const vtableloc = this.offset();
    let i = this.vtInUse - 1;
    while (i >= 0 && this.vt[i] === 0) i--;
    const trimmed = i + 1;
    const len = (trimmed + 2) * 2;
    // The addInt16 calls of the vtable: the offset is 4-aligned here, so none of them pads.
    if (this.space < len) this.grow(len);
    if (this.minalign < 2) this.minalign = 2;
    const dv = this.dv;
    for (; i >= 0; i--) dv.setInt16((this.space -= 2), this.vt[i] !== 0 ? vtableloc - this.vt[i]! : 0, true);
    dv.setInt16((this.space -= 2), vtableloc - this.objectStart, true);
    dv.setInt16((this.space -= 2), len, true);
    // At most one earlier vtable can match (matches are never written), so the search order is
    // free: try the last one shared first.
    const found = this.findVtable(len);
    if (found !== 0) {
      this.space = this.cap - vtableloc;
      this.dv.setInt32(this.space, found - vtableloc, true);
    } else {
      this.vtables.push(this.offset());
      this.dv.setInt32(this.cap - vtableloc, this.offset() - vtableloc, true);
    }
    return vtableloc;
  }

  private findVtable(len: number): number {
    const n = this.vtables.length;
    for (let k = 0; k < n; k++) {
      const idx = (this.lastShared + k) % n;
      const vt2 = this.cap - this.vtables[idx]!;
      if (this.dv.getInt16(vt2, true) !== len) continue;
      let same = true;
      for (let j = 2; j < len; j += 2) {
        if (this.dv.getInt16(this.space + j, true) !== this.dv.getInt16(vt2 + j, true)) {
          same = false;
          break;
        }
      }
      if (same) {
        this.lastShared = idx;
        return this.vtables[idx]!;
      }
    }
    return 0;
  }

  /** Builder.finish without a file identifier; a view of the finished bytes (no copy). */
  finish(root: number): Uint8Array {
    this.prep(this.minalign, 4);
    this.addOffset(root);
    return this.buf.subarray(this.space);
  }
}

/** An upper bound of the bytes an entry takes (strings, tables, vtables, padding). */
function entryBound(e: TocEntry): number {
  let n = 256 + e.name.length + e.linkname.length + e.uname.length + e.gname.length + e.modTime.length + e.type.length;
  for (const [k, v] of e.xattrs) n += 64 + k.length + v.length;
  return n;
}

function writeMetadata(w: FbWriter, e: TocEntry, xoffs: number[]): number {
  const name = w.string(e.name, true);
  const type = w.string(e.type, true);
  const linkname = w.string(e.linkname, true);
  const uname = w.string(e.uname, true);
  const gname = w.string(e.gname, true);
  const modTime = w.string(e.modTime, true);

  // Keys ascending (Go sort.Strings is byte-wise; latin1 strings compare the same way).
  const xattrs = e.xattrs.length > 1 ? [...e.xattrs].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)) : e.xattrs;
  xoffs.length = 0;
  for (let i = 0; i < xattrs.length; i++) {
    const kv = xattrs[i]!;
    const ko = w.string(kv[0], true);
    const vo = w.string(kv[1], true);
    w.startObject(2);
    w.fieldOffset(0, ko);
    w.fieldOffset(1, vo);
    xoffs.push(w.endObject());
  }
  const xvec = w.offsetVector(xoffs, xoffs.length);

  w.startObject(14);
  w.fieldOffset(0, name);
  w.fieldOffset(1, type);
  w.fieldInt64(2, e.offset);
  w.fieldInt64(3, e.size);
  w.fieldOffset(4, linkname);
  w.fieldInt64(5, e.mode);
  w.fieldInt32(6, e.uid | 0);
  w.fieldInt32(7, e.gid | 0);
  w.fieldOffset(8, uname);
  w.fieldOffset(9, gname);
  w.fieldOffset(10, modTime);
  w.fieldInt64(11, e.devmajor);
  w.fieldInt64(12, e.devminor);
  w.fieldOffset(13, xvec);
  return w.endObject();
}

/**
 * Serialises a zTOC to the exact bytes SOCI's `ztocToFlatbuffer` produces. `sizeHint` replaces
 * the computed buffer size (tests pass a tiny one to exercise growth).
 */
export function encodeZtoc(z: Ztoc, sizeHint?: number): Uint8Array {
  const n = z.entries.length;
  let size = 1024 + 3 * (z.version.length + z.buildToolIdentifier.length) + z.checkpoints.length + 80 * z.spanDigests.length;
  for (let i = 0; i < n; i++) size += entryBound(z.entries[i]!);
  const w = new FbWriter(sizeHint ?? size);
  const version = w.string(z.version, false);
  const tool = w.string(z.buildToolIdentifier, false);

  const metas = new Int32Array(n);
  const xoffs: number[] = [];
  for (let i = n - 1; i >= 0; i--) metas[i] = writeMetadata(w, z.entries[i]!, xoffs);
  const metaVec = w.offsetVector(metas, n);
  w.startObject(1);
  w.fieldOffset(0, metaVec);
  const toc = w.endObject();

  const checkpoints = w.bytes(z.checkpoints);
  const digestOffs = z.spanDigests.map((d) => w.string(d, false));
  const digests = w.offsetVector(digestOffs, digestOffs.length);

  w.startObject(4);
  w.fieldInt32(1, z.maxSpanId);
  w.fieldOffset(2, digests);
  w.fieldOffset(3, checkpoints);
  w.fieldInt8(0, z.compression === 'gzip' ? GZIP : UNCOMPRESSED, GZIP);
  const info = w.endObject();

  w.startObject(6);
  w.fieldOffset(0, version);
  w.fieldOffset(1, tool);
  w.fieldOffset(4, toc);
  w.fieldInt64(2, z.compressedArchiveSize);
  w.fieldInt64(3, z.uncompressedArchiveSize);
  w.fieldOffset(5, info);
  return w.finish(w.endObject());
}

/** The nested TarZinfo flatbuffer of an uncompressed layer (soci-format.md §2.7). */
export function encodeTarZinfo(spanSize: number, size: number): Uint8Array {
  const b = new flatbuffers.Builder(64);
  b.startObject(3);
  b.addFieldInt32(0, 2, 0);
  b.addFieldInt64(1, BigInt(spanSize), 0n);
  b.addFieldInt64(2, BigInt(size), 0n);
  b.finish(b.endObject());
  return b.asUint8Array().slice();
}
