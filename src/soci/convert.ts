// Owns the SOCI v2 "SOCI-enabled image" conversion (soci-format.md §5.3; SOCI soci/soci_convert.go
// newOciIndex, annotateImages, addSociIndexes): it re-encodes the image manifests as Go-canonical OCI
// manifests, annotates indexed ones with their SOCI index digest, and builds the OCI index that carries
// the images plus their v2 SOCI indexes. It is pure: callers read and write the blobs.

import { ZtocError } from '../errors.js';
import { samePlatform } from '../oci/platform.js';
import { MediaType, isManifestMediaType, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from '../oci/types.js';
import { sha256Digest } from '../oci/digest.js';
import { ANNOTATION_IMAGE_MANIFEST_DIGEST, ANNOTATION_INDEX_DIGEST } from './index.js';
import { marshalIndex, marshalManifest } from '../oci/gojson.js';

export type ConvertSource =
  | { kind: 'index'; index: ImageIndex }
  | { kind: 'manifest'; descriptor: Descriptor; manifest: ImageManifest; platform: Platform };

export interface SociV2IndexRef {
  /** Descriptor of the SOCI v2 index manifest (digest and size are used). */
  descriptor: Descriptor;
  /** Platform recorded on its OCI index entry (SOCI uses the platform the index was built for). */
  platform: Platform;
}

export interface ConvertToSociV2Options {
  source: ConvertSource;
  /** Original manifest digest → parsed manifest, for every manifest present locally. */
  manifests: ReadonlyMap<string, ImageManifest>;
  /** Original image manifest digest → its SOCI v2 index (from buildSociIndex({version: 'v2'})). */
  sociIndexes: ReadonlyMap<string, SociV2IndexRef>;
}

export interface RewrittenManifest {
  originalDigest: string;
  descriptor: Descriptor;
  manifest: ImageManifest;
  bytes: Buffer;
}

export interface ConvertToSociV2Result {
  index: ImageIndex;
  indexBytes: Buffer;
  /** `{mediaType: OCI index, digest, size}` of indexBytes. */
  descriptor: Descriptor;
  /** Re-encoded image manifests, one per distinct original digest, in index order. */
  rewrittenManifests: RewrittenManifest[];
  /** The SOCI index entries appended to (or replaced in) the OCI index. */
  sociIndexDescriptors: Descriptor[];
}

function cloneDescriptor(d: Descriptor): Descriptor {
  return structuredClone(d);
}

/**
 * Builds the SOCI-enabled OCI index:
 * 1. the source index (media type forced to OCI index), or a new index wrapping the single manifest with
 *    its platform;
 * 2. (the caller built one v2 SOCI index per platform);
 * 3. every present manifest is re-encoded with mediaType = OCI manifest and config.mediaType = OCI config,
 *    indexed ones get `com.amazon.soci.index-digest`; the index entry takes the new digest, size, OCI media
 *    type and, replacing its own, the manifest's annotations;
 * 4. each SOCI index is appended as `{mediaType, digest, size, annotations: {image-manifest-digest},
 *    platform, artifactType: v2}`, replacing an existing v2 SOCI entry of the same platform;
 * 5. the index is Go-marshalled.
 * Deviation from SOCI: entries that already are v2 SOCI indexes (a re-conversion) are left as they are
 * instead of being re-encoded as images (SOCI would rewrite their config media type).
 */
export function convertToSociV2Index(opts: ConvertToSociV2Options): ConvertToSociV2Result {
  const { source, sociIndexes } = opts;
  const manifests = new Map(opts.manifests);

  // Step 1.
  let index: ImageIndex;
  if (source.kind === 'index') {
    index = structuredClone(source.index);
    index.mediaType = MediaType.OciIndex;
    if (!Array.isArray(index.manifests)) index.manifests = [];
  } else {
    const target = cloneDescriptor(source.descriptor);
    target.platform = structuredClone(source.platform);
    index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [target] };
    if (!manifests.has(target.digest)) manifests.set(target.digest, source.manifest);
  }

  for (const key of sociIndexes.keys()) {
    if (!index.manifests.some((d) => d.digest === key)) {
      throw new ZtocError('INVALID_ARGUMENT', `SOCI index given for manifest ${key}, which is not in the image`);
    }
  }

  // Step 3.
  const sociEntries = new Map<string, Descriptor>();
  const rewritten = new Map<string, RewrittenManifest>();
  for (const desc of index.manifests) {
    if (desc.artifactType === MediaType.SociIndexV2) continue;
    if (!isManifestMediaType(desc.mediaType)) continue;
    const originalDigest = desc.digest;
    const soci = sociIndexes.get(originalDigest);
    const original = manifests.get(originalDigest);
    if (original === undefined) {
      if (soci !== undefined) {
        throw new ZtocError('MANIFEST_INVALID', `manifest ${originalDigest} has a SOCI index but is not available`);
      }
      continue; // a platform that was not pulled: left untouched
    }
    let done = rewritten.get(originalDigest);
    if (done === undefined) {
      const m = structuredClone(original);
      m.mediaType = MediaType.OciManifest;
      m.config = { ...m.config, mediaType: MediaType.OciConfig };
      if (soci !== undefined) m.annotations = { ...(m.annotations ?? {}), [ANNOTATION_INDEX_DIGEST]: soci.descriptor.digest };
      const bytes = marshalManifest(m);
      done = {
        originalDigest,
        manifest: m,
        bytes,
        descriptor: { mediaType: MediaType.OciManifest, digest: sha256Digest(bytes), size: bytes.length },
      };
      rewritten.set(originalDigest, done);
    }
    desc.digest = done.descriptor.digest;
    desc.size = done.descriptor.size;
    desc.mediaType = MediaType.OciManifest;
    if (done.manifest.annotations !== undefined && Object.keys(done.manifest.annotations).length > 0) {
      desc.annotations = { ...done.manifest.annotations };
    } else {
      delete desc.annotations;
    }
    if (soci !== undefined) {
      const entry: Descriptor = {
        mediaType: soci.descriptor.mediaType || MediaType.OciManifest,
        digest: soci.descriptor.digest,
        size: soci.descriptor.size,
        annotations: { [ANNOTATION_IMAGE_MANIFEST_DIGEST]: desc.digest },
        platform: structuredClone(soci.platform),
        artifactType: MediaType.SociIndexV2,
      };
      sociEntries.set(originalDigest, entry);
    }
  }

  // Step 4, in the order the SOCI indexes were given.
  const sociIndexDescriptors: Descriptor[] = [];
  for (const key of sociIndexes.keys()) {
    const entry = sociEntries.get(key);
    if (entry === undefined) continue;
    const platform = entry.platform!;
    const at = index.manifests.findIndex(
      (d) => d.artifactType === MediaType.SociIndexV2 && d.platform !== undefined && samePlatform(platform, d.platform),
    );
    if (at >= 0) index.manifests[at] = entry;
    else index.manifests.push(entry);
    sociIndexDescriptors.push(entry);
  }

  // Step 5.
  const indexBytes = marshalIndex(index);
  return {
    index,
    indexBytes,
    descriptor: { mediaType: MediaType.OciIndex, digest: sha256Digest(indexBytes), size: indexBytes.length },
    rewrittenManifests: [...rewritten.values()],
    sociIndexDescriptors,
  };
}
