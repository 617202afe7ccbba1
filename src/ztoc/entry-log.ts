// Owns the TOC entries of a build while it runs: each entry is packed into off-heap bytes the
// moment the tar scanner yields it, so a layer of 100k files keeps no JS objects alive (they die
// young, the V8 heap stays small) and the encoder later copies the strings as bytes. Records are
// appended to 1 MiB chunks and read back last to first, the order the zTOC encoder needs.

import type { TocEntry } from '../tar/types.js';

const CHUNK = 1 << 20;
/** offset, size, mode, devmajor, devminor (float64); uid, gid (uint32). */
export const LOG_FIXED = 5 * 8 + 2 * 4;

/**
 * Record: the fixed fields, then name, type, linkname, uname, gname, modTime and the xattr count
 * followed by key/value pairs (sorted by key), each string as uint32 length + latin1 bytes, then the
 * record's own length (uint32) so that records can be walked backwards.
 */
export class EntryLog {
  private readonly chunks: Buffer[] = [];
  private readonly fills: number[] = [];
  private cur: Buffer = Buffer.alloc(0);
  private fill = 0;
  count = 0;
  xattrs = 0;
  /** Bytes held in records. */
  bytes = 0;

  static from(entries: readonly TocEntry[]): EntryLog {
    const log = new EntryLog();
    for (const e of entries) log.add(e);
    return log;
  }

  add(e: TocEntry): void {
    const x = e.xattrs.length > 1 && !sortedByKey(e.xattrs) ? [...e.xattrs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) : e.xattrs;
    let size = LOG_FIXED + 7 * 4 + 4 + e.name.length + e.type.length + e.linkname.length + e.uname.length + e.gname.length + e.modTime.length;
    for (const [k, v] of x) size += 8 + k.length + v.length;
    if (this.fill + size > this.cur.length) this.next(size);
    const b = this.cur;
    const start = this.fill;
    let p = start;
    b.writeDoubleLE(e.offset, p);
    b.writeDoubleLE(e.size, p + 8);
    b.writeDoubleLE(e.mode, p + 16);
    b.writeDoubleLE(e.devmajor, p + 24);
    b.writeDoubleLE(e.devminor, p + 32);
    b.writeUInt32LE(e.uid >>> 0, p + 40);
    b.writeUInt32LE(e.gid >>> 0, p + 44);
    p = put(b, p + LOG_FIXED, e.name);
    p = put(b, p, e.type);
    p = put(b, p, e.linkname);
    p = put(b, p, e.uname);
    p = put(b, p, e.gname);
    p = put(b, p, e.modTime);
    b.writeUInt32LE(x.length, p);
    p += 4;
    for (const [k, v] of x) p = put(b, put(b, p, k), v);
    b.writeUInt32LE(p - start, p);
    this.fill = p + 4;
    this.count++;
    this.xattrs += x.length;
    this.bytes += size;
  }

  private next(size: number): void {
    if (this.cur.length > 0) {
      this.chunks.push(this.cur);
      this.fills.push(this.fill);
    }
    this.cur = Buffer.allocUnsafe(Math.max(CHUNK, size));
    this.fill = 0;
  }

  /** The chunks in the order `backwards` visits them, each with the end of its last record. */
  chunksBackwards(): Array<[Buffer, number]> {
    const out: Array<[Buffer, number]> = [[this.cur, this.fill]];
    for (let i = this.chunks.length - 1; i >= 0; i--) out.push([this.chunks[i]!, this.fills[i]!]);
    return out;
  }

  /** Calls `f(chunk, recordStart)` for each record, last entry first. */
  backwards(f: (b: Buffer, start: number) => void): void {
    const visit = (b: Buffer, end: number): void => {
      while (end > 0) {
        const len = b.readUInt32LE(end - 4);
        end -= len + 4;
        f(b, end);
      }
    };
    visit(this.cur, this.fill);
    for (let i = this.chunks.length - 1; i >= 0; i--) visit(this.chunks[i]!, this.fills[i]!);
  }
}

function put(b: Buffer, p: number, s: string): number {
  const n = s.length;
  b.writeUInt32LE(n, p);
  p += 4;
  if (n < 24) for (let k = 0; k < n; k++) b[p + k] = s.charCodeAt(k);
  else b.write(s, p, n, 'latin1');
  return p + n;
}

function sortedByKey(x: ReadonlyArray<[string, string]>): boolean {
  for (let i = 1; i < x.length; i++) if (!(x[i - 1]![0] < x[i]![0])) return false;
  return true;
}
