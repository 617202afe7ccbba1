// Owns the parts of a zTOC build that sit on the driver thread next to hashing: scanning tar
// headers over the inflated bytes (never keeping them), and turning the scan, the checkpoints and
// the span digests into zTOC bytes. Inflation itself runs on a thread of its own or inline (build.ts).

import type { Engine } from '../inflate/native.js';
import { TarScanner } from '../tar/scanner.js';
import { SociReadableCheck } from '../tar/soci-rules.js';
import { encodeTarZinfo, encodeZtocFrom, type InPlaceBlob, type ZtocHead } from './encode.js';
import { EntryLog } from './entry-log.js';
import { ZTOC_VERSION } from './model.js';

export type LayerKind = 'gzip' | 'tar';

/** What the inflater reports when the stream ended cleanly. */
export interface InflateSummary {
  /** gzip: the zinfo blob, which the zTOC is written around (never copied); tar: unused. */
  blob: InPlaceBlob;
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
  private readonly scanner: TarScanner = new TarScanner({
    onEntry: (e) => {
      this.readable.next(e);
      this.log.add(e);
    },
  });
  // Would SOCI's reader serve this TOC? (src/tar/soci-rules.ts, docs/tar-rules.md)
  private readonly readable = new SociReadableCheck(this.scanner.lossy, this.scanner.sparse);

  constructor(readonly kind: LayerKind, private readonly spanSize: number) {}

  /** Uncompressed bytes, in order. The view may be reused by the caller after this returns. */
  scan(out: Uint8Array): void {
    if (!this.scanner.finished) this.scanner.push(out);
  }

  /** Serialises the zTOC; `inflate` is undefined for uncompressed layers. */
  encode(inflate: InflateSummary | undefined, input: FinishInput): { bytes: Uint8Array; inflatedSize: number; spans: number; files: number } {
    const r = this.scanner.end();
    // Reported only now, as before, so that inflate and tar errors keep precedence.
    this.readable.end(r.archiveSize);
    if (this.readable.failure !== undefined) throw this.readable.failure;
    const z = assemble(this.kind, r.archiveSize, inflate, input, this.spanSize);
    return { bytes: encodeZtocFrom(z, this.log), inflatedSize: inflate?.inflatedSize ?? input.compressedSize, spans: z.maxSpanId + 1, files: this.log.count };
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
