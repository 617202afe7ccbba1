// Owns zTOC parsing: flatbuffer bytes → the Ztoc model, through the flatc-generated accessors.
// Input may be hostile, so every table, vector and string is bounds-checked before the generated
// code reads it (it does not check), and the result is checked against SOCI's reader rules (§7.1).

import * as flatbuffers from 'flatbuffers';
import { ZtocError } from '../errors.js';
import type { TocEntry, EntryType } from '../tar/types.js';
import { CompressionInfo, FileMetadata, TOC, Xattr, Ztoc as FbZtoc } from './generated/ztoc_generated.js';
import { TarZinfo } from './generated/zinfo_generated.js';
import type { Ztoc } from './model.js';

const ENTRY_TYPES: ReadonlySet<string> = new Set(['reg', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo']);

function invalid(msg: string): ZtocError {
  return new ZtocError('ZTOC_INVALID', `invalid zTOC: ${msg}`);
}

/** Bounds checks for the parts of a flatbuffer the generated accessors will dereference. */
class Guard {
  constructor(private readonly bb: flatbuffers.ByteBuffer) {}

  private get size(): number {
    return this.bb.capacity();
  }

  private inRange(pos: number, len: number, what: string): void {
    if (!Number.isInteger(pos) || pos < 0 || len < 0 || pos + len > this.size) throw invalid(`${what} out of bounds`);
  }

  /** A table at `pos`: its vtable and every field slot it declares must lie inside the buffer. */
  table(pos: number, what: string): void {
    this.inRange(pos, 4, what);
    const vt = pos - this.bb.readInt32(pos);
    this.inRange(vt, 4, `${what} vtable`);
    const vtSize = this.bb.readUint16(vt);
    const objSize = this.bb.readUint16(vt + 2);
    if (vtSize < 4 || vtSize % 2 !== 0) throw invalid(`${what} vtable size ${vtSize}`);
    this.inRange(vt, vtSize, `${what} vtable`);
    this.inRange(pos, objSize, what);
    for (let o = 4; o < vtSize; o += 2) {
      const f = this.bb.readUint16(vt + o);
      if (f !== 0 && f >= objSize) throw invalid(`${what} field outside its table`);
    }
  }

  /** Position of the object an offset field points to, or 0 when the field is absent. */
  private target(table: number, vtableOffset: number, what: string): number {
    const f = this.bb.__offset(table, vtableOffset);
    if (f === 0) return 0;
    const loc = table + f;
    this.inRange(loc, 4, what);
    const t = loc + this.bb.readUint32(loc);
    this.inRange(t, 4, what);
    return t;
  }

  /** A vector field: its length prefix and elements must fit. Returns the element count. */
  vector(table: number, vtableOffset: number, elemSize: number, what: string): number {
    const t = this.target(table, vtableOffset, what);
    if (t === 0) return 0;
    const n = this.bb.readUint32(t);
    this.inRange(t + 4, n * elemSize, what);
    return n;
  }

  /** A table-vector: also checks each element table. */
  tableVector(table: number, vtableOffset: number, what: string): void {
    const n = this.vector(table, vtableOffset, 4, what);
    if (n === 0) return;
    const t = this.target(table, vtableOffset, what);
    for (let i = 0; i < n; i++) {
      const loc = t + 4 + i * 4;
      this.table(loc + this.bb.readUint32(loc), `${what}[${i}]`);
    }
  }

  /** A string field (a byte vector; its NUL terminator is not required by readers). */
  string(table: number, vtableOffset: number, what: string): void {
    this.vector(table, vtableOffset, 1, what);
  }

  /** A sub-table field. */
  sub(table: number, vtableOffset: number, what: string): number {
    const t = this.target(table, vtableOffset, what);
    if (t !== 0) this.table(t, what);
    return t;
  }
}

function str(v: string | Uint8Array | null): string {
  if (v === null) return '';
  return typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1');
}

function safe(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw invalid(`${what} out of range`);
  return Number(v);
}

const RAW = flatbuffers.Encoding.UTF8_BYTES;

function decodeEntry(m: FileMetadata, g: Guard, idx: number): TocEntry {
  const pos = m.bb_pos;
  const what = `entry ${idx}`;
  for (const slot of [4, 6, 12, 20, 22, 24]) g.string(pos, slot, what);
  g.tableVector(pos, 30, `${what} xattrs`);
  const type = str(m.type(RAW));
  if (!ENTRY_TYPES.has(type)) throw invalid(`${what} has unknown type ${JSON.stringify(type)}`);
  const xattrs: Array<[string, string]> = [];
  const xa = new Xattr();
  for (let i = 0, n = m.xattrsLength(); i < n; i++) {
    const x = m.xattrs(i, xa)!;
    g.string(x.bb_pos, 4, `${what} xattr key`);
    g.string(x.bb_pos, 6, `${what} xattr value`);
    xattrs.push([str(x.key(RAW)), str(x.value(RAW))]);
  }
  return {
    name: str(m.name(RAW)),
    type: type as EntryType,
    offset: safe(m.uncompressedOffset(), `${what} offset`),
    size: safe(m.uncompressedSize(), `${what} size`),
    linkname: str(m.linkname(RAW)),
    mode: safe(m.mode(), `${what} mode`),
    uid: m.uid() >>> 0,
    gid: m.gid() >>> 0,
    uname: str(m.uname(RAW)),
    gname: str(m.gname(RAW)),
    modTime: str(m.modTime(RAW)),
    devmajor: safe(m.devmajor(), `${what} devmajor`),
    devminor: safe(m.devminor(), `${what} devminor`),
    xattrs,
    headerOffset: -1,
  };
}

/**
 * Parses zTOC bytes. Beyond structural checks it applies SOCI's reader rules: max_span_id
 * matches the digests, and every entry's derived tar header offset is consistent (§3.5).
 */
export function decodeZtoc(bytes: Uint8Array): Ztoc {
  if (bytes.length < 8) throw invalid(`${bytes.length} bytes is too short`);
  const bb = new flatbuffers.ByteBuffer(bytes);
  const g = new Guard(bb);
  const rootPos = bb.readUint32(0);
  g.table(rootPos, 'root');
  const z = FbZtoc.getRootAsZtoc(bb);
  g.string(rootPos, 4, 'version');
  g.string(rootPos, 6, 'build_tool_identifier');
  const tocPos = g.sub(rootPos, 12, 'toc');
  const ciPos = g.sub(rootPos, 14, 'compression_info');
  if (tocPos === 0) throw invalid('missing toc');
  if (ciPos === 0) throw invalid('missing compression_info');
  g.tableVector(tocPos, 4, 'toc.metadata');
  g.vector(ciPos, 8, 4, 'span_digests');
  g.vector(ciPos, 10, 1, 'checkpoints');

  const toc = z.toc(new TOC())!;
  const n = toc.metadataLength();
  const entries: TocEntry[] = new Array<TocEntry>(n);
  const fm = new FileMetadata();
  for (let i = 0; i < n; i++) entries[i] = decodeEntry(toc.metadata(i, fm)!, g, i);

  const ci = z.compressionInfo(new CompressionInfo())!;
  const alg = ci.compressionAlgorithm();
  if (alg !== 1 && alg !== 2) throw invalid(`unknown compression_algorithm ${alg}`);
  const spanDigests: string[] = [];
  const nd = ci.spanDigestsLength();
  for (let i = 0; i < nd; i++) {
    const off = ciPos + bb.__offset(ciPos, 8);
    const vec = off + bb.readUint32(off);
    const loc = vec + 4 + i * 4;
    const sp = loc + bb.readUint32(loc);
    if (sp + 4 > bytes.length || sp + 4 + bb.readUint32(sp) > bytes.length) throw invalid(`span digest ${i} out of bounds`);
    spanDigests.push(str(ci.spanDigests(i, RAW)));
  }
  const maxSpanId = ci.maxSpanId();
  // A plain Uint8Array copy, so the model never aliases (or pins) the caller's buffer.
  const checkpoints = new Uint8Array(ci.checkpointsArray() ?? new Uint8Array(0));
  const result: Ztoc = {
    version: str(z.version(RAW)),
    buildToolIdentifier: str(z.buildToolIdentifier(RAW)),
    compressedArchiveSize: safe(z.compressedArchiveSize(), 'compressed_archive_size'),
    uncompressedArchiveSize: safe(z.uncompressedArchiveSize(), 'uncompressed_archive_size'),
    entries,
    compression: alg === 1 ? 'gzip' : 'uncompressed',
    maxSpanId,
    spanDigests,
    checkpoints,
  };
  checkReaderRules(result);
  return result;
}

/** SOCI's unmarshal-time checks (soci-format.md §3.5, §7.1 items 2 and 4). */
function checkReaderRules(z: Ztoc): void {
  if (z.spanDigests.length !== z.maxSpanId + 1) {
    throw invalid(`max_span_id ${z.maxSpanId} does not match ${z.spanDigests.length} span digests`);
  }
  for (const [i, d] of z.spanDigests.entries()) {
    if (!/^sha256:[0-9a-f]{64}$/.test(d)) throw invalid(`span digest ${i} is not a sha256 digest`);
  }
  const sorted = z.entries.map((e) => e).sort((a, b) => a.offset - b.offset);
  let headerOffset = 0;
  for (const e of sorted) {
    if (e.size < 0 || e.offset < 0) throw invalid(`entry ${JSON.stringify(e.name)} has a negative size or offset`);
    if (headerOffset > e.offset) throw invalid(`entry ${JSON.stringify(e.name)} overlaps the previous entry (ErrInvalidTOCEntry)`);
    e.headerOffset = headerOffset;
    headerOffset = Math.ceil((e.offset + e.size) / 512) * 512;
  }
}

export interface TarZinfoInfo {
  version: number;
  spanSize: number;
  size: number;
}

export function decodeTarZinfo(bytes: Uint8Array): TarZinfoInfo {
  if (bytes.length < 8) throw invalid('TarZinfo too short');
  const bb = new flatbuffers.ByteBuffer(bytes);
  const g = new Guard(bb);
  g.table(bb.readUint32(0), 'TarZinfo');
  const t = TarZinfo.getRootAsTarZinfo(bb);
  return { version: t.version(), spanSize: safe(t.spanSize(), 'span_size'), size: safe(t.size(), 'size') };
}
