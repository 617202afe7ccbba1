// Owns the one interface the jobs use to talk to an image, wherever it lives: a registry
// repository or an OCI image layout on disk. Reads are verified; writes are blobs and manifests,
// and referrers are listed, recorded and removed the way the store supports (referrers API, tag
// fallback, or index.json entries with a subject).

import type { Descriptor, ImageIndex, ImageManifest } from '../oci/types.js';

export type ParsedDocument = { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

export interface FetchedDocument {
  descriptor: Descriptor;
  bytes: Buffer;
  doc: ParsedDocument;
}

export type ReferrerMechanism = 'api' | 'tag' | 'layout';

/** What removing one referrer did. */
export interface ReferrerRemoval {
  digest: string;
  /** The referrers listing no longer names it (fallback index rewritten, index.json edited, or manifest deleted). */
  unlisted: boolean;
  /** The manifest itself: deleted, kept (a layout keeps blobs; the registry refused: `note` says why), or already gone. */
  manifest: 'deleted' | 'kept' | 'absent';
  note?: string;
}

export interface OpenBlobOptions {
  /**
   * The consumer is done with each chunk when it asks for the next (buildZtoc copies what it keeps),
   * so a store may read every chunk into the same buffer: no allocation, and no garbage, per MiB.
   */
  reuseBuffer?: boolean;
}

export interface ImageStore {
  readonly kind: 'registry' | 'layout';
  /** The repository or layout, for messages (`127.0.0.1:5000/app`, `oci:./dir`). */
  readonly display: string;
  /** Resolves a tag or digest to the manifest or index it names, verified. */
  resolve(reference: string): Promise<FetchedDocument>;
  /** Fetches a manifest or index by descriptor, verified against its digest. */
  fetchDocument(desc: Descriptor): Promise<FetchedDocument>;
  /**
   * Streams a blob; the store checks size and digest when the stream ends, and marks the stream as
   * a VerifiedSource (src/ztoc/source.ts) so that the builder hashes the blob only once.
   */
  openBlob(desc: Descriptor, opts?: OpenBlobOptions): AsyncIterable<Uint8Array>;
  fetchBlob(desc: Descriptor, maxBytes: number): Promise<Buffer>;
  /** Compressed bytes [start, end) of a blob. */
  readRange(digest: string, start: number, end: number): Promise<Uint8Array>;
  /** Uploads a blob unless present; with `mountFrom`, tries a cross-repository mount first. */
  pushBlob(desc: Descriptor, bytes: Uint8Array, mountFrom?: string): Promise<'exists' | 'pushed' | 'mounted'>;
  /** Stores a manifest by digest, or under a tag. */
  pushManifest(reference: string | undefined, bytes: Uint8Array, mediaType: string): Promise<Descriptor>;
  /** Manifests whose `subject` is `subjectDigest`, optionally of one artifact type. */
  referrers(subjectDigest: string, artifactType?: string): Promise<Descriptor[]>;
  /** Stores a manifest that has a `subject` and records it as a referrer. */
  pushReferrer(bytes: Uint8Array, manifest: ImageManifest): Promise<{ descriptor: Descriptor; mechanism: ReferrerMechanism }>;
  /**
   * Stops `digests` being referrers of `subjectDigest`, keeping every other referrer: the tag fallback index is
   * rewritten without them (and the manifests deleted where the registry allows it), with the referrers API the
   * manifests are deleted, in a layout their index.json entries go. Digests that are not referrers are `absent`.
   */
  removeReferrers(subjectDigest: string, digests: readonly string[]): Promise<{ mechanism: ReferrerMechanism; removals: ReferrerRemoval[] }>;
  close(): Promise<void>;
}
