// Test helper: a sequential reference read of a tar (optionally gzip) with tar-stream, the
// independent ground truth that files extracted through a zTOC are compared against.

import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';

export interface RefEntry {
  name: string;
  type: string;
  data: Buffer;
}

/** All entries of the tar at `path` with their contents, in order. gzip is detected by magic. */
export async function readTarReference(path: string): Promise<RefEntry[]> {
  const head = await new Promise<Buffer>((resolve, reject) => {
    const s = createReadStream(path, { start: 0, end: 1 });
    const parts: Buffer[] = [];
    s.on('data', (d) => parts.push(d as Buffer));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  const entries: RefEntry[] = [];
  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: unknown) => {
      parts.push(d as Buffer);
    });
    stream.on('end', () => {
      entries.push({ name: header.name, type: header.type ?? 'file', data: Buffer.concat(parts) });
      next();
    });
    stream.resume();
  });
  if (gz) await pipeline(createReadStream(path), createGunzip(), ex);
  else await pipeline(createReadStream(path), ex);
  return entries;
}
