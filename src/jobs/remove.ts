// Owns `ztoc rm` and `backfill --prune`: removing SOCI indexes that refer to an image. The choice of what goes is
// pure (`selectRemovals`, `staleIndexes`); the removal itself is ImageStore.removeReferrers, which keeps every
// other referrer (tag fallback rewritten, referrers API manifest deleted, layout index.json edited). A v2 index is
// not a referrer: it hangs off the SOCI-enabled image's manifest annotation, so it is reported and left alone.

import { ZtocError } from '../errors.js';
import type { ImageStore, ReferrerMechanism, ReferrerRemoval } from '../image/store.js';
import { formatPlatform } from '../oci/platform.js';
import { MediaType, type Descriptor, type Platform } from '../oci/types.js';
import { ANNOTATION_INDEX_DIGEST, parseSociIndex, type SociIndexInfo } from '../soci/index.js';
import type { FoundSociIndex } from './inspect.js';
import { platformManifests, type PlatformManifest } from './platforms.js';

export interface RemoveOptions {
  /** SOCI index digests to remove (`--index`). */
  indexes?: readonly string[];
  /** Remove every SOCI index v1 of the chosen platforms (`--all`). */
  all?: boolean;
  /** Default: every platform of the image. */
  platforms?: Platform[];
  /** Say what would go; change nothing. */
  dryRun?: boolean;
}

export type RemovalOutcome = 'removed' | 'would-remove' | 'not-removed' | 'kept-v2';

export interface RemovedIndex {
  platform: string;
  manifest: string;
  index: string;
  version: 'v1' | 'v2';
  outcome: RemovalOutcome;
  mechanism?: ReferrerMechanism;
  /** What happened to the index manifest itself (see ReferrerRemoval). */
  manifestState?: ReferrerRemoval['manifest'];
  note?: string;
}

export interface RemoveResult {
  image: string;
  indexes: RemovedIndex[];
  /** `--index` digests that refer to none of the chosen platforms (already removed, or another image's). */
  notFound: string[];
}

/**
 * A SOCI index of a platform manifest that rm may remove: a v1 referrer (listed with the SOCI v1 artifact type, read
 * or not: an index that no longer parses can still be removed by digest), or the v2 index its annotation names.
 */
export interface RemovalCandidate {
  descriptor: Descriptor;
  version: 'v1' | 'v2';
  via: 'referrer' | 'annotation';
}

/** One platform's SOCI indexes and which of them go. */
interface Choice {
  pm: PlatformManifest;
  remove: RemovalCandidate[];
}

/** The SOCI indexes of one platform manifest, without reading them. */
export async function removalCandidates(store: ImageStore, pm: PlatformManifest): Promise<RemovalCandidate[]> {
  const out: RemovalCandidate[] = (await store.referrers(pm.descriptor.digest, MediaType.SociIndexV1)).map((d) => ({ descriptor: d, version: 'v1', via: 'referrer' }));
  const v2 = pm.manifest.annotations?.[ANNOTATION_INDEX_DIGEST];
  if (v2 !== undefined) out.push({ descriptor: { mediaType: MediaType.OciManifest, digest: v2, size: -1, artifactType: MediaType.SociIndexV2 }, version: 'v2', via: 'annotation' });
  return out;
}

const candidateOf = (f: FoundSociIndex): RemovalCandidate => ({ descriptor: f.descriptor, version: f.info.version, via: f.via });

/** What `--index`/`--all` pick among the indexes found, per platform; and the asked digests found nowhere. */
export function selectRemovals(
  found: ReadonlyArray<{ pm: PlatformManifest; found: RemovalCandidate[] }>,
  opts: Pick<RemoveOptions, 'indexes' | 'all'>,
): { choices: Choice[]; notFound: string[] } {
  const asked = new Set(opts.indexes ?? []);
  if (!opts.all && asked.size === 0) {
    const listed = found.flatMap((f) => f.found.map((x) => `${x.descriptor.digest} (${formatPlatform(f.pm.platform)}, ${x.version})`));
    throw new ZtocError(
      'INVALID_ARGUMENT',
      `name the SOCI index to remove with --index DIGEST, or use --all${listed.length > 0 ? `; the image has ${listed.join(', ')}` : '; no SOCI index refers to the image'}`,
    );
  }
  const seen = new Set<string>();
  const choices = found.map(({ pm, found: f }) => {
    for (const x of f) seen.add(x.descriptor.digest);
    return { pm, remove: f.filter((x) => opts.all || asked.has(x.descriptor.digest)) };
  });
  return { choices, notFound: [...asked].filter((d) => !seen.has(d)) };
}

/** Removes SOCI indexes that refer to an image, keeping every other referrer. A second run is a no-op. */
export async function removeSociIndexes(store: ImageStore, reference: string | undefined, opts: RemoveOptions = {}): Promise<RemoveResult> {
  const root = await store.resolve(reference ?? 'latest');
  const pms = await platformManifests(store, root, opts.platforms);
  const found = [];
  for (const pm of pms) found.push({ pm, found: await removalCandidates(store, pm) });
  const { choices, notFound } = selectRemovals(found, opts);
  const out: RemovedIndex[] = [];
  for (const c of choices) out.push(...(await removeChosen(store, { platform: formatPlatform(c.pm.platform), manifest: c.pm.descriptor.digest }, c.remove, opts.dryRun === true)));
  return { image: `${store.display}${reference && !reference.includes(':') ? `:${reference}` : ''}`, indexes: out, notFound };
}

/** Removes the chosen indexes of one platform manifest (v1 referrers; v2 ones are reported and kept). */
async function removeChosen(store: ImageStore, pm: { platform: string; manifest: string }, chosen: RemovalCandidate[], dryRun: boolean): Promise<RemovedIndex[]> {
  const base = (f: RemovalCandidate): RemovedIndex => ({
    platform: pm.platform,
    manifest: pm.manifest,
    index: f.descriptor.digest,
    version: f.version,
    outcome: 'would-remove',
  });
  const out: RemovedIndex[] = [];
  const referrers = chosen.filter((f) => f.via === 'referrer');
  for (const f of chosen) {
    if (f.via === 'annotation') {
      out.push({
        ...base(f),
        outcome: 'kept-v2',
        note: 'a SOCI index v2 is named by the annotation com.amazon.soci.index-digest of the SOCI-enabled image; remove or retag that image instead',
      });
    }
  }
  if (dryRun || referrers.length === 0) return [...referrers.map(base), ...out];
  const r = await store.removeReferrers(pm.manifest, referrers.map((f) => f.descriptor.digest));
  for (const f of referrers) {
    const rm = r.removals.find((x) => x.digest === f.descriptor.digest);
    const rec: RemovedIndex = { ...base(f), outcome: rm?.unlisted ? 'removed' : 'not-removed', mechanism: r.mechanism };
    if (rm !== undefined) rec.manifestState = rm.manifest;
    if (rm?.note !== undefined) rec.note = rm.note;
    out.push(rec);
  }
  return out;
}

/** The build settings an index shows: what `--prune` compares. */
export interface IndexSettingsView {
  spanSizes: number[];
  buildToolId: string | undefined;
  /** Layers with a zTOC, in index order. */
  layers: string[];
  disableXattrs: string[];
  /** Layers with a prefetch artifact, and the artifact digests. */
  prefetch: string[];
}

export function settingsView(info: SociIndexInfo): IndexSettingsView {
  return {
    spanSizes: info.spanSizes,
    buildToolId: info.buildToolId,
    layers: info.ztocs.map((z) => z.layerDigest),
    disableXattrs: info.ztocs.filter((z) => z.disableXattrs).map((z) => z.layerDigest),
    prefetch: info.prefetches.map((p) => p.digest),
  };
}

/**
 * The indexes `--prune` removes: every other SOCI index v1 of the manifest whose build settings differ from those of
 * the index this run produced or found (`current`): span size, build tool, which layers have a zTOC (min layer size),
 * the disable-xattrs optimization or the prefetch artifacts. An index with the same settings stays; so does a v2 one.
 */
export function staleIndexes(current: SociIndexInfo, others: readonly FoundSociIndex[]): FoundSociIndex[] {
  const want = JSON.stringify(settingsView(current));
  return others.filter((o) => o.via === 'referrer' && o.info.digest !== current.digest && JSON.stringify(settingsView(o.info)) !== want);
}

/**
 * `backfill --prune` for one platform manifest: removes the SOCI indexes v1 next to `current` (the index the run
 * pushed or found) whose settings differ. Referrers that aren't SOCI indexes, or can't be read, are left alone.
 */
export async function pruneIndexes(store: ImageStore, pm: { platform: string; manifest: string }, current: Descriptor): Promise<RemovedIndex[]> {
  const cur = parseSociIndex((await store.fetchDocument(current)).bytes);
  const others: FoundSociIndex[] = [];
  for (const r of await store.referrers(pm.manifest, MediaType.SociIndexV1)) {
    try {
      others.push({ descriptor: r, info: parseSociIndex((await store.fetchDocument(r)).bytes), via: 'referrer' });
    } catch {
      // Not a readable SOCI index: not ours to judge.
    }
  }
  return removeChosen(store, pm, staleIndexes(cur, others).map(candidateOf), false);
}
