// The committed flatbuffers code is what Debian's flatc generates from our own schema today.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './helpers/golden.js';
import { tempDir, cleanup } from './helpers/fixtures.js';

test('src/ztoc/generated matches flatc --ts --ts-flat-files output of src/ztoc/schema', () => {
  const root = repoRoot();
  const out = tempDir('ztoc-flatc-');
  try {
    execFileSync('flatc', ['--ts', '--ts-flat-files', '-o', out, join(root, 'src/ztoc/schema/ztoc.fbs'), join(root, 'src/ztoc/schema/zinfo.fbs')]);
    const committed = join(root, 'src/ztoc/generated');
    assert.deepEqual(readdirSync(out).sort(), readdirSync(committed).sort());
    for (const f of readdirSync(out)) {
      assert.equal(readFileSync(join(out, f), 'utf8'), readFileSync(join(committed, f), 'utf8'), `${f} differs: run npm run gen:fbs`);
    }
  } finally {
    cleanup(out);
  }
});
