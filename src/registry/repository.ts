// Owns the distribution API of one repository (registry host + name): manifests (resolve, fetch, exists, push,
// delete), blobs (verified streaming fetch over the Range-resuming reader of resumable.ts, range reads, exists,
// monolithic POST+PUT upload, cross-repository mount), tag listing, and referrers through the API or the
// `sha256-<hex>` tag fallback (updated by referrers-fallback.ts): listing, pushing, removing. Every call goes through
// a (shareable) RegistryClient; the retry policy (for resume and fallback pauses) and the debug sink are injected.
// The catalog belongs to Registry (registry.ts).

import { setTimeout as sleep } from 'node:timers/promises';
import { ZtocError, isZtocError } from '../errors.js';
import { Sha256Counter, isSha256Digest, isValidDigest, sha256Digest } from '../oci/digest.js';
import { parseRegistryReference, type RegistryReference } from '../oci/reference.js';
import { MANIFEST_ACCEPT, MediaType, referrerDescriptor, type Descriptor, type ImageIndex, type ImageManifest } from '../oci/types.js';
import { repositoryScope } from './auth.js';
import { RegistryClient, type ClientOptions, type ReferrersCapability, type RegistryRequest } from './client.js';
import { displayUrl, failedResponse, RegistryResponseError } from './errors.js';
import { nextLink } from './link.js';
import { listAllPages, type ListOptions } from './listing.js';
import {
  filterByArtifactType,
  referrersTag,
  serializeReferrersIndex,
  withKeyLock,
  type ReferrerChange,
  type ReferrerManifestInfo,
} from './referrers.js';
import { updateFallbackIndex, type FallbackIo } from './referrers-fallback.js';
import { backoffDelay, type RetryPolicy } from './retry.js';
import { parseContentRange, resumableBody } from './resumable.js';
import { MAX_MANIFEST_BYTES, bareMediaType, parseFetchedManifest, parseReferrersIndex } from './schemas.js';
import type { HttpMethod, HttpResponse } from './transport.js';

export interface RepositoryOptions extends ClientOptions {
  /** Share connections, tokens and capabilities with other repositories (recommended). Client options above are then ignored. */
  client?: RegistryClient;
  /** The retry policy for this repository's own waits (resuming a cut blob, fallback-index retries). Default: the client's. */
  retryPolicy?: RetryPolicy;
  /** Debug sink for this repository's decisions. Default: the client's (`onDebug`). */
  debug?: (line: string) => void;
  /** Skip detection: 'api' = the registry implements the referrers API, 'tag' = use the tag fallback. */
  referrersCapability?: ReferrersCapability;
}

export interface FetchedManifest {
  /** mediaType (body's, else Content-Type), digest over the raw bytes, size. */
  descriptor: Descriptor;
  /** Exactly the bytes the registry sent. */
  bytes: Buffer;
  /** The validated document for image manifests and indexes; undefined for other artifact types. */
  manifest?: ImageManifest | ImageIndex;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface FetchBlobOptions extends CallOptions {
  /** Resume attempts allowed in a row without progress (default: the retry policy's maxAttempts). */
  maxResumes?: number;
}

export interface PushManifestResult {
  digest: string;
  /** The registry answered with an `OCI-Subject` header, i.e. it implements the referrers API. */
  subjectSupported: boolean;
}

export interface PushReferrerResult {
  descriptor: Descriptor;
  /** Which mechanism recorded the referrer: the registry's referrers API, or the `sha256-<hex>` fallback tag. */
  mechanism: ReferrersCapability;
}

export type { ListOptions };

export interface RemoveReferrersResult {
  mechanism: ReferrersCapability;
  /** The digests that were listed as referrers and have been removed. */
  removed: string[];
}

export type BlobPushResult = 'exists' | 'pushed';
/** 'exists': another write of the same blob to this repository, in flight on the same client, put it there. */
export type BlobMountResult = 'mounted' | 'pushed' | 'exists';

const REFERRERS_PAGE_LIMIT = 4 * 1024 * 1024;

export class Repository {
  /** Registry name as in the reference (`docker.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  /** Repository path (`library/ubuntu`). */
  readonly name: string;
  readonly client: RegistryClient;
  private readonly ownsClient: boolean;
  private readonly retryPolicy: RetryPolicy;
  private readonly debug: (line: string) => void;

  constructor(registry: string, name: string, opts: RepositoryOptions = {}) {
    this.registry = registry;
    this.name = name;
    if (opts.client !== undefined) {
      this.client = opts.client;
      this.ownsClient = false;
    } else {
      this.client = new RegistryClient(opts);
      this.ownsClient = true;
    }
    this.retryPolicy = opts.retryPolicy ?? this.client.retryPolicy;
    this.debug = opts.debug ?? this.client.debug;
    if (opts.referrersCapability !== undefined) this.client.setReferrersCapability(registry, opts.referrersCapability);
  }

  /** A repository for a parsed or textual registry reference (`127.0.0.1:5000/a/b:tag`). */
  static fromReference(ref: RegistryReference | string, opts: RepositoryOptions = {}): Repository {
    const r = typeof ref === 'string' ? parseRegistryReference(ref) : ref;
    return new Repository(r.registry, r.repository, opts);
  }

  /** Close the connection pool if this repository created its own client. */
  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close();
  }

  get referrersCapability(): ReferrersCapability | undefined {
    return this.client.getReferrersCapability(this.registry);
  }

  set referrersCapability(cap: ReferrersCapability) {
    this.client.setReferrersCapability(this.registry, cap);
  }

  // --- plumbing ------------------------------------------------------------------------------------------------

  private url(path: string, query?: Record<string, string>): URL {
    const u = new URL(`/v2/${this.name}/${path}`, this.client.baseUrl(this.registry));
    for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v);
    return u;
  }

  private pullScopes(): string[] {
    return [repositoryScope(this.name, 'pull')];
  }

  private pushScopes(): string[] {
    return [repositoryScope(this.name, 'pull', 'push')];
  }

  private deleteScopes(): string[] {
    return [repositoryScope(this.name, 'pull', 'push', 'delete')];
  }

  private req(method: HttpMethod, url: URL, scopes: string[], extra: Partial<RegistryRequest> = {}): RegistryRequest {
    return { method, url, registry: this.registry, repository: this.name, scopes, ...extra };
  }

  private fail(res: HttpResponse, context?: string): Promise<RegistryResponseError> {
    return failedResponse(res, context);
  }

  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return sleep(ms, undefined, signal === undefined ? undefined : { signal });
  }

  private where(ref: string): string {
    return `${this.registry}/${this.name}${ref.includes(':') && isValidDigest(ref) ? '@' : ':'}${ref}`;
  }

  private checkRef(ref: string): void {
    if (ref.includes(':')) {
      if (!isValidDigest(ref)) throw new ZtocError('INVALID_ARGUMENT', `invalid digest ${JSON.stringify(ref)}`);
    } else if (!/^[\w][\w.-]{0,127}$/.test(ref)) {
      throw new ZtocError('INVALID_ARGUMENT', `invalid tag ${JSON.stringify(ref)}`);
    }
  }

  // --- manifests -----------------------------------------------------------------------------------------------

  /**
   * GET a manifest by tag or digest with the full Accept list. The digest is computed over the raw bytes; when
   * fetching by digest it must equal the requested one (and so must Docker-Content-Digest, when sent).
   */
  async resolve(reference: string, opts: CallOptions = {}): Promise<FetchedManifest> {
    const { bytes, digest, contentType, where } = await this.fetchManifestBytes(reference, opts);
    const parsed = parseFetchedManifest(bytes, contentType, `manifest ${where}`);
    const descriptor: Descriptor = { mediaType: parsed.mediaType, digest, size: bytes.length };
    const out: FetchedManifest = { descriptor, bytes };
    if (parsed.kind === 'manifest') out.manifest = parsed.manifest;
    else if (parsed.kind === 'index') out.manifest = parsed.index;
    return out;
  }

  /** The raw bytes of a manifest, their digest (checked when fetched by digest) and the response Content-Type. */
  private async fetchManifestBytes(reference: string, opts: CallOptions): Promise<{ bytes: Buffer; digest: string; contentType: string | undefined; where: string }> {
    this.checkRef(reference);
    const byDigest = reference.includes(':');
    const where = this.where(reference);
    const res = await this.client.request(
      this.req('GET', this.url(`manifests/${reference}`), this.pullScopes(), {
        // Debian's registry 2.8 answers 404 MANIFEST_UNKNOWN when Accept misses the stored type: always send all.
        headers: { accept: MANIFEST_ACCEPT.join(', ') },
        signal: opts.signal,
        bufferLimit: MAX_MANIFEST_BYTES,
        tooLarge: () => new ZtocError('MANIFEST_TOO_LARGE', `manifest ${where} is larger than ${MAX_MANIFEST_BYTES} bytes (4 MiB)`),
      }),
    );
    if (res.status !== 200) throw await this.fail(res, `manifest ${where}`);
    const bytes = await res.bytes(MAX_MANIFEST_BYTES);
    let digest = sha256Digest(bytes);
    if (byDigest) {
      if (!reference.startsWith('sha256:')) {
        throw new ZtocError('INVALID_ARGUMENT', `manifest ${where}: only sha256 digests can be verified`);
      }
      if (digest !== reference) {
        throw new ZtocError('DIGEST_MISMATCH', `manifest ${where}: the registry sent bytes with digest ${digest}`);
      }
      const dcd = res.header('docker-content-digest');
      if (dcd !== undefined && dcd !== reference) {
        throw new ZtocError('DIGEST_MISMATCH', `manifest ${where}: Docker-Content-Digest says ${dcd}`);
      }
    }
    // By tag, Docker-Content-Digest is deliberately ignored: ggcr notes "so many registries implement this
    // incorrectly" (kaniko#298); the digest of the bytes is the truth.
    digest = byDigest ? reference : digest;
    return { bytes, digest, contentType: res.header('content-type'), where };
  }
  /** Like resolve, but the document must be an image manifest or index. */
  async fetchManifest(reference: string, opts: CallOptions = {}): Promise<FetchedManifest & { manifest: ImageManifest | ImageIndex }> {
    const m = await this.resolve(reference, opts);
    if (m.manifest === undefined) {
      throw new ZtocError('MANIFEST_INVALID', `${this.where(reference)} is ${m.descriptor.mediaType}, not an image manifest or index`);
    }
    return { ...m, manifest: m.manifest };
  }

  /** HEAD a manifest: its descriptor from the headers (no body, not counted by Hub rate limits), or undefined on 404. */
  async headManifest(reference: string, opts: CallOptions = {}): Promise<Descriptor | undefined> {
    this.checkRef(reference);
    const res = await this.client.request(
      this.req('HEAD', this.url(`manifests/${reference}`), this.pullScopes(), { headers: { accept: MANIFEST_ACCEPT.join(', ') }, signal: opts.signal }),
    );
    await res.discard();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.fail(res, `manifest ${this.where(reference)}`);
    const digest = reference.includes(':') ? reference : res.header('docker-content-digest');
    if (digest === undefined || !isValidDigest(digest)) {
      throw new ZtocError('REGISTRY_PROTOCOL', `HEAD manifest ${this.where(reference)}: no Docker-Content-Digest header`);
    }
    const size = Number(res.header('content-length') ?? '-1');
    return { mediaType: bareMediaType(res.header('content-type')) ?? '', digest, size: Number.isSafeInteger(size) ? size : -1 };
  }

  async manifestExists(digest: string, opts: CallOptions = {}): Promise<boolean> {
    return (await this.headManifest(digest, opts)) !== undefined;
  }

  /** PUT a manifest under a tag or its digest. The bytes are sent exactly as given. */
  async pushManifest(reference: string, bytes: Uint8Array, mediaType: string, opts: CallOptions = {}): Promise<PushManifestResult> {
    this.checkRef(reference);
    const digest = sha256Digest(bytes);
    const where = this.where(reference);
    if (bytes.length > MAX_MANIFEST_BYTES) {
      throw new ZtocError('MANIFEST_TOO_LARGE', `manifest for ${where} is ${bytes.length} bytes; registries need accept only 4 MiB`);
    }
    if (reference.includes(':') && reference !== digest) {
      throw new ZtocError('DIGEST_MISMATCH', `manifest for ${where}: the bytes have digest ${digest}`);
    }
    const res = await this.client.request(
      this.req('PUT', this.url(`manifests/${reference}`), this.pushScopes(), {
        headers: { 'content-type': mediaType },
        body: bytes,
        signal: opts.signal,
      }),
    );
    if (res.status < 200 || res.status >= 300) throw await this.fail(res, `push manifest ${where}`);
    await res.discard();
    const dcd = res.header('docker-content-digest');
    if (dcd !== undefined && dcd.startsWith('sha256:') && dcd !== digest) {
      throw new ZtocError('DIGEST_MISMATCH', `push manifest ${where}: the registry stored digest ${dcd}, we sent ${digest}`);
    }
    return { digest, subjectSupported: res.header('oci-subject') !== undefined };
  }

  // --- blobs ---------------------------------------------------------------------------------------------------

  /** HEAD a blob. A 3xx counts as "exists": the redirect target is usually a presigned GET-only URL. */
  async blobExists(digest: string, opts: CallOptions & { scopes?: string[] } = {}): Promise<boolean> {
    if (!isValidDigest(digest)) throw new ZtocError('INVALID_ARGUMENT', `invalid digest ${JSON.stringify(digest)}`);
    const res = await this.client.request(
      this.req('HEAD', this.url(`blobs/${digest}`), opts.scopes ?? this.pullScopes(), { signal: opts.signal, followRedirects: false }),
    );
    await res.discard();
    if (res.status === 404) return false;
    if ((res.status >= 200 && res.status < 300) || (res.status >= 300 && res.status < 400)) return true;
    throw await this.fail(res, `blob ${this.where(digest)}`);
  }

  /**
   * Stream a blob. Bytes are counted and hashed as they flow; a connection cut mid-body is resumed with
   * `Range: bytes=<reached>-` (a 206 is required), so the consumer sees one continuous stream. At the end the size
   * and digest must match the descriptor (SIZE_MISMATCH / DIGEST_MISMATCH naming the blob).
   */
  async *fetchBlob(desc: Descriptor, opts: FetchBlobOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      yield* this.streamBlob(desc, opts);
    } catch (err) {
      throw ZtocError.withLayer(err, desc.digest);
    }
  }

  private async *streamBlob(desc: Descriptor, opts: FetchBlobOptions): AsyncGenerator<Uint8Array, void, undefined> {
    if (!isSha256Digest(desc.digest)) {
      throw new ZtocError('INVALID_ARGUMENT', `blob ${desc.digest}: only sha256 digests can be verified`, { layer: desc.digest });
    }
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
      throw new ZtocError('INVALID_ARGUMENT', `blob ${desc.digest}: invalid size ${desc.size}`, { layer: desc.digest });
    }
    const where = `blob ${this.where(desc.digest)}`;
    const url = this.url(`blobs/${desc.digest}`);
    const hasher = new Sha256Counter();
    const body = resumableBody({
      where,
      layer: desc.digest,
      size: desc.size,
      get: (offset) => this.client.request(this.req('GET', url, this.pullScopes(), { headers: offset > 0 ? { range: `bytes=${offset}-` } : {}, signal: opts.signal })),
      checkFirst: async (res) => {
        if (res.status !== 200) throw await this.fail(res, where);
        const cl = res.header('content-length');
        if (cl !== undefined && /^\d+$/.test(cl) && Number(cl) !== desc.size) {
          throw new ZtocError('SIZE_MISMATCH', `${where}: the registry sends ${cl} bytes, the descriptor says ${desc.size}`, { layer: desc.digest });
        }
        const dcd = res.header('docker-content-digest');
        if (dcd !== undefined && dcd.startsWith('sha256:') && dcd !== desc.digest) {
          throw new ZtocError('DIGEST_MISMATCH', `${where}: Docker-Content-Digest says ${dcd}`, { layer: desc.digest });
        }
      },
      fail: (res, context) => this.fail(res, context),
      maxStuck: opts.maxResumes ?? this.retryPolicy.maxAttempts,
      backoff: (n) => backoffDelay(n, this.retryPolicy),
      sleep: (ms) => this.sleep(ms, opts.signal),
      debug: this.debug,
      signal: opts.signal,
    });
    for await (const chunk of body) {
      hasher.update(chunk);
      yield chunk;
    }
    const got = hasher.digest();
    if (got !== desc.digest) {
      throw new ZtocError('DIGEST_MISMATCH', `${where}: the ${desc.size} bytes received hash to ${got}`, { layer: desc.digest });
    }
  }

  /** Read a whole (small) blob into memory, verified. */
  async fetchBlobBytes(desc: Descriptor, opts: FetchBlobOptions & { maxBytes?: number } = {}): Promise<Buffer> {
    const max = opts.maxBytes ?? 64 * 1024 * 1024;
    if (desc.size > max) {
      throw new ZtocError('INVALID_ARGUMENT', `blob ${desc.digest} is ${desc.size} bytes; refusing to buffer more than ${max}`, { layer: desc.digest });
    }
    const parts: Uint8Array[] = [];
    for await (const c of this.fetchBlob(desc, opts)) parts.push(c);
    return Buffer.concat(parts);
  }

  /** Bytes `[start, endExclusive)` of a blob via a Range GET (206 required). */
  async fetchBlobRange(digest: string, start: number, endExclusive: number, opts: CallOptions = {}): Promise<Buffer> {
    if (!isValidDigest(digest)) throw new ZtocError('INVALID_ARGUMENT', `invalid digest ${JSON.stringify(digest)}`);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(endExclusive) || start < 0 || endExclusive <= start) {
      throw new ZtocError('INVALID_ARGUMENT', `invalid byte range [${start}, ${endExclusive}) for blob ${digest}`);
    }
    const where = `blob ${this.where(digest)} bytes ${start}-${endExclusive - 1}`;
    const want = endExclusive - start;
    const res = await this.client.request(
      this.req('GET', this.url(`blobs/${digest}`), this.pullScopes(), {
        headers: { range: `bytes=${start}-${endExclusive - 1}` },
        signal: opts.signal,
        bufferLimit: want,
        tooLarge: () => new ZtocError('REGISTRY_PROTOCOL', `${where}: the registry sent more than ${want} bytes`, { layer: digest }),
      }),
    );
    if (res.status === 200) {
      await res.discard();
      throw new ZtocError('REGISTRY_PROTOCOL', `${where}: the registry ignored the Range header (200, not 206)`, { layer: digest, status: 200 });
    }
    if (res.status !== 206) throw await this.fail(res, where);
    const cr = parseContentRange(res.header('content-range'));
    const bytes = await res.bytes(want);
    if (cr !== undefined && (cr.first !== start || cr.last - cr.first + 1 !== bytes.length)) {
      throw new ZtocError('REGISTRY_PROTOCOL', `${where}: Content-Range ${res.header('content-range') ?? ''} does not match`, { layer: digest });
    }
    // A range running past the end of the blob is legitimately cut short (Content-Range total says so).
    const truncatedAtEnd = cr?.total !== undefined && cr.last + 1 === cr.total && cr.total < endExclusive;
    if (bytes.length !== want && !truncatedAtEnd) {
      throw new ZtocError('SIZE_MISMATCH', `${where}: got ${bytes.length} bytes`, { layer: digest, offset: start });
    }
    return bytes;
  }

  private checkContent(desc: Descriptor, bytes: Uint8Array): void {
    if (bytes.length !== desc.size) {
      throw new ZtocError('SIZE_MISMATCH', `blob ${desc.digest}: ${bytes.length} bytes given, the descriptor says ${desc.size}`, { layer: desc.digest });
    }
    const d = sha256Digest(bytes);
    if (d !== desc.digest) throw new ZtocError('DIGEST_MISMATCH', `blob ${desc.digest}: the bytes given hash to ${d}`, { layer: desc.digest });
  }

  /** Monolithic upload to an open session: `PUT <location>&digest=` (Location resolved against its request, query kept). */
  private async completeUpload(location: string, base: URL, desc: Descriptor, bytes: Uint8Array, scopes: string[], opts: CallOptions): Promise<void> {
    const url = new URL(location, base);
    url.searchParams.set('digest', desc.digest);
    const res = await this.client.request(
      this.req('PUT', url, scopes, {
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
        signal: opts.signal,
      }),
    );
    if (res.status !== 201 && res.status !== 204 && res.status !== 200) throw await this.fail(res, `upload blob ${this.where(desc.digest)}`);
    await res.discard();
  }

  private async startUpload(scopes: string[], query: Record<string, string>, opts: CallOptions): Promise<HttpResponse> {
    return this.client.request(this.req('POST', this.url('blobs/uploads/', query), scopes, { signal: opts.signal }));
  }

  /** Push a blob unless it exists: HEAD, then POST + monolithic PUT. The bytes are verified against `desc` first. */
  async pushBlob(desc: Descriptor, bytes: Uint8Array, opts: CallOptions = {}): Promise<BlobPushResult> {
    this.checkContent(desc, bytes);
    const scopes = this.pushScopes();
    const { result, joined } = await this.client.blobWrite(this.blobKey(desc.digest), async (): Promise<BlobPushResult> => {
      // One token for HEAD + POST + PUT: ask for pull,push from the start.
      if (await this.blobExists(desc.digest, { ...opts, scopes })) return 'exists';
      await this.upload(desc, bytes, scopes, opts);
      return 'pushed';
    });
    return joined ? 'exists' : result;
  }

  /** The key of a blob write to this repository, for RegistryClient.blobWrite. */
  private blobKey(digest: string): string {
    return `${this.client.baseUrl(this.registry).host}/${this.name}@${digest}`;
  }

  private async upload(desc: Descriptor, bytes: Uint8Array, scopes: string[], opts: CallOptions): Promise<void> {
    const res = await this.startUpload(scopes, {}, opts);
    if (res.status !== 202) throw await this.fail(res, `start upload of blob ${this.where(desc.digest)}`);
    await res.discard();
    const location = res.header('location');
    if (location === undefined) {
      throw new ZtocError('REGISTRY_PROTOCOL', `POST ${displayUrl(res.url)}: 202 without a Location header`, { status: 202 });
    }
    await this.completeUpload(location, res.url, desc, bytes, scopes, opts);
  }

  /**
   * Mount a blob from another repository of the same registry (`POST ?mount=&from=`). 201 = mounted; 202 = the
   * registry opened an upload instead, which we complete; any error = a plain upload.
   */
  async mountBlob(
    desc: Descriptor,
    fromRepository: string,
    content: Uint8Array | (() => Promise<Uint8Array>),
    opts: CallOptions = {},
  ): Promise<BlobMountResult> {
    // A mount links the blob into this repository as an upload does: one write per blob and repository at a time.
    const { result, joined } = await this.client.blobWrite(this.blobKey(desc.digest), () => this.mountOrUpload(desc, fromRepository, content, opts));
    return joined ? 'exists' : result;
  }

  private async mountOrUpload(
    desc: Descriptor,
    fromRepository: string,
    content: Uint8Array | (() => Promise<Uint8Array>),
    opts: CallOptions,
  ): Promise<BlobMountResult> {
    const scopes = [...this.pushScopes(), repositoryScope(fromRepository, 'pull')];
    const getBytes = async (): Promise<Uint8Array> => {
      const b = typeof content === 'function' ? await content() : content;
      this.checkContent(desc, b);
      return b;
    };
    let res: HttpResponse | undefined;
    try {
      // Always send `from` with `mount`: Quay fails a mount without it (ggcr write.go initiateUpload).
      res = await this.startUpload(scopes, { mount: desc.digest, from: fromRepository }, opts);
    } catch (err) {
      if (opts.signal?.aborted === true) throw err;
      this.debug(`mount of ${desc.digest} from ${fromRepository} failed (${(err as Error).message}); uploading instead`);
    }
    if (res !== undefined) {
      await res.discard();
      if (res.status === 201) return 'mounted';
      const location = res.header('location');
      if (res.status === 202 && location !== undefined) {
        await this.completeUpload(location, res.url, desc, await getBytes(), scopes, opts);
        return 'pushed';
      }
      // ggcr quirk (#1679, #1404): some registries fail the mount POST outright; a plain upload still works.
      this.debug(`mount of ${desc.digest} from ${fromRepository}: HTTP ${res.status}; uploading instead`);
    }
    await this.upload(desc, await getBytes(), scopes, opts);
    return 'pushed';
  }

  // --- listing -------------------------------------------------------------------------------------------------

  /** All tags (paged with `n`/`last` and Link headers; Debian's registry does not page tags). */
  async listTags(opts: ListOptions = {}): Promise<string[]> {
    const first = this.url('tags/list', { n: String(opts.pageSize ?? 1000) });
    const target = { registry: this.registry, repository: this.name, scopes: this.pullScopes() };
    return listAllPages(this.client, target, first, 'tags', `list tags of ${this.registry}/${this.name}`, opts);
  }

  // --- referrers -----------------------------------------------------------------------------------------------

  /**
   * Referrers of `subjectDigest` (optionally only those with `artifactType`): the referrers API when the registry
   * has it, else the `sha256-<hex>` fallback tag (missing tag = none). The outcome is remembered per repository.
   */
  async referrers(subjectDigest: string, artifactType?: string, opts: CallOptions = {}): Promise<Descriptor[]> {
    if (!isValidDigest(subjectDigest)) throw new ZtocError('INVALID_ARGUMENT', `invalid subject digest ${JSON.stringify(subjectDigest)}`);
    if (this.referrersCapability !== 'tag') {
      const viaApi = await this.referrersByApi(subjectDigest, artifactType, opts);
      if (viaApi !== undefined) {
        this.referrersCapability = 'api';
        return viaApi;
      }
      this.referrersCapability = 'tag';
    }
    const idx = await this.readFallbackIndex(subjectDigest, opts);
    return filterByArtifactType(idx?.manifests ?? [], artifactType);
  }

  /** undefined = the registry has no referrers API. */
  private async referrersByApi(subject: string, artifactType: string | undefined, opts: CallOptions): Promise<Descriptor[] | undefined> {
    const query: Record<string, string> = {};
    if (artifactType !== undefined && artifactType !== '') query.artifactType = artifactType;
    let url: URL | undefined = this.url(`referrers/${subject}`, query);
    const what = `referrers of ${this.where(subject)}`;
    const out: Descriptor[] = [];
    let filtered = true;
    for (let page = 0; url !== undefined; page++) {
      if (page >= 1000) throw new ZtocError('REGISTRY_PROTOCOL', `${what}: more than 1000 pages`);
      const res = await this.client.request(
        this.req('GET', url, this.pullScopes(), {
          headers: { accept: MediaType.OciIndex },
          signal: opts.signal,
          bufferLimit: REFERRERS_PAGE_LIMIT,
          tooLarge: () => new ZtocError('MANIFEST_TOO_LARGE', `${what}: a page is larger than 4 MiB`),
        }),
      );
      if (res.status === 404) {
        const e = await this.fail(res, what);
        // oras-go: NAME_UNKNOWN means the repository is missing (capability unknown); any other 404 = no API
        // (Debian's registry answers a text/plain "404 page not found").
        if (e.hasRegistryCode('NAME_UNKNOWN')) throw e;
        return page === 0 ? undefined : out;
      }
      // ggcr also treats 400/406 as "not implemented".
      if (page === 0 && (res.status === 400 || res.status === 406)) {
        await res.discard();
        return undefined;
      }
      if (res.status !== 200) throw await this.fail(res, what);
      // A non-index Content-Type means no API: this catches Google Artifact Registry, whose referrers URL
      // redirects to an HTML login page.
      if (bareMediaType(res.header('content-type')) !== MediaType.OciIndex) {
        await res.discard();
        if (page === 0) return undefined;
        throw new ZtocError('REGISTRY_PROTOCOL', `${what}: page ${page + 1} is not an image index`);
      }
      const idx = parseReferrersIndex(await res.bytes(REFERRERS_PAGE_LIMIT), what, res.header('content-type'));
      out.push(...idx.manifests);
      const applied = (res.header('oci-filters-applied') ?? '').split(',').map((s) => s.trim());
      if (!applied.includes('artifactType')) filtered = false;
      url = nextLink(res.headerValues('link'), res.url);
    }
    return filtered ? out : filterByArtifactType(out, artifactType);
  }

  /** The fallback index under `sha256-<hex>`, or undefined when the tag does not exist. */
  private async readFallbackIndex(subject: string, opts: CallOptions): Promise<ImageIndex | undefined> {
    return (await this.readFallback(subject, opts))?.index;
  }

  /** The fallback index and the digest of its bytes, or undefined when the tag does not exist. */
  private async readFallback(subject: string, opts: CallOptions): Promise<{ index: ImageIndex; digest: string } | undefined> {
    const tag = referrersTag(subject);
    let m: Awaited<ReturnType<Repository['fetchManifestBytes']>>;
    try {
      m = await this.fetchManifestBytes(tag, opts);
    } catch (err) {
      if (err instanceof ZtocError && err.code === 'REGISTRY_NOT_FOUND') return undefined;
      throw err;
    }
    // Read like a referrers answer: `manifests` null or absent (other tools write that) means none.
    return { index: parseReferrersIndex(m.bytes, `referrers fallback tag ${this.where(tag)}`, m.contentType), digest: m.digest };
  }

  /**
   * Push a referrer manifest (one with a `subject`). PUT by digest; when the registry answers `OCI-Subject` (or is
   * known to have the API) that is all. Otherwise add it to the fallback index under `sha256-<hex>` of the
   * subject: read, merge, write, re-read, and merge again (bounded, with jitter) if a concurrent writer dropped our
   * entry or one we saw; done when two reads a pause apart show them all.
   * Updates for one subject are serialised within this process.
   */
  async pushReferrer(manifestBytes: Uint8Array, mediaType: string, manifest: ReferrerManifestInfo, opts: CallOptions = {}): Promise<PushReferrerResult> {
    const subject = manifest.subject.digest;
    if (!isValidDigest(subject)) throw new ZtocError('INVALID_ARGUMENT', `invalid subject digest ${JSON.stringify(subject)}`);
    const digest = sha256Digest(manifestBytes);
    const descriptor: Descriptor = { mediaType, digest, size: manifestBytes.length };
    // As oras-go's pushWithIndexing: a registry known to have the API (its referrers answer was an image index)
    // needs nothing more than the PUT. A registry not probed yet is decided by the PUT's answer: `OCI-Subject`
    // means it recorded the referrer itself, so no fallback tag is written. Without that header oras-go writes
    // the fallback tag too (and marks the registry tag-only for the run), even if the registry might list the
    // referrer by itself; we follow it: a referrer listed twice is harmless, one nobody can find is not. A registry
    // already known to lack the API keeps the fallback even when a PUT carries `OCI-Subject` (oras-go cannot
    // change a decided capability): ECR sent the header before its referrers API worked (sigstore-js#1183).
    const known = this.referrersCapability;
    const pushed = await this.pushManifest(digest, manifestBytes, mediaType, opts);
    if (known !== 'tag') {
      if (pushed.subjectSupported && this.referrersCapability === undefined) this.referrersCapability = 'api';
      if (pushed.subjectSupported || this.referrersCapability === 'api') return { descriptor, mechanism: 'api' };
    }
    this.referrersCapability = 'tag';
    await this.updateFallback(subject, { add: [referrerDescriptor(descriptor, manifest)] }, opts);
    return { descriptor, mechanism: 'tag' };
  }

  /** Apply `change` to the fallback index of `subject`, serialised per subject within this process. */
  private async updateFallback(subject: string, change: ReferrerChange, opts: CallOptions): Promise<void> {
    const tag = referrersTag(subject);
    const io: FallbackIo = {
      read: async () => {
        const r = await this.readFallback(subject, opts);
        return r === undefined ? undefined : { manifests: r.index.manifests, digest: r.digest };
      },
      head: async () => (await this.headManifest(tag, opts))?.digest,
      write: async (index) => {
        try {
          await this.pushManifest(tag, serializeReferrersIndex(index), MediaType.OciIndex, opts);
          return 'written';
        } catch (err) {
          // distribution (Debian's docker-registry, Harbor, GitLab, ...) checks an image index's manifests on PUT and
          // answers 400 MANIFEST_BLOB_UNKNOWN for one that is not in the repository (one `ztoc rm` just deleted).
          if (err instanceof RegistryResponseError && (err.hasRegistryCode('MANIFEST_BLOB_UNKNOWN') || err.hasRegistryCode('MANIFEST_UNKNOWN'))) return 'dangling';
          throw err;
        }
      },
      // Only a registry that says "not here" makes an entry gone: a HEAD that fails keeps it.
      exists: (digest) => this.manifestExists(digest, opts).catch(() => true),
      remove: async (digest) => {
        try {
          return (await this.deleteManifest(digest, opts)) !== undefined;
        } catch (err) {
          if (isZtocError(err, 'REGISTRY_UNSUPPORTED')) return false;
          throw err;
        }
      },
      sleep: (ms) => this.sleep(ms, opts.signal),
      backoff: (attempt) => backoffDelay(attempt, this.retryPolicy),
      debug: this.debug,
    };
    await withKeyLock(`${this.client.baseUrl(this.registry).host}/${this.name}@${subject}`, () => updateFallbackIndex(io, change, this.where(tag)));
  }

  /**
   * DELETE a manifest by digest. 'deleted', or undefined when the registry does not have it. A registry that refuses
   * deletes (405, or the error code UNSUPPORTED: Docker Hub and registries with deletes disabled) gives
   * REGISTRY_UNSUPPORTED with the registry's answer.
   */
  async deleteManifest(digest: string, opts: CallOptions = {}): Promise<'deleted' | undefined> {
    if (!isValidDigest(digest)) throw new ZtocError('INVALID_ARGUMENT', `invalid digest ${JSON.stringify(digest)}`);
    const res = await this.client.request(this.req('DELETE', this.url(`manifests/${digest}`), this.deleteScopes(), { signal: opts.signal }));
    if (res.status === 202 || res.status === 200 || res.status === 204) {
      await res.discard();
      return 'deleted';
    }
    const e = await this.fail(res, `delete manifest ${this.where(digest)}`);
    if (res.status === 405 || e.hasRegistryCode('UNSUPPORTED')) {
      throw new ZtocError('REGISTRY_UNSUPPORTED', `${e.message} (the registry does not allow deleting manifests)`, { status: res.status, cause: e });
    }
    if (res.status === 404 && e.hasRegistryCode('MANIFEST_UNKNOWN')) return undefined;
    throw e;
  }

  /**
   * Remove referrers of `subject`. Through the referrers API the referrer manifests are deleted (that is what takes
   * them out of the answer). On the tag fallback the `sha256-<hex>` index is rewritten without them, keeping every
   * other referrer (with the same guard against concurrent writers as pushReferrer); the manifests themselves stay
   * (deleteManifest removes them, where the registry allows it). Digests that are not listed are ignored. Returns
   * the mechanism and the digests that were listed and are now gone.
   */
  async removeReferrers(subject: string, digests: string[], opts: CallOptions = {}): Promise<RemoveReferrersResult> {
    if (!isValidDigest(subject)) throw new ZtocError('INVALID_ARGUMENT', `invalid subject digest ${JSON.stringify(subject)}`);
    for (const d of digests) if (!isValidDigest(d)) throw new ZtocError('INVALID_ARGUMENT', `invalid digest ${JSON.stringify(d)}`);
    const listed = new Set((await this.referrers(subject, undefined, opts)).map((d) => d.digest));
    const removed = [...new Set(digests)].filter((d) => listed.has(d));
    const mechanism = this.referrersCapability ?? 'tag';
    if (removed.length === 0) return { mechanism, removed };
    if (mechanism === 'api') {
      for (const d of removed) await this.deleteManifest(d, opts);
    } else {
      await this.updateFallback(subject, { remove: removed }, opts);
    }
    return { mechanism, removed };
  }
}
