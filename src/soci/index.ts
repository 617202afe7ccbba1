// Owns the SOCI index manifest (soci-format.md §5.1/§5.2): its constants (annotation keys, the empty
// `{}` config), building a v1 or v2 index from zTOC descriptors as byte-exact Go-canonical JSON, and
// parsing an index back into the facts `ztoc list` shows (version, span sizes, zTOC → layer map).

import { ZtocError } from '../errors.js';
import { sha256Digest } from '../oci/digest.js';
import { parseManifestOrIndex } from '../oci/validate.js';
import { MediaType, type Descriptor, type ImageManifest } from '../oci/types.js';
import { marshalManifest } from '../oci/gojson.js';

/** Layer descriptor annotation: digest of the image layer a zTOC indexes. */
export const ANNOTATION_IMAGE_LAYER_DIGEST = 'com.amazon.soci.image-layer-digest';
/** Layer descriptor annotation: media type of that image layer (capital T, as SOCI spells it). */
export const ANNOTATION_IMAGE_LAYER_MEDIA_TYPE = 'com.amazon.soci.image-layer-mediaType';
/** Layer descriptor annotation: decimal span size the zTOC was built with. */
export const ANNOTATION_SPAN_SIZE = 'com.amazon.soci.span-size';
/** Layer descriptor annotation `"true"` when xattrs may be skipped (`--optimizations xattr`). */
export const ANNOTATION_DISABLE_XATTRS = 'com.amazon.soci.disable-xattrs';
/** Index manifest annotation: the tool that built the index. */
export const ANNOTATION_BUILD_TOOL_IDENTIFIER = 'com.amazon.soci.build-tool-identifier';
/** Image manifest annotation (v2): digest of the image's SOCI index. */
export const ANNOTATION_INDEX_DIGEST = 'com.amazon.soci.index-digest';
/** OCI index entry annotation of a v2 SOCI index: digest of the (rewritten) image manifest it indexes. */
export const ANNOTATION_IMAGE_MANIFEST_DIGEST = 'com.amazon.soci.image-manifest-digest';

/** SOCI's own build tool identifier, for golden comparisons. */
export const SOCI_CLI_BUILD_TOOL_ID = 'AWS SOCI CLI v0.2';

/** The empty JSON config `{}` every SOCI index points at (SOCI pushes this blob too). */
export const EMPTY_CONFIG_BYTES: Buffer = Buffer.from('{}', 'utf8');
export const EMPTY_CONFIG_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
export const EMPTY_CONFIG_SIZE = 2;

export type SociIndexVersion = 'v1' | 'v2';

/** Artifact type (= config media type) of a SOCI index version. */
export function sociArtifactType(version: SociIndexVersion): string {
  return version === 'v1' ? MediaType.SociIndexV1 : MediaType.SociIndexV2;
}

export interface SociZtocInput {
  /** The image layer the zTOC indexes (digest and media type are recorded). */
  layer: Descriptor;
  /** The zTOC blob: only digest and size are used; the media type is always application/octet-stream. */
  ztoc: Descriptor;
  spanSize: number;
  /** Adds `com.amazon.soci.disable-xattrs: "true"` (SOCI `--optimizations xattr`). */
  disableXattrs?: boolean;
}

export interface BuildSociIndexOptions {
  version: SociIndexVersion;
  /** zTOCs in image-layer order (layers without a zTOC left out). Must not be empty (SOCI's ErrEmptyIndex). */
  ztocs: readonly SociZtocInput[];
  /** v1: the platform image manifest (required); only mediaType, digest and size are kept. v2: must be absent. */
  subject?: Descriptor;
  buildToolId: string;
  /** Prefetch artifact descriptors (`--prefetch-file`), listed after the zTOCs as SOCI lists them. */
  prefetches?: readonly Descriptor[];
}

export interface BuiltSociIndex {
  manifest: ImageManifest;
  /** Go-canonical bytes (what the snapshotter re-marshals to). */
  bytes: Buffer;
  /** `{mediaType: OCI manifest, digest, size, artifactType: SOCI index v1|v2}`. */
  descriptor: Descriptor;
}

function requireString(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw new ZtocError('INVALID_ARGUMENT', `${what} is missing`);
  return v;
}

function requireSize(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new ZtocError('INVALID_ARGUMENT', `${what} must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}

/** Builds a SOCI index manifest (v1 with subject, v2 without) exactly as SOCI's NewIndex + MarshalIndex. */
export function buildSociIndex(opts: BuildSociIndexOptions): BuiltSociIndex {
  const { version } = opts;
  if (version !== 'v1' && version !== 'v2') {
    throw new ZtocError('INVALID_ARGUMENT', `unknown SOCI index version ${String(version)}`);
  }
  if (opts.ztocs.length === 0) {
    throw new ZtocError('INVALID_ARGUMENT', 'no zTOCs: SOCI does not create an empty index (ErrEmptyIndex)');
  }
  if (version === 'v1' && opts.subject === undefined) {
    throw new ZtocError('INVALID_ARGUMENT', 'a SOCI index v1 needs a subject (the image manifest)');
  }
  if (version === 'v2' && opts.subject !== undefined) {
    throw new ZtocError('INVALID_ARGUMENT', 'a SOCI index v2 has no subject');
  }
  const buildToolId = requireString(opts.buildToolId, 'build tool identifier');

  const layers: Descriptor[] = opts.ztocs.map((z, i) => {
    const spanSize = z.spanSize;
    if (!Number.isSafeInteger(spanSize) || spanSize <= 0) {
      throw new ZtocError('INVALID_ARGUMENT', `zTOC ${i}: span size must be a positive integer, got ${spanSize}`);
    }
    const annotations: Record<string, string> = {
      [ANNOTATION_IMAGE_LAYER_DIGEST]: requireString(z.layer.digest, `zTOC ${i}: layer digest`),
      [ANNOTATION_IMAGE_LAYER_MEDIA_TYPE]: requireString(z.layer.mediaType, `zTOC ${i}: layer media type`),
      [ANNOTATION_SPAN_SIZE]: String(spanSize),
    };
    if (z.disableXattrs === true) annotations[ANNOTATION_DISABLE_XATTRS] = 'true';
    return {
      mediaType: MediaType.OctetStream,
      digest: requireString(z.ztoc.digest, `zTOC ${i}: digest`),
      size: requireSize(z.ztoc.size, `zTOC ${i}: size`),
      annotations,
    };
  });

  for (const [i, p] of (opts.prefetches ?? []).entries()) {
    if (p.mediaType !== MediaType.SociPrefetch) throw new ZtocError('INVALID_ARGUMENT', `prefetch ${i}: media type ${p.mediaType}, expected ${MediaType.SociPrefetch}`);
    const layer = requireString(p.annotations?.[ANNOTATION_IMAGE_LAYER_DIGEST], `prefetch ${i}: layer digest`);
    layers.push({
      mediaType: MediaType.SociPrefetch,
      digest: requireString(p.digest, `prefetch ${i}: digest`),
      size: requireSize(p.size, `prefetch ${i}: size`),
      annotations: { [ANNOTATION_IMAGE_LAYER_DIGEST]: layer },
    });
  }

  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: sociArtifactType(version), digest: EMPTY_CONFIG_DIGEST, size: EMPTY_CONFIG_SIZE },
    layers,
    annotations: { [ANNOTATION_BUILD_TOOL_IDENTIFIER]: buildToolId },
  };
  if (opts.subject !== undefined) {
    const s = opts.subject;
    manifest.subject = {
      mediaType: requireString(s.mediaType, 'subject media type'),
      digest: requireString(s.digest, 'subject digest'),
      size: requireSize(s.size, 'subject size'),
    };
  }
  const bytes = marshalManifest(manifest);
  return {
    manifest,
    bytes,
    descriptor: {
      mediaType: MediaType.OciManifest,
      digest: sha256Digest(bytes),
      size: bytes.length,
      artifactType: sociArtifactType(version),
    },
  };
}

export interface SociZtocInfo {
  /** The zTOC blob descriptor as listed in the index. */
  ztoc: Descriptor;
  layerDigest: string;
  layerMediaType: string | undefined;
  /** Undefined for indexes older than SOCI v0.12.0, which lack the span-size annotation. */
  spanSize: number | undefined;
  disableXattrs: boolean;
}

export interface SociIndexInfo {
  version: SociIndexVersion;
  manifest: ImageManifest;
  digest: string;
  size: number;
  buildToolId: string | undefined;
  subject: Descriptor | undefined;
  ztocs: SociZtocInfo[];
  /** Layer digest → zTOC descriptor. */
  ztocByLayer: Map<string, Descriptor>;
  /** Distinct span sizes, ascending. */
  spanSizes: number[];
  /** Prefetch descriptors (`application/vnd.amazon.soci.prefetch.v1+json`). */
  prefetches: Descriptor[];
  /** True when the bytes are Go-canonical, i.e. the snapshotter's re-marshal would reproduce them. */
  canonical: boolean;
}

/**
 * What the snapshotter stores after fetching an index: SOCI's UnmarshalIndex keeps config, layers, subject
 * and annotations, and MarshalIndex writes them back with schemaVersion 2 and the OCI manifest media type
 * (a top-level artifactType or any unknown field is dropped).
 */
export function remarshalLikeSnapshotter(m: ImageManifest): Buffer {
  const out: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: m.config, layers: m.layers };
  if (m.subject !== undefined) out.subject = m.subject;
  if (m.annotations !== undefined) out.annotations = m.annotations;
  return marshalManifest(out);
}

/** Parses a SOCI index manifest (v1 or v2, told apart by the config media type). */
export function parseSociIndex(bytes: Uint8Array): SociIndexInfo {
  const parsed = parseManifestOrIndex(bytes);
  if (parsed.kind !== 'manifest') {
    throw new ZtocError('MANIFEST_INVALID', 'not a SOCI index: this is an image index, not a manifest');
  }
  const manifest = parsed.manifest;
  let version: SociIndexVersion;
  if (manifest.config.mediaType === MediaType.SociIndexV1) version = 'v1';
  else if (manifest.config.mediaType === MediaType.SociIndexV2) version = 'v2';
  else {
    throw new ZtocError(
      'MANIFEST_INVALID',
      `not a SOCI index: config media type is ${JSON.stringify(manifest.config.mediaType)}`,
    );
  }
  const ztocs: SociZtocInfo[] = [];
  const prefetches: Descriptor[] = [];
  const ztocByLayer = new Map<string, Descriptor>();
  for (const [i, d] of manifest.layers.entries()) {
    const a = d.annotations ?? {};
    if (d.mediaType === MediaType.SociPrefetch) {
      prefetches.push(d);
      continue;
    }
    if (d.mediaType !== MediaType.OctetStream) continue; // the snapshotter ignores anything else
    const layerDigest = a[ANNOTATION_IMAGE_LAYER_DIGEST];
    if (layerDigest === undefined) {
      throw new ZtocError('MANIFEST_INVALID', `SOCI index layer ${i} (${d.digest}) has no ${ANNOTATION_IMAGE_LAYER_DIGEST}`);
    }
    const span = a[ANNOTATION_SPAN_SIZE];
    let spanSize: number | undefined;
    if (span !== undefined) {
      if (!/^[1-9][0-9]*$/.test(span) || !Number.isSafeInteger(Number(span))) {
        throw new ZtocError('MANIFEST_INVALID', `SOCI index layer ${i}: bad ${ANNOTATION_SPAN_SIZE} ${JSON.stringify(span)}`);
      }
      spanSize = Number(span);
    }
    ztocs.push({
      ztoc: d,
      layerDigest,
      layerMediaType: a[ANNOTATION_IMAGE_LAYER_MEDIA_TYPE],
      spanSize,
      disableXattrs: a[ANNOTATION_DISABLE_XATTRS] === 'true',
    });
    ztocByLayer.set(layerDigest, d);
  }
  const spanSizes = [...new Set(ztocs.flatMap((z) => (z.spanSize === undefined ? [] : [z.spanSize])))].sort((x, y) => x - y);
  return {
    version,
    manifest,
    digest: sha256Digest(bytes),
    size: bytes.length,
    buildToolId: manifest.annotations?.[ANNOTATION_BUILD_TOOL_IDENTIFIER],
    subject: manifest.subject,
    ztocs,
    ztocByLayer,
    spanSizes,
    prefetches,
    canonical: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(remarshalLikeSnapshotter(manifest)),
  };
}
