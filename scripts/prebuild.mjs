#!/usr/bin/env node
// Owns the prebuilt addons shipped in the npm package (run by `prepack`, so every `npm pack` and
// `npm publish` carries binaries built from the sources of that very commit; git holds none).
//
// It compiles the targets of binding.gyp (sources, defines, cflags, include_dirs: read from the file,
// so new C files under native/ need no change here) once per platform, with the flags node-gyp uses
// for a Release build, into prebuilds/<platform>-<arch>/node.napi.<libc>.node: the names that
// node-gyp-build looks up (runtime "node", "napi" = any Node with N-API 8, libc tag). Each binary
// must need nothing but libc: zlib and N-API bind to the `node` executable at load time.
//
//   node scripts/prebuild.mjs                   all targets (the default for prepack)
//   PREBUILD_TARGETS=host node scripts/prebuild.mjs      only this machine's (the Dockerfile)
//   PREBUILD_TARGETS=linux-arm64-glibc,linux-x64-musl ...  a chosen list
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { arch } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const host = arch(); // 'x64' | 'arm64'
const hostLibc = process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl';

/** Every target we ship; the compiler is the native one on a matching host, a cross compiler otherwise. */
const TARGETS = [
  { id: 'linux-x64-glibc', arch: 'x64', libc: 'glibc', cc: host === 'x64' && hostLibc === 'glibc' ? 'cc' : 'x86_64-linux-gnu-gcc', machine: 'Advanced Micro Devices X86-64', pkg: 'gcc' },
  { id: 'linux-arm64-glibc', arch: 'arm64', libc: 'glibc', cc: host === 'arm64' && hostLibc === 'glibc' ? 'cc' : 'aarch64-linux-gnu-gcc', machine: 'AArch64', pkg: 'gcc-aarch64-linux-gnu libc6-dev-arm64-cross' },
  // musl-gcc wraps the host gcc: it makes musl binaries for the host's architecture only.
  { id: `linux-${host}-musl`, arch: host, libc: 'musl', cc: hostLibc === 'musl' ? 'cc' : 'musl-gcc', machine: host === 'x64' ? 'Advanced Micro Devices X86-64' : 'AArch64', pkg: 'musl-tools' },
];

/** What every target's libc provides; anything else in DT_NEEDED may be missing on a user's machine. */
const LIBC_SONAMES = {
  glibc: /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1)$/,
  musl: /^libc\.so$/,
};

/** Keys of a binding.gyp target this script understands; any other key stops it (better than a silently different binary). */
const KNOWN_KEYS = new Set(['target_name', 'sources', 'cflags', 'cflags_c', 'defines', 'include_dirs', 'libraries']);

function fail(msg) {
  process.stderr.write(`prebuild: ${msg}\n`);
  process.exit(1);
}

/** binding.gyp is a Python literal; ours is JSON, so accept JSON plus gyp's `#` comments and single quotes. */
function readGypTargets() {
  const text = readFileSync(join(root, 'binding.gyp'), 'utf8');
  let gyp;
  try {
    gyp = JSON.parse(text.replace(/^\s*#.*$/gm, '').replace(/'/g, '"').replace(/,(\s*[\]}])/g, '$1'));
  } catch (err) {
    fail(`cannot read binding.gyp as JSON (${err.message}); keep it in the JSON subset of gyp`);
  }
  const targets = gyp.targets ?? [];
  // node-gyp-build loads one addon per package (build/Release/*.node or one prebuild).
  if (targets.length !== 1) fail(`binding.gyp has ${targets.length} targets; node-gyp-build loads exactly one addon per package`);
  for (const t of targets) {
    for (const k of Object.keys(t)) {
      if (!KNOWN_KEYS.has(k)) fail(`binding.gyp target ${t.target_name}: key "${k}" is not handled here; teach scripts/prebuild.mjs about it`);
    }
    // Shared libraries the target links would be missing where the prebuild runs: only libc's own or static archives.
    for (const lib of t.libraries ?? []) {
      if (!/^-l(m|pthread|dl|rt)$/.test(lib) && !/\.a$/.test(lib)) {
        fail(`binding.gyp target ${t.target_name} links ${lib}: a prebuild may link only libc or a static archive (.a); load an optional engine at run time instead`);
      }
    }
  }
  return targets;
}

/** Node's headers (node_api.h, and the zlib.h of the zlib that `node` exports), as node-gyp finds them for this Node. */
function nodeHeaders() {
  const candidates = [
    process.env.NODE_HEADERS,
    // node-gyp's own first choice: the headers installed next to the running node (…/bin/node → …/include/node).
    join(dirname(dirname(process.execPath)), 'include', 'node'),
    join(process.env.HOME ?? '', '.cache', 'node-gyp', process.versions.node, 'include', 'node'),
  ].filter(Boolean);
  const dir = candidates.find((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'zlib.h')));
  if (!dir) fail(`Node's headers (node_api.h, zlib.h) not found in ${candidates.join(', ')}; set NODE_HEADERS`);
  return dir;
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function selectTargets() {
  const want = process.env.PREBUILD_TARGETS;
  if (!want || want === 'all') return TARGETS;
  const ids = want === 'host' ? [`linux-${host}-${hostLibc}`] : want.split(',').map((s) => s.trim());
  return ids.map((id) => TARGETS.find((t) => t.id === id) ?? fail(`unknown target ${id} (known: ${TARGETS.map((t) => t.id).join(', ')})`));
}

function readelf(args, file) {
  return execFileSync('readelf', [...args, file], { encoding: 'utf8' });
}

/** The checks that make a prebuild safe to ship: right machine, only libc needed, the N-API entry point exported. */
function check(t, file) {
  const machine = /Machine:\s+(.*)/.exec(readelf(['-h'], file))?.[1]?.trim();
  if (machine !== t.machine) fail(`${file}: machine is ${machine}, want ${t.machine}`);
  const needed = [...readelf(['-d'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const extra = needed.filter((n) => !LIBC_SONAMES[t.libc].test(n));
  if (extra.length > 0) fail(`${file} needs ${extra.join(', ')}: a prebuild may need only libc`);
  if (!/ napi_register_module_v1$/m.test(readelf(['--dyn-syms', '-W'], file))) fail(`${file} does not export napi_register_module_v1`);
}

const gypTargets = readGypTargets();
const headers = nodeHeaders();
const targets = selectTargets();
const missing = targets.filter((t) => !have(t.cc));
if (missing.length > 0) {
  fail(
    `missing compiler(s): ${missing.map((t) => `${t.cc} for ${t.id} (Debian: ${t.pkg})`).join('; ')}. ` +
      'Install them, or choose targets with PREBUILD_TARGETS=host or a comma-separated list',
  );
}

rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
for (const t of targets) {
  for (const g of gypTargets) {
    const dir = join(root, 'prebuilds', `linux-${t.arch}`);
    mkdirSync(dir, { recursive: true });
    const out = join(dir, `node.napi.${t.libc}.node`);
    // node-gyp's Release flags (build/*.target.mk): common ones, then the target's, then -O3.
    const args = [
      '-shared', '-fPIC', '-pthread', '-fvisibility=hidden',
      `-DNODE_GYP_MODULE_NAME=${g.target_name}`, '-DBUILDING_NODE_EXTENSION', '-D_FILE_OFFSET_BITS=64', '-D_LARGEFILE_SOURCE',
      ...(g.defines ?? []).map((d) => `-D${d}`),
      `-I${headers}`, ...(g.include_dirs ?? []).map((d) => `-I${join(root, d)}`),
      ...(g.cflags ?? []), ...(g.cflags_c ?? []),
      '-O3', '-fno-omit-frame-pointer', '-s',
      '-o', out,
      ...g.sources.map((s) => join(root, s)),
      ...(g.libraries ?? []),
    ];
    const r = spawnSync(t.cc, args, { stdio: 'inherit' });
    if (r.status !== 0) fail(`${t.cc} failed for ${t.id}`);
    check(t, out);
    process.stdout.write(`prebuild: ${t.id} -> ${out.slice(root.length + 1)}\n`);
  }
}
