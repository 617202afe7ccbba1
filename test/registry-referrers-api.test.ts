// The referrers-API path against real bytes: Debian's docker-registry behind the referrers front
// (test/helpers/referrers-front.ts). Empty answers as [], null and absent; a 3-page answer; server-side and
// client-side artifactType filtering; OCI-Subject on PUT (no fallback tag) and its absence (oras-go writes the
// fallback tag too); the mechanism remembered per registry; and the faults: 404 → tag fallback, 200 with a body
// that is not an index → a clear error, 500 then 200 → retried, malformed entries → a clear error; and removing
// referrers through both mechanisms, with deleteManifest's report of a registry that refuses deletes.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isZtocError } from '../src/errors.js';
import { MediaType } from '../src/oci/types.js';
import { RegistryClient, Repository, referrersTag } from '../src/registry/index.js';
import { makeImage, makeReferrer, startRegistry, type RunningRegistry, type TestImage } from './helpers/registry.js';
import { startReferrersFront, type EmptyAnswer, type FrontFault, type ReferrersFront } from './helpers/referrers-front.js';
import { startFaultProxy } from './helpers/fault-proxy.js';

let reg: RunningRegistry;
let front: ReferrersFront;
const clients: RegistryClient[] = [];

/** A repository through the front with a fresh client, so that nothing is remembered from an earlier test. */
function repo(name: string): Repository {
  const client = new RegistryClient({ retry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 3 } });
  clients.push(client);
  return new Repository(front.host, name, { client });
}

async function pushImage(r: Repository, img: TestImage, tag: string): Promise<void> {
  for (const b of [img.config, ...img.layers]) await r.pushBlob(b.desc, b.bytes);
  await r.pushManifest(tag, img.manifest.bytes, img.manifest.desc.mediaType);
}

async function pushReferrerOf(r: Repository, subject: TestImage['manifest']['desc'], opts: Parameters<typeof makeReferrer>[1] = {}): Promise<ReturnType<typeof makeReferrer>> {
  const ref = makeReferrer(subject, opts);
  await r.pushBlob(ref.config.desc, ref.config.bytes);
  await r.pushBlob(ref.layer.desc, ref.layer.bytes);
  const res = await r.pushReferrer(ref.manifest.bytes, MediaType.OciManifest, ref.info);
  assert.equal(res.mechanism, 'api');
  return ref;
}

/** The tags the registry itself holds (read past the front). */
async function registryTags(name: string): Promise<string[]> {
  const direct = new Repository(reg.host, name);
  try {
    return await direct.listTags();
  } finally {
    await direct.close();
  }
}

before(async () => {
  reg = await startRegistry();
  front = await startReferrersFront({ upstream: reg.host });
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await front?.stop();
  await reg?.stop();
});

describe('empty referrers answers', () => {
  for (const empty of ['array', 'null', 'absent'] as EmptyAnswer[]) {
    it(`"manifests" ${empty === 'array' ? '[]' : empty}: no referrers, the API is detected, the fallback tag is not read`, async () => {
      await front.set({ empty, fault: undefined });
      const r = repo(`empty/${empty}`);
      const img = makeImage([128]);
      await pushImage(r, img, 'v1');
      const seen = (await front.requests()).length;
      assert.deepEqual(await r.referrers(img.manifest.desc.digest), []);
      assert.equal(r.referrersCapability, 'api');
      const asked = (await front.requests()).slice(seen).map((q) => `${q.method} ${q.url}`);
      assert.deepEqual(asked, [`GET /v2/empty/${empty}/referrers/${img.manifest.desc.digest}`]);
    });
  }
});

describe('listing and pushing through the referrers API', () => {
  it('pushes five referrers of three types: OCI-Subject, no fallback tag, three pages of two, filters on both sides', async () => {
    await front.set({ empty: 'null', pageSize: 2, applyFilter: true, fault: undefined });
    const r = repo('api/app');
    const img = makeImage([256]);
    await pushImage(r, img, 'v1');
    const subject = img.manifest.desc;
    const refs = [
      await pushReferrerOf(r, subject, { annotations: { 'com.amazon.soci.build-tool-identifier': 'ztoc' } }),
      await pushReferrerOf(r, subject, { artifactType: 'application/vnd.example.sbom.v1+json', configMediaType: MediaType.OciEmpty }),
      await pushReferrerOf(r, subject, { artifactType: 'application/vnd.example.sig.v1+json', configMediaType: MediaType.OciEmpty }),
      await pushReferrerOf(r, subject, { payload: 'second soci' }),
      await pushReferrerOf(r, subject, { artifactType: 'application/vnd.example.sbom.v1+json', configMediaType: MediaType.OciEmpty, payload: 'sbom 2' }),
    ];
    assert.ok(!(await registryTags('api/app')).includes(referrersTag(subject.digest)), 'a fallback tag was written although the registry answered OCI-Subject');

    const seen = (await front.referrersRequests()).length;
    const listed = await r.referrers(subject.digest);
    assert.equal((await front.referrersRequests()).length - seen, 3, 'five referrers in pages of two are three pages');
    assert.deepEqual(listed.map((d) => d.digest), refs.map((x) => x.manifest.desc.digest));
    assert.deepEqual(listed[0], {
      mediaType: MediaType.OciManifest,
      digest: refs[0]!.manifest.desc.digest,
      size: refs[0]!.manifest.desc.size,
      annotations: { 'com.amazon.soci.build-tool-identifier': 'ztoc' },
      artifactType: MediaType.SociIndexV1,
    });
    const sboms = [refs[1]!.manifest.desc.digest, refs[4]!.manifest.desc.digest];
    assert.deepEqual((await r.referrers(subject.digest, 'application/vnd.example.sbom.v1+json')).map((d) => d.digest), sboms);
    assert.match((await front.referrersRequests()).at(-1)!, /\?artifactType=application%2Fvnd\.example\.sbom\.v1%2Bjson$/);

    // A registry that ignores the filter (no OCI-Filters-Applied): ztoc filters itself.
    await front.set({ applyFilter: false });
    assert.deepEqual((await r.referrers(subject.digest, 'application/vnd.example.sbom.v1+json')).map((d) => d.digest), sboms);
    assert.deepEqual((await r.referrers(subject.digest, MediaType.SociIndexV1)).map((d) => d.digest), [refs[0]!.manifest.desc.digest, refs[3]!.manifest.desc.digest]);
    await front.set({ applyFilter: true, pageSize: 100 });
  });

  it('a manifest deleted from the registry leaves the answer (the front reads the stored manifests back)', async () => {
    await front.set({ empty: 'absent', fault: undefined });
    const r = repo('api/deleted');
    const img = makeImage([64]);
    await pushImage(r, img, 'v1');
    const a = await pushReferrerOf(r, img.manifest.desc);
    const b = await pushReferrerOf(r, img.manifest.desc, { payload: 'b' });
    const del = await fetch(`${reg.url}/v2/api/deleted/manifests/${a.manifest.desc.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.deepEqual((await r.referrers(img.manifest.desc.digest)).map((d) => d.digest), [b.manifest.desc.digest]);
  });

  it('a PUT answered without OCI-Subject, on a registry not yet probed: the fallback tag is written too (oras-go)', async () => {
    await front.set({ ociSubject: false, fault: undefined, empty: 'array' });
    try {
      const r = repo('api/nosubject');
      const img = makeImage([64]);
      await pushImage(r, img, 'v1');
      const ref = makeReferrer(img.manifest.desc);
      await r.pushBlob(ref.config.desc, ref.config.bytes);
      await r.pushBlob(ref.layer.desc, ref.layer.bytes);
      const res = await r.pushReferrer(ref.manifest.bytes, MediaType.OciManifest, ref.info);
      assert.equal(res.mechanism, 'tag');
      assert.equal(r.referrersCapability, 'tag');
      assert.ok((await registryTags('api/nosubject')).includes(referrersTag(img.manifest.desc.digest)));
      // Once the API is known (a fresh run that listed first), the same PUT writes no tag.
      const r2 = repo('api/nosubject');
      const img2 = makeImage([64], 'other');
      await pushImage(r2, img2, 'v2');
      assert.deepEqual(await r2.referrers(img2.manifest.desc.digest), []);
      const ref2 = makeReferrer(img2.manifest.desc);
      await r2.pushBlob(ref2.config.desc, ref2.config.bytes);
      await r2.pushBlob(ref2.layer.desc, ref2.layer.bytes);
      assert.equal((await r2.pushReferrer(ref2.manifest.bytes, MediaType.OciManifest, ref2.info)).mechanism, 'api');
      assert.ok(!(await registryTags('api/nosubject')).includes(referrersTag(img2.manifest.desc.digest)));
    } finally {
      await front.set({ ociSubject: true });
    }
  });

  it('remembers the mechanism per registry: a second repository of the same registry asks no referrers endpoint first', async () => {
    await front.set({ fault: undefined, empty: 'array' });
    const client = new RegistryClient();
    clients.push(client);
    const a = new Repository(front.host, 'per/a', { client });
    const b = new Repository(front.host, 'per/b', { client });
    const img = makeImage([64]);
    await pushImage(a, img, 'v1');
    await pushImage(b, img, 'v1');
    await a.referrers(img.manifest.desc.digest);
    assert.equal(b.referrersCapability, 'api');
  });
});

describe('faults on the referrers endpoint', () => {
  it('404 (no API): the tag fallback is used and remembered', async () => {
    await front.set({ fault: { kind: 'not-found' } });
    try {
      const r = repo('fault/404');
      const img = makeImage([64]);
      await pushImage(r, img, 'v1');
      assert.deepEqual(await r.referrers(img.manifest.desc.digest), []);
      assert.equal(r.referrersCapability, 'tag');
      const ref = makeReferrer(img.manifest.desc);
      await r.pushBlob(ref.config.desc, ref.config.bytes);
      await r.pushBlob(ref.layer.desc, ref.layer.bytes);
      // The PUT is still answered with OCI-Subject: a registry known to lack the API keeps the fallback (oras-go).
      assert.equal((await r.pushReferrer(ref.manifest.bytes, MediaType.OciManifest, ref.info)).mechanism, 'tag');
      assert.deepEqual((await r.referrers(img.manifest.desc.digest)).map((d) => d.digest), [ref.manifest.desc.digest]);
    } finally {
      await front.set({ fault: undefined });
    }
  });

  /** With `fault` on, a referrers lookup fails with MANIFEST_INVALID matching `message` (given the subject). */
  async function rejectsWith(name: string, fault: FrontFault, message: (subject: string) => RegExp): Promise<void> {
    await front.set({ fault });
    try {
      const r = repo(name);
      const img = makeImage([64]);
      await pushImage(r, img, 'v1');
      await assert.rejects(r.referrers(img.manifest.desc.digest), (e: unknown) => {
        assert.ok(isZtocError(e, 'MANIFEST_INVALID'));
        assert.match(e.message, message(img.manifest.desc.digest));
        return true;
      });
    } finally {
      await front.set({ fault: undefined });
    }
  }

  it('200 with a body that is not an image index: a clear error naming the referrers call', async () => {
    await rejectsWith('fault/nonindex', { kind: 'non-index' }, (subject) => new RegExp(`referrers of ${front.host.replace(/\./g, '\\.')}/fault/nonindex@${subject} is not valid JSON`));
  });

  it('malformed entries: MANIFEST_INVALID naming the field', async () => {
    await rejectsWith('fault/malformed', { kind: 'malformed' }, () => /is invalid at \/manifests\/0: missing required field "digest"/);
  });

  it('500 then 200: retried, and the API is detected', async () => {
    const r = repo('fault/500');
    const img = makeImage([64]);
    await pushImage(r, img, 'v1');
    await front.set({ fault: { kind: 'status', status: 500, times: 1 }, empty: 'null' });
    try {
      const seen = (await front.referrersRequests()).length;
      assert.deepEqual(await r.referrers(img.manifest.desc.digest), []);
      assert.equal((await front.referrersRequests()).length - seen, 2);
      assert.equal(r.referrersCapability, 'api');
    } finally {
      await front.set({ fault: undefined });
    }
  });

});

describe('removing referrers (the API `ztoc rm` builds on)', () => {
  it('through the referrers API: the referrer manifests are deleted and leave the answer; the others stay', async () => {
    await front.set({ fault: undefined, empty: 'null' });
    const r = repo('rm/api');
    const img = makeImage([64]);
    await pushImage(r, img, 'v1');
    const a = await pushReferrerOf(r, img.manifest.desc);
    const b = await pushReferrerOf(r, img.manifest.desc, { artifactType: 'application/vnd.example.sbom.v1+json', configMediaType: MediaType.OciEmpty });
    const res = await r.removeReferrers(img.manifest.desc.digest, [a.manifest.desc.digest, `sha256:${'9'.repeat(64)}`]);
    assert.deepEqual(res, { mechanism: 'api', removed: [a.manifest.desc.digest] });
    assert.deepEqual((await r.referrers(img.manifest.desc.digest)).map((d) => d.digest), [b.manifest.desc.digest]);
    assert.equal(await r.manifestExists(a.manifest.desc.digest), false);
    assert.equal(await r.manifestExists(b.manifest.desc.digest), true);
  });

  it('on the tag fallback: the sha256-<hex> index is rewritten without them, every other referrer kept; the last one removes the tag', async () => {
    const client = new RegistryClient({ retry: { baseDelayMs: 5, maxDelayMs: 20 } });
    clients.push(client);
    const r = new Repository(reg.host, 'rm/tag', { client });
    const img = makeImage([64]);
    await pushImage(r, img, 'v1');
    const refs = [];
    for (const payload of ['x', 'y', 'z']) {
      const ref = makeReferrer(img.manifest.desc, { payload });
      await r.pushBlob(ref.config.desc, ref.config.bytes);
      await r.pushBlob(ref.layer.desc, ref.layer.bytes);
      assert.equal((await r.pushReferrer(ref.manifest.bytes, MediaType.OciManifest, ref.info)).mechanism, 'tag');
      refs.push(ref.manifest.desc.digest);
    }
    const subject = img.manifest.desc.digest;
    assert.deepEqual(await r.removeReferrers(subject, [refs[1]!]), { mechanism: 'tag', removed: [refs[1]!] });
    assert.deepEqual((await r.referrers(subject)).map((d) => d.digest), [refs[0], refs[2]]);
    assert.equal(await r.manifestExists(refs[1]!), true, 'on the fallback the manifest itself stays');
    assert.deepEqual(await r.removeReferrers(subject, [refs[1]!]), { mechanism: 'tag', removed: [] });
    await r.removeReferrers(subject, [refs[0]!, refs[2]!]);
    assert.deepEqual(await r.referrers(subject), []);
    assert.ok(!(await r.listTags()).includes(referrersTag(subject)), 'the emptied fallback index is deleted, untagging it');
  });

  it('deleteManifest reports a registry that refuses deletes (405 UNSUPPORTED) clearly; a missing manifest is undefined', async () => {
    const proxy = await startFaultProxy({ upstream: reg.host });
    try {
      const r = new Repository(proxy.host, 'rm/refused');
      const img = makeImage([64]);
      await pushImage(r, img, 'v1');
      assert.equal(await r.deleteManifest(`sha256:${'8'.repeat(64)}`), undefined);
      proxy.addRule({
        method: 'DELETE',
        action: { kind: 'status', status: 405, body: JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message: 'The operation is unsupported.' }] }) },
      });
      await assert.rejects(r.deleteManifest(img.manifest.desc.digest), (e: unknown) => {
        assert.ok(isZtocError(e, 'REGISTRY_UNSUPPORTED'));
        assert.equal(e.status, 405);
        assert.match(e.message, /DELETE http:\/\/127\.0\.0\.1:\d+\/v2\/rm\/refused\/manifests\/sha256:[0-9a-f]{64}: HTTP 405 — UNSUPPORTED: The operation is unsupported\..*does not allow deleting manifests/);
        return true;
      });
      assert.equal(await r.manifestExists(img.manifest.desc.digest), true);
      await r.close();
    } finally {
      await proxy.stop();
    }
  });
});
