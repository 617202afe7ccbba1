// `npm run bench:backfill`: images/min and MB/s of `ztoc backfill` over a generated set of images on a local registry
// (Debian's docker-registry on 127.0.0.1), against the same images indexed one by one in the same run:
//   1. `ztoc index IMAGE` once per image, one process after another (a shell loop over the registry);
//   2. indexImage() once per image in one process (no process start-ups; no shared cache, one image at a time);
//   3. `ztoc backfill REGISTRY` (concurrent images, one worker pool, shared zTOC cache, cross-repository mounts).
// Each run uses its own span size (1 MiB, 1000 KiB, 1010 KiB: the same work) so that none finds the indexes of another.
// The set: BENCH_REPOS repositories (default 8) × BENCH_TAGS tags (default 3); every image is a shared base layer
// (a tar of /usr/share/perl or /usr/share/i18n, gzip -6, ~5 MB) plus a layer of its own (~1 MB of real files).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRegistry } from '../test/helpers/registry.js';
import { makeLayer, makeTree, cleanup } from '../test/helpers/fixtures.js';
import { skopeoPushAsync, writeLayoutImage, type BuiltLayer } from '../test/helpers/images.js';
import { RegistryClient, Repository } from '../src/registry/index.js';
import { RegistryStore } from '../src/image/registry-store.js';
import { indexImage } from '../src/jobs/index-image.js';
import { InflatePool } from '../src/ztoc/pool.js';
import type { BackfillReport } from '../src/jobs/backfill.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'ztoc.js');
const REPOS = Number(process.env['BENCH_REPOS'] ?? 8);
const TAGS = Number(process.env['BENCH_TAGS'] ?? 3);
const work = process.env['BENCH_DIR'] ?? join(tmpdir(), `ztoc-bench-backfill-${process.pid}`);
const MIN = '512KiB';

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

function baseLayer(src: string): BuiltLayer {
  const out = join(work, `base-${src.replace(/\W+/g, '_')}.tar.gz`);
  if (!existsSync(out)) execFileSync('sh', ['-c', `tar --sort=name -cf - -C / '${src.replace(/^\//, '')}' 2>/dev/null | gzip -6 -n > '${out}'`]);
  return { path: out, tree: src };
}

async function main(): Promise<void> {
  mkdirSync(work, { recursive: true });
  const reg = await startRegistry();
  try {
    log(`registry ${reg.host}; generating ${REPOS * TAGS} images in ${REPOS} repositories under ${work}`);
    const bases = [baseLayer('/usr/share/perl'), baseLayer('/usr/share/i18n')];
    const images: Array<{ repo: string; tag: string; bytes: number; own: number }> = [];
    const pushes: Array<() => Promise<void>> = [];
    for (let r = 0; r < REPOS; r++) {
      const repo = r % 2 === 0 ? `team${r}/app` : `svc${r}`;
      for (let t = 1; t <= TAGS; t++) {
        const tag = `v${t}`;
        const name = `r${r}t${t}`;
        const tree = makeTree(join(work, `tree-${name}`), { bigSize: 640 << 10 });
        const own: BuiltLayer = { path: makeLayer(tree, join(work, `${name}.tar.gz`), 'gnu', 'gzip-n'), tree };
        const layers = [bases[r % 2]!, own];
        images.push({ repo, tag, bytes: layers.reduce((n, l) => n + statSync(l.path).size, 0), own: statSync(own.path).size });
        const dir = join(work, `layout-${name}`);
        pushes.push(async () => {
          await writeLayoutImage(dir, layers, tag);
          await skopeoPushAsync(dir, tag, reg.host, repo);
        });
      }
    }
    for (let i = 0; i < pushes.length; i += 4) await Promise.all(pushes.slice(i, i + 4).map((p) => p()));
    const covered = images.reduce((n, i) => n + i.bytes, 0);
    const distinct = bases.reduce((n, b) => n + statSync(b.path).size, 0) + images.reduce((n, i) => n + i.own, 0);
    log(`pushed ${images.length} images: ${(covered / 1e6).toFixed(0)} MB of layers over all images, ${(distinct / 1e6).toFixed(0)} MB distinct`);

    const rows: Array<{ name: string; wall: number; read: number; note: string }> = [];

    // 1. `ztoc index` per image, one process after another.
    log('1/3 ztoc index, one process per image...');
    let t0 = performance.now();
    for (const i of images) {
      const r = spawnSync(process.execPath, [bin, 'index', `${reg.host}/${i.repo}:${i.tag}`, '--span-size', '1MiB', '--min-layer-size', MIN, '-q'], { env: { ...process.env, CI: '1' }, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ztoc index ${i.repo}:${i.tag} failed: ${r.stderr}`);
    }
    rows.push({ name: '`ztoc index` per image (processes)', wall: (performance.now() - t0) / 1000, read: covered, note: 'a process start-up per image' });

    // 2. indexImage per image in one process, one after another, no cache.
    log('2/3 indexImage per image in one process...');
    const client = new RegistryClient();
    const pool = new InflatePool();
    let read2 = 0;
    t0 = performance.now();
    for (const i of images) {
      const res = await indexImage(new RegistryStore(new Repository(reg.host, i.repo, { client })), i.tag, { spanSize: 1000 * 1024, minLayerSize: 512 * 1024, pool });
      read2 += res.platforms.reduce((n, p) => n + p.bytesRead, 0);
    }
    rows.push({ name: 'indexImage per image (one process)', wall: (performance.now() - t0) / 1000, read: read2, note: 'sequential, every layer read per image' });
    await pool.close();
    await client.close();

    // 3. ztoc backfill.
    log('3/3 ztoc backfill...');
    const rep = join(work, 'report.json');
    t0 = performance.now();
    const b = spawnSync(process.execPath, [bin, 'backfill', reg.host, '--span-size', '1010KiB', '--min-layer-size', MIN, '--report', rep, '--json'], { env: { ...process.env, CI: '1' }, encoding: 'utf8' });
    const wall3 = (performance.now() - t0) / 1000;
    if (b.status !== 0) throw new Error(`ztoc backfill failed: ${b.stderr}`);
    const report = JSON.parse(b.stdout) as BackfillReport;
    if (report.totals.byOutcome.indexed !== images.length) throw new Error(`backfill indexed ${report.totals.byOutcome.indexed} of ${images.length}`);
    const t = report.totals;
    rows.push({
      name: '`ztoc backfill` (one process)',
      wall: wall3,
      read: t.bytesRead,
      note: `concurrency 2×cores; ${t.ztocsBuilt} zTOCs built, ${t.ztocsReused} reused; blobs ${t.blobs.pushed} uploaded, ${t.blobs.mounted} mounted, ${t.blobs.exists} found`,
    });

    const c = cpus();
    const out: string[] = [];
    out.push(`machine: ${c[0]?.model ?? 'unknown'}, ${c.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${loadavg()[0]!.toFixed(1)}; node ${process.version}`);
    out.push(
      `set: ${images.length} images in ${REPOS} repositories, each a shared ~5 MB base layer + ~1 MB own layer; ${(covered / 1e6).toFixed(0)} MB of layers over all images, ${(distinct / 1e6).toFixed(0)} MB distinct; --min-layer-size ${MIN}`,
    );
    out.push('');
    out.push('| run | wall s | images/min | MB/s (layers covered) | MB read | MB/s (read) | backfill is × faster | |');
    out.push('|---|---|---|---|---|---|---|---|');
    const last = rows[rows.length - 1]!;
    for (const r of rows) {
      out.push(
        `| ${r.name} | ${r.wall.toFixed(1)} | ${((images.length / r.wall) * 60).toFixed(1)} | ${(covered / 1e6 / r.wall).toFixed(1)} | ${(r.read / 1e6).toFixed(0)} | ${(r.read / 1e6 / r.wall).toFixed(1)} | ${(r.wall / last.wall).toFixed(2)} | ${r.note} |`,
      );
    }
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await reg.stop();
    if (process.env['BENCH_DIR'] === undefined) cleanup(work);
  }
}

await main();
