// The blob is hashed once: a store's self-verifying stream (marked with verifiedSource) is not hashed
// again by the builder, yet a tampered blob still fails before any zTOC exists, and a mark for another
// digest is ignored (the builder hashes and checks itself). Both paths give the same zTOC bytes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildZtoc } from '../src/ztoc/build.js';
import { verifiedSource } from '../src/ztoc/source.js';
import { LayoutStore } from '../src/image/layout-store.js';
import { isZtocError } from '../src/errors.js';
import { goldenLayer } from './helpers/golden.js';

async function* chunks(b: Uint8Array, size = 65536): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function layoutWith(blob: Uint8Array): Promise<{ dir: string; digest: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ztoc-source-'));
  const hex = createHash('sha256').update(blob).digest('hex');
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'blobs', 'sha256', hex), blob);
  return { dir, digest: `sha256:${hex}` };
}

test('a layout blob is hashed by the store only, and the zTOC equals the one built from plain chunks', async () => {
  const blob = await readFile(goldenLayer('pax-records.tar.gz'));
  const { dir, digest } = await layoutWith(blob);
  try {
    const store = await LayoutStore.open(dir);
    const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: blob.length };
    const viaStore = await buildZtoc(store.openBlob(desc), { expectedDigest: digest, expectedSize: blob.length, thread: 'inline' });
    const plain = await buildZtoc(chunks(blob), { expectedDigest: digest, expectedSize: blob.length, thread: 'inline' });
    assert.equal(viaStore.layerDigest, digest);
    assert.equal(plain.layerDigest, digest);
    assert.deepEqual(Buffer.from(viaStore.bytes), Buffer.from(plain.bytes));
    assert.equal(viaStore.files, plain.ztoc.entries.length);
    assert.equal(viaStore.spans, plain.ztoc.spanDigests.length);

    // One flipped byte in the blob on disk: the store's check fails the build, no zTOC.
    const tampered = Buffer.from(blob);
    tampered[4] ^= 0x01; // the gzip header's MTIME: no CRC covers it, only the digest
    await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), tampered);
    await assert.rejects(
      buildZtoc(store.openBlob(desc), { expectedDigest: digest, expectedSize: blob.length, thread: 'inline' }),
      (e: unknown) => isZtocError(e, 'DIGEST_MISMATCH'),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a mark for another digest is ignored: the builder hashes the bytes and rejects a mismatch', async () => {
  const blob = await readFile(goldenLayer('pax-records.tar.gz'));
  const real = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const other = `sha256:${'0'.repeat(64)}`;
  // Marked as proving `real`, but the caller expects `other`: not trusted, so the builder's own hash fails it.
  await assert.rejects(
    buildZtoc(verifiedSource(chunks(blob), real), { expectedDigest: other, thread: 'inline' }),
    (e: unknown) => isZtocError(e, 'DIGEST_MISMATCH'),
  );
  // Without expectations the mark changes nothing either: the digest is computed.
  const r = await buildZtoc(verifiedSource(chunks(blob), other), { thread: 'inline' });
  assert.equal(r.layerDigest, real);
});
