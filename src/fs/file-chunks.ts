// Owns reading a file as a stream of chunks that all live in one reused buffer: a multi-GB layer then
// leaves no trail of 1 MiB garbage buffers behind (no allocation, no GC work per MiB). Each chunk is
// valid until the next is asked for, so it suits consumers that copy or hash a chunk before moving on
// (the builder; a layout blob being indexed), not ones that queue chunks (streams, gunzip pipelines).

import { open } from 'node:fs/promises';

export async function* readFileChunks(path: string, chunkSize = 1 << 20): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(chunkSize);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, chunkSize, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
