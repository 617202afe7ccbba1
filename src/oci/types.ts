// Owns the OCI data model ztoc works with: descriptors, image manifests, image indexes, platforms,
// and the media types of the OCI image spec v1.1, Docker v2 and SOCI. Field order in these
// interfaces mirrors the Go structs of image-spec v1.1.1, which Go-canonical JSON depends on.

export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  OciLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistTar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  OctetStream: 'application/octet-stream',
  SociIndexV1: 'application/vnd.amazon.soci.index.v1+json',
  SociIndexV2: 'application/vnd.amazon.soci.index.v2+json',
  SociPrefetch: 'application/vnd.amazon.soci.prefetch.v1+json',
} as const;

/** Every manifest media type ztoc asks for (Debian's registry 404s a GET whose Accept misses the stored type). */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.OciManifest,
  MediaType.OciIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
];

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList;
}

export function isManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciManifest || mt === MediaType.DockerManifest;
}

/** What a referrer descriptor is made from: the artifactType, config media type and annotations of its document. */
export interface ReferrerDocument {
  artifactType?: string;
  config?: { mediaType: string };
  annotations?: Record<string, string>;
  /** The referred-to manifest; not part of the descriptor. */
  subject?: Descriptor;
}

/**
 * The descriptor of a referrer as the referrers API lists it (and the tag-fallback index and a layout's
 * index.json record it): artifactType is the document's artifactType, else its config media type (image-spec
 * manifest.md "artifactType"); non-empty annotations are copied. Fields in Go struct order.
 */
export function referrerDescriptor(desc: { mediaType: string; digest: string; size: number }, doc: ReferrerDocument): Descriptor {
  const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  if (doc.annotations !== undefined && Object.keys(doc.annotations).length > 0) entry.annotations = { ...doc.annotations };
  const artifactType = doc.artifactType || doc.config?.mediaType;
  if (artifactType) entry.artifactType = artifactType;
  return entry;
}

/** How a layer's bytes are compressed, from its media type (soci-format.md §4). */
export type LayerCompression = 'gzip' | 'tar' | 'zstd' | 'unsupported';

export function layerCompression(mediaType: string): LayerCompression {
  switch (mediaType) {
    case MediaType.OciLayerGzip:
    case MediaType.OciLayerNondistGzip:
    case MediaType.DockerLayerGzip:
    case MediaType.DockerForeignLayerGzip:
      return 'gzip';
    case MediaType.OciLayerTar:
    case MediaType.OciLayerNondistTar:
    case MediaType.DockerLayerTar:
      return 'tar';
    case MediaType.OciLayerZstd:
    case MediaType.OciLayerNondistZstd:
      return 'zstd';
    default:
      return 'unsupported';
  }
}
