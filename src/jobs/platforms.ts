// Owns choosing the platform manifests of an image, for every job that walks one (index, list, verify,
// get-file): the runnable manifests of an index (no attestations, no artifacts, no nested indexes), or
// those matching the asked platforms, and the platform of a single manifest read from its config.

import { ZtocError } from '../errors.js';
import type { FetchedDocument, ImageStore } from '../image/store.js';
import { formatPlatform, matchPlatform, selectManifests } from '../oci/platform.js';
import { MediaType, type Descriptor, type ImageManifest, type Platform } from '../oci/types.js';
import { mapLimited } from './limit.js';

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Platform manifests fetched at once. */
const FETCHES_AT_ONCE = 8;
/** More platforms than any real image has; a bound against a hostile index. */
const MAX_PLATFORMS = 1000;

export interface PlatformManifest {
  descriptor: Descriptor;
  manifest: ImageManifest;
  /** From the index entry, else from the image config (`unknown` when the config isn't an image config). */
  platform: Platform;
}

/** The platform an image config declares (architecture, os, variant, os.version). */
export async function platformOfManifest(store: ImageStore, manifest: ImageManifest): Promise<Platform> {
  const cfg = manifest.config;
  if (cfg.mediaType !== MediaType.OciConfig && cfg.mediaType !== MediaType.DockerConfig) return { architecture: 'unknown', os: 'unknown' };
  const bytes = await store.fetchBlob(cfg, MAX_CONFIG_BYTES);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ZtocError('MANIFEST_INVALID', `image config ${cfg.digest} is not valid JSON`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ZtocError('MANIFEST_INVALID', `image config ${cfg.digest} is not a JSON object`);
  const c = parsed as Record<string, unknown>;
  const p: Platform = { architecture: String(c['architecture'] ?? 'unknown'), os: String(c['os'] ?? 'unknown') };
  if (typeof c['variant'] === 'string' && c['variant'] !== '') p.variant = c['variant'];
  if (typeof c['os.version'] === 'string' && c['os.version'] !== '') p['os.version'] = c['os.version'];
  return p;
}

/**
 * The platform manifests of `root`: every runnable one (`want` undefined or 'all'), or those matching any
 * of `want`, in index order without repeats. PLATFORM_NOT_FOUND names an asked platform the image lacks.
 */
export async function platformManifests(store: ImageStore, root: FetchedDocument, want?: Platform[] | 'all'): Promise<PlatformManifest[]> {
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
  if (chosen.length > MAX_PLATFORMS) throw new ZtocError('MANIFEST_INVALID', `the image index lists ${chosen.length} platforms (limit ${MAX_PLATFORMS})`);
  // A few at a time: a remote registry's round trips, not bytes, are what this waits for.
  return mapLimited(chosen, FETCHES_AT_ONCE, async (d): Promise<PlatformManifest> => {
    const m = await store.fetchDocument(d);
    if (m.doc.kind !== 'manifest') throw new ZtocError('MANIFEST_INVALID', `${d.digest} is an index, expected a platform manifest`);
    return {
      descriptor: { mediaType: m.descriptor.mediaType, digest: d.digest, size: m.bytes.length },
      manifest: m.doc.manifest,
      platform: d.platform ?? (await platformOfManifest(store, m.doc.manifest)),
    };
  });
}
