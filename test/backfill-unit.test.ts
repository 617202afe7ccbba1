// The backfill's parts that need no registry: --repos parsing, --match globs, shard hashing and `--shard auto`, the
// JSONL journal (torn lines, other settings, fsync'd appends), the zTOC cache (one build per key under concurrency,
// LRU bounds, a directory that survives a restart, mount sources), the token bucket and Docker Hub pacing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { compileMatcher, parseReposFile, parseShard, shardOf } from '../src/jobs/backfill-select.js';
import { Journal, loadJournal, settingsKey, type JournalEntry } from '../src/jobs/backfill-state.js';
import { ZtocStore } from '../src/jobs/backfill-cache.js';
import { TokenBucket, hubPaceMs, parseRateLimitHeader } from '../src/jobs/backfill-rate.js';
import { sha256Digest } from '../src/oci/digest.js';
import type { CachedZtoc } from '../src/jobs/index-image.js';

test('--repos: repo, repo:tag, repo@digest, comments, the registry prefix, Docker Hub names', () => {
  const d = `sha256:${'a'.repeat(64)}`;
  const specs = parseReposFile(`# a comment\napp\napp:1.2  # pinned\n\nreg.example.com:5000/team/svc@${d}\nteam/svc\napp\n`, 'reg.example.com:5000');
  assert.deepEqual(specs, [{ repo: 'app' }, { repo: 'app', tag: '1.2' }, { repo: 'team/svc', digest: d }, { repo: 'team/svc' }]);
  assert.deepEqual(parseReposFile('ubuntu:22.04\nbitnami/redis\n', 'docker.io'), [{ repo: 'library/ubuntu', tag: '22.04' }, { repo: 'bitnami/redis' }]);
  assert.throws(() => parseReposFile('ok\nBad Name\n', 'r.example.com'), /line 2/);
});

test('--match: * and ? stay within a segment, ** crosses, no :TAG means any tag, ! excludes', () => {
  const m = compileMatcher(['prod/*:latest', '**/db:v?', 'tools', '!**:*-rc*']);
  assert.equal(m.matches('prod/web', 'latest'), true);
  assert.equal(m.matches('prod/web', '1.0'), false);
  assert.equal(m.matches('prod/eu/web', 'latest'), false, '* does not cross /');
  assert.equal(m.matches('a/b/db', 'v1'), true);
  assert.equal(m.matches('a/b/db', 'v10'), false);
  assert.equal(m.matches('tools', 'anything'), true);
  assert.equal(m.matches('tools', '2.0-rc1'), false, 'excluded');
  assert.equal(m.matches('tools', undefined), true, 'a digest-only entry matches on the repository');
  assert.equal(m.repoMayMatch('prod/web'), true);
  assert.equal(m.repoMayMatch('dev/web'), false);
  const all = compileMatcher([]);
  assert.equal(all.matches('x/y/z', 't'), true);
  const top = compileMatcher(['*:*', '!tiny']);
  assert.equal(top.matches('alpha', '1'), true);
  assert.equal(top.matches('prod/web', '1'), false);
  assert.equal(top.repoMayMatch('tiny'), false);
  assert.equal(compileMatcher(['a.b+c']).matches('a.b+c', 't'), true, 'regexp characters are literal');
  assert.equal(compileMatcher(['a.b+c']).matches('axb+c', 't'), false);
  assert.throws(() => compileMatcher([':x']), /empty repository pattern/);
});

test('shards: stable, spread, and auto reads JOB_COMPLETION_INDEX / JOB_COMPLETIONS', () => {
  const keys = Array.from({ length: 3000 }, (_, i) => `repo${i % 37}@${sha256Digest(Buffer.from(String(i)))}`);
  const counts = [0, 0, 0, 0];
  for (const k of keys) counts[shardOf(k, 4)]!++;
  for (const c of counts) assert.ok(c > 600 && c < 900, `uneven: ${counts.join(',')}`);
  // sha256("repo@digest"), first 8 bytes big-endian, mod N: pinned to literals (computed with Python's hashlib:
  // 7d3b9b51ab2d59c0 and 46dc19c059fc8120) so that shards stay stable across versions.
  assert.equal(shardOf('app@sha256:0000', 1000), 992);
  assert.equal(shardOf('app@sha256:0000', 7), 0);
  assert.equal(shardOf(`team/svc@sha256:${'a'.repeat(64)}`, 1000), 424);
  assert.equal(shardOf(`team/svc@sha256:${'a'.repeat(64)}`, 7), 2);
  assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 });
  assert.deepEqual(parseShard('auto', { JOB_COMPLETION_INDEX: '3', JOB_COMPLETIONS: '8' }), { index: 3, count: 8 });
  assert.throws(() => parseShard('auto', {}), /JOB_COMPLETION_INDEX/);
  assert.throws(() => parseShard('auto', { JOB_COMPLETION_INDEX: '0' }), /JOB_COMPLETIONS/);
  assert.throws(() => parseShard('5/5'), /less than N/);
  assert.throws(() => parseShard('1-3'), /expected I\/N/);
});

function entry(repo: string, status: JournalEntry['status'], key: string): JournalEntry {
  return { ref: `r/${repo}:t`, repo, digest: `sha256:${repo}`, status, outcome: status === 'done' ? 'indexed' : status, ztocs: 1, bytes: 10, seconds: 0.1, at: new Date().toISOString(), key };
}

test('journal: last line wins, other settings and a torn last line are ignored, appends start on a fresh line', () => {
  const dir = tempDir('ztoc-journal-');
  try {
    const path = join(dir, 'sub', 'state.jsonl');
    const key = settingsKey({ spanSize: 1, minLayerSize: 2 });
    assert.notEqual(key, settingsKey({ spanSize: 4, minLayerSize: 2 }));
    assert.equal(key, settingsKey({ minLayerSize: 2, spanSize: 1 }), 'independent of key order');
    const j = Journal.open(path);
    j.append(entry('a', 'failed', key));
    j.append(entry('a', 'done', key));
    j.append(entry('b', 'done', 'other-settings'));
    j.append(entry('c', 'skipped', key));
    j.close();
    // A crash in the middle of a write.
    writeFileSync(path, `${readFileSync(path, 'utf8')}{"ref":"r/d:t","repo":"d","digest":"sha`);
    const loaded = loadJournal(path, key);
    assert.equal(loaded.lines, 5);
    assert.equal(loaded.otherSettings, 1);
    assert.equal(loaded.unreadable, 1);
    assert.deepEqual([...loaded.entries.keys()].sort(), ['a@sha256:a', 'c@sha256:c']);
    assert.equal(loaded.entries.get('a@sha256:a')?.status, 'done');
    const j2 = Journal.open(path);
    j2.append(entry('d', 'done', key));
    j2.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    assert.equal(JSON.parse(lines[5]!).repo, 'd', 'the new record is on a line of its own');
    assert.equal(loadJournal(path, key).entries.size, 3);
    assert.equal(loadJournal(join(dir, 'missing.jsonl'), key).lines, 0);
  } finally {
    cleanup(dir);
  }
});

function z(n: number): CachedZtoc {
  const bytes = randomBytes(n);
  return { digest: sha256Digest(bytes), bytes, spans: 1, files: 2 };
}

const key = (layer: string) => ({ layer, spanSize: 4096, buildToolId: 't' });

test('zTOC cache: concurrent lookups of one key wait for the one build; a failed build lets the next caller build', async () => {
  const c = new ZtocStore();
  const first = await c.get(key('L'));
  assert.equal(first, undefined, 'the first caller builds');
  const box: { waited?: CachedZtoc; settled: boolean } = { settled: false };
  const waiter = c.get(key('L')).then((v) => {
    box.settled = true;
    if (v !== undefined) box.waited = v;
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(box.settled, false, 'the second caller waits for the build');
  const built = z(100);
  await c.put(key('L'), built);
  await waiter;
  assert.equal(box.waited?.digest, built.digest);
  assert.equal(c.stats.hits, 1);
  assert.equal(c.stats.misses, 1);
  // A failed build: the waiter claims the key and builds itself.
  assert.equal(await c.get(key('F')), undefined);
  const w2 = c.get(key('F'));
  await c.put(key('F'), undefined);
  assert.equal(await w2, undefined);
  assert.equal(c.stats.misses, 3);
  // Different span size or build tool = another zTOC.
  assert.equal(await c.get({ layer: 'L', spanSize: 1, buildToolId: 't' }), undefined);
});

test('zTOC cache: bounded, least recently used evicted; on disk it survives a restart and rejects bad bytes', async () => {
  const mem = new ZtocStore({ maxBytes: 250 });
  for (const l of ['a', 'b']) {
    await mem.get(key(l));
    await mem.put(key(l), z(100));
  }
  assert.ok(await mem.get(key('a')), 'a hit makes a the most recently used');
  await mem.get(key('c'));
  await mem.put(key('c'), z(100));
  assert.equal(mem.stats.evictions, 1);
  assert.ok(mem.stats.bytes <= 250);
  assert.ok(await mem.get(key('a')));
  assert.equal(await mem.get(key('b')), undefined, 'b was the least recently used');
  await mem.put(key('b'), undefined);

  const dir = tempDir('ztoc-cache-');
  try {
    const disk = new ZtocStore({ dir, maxBytes: 1000 });
    const zs = ['x', 'y', 'w'].map(() => z(300));
    for (const [i, l] of ['x', 'y', 'w'].entries()) {
      await disk.get(key(l));
      await disk.put(key(l), zs[i]);
    }
    assert.equal(readdirSync(dir).length, 6, 'a .ztoc and a .json per entry');
    const again = new ZtocStore({ dir, maxBytes: 1000 });
    assert.equal(again.stats.loaded, 3);
    assert.equal((await again.get(key('y')))?.digest, zs[1]!.digest);
    // A zTOC file that no longer matches its digest is dropped and rebuilt.
    const f = readdirSync(dir).find((n) => n.endsWith('.ztoc') && readFileSync(join(dir, n)).equals(Buffer.from(zs[2]!.bytes)))!;
    writeFileSync(join(dir, f), randomBytes(300));
    assert.equal(await again.get(key('w')), undefined);
    await again.put(key('w'), undefined);
    const small = new ZtocStore({ dir, maxBytes: 400 });
    assert.equal(small.stats.bytes <= 400, true);
    assert.equal(readdirSync(dir).filter((n) => n.endsWith('.ztoc')).length, 1);
  } finally {
    cleanup(dir);
  }
});

test('zTOC cache: the first push of a blob is claimed, concurrent pushers wait and then mount from that repository', async () => {
  const c = new ZtocStore();
  const a = c.forRepository('a');
  const b = c.forRepository('b');
  const a2 = c.forRepository('a');
  assert.equal(await a.mountFrom!(key('L')), undefined, 'a pushes');
  let from = null as string | undefined | null;
  const bWaits = Promise.resolve(b.mountFrom!(key('L'))).then((v) => (from = v));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(from, null, 'b waits while a pushes');
  a.stored!(key('L'), true);
  await bWaits;
  assert.equal(from, 'a');
  b.stored!(key('L'), true);
  assert.equal(await a2.mountFrom!(key('L')), undefined, 'already in a: a plain push finds it');
  // A failed push: the waiter takes over.
  assert.equal(await a.mountFrom!(key('M')), undefined);
  const w = b.mountFrom!(key('M'));
  a.stored!(key('M'), false);
  assert.equal(await w, undefined);
  b.stored!(key('M'), true);
  assert.equal(await a.mountFrom!(key('M')), 'b');
});

test('token bucket: a burst, then the rate', () => {
  let now = 0;
  const b = new TokenBucket(10, 2, () => now);
  assert.equal(b.reserve(), 0);
  assert.equal(b.reserve(), 0);
  assert.equal(Math.round(b.reserve()), 100);
  assert.equal(Math.round(b.reserve()), 200, 'reservations queue up');
  now = 1000;
  assert.equal(b.reserve(), 0);
  assert.throws(() => new TokenBucket(0), /positive/);
});

test('Docker Hub rate-limit headers: no pacing while plenty is left, then the rest of the window spread out', () => {
  assert.deepEqual(parseRateLimitHeader('76;w=21600'), { value: 76, windowSeconds: 21600 });
  assert.deepEqual(parseRateLimitHeader('100'), { value: 100, windowSeconds: undefined });
  assert.equal(parseRateLimitHeader('x'), undefined);
  assert.equal(hubPaceMs('100;w=21600', '76;w=21600'), 0);
  assert.equal(hubPaceMs('100;w=21600', '10;w=21600'), 5 * 60_000, 'capped at 5 minutes');
  assert.equal(hubPaceMs('5000;w=60', '400;w=60'), 150);
  assert.equal(hubPaceMs(undefined, undefined), undefined);
});
