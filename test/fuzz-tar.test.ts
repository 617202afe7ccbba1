// Property-based fuzzing (fast-check) of the tar target, bounded for CI: mutated tar streams (header fields with the checksum fixed up so parsing goes deeper, PAX record lengths/keys/values, base-256 numbers, GNU long names, inserted meta entries) through TarScanner and the uncompressed build: a result or a ZtocError, the same for every split into chunks.
// Replays testdata/fuzz/regressions/tar first. Longer runs: `npm run fuzz` (FUZZ_SECONDS).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSeeds, tarTarget } from './helpers/fuzz-targets.js';
import { assertTarget } from './helpers/fuzz-run.js';

test('fuzz tar: every input gives a result or a ZtocError (bounded run)', { timeout: 120_000 }, async () => {
  const target = tarTarget(await loadSeeds());
  const { runs } = await assertTarget(target, 1000, 4000);
  assert.ok(runs > 0);
});
