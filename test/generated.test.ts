// The committed generated code is what its generators make today: the flatbuffers code from Debian's flatc and our
// own schema, the OCI JSON validators from ajv's standalone code generator and src/oci/schemas.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
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

test('src/oci/generated/validators.ts is what scripts/gen-validators.mjs makes from src/oci/schemas.ts', async () => {
  const root = repoRoot();
  const gen = (await import(pathToFileURL(join(root, 'scripts/gen-validators.mjs')).href)) as { validatorSource: () => Promise<string> };
  assert.equal(await gen.validatorSource(), readFileSync(join(root, 'src/oci/generated/validators.ts'), 'utf8'), 'run npm run build && npm run gen:validators');
});
