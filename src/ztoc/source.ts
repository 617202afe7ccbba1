// Owns reading a local layer file as a chunk stream for the builder: one reused buffer, so a
// multi-GB layer doesn't leave a trail of 1 MiB garbage buffers behind (the consumer copies or
// hashes each chunk before asking for the next).

import { open } from 'node:fs/promises';

export async function* readFileChunks(path: string, chunkSize = 1 << 20): AsyncGenerator<Uint8Array> {
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
