// Owns the data types of the tar scanner: one TocEntry per tar entry, with the values Go's
// archive/tar reader (as used by SOCI's TOC builder) would put in the zTOC's FileMetadata.

/** A Go string: one JS char per byte (latin1). Exact for non-UTF-8 names; byte-wise sort == JS default sort. */
export type ByteString = string;

export type EntryType = 'reg' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TocEntry {
  name: ByteString;
  type: EntryType;
  /** uncompressed_offset: position of the tar reader after Next() = offset of the data. */
  offset: number;
  /** hdr.Size (PAX size overrides). Kept as stored even for header-only types. */
  size: number;
  linkname: ByteString;
  /** Raw numeric mode field (octal or base-256), not masked. */
  mode: number;
  /** uint32(hdr.Uid) */
  uid: number;
  /** uint32(hdr.Gid) */
  gid: number;
  uname: ByteString;
  gname: ByteString;
  /** Go time.Time.MarshalText() in UTC; "" when the year is outside [0, 9999]. */
  modTime: string;
  devmajor: number;
  devminor: number;
  /**
   * ALL PAX records of the entry (last 'x' header only), sorted byte-wise by key.
   * Entries without records share one frozen empty array.
   */
  xattrs: Array<[ByteString, ByteString]>;
  /** Offset of the first header block of this entry (including preceding x/L/K meta headers). */
  headerOffset: number;
}

export interface TarScanResult {
  entries: TocEntry[];
  /** Reader position when Next() returned EOF (end of the 2nd zero block, not the stream length). */
  archiveSize: number;
  /** Header values the zTOC cannot hold as Go read them (in entry order). */
  lossy: LossyField[];
  /** Where the data of each PAX GNU sparse entry lies (in entry order). */
  sparse: SparseLayout[];
}

/** A uid or gid outside uint32: SOCI stores uint32(hdr.Uid), its reader compares with hdr.Uid. */
export interface LossyField {
  /** Index of the entry in `entries`. */
  index: number;
  field: 'uid' | 'gid';
  /** The value Go read, in decimal. */
  value: string;
  /** Offset of the header (or PAX header) the value came from. */
  offset: number;
}

/**
 * A PAX GNU sparse entry (formats 0.0, 0.1, 1.0). Go reports hdr.Size = the logical size and its
 * reader position after the sparse map; the stored fragments follow, without the holes.
 */
export interface SparseLayout {
  index: number;
  /** Stored data bytes after the map (the entry's data section minus a 1.0 map). */
  physicalSize: number;
  /** Sum of the fragment lengths. */
  fragmentBytes: number;
  /** Logical offset of the first hole that lies before stored data, or -1 (holes only at the end). */
  holeBeforeData: number;
  /** The entry's block padding is all zero bytes (known once the scan passed it). */
  paddingZero: boolean;
}

export interface TarScannerOptions {
  /** More entries than this raise TAR_LIMIT. Default 10_000_000. */
  maxEntries?: number;
  /** Largest PAX / GNU long-name body accepted (Go's maxSpecialFileSize). Default 1 MiB. */
  maxSpecialFileSize?: number;
  /** Called with each entry as it is scanned; the scanner then keeps none (end() lists none). */
  onEntry?: (e: TocEntry) => void;
}
