// Owns registry authentication: parsing WWW-Authenticate (RFC 7235, several challenges per header), scope strings
// (`repository:<name>:pull,push`, merged and sorted), Bearer tokens (GET realm?service&scope… with Basic when we have
// a password; OAuth2 refresh-token POST when we have an identity token, falling back to GET on 404), Basic, a token
// cache keyed by host + sorted scope set, and the 401 dance: challenge → credentials → retry once → clear error.

import { ZtocError } from '../errors.js';
import type { Credential, CredentialLookup, ResolvedCredential } from './credentials.js';
import { displayUrl, responseError } from './errors.js';
import type { HttpRequest, HttpResponse } from './transport.js';

// --- WWW-Authenticate ---------------------------------------------------------------------------------------------

export interface Challenge {
  /** Lowercased scheme: `bearer`, `basic`, … */
  scheme: string;
  /** Lowercased parameter names → unquoted values. */
  params: Record<string, string>;
  /** For `Scheme token68` challenges. */
  token68?: string;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

/** Parse one or more WWW-Authenticate header values into challenges, in order. Lenient about unquoted values. */
export function parseWWWAuthenticate(header: string | string[]): Challenge[] {
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const h of values) parseOne(h, out);
  return out;
}

function parseOne(h: string, out: Challenge[]): void {
  const n = h.length;
  let i = 0;
  const skipOWS = (): void => {
    while (i < n && (h[i] === ' ' || h[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(h[i] as string)) i++;
    return h.slice(start, i);
  };
  const readValue = (): string => {
    if (h[i] === '"') {
      i++;
      let v = '';
      while (i < n && h[i] !== '"') {
        if (h[i] === '\\' && i + 1 < n) i++;
        v += h[i];
        i++;
      }
      i++; // closing quote
      return v;
    }
    // Non-compliant servers send unquoted URLs (realm=https://…): take everything up to the next comma/space.
    const start = i;
    while (i < n && h[i] !== ',' && h[i] !== ' ' && h[i] !== '\t') i++;
    return h.slice(start, i);
  };

  while (i < n) {
    while (i < n && (h[i] === ' ' || h[i] === '\t' || h[i] === ',')) i++;
    if (i >= n) break;
    const scheme = readToken();
    if (scheme === '') {
      i++; // garbage: skip a character and resync
      continue;
    }
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    if (i < n && h[i] !== ' ' && h[i] !== '\t') continue;
    skipOWS();
    const t68 = TOKEN68.exec(h.slice(i));
    if (t68 !== null) {
      let j = i + t68[0].length;
      while (j < n && (h[j] === ' ' || h[j] === '\t')) j++;
      if (j >= n || h[j] === ',') {
        ch.token68 = t68[0];
        i = j;
        continue;
      }
    }
    for (;;) {
      skipOWS();
      const save = i;
      const name = readToken();
      if (name === '') break;
      skipOWS();
      if (h[i] !== '=') {
        i = save; // not a parameter: the next challenge's scheme
        break;
      }
      i++;
      skipOWS();
      ch.params[name.toLowerCase()] = readValue();
      skipOWS();
      if (h[i] === ',') {
        i++;
        continue;
      }
      break;
    }
  }
}

// --- scopes -------------------------------------------------------------------------------------------------------

/** `repository:<name>:<actions>` */
export function repositoryScope(repository: string, ...actions: string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

/** Merge scopes on the same resource, dedupe and sort actions and scopes (`*` absorbs the rest). */
export function cleanScopes(scopes: Iterable<string>): string[] {
  const byResource = new Map<string, Set<string>>();
  const opaque = new Set<string>();
  for (const raw of scopes) {
    const s = raw.trim();
    if (s === '') continue;
    const first = s.indexOf(':');
    const last = s.lastIndexOf(':');
    if (first < 0 || first === last) {
      opaque.add(s);
      continue;
    }
    const resource = s.slice(0, last);
    const actions = s
      .slice(last + 1)
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '');
    let set = byResource.get(resource);
    if (set === undefined) {
      set = new Set();
      byResource.set(resource, set);
    }
    for (const a of actions) set.add(a);
  }
  const out = [...opaque];
  for (const [resource, set] of byResource) {
    if (set.size === 0) continue;
    const actions = set.has('*') ? ['*'] : [...set].sort();
    out.push(`${resource}:${actions.join(',')}`);
  }
  return out.sort();
}

// --- tokens -------------------------------------------------------------------------------------------------------

export const TOKEN_BODY_LIMIT = 128 * 1024;
const MIN_TOKEN_LIFETIME_S = 60;
const EXPIRY_SLACK_MS = 5_000;

interface CachedToken {
  token: string;
  expiresAt: number;
}

export type Sender = (req: HttpRequest) => Promise<HttpResponse>;

export interface AuthOptions {
  credentials: CredentialLookup;
  /** OAuth2 client_id. Default "ztoc". */
  clientId?: string;
  /** Allow a plain-http token realm for an https registry (only with `insecure`). */
  insecure?: boolean;
  onDebug?: (line: string) => void;
}

interface HostState {
  scheme?: 'basic' | 'bearer';
  realm?: string;
  service?: string;
}

export interface AuthRequest {
  /** Registry host (for credentials and caches), e.g. `127.0.0.1:5000`, `registry-1.docker.io`. */
  host: string;
  /** The registry name credentials are stored under (`docker.io` for Hub); default = host. */
  credentialHost?: string;
  repository?: string;
  /** Scope hints, e.g. `repository:a/b:pull,push`. */
  scopes: string[];
  request: HttpRequest;
}

function basicValue(c: Credential): string {
  return `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`, 'utf8').toString('base64')}`;
}

function isLoopbackOrPrivate(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h.includes(':')) return h === '::1' || h.startsWith('fe80:') || /^f[cd][0-9a-f]{0,2}:/.test(h); // IPv6 loopback, link-local, ULA
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
  if (m === null) return false;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || a === 0;
}

/** Holds per-host auth state and the token cache; shared by every request of a client. */
export class Authenticator {
  private readonly lookup: CredentialLookup;
  private readonly clientId: string;
  private readonly insecure: boolean;
  private readonly onDebug: ((line: string) => void) | undefined;
  private readonly hosts = new Map<string, HostState>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<CachedToken>>();

  constructor(opts: AuthOptions) {
    this.lookup = opts.credentials;
    this.clientId = opts.clientId ?? 'ztoc';
    this.insecure = opts.insecure === true;
    this.onDebug = opts.onDebug;
  }

  private debug(line: string): void {
    this.onDebug?.(line);
  }

  private state(host: string): HostState {
    let s = this.hosts.get(host);
    if (s === undefined) {
      s = {};
      this.hosts.set(host, s);
    }
    return s;
  }

  private static key(host: string, scopes: string[]): string {
    return `${host}\u0000${cleanScopes(scopes).join(' ')}`;
  }

  private cached(key: string): CachedToken | undefined {
    const t = this.tokens.get(key);
    if (t === undefined) return undefined;
    if (t.expiresAt - EXPIRY_SLACK_MS <= Date.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return t;
  }

  private async credential(ar: AuthRequest): Promise<ResolvedCredential | undefined> {
    return this.lookup(ar.credentialHost ?? ar.host, ar.repository);
  }

  /**
   * Send `ar.request` with whatever authorization we know for the host, answering at most one 401 challenge.
   * `tokenSend` carries token-server requests (default: `send`).
   */
  async send(ar: AuthRequest, send: Sender, tokenSend: Sender = send): Promise<HttpResponse> {
    const st = this.state(ar.host);
    let sentAuth = await this.preemptive(ar, st, tokenSend);
    let res = await send(withAuth(ar.request, sentAuth));
    if (res.status !== 401) return res;

    const challenges = parseWWWAuthenticate(res.headerValues('www-authenticate'));
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer === undefined && basic === undefined) {
      const body = await res.textPrefix(8 * 1024);
      const schemes = challenges.map((c) => c.scheme).join(', ');
      const e = responseError(ar.request.method, res.url, 401, body, `registry ${ar.host} requires authentication`);
      if (schemes !== '') e.message += ` (unsupported auth scheme: ${schemes})`;
      throw e;
    }
    await res.discard();
    const resolved = await this.credential(ar);

    if (bearer !== undefined) {
      const realm = bearer.params.realm;
      if (realm === undefined || realm === '') {
        throw new ZtocError('REGISTRY_PROTOCOL', `registry ${ar.host} sent a Bearer challenge without a realm`, { status: 401 });
      }
      st.scheme = 'bearer';
      st.realm = realm;
      st.service = bearer.params.service ?? '';
      if (resolved?.credential.registryToken !== undefined) {
        // A static bearer token was already sent (or just now will be): a second 401 means it is not good here.
        if (sentAuth !== undefined) throw this.rejected(ar, resolved, 'the registry token was rejected');
        sentAuth = `Bearer ${resolved.credential.registryToken}`;
      } else {
        const challenged = bearer.params.scope !== undefined ? bearer.params.scope.split(' ') : [];
        const merged = cleanScopes([...ar.scopes, ...challenged]);
        const key = Authenticator.key(ar.host, merged);
        const cached = this.cached(key);
        let token: CachedToken;
        if (cached !== undefined && `Bearer ${cached.token}` !== sentAuth) {
          token = cached; // another request refreshed it meanwhile
        } else {
          this.tokens.delete(key);
          token = await this.fetchToken(ar, st, merged, resolved, tokenSend);
        }
        this.tokens.set(key, token);
        this.tokens.set(Authenticator.key(ar.host, ar.scopes), token);
        sentAuth = `Bearer ${token.token}`;
      }
    } else {
      // Basic
      if (resolved === undefined || (resolved.credential.username ?? '') === '') {
        throw new ZtocError(
          'REGISTRY_UNAUTHORIZED',
          `registry ${ar.host} requires authentication (Basic realm=${JSON.stringify(basic?.params.realm ?? '')}) and no credentials were found for it ` +
            `(pass a username/password, or log in so that the docker config or containers auth.json has them)`,
          { status: 401 },
        );
      }
      const value = basicValue(resolved.credential);
      if (sentAuth === value) throw this.rejected(ar, resolved, 'username or password rejected');
      st.scheme = 'basic';
      sentAuth = value;
    }

    res = await send(withAuth(ar.request, sentAuth));
    if (res.status !== 401) return res;
    const body = await res.textPrefix(8 * 1024);
    if (st.scheme === 'basic' && resolved !== undefined) {
      throw this.rejected(ar, resolved, 'username or password rejected');
    }
    const e = responseError(ar.request.method, res.url, 401, body, `registry ${ar.host} refused the request after authenticating${describeWho(resolved)}`);
    throw e;
  }

  private rejected(ar: AuthRequest, resolved: ResolvedCredential, why: string): ZtocError {
    return new ZtocError('REGISTRY_UNAUTHORIZED', `authentication to registry ${ar.host} failed: ${why}${describeWho(resolved)}`, { status: 401 });
  }

  /** Authorization to send before any challenge: Basic once the host asked for it, Bearer when a token is cached. */
  private async preemptive(ar: AuthRequest, st: HostState, send: Sender): Promise<string | undefined> {
    if (st.scheme === 'basic') {
      const r = await this.credential(ar);
      return r !== undefined ? basicValue(r.credential) : undefined;
    }
    if (st.scheme === 'bearer') {
      const r = await this.credential(ar);
      if (r?.credential.registryToken !== undefined) return `Bearer ${r.credential.registryToken}`;
      const key = Authenticator.key(ar.host, ar.scopes);
      const cached = this.cached(key);
      if (cached !== undefined) return `Bearer ${cached.token}`;
      // We know the realm for this host: get a token for these scopes now instead of paying a 401 round trip.
      if (st.realm !== undefined && ar.scopes.length > 0) {
        const token = await this.fetchToken(ar, st, cleanScopes(ar.scopes), r, send);
        this.tokens.set(key, token);
        return `Bearer ${token.token}`;
      }
    }
    return undefined;
  }

  private fetchToken(ar: AuthRequest, st: HostState, scopes: string[], resolved: ResolvedCredential | undefined, send: Sender): Promise<CachedToken> {
    const flightKey = `${Authenticator.key(ar.host, scopes)}\u0000${st.realm ?? ''}`;
    const existing = this.inflight.get(flightKey);
    if (existing !== undefined) return existing;
    const p = this.doFetchToken(ar, st, scopes, resolved, send).finally(() => this.inflight.delete(flightKey));
    this.inflight.set(flightKey, p);
    return p;
  }

  private async doFetchToken(ar: AuthRequest, st: HostState, scopes: string[], resolved: ResolvedCredential | undefined, send: Sender): Promise<CachedToken> {
    const realm = this.checkRealm(ar, st.realm ?? '');
    const cred = resolved?.credential;
    const service = st.service ?? '';
    this.debug(`auth: token for ${ar.host} scopes [${scopes.join(' ')}]${cred !== undefined ? ` as ${describeWho(resolved).trim()}` : ' (anonymous)'}`);

    if (cred?.identityToken !== undefined) {
      const form = new URLSearchParams();
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', cred.identityToken);
      form.set('service', service);
      form.set('client_id', this.clientId);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      const res = await send({
        method: 'POST',
        url: realm,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: ar.request.signal,
      });
      // ggcr quirk: some token servers (older distribution) have no OAuth2 POST endpoint and answer 404: use GET.
      if (res.status !== 404) return this.readToken(ar, res, resolved, realm);
      await res.discard();
      this.debug(`auth: token server ${displayUrl(realm)} has no OAuth2 endpoint (404); falling back to GET`);
    }

    const url = new URL(realm.toString());
    if (service !== '') url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (cred !== undefined && (cred.username ?? '') !== '' && cred.password !== undefined) headers.authorization = basicValue(cred);
    const req: HttpRequest = { method: 'GET', url, headers };
    if (ar.request.signal !== undefined) req.signal = ar.request.signal;
    const res = await send(req);
    return this.readToken(ar, res, resolved, url);
  }

  private async readToken(ar: AuthRequest, res: HttpResponse, resolved: ResolvedCredential | undefined, url: URL): Promise<CachedToken> {
    if (res.status === 401 || res.status === 403) {
      await res.discard();
      if (resolved !== undefined) throw this.rejected(ar, resolved, `the token server ${displayUrl(url)} answered HTTP ${res.status}`);
      throw new ZtocError(
        'REGISTRY_UNAUTHORIZED',
        `authentication to registry ${ar.host} failed: the token server ${displayUrl(url)} refused an anonymous token (HTTP ${res.status}); credentials are needed`,
        { status: res.status },
      );
    }
    if (res.status < 200 || res.status >= 300) {
      const body = await res.textPrefix(8 * 1024);
      throw responseError(res.method, res.url, res.status, body, `token request for registry ${ar.host}`);
    }
    const bytes = await res.bytes(
      TOKEN_BODY_LIMIT,
      () => new ZtocError('REGISTRY_PROTOCOL', `token server ${displayUrl(url)} answered more than ${TOKEN_BODY_LIMIT} bytes`),
    );
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new ZtocError('REGISTRY_PROTOCOL', `token server ${displayUrl(url)} answered something that is not JSON`);
    }
    const rec = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
    const token = typeof rec.token === 'string' && rec.token !== '' ? rec.token : typeof rec.access_token === 'string' ? rec.access_token : '';
    if (token === '') throw new ZtocError('REGISTRY_PROTOCOL', `token server ${displayUrl(url)} answered without "token" or "access_token"`);
    // containers/image: expires_in defaults to, and is floored at, 60 s; issued_at is honoured.
    const expiresIn = typeof rec.expires_in === 'number' && rec.expires_in > MIN_TOKEN_LIFETIME_S ? rec.expires_in : MIN_TOKEN_LIFETIME_S;
    const issued = typeof rec.issued_at === 'string' ? Date.parse(rec.issued_at) : Number.NaN;
    const issuedAt = Number.isNaN(issued) || issued > Date.now() ? Date.now() : issued;
    return { token, expiresAt: issuedAt + expiresIn * 1000 };
  }

  /** ggcr-style realm safety: no credentials over plain http to an https registry, no SSRF into loopback/private IPs. */
  private checkRealm(ar: AuthRequest, realm: string): URL {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new ZtocError('REGISTRY_PROTOCOL', `registry ${ar.host} sent an invalid token realm ${JSON.stringify(realm)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new ZtocError('REGISTRY_PROTOCOL', `registry ${ar.host} sent a token realm with unsupported scheme ${url.protocol}`);
    }
    const reg = ar.request.url;
    if (url.protocol === 'http:' && reg.protocol === 'https:' && !this.insecure) {
      throw new ZtocError('REGISTRY_PROTOCOL', `registry ${ar.host} (https) sent a plain-http token realm ${displayUrl(url)}; refusing to send credentials unencrypted`);
    }
    if (isLoopbackOrPrivate(url.hostname) && !isLoopbackOrPrivate(reg.hostname)) {
      throw new ZtocError('REGISTRY_PROTOCOL', `registry ${ar.host} sent a token realm on a local/private address (${url.host}); refusing`);
    }
    return url;
  }
}

function describeWho(resolved: ResolvedCredential | undefined): string {
  if (resolved === undefined) return ' (anonymous)';
  const c = resolved.credential;
  const who = c.identityToken !== undefined ? 'identity token' : c.registryToken !== undefined ? 'registry token' : `user ${JSON.stringify(c.username ?? '')}`;
  return ` (${who} from ${resolved.source})`;
}

function withAuth(req: HttpRequest, authorization: string | undefined): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) if (k.toLowerCase() !== 'authorization') headers[k] = v;
  if (authorization !== undefined) headers.authorization = authorization;
  return { ...req, headers };
}
