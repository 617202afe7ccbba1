// Test helper: real layers made by real tools. A tree of files (random and compressible data,
// empty files, hardlinks, symlinks, long and Unicode names, xattrs, a fifo) is archived with GNU
// tar in each format and compressed with gzip or pigz, the way images in the wild are made.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, symlinkSync, linkSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export function tempDir(prefix = 'ztoc-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function sh(cmd: string, cwd?: string): Buffer {
  return execFileSync('sh', ['-c', cmd], { cwd, maxBuffer: 1 << 28 });
}

/** Writes `files` (relative path → content) under `dir`, creating directories; returns `dir`. */
export function writeTree(dir: string, files: Record<string, string | Buffer>): string {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  return dir;
}

/** Deterministic pseudo-random bytes (xorshift32): incompressible, reproducible from the seed. */
export function prngBytes(n: number, seed: number): Buffer {
  let x = seed >>> 0 || 1;
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Deterministic pseudo-random text that compresses like source code (about 3:1). */
function textData(size: number, seed: number): Buffer {
  const words = ['const', 'return', 'function', 'layer', 'span', 'checkpoint', 'window', 'inflate', '{', '}', '(', ')', ';', '\n', 'digest', 'registry'];
  const parts: string[] = [];
  let x = seed;
  let n = 0;
  while (n < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = words[x % words.length]!;
    parts.push(w, ' ');
    n += w.length + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

export interface TreeOptions {
  /** Include names longer than 255 bytes (not representable in plain ustar). */
  longNames?: boolean;
  /** Scale of the big files in bytes. */
  bigSize?: number;
  xattrs?: boolean;
}

/** Builds the test tree in `dir` and returns it. */
export function makeTree(dir: string, opts: TreeOptions = {}): string {
  const big = opts.bigSize ?? 3 << 20;
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'usr/share/doc'), { recursive: true });
  mkdirSync(join(dir, 'üñí/日本'), { recursive: true });
  writeFileSync(join(dir, 'bin/random.bin'), randomBytes(big));
  writeFileSync(join(dir, 'usr/share/doc/text.txt'), textData(big * 2, 7));
  writeFileSync(join(dir, 'usr/share/doc/small.txt'), 'hello\n');
  writeFileSync(join(dir, 'usr/share/doc/exact512.bin'), randomBytes(512));
  writeFileSync(join(dir, 'usr/share/doc/exact1024.bin'), randomBytes(1024));
  writeFileSync(join(dir, 'empty'), '');
  writeFileSync(join(dir, 'üñí/日本/ファイル.txt'), textData(70000, 3));
  linkSync(join(dir, 'usr/share/doc/text.txt'), join(dir, 'usr/share/doc/hardlink.txt'));
  symlinkSync('../usr/share/doc/small.txt', join(dir, 'bin/link'));
  // A path split into the ustar prefix and name fields (60 + 60 + 80 characters).
  const deep = join(dir, 'p'.repeat(60), 'q'.repeat(60));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, `${'r'.repeat(80)}.txt`), textData(9000, 5));
  if (opts.longNames) {
    const long = join(dir, 'l'.repeat(120));
    mkdirSync(long, { recursive: true });
    writeFileSync(join(long, `${'m'.repeat(200)}.txt`), textData(5000, 11));
  }
  if (opts.xattrs) {
    sh(`setfattr -n user.ztoc.test -v 'xattr-value' '${join(dir, 'usr/share/doc/small.txt')}'`);
    sh(`setfattr -n user.bin -v 0x00ff10 '${join(dir, 'bin/random.bin')}'`);
  }
  sh(`mkfifo '${join(dir, 'fifo')}'`);
  return dir;
}

export type TarFormat = 'gnu' | 'posix' | 'ustar';
export type Compressor = 'gzip-n' | 'gzip-name' | 'pigz' | 'pigz-independent' | 'none';

/** Archives `tree` with GNU tar and compresses it; returns the layer path. */
export function makeLayer(tree: string, out: string, format: TarFormat, compressor: Compressor, extraTarFlags = ''): string {
  const tarFile = `${out}.tar`;
  const xattrs = format === 'posix' ? '--xattrs --xattrs-include=user.*' : '';
  sh(`tar --format=${format} ${xattrs} ${extraTarFlags} --sort=name -cf '${tarFile}' .`, tree);
  switch (compressor) {
    case 'none':
      return tarFile;
    case 'gzip-n':
      sh(`gzip -n -6 -c '${tarFile}' > '${out}'`);
      break;
    case 'gzip-name':
      // gzip stores the original file name (FNAME) and mtime when reading a named file.
      sh(`gzip -6 -c '${tarFile}' > '${out}'`);
      break;
    case 'pigz':
      sh(`pigz -6 -c '${tarFile}' > '${out}'`);
      break;
    case 'pigz-independent':
      sh(`pigz -6 --independent -c '${tarFile}' > '${out}'`);
      break;
  }
  return out;
}

export function cleanup(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
