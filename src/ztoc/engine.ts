// Owns the CPU-bound half of building a zTOC: inflate with checkpoints and scan tar headers over
// the inflated bytes, never keeping them. It runs on a worker thread (worker.ts) or inline; the
// driver (build.ts) does I/O and hashing and feeds it compressed chunks in order.

import { ZtocError } from '../errors.js';
import { CheckpointInflater } from '../inflate/inflater.js';
import { TarScanner } from '../tar/scanner.js';
import type { TocEntry } from '../tar/types.js';
import { encodeTarZinfo, encodeZtoc } from './encode.js';
import { ZTOC_VERSION, type Ztoc } from './model.js';

export type LayerKind = 'gzip' | 'tar';

export interface EngineResult {
  /** gzip: the zinfo blob; tar: empty (the driver writes the TarZinfo). */
  blob: Uint8Array;
  entries: TocEntry[];
  archiveSize: number;
  inflatedSize: number;
  members: number;
}

/** What the driver knows only at the end: span digests (it hashes) and the blob size. */
export interface FinishInput {
  spanDigests: string[];
  compressedSize: number;
  buildToolId: string;
}

/** The serialised zTOC; encoding where the entries live avoids copying them across threads. */
export interface EncodedZtoc {
  bytes: Uint8Array;
  inflatedSize: number;
  entries: number;
}

const NO_CHECKPOINTS = new Float64Array(0);

export class LayerEngine {
  private readonly inflater: CheckpointInflater | undefined;
  private readonly scanner = new TarScanner();
  private readonly scan = (out: Uint8Array): void => {
    if (!this.scanner.finished) this.scanner.push(out);
  };
  private tarBytes = 0;

  constructor(readonly kind: LayerKind, private readonly spanSize: number) {
    this.inflater = kind === 'gzip' ? new CheckpointInflater(spanSize) : undefined;
  }

  /** Consumes one compressed chunk; returns the checkpoints found in it as [in, out, bits] triples. */
  push(chunk: Uint8Array): Float64Array {
    if (this.inflater === undefined) {
      this.tarBytes += chunk.length;
      this.scan(chunk);
      return NO_CHECKPOINTS;
    }
    this.inflater.write(chunk, this.scan);
    return this.inflater.takeCheckpoints();
  }

  finish(): EngineResult {
    if (this.inflater === undefined) {
      if (this.tarBytes === 0) throw new ZtocError('LAYER_EMPTY', 'layer is empty (0 bytes)', { offset: 0 });
      const r = this.scanner.end();
      return { blob: new Uint8Array(0), entries: r.entries, archiveSize: r.archiveSize, inflatedSize: this.tarBytes, members: 0 };
    }
    const end = this.inflater.end();
    const r = this.scanner.end();
    return { blob: end.blob, entries: r.entries, archiveSize: r.archiveSize, inflatedSize: end.totalOut, members: end.members };
  }

  /** Finishes the stream and serialises the zTOC. */
  encode(input: FinishInput): EncodedZtoc {
    const r = this.finish();
    const z = assemble(this.kind, r, input, this.spanSize);
    return { bytes: encodeZtoc(z), inflatedSize: r.inflatedSize, entries: r.entries.length };
  }
}

function assemble(kind: LayerKind, r: EngineResult, input: FinishInput, spanSize: number): Ztoc {
  const { spanDigests, compressedSize, buildToolId } = input;
  const common = {
    version: ZTOC_VERSION,
    buildToolIdentifier: buildToolId,
    compressedArchiveSize: compressedSize,
    uncompressedArchiveSize: r.archiveSize,
    entries: r.entries,
    spanDigests,
  };
  if (kind === 'gzip') {
    return { ...common, compression: 'gzip', maxSpanId: spanDigests.length - 1, checkpoints: r.blob };
  }
  return {
    ...common,
    compression: 'uncompressed',
    // SOCI: size/span, minus one when it divides evenly (§2.7).
    maxSpanId: Math.floor(compressedSize / spanSize) - (compressedSize % spanSize === 0 ? 1 : 0),
    checkpoints: encodeTarZinfo(spanSize, compressedSize),
  };
}
