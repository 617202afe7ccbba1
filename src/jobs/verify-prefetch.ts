// Owns the prefetch part of `ztoc verify`: every prefetch artifact of a SOCI index reads back as SOCI reads it
// (version 1.0, spans, Go-canonical bytes), names a layer that has a zTOC in the same index, stays inside that
// zTOC's spans; and, for the files named with --prefetch-file, the spans that hold each one (in the layer where it
// is visible) are all covered by that layer's artifact.

import { ZtocError } from '../errors.js';
import type { ImageStore } from '../image/store.js';
import type { Descriptor, ImageManifest } from '../oci/types.js';
import { ANNOTATION_IMAGE_LAYER_DIGEST, type SociIndexInfo } from '../soci/index.js';
import { MAX_PREFETCH_BYTES, parsePrefetchArtifact, planPrefetch, type PrefetchLayer, type PrefetchMiss, type SpanRange } from '../soci/prefetch.js';
import type { Ztoc } from '../ztoc/model.js';
import { tryScanLayerToc } from './layer-toc.js';

export interface PrefetchCheck {
  index: string;
  /** Prefetch artifacts checked, with their span counts. */
  artifacts: Array<{ digest: string; layer: string; spans: number }>;
  /** Named files covered, and where. */
  covered: Array<{ path: string; layer: string; spans: SpanRange }>;
  /** Named files that need no prefetch (in a layer without a zTOC, empty, missing…), with the reason. */
  missed: PrefetchMiss[];
}

/**
 * Checks the prefetch artifacts of one SOCI index of `manifest`. `ztoc` fetches a zTOC by layer digest (undefined for
 * layers without one). Throws ZTOC_MISMATCH on the first artifact or file that does not check out.
 */
export async function verifyPrefetch(
  store: ImageStore,
  manifest: ImageManifest,
  index: { descriptor: Descriptor; info: SociIndexInfo },
  ztoc: (layer: string) => Promise<Ztoc | undefined>,
  paths: readonly string[],
): Promise<PrefetchCheck> {
  const where = `SOCI index ${index.descriptor.digest}`;
  const byLayer = new Map<string, SpanRange[]>();
  const artifacts: PrefetchCheck['artifacts'] = [];
  for (const d of index.info.prefetches) {
    const layer = d.annotations?.[ANNOTATION_IMAGE_LAYER_DIGEST];
    if (layer === undefined || !index.info.ztocByLayer.has(layer)) {
      throw new ZtocError('ZTOC_MISMATCH', `${where}: prefetch artifact ${d.digest} names layer ${layer ?? '(none)'}, which has no zTOC in the index`);
    }
    const a = parsePrefetchArtifact(await store.fetchBlob(d, MAX_PREFETCH_BYTES));
    if (!a.canonical) throw new ZtocError('ZTOC_MISMATCH', `${where}: prefetch artifact ${d.digest} is not in the form SOCI writes (Go-canonical JSON)`);
    const z = (await ztoc(layer))!;
    for (const s of a.spans) {
      if (s.start < 0 || s.end < s.start || s.end > z.maxSpanId) {
        throw new ZtocError('ZTOC_MISMATCH', `${where}: prefetch artifact ${d.digest} has spans ${s.start}-${s.end}; the zTOC of ${layer} has spans 0-${z.maxSpanId}`, { layer });
      }
    }
    byLayer.set(layer, [...(byLayer.get(layer) ?? []), ...a.spans]);
    artifacts.push({ digest: d.digest, layer, spans: a.spans.length });
  }
  const check: PrefetchCheck = { index: index.descriptor.digest, artifacts, covered: [], missed: [] };
  if (paths.length === 0) return check;
  const layers: PrefetchLayer[] = [];
  for (const l of manifest.layers) {
    const z = index.info.ztocByLayer.has(l.digest) ? await ztoc(l.digest) : undefined;
    if (z !== undefined) layers.push({ layer: l, entries: z.entries, ztoc: z });
    else layers.push({ layer: l, entries: await tryScanLayerToc(store, l) });
  }
  const plan = planPrefetch(layers, paths);
  for (const f of plan.files) {
    const have = byLayer.get(f.layer) ?? [];
    for (let span = f.spans.start; span <= f.spans.end; span++) {
      if (!have.some((r) => r.start <= span && span <= r.end)) {
        throw new ZtocError('ZTOC_MISMATCH', `${where}: ${f.path} needs span ${span} of layer ${f.layer} (spans ${f.spans.start}-${f.spans.end}), which no prefetch artifact covers`, { layer: f.layer });
      }
    }
    check.covered.push(f);
  }
  check.missed = plan.missed;
  return check;
}
