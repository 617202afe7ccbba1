#!/usr/bin/env node
// Owns the lockfile for installing a packed ztoc tarball exactly as this repository pins it.
//
//   node scripts/install-lock.mjs ztoc-0.1.0.tgz DIR
//
// writes DIR/package.json and DIR/package-lock.json (and copies the tarball into DIR), so that
// `npm ci --omit=dev` in DIR installs ztoc from the tarball with the very runtime dependency versions
// of our package-lock.json. The tarball holds no lockfile, so a plain `npm install ztoc-*.tgz` would
// resolve ranges afresh; this way the Dockerfile's image is reproducible, and an install works with
// `--offline` from npm's cache, which `npm ci` in this repository has filled with exactly those tarballs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [tarball, outDir] = process.argv.slice(2);
if (!tarball || !outDir) {
  process.stderr.write('usage: node scripts/install-lock.mjs ZTOC_TARBALL OUT_DIR\n');
  process.exit(2);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const file = basename(tarball);
const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;

// Runtime dependencies keep their paths: hoisted under node_modules/ in our tree, they are hoisted the same
// way next to ztoc in the installing folder.
const packages = {
  '': { name: 'ztoc-install', dependencies: { [pkg.name]: `file:${file}` } },
  [`node_modules/${pkg.name}`]: {
    version: pkg.version,
    resolved: `file:${file}`,
    integrity,
    hasInstallScript: true,
    license: pkg.license,
    dependencies: pkg.dependencies,
    bin: pkg.bin,
    engines: pkg.engines,
  },
};
// Our lockfile may omit `resolved` (omit-lockfile-registry-resolved): npm then asks the registry for each
// package's metadata, even with --offline, where only `npm ci` of this very lockfile would have cached it.
// With the tarball URL on the configured registry and the integrity, npm takes the tarball from its cache.
const registry = (process.env.npm_config_registry || execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim()).replace(/\/?$/, '/');
for (const [path, entry] of Object.entries(lock.packages)) {
  if (path === '' || entry.dev) continue;
  const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
  packages[path] = { resolved: `${registry}${name}/-/${name.split('/').pop()}-${entry.version}.tgz`, ...entry };
}

mkdirSync(outDir, { recursive: true });
if (resolve(tarball) !== resolve(outDir, file)) copyFileSync(tarball, join(outDir, file));
writeFileSync(join(outDir, 'package.json'), `${JSON.stringify({ name: 'ztoc-install', private: true, dependencies: packages[''].dependencies }, null, 2)}\n`);
writeFileSync(join(outDir, 'package-lock.json'), `${JSON.stringify({ name: 'ztoc-install', lockfileVersion: 3, requires: true, packages }, null, 2)}\n`);
