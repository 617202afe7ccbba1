// Owns the second stage of `indexImage`: one outcome per layer of every target (skipped with a code, built, or
// reused from the zTOC cache). Each distinct layer is read once, `concurrency` at a time, largest first, and every
// layer of every target has checked out before this stage returns, so nothing is pushed for an image that fails.
// Builds side by side are placed around the largest, which is the critical path (BuildPlacer).

import { ZtocError } from '../errors.js';
import type { ImageStore } from '../image/store.js';
import { layerCompression, MediaType, type Descriptor } from '../oci/types.js';
import { buildZtoc, type BuildPriority } from '../ztoc/build.js';
import type { IndexSettings, LayerOutcome, LayerSkipCode, SkippedLayer, Target, ZtocCache, ZtocCacheKey } from './index-types.js';
import { limiter, settleAll, type Limit } from './limit.js';

const MAX_LAYERS = 1000;

/** The skip code of a build error that means "SOCI can't index this layer" (the image is still indexed). */
function buildSkipCode(err: unknown): LayerSkipCode | undefined {
  if (!(err instanceof ZtocError)) return undefined;
  switch (err.code) {
    case 'TAR_UNSUPPORTED_ENTRY':
    case 'LAYER_UNSUPPORTED':
      return err.code;
    default:
      return undefined;
  }
}

export interface TargetLayers {
  target: Target;
  /** One per manifest layer, in manifest order. */
  outcomes: LayerOutcome[];
  seconds: number;
}

export function cacheKey(s: IndexSettings, layer: string): ZtocCacheKey {
  return { layer, spanSize: s.spanSize, buildToolId: s.buildToolId };
}

/** Why the descriptor alone rules a layer out, if it does. */
export function layerSkip(layer: Descriptor, minLayerSize: number): SkippedLayer | undefined {
  const skip = (code: LayerSkipCode, reason: string): SkippedLayer => ({ layer: layer.digest, size: layer.size, code, reason });
  if (layer.mediaType === MediaType.SociPrefetch) return skip('LAYER_PREFETCH_ARTIFACT', 'SOCI prefetch artifact');
  const c = layerCompression(layer.mediaType);
  if (c === 'zstd') return skip('LAYER_ZSTD', 'zstd layers are not supported by SOCI');
  if (c === 'unsupported') return skip('LAYER_MEDIA_TYPE', `unsupported layer media type ${layer.mediaType}`);
  if (layer.size < minLayerSize) return skip('LAYER_BELOW_MIN_SIZE', `layer size ${layer.size} is less than min-layer-size ${minLayerSize}`);
  return undefined;
}

/** How one build runs beside the others (BuildOptions.priority). */
export interface BuildPlacement {
  priority: BuildPriority;
}

const ALONE: BuildPlacement = { priority: 'normal' };
const BESIDE: BuildPlacement = { priority: 'background' };

/**
 * Places each build as it starts, once the cache lookup has missed. With builds side by side, the largest layer is
 * the critical path of the whole run, so its inflate thread keeps the normal priority; a build that starts while one
 * at least as large is running goes to the background, taking the cores the larger leaves idle instead of slowing
 * it (measured on 2 cores: docs/performance.md). Decided at the start, not from the layer list: a layer whose zTOC
 * came from the cache is never built, and the largest that is built must not run in the background.
 */
export class BuildPlacer {
  /** The sizes of the builds running now, each under a token of its own. */
  private readonly running = new Map<object, number>();

  constructor(private readonly concurrency: number) {}

  /** The placement of a build of `size` bytes starting now; call `done` when it ends. */
  start(size: number): { placement: BuildPlacement; done: () => void } {
    const token = {};
    let beside = false;
    if (this.concurrency > 1) for (const other of this.running.values()) beside ||= other >= size;
    this.running.set(token, size);
    return { placement: beside ? BESIDE : ALONE, done: () => this.running.delete(token) };
  }
}

export async function buildLayers(store: ImageStore, targets: Target[], s: IndexSettings): Promise<TargetLayers[]> {
  for (const t of targets) {
    const n = t.manifest.layers.length;
    if (n > MAX_LAYERS) throw new ZtocError('MANIFEST_INVALID', `manifest ${t.descriptor.digest} has ${n} layers (limit ${MAX_LAYERS})`);
  }
  // The distinct layers to build, each with the first platform that has it (named in its events).
  const buildable = new Map<string, { platform: string; layer: Descriptor }>();
  for (const t of targets) {
    for (const l of t.manifest.layers) {
      if (!buildable.has(l.digest) && layerSkip(l, s.minLayerSize) === undefined) buildable.set(l.digest, { platform: t.name, layer: l });
    }
  }
  const todo = [...buildable.values()];
  const builder = new LayerBuilder(store, s);
  // Largest first (longest-processing-time order): the biggest layer starts at once and the others fill the cores
  // around it, rather than the biggest starting last, behind the small ones, with the cores idle at the end.
  todo.sort((a, b) => b.layer.size - a.layer.size);
  for (const b of todo) builder.outcome(b.platform, b.layer).catch(() => {}); // buildTarget awaits it and reports a failure
  return settleAll(targets.map((t) => buildTarget(builder, t, s)));
}

async function buildTarget(builder: LayerBuilder, target: Target, s: IndexSettings): Promise<TargetLayers> {
  const started = performance.now();
  const layers = target.manifest.layers;
  const outcomes = await Promise.all(
    layers.map(async (layer): Promise<LayerOutcome> => {
      const skip = layerSkip(layer, s.minLayerSize);
      // A shared layer's outcome is keyed by digest; each target keeps its own descriptor of it.
      return skip !== undefined ? { kind: 'skipped', layer, skip } : { ...(await builder.outcome(target.name, layer)), layer };
    }),
  );
  for (const o of outcomes) {
    if (o.kind === 'skipped') s.emit({ type: 'layer-skipped', platform: target.name, layer: o.layer.digest, reason: o.skip.reason, code: o.skip.code });
  }
  return { target, outcomes, seconds: (performance.now() - started) / 1000 };
}

/** Builds each distinct layer once (or takes it from the cache), `concurrency` layers at a time. */
class LayerBuilder {
  private readonly outcomes = new Map<string, Promise<LayerOutcome>>();
  private readonly limit: Limit;
  private readonly placer: BuildPlacer;

  constructor(
    private readonly store: ImageStore,
    private readonly s: IndexSettings,
  ) {
    this.limit = limiter(s.concurrency);
    this.placer = new BuildPlacer(s.concurrency);
  }

  outcome(platform: string, layer: Descriptor): Promise<LayerOutcome> {
    let p = this.outcomes.get(layer.digest);
    if (p === undefined) {
      p = this.s.cache === undefined ? this.build(platform, layer) : this.buildOrReuse(this.s.cache, platform, layer);
      this.outcomes.set(layer.digest, p);
    }
    return p;
  }

  /** Takes the zTOC from the cache, or builds it and hands it over (also when the build failed or was skipped, so
   * that other callers waiting for this key go on). */
  private async buildOrReuse(cache: ZtocCache, platform: string, layer: Descriptor): Promise<LayerOutcome> {
    const key = cacheKey(this.s, layer.digest);
    const hit = await cache.get(key);
    if (hit !== undefined) {
      this.s.emit({ type: 'layer-reused', platform, layer: layer.digest, ztoc: hit.digest });
      return { kind: 'reused', layer, ztoc: hit };
    }
    let o: LayerOutcome | undefined;
    try {
      o = await this.build(platform, layer);
    } finally {
      await cache.put(key, o?.kind === 'built' ? o.ztoc : undefined);
    }
    return o;
  }

  private build(platform: string, layer: Descriptor): Promise<LayerOutcome> {
    const { s } = this;
    return this.limit(async () => {
      s.signal?.throwIfAborted();
      const { placement, done } = this.placer.start(layer.size);
      s.emit({ type: 'layer-start', platform, layer: layer.digest, size: layer.size, priority: placement.priority });
      try {
        const r = await buildZtoc(this.store.openBlob(layer, { reuseBuffer: true }), {
          spanSize: s.spanSize,
          buildToolId: s.buildToolId,
          kind: layerCompression(layer.mediaType) === 'tar' ? 'tar' : 'gzip',
          declaredBy: `media type ${layer.mediaType}`,
          layer: layer.digest,
          expectedDigest: layer.digest,
          expectedSize: layer.size,
          ...placement,
          ...(s.pool ? { pool: s.pool } : {}),
          ...(s.engine ? { engine: s.engine } : {}),
          onProgress: (bytes) => s.emit({ type: 'layer-progress', layer: layer.digest, bytes, size: layer.size }),
        });
        s.emit({ type: 'layer-done', platform, layer: layer.digest, ztoc: r.digest, seconds: r.seconds, size: layer.size });
        const ztoc = { digest: r.digest, bytes: r.bytes, spans: r.spans, files: r.files };
        return { kind: 'built', layer, ztoc, compressedSize: r.compressedSize, seconds: r.seconds, engine: r.engine };
      } catch (err) {
        const code = buildSkipCode(err);
        if (code === undefined) throw err;
        return { kind: 'skipped', layer, skip: { layer: layer.digest, size: layer.size, code, reason: (err as ZtocError).describe() } };
      } finally {
        done();
      }
    });
  }
}
