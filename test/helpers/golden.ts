// Test helper: the golden layers and zTOCs made by AWS's SOCI code. The committed subset lives
// in testdata/golden; layers too big to commit are derived from pax-tree.tar.gz with the same
// real tools (GNU tar, gzip, pigz) and checked against the golden SHA256SUMS. When ../shared is
// present, its full set is used too.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout: the nearest folder above this file with package.json and testdata/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'testdata'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const TESTDATA = join(repoRoot(), 'testdata');
export const LOCAL_GOLDEN = join(TESTDATA, 'golden');
export const SHARED_GOLDEN = join(repoRoot(), '..', 'shared', 'golden');
export const hasShared = existsSync(join(SHARED_GOLDEN, 'SHA256SUMS'));

const sums = new Map<string, string>(
  readFileSync(join(LOCAL_GOLDEN, 'SHA256SUMS'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const [hash, path] = l.split(/\s+/);
      return [path!, hash!];
    }),
);

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

const cacheDir = join(tmpdir(), 'ztoc-golden-cache');

function sh(cmd: string): Buffer {
  return execFileSync('sh', ['-c', cmd], { maxBuffer: 1 << 28 });
}

const DERIVABLE = new Set(['pax-tree.tar', 'gnu-tree.tar', 'gnu-tree.tar.gz', 'gnu-tree.pigz.tar.gz', 'gnu-tree.multimember.tar.gz']);

/** Whether a golden layer can be had here: committed, in ../shared, or derivable. */
export function goldenLayerAvailable(name: string): boolean {
  return DERIVABLE.has(name) || [LOCAL_GOLDEN, SHARED_GOLDEN].some((d) => existsSync(join(d, 'layers', name)));
}

/** How each layer that isn't committed is made from pax-tree.tar.gz (see shared/golden/README.md). */
function derive(name: string): Buffer {
  const src = join(LOCAL_GOLDEN, 'layers', 'pax-tree.tar.gz');
  const gnuTar = (): Buffer => {
    const tree = join(cacheDir, 'tree');
    sh(`rm -rf '${tree}' && mkdir -p '${tree}' && gzip -dc '${src}' | tar -xf - -C '${tree}'`);
    return sh(`cd '${tree}' && tar --format=gnu --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 -cf - .`);
  };
  switch (name) {
    case 'pax-tree.tar':
      return sh(`gzip -dc '${src}'`);
    case 'gnu-tree.tar.gz':
      return sh(`gzip -n -6 -c '${goldenLayer('gnu-tree.tar')}'`);
    case 'gnu-tree.pigz.tar.gz':
      return sh(`pigz -n -6 -b 128 -c '${goldenLayer('gnu-tree.tar')}'`);
    case 'gnu-tree.multimember.tar.gz': {
      const t = goldenLayer('gnu-tree.tar');
      return sh(`(head -c 2097152 '${t}' | gzip -n -6; tail -c +2097153 '${t}' | gzip -n -1)`);
    }
    case 'gnu-tree.tar':
      return gnuTar();
    default:
      throw new Error(`no recipe for golden layer ${name}`);
  }
}

/** Path of a golden layer: committed, from ../shared, or derived and checked. */
export function goldenLayer(name: string): string {
  for (const dir of [join(LOCAL_GOLDEN, 'layers'), join(SHARED_GOLDEN, 'layers')]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  mkdirSync(cacheDir, { recursive: true });
  const p = join(cacheDir, name);
  if (existsSync(p)) return p;
  const bytes = derive(name);
  const want = sums.get(`layers/${name}`);
  if (want !== undefined && sha256(bytes) !== want) {
    throw new Error(`derived ${name} has sha256 ${sha256(bytes)}, golden is ${want}: the local tar/gzip/pigz differ from the ones the golden set was made with`);
  }
  writeFileSync(`${p}.tmp`, bytes);
  renameSync(`${p}.tmp`, p);
  return p;
}

export interface GoldenCase {
  layer: string;
  span: number;
  ztocPath: string;
}

/** Every (layer, span size) with a golden zTOC, committed or in ../shared. */
export function goldenCases(): GoldenCase[] {
  const seen = new Map<string, GoldenCase>();
  for (const dir of [join(LOCAL_GOLDEN, 'ztoc'), ...(hasShared ? [join(SHARED_GOLDEN, 'ztoc')] : [])]) {
    for (const f of readdirSync(dir).sort()) {
      const m = /^(.*)\.span(\d+)\.ztoc$/.exec(f);
      // A zTOC whose layer can't be had here (typescript's, without ../shared) has nothing to compare.
      if (!m || seen.has(f) || !goldenLayerAvailable(m[1]!)) continue;
      seen.set(f, { layer: m[1]!, span: Number(m[2]), ztocPath: join(dir, f) });
    }
  }
  return [...seen.values()];
}

export function goldenSum(path: string): string | undefined {
  return sums.get(path);
}
