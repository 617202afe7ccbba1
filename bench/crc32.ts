// CRC-32 throughput of each engine of native/crc32.c against Node's own zlib.crc32 (the zlib the
// fast inflater used before), measured in one process: rounds alternate the engines (A B C A B C)
// so that a change in machine load hits all alike, and each figure is the best and the median of
// the rounds in GB/s. Not part of `npm run bench` (it says nothing about a whole build).
//   node dist/bench/crc32.js [rounds=9]

import { loadavg } from 'node:os';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { native, nativeCrc32, type Crc32Choice } from '../src/inflate/native.js';

const rounds = Number(process.argv[2] ?? 9);
const SIZES = [1 << 20, 1 << 16, 4096, 256];
/** Bytes hashed per sample: enough for ~10 ms on the fastest engine. */
const PER_SAMPLE = 256 << 20;

const info = native().crc32Info;
if (info === undefined) throw new Error('the native addon has no crc32: rebuild it');
const cases: Array<{ name: string; run: (b: Uint8Array) => number }> = [
  { name: 'node zlib.crc32', run: (b) => zlibCrc32(b) },
  ...(['auto', ...info.available] as Crc32Choice[]).map((e) => ({ name: e === 'auto' ? `auto (${info.auto})` : e, run: (b: Uint8Array) => nativeCrc32(b, 0, e) })),
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${rounds} rounds, best / median GB/s`);
for (const size of SIZES) {
  const buf = new Uint8Array(size).map((_, i) => (i * 2654435761) >>> 24);
  const want = zlibCrc32(buf);
  for (const c of cases) if (c.run(buf) !== want) throw new Error(`${c.name} gives a different CRC for ${size} bytes`);
  const reps = Math.max(1, Math.floor(PER_SAMPLE / size));
  const gbps = cases.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    cases.forEach((c, i) => {
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < reps; k++) c.run(buf);
      gbps[i]!.push((reps * size) / Number(process.hrtime.bigint() - t0));
    });
  }
  const line = cases.map((c, i) => `${c.name} ${Math.max(...gbps[i]!).toFixed(2)} / ${median(gbps[i]!).toFixed(2)}`);
  console.log(`${String(size).padStart(8)} B: ${line.join('  |  ')}`);
}
console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
