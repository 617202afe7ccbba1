// Owns SOCI prefetch artifacts (`soci create --prefetch-file`, soci/prefetch.go, docs/prefetch.md): for each file
// to prefetch, the layer where the file is visible (topmost layer wins, whiteouts hide, src/oci/overlay.ts) and
// the spans of that layer's zTOC that hold it; per layer, the sorted and merged span ranges as an
// `application/vnd.amazon.soci.prefetch.v1+json` blob (Go-canonical, as SOCI's MarshalPrefetchArtifact writes it)
// and its descriptor in the SOCI index; and reading such a blob back. Pure: callers bring the TOC entries.

import { ZtocError } from '../errors.js';
import { sha256Digest } from '../oci/digest.js';
import { lookupInLayer } from '../oci/overlay.js';
import { MediaType, type Descriptor } from '../oci/types.js';
import { byteString, utf8 } from '../tar/bytes.js';
import type { TocEntry } from '../tar/types.js';
import { cleanName, spanTable } from '../ztoc/extract.js';
import { spanForOffset } from '../inflate/zinfo.js';
import type { Ztoc } from '../ztoc/model.js';
import { ANNOTATION_IMAGE_LAYER_DIGEST } from './index.js';
import { decodeUtf8Go, marshalPrefetchArtifact, type PrefetchSpanJson } from '../oci/gojson.js';

/** SOCI's PrefetchArtifactVersion; the snapshotter rejects any other. */
export const PREFETCH_ARTIFACT_VERSION = '1.0';
/** Prefetch blobs are tiny; refuse anything absurd when reading one. */
export const MAX_PREFETCH_BYTES = 4 * 1024 * 1024;
/** Symlink hops followed when resolving a prefetch path (Linux's MAXSYMLINKS). */
const MAX_SYMLINK_HOPS = 40;

/** An inclusive range of span IDs of one zTOC. */
export interface SpanRange {
  start: number;
  end: number;
}

/** One layer of the image as the planner sees it, in image order (bottom first). */
export interface PrefetchLayer {
  layer: Descriptor;
  /** The layer's TOC; undefined when it could not be read (e.g. zstd): it is then searched no further. */
  entries: readonly TocEntry[] | undefined;
  /** The zTOC built for the layer; undefined when the layer has none (below --min-layer-size, skipped). */
  ztoc?: Ztoc;
}

/** Where one requested path was found, and the spans that hold it. */
export interface PrefetchFile {
  path: string;
  layer: string;
  spans: SpanRange;
}

/** A requested path that gets no prefetch spans, and why. */
export interface PrefetchMiss {
  path: string;
  reason: string;
}

export interface PrefetchArtifact {
  /** The image layer (its zTOC) the spans refer to. */
  layer: string;
  spans: SpanRange[];
  bytes: Buffer;
  descriptor: Descriptor;
}

export interface PrefetchPlan {
  /** One artifact per layer that holds a prefetched file, in image-layer order. */
  artifacts: PrefetchArtifact[];
  files: PrefetchFile[];
  missed: PrefetchMiss[];
}

/**
 * The spans holding `entry`'s data, the way SOCI's ExtractFile picks them: from the span of the first byte to the
 * span of `offset + size` (so a file ending exactly at a span boundary takes the next span too, as the
 * snapshotter's read does). Undefined for an empty file: there is nothing to fetch.
 */
export function fileSpans(ztoc: Ztoc, entry: TocEntry): SpanRange | undefined {
  if (entry.size <= 0) return undefined;
  const outs = spanTable(ztoc).map((s) => ({ out: s.uncompressedStart }));
  if (outs.length === 0) throw new ZtocError('ZTOC_INVALID', 'zTOC has no spans');
  return { start: spanForOffset(outs, entry.offset), end: spanForOffset(outs, entry.offset + entry.size) };
}

/** Sorted by start, overlapping and adjacent ranges merged: the form the snapshotter would merge them into anyway. */
export function normalizeSpans(ranges: readonly SpanRange[]): SpanRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: SpanRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** The artifact blob and its descriptor in the SOCI index (annotated with the image layer digest). */
export function prefetchArtifact(layer: string, spans: readonly SpanRange[]): PrefetchArtifact {
  if (spans.length === 0) throw new ZtocError('INVALID_ARGUMENT', 'a prefetch artifact needs at least one span (SOCI ErrEmptyPrefetchArtifact)');
  const json: PrefetchSpanJson[] = spans.map((s) => ({ startSpan: s.start, endSpan: s.end }));
  const bytes = marshalPrefetchArtifact({ version: PREFETCH_ARTIFACT_VERSION, prefetchSpans: json });
  return {
    layer,
    spans: spans.map((s) => ({ ...s })),
    bytes,
    descriptor: { mediaType: MediaType.SociPrefetch, digest: sha256Digest(bytes), size: bytes.length, annotations: { [ANNOTATION_IMAGE_LAYER_DIGEST]: layer } },
  };
}

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/**
 * Plans the prefetch artifacts of one platform: each path (UTF-8, with or without a leading `/`) is looked up from
 * the top layer down; the first layer that holds it wins and a whiteout stops the search. Hardlinks take their
 * target's bytes, symlinks are followed through the whole image. A file in a layer without a zTOC is not
 * prefetched (the snapshotter fetches such a layer whole), nor is an empty file, a directory or a missing path:
 * those are reported in `missed`.
 */
export function planPrefetch(layers: readonly PrefetchLayer[], paths: readonly string[]): PrefetchPlan {
  const files: PrefetchFile[] = [];
  const missed: PrefetchMiss[] = [];
  const byLayer = new Map<string, SpanRange[]>();
  for (const path of paths) {
    let want = cleanName(byteString(path));
    let outcome: PrefetchFile | PrefetchMiss | undefined;
    for (let hop = 0; outcome === undefined; hop++) {
      if (hop > MAX_SYMLINK_HOPS) {
        outcome = { path, reason: 'too many levels of symbolic links' };
        break;
      }
      let next: string | undefined;
      for (let i = layers.length - 1; i >= 0 && outcome === undefined && next === undefined; i--) {
        const l = layers[i]!;
        if (l.entries === undefined) {
          outcome = { path, reason: `layer ${l.layer.digest} (${l.layer.mediaType}) could not be searched` };
          break;
        }
        const look = lookupInLayer(l.entries, want);
        if (look.kind === 'hidden') {
          outcome = { path, reason: `hidden by a whiteout in layer ${l.layer.digest}` };
        } else if (look.kind === 'found') {
          const e = look.data;
          if (e.type === 'symlink') {
            next = cleanName(e.linkname.startsWith('/') ? e.linkname : `${dirOf(want)}/${e.linkname}`);
          } else if (e.type !== 'reg') {
            outcome = { path, reason: `is a ${e.type === 'hardlink' ? 'hardlink to a missing file' : e.type}, not a regular file` };
          } else if (l.ztoc === undefined) {
            outcome = { path, reason: `is in layer ${l.layer.digest}, which has no zTOC (the snapshotter fetches that layer whole)` };
          } else {
            const spans = fileSpans(l.ztoc, e);
            outcome = spans === undefined ? { path, reason: 'is empty' } : { path, layer: l.layer.digest, spans };
          }
        }
      }
      if (next !== undefined) want = next;
      else if (outcome === undefined) outcome = { path, reason: hop === 0 ? 'no such file in the image' : `dangling symbolic link (to /${utf8(want)})` };
    }
    if ('spans' in outcome) {
      files.push(outcome);
      const list = byLayer.get(outcome.layer) ?? [];
      list.push(outcome.spans);
      byLayer.set(outcome.layer, list);
    } else {
      missed.push(outcome);
    }
  }
  const artifacts: PrefetchArtifact[] = [];
  for (const l of layers) {
    const ranges = byLayer.get(l.layer.digest);
    if (ranges !== undefined) artifacts.push(prefetchArtifact(l.layer.digest, normalizeSpans(ranges)));
    byLayer.delete(l.layer.digest); // a layer listed twice in the image gets one artifact
  }
  return { artifacts, files, missed };
}

export interface ParsedPrefetchArtifact {
  version: string;
  spans: Array<SpanRange & { priority: number }>;
  /** The bytes are exactly what SOCI's MarshalPrefetchArtifact would write for the same values. */
  canonical: boolean;
}

/** Reads a prefetch artifact as SOCI's UnmarshalPrefetchArtifact does: version 1.0, at least one span. */
export function parsePrefetchArtifact(bytes: Uint8Array): ParsedPrefetchArtifact {
  let doc: unknown;
  try {
    doc = JSON.parse(decodeUtf8Go(bytes));
  } catch (err) {
    throw new ZtocError('MANIFEST_INVALID', `prefetch artifact is not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ZtocError('MANIFEST_INVALID', 'prefetch artifact is not a JSON object');
  const o = doc as Record<string, unknown>;
  if (o['version'] !== PREFETCH_ARTIFACT_VERSION) {
    throw new ZtocError('MANIFEST_INVALID', `unsupported prefetch artifact version: ${String(o['version'])} (expected ${PREFETCH_ARTIFACT_VERSION})`);
  }
  const raw = o['prefetch_spans'];
  if (!Array.isArray(raw) || raw.length === 0) throw new ZtocError('MANIFEST_INVALID', 'prefetch artifact is empty');
  const spans = raw.map((s: unknown, i) => {
    const r = (typeof s === 'object' && s !== null ? s : {}) as Record<string, unknown>;
    const int = (k: string): number => {
      const v = r[k] ?? 0;
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ZtocError('MANIFEST_INVALID', `prefetch_spans[${i}].${k} is not an integer`);
      return v;
    };
    return { start: int('start_span'), end: int('end_span'), priority: int('priority') };
  });
  const again = marshalPrefetchArtifact({ version: PREFETCH_ARTIFACT_VERSION, prefetchSpans: spans.map((s) => ({ startSpan: s.start, endSpan: s.end, priority: s.priority })) });
  return { version: PREFETCH_ARTIFACT_VERSION, spans, canonical: Buffer.from(bytes).equals(again) };
}

/** Paths from `--prefetch-file` values and a `--prefetch-files-json` array, trimmed, blanks dropped (SOCI's rules). */
export function prefetchPathsFrom(files: readonly string[], jsonText?: string, jsonName = 'prefetch files JSON'): string[] {
  const out = files.map((f) => f.trim()).filter((f) => f !== '');
  if (jsonText !== undefined) {
    let list: unknown;
    try {
      list = JSON.parse(jsonText);
    } catch (err) {
      throw new ZtocError('INVALID_ARGUMENT', `${jsonName}: not JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
      throw new ZtocError('INVALID_ARGUMENT', `${jsonName}: expected a JSON array of strings`);
    }
    out.push(...list.map((f) => f.trim()).filter((f) => f !== ''));
  }
  return out;
}
