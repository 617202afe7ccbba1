// Property-based fuzzing (fast-check) of the gzip target, bounded for CI: mutated real gzip layers (bit flips, truncations, header rewrites with FEXTRA/XLEN, FNAME, FCOMMENT, FHCRC, CM and FLG noise, tar edits re-compressed, random bytes) through buildZtoc inline and on the inflate thread: a result that decodes and verifies, or a ZtocError with a code and an offset inside the input; both paths agree.
// Replays testdata/fuzz/regressions/gzip first. Longer runs: `npm run fuzz` (FUZZ_SECONDS).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSeeds, gzipTarget } from './helpers/fuzz-targets.js';
import { assertTarget } from './helpers/fuzz-run.js';

test('fuzz gzip: every input gives a result or a ZtocError (bounded run)', { timeout: 120_000 }, async () => {
  const target = gzipTarget(await loadSeeds());
  const { runs } = await assertTarget(target, 120, 6000);
  assert.ok(runs > 0);
});
