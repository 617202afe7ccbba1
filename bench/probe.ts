// Benchmark probe, run in a fresh process per measurement: either the full `buildZtoc` or an
// inflate-only loop over the same addon (Z_NO_FLUSH, no checkpoints, hashing or TOC). Prints one
// JSON line with wall time, CPU time and peak RSS of this process (its inflate thread included).

import { readFileChunks } from '../src/ztoc/source.js';
import { buildZtoc } from '../src/ztoc/build.js';
import { BlobBox, CheckpointInflater } from '../src/inflate/inflater.js';

const [mode, layer, span] = process.argv.slice(2) as [string, string, string | undefined];
const t0 = performance.now();
const cpu0 = process.cpuUsage();
let outBytes = 0;
let ztocBytes: number | undefined;
if (mode === 'inflate-only') {
  const inf = new CheckpointInflater(0, false);
  for await (const chunk of readFileChunks(layer)) {
    inf.write(chunk, (o) => {
      outBytes += o.length;
    });
  }
  inf.end(new BlobBox());
} else {
  const r = await buildZtoc(readFileChunks(layer), {
    spanSize: span === undefined ? undefined : Number(span),
    kind: 'auto',
    thread: mode === 'build-inline' ? 'inline' : 'worker',
  });
  outBytes = r.inflatedSize;
  ztocBytes = r.bytes.length;
}
const cpu = process.cpuUsage(cpu0);
const wall = (performance.now() - t0) / 1000;
process.stdout.write(
  `${JSON.stringify({ mode, wall, cpu: (cpu.user + cpu.system) / 1e6, maxRssMB: process.resourceUsage().maxRSS / 1024, outBytes, ztocBytes })}\n`,
);
process.exit(0);
