// Fuzz helper: runs a target with fast-check. CI tests replay the committed regressions, then run a
// bounded number of generated cases under a time limit (fixed seed, so a CI run is reproducible;
// FUZZ_SEED changes it). A failure reports the shrunk input as JSON that fits testdata/fuzz/regressions.

import fc from 'fast-check';
import { encodeInput, regressions } from './fuzz-corpus.js';
import type { Target } from './fuzz-targets.js';

export interface RunOptions {
  numRuns: number;
  timeLimitMs: number;
  seed?: number;
  /** Called before each case (the long runner records the input in progress, to catch hangs). */
  onCase?: (input: unknown) => void;
}

export interface RunOutcome {
  runs: number;
  seed: number;
  failure?: { input: unknown; message: string };
}

export const DEFAULT_SEED = 0x5eed;

/** Replays every saved regression of the target; throws on the first that fails. */
export async function replayRegressions<T>(target: Target<T>): Promise<number> {
  const saved = regressions<T>(target.name);
  for (const r of saved) {
    try {
      await target.check(r.input);
    } catch (err) {
      throw new Error(`fuzz regression ${target.name}/${r.file} fails again: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return saved.length;
}

export async function runTarget<T>(target: Target<T>, opts: RunOptions): Promise<RunOutcome> {
  const seed = opts.seed ?? (process.env['FUZZ_SEED'] !== undefined ? Number(process.env['FUZZ_SEED']) : DEFAULT_SEED);
  const prop = fc.asyncProperty(target.arbitrary, async (input) => {
    opts.onCase?.(input);
    await target.check(input);
  });
  const details = await fc.check(prop, { numRuns: opts.numRuns, interruptAfterTimeLimit: opts.timeLimitMs, seed, markInterruptAsFailure: false });
  const out: RunOutcome = { runs: details.numRuns, seed };
  if (details.failed && details.counterexample !== null) {
    const err = details.errorInstance;
    out.failure = {
      input: details.counterexample[0],
      message: `${err instanceof Error ? err.message : String(err)}\n(seed ${seed}, path ${details.counterexamplePath ?? '?'})`,
    };
  } else if (details.failed) {
    out.failure = { input: null, message: fc.defaultReportMessage(details) ?? 'failed' };
  }
  return out;
}

/** For CI tests: replay, then run; throw with the shrunk input on failure. Returns the number of cases run. */
export async function assertTarget<T>(target: Target<T>, numRuns: number, timeLimitMs: number): Promise<{ replayed: number; runs: number }> {
  const replayed = await replayRegressions(target);
  const r = await runTarget(target, { numRuns, timeLimitMs });
  if (r.failure !== undefined) {
    throw new Error(`fuzz target ${target.name} failed: ${r.failure.message}\ninput (save as testdata/fuzz/regressions/${target.name}/NAME.json under "input"):\n${encodeInput(r.failure.input).slice(0, 20_000)}`);
  }
  return { replayed, runs: r.runs };
}
