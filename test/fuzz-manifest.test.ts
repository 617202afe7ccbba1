// Property-based fuzzing (fast-check) of the manifest target, bounded for CI: mutated manifest and index JSON (values, deletions, deep nesting, 1000+ entries, duplicate keys, over 4 MiB, byte edits, BOM) through parseManifestOrIndex: a valid document or MANIFEST_INVALID / MANIFEST_TOO_LARGE.
// Replays testdata/fuzz/regressions/manifest first. Longer runs: `npm run fuzz` (FUZZ_SECONDS).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSeeds, manifestTarget } from './helpers/fuzz-targets.js';
import { assertTarget } from './helpers/fuzz-run.js';

test('fuzz manifest: every input gives a result or a ZtocError (bounded run)', { timeout: 120_000 }, async () => {
  const target = manifestTarget(await loadSeeds());
  const { runs } = await assertTarget(target, 1000, 3000);
  assert.ok(runs > 0);
});
