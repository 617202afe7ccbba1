// Test helper: an ImageStore held in memory that records every push (blob, manifest, referrer) in order, and every
// layer read. Seeding (addBlob, addImage, addIndex) is not recorded. It verifies like the real stores: blob reads
// are checked against size and digest when the stream ends, pushed blobs must match their descriptor, manifests are
// parsed with the same validator. Faults are injected per call (`failPush`), or by seeding a blob whose bytes lie
// about its digest (`addCorruptBlob`). Several stores may share a `MemoryRegistry`, so pushes with `mountFrom` mount
// from another repository the way a registry does.

import { ZtocError } from '../../src/errors.js';
import type { FetchedDocument, ImageStore, ParsedDocument, ReferrerRemoval } from '../../src/image/store.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType, type Descriptor, type ImageManifest, type Platform } from '../../src/oci/types.js';
import { parseManifestOrIndex } from '../../src/oci/validate.js';
import { marshalIndex, marshalManifest } from '../../src/oci/gojson.js';

export type PushRecord =
  | { op: 'blob'; digest: string; mediaType: string; result: 'pushed' | 'exists' | 'mounted'; from?: string }
  | { op: 'manifest'; digest: string; mediaType: string; tag?: string }
  | { op: 'referrer'; digest: string; artifactType: string; subject: string };

export interface MemoryLayer {
  bytes: Uint8Array;
  mediaType?: string;
}

/** Repositories of one in-memory registry, by name (for cross-repository mounts). */
export type MemoryRegistry = Map<string, MemoryStore>;

const CHUNK = 64 * 1024;

export class MemoryStore implements ImageStore {
  readonly kind = 'registry' as const;
  readonly display: string;
  /** Every push, in the order the store received it. */
  readonly pushes: PushRecord[] = [];
  /** Digests of the blobs streamed with openBlob, in order. */
  readonly reads: string[] = [];
  private readonly blobs = new Map<string, Buffer>();
  private readonly tags = new Map<string, string>();
  private readonly referrerList: Descriptor[] = [];
  private faults: Array<(p: PushRecord) => boolean> = [];

  constructor(
    readonly name = 'memory/app',
    private readonly registry?: MemoryRegistry,
  ) {
    this.display = `memory/${name}`;
    registry?.set(name, this);
  }

  // --- seeding (not recorded) -------------------------------------------------------------------------------------

  addBlob(bytes: Uint8Array, mediaType: string = MediaType.OctetStream): Descriptor {
    const digest = sha256Digest(bytes);
    this.blobs.set(digest, Buffer.from(bytes));
    return { mediaType, digest, size: bytes.length };
  }

  /** A blob stored under `of`'s digest and size but holding other bytes (damaged in the registry). */
  addCorruptBlob(of: Descriptor, bytes: Uint8Array): void {
    this.blobs.set(of.digest, Buffer.from(bytes));
  }

  /** A single-platform image: an OCI config for `platform` and the layers as given. */
  addImage(layers: MemoryLayer[], opts: { tag?: string; platform?: Platform } = {}): { descriptor: Descriptor; manifest: ImageManifest; layers: Descriptor[] } {
    const platform = opts.platform ?? { architecture: 'amd64', os: 'linux' };
    const config = this.addBlob(Buffer.from(JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: [] } })), MediaType.OciConfig);
    const descs = layers.map((l) => this.addBlob(l.bytes, l.mediaType ?? MediaType.OciLayerGzip));
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: descs };
    const descriptor = this.addDocument(marshalManifest(manifest), MediaType.OciManifest, opts.tag);
    return { descriptor, manifest, layers: descs };
  }

  /** An image index over manifests added with addImage. */
  addIndex(manifests: Array<{ descriptor: Descriptor; platform: Platform }>, tag?: string): Descriptor {
    const index = { schemaVersion: 2 as const, mediaType: MediaType.OciIndex, manifests: manifests.map((m) => ({ ...m.descriptor, platform: m.platform })) };
    return this.addDocument(marshalIndex(index), MediaType.OciIndex, tag);
  }

  addDocument(bytes: Uint8Array, mediaType: string, tag?: string): Descriptor {
    const d = this.addBlob(bytes, mediaType);
    if (tag !== undefined) this.tags.set(tag, d.digest);
    return d;
  }

  /** Makes the first push that `match` accepts throw (REGISTRY_ERROR, as a registry's 500 would). */
  failPush(match: (p: PushRecord) => boolean): void {
    this.faults.push(match);
  }

  // --- what a test reads back -------------------------------------------------------------------------------------

  has(digest: string): boolean {
    return this.blobs.has(digest);
  }

  blob(digest: string): Buffer {
    const b = this.blobs.get(digest);
    if (b === undefined) throw new Error(`no blob ${digest} in ${this.display}`);
    return b;
  }

  tagged(tag: string): string | undefined {
    return this.tags.get(tag);
  }

  // --- ImageStore -------------------------------------------------------------------------------------------------

  async resolve(reference: string): Promise<FetchedDocument> {
    const digest = reference.startsWith('sha256:') ? reference : this.tags.get(reference);
    if (digest === undefined) throw new ZtocError('REGISTRY_NOT_FOUND', `${this.display}:${reference}: no such tag`, { status: 404 });
    return this.fetchDocument({ mediaType: '', digest, size: -1 });
  }

  async fetchDocument(desc: Descriptor): Promise<FetchedDocument> {
    const bytes = this.stored(desc.digest);
    const p = parseManifestOrIndex(bytes, desc.mediaType || undefined);
    const doc: ParsedDocument = p.kind === 'manifest' ? { kind: 'manifest', manifest: p.manifest } : { kind: 'index', index: p.index };
    return { descriptor: { mediaType: p.mediaType, digest: desc.digest, size: bytes.length }, bytes, doc };
  }

  async *openBlob(desc: Descriptor): AsyncIterable<Uint8Array> {
    this.reads.push(desc.digest);
    const bytes = this.stored(desc.digest);
    for (let off = 0; off < bytes.length; off += CHUNK) yield bytes.subarray(off, off + CHUNK);
    this.verify(desc, bytes);
  }

  async fetchBlob(desc: Descriptor, maxBytes: number): Promise<Buffer> {
    if (desc.size > maxBytes) throw new ZtocError('MANIFEST_TOO_LARGE', `blob ${desc.digest} is ${desc.size} bytes (limit ${maxBytes})`);
    const bytes = this.stored(desc.digest);
    this.verify(desc, bytes);
    return bytes;
  }

  async readRange(digest: string, start: number, end: number): Promise<Uint8Array> {
    return this.stored(digest).subarray(start, end);
  }

  async pushBlob(desc: Descriptor, bytes: Uint8Array, mountFrom?: string): Promise<'exists' | 'pushed' | 'mounted'> {
    if (sha256Digest(bytes) !== desc.digest || bytes.length !== desc.size) throw new ZtocError('DIGEST_MISMATCH', `pushed blob does not match ${desc.digest}`);
    const source = mountFrom !== undefined ? this.registry?.get(mountFrom) : undefined;
    const result = this.blobs.has(desc.digest) ? 'exists' : source?.has(desc.digest) ? 'mounted' : 'pushed';
    this.record({ op: 'blob', digest: desc.digest, mediaType: desc.mediaType, result, ...(mountFrom !== undefined ? { from: mountFrom } : {}) });
    this.blobs.set(desc.digest, Buffer.from(bytes));
    return result;
  }

  async pushManifest(reference: string | undefined, bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    parseManifestOrIndex(bytes, mediaType);
    const digest = sha256Digest(bytes);
    this.record({ op: 'manifest', digest, mediaType, ...(reference !== undefined ? { tag: reference } : {}) });
    this.blobs.set(digest, Buffer.from(bytes));
    if (reference !== undefined) this.tags.set(reference, digest);
    return { mediaType, digest, size: bytes.length };
  }

  async referrers(subjectDigest: string, artifactType?: string): Promise<Descriptor[]> {
    return this.referrerList.filter((r) => this.subjectOf(r) === subjectDigest && (artifactType === undefined || r.artifactType === artifactType));
  }

  async removeReferrers(subjectDigest: string, digests: readonly string[]): Promise<{ mechanism: 'api'; removals: ReferrerRemoval[] }> {
    const removals = digests.map((digest): ReferrerRemoval => {
      const i = this.referrerList.findIndex((r) => r.digest === digest && this.subjectOf(r) === subjectDigest);
      if (i < 0) return { digest, unlisted: false, manifest: 'absent' };
      // Like a registry with the referrers API: the referrer goes with its manifest.
      this.referrerList.splice(i, 1);
      this.blobs.delete(digest);
      return { digest, unlisted: true, manifest: 'deleted' };
    });
    return { mechanism: 'api', removals };
  }

  async pushReferrer(bytes: Uint8Array, manifest: ImageManifest): Promise<{ descriptor: Descriptor; mechanism: 'api' }> {
    if (manifest.subject === undefined) throw new ZtocError('INVALID_ARGUMENT', 'a referrer needs a subject');
    const digest = sha256Digest(bytes);
    const artifactType = manifest.artifactType ?? manifest.config.mediaType;
    this.record({ op: 'referrer', digest, artifactType, subject: manifest.subject.digest });
    this.blobs.set(digest, Buffer.from(bytes));
    const descriptor: Descriptor = { mediaType: manifest.mediaType ?? MediaType.OciManifest, digest, size: bytes.length, artifactType };
    this.referrerList.push(descriptor);
    return { descriptor, mechanism: 'api' };
  }

  async close(): Promise<void> {}

  // --- internals --------------------------------------------------------------------------------------------------

  private record(p: PushRecord): void {
    const i = this.faults.findIndex((f) => f(p));
    if (i >= 0) {
      this.faults.splice(i, 1);
      throw new ZtocError('REGISTRY_ERROR', `${this.display}: injected failure of ${p.op} ${p.digest}`, { status: 500 });
    }
    this.pushes.push(p);
  }

  private stored(digest: string): Buffer {
    const b = this.blobs.get(digest);
    if (b === undefined) throw new ZtocError('REGISTRY_NOT_FOUND', `${this.display}@${digest}: blob unknown`, { status: 404 });
    return b;
  }

  private verify(desc: Descriptor, bytes: Buffer): void {
    if (desc.size >= 0 && bytes.length !== desc.size) throw new ZtocError('SIZE_MISMATCH', `blob ${desc.digest} is ${bytes.length} bytes, expected ${desc.size}`, { offset: bytes.length });
    const got = sha256Digest(bytes);
    if (got !== desc.digest) throw new ZtocError('DIGEST_MISMATCH', `blob ${desc.digest} has digest ${got}`);
  }

  private subjectOf(r: Descriptor): string | undefined {
    const m = JSON.parse(this.stored(r.digest).toString('utf8')) as ImageManifest;
    return m.subject?.digest;
  }
}
