// Owns the third stage of `indexImage`, pure: from each target's layer outcomes, the SOCI index manifest it gets
// (none when no layer has a zTOC) with the optimizations and prefetch artifacts asked for, and the blobs that must be
// in the store before that manifest is pushed; and the per-platform results reported for it.

import type { ReferrerMechanism } from '../image/store.js';
import { MediaType, type Descriptor } from '../oci/types.js';
import { buildSociIndex, type BuiltSociIndex, type SociZtocInput } from '../soci/index.js';
import { shouldDisableXattrs } from '../soci/optimizations.js';
import { planPrefetch, type PrefetchLayer, type PrefetchPlan } from '../soci/prefetch.js';
import { decodeZtoc } from '../ztoc/decode.js';
import type { Ztoc } from '../ztoc/model.js';
import type { TargetLayers } from './index-layers.js';
import type { LayerTocs } from './index-tocs.js';
import type { CachedZtoc, IndexSettings, PlatformResult, Target, ZtocOutcome, ZtocRecord } from './index-types.js';

/** A blob the push stage uploads before any index manifest. `layer` is the image layer it belongs to. */
export interface PendingBlob {
  what: 'ztoc' | 'prefetch';
  descriptor: Descriptor;
  bytes: Uint8Array;
  layer: string;
}

/** What one layer with a zTOC contributes to its target's SOCI index. */
export interface IndexEntry {
  /** The zTOC descriptor's inputs (layer, span size and per-layer options such as annotations). */
  ztoc: SociZtocInput;
  /** The zTOC blob and any other blob the entry refers to. */
  blobs: PendingBlob[];
}

export interface AssembledIndex {
  target: Target;
  sociIndex: BuiltSociIndex;
  blobs: PendingBlob[];
  /** Layers whose zTOC descriptor says disable-xattrs. */
  disableXattrs: Set<string>;
  /** With prefetch paths: the plan the index's prefetch artifacts come from. */
  prefetch?: PrefetchPlan;
}

export function ztocDescriptor(z: CachedZtoc): Descriptor {
  return { mediaType: MediaType.OctetStream, digest: z.digest, size: z.bytes.length };
}

/** The one place that decides what a layer's zTOC adds to the index. `toc` is needed only for the optimizations. */
export function indexEntry(o: ZtocOutcome, s: IndexSettings, toc?: Ztoc): IndexEntry {
  const descriptor = ztocDescriptor(o.ztoc);
  const disableXattrs = s.optimizations.includes('xattr') && shouldDisableXattrs((toc ?? decodeZtoc(o.ztoc.bytes)).entries);
  return {
    ztoc: { layer: o.layer, ztoc: descriptor, spanSize: s.spanSize, ...(disableXattrs ? { disableXattrs } : {}) },
    blobs: [{ what: 'ztoc', descriptor, bytes: o.ztoc.bytes, layer: o.layer.digest }],
  };
}

function withZtoc(t: TargetLayers): ZtocOutcome[] {
  return t.outcomes.filter((o): o is ZtocOutcome => o.kind !== 'skipped');
}

/**
 * The SOCI index of one target, or undefined when none of its layers has a zTOC (SOCI's ErrEmptyIndex). `tocs` holds
 * the TOCs of the layers without a zTOC (index-tocs.ts), which the prefetch planner needs.
 */
export function assembleIndex(t: TargetLayers, s: IndexSettings, tocs: LayerTocs = new Map()): AssembledIndex | undefined {
  const ztocOutcomes = withZtoc(t);
  if (ztocOutcomes.length === 0) return undefined;
  const needToc = s.optimizations.length > 0 || s.prefetchPaths.length > 0;
  const decoded = new Map<string, Ztoc>();
  if (needToc) for (const o of ztocOutcomes) if (!decoded.has(o.ztoc.digest)) decoded.set(o.ztoc.digest, decodeZtoc(o.ztoc.bytes));
  const entries = ztocOutcomes.map((o) => (s.optimizations.length > 0 ? indexEntry(o, s, decoded.get(o.ztoc.digest)) : indexEntry(o, s)));
  let prefetch: PrefetchPlan | undefined;
  if (s.prefetchPaths.length > 0) {
    const layers: PrefetchLayer[] = t.outcomes.map((o) => {
      if (o.kind === 'skipped') return { layer: o.layer, entries: tocs.get(o.layer.digest) };
      const z = decoded.get(o.ztoc.digest)!;
      return { layer: o.layer, entries: z.entries, ztoc: z };
    });
    prefetch = planPrefetch(layers, s.prefetchPaths);
  }
  const sociIndex = buildSociIndex({
    version: s.version,
    ztocs: entries.map((e) => e.ztoc),
    buildToolId: s.buildToolId,
    ...(prefetch !== undefined ? { prefetches: prefetch.artifacts.map((a) => a.descriptor) } : {}),
    ...(s.version === 'v1' ? { subject: t.target.descriptor } : {}),
  });
  const prefetchBlobs: PendingBlob[] = (prefetch?.artifacts ?? []).map((a) => ({ what: 'prefetch', descriptor: a.descriptor, bytes: a.bytes, layer: a.layer }));
  return {
    target: t.target,
    sociIndex,
    blobs: [...entries.flatMap((e) => e.blobs), ...prefetchBlobs],
    disableXattrs: new Set(entries.flatMap((e) => (e.ztoc.disableXattrs === true ? [e.ztoc.layer.digest] : []))),
    ...(prefetch !== undefined ? { prefetch } : {}),
  };
}

export function ztocRecord(o: ZtocOutcome): ZtocRecord {
  return {
    layer: o.layer.digest,
    layerMediaType: o.layer.mediaType,
    layerSize: o.layer.size,
    ztoc: ztocDescriptor(o.ztoc),
    spans: o.ztoc.spans,
    files: o.ztoc.files,
    seconds: o.kind === 'built' ? o.seconds : 0,
    ...(o.kind === 'built' ? { engine: o.engine } : {}),
    ...(o.kind === 'reused' ? { reused: true as const } : {}),
  };
}

/** A platform found indexed already. */
export function existingResult(target: Target, sociIndex: Descriptor): PlatformResult {
  return { platform: target.name, manifest: target.descriptor, status: 'exists', ztocs: [], skipped: [], bytesRead: 0, seconds: 0, sociIndex };
}

/** A platform built in this run; `mechanism` once its v1 index was pushed. */
export function builtResult(t: TargetLayers, index: AssembledIndex | undefined, s: IndexSettings, mechanism?: ReferrerMechanism): PlatformResult {
  const built = withZtoc(t);
  return {
    platform: t.target.name,
    manifest: t.target.descriptor,
    status: index === undefined ? 'no-ztocs' : s.dryRun ? 'dry-run' : 'indexed',
    ztocs: built.map((o) => ({ ...ztocRecord(o), ...(index?.disableXattrs.has(o.layer.digest) ? { disableXattrs: true as const } : {}) })),
    skipped: t.outcomes.flatMap((o) => (o.kind === 'skipped' ? [o.skip] : [])),
    bytesRead: built.reduce((n, o) => n + (o.kind === 'built' ? o.compressedSize : 0), 0),
    seconds: t.seconds,
    ...(index !== undefined ? { sociIndex: index.sociIndex.descriptor } : {}),
    ...(mechanism !== undefined ? { mechanism } : {}),
    ...(index?.prefetch !== undefined
      ? { prefetch: { artifacts: index.prefetch.artifacts.map((a) => a.descriptor), files: index.prefetch.files, missed: index.prefetch.missed } }
      : {}),
  };
}
