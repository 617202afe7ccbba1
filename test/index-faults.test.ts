// `ztoc index` through a fault-injecting proxy (test/helpers/fault-proxy.ts) in front of a real registry: a layer
// body cut mid-way is resumed with Range and yields byte-identical zTOCs; 503s and a 429 with Retry-After are
// retried; a corrupted layer byte or a lying Docker-Content-Digest fails the run naming what is wrong and nothing at
// all is written; a stalled body (library call with a short body timeout) is resumed too. The CLI runs with its
// default retry policy; library calls use a fast one.

import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from './helpers/registry.js';
import { startFaultProxy, type FaultProxy, type FaultRule, type RecordedRequest } from './helpers/fault-proxy.js';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { makeSmallLayers, skopeoPush, writeLayoutImage } from './helpers/images.js';
import { runCliHermetic, type TextResult } from './helpers/cli.js';
import { Repository } from '../src/registry/index.js';
import { RegistryStore } from '../src/image/registry-store.js';
import { indexImage } from '../src/jobs/index-image.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../src/oci/types.js';

const NAME = 'faults/app';
const SPAN = 128 * 1024;
const MIN_LAYER = 64 * 1024;
const common = ['--min-layer-size', String(MIN_LAYER), '--span-size', String(SPAN)];
const WRITE_METHODS = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);

let reg: RunningRegistry;
let proxy: FaultProxy;
let work: string;
let home: string;
let imageDigest: string;
/** The layers that get zTOCs (the two large ones). */
let big: Descriptor;
let second: Descriptor;
/** layer digest → zTOC digest, and the SOCI index digest, from a run without faults. */
let baseline: Map<string, string>;
let baselineSoci: string;

type Run = TextResult;

/** The real CLI (the fault proxy runs in this process). */
function ztoc(args: string[]): Promise<Run> {
  return runCliHermetic(args, home, { timeoutMs: 45_000 });
}

interface IndexJson {
  digest: string;
  platforms: Array<{ status: string; sociIndex?: { digest: string }; ztocs: Array<{ layer: string; ztoc: { digest: string } }> }>;
}

function ztocsOf(out: { platforms: Array<{ ztocs: Array<{ layer: string; ztoc: { digest: string } }> }> }): Map<string, string> {
  return new Map(out.platforms[0]!.ztocs.map((z) => [z.layer, z.ztoc.digest]));
}

/** `ztoc index --dry-run --json` of the image through the proxy; must succeed. */
async function dryRun(): Promise<IndexJson> {
  const r = await ztoc(['index', `${proxy.host}/${NAME}:v1`, ...common, '--dry-run', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as IndexJson;
  assert.equal(out.platforms[0]!.status, 'dry-run');
  return out;
}

/** proxy.addRule, returning the rule's index as RecordedRequest.rule reports it (cleared rules keep their index). */
let rulesAdded = 0;
function addRule(rule: FaultRule): number {
  proxy.addRule(rule);
  return rulesAdded++;
}

function gets(path: string): RecordedRequest[] {
  return proxy.requests.filter((r) => r.method === 'GET' && r.url === path);
}

const blobPath = (d: Descriptor): string => `/v2/${NAME}/blobs/${d.digest}`;

function assertNoWrites(): void {
  const writes = proxy.requests.filter((r) => WRITE_METHODS.has(r.method)).map((r) => `${r.method} ${r.url}`);
  assert.deepEqual(writes, [], 'something was written to the registry');
}

/** Checked on the registry itself (not through the proxy): no fallback tag, no SOCI index, no zTOC blob. */
async function assertNothingStored(): Promise<void> {
  const direct = new Repository(reg.host, NAME);
  try {
    assert.equal(await direct.headManifest(`sha256-${imageDigest.slice(7)}`), undefined, 'the referrers fallback tag exists');
    assert.equal(await direct.manifestExists(baselineSoci), false, 'the SOCI index manifest was pushed');
    for (const z of baseline.values()) assert.equal(await direct.blobExists(z), false, `zTOC ${z} was pushed`);
  } finally {
    await direct.close();
  }
}

before(async () => {
  work = tempDir('ztoc-index-faults-');
  home = join(work, 'home');
  mkdirSync(home, { recursive: true });
  reg = await startRegistry();
  proxy = await startFaultProxy({ upstream: reg.host });
  const layout = join(work, 'layout');
  await writeLayoutImage(layout, makeSmallLayers(work, 'faults'), 'v1');
  skopeoPush(layout, 'v1', reg.host, NAME);
  const direct = new Repository(reg.host, NAME);
  const img = await direct.fetchManifest('v1');
  await direct.close();
  imageDigest = img.descriptor.digest;
  const layers = (img.manifest as ImageManifest).layers;
  big = layers[0]!;
  second = layers[1]!;
  assert.ok(big.size > 400_000 && second.size > MIN_LAYER && layers[2]!.size < MIN_LAYER, JSON.stringify(layers.map((l) => l.size)));
}, { timeout: 50_000 });

after(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (work) cleanup(work);
});

beforeEach(() => {
  proxy.clearRules();
  proxy.requests.length = 0;
});

test('baseline: a dry run through the proxy without faults writes nothing', async () => {
  const out = await dryRun();
  baseline = ztocsOf(out);
  baselineSoci = out.platforms[0]!.sociIndex!.digest;
  assert.deepEqual([...baseline.keys()], [big.digest, second.digest]);
  assert.equal(out.digest, imageDigest);
  assertNoWrites();
  // One plain GET per layer: nothing retried, nothing resumed.
  for (const l of [big, second]) assert.deepEqual(gets(blobPath(l)).map((r) => r.headers.range), [undefined]);
});

test('a connection cut mid-layer is resumed with Range: bytes=N- and the zTOCs are byte-identical', async () => {
  const N = 40_000;
  const cut = addRule({ method: 'GET', path: blobPath(big), times: 1, action: { kind: 'cut', afterBytes: N } });
  const out = await dryRun();
  assert.deepEqual(ztocsOf(out), baseline);
  assert.equal(out.platforms[0]!.sociIndex!.digest, baselineSoci);
  const reqs = gets(blobPath(big));
  assert.equal(reqs.length, 2, JSON.stringify(reqs.map((r) => r.headers.range)));
  assert.equal(reqs[0]!.rule, cut, 'the cut rule did not fire');
  assert.equal(reqs[0]!.headers.range, undefined);
  assert.equal(reqs[1]!.headers.range, `bytes=${N}-`);
  assertNoWrites();
});

test('503 twice on the manifest GET and on a blob GET, then success: retried (default policy)', async () => {
  const onManifest = addRule({ method: 'GET', path: `/v2/${NAME}/manifests/v1`, times: 2, action: { kind: 'status', status: 503 } });
  const onBlob = addRule({ method: 'GET', path: blobPath(second), times: 2, action: { kind: 'status', status: 503 } });
  const out = await dryRun();
  assert.deepEqual(ztocsOf(out), baseline);
  const manifestGets = gets(`/v2/${NAME}/manifests/v1`);
  assert.deepEqual(manifestGets.map((r) => r.rule), [onManifest, onManifest, undefined]);
  const blobGets = gets(blobPath(second));
  assert.deepEqual(blobGets.map((r) => r.rule), [onBlob, onBlob, undefined]);
  // A 503 before any body byte is a plain retry from the start, not a resume.
  assert.ok(blobGets.every((r) => r.headers.range === undefined));
});

test('429 with Retry-After: 1 once, then success', async () => {
  const limited = addRule({ method: 'GET', path: `/v2/${NAME}/manifests/v1`, times: 1, action: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } });
  const out = await dryRun();
  assert.deepEqual(ztocsOf(out), baseline);
  assert.deepEqual(gets(`/v2/${NAME}/manifests/v1`).map((r) => r.rule), [limited, undefined]);
});

test('a corrupted layer byte: exit 1 naming the layer, and nothing at all is pushed', async () => {
  const corrupt = addRule({ method: 'GET', path: blobPath(big), action: { kind: 'corrupt', offset: 200_000 } });
  const r = await ztoc(['index', `${proxy.host}/${NAME}:v1`, ...common, '--json']);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.ok(r.stderr.includes(big.digest), `the error does not name the layer: ${r.stderr}`);
  assert.match(r.stderr, /^ztoc: error: .*\[(DIGEST_MISMATCH|GZIP_[A-Z_]+)\]$/m);
  assert.ok(gets(blobPath(big)).length >= 1 && gets(blobPath(big)).every((q) => q.rule === corrupt));
  assertNoWrites();
  await assertNothingStored();
});

test('a wrong Docker-Content-Digest on a manifest-by-digest GET: clear DIGEST_MISMATCH, nothing pushed', async () => {
  const lie = `sha256:${'0'.repeat(64)}`;
  const lying = addRule({ method: 'GET', path: `/v2/${NAME}/manifests/${imageDigest}`, action: { kind: 'headers', set: { 'docker-content-digest': lie } } });
  const r = await ztoc(['index', `${proxy.host}/${NAME}@${imageDigest}`, ...common, '--json']);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.ok(r.stderr.includes(`manifest ${proxy.host}/${NAME}@${imageDigest}: Docker-Content-Digest says ${lie} [DIGEST_MISMATCH]`), r.stderr);
  assert.equal(gets(`/v2/${NAME}/manifests/${imageDigest}`)[0]?.rule, lying);
  assertNoWrites();
  await assertNothingStored();
});

test('a stalled layer body (library, 500 ms body timeout) is resumed and the zTOCs are byte-identical', async () => {
  const N = 60_000;
  const stall = addRule({ method: 'GET', path: blobPath(big), times: 1, action: { kind: 'stall', afterBytes: N } });
  const retries: string[] = [];
  const repo = new Repository(proxy.host, NAME, {
    bodyTimeoutMs: 500,
    retry: { baseDelayMs: 10, maxDelayMs: 50 },
    onRetry: (e) => retries.push(e.reason),
  });
  const store = new RegistryStore(repo);
  try {
    const res = await indexImage(store, 'v1', { spanSize: SPAN, minLayerSize: MIN_LAYER, dryRun: true });
    assert.equal(res.platforms[0]!.status, 'dry-run');
    assert.deepEqual(ztocsOf(res), baseline);
    assert.equal(res.platforms[0]!.sociIndex?.digest, baselineSoci);
  } finally {
    await store.close();
  }
  const reqs = gets(blobPath(big));
  assert.equal(reqs.length, 2, JSON.stringify(reqs.map((r) => r.headers.range)));
  assert.equal(reqs[0]!.rule, stall, 'the stall rule did not fire');
  assert.equal(reqs[1]!.headers.range, `bytes=${N}-`);
  assertNoWrites();
});

test('a tag naming an artifact that is not an image: exit 1, NOT_AN_IMAGE, nothing written', async () => {
  // Registries that store OCI artifact manifests (zot, Harbor, ECR) serve them under a tag like any manifest.
  const type = 'application/vnd.oci.artifact.manifest.v1+json';
  const body = JSON.stringify({ mediaType: type, artifactType: 'application/vnd.example.sbom', blobs: [] });
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  addRule({ path: `/v2/${NAME}/manifests/artifact`, action: { kind: 'status', status: 200, headers: { 'content-type': type, 'docker-content-digest': digest }, body } });
  const r = await ztoc(['index', `${proxy.host}/${NAME}:artifact`, ...common]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^ztoc: error: .*artifact is not an image manifest or index \[NOT_AN_IMAGE\]$/m);
  assertNoWrites();
});

test('control: the same command without faults pushes the baseline zTOCs and the SOCI index', async () => {
  // Proves the "nothing pushed" checks above would have seen a push.
  const r = await ztoc(['index', `${proxy.host}/${NAME}:v1`, ...common, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as IndexJson;
  assert.equal(out.platforms[0]!.status, 'indexed');
  assert.deepEqual(ztocsOf(out), baseline);
  assert.equal(out.platforms[0]!.sociIndex?.digest, baselineSoci);
  assert.ok(proxy.requests.some((q) => q.method === 'PUT' && q.url === `/v2/${NAME}/manifests/${baselineSoci}`));
  assert.ok(proxy.requests.some((q) => q.method === 'PUT' && q.url === `/v2/${NAME}/manifests/sha256-${imageDigest.slice(7)}`));
  const direct = new Repository(reg.host, NAME);
  try {
    const fallback = (await direct.fetchManifest(`sha256-${imageDigest.slice(7)}`)).manifest as ImageIndex;
    assert.deepEqual(fallback.manifests.map((d) => d.digest), [baselineSoci]);
    for (const z of baseline.values()) assert.ok(await direct.blobExists(z));
  } finally {
    await direct.close();
  }
});
