// Owns loading the N-API addon (native/ztoc_native.c) and its typed surface: a local node-gyp build
// or the prebuild shipped for this platform, chosen by node-gyp-build. Nothing else in
// ztoc touches the addon directly: the inflater and reader wrappers sit on top of this file.

import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZtocError } from '../errors.js';

/** Opaque handles owned by the addon. */
export type BuilderHandle = { readonly __brand: 'builder' };
export type ReaderHandle = { readonly __brand: 'reader' };

export interface NativeAddon {
  builderCreate(spanSize: number, checkpoints: boolean): BuilderHandle;
  builderInflate(h: BuilderHandle, input: Uint8Array, inOffset: number, output: Uint8Array, info: Float64Array): number;
  builderMessage(h: BuilderHandle): string;
  /** [memberEnded, members, started, totalIn, totalOut, checkpoints] */
  builderState(h: BuilderHandle): number[];
  builderCheckpoints(h: BuilderHandle, from: number): Float64Array;
  builderBlob(h: BuilderHandle): Buffer;
  readerCreate(bits: number, firstByte: number, window: Uint8Array): ReaderHandle;
  readerInflate(
    h: ReaderHandle,
    input: Uint8Array,
    inOffset: number,
    output: Uint8Array,
    outOffset: number,
    info: Float64Array,
  ): number;
  readerMessage(h: ReaderHandle): string;
  zlibVersion(): string;
}

/** Status codes returned by the addon's inflate calls. */
export const NativeStatus = { Ok: 0, DataError: -1, MemError: -2 } as const;

let cached: { addon: NativeAddon; path: string; root: string } | undefined;

/** Where the loaded addon came from (`ztoc doctor`). */
export interface NativeInfo {
  /** Absolute path of the .node file that was loaded. */
  path: string;
  /** prebuild: shipped in the package (prebuilds/<platform>-<arch>/); build: compiled here by node-gyp; other: elsewhere (ZTOC_PREBUILD). */
  origin: 'prebuild' | 'build' | 'other';
  /** The inflate engine and its version; zlib is the one the `node` executable exports. */
  engine: { name: 'zlib'; version: string };
}

/** The package root: the nearest directory above this file (src/ or dist/src/) holding ztoc's package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ztoc') return dir;
    dir = dirname(dir);
  }
  throw new ZtocError('INTERNAL', "ztoc's package.json not found above the native addon loader");
}

/**
 * node-gyp-build picks build/Release/*.node (a local node-gyp build) first, then the best match in
 * prebuilds/<platform>-<arch>/ (N-API, libc tag); it throws naming platform, arch and libc when none fits.
 */
function load(): { addon: NativeAddon; path: string; root: string } {
  const require = createRequire(import.meta.url);
  const root = packageRoot();
  const gypBuild = require('node-gyp-build') as { path(dir: string): string };
  let path: string;
  try {
    path = gypBuild.path(root);
  } catch (err) {
    throw new ZtocError(
      'INTERNAL',
      `no native addon fits this machine (${(err as Error).message.split('\n')[0]}): reinstall ztoc with a C toolchain ` +
        '(python3, make, cc) so that node-gyp builds it',
    );
  }
  return { addon: require(path) as NativeAddon, path, root };
}

export function native(): NativeAddon {
  cached ??= load();
  return cached.addon;
}

/** Which addon binary was loaded and which engine it runs; loads the addon if nothing has yet. */
export function nativeInfo(): NativeInfo {
  cached ??= load();
  const rel = relative(cached.root, cached.path).split(sep);
  const origin = rel[0] === 'prebuilds' ? 'prebuild' : rel[0] === 'build' ? 'build' : 'other';
  return { path: cached.path, origin, engine: { name: 'zlib', version: cached.addon.zlibVersion() } };
}
