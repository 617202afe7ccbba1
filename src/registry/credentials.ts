// Owns finding credentials for a registry host, in this order: explicit ones passed in; the docker config's
// `credHelpers[host]`; its `credsStore`; its `auths` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`);
// then containers' `REGISTRY_AUTH_FILE` (else `$XDG_RUNTIME_DIR/containers/auth.json`). Helpers are
// `docker-credential-<name> get`, run without a shell. Secrets are never logged or put into error messages.

import { execFile, type ExecFileException } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ZtocError } from '../errors.js';

export interface Credential {
  username?: string;
  password?: string;
  /** An OAuth2 refresh ("identity") token, exchanged at the token server with grant_type=refresh_token. */
  identityToken?: string;
  /** A ready bearer token, sent as is. */
  registryToken?: string;
}

/** Where a credential came from, for messages ("from credHelpers (docker-credential-ecr-login)"); never the secret. */
export interface ResolvedCredential {
  credential: Credential;
  source: string;
}

/** Looks credentials up for a registry host (and optionally the repository, for namespaced auth.json keys). */
export type CredentialLookup = (registry: string, repository?: string) => Promise<ResolvedCredential | undefined>;

export interface CredentialOptions {
  /** Used for every host, before any file or helper. */
  explicit?: Credential;
  /** Environment to read DOCKER_CONFIG, HOME, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, PATH from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Kill a credential helper after this long. Default 30 s. */
  helperTimeoutMs?: number;
  onDebug?: (line: string) => void;
}

/** The key Docker Hub credentials are stored under. */
export const DOCKER_HUB_CREDENTIAL_KEY = 'https://index.docker.io/v1/';
const HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

export function isEmptyCredential(c: Credential | undefined): boolean {
  return (
    c === undefined ||
    ((c.username ?? '') === '' && (c.password ?? '') === '' && (c.identityToken ?? '') === '' && (c.registryToken ?? '') === '')
  );
}

/** Strip scheme and path from an `auths`/`credHelpers` key (`https://ghcr.io/v2/` → `ghcr.io`); Hub names → docker.io. */
export function normalizeAuthKey(key: string): string {
  let k = key.trim();
  const scheme = k.indexOf('://');
  if (scheme >= 0) k = k.slice(scheme + 3);
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  k = k.toLowerCase();
  return HUB_NAMES.has(k) ? 'docker.io' : k;
}

function normalizeHost(registry: string): string {
  const h = registry.toLowerCase();
  return HUB_NAMES.has(h) ? 'docker.io' : h;
}

/** What credential helpers are asked for: the Hub's legacy URL, else the bare host. */
export function credentialServerUrl(registry: string): string {
  return normalizeHost(registry) === 'docker.io' ? DOCKER_HUB_CREDENTIAL_KEY : registry;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

async function readConfig(path: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new ZtocError('CREDENTIALS', `cannot read credentials file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parse error message could quote file content (a secret): don't include it.
    throw new ZtocError('CREDENTIALS', `credentials file ${path} is not valid JSON`);
  }
  const root = asRecord(parsed);
  if (root === undefined) throw new ZtocError('CREDENTIALS', `credentials file ${path} is not a JSON object`);
  const out: ConfigFile = {};
  const auths = asRecord(root.auths);
  if (auths !== undefined) {
    out.auths = {};
    for (const [k, v] of Object.entries(auths)) {
      const e = asRecord(v);
      if (e === undefined) continue;
      const entry: AuthEntry = {};
      for (const f of ['auth', 'username', 'password', 'identitytoken', 'registrytoken'] as const) {
        const s = str(e[f]);
        if (s !== undefined) entry[f] = s;
      }
      out.auths[k] = entry;
    }
  }
  const helpers = asRecord(root.credHelpers);
  if (helpers !== undefined) {
    out.credHelpers = {};
    for (const [k, v] of Object.entries(helpers)) {
      const s = str(v);
      if (s !== undefined && s !== '') out.credHelpers[k] = s;
    }
  }
  const store = str(root.credsStore);
  if (store !== undefined && store !== '') out.credsStore = store;
  return out;
}

function decodeEntry(entry: AuthEntry, file: string, key: string): Credential | undefined {
  const c: Credential = {};
  if (entry.auth !== undefined && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new ZtocError('CREDENTIALS', `credentials file ${file}: the "auth" value for ${key} is not base64 of user:password`);
    c.username = decoded.slice(0, colon);
    c.password = decoded.slice(colon + 1);
  } else {
    if (entry.username !== undefined && entry.username !== '') c.username = entry.username;
    if (entry.password !== undefined && entry.password !== '') c.password = entry.password;
  }
  if (entry.identitytoken !== undefined && entry.identitytoken !== '') c.identityToken = entry.identitytoken;
  if (entry.registrytoken !== undefined && entry.registrytoken !== '') c.registryToken = entry.registrytoken;
  // Entries with an empty "auth" are written when a helper holds the secret: they mean nothing on their own.
  return isEmptyCredential(c) ? undefined : c;
}

function findByHost<T>(map: Record<string, T> | undefined, host: string): [string, T] | undefined {
  if (map === undefined) return undefined;
  for (const [k, v] of Object.entries(map)) {
    if (normalizeAuthKey(k) === host) return [k, v];
  }
  return undefined;
}

/**
 * containers-auth.json keys may be namespaced (`quay.io/org/repo`, `quay.io/org`, `quay.io`): the longest key that
 * is the registry or a path prefix of registry/repository wins.
 */
function findNamespaced(map: Record<string, AuthEntry> | undefined, host: string, repository: string | undefined): [string, AuthEntry] | undefined {
  if (map === undefined) return undefined;
  const target = repository !== undefined ? `${host}/${repository}` : host;
  let best: [string, AuthEntry] | undefined;
  let bestLen = -1;
  for (const [k, v] of Object.entries(map)) {
    let key = k.trim();
    const scheme = key.indexOf('://');
    if (scheme >= 0) key = key.slice(scheme + 3);
    key = key.replace(/\/+$/, '');
    const slash = key.indexOf('/');
    const keyHost = normalizeHost(slash < 0 ? key : key.slice(0, slash));
    // A Hub URL key ("https://index.docker.io/v1/") carries an API path, not a namespace.
    const keyPath = slash < 0 || scheme >= 0 ? '' : key.slice(slash + 1);
    const full = keyPath === '' ? keyHost : `${keyHost}/${keyPath}`;
    if (full === target || target.startsWith(`${full}/`)) {
      if (full.length > bestLen) {
        best = [k, v];
        bestLen = full.length;
      }
    }
  }
  return best;
}

export interface HelperOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/**
 * Run `docker-credential-<helper> get` with the server URL on stdin. Returns undefined for "credentials not found".
 * A `<token>` username means the secret is an identity token.
 */
export async function runCredentialHelper(helper: string, serverUrl: string, opts: HelperOptions = {}): Promise<Credential | undefined> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(helper)) {
    throw new ZtocError('CREDENTIALS', `invalid credential helper name ${JSON.stringify(helper)}`);
  }
  const program = `docker-credential-${helper}`;
  const { stdout, stderr, error } = await new Promise<{ stdout: string; stderr: string; error: ExecFileException | null }>((resolve) => {
    const child = execFile(
      program,
      ['get'],
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 1024 * 1024, windowsHide: true },
      (err, out, errOut) => resolve({ stdout: String(out), stderr: String(errOut), error: err }),
    );
    child.stdin?.on('error', () => {
      // The helper may exit without reading stdin; the exit status tells the story.
    });
    child.stdin?.end(serverUrl);
  });
  if (error !== null) {
    if (error.code === 'ENOENT') {
      throw new ZtocError('CREDENTIALS', `credential helper ${program} is configured but not found on PATH`, { cause: error });
    }
    const said = `${stdout}\n${stderr}`;
    if (/credentials not found/i.test(said)) return undefined;
    const firstLine = (stderr.trim() || stdout.trim()).split('\n')[0]?.slice(0, 200) ?? '';
    throw new ZtocError(
      'CREDENTIALS',
      `credential helper ${program} failed for ${serverUrl}${error.killed === true ? ' (timed out)' : ''}${firstLine !== '' ? `: ${firstLine}` : ''}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new ZtocError('CREDENTIALS', `credential helper ${program} printed something that is not JSON for ${serverUrl}`);
  }
  const rec = asRecord(parsed);
  const username = str(rec?.Username) ?? '';
  const secret = str(rec?.Secret) ?? '';
  if (secret === '') return undefined;
  if (username === '<token>') return { identityToken: secret };
  return { username, password: secret };
}

function dockerConfigPath(env: NodeJS.ProcessEnv): string {
  const dir = env.DOCKER_CONFIG;
  if (dir !== undefined && dir !== '') return join(dir, 'config.json');
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir();
  return join(home, '.docker', 'config.json');
}

function containersAuthPath(env: NodeJS.ProcessEnv): string | undefined {
  if (env.REGISTRY_AUTH_FILE !== undefined && env.REGISTRY_AUTH_FILE !== '') return env.REGISTRY_AUTH_FILE;
  if (env.XDG_RUNTIME_DIR !== undefined && env.XDG_RUNTIME_DIR !== '') return join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  return undefined;
}

/** Resolve credentials for one registry host (uncached). */
export async function resolveCredential(registry: string, repository: string | undefined, opts: CredentialOptions = {}): Promise<ResolvedCredential | undefined> {
  const debug = opts.onDebug ?? ((): void => undefined);
  if (!isEmptyCredential(opts.explicit)) {
    debug(`credentials for ${registry}: explicit`);
    return { credential: { ...opts.explicit }, source: 'explicit credentials' };
  }
  const env = opts.env ?? process.env;
  const host = normalizeHost(registry);
  const serverUrl = credentialServerUrl(registry);
  const helperOpts: HelperOptions = { env };
  if (opts.helperTimeoutMs !== undefined) helperOpts.timeoutMs = opts.helperTimeoutMs;

  const configPath = dockerConfigPath(env);
  const config = await readConfig(configPath);
  if (config !== undefined) {
    const helper = findByHost(config.credHelpers, host);
    if (helper !== undefined) {
      const c = await runCredentialHelper(helper[1], serverUrl, helperOpts);
      if (c !== undefined) {
        debug(`credentials for ${registry}: credHelpers (docker-credential-${helper[1]})`);
        return { credential: c, source: `credential helper docker-credential-${helper[1]} (credHelpers in ${configPath})` };
      }
    }
    if (config.credsStore !== undefined) {
      const c = await runCredentialHelper(config.credsStore, serverUrl, helperOpts);
      if (c !== undefined) {
        debug(`credentials for ${registry}: credsStore (docker-credential-${config.credsStore})`);
        return { credential: c, source: `credential helper docker-credential-${config.credsStore} (credsStore in ${configPath})` };
      }
    }
    const entry = findByHost(config.auths, host);
    if (entry !== undefined) {
      const c = decodeEntry(entry[1], configPath, entry[0]);
      if (c !== undefined) {
        debug(`credentials for ${registry}: auths in ${configPath}`);
        return { credential: c, source: `auths in ${configPath}` };
      }
    }
  }

  const authFile = containersAuthPath(env);
  if (authFile !== undefined) {
    const file = await readConfig(authFile);
    const entry = findNamespaced(file?.auths, host, repository);
    if (entry !== undefined) {
      const c = decodeEntry(entry[1], authFile, entry[0]);
      if (c !== undefined) {
        debug(`credentials for ${registry}: auths in ${authFile}`);
        return { credential: c, source: `auths in ${authFile}` };
      }
    }
  }
  debug(`credentials for ${registry}: none (anonymous)`);
  return undefined;
}

/** A lookup that resolves once per (host, repository) and remembers the answer, including "none". */
export function createCredentialLookup(opts: CredentialOptions = {}): CredentialLookup {
  const cache = new Map<string, Promise<ResolvedCredential | undefined>>();
  return (registry, repository) => {
    const key = `${normalizeHost(registry)}\u0000${repository ?? ''}`;
    let p = cache.get(key);
    if (p === undefined) {
      p = resolveCredential(registry, repository, opts);
      cache.set(key, p);
      p.catch(() => cache.delete(key));
    }
    return p;
  };
}

/** A lookup that always answers with `credential` (or nothing). */
export function staticCredentials(credential: Credential | undefined): CredentialLookup {
  return async () => (isEmptyCredential(credential) ? undefined : { credential: { ...credential }, source: 'explicit credentials' });
}
