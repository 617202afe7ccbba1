// Owns checking a zTOC against its layer, independently of how the zTOC was built:
//  - every span's compressed bytes hash to its span digest;
//  - a sequential inflate with Node's own zlib (not our addon) yields, at every checkpoint, the
//    32 KiB window the zTOC stores, and the TOC a sequential tar read gives is the zTOC's TOC;
//  - inflating from every checkpoint with only its span's bytes reproduces the sequential data
//    there, which checks `in` and `bits`.

import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { ZtocError } from '../errors.js';
import { CheckpointReader } from '../inflate/reader.js';
import { WINDOW_SIZE, decodeZinfo, type Checkpoint } from '../inflate/zinfo.js';
import { TarScanner } from '../tar/scanner.js';
import type { TocEntry } from '../tar/types.js';
import { utf8 } from '../tar/bytes.js';
import { readSpan, spanTable, type RangeReader } from './extract.js';
import type { Ztoc } from './model.js';

/** Bytes of sequential output kept after each checkpoint, to compare with a restart from it. */
const PROBE = 4096;

export interface VerifyReport {
  spans: number;
  checkpoints: number;
  entries: number;
}

function mismatch(msg: string, offset?: number, offsetKind?: 'compressed' | 'uncompressed'): ZtocError {
  return new ZtocError('ZTOC_MISMATCH', msg, { offset, offsetKind });
}

/** Collects, during one sequential pass, the window before and the first bytes after each checkpoint. */
class CheckpointSampler {
  private ring = new Uint8Array(WINDOW_SIZE);
  private pos = 0;
  private next = 0;
  readonly windows: Uint8Array[] = [];
  readonly probes: Uint8Array[] = [];
  private open: Array<{ i: number; buf: Uint8Array; fill: number }> = [];

  constructor(private readonly outs: number[]) {}

  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      // Stop exactly at the next checkpoint so the ring holds the 32 KiB before it.
      const target = this.next < this.outs.length ? this.outs[this.next]! : Infinity;
      if (target === this.pos) {
        this.windows[this.next] = this.window();
        this.open.push({ i: this.next, buf: new Uint8Array(PROBE), fill: 0 });
        this.next++;
        continue;
      }
      const n = Math.min(chunk.length - off, target - this.pos);
      this.absorb(chunk.subarray(off, off + n));
      off += n;
    }
  }

  private absorb(b: Uint8Array): void {
    for (const p of this.open) {
      const k = Math.min(PROBE - p.fill, b.length);
      p.buf.set(b.subarray(0, k), p.fill);
      p.fill += k;
    }
    this.open = this.open.filter((p) => {
      if (p.fill < PROBE) return true;
      this.probes[p.i] = p.buf;
      return false;
    });
    if (b.length >= WINDOW_SIZE) this.ring.set(b.subarray(b.length - WINDOW_SIZE));
    else {
      this.ring.copyWithin(0, b.length);
      this.ring.set(b, WINDOW_SIZE - b.length);
    }
    this.pos += b.length;
  }

  private window(): Uint8Array {
    return this.ring.slice();
  }

  finish(): void {
    // Checkpoints at the very end (no data after them) still get their window.
    while (this.next < this.outs.length && this.outs[this.next] === this.pos) {
      this.windows[this.next] = this.window();
      this.probes[this.next] = new Uint8Array(0);
      this.next++;
    }
    for (const p of this.open) this.probes[p.i] = p.buf.subarray(0, p.fill);
    this.open = [];
  }

  get position(): number {
    return this.pos;
  }
}

function sameEntry(a: TocEntry, b: TocEntry): boolean {
  return (
    a.name === b.name &&
    a.type === b.type &&
    a.offset === b.offset &&
    a.size === b.size &&
    a.linkname === b.linkname &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.uname === b.uname &&
    a.gname === b.gname &&
    a.modTime === b.modTime &&
    a.devmajor === b.devmajor &&
    a.devminor === b.devminor &&
    JSON.stringify(a.xattrs) === JSON.stringify(b.xattrs)
  );
}

/**
 * Verifies `z` against the layer: `read` for span ranges, `stream` for one sequential pass.
 * Throws ZTOC_MISMATCH / SPAN_DIGEST_MISMATCH naming the first difference.
 */
export async function verifyZtoc(z: Ztoc, read: RangeReader, stream: AsyncIterable<Uint8Array>): Promise<VerifyReport> {
  const spans = spanTable(z);
  for (let i = 0; i < spans.length; i++) await readSpan(z, spans, i, read);

  const checkpoints: Checkpoint[] = z.compression === 'gzip' ? decodeZinfo(z.checkpoints).checkpoints : [];
  const sampler = new CheckpointSampler(checkpoints.map((c) => c.out));
  const scanner = new TarScanner();
  let compressed = 0;
  const counted = (async function* () {
    for await (const c of stream) {
      compressed += c.length;
      yield c;
    }
  })();
  const plain: AsyncIterable<Uint8Array> =
    z.compression === 'gzip' ? Readable.from(counted).pipe(createGunzip({ chunkSize: 1 << 18 })) : counted;
  for await (const chunk of plain) {
    const c = chunk as Uint8Array;
    sampler.push(c);
    if (!scanner.finished) scanner.push(c);
  }
  sampler.finish();
  if (compressed !== z.compressedArchiveSize) {
    throw mismatch(`layer is ${compressed} bytes, the zTOC says ${z.compressedArchiveSize}`);
  }
  const toc = scanner.end();
  if (toc.archiveSize !== z.uncompressedArchiveSize) {
    throw mismatch(`tar archive size is ${toc.archiveSize}, the zTOC says ${z.uncompressedArchiveSize}`);
  }
  if (toc.entries.length !== z.entries.length) {
    throw mismatch(`layer has ${toc.entries.length} tar entries, the zTOC lists ${z.entries.length}`);
  }
  for (let i = 0; i < toc.entries.length; i++) {
    if (!sameEntry(toc.entries[i]!, z.entries[i]!)) {
      throw mismatch(`TOC entry ${i} (${JSON.stringify(utf8(z.entries[i]!.name))}) differs from the layer's tar header`, toc.entries[i]!.offset, 'uncompressed');
    }
  }

  for (let i = 0; i < checkpoints.length; i++) {
    const c = checkpoints[i]!;
    const w = sampler.windows[i];
    if (w === undefined) throw mismatch(`checkpoint ${i} at uncompressed offset ${c.out} is past the end of the layer`, c.out, 'uncompressed');
    if (Buffer.compare(w, c.window) !== 0) throw mismatch(`checkpoint ${i}: window differs from the layer's data before offset ${c.out}`, c.out, 'uncompressed');
    // Restart from the checkpoint with only this span's bytes: must reproduce the sequential data.
    const want = sampler.probes[i]!;
    const data = await readSpan(z, spans, i, read);
    const reader = new CheckpointReader(c, data[0] ?? 0);
    const got = new Uint8Array(want.length);
    let fill = 0;
    let off = 0;
    while (fill < want.length) {
      const [consumed, produced] = reader.inflate(data.subarray(off), got, fill);
      off += consumed;
      fill += produced;
      if (consumed === 0 && produced === 0) break;
    }
    if (fill < Math.min(want.length, spans[i]!.uncompressedEnd - c.out) && i < checkpoints.length - 1) {
      throw mismatch(`checkpoint ${i}: inflating its span stopped after ${fill} bytes`, c.in);
    }
    if (Buffer.compare(got.subarray(0, fill), want.subarray(0, fill)) !== 0) {
      throw mismatch(`checkpoint ${i}: inflating from in=${c.in} bits=${c.bits} does not reproduce the layer's data`, c.in);
    }
  }
  return { spans: spans.length, checkpoints: checkpoints.length, entries: z.entries.length };
}
