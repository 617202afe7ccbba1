// Owns the ImageStore over one registry repository, on top of src/registry's Repository.

import { ZtocError, isZtocError } from '../errors.js';
import { Repository, type RemoveReferrersResult } from '../registry/index.js';
import { sha256Digest } from '../oci/digest.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../oci/types.js';
import { verifiedSource } from '../ztoc/source.js';
import type { FetchedDocument, ImageStore, ParsedDocument, ReferrerMechanism, ReferrerRemoval } from './store.js';

function toDoc(m: { manifest?: ImageManifest | ImageIndex }, what: string): ParsedDocument {
  const doc = m.manifest;
  if (doc === undefined) throw new ZtocError('NOT_AN_IMAGE', `${what} is not an image manifest or index`);
  return 'manifests' in doc ? { kind: 'index', index: doc } : { kind: 'manifest', manifest: doc };
}

export class RegistryStore implements ImageStore {
  readonly kind = 'registry' as const;
  readonly display: string;

  constructor(readonly repo: Repository) {
    this.display = `${repo.registry}/${repo.name}`;
  }

  async resolve(reference: string): Promise<FetchedDocument> {
    const m = await this.repo.resolve(reference);
    return { descriptor: m.descriptor, bytes: m.bytes, doc: toDoc(m, `${this.display}:${reference}`) };
  }

  async fetchDocument(desc: Descriptor): Promise<FetchedDocument> {
    const m = await this.repo.resolve(desc.digest);
    if (desc.size >= 0 && m.bytes.length !== desc.size) {
      throw new ZtocError('SIZE_MISMATCH', `manifest ${desc.digest} is ${m.bytes.length} bytes, its descriptor says ${desc.size}`);
    }
    return { descriptor: m.descriptor, bytes: m.bytes, doc: toDoc(m, `${this.display}@${desc.digest}`) };
  }

  openBlob(desc: Descriptor): AsyncIterable<Uint8Array> {
    // fetchBlob checks size and digest as the bytes flow (it must count them to resume with Range);
    // the mark tells the builder not to hash them a second time.
    return verifiedSource(this.repo.fetchBlob(desc), desc.digest);
  }

  fetchBlob(desc: Descriptor, maxBytes: number): Promise<Buffer> {
    return this.repo.fetchBlobBytes(desc, { maxBytes });
  }

  readRange(digest: string, start: number, end: number): Promise<Uint8Array> {
    return this.repo.fetchBlobRange(digest, start, end);
  }

  async pushBlob(desc: Descriptor, bytes: Uint8Array, mountFrom?: string): Promise<'exists' | 'pushed' | 'mounted'> {
    if (mountFrom !== undefined && mountFrom !== this.repo.name) {
      if (await this.repo.blobExists(desc.digest)) return 'exists';
      return this.repo.mountBlob(desc, mountFrom, bytes);
    }
    return this.repo.pushBlob(desc, bytes);
  }

  async pushManifest(reference: string | undefined, bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    const r = await this.repo.pushManifest(reference ?? sha256Digest(bytes), bytes, mediaType);
    return { mediaType, digest: r.digest, size: bytes.length };
  }

  referrers(subjectDigest: string, artifactType?: string): Promise<Descriptor[]> {
    return this.repo.referrers(subjectDigest, artifactType);
  }

  async pushReferrer(bytes: Uint8Array, manifest: ImageManifest): Promise<{ descriptor: Descriptor; mechanism: ReferrerMechanism }> {
    if (manifest.subject === undefined) throw new ZtocError('INVALID_ARGUMENT', 'a referrer needs a subject');
    const info = {
      config: manifest.config,
      subject: manifest.subject,
      ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
      ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
    };
    const r = await this.repo.pushReferrer(bytes, manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json', info);
    return { descriptor: r.descriptor, mechanism: r.mechanism };
  }

  /**
   * Through the registry client's removal (Repository.removeReferrers): on the tag fallback the `sha256-<hex>` index
   * is rewritten without `digests` (every other referrer kept, guarded against concurrent writers), and then each
   * removed manifest is deleted where the registry allows it; with the referrers API the manifests are deleted,
   * which is the only way out of the listing: a registry that refuses deletes keeps them listed, and says so.
   */
  async removeReferrers(subjectDigest: string, digests: readonly string[]): Promise<{ mechanism: ReferrerMechanism; removals: ReferrerRemoval[] }> {
    const absent = (digest: string): ReferrerRemoval => ({ digest, unlisted: false, manifest: 'absent' });
    let r: RemoveReferrersResult;
    try {
      r = await this.repo.removeReferrers(subjectDigest, [...digests]);
    } catch (err) {
      if (!isZtocError(err, 'REGISTRY_UNSUPPORTED')) throw err;
      // Referrers API and no deletes (Docker Hub, distribution with storage.delete disabled): what is still listed
      // stays; what is gone was deleted before the registry refused (or was never there).
      const listed = new Set((await this.repo.referrers(subjectDigest)).map((d) => d.digest));
      const note = `the registry does not allow deleting manifests, and with the referrers API deleting the manifest is the only way to remove a referrer (${err.message})`;
      return {
        mechanism: 'api',
        removals: digests.map((digest) => (listed.has(digest) ? { digest, unlisted: false, manifest: 'kept', note } : { digest, unlisted: true, manifest: 'deleted' })),
      };
    }
    const removed = new Set(r.removed);
    const removals: ReferrerRemoval[] = [];
    for (const digest of digests) {
      if (!removed.has(digest)) removals.push(absent(digest));
      else if (r.mechanism === 'api') removals.push({ digest, unlisted: true, manifest: 'deleted' });
      else removals.push({ digest, unlisted: true, ...(await this.deleteUnlisted(digest)) });
    }
    return { mechanism: r.mechanism, removals };
  }

  /** Tag fallback: the manifest, no longer listed, is deleted where the registry allows it. */
  private async deleteUnlisted(digest: string): Promise<Pick<ReferrerRemoval, 'manifest' | 'note'>> {
    try {
      return { manifest: (await this.repo.deleteManifest(digest)) === 'deleted' ? 'deleted' : 'absent' };
    } catch (err) {
      if (!isZtocError(err, 'REGISTRY_UNSUPPORTED')) throw err;
      return { manifest: 'kept', note: 'the registry does not allow deleting manifests: it stays in the repository, untagged, for the registry to garbage-collect' };
    }
  }

  async close(): Promise<void> {
    await this.repo.close();
  }
}
