// Owns the pieces of the OCI referrers mechanisms that are not HTTP: the fallback tag name (`<alg>-<hex>`, spec
// §Referrers Tag Schema), applying a change (add and/or remove referrers, each described by oci/types.ts
// referrerDescriptor: dedupe by digest, drop empty entries, keep the order, append) to an existing index, Go-canonical
// serialisation of that index, the client-side artifactType filter, and the in-process lock that serialises
// fallback updates per subject. The update protocol against concurrent writers is referrers-fallback.ts.

import { MediaType, type Descriptor, type ImageIndex } from '../oci/types.js';
import { marshalIndex } from '../oci/gojson.js';

/** What pushReferrer needs from the referrer manifest it is given. */
export interface ReferrerManifestInfo {
  artifactType?: string;
  config: { mediaType: string };
  annotations?: Record<string, string>;
  subject: Descriptor;
}

/** `sha256:abc…` → `sha256-abc…` (algorithm ≤ 32 chars, encoded part ≤ 64, other characters → `-`). */
export function referrersTag(digest: string): string {
  const colon = digest.indexOf(':');
  const alg = (colon < 0 ? digest : digest.slice(0, colon)).slice(0, 32);
  const enc = (colon < 0 ? '' : digest.slice(colon + 1)).slice(0, 64);
  return `${alg}-${enc}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** A change to the referrers of one subject: entries to add (or replace, by digest) and digests to remove. */
export interface ReferrerChange {
  add?: Descriptor[];
  remove?: string[];
}

/**
 * The fallback index after `change` (oras-go's applyReferrerChanges): the existing entries deduped by digest, empty
 * ones dropped, order kept, minus those removed or re-added; then the added ones, in order. `changed` says whether
 * the list differs from `existing`. Pure.
 */
export function applyReferrerChanges(existing: Descriptor[], change: ReferrerChange): { index: ImageIndex; changed: boolean } {
  const drop = new Set([...(change.remove ?? []), ...(change.add ?? []).map((d) => d.digest)]);
  const seen = new Set<string>();
  const manifests: Descriptor[] = [];
  for (const d of [...existing.filter((e) => !drop.has(e.digest)), ...(change.add ?? [])]) {
    if (d.digest === '' || d.mediaType === '' || seen.has(d.digest)) continue;
    seen.add(d.digest);
    manifests.push(d);
  }
  const changed = manifests.length !== existing.length || manifests.some((d, i) => JSON.stringify(d) !== JSON.stringify(existing[i]));
  return { index: { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, changed };
}

/** A new fallback index: the existing entries (deduped, empty ones dropped, order kept) plus `entry` at the end. */
export function mergeReferrer(existing: Descriptor[], entry: Descriptor): ImageIndex {
  return applyReferrerChanges(existing, { add: [entry] }).index;
}

/** Compact Go-canonical JSON of the index (what oras-go's json.Marshal of ocispec.Index produces). */
export function serializeReferrersIndex(index: ImageIndex): Buffer {
  return marshalIndex(index);
}

/** Keep the descriptors whose artifactType is `artifactType` (all when undefined). */
export function filterByArtifactType(descs: Descriptor[], artifactType: string | undefined): Descriptor[] {
  if (artifactType === undefined || artifactType === '') return descs;
  return descs.filter((d) => d.artifactType === artifactType);
}

const locks = new Map<string, Promise<unknown>>();

/** Run `fn` after every earlier call with the same key has settled (in this process). */
export async function withKeyLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  locks.set(key, tail);
  try {
    return await run;
  } finally {
    if (locks.get(key) === tail) locks.delete(key);
  }
}
