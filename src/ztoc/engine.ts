// Owns the parts of a zTOC build that sit on the driver thread next to hashing: scanning tar
// headers over the inflated bytes (never keeping them), and turning the scan, the checkpoints and
// the span digests into zTOC bytes. Inflation itself runs on a worker (worker.ts) or inline.

import { ZtocError } from '../errors.js';
import type { Engine } from '../inflate/native.js';
import { TarScanner, utf8 } from '../tar/scanner.js';
import type { TocEntry } from '../tar/types.js';
import { encodeTarZinfo, encodeZtocFrom, type ZtocHead } from './encode.js';
import { EntryLog } from './entry-log.js';
import { ZTOC_VERSION } from './model.js';

export type LayerKind = 'gzip' | 'tar';

/** What the inflater reports when the stream ended cleanly. */
export interface InflateSummary {
  /** gzip: the zinfo blob; tar: unused. */
  blob: Uint8Array;
  inflatedSize: number;
  members: number;
  /** The inflate engine that ran. */
  engine: Engine;
}

/** What the driver knows only at the end: span digests (it hashes) and the blob size. */
export interface FinishInput {
  spanDigests: string[];
  compressedSize: number;
  buildToolId: string;
}

/** Collects the TOC from uncompressed bytes and assembles the zTOC at the end. */
export class TocAssembler {
  // Entries go straight into an off-heap log (entry-log.ts): none stays alive as a JS object.
  private readonly log = new EntryLog();
  private readonly readable = new ReadableCheck();
  private readonly scanner = new TarScanner({
    onEntry: (e) => {
      this.readable.next(e);
      this.log.add(e);
    },
  });

  constructor(readonly kind: LayerKind, private readonly spanSize: number) {}

  /** Uncompressed bytes, in order. The view may be reused by the caller after this returns. */
  scan(out: Uint8Array): void {
    if (!this.scanner.finished) this.scanner.push(out);
  }

  /** Serialises the zTOC; `inflate` is undefined for uncompressed layers. */
  encode(inflate: InflateSummary | undefined, input: FinishInput): { bytes: Uint8Array; inflatedSize: number; spans: number; files: number } {
    const r = this.scanner.end();
    // Reported only now, as before, so that inflate and tar errors keep precedence.
    if (this.readable.failure !== undefined) throw this.readable.failure;
    const z = assemble(this.kind, r.archiveSize, inflate, input, this.spanSize);
    return { bytes: encodeZtocFrom(z, this.log), inflatedSize: inflate?.inflatedSize ?? input.compressedSize, spans: z.maxSpanId + 1, files: this.log.count };
  }
}

/**
 * SOCI's zTOC reader derives each entry's header offset from the previous entry's offset + size and rejects
 * a zTOC where they overlap (ErrInvalidTOCEntry). A header-only entry (directory, link, device, fifo) that
 * declares a size gives such a TOC: Go's tar reader skips no data for it, so the next entry starts inside
 * the declared size. Such a zTOC would be refused by every reader (ours included): fail the build instead.
 * The same for a negative size, which Go keeps on header-only entries.
 */
class ReadableCheck {
  private end = 0;
  private prev: TocEntry | undefined;
  /** The first problem, kept for encode() to throw. */
  failure: ZtocError | undefined;

  next(e: TocEntry): void {
    if (this.failure === undefined) this.failure = this.check(e);
    this.end = Math.ceil((e.offset + e.size) / 512) * 512;
    this.prev = e;
  }

  private check(e: TocEntry): ZtocError | undefined {
    const prev = this.prev;
    // Go keeps a negative base-256 size on a header-only entry; SOCI's reader rejects it.
    if (e.size < 0) {
      return new ZtocError('TAR_BAD_HEADER', `tar entry ${JSON.stringify(utf8(e.name))} (${e.type}) has a negative size (${e.size}); SOCI's zTOC reader rejects it`, {
        offset: e.headerOffset,
        offsetKind: 'uncompressed',
        entry: e.name,
      });
    }
    if (prev !== undefined && e.offset < this.end) {
      return new ZtocError(
        'TAR_UNSUPPORTED_ENTRY',
        `tar entry ${JSON.stringify(utf8(prev.name))} (${prev.type}) declares ${prev.size} bytes of data that the next entry ` +
          `${JSON.stringify(utf8(e.name))} overlaps; SOCI's zTOC reader rejects such a TOC (ErrInvalidTOCEntry)`,
        { offset: prev.headerOffset, offsetKind: 'uncompressed', entry: prev.name },
      );
    }
    return undefined;
  }
}

function assemble(
  kind: LayerKind,
  archiveSize: number,
  inflate: InflateSummary | undefined,
  input: FinishInput,
  spanSize: number,
): ZtocHead {
  const { spanDigests, compressedSize, buildToolId } = input;
  const common = {
    version: ZTOC_VERSION,
    buildToolIdentifier: buildToolId,
    compressedArchiveSize: compressedSize,
    uncompressedArchiveSize: archiveSize,
    spanDigests,
  };
  if (kind === 'gzip') {
    return { ...common, compression: 'gzip', maxSpanId: spanDigests.length - 1, checkpoints: inflate!.blob };
  }
  return {
    ...common,
    compression: 'uncompressed',
    // SOCI: size/span, minus one when it divides evenly (§2.7).
    maxSpanId: Math.floor(compressedSize / spanSize) - (compressedSize % spanSize === 0 ? 1 : 0),
    checkpoints: encodeTarZinfo(spanSize, compressedSize),
  };
}
