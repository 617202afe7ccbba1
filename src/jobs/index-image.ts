// Owns `ztoc index`: resolve an image, choose its platforms, build a zTOC for every large enough layer straight from
// the store (one read per layer, layers in parallel, each inflating on a thread of its own), then push blobs first and each SOCI index
// last, only once every layer checked out. The image itself is never changed (v1: a referrer with `subject`; v2: a
// new index under another tag). The work runs in four stages, one module each: plan targets (index-targets.ts) →
// build layers (index-layers.ts) → assemble indexes (index-assemble.ts) → push (index-push.ts).

import { availableParallelism } from 'node:os';
import { ZtocError } from '../errors.js';
import type { ImageStore } from '../image/store.js';
import { DEFAULT_BUILD_TOOL_ID } from '../ztoc/build.js';
import { DEFAULT_SPAN_SIZE } from '../ztoc/model.js';
import { assembleIndex, builtResult, existingResult, type AssembledIndex } from './index-assemble.js';
import { buildLayers } from './index-layers.js';
import { pushIndexes, type Pushed } from './index-push.js';
import { alreadyPushed, planTargets } from './index-targets.js';
import { layerTocs } from './index-tocs.js';
import { checkConcurrency } from './limit.js';
import { DEFAULT_MIN_LAYER_SIZE, type IndexOptions, type IndexResult, type IndexSettings } from './index-types.js';

export { findExistingIndex } from './index-targets.js';
export { layerSkip } from './index-layers.js';
export * from './index-types.js';

/** IndexOptions with defaults applied, checked before anything is read. */
export function settingsOf(opts: IndexOptions): IndexSettings {
  const s: IndexSettings = {
    spanSize: opts.spanSize ?? DEFAULT_SPAN_SIZE,
    minLayerSize: opts.minLayerSize ?? DEFAULT_MIN_LAYER_SIZE,
    version: opts.indexVersion ?? 'v1',
    buildToolId: opts.buildToolId ?? DEFAULT_BUILD_TOOL_ID,
    optimizations: opts.optimizations ?? [],
    prefetchPaths: opts.prefetchPaths ?? [],
    tag: opts.tag === '' ? undefined : opts.tag,
    force: Boolean(opts.force),
    dryRun: Boolean(opts.dryRun),
    concurrency: checkConcurrency(opts.concurrency ?? availableParallelism()),
    platforms: opts.platforms,
    pool: opts.pool,
    engine: opts.engine,
    cache: opts.ztocCache,
    signal: opts.signal,
    emit: opts.onEvent ?? (() => {}),
  };
  if (s.version === 'v2' && s.tag === undefined && !s.dryRun) {
    throw new ZtocError('INVALID_ARGUMENT', 'a SOCI index v2 needs a tag: the SOCI-enabled image index is pushed under a new tag');
  }
  if (!Number.isSafeInteger(s.spanSize) || s.spanSize <= 0) throw new ZtocError('INVALID_ARGUMENT', `invalid span size ${s.spanSize}`);
  if (!Number.isSafeInteger(s.minLayerSize) || s.minLayerSize < 0) throw new ZtocError('INVALID_ARGUMENT', `min layer size must be >= 0, got ${s.minLayerSize}`);
  return s;
}

export async function indexImage(store: ImageStore, reference: string | undefined, opts: IndexOptions = {}): Promise<IndexResult> {
  const t0 = performance.now();
  const s = settingsOf(opts);
  const plan = await planTargets(store, reference, s);
  const layers = await buildLayers(store, plan.targets.filter((t) => !plan.existing.has(t.descriptor.digest)), s);
  const tocs = await layerTocs(store, layers, s);
  const indexes = layers.map((t) => assembleIndex(t, s, tocs));
  for (const i of indexes) if (i !== undefined) for (const m of i.prefetch?.missed ?? []) s.emit({ type: 'prefetch-miss', platform: i.target.name, path: m.path, reason: m.reason });
  const identical = await alreadyPushed(store, indexes, s);
  const toPush = indexes.filter((i): i is AssembledIndex => i !== undefined && !identical.has(i.target.descriptor.digest));
  const pushed: Pushed = s.dryRun || toPush.length === 0 ? { mechanisms: new Map() } : await pushIndexes(store, plan.root, plan.targets, toPush, s);
  const built = layers.map((t, i) => {
    const r = builtResult(t, indexes[i], s, pushed.mechanisms.get(t.target.descriptor.digest));
    return identical.has(t.target.descriptor.digest) ? { ...r, status: 'exists' as const } : r;
  });
  // Results in target order: found-existing ones in place, built ones in the order they were built.
  const platforms = plan.targets.map((t) => {
    const existing = plan.existing.get(t.descriptor.digest);
    return existing !== undefined ? existingResult(t, existing) : built.shift()!;
  });
  return {
    image: plan.image,
    digest: plan.root.descriptor.digest,
    mediaType: plan.root.descriptor.mediaType,
    version: s.version,
    platforms,
    seconds: (performance.now() - t0) / 1000,
    ...(pushed.v2Index !== undefined ? { v2Index: pushed.v2Index } : {}),
  };
}
