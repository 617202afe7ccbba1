// Owns the jobs' default settings, in a module that loads nothing else, so the CLI can show them in
// its help without loading the jobs themselves (fast start, issue 12).

/** Layers smaller than this get no zTOC (SOCI's default). */
export const DEFAULT_MIN_LAYER_SIZE = 10 * 1024 * 1024;
/** v2 backfill: the SOCI-enabled index of repo:tag is pushed as repo:<tag><suffix>. */
export const DEFAULT_V2_TAG_SUFFIX = '-soci';
/** Bounds of backfill's zTOC cache, in memory and with a cache directory. */
export const DEFAULT_MEMORY_CACHE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_DISK_CACHE_BYTES = 2 * 1024 * 1024 * 1024;
