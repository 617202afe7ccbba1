// Fast start (issue 12): each command loads only the code it uses. A resolve hook (helpers/record-loads.ts)
// records every module a real `node bin/ztoc.js …` child resolves; the test
// checks the list, not a timing: `--version` loads only the version, `--help` no library code, `build` and `info` never load
// the registry client (undici), the validators (ajv) or the spinner (ora), `build` loads no other command's module, and `index oci:DIR` indexes a
// layout without loading the registry client or ajv's schema compiler. A control run, which loads only undici's Agent, shows the recorder does see the registry code.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, makeLayer, prngBytes, tempDir } from './helpers/fixtures.js';
import { REPO_ROOT, ZTOC_BIN } from './helpers/cli.js';

const work = tempDir('ztoc-fast-start-');
after(() => cleanup(work));
const recorder = join(REPO_ROOT, 'dist', 'test', 'helpers', 'record-loads.js');

/** Runs `ztoc ARGS` and returns the repo-relative paths (or node: / package names) of every module it resolved. */
function loadedBy(args: string[]): string[] {
  const log = join(work, `loads-${args[0]}-${Math.random().toString(36).slice(2)}.txt`);
  const r = spawnSync(process.execPath, ['--import', recorder, ZTOC_BIN, ...args], {
    cwd: work,
    env: { ...process.env, ZTOC_LOAD_LOG: log, CI: '1', NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `ztoc ${args.join(' ')}: ${r.stderr}`);
  const urls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
  rmSync(log, { force: true });
  const root = new URL(`file://${REPO_ROOT}/`).href;
  return [...new Set(urls.map((u) => (u.startsWith(root) ? u.slice(root.length) : u)))].sort();
}

const HEAVY = [/^node_modules\/undici\//, /^node_modules\/ajv\//, /^node_modules\/ora\//, /^dist\/src\/registry\//];
const heavyIn = (mods: string[]): string[] => mods.filter((m) => HEAVY.some((re) => re.test(m)));

test('ztoc --version loads only the version; --help loads commander and the command declarations only', () => {
  assert.deepEqual(
    loadedBy(['--version']).filter((m) => !m.startsWith('node:')),
    ['bin/ztoc.js', 'dist/src/version.js'],
  );
  const mods = loadedBy(['--help']);
  assert.ok(mods.includes('dist/src/cli/main.js'), 'the recorder saw the CLI');
  assert.equal(mods.filter((m) => m.startsWith('dist/src/cli/commands/')).length, 8, 'help lists every command');
  assert.deepEqual(heavyIn(mods), []);
  const library = mods.filter((m) => m.startsWith('dist/src/') && !m.startsWith('dist/src/cli/'));
  // Only what the flag declarations need for their defaults and parsers.
  assert.deepEqual(library.filter((m) => !/^dist\/src\/(errors|version|jobs\/defaults|jobs\/limit|ztoc\/model|oci\/platform|oci\/types)\.js$/.test(m)), []);
  assert.deepEqual(mods.filter((m) => m.startsWith('node_modules/') && !m.startsWith('node_modules/commander/')), []);
  // `--version` with anything else (e.g. another flag) still goes through the CLI, and prints the same.
  const r = spawnSync(process.execPath, [ZTOC_BIN, '-V'], { encoding: 'utf8' });
  const viaCli = spawnSync(process.execPath, [ZTOC_BIN, '--version', '--help'], { encoding: 'utf8' });
  assert.equal(r.stdout, viaCli.stdout);
  assert.equal(r.stdout, `${(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`);
});

test('ztoc build of a 1 MB layer and ztoc info load neither the registry client nor ajv nor ora', () => {
  const tree = join(work, 'tree');
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, 'blob.bin'), prngBytes(1 << 20, 3));
  const layer = makeLayer(tree, join(work, 'one-mb.tar.gz'), 'gnu', 'gzip-n');
  const build = loadedBy(['build', layer, '-o', join(work, 'one-mb.ztoc')]);
  assert.ok(build.includes('dist/src/ztoc/build.js') && build.includes('dist/src/inflate/inflater.js'), 'the recorder saw the builder and its inflater');
  assert.deepEqual(heavyIn(build), []);
  assert.deepEqual(build.filter((m) => /^dist\/src\/(jobs\/(?!defaults|limit)|image|layout|soci)\//.test(m)), []);
  // A named command loads its own declarations only, and none of what the others need at start (doctor's node:zlib,
  // the executable's node:v8 for the registry's WebAssembly).
  assert.deepEqual(build.filter((m) => m.startsWith('dist/src/cli/commands/')), ['dist/src/cli/commands/build.js']);
  assert.deepEqual(build.filter((m) => m === 'node:zlib' || m === 'node:v8'), []);
  const info = loadedBy(['info', join(work, 'one-mb.ztoc')]);
  assert.deepEqual(heavyIn(info), []);
});

test('ztoc index oci:DIR works without the registry client; a registry reference loads it (control)', () => {
  const dir = join(work, 'layout');
  cpSync(join(REPO_ROOT, 'testdata', 'example'), dir, { recursive: true, dereference: true });
  const index = loadedBy(['index', `oci:${dir}:latest`, '--min-layer-size', '1MiB', '--dry-run']);
  assert.ok(index.includes('dist/src/jobs/index-image.js'));
  // The validators were compiled ahead of time: of ajv, only the one runtime helper they call is loaded.
  assert.deepEqual(heavyIn(index), ['node_modules/ajv/dist/runtime/ucs2length.js']);
  // The control: `ztoc list` of a registry image loads undici and src/registry (the registry need not exist:
  // --help after the image would not load it, so resolve a name that fails fast instead).
  const log = join(work, 'control.txt');
  const r = spawnSync(process.execPath, ['--import', recorder, ZTOC_BIN, 'list', '127.0.0.1:9/none:latest'], {
    env: { ...process.env, ZTOC_LOAD_LOG: log, CI: '1' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.notEqual(r.status, 0);
  const control = readFileSync(log, 'utf8');
  assert.match(control, /node_modules\/undici\/lib\/dispatcher\/agent\.js/);
  assert.match(control, /dist\/src\/registry\/transport\.js/);
  // Only undici's Agent and request API: not its fetch, WebSocket, caches or mocks (registry/agent.ts).
  assert.doesNotMatch(control, /node_modules\/undici\/(index\.js|lib\/(web|mock|cache)\/)/);
});
