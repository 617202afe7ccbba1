// Concurrent writers on the referrers tag fallback (Debian's docker-registry has no referrers API): two `ztoc index`
// processes on the same image at once (--force, different span sizes, so their SOCI indexes differ) while a third
// client pushes foreign (non-SOCI) referrers to the same subject. Every writer reads the `sha256-<hex>` index,
// merges, writes, then re-reads (and merges again when its entry or one it saw went missing), so afterwards the
// index lists every referrer. Repeated a few rounds to give the races a chance.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runCliHermetic, type TextResult } from './helpers/cli.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryClient, Repository } from '../src/registry/index.js';
import type { ImageIndex } from '../src/oci/types.js';
import { makeReferrer, startRegistry, type RunningRegistry } from './helpers/registry.js';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { makeSmallLayers, skopeoPush, writeLayoutImage } from './helpers/images.js';

const NAME = 'race/app';
let reg: RunningRegistry;
let work: string;
let subject: { mediaType: string; digest: string; size: number };

type Run = TextResult;

/** The real CLI (the registry's clients race in this process). */
function ztoc(args: string[]): Promise<Run> {
  return runCliHermetic(args, join(work, 'home'), { timeoutMs: 90_000 });
}

before(async () => {
  work = tempDir('ztoc-race-');
  mkdirSync(join(work, 'home'), { recursive: true });
  writeFileSync(join(work, 'home', 'config.json'), '{}');
  reg = await startRegistry();
  const layout = join(work, 'layout');
  await writeLayoutImage(layout, makeSmallLayers(work, 'race'), 'v1');
  skopeoPush(layout, 'v1', reg.host, NAME);
  const repo = new Repository(reg.host, NAME);
  try {
    subject = (await repo.resolve('v1')).descriptor;
  } finally {
    await repo.close();
  }
}, { timeout: 60_000 });

after(async () => {
  await reg?.stop();
  if (work) cleanup(work);
});

async function fallbackIndex(): Promise<ImageIndex> {
  const repo = new Repository(reg.host, NAME);
  try {
    return (await repo.fetchManifest(`sha256-${subject.digest.slice(7)}`)).manifest as ImageIndex;
  } finally {
    await repo.close();
  }
}

test('two `ztoc index --force` processes and a foreign referrer writer at once: every referrer stays listed', { timeout: 240_000 }, async () => {
  // Another tool's client: its own connection pool and process-local lock, the tag fallback, a fast retry policy.
  const client = new RegistryClient({ retry: { baseDelayMs: 20, maxDelayMs: 100 } });
  const foreign = new Repository(reg.host, NAME, { client, referrersCapability: 'tag' });
  const expected = new Set<string>();
  try {
    for (let round = 0; round < 2; round++) {
      const spans = [`${64 + round}KiB`, `${128 + round}KiB`];
      let running = 2;
      const runs = spans.map((span) =>
        ztoc(['index', `${reg.host}/${NAME}:v1`, '--force', '--span-size', span, '--min-layer-size', '64KiB', '--json']).finally(() => running--),
      );
      // Foreign referrers every ~100 ms while both processes run (bounded), the last one after they end.
      const pushed: string[] = [];
      for (let i = 0; i < 40 && running > 0; i++) {
        const r = makeReferrer(subject, { artifactType: 'application/vnd.example.sbom.v1+json', configMediaType: 'application/vnd.oci.empty.v1+json', annotations: { round: String(round), i: String(i) } });
        await foreign.pushBlob(r.config.desc, r.config.bytes);
        await foreign.pushBlob(r.layer.desc, r.layer.bytes);
        const res = await foreign.pushReferrer(r.manifest.bytes, r.manifest.desc.mediaType, r.info);
        assert.equal(res.mechanism, 'tag');
        pushed.push(res.descriptor.digest);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const results = await Promise.all(runs);
      const soci: string[] = [];
      for (const r of results) {
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout) as { platforms: Array<{ status: string; mechanism: string; sociIndex: { digest: string } }> };
        assert.equal(out.platforms[0]!.status, 'indexed');
        assert.equal(out.platforms[0]!.mechanism, 'tag');
        expected.add(out.platforms[0]!.sociIndex.digest);
        soci.push(out.platforms[0]!.sociIndex.digest);
      }
      for (const d of pushed) expected.add(d);
      const listed = new Set((await fallbackIndex()).manifests.map((d) => d.digest));
      const missing = [...expected].filter((d) => !listed.has(d));
      const who = (d: string): string => (soci.includes(d) ? `ztoc index #${soci.indexOf(d) + 1}` : pushed.includes(d) ? `foreign #${pushed.indexOf(d) + 1} of ${pushed.length}` : 'an earlier round');
      assert.deepEqual(missing, [], `round ${round}: referrers missing from the fallback index: ${missing.map(who).join(', ')}`);
      assert.ok(pushed.length >= 1, 'the foreign writer pushed nothing while ztoc ran');
    }
    // The SOCI indexes are distinct (different span sizes) and both kinds of referrers are there.
    const idx = await fallbackIndex();
    assert.equal(new Set(idx.manifests.map((d) => d.digest)).size, idx.manifests.length, 'duplicate entries');
    assert.ok(idx.manifests.filter((d) => d.artifactType === 'application/vnd.amazon.soci.index.v1+json').length >= 4);
    assert.ok(idx.manifests.some((d) => d.artifactType === 'application/vnd.example.sbom.v1+json'));
  } finally {
    await foreign.close();
    await client.close();
  }
});
