// Owns one HTTP exchange with a registry (or token server / blob store) on an undici Agent: the User-Agent, TLS
// verification (`insecure`), connect/header/body-read timeouts, redirects followed by hand (max 5; Authorization and
// cookies dropped when the origin changes; never on HEAD; no https→http downgrade), turning socket failures into
// typed REGISTRY_NETWORK errors that say whether a retry may help, capped body reads, and a redacted debug trace.

import type { Dispatcher } from 'undici';
import { Agent } from './agent.js';
import { ZtocError } from '../errors.js';
import { VERSION } from '../version.js';
import { displayUrl } from './errors.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface TransportOptions {
  /** Defaults to `ztoc/<package version>`. */
  userAgent?: string;
  /** Skip TLS certificate verification (HTTPS is still used). */
  insecure?: boolean;
  /** Extra CA certificate(s), PEM, trusted for HTTPS (like `--ca-file`). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Default 30 s. */
  connectTimeoutMs?: number;
  /** Time to wait for response headers. Default 60 s. */
  headersTimeoutMs?: number;
  /** Longest silence while reading a body before the read fails (retryably). Default 60 s. */
  bodyTimeoutMs?: number;
  /** Default 5. */
  maxRedirects?: number;
  /** HTTP trace, one line per call; secrets are redacted. */
  onDebug?: (line: string) => void;
  /** Use this dispatcher instead of a private Agent (the transport then does not close it). */
  dispatcher?: Dispatcher;
}

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  /** Always a buffer, so that retries and auth re-challenges can replay it. */
  body?: Uint8Array | string;
  signal?: AbortSignal;
  /** Default: follow, except for HEAD (a 3xx on a blob HEAD means "exists"; presigned URLs reject HEAD). */
  followRedirects?: boolean;
}

export type BodyStream = AsyncIterable<Uint8Array> & { destroy(err?: Error): unknown };

export interface HttpResponse {
  status: number;
  /** The URL that produced this response (after redirects). */
  url: URL;
  /** The method finally sent (a 303 turns a request into GET). */
  method: HttpMethod;
  header(name: string): string | undefined;
  /** All values of a repeatable header (Link, WWW-Authenticate, Warning). */
  headerValues(name: string): string[];
  body: BodyStream;
  /** Read the whole body; throws `tooLarge()` as soon as more than `limit` bytes are seen. */
  bytes(limit: number, tooLarge?: () => Error): Promise<Buffer>;
  /** Read up to `limit` bytes as UTF-8 and drop the rest (for error bodies). */
  textPrefix(limit: number): Promise<string>;
  /** Drain and release the connection. */
  discard(): Promise<void>;
}

/** A network-level failure (no HTTP status). `retryable` says whether the same request might succeed. */
export class RegistryNetworkError extends ZtocError {
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, cause: unknown) {
    super('REGISTRY_NETWORK', message, { cause });
    this.retryable = retryable;
  }
}

const RETRYABLE_NET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

function errCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const c = (err as { code: unknown }).code;
    if (typeof c === 'string') return c;
  }
  return undefined;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True when `err` is a network failure that a retry (or a Range resume) may fix. */
export function isRetryableNetworkError(err: unknown): boolean {
  if (err instanceof RegistryNetworkError) return err.retryable;
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e !== undefined && e !== null; depth++) {
    const code = errCode(e);
    if (code !== undefined && RETRYABLE_NET_CODES.has(code)) return true;
    e = typeof e === 'object' && 'cause' in e ? (e as { cause: unknown }).cause : undefined;
  }
  return false;
}

/** Wrap a low-level error from undici/node into a RegistryNetworkError with a hint when the cause is a classic one. */
export function networkError(err: unknown, method: string, url: URL): RegistryNetworkError {
  if (err instanceof RegistryNetworkError) return err;
  const code = errCode(err) ?? errCode((err as { cause?: unknown } | null)?.cause);
  let hint = '';
  const m = errMessage(err);
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test(m)) {
    hint = ' (the server does not speak TLS here; use plain HTTP for this registry)';
  } else if (code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    hint = ' (TLS certificate not trusted; skip verification only if you trust the network)';
  }
  return new RegistryNetworkError(
    `${method} ${displayUrl(url)}: ${code !== undefined ? `${code}: ` : ''}${m}${hint}`,
    isRetryableNetworkError(err),
    err,
  );
}

/** ztoc's version, for the User-Agent. */
export function ztocVersion(): string {
  return VERSION;
}

const REDACT_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
const SECRET_QUERY = /sig|signature|token|credential|secret|password|key|auth/i;

/** URL for the debug trace: query values that look like signatures or tokens are replaced by *****. */
export function redactUrl(url: URL): string {
  const u = new URL(url.toString());
  u.username = '';
  u.password = '';
  const params = [...u.searchParams.entries()];
  if (params.some(([k]) => SECRET_QUERY.test(k))) {
    u.search = '';
    for (const [k, v] of params) u.searchParams.append(k, SECRET_QUERY.test(k) ? '*****' : v);
  }
  return u.toString();
}

function headerLines(prefix: string, headers: Record<string, string | string[] | undefined>): string[] {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const values = Array.isArray(v) ? v : [v];
    for (const one of values) lines.push(`${prefix}${k}: ${REDACT_HEADERS.has(k.toLowerCase()) ? '*****' : one}`);
  }
  return lines;
}

/** Body text for the trace: only JSON/text, capped, and never anything that carries a token. */
export function redactBodyForDebug(contentType: string | undefined, body: Uint8Array): string | undefined {
  const ct = (contentType ?? '').toLowerCase();
  if (!/json|text|x-www-form-urlencoded/.test(ct)) return undefined;
  const text = Buffer.from(body.subarray(0, 1024)).toString('utf8');
  if (/"(access_|refresh_|id_)?token"|token=/i.test(Buffer.from(body).toString('utf8'))) return '<redacted: body carries a token>';
  return body.length > 1024 ? `${text}…(${body.length} bytes)` : text;
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const CROSS_ORIGIN_DROP = new Set(['authorization', 'proxy-authorization', 'cookie']);

export class HttpTransport {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  readonly userAgent: string;
  private readonly maxRedirects: number;
  private readonly onDebug: ((line: string) => void) | undefined;
  private readonly headersTimeoutMs: number;
  private readonly bodyTimeoutMs: number;

  constructor(opts: TransportOptions = {}) {
    this.userAgent = opts.userAgent ?? `ztoc/${ztocVersion()}`;
    this.maxRedirects = opts.maxRedirects ?? 5;
    this.onDebug = opts.onDebug;
    this.headersTimeoutMs = opts.headersTimeoutMs ?? 60_000;
    this.bodyTimeoutMs = opts.bodyTimeoutMs ?? 60_000;
    if (opts.dispatcher !== undefined) {
      this.dispatcher = opts.dispatcher;
      this.ownsDispatcher = false;
    } else {
      this.dispatcher = new Agent({
        connect: {
          rejectUnauthorized: opts.insecure !== true,
          timeout: opts.connectTimeoutMs ?? 30_000,
          ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        },
        headersTimeout: this.headersTimeoutMs,
        bodyTimeout: this.bodyTimeoutMs,
      });
      this.ownsDispatcher = true;
    }
  }

  debug(line: string): void {
    if (this.onDebug !== undefined) this.onDebug(line);
  }

  get debugging(): boolean {
    return this.onDebug !== undefined;
  }

  /** Send one request, following redirects as described in the header comment. Any HTTP status is returned. */
  async send(req: HttpRequest): Promise<HttpResponse> {
    let method = req.method;
    let url = new URL(req.url.toString());
    let body = req.body;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
    headers['user-agent'] ??= this.userAgent;
    const follow = req.followRedirects ?? method !== 'HEAD';

    for (let hop = 0; ; hop++) {
      const res = await this.once(method, url, headers, body, req.signal);
      if (!follow || !REDIRECT_STATUSES.has(res.status)) return res;
      const location = res.header('location');
      if (location === undefined) return res;
      await res.discard();
      if (hop >= this.maxRedirects) {
        throw new ZtocError('REGISTRY_PROTOCOL', `${req.method} ${displayUrl(req.url)}: more than ${this.maxRedirects} redirects`, { status: res.status });
      }
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new ZtocError('REGISTRY_PROTOCOL', `${req.method} ${displayUrl(req.url)}: redirect to unsupported URL scheme ${next.protocol}`);
      }
      if (url.protocol === 'https:' && next.protocol === 'http:') {
        throw new ZtocError('REGISTRY_PROTOCOL', `${req.method} ${displayUrl(req.url)}: refusing redirect from https to plain http (${displayUrl(next)})`);
      }
      // distribution-spec: clients MUST NOT forward Authorization across host boundaries. We compare the
      // origin (scheme, host, port) like undici's redirect handler; presigned S3 URLs also reject a second auth.
      if (next.origin !== url.origin) {
        for (const h of CROSS_ORIGIN_DROP) delete headers[h];
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        if (method !== 'HEAD') method = 'GET';
        body = undefined;
        delete headers['content-type'];
        delete headers['content-length'];
      }
      this.debug(`  -> redirect ${res.status} to ${redactUrl(next)}${next.origin !== url.origin ? ' (new origin: credentials dropped)' : ''}`);
      url = next;
    }
  }

  private async once(
    method: HttpMethod,
    url: URL,
    headers: Record<string, string>,
    body: Uint8Array | string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    if (signal?.aborted === true) throw signal.reason;
    if (this.onDebug !== undefined) {
      this.debug(`> ${method} ${redactUrl(url)}`);
      for (const l of headerLines('>   ', headers)) this.debug(l);
      if (body !== undefined) this.debug(`>   (body ${typeof body === 'string' ? Buffer.byteLength(body) : body.length} bytes)`);
    }
    let data: Dispatcher.ResponseData;
    try {
      data = await this.dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        body: body ?? null,
        signal: signal ?? null,
        headersTimeout: this.headersTimeoutMs,
        bodyTimeout: this.bodyTimeoutMs,
      });
    } catch (err) {
      if (aborted(signal)) throw signal?.reason;
      this.debug(`< ${method} ${redactUrl(url)} failed: ${errMessage(err)}`);
      throw networkError(err, method, url);
    }
    if (this.onDebug !== undefined) {
      this.debug(`< ${data.statusCode} ${method} ${redactUrl(url)}`);
      for (const l of headerLines('<   ', data.headers)) this.debug(l);
    }
    return this.wrap(method, url, data, signal);
  }

  private wrap(method: HttpMethod, url: URL, data: Dispatcher.ResponseData, signal: AbortSignal | undefined): HttpResponse {
    const raw = data.headers;
    const body = data.body;
    const transport = this;
    const header = (name: string): string | undefined => {
      const v = raw[name.toLowerCase()];
      if (v === undefined) return undefined;
      return Array.isArray(v) ? v.join(', ') : v;
    };
    const headerValues = (name: string): string[] => {
      const v = raw[name.toLowerCase()];
      if (v === undefined) return [];
      return Array.isArray(v) ? v : [v];
    };
    const rethrow = (err: unknown): never => {
      if (signal?.aborted === true) throw signal.reason;
      if (err instanceof ZtocError) throw err;
      throw networkError(err, method, url);
    };
    const res: HttpResponse = {
      status: data.statusCode,
      url,
      method,
      header,
      headerValues,
      body,
      async bytes(limit: number, tooLarge?: () => Error): Promise<Buffer> {
        const fail = (): Error =>
          tooLarge !== undefined ? tooLarge() : new ZtocError('REGISTRY_PROTOCOL', `${method} ${displayUrl(url)}: response body larger than ${limit} bytes`);
        const cl = header('content-length');
        if (cl !== undefined && /^\d+$/.test(cl) && Number(cl) > limit) {
          body.destroy();
          throw fail();
        }
        const chunks: Buffer[] = [];
        let total = 0;
        try {
          for await (const chunk of body) {
            const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
            total += b.length;
            if (total > limit) {
              body.destroy();
              throw fail();
            }
            chunks.push(b);
          }
        } catch (err) {
          rethrow(err);
        }
        const all = Buffer.concat(chunks, total);
        if (transport.debugging) {
          const shown = redactBodyForDebug(header('content-type'), all);
          if (shown !== undefined) transport.debug(`<   body: ${shown}`);
        }
        return all;
      },
      async textPrefix(limit: number): Promise<string> {
        const chunks: Buffer[] = [];
        let total = 0;
        try {
          for await (const chunk of body) {
            const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
            const take = Math.min(b.length, limit - total);
            if (take > 0) chunks.push(b.subarray(0, take));
            total += take;
            if (total >= limit) {
              body.destroy();
              break;
            }
          }
        } catch {
          // An error body that cannot be read completely is still worth what we got.
        }
        const all = Buffer.concat(chunks);
        if (transport.debugging) {
          const shown = redactBodyForDebug(header('content-type'), all);
          if (shown !== undefined) transport.debug(`<   body: ${shown}`);
        }
        return all.toString('utf8');
      },
      async discard(): Promise<void> {
        try {
          await body.dump({ limit: 64 * 1024 });
        } catch {
          body.destroy();
        }
      },
    };
    return res;
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}
