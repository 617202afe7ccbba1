// Install without a compiler (issue 9 part 2): the packed tarball carries prebuilt addons for
// linux-x64/arm64 (glibc) and linux-x64 (musl); installed into an empty folder offline, with a PATH
// that holds only node, npm and sh (npm runs lifecycle scripts through sh), it builds zTOCs that
// are byte-identical to AWS SOCI's and indexes an OCI layout. The binaries we cannot run here are
// checked for what a loader needs (machine, exported N-API entry point, needed libraries, symbols), and
// the arm64 one also runs under qemu-aarch64 with a real arm64 node.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers/cli.js';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { LOCAL_GOLDEN, TESTDATA } from './helpers/golden.js';
import { SOCI_BUILD_TOOL_ID } from '../src/ztoc/model.js';

let tmp: string;
let bin: string; // node, npm, sh: nothing else
let app: string; // the folder ztoc was installed into
let pkgDir: string; // app/node_modules/ztoc
let packed: string[];

function run(cmd: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  // Nothing inherited but HOME (npm's cache, filled by `npm ci` in this repository): no npm_config_* of the outer `npm test`.
  const env = { HOME: process.env['HOME'], PATH: bin, CI: '1', NO_COLOR: '1', ...extraEnv };
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 1 << 26, timeout: 120_000 });
  if (r.error) throw r.error;
  return r;
}

function ztoc(args: string[]): SpawnSyncReturns<string> {
  return run(join(app, 'node_modules', '.bin', 'ztoc'), args, app);
}

function readelf(args: string[], file: string): string {
  return spawnSync('readelf', [...args, '-W', file], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
}

function needed(file: string): string[] {
  return [...readelf(['-d'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
}

interface DynSym {
  name: string;
  version: string | undefined;
  defined: boolean;
  type: string;
  bind: string;
}

/** readelf --dyn-syms: "Num: Value Size Type Bind Vis Ndx Name[@VERSION]". */
function dynSyms(file: string): DynSym[] {
  const syms: DynSym[] = [];
  for (const line of readelf(['--dyn-syms'], file).split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !/^\d+:$/.test(f[0]!)) continue;
    const [name, version] = f[7]!.split(/@+/);
    if (!name) continue;
    syms.push({ name, version: version?.replace(/ \(\d+\)$/, ''), defined: f[6] !== 'UND', type: f[3]!, bind: f[4]! });
  }
  return syms;
}

/** What the `node` executable exports: N-API and zlib, which the addon binds to at load time. */
let nodeExports: Set<string>;

before(() => {
  tmp = tempDir('ztoc-install-');
  bin = join(tmp, 'bin');
  app = join(tmp, 'app');
  mkdirSync(bin);
  for (const [name, target] of [['node', process.execPath], ['npm', which('npm')], ['sh', '/bin/sh']] as const) {
    symlinkSync(realpathSync(target), join(bin, name));
  }
  nodeExports = new Set(dynSyms(process.execPath).filter((s) => s.defined).map((s) => s.name));

  // `npm pack` runs prepack (this script) and prepare (tsc); `npm test` ran tsc already, so run the
  // prepack step alone and pack without scripts.
  const pre = spawnSync(process.execPath, ['scripts/prebuild.mjs'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(pre.status, 0, `scripts/prebuild.mjs failed (gcc-aarch64-linux-gnu, musl-tools installed? see .ci/run):\n${pre.stderr}`);
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(pack.status, 0, pack.stderr);
  const info = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packed = info[0]!.files.map((f) => f.path);

  const lock = spawnSync(process.execPath, ['scripts/install-lock.mjs', join(tmp, info[0]!.filename), app], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(lock.status, 0, lock.stderr);
  const install = run(join(bin, 'npm'), ['ci', '--offline', '--omit=dev', '--foreground-scripts', '--no-audit', '--no-fund'], app);
  assert.equal(install.status, 0, `offline install failed (npm's cache is filled by \`npm ci\` in the repository):\n${install.stdout}\n${install.stderr}`);
  pkgDir = join(app, 'node_modules', 'ztoc');
});

after(() => {
  if (tmp) cleanup(tmp);
});

function which(cmd: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} not on PATH`);
  return r.stdout.trim();
}

test('the tarball holds the three prebuilds and the sources for a fallback build, no local build or tests', () => {
  for (const p of ['prebuilds/linux-x64/node.napi.glibc.node', 'prebuilds/linux-arm64/node.napi.glibc.node', 'prebuilds/linux-x64/node.napi.musl.node']) {
    assert.ok(packed.includes(p), `${p} missing from the tarball`);
  }
  assert.ok(packed.includes('binding.gyp') && packed.includes('native/ztoc_native.c'));
  assert.deepEqual(packed.filter((p) => /^(build|test|dist\/test|node_modules)\//.test(p)), []);
});

test('the install compiled nothing: doctor reports the shipped prebuild and its engines', () => {
  assert.equal(existsSync(join(pkgDir, 'build')), false, 'node-gyp ran during the install');
  const r = ztoc(['doctor', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout) as { addon: { origin: string; path: string }; engine: { name: string; available: string[]; zlibVersion: string; fastVariant: string }; selfTest: { ok: boolean } };
  assert.equal(d.addon.origin, 'prebuild');
  assert.equal(d.addon.path, join(realpathSync(pkgDir), 'prebuilds', `linux-${arch()}`, 'node.napi.glibc.node'));
  // The fast engine's Huffman loop is built twice; the BMI2 one runs where the CPU has BMI2.
  const bmi2 = /^flags\s*:.*\bbmi2\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  assert.deepEqual(d.engine, { name: 'fast', available: ['fast', 'zlib'], zlibVersion: process.versions.zlib.replace(/-.*$/, ''), fastVariant: bmi2 ? 'bmi2' : 'generic' });
  assert.equal(d.selfTest.ok, true);
  // The text form names the file too.
  assert.ok(ztoc(['doctor']).stdout.includes(`prebuilt: ${d.addon.path}`));
});

test('ztoc build from the installed package reproduces the AWS SOCI zTOC byte for byte', () => {
  const out = join(tmp, 'pax-records.ztoc');
  const layer = join(LOCAL_GOLDEN, 'layers', 'pax-records.tar.gz');
  const r = ztoc(['build', layer, '--span-size', '65536', '--build-tool-id', SOCI_BUILD_TOOL_ID, '-o', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readFileSync(out).equals(readFileSync(join(LOCAL_GOLDEN, 'ztoc', 'pax-records.tar.gz.span65536.ztoc'))));
});

test('ztoc index oci:… from the installed package indexes, verifies and reads a file back', () => {
  const layout = join(tmp, 'layout');
  cpSync(join(TESTDATA, 'example'), layout, { recursive: true, dereference: true });
  const ref = `oci:${layout}:latest`;
  const idx = ztoc(['index', ref, '--min-layer-size', '1MiB']);
  assert.equal(idx.status, 0, idx.stderr);
  assert.match(idx.stdout, /pushed sha256:[0-9a-f]{64} \(layout index\.json\)/);
  const verify = ztoc(['verify', ref]);
  assert.equal(verify.status, 0, verify.stderr);
  assert.match(verify.stdout, /1 zTOCs in 1 SOCI indexes match their layers/);
  const file = ztoc(['get-file', ref, '/app/nanotime.txt']);
  assert.equal(file.status, 0, file.stderr);
  assert.equal(file.stdout, 'nanoseconds\n');
});

test('without a prebuild the install falls back to node-gyp, which this PATH cannot run', () => {
  // The negative control: the PATH really has no toolchain, so the successful install above used the prebuild.
  const r = run(join(bin, 'npm'), ['rebuild', 'ztoc', '--offline', '--foreground-scripts'], app, { npm_config_build_from_source: 'true' });
  assert.notEqual(r.status, 0, 'a build from source succeeded without cc, make or python3');
  assert.match(r.stdout + r.stderr, /gyp ERR! find Python/);
});

/** Each undefined symbol is exported by node (N-API, zlib) or is libc's; glibc ones no newer than Node 20's own floor (2.28). */
function assertLinksOnlyNodeAndLibc(file: string): void {
  for (const s of dynSyms(file).filter((x) => !x.defined && x.bind !== 'WEAK')) {
    if (s.version?.startsWith('GLIBC_')) {
      const [maj, min] = s.version.slice(6).split('.').map(Number);
      assert.ok(maj! < 2 || (maj === 2 && min! <= 28), `${file}: ${s.name}@${s.version} is newer than glibc 2.28`);
    } else {
      assert.ok(nodeExports.has(s.name), `${file}: ${s.name} is neither libc's nor exported by node`);
    }
  }
}

test('arm64 glibc prebuild: an AArch64 shared object that exports the N-API entry point and needs only libc', () => {
  const file = join(pkgDir, 'prebuilds', 'linux-arm64', 'node.napi.glibc.node');
  const header = readelf(['-h'], file);
  assert.match(header, /Class:\s+ELF64/);
  assert.match(header, /Type:\s+DYN/);
  assert.match(header, /Machine:\s+AArch64/);
  const init = dynSyms(file).find((s) => s.name === 'napi_register_module_v1');
  assert.ok(init?.defined && init.type === 'FUNC' && init.bind === 'GLOBAL', 'napi_register_module_v1 not exported');
  assert.deepEqual(needed(file), ['libc.so.6']);
  assertLinksOnlyNodeAndLibc(file);
  // Node's zlib, not a private copy: the inflate calls are imports.
  assert.ok(dynSyms(file).some((s) => s.name === 'inflatePrime' && !s.defined));
});

test('arm64 glibc prebuild runs: a real arm64 node under qemu-aarch64 loads it and rebuilds the AWS SOCI zTOC', (t) => {
  // .ci/run installs qemu-user and fetches the arm64 node; elsewhere the test says what it lacks, and CI fails on it.
  const node = spawnSync('sh', [join(REPO_ROOT, 'scripts', 'arm64-node.sh'), '--cached'], { encoding: 'utf8' }).stdout.trim();
  const qemu = spawnSync('sh', ['-c', 'command -v qemu-aarch64'], { encoding: 'utf8' }).stdout.trim();
  if (!node || !qemu || !existsSync('/usr/aarch64-linux-gnu/lib/libstdc++.so.6')) {
    const why = 'needs qemu-aarch64 (Debian qemu-user), libstdc++6-arm64-cross and `sh scripts/arm64-node.sh`';
    if (process.env['CI']) assert.fail(why);
    t.skip(why);
    return;
  }
  // One process (node starts slowly under emulation): the installed package's library, as a program would use it.
  const layer = join(LOCAL_GOLDEN, 'layers', 'pax-records.tar.gz');
  const out = join(tmp, 'arm64.ztoc');
  const script = `
    const { nativeInfo, nativeCrc32 } = await import(${JSON.stringify(join(pkgDir, 'dist/src/inflate/native.js'))});
    const { buildZtoc, readFileChunks } = await import(${JSON.stringify(join(pkgDir, 'dist/src/index.js'))});
    const r = await buildZtoc(readFileChunks(${JSON.stringify(layer)}), { spanSize: 65536, buildToolId: ${JSON.stringify(SOCI_BUILD_TOOL_ID)} });
    (await import('node:fs')).writeFileSync(${JSON.stringify(out)}, r.bytes);
    // Each CRC-32 engine of the arm64 build against zlib's, at lengths around its 8- and 32-byte steps and alignments.
    const { crc32 } = await import('node:zlib');
    const buf = (await import('node:crypto')).randomBytes((1 << 20) + 64);
    const crcBad = [];
    for (const e of ['auto', ...nativeInfo().crc32.available])
      for (const len of [0, 1, 3, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 1000, 4099, 1 << 20])
        for (const off of [0, 1, 4, 7]) {
          const v = buf.subarray(off, off + len);
          if (nativeCrc32(v, 0x9e3779b9, e) !== crc32(v, 0x9e3779b9)) crcBad.push(e + ':' + len + '@' + off);
        }
    console.log(JSON.stringify({ arch: process.arch, ...nativeInfo(), crcBad }));`;
  writeFileSync(join(tmp, 'arm64.mjs'), script);
  const r = spawnSync(qemu, ['-L', '/usr/aarch64-linux-gnu', node, join(tmp, 'arm64.mjs')], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { arch: string; origin: string; path: string; engine: unknown; crc32: unknown; crcBad: string[] };
  // qemu-aarch64's default CPU has the CRC32 extension: the armv8 engine is picked and agrees with zlib.
  assert.deepEqual(info, {
    arch: 'arm64',
    origin: 'prebuild',
    path: join(realpathSync(pkgDir), 'prebuilds', 'linux-arm64', 'node.napi.glibc.node'),
    engine: { name: 'fast', available: ['fast', 'zlib'], zlibVersion: (info.engine as { zlibVersion: string }).zlibVersion, fastVariant: 'generic' },
    crc32: { auto: 'armv8', available: ['armv8', 'zlib', 'table'] },
    crcBad: [],
  });
  assert.ok(readFileSync(out).equals(readFileSync(join(LOCAL_GOLDEN, 'ztoc', 'pax-records.tar.gz.span65536.ztoc'))));
});

test('x64 glibc prebuild: needs only libc, no symbol newer than glibc 2.28', () => {
  const file = join(pkgDir, 'prebuilds', 'linux-x64', 'node.napi.glibc.node');
  assert.match(readelf(['-h'], file), /Machine:\s+Advanced Micro Devices X86-64/);
  assert.deepEqual(needed(file), ['libc.so.6']);
  assertLinksOnlyNodeAndLibc(file);
});

test("x64 musl prebuild: needs musl's libc.so only, and musl's loader resolves every libc symbol", () => {
  const file = join(pkgDir, 'prebuilds', 'linux-x64', 'node.napi.musl.node');
  const header = readelf(['-h'], file);
  assert.match(header, /Machine:\s+Advanced Micro Devices X86-64/);
  assert.match(header, /Type:\s+DYN/);
  assert.doesNotMatch(readelf(['-l'], file), /INTERP/);
  assert.deepEqual(needed(file), ['libc.so']);
  assert.ok(dynSyms(file).some((s) => s.name === 'napi_register_module_v1' && s.defined));
  // musl's ld.so in list mode links the object against musl and names each symbol it could not find:
  // only those that `node` provides at run time may be among them (a glibc-only symbol would show here).
  const loader = readdirSync('/lib').find((f) => /^ld-musl-x86_64\.so\.1$/.test(f));
  assert.ok(loader, "musl's loader /lib/ld-musl-x86_64.so.1 missing (Debian: musl)");
  const r = spawnSync(join('/lib', loader), ['--list', file], { encoding: 'utf8' });
  assert.match(r.stdout, /libc\.so => \/lib\/ld-musl-x86_64\.so\.1/);
  const missing = [...r.stderr.matchAll(/Error relocating [^:]+: ([^:]+): symbol not found/g)].map((m) => m[1]!);
  assert.ok(missing.length > 0, 'expected the N-API symbols to be left for node');
  assert.deepEqual(missing.filter((s) => !nodeExports.has(s)), []);
  assert.deepEqual(r.stderr.split('\n').filter((l) => l && !/symbol not found/.test(l)), []);
});
