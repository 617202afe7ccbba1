// The README's first command, `npm run example`, works on a fresh checkout: it indexes the bundled
// OCI layout (testdata/example) without a registry, verifies it and reads a file back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './helpers/golden.js';
import { cleanup } from './helpers/fixtures.js';

test('scripts/example.sh indexes, lists, verifies and reads the bundled layout', () => {
  const root = repoRoot();
  const r = spawnSync('sh', [join(root, 'scripts', 'example.sh')], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /pushed sha256:[0-9a-f]{64} \(layout index\.json\)/);
  assert.match(r.stdout, /1 zTOCs in 1 SOCI indexes match their layers/);
  const dir = /indexed layout is in (\S+)\)/.exec(r.stdout)![1]!;
  try {
    // The file printed is the one in the layer, and the bundled layout itself was not modified.
    assert.match(r.stdout, /== ztoc get-file [^\n]+\nnanoseconds\n/);
    const index = JSON.parse(readFileSync(join(root, 'testdata', 'example', 'index.json'), 'utf8')) as { manifests: unknown[] };
    assert.equal(index.manifests.length, 1);
  } finally {
    cleanup(dir);
  }
});
