// Against a real registry (Debian's docker-registry, no auth): push blobs and manifests and read them back, HEAD
// checks, ranges, tags and catalog paging, cross-repository mounts, and referrers through the tag fallback.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isZtocError } from '../src/errors.js';
import { MediaType, type ImageManifest } from '../src/oci/types.js';
import { Registry, RegistryClient, Repository, referrersTag } from '../src/registry/index.js';
import { blobOf, makeImage, makeReferrer, startRegistry, type RunningRegistry, type TestImage } from './helpers/registry.js';

let reg: RunningRegistry;
let client: RegistryClient;

function repo(name: string): Repository {
  return new Repository(reg.host, name, { client });
}

async function pushImage(r: Repository, img: TestImage, tag: string): Promise<void> {
  for (const b of [img.config, ...img.layers]) await r.pushBlob(b.desc, b.bytes);
  await r.pushManifest(tag, img.manifest.bytes, img.manifest.desc.mediaType);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({ retry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 3 } });
});
after(async () => {
  await client?.close();
  await reg?.stop();
});

describe('blobs and manifests', () => {
  it('pushes an image, reads it back by tag and digest, byte for byte', async () => {
    const r = repo('e2e/app');
    const img = makeImage([10_000, 70_000]);
    assert.equal(await r.pushBlob(img.config.desc, img.config.bytes), 'pushed');
    assert.equal(await r.pushBlob(img.config.desc, img.config.bytes), 'exists');
    for (const l of img.layers) assert.equal(await r.pushBlob(l.desc, l.bytes), 'pushed');
    const pushed = await r.pushManifest('v1', img.manifest.bytes, img.manifest.desc.mediaType);
    assert.deepEqual(pushed, { digest: img.manifest.desc.digest, subjectSupported: false });

    const byTag = await r.resolve('v1');
    assert.deepEqual(byTag.descriptor, img.manifest.desc);
    assert.ok(byTag.bytes.equals(img.manifest.bytes));
    const byDigest = await r.fetchManifest(img.manifest.desc.digest);
    assert.equal((byDigest.manifest as ImageManifest).layers.length, 2);
    assert.equal(await r.manifestExists(img.manifest.desc.digest), true);
    assert.equal(await r.manifestExists(`sha256:${'0'.repeat(64)}`), false);
    const head = await r.headManifest('v1');
    assert.deepEqual(head, img.manifest.desc);

    for (const l of img.layers) {
      assert.equal(await r.blobExists(l.desc.digest), true);
      assert.ok((await collect(r.fetchBlob(l.desc))).equals(l.bytes));
    }
    assert.equal(await r.blobExists(`sha256:${'1'.repeat(64)}`), false);
    const l1 = img.layers[1];
    assert.ok(l1 !== undefined);
    assert.ok((await r.fetchBlobRange(l1.desc.digest, 1000, 5000)).equals(l1.bytes.subarray(1000, 5000)));
    assert.ok((await r.fetchBlobBytes(img.config.desc)).equals(img.config.bytes));
  });

  it('takes the media type from Content-Type when the manifest has no mediaType (umoci style)', async () => {
    const r = repo('e2e/nomediatype');
    const img = makeImage([100]);
    for (const b of [img.config, ...img.layers]) await r.pushBlob(b.desc, b.bytes);
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, config: img.config.desc, layers: img.layers.map((l) => l.desc) }));
    await r.pushManifest('t', bytes, MediaType.OciManifest);
    const got = await r.resolve('t');
    assert.equal(got.descriptor.mediaType, MediaType.OciManifest);
    assert.equal(got.descriptor.size, bytes.length);
  });

  it('refuses bytes that do not match the descriptor before uploading', async () => {
    const r = repo('e2e/app');
    const b = blobOf(Buffer.from('hello'));
    await assert.rejects(r.pushBlob({ ...b.desc, size: 6 }, b.bytes), (e: unknown) => isZtocError(e, 'SIZE_MISMATCH'));
    await assert.rejects(r.pushBlob({ ...b.desc, digest: `sha256:${'2'.repeat(64)}` }, b.bytes), (e: unknown) => isZtocError(e, 'DIGEST_MISMATCH'));
    await assert.rejects(r.pushManifest('x', Buffer.alloc(4 * 1024 * 1024 + 1, 0x20), MediaType.OciManifest), (e: unknown) => isZtocError(e, 'MANIFEST_TOO_LARGE'));
  });

  it('reports missing manifests with method, URL and status', async () => {
    await assert.rejects(repo('e2e/app').resolve('nope'), (e: unknown) => {
      assert.ok(isZtocError(e, 'REGISTRY_NOT_FOUND'));
      assert.equal(e.status, 404);
      assert.match(e.message, new RegExp(`GET http://${reg.host.replace(/\./g, '\\.')}/v2/e2e/app/manifests/nope: HTTP 404 — MANIFEST_UNKNOWN`));
      return true;
    });
    await assert.rejects(repo('e2e/never').listTags(), (e: unknown) => isZtocError(e, 'REGISTRY_NOT_FOUND') && /NAME_UNKNOWN/.test(e.message));
  });
});

describe('listing', () => {
  it('lists tags and pages through the catalog with n/last and Link', async () => {
    const names = ['cat/a', 'cat/b', 'cat/c', 'cat/d', 'cat/e'];
    const img = makeImage([64]);
    for (const n of names) await pushImage(repo(n), img, 'one');
    await repo('cat/a').pushManifest('two', img.manifest.bytes, img.manifest.desc.mediaType);
    assert.deepEqual((await repo('cat/a').listTags()).sort(), ['one', 'two']);
    const all = await new Registry(reg.host, { client }).catalog({ pageSize: 2 });
    for (const n of names) assert.ok(all.includes(n), n);
    assert.equal(new Set(all).size, all.length);
    await assert.rejects(new Registry(reg.host, { client }).catalog({ pageSize: 1, maxPages: 2 }), (e: unknown) => isZtocError(e, 'REGISTRY_PROTOCOL'));
  });
});

describe('cross-repository mount', () => {
  it('mounts a blob from another repository (201) and falls back to upload (202) for an unknown one', async () => {
    const src = repo('mount/src');
    const dst = repo('mount/dst');
    const img = makeImage([5000]);
    await pushImage(src, img, 'v');
    const layer = img.layers[0];
    assert.ok(layer !== undefined);
    assert.equal(await dst.blobExists(layer.desc.digest), false);
    let asked = false;
    assert.equal(
      await dst.mountBlob(layer.desc, 'mount/src', async () => {
        asked = true;
        return layer.bytes;
      }),
      'mounted',
    );
    assert.equal(asked, false, 'a mounted blob is not read');
    assert.equal(await dst.blobExists(layer.desc.digest), true);

    const fresh = blobOf(Buffer.from('not in any repository'));
    assert.equal(await dst.mountBlob(fresh.desc, 'mount/src', fresh.bytes), 'pushed');
    assert.ok((await dst.fetchBlobBytes(fresh.desc)).equals(fresh.bytes));
  });
});

describe('referrers (tag fallback on distribution 2.8)', () => {
  it('pushes two referrers, lists both, filters by artifactType, and writes a Go-shaped fallback index', async () => {
    const r = repo('ref/app');
    const img = makeImage([256]);
    await pushImage(r, img, 'v1');
    const subject = img.manifest.desc;
    assert.deepEqual(await r.referrers(subject.digest), []);
    assert.equal(r.referrersCapability, 'tag', 'the 404 text/plain referrers endpoint marks the API unsupported');

    const a = makeReferrer(subject, { annotations: { 'com.amazon.soci.build-tool-identifier': 'ztoc' } });
    const b = makeReferrer(subject, { artifactType: 'application/vnd.example.sig', configMediaType: MediaType.OciEmpty });
    for (const ref of [a, b]) {
      await r.pushBlob(ref.config.desc, ref.config.bytes);
      await r.pushBlob(ref.layer.desc, ref.layer.bytes);
    }
    const ra = await r.pushReferrer(a.manifest.bytes, MediaType.OciManifest, a.info);
    const rb = await r.pushReferrer(b.manifest.bytes, MediaType.OciManifest, b.info);
    assert.equal(ra.mechanism, 'tag');
    assert.equal(rb.mechanism, 'tag');
    assert.deepEqual(ra.descriptor, a.manifest.desc);

    const listed = await r.referrers(subject.digest);
    assert.deepEqual(listed, [
      { mediaType: MediaType.OciManifest, digest: a.manifest.desc.digest, size: a.manifest.desc.size, annotations: { 'com.amazon.soci.build-tool-identifier': 'ztoc' }, artifactType: MediaType.SociIndexV1 },
      { mediaType: MediaType.OciManifest, digest: b.manifest.desc.digest, size: b.manifest.desc.size, artifactType: 'application/vnd.example.sig' },
    ]);
    assert.deepEqual((await r.referrers(subject.digest, MediaType.SociIndexV1)).map((d) => d.digest), [a.manifest.desc.digest]);

    const raw = await r.resolve(referrersTag(subject.digest));
    assert.equal(raw.descriptor.mediaType, MediaType.OciIndex);
    assert.ok(raw.bytes.toString('utf8').startsWith('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":'));

    // Pushing the same referrer again adds nothing.
    await r.pushReferrer(a.manifest.bytes, MediaType.OciManifest, a.info);
    assert.equal((await r.referrers(subject.digest)).length, 2);
    assert.ok((await r.listTags()).includes(referrersTag(subject.digest)));
  });

  it('keeps every entry when referrers of one subject are pushed concurrently', async () => {
    const r = repo('ref/concurrent');
    const img = makeImage([128]);
    await pushImage(r, img, 'v1');
    const refs = [0, 1, 2, 3].map((i) => makeReferrer(img.manifest.desc, { payload: `p${i}` }));
    for (const ref of refs) {
      await r.pushBlob(ref.config.desc, ref.config.bytes);
      await r.pushBlob(ref.layer.desc, ref.layer.bytes);
    }
    // Separate Repository objects sharing nothing but the process: the per-subject lock still serialises them.
    const others = refs.map(() => new Repository(reg.host, 'ref/concurrent', { retry: { baseDelayMs: 5, maxDelayMs: 20 } }));
    try {
      const results = await Promise.all(refs.map((ref, i) => (others[i] as Repository).pushReferrer(ref.manifest.bytes, MediaType.OciManifest, ref.info)));
      assert.ok(results.every((x) => x.mechanism === 'tag'));
    } finally {
      await Promise.all(others.map((o) => o.close()));
    }
    const listed = await r.referrers(img.manifest.desc.digest);
    assert.deepEqual(new Set(listed.map((d) => d.digest)), new Set(refs.map((x) => x.manifest.desc.digest)));
  });
});
