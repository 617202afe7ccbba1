// ztoc's library API: everything the CLI uses, for programs that embed ztoc.

export { ZtocError, isZtocError, type ZtocErrorCode } from './errors.js';
export { VERSION } from './version.js';
// zTOC format, build and read
export { buildZtoc, sniffKind, DEFAULT_BUILD_TOOL_ID, type BuildOptions, type BuildPriority, type BuildResult } from './ztoc/build.js';
export { encodeZtoc, encodeTarZinfo } from './ztoc/encode.js';
export { decodeZtoc, decodeTarZinfo } from './ztoc/decode.js';
export { extractFile, extractRange, findEntry, cleanName, spanTable, readSpan, fileRangeReader, collect, type RangeReader } from './ztoc/extract.js';
export { verifyZtoc, type VerifyReport } from './ztoc/verify.js';
export { ztocInfo, type ZtocInfo } from './ztoc/info.js';
export { readFileChunks } from './ztoc/source.js';
export { InflatePool, WorkerPool, sharedPool } from './ztoc/pool.js';
export { DEFAULT_SPAN_SIZE, SOCI_BUILD_TOOL_ID, ZTOC_VERSION, type Ztoc } from './ztoc/model.js';
export { decodeZinfo, gzipSpans, spanForOffset, type Checkpoint } from './inflate/zinfo.js';
export { TarScanner, utf8, byteString, type TocEntry, type ByteString } from './tar/scanner.js';
// SOCI indexes and OCI
export * from './soci/index.js';
export { convertToSociV2Index } from './soci/convert.js';
export { marshalManifest, marshalIndex, marshalDescriptor, goJsonString } from './oci/gojson.js';
export * from './oci/types.js';
export { parseReference, formatReference, type ImageReference } from './oci/reference.js';
export { parsePlatform, formatPlatform, hostPlatform, matchPlatform } from './oci/platform.js';
export { parseManifestOrIndex } from './oci/validate.js';
// Image stores and jobs
export { Repository, RegistryClient, createCredentialLookup, type RepositoryOptions } from './registry/index.js';
export { OciLayout } from './layout/index.js';
export type { ImageStore, ReferrerRemoval } from './image/store.js';
export { LayoutStore } from './image/layout-store.js';
export { RegistryStore } from './image/registry-store.js';
export { openImage } from './image/open.js';
export { indexImage, findExistingIndex, DEFAULT_MIN_LAYER_SIZE, type IndexOptions, type IndexResult, type IndexEvent, type ZtocCache, type ZtocCacheKey, type CachedZtoc } from './jobs/index-image.js';
export { backfill, BackfillProgress, type BackfillOptions, type BackfillReport, type ImageRecord } from './jobs/backfill.js';
export { ZtocStore } from './jobs/backfill-cache.js';
export { ThrottledClient } from './jobs/backfill-rate.js';
export { getFileFromImage, verifyImage, findSociIndexes } from './jobs/inspect.js';
export { removeSociIndexes, pruneIndexes, staleIndexes, type RemoveOptions, type RemoveResult, type RemovedIndex } from './jobs/remove.js';
export { parseOptimizations, shouldDisableXattrs, type Optimization } from './soci/optimizations.js';
export { planPrefetch, prefetchArtifact, parsePrefetchArtifact, fileSpans, prefetchPathsFrom, type PrefetchPlan } from './soci/prefetch.js';
export { platformManifests, type PlatformManifest } from './jobs/platforms.js';
