// The commands in-process, over captured streams (test/helpers/cli-inprocess.ts): build → info → get-file
// on a layer made by GNU tar + gzip, index → list → verify → get-file on a copy of the bundled OCI layout
// (the index printer, the layout mechanism), usage errors from the shared flag groups (exit 2, the message,
// nothing on stdout), and --concurrency checked by the library itself.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, makeLayer, prngBytes, sh, tempDir } from './helpers/fixtures.js';
import { runInProcess } from './helpers/cli-inprocess.js';
import { repoRoot } from './helpers/golden.js';
import { decodeZtoc } from '../src/ztoc/decode.js';
import { isZtocError } from '../src/errors.js';
import { limiter } from '../src/jobs/limit.js';
import type { Ora } from 'ora';
import { indexImage } from '../src/jobs/index-image.js';
import { LayoutStore } from '../src/image/layout-store.js';

const work = tempDir('ztoc-cli-inproc-');
after(() => cleanup(work));

const tree = join(work, 'tree');
mkdirSync(join(tree, 'etc'), { recursive: true });
const big = prngBytes(300_000, 9);
writeFileSync(join(tree, 'etc', 'big.bin'), big);
writeFileSync(join(tree, 'etc', 'hello.txt'), 'hello, in-process\n');
const layer = makeLayer(tree, join(work, 'layer.tar.gz'), 'gnu', 'gzip-n');
const tarNames = sh(`tar -tf '${join(work, 'layer.tar.gz.tar')}'`).toString().trim().split('\n');

test('build, info and get-file write through the injected streams', async () => {
  const ztocPath = join(work, 'layer.ztoc');
  const b = await runInProcess(['build', layer, '-o', ztocPath, '--span-size', '64KiB', '--json']);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stderr, '');
  const summary = JSON.parse(b.stdout.toString()) as { files: number; spanSize: number; ztocSize: number; output: string };
  assert.equal(summary.spanSize, 65536);
  assert.equal(summary.output, ztocPath);
  const z = decodeZtoc(readFileSync(ztocPath));
  assert.equal(summary.ztocSize, readFileSync(ztocPath).length);
  assert.equal(summary.files, tarNames.length);
  assert.equal(z.entries.length, tarNames.length);

  const info = await runInProcess(['info', ztocPath]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout.toString(), /^span size {10}65536$/m);
  assert.match(info.stdout.toString(), new RegExp(`^files {14}${tarNames.length}$`, 'm'));

  const file = await runInProcess(['get-file', '--ztoc', ztocPath, '--layer', layer, 'etc/big.bin']);
  assert.equal(file.code, 0, file.stderr);
  assert.ok(file.stdout.equals(big), 'the file read through the zTOC equals the one in the tar');
});

test('build reads stdin from the injected stream and writes the zTOC to stdout, the summary to stderr', async () => {
  const gz = readFileSync(layer);
  const r = await runInProcess(['build', '-', '-o', '-'], { stdin: gz });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(decodeZtoc(r.stdout).entries.length, tarNames.length);
  assert.match(r.stderr, /^zTOC sha256:[0-9a-f]{64} .* -> -$/m);
});

test('index, list, verify and get-file on an OCI layout print through the injected streams', async () => {
  const dir = join(work, 'example');
  cpSync(join(repoRoot(), 'testdata', 'example'), dir, { recursive: true, dereference: true });
  const ref = `oci:${dir}:latest`;
  const idx = await runInProcess(['index', ref, '--min-layer-size', '1MiB']);
  assert.equal(idx.code, 0, idx.stderr);
  const pushed = /pushed (sha256:[0-9a-f]{64}) \(layout index\.json\)/.exec(idx.stdout.toString());
  assert.ok(pushed, idx.stdout.toString());
  assert.match(idx.stdout.toString(), /^ {4}layer [0-9a-f]{12} -> ztoc sha256:[0-9a-f]{64} \(/m);

  const again = await runInProcess(['index', ref, '--min-layer-size', '1MiB']);
  assert.match(again.stdout.toString(), new RegExp(`already indexed: ${pushed[1]} \\(use --force to rebuild\\)`));

  const list = await runInProcess(['list', ref, '--json']);
  assert.equal(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout.toString()) as Array<{ index: string; platform: string; via: string }>;
  assert.deepEqual(rows.map((r) => [r.index, r.via]), [[pushed[1], 'referrer']]);
  assert.equal(rows[0]!.platform, 'linux/amd64');

  const verify = await runInProcess(['verify', ref]);
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(verify.stdout.toString(), /^1 zTOCs in 1 SOCI indexes match their layers$/m);

  const file = await runInProcess(['get-file', ref, '/app/nanotime.txt']);
  assert.equal(file.code, 0, file.stderr);
  assert.equal(file.stdout.toString(), 'nanoseconds\n');
});

test('usage errors of the shared flag groups: exit 2, a message naming the flag, nothing on stdout', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['index', 'oci:/nonexistent', '--concurrency', '0'], /--concurrency must be a positive integer, got "0"/],
    [['index', 'oci:/nonexistent', '--concurrency', 'many'], /--concurrency must be a positive integer, got "many"/],
    [['backfill', '127.0.0.1:5000', '--concurrency', '1.5'], /--concurrency must be a positive integer, got "1.5"/],
    [['index', 'oci:/nonexistent', '--index-version', 'v3'], /--index-version must be v1 or v2, not v3/],
    [['backfill', '127.0.0.1:5000', '--index-version', 'v3'], /--index-version must be v1 or v2, not v3/],
    [['backfill', '127.0.0.1:5000', '--min-layer-size', 'big'], /invalid size "big"/],
    [['build', layer, '--span-size', 'lots'], /invalid size "lots"/],
    [['get-file', 'oci:/nonexistent', '/x', '--platform', 'linux/amd64', '--platform', 'linux/arm64'], /--platform may be given once here/],
    [['frobnicate'], /unknown command/],
  ];
  for (const [args, msg] of cases) {
    const r = await runInProcess(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}; ${r.stderr}`);
    assert.match(r.stderr, msg, args.join(' '));
    assert.equal(r.stdout.length, 0, args.join(' '));
  }
  const help = await runInProcess(['--help']);
  assert.equal(help.code, 0);
  for (const c of ['build', 'info', 'get-file', 'index', 'list', 'verify', 'backfill', 'doctor']) assert.match(help.stdout.toString(), new RegExp(`^  ${c} `, 'm'));
  // index and backfill share the build and indexing flags, declared once.
  for (const c of ['index', 'backfill']) {
    const h = (await runInProcess([c, '--help'])).stdout.toString();
    for (const f of ['--platform', '--all-platforms', '--span-size', '--build-tool-id', '--min-layer-size', '--index-version', '--force']) {
      assert.match(h, new RegExp(`^  ${f} `, 'm'), `${c} ${f}`);
    }
  }
});

test('the library checks concurrency itself: limiter(NaN) and indexImage({concurrency: 0}) throw INVALID_ARGUMENT', async () => {
  for (const n of [Number.NaN, 0, -1, 1.5, Number.POSITIVE_INFINITY]) {
    assert.throws(() => limiter(n), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT') && /concurrency must be a positive integer/.test((e as Error).message), String(n));
  }
  // A limiter of 2 runs at most 2 tasks at once.
  const limit = limiter(2);
  let active = 0;
  let peak = 0;
  await Promise.all(
    Array.from({ length: 6 }, () =>
      limit(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
      }),
    ),
  );
  assert.equal(peak, 2);
  const dir = join(work, 'example-lib');
  cpSync(join(repoRoot(), 'testdata', 'example'), dir, { recursive: true, dereference: true });
  const store = await LayoutStore.open(dir);
  try {
    await assert.rejects(indexImage(store, undefined, { concurrency: Number.NaN }), (e: unknown) => isZtocError(e, 'INVALID_ARGUMENT'));
  } finally {
    await store.close();
  }
});

test('progress ticks: one text per interval at most, none made without a spinner', async () => {
  const { Progress, PROGRESS_TICK_MS } = await import('../src/cli/io.js');
  const texts: string[] = [];
  const spinner = {
    set text(v: string) {
      texts.push(v);
    },
  } as unknown as Ora;
  let clock = 1000;
  const p = new Progress(spinner, () => clock);
  let made = 0;
  for (let i = 0; i < 1000; i++) {
    clock += PROGRESS_TICK_MS / 100; // a thousand events over ten intervals
    p.tick(() => `tick ${++made}`);
  }
  assert.equal(texts.length, 10);
  assert.equal(made, 10, 'the text is made only when shown');
  p.update('now'); // an explicit update is shown at once
  assert.equal(texts.at(-1), 'now');
  let calls = 0;
  new Progress(undefined).tick(() => `${++calls}`);
  assert.equal(calls, 0);
});
