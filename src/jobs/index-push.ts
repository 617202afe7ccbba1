// Owns the last stage of `indexImage`: push what the assemble stage produced, blobs first (zTOCs, prefetch
// artifacts and the empty config, side by side) and the SOCI index manifests only once every blob is in. v1: each
// index is a referrer of its manifest, the platforms' side by side. v2: the indexes, the rewritten image manifests,
// then the SOCI-enabled image index under a new tag.

import { ZtocError } from '../errors.js';
import type { FetchedDocument, ImageStore, ReferrerMechanism } from '../image/store.js';
import { MediaType, type Descriptor, type ImageManifest } from '../oci/types.js';
import { convertToSociV2Index } from '../soci/convert.js';
import { EMPTY_CONFIG_BYTES, EMPTY_CONFIG_DIGEST, EMPTY_CONFIG_SIZE } from '../soci/index.js';
import type { AssembledIndex, PendingBlob } from './index-assemble.js';
import { cacheKey } from './index-layers.js';
import type { IndexSettings, Target, ZtocCache } from './index-types.js';
import { limiter, mapLimited, settleAll } from './limit.js';

const PUSHES_AT_ONCE = 4;

export interface Pushed {
  /** v1: how each index was recorded as a referrer, by manifest digest. */
  mechanisms: Map<string, ReferrerMechanism>;
  /** v2: the SOCI-enabled image index. */
  v2Index?: { tag: string; descriptor: Descriptor };
}

export async function pushIndexes(store: ImageStore, root: FetchedDocument, targets: Target[], indexes: AssembledIndex[], s: IndexSettings): Promise<Pushed> {
  await pushBlobs(store, indexes, s);
  if (s.version === 'v2') {
    // settingsOf() let a v2 run without a tag through only as a dry run, which never gets here.
    if (s.tag === undefined) throw new ZtocError('INTERNAL', 'a SOCI index v2 push without a tag');
    return { mechanisms: new Map(), v2Index: await pushV2(store, root, targets, indexes, s.tag, s) };
  }
  // The platforms' indexes refer to different manifests (through the referrers API, or each under its own fallback
  // tag), so they go side by side: a remote registry's round trips, not bytes, are what an index push waits for.
  const mechanisms = new Map<string, ReferrerMechanism>();
  await mapLimited(indexes, PUSHES_AT_ONCE, async ({ target, sociIndex }) => {
    const r = await store.pushReferrer(sociIndex.bytes, sociIndex.manifest);
    mechanisms.set(target.descriptor.digest, r.mechanism);
    s.emit({ type: 'push', what: 'soci-index', digest: r.descriptor.digest, result: r.mechanism });
  });
  return { mechanisms };
}

/** Every distinct blob of every index and the empty config they share, a few at a time. */
async function pushBlobs(store: ImageStore, indexes: AssembledIndex[], s: IndexSettings): Promise<void> {
  const blobs = new Map<string, PendingBlob>();
  for (const b of indexes.flatMap((i) => i.blobs)) if (!blobs.has(b.descriptor.digest)) blobs.set(b.descriptor.digest, b);
  const limit = limiter(PUSHES_AT_ONCE);
  const config = async (): Promise<void> => {
    const cfg = await store.pushBlob({ mediaType: MediaType.OciEmpty, digest: EMPTY_CONFIG_DIGEST, size: EMPTY_CONFIG_SIZE }, EMPTY_CONFIG_BYTES);
    s.emit({ type: 'push', what: 'config', digest: EMPTY_CONFIG_DIGEST, result: cfg });
  };
  await settleAll([
    limit(config),
    ...[...blobs.values()].map((b) =>
      limit(async () => {
        // Only zTOCs are shared through the cache; a prefetch artifact belongs to this image's index alone.
        const result = s.cache === undefined || b.what !== 'ztoc' ? await store.pushBlob(b.descriptor, b.bytes) : await pushShared(store, s.cache, b, s);
        s.emit({ type: 'push', what: b.what, digest: b.descriptor.digest, result });
      }),
    ),
  ]);
}

/** A zTOC other images may share: mounted from a repository that holds it when the cache knows one. */
async function pushShared(store: ImageStore, cache: ZtocCache, b: PendingBlob, s: IndexSettings): Promise<Awaited<ReturnType<ImageStore['pushBlob']>>> {
  const key = cacheKey(s, b.layer);
  const from = await cache.mountFrom?.(key);
  let res: Awaited<ReturnType<ImageStore['pushBlob']>> | undefined;
  try {
    res = from === undefined ? await store.pushBlob(b.descriptor, b.bytes) : await store.pushBlob(b.descriptor, b.bytes, from);
  } finally {
    cache.stored?.(key, res !== undefined);
  }
  return res;
}

/** v2: SOCI indexes, the rewritten image manifests, then the SOCI-enabled image index under `tag`. */
async function pushV2(
  store: ImageStore,
  root: FetchedDocument,
  targets: Target[],
  indexes: AssembledIndex[],
  tag: string,
  s: IndexSettings,
): Promise<{ tag: string; descriptor: Descriptor }> {
  for (const { sociIndex } of indexes) {
    const d = await store.pushManifest(undefined, sociIndex.bytes, MediaType.OciManifest);
    s.emit({ type: 'push', what: 'soci-index', digest: d.digest, result: 'pushed' });
  }
  const converted = convertToSociV2Index({
    source:
      root.doc.kind === 'index'
        ? { kind: 'index', index: root.doc.index }
        : { kind: 'manifest', descriptor: root.descriptor, manifest: root.doc.manifest, platform: targets[0]!.platform },
    manifests: await sourceManifests(store, root, targets),
    sociIndexes: new Map(indexes.map((i) => [i.target.descriptor.digest, { descriptor: i.sociIndex.descriptor, platform: i.target.platform }])),
  });
  for (const m of converted.rewrittenManifests) {
    const d = await store.pushManifest(undefined, m.bytes, MediaType.OciManifest);
    s.emit({ type: 'push', what: 'image-manifest', digest: d.digest, result: 'pushed' });
  }
  const d = await store.pushManifest(tag, converted.indexBytes, MediaType.OciIndex);
  s.emit({ type: 'push', what: 'image-index', digest: d.digest, result: `tag ${tag}` });
  return { tag, descriptor: converted.descriptor };
}

/** Every manifest of the source index is re-encoded, indexed or not (soci-format.md §5.3): the targets and the rest. */
async function sourceManifests(store: ImageStore, root: FetchedDocument, targets: Target[]): Promise<Map<string, ImageManifest>> {
  const manifests = new Map<string, ImageManifest>();
  for (const t of targets) manifests.set(t.descriptor.digest, t.manifest);
  if (root.doc.kind !== 'index') return manifests;
  for (const d of root.doc.index.manifests) {
    if (manifests.has(d.digest) || d.artifactType) continue;
    try {
      const m = await store.fetchDocument(d);
      if (m.doc.kind === 'manifest') manifests.set(d.digest, m.doc.manifest);
    } catch {
      // Absent manifests (e.g. a partial copy) stay as they are.
    }
  }
  return manifests;
}
