// `npm run bench`: what `ztoc build` and `ztoc index` cost against baselines measured in the same run
// on the same layers (issue 12). Two layers are generated once and cached in $BENCH_DIR (default
// <tmp>/ztoc-bench):
//   - share: a tar of /usr/share + /usr/lib/python3*, `gzip -6` (>= 250 MB compressed);
//   - syncflush: a tar of /usr/bin + /usr/lib/x86_64-linux-gnu files, gzip with a Z_SYNC_FLUSH every
//     256 KiB of input, the way Go's pgzip (umoci, many registries' images) writes layers (>= 60 MB).
// Every case runs as a fresh process under /usr/bin/time, and the cases alternate (A B C A B C ...)
// so that a change in machine load hits all of them alike; each figure is the median of BENCH_RUNS
// (default 5) with min and max. The load average is printed before and after: quote figures only
// from an idle machine. BENCH_QUICK=1 uses small layers and 3 runs (under a minute, for a smoke test).
// When `ztoc build --help` offers `--engine`, both the fast engine and zlib are measured. With Debian's
// docker-registry and skopeo installed, the same image is also indexed from a registry on 127.0.0.1 (the
// CI user's path: the layers arrive over HTTP instead of from files).

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, createGzip } from 'node:zlib';
import { walkFiles } from './files.js';
import { startRegistry, type RunningRegistry } from '../test/helpers/registry.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ztoc = join(root, 'bin', 'ztoc.js');
const quick = process.env['BENCH_QUICK'] === '1';
const runs = Number(process.env['BENCH_RUNS'] ?? (quick ? 3 : 5));
const dir = process.env['BENCH_DIR'] ?? join(tmpdir(), 'ztoc-bench');
const GB = 1e9;

interface Sample {
  wall: number;
  cpu: number;
  rssMB: number;
}

interface Case {
  name: string;
  /** Layer whose compressed size the CPU figure is divided by. */
  bytes: number;
  argv: string[];
  samples: Sample[];
}

function have(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

function sh(cmd: string): void {
  execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Regular files under `dirs`, in name order, until their sizes add up to `limit` bytes. */
function fileList(dirs: string[], limit: number): string[] {
  const out: string[] = [];
  let total = 0;
  walkFiles(dirs, (p, size) => {
    out.push(p.slice(1));
    total += size;
    return total < limit;
  });
  return out;
}

/** Gzip `input` with a sync flush after every 256 KiB of input (pgzip's block layout). */
async function syncFlushGzip(input: string, output: string): Promise<void> {
  const gz = createGzip({ level: 6 });
  const out = createWriteStream(output);
  gz.pipe(out);
  const piece = 256 << 10;
  let pending: Buffer = Buffer.alloc(0);
  const flush = (): Promise<void> => new Promise((res) => gz.flush(constants.Z_SYNC_FLUSH, () => res()));
  for await (const chunk of createReadStream(input, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= piece) {
      if (!gz.write(pending.subarray(0, piece))) await once(gz, 'drain');
      await flush();
      pending = pending.subarray(piece);
    }
  }
  if (pending.length > 0) gz.write(pending);
  gz.end();
  await once(out, 'close');
}

async function ensureLayers(): Promise<{ share: string; sync: string }> {
  mkdirSync(dir, { recursive: true });
  const tag = quick ? 'quick' : 'full';
  const share = join(dir, `share-${tag}.tar.gz`);
  if (!existsSync(share)) {
    const python = readdirSync('/usr/lib').filter((n) => /^python3/.test(n)).map((n) => `usr/lib/${n}`);
    const what = quick ? python : ['usr/share', ...python];
    process.stderr.write(`generating ${share} (tar of ${what.join(' ')}, gzip -6)...\n`);
    sh(`tar -cf - -C / ${what.join(' ')} 2>/dev/null | gzip -6 > '${share}.tmp'`);
    renameSync(`${share}.tmp`, share);
  }
  const sync = join(dir, `syncflush-${tag}.tar.gz`);
  if (!existsSync(sync)) {
    process.stderr.write(`generating ${sync} (tar of /usr/bin + /usr/lib/x86_64-linux-gnu files, sync flush every 256 KiB)...\n`);
    const list = join(dir, 'syncflush.list');
    writeFileSync(list, `${fileList(['/usr/bin', '/usr/lib/x86_64-linux-gnu'], quick ? 40e6 : 190e6).join('\n')}\n`);
    const tar = join(dir, 'syncflush.tar');
    sh(`tar -cf '${tar}' -C / --no-recursion -T '${list}' 2>/dev/null`);
    await syncFlushGzip(tar, `${sync}.tmp`);
    rmSync(tar);
    renameSync(`${sync}.tmp`, sync);
  }
  return { share, sync };
}

/** A ~1 MB layer (a gzip -6 tar of C headers from /usr/include), for what a small build costs: mostly start-up. */
function ensureSmallLayer(): string {
  const small = join(dir, 'small.tar.gz');
  if (!existsSync(small)) {
    const list = join(dir, 'small.list');
    writeFileSync(list, `${fileList(['/usr/include'], 4e6).join('\n')}\n`);
    sh(`tar -cf - -C / --no-recursion -T '${list}' 2>/dev/null | gzip -6 > '${small}.tmp'`);
    renameSync(`${small}.tmp`, small);
  }
  return small;
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) h.update(c);
  return h.digest('hex');
}

/** An OCI layout whose one image has both layers (blobs hard-linked or symlinked, not copied). */
async function ensureLayout(layers: string[]): Promise<string> {
  const layout = join(dir, `layout-${quick ? 'quick' : 'full'}`);
  if (existsSync(join(layout, 'index.json'))) return layout;
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (bytes: string): { digest: string; size: number } => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: Buffer.byteLength(bytes) };
  };
  const descs: Array<{ mediaType: string; digest: string; size: number }> = [];
  for (const l of layers) {
    const hex = await sha256(l);
    const target = join(blobs, hex);
    if (!existsSync(target)) {
      try {
        linkSync(l, target);
      } catch {
        symlinkSync(l, target);
      }
    }
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${hex}`, size: statSync(l).size });
  }
  const config = put(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const manifest = put(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: descs,
    }),
  );
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
  return layout;
}

function measure(argv: string[]): Sample {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', ...argv], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 16 << 20 });
  const last = r.stderr.trim().split('\n').pop() ?? '';
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const [wall, user, sys, rss] = last.split(' ').map(Number) as [number, number, number, number];
  return { wall, cpu: user + sys, rssMB: rss / 1024 };
}

function stats(xs: number[]): { med: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { med: s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s[s.length - 1]! };
}

const med = (c: Case | undefined, k: keyof Sample): number => (c === undefined ? Number.NaN : stats(c.samples.map((s) => s[k])).med);
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');

/**
 * The load average with a warning when the machine was not idle. After the run the bench's own processes
 * count: they keep about one core busy, which puts the 1-minute average near 1 on any machine.
 */
function loadLine(when: 'before' | 'after'): string {
  const [one, five, fifteen] = loadavg() as [number, number, number];
  const own = when === 'after' ? 1 : 0;
  const busy = one > own + 0.3 * cpus().length;
  return `load average ${when}: ${one.toFixed(2)} ${five.toFixed(2)} ${fifteen.toFixed(2)}${busy ? '  WARNING: the machine is not idle; these figures are not fit to quote' : ''}`;
}

const loadBefore = loadLine('before');
process.stderr.write(`${loadBefore}\n`);
const { share, sync } = await ensureLayers();
const layout = await ensureLayout([share, sync]);
const out = join(dir, 'bench.ztoc');
const help = spawnSync(process.execPath, [ztoc, 'build', '--help'], { encoding: 'utf8' }).stdout;
const engines: Array<string | undefined> = /--engine\b/.test(help) ? ['fast', 'zlib'] : [undefined];
const node = process.execPath;

const cases: Case[] = [];
const add = (name: string, bytes: number, argv: string[]): void => {
  cases.push({ name, bytes, argv, samples: [] });
};
const layers = { share: { path: share, size: statSync(share).size }, syncflush: { path: sync, size: statSync(sync).size } };
for (const [label, l] of Object.entries(layers)) {
  add(`${label}: gzip -dc`, l.size, ['sh', '-c', `gzip -dc '${l.path}' > /dev/null`]);
  if (have('igzip')) add(`${label}: igzip -dc`, l.size, ['sh', '-c', `igzip -dc '${l.path}' > /dev/null`]);
  // libdeflate (Debian libdeflate-tools) is the other fast inflater: whole-buffer, so no checkpoints.
  if (have('libdeflate-gunzip')) add(`${label}: libdeflate-gunzip -c`, l.size, ['sh', '-c', `libdeflate-gunzip -c '${l.path}' > /dev/null`]);
  for (const e of engines) {
    add(`${label}: ztoc build${e ? ` --engine ${e}` : ''}`, l.size, [node, ztoc, 'build', l.path, '-o', out, ...(e ? ['--engine', e] : [])]);
  }
}
const both = layers.share.size + layers.syncflush.size;
add('both: ztoc build, one after the other', both, ['sh', '-c', `'${node}' '${ztoc}' build '${share}' -o '${out}' && '${node}' '${ztoc}' build '${sync}' -o '${out}'`]);
add('both: ztoc index (2 layers, --dry-run)', both, [node, ztoc, 'index', `oci:${layout}`, '--dry-run', '--force', '-q']);
// The same image pushed to a registry on 127.0.0.1 by skopeo, an independent client: blobs keep their bytes.
let registry: RunningRegistry | undefined;
const REGISTRY_CASE = 'both: ztoc index from a registry on 127.0.0.1 (--dry-run)';
if (have('docker-registry') && have('skopeo')) {
  registry = await startRegistry();
  execFileSync('skopeo', ['copy', '-q', `oci:${layout}`, `docker://${registry.host}/bench:latest`, '--dest-tls-verify=false'], { stdio: 'ignore' });
  add(REGISTRY_CASE, both, [node, ztoc, 'index', `${registry.host}/bench:latest`, '--dry-run', '--force', '-q']);
}
add('ztoc --version', 0, [node, ztoc, '--version']);
const small = ensureSmallLayer();
add('ztoc build of a ~1 MB layer', statSync(small).size, [node, ztoc, 'build', small, '-o', out]);
add('node -e 0 (Node\'s own start)', 0, [node, '-e', '0']);

for (let r = 0; r < runs; r++) {
  process.stderr.write(`round ${r + 1}/${runs}\n`);
  for (const c of cases) c.samples.push(measure(c.argv));
}
const loadAfter = loadLine('after');

const byName = (n: string): Case | undefined => cases.find((c) => c.name === n);
const lines: string[] = [];
lines.push(`machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; ${quick ? 'QUICK mode (small layers)' : 'full'}`);
lines.push(`engines: ${engines[0] === undefined ? 'default only (ztoc build has no --engine)' : engines.join(', ')}; ${runs} alternating runs per case, median [min-max]`);
lines.push(loadBefore);
lines.push(loadAfter);
for (const [label, l] of Object.entries(layers)) lines.push(`layer ${label}: ${l.path}, ${(l.size / 1e6).toFixed(0)} MB compressed`);
lines.push('');
lines.push('| case | wall s | CPU s | CPU s/GB | peak RSS MB | ÷ gzip -dc | ÷ igzip -dc |');
lines.push('|---|---|---|---|---|---|---|');
for (const c of cases) {
  const w = stats(c.samples.map((s) => s.wall));
  const layer = c.name.split(':')[0]!;
  const g = med(byName(`${layer}: gzip -dc`), 'wall');
  const ig = med(byName(`${layer}: igzip -dc`), 'wall');
  const cpu = med(c, 'cpu');
  lines.push(
    `| ${c.name} | ${f2(w.med)} [${f2(w.min)}-${f2(w.max)}] | ${f2(cpu)} | ${c.bytes > 0 ? f2(cpu / (c.bytes / GB)) : '-'} | ${med(c, 'rssMB').toFixed(0)} | ${f2(w.med / g)} | ${f2(w.med / ig)} |`,
  );
}

// Goals of issue 12, from the medians above.
const goals: string[] = [];
const check = (what: string, value: number, ok: boolean): void => {
  goals.push(`- ${what}: ${f2(value)} ${Number.isNaN(value) ? '(not measured)' : ok ? 'ok' : 'MISSED'}`);
};
const fast = engines[0] === undefined ? '' : ' --engine fast';
for (const label of Object.keys(layers)) {
  const b = byName(`${label}: ztoc build${fast}`);
  const wall = med(b, 'wall');
  const ig = med(byName(`${label}: igzip -dc`), 'wall');
  check(`${label}: build ÷ igzip -dc (headline, ≤ 1.6)`, wall / ig, wall / ig <= 1.6);
  check(`${label}: build ÷ gzip -dc (≤ 0.45)`, wall / med(byName(`${label}: gzip -dc`), 'wall'), wall / med(byName(`${label}: gzip -dc`), 'wall') <= 0.45);
  const perGB = med(b, 'cpu') / (b!.bytes / GB);
  check(`${label}: CPU s per GB compressed (≤ 6)`, perGB, perGB <= 6);
  if (engines.includes('zlib')) {
    const z = med(byName(`${label}: ztoc build --engine zlib`), 'wall') / med(byName(`${label}: gzip -dc`), 'wall');
    check(`${label}: zlib engine build ÷ gzip -dc (≤ 0.6)`, z, z <= 0.6);
  }
}
const shareRss = med(byName(`share: ztoc build${fast}`), 'rssMB');
check(`share: peak RSS MB (< 120${quick ? '; quick layer is smaller' : ''})`, shareRss, shareRss < 120);
const v = med(byName('ztoc --version'), 'wall');
check('ztoc --version wall s (≤ 0.15)', v, v <= 0.15);
const idx = med(byName('both: ztoc index (2 layers, --dry-run)'), 'wall') / med(byName('both: ztoc build, one after the other'), 'wall');
check('index of 2 layers ÷ building them one after the other (≤ 0.6)', idx, idx <= 0.6);
// No schedule, on any number of cores, finishes before the largest layer's own build: with these two layers that
// bounds the ratio from below, from the same run's medians.
const alone = (l: string): number => med(byName(`${l}: ztoc build${fast}`), 'wall');
const floor = alone('share') / (alone('share') + alone('syncflush'));
goals.push(`  (lower bound for this layout: share's build alone ÷ both builds = ${f2(floor)})`);
if (registry !== undefined) {
  const viaRegistry = med(byName(REGISTRY_CASE), 'wall') / med(byName('both: ztoc index (2 layers, --dry-run)'), 'wall');
  lines.push('');
  lines.push(`index from the registry ÷ from the OCI layout: ${f2(viaRegistry)} wall, ${f2(med(byName(REGISTRY_CASE), 'cpu') / med(byName('both: ztoc index (2 layers, --dry-run)'), 'cpu'))} CPU`);
  await registry.stop();
}
lines.push('');
lines.push('goals (issue 12; peak RSS at 4 GB: see the scale table below):');
lines.push(...goals);
process.stdout.write(`${lines.join('\n')}\n`);
rmSync(out, { force: true });
