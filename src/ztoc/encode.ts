// Owns zTOC serialisation. The bytes must equal what SOCI's Go marshaler (`ztocToFlatbuffer`)
// writes (soci-format.md §1.2): flatbuffers builds back to front, so call order, alignment padding
// and vtable sharing decide the bytes. FbWriter is a flatbuffers builder cut down to what a zTOC
// needs and made cheap for ~100k entries (no BigInt per int64, latin1 strings written straight
// into the buffer, one allocation sized up front); each step mirrors the flatbuffers Builder call
// it replaces, and the golden tests hold it to SOCI's bytes. The tiny TarZinfo uses the library.
// A build's checkpoint blob is not copied: the zTOC is written around it, in its own memory.

import { ZtocError } from '../errors.js';
import { EncodeStatus, native, type NativeAddon } from '../inflate/native.js';
import { EntryLog, LOG_FIXED } from './entry-log.js';
import type { Ztoc } from './model.js';

/**
 * Checkpoint bytes the zTOC is written around instead of copied (a build's blob: 32 MB at 4 GB of
 * layer, which must exist once). `take` returns them as a view whose ArrayBuffer has at least
 * `before` bytes in front of it and exactly `after` behind it (their content is undefined);
 * `moveDown` is copyWithin inside that ArrayBuffer, and may give back the memory it leaves.
 */
export interface InPlaceBlob {
  take(before: number, after: number): Uint8Array;
  moveDown(buf: Uint8Array, from: number, to: number, length: number): void;
}

/** A zTOC without its entries, which come from an EntryLog; the checkpoints may be an InPlaceBlob. */
export type ZtocHead = Omit<Ztoc, 'entries' | 'checkpoints'> & { checkpoints: Uint8Array | InPlaceBlob };

const GZIP = 1;
const UNCOMPRESSED = 2;
const TWO32 = 4294967296;

/** The flatbuffers Builder steps a zTOC uses, writing back to front into one Buffer. */
class FbWriter {
  private buf: Buffer;
  private dv: DataView;
  private cap: number;
  private space: number;
  /** Nothing is written below this index without growing (the blob lies below it). */
  private floor = 0;
  /** The buffer was replaced by a bigger one. */
  grew = false;
  private minalign = 1;
  private readonly vt = new Int32Array(16);
  private vtInUse = 0;
  private objectStart = 0;
  /** Offsets (from the end) of the vtables written so far; identical vtables are shared. */
  private readonly vtables: number[] = [];
  private lastShared = 0;

  /** A fresh zeroed buffer of `size` bytes, or the bytes [floor, end) of `into` (written from the end down). */
  constructor(size: number, into?: { buffer: ArrayBufferLike; floor: number }) {
    this.buf = into === undefined ? Buffer.alloc(size) : Buffer.from(into.buffer, 0, size);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, size);
    this.cap = size;
    this.space = size;
    this.floor = into?.floor ?? 0;
  }

  /**
   * What is written so far now ends at `end` (the caller moved those bytes there, inside this buffer;
   * offsets count from the end, so nothing in them changes), and may grow down to index 0.
   */
  endAt(end: number): void {
    this.space = end - this.offset();
    this.cap = end;
    this.floor = 0;
  }

  offset(): number {
    return this.cap - this.space;
  }

  /** Builder.prep: zero padding so that `size` is aligned after `additional` more bytes. */
  prep(size: number, additional: number): void {
    if (size > this.minalign) this.minalign = size;
    const align = -(this.cap - this.space + additional) & (size - 1);
    if (this.space - this.floor < align + size + additional) this.grow(align + size + additional);
    // Explicit zeros: a shared vtable's bytes were written here and then dropped.
    for (let i = 0; i < align; i++) this.buf[--this.space] = 0;
  }

  private grow(need: number): void {
    let cap = Math.max(this.cap, 64);
    while (cap - this.offset() < need) cap *= 2;
    const nb = Buffer.alloc(cap);
    nb.set(this.buf.subarray(this.space, this.cap), cap - this.offset());
    this.space = cap - this.offset();
    this.cap = cap;
    this.floor = 0;
    this.grew = true;
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

  /**
   * Builder.createString's layout for n bytes: NUL, padding, the bytes, their length. Returns where
   * the caller puts the bytes, then calls endString.
   */
  private startString(n: number): number {
    // addInt8(0) (its prep(1, 0) never pads), then startVector's prep(4, n).
    if (this.space - this.floor < n + 8) this.grow(n + 8);
    this.buf[--this.space] = 0;
    const align = -(this.cap - this.space + n) & 3;
    for (let i = 0; i < align; i++) this.buf[--this.space] = 0;
    if (this.minalign < 4) this.minalign = 4;
    this.space -= n;
    return this.space;
  }

  private endString(n: number): number {
    this.writeInt32(n);
    return this.offset();
  }

  /** Builder.createString of a JS string (UTF-8). */
  string(s: string): number {
    const n = Buffer.byteLength(s, 'utf8');
    const to = this.startString(n); // may grow (replace) the buffer
    this.buf.write(s, to, n, 'utf8');
    return this.endString(n);
  }

  /** Builder.createString of the bytes src[at, at+n). */
  rawString(src: Buffer, at: number, n: number): number {
    const to = this.startString(n);
    if (n < 24) for (let k = 0; k < n; k++) this.buf[to + k] = src[at + k]!;
    else src.copy(this.buf, to, at, at + n);
    return this.endString(n);
  }

  /** Builder.createByteVector. */
  bytes(v: Uint8Array): number {
    this.prep(4, v.length);
    this.space -= v.length;
    this.buf.set(v, this.space);
    this.writeInt32(v.length);
    return this.offset();
  }

  /** Builder.createByteVector of the n bytes already at buf[at, at + n), which must be where the vector's bytes go. */
  bytesInPlace(at: number, n: number): number {
    this.prep(4, n);
    if (this.space - n !== at) throw new ZtocError('INTERNAL', `zTOC encoder: the checkpoints are at ${at}, their vector at ${this.space - n}`);
    this.space = at;
    this.writeInt32(n);
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
    if (this.space - this.floor < len) this.grow(len);
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

  /**
   * writeMetadata for every log record, last first, into metas: in C (native/ztoc_encode.c, the same
   * steps ~10x faster) by handing this writer's state over and taking it back once per log chunk.
   */
  entriesNative(enc: NativeAddon['encodeEntries'], log: EntryLog, metas: Int32Array, xoffs: number[]): void {
    const st = new Float64Array(5);
    const cursor = new Float64Array(2);
    let vts = new Float64Array(this.vtables.length + 256);
    let mi = metas.length;
    for (const [chunk, fill] of log.chunksBackwards()) {
      cursor[0] = fill;
      for (;;) {
        cursor[1] = mi;
        st.set([this.cap, this.space, this.floor, this.minalign, this.vtables.length]);
        if (vts.length < this.vtables.length + 64) vts = new Float64Array(2 * this.vtables.length + 256);
        for (let k = 0; k < this.vtables.length; k++) vts[k] = this.vtables[k]!;
        const r = enc(this.buf, st, vts, chunk, cursor, metas);
        this.space = st[1]!;
        this.minalign = st[3]!;
        for (let k = this.vtables.length; k < st[4]!; k++) this.vtables.push(vts[k]!);
        mi = cursor[1]!;
        if (r === EncodeStatus.Done) break;
        const end = cursor[0]!;
        const len = chunk.readUInt32LE(end - 4);
        if (r === EncodeStatus.NeedRoom) {
          this.grow(16 * len + 1024); // C's bound for one record is below this
        } else if (r === EncodeStatus.NeedVtables) {
          vts = new Float64Array(2 * vts.length);
        } else if (r === EncodeStatus.OneInJs) {
          metas[--mi] = writeMetadata(this, chunk, end - 4 - len, xoffs);
          cursor[0] = end - 4 - len;
        } else {
          throw new ZtocError('INTERNAL', `zTOC encoder: entry log record damaged before byte ${end} of its chunk`);
        }
      }
    }
    if (mi !== 0) throw new ZtocError('INTERNAL', `zTOC encoder: ${mi} entries not written`);
  }

  /** Builder.finish without a file identifier; a view of the finished bytes (no copy). */
  finish(root: number): Uint8Array {
    this.prep(this.minalign, 4);
    this.addOffset(root);
    return this.buf.subarray(this.space, this.cap);
  }
}

const strs = new Int32Array(6);

/** prepareFileMetadataFlatbuffer for the log record at b[p..]. */
function writeMetadata(w: FbWriter, b: Buffer, p: number, xoffs: number[]): number {
  const offset = b.readDoubleLE(p);
  const size = b.readDoubleLE(p + 8);
  const mode = b.readDoubleLE(p + 16);
  const devmajor = b.readDoubleLE(p + 24);
  const devminor = b.readDoubleLE(p + 32);
  const uid = b.readUInt32LE(p + 40);
  const gid = b.readUInt32LE(p + 44);
  p += LOG_FIXED;
  // name, type, linkname, uname, gname, modTime
  for (let k = 0; k < 6; k++) {
    const n = b.readUInt32LE(p);
    strs[k] = w.rawString(b, p + 4, n);
    p += 4 + n;
  }
  const [name, type, linkname, uname, gname, modTime] = strs as unknown as [number, number, number, number, number, number];

  // Keys ascending (Go sort.Strings is byte-wise): the log keeps them sorted.
  const nx = b.readUInt32LE(p);
  p += 4;
  xoffs.length = 0;
  for (let i = 0; i < nx; i++) {
    const kn = b.readUInt32LE(p);
    const ko = w.rawString(b, p + 4, kn);
    p += 4 + kn;
    const vn = b.readUInt32LE(p);
    const vo = w.rawString(b, p + 4, vn);
    p += 4 + vn;
    w.startObject(2);
    w.fieldOffset(0, ko);
    w.fieldOffset(1, vo);
    xoffs.push(w.endObject());
  }
  const xvec = w.offsetVector(xoffs, xoffs.length);

  w.startObject(14);
  w.fieldOffset(0, name);
  w.fieldOffset(1, type);
  w.fieldInt64(2, offset);
  w.fieldInt64(3, size);
  w.fieldOffset(4, linkname);
  w.fieldInt64(5, mode);
  w.fieldInt32(6, uid | 0);
  w.fieldInt32(7, gid | 0);
  w.fieldOffset(8, uname);
  w.fieldOffset(9, gname);
  w.fieldOffset(10, modTime);
  w.fieldInt64(11, devmajor);
  w.fieldInt64(12, devminor);
  w.fieldOffset(13, xvec);
  return w.endObject();
}

/**
 * Serialises a zTOC to the exact bytes SOCI's `ztocToFlatbuffer` produces. `sizeHint` replaces
 * the computed buffer size (tests pass a tiny one to exercise growth).
 */
export function encodeZtoc(z: Ztoc, sizeHint?: number, encoder: EntryEncoder = 'native'): Uint8Array {
  return encodeZtocFrom(z, EntryLog.from(z.entries), sizeHint, encoder);
}

/** Which code writes the entries: the addon's (when it loads) or this file's. Tests compare them. */
export type EntryEncoder = 'native' | 'js';

let nativeEntries: NativeAddon['encodeEntries'] | null | undefined;

/** The addon's entry encoder, or null when no addon loads (an uncompressed layer needs none). */
function entryEncoder(): NativeAddon['encodeEntries'] | null {
  if (nativeEntries === undefined) {
    try {
      const a = native();
      nativeEntries = typeof a.encodeEntries === 'function' ? a.encodeEntries.bind(a) : null;
    } catch {
      nativeEntries = null;
    }
  }
  return nativeEntries;
}

/**
 * encodeZtoc with the entries taken from a log (the build's path: no entry objects kept). With an
 * InPlaceBlob the zTOC is written into the blob's own memory around it: `sizeHint` then replaces
 * the room reserved behind the blob (tests pass a tiny one to exercise the copying fallback).
 */
export function encodeZtocFrom(z: ZtocHead, log: EntryLog, sizeHint?: number, encoder: EntryEncoder = 'native'): Uint8Array {
  const n = log.count;
  const cp = z.checkpoints;
  // Upper bounds: the head (span digests and the tables in front of the checkpoints) and, for a fresh
  // buffer, the tail (each logged string grows by at most 4 (NUL + padding), plus tables and vtables).
  const head = 1024 + z.spanDigests.reduce((a, d) => a + Buffer.byteLength(d) + 12, 0);
  const strings = 1024 + 3 * (z.version.length + z.buildToolIdentifier.length) + log.bytes;
  if (cp instanceof Uint8Array) {
    const w = new FbWriter(sizeHint ?? head + strings + cp.length + 200 * n + 48 * log.xattrs);
    const tail = writeTail(w, z, log, encoder);
    return writeHead(w, z, tail, w.bytes(cp));
  }
  // In place. The room behind the blob is what the tail typically takes (SOCI's layers: 9-33 bytes
  // per entry beyond the log), not its bound: the tail is written at the room's end and then moved
  // down against the blob, and the room it doesn't use would be touched memory. A tail that doesn't
  // fit grows into a fresh buffer, and the blob is copied after all.
  const after = sizeHint ?? strings + 48 * n + 48 * log.xattrs;
  const blob = cp.take(head, after + 3);
  const at = blob.byteOffset;
  const end = at + blob.length + after + 3;
  const w = new FbWriter(end, { buffer: blob.buffer, floor: at + blob.length + 3 });
  const tail = writeTail(w, z, log, encoder);
  if (w.grew) return writeHead(w, z, tail, w.bytes(blob));
  // The tail ends at `end`; flatbuffers wants it right behind the blob and its padding.
  const t = w.offset();
  const pad = -(t + blob.length) & 3;
  const tailAt = at + blob.length + pad;
  if (tailAt + t !== end) cp.moveDown(blob, end - t, tailAt, t);
  w.endAt(tailAt + t);
  return writeHead(w, z, tail, w.bytesInPlace(at, blob.length));
}

/** Offsets of what writeTail wrote that the root table points at. */
interface Tail {
  version: number;
  tool: number;
  toc: number;
}

/** What SOCI writes before the checkpoints: the strings, the entries last to first, the TOC table. */
function writeTail(w: FbWriter, z: ZtocHead, log: EntryLog, encoder: EntryEncoder): Tail {
  const n = log.count;
  const version = w.string(z.version);
  const tool = w.string(z.buildToolIdentifier);
  const metas = new Int32Array(n);
  const xoffs: number[] = [];
  const enc = encoder === 'native' ? entryEncoder() : null;
  if (enc !== null) {
    w.entriesNative(enc, log, metas, xoffs);
  } else {
    let i = n;
    log.backwards((b, p) => {
      metas[--i] = writeMetadata(w, b, p, xoffs);
    });
  }
  const metaVec = w.offsetVector(metas, n);
  w.startObject(1);
  w.fieldOffset(0, metaVec);
  return { version, tool, toc: w.endObject() };
}

/** What SOCI writes after the checkpoints (at `checkpoints`): the span digests and the tables. */
function writeHead(w: FbWriter, z: ZtocHead, tail: Tail, checkpoints: number): Uint8Array {
  const digestOffs = z.spanDigests.map((d) => w.string(d));
  const digests = w.offsetVector(digestOffs, digestOffs.length);

  w.startObject(4);
  w.fieldInt32(1, z.maxSpanId);
  w.fieldOffset(2, digests);
  w.fieldOffset(3, checkpoints);
  w.fieldInt8(0, z.compression === 'gzip' ? GZIP : UNCOMPRESSED, GZIP);
  const info = w.endObject();

  w.startObject(6);
  w.fieldOffset(0, tail.version);
  w.fieldOffset(1, tail.tool);
  w.fieldOffset(4, tail.toc);
  w.fieldInt64(2, z.compressedArchiveSize);
  w.fieldInt64(3, z.uncompressedArchiveSize);
  w.fieldOffset(5, info);
  return w.finish(w.endObject());
}

/** The nested TarZinfo flatbuffer of an uncompressed layer (soci-format.md §2.7). */
export function encodeTarZinfo(spanSize: number, size: number): Uint8Array {
  // Builder(64).startObject(3); addFieldInt32(0, 2, 0); addFieldInt64(1, spanSize, 0); addFieldInt64(2, size, 0).
  const w = new FbWriter(64);
  w.startObject(3);
  w.fieldInt32(0, 2);
  w.fieldInt64(1, spanSize);
  w.fieldInt64(2, size);
  return w.finish(w.endObject()).slice();
}
