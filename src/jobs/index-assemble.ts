// Owns the third stage of `indexImage`, pure: from each target's layer outcomes, the SOCI index manifest it gets
// (none when no layer has a zTOC) and the blobs that must be in the store before that manifest is pushed; and the
// per-platform results reported for it.

import type { ReferrerMechanism } from '../image/store.js';
import { MediaType, type Descriptor } from '../oci/types.js';
import { buildSociIndex, type BuiltSociIndex, type SociZtocInput } from '../soci/index.js';
import type { TargetLayers } from './index-layers.js';
import type { CachedZtoc, IndexSettings, PlatformResult, Target, ZtocOutcome, ZtocRecord } from './index-types.js';

/** A blob the push stage uploads before any index manifest. `layer` is the image layer it belongs to. */
export interface PendingBlob {
  what: 'ztoc';
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
}

export function ztocDescriptor(z: CachedZtoc): Descriptor {
  return { mediaType: MediaType.OctetStream, digest: z.digest, size: z.bytes.length };
}

/** The one place that decides what a layer's zTOC adds to the index. */
export function indexEntry(o: ZtocOutcome, s: IndexSettings): IndexEntry {
  const descriptor = ztocDescriptor(o.ztoc);
  return {
    ztoc: { layer: o.layer, ztoc: descriptor, spanSize: s.spanSize },
    blobs: [{ what: 'ztoc', descriptor, bytes: o.ztoc.bytes, layer: o.layer.digest }],
  };
}

function withZtoc(t: TargetLayers): ZtocOutcome[] {
  return t.outcomes.filter((o): o is ZtocOutcome => o.kind !== 'skipped');
}

/** The SOCI index of one target, or undefined when none of its layers has a zTOC (SOCI's ErrEmptyIndex). */
export function assembleIndex(t: TargetLayers, s: IndexSettings): AssembledIndex | undefined {
  const entries = withZtoc(t).map((o) => indexEntry(o, s));
  if (entries.length === 0) return undefined;
  const sociIndex = buildSociIndex({
    version: s.version,
    ztocs: entries.map((e) => e.ztoc),
    buildToolId: s.buildToolId,
    ...(s.version === 'v1' ? { subject: t.target.descriptor } : {}),
  });
  return { target: t.target, sociIndex, blobs: entries.flatMap((e) => e.blobs) };
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
    ztocs: built.map(ztocRecord),
    skipped: t.outcomes.flatMap((o) => (o.kind === 'skipped' ? [o.skip] : [])),
    bytesRead: built.reduce((n, o) => n + (o.kind === 'built' ? o.compressedSize : 0), 0),
    seconds: t.seconds,
    ...(index !== undefined ? { sociIndex: index.sociIndex.descriptor } : {}),
    ...(mechanism !== undefined ? { mechanism } : {}),
  };
}
