// Owns random-access inflation from a checkpoint: prime the bit buffer and the 32 KiB dictionary,
// then inflate onwards across gzip member boundaries (soci-format.md §2.4). Every call must make
// progress; when input runs out before the caller has what it asked for, the caller errors out.

import { ZtocError } from '../errors.js';
import { native, NativeStatus, ReaderInfo, READER_INFO_SLOTS, type ReaderHandle } from './native.js';
import type { Checkpoint } from './zinfo.js';

export class CheckpointReader {
  private readonly h: ReaderHandle;
  private readonly info = new Float64Array(READER_INFO_SLOTS);
  private skipFirst: boolean;

  /** `firstByte` is the compressed byte at in-1, needed when the checkpoint starts mid-byte. */
  constructor(checkpoint: Pick<Checkpoint, 'bits' | 'window'>, firstByte: number) {
    this.h = native().readerCreate(checkpoint.bits, firstByte, checkpoint.window);
    this.skipFirst = checkpoint.bits !== 0;
  }

  /**
   * Inflates from `input` (the span bytes in order, starting at the span's first byte) into
   * `output[outOffset..]`. Returns [consumed, produced].
   */
  inflate(input: Uint8Array, output: Uint8Array, outOffset: number): [number, number] {
    let start = 0;
    if (this.skipFirst && input.length > 0) {
      // The primed byte was already handed to zlib through inflatePrime.
      start = 1;
      this.skipFirst = false;
    }
    const n = native();
    const status = n.readerInflate(this.h, input, start, output, outOffset, this.info);
    if (status !== NativeStatus.Ok) {
      throw new ZtocError('ZTOC_MISMATCH', `inflate from checkpoint failed: ${n.readerMessage(this.h)} (zTOC does not match the layer)`);
    }
    return [this.info[ReaderInfo.consumed]! + start, this.info[ReaderInfo.produced]!];
  }
}
