// Conformance: for every golden layer and span size, our zTOC equals the one AWS's SOCI code made,
// byte for byte, and our reader decodes both to the same values.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { buildZtoc } from '../src/ztoc/build.js';
import { decodeZtoc } from '../src/ztoc/decode.js';
import { encodeZtoc } from '../src/ztoc/encode.js';
import { SOCI_BUILD_TOOL_ID } from '../src/ztoc/model.js';
import { goldenCases, goldenLayer, goldenSum, sha256 } from './helpers/golden.js';

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

const cases = goldenCases();

test('the golden set is present', () => {
  assert.ok(cases.length >= 16, `only ${cases.length} golden zTOCs found`);
});

for (const c of cases) {
  test(`golden ${c.layer} span ${c.span}: byte-identical zTOC`, async () => {
    const golden = readFileSync(c.ztocPath);
    assert.equal(sha256(golden), goldenSum(`ztoc/${c.layer}.span${c.span}.ztoc`), 'golden file damaged');
    const r = await buildZtoc(createReadStream(goldenLayer(c.layer), { highWaterMark: 1 << 20 }), {
      spanSize: c.span,
      buildToolId: SOCI_BUILD_TOOL_ID,
      kind: 'auto',
      layer: c.layer,
    });
    const at = firstDiff(r.bytes, golden);
    assert.equal(at, -1, `zTOC differs from golden at byte ${at} (ours ${r.bytes.length} bytes, golden ${golden.length})`);

    // The reader decodes the golden bytes to exactly what we built, and re-encodes them identically.
    const decoded = decodeZtoc(golden);
    assert.deepEqual(decoded, r.ztoc);
    assert.equal(firstDiff(encodeZtoc(decoded), golden), -1);
  });
}

test('inline engine (no worker) gives the same bytes', async () => {
  const c = cases.find((x) => x.layer === 'pax-records.tar.gz' && x.span === 65536)!;
  const r = await buildZtoc(createReadStream(goldenLayer(c.layer), { highWaterMark: 7919 }), {
    spanSize: c.span,
    buildToolId: SOCI_BUILD_TOOL_ID,
    kind: 'gzip',
    thread: 'inline',
  });
  assert.equal(sha256(r.bytes), sha256(readFileSync(c.ztocPath)));
});
