// `ztoc index` end to end against a real registry (Debian's docker-registry on 127.0.0.1), as one suite run under
// either referrers mechanism (test/helpers/referrers-mode.ts): images pushed by skopeo, indexed through the CLI, and
// everything read back through the registry API: the referrer through the sha256-<hex> fallback tag or the
// referrers API, files through get-file, verify, idempotency, the untouched image digest, Docker v2 and
// multi-platform images (one SOCI index per platform, foreign referrers kept and ignored, --force), and the v2 form.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cleanup, tempDir } from './fixtures.js';
import { makeLayers, skopeoPushAsync, writeLayoutImage, writeMultiPlatform, type BuiltLayer } from './images.js';
import { repoRoot } from './golden.js';
import { FOREIGN_TYPES, pushForeignReferrers, recorded, requestMark, startModeRegistry, writesSince, type ModeRegistry, type ReferrersMode } from './referrers-mode.js';
import type { FrontSettings } from './referrers-front.js';
import { Repository } from '../../src/registry/index.js';
import { MediaType, type ImageIndex, type ImageManifest } from '../../src/oci/types.js';
import { parseSociIndex } from '../../src/soci/index.js';

const bin = join(repoRoot(), 'bin', 'ztoc.js');

function ztoc(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1', ...env }, input: input ?? '' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The suite; `front` configures the referrers front in 'api' mode. */
export function indexRegistrySuite(mode: ReferrersMode, front: Partial<FrontSettings> = {}): void {
  let t: ModeRegistry;
  let work: string;
  let layers: BuiltLayer[];
  let layersB: BuiltLayer[];

  before(async () => {
    t = await startModeRegistry(mode, front);
    work = tempDir('ztoc-index-');
    layers = makeLayers(work, 'a');
    layersB = makeLayers(work, 'b');
    const single = join(work, 'layout-single');
    await writeLayoutImage(single, layers, 'v1');
    await skopeoPushAsync(single, 'v1', t.host, 'app');
    await skopeoPushAsync(single, 'v1', t.host, 'dockerapp', { format: 'v2s2' });
    const multi = join(work, 'layout-multi');
    await writeMultiPlatform(
      multi,
      [
        { layers, platform: { architecture: 'amd64', os: 'linux' } },
        { layers: layersB, platform: { architecture: 'arm64', os: 'linux' } },
      ],
      'multi',
    );
    await skopeoPushAsync(multi, 'multi', t.host, 'multi', { all: true });
    await skopeoPushAsync(multi, 'multi', t.host, 'multiref', { all: true });
  });

  after(async () => {
    await t?.stop();
    if (work) cleanup(work);
  });

  function repo(name: string): Repository {
    return new Repository(t.host, name);
  }

  const common = ['--min-layer-size', '1MiB', '--span-size', '1MiB'];

  /** Every regular file of the tree, relative path → bytes. */
  function treeFiles(tree: string): Array<[string, Buffer]> {
    const out = spawnSync('find', [tree, '-type', 'f'], { encoding: 'utf8' }).stdout.trim().split('\n');
    return out.map((p) => [relative(tree, p), readFileSync(p)]);
  }

  test(`index a multi-layer OCI image: referrer via the ${mode === 'tag' ? 'tag fallback' : 'referrers API'}, files via get-file, verify, idempotent`, async () => {
    const r = repo('app');
    const before = await r.resolve('v1');
    const res = ztoc(['index', `${t.host}/app:v1`, ...common, '--json']);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { platforms: Array<{ status: string; sociIndex: { digest: string }; mechanism: string; ztocs: unknown[]; skipped: Array<{ reason: string }> }> };
    const p = out.platforms[0]!;
    assert.equal(p.status, 'indexed');
    assert.equal(p.mechanism, mode);
    assert.equal(p.ztocs.length, 2);
    assert.match(p.skipped[0]!.reason, /less than min-layer-size/);

    // The image is untouched.
    const after1 = await r.resolve('v1');
    assert.equal(after1.descriptor.digest, before.descriptor.digest);

    // The fallback tag (or the referrers API, with no fallback tag written) lists the SOCI index, which points back
    // at the image and at zTOC blobs that exist.
    const fallback = await recorded(t, 'app', before.descriptor.digest);
    const entry = fallback.referrers.find((d) => d.digest === p.sociIndex.digest);
    assert.ok(entry, `SOCI index missing from the ${mode === 'tag' ? 'fallback index' : 'referrers API answer'}`);
    assert.equal(entry.artifactType, MediaType.SociIndexV1);
    const soci = await r.fetchManifest(p.sociIndex.digest);
    const info = parseSociIndex(soci.bytes);
    assert.equal(info.subject?.digest, before.descriptor.digest);
    assert.ok(info.canonical, 'SOCI index bytes are not Go-canonical');
    for (const z of info.ztocs) assert.ok(await r.blobExists(z.ztoc.digest));
    assert.deepEqual(
      info.ztocs.map((z) => z.layerDigest),
      (before.manifest as ImageManifest).layers.slice(0, 2).map((l) => l.digest),
    );

    // Files spread across spans come back byte for byte through range requests.
    let checked = 0;
    for (const l of layers.slice(0, 2)) {
      for (const [rel, bytes] of treeFiles(l.tree)) {
        if (rel.includes('/') && checked > 40) continue;
        const g = spawnSync(process.execPath, [bin, 'get-file', `${t.host}/app:v1`, `/${rel}`], { env: { ...process.env, CI: '1' }, maxBuffer: 1 << 26 });
        assert.equal(g.status, 0, g.stderr.toString());
        assert.ok(g.stdout.equals(bytes), `${rel} differs`);
        checked++;
      }
    }
    assert.ok(checked > 10);

    const v = ztoc(['verify', `${t.host}/app:v1`]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /2 zTOCs in 1 SOCI indexes match/);

    // A second run finds the index and pushes nothing.
    const seen = await requestMark(t);
    const again = ztoc(['index', `${t.host}/app:v1`, ...common, '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).platforms[0].status, 'exists');
    assert.deepEqual(await writesSince(t, seen), []);
    const fallback2 = await recorded(t, 'app', before.descriptor.digest);
    assert.equal(fallback2.fingerprint, fallback.fingerprint);

    const list = ztoc(['list', `${t.host}/app:v1`, '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(JSON.parse(list.stdout)[0].index, p.sociIndex.digest);
    await r.close();
  });

  test('Docker v2 manifest: the subject keeps the Docker media type', async () => {
    const r = repo('dockerapp');
    const img = await r.resolve('v1');
    assert.equal(img.descriptor.mediaType, MediaType.DockerManifest);
    const res = ztoc(['index', `${t.host}/dockerapp:v1`, ...common, '-q']);
    assert.equal(res.code, 0, res.stderr);
    const digest = res.stdout.trim();
    const info = parseSociIndex((await r.fetchManifest(digest)).bytes);
    assert.equal(info.subject?.mediaType, MediaType.DockerManifest);
    assert.ok(info.ztocs.every((z) => z.layerMediaType === MediaType.DockerLayerGzip));
    assert.equal(ztoc(['verify', `${t.host}/dockerapp:v1`]).code, 0);
    await r.close();
  });

  test('two-platform index: both platforms indexed; --platform picks one for get-file', async () => {
    const r = repo('multi');
    const res = ztoc(['index', `${t.host}/multi:multi`, ...common, '--json']);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { platforms: Array<{ platform: string; status: string }> };
    assert.deepEqual(out.platforms.map((p) => p.platform).sort(), ['linux/amd64', 'linux/arm64']);
    assert.ok(out.platforms.every((p) => p.status === 'indexed'));
    for (const [platform, ls] of [['linux/amd64', layers], ['linux/arm64', layersB]] as const) {
      const g = spawnSync(process.execPath, [bin, 'get-file', `${t.host}/multi:multi`, 'etc/label', '--platform', platform], { env: { ...process.env, CI: '1' } });
      assert.equal(g.status, 0, g.stderr.toString());
      assert.equal(g.stdout.toString(), readFileSync(join(ls[1]!.tree, 'etc', 'label'), 'utf8'));
    }
    assert.equal(ztoc(['verify', `${t.host}/multi:multi`]).code, 0);
    await r.close();
  });

  test('two platforms with foreign referrers: one SOCI index per platform, the others kept and ignored; --force pushes it once again', async () => {
    const r = repo('multiref');
    const root = await r.fetchManifest('multi');
    const platforms = (root.manifest as ImageIndex).manifests;
    assert.equal(platforms.length, 2);
    const foreign = new Map<string, string[]>();
    for (const pm of platforms) foreign.set(pm.digest, await pushForeignReferrers(t, 'multiref', pm));
    const ref = `${t.host}/multiref:multi`;

    const check = async (label: string): Promise<Map<string, string>> => {
      const soci = new Map<string, string>();
      for (const pm of platforms) {
        const listed = (await recorded(t, 'multiref', pm.digest)).referrers;
        const ours = listed.filter((d) => d.artifactType === MediaType.SociIndexV1);
        assert.equal(ours.length, 1, `${label}: ${pm.digest} has ${ours.length} SOCI indexes`);
        soci.set(pm.digest, ours[0]!.digest);
        for (const d of foreign.get(pm.digest)!) assert.ok(listed.some((x) => x.digest === d), `${label}: foreign referrer ${d} lost`);
        assert.deepEqual(
          listed.filter((d) => d.artifactType !== MediaType.SociIndexV1).map((d) => d.artifactType).sort(),
          [...FOREIGN_TYPES].sort(),
        );
      }
      const list = ztoc(['list', ref, '--json']);
      assert.equal(list.code, 0, list.stderr);
      const rows = JSON.parse(list.stdout) as Array<{ manifest: string; index: string }>;
      assert.deepEqual(rows.map((x) => `${x.manifest} ${x.index}`).sort(), [...soci].map(([m, i]) => `${m} ${i}`).sort(), `${label}: list shows only the SOCI indexes`);
      return soci;
    };

    const res = ztoc(['index', ref, ...common, '--json']);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { platforms: Array<{ status: string; mechanism: string; sociIndex: { digest: string } }> };
    assert.deepEqual(out.platforms.map((p) => `${p.status} ${p.mechanism}`), [`indexed ${mode}`, `indexed ${mode}`]);
    const first = await check('first run');
    assert.deepEqual([...first.values()].sort(), out.platforms.map((p) => p.sociIndex.digest).sort());
    const v = ztoc(['verify', ref]);
    assert.equal(v.code, 0, v.stderr);

    const seen = await requestMark(t);
    const again = ztoc(['index', ref, ...common, '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((JSON.parse(again.stdout) as typeof out).platforms.map((p) => p.status), ['exists', 'exists']);
    assert.deepEqual(await writesSince(t, seen), []);

    // --force rebuilds and pushes again; the same bytes are one referrer, still listed once, foreign ones kept.
    const forced = ztoc(['index', ref, ...common, '--force', '--json']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual((JSON.parse(forced.stdout) as typeof out).platforms.map((p) => `${p.status} ${p.mechanism}`), [`indexed ${mode}`, `indexed ${mode}`]);
    assert.deepEqual(await check('after --force'), first);
    await r.close();
  });

  test('--index-version v2 writes the SOCI-enabled image index under a new tag', async () => {
    const r = repo('multi');
    const res = ztoc(['index', `${t.host}/multi:multi`, ...common, '--index-version', 'v2', '--tag', 'multi-soci', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const idx = (await r.fetchManifest('multi-soci')).manifest as ImageIndex;
    const sociEntries = idx.manifests.filter((d) => d.artifactType === MediaType.SociIndexV2);
    assert.equal(sociEntries.length, 2);
    for (const img of idx.manifests.filter((d) => d.artifactType === undefined)) {
      const m = (await r.fetchManifest(img.digest)).manifest as ImageManifest;
      const sociDigest = m.annotations?.['com.amazon.soci.index-digest'];
      assert.ok(sociDigest, 'image manifest lacks com.amazon.soci.index-digest');
      assert.ok(sociEntries.some((s) => s.digest === sociDigest && s.annotations?.['com.amazon.soci.image-manifest-digest'] === img.digest));
    }
    // The original tag is untouched, and the v2 image reads through its annotation.
    assert.equal(ztoc(['verify', `${t.host}/multi:multi-soci`, '--platform', 'linux/arm64']).code, 0);
    await r.close();
  });

  test('dry run builds and pushes nothing', async () => {
    const r = repo('app');
    const res = ztoc(['index', `${t.host}/app:v1`, ...common, '--dry-run', '--force', '--span-size', '65536', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout);
    assert.equal(out.platforms[0].status, 'dry-run');
    assert.equal(await r.manifestExists(out.platforms[0].sociIndex.digest), false);
    await r.close();
  });
}
