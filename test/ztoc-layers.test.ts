// Layers made by real tools (GNU tar formats × gzip/pigz variants, and uncompressed): every
// regular file read through the zTOC equals the file from a sequential tar read, and every span
// digest, checkpoint window and TOC entry recomputes from the layer.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildZtoc } from '../src/ztoc/build.js';
import { collect, extractFile, fileRangeReader, findEntry } from '../src/ztoc/extract.js';
import { verifyZtoc } from '../src/ztoc/verify.js';
import { utf8 } from '../src/tar/bytes.js';
import { cleanup, makeLayer, makeTree, tempDir, type Compressor, type TarFormat } from './helpers/fixtures.js';
import { readTarReference } from './helpers/tarref.js';

const work = tempDir();
after(() => cleanup(work));
const tree = makeTree(join(work, 'tree'), { longNames: true, xattrs: true });
const ustarTree = makeTree(join(work, 'ustar-tree'), { longNames: false });

const matrix: Array<[TarFormat, Compressor]> = [
  ['gnu', 'gzip-n'],
  ['posix', 'gzip-n'],
  ['ustar', 'gzip-n'],
  ['gnu', 'gzip-name'],
  ['posix', 'pigz'],
  ['gnu', 'pigz-independent'],
  ['posix', 'none'],
  ['gnu', 'none'],
];

async function checkLayer(layer: string, spanSize: number): Promise<{ spans: number; files: number; multiSpan: number }> {
  const r = await buildZtoc(createReadStream(layer, { highWaterMark: 1 << 20 }), { spanSize, kind: 'auto', layer });
  const z = r.ztoc;
  const file = await fileRangeReader(layer);
  try {
    const report = await verifyZtoc(z, file.read, createReadStream(layer));
    assert.equal(report.entries, z.entries.length);
    const ref = await readTarReference(layer);
    const refFiles = ref.filter((e) => e.type === 'file');
    assert.ok(refFiles.length >= 8, `reference read found only ${refFiles.length} files`);
    let multiSpan = 0;
    for (const rf of refFiles) {
      const entry = findEntry(z, rf.name);
      assert.ok(entry, `${rf.name} missing from the zTOC`);
      assert.equal(utf8(entry.name).replace(/^\.\//, ''), rf.name.replace(/^\.\//, ''));
      const got = await collect(extractFile(z, entry, file.read));
      assert.equal(got.length, rf.data.length, `${rf.name}: size`);
      assert.ok(got.equals(rf.data), `${rf.name}: contents differ`);
      if (entry.size > 0 && Math.floor(entry.offset / spanSize) !== Math.floor((entry.offset + entry.size - 1) / spanSize)) multiSpan++;
    }
    // Names, types and links as a sequential reader sees them.
    const byName = new Map(z.entries.map((e) => [utf8(e.name).replace(/\/$/, ''), e]));
    for (const rf of ref) {
      const e = byName.get(rf.name.replace(/\/$/, ''));
      assert.ok(e, `${rf.name} not in TOC`);
      const want = { file: 'reg', directory: 'dir', symlink: 'symlink', link: 'hardlink', fifo: 'fifo' }[rf.type];
      assert.equal(e.type, want, `${rf.name} type`);
    }
    return { spans: z.spanDigests.length, files: refFiles.length, multiSpan };
  } finally {
    await file.close();
  }
}

for (const [format, compressor] of matrix) {
  test(`GNU tar --format=${format}, ${compressor}: files, spans and checkpoints check out`, async () => {
    const src = format === 'ustar' ? ustarTree : tree;
    const layer = makeLayer(src, join(work, `${format}-${compressor}.layer`), format, compressor);
    const many = await checkLayer(layer, 65536);
    assert.ok(many.spans > 10, `expected many spans, got ${many.spans}`);
    assert.ok(many.multiSpan > 0, 'no file crossed a span boundary');
    const one = await checkLayer(layer, 64 << 20);
    assert.equal(one.spans, 1);
  });
}

test('a tiny GNU tar padded to a 10240-byte record', async () => {
  const small = join(work, 'tiny-tree');
  mkdirSync(small);
  writeFileSync(join(small, 'a.txt'), 'a\n');
  const layer = makeLayer(small, join(work, 'tiny.tar.gz'), 'gnu', 'gzip-n');
  const tarSize = statSync(join(work, 'tiny.tar.gz.tar')).size;
  assert.equal(tarSize, 10240);
  const r = await buildZtoc(createReadStream(layer), { kind: 'auto' });
  // The archive ends after the second zero block, well before the record padding.
  assert.ok(r.ztoc.uncompressedArchiveSize < tarSize);
  assert.equal(r.inflatedSize, tarSize);
  await checkLayerSmall(layer);
});

async function checkLayerSmall(layer: string): Promise<void> {
  const r = await buildZtoc(createReadStream(layer), { kind: 'auto' });
  const file = await fileRangeReader(layer);
  try {
    await verifyZtoc(r.ztoc, file.read, createReadStream(layer));
    const e = findEntry(r.ztoc, '/a.txt')!;
    assert.equal((await collect(extractFile(r.ztoc, e, file.read))).toString(), 'a\n');
  } finally {
    await file.close();
  }
}
