// Owns the in-memory zTOC model: what a zTOC says about one layer, independent of flatbuffers.

import type { TocEntry } from '../tar/types.js';
import { VERSION } from '../version.js';

export const ZTOC_VERSION = '0.9';
export const DEFAULT_SPAN_SIZE = 1 << 22;
/** SOCI's CLI identifier; ztoc writes its own unless told otherwise. */
export const SOCI_BUILD_TOOL_ID = 'AWS SOCI CLI v0.2';
/** What ztoc writes as the zTOC's build tool identifier by default. */
export const DEFAULT_BUILD_TOOL_ID = `ztoc ${VERSION}`;

export type ZtocCompression = 'gzip' | 'uncompressed';

export interface Ztoc {
  version: string;
  buildToolIdentifier: string;
  compressedArchiveSize: number;
  /** Tar reader position at end of archive (soci-format.md §3.4), not the inflated length. */
  uncompressedArchiveSize: number;
  entries: TocEntry[];
  compression: ZtocCompression;
  maxSpanId: number;
  spanDigests: string[];
  /** gzip: the zinfo blob (§2.1); uncompressed: a nested TarZinfo flatbuffer (§2.7). */
  checkpoints: Uint8Array;
}
