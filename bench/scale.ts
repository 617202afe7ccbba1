// `npm run bench` (second part): peak memory of `ztoc build` as the layer grows. Each size gets a
// generated layer (a tar of many files: slices of real /usr/lib bytes mixed with random bytes,
// compressed with `pigz -1`, else `gzip -1`), cached in $BENCH_DIR (default /tmp/ztoc-bench), and
// one fresh `dist/bench/probe.js build LAYER` process, which prints its peak RSS. The table shows
// that RSS stays flat: only the zTOC itself (one 32 KiB window per span) grows with the layer.
//
// SCALE_SIZES overrides the uncompressed sizes (default "100MB,1GB,4GB", with BENCH_QUICK=1 "100MB";
// units B, KB, MB, GB, MiB, GiB). SCALE_SPAN sets the span size (default: the zTOC default, 4 MiB).

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { walkFiles } from './files.js';
import { native } from '../src/inflate/native.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const probe = join(root, 'dist', 'bench', 'probe.js');
const dir = process.env['BENCH_DIR'] ?? join(tmpdir(), 'ztoc-bench');
const span = process.env['SCALE_SPAN'];

const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1 << 20, gib: 1 << 30 };

function parseSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(s);
  const unit = m === null ? undefined : UNITS[(m[2] || 'b').toLowerCase()];
  if (m === null || unit === undefined) throw new Error(`SCALE_SIZES: cannot parse ${JSON.stringify(s)}`);
  return Math.round(Number(m[1]) * unit);
}

function label(n: number): string {
  return n >= 1e9 ? `${+(n / 1e9).toFixed(1)}GB` : n >= 1e6 ? `${+(n / 1e6).toFixed(1)}MB` : `${n}B`;
}

function have(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** Up to 64 MiB of real file bytes (binaries, libraries, text) from /usr/lib: compresses like an image layer. */
function realBytesPool(): Buffer {
  const want = 64 << 20;
  const pool = Buffer.alloc(want);
  let fill = 0;
  walkFiles(
    ['/usr/lib'],
    (p, size) => {
      if (size === 0) return true;
      try {
        const fd = openSync(p, 'r');
        try {
          fill += readSync(fd, pool, fill, Math.min(size, want - fill), 0);
        } finally {
          closeSync(fd);
        }
      } catch {
        // unreadable: skip
      }
      return fill < want;
    },
    6,
  );
  if (fill < 1 << 20) {
    // No /usr/lib to speak of: fall back to compressible synthetic text.
    const words = Buffer.from('layer span checkpoint window inflate digest registry manifest tar gzip ');
    for (; fill < want; fill += words.length) words.copy(pool, fill);
  }
  return pool.subarray(0, fill);
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

/** A ustar header for a regular file. */
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'latin1');
  h.write(octal(0o644, 8), 100, 'latin1');
  h.write(octal(0, 8), 108, 'latin1');
  h.write(octal(0, 8), 116, 'latin1');
  h.write(octal(size, 12), 124, 'latin1');
  h.write(octal(1_700_000_000, 12), 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write('0', 156, 'latin1');
  h.write('ustar\x0000', 257, 'latin1');
  h.write('root', 265, 'latin1');
  h.write('root', 297, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** Writes a tar of about `size` uncompressed bytes through pigz/gzip -1 into `out`. */
async function generate(size: number, out: string, pool: Buffer): Promise<void> {
  const gz = have('pigz') ? 'pigz' : 'gzip';
  process.stderr.write(`generating ${out} (${label(size)} uncompressed tar, ${gz} -1)...\n`);
  const fd = openSync(`${out}.tmp`, 'w');
  const child = spawn(gz, ['-1', '-c'], { stdio: ['pipe', fd, 'inherit'] });
  const stdin = child.stdin!;
  const write = async (b: Buffer): Promise<void> => {
    if (!stdin.write(b)) await once(stdin, 'drain');
  };
  let written = 0;
  let i = 0;
  let x = 12345;
  const next = (): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x;
  };
  while (written < size - 1024) {
    // File sizes from 1 KiB to 4 MiB, skewed small like real layers.
    const fsize = Math.min(size - written - 1024, 1024 << next() % 13);
    const dirName = `d${(i >> 8).toString(16)}`;
    await write(tarHeader(`${dirName}/f${i.toString(16)}.bin`, fsize));
    let left = fsize;
    while (left > 0) {
      // Mostly real bytes, one piece in five random (already compressed data in images).
      const n = Math.min(left, 256 << 10);
      if (next() % 5 === 0) await write(randomBytes(n));
      else {
        const at = next() % Math.max(1, pool.length - n);
        await write(pool.subarray(at, at + n));
      }
      left -= n;
    }
    const pad = (512 - (fsize % 512)) % 512;
    if (pad > 0) await write(Buffer.alloc(pad));
    written += 512 + fsize + pad;
    i++;
  }
  await write(Buffer.alloc(1024));
  stdin.end();
  const [code] = (await once(child, 'exit')) as [number | null];
  closeSync(fd);
  if (code !== 0) throw new Error(`${gz} exited with ${code}`);
  renameSync(`${out}.tmp`, out);
}

interface Probe {
  wall: number;
  cpu: number;
  maxRssMB: number;
  outBytes: number;
  ztocBytes?: number;
}

function run(layer: string): Probe {
  const args = [probe, 'build', layer, ...(span !== undefined ? [span] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`probe build ${layer} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Probe;
}

const sizes = (process.env['SCALE_SIZES'] ?? (process.env['BENCH_QUICK'] === '1' ? '100MB' : '100MB,1GB,4GB')).split(',').filter((s) => s.trim() !== '').map(parseSize);
mkdirSync(dir, { recursive: true });
let pool: Buffer | undefined;
const rows: string[] = [];
const rss: number[] = [];
for (const size of sizes) {
  const layer = join(dir, `scale-${label(size)}.tar.gz`);
  if (!existsSync(layer)) {
    pool ??= realBytesPool();
    await generate(size, layer, pool);
  }
  const compressed = statSync(layer).size;
  const p = run(layer);
  rss.push(p.maxRssMB);
  rows.push(
    `| ${label(size)} | ${(p.outBytes / 1e6).toFixed(0)} | ${(compressed / 1e6).toFixed(0)} | ${p.maxRssMB.toFixed(0)} | ` +
      `${p.ztocBytes === undefined ? '-' : (p.ztocBytes / 1e6).toFixed(2)} | ${p.wall.toFixed(2)} | ${(compressed / 1e6 / p.wall).toFixed(0)} | ${(p.outBytes / 1e6 / p.wall).toFixed(0)} |`,
  );
}
const lines: string[] = [];
lines.push('');
lines.push(`scale: peak RSS of \`ztoc build\` by layer size (fresh process each; ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}, zlib ${native().zlibVersion()})`);
lines.push(`layers: generated tars (real /usr/lib bytes + 20% random), ${have('pigz') ? 'pigz' : 'gzip'} -1, cached in ${dir}; span ${span ?? '4 MiB (default)'}`);
lines.push('');
lines.push('| layer | uncompressed MB | compressed MB | peak RSS MB | zTOC MB | wall s | MB/s in | MB/s out |');
lines.push('|---|---|---|---|---|---|---|---|');
lines.push(...rows);
if (rss.length > 1) {
  lines.push('');
  lines.push(`peak RSS from smallest to largest layer: ${rss[0]!.toFixed(0)} MB -> ${rss[rss.length - 1]!.toFixed(0)} MB (${(rss[rss.length - 1]! - rss[0]!).toFixed(0)} MB more for ${(sizes[sizes.length - 1]! / sizes[0]!).toFixed(0)}x the data)`);
}
process.stdout.write(`${lines.join('\n')}\n`);
