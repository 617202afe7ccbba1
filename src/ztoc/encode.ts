// Owns zTOC serialisation. The builder calls follow SOCI's Go marshaler exactly
// (soci-format.md §1.2): flatbuffers builds back to front, so call order decides the bytes.

import * as flatbuffers from 'flatbuffers';
import type { TocEntry } from '../tar/types.js';
import type { Ztoc } from './model.js';

const GZIP = 1;
const UNCOMPRESSED = 2;

/**
 * Tar strings are Go byte strings held as latin1; everything else here is ASCII. Values that repeat
 * across entries (type, owner names, times, link targets, PAX keys) are converted to bytes once.
 */
class StringWriter {
  private readonly cache = new Map<string, Uint8Array>();

  constructor(private readonly b: flatbuffers.Builder) {}

  /** A string unlikely to repeat (a file name). */
  unique(s: string): flatbuffers.Offset {
    return this.b.createString(Buffer.from(s, 'latin1'));
  }

  /** A string likely to repeat. */
  create(s: string): flatbuffers.Offset {
    let bytes = this.cache.get(s);
    if (bytes === undefined) {
      bytes = Buffer.from(s, 'latin1');
      if (this.cache.size < 65536) this.cache.set(s, bytes);
    }
    return this.b.createString(bytes);
  }
}

/** int64 slots: a zero equals the default and is not written, so skip the BigInt for it. */
function addInt64(b: flatbuffers.Builder, slot: number, v: number): void {
  if (v !== 0) b.addFieldInt64(slot, BigInt(v), 0n);
}

function metadataOffset(b: flatbuffers.Builder, w: StringWriter, e: TocEntry): flatbuffers.Offset {
  const name = w.unique(e.name);
  const type = w.create(e.type);
  const linkname = w.create(e.linkname);
  const uname = w.create(e.uname);
  const gname = w.create(e.gname);
  const modTime = w.create(e.modTime);

  // Keys ascending (Go sort.Strings is byte-wise; latin1 strings compare the same way).
  const xattrs = e.xattrs.length > 1 ? [...e.xattrs].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)) : e.xattrs;
  const xoffs: flatbuffers.Offset[] = [];
  for (const [k, v] of xattrs) {
    const ko = w.create(k);
    const vo = w.unique(v);
    b.startObject(2);
    b.addFieldOffset(0, ko, 0);
    b.addFieldOffset(1, vo, 0);
    xoffs.push(b.endObject());
  }
  b.startVector(4, xoffs.length, 4);
  for (let i = xoffs.length - 1; i >= 0; i--) b.addOffset(xoffs[i]!);
  const xvec = b.endVector();

  b.startObject(14);
  b.addFieldOffset(0, name, 0);
  b.addFieldOffset(1, type, 0);
  addInt64(b, 2, e.offset);
  addInt64(b, 3, e.size);
  b.addFieldOffset(4, linkname, 0);
  addInt64(b, 5, e.mode);
  b.addFieldInt32(6, e.uid | 0, 0);
  b.addFieldInt32(7, e.gid | 0, 0);
  b.addFieldOffset(8, uname, 0);
  b.addFieldOffset(9, gname, 0);
  b.addFieldOffset(10, modTime, 0);
  addInt64(b, 11, e.devmajor);
  addInt64(b, 12, e.devminor);
  b.addFieldOffset(13, xvec, 0);
  return b.endObject();
}

/** Serialises a zTOC to the exact bytes SOCI's `ztocToFlatbuffer` produces. */
export function encodeZtoc(z: Ztoc): Uint8Array {
  const b = new flatbuffers.Builder(64 * 1024 + z.checkpoints.length + z.entries.length * 256);
  const version = b.createString(z.version);
  const tool = b.createString(z.buildToolIdentifier);

  const n = z.entries.length;
  const w = new StringWriter(b);
  const metas: flatbuffers.Offset[] = new Array<flatbuffers.Offset>(n);
  for (let i = n - 1; i >= 0; i--) metas[i] = metadataOffset(b, w, z.entries[i]!);
  b.startVector(4, n, 4);
  for (let i = n - 1; i >= 0; i--) b.addOffset(metas[i]!);
  const metaVec = b.endVector();
  b.startObject(1);
  b.addFieldOffset(0, metaVec, 0);
  const toc = b.endObject();

  const checkpoints = b.createByteVector(z.checkpoints);
  const digestOffs = z.spanDigests.map((d) => b.createString(d));
  b.startVector(4, digestOffs.length, 4);
  for (let i = digestOffs.length - 1; i >= 0; i--) b.addOffset(digestOffs[i]!);
  const digests = b.endVector();

  b.startObject(4);
  b.addFieldInt32(1, z.maxSpanId, 0);
  b.addFieldOffset(2, digests, 0);
  b.addFieldOffset(3, checkpoints, 0);
  b.addFieldInt8(0, z.compression === 'gzip' ? GZIP : UNCOMPRESSED, GZIP);
  const info = b.endObject();

  b.startObject(6);
  b.addFieldOffset(0, version, 0);
  b.addFieldOffset(1, tool, 0);
  b.addFieldOffset(4, toc, 0);
  addInt64(b, 2, z.compressedArchiveSize);
  addInt64(b, 3, z.uncompressedArchiveSize);
  b.addFieldOffset(5, info, 0);
  const root = b.endObject();
  b.finish(root);
  // A view of the builder's buffer (sized for the whole zTOC up front): no copy of a large result.
  return b.asUint8Array();
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
