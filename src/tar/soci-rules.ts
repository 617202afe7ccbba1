// Owns the rule for which scanned tar archives give a zTOC that SOCI's reader serves correctly: the
// TOC offsets its unmarshal derives, the header check of its first read (fs/reader Verify,
// attrMatchesTarHeader), and the bytes it returns for PAX GNU sparse entries. One rule for .tar and
// .tar.gz layers; docs/tar-rules.md explains each check.

import { ZtocError } from '../errors.js';
import { utf8 } from './bytes.js';
import type { EntryType, LossyField, SparseLayout, TarScanResult, TocEntry } from './types.js';

const BLOCK = 512;

function align(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

function show(e: TocEntry): string {
  return `${JSON.stringify(utf8(e.name))} (${e.type})`;
}

function refuse(e: TocEntry, field: string, why: string, offset = e.headerOffset): ZtocError {
  return new ZtocError('TAR_UNSUPPORTED_ENTRY', `tar entry ${show(e)} at offset ${offset}: ${field} ${why}`, {
    offset,
    offsetKind: 'uncompressed',
    entry: e.name,
  });
}

/**
 * File-type bits of the mode field (as Go's FileInfo().Mode() reads them: the bits above 07777 of
 * uint32(mode), compared whole) and the entry types whose zTOC mode carries the same bits. SOCI's
 * zTOC mode keeps only the permission bits and takes the kind from the entry type.
 */
const MODE_KINDS: ReadonlyMap<number, readonly EntryType[]> = new Map([
  [0o040000, ['dir']],
  [0o010000, ['fifo']],
  [0o120000, ['symlink']],
  [0o060000, ['block', 'char']], // ModeDevice; a char device adds ModeCharDevice to it
  [0o020000, ['char']],
  [0o140000, []], // ModeSocket: no entry type gives it
]);

function modeMatchesType(e: TocEntry): boolean {
  const kinds = MODE_KINDS.get(((e.mode >>> 0) & ~0o7777) >>> 0);
  return kinds === undefined || kinds.includes(e.type);
}

/**
 * The rule, entry by entry as the scanner reports them (nothing is kept but the previous entry).
 * `lossy` and `sparse` are the scanner's lists, which it fills before it reports the entry. The
 * first problem is kept in `failure`; end() adds what only the end of the archive decides.
 */
export class SociReadableCheck {
  private prev: TocEntry | undefined;
  private prevSparse: SparseLayout | undefined;
  private index = 0;
  private li = 0;
  private si = 0;
  failure: ZtocError | undefined;

  constructor(
    private readonly lossy: readonly LossyField[],
    private readonly sparse: readonly SparseLayout[],
  ) {}

  next(e: TocEntry): void {
    if (this.failure === undefined) {
      try {
        this.check(e);
      } catch (err) {
        if (!(err instanceof ZtocError)) throw err;
        this.failure = err;
      }
    }
    this.prev = e;
    this.index++;
  }

  /** At the end of the archive: a sparse entry's trailing hole is readable only when it is the last. */
  end(archiveSize: number): void {
    if (this.failure !== undefined || this.prev === undefined || this.prevSparse === undefined) return;
    try {
      checkSparseTail(this.prev, this.prevSparse, true, archiveSize);
    } catch (err) {
      if (!(err instanceof ZtocError)) throw err;
      this.failure = err;
    }
  }

  private check(e: TocEntry): void {
    const k = this.index;
    const prev = this.prev;
    if (prev !== undefined) {
      if (this.prevSparse !== undefined) checkSparseTail(prev, this.prevSparse, false, 0);
      checkDerivedHeader(prev, e);
    }
    this.prevSparse = undefined;
    // Go keeps a negative base-256 size on a header-only entry; SOCI's reader rejects it.
    if (e.size < 0) {
      throw new ZtocError('TAR_BAD_HEADER', `tar entry ${JSON.stringify(utf8(e.name))} (${e.type}) has a negative size (${e.size}); SOCI's zTOC reader rejects it`, {
        offset: e.headerOffset,
        offsetKind: 'uncompressed',
        entry: e.name,
      });
    }
    const lossy = this.lossy;
    for (; this.li < lossy.length && lossy[this.li]!.index === k; this.li++) {
      const l = lossy[this.li]!;
      throw refuse(
        e,
        l.field,
        `${l.value} (from the header at offset ${l.offset}) does not fit the zTOC's uint32, which holds ${l.field === 'uid' ? e.uid : e.gid}; ` +
          `SOCI's reader fails the first read ("file attributes do not match tar header")`,
      );
    }
    if (e.modTime === '') {
      throw refuse(e, 'mtime', `is outside the years 0-9999, which the zTOC's RFC 3339 text cannot hold; SOCI's reader fails the first read ("file attributes do not match tar header")`);
    }
    if (!modeMatchesType(e)) {
      throw refuse(
        e,
        'mode',
        `0${(e.mode >>> 0).toString(8)} has file-type bits of another kind than the entry type, which the zTOC drops; ` +
          `SOCI's reader fails the first read ("file attributes do not match tar header")`,
      );
    }
    if (this.si < this.sparse.length && this.sparse[this.si]!.index === k) {
      const s = this.sparse[this.si++]!;
      checkSparse(e, s);
      this.prevSparse = s;
    }
  }
}

/**
 * Throws the first reason (in stream order) why SOCI's reader would reject or misread the zTOC of
 * this scan; returns when there is none. TAR_BAD_HEADER for archives that are corrupt, else
 * TAR_UNSUPPORTED_ENTRY (index skips such a layer), naming the entry, the field and its offset.
 */
export function checkSociReadable(scan: TarScanResult): void {
  const c = new SociReadableCheck(scan.lossy, scan.sparse);
  for (const e of scan.entries) c.next(e);
  c.end(scan.archiveSize);
  if (c.failure !== undefined) throw c.failure;
}

/**
 * SOCI's unmarshal derives each entry's header offset as align512(previous offset + previous size).
 * Past the entry's data offset it rejects the whole zTOC (ErrInvalidTOCEntry); anywhere but the
 * entry's real first header, its first read parses the wrong bytes ("error reading tar header",
 * "incorrect tar header size"). Both happen when a header-only entry declares a size.
 */
function checkDerivedHeader(prev: TocEntry, e: TocEntry): void {
  const derived = align(prev.offset + prev.size);
  if (derived > e.offset) {
    throw new ZtocError(
      'TAR_UNSUPPORTED_ENTRY',
      `tar entry ${show(prev)} declares ${prev.size} bytes of data that the next entry ` +
        `${JSON.stringify(utf8(e.name))} overlaps; SOCI's zTOC reader rejects such a TOC (ErrInvalidTOCEntry)`,
      { offset: prev.headerOffset, offsetKind: 'uncompressed', entry: prev.name },
    );
  }
  if (derived !== e.headerOffset) {
    throw refuse(
      prev,
      'size',
      `${prev.size} is not the length of its data in the archive, so SOCI's reader looks for the header of the next entry ` +
        `${show(e)} at offset ${derived} instead of ${e.headerOffset} and fails its first read ("error reading tar header")`,
    );
  }
}

/**
 * SOCI serves a PAX GNU sparse entry as the stored bytes [offset, offset + size): that equals the
 * file Go reads only when no hole lies before stored data, the stored bytes are exactly the
 * fragments, and a hole at the end falls on zero bytes inside the archive (padding, end blocks):
 * checkSparseTail, once it is known whether the entry is the last.
 */
function checkSparse(e: TocEntry, s: SparseLayout): void {
  if (s.holeBeforeData >= 0) {
    throw refuse(
      e,
      'GNU sparse file, PAX record "GNU.sparse.map"',
      `has a hole at byte ${s.holeBeforeData} before stored data; SOCI's reader would serve the stored bytes without the hole`,
    );
  }
  if (s.physicalSize !== s.fragmentBytes) {
    throw new ZtocError(
      'TAR_BAD_HEADER',
      `tar entry ${show(e)} at offset ${e.headerOffset}: its GNU sparse map names ${s.fragmentBytes} bytes of data but ${s.physicalSize} are stored`,
      { offset: e.headerOffset, offsetKind: 'uncompressed', entry: e.name },
    );
  }
}

function checkSparseTail(e: TocEntry, s: SparseLayout, last: boolean, archiveSize: number): void {
  if (s.fragmentBytes === e.size) return;
  if (!last || !s.paddingZero || e.offset + e.size > archiveSize) {
    throw refuse(
      e,
      'GNU sparse file, PAX record "GNU.sparse.map"',
      `ends with a hole of ${e.size - s.fragmentBytes} bytes that SOCI's reader would fill with the bytes after the entry's data, which are not all zero bytes of this archive`,
    );
  }
}
