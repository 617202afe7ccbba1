// Owns the streaming tar header scanner: fed decompressed bytes in chunks, it reproduces what Go's
// archive/tar Reader.Next() (Go 1.19-1.25) returns to SOCI's TOC builder, entry by entry, with the
// reader position after each Next() (= data offset) and at EOF (= uncompressed archive size).
// Header blocks are parsed in place when a chunk holds them whole; only straddling blocks and PAX /
// GNU long-name bodies are copied.

import { ZtocError } from '../errors.js';
import { byteString, latin1, utf8 } from './bytes.js';
import { GoTimeText, goParseInt, parsePaxTimeInto, type GoTime } from './gotime.js';
import { PaxError, PaxKeyCache, parsePax, type PaxRecords } from './pax.js';
import type { ByteString, EntryType, LossyField, SparseLayout, TarScanResult, TarScannerOptions, TocEntry } from './types.js';

export { byteString, utf8 };
export type { ByteString, EntryType, LossyField, SparseLayout, TarScanResult, TarScannerOptions, TocEntry };

const BLOCK = 512;

// Scanner states.
const S_HEADER = 0; // reading a 512-byte header block
const S_ZERO2 = 1; // read one zero block; reading the next
const S_DATA = 2; // skipping an entry's data
const S_PAD = 3; // skipping padding (EOF here is a clean end, like Go's tryReadFull)
const S_BODY = 4; // collecting an x/g/L/K body
const S_BODY_OVER = 5; // an x/g/L/K body over the limit: Go reads limit+1 bytes, then ErrFieldTooLong
const S_DONE = 6;
const S_SPARSE_MAP = 7; // reading a GNU sparse 1.0 map from the start of an entry's data

// Header formats (Go getFormat).
const F_V7 = 1;
const F_USTAR = 2; // USTAR | PAX
const F_GNU = 3;
const F_STAR = 4;

const TF_REGA = 0x00;
const TF_REG = 0x30; // '0'
const TF_DIR = 0x35; // '5'
const TF_PAX = 0x78; // 'x'
const TF_GLOBAL = 0x67; // 'g'
const TF_LONGNAME = 0x4c; // 'L'
const TF_LONGLINK = 0x4b; // 'K'

const TYPE_NAMES: readonly (EntryType | undefined)[] = [
  'reg', // '0'
  'hardlink', // '1'
  'symlink', // '2'
  'char', // '3'
  'block', // '4'
  'dir', // '5'
  'fifo', // '6'
];

const TYPE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  g: 'pax global header',
  '7': 'contiguous file',
  S: 'GNU sparse file',
  D: 'GNU directory dump',
  V: 'GNU volume header',
  M: 'GNU multi-volume continuation',
  N: 'GNU old long name',
};

/**
 * Go's parser for numeric header fields. err is sticky, like Go's parser.err: callers clear it, parse
 * several fields, then check it once. big holds the exact value of the last base-256 field that
 * numeric() returned as NaN. One per scanner, so scanners share no state.
 */
class NumericParser {
  err = false;
  big = 0n;

  /** Go parser.parseOctal over b[o, o+n): trim spaces/NULs, cut at NUL, digits 0-7 only. */
  octal(b: Uint8Array, o: number, n: number): number {
    let s = o;
    let e = o + n;
    while (s < e && (b[s] === 0x20 || b[s] === 0)) s++;
    while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0)) e--;
    let x = 0;
    for (let k = s; k < e; k++) {
      const c = b[k];
      if (c === 0) break;
      const d = c - 0x30;
      if (d < 0 || d > 7) {
        this.err = true;
        return 0;
      }
      x = x * 8 + d; // at most 12 digits: exact
    }
    return x;
  }

  /**
   * Go parser.parseNumeric: base-256 two's complement if the top bit is set, else octal.
   * A base-256 value that is not a safe JS integer is returned as NaN with the exact value in big.
   */
  numeric(b: Uint8Array, o: number, n: number): number {
    const b0 = b[o];
    if ((b0 & 0x80) === 0) return this.octal(b, o, n);
    const inv = (b0 & 0x40) !== 0 ? 0xff : 0;
    let x = 0n;
    for (let k = 0; k < n; k++) {
      let c = b[o + k] ^ inv;
      if (k === 0) c &= 0x7f;
      if (x >> 56n > 0n) {
        this.err = true; // integer overflow
        return 0;
      }
      x = (x << 8n) | BigInt(c);
    }
    if (x >> 63n > 0n) {
      this.err = true;
      return 0;
    }
    const v = inv !== 0 ? -x - 1n : x;
    const num = Number(v);
    if (Number.isSafeInteger(num)) return num;
    this.big = v;
    return Number.NaN;
  }

  /** The value id32 last read, in decimal, when it does not fit in uint32; else null. */
  wide: string | null = null;

  /** uint32(hdr.Uid) of a numeric field (SOCI's cast); see wide. */
  id32(b: Uint8Array, o: number): number {
    const v = this.numeric(b, o, 8);
    if (Number.isNaN(v)) {
      this.wide = this.big.toString();
      return Number(BigInt.asUintN(32, this.big));
    }
    this.wide = v < 0 || v > 0xffffffff ? String(v) : null;
    return v >>> 0;
  }
}

/** Index of the first NUL in b[o, o+n), or o+n (Go parseString's end). */
function cEnd(b: Uint8Array, o: number, n: number): number {
  const e = o + n;
  let k = o;
  while (k < e && b[k] !== 0) k++;
  return k;
}

function isAsciiRange(b: Uint8Array, s: number, e: number): boolean {
  for (let k = s; k < e; k++) if (b[k] >= 0x80) return false;
  return true;
}

/** Entries without PAX records share this (frozen) empty list. */
const NO_XATTRS = Object.freeze([]) as unknown as Array<[ByteString, ByteString]>;

/**
 * Unsigned byte sum of n <= 128 32-bit words from index i (SWAR: the 16-bit lanes of each
 * accumulator never carry, since 128 x 255 < 2^15).
 */
function wordSum(w: Uint32Array, i: number, n: number): number {
  let a = 0;
  let c = 0;
  for (let k = i, e = i + n; k < e; k++) {
    const x = w[k];
    a += x & 0x00ff00ff;
    c += (x >>> 8) & 0x00ff00ff;
  }
  return (a & 0xffff) + (a >>> 16) + (c & 0xffff) + (c >>> 16);
}

/**
 * Unsigned byte sum of b[o, o+512). w views b's bytes from index w0 (the first 4-byte-aligned
 * one) as words; null when there is no such view.
 */
function blockSum(b: Uint8Array, w: Uint32Array | null, w0: number, o: number): number {
  let u = 0;
  if (w === null) {
    for (let k = o, e = o + BLOCK; k < e; k++) u += b[k];
    return u;
  }
  const head = (w0 - o) & 3; // bytes before the first aligned one
  let k = o;
  for (; k < o + head; k++) u += b[k];
  const n = head === 0 ? 128 : 127;
  u += wordSum(w, (k - w0) >>> 2, n);
  for (k += n * 4; k < o + BLOCK; k++) u += b[k];
  return u;
}

/** Go's signed checksum: the sum of all bytes as int8. */
function signedSum(b: Uint8Array, o: number): number {
  let u = 0;
  for (let k = o, e = o + BLOCK; k < e; k++) u += (b[k] << 24) >> 24;
  return u;
}

/** Link, symlink, char, block, dir, fifo: Go skips no data for them, whatever their size says. */
function isHeaderOnly(tf: number): boolean {
  return tf >= 0x31 && tf <= 0x36;
}

function blockPadding(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

function showType(tf: number): string {
  return tf >= 0x20 && tf < 0x7f ? `'${String.fromCharCode(tf)}'` : `'\\x${tf.toString(16).padStart(2, '0')}'`;
}

function showName(name: ByteString): string {
  return JSON.stringify(utf8(name));
}

/** One header block as Go's readHeader decodes it; its strings stay in the block (prefix bounds only). */
interface RawHeader {
  /** Stream offset of the block. */
  offset: number;
  typeflag: number;
  format: number;
  /** ±Infinity beyond 2^53. */
  size: number;
  /** NaN when beyond 2^53 (refused once the entry is complete, as before). */
  mode: number;
  uid: number;
  gid: number;
  /** The uid/gid in decimal when it does not fit in uint32, else null. */
  uidWide: string | null;
  gidWide: string | null;
  mtime: number;
  devmajor: number;
  devminor: number;
  prefixStart: number;
  prefixEnd: number;
}

/** A file entry's fields after mergePAX, the GNU long name/link and TypeRegA. */
interface EntryDraft {
  name: ByteString;
  linkname: ByteString;
  uname: ByteString;
  gname: ByteString;
  typeflag: number;
  size: number;
  uid: number;
  gid: number;
  uidWide: string | null;
  gidWide: string | null;
  /** Offsets of the headers uid and gid came from. */
  uidOffset: number;
  gidOffset: number;
  sec: number;
  nsec: number;
  xattrs: Array<[ByteString, ByteString]>;
  /** First GNU.sparse.* PAX key, or null. */
  sparseKey: string | null;
}

/** A small cache for header strings that repeat (uname, gname): compares raw bytes, not strings. */
class FieldCache {
  private readonly raw = new Uint8Array(32);
  private len = -1;
  private str = '';

  get(b: Uint8Array, o: number, n: number): string {
    const e = cEnd(b, o, n);
    const len = e - o;
    if (len === this.len) {
      let k = 0;
      while (k < len && this.raw[k] === b[o + k]) k++;
      if (k === len) return this.str;
    }
    const s = latin1(b, o, e);
    if (len <= this.raw.length) {
      for (let k = 0; k < len; k++) this.raw[k] = b[o + k];
      this.len = len;
      this.str = s;
    }
    return s;
  }
}

export class TarScanner {
  private readonly maxEntries: number;
  private readonly maxSpecial: number;
  private readonly onEntry: ((e: TocEntry) => void) | undefined;
  private readonly entries: TocEntry[] = [];
  private count = 0;
  /** uid/gid values the zTOC can't hold, as entries are scanned (also in end()'s result). */
  readonly lossy: LossyField[] = [];
  /** Layouts of the PAX GNU sparse entries, as they are scanned (also in end()'s result). */
  readonly sparse: SparseLayout[] = [];

  private state = S_HEADER;
  /** Uncompressed offset of the next byte not yet consumed (a straddling header block counts once whole). */
  private pos = 0;
  private readonly blk = new Uint8Array(BLOCK);
  private readonly blk32 = new Uint32Array(this.blk.buffer);
  private fill = 0;
  private remaining = 0;
  private padAfter = 0;

  /** headerOffset of the entry being assembled (first meta header after the previous entry). */
  private entryStart = 0;
  /** For truncation messages: the header whose data/body is being read. */
  private curHeader = 0;
  private curName: ByteString = '';

  // Pending meta-header state of Go's next() loop.
  private metaType = 0;
  private metaSize = 0;
  private metaName: ByteString = '';
  private body = new Uint8Array(0);
  private bodyFill = 0;
  private pax: PaxRecords | null = null;
  private paxOffset = 0;
  private longName: ByteString = '';
  private longLink: ByteString = '';

  // A GNU sparse 1.0 map being read from the entry's data (Go readGNUSparseMap1x0).
  private mapBuf = new Uint8Array(0);
  private mapFill = 0;
  private mapNewlines = 0;
  /** Number of map entries once the first token was read, else -1. */
  private mapCount = -1;
  /** The entry's whole data section (map included) and its padding. */
  private sparseSection = 0;
  /** The sparse entry whose padding is being checked for zero bytes. */
  private padWatch: SparseLayout | null = null;

  // Per-scanner parsing state and scratch (nothing is shared between scanners).
  private readonly num = new NumericParser();
  private readonly hdr: RawHeader = {
    offset: 0,
    typeflag: 0,
    format: 0,
    size: 0,
    mode: 0,
    uid: 0,
    gid: 0,
    uidWide: null,
    gidWide: null,
    mtime: 0,
    devmajor: 0,
    devminor: 0,
    prefixStart: 0,
    prefixEnd: 0,
  };
  private readonly draft: EntryDraft = {
    name: '',
    linkname: '',
    uname: '',
    gname: '',
    typeflag: 0,
    size: 0,
    uid: 0,
    gid: 0,
    uidWide: null,
    gidWide: null,
    uidOffset: 0,
    gidOffset: 0,
    sec: 0,
    nsec: 0,
    xattrs: NO_XATTRS,
    sparseKey: null,
  };
  /** Room for a 155-byte prefix, '/', and a 100-byte name. */
  private readonly nameScratch = new Uint8Array(256);
  private readonly paxKeys = new PaxKeyCache();
  private readonly paxTime: GoTime = { sec: 0, nsec: 0 };
  private readonly timeFormat = new GoTimeText();
  private readonly unameCache = new FieldCache();
  private readonly gnameCache = new FieldCache();
  private lastSec = Number.NaN;
  private lastNsec = 0;
  private lastTimeText = '';

  private failure: ZtocError | null = null;
  private result: TarScanResult | null = null;

  constructor(opts: TarScannerOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000_000;
    this.maxSpecial = opts.maxSpecialFileSize ?? 1 << 20;
    this.onEntry = opts.onEntry;
    if (!(this.maxEntries >= 0) || !(this.maxSpecial >= 0)) {
      throw new ZtocError('INVALID_ARGUMENT', 'TarScanner limits must be non-negative numbers');
    }
  }

  /** True once end-of-archive was reached; later bytes are ignored. */
  get finished(): boolean {
    return this.state === S_DONE;
  }

  /** Feed decompressed bytes buf[start, end). The bytes are not retained after the call. */
  push(buf: Uint8Array, start = 0, end: number = buf.length): void {
    if (this.failure !== null) throw this.failure;
    if (this.state === S_DONE) return;
    if (!(start >= 0 && start <= end && end <= buf.length)) {
      throw new ZtocError('INVALID_ARGUMENT', `bad range [${start}, ${end}) for a ${buf.length}-byte buffer`);
    }
    // A word view of the chunk for the SWAR checksum, from its first 4-byte-aligned byte (not kept).
    const w0 = (4 - (buf.byteOffset & 3)) & 3;
    const w = end - start >= BLOCK ? new Uint32Array(buf.buffer, buf.byteOffset + w0, (buf.length - w0) >>> 2) : null;
    try {
      this.run(buf, w, w0, start, end);
    } catch (err) {
      if (err instanceof ZtocError) this.failure = err;
      throw err;
    }
  }

  /** The stream ended: return the entries and archive size, or throw if it ended mid-archive. */
  end(): TarScanResult {
    if (this.failure !== null) throw this.failure;
    if (this.result !== null) return this.result;
    let err: ZtocError | null = null;
    switch (this.state) {
      case S_HEADER:
      case S_ZERO2:
        if (this.fill !== 0) {
          err = this.truncated(
            `tar stream truncated: ${this.fill} of 512 bytes of a header block at offset ${this.pos}`,
            this.pos,
          );
        }
        break;
      case S_DATA:
        err = this.truncated(
          `tar stream truncated inside the data of ${showName(this.curName)} (header at offset ${this.curHeader}, ` +
            (Number.isFinite(this.remaining) ? `${this.remaining} bytes missing)` : 'size beyond 2^53 bytes)'),
          this.curHeader,
          this.curName,
        );
        break;
      case S_SPARSE_MAP:
        err = this.mapTruncated();
        break;
      case S_BODY:
      case S_BODY_OVER:
        err = this.truncated(
          `tar stream truncated inside the body of a ${showType(this.metaType)} header at offset ${this.curHeader}`,
          this.curHeader,
        );
        break;
      default:
        break; // S_PAD: EOF in padding is a clean end for Go; S_DONE: already finished
    }
    if (err !== null) {
      this.failure = err;
      throw err;
    }
    return this.finish();
  }

  private finish(): TarScanResult {
    this.state = S_DONE;
    this.result = { entries: this.entries, archiveSize: this.pos, lossy: this.lossy, sparse: this.sparse };
    return this.result;
  }

  private truncated(message: string, offset: number, entry?: ByteString): ZtocError {
    return new ZtocError('TAR_TRUNCATED', message, {
      offset,
      offsetKind: 'uncompressed',
      ...(entry !== undefined && entry !== '' ? { entry } : {}),
    });
  }

  private bad(reason: string, offset: number, entry?: ByteString): ZtocError {
    return new ZtocError('TAR_BAD_HEADER', `invalid tar header at offset ${offset}: ${reason}`, {
      offset,
      offsetKind: 'uncompressed',
      ...(entry !== undefined && entry !== '' ? { entry } : {}),
    });
  }

  private unsupported(what: string, name: ByteString, offset: number): ZtocError {
    return new ZtocError('TAR_UNSUPPORTED_ENTRY', `unsupported tar entry ${what} ${showName(name)} at offset ${offset}`, {
      offset,
      offsetKind: 'uncompressed',
      entry: name,
    });
  }

  private run(b: Uint8Array, w: Uint32Array | null, w0: number, i: number, end: number): void {
    while (i < end) {
      switch (this.state) {
        case S_HEADER:
        case S_ZERO2: {
          if (this.fill === 0 && end - i >= BLOCK) {
            this.block(b, i, blockSum(b, w, w0, i));
            i += BLOCK;
          } else {
            const n = Math.min(BLOCK - this.fill, end - i);
            const blk = this.blk;
            for (let k = 0; k < n; k++) blk[this.fill + k] = b[i + k];
            this.fill += n;
            i += n;
            if (this.fill === BLOCK) {
              this.fill = 0;
              this.block(blk, 0, wordSum(this.blk32, 0, 128));
            }
          }
          break;
        }
        case S_DATA:
        case S_PAD: {
          const n = Math.min(this.remaining, end - i);
          if (this.padWatch !== null && this.state === S_PAD) {
            for (let k = i; k < i + n; k++) if (b[k] !== 0) this.padWatch.paddingZero = false;
          }
          i += n;
          this.pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            if (this.state === S_DATA && this.padAfter > 0) {
              this.state = S_PAD;
              this.remaining = this.padAfter;
            } else {
              this.state = S_HEADER;
              this.padWatch = null;
            }
          }
          break;
        }
        case S_SPARSE_MAP: {
          const fill = this.mapFill;
          if (fill % BLOCK === 0) this.mapBlockStart();
          const n = Math.min(BLOCK - (fill % BLOCK), end - i);
          this.mapBuf.set(b.subarray(i, i + n), fill);
          this.mapFill = fill + n;
          this.remaining -= n;
          this.pos += n;
          i += n;
          if (this.mapFill % BLOCK === 0) this.mapBlockDone();
          break;
        }
        case S_BODY: {
          const need = this.remaining;
          if (this.bodyFill === 0 && end - i >= need) {
            this.metaDone(b, i, i + need);
            i += need;
          } else {
            const n = Math.min(need, end - i);
            if (this.bodyFill === 0 && this.body.length < this.metaSize) {
              this.body = new Uint8Array(Math.max(this.metaSize, Math.min(2 * this.body.length, this.maxSpecial)));
            }
            this.body.set(b.subarray(i, i + n), this.bodyFill);
            this.bodyFill += n;
            this.remaining -= n;
            this.pos += n;
            i += n;
            if (this.remaining > 0) break;
            this.pos -= this.metaSize; // metaDone accounts for the whole body
            this.metaDone(this.body, 0, this.metaSize);
          }
          break;
        }
        case S_BODY_OVER: {
          const n = Math.min(this.remaining, end - i);
          i += n;
          this.pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            throw new ZtocError(
              'TAR_LIMIT',
              `tar ${showType(this.metaType)} header at offset ${this.curHeader} has a ${this.metaSize}-byte body; ` +
                `the limit is ${this.maxSpecial} bytes`,
              { offset: this.curHeader, offsetKind: 'uncompressed' },
            );
          }
          break;
        }
        default:
          return; // S_DONE: ignore trailing bytes
      }
    }
  }

  /** A complete x/g/L/K body is at b[s, e). */
  private metaDone(b: Uint8Array, s: number, e: number): void {
    const t = this.metaType;
    const off = this.curHeader;
    if (t === TF_LONGNAME) {
      this.longName = latin1(b, s, cEnd(b, s, e - s));
    } else if (t === TF_LONGLINK) {
      this.longLink = latin1(b, s, cEnd(b, s, e - s));
    } else {
      let recs: PaxRecords;
      try {
        recs = parsePax(b, s, e, this.paxKeys);
      } catch (err) {
        if (err instanceof PaxError) throw this.bad(err.message, off);
        throw err;
      }
      if (t === TF_GLOBAL) {
        const path = recs.find(([k]) => k === 'path')?.[1];
        const name = path !== undefined && path !== '' ? path : this.metaName;
        throw this.unsupported(`type 'g' (pax global header)`, name, off);
      }
      this.pax = recs; // replaces any earlier 'x' records
      this.paxOffset = off;
    }
    this.pos += e - s;
    this.bodyFill = 0;
    this.enterSkip(0, this.padAfter);
  }

  /** Skip nb data bytes then pad bytes. */
  private enterSkip(nb: number, pad: number): void {
    if (nb > 0) {
      this.state = S_DATA;
      this.remaining = nb;
      this.padAfter = pad;
    } else if (pad > 0) {
      this.state = S_PAD;
      this.remaining = pad;
    } else {
      this.state = S_HEADER;
    }
  }

  /** Go readHeader + the body of next()'s loop, for the block at b[o, o+512) (stream offset this.pos). */
  private block(b: Uint8Array, o: number, u: number): void {
    const hoff = this.pos;
    this.pos += BLOCK;
    if (this.state === S_ZERO2) {
      if (u !== 0) throw this.bad('zero block followed by a non-zero block', hoff);
      this.finish();
      return;
    }
    if (u === 0) {
      this.state = S_ZERO2;
      return;
    }
    const h = this.decodeHeader(b, o, u, hoff);
    this.curHeader = hoff;
    const tf = h.typeflag;
    if (tf === TF_PAX || tf === TF_GLOBAL || tf === TF_LONGNAME || tf === TF_LONGLINK) {
      this.beginMeta(b, o, h);
      return;
    }
    this.mergeEntry(b, o, h);
    this.emitEntry(h);
  }

  /**
   * Go readHeader (getFormat, the V7/USTAR/GNU/STAR fields) and handleRegularFile on the raw header,
   * into this.hdr. Strings stay in the block; only their bounds are kept.
   */
  private decodeHeader(b: Uint8Array, o: number, u: number, hoff: number): RawHeader {
    const num = this.num;
    // getFormat: checksum, counting the checksum field as spaces; unsigned or signed sums.
    let f = 0;
    let fSigned = 0;
    for (let k = o + 148; k < o + 156; k++) {
      f += b[k];
      fSigned += (b[k] << 24) >> 24;
    }
    num.err = false;
    const chk = num.octal(b, o + 148, 8);
    if (num.err || (chk !== u - f + 256 && chk !== signedSum(b, o) - fSigned + 256)) {
      throw this.bad('bad checksum', hoff);
    }
    let format = F_V7;
    if (b[o + 257] === 0x75 && b[o + 258] === 0x73 && b[o + 259] === 0x74 && b[o + 260] === 0x61 && b[o + 261] === 0x72) {
      const m5 = b[o + 262];
      if (m5 === 0) {
        format = b[o + 508] === 0x74 && b[o + 509] === 0x61 && b[o + 510] === 0x72 && b[o + 511] === 0 ? F_STAR : F_USTAR;
      } else if (m5 === 0x20 && b[o + 263] === 0x20 && b[o + 264] === 0) {
        format = F_GNU;
      }
    }

    // V7 fields (Go parses all of them for every header; any numeric error is ErrHeader).
    const h = this.hdr;
    h.offset = hoff;
    h.typeflag = b[o + 156];
    h.format = format;
    num.err = false;
    h.size = num.numeric(b, o + 124, 12);
    if (Number.isNaN(h.size)) h.size = num.big < 0n ? -Infinity : Infinity; // beyond 2^53: only its sign matters
    h.mode = num.numeric(b, o + 100, 8);
    h.uid = num.id32(b, o + 108);
    h.uidWide = num.wide;
    h.gid = num.id32(b, o + 116);
    h.gidWide = num.wide;
    h.mtime = num.numeric(b, o + 136, 12);
    h.devmajor = 0;
    h.devminor = 0;
    h.prefixStart = 0;
    h.prefixEnd = 0;
    if (format !== F_V7) {
      h.devmajor = num.numeric(b, o + 329, 8);
      h.devminor = num.numeric(b, o + 337, 8);
      if (format === F_USTAR) {
        h.prefixStart = o + 345;
        h.prefixEnd = cEnd(b, h.prefixStart, 155);
      } else if (format === F_STAR) {
        h.prefixStart = o + 345;
        h.prefixEnd = cEnd(b, h.prefixStart, 131);
        num.numeric(b, o + 476, 12); // atime
        num.numeric(b, o + 488, 12); // ctime
      } else {
        // GNU: atime/ctime parsed skeptically; on failure fall back to the pre-Go1.8 USTAR prefix.
        const saved = num.err;
        num.err = false;
        if (b[o + 345] !== 0) num.numeric(b, o + 345, 12);
        if (b[o + 357] !== 0) num.numeric(b, o + 357, 12);
        if (num.err) {
          const e = cEnd(b, o + 345, 155);
          if (isAsciiRange(b, o + 345, e)) {
            h.prefixStart = o + 345;
            h.prefixEnd = e;
          }
        }
        num.err = saved;
      }
    }
    if (num.err) throw this.bad('invalid numeric field', hoff);

    // handleRegularFile on the raw header.
    if (!isHeaderOnly(h.typeflag) && h.size < 0) throw this.bad('negative size', hoff);
    return h;
  }

  /** An x/g/L/K header: read its body next (metaDone takes it from there). */
  private beginMeta(b: Uint8Array, o: number, h: RawHeader): void {
    const tf = h.typeflag;
    const size = h.size;
    this.metaType = tf;
    this.metaName = tf === TF_GLOBAL ? this.headerName(b, o, h) : '';
    if (!(size <= this.maxSpecial)) {
      this.metaSize = size;
      this.state = S_BODY_OVER;
      this.remaining = this.maxSpecial + 1;
    } else if (size === 0) {
      this.metaSize = 0;
      this.padAfter = 0;
      this.metaDone(b, o, o); // empty body
    } else {
      this.metaSize = size;
      this.state = S_BODY;
      this.remaining = size;
      this.bodyFill = 0;
      this.padAfter = blockPadding(size);
    }
  }

  /**
   * A file entry's header fields, then Go's mergePAX over the pending 'x' records, the GNU long
   * name/link, and TypeRegA, into this.draft.
   */
  private mergeEntry(b: Uint8Array, o: number, h: RawHeader): void {
    const d = this.draft;
    d.name = this.headerName(b, o, h);
    d.linkname = b[o + 157] === 0 ? '' : latin1(b, o + 157, cEnd(b, o + 157, 100));
    if (h.format !== F_V7) {
      d.uname = this.unameCache.get(b, o + 265, 32);
      d.gname = this.gnameCache.get(b, o + 297, 32);
    } else {
      d.uname = '';
      d.gname = '';
    }
    d.size = h.size;
    d.uid = h.uid;
    d.gid = h.gid;
    d.uidWide = h.uidWide;
    d.gidWide = h.gidWide;
    d.uidOffset = h.offset;
    d.gidOffset = h.offset;
    d.sec = h.mtime;
    d.nsec = 0;
    d.xattrs = NO_XATTRS;
    d.sparseKey = null;
    const pax = this.pax;
    if (pax !== null) {
      this.mergePax(d, pax);
      d.xattrs = pax; // the records become the entry's list
      sortByKey(d.xattrs);
    }
    if (this.longName !== '') d.name = this.longName;
    if (this.longLink !== '') d.linkname = this.longLink;
    let t = h.typeflag;
    if (t === TF_REGA) t = d.name.endsWith('/') ? TF_DIR : TF_REG;
    d.typeflag = t;
  }

  /** Go mergePAX: records with a value override the header fields (errors name the 'x' header). */
  private mergePax(d: EntryDraft, pax: PaxRecords): void {
    const poff = this.paxOffset;
    for (const [k, v] of pax) {
      if (k.startsWith('GNU.sparse.')) d.sparseKey ??= k;
      if (v === '') continue; // keep the header value
      switch (k) {
        case 'path':
          d.name = v;
          break;
        case 'linkpath':
          d.linkname = v;
          break;
        case 'uname':
          d.uname = v;
          break;
        case 'gname':
          d.gname = v;
          break;
        case 'uid':
        case 'gid': {
          const id = goParseInt(v);
          if (id === null) throw this.bad(`bad PAX ${k} ${JSON.stringify(v)}`, poff);
          const u32 = typeof id === 'bigint' ? Number(BigInt.asUintN(32, id)) : id >>> 0;
          const wide = typeof id === 'bigint' || id < 0 || id > 0xffffffff ? String(id) : null;
          if (k === 'uid') {
            d.uid = u32;
            d.uidWide = wide;
            d.uidOffset = poff;
          } else {
            d.gid = u32;
            d.gidWide = wide;
            d.gidOffset = poff;
          }
          break;
        }
        case 'mtime':
        case 'atime':
        case 'ctime': {
          const t = this.paxTime;
          if (!parsePaxTimeInto(v, t)) throw this.bad(`bad PAX ${k} ${JSON.stringify(v)}`, poff);
          if (k === 'mtime') {
            d.sec = t.sec;
            d.nsec = t.nsec;
          }
          break;
        }
        case 'size': {
          const n = goParseInt(v);
          if (n === null) throw this.bad(`bad PAX size ${JSON.stringify(v)}`, poff);
          d.size = typeof n === 'bigint' ? (n < 0n ? -Infinity : Infinity) : n;
          break;
        }
        default:
          break;
      }
    }
  }

  /** handleRegularFile again on the merged entry, then Go's handleSparseFile, then pushEntry. */
  private emitEntry(h: RawHeader): void {
    const d = this.draft;
    const ho = isHeaderOnly(d.typeflag);
    if (!ho && d.size < 0) throw this.bad(`negative size for ${showName(d.name)}`, h.offset, d.name);
    const section = ho ? 0 : d.size;
    const pax = this.pax;
    if (d.sparseKey !== null && pax !== null) {
      const version = sparseVersion(pax);
      if (version !== SPARSE_NONE) {
        this.sparseHeaders(h, pax);
        if (version === SPARSE_1_0) {
          this.beginSparseMap(section);
          return;
        }
        this.sparseDone(h, sparseMap0x(pax), section, 0);
        return;
      }
    }
    this.pushEntry(h, section, blockPadding(section), null);
  }

  /** Go readGNUSparsePAXHeaders: GNU.sparse.name and the logical size (GNU.sparse.size or .realsize). */
  private sparseHeaders(h: RawHeader, pax: PaxRecords): void {
    const d = this.draft;
    const name = paxValue(pax, 'GNU.sparse.name');
    if (name !== '') d.name = name;
    let size = paxValue(pax, 'GNU.sparse.size');
    if (size === '') size = paxValue(pax, 'GNU.sparse.realsize');
    if (size === '') return;
    const n = goParseInt(size);
    if (n === null) throw this.bad(`bad GNU sparse size ${JSON.stringify(size)} for ${showName(d.name)}`, h.offset, d.name);
    if (typeof n === 'bigint') throw this.bad(`GNU sparse size of ${showName(d.name)} out of range`, h.offset, d.name);
    d.size = n;
  }

  /** A GNU sparse 1.0 entry: its map comes first in its data section, in whole blocks. */
  private beginSparseMap(section: number): void {
    this.sparseSection = section;
    this.remaining = section;
    this.mapFill = 0;
    this.mapNewlines = 0;
    this.mapCount = -1;
    this.state = S_SPARSE_MAP;
    this.mapBlockStart();
  }

  /** Before a map block: Go's mustReadFull fails when the data section ends inside it. */
  private mapBlockStart(): void {
    if (this.remaining < BLOCK) throw this.mapTruncated();
    if (this.mapFill + BLOCK > this.maxSpecial) {
      throw new ZtocError('TAR_LIMIT', `the GNU sparse map of ${showName(this.draft.name)} (header at offset ${this.hdr.offset}) is over ${this.maxSpecial} bytes`, {
        offset: this.hdr.offset,
        offsetKind: 'uncompressed',
        entry: this.draft.name,
      });
    }
    if (this.mapBuf.length < this.mapFill + BLOCK) {
      const grown = new Uint8Array(Math.max(4 * BLOCK, 2 * this.mapBuf.length));
      grown.set(this.mapBuf.subarray(0, this.mapFill));
      this.mapBuf = grown;
    }
  }

  private mapTruncated(): ZtocError {
    const name = this.draft.name;
    return this.truncated(`tar stream truncated inside the GNU sparse map of ${showName(name)} (header at offset ${this.hdr.offset})`, this.hdr.offset, name);
  }

  /** A whole map block arrived: Go's feedTokens reads blocks until it has the newlines it needs. */
  private mapBlockDone(): void {
    const b = this.mapBuf;
    for (let k = this.mapFill - BLOCK; k < this.mapFill; k++) if (b[k] === 0x0a) this.mapNewlines++;
    const h = this.hdr;
    const name = this.draft.name;
    if (this.mapCount < 0) {
      if (this.mapNewlines < 1) return;
      const n = goParseInt(latin1(b, 0, b.indexOf(0x0a)));
      if (n === null || n < 0 || typeof n === 'bigint') throw this.bad(`bad GNU sparse map for ${showName(name)}`, h.offset, name);
      this.mapCount = n;
    }
    if (this.mapNewlines - 1 < 2 * this.mapCount) return;
    const tokens = latin1(b, 0, this.mapFill).split('\n', 1 + 2 * this.mapCount);
    this.sparseDone(h, sparsePairs(tokens, 1), this.remaining, this.sparseSection - this.remaining);
  }

  /**
   * Go validateSparseEntries, then the entry: its data offset is after the map, its size the logical
   * size; physical bytes of stored fragments follow. The layout goes to the readability rules.
   */
  private sparseDone(h: RawHeader, map: number[] | null, physical: number, mapBytes: number): void {
    const d = this.draft;
    if (map === null) throw this.bad(`bad GNU sparse map for ${showName(d.name)}`, h.offset, d.name);
    if (isHeaderOnly(d.typeflag) || !validSparse(map, d.size)) {
      throw this.bad(`GNU sparse map of ${showName(d.name)} does not fit its size`, h.offset, d.name);
    }
    let fragmentBytes = 0;
    let holeBeforeData = -1;
    for (let k = 0; k < map.length; k += 2) {
      const off = map[k]!;
      const len = map[k + 1]!;
      if (len === 0) continue;
      if (off !== fragmentBytes && holeBeforeData < 0) holeBeforeData = fragmentBytes;
      fragmentBytes += len;
    }
    const pad = blockPadding(physical + mapBytes);
    const layout: SparseLayout = { index: this.count, physicalSize: physical, fragmentBytes, holeBeforeData, paddingZero: true };
    if (this.pushEntry(h, physical, pad, layout) && pad > 0) this.padWatch = layout;
  }

  /**
   * Checks the entry as SOCI's getType and our limits do, records it, and skips `skip` data bytes
   * and `pad` padding. Returns false when the entry cannot be recorded (its size is beyond 2^53).
   */
  private pushEntry(h: RawHeader, skip: number, pad: number, sparse: SparseLayout | null): boolean {
    const d = this.draft;
    const hoff = h.offset;
    const name = d.name;
    const t = d.typeflag;
    const esize = d.size;
    const type = t >= TF_REG && t <= 0x36 ? TYPE_NAMES[t - TF_REG] : undefined;
    if (type === undefined) {
      const c = String.fromCharCode(t);
      const what = TYPE_DESCRIPTIONS[c] ?? (t >= 0x41 && t <= 0x5a ? 'vendor extension' : 'unknown type');
      throw this.unsupported(`type ${showType(t)} (${what})`, name, hoff);
    }
    if (!Number.isFinite(esize) || !Number.isFinite(skip)) {
      if (isHeaderOnly(t)) throw this.bad(`size of ${showName(name)} out of range`, hoff, name);
      // Go would return the entry and then fail skipping 2^53+ bytes of data: unexpected EOF.
      this.curName = name;
      this.enterSkip(Infinity, 0);
      return false;
    }
    if (Number.isNaN(h.mode) || Number.isNaN(h.devmajor) || Number.isNaN(h.devminor)) {
      throw this.bad(`mode or device number of ${showName(name)} out of range`, hoff, name);
    }
    const index = this.count;
    if (index >= this.maxEntries) {
      throw new ZtocError('TAR_LIMIT', `tar archive has more than ${this.maxEntries} entries`, {
        offset: hoff,
        offsetKind: 'uncompressed',
        entry: name,
      });
    }
    if (d.uidWide !== null) this.lossy.push({ index, field: 'uid', value: d.uidWide, offset: d.uidOffset });
    if (d.gidWide !== null) this.lossy.push({ index, field: 'gid', value: d.gidWide, offset: d.gidOffset });
    if (sparse !== null) this.sparse.push(sparse);
    const dataOff = this.pos;
    const entry: TocEntry = {
      name,
      type,
      offset: dataOff,
      size: esize,
      linkname: d.linkname,
      mode: h.mode,
      uid: d.uid,
      gid: d.gid,
      uname: d.uname,
      gname: d.gname,
      modTime: this.timeText(d.sec, d.nsec),
      devmajor: h.devmajor,
      devminor: h.devminor,
      xattrs: d.xattrs,
      headerOffset: this.entryStart,
    };
    this.count++;
    if (this.onEntry !== undefined) this.onEntry(entry);
    else this.entries.push(entry);
    this.entryStart = dataOff + skip + pad;
    this.pax = null;
    this.longName = '';
    this.longLink = '';
    this.curName = name;
    this.enterSkip(skip, pad);
    return true;
  }

  /** Go time.Time.MarshalText() of the entry's mtime; consecutive entries often share one. */
  private timeText(sec: number, nsec: number): string {
    if (sec !== this.lastSec || nsec !== this.lastNsec) {
      this.lastTimeText = this.timeFormat.text(sec, nsec);
      this.lastSec = sec;
      this.lastNsec = nsec;
    }
    return this.lastTimeText;
  }

  /** Name, or prefix + "/" + name (assembled as bytes so the string is flat). */
  private headerName(b: Uint8Array, o: number, h: RawHeader): ByteString {
    const { prefixStart, prefixEnd } = h;
    const e = cEnd(b, o, 100);
    if (prefixEnd <= prefixStart) return latin1(b, o, e);
    const t = this.nameScratch;
    let n = 0;
    for (let k = prefixStart; k < prefixEnd; k++) t[n++] = b[k];
    t[n++] = 0x2f;
    for (let k = o; k < e; k++) t[n++] = b[k];
    return latin1(t, 0, n);
  }
}

const SPARSE_NONE = 0;
const SPARSE_0_X = 1; // 0.0 and 0.1: the map is in PAX records
const SPARSE_1_0 = 2; // 1.0: the map starts the data section

/** The value of a PAX record, "" when absent (a Go map lookup). */
function paxValue(pax: PaxRecords, key: string): string {
  for (const [k, v] of pax) if (k === key) return v;
  return '';
}

/** Go readGNUSparsePAXHeaders: which sparse format the records declare, if any. */
function sparseVersion(pax: PaxRecords): number {
  const major = paxValue(pax, 'GNU.sparse.major');
  const minor = paxValue(pax, 'GNU.sparse.minor');
  if (major === '0' && (minor === '0' || minor === '1')) return SPARSE_0_X;
  if (major === '1' && minor === '0') return SPARSE_1_0;
  if (major !== '' || minor !== '') return SPARSE_NONE; // unknown version: a regular file to Go
  return paxValue(pax, 'GNU.sparse.map') !== '' ? SPARSE_0_X : SPARSE_NONE;
}

/** Go readGNUSparseMap0x1: GNU.sparse.numblocks pairs in GNU.sparse.map; null where Go fails. */
function sparseMap0x(pax: PaxRecords): number[] | null {
  const n = goParseInt(paxValue(pax, 'GNU.sparse.numblocks'));
  if (n === null || typeof n === 'bigint' || n < 0) return null;
  const text = paxValue(pax, 'GNU.sparse.map');
  const parts = text === '' ? [] : text.split(',');
  if (parts.length !== 2 * n) return null;
  return sparsePairs(parts, 0);
}

/** Offset/length pairs from decimal tokens (strconv.ParseInt); null where Go fails (or beyond 2^53). */
function sparsePairs(tokens: string[], from: number): number[] | null {
  const out: number[] = [];
  for (let k = from; k < tokens.length; k++) {
    const v = goParseInt(tokens[k]!);
    if (v === null || typeof v === 'bigint') return null;
    out.push(v);
  }
  return out;
}

/** Go validateSparseEntries over [offset, length] pairs (values are safe integers here). */
function validSparse(map: number[], size: number): boolean {
  if (size < 0) return false;
  let preEnd = 0;
  for (let k = 0; k < map.length; k += 2) {
    const off = map[k]!;
    const len = map[k + 1]!;
    if (off < 0 || len < 0 || off + len > size || preEnd > off) return false;
    preEnd = off + len;
  }
  return true;
}

function byKey(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** Byte-wise sort by key (keys are unique); insertion sort for the usual handful of records. */
function sortByKey(r: Array<[ByteString, ByteString]>): void {
  const n = r.length;
  if (n > 16) {
    r.sort(byKey);
    return;
  }
  for (let i = 1; i < n; i++) {
    const x = r[i]!;
    let j = i;
    while (j > 0 && r[j - 1]![0] > x[0]) {
      r[j] = r[j - 1]!;
      j--;
    }
    r[j] = x;
  }
}
