// `npm run fuzz`: longer property-based fuzzing runs (fast-check) of the targets in
// test/helpers/fuzz-targets.ts: gzip, tar, ztoc, manifest. FUZZ_SECONDS (default 60) is the total
// time, shared by the targets; FUZZ_TARGETS=gzip,tar picks some; FUZZ_SEED fixes the seed (default:
// random, printed). Each target runs in a child process watched from here, so a hang or a crash in
// native code is caught too. A failing input (shrunk by fast-check), a hang or a crash is saved under
// testdata/fuzz/regressions/<target>/, where every CI run replays it (test/fuzz-*.test.ts).

import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeInput, encodeInput, saveRegression } from '../test/helpers/fuzz-corpus.js';
import { replayRegressions, runTarget } from '../test/helpers/fuzz-run.js';
import { allTargets } from '../test/helpers/fuzz-targets.js';

const TARGETS = ['gzip', 'tar', 'ztoc', 'manifest'];

function inflightPath(target: string): string {
  return join(tmpdir(), `ztoc-fuzz-inflight-${process.pid}-${target}.json`);
}

interface ChildReport {
  target: string;
  runs: number;
  seed: number;
  replayed: number;
  saved?: string;
  message?: string;
}

async function child(target: string, ms: number, seed: number, inflight: string): Promise<void> {
  const t = (await allTargets()).find((x) => x.name === target);
  if (t === undefined) throw new Error(`unknown fuzz target ${target} (known: ${TARGETS.join(', ')})`);
  const replayed = await replayRegressions(t);
  const r = await runTarget(t, {
    numRuns: 1_000_000_000,
    timeLimitMs: ms,
    seed,
    onCase: (input) => writeFileSync(inflight, encodeInput(input)),
  });
  const report: ChildReport = { target, runs: r.runs, seed, replayed };
  if (r.failure !== undefined) {
    report.saved = saveRegression(target, r.failure.input, r.failure.message);
    report.message = r.failure.message;
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
  // Worker threads of the build pool are unref'd; exit explicitly all the same.
  process.exit(r.failure === undefined ? 0 : 1);
}

function runChild(target: string, ms: number, seed: number): Promise<{ report?: ChildReport; problem?: string }> {
  const inflight = inflightPath(target);
  rmSync(inflight, { force: true });
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [script, '--child', target, String(ms), String(seed), inflight], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    // Generous: fast-check stops at the time limit, then shrinks; a child past this is stuck.
    const grace = ms + 120_000;
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGKILL');
    }, grace);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      let report: ChildReport | undefined;
      try {
        report = JSON.parse(line) as ChildReport;
      } catch {
        report = undefined;
      }
      if (report !== undefined) return resolve({ report });
      // No report: a hang (killed) or a crash. The input in progress is the suspect.
      const what = killed ? `hang: no result after ${Math.round(grace / 1000)} s` : `crash: exit code ${code}, signal ${signal}`;
      let saved = '';
      if (existsSync(inflight)) {
        saved = saveRegression(target, decodeInput<unknown>(readFileSync(inflight, 'utf8')), `${what} (seed ${seed})`);
        rmSync(inflight, { force: true });
      }
      resolve({ problem: `${what}${saved !== '' ? `; input saved as ${saved}` : ''}` });
    });
  });
}

async function main(): Promise<number> {
  const seconds = Number(process.env['FUZZ_SECONDS'] ?? 60);
  if (!(seconds > 0)) throw new Error('FUZZ_SECONDS must be a positive number');
  const targets = (process.env['FUZZ_TARGETS'] ?? TARGETS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const t of targets) if (!TARGETS.includes(t)) throw new Error(`unknown fuzz target ${t} (known: ${TARGETS.join(', ')})`);
  const seed = process.env['FUZZ_SEED'] !== undefined ? Number(process.env['FUZZ_SEED']) : randomInt(2 ** 31);
  const ms = Math.max(1000, Math.floor((seconds * 1000) / targets.length));
  process.stdout.write(`fuzzing ${targets.join(', ')} for ${seconds} s (${(ms / 1000).toFixed(0)} s each), seed ${seed}\n`);
  let failed = 0;
  for (const t of targets) {
    const { report, problem } = await runChild(t, ms, seed);
    if (report !== undefined) {
      const status = report.saved === undefined ? 'ok' : `FAILED, input saved as ${report.saved}\n    ${report.message?.split('\n')[0] ?? ''}`;
      process.stdout.write(`  ${t}: ${report.runs} cases, ${report.replayed} regressions replayed: ${status}\n`);
      if (report.saved !== undefined) failed++;
    } else {
      process.stdout.write(`  ${t}: FAILED (${problem})\n`);
      failed++;
    }
  }
  if (failed > 0) process.stdout.write(`${failed} target(s) failed; re-run one with FUZZ_TARGETS=<name> FUZZ_SEED=${seed}; the saved inputs are replayed by \`npm test\`\n`);
  return failed > 0 ? 1 : 0;
}

if (process.argv[2] === '--child') {
  const [, , , target, ms, seed, inflight] = process.argv as [string, string, string, string, string, string, string];
  await child(target, Number(ms), Number(seed), inflight);
} else {
  process.exitCode = await main();
}
