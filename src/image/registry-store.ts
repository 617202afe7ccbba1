// Owns the ImageStore over one registry repository, on top of src/registry's Repository.

import { ZtocError } from '../errors.js';
import { Repository, referrersTag } from '../registry/index.js';
import { serializeReferrersIndex } from '../registry/referrers.js';
import { sha256Digest } from '../oci/digest.js';
import { MediaType, type Descriptor, type ImageIndex, type ImageManifest } from '../oci/types.js';
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
    return this.repo.fetchBlob(desc);
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
   * Until the registry client has a removal of its own (referrers branch: Repository.removeReferrers and
   * deleteManifest), this rewrites the `sha256-<hex>` fallback index without `digests` through the public manifest
   * calls: read, drop ours, write, and read again until two reads show ours gone and every other entry seen still
   * there (a concurrent writer that read before our write puts back what it saw: the loop takes that into account).
   * With the referrers API a referrer goes only when its manifest is deleted, which this interim code cannot do.
   */
  async removeReferrers(subjectDigest: string, digests: readonly string[]): Promise<{ mechanism: ReferrerMechanism; removals: ReferrerRemoval[] }> {
    const listed = new Set((await this.repo.referrers(subjectDigest)).map((d) => d.digest));
    const mechanism: ReferrerMechanism = this.repo.referrersCapability === 'api' ? 'api' : 'tag';
    const present = digests.filter((d) => listed.has(d));
    const absent = (digest: string): ReferrerRemoval => ({ digest, unlisted: false, manifest: 'absent' });
    if (mechanism === 'api') {
      return {
        mechanism,
        removals: digests.map((digest) =>
          listed.has(digest) ? { digest, unlisted: false, manifest: 'kept', note: 'with the referrers API the SOCI index manifest must be deleted, which this build of ztoc cannot do yet' } : absent(digest),
        ),
      };
    }
    const tag = referrersTag(subjectDigest);
    const drop = new Set(present);
    const seen = new Map<string, Descriptor>();
    let confirmed = 0;
    for (let round = 0; round < 12 && confirmed < 2; round++) {
      const current = await this.readFallback(tag);
      for (const d of current) if (!drop.has(d.digest) && !seen.has(d.digest)) seen.set(d.digest, d);
      const ours = current.some((d) => drop.has(d.digest));
      const lost = [...seen.values()].filter((d) => !current.some((c) => c.digest === d.digest));
      if (!ours && lost.length === 0) {
        confirmed++;
        await new Promise((r) => setTimeout(r, 150));
        continue;
      }
      confirmed = 0;
      const keep = [...current.filter((d) => !drop.has(d.digest)), ...lost];
      await this.repo.pushManifest(tag, serializeReferrersIndex({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: keep }), MediaType.OciIndex);
    }
    if (confirmed < 2) throw new ZtocError('REGISTRY_ERROR', `referrers fallback ${this.display}:${tag}: other writers keep changing it; ${present.join(', ')} may still be listed`);
    return {
      mechanism,
      removals: digests.map((digest) =>
        drop.has(digest) ? { digest, unlisted: true, manifest: 'kept', note: 'the manifest stays in the repository (untagged) for the registry to garbage-collect' } : absent(digest),
      ),
    };
  }

  private async readFallback(tag: string): Promise<Descriptor[]> {
    try {
      const m = await this.repo.resolve(tag);
      return m.manifest !== undefined && 'manifests' in m.manifest ? m.manifest.manifests : [];
    } catch (err) {
      if (err instanceof ZtocError && err.code === 'REGISTRY_NOT_FOUND') return [];
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.repo.close();
  }
}
