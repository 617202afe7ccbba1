// Property-based fuzzing (fast-check) of the ztoc target, bounded for CI: mutated zTOCs (model edits re-encoded: checkpoints, entries, sizes, span digests; and raw byte edits) are rejected with ZTOC_INVALID or decode; extraction over the real layer then ends with exactly the bytes asked for or a ZtocError, in bounded reads and steps; a zTOC that verifies reads the true bytes.
// Replays testdata/fuzz/regressions/ztoc first. Longer runs: `npm run fuzz` (FUZZ_SECONDS).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSeeds, ztocTarget } from './helpers/fuzz-targets.js';
import { assertTarget } from './helpers/fuzz-run.js';

test('fuzz ztoc: every input gives a result or a ZtocError (bounded run)', { timeout: 120_000 }, async () => {
  const target = ztocTarget(await loadSeeds());
  const { runs } = await assertTarget(target, 1500, 4000);
  assert.ok(runs > 0);
});
