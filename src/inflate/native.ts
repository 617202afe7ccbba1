// Owns loading the N-API addon (native/ztoc_native.c) and its typed surface. Nothing else in
// ztoc touches the addon directly: the inflater and reader wrappers sit on top of this file.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

let cached: NativeAddon | undefined;

/** Finds build/Release/ztoc_native.node by walking up from this file (src/ or dist/src/). */
function locate(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'build', 'Release', 'ztoc_native.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new ZtocError('INTERNAL', 'native addon build/Release/ztoc_native.node not found: run `npm ci` (it builds the addon with node-gyp)');
}

export function native(): NativeAddon {
  if (cached === undefined) {
    const require = createRequire(import.meta.url);
    cached = require(locate()) as NativeAddon;
  }
  return cached;
}
