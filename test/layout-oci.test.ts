// Tests the OCI image layout (src/layout/oci-layout.ts): create, write an image, resolve by tag and
// digest, verified reads, ranges and streams, referrers, atomic index.json updates and tamper detection.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isZtocError } from '../src/errors.js';
import { ANNOTATION_REF_NAME, OciLayout } from '../src/layout/index.js';
import { MediaType } from '../src/oci/types.js';
import { parseManifestOrIndex } from '../src/oci/validate.js';
import { EMPTY_CONFIG_BYTES, buildSociIndex } from '../src/soci/index.js';
import { marshalIndex } from '../src/oci/gojson.js';

const sha256 = (b: Uint8Array): string => 'sha256:' + createHash('sha256').update(b).digest('hex');
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ztoc-layout-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A deterministic pseudo-random buffer (incompressible enough to exercise chunking). */
function noise(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

test('create, write an image, resolve, read', async () => {
  const dir = join(root, 'img');
  const layout = await OciLayout.create(dir);
  assert.equal(await readFile(join(dir, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
  assert.equal(await readFile(join(dir, 'index.json'), 'utf8'), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');

  const tarBytes = noise(3 * 1024 * 1024 + 17, 1); // an "uncompressed" layer: its diff_id is its digest
  const raw = noise(1000, 2);
  const gz = gzipSync(raw);
  const layerFile = join(root, 'layer.tar');
  await writeFile(layerFile, tarBytes);
  const img = await layout.writeImage({
    layers: [
      { bytes: gz, mediaType: MediaType.OciLayerGzip },
      { path: layerFile, mediaType: MediaType.OciLayerTar },
    ],
    platform: { architecture: 'arm64', os: 'linux' },
    tag: 'v1',
  });
  assert.deepEqual(img.manifest.layers.map((l) => [l.digest, l.size]), [
    [sha256(gz), gz.length],
    [sha256(tarBytes), tarBytes.length],
  ]);
  const config = await layout.readBlob(img.config.digest, img.config.size);
  assert.equal(
    config.toString(),
    `{"architecture":"arm64","os":"linux","rootfs":{"diff_ids":["${sha256(raw)}","${sha256(tarBytes)}"],"type":"layers"}}`,
  );
  assert.equal(img.descriptor.digest, sha256(img.bytes));
  assert.deepEqual(img.descriptor.platform, { architecture: 'arm64', os: 'linux' });
  assert.equal(img.descriptor.annotations?.[ANNOTATION_REF_NAME], 'v1');

  // reopen from disk
  const again = await OciLayout.open(dir);
  assert.deepEqual(await again.resolve({ tag: 'v1' }), img.descriptor);
  assert.deepEqual(await again.resolve('v1'), img.descriptor);
  assert.deepEqual(await again.resolve(), img.descriptor);
  assert.deepEqual(await again.resolve(img.descriptor.digest), img.descriptor);
  await assert.rejects(again.resolve({ digest: img.config.digest }), (e: unknown) => isZtocError(e, 'MANIFEST_INVALID'));
  await assert.rejects(again.resolve({ tag: 'nope' }), (e: unknown) => isZtocError(e, 'REFERENCE_INVALID') && /tags: "v1"/.test((e as Error).message));

  // whole-blob reads are verified; ranges are exact
  assert.ok((await again.readBlob(img.manifest.layers[1]!.digest)).equals(tarBytes));
  const d = img.manifest.layers[1]!.digest;
  assert.ok((await again.readRange(d, 0, 10)).equals(tarBytes.subarray(0, 10)));
  assert.ok((await again.readRange(d, 1048570, 2097160)).equals(tarBytes.subarray(1048570, 2097160)));
  assert.equal((await again.readRange(d, 5, 5)).length, 0);
  await assert.rejects(again.readRange(d, 0, tarBytes.length + 1), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'));
  await assert.rejects(again.readRange(d, 10, 5), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'));
  await assert.rejects(again.readBlob(d, tarBytes.length - 1), (e: unknown) => isZtocError(e, 'SIZE_MISMATCH'));
  await assert.rejects(again.readBlob('sha256:' + '0'.repeat(64)), (e: unknown) => isZtocError(e, 'LAYOUT_INVALID'));
  await assert.rejects(again.readBlob('md5:abc'), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'));

  // streams come in chunks of at most 1 MiB and add up to the blob
  const chunks: Uint8Array[] = [];
  for await (const c of again.openBlobStream(d)) chunks.push(c);
  assert.ok(chunks.length >= 4);
  assert.ok(chunks.every((c) => c.length <= 1024 * 1024));
  assert.ok(Buffer.concat(chunks).equals(tarBytes));
  // with reuseBuffer every chunk lies in one buffer (copied here before the next is asked for)
  const copies: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for await (const c of again.openBlobStream(d, { reuseBuffer: true })) {
    copies.push(Buffer.from(c));
    buffers.add(c.buffer);
  }
  assert.ok(copies.length >= 4);
  assert.equal(buffers.size, 1);
  assert.ok(Buffer.concat(copies).equals(tarBytes));
  await assert.rejects(
    (async () => {
      for await (const c of again.openBlobStream('sha256:' + '0'.repeat(64), { reuseBuffer: true })) void c;
    })(),
    (e: unknown) => isZtocError(e, 'LAYOUT_INVALID'),
  );

  // writeBlob is idempotent and content addressed
  assert.equal(await again.writeBlob(gz), sha256(gz));
  assert.ok(await again.hasBlob(sha256(gz)));
  assert.ok(!(await again.hasBlob('sha256:' + 'f'.repeat(64))));
  const leftovers = (await readdir(join(dir, 'blobs', 'sha256'))).filter((n) => n.startsWith('.tmp'));
  assert.deepEqual(leftovers, []);

  // index.json is Go-canonical and valid
  const indexBytes = await readFile(join(dir, 'index.json'));
  const parsed = parseManifestOrIndex(indexBytes);
  assert.equal(parsed.kind, 'index');
  if (parsed.kind === 'index') assert.ok(marshalIndex(parsed.index).equals(indexBytes));
});

test('tags move, duplicates are not added, concurrent updates are not lost', async () => {
  const layout = await OciLayout.create(join(root, 'tags'));
  const a = await layout.writeImage({ layers: [{ bytes: Buffer.from('a'), mediaType: MediaType.OciLayerTar }], tag: 'latest' });
  const b = await layout.writeImage({ layers: [{ bytes: Buffer.from('b'), mediaType: MediaType.OciLayerTar }], tag: 'latest' });
  assert.deepEqual(await layout.tags(), ['latest']);
  assert.equal((await layout.resolve('latest')).digest, b.descriptor.digest);
  await layout.addManifest({ mediaType: MediaType.OciManifest, digest: a.descriptor.digest, size: a.descriptor.size }, { tag: 'old' });
  await layout.addManifest({ mediaType: MediaType.OciManifest, digest: a.descriptor.digest, size: a.descriptor.size });
  assert.equal((await layout.readIndex()).manifests.length, 2);
  await assert.rejects(layout.resolve(), (e: unknown) => isZtocError(e, 'REFERENCE_INVALID') && /2 images/.test((e as Error).message));
  await assert.rejects(
    layout.addManifest({ mediaType: MediaType.OciManifest, digest: 'sha256:' + '9'.repeat(64), size: 1 }),
    (e: unknown) => isZtocError(e, 'LAYOUT_INVALID'),
  );

  const many = await Promise.all(
    Array.from({ length: 8 }, (_, i) => layout.writeImage({ layers: [{ bytes: Buffer.from(`layer ${i}`), mediaType: MediaType.OciLayerTar }], tag: `t${i}` })),
  );
  const tags = await layout.tags();
  for (let i = 0; i < many.length; i++) assert.ok(tags.includes(`t${i}`), `t${i} kept`);
});

test('referrers: add a SOCI index, list it, filter by artifactType', async () => {
  const layout = await OciLayout.create(join(root, 'ref'));
  const img = await layout.writeImage({
    layers: [{ bytes: gzipSync(noise(5000, 3)), mediaType: MediaType.OciLayerGzip }],
    platform: { architecture: 'amd64', os: 'linux' },
    tag: 'app',
  });
  const ztocBytes = noise(300, 4);
  const ztocDigest = await layout.writeBlob(ztocBytes);
  await layout.writeBlob(EMPTY_CONFIG_BYTES);
  const soci = buildSociIndex({
    version: 'v1',
    ztocs: [{ layer: img.manifest.layers[0]!, ztoc: { mediaType: MediaType.OctetStream, digest: ztocDigest, size: ztocBytes.length }, spanSize: 4194304 }],
    subject: img.descriptor,
    buildToolId: 'ztoc test',
  });
  await layout.writeBlob(soci.bytes);
  const added = await layout.addReferrer({ mediaType: MediaType.OciManifest, digest: soci.descriptor.digest, size: soci.descriptor.size });
  assert.deepEqual(added, {
    mediaType: MediaType.OciManifest,
    digest: soci.descriptor.digest,
    size: soci.bytes.length,
    annotations: { 'com.amazon.soci.build-tool-identifier': 'ztoc test' },
    artifactType: MediaType.SociIndexV1,
  });
  await layout.addReferrer(soci.descriptor); // again: not duplicated
  assert.equal((await layout.readIndex()).manifests.length, 2);

  assert.deepEqual(await layout.referrers(img.descriptor.digest), [added]);
  assert.deepEqual(await layout.referrers(img.descriptor.digest, MediaType.SociIndexV1), [added]);
  assert.deepEqual(await layout.referrers(img.descriptor.digest, MediaType.SociIndexV2), []);
  assert.deepEqual(await layout.referrers(soci.descriptor.digest), []);
  // the image is still the layout's single image: referrers (with artifactType) don't count
  assert.equal((await layout.resolve()).digest, img.descriptor.digest);
  // a manifest without subject is not a referrer
  await assert.rejects(layout.addReferrer(img.descriptor), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'));
});

test('a tampered blob fails verification', async () => {
  const dir = join(root, 'tamper');
  const layout = await OciLayout.create(dir);
  const data = noise(2 * 1024 * 1024 + 5, 5);
  const digest = await layout.writeBlob(data);
  const tampered = Buffer.from(data);
  tampered[1234] = tampered[1234]! ^ 0xff;
  await writeFile(layout.blobPath(digest), tampered);
  await assert.rejects(layout.readBlob(digest), (e: unknown) => isZtocError(e, 'DIGEST_MISMATCH'));
  await assert.rejects(
    (async () => {
      for await (const chunk of layout.openBlobStream(digest)) void chunk;
    })(),
    (e: unknown) => isZtocError(e, 'DIGEST_MISMATCH'),
  );
  await assert.rejects(
    (async () => {
      for await (const chunk of layout.openBlobStream(digest, { reuseBuffer: true })) void chunk;
    })(),
    (e: unknown) => isZtocError(e, 'DIGEST_MISMATCH'),
  );
  // unverified streaming and range reads still work (ranges are never verified)
  let n = 0;
  for await (const chunk of layout.openBlobStream(digest, { verify: false })) n += chunk.length;
  assert.equal(n, data.length);
  assert.equal((await layout.readRange(digest, 1234, 1235))[0], tampered[1234]);
  // a stream with an expected digest that does not match keeps nothing
  await assert.rejects(
    layout.writeBlobStream((async function* () { yield Buffer.from('x'); })(), { digest: sha256(Buffer.from('y')) }),
    (e: unknown) => isZtocError(e, 'DIGEST_MISMATCH'),
  );
  assert.ok(!(await layout.hasBlob(sha256(Buffer.from('x')))));
});

test('open rejects what is not a layout', async () => {
  const dir = join(root, 'notalayout');
  await assert.rejects(OciLayout.open(dir), (e: unknown) => isZtocError(e, 'LAYOUT_INVALID'));
  await OciLayout.create(dir);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
  await assert.rejects(OciLayout.open(dir), (e: unknown) => isZtocError(e, 'LAYOUT_INVALID') && /2\.0\.0/.test((e as Error).message));
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[{"mediaType":"x"}]}');
  await assert.rejects(OciLayout.open(dir), (e: unknown) => isZtocError(e, 'LAYOUT_INVALID') && /index\.json/.test((e as Error).message));
});
