// Owns `ztoc index`: resolve an image, choose its platforms, build a zTOC for every large enough
// layer straight from the store (one read per layer, layers in parallel over worker threads),
// then push blobs first and each SOCI index last, only once every layer checked out. The image
// itself is never changed (v1: a referrer with `subject`; v2: a new index under another tag).

import { availableParallelism } from 'node:os';
import { ZtocError } from '../errors.js';
import type { FetchedDocument, ImageStore, ReferrerMechanism } from '../image/store.js';
import { formatPlatform, matchPlatform, selectManifests } from '../oci/platform.js';
import { layerCompression, MediaType, type Descriptor, type ImageManifest, type Platform } from '../oci/types.js';
import {
  EMPTY_CONFIG_BYTES,
  EMPTY_CONFIG_DIGEST,
  buildSociIndex,
  parseSociIndex,
  type SociIndexVersion,
  type SociZtocInput,
} from '../soci/index.js';
import { convertToSociV2Index } from '../soci/convert.js';
import { buildZtoc, DEFAULT_BUILD_TOOL_ID, type BuildResult } from '../ztoc/build.js';
import { DEFAULT_SPAN_SIZE } from '../ztoc/model.js';
import type { WorkerPool } from '../ztoc/pool.js';
import type { Engine, EngineChoice } from '../inflate/native.js';
import { limiter } from './limit.js';

export const DEFAULT_MIN_LAYER_SIZE = 10 * 1024 * 1024;
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

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
  pool?: WorkerPool;
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
  | { type: 'layer-start'; platform: string; layer: string; size: number }
  | { type: 'layer-progress'; layer: string; bytes: number; size: number }
  | { type: 'layer-done'; layer: string; ztoc: string; seconds: number; size: number }
  | { type: 'layer-skipped'; platform: string; layer: string; reason: string }
  | { type: 'layer-reused'; platform: string; layer: string; ztoc: string }
  | { type: 'push'; what: string; digest: string; result: string };

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

/** A zTOC that came from IndexOptions.ztocCache. */
interface ReusedZtoc extends CachedZtoc {
  reused: true;
}

export interface SkippedLayer {
  layer: string;
  size: number;
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
  bytesRead: number;
  seconds: number;
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

interface Target {
  descriptor: Descriptor;
  manifest: ImageManifest;
  platform: Platform;
}

/** Layers that SOCI can't index are skipped with a reason; everything else fails the image. */
const SKIPPABLE = new Set(['TAR_UNSUPPORTED_ENTRY', 'LAYER_UNSUPPORTED']);

async function platformOfManifest(store: ImageStore, manifest: ImageManifest): Promise<Platform> {
  const cfg = manifest.config;
  if (cfg.mediaType !== MediaType.OciConfig && cfg.mediaType !== MediaType.DockerConfig) return { architecture: 'unknown', os: 'unknown' };
  const bytes = await store.fetchBlob(cfg, MAX_CONFIG_BYTES);
  const c = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  const p: Platform = { architecture: String(c['architecture'] ?? 'unknown'), os: String(c['os'] ?? 'unknown') };
  if (typeof c['variant'] === 'string' && c['variant'] !== '') p.variant = c['variant'];
  if (typeof c['os.version'] === 'string' && c['os.version'] !== '') p['os.version'] = c['os.version'];
  return p;
}

async function selectTargets(store: ImageStore, root: FetchedDocument, want: Platform[] | 'all' | undefined): Promise<Target[]> {
  if (root.doc.kind === 'manifest') {
    const platform = await platformOfManifest(store, root.doc.manifest);
    if (Array.isArray(want) && !want.some((w) => matchPlatform(w, platform))) {
      throw new ZtocError('PLATFORM_NOT_FOUND', `image is ${formatPlatform(platform)} only; asked for ${want.map(formatPlatform).join(', ')}`);
    }
    return [{ descriptor: root.descriptor, manifest: root.doc.manifest, platform }];
  }
  const index = root.doc.index;
  const chosen: Descriptor[] = [];
  if (Array.isArray(want)) {
    for (const w of want) {
      const hits = selectManifests(index, w);
      if (hits.length === 0) {
        const have = selectManifests(index, 'all').map((d) => (d.platform ? formatPlatform(d.platform) : '?'));
        throw new ZtocError('PLATFORM_NOT_FOUND', `no manifest for ${formatPlatform(w)} (the image has ${have.join(', ') || 'none'})`);
      }
      for (const h of hits) if (!chosen.some((c) => c.digest === h.digest)) chosen.push(h);
    }
  } else {
    chosen.push(...selectManifests(index, 'all'));
  }
  if (chosen.length === 0) throw new ZtocError('PLATFORM_NOT_FOUND', 'the image index lists no runnable platform manifest');
  if (chosen.length > 1000) throw new ZtocError('MANIFEST_INVALID', `the image index lists ${chosen.length} platforms (limit 1000)`);
  const out: Target[] = [];
  for (const d of chosen) {
    const m = await store.fetchDocument(d);
    if (m.doc.kind !== 'manifest') throw new ZtocError('MANIFEST_INVALID', `${d.digest} is an index, expected a platform manifest`);
    out.push({ descriptor: { mediaType: m.descriptor.mediaType, digest: d.digest, size: m.bytes.length }, manifest: m.doc.manifest, platform: d.platform ?? (await platformOfManifest(store, m.doc.manifest)) });
  }
  return out;
}

/** An existing SOCI index v1 for this manifest with the same span size, if any. */
export async function findExistingIndex(store: ImageStore, manifestDigest: string, spanSize: number): Promise<Descriptor | undefined> {
  const refs = await store.referrers(manifestDigest, MediaType.SociIndexV1);
  for (const r of refs) {
    try {
      const doc = await store.fetchDocument(r);
      const info = parseSociIndex(doc.bytes);
      if (info.ztocs.length > 0 && info.ztocs.every((z) => z.spanSize === spanSize)) return r;
    } catch {
      // An unreadable referrer is not ours to judge; keep looking.
    }
  }
  return undefined;
}

function layerSkipReason(layer: Descriptor, minLayerSize: number): string | undefined {
  if (layer.mediaType === MediaType.SociPrefetch) return 'SOCI prefetch artifact';
  const c = layerCompression(layer.mediaType);
  if (c === 'zstd') return 'zstd layers are not supported by SOCI';
  if (c === 'unsupported') return `unsupported layer media type ${layer.mediaType}`;
  if (layer.size < minLayerSize) return `layer size ${layer.size} is less than min-layer-size ${minLayerSize}`;
  return undefined;
}

export async function indexImage(store: ImageStore, reference: string | undefined, opts: IndexOptions = {}): Promise<IndexResult> {
  const t0 = performance.now();
  const spanSize = opts.spanSize ?? DEFAULT_SPAN_SIZE;
  const minLayerSize = opts.minLayerSize ?? DEFAULT_MIN_LAYER_SIZE;
  const version = opts.indexVersion ?? 'v1';
  const buildToolId = opts.buildToolId ?? DEFAULT_BUILD_TOOL_ID;
  const emit = opts.onEvent ?? (() => {});
  if (version === 'v2' && (opts.tag === undefined || opts.tag === '') && !opts.dryRun) {
    throw new ZtocError('INVALID_ARGUMENT', '--index-version v2 needs --tag: the SOCI-enabled image index is pushed under a new tag');
  }
  if (!Number.isSafeInteger(spanSize) || spanSize <= 0) throw new ZtocError('INVALID_ARGUMENT', `invalid span size ${spanSize}`);

  const root = await store.resolve(reference ?? 'latest');
  const targets = await selectTargets(store, root, opts.platforms);
  const image = `${store.display}${reference && !reference.includes(':') ? `:${reference}` : ''}`;
  emit({ type: 'resolved', image, digest: root.descriptor.digest, platforms: targets.map((t) => formatPlatform(t.platform)) });

  // Idempotency: the registry (or layout) is the source of truth.
  const results: PlatformResult[] = [];
  const work: Array<{ target: Target; result: PlatformResult }> = [];
  for (const target of targets) {
    const result: PlatformResult = {
      platform: formatPlatform(target.platform),
      manifest: target.descriptor,
      status: 'indexed',
      ztocs: [],
      skipped: [],
      bytesRead: 0,
      seconds: 0,
    };
    results.push(result);
    if (version === 'v1' && !opts.force) {
      const existing = await findExistingIndex(store, target.descriptor.digest, spanSize);
      if (existing !== undefined) {
        result.status = 'exists';
        result.sociIndex = existing;
        emit({ type: 'exists', platform: result.platform, index: existing.digest });
        continue;
      }
    }
    work.push({ target, result });
  }

  // Build: each distinct layer once, `concurrency` at a time, all before anything is pushed.
  const limit = limiter(opts.concurrency ?? availableParallelism());
  const builds = new Map<string, Promise<BuildResult | ReusedZtoc | SkippedLayer>>();
  const cache = opts.ztocCache;
  const cacheKey = (layer: string): ZtocCacheKey => ({ layer, spanSize, buildToolId });
  const build = (platform: string, layer: Descriptor): Promise<BuildResult | SkippedLayer> =>
    limit(async () => {
      opts.signal?.throwIfAborted();
      emit({ type: 'layer-start', platform, layer: layer.digest, size: layer.size });
      try {
        const r = await buildZtoc(store.openBlob(layer), {
          spanSize,
          buildToolId,
          kind: layerCompression(layer.mediaType) === 'tar' ? 'tar' : 'gzip',
          layer: layer.digest,
          expectedDigest: layer.digest,
          expectedSize: layer.size,
          ...(opts.pool ? { pool: opts.pool } : {}),
          ...(opts.engine ? { engine: opts.engine } : {}),
          onProgress: (bytes) => emit({ type: 'layer-progress', layer: layer.digest, bytes, size: layer.size }),
        });
        emit({ type: 'layer-done', layer: layer.digest, ztoc: r.digest, seconds: r.seconds, size: layer.size });
        return r;
      } catch (err) {
        if (err instanceof ZtocError && SKIPPABLE.has(err.code)) return { layer: layer.digest, size: layer.size, reason: err.describe() };
        throw err;
      }
    });
  // With a cache: take the zTOC from it, or build it and hand it over (also when the build failed or was skipped,
  // so that other callers waiting for this key go on).
  const buildOrReuse = async (platform: string, layer: Descriptor): Promise<BuildResult | ReusedZtoc | SkippedLayer> => {
    const key = cacheKey(layer.digest);
    const hit = await cache!.get(key);
    if (hit !== undefined) {
      emit({ type: 'layer-reused', platform, layer: layer.digest, ztoc: hit.digest });
      return { ...hit, reused: true };
    }
    let r: BuildResult | SkippedLayer | undefined;
    try {
      r = await build(platform, layer);
    } finally {
      await cache!.put(key, r === undefined || 'reason' in r ? undefined : { digest: r.digest, bytes: r.bytes, spans: r.ztoc.maxSpanId + 1, files: r.ztoc.entries.length });
    }
    return r;
  };
  const buildLayer = (platform: string, layer: Descriptor): Promise<BuildResult | ReusedZtoc | SkippedLayer> => {
    let p = builds.get(layer.digest);
    if (p === undefined) {
      p = cache === undefined ? build(platform, layer) : buildOrReuse(platform, layer);
      builds.set(layer.digest, p);
    }
    return p;
  };

  const perPlatform = work.map(async ({ target, result }) => {
    const started = performance.now();
    const layers = target.manifest.layers;
    if (layers.length > 1000) throw new ZtocError('MANIFEST_INVALID', `manifest ${target.descriptor.digest} has ${layers.length} layers (limit 1000)`);
    const outcomes = await Promise.all(
      layers.map(async (layer) => {
        const reason = layerSkipReason(layer, minLayerSize);
        if (reason !== undefined) return { layer, skipped: { layer: layer.digest, size: layer.size, reason } };
        const r = await buildLayer(result.platform, layer);
        return 'reason' in r ? { layer, skipped: r } : { layer, built: r };
      }),
    );
    for (const o of outcomes) {
      if (o.skipped) {
        result.skipped.push(o.skipped);
        emit({ type: 'layer-skipped', platform: result.platform, layer: o.layer.digest, reason: o.skipped.reason });
      } else if (o.built && 'reused' in o.built) {
        const b = o.built;
        result.ztocs.push({
          layer: o.layer.digest,
          layerMediaType: o.layer.mediaType,
          layerSize: o.layer.size,
          ztoc: { mediaType: MediaType.OctetStream, digest: b.digest, size: b.bytes.length },
          spans: b.spans,
          files: b.files,
          seconds: 0,
          reused: true,
        });
      } else if (o.built) {
        const b = o.built;
        result.bytesRead += b.compressedSize;
        result.ztocs.push({
          layer: o.layer.digest,
          layerMediaType: o.layer.mediaType,
          layerSize: o.layer.size,
          ztoc: { mediaType: MediaType.OctetStream, digest: b.digest, size: b.bytes.length },
          spans: b.ztoc.maxSpanId + 1,
          files: b.ztoc.entries.length,
          seconds: b.seconds,
          engine: b.engine,
        });
      }
    }
    result.seconds = (performance.now() - started) / 1000;
    return outcomes;
  });
  // Every layer of every platform must check out before anything is pushed.
  const settled = await Promise.allSettled(perPlatform);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  const outcomesByPlatform = settled.map((s) => (s as PromiseFulfilledResult<Awaited<(typeof perPlatform)[number]>>).value);

  // Build the SOCI index manifests.
  const sociIndexes = new Map<string, { descriptor: Descriptor; bytes: Buffer; manifest: ImageManifest; platform: Platform }>();
  work.forEach(({ target, result }, i) => {
    const ztocs: SociZtocInput[] = [];
    for (const o of outcomesByPlatform[i]!) {
      if (!o.built) continue;
      ztocs.push({ layer: o.layer, ztoc: { mediaType: MediaType.OctetStream, digest: o.built.digest, size: o.built.bytes.length }, spanSize });
    }
    if (ztocs.length === 0) {
      result.status = 'no-ztocs';
      return;
    }
    const built = buildSociIndex({ version, ztocs, buildToolId, ...(version === 'v1' ? { subject: target.descriptor } : {}) });
    result.sociIndex = built.descriptor;
    if (opts.dryRun) result.status = 'dry-run';
    sociIndexes.set(target.descriptor.digest, { descriptor: built.descriptor, bytes: built.bytes, manifest: built.manifest, platform: target.platform });
  });

  const out: IndexResult = {
    image,
    digest: root.descriptor.digest,
    mediaType: root.descriptor.mediaType,
    version,
    platforms: results,
    seconds: 0,
  };
  if (opts.dryRun || sociIndexes.size === 0) {
    out.seconds = (performance.now() - t0) / 1000;
    return out;
  }

  // Push: zTOC blobs and the empty config first, each index manifest last.
  const ztocBytes = new Map<string, { bytes: Uint8Array; layer: string }>();
  for (const [layer, p] of builds) {
    const r = await p;
    if (!('reason' in r)) ztocBytes.set(r.digest, { bytes: r.bytes, layer });
  }
  const pushLimit = limiter(4);
  await Promise.all(
    [...ztocBytes].map(([digest, { bytes, layer }]) =>
      pushLimit(async () => {
        const desc = { mediaType: MediaType.OctetStream, digest, size: bytes.length };
        if (cache === undefined) {
          const res = await store.pushBlob(desc, bytes);
          emit({ type: 'push', what: 'ztoc', digest, result: res });
          return;
        }
        const from = await cache.mountFrom?.(cacheKey(layer));
        let res: Awaited<ReturnType<ImageStore['pushBlob']>> | undefined;
        try {
          res = from === undefined ? await store.pushBlob(desc, bytes) : await store.pushBlob(desc, bytes, from);
        } finally {
          cache.stored?.(cacheKey(layer), res !== undefined);
        }
        emit({ type: 'push', what: 'ztoc', digest, result: res });
      }),
    ),
  );
  const cfg = await store.pushBlob({ mediaType: MediaType.OciEmpty, digest: EMPTY_CONFIG_DIGEST, size: 2 }, EMPTY_CONFIG_BYTES);
  emit({ type: 'push', what: 'config', digest: EMPTY_CONFIG_DIGEST, result: cfg });

  if (version === 'v1') {
    for (const { target, result } of work) {
      const s = sociIndexes.get(target.descriptor.digest);
      if (s === undefined) continue;
      const r = await store.pushReferrer(s.bytes, s.manifest);
      result.mechanism = r.mechanism;
      emit({ type: 'push', what: 'soci-index', digest: r.descriptor.digest, result: r.mechanism });
    }
  } else {
    out.v2Index = await pushV2(store, root, targets, sociIndexes, opts.tag!, emit);
  }
  out.seconds = (performance.now() - t0) / 1000;
  return out;
}

/** v2: SOCI indexes, the rewritten image manifests, then the SOCI-enabled image index under `tag`. */
async function pushV2(
  store: ImageStore,
  root: FetchedDocument,
  targets: Target[],
  sociIndexes: Map<string, { descriptor: Descriptor; bytes: Buffer; manifest: ImageManifest; platform: Platform }>,
  tag: string,
  emit: (e: IndexEvent) => void,
): Promise<{ tag: string; descriptor: Descriptor }> {
  for (const [, s] of sociIndexes) {
    const d = await store.pushManifest(undefined, s.bytes, MediaType.OciManifest);
    emit({ type: 'push', what: 'soci-index', digest: d.digest, result: 'pushed' });
  }
  const manifests = new Map<string, ImageManifest>();
  for (const t of targets) manifests.set(t.descriptor.digest, t.manifest);
  if (root.doc.kind === 'index') {
    // Every manifest present in the source index is re-encoded, indexed or not (soci-format.md §5.3).
    for (const d of root.doc.index.manifests) {
      if (manifests.has(d.digest) || d.artifactType) continue;
      try {
        const m = await store.fetchDocument(d);
        if (m.doc.kind === 'manifest') manifests.set(d.digest, m.doc.manifest);
      } catch {
        // Absent manifests (e.g. a partial copy) stay as they are.
      }
    }
  }
  const converted = convertToSociV2Index({
    source:
      root.doc.kind === 'index'
        ? { kind: 'index', index: root.doc.index }
        : { kind: 'manifest', descriptor: root.descriptor, manifest: root.doc.manifest, platform: targets[0]!.platform },
    manifests,
    sociIndexes: new Map([...sociIndexes].map(([k, v]) => [k, { descriptor: v.descriptor, platform: v.platform }])),
  });
  for (const m of converted.rewrittenManifests) {
    const d = await store.pushManifest(undefined, m.bytes, MediaType.OciManifest);
    emit({ type: 'push', what: 'image-manifest', digest: d.digest, result: 'pushed' });
  }
  const d = await store.pushManifest(tag, converted.indexBytes, MediaType.OciIndex);
  emit({ type: 'push', what: 'image-index', digest: d.digest, result: `tag ${tag}` });
  return { tag, descriptor: converted.descriptor };
}
