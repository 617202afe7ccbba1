// Owns the first stage of `indexImage`: resolve the reference, choose the platform manifests to index (platforms.ts), and find
// those already indexed (a SOCI index v1 with the same span size: the registry or layout is the source of truth).
// With settings a span size can't show (optimizations, prefetch files), "already indexed" means a byte-identical
// index, which is known only once it is assembled: `alreadyPushed` checks that after the build.

import { ZtocError, type ZtocErrorCode } from '../errors.js';
import type { FetchedDocument, ImageStore } from '../image/store.js';
import { formatPlatform } from '../oci/platform.js';
import { MediaType, type Descriptor } from '../oci/types.js';
import { parseSociIndex } from '../soci/index.js';
import type { AssembledIndex } from './index-assemble.js';
import type { IndexSettings, Target } from './index-types.js';
import { mapLimited } from './limit.js';
import { platformManifests } from './platforms.js';

export interface TargetPlan {
  root: FetchedDocument;
  /** The image as results name it (`registry/repo:tag`, `oci:dir:tag`). */
  image: string;
  targets: Target[];
  /** Targets already indexed (v1 without force), by manifest digest: the SOCI index found. */
  existing: Map<string, Descriptor>;
}

export async function planTargets(store: ImageStore, reference: string | undefined, s: IndexSettings): Promise<TargetPlan> {
  const root = await store.resolve(reference ?? 'latest');
  const checking = s.version === 'v1' && !s.force && !needsExactMatch(s);
  // A single manifest is its own target: its existing index is looked up while its config is read for the platform
  // (two round trips side by side, where a remote registry's latency is what an index run waits for).
  const early = checking && root.doc.kind === 'manifest' ? findExistingIndex(store, root.descriptor.digest, s.spanSize) : undefined;
  early?.catch(() => undefined); // handled below, when the targets are known; not an unhandled rejection meanwhile
  let targets: Target[];
  try {
    targets = (await platformManifests(store, root, s.platforms)).map((m): Target => ({ ...m, name: formatPlatform(m.platform) }));
  } catch (err) {
    await early?.catch(() => undefined); // nothing of this run is still reading once it has failed
    throw err;
  }
  const image = `${store.display}${reference && !reference.includes(':') ? `:${reference}` : ''}`;
  s.emit({ type: 'resolved', image, digest: root.descriptor.digest, platforms: targets.map((t) => t.name) });
  const existing = new Map<string, Descriptor>();
  if (checking) {
    const found = await mapLimited(targets, LOOKUPS_AT_ONCE, (t) =>
      early !== undefined && t.descriptor.digest === root.descriptor.digest ? early : findExistingIndex(store, t.descriptor.digest, s.spanSize),
    );
    for (const [i, t] of targets.entries()) {
      const f = found[i];
      if (f === undefined) continue;
      existing.set(t.descriptor.digest, f);
      s.emit({ type: 'exists', platform: t.name, index: f.digest });
    }
  }
  return { root, image, targets, existing };
}

/** Platforms whose existing indexes are looked up at once. */
const LOOKUPS_AT_ONCE = 4;

/** True when an existing index counts only if byte-identical (settings its span size annotation can't show). */
function needsExactMatch(s: IndexSettings): boolean {
  return s.optimizations.length > 0 || s.prefetchPaths.length > 0;
}

/** The targets whose assembled v1 index is already a referrer of their manifest, byte for byte (not pushed again). */
export async function alreadyPushed(store: ImageStore, indexes: ReadonlyArray<AssembledIndex | undefined>, s: IndexSettings): Promise<Set<string>> {
  const out = new Set<string>();
  if (s.version !== 'v1' || s.force || !needsExactMatch(s)) return out;
  for (const i of indexes) {
    if (i === undefined) continue;
    const refs = await store.referrers(i.target.descriptor.digest, MediaType.SociIndexV1);
    if (!refs.some((r) => r.digest === i.sociIndex.descriptor.digest)) continue;
    out.add(i.target.descriptor.digest);
    s.emit({ type: 'exists', platform: i.target.name, index: i.sociIndex.descriptor.digest });
  }
  return out;
}

/** The errors that mean "this referrer is no SOCI index we could use", not "the registry failed us". */
const UNUSABLE_REFERRER: ReadonlySet<ZtocErrorCode> = new Set<ZtocErrorCode>(['MANIFEST_INVALID', 'MANIFEST_TOO_LARGE', 'DIGEST_MISMATCH', 'REGISTRY_NOT_FOUND']);

/** An existing SOCI index v1 for this manifest with the same span size, if any. */
export async function findExistingIndex(store: ImageStore, manifestDigest: string, spanSize: number): Promise<Descriptor | undefined> {
  const refs = await store.referrers(manifestDigest, MediaType.SociIndexV1);
  for (const r of refs) {
    try {
      const doc = await store.fetchDocument(r);
      const info = parseSociIndex(doc.bytes);
      if (info.ztocs.length > 0 && info.ztocs.every((z) => z.spanSize === spanSize)) return r;
    } catch (err) {
      // A referrer that is no usable SOCI index (garbled, oversized, not what its digest says, deleted since the
      // listing) is skipped. Any other failure is thrown: a network error, a 5xx after the retries or a denied read
      // says nothing about whether the image is indexed, and taking it for "no" would push a second index.
      if (!(err instanceof ZtocError) || !UNUSABLE_REFERRER.has(err.code)) throw err;
    }
  }
  return undefined;
}
