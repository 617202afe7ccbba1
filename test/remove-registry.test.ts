// `ztoc rm` by referrers mechanism and registry policy: through the referrers API (test/helpers/referrers-front.ts in
// front of Debian's registry) the SOCI index manifest is deleted, which is what takes it out of the answer; where the
// registry refuses deletes (storage.delete disabled, as Docker Hub) rm says so and exits 1 with the index still
// listed; on the tag fallback the listing is rewritten either way and the manifest is deleted only where allowed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startRegistry, makeReferrer, type RunningRegistry } from './helpers/registry.js';
import { startReferrersFront, type ReferrersFront } from './helpers/referrers-front.js';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { makeSmallLayers, skopeoPush, writeLayoutImage } from './helpers/images.js';
import { runCli } from './helpers/cli.js';
import { Repository } from '../src/registry/index.js';
import { MediaType } from '../src/oci/types.js';

let work: string;
let layout: string;
const running: Array<{ stop(): Promise<void> }> = [];

before(async () => {
  work = tempDir('ztoc-rm-registry-');
  layout = join(work, 'layout');
  await writeLayoutImage(layout, makeSmallLayers(work, 'rmr'), 'v1');
});

after(async () => {
  for (const r of running.reverse()) await r.stop();
  if (work) cleanup(work);
});

/** A registry (deletes allowed or not), optionally behind the referrers-API front; the image pushed as app:v1. */
async function setup(opts: { deleteEnabled: boolean; api: boolean }): Promise<{ host: string; reg: RunningRegistry; front?: ReferrersFront }> {
  const reg = await startRegistry({ deleteEnabled: opts.deleteEnabled });
  running.push(reg);
  skopeoPush(layout, 'v1', reg.host, 'app');
  if (!opts.api) return { host: reg.host, reg };
  const front = await startReferrersFront({ upstream: reg.host });
  running.push(front);
  return { host: front.host, reg, front };
}

/** Two SOCI indexes (span sizes) and a foreign referrer of app:v1; returns their digests. */
async function populate(host: string): Promise<{ a: string; b: string; sbom: string; subject: string }> {
  const index = (span: string): string => {
    const r = runCli(['index', `${host}/app:v1`, '--min-layer-size', '0', '--span-size', span, '--force', '-q']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.toString().trim();
  };
  const a = index('256KiB');
  const b = index('128KiB');
  const repo = new Repository(host, 'app');
  const img = await repo.resolve('v1');
  const sbom = makeReferrer(img.descriptor, { configMediaType: 'application/vnd.example.sbom', payload: `sbom-${host}` });
  await repo.pushBlob(sbom.config.desc, sbom.config.bytes);
  await repo.pushBlob(sbom.layer.desc, sbom.layer.bytes);
  await repo.pushReferrer(sbom.manifest.bytes, sbom.manifest.desc.mediaType, sbom.info);
  await repo.close();
  return { a, b, sbom: sbom.manifest.desc.digest, subject: img.descriptor.digest };
}

async function listed(host: string, subject: string): Promise<string[]> {
  const repo = new Repository(host, 'app');
  try {
    return (await repo.referrers(subject)).map((d) => d.digest).sort();
  } finally {
    await repo.close();
  }
}

async function manifestExists(host: string, digest: string): Promise<boolean> {
  const repo = new Repository(host, 'app');
  try {
    return await repo.manifestExists(digest);
  } finally {
    await repo.close();
  }
}

test('referrers API, deletes allowed: rm deletes the SOCI index manifest; the others stay; a second rm is a no-op', async () => {
  const { host, reg } = await setup({ deleteEnabled: true, api: true });
  const { a, b, sbom, subject } = await populate(host);
  assert.deepEqual(await listed(host, subject), [a, b, sbom].sort());
  const rm = runCli(['rm', `${host}/app:v1`, '--index', a]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout.toString(), new RegExp(`removed ${a}  v1  linux/amd64 \\(referrers API; manifest deleted\\)`));
  assert.deepEqual(await listed(host, subject), [b, sbom].sort());
  assert.equal(await manifestExists(reg.host, a), false, 'deleted in the registry behind the front');
  assert.equal(await manifestExists(reg.host, b), true);
  const again = runCli(['rm', `${host}/app:v1`, '--index', a]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout.toString(), /not found .*already removed/);
  assert.deepEqual(await listed(host, subject), [b, sbom].sort());
});

test('referrers API, deletes refused: rm says the registry does not allow it, exits 1, and everything stays listed', async () => {
  const { host } = await setup({ deleteEnabled: false, api: true });
  const { a, b, sbom, subject } = await populate(host);
  const rm = runCli(['rm', `${host}/app:v1`, '--all']);
  assert.equal(rm.code, 1);
  assert.match(rm.stdout.toString(), new RegExp(`NOT removed ${a} .*does not allow deleting manifests`));
  assert.match(rm.stderr, /rm: 2 SOCI indexes were not removed/);
  assert.deepEqual(await listed(host, subject), [a, b, sbom].sort());
});

test('tag fallback, deletes refused: the listing is rewritten without the index, the manifest stays and rm says so', async () => {
  const { host } = await setup({ deleteEnabled: false, api: false });
  const { a, b, sbom, subject } = await populate(host);
  const rm = runCli(['rm', `${host}/app:v1`, '--index', b, '--json']);
  assert.equal(rm.code, 0, rm.stderr);
  const out = JSON.parse(rm.stdout.toString()) as { indexes: Array<{ index: string; outcome: string; mechanism: string; manifestState: string; note: string }> };
  assert.deepEqual(out.indexes.map((x) => [x.index, x.outcome, x.mechanism, x.manifestState]), [[b, 'removed', 'tag', 'kept']]);
  assert.match(out.indexes[0]!.note, /does not allow deleting manifests: it stays in the repository, untagged/);
  assert.deepEqual(await listed(host, subject), [a, sbom].sort());
  assert.equal(await manifestExists(host, b), true);
});

test('tag fallback, deletes allowed: unlisted and deleted', async () => {
  const { host } = await setup({ deleteEnabled: true, api: false });
  const { a, b, sbom, subject } = await populate(host);
  const rm = runCli(['rm', `${host}/app:v1`, '--index', a]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout.toString(), new RegExp(`removed ${a} .*\\(referrers tag fallback; manifest deleted\\)`));
  assert.deepEqual(await listed(host, subject), [b, sbom].sort());
  assert.equal(await manifestExists(host, a), false);
  // The SOCI index blob types stay valid for what remains.
  const repo = new Repository(host, 'app');
  assert.equal((await repo.resolve(b)).descriptor.mediaType, MediaType.OciManifest);
  await repo.close();
});
