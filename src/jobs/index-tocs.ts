// Owns the step of `indexImage` between building and assembling, needed only with prefetch files: the TOC of every
// layer that got no zTOC (below --min-layer-size or skipped), so that the prefetch planner sees the whole overlay
// (a small upper layer can hold or hide a file). These layers are small; each is read once, a few at a time.

import type { ImageStore } from '../image/store.js';
import type { TocEntry } from '../tar/types.js';
import type { TargetLayers } from './index-layers.js';
import type { IndexSettings } from './index-types.js';
import { tryScanLayerToc } from './layer-toc.js';
import { limiter, settleAll } from './limit.js';

const SCANS_AT_ONCE = 4;

/** Layer digest → its TOC, or undefined when it can't be read (zstd, not a tar): the planner searches no further. */
export type LayerTocs = ReadonlyMap<string, readonly TocEntry[] | undefined>;

export async function layerTocs(store: ImageStore, layers: readonly TargetLayers[], s: IndexSettings): Promise<LayerTocs> {
  const out = new Map<string, readonly TocEntry[] | undefined>();
  if (s.prefetchPaths.length === 0) return out;
  const limit = limiter(SCANS_AT_ONCE);
  const scans = new Map<string, Promise<void>>();
  for (const t of layers) {
    for (const o of t.outcomes) {
      if (o.kind !== 'skipped' || scans.has(o.layer.digest)) continue;
      const layer = o.layer;
      scans.set(
        layer.digest,
        limit(async () => {
          s.signal?.throwIfAborted();
          out.set(layer.digest, await tryScanLayerToc(store, layer));
        }),
      );
    }
  }
  await settleAll([...scans.values()]); // a failed scan is thrown once the others have ended
  return out;
}
