// Owns per-span SHA-256 over the compressed bytes, computed as they stream past (soci-format.md
// §2.3): span i runs from its checkpoint's first byte (one earlier when bits != 0, so neighbours
// share a byte) to checkpoint i+1's `in`; the last span runs to the end of the blob.

import { createHash, type Hash } from 'node:crypto';
import { ZtocError } from '../errors.js';

export class SpanHasher {
  private current: Hash | undefined;
  private pos = 0;
  private lastByte = -1;
  readonly digests: string[] = [];

  /**
   * Starts the next span at checkpoint `boundary` (its `in`). Checkpoints arrive in order, with
   * the chunk they were found in, before any byte past them was hashed.
   */
  boundary(boundary: number, startsMidByte: boolean, chunk: Uint8Array, chunkStart: number): void {
    // Close the running span at `boundary` (its end is the next checkpoint's `in`).
    if (boundary < this.pos) throw new ZtocError('INTERNAL', `span boundary ${boundary} behind hashed position ${this.pos}`);
    this.feedTo(boundary, chunk, chunkStart);
    if (this.current !== undefined) this.digests.push(`sha256:${this.current.digest('hex')}`);
    this.current = createHash('sha256');
    if (startsMidByte) {
      // The partly consumed byte at boundary-1 also opens the new span.
      const b = boundary - 1 >= chunkStart ? chunk[boundary - 1 - chunkStart]! : this.lastByte;
      if (b < 0) throw new ZtocError('INTERNAL', 'overlap byte unavailable');
      this.current.update(Uint8Array.of(b));
    }
  }

  /**
   * Feeds an input chunk the inflater has consumed, cut at the checkpoints found in it
   * ([in, out, bits] triples, in order), as the inflate thread reports them.
   */
  consumed(checkpoints: Float64Array, chunk: Uint8Array, chunkStart: number): void {
    for (let i = 0; i < checkpoints.length; i += 3) this.boundary(checkpoints[i]!, checkpoints[i + 2]! !== 0, chunk, chunkStart);
    this.feedTo(chunkStart + chunk.length, chunk, chunkStart);
  }

  /** Feeds chunk bytes up to absolute position `to` (exclusive). */
  feedTo(to: number, chunk: Uint8Array, chunkStart: number): void {
    if (to <= this.pos) return;
    const from = this.pos - chunkStart;
    const end = to - chunkStart;
    if (from < 0 || end > chunk.length) throw new ZtocError('INTERNAL', `span hashing out of order at ${this.pos}`);
    if (this.current !== undefined) this.current.update(chunk.subarray(from, end));
    this.pos = to;
    this.lastByte = chunk[end - 1]!;
  }

  /** Closes the last span at the end of the blob. */
  finish(): string[] {
    if (this.current !== undefined) this.digests.push(`sha256:${this.current.digest('hex')}`);
    this.current = undefined;
    return this.digests;
  }
}
