// The checkpoint blob exists once (issue 12 item 4). The builder's memory moves into a blob box the
// driver owns, without a copy, from an inflate thread or from this one, and the zTOC is encoded
// around the blob in that same memory: a build's result lies in the memory the addon filled with
// checkpoints. A copy anywhere on the way (the addon into a Buffer, the encoder
// into a buffer of its own) makes `blobBufferOwns(result.bytes)` false. Also the box's contract:
// one delivery, one take, ids that name no box are refused, and moves stay inside a taken buffer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { BlobBox, CheckpointInflater } from '../src/inflate/inflater.js';
import { native, type BlobBoxHandle, type Engine } from '../src/inflate/native.js';
import { buildZtoc } from '../src/ztoc/build.js';
import { SOCI_BUILD_TOOL_ID } from '../src/ztoc/model.js';
import { decodeZinfo } from '../src/inflate/zinfo.js';
import { ZtocError } from '../src/errors.js';
import { cleanup, prngBytes, sh, tempDir, writeTree } from './helpers/fixtures.js';
import { gzipN } from './helpers/gzip-craft.js';
import { goldenCases, goldenLayer } from './helpers/golden.js';

const n = native();
const golden = goldenCases().filter((c) => c.layer === 'pax-records.tar.gz' || c.layer === 'gnu-tree.multimember.tar.gz');

for (const engine of ['fast', 'zlib'] as Engine[]) {
  for (const thread of ['worker', 'inline'] as const) {
    test(`${engine} engine, ${thread}: the zTOC is written in the blob's own memory, byte-identical to SOCI's`, async () => {
      assert.ok(golden.length >= 2);
      for (const c of golden) {
        const r = await buildZtoc(createReadStream(goldenLayer(c.layer), { highWaterMark: 65521 }), {
          spanSize: c.span,
          buildToolId: SOCI_BUILD_TOOL_ID,
          kind: 'gzip',
          engine,
          thread,
        });
        assert.deepEqual(Buffer.from(r.bytes), readFileSync(c.ztocPath), `${c.layer} span ${c.span}`);
        assert.ok(n.blobBufferOwns(r.bytes), `${c.layer} span ${c.span}: the zTOC is not in the addon's blob memory (the blob was copied)`);
        assert.ok(r.ztoc.checkpoints.length > 12);
      }
    });
  }
}

/** A finished builder over a small gzip layer with a few checkpoints. */
function finished(): CheckpointInflater {
  const inf = new CheckpointInflater(20_000, true);
  inf.write(gzipN(prngBytes(200_000, 7).map((b) => b & 0x0f)), () => {});
  return inf;
}

test('the box: one delivery, one take; the view has the room asked for; wrong ids and handles are refused', () => {
  const box = new BlobBox();
  const inf = finished();
  assert.throws(() => inf.end(box.id + 1000), /no blob box with this id/);
  const e = inf.end(box); // the failed delivery left the blob with the builder
  assert.ok(e.checkpoints > 2);
  const other = finished();
  assert.throws(() => other.end(box), /already full/);

  const view = box.take(300_000, 77);
  assert.equal(view.length, e.blobLength);
  assert.ok(view.byteOffset >= 300_000, 'the room in front is at least what was asked (the blob moved up)');
  assert.equal(view.buffer.byteLength, view.byteOffset + view.length + 77);
  const zinfo = decodeZinfo(view);
  assert.equal(zinfo.checkpoints.length, e.checkpoints);
  assert.equal(zinfo.spanSize, 20_000);
  assert.throws(() => box.take(), /empty/);

  // The same layer delivered elsewhere and taken without room: the same bytes.
  const box2 = new BlobBox();
  other.end(box2);
  assert.deepEqual(Buffer.from(box2.take()), Buffer.from(view));

  const box3 = new BlobBox();
  finished().end(box3);
  box3.drop();
  assert.throws(() => box3.take(), /empty/);

  const h = (v: unknown): BlobBoxHandle => v as BlobBoxHandle;
  assert.throws(() => n.blobBoxTake(h(n.builderCreate(0, true, 0)), 0, 0), (err: unknown) => err instanceof TypeError && /blob box handle/.test(err.message));
  assert.throws(() => n.blobBoxTake(h({}), 0, 0), TypeError);
  assert.throws(() => n.blobBoxTake(h(null), -1, 0), TypeError);
});

test('moves stay inside a taken buffer, and only such buffers are accepted', () => {
  const box = new BlobBox();
  finished().end(box);
  const view = box.take(0, 3 << 20);
  const all = new Uint8Array(view.buffer);
  const end = all.length;
  const len = 2_500_000;
  const pattern = prngBytes(len, 3);
  all.set(pattern, end - len);
  const to = view.byteOffset + view.length;
  box.moveDown(view, end - len, to, len);
  assert.deepEqual(Buffer.from(all.subarray(to, to + len)), pattern);
  assert.ok(n.blobBufferOwns(view) && n.blobBufferOwns(all.subarray(5, 9)));

  assert.throws(() => box.moveDown(view, to, to + 1, 10), RangeError, 'moving up');
  assert.throws(() => box.moveDown(view, end - 10, 0, 11), RangeError, 'past the end');
  const plain = new Uint8Array(64);
  assert.equal(n.blobBufferOwns(plain), false);
  assert.equal(n.blobBufferOwns(new Uint8Array(new SharedArrayBuffer(64))), false);
  assert.throws(() => n.blobBufferMoveDown(plain, 10, 0, 10), (err: unknown) => err instanceof TypeError && /taken checkpoint blob/.test(err.message));
  assert.throws(() => n.blobBufferOwns(new Uint16Array(4) as unknown as Uint8Array), TypeError);
});

test('a build that fails after the hand-over (a tar cut inside a file) gives its typed error, and the next build is sound', async () => {
  // The gzip stream is whole, so the inflate ends and delivers the blob; then the tar scan's end fails.
  const dir = tempDir();
  try {
    writeTree(dir, { 'f.bin': prngBytes(100_000, 9) });
    const tar = sh('tar --format=gnu -cf - f.bin', dir);
    const layer = gzipN(tar.subarray(0, 512 + 50_000));
    for (const thread of ['worker', 'inline'] as const) {
      await assert.rejects(
        buildZtoc((async function* () { yield layer; })(), { kind: 'gzip', spanSize: 10_000, thread }),
        (err: unknown) => err instanceof ZtocError && err.code.startsWith('TAR_'),
      );
    }
  } finally {
    cleanup(dir);
  }
  const c = golden[0]!;
  const r = await buildZtoc(createReadStream(goldenLayer(c.layer)), { spanSize: c.span, buildToolId: SOCI_BUILD_TOOL_ID });
  assert.deepEqual(Buffer.from(r.bytes), readFileSync(c.ztocPath));
});
