// Many builds in one process, as a library user, `ztoc backfill` or the fuzz targets make them: rounds of builds
// of a small golden layer, every second one truncated (so failing mid-layer), reporting per round the time per
// build, the process's RSS and its thread count (which must stay flat: each build's inflate thread ends with it).
// Not part of `npm run bench` (it measures the per-build overhead, not a layer's build).
//   node --expose-gc dist/bench/many-builds.js [rounds=5] [builds per round=800]

import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { buildZtoc } from '../src/ztoc/build.js';
import { goldenLayer } from '../test/helpers/golden.js';

const rounds = Number(process.argv[2] ?? 5);
const perRound = Number(process.argv[3] ?? 800);
const layer = readFileSync(goldenLayer('pax-records.tar.gz'));
const cut = layer.subarray(0, Math.floor(layer.length / 2));
const once = (b: Uint8Array): AsyncIterable<Uint8Array> => (async function* () { yield b; })();
const gc = (globalThis as { gc?: () => void }).gc;

process.stdout.write(`layer ${layer.length} bytes; ${rounds} rounds of ${perRound} builds (half of them truncated); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now();
  for (let i = 0; i < perRound; i++) {
    if (i % 2 === 0) await buildZtoc(once(layer), { spanSize: 65536 });
    else await buildZtoc(once(cut), { spanSize: 65536 }).catch(() => undefined);
  }
  const ms = (performance.now() - t0) / perRound;
  gc?.();
  const rss = Math.round(process.memoryUsage().rss / 1048576);
  process.stdout.write(`round ${r + 1}: ${ms.toFixed(2)} ms per build, RSS ${rss} MB, ${readdirSync('/proc/self/task').length} threads\n`);
}
process.stdout.write(`load average after ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
