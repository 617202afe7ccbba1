// Owns the vocabulary of `indexImage` shared by its stages (index-targets, index-layers, index-push) and its callers:
// options, events, results, the zTOC cache contract, the per-layer outcome, and the resolved settings of one run.

import type { ReferrerMechanism } from '../image/store.js';
import type { Descriptor, Platform } from '../oci/types.js';
import type { SociIndexVersion } from '../soci/index.js';
import type { Optimization } from '../soci/optimizations.js';
import type { PrefetchFile, PrefetchMiss } from '../soci/prefetch.js';
import type { PlatformManifest } from './platforms.js';
import type { InflatePool } from '../ztoc/pool.js';
import type { BuildPriority } from '../ztoc/build.js';
import type { Engine, EngineChoice } from '../inflate/native.js';

export { DEFAULT_MIN_LAYER_SIZE } from './defaults.js';

export interface IndexOptions {
  /** Platforms to index; 'all' = every runnable platform. Default: all except attestations. */
  platforms?: Platform[] | 'all';
  spanSize?: number;
  minLayerSize?: number;
  /** Layers built at once (default: cores). */
  concurrency?: number;
  indexVersion?: SociIndexVersion;
  /** v2: the tag the SOCI-enabled image index is pushed under. */
  tag?: string;
  force?: boolean;
  dryRun?: boolean;
  buildToolId?: string;
  /** SOCI `--optimizations`: `xattr` marks layers without xattrs or opaque whiteouts `disable-xattrs`. */
  optimizations?: readonly Optimization[];
  /** SOCI `--prefetch-file`: files whose spans get a prefetch artifact in the layer where they are visible. */
  prefetchPaths?: readonly string[];
  pool?: InflatePool;
  /** Inflate engine for the zTOC builds (default 'auto'). */
  engine?: EngineChoice;
  /** zTOCs shared with other indexImage calls (a registry backfill): built once, pushed by mount where possible. */
  ztocCache?: ZtocCache;
  onEvent?: (e: IndexEvent) => void;
  signal?: AbortSignal;
}

export type IndexEvent =
  | { type: 'resolved'; image: string; digest: string; platforms: string[] }
  | { type: 'exists'; platform: string; index: string }
  /** priority: 'background' when the build runs beside a larger one (index-layers.ts BuildPlacer). */
  | { type: 'layer-start'; platform: string; layer: string; size: number; priority: BuildPriority }
  | { type: 'layer-progress'; layer: string; bytes: number; size: number }
  | { type: 'layer-done'; platform: string; layer: string; ztoc: string; seconds: number; size: number }
  | { type: 'layer-skipped'; platform: string; layer: string; reason: string; code: LayerSkipCode }
  | { type: 'layer-reused'; platform: string; layer: string; ztoc: string }
  | { type: 'prefetch-miss'; platform: string; path: string; reason: string }
  | { type: 'push'; what: PushedItem; digest: string; result: string };

/** What a push event pushed: a blob (zTOC, prefetch artifact, the empty config) or a manifest (v2 also rewrites the image's). */
export type PushedItem = 'ztoc' | 'prefetch' | 'config' | 'soci-index' | 'image-manifest' | 'image-index';

export interface ZtocRecord {
  layer: string;
  layerMediaType: string;
  layerSize: number;
  ztoc: Descriptor;
  spans: number;
  files: number;
  seconds: number;
  /** The inflate engine that built it (absent when reused). */
  engine?: Engine | 'none';
  /** Taken from IndexOptions.ztocCache instead of being built (the layer was not read). */
  reused?: true;
  /** The descriptor says `com.amazon.soci.disable-xattrs: "true"` (optimization `xattr`). */
  disableXattrs?: true;
}

/** What identifies a zTOC regardless of the image: the same layer, span size and build tool give the same bytes. */
export interface ZtocCacheKey {
  layer: string;
  spanSize: number;
  buildToolId: string;
}

export interface CachedZtoc {
  digest: string;
  bytes: Uint8Array;
  spans: number;
  files: number;
}

/**
 * zTOCs shared between indexImage calls. `get` returns a zTOC built earlier, or undefined: the caller then builds
 * the layer and must call `put` with the zTOC, or with undefined when it could not build one (an implementation may
 * make concurrent callers of one key wait for that put, so that each layer is built once). At push time `mountFrom`
 * names a repository of the same registry that already holds the blob, to push it by cross-repository mount (it may
 * wait for another caller's push of the same blob); `stored` is then called once the push is over (ok = the blob is
 * now in the repository of the image being indexed).
 */
export interface ZtocCache {
  get(key: ZtocCacheKey): Promise<CachedZtoc | undefined>;
  put(key: ZtocCacheKey, ztoc: CachedZtoc | undefined): void | Promise<void>;
  mountFrom?(key: ZtocCacheKey): string | undefined | Promise<string | undefined>;
  stored?(key: ZtocCacheKey, ok: boolean): void;
}

/**
 * Why a layer got no zTOC. The first four are decided from the descriptor alone; the last two are build errors that
 * mean "SOCI can't index this layer" (the image is still indexed without it). Anything else fails the image.
 */
export type LayerSkipCode =
  | 'LAYER_PREFETCH_ARTIFACT'
  | 'LAYER_ZSTD'
  | 'LAYER_MEDIA_TYPE'
  | 'LAYER_BELOW_MIN_SIZE'
  | 'TAR_UNSUPPORTED_ENTRY'
  | 'LAYER_UNSUPPORTED';

export interface SkippedLayer {
  layer: string;
  size: number;
  code: LayerSkipCode;
  reason: string;
}

export type PlatformStatus = 'indexed' | 'exists' | 'no-ztocs' | 'dry-run';

export interface PlatformResult {
  platform: string;
  manifest: Descriptor;
  status: PlatformStatus;
  /** The SOCI index manifest (pushed, found existing, or would be pushed with --dry-run). */
  sociIndex?: Descriptor;
  mechanism?: ReferrerMechanism;
  ztocs: ZtocRecord[];
  skipped: SkippedLayer[];
  /** With prefetchPaths: the prefetch artifacts in the index, the files they cover and the paths left out. */
  prefetch?: PrefetchResult;
  bytesRead: number;
  seconds: number;
}

export interface PrefetchResult {
  artifacts: Descriptor[];
  files: PrefetchFile[];
  missed: PrefetchMiss[];
}

export interface IndexResult {
  image: string;
  digest: string;
  mediaType: string;
  version: SociIndexVersion;
  platforms: PlatformResult[];
  /** v2: the SOCI-enabled image index pushed under `tag`. */
  v2Index?: { tag: string; descriptor: Descriptor };
  seconds: number;
}

/** One platform manifest of the image, chosen to be indexed. */
export interface Target extends PlatformManifest {
  /** formatPlatform(platform), as events and results name it. */
  name: string;
}

/** What happened to one layer of a target. A layer shared by several targets has one outcome, reused by each. */
export type LayerOutcome =
  | { kind: 'skipped'; layer: Descriptor; skip: SkippedLayer }
  /** Built here: the layer was read (compressedSize bytes). */
  | { kind: 'built'; layer: Descriptor; ztoc: CachedZtoc; compressedSize: number; seconds: number; engine: Engine | 'none' }
  /** Taken from IndexOptions.ztocCache: the layer was not read. */
  | { kind: 'reused'; layer: Descriptor; ztoc: CachedZtoc };

export type ZtocOutcome = Exclude<LayerOutcome, { kind: 'skipped' }>;

/** IndexOptions with defaults applied and checked: what every stage reads. */
export interface IndexSettings {
  spanSize: number;
  minLayerSize: number;
  version: SociIndexVersion;
  buildToolId: string;
  optimizations: readonly Optimization[];
  prefetchPaths: readonly string[];
  /** v2 only; undefined on a v2 dry run without a tag. */
  tag: string | undefined;
  force: boolean;
  dryRun: boolean;
  concurrency: number;
  platforms: Platform[] | 'all' | undefined;
  pool: InflatePool | undefined;
  engine: EngineChoice | undefined;
  cache: ZtocCache | undefined;
  signal: AbortSignal | undefined;
  emit: (e: IndexEvent) => void;
}
