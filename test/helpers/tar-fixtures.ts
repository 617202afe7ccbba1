// Test helper for the tar scanner: hand-crafted tar blocks (any field, any checksum), PAX bodies,
// a varied source tree for GNU tar / python tarfile, and a chunked driver for TarScanner.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ZtocError } from '../../src/errors.js';
import { TarScanner } from '../../src/tar/scanner.js';
import type { TarScanResult } from '../../src/tar/types.js';

export const BLOCK = 512;

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

export function zeros(n: number): Uint8Array {
  return new Uint8Array(n);
}

/** A field value: a number (octal, zero-padded, NUL-terminated), raw text (latin1), or raw bytes. */
export type Field = number | string | Uint8Array;

export interface HeaderSpec {
  name?: Field;
  mode?: Field;
  uid?: Field;
  gid?: Field;
  size?: Field;
  mtime?: Field;
  typeflag?: string | number;
  linkname?: Field;
  format?: 'ustar' | 'gnu' | 'v7' | 'star';
  uname?: Field;
  gname?: Field;
  devmajor?: Field;
  devminor?: Field;
  /** USTAR/STAR prefix, or (GNU) the bytes at 345.. for the pre-Go1.8 fallback. */
  prefix?: Field;
  atime?: Field;
  ctime?: Field;
  /** Raw byte patches applied last, before the checksum. */
  patch?: Array<[number, Uint8Array | string]>;
  /** 'unsigned' (default), 'signed' (sum of int8 bytes), 'bad', an explicit value, or raw field bytes. */
  checksum?: 'unsigned' | 'signed' | 'bad' | number | { raw: string };
}

function put(b: Uint8Array, off: number, width: number, v: Field | undefined, numeric: boolean): void {
  if (v === undefined) return;
  let bytes: Uint8Array;
  if (typeof v === 'number') {
    if (!numeric) throw new Error('number for a string field');
    bytes = Buffer.from(v.toString(8).padStart(width - 1, '0') + '\0', 'latin1');
  } else if (typeof v === 'string') {
    bytes = Buffer.from(v, 'latin1');
  } else {
    bytes = v;
  }
  if (bytes.length > width) throw new Error(`field too long (${bytes.length} > ${width})`);
  b.set(bytes, off);
}

/** Base-256 (GNU binary) encoding of v in width bytes. */
export function b256(v: bigint, width: number): Uint8Array {
  const out = new Uint8Array(width);
  let x = BigInt.asUintN(width * 8, v);
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  out[0] |= 0x80;
  return out;
}

export function header(spec: HeaderSpec): Uint8Array {
  const b = new Uint8Array(BLOCK);
  const fmt = spec.format ?? 'ustar';
  put(b, 0, 100, spec.name ?? 'file', false);
  put(b, 100, 8, spec.mode ?? 0o644, true);
  put(b, 108, 8, spec.uid ?? 0, true);
  put(b, 116, 8, spec.gid ?? 0, true);
  put(b, 124, 12, spec.size ?? 0, true);
  put(b, 136, 12, spec.mtime ?? 1700000000, true);
  const tf = spec.typeflag ?? '0';
  b[156] = typeof tf === 'number' ? tf : tf.charCodeAt(0);
  put(b, 157, 100, spec.linkname, false);
  if (fmt === 'ustar' || fmt === 'star') {
    put(b, 257, 8, 'ustar\u000000', false);
  } else if (fmt === 'gnu') {
    put(b, 257, 8, 'ustar  \u0000', false);
  }
  if (fmt !== 'v7') {
    put(b, 265, 32, spec.uname ?? 'user', false);
    put(b, 297, 32, spec.gname ?? 'group', false);
    put(b, 329, 8, spec.devmajor ?? (fmt === 'gnu' ? undefined : 0), true);
    put(b, 337, 8, spec.devminor ?? (fmt === 'gnu' ? undefined : 0), true);
  }
  if (fmt === 'star') {
    put(b, 345, 131, spec.prefix, false);
    put(b, 476, 12, spec.atime ?? 0, true);
    put(b, 488, 12, spec.ctime ?? 0, true);
    put(b, 508, 4, 'tar\0', false);
  } else if (fmt === 'gnu') {
    put(b, 345, 12, spec.atime, true);
    put(b, 357, 12, spec.ctime, true);
    put(b, 345, 155, spec.prefix, false);
  } else {
    put(b, 345, 155, spec.prefix, false);
  }
  for (const [off, v] of spec.patch ?? []) b.set(typeof v === 'string' ? Buffer.from(v, 'latin1') : v, off);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += c;
    signed += c >= 128 ? c - 256 : c;
  }
  const ck = spec.checksum ?? 'unsigned';
  if (typeof ck === 'object') {
    put(b, 148, 8, ck.raw, false);
    return b;
  }
  const value = ck === 'unsigned' ? unsigned : ck === 'signed' ? signed : ck === 'bad' ? unsigned + 1 : ck;
  put(b, 148, 8, value.toString(8).padStart(6, '0') + '\0 ', false);
  return b;
}

export function padTo512(data: Uint8Array): Uint8Array {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return pad === 0 ? data : concat([data, zeros(pad)]);
}

/** Header + data + padding. spec.size defaults to data.length. */
export function entry(spec: HeaderSpec, data: Uint8Array | string = new Uint8Array(0)): Uint8Array {
  const d = typeof data === 'string' ? new Uint8Array(Buffer.from(data, 'latin1')) : data;
  return concat([header({ size: d.length, ...spec }), padTo512(d)]);
}

/** One PAX record "%d %s=%s\n" with a self-including length. */
export function paxRecord(k: string, v: string): string {
  const body = ` ${k}=${v}\n`;
  const bodyLen = Buffer.byteLength(body, 'latin1');
  let n = bodyLen + 1;
  while (String(n).length + bodyLen !== n) n = String(n).length + bodyLen;
  return `${n}${body}`;
}

export function paxBody(records: Array<[string, string]>): string {
  return records.map(([k, v]) => paxRecord(k, v)).join('');
}

/** A PAX 'x' (or 'g') meta entry with the given records or raw body. */
export function pax(records: Array<[string, string]> | string, typeflag = 'x', name = 'PaxHeaders/file'): Uint8Array {
  const body = typeof records === 'string' ? records : paxBody(records);
  return entry({ name, typeflag }, body);
}

export const END = zeros(2 * BLOCK);

// ---------------------------------------------------------------------------------------------
// Driving the scanner.

export type ScanOutcome = { ok: TarScanResult } | { err: ZtocError };

/** Scan buf fed in chunks: a fixed size, or random splits from a seed. */
export function scan(buf: Uint8Array, chunk: number | { seed: number; max: number } = buf.length || 1): ScanOutcome {
  const s = new TarScanner();
  try {
    if (typeof chunk === 'number') {
      for (let i = 0; i < buf.length; i += chunk) s.push(buf, i, Math.min(buf.length, i + chunk));
    } else {
      const r = rng(chunk.seed);
      let i = 0;
      while (i < buf.length) {
        const n = Math.min(buf.length - i, 1 + Math.floor(r() * chunk.max));
        // A reused output buffer: copy into scratch space that is overwritten afterwards.
        const scratch = new Uint8Array(n + 7);
        scratch.set(buf.subarray(i, i + n), 3);
        s.push(scratch, 3, 3 + n);
        scratch.fill(0xee);
        i += n;
      }
    }
    return { ok: s.end() };
  } catch (e) {
    if (e instanceof ZtocError) return { err: e };
    throw e;
  }
}

export function scanOk(buf: Uint8Array, chunk?: number | { seed: number; max: number }): TarScanResult {
  const r = scan(buf, chunk);
  if ('err' in r) throw r.err;
  return r.ok;
}

// ---------------------------------------------------------------------------------------------
// Real trees and tools.

export function have(cmd: string, args: string[] = ['--version']): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): Buffer {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Like run, but accepts exit status 1-2 (GNU tar's "some files were not dumped / differ"). */
export function runLenient(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { cwd, stdio: 'ignore' });
  if (r.status !== 0 && r.status !== 1 && r.status !== 2) throw new Error(`${cmd} ${args.join(' ')} failed`);
}

/** Builds a varied tree under root/tree. Returns whether user xattrs could be set. */
export function makeTree(root: string): { xattrs: boolean } {
  const t = path.join(root, 'tree');
  fs.mkdirSync(path.join(t, 'dir', 'sub'), { recursive: true });
  const sizes = [0, 1, 100, 511, 512, 513, 1024, 4096, 70000];
  for (const n of sizes) fs.writeFileSync(path.join(t, 'dir', `f${n}.bin`), randomBytes(n, n + 1));
  fs.writeFileSync(path.join(t, 'hello.txt'), 'hello world\n');
  fs.linkSync(path.join(t, 'hello.txt'), path.join(t, 'dir', 'hard.txt'));
  fs.symlinkSync('../hello.txt', path.join(t, 'dir', 'sym'));
  fs.symlinkSync('x'.repeat(150), path.join(t, 'dir', 'longsym'));
  // Long names: >100 with a splittable USTAR prefix, and >255 (GNU 'L' / PAX path only).
  const mid = path.join(t, 'p'.repeat(60), 'q'.repeat(60));
  fs.mkdirSync(mid, { recursive: true });
  fs.writeFileSync(path.join(mid, 'r'.repeat(40) + '.txt'), 'prefix split\n');
  const deep = path.join(t, 'long', 'a'.repeat(120), 'b'.repeat(120));
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'c'.repeat(100)), 'deep\n');
  fs.writeFileSync(path.join(t, 'héllo-ñ-日本.txt'), 'unicode\n');
  fs.writeFileSync(Buffer.concat([Buffer.from(t + '/latin1-'), Buffer.from([0xe9, 0xff]), Buffer.from('.txt')]), 'raw\n');
  spawnSync('mkfifo', [path.join(t, 'fifo')]);
  const xf = path.join(t, 'xattr.txt');
  fs.writeFileSync(xf, 'with xattr\n');
  const xattrs = spawnSync('setfattr', ['-n', 'user.ztoc', '-v', 'v1', xf], { stdio: 'ignore' }).status === 0;
  return { xattrs };
}

/** Python script writing odd-but-valid archives with the standard tarfile module. */
export const PY_TARFILE = String.raw`
import io, sys, tarfile
out, kind = sys.argv[1], sys.argv[2]
fmt = {'pax': tarfile.PAX_FORMAT, 'gnu': tarfile.GNU_FORMAT}[kind]
def add(tf, name, data=b'', **kw):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    for k, v in kw.items():
        setattr(ti, k, v)
    tf.addfile(ti, io.BytesIO(data) if data else None)
with tarfile.open(out, 'w', format=fmt) as tf:
    add(tf, 'nano.txt', b'nanosecond mtime\n', mtime=1700000000.4997788)
    if kind == 'pax':
        add(tf, 'nano-record.txt', b'', mtime=1700000000, pax_headers={'mtime': '1700000000.4997788'})
    add(tf, 'neg.txt', b'negative mtime\n', mtime=-86401)
    add(tf, 'biguid.txt', b'big ids\n', uid=3000000000, gid=4294967295, mtime=1700000000)
    add(tf, 'longuname.txt', b'x', uname='u' * 40, gname='g' * 40, mtime=1700000000)
    add(tf, 'dir/', type=tarfile.DIRTYPE, mode=0o755, mtime=1700000000)
    add(tf, 'dev-char', type=tarfile.CHRTYPE, devmajor=4, devminor=64, mtime=1700000000)
    add(tf, 'dev-block', type=tarfile.BLKTYPE, devmajor=8, devminor=1, mtime=1700000000)
    add(tf, 'fifo', type=tarfile.FIFOTYPE, mtime=1700000000)
    add(tf, 'dir/link', type=tarfile.SYMTYPE, linkname='../nano.txt', mtime=1700000000)
    add(tf, 'hard', type=tarfile.LNKTYPE, linkname='nano.txt', mtime=1700000000)
    add(tf, 'L' * 300, b'long name\n', mtime=1700000000)
    add(tf, 'ln', type=tarfile.SYMTYPE, linkname='T' * 200, mtime=1700000000)
    add(tf, 'caf\u00e9-\u65e5\u672c.txt', b'utf8 name\n', mtime=1700000000)
    if kind == 'pax':
        ti = tarfile.TarInfo('xattr.txt')
        ti.size = 3
        ti.mtime = 1700000000
        ti.pax_headers = {'SCHILY.xattr.user.x': 'v', 'SCHILY.xattr.security.selinux': 'ctx', 'comment': 'hi'}
        tf.addfile(ti, io.BytesIO(b'abc'))
        add(tf, 'y10k.txt', b'', mtime=253402300800)
    else:
        add(tf, 'bigmtime.txt', b'', mtime=8 ** 11 * 2)
`;

/** Files inside an extracted copy or the source tree: name -> content, via GNU tar itself. */
export function tarExtractOne(tarFile: string, name: Buffer): Buffer {
  return execFileSync('tar', ['-xOf', tarFile, '--', name.toString('latin1')], { maxBuffer: 1 << 30 });
}
