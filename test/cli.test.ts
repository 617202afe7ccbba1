// The command line end to end, through `node bin/ztoc.js` in a child process: build (file, stdin,
// stdout, span sizes, build tool id), info (text, JSON, per-file spans), get-file (path forms,
// -o and stdout, missing paths, directories) and usage errors (exit 2).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { prngBytes } from './helpers/fixtures.js';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeZtoc } from '../src/ztoc/decode.js';
import { decodeZinfo } from '../src/inflate/zinfo.js';
import type { Ztoc } from '../src/ztoc/model.js';
import { gzipN, walkTar } from './helpers/gzip-craft.js';
import { runCli, runCliAsync, type CliResult } from './helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'ztoc-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function text(n: number, seed: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta\n', 'span', 'window', '{', '}'];
  let x = seed;
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = words[(x >>> 16) % words.length]!;
    parts.push(w, ' ');
    len += w.length + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}


// The tree: a multi-span text file, random data, a small file, a nested directory.
const tree = join(work, 'tree');
const files: Record<string, Buffer> = {
  'usr/share/big.txt': text(1_500_000, 3),
  'bin/random.bin': prngBytes(400_000, 9),
  'etc/hello.txt': Buffer.from('hello, world\n'),
  'a/b/c/deep.txt': text(20_000, 5),
};
for (const [p, d] of Object.entries(files)) {
  mkdirSync(join(tree, p, '..'), { recursive: true });
  writeFileSync(join(tree, p), d);
}
const tarBytes = execFileSync(
  'tar',
  ['--format=gnu', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', '-C', tree, '-cf', '-', '.'],
  { maxBuffer: 1 << 26 },
);
const gzBytes = gzipN(tarBytes);
const gzLayer = join(work, 'layer.tar.gz');
const tarLayer = join(work, 'layer.tar');
writeFileSync(gzLayer, gzBytes);
writeFileSync(tarLayer, tarBytes);
const tarEnd = walkTar(tarBytes).end;

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}; stderr: ${r.stderr}`);
  return r;
}

interface BuildSummary {
  layer: string;
  layerDigest: string;
  format: string;
  output: string;
  ztocDigest: string;
  ztocSize: number;
  spanSize: number;
  spans: number;
  files: number;
  compressedSize: number;
  uncompressedSize: number;
}

/** The --json summary must describe exactly the zTOC that was written. */
function checkSummary(s: BuildSummary, written: Buffer, layerBytes: Buffer, format: 'gzip' | 'tar', spanSize: number): Ztoc {
  const z = decodeZtoc(written);
  assert.equal(s.format, format);
  assert.equal(s.ztocDigest, sha(written));
  assert.equal(s.ztocSize, written.length);
  assert.equal(s.layerDigest, sha(layerBytes));
  assert.equal(s.compressedSize, layerBytes.length);
  assert.equal(s.uncompressedSize, tarBytes.length);
  assert.equal(s.spanSize, spanSize);
  assert.equal(s.spans, z.spanDigests.length);
  assert.equal(s.spans, z.maxSpanId + 1);
  assert.equal(s.files, z.entries.length);
  assert.equal(s.files, walkTar(tarBytes).headers.length);
  assert.equal(z.compressedArchiveSize, layerBytes.length);
  assert.equal(z.uncompressedArchiveSize, tarEnd);
  return z;
}

const built = new Map<string, Buffer>();

test('build: gzip and tar layers, --json summary matches the written zTOC', async () => {
  const [g, t] = await Promise.all([
    runCliAsync(['build', gzLayer, '-o', join(work, 'g.ztoc'), '--span-size', '65536', '--json']),
    runCliAsync(['build', tarLayer, '-o', join(work, 't.ztoc'), '--span-size', '65536', '--json']),
  ]);
  ok(g, 'build gzip');
  ok(t, 'build tar');
  const gBytes = readFileSync(join(work, 'g.ztoc'));
  const tBytes = readFileSync(join(work, 't.ztoc'));
  const gs = JSON.parse(g.stdout.toString()) as BuildSummary;
  const ts = JSON.parse(t.stdout.toString()) as BuildSummary;
  assert.equal(gs.output, join(work, 'g.ztoc'));
  const gz = checkSummary(gs, gBytes, gzBytes, 'gzip', 65536);
  const tz = checkSummary(ts, tBytes, tarBytes, 'tar', 65536);
  assert.ok(gz.spanDigests.length > 5, 'expected several spans');
  assert.equal(tz.spanDigests.length, Math.ceil(tarBytes.length / 65536));
  assert.equal(tz.compression, 'uncompressed');
  built.set('gzip', gBytes);
  built.set('tar', tBytes);
});

test('build: - reads stdin (with -o), -o - writes the zTOC to stdout and the summary to stderr', async () => {
  const out = join(work, 'stdin.ztoc');
  const [a, b, c] = await Promise.all([
    runCliAsync(['build', '-', '-o', out, '--span-size', '65536'], { input: gzBytes }),
    runCliAsync(['build', gzLayer, '-o', '-', '--span-size', '65536']),
    runCliAsync(['build', gzLayer, '-o', '-', '--span-size', '65536', '--json']),
  ]);
  ok(a, 'stdin');
  ok(b, 'stdout');
  ok(c, 'stdout --json');
  const ref = built.get('gzip') ?? readFileSync(join(work, 'g.ztoc'));
  // Same layer bytes, same options: the same zTOC, whichever way they came in or went out.
  assert.ok(readFileSync(out).equals(ref), 'zTOC from stdin differs');
  assert.ok(b.stdout.equals(ref), 'zTOC on stdout differs');
  assert.ok(c.stdout.equals(ref), 'zTOC on stdout (--json) differs');
  assert.match(b.stderr, /zTOC sha256:[0-9a-f]{64}/);
  const s = JSON.parse(c.stderr) as BuildSummary;
  checkSummary(s, c.stdout, gzBytes, 'gzip', 65536);
  assert.equal(s.output, '-');
  assert.match(a.stdout.toString(), /stdin\.ztoc/);
});

test('build: default output name, --span-size with units, --build-tool-id shows in info', async () => {
  const dir = join(work, 'defaults');
  mkdirSync(dir);
  const [d, m, k] = await Promise.all([
    runCliAsync(['build', gzLayer, '--build-tool-id', 'my builder 1.2.3'], { cwd: dir }),
    runCliAsync(['build', gzLayer, '-o', join(work, 'm.ztoc'), '--span-size', '1MiB', '--json']),
    runCliAsync(['build', gzLayer, '-o', join(work, 'k.ztoc'), '--span-size', '100KiB', '--json']),
  ]);
  ok(d, 'default output');
  ok(m, '1MiB');
  ok(k, '100KiB');
  assert.deepEqual(readdirSync(dir), ['layer.tar.gz.ztoc']);
  for (const [r, span, file] of [
    [m, 1 << 20, 'm.ztoc'],
    [k, 100 * 1024, 'k.ztoc'],
  ] as const) {
    const s = JSON.parse(r.stdout.toString()) as BuildSummary;
    assert.equal(s.spanSize, span);
    const z = checkSummary(s, readFileSync(join(work, file)), gzBytes, 'gzip', span);
    assert.equal(decodeZinfo(z.checkpoints).spanSize, span, 'span size in the checkpoint blob');
  }

  const zt = join(dir, 'layer.tar.gz.ztoc');
  assert.equal(decodeZtoc(readFileSync(zt)).buildToolIdentifier, 'my builder 1.2.3');
  const [txt, js] = await Promise.all([runCliAsync(['info', zt]), runCliAsync(['info', zt, '--json'])]);
  assert.match(ok(txt, 'info').stdout.toString(), /^build tool\s+my builder 1\.2\.3$/m);
  assert.equal((JSON.parse(ok(js, 'info --json').stdout.toString()) as { build_tool: string }).build_tool, 'my builder 1.2.3');
});

interface InfoFile {
  filename: string;
  offset: number;
  size: number;
  type: string;
  start_span: number;
  end_span: number;
}

interface Info {
  version: string;
  build_tool: string;
  size: number;
  span_size: number;
  num_spans: number;
  num_files: number;
  num_multi_span_files: number;
  files?: InfoFile[];
}

/** Last span whose uncompressed start is <= off (SOCI's pt_index_from_ucmp_offset). */
function spanOf(starts: number[], off: number): number {
  let i = 0;
  while (i + 1 < starts.length && starts[i + 1]! <= off) i++;
  return i;
}

test('info: text and --json fields; --files start/end spans agree with offsets and the span table', async () => {
  const cases: Array<[string, 'gzip' | 'tar', number]> = [
    [join(work, 'g.ztoc'), 'gzip', 65536],
    [join(work, 't.ztoc'), 'tar', 65536],
  ];
  const runs = await Promise.all(
    cases.flatMap(([p]) => [runCliAsync(['info', p]), runCliAsync(['info', p, '--json', '--files']), runCliAsync(['info', p, '--files'])]),
  );
  for (const [i, [p, kind, span]] of cases.entries()) {
    const [txt, js, txtFiles] = runs.slice(i * 3, i * 3 + 3) as [CliResult, CliResult, CliResult];
    const bytes = readFileSync(p);
    const z = decodeZtoc(bytes);
    const info = JSON.parse(ok(js, 'info --json').stdout.toString()) as Info;
    assert.equal(info.version, '0.9');
    assert.equal(info.build_tool, z.buildToolIdentifier);
    assert.equal(info.size, bytes.length);
    assert.equal(info.span_size, span);
    assert.equal(info.num_spans, z.spanDigests.length);
    assert.equal(info.num_files, walkTar(tarBytes).headers.length);

    // Span starts in uncompressed bytes: checkpoints for gzip, fixed multiples for tar.
    const starts = kind === 'gzip' ? decodeZinfo(z.checkpoints).checkpoints.map((c) => c.out) : z.spanDigests.map((_, k) => k * span);
    assert.equal(starts.length, info.num_spans);
    const want = walkTar(tarBytes).headers.map((h) => {
      const first = spanOf(starts, h.dataOffset);
      const last = h.typeflag === '0' && h.size > 0 ? spanOf(starts, h.dataOffset + h.size - 1) : first;
      return { filename: h.name, offset: h.dataOffset, size: h.size, type: h.typeflag === '5' ? 'dir' : 'reg', start_span: first, end_span: last };
    });
    assert.deepEqual(info.files, want);
    const multi = want.filter((f) => f.start_span !== f.end_span).length;
    assert.ok(multi > 0, 'no file crosses a span boundary');
    assert.equal(info.num_multi_span_files, multi);

    const t = ok(txt, 'info').stdout.toString();
    assert.match(t, /^version\s+0\.9$/m);
    assert.match(t, new RegExp(`^spans\\s+${info.num_spans}$`, 'm'));
    assert.match(t, new RegExp(`^files\\s+${info.num_files}$`, 'm'));
    assert.match(t, new RegExp(`^multi-span files\\s+${multi}$`, 'm'));
    assert.match(t, new RegExp(`^span size\\s+${span}$`, 'm'));
    assert.doesNotMatch(t, /big\.txt/, 'files listed without --files');
    const tf = ok(txtFiles, 'info --files').stdout.toString();
    const big = want.find((f) => f.filename === './usr/share/big.txt')!;
    assert.match(tf, new RegExp(`^reg\\s+${big.offset}\\s+${big.size}\\s+${big.start_span}-${big.end_span}\\s+\\./usr/share/big\\.txt$`, 'm'));
  }
});

test('get-file: /x, x and ./x, to stdout and with -o, equal the files in the tree', async () => {
  const zt = join(work, 'g.ztoc');
  const tzt = join(work, 't.ztoc');
  const jobs: Array<Promise<void>> = [];
  const check = (args: string[], want: Buffer, outFile?: string): void => {
    jobs.push(
      runCliAsync(args).then((r) => {
        ok(r, args.join(' '));
        const got = outFile !== undefined ? readFileSync(outFile) : r.stdout;
        assert.ok(got.equals(want), `${args.join(' ')}: ${got.length} bytes, want ${want.length}`);
        if (outFile !== undefined) assert.equal(r.stdout.length, 0);
      }),
    );
  };
  const big = files['usr/share/big.txt']!;
  check(['get-file', '--ztoc', zt, '--layer', gzLayer, '/usr/share/big.txt'], big);
  check(['get-file', '--ztoc', zt, '--layer', gzLayer, 'usr/share/big.txt'], big);
  const o1 = join(work, 'big.out');
  check(['get-file', '--ztoc', zt, '--layer', gzLayer, './usr/share/big.txt', '-o', o1], big, o1);
  const o2 = join(work, 'random.out');
  check(['get-file', '--ztoc', zt, '--layer', gzLayer, '-o', o2, 'bin/random.bin'], files['bin/random.bin']!, o2);
  check(['get-file', '--ztoc', zt, '--layer', gzLayer, '/etc/hello.txt', '-o', '-'], files['etc/hello.txt']!);
  check(['get-file', '--ztoc', tzt, '--layer', tarLayer, './a/b/c/deep.txt'], files['a/b/c/deep.txt']!);
  check(['get-file', '--ztoc', tzt, '--layer', tarLayer, '/usr/share/big.txt'], big);
  await Promise.all(jobs);
});

test('get-file: a missing path and a directory give clear errors', async () => {
  const zt = join(work, 'g.ztoc');
  const out = join(work, 'never.out');
  const [missing, dir] = await Promise.all([
    runCliAsync(['get-file', '--ztoc', zt, '--layer', gzLayer, '/no/such/file', '-o', out]),
    runCliAsync(['get-file', '--ztoc', zt, '--layer', gzLayer, 'usr/share']),
  ]);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /\/no\/such\/file: no such file/);
  assert.match(missing.stderr, /\[FILE_NOT_FOUND\]/);
  assert.equal(missing.stdout.length, 0);
  assert.ok(!existsSync(out));
  // A directory has no contents to print; the error says what it is. (The CLI maps this to a
  // usage-class error.)
  assert.notEqual(dir.code, 0, dir.stderr);
  assert.match(dir.stderr, /usr\/share.*is a dir, not a regular file/);
  assert.equal(dir.stdout.length, 0);
});

test('usage errors exit 2 with a message and write nothing', async () => {
  const dir = join(work, 'usage');
  mkdirSync(dir);
  const cases: Array<[string, string[], RegExp]> = [
    ['unknown flag', ['build', gzLayer, '--bogus'], /unknown option/i],
    ['missing argument', ['build'], /missing required argument/i],
    ['info without a file', ['info'], /missing required argument/i],
    ['bad --span-size', ['build', gzLayer, '--span-size', 'lots'], /invalid size "lots"/],
    ['negative --span-size', ['build', gzLayer, '--span-size', '-5'], /invalid size "-5"/],
    ['unknown unit', ['build', gzLayer, '--span-size', '4XB'], /invalid size "4XB"/],
    ['stdin without -o', ['build', '-'], /needs -o/],
    ['--ztoc without --layer', ['get-file', '--ztoc', join(work, 'g.ztoc'), 'x'], /--ztoc and --layer go together/],
    ['unknown command', ['frobnicate'], /unknown command/i],
  ];
  const results = await Promise.all(cases.map(([, args]) => runCliAsync(args, { cwd: dir })));
  for (const [i, [label, , msg]] of cases.entries()) {
    const r = results[i]!;
    assert.equal(r.code, 2, `${label}: exit ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stderr, msg, label);
    assert.equal(r.stdout.length, 0, `${label}: stdout not empty`);
  }
  assert.deepEqual(readdirSync(dir), [], 'a usage error wrote a file');
  const help = runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout.toString(), /build/);
});
