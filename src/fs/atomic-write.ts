// Owns durable atomic file writes, the one way ztoc replaces a file (layout blobs and index.json, the
// backfill report, get-file output): write a temp file in the target's directory, fsync it, rename it over
// the target, fsync the directory. Readers see the old file or the whole new one, never a partial one, and
// after a crash the rename is either on disk with the data behind it or not at all (rename alone can leave
// a zero-length file on ext4/xfs after power loss; the directory fsync makes the rename itself durable).

import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export type FileData = Uint8Array | string | AsyncIterable<Uint8Array>;

/** A fresh hidden temp name in `dir` (same filesystem as the target, so rename is atomic). */
function tempPath(dir: string): string {
  return join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** Writes `data` to a new temp file in `dir` and fsyncs it; returns its path. Nothing is left on failure. */
export async function writeTempFile(dir: string, data: FileData, mode = 0o644): Promise<string> {
  const tmp = tempPath(dir);
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      if (typeof data === 'string' || data instanceof Uint8Array) await fh.writeFile(data);
      else for await (const chunk of data) await fh.write(chunk);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return tmp;
}

/** Makes a rename or a new entry in `dir` durable. Windows can't open a directory; it has no such need either. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Renames a temp file from writeTempFile onto `path` and fsyncs the directory; the temp file is removed on failure. */
export async function commitTempFile(tmp: string, path: string): Promise<void> {
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dirname(path));
}

/** Replaces `path` with `data` atomically and durably. `mkdir` creates missing parent directories first. */
export async function atomicWriteFile(path: string, data: FileData, opts: { mode?: number; mkdir?: boolean } = {}): Promise<void> {
  const dir = dirname(path);
  if (opts.mkdir) await mkdir(dir, { recursive: true });
  await commitTempFile(await writeTempFile(dir, data, opts.mode), path);
}
