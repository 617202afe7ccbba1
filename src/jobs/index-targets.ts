// Owns the first stage of `indexImage`: resolve the reference, choose the platform manifests to index, and find
// those already indexed (a SOCI index v1 with the same span size: the registry or layout is the source of truth).
// With settings a span size can't show (optimizations, prefetch files), "already indexed" means a byte-identical
// index, which is known only once it is assembled: `alreadyPushed` checks that after the build.

import { ZtocError } from '../errors.js';
import type { FetchedDocument, ImageStore } from '../image/store.js';
import { formatPlatform, matchPlatform, selectManifests } from '../oci/platform.js';
import { MediaType, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from '../oci/types.js';
import { parseSociIndex } from '../soci/index.js';
import type { AssembledIndex } from './index-assemble.js';
import type { IndexSettings, Target } from './index-types.js';

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const MAX_PLATFORMS = 1000;

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
  const targets = await selectTargets(store, root, s.platforms);
  const image = `${store.display}${reference && !reference.includes(':') ? `:${reference}` : ''}`;
  s.emit({ type: 'resolved', image, digest: root.descriptor.digest, platforms: targets.map((t) => t.name) });
  const existing = new Map<string, Descriptor>();
  if (s.version === 'v1' && !s.force && !needsExactMatch(s)) {
    for (const t of targets) {
      const found = await findExistingIndex(store, t.descriptor.digest, s.spanSize);
      if (found === undefined) continue;
      existing.set(t.descriptor.digest, found);
      s.emit({ type: 'exists', platform: t.name, index: found.digest });
    }
  }
  return { root, image, targets, existing };
}

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

function target(descriptor: Descriptor, manifest: ImageManifest, platform: Platform): Target {
  return { descriptor, manifest, platform, name: formatPlatform(platform) };
}

async function platformOfManifest(store: ImageStore, manifest: ImageManifest): Promise<Platform> {
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

async function selectTargets(store: ImageStore, root: FetchedDocument, want: Platform[] | 'all' | undefined): Promise<Target[]> {
  if (root.doc.kind === 'manifest') {
    const platform = await platformOfManifest(store, root.doc.manifest);
    if (Array.isArray(want) && !want.some((w) => matchPlatform(w, platform))) {
      throw new ZtocError('PLATFORM_NOT_FOUND', `image is ${formatPlatform(platform)} only; asked for ${want.map(formatPlatform).join(', ')}`);
    }
    return [target(root.descriptor, root.doc.manifest, platform)];
  }
  const chosen = chooseManifests(root.doc.index, want);
  const out: Target[] = [];
  for (const d of chosen) {
    const m = await store.fetchDocument(d);
    if (m.doc.kind !== 'manifest') throw new ZtocError('MANIFEST_INVALID', `${d.digest} is an index, expected a platform manifest`);
    const descriptor = { mediaType: m.descriptor.mediaType, digest: d.digest, size: m.bytes.length };
    out.push(target(descriptor, m.doc.manifest, d.platform ?? (await platformOfManifest(store, m.doc.manifest))));
  }
  return out;
}

/** The index entries asked for, in the order asked, each once. */
function chooseManifests(index: ImageIndex, want: Platform[] | 'all' | undefined): Descriptor[] {
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
  return chosen;
}
