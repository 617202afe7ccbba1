// Owns the distribution API of one repository (registry host + name): manifests (resolve, fetch, exists, push),
// blobs (verified streaming fetch that resumes cut connections with Range, range reads, exists, monolithic
// POST+PUT upload, cross-repository mount), tag and catalog listing with Link paging, and referrers through the
// API or the `sha256-<hex>` tag fallback. Every call goes through a (shareable) RegistryClient.

import { setTimeout as sleep } from 'node:timers/promises';
import { ZtocError } from '../errors.js';
import { Sha256Counter, isSha256Digest, isValidDigest, sha256Digest } from '../oci/digest.js';
import { parseRegistryReference, type RegistryReference } from '../oci/reference.js';
import { MANIFEST_ACCEPT, MediaType, referrerDescriptor, type Descriptor, type ImageIndex, type ImageManifest } from '../oci/types.js';
import { repositoryScope } from './auth.js';
import { RegistryClient, type ClientOptions, type ReferrersCapability, type RegistryRequest } from './client.js';
import { displayUrl, responseError, ERROR_BODY_LIMIT, type RegistryResponseError } from './errors.js';
import { nextLink } from './link.js';
import {
  filterByArtifactType,
  mergeReferrer,
  referrersTag,
  serializeReferrersIndex,
  withKeyLock,
  type ReferrerManifestInfo,
} from './referrers.js';
import { backoffDelay } from './retry.js';
import { MAX_MANIFEST_BYTES, bareMediaType, parseFetchedManifest, parseReferrersIndex } from './schemas.js';
import { isRetryableNetworkError, networkError, type HttpMethod, type HttpResponse } from './transport.js';

export interface RepositoryOptions extends ClientOptions {
  /** Share connections, tokens and capabilities with other repositories (recommended). Options above are then ignored. */
  client?: RegistryClient;
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

export interface ListOptions extends CallOptions {
  /** `n` per page. Default 1000. */
  pageSize?: number;
  /** Stop (with an error) after this many pages. Default 1000. */
  maxPages?: number;
}

export type BlobPushResult = 'exists' | 'pushed';
export type BlobMountResult = 'mounted' | 'pushed';

const REFERRERS_PAGE_LIMIT = 4 * 1024 * 1024;
const LIST_PAGE_LIMIT = 4 * 1024 * 1024;
/** Writes of the referrers fallback index per pushReferrer before giving up. */
const MAX_FALLBACK_MERGES = 6;
/** Reads in a row that must show every entry before a fallback update counts as done. */
const FALLBACK_CONFIRMATIONS = 2;
const MAX_FALLBACK_ROUNDS = 3 * MAX_FALLBACK_MERGES + FALLBACK_CONFIRMATIONS;
/** Shortest and longest pause between confirming reads. */
const FALLBACK_SETTLE_FLOOR_MS = 100;
const FALLBACK_SETTLE_CAP_MS = 10_000;
const MAX_TOTAL_RESUMES = 100;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `bytes <first>-<last>/<total|*>` */
function parseContentRange(v: string | undefined): { first: number; last: number; total: number | undefined } | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v);
  if (m === null) return undefined;
  return { first: Number(m[1]), last: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

export class Repository {
  /** Registry name as in the reference (`docker.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  /** Repository path (`library/ubuntu`). */
  readonly name: string;
  readonly client: RegistryClient;
  private readonly ownsClient: boolean;

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
    if (opts.referrersCapability !== undefined) this.client.setReferrersCapability(registry, name, opts.referrersCapability);
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
    return this.client.getReferrersCapability(this.registry, this.name);
  }

  set referrersCapability(cap: ReferrersCapability) {
    this.client.setReferrersCapability(this.registry, this.name, cap);
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

  private req(method: HttpMethod, url: URL, scopes: string[], extra: Partial<RegistryRequest> = {}): RegistryRequest {
    return { method, url, registry: this.registry, repository: this.name, scopes, ...extra };
  }

  private async fail(res: HttpResponse, context?: string): Promise<RegistryResponseError> {
    const body = res.method === 'HEAD' ? '' : await res.textPrefix(ERROR_BODY_LIMIT);
    return responseError(res.method, res.url, res.status, body, context);
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
    const parsed = parseFetchedManifest(bytes, res.header('content-type'), `manifest ${where}`);
    const descriptor: Descriptor = { mediaType: parsed.mediaType, digest, size: bytes.length };
    const out: FetchedManifest = { descriptor, bytes };
    if (parsed.kind === 'manifest') out.manifest = parsed.manifest;
    else if (parsed.kind === 'index') out.manifest = parsed.index;
    return out;
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
    const hasher = new Sha256Counter();
    const maxStuck = opts.maxResumes ?? this.client.retrier.policy.maxAttempts;
    let stuck = 0;
    let resumes = 0;
    const url = this.url(`blobs/${desc.digest}`);

    for (;;) {
      const reached = hasher.bytes;
      const headers: Record<string, string> = {};
      if (reached > 0) headers.range = `bytes=${reached}-`;
      const res = await this.client.request(this.req('GET', url, this.pullScopes(), { headers, signal: opts.signal }));
      try {
        if (reached === 0) {
          if (res.status !== 200) throw await this.fail(res, where);
          const cl = res.header('content-length');
          if (cl !== undefined && /^\d+$/.test(cl) && Number(cl) !== desc.size) {
            throw new ZtocError('SIZE_MISMATCH', `${where}: the registry sends ${cl} bytes, the descriptor says ${desc.size}`, { layer: desc.digest });
          }
          const dcd = res.header('docker-content-digest');
          if (dcd !== undefined && dcd.startsWith('sha256:') && dcd !== desc.digest) {
            throw new ZtocError('DIGEST_MISMATCH', `${where}: Docker-Content-Digest says ${dcd}`, { layer: desc.digest });
          }
        } else {
          if (res.status === 200) {
            throw new ZtocError(
              'REGISTRY_PROTOCOL',
              `${where}: the connection broke at byte ${reached} and the server ignored "Range: bytes=${reached}-" (answered 200, not 206); ` +
                'a single-pass stream cannot restart from zero',
              { layer: desc.digest, offset: reached, status: 200 },
            );
          }
          if (res.status !== 206) throw await this.fail(res, `${where} (resuming at byte ${reached})`);
          const cr = parseContentRange(res.header('content-range'));
          if (cr === undefined || cr.first !== reached) {
            throw new ZtocError('REGISTRY_PROTOCOL', `${where}: asked for bytes ${reached}- but got Content-Range ${JSON.stringify(res.header('content-range') ?? '')}`, {
              layer: desc.digest,
              offset: reached,
              status: 206,
            });
          }
        }
      } catch (err) {
        res.body.destroy();
        throw err;
      }

      let cut: unknown;
      const it = res.body[Symbol.asyncIterator]();
      try {
        for (;;) {
          let r: IteratorResult<Uint8Array>;
          try {
            r = await it.next();
          } catch (err) {
            if (opts.signal?.aborted === true) throw opts.signal.reason;
            if (!isRetryableNetworkError(err)) throw networkError(err, 'GET', res.url);
            cut = err;
            break;
          }
          if (r.done === true) break;
          const chunk = r.value;
          if (hasher.bytes + chunk.length > desc.size) {
            throw new ZtocError('SIZE_MISMATCH', `${where}: the registry sent more than the ${desc.size} bytes the descriptor says`, {
              layer: desc.digest,
              offset: desc.size,
            });
          }
          hasher.update(chunk);
          yield chunk;
        }
      } finally {
        res.body.destroy();
      }

      if (hasher.bytes === desc.size) break;
      // Short: the connection was cut (or the body ended early). Resume from where we are.
      stuck = hasher.bytes > reached ? 1 : stuck + 1;
      resumes++;
      if (stuck > maxStuck || resumes > MAX_TOTAL_RESUMES) {
        if (cut !== undefined) {
          const e = networkError(cut, 'GET', res.url);
          throw new ZtocError('REGISTRY_NETWORK', `${where}: gave up resuming at byte ${hasher.bytes} of ${desc.size}: ${e.message}`, {
            layer: desc.digest,
            offset: hasher.bytes,
            cause: cut,
          });
        }
        throw new ZtocError('SIZE_MISMATCH', `${where}: the body ended at byte ${hasher.bytes}, the descriptor says ${desc.size}`, {
          layer: desc.digest,
          offset: hasher.bytes,
        });
      }
      this.client.transport.debug(`${where}: body cut at byte ${hasher.bytes} of ${desc.size}; resuming with Range`);
      await sleep(backoffDelay(stuck, this.client.retrier.policy), undefined, opts.signal === undefined ? undefined : { signal: opts.signal });
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
    // One token for HEAD + POST + PUT: ask for pull,push from the start.
    if (await this.blobExists(desc.digest, { ...opts, scopes })) return 'exists';
    await this.upload(desc, bytes, scopes, opts);
    return 'pushed';
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
      this.client.transport.debug(`mount of ${desc.digest} from ${fromRepository} failed (${(err as Error).message}); uploading instead`);
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
      this.client.transport.debug(`mount of ${desc.digest} from ${fromRepository}: HTTP ${res.status}; uploading instead`);
    }
    await this.upload(desc, await getBytes(), scopes, opts);
    return 'pushed';
  }

  // --- listing -------------------------------------------------------------------------------------------------

  private async paged(first: URL, scopes: string[], key: string, what: string, opts: ListOptions): Promise<string[]> {
    const maxPages = opts.maxPages ?? 1000;
    const out: string[] = [];
    let url: URL | undefined = first;
    for (let page = 0; url !== undefined; page++) {
      if (page >= maxPages) throw new ZtocError('REGISTRY_PROTOCOL', `${what}: more than ${maxPages} pages`);
      const res = await this.client.request(this.req('GET', url, scopes, { signal: opts.signal, headers: { accept: 'application/json' }, bufferLimit: LIST_PAGE_LIMIT }));
      if (res.status !== 200) throw await this.fail(res, what);
      const body = await res.bytes(LIST_PAGE_LIMIT);
      let doc: unknown;
      try {
        doc = JSON.parse(body.toString('utf8'));
      } catch {
        throw new ZtocError('REGISTRY_PROTOCOL', `${what}: the registry answered something that is not JSON`);
      }
      const list = isObject(doc) ? doc[key] : undefined;
      if (list !== null && list !== undefined) {
        if (!Array.isArray(list) || !list.every((t) => typeof t === 'string')) {
          throw new ZtocError('REGISTRY_PROTOCOL', `${what}: "${key}" is not a list of strings`);
        }
        out.push(...(list as string[]));
      }
      const next = nextLink(res.headerValues('link'), res.url);
      if (next !== undefined && next.origin !== res.url.origin) {
        throw new ZtocError('REGISTRY_PROTOCOL', `${what}: the next-page link points to another host (${next.host})`);
      }
      url = next;
    }
    return out;
  }

  /** All tags (paged with `n`/`last` and Link headers; Debian's registry does not page tags). */
  async listTags(opts: ListOptions = {}): Promise<string[]> {
    const first = this.url('tags/list', { n: String(opts.pageSize ?? 1000) });
    return this.paged(first, this.pullScopes(), 'tags', `list tags of ${this.registry}/${this.name}`, opts);
  }

  /** The registry's repository catalog (needs `registry:catalog:*`). */
  async catalog(opts: ListOptions & { last?: string } = {}): Promise<string[]> {
    const first = new URL('/v2/_catalog', this.client.baseUrl(this.registry));
    first.searchParams.set('n', String(opts.pageSize ?? 1000));
    if (opts.last !== undefined) first.searchParams.set('last', opts.last);
    return this.paged(first, ['registry:catalog:*'], 'repositories', `catalog of ${this.registry}`, opts);
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
      const idx = parseReferrersIndex(await res.bytes(REFERRERS_PAGE_LIMIT), what);
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
    let m: FetchedManifest;
    try {
      m = await this.resolve(tag, opts);
    } catch (err) {
      if (err instanceof ZtocError && err.code === 'REGISTRY_NOT_FOUND') return undefined;
      throw err;
    }
    if (m.manifest === undefined || !('manifests' in m.manifest)) {
      throw new ZtocError('MANIFEST_INVALID', `referrers fallback tag ${this.where(tag)} holds ${m.descriptor.mediaType}, not an image index`);
    }
    return { index: m.manifest, digest: m.descriptor.digest };
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
    const pushed = await this.pushManifest(digest, manifestBytes, mediaType, opts);
    if (pushed.subjectSupported) {
      this.referrersCapability = 'api';
      return { descriptor, mechanism: 'api' };
    }
    if (this.referrersCapability === 'api') return { descriptor, mechanism: 'api' };
    this.referrersCapability = 'tag';
    const entry = referrerDescriptor(descriptor, manifest);
    const tag = referrersTag(subject);
    const policy = this.client.retrier.policy;
    const wait = (ms: number): Promise<void> => sleep(ms, undefined, opts.signal === undefined ? undefined : { signal: opts.signal });
    await withKeyLock(`${this.client.baseUrl(this.registry).host}/${this.name}@${subject}`, async () => {
      // There is no conditional PUT for a tag, so another writer (another ztoc, another tool) can replace the
      // index between our read and our write, or right after it. So: every entry seen during this update is kept
      // (an entry that disappears was dropped by a concurrent overwrite, not removed on purpose), the index is
      // re-read after each write, and it counts as done only when ours and every entry seen are there in
      // FALLBACK_CONFIRMATIONS reads in a row, a pause apart. The pause is at least twice our own read-to-write
      // time (jittered): another writer's read-to-write time against the same registry is about the same, so one
      // that read before our PUT has written by then, and is merged with.
      const seen = new Map<string, Descriptor>();
      let confirmed = 0;
      let writes = 0;
      let window = 0;
      const settle = (): Promise<void> =>
        wait(Math.min(FALLBACK_SETTLE_CAP_MS, Math.max(FALLBACK_SETTLE_FLOOR_MS, backoffDelay(1, policy), Math.round(window * (2 + Math.random())))));
      for (let round = 0; round < MAX_FALLBACK_ROUNDS; round++) {
        const readStart = performance.now();
        const read = await this.readFallback(subject, opts);
        const current = read?.index.manifests ?? [];
        const readTime = performance.now() - readStart;
        const present = new Set(current.map((d) => d.digest));
        for (const d of current) if (d.digest !== digest && !seen.has(d.digest)) seen.set(d.digest, d);
        const lost = [...seen.values()].filter((d) => !present.has(d.digest));
        if (present.has(digest) && lost.length === 0) {
          if (++confirmed >= FALLBACK_CONFIRMATIONS) return;
          await settle();
          continue;
        }
        confirmed = 0;
        if (writes >= MAX_FALLBACK_MERGES) break;
        if (writes > 0) {
          this.client.transport.debug(
            `referrers fallback ${this.where(tag)}: ${present.has(digest) ? '' : `our entry ${digest} `}${lost.length > 0 ? `${lost.length} entries seen before ` : ''}went missing after a write (concurrent writer?); merging again`,
          );
          await wait(backoffDelay(writes, policy));
        }
        const next = mergeReferrer([...current, ...lost], entry);
        const writeStart = performance.now();
        // Narrow the race: if the tag moved since our read (a HEAD is cheap), read and merge again instead of
        // overwriting what another writer just put there.
        const head = await this.headManifest(tag, opts).catch(() => undefined);
        if (head !== undefined && head.digest !== read?.digest) {
          this.client.transport.debug(`referrers fallback ${this.where(tag)}: changed since we read it (concurrent writer); reading again`);
          confirmed = 0;
          await wait(Math.round(backoffDelay(1, policy) * Math.random()));
          continue;
        }
        await this.pushManifest(tag, serializeReferrersIndex(next), MediaType.OciIndex, opts);
        window = Math.max(window, readTime + (performance.now() - writeStart));
        writes++;
      }
      throw new ZtocError(
        'REGISTRY_ERROR',
        `referrers fallback ${this.where(tag)}: could not keep ${digest} in the index after ${writes} writes (other writers keep replacing it)`,
      );
    });
    return { descriptor, mechanism: 'tag' };
  }
}
