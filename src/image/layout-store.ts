// Owns the ImageStore over an OCI image layout directory: the embedded default (no registry).
// Referrers are index.json entries whose manifest has a `subject`; removing one edits index.json.

import { ZtocError } from '../errors.js';
import { OciLayout } from '../layout/index.js';
import { parseManifestOrIndex } from '../oci/validate.js';
import { sha256Digest } from '../oci/digest.js';
import type { Descriptor, ImageManifest } from '../oci/types.js';
import { verifiedSource } from '../ztoc/source.js';
import type { FetchedDocument, ImageStore, OpenBlobOptions, ParsedDocument, ReferrerRemoval } from './store.js';

function toDoc(bytes: Uint8Array, mediaType?: string): { doc: ParsedDocument; mediaType: string } {
  const p = parseManifestOrIndex(bytes, mediaType);
  return p.kind === 'manifest'
    ? { doc: { kind: 'manifest', manifest: p.manifest }, mediaType: p.mediaType }
    : { doc: { kind: 'index', index: p.index }, mediaType: p.mediaType };
}

export class LayoutStore implements ImageStore {
  readonly kind = 'layout' as const;
  readonly display: string;

  private constructor(readonly layout: OciLayout, dir: string) {
    this.display = `oci:${dir}`;
  }

  static async open(dir: string): Promise<LayoutStore> {
    return new LayoutStore(await OciLayout.open(dir), dir);
  }

  async resolve(reference: string | undefined): Promise<FetchedDocument> {
    const desc = await this.layout.resolve(reference);
    return this.fetchDocument(desc);
  }

  async fetchDocument(desc: Descriptor): Promise<FetchedDocument> {
    const bytes = await this.layout.readBlob(desc.digest, desc.size >= 0 ? desc.size : undefined);
    const { doc, mediaType } = toDoc(bytes, desc.mediaType || undefined);
    const descriptor: Descriptor = { mediaType, digest: desc.digest, size: bytes.length };
    if (desc.platform !== undefined) descriptor.platform = desc.platform;
    return { descriptor, bytes, doc };
  }

  openBlob(desc: Descriptor, opts: OpenBlobOptions = {}): AsyncIterable<Uint8Array> {
    // The stream hashes and checks itself; the mark tells the builder not to hash it again.
    return verifiedSource(this.layout.openBlobStream(desc.digest, { verify: true, reuseBuffer: opts.reuseBuffer === true }), desc.digest);
  }

  async fetchBlob(desc: Descriptor, maxBytes: number): Promise<Buffer> {
    if (desc.size > maxBytes) throw new ZtocError('MANIFEST_TOO_LARGE', `blob ${desc.digest} is ${desc.size} bytes (limit ${maxBytes})`);
    return this.layout.readBlob(desc.digest, desc.size);
  }

  readRange(digest: string, start: number, end: number): Promise<Uint8Array> {
    return this.layout.readRange(digest, start, end);
  }

  async pushBlob(desc: Descriptor, bytes: Uint8Array): Promise<'exists' | 'pushed'> {
    if (await this.layout.hasBlob(desc.digest)) return 'exists';
    const digest = await this.layout.writeBlob(bytes);
    if (digest !== desc.digest) throw new ZtocError('DIGEST_MISMATCH', `wrote ${digest}, expected ${desc.digest}`);
    return 'pushed';
  }

  async pushManifest(reference: string | undefined, bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    const tag = reference !== undefined && !reference.includes(':') ? reference : undefined;
    if (tag === undefined) {
      await this.layout.writeBlob(bytes);
      return { mediaType, digest: sha256Digest(bytes), size: bytes.length };
    }
    return this.layout.addManifestBytes(bytes, mediaType, { tag });
  }

  referrers(subjectDigest: string, artifactType?: string): Promise<Descriptor[]> {
    return this.layout.referrers(subjectDigest, artifactType);
  }

  async pushReferrer(bytes: Uint8Array, manifest: ImageManifest): Promise<{ descriptor: Descriptor; mechanism: 'layout' }> {
    const mediaType = manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
    await this.layout.writeBlob(bytes);
    const descriptor = await this.layout.addReferrer({ mediaType, digest: sha256Digest(bytes), size: bytes.length });
    return { descriptor, mechanism: 'layout' };
  }

  async removeReferrers(subjectDigest: string, digests: readonly string[]): Promise<{ mechanism: 'layout'; removals: ReferrerRemoval[] }> {
    const removed = new Set(await this.layout.removeReferrers(subjectDigest, digests));
    const removals = digests.map((digest): ReferrerRemoval =>
      removed.has(digest)
        ? { digest, unlisted: true, manifest: 'kept', note: 'index.json entry removed; the blobs stay in the layout (it has no garbage collection)' }
        : { digest, unlisted: false, manifest: 'absent' },
    );
    return { mechanism: 'layout', removals };
  }

  async close(): Promise<void> {}
}
