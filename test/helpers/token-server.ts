// Owns a small token service for tests of the registry's `auth: token` mode: a self-signed certificate (openssl),
// RS256 JWTs whose header carries `x5c: [cert]`, the distribution GET flow (Basic → token for the requested
// scopes) and the OAuth2 POST flow (grant_type=refresh_token / password). Listens on 127.0.0.1 only and records every
// request so tests can count token fetches.

import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TokenRequestRecord {
  method: string;
  scopes: string[];
  service: string | undefined;
  /** Authenticated user, or undefined for anonymous. */
  user: string | undefined;
  grantType: string | undefined;
  clientId: string | undefined;
  status: number;
}

export interface TokenServerOptions {
  service?: string;
  issuer?: string;
  /** user → password */
  users?: Record<string, string>;
  /** refresh (identity) token → user */
  refreshTokens?: Record<string, string>;
  /** Seconds; default 300. */
  expiresIn?: number;
}

export interface TokenServer {
  /** The realm URL (`http://127.0.0.1:PORT/token`). */
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate to give the registry as rootcertbundle. */
  certPath: string;
  requests: TokenRequestRecord[];
  /** When false, POST answers 404 (a token server without the OAuth2 endpoint). Default true. */
  oauth: boolean;
  /** Answer with `access_token` instead of `token`. */
  useAccessTokenField: boolean;
  /** Issue this many already-expired JWTs next (the response still claims expires_in), to force 401 re-challenges. */
  expireNext: number;
  stop(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function makeCert(dir: string): { key: KeyObject; certPem: string; certPath: string } {
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-subj', '/CN=ztoc-test-token', '-days', '2', '-sha256'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (err) {
    throw new Error(`token server: openssl could not make a certificate (is openssl installed?): ${(err as Error).message}`);
  }
  return { key: createPrivateKey(readFileSync(keyPath)), certPem: readFileSync(certPath, 'utf8'), certPath };
}

function parseScope(s: string): { type: string; name: string; actions: string[] } | undefined {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first < 0 || first === last) return undefined;
  return { type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter((a) => a !== '') };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ztoc-token-'));
  const { key, certPem, certPath } = makeCert(dir);
  const der = new X509Certificate(certPem).raw.toString('base64');
  const service = opts.service ?? 'test-registry';
  const issuer = opts.issuer ?? 'test-issuer';
  const users = opts.users ?? {};
  const refreshTokens = opts.refreshTokens ?? {};
  const expiresIn = opts.expiresIn ?? 300;
  const requests: TokenRequestRecord[] = [];

  const issue = (user: string | undefined, scopes: string[]): string => {
    let now = Math.floor(Date.now() / 1000);
    if (ts.expireNext > 0) {
      ts.expireNext--;
      now -= 2 * expiresIn;
    }
    const access = scopes
      .map(parseScope)
      .filter((s): s is NonNullable<typeof s> => s !== undefined)
      // Anonymous callers only get pull; authenticated ones get what they ask for.
      .map((s) => ({ type: s.type, name: s.name, actions: user === undefined ? s.actions.filter((a) => a === 'pull') : s.actions }));
    const header = { typ: 'JWT', alg: 'RS256', x5c: [der] };
    const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + expiresIn, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(signingInput), key);
    return `${signingInput}.${b64url(sig)}`;
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const record: TokenRequestRecord = { method: req.method ?? '', scopes: [], service: undefined, user: undefined, grantType: undefined, clientId: undefined, status: 0 };
      requests.push(record);
      const reply = (status: number, body: unknown): void => {
        record.status = status;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url.pathname !== '/token') return reply(404, { error: 'not found' });
      let user: string | undefined;
      if (req.method === 'POST') {
        if (!ts.oauth) return reply(404, { error: 'no oauth endpoint' });
        const form = new URLSearchParams(await readBody(req));
        record.grantType = form.get('grant_type') ?? undefined;
        record.clientId = form.get('client_id') ?? undefined;
        record.service = form.get('service') ?? undefined;
        record.scopes = (form.get('scope') ?? '').split(' ').filter((s) => s !== '');
        if (record.grantType === 'refresh_token') {
          user = refreshTokens[form.get('refresh_token') ?? ''];
          if (user === undefined) return reply(401, { error: 'invalid_grant' });
        } else if (record.grantType === 'password') {
          const u = form.get('username') ?? '';
          if (users[u] === undefined || users[u] !== form.get('password')) return reply(401, { error: 'invalid_grant' });
          user = u;
        } else {
          return reply(400, { error: 'unsupported_grant_type' });
        }
        record.user = user;
        const token = issue(user, record.scopes);
        return reply(200, { access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() });
      }
      if (req.method !== 'GET') return reply(405, { error: 'method' });
      record.service = url.searchParams.get('service') ?? undefined;
      record.scopes = url.searchParams.getAll('scope');
      const auth = req.headers.authorization;
      if (auth !== undefined) {
        const m = /^Basic\s+(.+)$/i.exec(auth);
        const decoded = m !== null ? Buffer.from(m[1] ?? '', 'base64').toString('utf8') : '';
        const colon = decoded.indexOf(':');
        const u = decoded.slice(0, colon);
        if (colon < 0 || users[u] === undefined || users[u] !== decoded.slice(colon + 1)) return reply(401, { details: 'invalid credentials' });
        user = u;
      }
      record.user = user;
      const token = issue(user, record.scopes);
      return reply(200, ts.useAccessTokenField ? { access_token: token, expires_in: expiresIn } : { token, expires_in: expiresIn, issued_at: new Date().toISOString() });
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const ts: TokenServer = {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    requests,
    oauth: true,
    useAccessTokenField: false,
    expireNext: 0,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return ts;
}
