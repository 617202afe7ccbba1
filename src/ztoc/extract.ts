// Owns random-access reads through a zTOC, the way the SOCI snapshotter does them: find the spans
// that hold a file, fetch only those compressed ranges, check each span's digest, restore the
// inflate state at the first span's checkpoint and inflate just what is needed.

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ZtocError } from '../errors.js';
import { CheckpointReader } from '../inflate/reader.js';
import { decodeZinfo, gzipSpans, spanForOffset, type SpanRange } from '../inflate/zinfo.js';
import { utf8, byteString } from '../tar/bytes.js';
import type { TocEntry } from '../tar/types.js';
import { decodeTarZinfo } from './decode.js';
import type { Ztoc } from './model.js';

/** Reads compressed layer bytes [start, end). A file, a layout blob or HTTP Range requests. */
export type RangeReader = (start: number, end: number) => Promise<Uint8Array>;

const OUT_SIZE = 1 << 20;
const PREFETCH = 4;

/** The span table of a zTOC, in compressed and uncompressed coordinates. */
export function spanTable(z: Ztoc): SpanRange[] {
  if (z.compression === 'gzip') {
    const { checkpoints } = decodeZinfo(z.checkpoints);
    if (checkpoints.length !== z.spanDigests.length) {
      throw new ZtocError('ZTOC_INVALID', `${checkpoints.length} checkpoints but ${z.spanDigests.length} span digests`);
    }
    checkCheckpoints(checkpoints, z.compressedArchiveSize);
    return gzipSpans(checkpoints, z.compressedArchiveSize, z.uncompressedArchiveSize);
  }
  const { spanSize, size } = decodeTarZinfo(z.checkpoints);
  if (spanSize <= 0) throw new ZtocError('ZTOC_INVALID', `uncompressed zTOC with span size ${spanSize}`);
  const out: SpanRange[] = [];
  for (let i = 0; i < z.spanDigests.length; i++) {
    const s = i * spanSize;
    const e = Math.min(s + spanSize, size);
    out.push({ compressedStart: s, compressedEnd: e, uncompressedStart: s, uncompressedEnd: e });
  }
  return out;
}

/**
 * Span geometry a reader can trust: the first checkpoint at uncompressed offset 0, offsets that
 * never go backwards, and compressed offsets inside the layer. Anything else would make reads
 * start after the requested offset or fetch ranges that are not spans.
 */
function checkCheckpoints(cps: ReadonlyArray<{ in: number; out: number; bits: number }>, compressedSize: number): void {
  let prevIn = 0;
  let prevOut = 0;
  for (const [i, c] of cps.entries()) {
    if (i === 0 && c.out !== 0) throw new ZtocError('ZTOC_INVALID', `checkpoint 0 is at uncompressed offset ${c.out}, not 0`);
    const start = c.in - (c.bits !== 0 ? 1 : 0);
    if (start < prevIn || c.in > compressedSize || c.out < prevOut) {
      throw new ZtocError('ZTOC_INVALID', `checkpoint ${i} (in=${c.in}, out=${c.out}) is out of order or outside the ${compressedSize}-byte layer`);
    }
    prevIn = c.in;
    prevOut = c.out;
  }
}

/** Fetches span i and checks its digest (soci-format.md §7.1 item 7). */
export async function readSpan(z: Ztoc, spans: SpanRange[], i: number, read: RangeReader): Promise<Uint8Array> {
  const s = spans[i]!;
  const len = s.compressedEnd - s.compressedStart;
  const data = await read(s.compressedStart, s.compressedEnd);
  if (data.length !== len) {
    throw new ZtocError('ZTOC_MISMATCH', `span ${i}: read ${data.length} bytes, expected ${len}`, { offset: s.compressedStart });
  }
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  if (digest !== z.spanDigests[i]) {
    throw new ZtocError('SPAN_DIGEST_MISMATCH', `span ${i} digest ${digest} does not match the zTOC (${z.spanDigests[i]})`, {
      offset: s.compressedStart,
    });
  }
  return data;
}

/** Cleans a path the way the snapshotter names files: no leading "/" or "./", no trailing "/". */
export function cleanName(name: string): string {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return parts.join('/');
}

/** Finds an entry by path (UTF-8), matching cleaned names; the last entry with that name wins, as in tar. */
export function findEntry(z: Ztoc, path: string): TocEntry | undefined {
  const want = cleanName(byteString(path));
  for (let i = z.entries.length - 1; i >= 0; i--) {
    if (cleanName(z.entries[i]!.name) === want) return z.entries[i];
  }
  return undefined;
}

/** Streams the uncompressed bytes [offset, offset+length) of the layer. */
export async function* extractRange(z: Ztoc, offset: number, length: number, read: RangeReader): AsyncGenerator<Uint8Array> {
  if (length <= 0) return;
  const end = offset + length;
  const spans = spanTable(z);
  if (spans.length === 0) throw new ZtocError('ZTOC_INVALID', 'zTOC has no spans');
  const outs = spans.map((s) => ({ out: s.uncompressedStart }));
  const first = spanForOffset(outs, offset);
  const last = spanForOffset(outs, end - 1);
  // Fetch a few spans ahead while inflating the current one.
  const pending = new Map<number, Promise<Uint8Array>>();
  const fetchSpan = (i: number): Promise<Uint8Array> => {
    let p = pending.get(i);
    if (p === undefined) {
      p = readSpan(z, spans, i, read);
      p.catch(() => {});
      pending.set(i, p);
    }
    return p;
  };
  const prefetch = (from: number): void => {
    for (let i = from; i <= Math.min(last, from + PREFETCH - 1); i++) void fetchSpan(i);
  };

  const short = (at: number): ZtocError =>
    new ZtocError('ZTOC_MISMATCH', `the zTOC's spans end at uncompressed offset ${at}, before ${end}: the zTOC does not match the layer`, {
      offset: at,
      offsetKind: 'uncompressed',
    });
  if (z.compression === 'uncompressed') {
    let at = offset;
    for (let i = first; i <= last; i++) {
      prefetch(i);
      const data = await fetchSpan(i);
      pending.delete(i);
      const s = spans[i]!;
      const a = Math.max(offset, s.uncompressedStart) - s.uncompressedStart;
      const b = Math.min(end, s.uncompressedEnd, s.uncompressedStart + data.length) - s.uncompressedStart;
      // Spans must follow each other with no gap: every byte asked for comes from exactly one.
      if (b > a) {
        if (s.uncompressedStart + a !== at) throw short(at);
        yield data.subarray(a, b);
        at = s.uncompressedStart + b;
      }
    }
    if (at !== end) throw short(at);
    return;
  }

  const { checkpoints } = decodeZinfo(z.checkpoints);
  const out = new Uint8Array(OUT_SIZE);
  let pos = spans[first]!.uncompressedStart;
  if (pos > offset) throw short(pos);
  let reader: CheckpointReader | undefined;
  for (let i = first; i <= last && pos < end; i++) {
    prefetch(i);
    const data = await fetchSpan(i);
    pending.delete(i);
    let off = 0;
    if (reader === undefined) {
      reader = new CheckpointReader(checkpoints[i]!, data[0] ?? 0);
    } else if (checkpoints[i]!.bits !== 0) {
      off = 1; // the byte shared with the previous span was already fed
    }
    while (pos < end) {
      let consumed: number;
      let produced: number;
      try {
        [consumed, produced] = reader.inflate(data.subarray(off), out, 0);
      } catch (err) {
        if (err instanceof ZtocError && err.offset === undefined) err.offset = spans[i]!.compressedStart + off;
        throw err;
      }
      off += consumed;
      if (produced > 0) {
        const a = Math.max(offset, pos) - pos;
        const b = Math.min(end, pos + produced) - pos;
        if (b > a) yield out.slice(a, b);
        pos += produced;
      }
      if (consumed === 0 && produced === 0) {
        // Every step must make progress: with span bytes left, a stall means the zTOC is wrong
        // (and going on with the next span would skip those bytes).
        if (off < data.length) {
          throw new ZtocError('ZTOC_MISMATCH', `inflate made no progress at compressed offset ${spans[i]!.compressedStart + off}: the zTOC does not match the layer`, {
            offset: spans[i]!.compressedStart + off,
          });
        }
        break;
      }
    }
  }
  if (pos < end) {
    throw new ZtocError('ZTOC_MISMATCH', `inflate stopped at uncompressed offset ${pos}, before ${end}: the zTOC does not match the layer`, {
      offset: pos,
      offsetKind: 'uncompressed',
    });
  }
}

/** Streams one file's contents. Only regular files have contents; others yield nothing. */
export function extractFile(z: Ztoc, entry: TocEntry, read: RangeReader): AsyncGenerator<Uint8Array> {
  if (entry.type !== 'reg') {
    throw new ZtocError('FILE_NOT_FOUND', `${JSON.stringify(utf8(entry.name))} is a ${entry.type}, not a regular file`);
  }
  return extractRange(z, entry.offset, entry.size, read);
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

/** A RangeReader over a local file; close() when done. */
export async function fileRangeReader(path: string): Promise<{ read: RangeReader; size: number; close(): Promise<void> }> {
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  return {
    size,
    async read(start, end) {
      if (start < 0 || end > size || start > end) {
        throw new ZtocError('ZTOC_MISMATCH', `range ${start}-${end} is outside the ${size}-byte layer`, { offset: start });
      }
      const buf = Buffer.allocUnsafe(end - start);
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    },
    close: () => fh.close(),
  };
}
