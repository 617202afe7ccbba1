// get-file through an image reads the overlay the snapshotter mounts: the topmost layer holding a
// path wins, `.wh.NAME` whiteouts and `.wh..wh..opq` opaque directories hide lower layers, and
// layers with and without a zTOC are both read.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LayoutStore } from '../src/image/layout-store.js';
import { indexImage } from '../src/jobs/index-image.js';
import { getFileFromImage } from '../src/jobs/inspect.js';
import { collect } from '../src/ztoc/extract.js';
import { isZtocError } from '../src/errors.js';
import { cleanup, makeLayer, prngBytes, tempDir, writeTree } from './helpers/fixtures.js';
import { writeLayoutImage } from './helpers/images.js';

const work = tempDir('ztoc-overlay-');
after(() => cleanup(work));

const tree = (name: string, files: Record<string, string | Buffer>): string => writeTree(join(work, name), files);

test('topmost layer wins, whiteouts and opaque directories hide lower files', async () => {
  const big = prngBytes(300_000, 11);
  const lower = tree('lower', {
    'etc/a.conf': 'lower a\n',
    'etc/b.conf': 'lower b\n',
    'opt/app/x.bin': big,
    'opt/app/keep/y.txt': 'lower y\n',
    'usr/bin/tool': 'lower tool\n',
  });
  const upper = tree('upper', {
    'etc/.wh.a.conf': '',
    'etc/b.conf': 'upper b\n',
    'opt/app/.wh..wh..opq': '',
    'opt/app/new.txt': 'upper new\n',
  });
  const layers = [
    { path: makeLayer(lower, join(work, 'lower.tar.gz'), 'gnu', 'gzip-n'), tree: lower },
    { path: makeLayer(upper, join(work, 'upper.tar.gz'), 'gnu', 'gzip-n'), tree: upper },
  ];
  const dir = join(work, 'layout');
  await writeLayoutImage(dir, layers, 'v1');
  const store = await LayoutStore.open(dir);
  // The lower layer is large enough for a zTOC; the tiny upper one is read whole.
  const r = await indexImage(store, 'v1', { minLayerSize: 50_000, spanSize: 65536 });
  assert.equal(r.platforms[0]!.ztocs.length, 1);
  assert.equal(r.platforms[0]!.skipped.length, 1);

  const read = async (p: string): Promise<{ text: string; viaZtoc: boolean }> => {
    const f = await getFileFromImage(store, 'v1', p);
    return { text: (await collect(f.data)).toString('latin1'), viaZtoc: f.viaZtoc };
  };
  assert.deepEqual(await read('/etc/b.conf'), { text: 'upper b\n', viaZtoc: false });
  assert.deepEqual(await read('usr/bin/tool'), { text: 'lower tool\n', viaZtoc: true });
  assert.deepEqual(await read('./opt/app/new.txt'), { text: 'upper new\n', viaZtoc: false });
  for (const hidden of ['etc/a.conf', 'opt/app/x.bin', 'opt/app/keep/y.txt']) {
    await assert.rejects(getFileFromImage(store, 'v1', hidden), (e) => isZtocError(e, 'FILE_NOT_FOUND'), hidden);
  }
  await store.close();
});
