// Owns ztoc's typed error: every failure the library raises is a ZtocError with a stable code,
// plus where it happened (layer digest, byte offset, entry name) so callers can print one clear line.

export type ZtocErrorCode =
  // gzip / inflate
  | 'GZIP_NOT_GZIP'
  | 'GZIP_BAD_HEADER'
  | 'GZIP_TRUNCATED'
  | 'GZIP_BAD_CRC'
  | 'GZIP_BAD_ISIZE'
  | 'GZIP_TRAILING_GARBAGE'
  | 'GZIP_CORRUPT'
  | 'LAYER_EMPTY'
  | 'LAYER_UNSUPPORTED'
  | 'LAYER_KIND_MISMATCH'
  // tar
  | 'TAR_BAD_HEADER'
  | 'TAR_TRUNCATED'
  | 'TAR_UNSUPPORTED_ENTRY'
  | 'TAR_LIMIT'
  // zTOC format and reading
  | 'ZTOC_INVALID'
  | 'ZTOC_MISMATCH'
  | 'ZTOC_NOT_FOUND'
  | 'SPAN_DIGEST_MISMATCH'
  | 'FILE_NOT_FOUND'
  // images, manifests, digests
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_TOO_LARGE'
  /** The reference names an artifact that is neither an image manifest nor an image index: nothing to index. */
  | 'NOT_AN_IMAGE'
  | 'PLATFORM_NOT_FOUND'
  | 'REFERENCE_INVALID'
  | 'LAYOUT_INVALID'
  // registry
  | 'REGISTRY_UNAUTHORIZED'
  | 'REGISTRY_DENIED'
  | 'REGISTRY_NOT_FOUND'
  /** The registry does not offer the operation (e.g. deleting manifests: 405 / UNSUPPORTED). */
  | 'REGISTRY_UNSUPPORTED'
  | 'REGISTRY_ERROR'
  | 'REGISTRY_NETWORK'
  | 'REGISTRY_PROTOCOL'
  | 'CREDENTIALS'
  /** The registry does not list its repositories (`_catalog`) to this client; name the repositories instead. */
  | 'CATALOG_UNAVAILABLE'
  // jobs
  /** A backfill finished with failed images, or stopped before starting every image. */
  | 'BACKFILL_INCOMPLETE'
  // generic
  | 'INVALID_ARGUMENT'
  | 'IO'
  | 'INTERNAL';

export interface ZtocErrorDetails {
  /** Digest (or name) of the layer being processed. */
  layer?: string;
  /** Byte offset in the stream the error refers to (compressed unless stated). */
  offset?: number;
  /** Which stream `offset` counts in. */
  offsetKind?: 'compressed' | 'uncompressed';
  /** Tar entry name involved, if any. */
  entry?: string;
  /** HTTP status, for registry errors. */
  status?: number;
  cause?: unknown;
}

export class ZtocError extends Error {
  readonly code: ZtocErrorCode;
  layer: string | undefined;
  offset: number | undefined;
  offsetKind: 'compressed' | 'uncompressed' | undefined;
  entry: string | undefined;
  status: number | undefined;

  constructor(code: ZtocErrorCode, message: string, details: ZtocErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ZtocError';
    this.code = code;
    this.layer = details.layer;
    this.offset = details.offset;
    this.offsetKind = details.offsetKind;
    this.entry = details.entry;
    this.status = details.status;
  }

  /** One line for humans: message plus layer and offset when known. */
  describe(): string {
    const parts: string[] = [];
    if (this.layer !== undefined) parts.push(`layer ${this.layer}`);
    if (this.offset !== undefined) parts.push(`${this.offsetKind ?? 'compressed'} offset ${this.offset}`);
    if (this.entry !== undefined) parts.push(`entry ${JSON.stringify(this.entry)}`);
    return parts.length > 0 ? `${this.message} (${parts.join(', ')})` : this.message;
  }

  /** Attach the layer identity to an error raised below the layer level. */
  static withLayer(err: unknown, layer: string): unknown {
    if (err instanceof ZtocError && err.layer === undefined) err.layer = layer;
    return err;
  }
}

export function isZtocError(err: unknown, code?: ZtocErrorCode): err is ZtocError {
  return err instanceof ZtocError && (code === undefined || err.code === code);
}
