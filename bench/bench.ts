// `npm run bench`: the cost of `ztoc build` against two baselines measured in the same run on the
// same layer: GNU `gzip -dc LAYER > /dev/null`, and an inflate-only loop over the same addon.
// Each figure is the median of BENCH_RUNS fresh processes (default 3). Goals (issue #2): wall
// <= 0.6x gzip -dc, wall <= 1.25x inflate-only, peak RSS < 150 MB.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../src/inflate/native.js';

interface Sample {
  wall: number;
  cpu: number;
  maxRssMB: number;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const probe = join(root, 'dist', 'bench', 'probe.js');
const runs = Number(process.env['BENCH_RUNS'] ?? 3);
const dir = process.env['BENCH_DIR'] ?? join(tmpdir(), 'ztoc-bench');
const source = process.env['BENCH_SOURCE'] ?? '/usr/share';

function ensureLayer(): string {
  mkdirSync(dir, { recursive: true });
  const layer = join(dir, `${source.replace(/\W+/g, '_')}.tar.gz`);
  if (!existsSync(layer)) {
    process.stderr.write(`generating ${layer} (tar of ${source}, gzip -6)...\n`);
    execFileSync('sh', ['-c', `tar -cf - -C / '${source.replace(/^\//, '')}' 2>/dev/null | gzip -6 > '${layer}.tmp'`]);
    renameSync(`${layer}.tmp`, layer);
  }
  return layer;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function summarize(samples: Sample[]): Sample {
  return { wall: median(samples.map((s) => s.wall)), cpu: median(samples.map((s) => s.cpu)), maxRssMB: median(samples.map((s) => s.maxRssMB)) };
}

function gzipRun(layer: string): Sample {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', 'sh', '-c', `gzip -dc '${layer}' > /dev/null`], { encoding: 'utf8' });
  const [wall, user, sys, rss] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number) as [number, number, number, number];
  return { wall, cpu: user + sys, maxRssMB: rss / 1024 };
}

function probeRun(mode: string, layer: string): Sample & { outBytes: number } {
  const r = spawnSync(process.execPath, [probe, mode, layer], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`probe ${mode} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Sample & { outBytes: number };
}

const layer = ensureLayer();
const compressed = statSync(layer).size;
const results: Record<string, Sample> = {};
let uncompressed = 0;
for (const name of ['gzip -dc', 'inflate-only', 'ztoc build', 'ztoc build (inline)']) {
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    if (name === 'gzip -dc') samples.push(gzipRun(layer));
    else {
      const s = probeRun(name === 'inflate-only' ? 'inflate-only' : name === 'ztoc build' ? 'build' : 'build-inline', layer);
      uncompressed = s.outBytes;
      samples.push(s);
    }
  }
  results[name] = summarize(samples);
}

const g = results['gzip -dc']!;
const inf = results['inflate-only']!;
const lines: string[] = [];
lines.push(`machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}, zlib ${native().zlibVersion()}`);
lines.push(`layer: tar of ${source}, gzip -6: ${(compressed / 1e6).toFixed(0)} MB compressed, ${(uncompressed / 1e6).toFixed(0)} MB uncompressed; median of ${runs} runs`);
lines.push('');
lines.push('| run | wall s | CPU s | peak RSS MB | MB/s in | wall ÷ gzip -dc | wall ÷ inflate-only |');
lines.push('|---|---|---|---|---|---|---|');
for (const [name, s] of Object.entries(results)) {
  lines.push(
    `| ${name} | ${s.wall.toFixed(2)} | ${s.cpu.toFixed(2)} | ${s.maxRssMB.toFixed(0)} | ${(compressed / 1e6 / s.wall).toFixed(0)} | ${(s.wall / g.wall).toFixed(2)} | ${(s.wall / inf.wall).toFixed(2)} |`,
  );
}
const b = results['ztoc build']!;
lines.push('');
lines.push(`goals: wall ÷ gzip -dc ${(b.wall / g.wall).toFixed(2)} (≤ 0.6), wall ÷ inflate-only ${(b.wall / inf.wall).toFixed(2)} (≤ 1.25), peak RSS ${b.maxRssMB.toFixed(0)} MB (< 150)`);
process.stdout.write(`${lines.join('\n')}\n`);
