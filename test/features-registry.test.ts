// The `soci create` options ztoc adds (issue 9 part 1) against a real registry (Debian's docker-registry, referrers
// tag fallback): every new byte of the SOCI index and the prefetch artifacts compared with expectations written from
// SOCI's reference (golden zTOCs made by AWS's code, Go struct tags, SOCI's span rule), read back from the registry;
// `ztoc rm` keeping every other referrer, a second rm a no-op, rm racing an index push; `backfill --prune`; and
// images with no layer above --min-layer-size.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry, makeReferrer, type RunningRegistry } from './helpers/registry.js';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { makeSmallLayers, skopeoPush, writeLayoutImage } from './helpers/images.js';
import { goldenLayer, LOCAL_GOLDEN, sha256 } from './helpers/golden.js';
import { runCli, runCliAsync } from './helpers/cli.js';
import { Repository } from '../src/registry/index.js';
import { RegistryStore } from '../src/image/registry-store.js';
import { indexImage } from '../src/jobs/index-image.js';
import { MediaType, type ImageIndex, type ImageManifest } from '../src/oci/types.js';
import { parseSociIndex } from '../src/soci/index.js';
import { decodeZinfo } from '../src/inflate/zinfo.js';
import { decodeZtoc } from '../src/ztoc/decode.js';
import { SOCI_BUILD_TOOL_ID } from '../src/ztoc/model.js';

let reg: RunningRegistry;
let work: string;

/** Golden layers with AWS-made zTOCs at span 1 MiB: GNU tar (no xattrs), PAX with SCHILY.xattr, and an npm tarball. */
const GOLDEN = ['gnu-tree.tar.gz', 'pax-tree.tar.gz', 'semver-7.6.3.tgz'] as const;
const SPAN = 1048576;

before(async () => {
  reg = await startRegistry();
  work = tempDir('ztoc-features-');
  const golden = join(work, 'golden-layout');
  await writeLayoutImage(golden, GOLDEN.map((g) => ({ path: goldenLayer(g), tree: '' })), 'g1');
  skopeoPush(golden, 'g1', reg.host, 'golden');
  const small = join(work, 'small-layout');
  await writeLayoutImage(small, makeSmallLayers(work, 'rm'), 'v1');
  for (const repo of ['rm', 'race', 'prune', 'tiny']) skopeoPush(small, 'v1', reg.host, repo);
});

after(async () => {
  await reg?.stop();
  if (work) cleanup(work);
});

const repo = (name: string): Repository => new Repository(reg.host, name);

/** SOCI's span of an uncompressed offset: the last checkpoint at or before it (gzip_zinfo.c pt_index_from_ucmp_offset). */
function spanOf(outs: number[], offset: number): number {
  let i = 0;
  while (i + 1 < outs.length && outs[i + 1]! <= offset) i++;
  return i;
}

/** The prefetch artifact SOCI writes for these files of a golden zTOC: ExtractFile's span range per file, merged. */
function expectedPrefetch(ztocFile: string, names: string[]): string {
  const z = decodeZtoc(readFileSync(join(LOCAL_GOLDEN, 'ztoc', ztocFile)));
  const outs = decodeZinfo(z.checkpoints).checkpoints.map((c) => c.out);
  const ranges = names
    .map((n) => {
      let e = z.entries.find((x) => x.name === n)!;
      if (e.type === 'hardlink') e = z.entries.find((x) => x.name === e.linkname)!;
      return [spanOf(outs, e.offset), spanOf(outs, e.offset + e.size)] as [number, number];
    })
    .sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([...r]);
  }
  return `{"version":"1.0","prefetch_spans":[${merged.map(([a, b]) => `{"start_span":${a},"end_span":${b}}`).join(',')}]}`;
}

test('indexImage with --optimizations xattr and prefetch files: index and artifacts byte for byte from the registry', async () => {
  const r = repo('golden');
  const store = new RegistryStore(r);
  const image = await r.resolve('g1');
  const layers = (image.manifest as ImageManifest).layers;
  const prefetchPaths = ['/dir/numbers.txt', 'dir/sub/GPL-3', '/package/package.json', '/missing'];
  const res = await indexImage(store, 'g1', { spanSize: SPAN, minLayerSize: 0, buildToolId: SOCI_BUILD_TOOL_ID, optimizations: ['xattr'], prefetchPaths });
  const p = res.platforms[0]!;
  assert.equal(p.status, 'indexed');
  assert.equal(p.mechanism, 'tag');
  assert.deepEqual(p.prefetch!.missed.map((m) => m.path), ['/missing']);

  // Expected bytes: the golden zTOCs (AWS's code) and SOCI's rules, written out field by field.
  const ztocFiles = GOLDEN.map((g) => `${g}.span${SPAN}.ztoc`);
  const ztocBytes = ztocFiles.map((f) => readFileSync(join(LOCAL_GOLDEN, 'ztoc', f)));
  // numbers.txt is a hardlink to ./dir/hardlink (2.6 MB): its bytes, over several spans, are the target's.
  const prefetchPax = expectedPrefetch(ztocFiles[1]!, ['./dir/numbers.txt', './dir/sub/GPL-3']);
  const prefetchSemver = expectedPrefetch(ztocFiles[2]!, ['package/package.json']);
  const disable = [true, false, true]; // gnu-tree: no PAX at all; pax-tree: SCHILY.xattr.user.test; semver: none
  const ztocDesc = (i: number): string =>
    `{"mediaType":"application/octet-stream","digest":"sha256:${sha256(ztocBytes[i]!)}","size":${ztocBytes[i]!.length},"annotations":{` +
    `${disable[i] ? '"com.amazon.soci.disable-xattrs":"true",' : ''}"com.amazon.soci.image-layer-digest":"${layers[i]!.digest}",` +
    `"com.amazon.soci.image-layer-mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","com.amazon.soci.span-size":"${SPAN}"}}`;
  const prefetchDesc = (json: string, i: number): string =>
    `{"mediaType":"application/vnd.amazon.soci.prefetch.v1+json","digest":"sha256:${sha256(Buffer.from(json))}","size":${json.length},` +
    `"annotations":{"com.amazon.soci.image-layer-digest":"${layers[i]!.digest}"}}`;
  const expected =
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.amazon.soci.index.v1+json",' +
    '"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[' +
    [ztocDesc(0), ztocDesc(1), ztocDesc(2), prefetchDesc(prefetchPax, 1), prefetchDesc(prefetchSemver, 2)].join(',') +
    `],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${image.descriptor.digest}","size":${image.bytes.length}},` +
    `"annotations":{"com.amazon.soci.build-tool-identifier":"${SOCI_BUILD_TOOL_ID}"}}`;

  const pushed = await r.fetchManifest(p.sociIndex!.digest);
  assert.equal(pushed.bytes.toString('utf8'), expected);
  assert.match(prefetchPax, /"end_span":[1-9]/, 'the pax-tree artifact covers several spans');
  // Blobs first: the zTOCs are the golden bytes, the artifacts the expected JSON, all in the registry.
  for (const [i, b] of ztocBytes.entries()) assert.ok((await r.fetchBlobBytes({ mediaType: MediaType.OctetStream, digest: `sha256:${sha256(b)}`, size: b.length })).equals(b), GOLDEN[i]);
  for (const json of [prefetchPax, prefetchSemver]) {
    const got = await r.fetchBlobBytes({ mediaType: MediaType.SociPrefetch, digest: `sha256:${sha256(Buffer.from(json))}`, size: json.length });
    assert.equal(got.toString('utf8'), json);
  }
  // The fallback index lists it with its artifact type; the image is untouched.
  const fallback = (await r.fetchManifest(`sha256-${image.descriptor.digest.slice(7)}`)).manifest as ImageIndex;
  assert.ok(fallback.manifests.some((d) => d.digest === p.sociIndex!.digest && d.artifactType === MediaType.SociIndexV1));
  assert.equal((await r.resolve('g1')).descriptor.digest, image.descriptor.digest);

  // list shows the artifacts and the optimization; verify checks artifacts and that they cover the files.
  const list = runCli(['list', `${reg.host}/golden:g1`, '--json']);
  assert.equal(list.code, 0, list.stderr);
  const row = (JSON.parse(list.stdout.toString()) as Array<{ index: string; optimizations: string[]; prefetch: Array<{ layer: string }> }>).find((x) => x.index === p.sociIndex!.digest)!;
  assert.deepEqual(row.optimizations, ['xattr']);
  assert.deepEqual(row.prefetch.map((x) => x.layer), [layers[1]!.digest, layers[2]!.digest]);
  const human = runCli(['list', `${reg.host}/golden:g1`]);
  assert.match(human.stdout.toString(), /2 prefetch artifacts {2}optimizations xattr \(2 of 3 layers disable-xattrs\)/);
  const v = runCli(['verify', `${reg.host}/golden:g1`, '--prefetch-file', '/dir/hardlink', '--prefetch-file', '/package/package.json']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout.toString(), new RegExp(`ok {2}/dir/hardlink: spans \\d+-[1-9]\\d* of layer ${layers[1]!.digest}`));
  assert.match(v.stdout.toString(), /3 zTOCs and 2 prefetch artifacts in 1 SOCI indexes match/);
  // random.bin (3 MB, after the hardlink's bytes in the tar) was not asked for: verify names it and the span.
  const bad = runCli(['verify', `${reg.host}/golden:g1`, '--prefetch-file', '/dir/random.bin']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /\/dir\/random\.bin needs span \d+ of layer sha256:[0-9a-f]{64} \(spans \d+-\d+\), which no prefetch artifact covers/);
  // Same settings again: the identical index is there, nothing is pushed.
  const again = await indexImage(store, 'g1', { spanSize: SPAN, minLayerSize: 0, buildToolId: SOCI_BUILD_TOOL_ID, optimizations: ['xattr'], prefetchPaths });
  assert.equal(again.platforms[0]!.status, 'exists');
  // The same through the CLI, paths from a JSON file: found existing, each file's layer and spans, the miss, the optimization.
  const json = join(work, 'prefetch.json');
  writeFileSync(json, JSON.stringify(prefetchPaths));
  const cli = runCli(['index', `${reg.host}/golden:g1`, '--span-size', '1MiB', '--min-layer-size', '0', '--build-tool-id', SOCI_BUILD_TOOL_ID, '--optimizations', 'xattr', '--prefetch-files-json', json]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout.toString(), new RegExp(`already indexed: ${p.sociIndex!.digest}`));
  const dry = runCli(['index', `${reg.host}/golden:g1`, '--span-size', '1MiB', '--min-layer-size', '0', '--build-tool-id', SOCI_BUILD_TOOL_ID, '--optimizations', 'xattr', '--prefetch-files-json', json, '--dry-run', '--force']);
  assert.equal(dry.code, 0, dry.stderr);
  const text = dry.stdout.toString();
  assert.equal((text.match(/ disable-xattrs$/gm) ?? []).length, 2);
  assert.match(text, /prefetch \/dir\/numbers\.txt: layer [0-9a-f]{12} spans 0-[1-9]/);
  assert.match(text, /prefetch \/missing: not prefetched, no such file in the image/);
  writeFileSync(json, '{"not":"a list"}');
  const badJson = runCli(['index', `${reg.host}/golden:g1`, '--prefetch-files-json', json, '--dry-run']);
  assert.equal(badJson.code, 2);
  assert.match(badJson.stderr, /expected a JSON array of strings/);
  assert.equal(runCli(['index', `${reg.host}/golden:g1`, '--optimizations', 'fast', '--dry-run']).code, 2);
  await store.close();
});

/** The fallback index's entries, in order. */
async function fallbackEntries(r: Repository, subject: string): Promise<Array<{ digest: string; artifactType?: string }>> {
  return ((await r.fetchManifest(`sha256-${subject.slice(7)}`)).manifest as ImageIndex).manifests.map((d) => ({ digest: d.digest, ...(d.artifactType ? { artifactType: d.artifactType } : {}) }));
}

/** Index `name:v1` with a span size; returns the SOCI index digest. */
function indexWith(name: string, span: string): string {
  const res = runCli(['index', `${reg.host}/${name}:v1`, '--min-layer-size', '0', '--span-size', span, '--force', '-q']);
  assert.equal(res.code, 0, res.stderr);
  return res.stdout.toString().trim();
}

test('ztoc rm on the tag fallback: other referrers survive, a second rm is a no-op, --all, and usage errors', async () => {
  const r = repo('rm');
  const img = await r.resolve('v1');
  const a = indexWith('rm', '256KiB');
  const b = indexWith('rm', '128KiB');
  const sbom = makeReferrer(img.descriptor, { configMediaType: 'application/vnd.example.sbom', payload: 'sbom' });
  await r.pushBlob(sbom.config.desc, sbom.config.bytes);
  await r.pushBlob(sbom.layer.desc, sbom.layer.bytes);
  await r.pushReferrer(sbom.manifest.bytes, sbom.manifest.desc.mediaType, sbom.info);
  const before = await fallbackEntries(r, img.descriptor.digest);
  assert.deepEqual(before.map((e) => e.digest), [a, b, sbom.manifest.desc.digest]);

  const none = runCli(['rm', `${reg.host}/rm:v1`]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--index DIGEST, or use --all; the image has sha256:/);

  const rm1 = runCli(['rm', `${reg.host}/rm:v1`, '--index', a]);
  assert.equal(rm1.code, 0, rm1.stderr);
  assert.match(rm1.stdout.toString(), new RegExp(`removed ${a}  v1  \\S+ \\(referrers tag fallback`));
  assert.deepEqual(await fallbackEntries(r, img.descriptor.digest), before.filter((e) => e.digest !== a), 'every other referrer, unchanged and in order');

  const rm2 = runCli(['rm', `${reg.host}/rm:v1`, '--index', a]);
  assert.equal(rm2.code, 0, rm2.stderr);
  assert.match(rm2.stdout.toString(), /not found sha256:.*already removed/);
  assert.deepEqual(await fallbackEntries(r, img.descriptor.digest), before.filter((e) => e.digest !== a));

  const all = runCli(['rm', `${reg.host}/rm:v1`, '--all', '--json']);
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual((JSON.parse(all.stdout.toString()) as { indexes: Array<{ index: string; outcome: string }> }).indexes.map((x) => [x.index, x.outcome]), [[b, 'removed']]);
  assert.deepEqual((await fallbackEntries(r, img.descriptor.digest)).map((e) => e.digest), [sbom.manifest.desc.digest], 'the SBOM stays');
  const again = runCli(['rm', `${reg.host}/rm:v1`, '--all']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /nothing to remove/);
  assert.equal((await r.resolve('v1')).descriptor.digest, img.descriptor.digest, 'the image is untouched');
  await r.close();
});

test('ztoc rm racing ztoc index on the same fallback tag: the new index and the other referrers survive', async () => {
  const r = repo('race');
  const img = await r.resolve('v1');
  const sbom = makeReferrer(img.descriptor, { configMediaType: 'application/vnd.example.sbom', payload: 'race-sbom' });
  await r.pushBlob(sbom.config.desc, sbom.config.bytes);
  await r.pushBlob(sbom.layer.desc, sbom.layer.bytes);
  await r.pushReferrer(sbom.manifest.bytes, sbom.manifest.desc.mediaType, sbom.info);
  for (const [i, span] of ['256KiB', '192KiB', '160KiB'].entries()) {
    const old = indexWith('race', `${128 + i * 8}KiB`);
    const [rm, idx] = await Promise.all([
      runCliAsync(['rm', `${reg.host}/race:v1`, '--index', old]),
      runCliAsync(['index', `${reg.host}/race:v1`, '--min-layer-size', '0', '--span-size', span, '--force', '-q']),
    ]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(idx.code, 0, idx.stderr);
    const fresh = idx.stdout.toString().trim();
    let entries = (await fallbackEntries(r, img.descriptor.digest)).map((e) => e.digest);
    assert.ok(entries.includes(fresh), `round ${i}: the index pushed during rm is listed`);
    assert.ok(entries.includes(sbom.manifest.desc.digest), `round ${i}: the SBOM is listed`);
    if (entries.includes(old)) {
      // The index run read the fallback before rm wrote it and kept what it saw: rm again takes it out.
      assert.equal(runCli(['rm', `${reg.host}/race:v1`, '--index', old]).code, 0);
      entries = (await fallbackEntries(r, img.descriptor.digest)).map((e) => e.digest);
    }
    assert.ok(!entries.includes(old), `round ${i}: the removed index is gone`);
    assert.ok(entries.includes(fresh) && entries.includes(sbom.manifest.desc.digest));
  }
  await r.close();
});

test('backfill --prune removes indexes with another span size or other settings, keeps the run\'s and other referrers', async () => {
  const r = repo('prune');
  const img = await r.resolve('v1');
  const old = indexWith('prune', '128KiB');
  const sbom = makeReferrer(img.descriptor, { configMediaType: 'application/vnd.example.sbom', payload: 'prune-sbom' });
  await r.pushBlob(sbom.config.desc, sbom.config.bytes);
  await r.pushBlob(sbom.layer.desc, sbom.layer.bytes);
  await r.pushReferrer(sbom.manifest.bytes, sbom.manifest.desc.mediaType, sbom.info);
  const repos = join(work, 'prune-repos.txt');
  writeFileSync(repos, 'prune\n');
  const res = runCli(['backfill', reg.host, '--repos', repos, '--min-layer-size', '0', '--span-size', '256KiB', '--prune', '--json'], { timeoutMs: 60_000 });
  assert.equal(res.code, 0, res.stderr);
  const entries = (await fallbackEntries(r, img.descriptor.digest)).map((e) => e.digest);
  assert.ok(!entries.includes(old), 'the 128 KiB index is pruned');
  assert.equal(entries.length, 2);
  assert.ok(entries.includes(sbom.manifest.desc.digest));
  const kept = entries.find((d) => d !== sbom.manifest.desc.digest)!;
  assert.deepEqual(parseSociIndex((await r.fetchManifest(kept)).bytes).spanSizes, [256 * 1024]);
  // Run again with the same settings: the index exists, nothing is pruned.
  const again = runCli(['backfill', reg.host, '--repos', repos, '--min-layer-size', '0', '--span-size', '256KiB', '--prune', '--json'], { timeoutMs: 60_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual((await fallbackEntries(r, img.descriptor.digest)).map((e) => e.digest), entries);
  await r.close();
});

test('no layer above --min-layer-size: said so, exit 0, nothing pushed; --min-layer-size 0 indexes every layer', async () => {
  const r = repo('tiny');
  const img = await r.resolve('v1');
  const big = runCli(['index', `${reg.host}/tiny:v1`, '--min-layer-size', '1GiB']);
  assert.equal(big.code, 0, big.stderr);
  assert.match(big.stdout.toString(), /no layer needed a zTOC \(none is at least --min-layer-size\): no SOCI index, nothing pushed/);
  assert.match(big.stdout.toString(), /skipped: layer size \d+ is less than min-layer-size 1073741824/);
  assert.match(big.stderr, /no layer reached --min-layer-size \(--min-layer-size 0 indexes every layer\)/);
  await assert.rejects(r.fetchManifest(`sha256-${img.descriptor.digest.slice(7)}`), /not found|NOT_FOUND|unknown/i);
  const json = runCli(['index', `${reg.host}/tiny:v1`, '--min-layer-size', '1GiB', '--json']);
  assert.equal(json.code, 0, json.stderr);
  assert.equal((JSON.parse(json.stdout.toString()) as { platforms: Array<{ status: string }> }).platforms[0]!.status, 'no-ztocs');
  const zero = runCli(['index', `${reg.host}/tiny:v1`, '--min-layer-size', '0', '--span-size', '64KiB', '--json']);
  assert.equal(zero.code, 0, zero.stderr);
  const p = (JSON.parse(zero.stdout.toString()) as { platforms: Array<{ ztocs: Array<{ layer: string }>; skipped: unknown[] }> }).platforms[0]!;
  const layers = (img.manifest as ImageManifest).layers;
  assert.deepEqual(p.ztocs.map((z) => z.layer), layers.map((l) => l.digest), 'the tiny layer too');
  assert.equal(p.skipped.length, 0);
  assert.ok(layers.some((l) => l.size < 1024), 'the image has a layer of a few hundred bytes');
  const v = runCli(['verify', `${reg.host}/tiny:v1`]);
  assert.equal(v.code, 0, v.stderr);
  const neg = runCli(['index', `${reg.host}/tiny:v1`, '--min-layer-size', '-1']);
  assert.equal(neg.code, 2);
  await r.close();
});

test('removeReferrers racing pushReferrer in one process, on the real registry: every pushed referrer stays listed', async () => {
  const r = repo('race');
  const store = new RegistryStore(r);
  const img = await r.resolve('v1');
  const push = async (label: string): Promise<string> => {
    const m = makeReferrer(img.descriptor, { configMediaType: 'application/vnd.example.note', payload: label });
    await r.pushBlob(m.config.desc, m.config.bytes);
    await r.pushBlob(m.layer.desc, m.layer.bytes);
    await r.pushReferrer(m.manifest.bytes, m.manifest.desc.mediaType, m.info);
    return m.manifest.desc.digest;
  };
  const doomed = await Promise.all([push('doomed-1'), push('doomed-2')]);
  const [removal, ...added] = await Promise.all([store.removeReferrers(img.descriptor.digest, doomed), push('new-1'), push('new-2'), push('new-3')]);
  assert.deepEqual(removal.removals.map((x) => [x.digest, x.unlisted]), doomed.map((d) => [d, true]));
  let listed = (await fallbackEntries(r, img.descriptor.digest)).map((e) => e.digest);
  for (const d of added) assert.ok(listed.includes(d), `${d} pushed during the removal is listed`);
  if (doomed.some((d) => listed.includes(d))) {
    // A writer that read the index before the removal kept what it saw; removing again is a clean no-op or fix.
    await store.removeReferrers(img.descriptor.digest, doomed);
    listed = (await fallbackEntries(r, img.descriptor.digest)).map((e) => e.digest);
  }
  for (const d of doomed) assert.ok(!listed.includes(d), `${d} is gone`);
  for (const d of added) assert.ok(listed.includes(d));
  await store.close();
});
