// Owns the parts of a zTOC build that sit on the driver thread next to hashing: scanning tar
// headers over the inflated bytes (never keeping them), and turning the scan, the checkpoints and
// the span digests into zTOC bytes. Inflation itself runs on a worker (worker.ts) or inline.

import { TarScanner } from '../tar/scanner.js';
import { checkSociReadable } from '../tar/soci-rules.js';
import type { TocEntry } from '../tar/types.js';
import { encodeTarZinfo, encodeZtoc } from './encode.js';
import { ZTOC_VERSION, type Ztoc } from './model.js';

export type LayerKind = 'gzip' | 'tar';

/** What the inflater reports when the stream ended cleanly. */
export interface InflateSummary {
  /** gzip: the zinfo blob; tar: unused. */
  blob: Uint8Array;
  inflatedSize: number;
  members: number;
}

/** What the driver knows only at the end: span digests (it hashes) and the blob size. */
export interface FinishInput {
  spanDigests: string[];
  compressedSize: number;
  buildToolId: string;
}

/** Collects the TOC from uncompressed bytes and assembles the zTOC at the end. */
export class TocAssembler {
  private readonly scanner = new TarScanner();

  constructor(readonly kind: LayerKind, private readonly spanSize: number) {}

  /** Uncompressed bytes, in order. The view may be reused by the caller after this returns. */
  scan(out: Uint8Array): void {
    if (!this.scanner.finished) this.scanner.push(out);
  }

  /** Serialises the zTOC; `inflate` is undefined for uncompressed layers. */
  encode(inflate: InflateSummary | undefined, input: FinishInput): { bytes: Uint8Array; inflatedSize: number; spans: number; files: number } {
    const r = this.scanner.end();
    checkSociReadable(r); // the zTOC must be one SOCI's reader serves correctly (src/tar/soci-rules.ts)
    const z = assemble(this.kind, r.entries, r.archiveSize, inflate, input, this.spanSize);
    return { bytes: encodeZtoc(z), inflatedSize: inflate?.inflatedSize ?? input.compressedSize, spans: z.maxSpanId + 1, files: z.entries.length };
  }
}

function assemble(
  kind: LayerKind,
  entries: TocEntry[],
  archiveSize: number,
  inflate: InflateSummary | undefined,
  input: FinishInput,
  spanSize: number,
): Ztoc {
  const { spanDigests, compressedSize, buildToolId } = input;
  const common = {
    version: ZTOC_VERSION,
    buildToolIdentifier: buildToolId,
    compressedArchiveSize: compressedSize,
    uncompressedArchiveSize: archiveSize,
    entries,
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
