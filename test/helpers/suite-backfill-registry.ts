// `ztoc backfill` end to end against a real registry (Debian's docker-registry on 127.0.0.1), as a suite run under
// either referrers mechanism (test/helpers/referrers-mode.ts; the 'api' run keeps the tests where the mechanism
// matters: the full run, shared layers, the second run): ten repositories with
// several tags — aliases of one digest, a two-platform index, a Docker v2 image, small-layer-only images, a base
// layer shared across repositories, and one image whose layer blob was corrupted in the registry's storage — built
// from real trees with GNU tar and gzip, pushed by skopeo, and backfilled through the CLI. Checks: a full run, a
// second run that writes nothing (counted through a proxy), shards that partition the set, a SIGKILLed run resumed
// from its journal, shared layers built once and mounted, the corrupted image failing alone with exit 1, and the
// selection flags.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, readSync, closeSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { startFaultProxy } from './fault-proxy.js';
import { cleanup, makeLayer, makeTree, tempDir } from './fixtures.js';
import { skopeoPushAsync, writeLayoutImage, writeMultiPlatform, type BuiltLayer } from './images.js';
import { runCli, runCliAsync, ZTOC_BIN } from './cli.js';
import { RegistryClient, Repository } from '../../src/registry/index.js';
import { backfill, type BackfillOptions } from '../../src/jobs/backfill.js';
import { parseSociIndex } from '../../src/soci/index.js';
import { MediaType, type ImageIndex } from '../../src/oci/types.js';
import type { BackfillReport, ImageRecord } from '../../src/jobs/backfill.js';
import { parseReposFile } from '../../src/jobs/backfill-select.js';
import { ThrottledClient } from '../../src/jobs/backfill-rate.js';
import { recorded, startModeRegistry, type ModeRegistry, type ReferrersMode } from './referrers-mode.js';
import type { FrontSettings } from './referrers-front.js';
import type { JournalEntry } from '../../src/jobs/backfill-state.js';

/** The suite; `front` configures the referrers front in 'api' mode. */
export function backfillRegistrySuite(mode: ReferrersMode, front: Partial<FrontSettings> = {}): void {
  let t: ModeRegistry;
  let work: string;
  const L: Record<string, BuiltLayer> = {};
  /** Digest of the corrupted layer. */
  let brokenLayer: string;

  const FLAGS = ['--min-layer-size', '256KiB', '--span-size', '256KiB'];
  const ELIGIBLE = ['alpha:1.0', 'alpha:2.0', 'beta:v1', 'dockerv2:1', 'gamma:v1', 'multi:latest', 'prod/api:latest', 'prod/web:1', 'team/deep/svc:1'];
  const SMALL = ['tiny:a', 'tiny:b'];
  const BROKEN = 'broken:1';

  function layer(name: string, bigSize: number): BuiltLayer {
    const tree = makeTree(join(work, `tree-${name}`), { bigSize });
    return { path: makeLayer(tree, join(work, `${name}.tar.gz`), 'gnu', 'gzip-n'), tree };
  }

  function tinyLayer(name: string): BuiltLayer {
    const tree = join(work, `tree-${name}`);
    runShell(`mkdir -p '${tree}/etc' && echo ${name} > '${tree}/etc/name'`);
    return { path: makeLayer(tree, join(work, `${name}.tar.gz`), 'gnu', 'gzip-n'), tree };
  }

  function runShell(cmd: string): void {
    execFileSync('sh', ['-c', cmd]);
  }

  function sha256Of(path: string): string {
    return `sha256:${execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0]}`;
  }

  async function pushImage(repo: string, tag: string, layers: BuiltLayer[], opts: { format?: 'v2s2' } = {}): Promise<void> {
    const dir = join(work, `layout-${repo.replace(/\//g, '_')}-${tag}`);
    await writeLayoutImage(dir, layers, tag);
    await skopeoPushAsync(dir, tag, t.host, repo, opts);
  }

  async function alias(repo: string, from: string, to: string): Promise<void> {
    const r = new Repository(t.host, repo);
    const m = await r.resolve(from);
    await r.pushManifest(to, m.bytes, m.descriptor.mediaType);
    await r.close();
  }

  before(async () => {
    t = await startModeRegistry(mode, front);
    work = tempDir('ztoc-backfill-');
    // ~1.4 MB shared base layer, ~0.5 MB unique layers, and tiny ones (below --min-layer-size).
    L['S'] = layer('shared', 1 << 20);
    for (let i = 1; i <= 10; i++) L[`U${i}`] = layer(`u${i}`, 320 << 10);
    L['UC'] = layer('uc', 320 << 10);
    L['T'] = tinyLayer('t');
    L['Ta'] = tinyLayer('ta');
    L['Tb'] = tinyLayer('tb');
    brokenLayer = sha256Of(L['UC'].path);

    const multiDir = join(work, 'layout-multi');
    await writeMultiPlatform(
      multiDir,
      [
        { layers: [L['S'], L['U7']!], platform: { architecture: 'amd64', os: 'linux' } },
        { layers: [L['U8']!, L['T']], platform: { architecture: 'arm64', os: 'linux' } },
      ],
      'latest',
    );
    await Promise.all([
      pushImage('alpha', '1.0', [L['S'], L['U1']!, L['T']]),
      pushImage('alpha', '2.0', [L['S'], L['U2']!]),
      pushImage('beta', 'v1', [L['S'], L['U3']!]),
      pushImage('gamma', 'v1', [L['U4']!, L['T']]),
    ]);
    await Promise.all([
      pushImage('prod/web', '1', [L['S'], L['U5']!]),
      pushImage('prod/api', 'latest', [L['U6']!]),
      pushImage('tiny', 'a', [L['Ta']]),
      pushImage('tiny', 'b', [L['Tb']]),
    ]);
    await Promise.all([
      skopeoPushAsync(multiDir, 'latest', t.host, 'multi', { all: true }),
      pushImage('dockerv2', '1', [L['U9']!], { format: 'v2s2' }),
      pushImage('broken', '1', [L['S'], L['UC']]),
      pushImage('team/deep/svc', '1', [L['U10']!]),
    ]);
    await alias('alpha', '1.0', 'latest');
    await alias('prod/web', '1', 'latest');

    // Bit rot in the registry's storage: one byte of the gzip header's MTIME, so the layer still inflates but no longer
    // matches its digest.
    const hex = brokenLayer.slice(7);
    const blob = join(t.reg.dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    assert.ok(existsSync(blob), `blob file ${blob} not found`);
    const fd = openSync(blob, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, 4);
    writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, 4);
    closeSync(fd);
  });

  after(async () => {
    await t?.stop();
    if (work) cleanup(work);
  });

  /** backfill() in this process (no CLI start-up): for checks of the job's logic rather than of the command line. */
  async function inProcess(opts: Partial<BackfillOptions>): Promise<BackfillReport> {
    const client = new RegistryClient();
    try {
      return await backfill({ registry: t.host, client, spanSize: 256 << 10, minLayerSize: 256 << 10, ...opts });
    } finally {
      await client.close();
    }
  }

  function report(path: string): BackfillReport {
    return JSON.parse(readFileSync(path, 'utf8')) as BackfillReport;
  }

  /** `repo:firstTag` of each record with the given outcome. */
  function refsWith(r: BackfillReport, outcome: string): string[] {
    return r.images
      .filter((i) => i.outcome === outcome)
      .map((i) => `${i.repo}:${i.tags[0]}`)
      .sort();
  }

  function imageIds(r: BackfillReport): string[] {
    return r.images.filter((i) => i.digest !== '').map((i) => `${i.repo}@${i.digest}`).sort();
  }

  function journal(path: string): JournalEntry[] {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as JournalEntry);
  }

  let full: BackfillReport;

  test('a full backfill indexes every eligible image, skips the small ones with a reason, and fails only the corrupted one', async () => {
    const rep = join(work, 'full.json');
    const state = join(work, 'full.jsonl');
    const res = runCli(['backfill', t.host, ...FLAGS, '--report', rep, '--state', state, '--concurrency', '4'], { timeoutMs: 60_000 });
    assert.equal(res.code, 1, `exit code (one image is corrupted)\n${res.stderr}`);
    assert.match(res.stderr, /ztoc: error: backfill: 1 of 12 images failed/);
    full = report(rep);
    assert.equal(full.selection.repositories, 10);
    assert.equal(full.selection.images, 12, 'alpha:1.0 and alpha:latest (and prod/web:1 and :latest) are one image each');
    assert.deepEqual(refsWith(full, 'indexed'), ELIGIBLE);
    assert.deepEqual(refsWith(full, 'no-ztocs'), SMALL);
    for (const i of full.images.filter((x) => x.outcome === 'no-ztocs')) {
      assert.equal(i.status, 'skipped');
      assert.match(i.reason ?? '', /no layer needs a zTOC: 1 layer smaller than --min-layer-size/);
    }
    const alpha = full.images.find((i) => i.repo === 'alpha' && i.tags.includes('latest'))!;
    assert.deepEqual(alpha.tags, ['1.0', 'latest']);

    // The corrupted image: a clear reason naming the layer.
    const broken = full.images.find((i) => i.repo === 'broken')!;
    assert.equal(broken.status, 'failed');
    assert.equal(broken.code, 'DIGEST_MISMATCH');
    assert.ok(broken.error?.includes(brokenLayer), broken.error);
    assert.match(res.stdout.toString(), /failed \(1\):\n {2}127\.0\.0\.1:\d+\/broken:1/);

    // The multi-platform image got both platforms, and everything indexed reads back from the registry.
    const multi = full.images.find((i) => i.repo === 'multi')!;
    assert.equal(multi.sociIndexes.length, 2);
    for (const i of full.images.filter((x) => x.outcome === 'indexed')) {
      const r = new Repository(t.host, i.repo);
      for (const d of i.sociIndexes) {
        const info = parseSociIndex((await r.fetchManifest(d)).bytes);
        assert.ok(info.ztocs.every((z) => z.spanSize === 256 * 1024));
        for (const z of info.ztocs) assert.ok(await r.blobExists(z.ztoc.digest), `${i.ref}: zTOC ${z.ztoc.digest} missing`);
        // Recorded as a referrer of its image by this mode's mechanism (and only by it).
        const listed = (await recorded(t, i.repo, info.subject!.digest)).referrers;
        assert.ok(listed.some((x) => x.digest === d && x.artifactType === MediaType.SociIndexV1), `${i.ref}: ${d} not listed as a referrer`);
      }
      await r.close();
    }
    // The journal has one fsync'd line per image run.
    const j = journal(state);
    assert.equal(j.length, 12);
    assert.deepEqual(j.filter((e) => e.status === 'done').length, 9);
    assert.equal(j.find((e) => e.repo === 'broken')?.status, 'failed');
    assert.match(res.stdout.toString(), /indexed +9 /);
  });

  test('shared layers are built once per run and the copies are mounted or found, not uploaded again', () => {
    assert.ok(full, 'needs the full run');
    const t = full.totals;
    // S (in 6 images of 5 repositories) and U1..U10: 11 distinct layers, each built exactly once; S reused 5 times.
    assert.equal(t.ztocsBuilt, 11, JSON.stringify(t));
    assert.equal(t.ztocsReused, 5, JSON.stringify(t));
    assert.equal(full.cache.hits, 5);
    // 15 zTOC blobs went into the 9 indexed images: each one uploaded, mounted from another repository, or already there.
    assert.equal(full.images.filter((i) => i.outcome === 'indexed').reduce((n, i) => n + i.ztocs, 0), 15);
    assert.equal(t.blobs.pushed + t.blobs.mounted + t.blobs.exists, 15, JSON.stringify(t.blobs));
    assert.ok(t.blobs.mounted >= 1, `expected a cross-repository mount: ${JSON.stringify(t.blobs)}`);
    assert.ok(t.blobs.pushed <= 11, `at most one upload per distinct zTOC: ${JSON.stringify(t.blobs)}`);
  });

  test('a second run writes nothing to the registry: every image is found indexed', async () => {
    const proxy = await startFaultProxy({ upstream: t.host });
    try {
      const rep = join(work, 'second.json');
      const res = await runCliAsync(['backfill', proxy.host, ...FLAGS, '--report', rep, '--json'], { timeoutMs: 60_000 });
      assert.equal(res.code, 1, res.stderr);
      const r = report(rep);
      assert.deepEqual(refsWith(r, 'exists'), ELIGIBLE);
      assert.deepEqual(refsWith(r, 'no-ztocs'), SMALL);
      assert.deepEqual(refsWith(r, 'failed'), [BROKEN]);
      for (const i of r.images.filter((x) => x.repo !== 'broken')) assert.equal(i.bytes + i.ztocsBuilt, 0, `${i.ref} read layers`);
      const writes = proxy.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD');
      assert.deepEqual(writes, [], 'the second run must push nothing');
      const summary = JSON.parse(res.stdout.toString()) as BackfillReport & { failed: ImageRecord[] };
      assert.equal(summary.totals.byOutcome.exists, 9);
      assert.equal(summary.failed.length, 1);
    } finally {
      await proxy.stop();
    }
  });

  // The rest does not depend on the referrers mechanism: run once, in tag mode.
  if (mode === 'tag') {
  test('--shard 0/3, 1/3 and 2/3 are disjoint and together cover the unsharded run; --shard auto reads the Job env', async () => {
    assert.ok(full, 'needs the full run');
    // Shard 1 as a Kubernetes Indexed Job pod would run it: --shard auto with the Job's environment.
    const runs = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const rep = join(work, `shard-${i}.json`);
        const shard = i === 1 ? ['--shard', 'auto'] : ['--shard', `${i}/3`];
        const env = i === 1 ? { JOB_COMPLETION_INDEX: '1', JOB_COMPLETIONS: '3' } : {};
        const res = await runCliAsync(['backfill', t.host, ...FLAGS, ...shard, '--report', rep], { timeoutMs: 60_000, env });
        assert.ok(res.code === 0 || res.code === 1, res.stderr);
        return report(rep);
      }),
    );
    assert.deepEqual(runs[1]!.shard, { index: 1, count: 3 });
    const sets = runs.map(imageIds);
    for (let a = 0; a < 3; a++) {
      for (let b = a + 1; b < 3; b++) assert.deepEqual(sets[a]!.filter((x) => sets[b]!.includes(x)), [], `shards ${a} and ${b} overlap`);
    }
    assert.deepEqual(sets.flat().sort(), imageIds(full));
    assert.ok(sets.every((s) => s.length < 12), 'every shard is a strict subset');
    for (const r of runs) assert.equal(r.selection.images, 12);
    // Each shard did in its share what a second unsharded run does: indexed images are found, the rest as before.
    for (const r of runs) {
      for (const i of r.images) {
        const f = full.images.find((x) => x.digest === i.digest && x.repo === i.repo)!;
        assert.equal(i.outcome, f.outcome === 'indexed' ? 'exists' : f.outcome, i.ref);
      }
    }
  });

  test('a run killed halfway resumes from --state: finished images are not redone, the rest is finished', async () => {
    // Another span size: every eligible image needs a new SOCI index.
    const flags = ['--min-layer-size', '256KiB', '--span-size', '128KiB', '--concurrency', '1'];
    const state = join(work, 'resume.jsonl');
    const child = spawn(process.execPath, [ZTOC_BIN, 'backfill', t.host, ...flags, '--state', state], { env: { ...process.env, CI: '1', NO_COLOR: '1' }, stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 30_000;
    let killed = false;
    while (Date.now() < deadline) {
      if (existsSync(state) && journal(state).filter((e) => e.status === 'done').length >= 2) {
        child.kill('SIGKILL');
        killed = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await exited;
    assert.ok(killed, 'the first run finished before it could be killed');
    const first = journal(state);
    const doneFirst = first.filter((e) => e.status === 'done').map((e) => `${e.repo}@${e.digest}`);
    assert.ok(doneFirst.length >= 2 && doneFirst.length < 9, `done before the kill: ${doneFirst.length}`);

    const rep = join(work, 'resume.json');
    const res = runCli(['backfill', t.host, ...flags, '--state', state, '--report', rep], { timeoutMs: 60_000 });
    assert.equal(res.code, 1, res.stderr);
    const r = report(rep);
    // What the first run finished comes from the journal, untouched.
    for (const id of doneFirst) {
      const rec = r.images.find((i) => `${i.repo}@${i.digest}` === id)!;
      assert.equal(rec.outcome, 'state', `${id} was redone`);
    }
    assert.equal(r.selection.fromState, first.filter((e) => e.status !== 'failed').length);
    // Everything else got done now (an image whose push completed just before the kill is found indexed: 'exists').
    const all = journal(state);
    const done = all.filter((e) => e.status === 'done').map((e) => `${e.repo}@${e.digest}`);
    assert.equal(new Set(done).size, done.length, 'an image was indexed twice');
    const exists = r.images.filter((i) => i.outcome === 'exists');
    assert.ok(exists.length <= 1, `at most the image in flight at the kill: ${exists.map((e) => e.ref).join(', ')}`);
    assert.equal(done.length + exists.length, 9);
    assert.equal(all.filter((e) => e.repo === 'broken').every((e) => e.status === 'failed'), true);
    // The failed image is retried on each run; the finished ones never again.
    const r3 = await inProcess({ spanSize: 128 << 10, concurrency: 1, statePath: state });
    assert.deepEqual(refsWith(r3, 'failed'), [BROKEN]);
    assert.equal(r3.totals.byOutcome.state, 11);
    assert.equal(journal(state).length, all.length + 1);
  });

  let reposN = 0;
  function writeRepos(text: string): string {
    const p = join(work, `repos-${reposN++}.txt`);
    writeFileSync(p, text);
    return p;
  }

  test('selection: --match globs, --repos, aliases merged, artifact tags ignored', async () => {
    const dry = async (opts: Partial<BackfillOptions>): Promise<string[]> => {
      const r = await inProcess({ dryRun: true, ...opts });
      return r.images.filter((i) => i.outcome === 'dry-run').map((i) => `${i.repo}:${i.tags.join(',')}`).sort();
    };
    assert.deepEqual(await dry({ match: ['prod/*'] }), ['prod/api:latest', 'prod/web:1,latest']);
    assert.deepEqual(await dry({ match: ['prod/*:latest'] }), ['prod/api:latest', 'prod/web:latest']);
    // `*` stays within one path segment; `**` crosses; `!` excludes.
    assert.deepEqual(await dry({ match: ['*:*', '!tiny'] }), ['alpha:1.0,latest', 'alpha:2.0', 'beta:v1', 'broken:1', 'dockerv2:1', 'gamma:v1', 'multi:latest']);
    assert.deepEqual(await dry({ match: ['**/svc'] }), ['team/deep/svc:1']);
    assert.deepEqual(await dry({ match: ['alpha:2.*', 'gamma'] }), ['alpha:2.0', 'gamma:v1']);
    const gamma = (await inProcess({ dryRun: true, match: ['gamma'] })).images[0]!;
    assert.deepEqual(await dry({ repos: parseReposFile(`beta\ngamma@${gamma.digest}\n`, t.host) }), ['beta:v1', 'gamma:']);
    // The sha256-<hex> referrers fallback tags written by the full run are not images.
    const all = await inProcess({ dryRun: true });
    assert.equal(all.images.length, 12);
    assert.ok(all.selection.ignoredTags >= 9, `ignored ${all.selection.ignoredTags}`);
    assert.ok(all.images.every((i) => i.tags.every((t) => !t.startsWith('sha256-'))));
  });

  test('the command line: a --repos file and --dry-run output, usage errors exit 2', async () => {
    const file = writeRepos(`# comment\nalpha:2.0\nbeta   # trailing comment\n\n${t.host}/multi\n`);
    const [r, usage, badRepos] = await Promise.all([
      runCliAsync(['backfill', t.host, ...FLAGS, '--dry-run', '--repos', file]),
      runCliAsync(['backfill', 'notahost']),
      runCliAsync(['backfill', t.host, '--repos', writeRepos('ok\nNot/Valid\n')]),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.toString().trim().split('\n').map((l) => l.replace(`${t.host}/`, '').replace(/@sha256:[0-9a-f]{64}$/, ''));
    assert.deepEqual(lines, ['alpha:2.0', 'beta:v1', 'multi:latest']);
    assert.match(r.stderr, /dry run: 3 images would be indexed/);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /REGISTRY must be a registry host/);
    assert.equal(badRepos.code, 2);
    assert.match(badRepos.stderr, /line 2/);
  });

  test('manners: --rps bounds the request rate over all workers; Docker Hub rate-limit headers turn pacing on', async () => {
    const proxy = await startFaultProxy({ upstream: t.host });
    proxy.addRule({ path: '/manifests/', action: { kind: 'headers', set: { 'ratelimit-limit': '100;w=60', 'ratelimit-remaining': '4;w=60' } } });
    const paces: number[] = [];
    const client = new ThrottledClient({}, { rps: 10, onPace: (_host, gap) => paces.push(gap) });
    try {
      const t0 = performance.now();
      const r = await backfill({ registry: proxy.host, client, dryRun: true, concurrency: 8 });
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(r.images.length, 12);
      const calls = proxy.requests.length;
      assert.equal(r.requests, calls);
      // A burst of 10, then 10 a second, whatever the number of workers.
      assert.ok(seconds >= (calls - 10) / 10 - 0.05, `${calls} calls in ${seconds.toFixed(2)} s`);
      // 4 of 100 left in a 60 s window: one manifest GET every 15 s from now on.
      assert.deepEqual(paces, [15_000]);
    } finally {
      await client.close();
      await proxy.stop();
    }
  });

  test('--fail-fast stops starting images after the first failure', async () => {
    const r = await inProcess({ spanSize: 64 << 10, repos: parseReposFile('broken\ngamma\nprod/api\nteam/deep/svc\n', t.host), concurrency: 1, failFast: true });
    assert.deepEqual(refsWith(r, 'failed'), [BROKEN]);
    assert.equal(r.stopped, true);
    assert.equal(refsWith(r, 'not-run').length, 3);
  });

  test('--index-version v2 pushes <tag>-soci for every tag of the image, once', async () => {
    const file = writeRepos('prod/web\n');
    const rep = join(work, 'v2.json');
    const res = runCli(['backfill', t.host, ...FLAGS, '--index-version', 'v2', '--repos', file, '--report', rep]);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(refsWith(report(rep), 'indexed'), ['prod/web:1']);
    const again = await inProcess({ indexVersion: 'v2', repos: parseReposFile('prod/web', t.host) });
    assert.deepEqual(refsWith(again, 'exists'), ['prod/web:1']);
    // The v2 outputs are not inputs of a later run.
    assert.equal((await inProcess({ dryRun: true, match: ['prod/web'] })).images.length, 1);
  });

  test('the v2 tags are there and list the SOCI index v2', async () => {
    const r = new Repository(t.host, 'prod/web');
    const a = await r.fetchManifest('1-soci');
    const b = await r.fetchManifest('latest-soci');
    assert.equal(a.descriptor.digest, b.descriptor.digest);
    assert.ok((a.manifest as ImageIndex).manifests.some((d) => d.artifactType === MediaType.SociIndexV2));
    await r.close();
  });
  }
}
