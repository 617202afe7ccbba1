// Owns loading the N-API addon (native/ztoc_native.c) and its typed surface: a local node-gyp build
// or the prebuild shipped for this platform, chosen by node-gyp-build. Nothing else in
// ztoc touches the addon directly: the inflater and reader wrappers sit on top of this file.
// The addon names the slots of its result arrays and the engines it has; this file checks them
// against what the TypeScript side expects, so a stale build fails loudly instead of misreading.

import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZtocError } from '../errors.js';

/** Opaque handles owned by the addon (type-tagged there: passing one kind for the other throws). */
export type BuilderHandle = { readonly __brand: 'builder' };
export type ReaderHandle = { readonly __brand: 'reader' };
export type BlobBoxHandle = { readonly __brand: 'blobBox' };
export type ThreadHandle = { readonly __brand: 'inflateThread' };

/** Inflate engines of the builder: zlib (Z_BLOCK, the fallback and oracle) or ztoc's own decoder. */
export type Engine = 'fast' | 'zlib';
export type EngineChoice = Engine | 'auto';
export const ENGINE_CHOICES: readonly EngineChoice[] = ['auto', 'fast', 'zlib'];

/** Slots of the Float64Array builderInflate reports into. */
export const BuilderInfo = { consumed: 0, produced: 1, totalIn: 2, totalOut: 3, checkpoints: 4, memberEnded: 5, members: 6 } as const;
export const BUILDER_INFO_SLOTS = 7;
/**
 * Event kinds an inflate thread reports (native/inflate_thread.h), and the status of an error event that
 * means "no progress" (a bug guard) rather than bad data.
 */
export const ThreadEvent = { input: 0, output: 1, drained: 2, error: 3, stalled: -3 } as const;

/**
 * What an inflate thread calls on the thread that started it: `input` (slot: an input slot used up; value:
 * the checkpoints found in it as [in, out, bits] triples), `output` (value: the bytes in the output slot),
 * `drained` (all input inflated; the builder is free again), `error` (slot: the status; value: the engine's
 * message; totalIn and members where the engine stopped).
 */
export type ThreadEventHandler = (kind: number, slot: number, value: Float64Array | number | string, totalIn: number, members: number) => void;

/** Slots of the Float64Array readerInflate reports into. */
export const ReaderInfo = { consumed: 0, produced: 1, membersEnded: 2 } as const;
export const READER_INFO_SLOTS = 3;

export interface BuilderState {
  memberEnded: number;
  members: number;
  started: number;
  totalIn: number;
  totalOut: number;
  checkpoints: number;
  engine: number;
}

export interface NativeAddon {
  builderCreate(spanSize: number, checkpoints: boolean, engine: number): BuilderHandle;
  builderInflate(h: BuilderHandle, input: Uint8Array, inOffset: number, output: Uint8Array, info: Float64Array): number;
  builderMessage(h: BuilderHandle): string;
  builderState(h: BuilderHandle): BuilderState;
  builderCheckpoints(h: BuilderHandle, from: number): Float64Array;
  /** Moves the finished zinfo blob into the box with this id (on any thread); returns its length. */
  builderBlob(h: BuilderHandle, boxId: number): number;
  /**
   * Runs the builder on a thread of its own (native/inflate_thread.c), fed through these slots; the builder
   * refuses every other call until `drained` or the thread's end. nice: 0..19, where threads have priorities.
   */
  inflateThreadStart(h: BuilderHandle, inputs: Uint8Array[], outputs: Uint8Array[], nice: number, onEvent: ThreadEventHandler): ThreadHandle;
  /** Queues input slot `slot` (`length` bytes from layer offset `start`); false if that slot is queued or the thread ended. */
  inflateThreadInput(t: ThreadHandle, slot: number, length: number, start: number): boolean;
  /** Hands a scanned output slot back; false if it was not out. */
  inflateThreadOutput(t: ThreadHandle, slot: number): boolean;
  /** No more input: the thread ends once what is queued is inflated. */
  inflateThreadEnd(t: ThreadHandle): void;
  /** Stops the thread within one step; nothing more is reported. */
  inflateThreadStop(t: ThreadHandle): void;
  readonly threadEvents?: Readonly<Record<string, number>>;
  blobBoxCreate(): BlobBoxHandle;
  blobBoxId(box: BlobBoxHandle): number;
  /** The blob, a view of its own memory with ≥ before bytes in front and exactly `after` behind it in its ArrayBuffer. */
  blobBoxTake(box: BlobBoxHandle, before: number, after: number): Uint8Array;
  /** Frees what the box holds. */
  blobBoxDrop(box: BlobBoxHandle): void;
  /** copyWithin inside a taken blob's ArrayBuffer, giving back the pages it leaves. */
  blobBufferMoveDown(view: Uint8Array, from: number, to: number, length: number): void;
  /** Whether the view lies in a taken blob's memory. */
  blobBufferOwns(view: Uint8Array): boolean;
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
  /**
   * Encodes zTOC entry-log records (src/ztoc/encode.ts FbWriter state handed over and back; see
   * native/ztoc_encode.h). Returns an EncodeStatus.
   */
  encodeEntries(buf: Uint8Array, state: Float64Array, vtables: Float64Array, chunk: Uint8Array, cursor: Float64Array, metas: Int32Array): number;
  readonly builderInfoSlots: Readonly<Record<string, number>>;
  readonly readerInfoSlots: Readonly<Record<string, number>>;
  /** The fast engine's Huffman loop this CPU runs: "bmi2" or "generic" (absent from older builds). */
  readonly fastVariant?: string;
  /** Engine name → the number builderCreate takes. Absent from builds older than the fast engine. */
  readonly engines?: Readonly<Record<string, number>>;
  /** zlib's crc32_z on one CRC-32 engine (native/crc32.c; 'auto' is the one the fast inflater runs). Absent from older builds. */
  crc32?(buf: Uint8Array, crc: number, engine?: Crc32Choice): number;
  /** The CRC-32 engine 'auto' runs, and every engine this CPU and build have, fastest first. */
  readonly crc32Info?: Crc32Info;
}

/** CRC-32 engines of native/crc32.c: AVX-512 VPCLMULQDQ or SSE PCLMULQDQ folding, ARMv8 CRC32 instructions, Node's zlib, slicing-by-8 tables. */
export type Crc32Engine = 'vpclmul' | 'pclmul' | 'armv8' | 'zlib' | 'table';
export const CRC32_ENGINES: readonly Crc32Engine[] = ['vpclmul', 'pclmul', 'armv8', 'zlib', 'table'];
export type Crc32Choice = Crc32Engine | 'auto';
export interface Crc32Info {
  auto: Crc32Engine;
  available: Crc32Engine[];
}

/** What encodeEntries returns (native/ztoc_encode.h ZE_*). */
export const EncodeStatus = { Done: 0, NeedRoom: 1, NeedVtables: 2, OneInJs: 3, BadLog: -1 } as const;

/** Status codes returned by the addon's inflate calls. */
export const NativeStatus = { Ok: 0, DataError: -1, MemError: -2 } as const;

let cached: { addon: NativeAddon; path: string; root: string } | undefined;

/** Where the loaded addon came from (`ztoc doctor`). */
export interface NativeInfo {
  /** Absolute path of the .node file that was loaded. */
  path: string;
  /** prebuild: shipped in the package (prebuilds/<platform>-<arch>/); build: compiled here by node-gyp; other: elsewhere (ZTOC_PREBUILD). */
  origin: 'prebuild' | 'build' | 'other';
  /** The engine `auto` runs, every engine the addon has, and the version of the zlib the `node` executable exports. */
  engine: { name: Engine; available: Engine[]; zlibVersion: string; fastVariant?: string };
  /** The CRC-32 engine of the fast inflater (undefined: a build older than native/crc32.c). */
  crc32: Crc32Info | undefined;
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

function checkSlots(what: string, got: Readonly<Record<string, number>> | undefined, want: Readonly<Record<string, number>>): void {
  const same = got !== undefined && Object.keys(want).length === Object.keys(got).length && Object.entries(want).every(([k, v]) => got[k] === v);
  if (!same) throw new ZtocError('INTERNAL', `native addon ${what} slots ${JSON.stringify(got)} differ from ${JSON.stringify(want)}: rebuild it (npm ci)`);
}

export function native(): NativeAddon {
  if (cached === undefined) {
    const loaded = load();
    checkSlots('builderInflate', loaded.addon.builderInfoSlots, BuilderInfo);
    checkSlots('readerInflate', loaded.addon.readerInfoSlots, ReaderInfo);
    checkSlots('inflate thread event', loaded.addon.threadEvents, ThreadEvent);
    const crc = loaded.addon.crc32Info;
    if (crc !== undefined && !(crc.available.includes(crc.auto) && crc.available.every((e) => CRC32_ENGINES.includes(e)))) {
      throw new ZtocError('INTERNAL', `native addon crc32 engines ${JSON.stringify(crc)} are not the ones ztoc knows (${CRC32_ENGINES.join(', ')}): rebuild it (npm ci)`);
    }
    cached = loaded;
  }
  return cached.addon;
}

/** Which addon binary was loaded and which engine it runs; loads the addon if nothing has yet. */
export function nativeInfo(): NativeInfo {
  native();
  if (cached === undefined) throw new ZtocError('INTERNAL', 'native addon not loaded');
  const rel = relative(cached.root, cached.path).split(sep);
  const origin = rel[0] === 'prebuilds' ? 'prebuild' : rel[0] === 'build' ? 'build' : 'other';
  return {
    path: cached.path,
    origin,
    engine: {
      name: resolveEngine('auto'),
      available: availableEngines(),
      zlibVersion: cached.addon.zlibVersion(),
      ...(cached.addon.fastVariant === undefined ? {} : { fastVariant: cached.addon.fastVariant }),
    },
    crc32: cached.addon.crc32Info,
  };
}

/** The gzip CRC-32 of buf continuing from crc (zlib's crc32 semantics), on a chosen engine of native/crc32.c. */
export function nativeCrc32(buf: Uint8Array, crc = 0, engine: Crc32Choice = 'auto'): number {
  const n = native();
  if (n.crc32 === undefined) throw new ZtocError('INTERNAL', 'this build of the native addon has no crc32 (rebuild it: npm ci)');
  return n.crc32(buf, crc, engine);
}

/** Engines the loaded addon has. */
export function availableEngines(): Engine[] {
  const e = native().engines;
  return e === undefined ? ['zlib'] : (['fast', 'zlib'] as const).filter((k) => e[k] !== undefined);
}

/** The engine a choice runs: 'auto' is the fast engine when the addon has it, else zlib. */
export function resolveEngine(choice: EngineChoice = 'auto'): Engine {
  if (!ENGINE_CHOICES.includes(choice)) throw new ZtocError('INVALID_ARGUMENT', `unknown inflate engine ${JSON.stringify(choice)} (expected auto, fast or zlib)`);
  const have = availableEngines();
  if (choice === 'auto') return have.includes('fast') ? 'fast' : 'zlib';
  if (!have.includes(choice)) throw new ZtocError('INVALID_ARGUMENT', `inflate engine ${choice} is not in this build of the native addon (rebuild it: npm ci)`);
  return choice;
}

/** The number builderCreate takes for an engine. */
export function engineId(e: Engine): number {
  const id = native().engines?.[e] ?? (e === 'zlib' ? 0 : undefined);
  if (id === undefined) throw new ZtocError('INVALID_ARGUMENT', `inflate engine ${e} is not in this build of the native addon`);
  return id;
}
