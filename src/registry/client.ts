// Owns the stack every registry call goes through, oras-go style: auth (challenges, tokens) → retry (backoff,
// Retry-After) → transport (undici, redirects). One RegistryClient is meant to be shared by all repositories of a
// run so that connections, tokens, per-host backoff and the per-registry referrers capability are shared too.
// Also owns the scheme decision: HTTPS unless `plainHttp`, or the host is localhost/127.0.0.1/::1 (any port).

import { registryApiHost } from '../oci/reference.js';
import { ZtocError } from '../errors.js';
import { Authenticator, TOKEN_BODY_LIMIT } from './auth.js';
import { createCredentialLookup, staticCredentials, type Credential, type CredentialLookup } from './credentials.js';
import { Retrier, type RetryEvent, type RetryPolicy } from './retry.js';
import { HttpTransport, type HttpRequest, type HttpResponse, type TransportOptions } from './transport.js';

export interface ClientOptions extends TransportOptions {
  /**
   * Force plain HTTP (true) or HTTPS (false) for every host. Default: plain HTTP only for localhost, 127.0.0.1 and
   * ::1 on any port. Independent of `insecure`, which keeps HTTPS but skips certificate checks.
   */
  plainHttp?: boolean;
  /** A lookup (see credentials.ts) or one fixed credential. Default: docker config / auth.json lookup. */
  credentials?: CredentialLookup | Credential;
  retry?: Partial<RetryPolicy>;
  onRetry?: (e: RetryEvent) => void;
}

export type ReferrersCapability = 'api' | 'tag';

export interface RegistryRequest extends HttpRequest {
  /** The registry as named in the reference (credentials are looked up under it: `docker.io` for Hub). */
  registry: string;
  repository?: string;
  /** Token scope hints for this request. */
  scopes: string[];
  /**
   * Read 2xx bodies completely inside the retry loop (so a connection cut while reading is retried too) and
   * fail with `tooLarge()` beyond this many bytes.
   */
  bufferLimit?: number;
  tooLarge?: () => Error;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** The hostname part of `host[:port]` (IPv6 kept in brackets). */
function hostnameOf(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/** Whether a registry host defaults to plain HTTP (ORAS's localhost rule widened to the loopback literals). */
export function defaultsToPlainHttp(host: string): boolean {
  return LOOPBACK_HOSTS.has(hostnameOf(host.toLowerCase()));
}

/** A response whose body was already read into memory (bytes() returns it). */
function bufferedResponse(res: HttpResponse, buf: Buffer): HttpResponse {
  const body = {
    async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
      if (buf.length > 0) yield buf;
    },
    destroy(): void {},
  };
  return {
    status: res.status,
    url: res.url,
    method: res.method,
    header: res.header,
    headerValues: res.headerValues,
    body,
    bytes: async (limit: number, tooLarge?: () => Error): Promise<Buffer> => {
      if (buf.length > limit) throw tooLarge !== undefined ? tooLarge() : new Error(`body larger than ${limit} bytes`);
      return buf;
    },
    textPrefix: async (limit: number): Promise<string> => buf.subarray(0, limit).toString('utf8'),
    discard: async (): Promise<void> => undefined,
  };
}

export class RegistryClient {
  private readonly transport: HttpTransport;
  private readonly retrier: Retrier;
  private readonly auth: Authenticator;
  private readonly plainHttp: boolean | undefined;
  private readonly capabilities = new Map<string, ReferrersCapability>();
  private readonly blobWrites = new Map<string, Promise<unknown>>();
  /** The retry policy of this client: what a Repository on it uses for its own waits unless given another. */
  readonly retryPolicy: RetryPolicy;
  /** The debug sink this client was given (`onDebug`; a no-op without one): the default for its repositories. */
  readonly debug: (line: string) => void;

  constructor(opts: ClientOptions = {}) {
    this.transport = new HttpTransport(opts);
    this.retrier = new Retrier(opts.retry, opts.onRetry);
    this.retryPolicy = this.retrier.policy;
    const onDebug = opts.onDebug;
    this.debug = onDebug === undefined ? () => {} : (line: string) => onDebug(line);
    const creds = opts.credentials;
    const lookup: CredentialLookup =
      typeof creds === 'function'
        ? creds
        : creds !== undefined
          ? staticCredentials(creds)
          : createCredentialLookup(opts.onDebug !== undefined ? { onDebug: opts.onDebug } : {});
    this.auth = new Authenticator({ credentials: lookup, insecure: opts.insecure === true, ...(opts.onDebug !== undefined ? { onDebug: opts.onDebug } : {}) });
    this.plainHttp = opts.plainHttp;
  }

  /**
   * Runs `write` unless a write with the same key (registry, repository, digest) is already in flight on this
   * client, in which case it waits for that one; `joined` is true for the waiters. Why: Debian's docker-registry
   * (distribution 2.8, filesystem driver) rewrites a repository's blob link on every committed upload by truncating
   * and refilling the file, so a second upload of a blob it already links can make a concurrent manifest PUT of
   * the same repository fail with MANIFEST_BLOB_UNKNOWN. Backfill pushes the same `{}` config for several tags of
   * one repository at once; with this, one process uploads each blob to each repository once.
   */
  async blobWrite<T>(key: string, write: () => Promise<T>): Promise<{ result: T; joined: boolean }> {
    const running = this.blobWrites.get(key) as Promise<T> | undefined;
    if (running !== undefined) return { result: await running, joined: true };
    const p = write();
    this.blobWrites.set(key, p);
    try {
      return { result: await p, joined: false };
    } finally {
      this.blobWrites.delete(key);
    }
  }

  /** `http(s)://<api host>` for a registry name (`docker.io` → `https://registry-1.docker.io`). */
  baseUrl(registry: string): URL {
    const host = registryApiHost(registry);
    const plain = this.plainHttp ?? defaultsToPlainHttp(host);
    return new URL(`${plain ? 'http' : 'https'}://${host}`);
  }

  /**
   * Send a request to a registry: authorization is attached only when the URL is on the registry's own origin
   * (an upload Location or a blob store elsewhere gets none), retried per policy, optionally buffered.
   */
  async request(req: RegistryRequest): Promise<HttpResponse> {
    const base = this.baseUrl(req.registry);
    const host = base.host;
    const buffered =
      (limit: number | undefined, tooLarge?: () => Error) =>
      (r: HttpRequest): Promise<HttpResponse> =>
        this.retrier.run(
          r.url.host,
          async () => {
            const res = await this.transport.send(r);
            if (limit === undefined || res.status < 200 || res.status >= 300) return res;
            return bufferedResponse(res, await res.bytes(limit, tooLarge));
          },
          r.signal,
        );
    const send = buffered(req.bufferLimit, req.tooLarge);
    // Token responses are small (auth.ts caps them): read them inside the retry loop too.
    const tokenSend = buffered(TOKEN_BODY_LIMIT, () => new ZtocError('REGISTRY_PROTOCOL', `token server answered more than ${TOKEN_BODY_LIMIT} bytes`));
    const httpReq: HttpRequest = { method: req.method, url: req.url };
    if (req.headers !== undefined) httpReq.headers = req.headers;
    if (req.body !== undefined) httpReq.body = req.body;
    if (req.signal !== undefined) httpReq.signal = req.signal;
    if (req.followRedirects !== undefined) httpReq.followRedirects = req.followRedirects;
    if (req.url.origin !== base.origin) return send(httpReq);
    return this.auth.send(
      { host, credentialHost: req.registry, ...(req.repository !== undefined ? { repository: req.repository } : {}), scopes: req.scopes, request: httpReq },
      send,
      tokenSend,
    );
  }

  /**
   * How this registry records referrers, once known: decided per registry host for the run (the way oras-go decides
   * per repository, widened to the host because a registry either implements the referrers API or does not; one
   * backfill then asks once, not once per repository).
   */
  getReferrersCapability(registry: string): ReferrersCapability | undefined {
    return this.capabilities.get(registryApiHost(registry));
  }

  setReferrersCapability(registry: string, cap: ReferrersCapability): void {
    this.capabilities.set(registryApiHost(registry), cap);
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}
