// Owns running a real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with a free
// port and its own temp dir, config and storage; no auth, htpasswd (bcrypt via `htpasswd -B`) or token auth (through
// test/helpers/token-server.ts). Waits until GET /v2/ answers; stop() kills it and removes the dir.
// Missing binaries make the tests FAIL with a clear message: CI installs them.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server.js';

export interface StartRegistryOptions {
  auth?: 'none' | 'htpasswd' | 'token';
  /** For htpasswd/token. Default user "ztoc", password "s3cret-pass". */
  username?: string;
  password?: string;
  /** Extra token-server options (auth: 'token'). */
  token?: TokenServerOptions;
  /** Serve HTTPS with a fresh self-signed certificate for 127.0.0.1 (see RunningRegistry.caCertPath). */
  tls?: boolean;
  /** storage.delete.enabled (default true); false makes DELETE answer 405 UNSUPPORTED, as Docker Hub does. */
  deleteEnabled?: boolean;
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  dir: string;
  username?: string;
  password?: string;
  tokenServer?: TokenServer;
  /** With tls: the PEM certificate to trust. */
  caCertPath?: string;
  stop(): Promise<void>;
}

function onPath(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Throws (fails the test) when a binary the registry tests need is missing. */
export function requireBinary(bin: string, pkg: string): void {
  if (!onPath(bin)) {
    throw new Error(`${bin} is not on PATH: the registry tests need it (Debian: apt-get install -y --no-install-recommends ${pkg})`);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function probe(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: 500 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => {
      req.destroy();
      resolve(undefined);
    });
    req.end();
  });
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RunningRegistry> {
  requireBinary('docker-registry', 'docker-registry');
  const auth = opts.auth ?? 'none';
  const username = opts.username ?? 'ztoc';
  const password = opts.password ?? 's3cret-pass';
  const dir = mkdtempSync(join(tmpdir(), 'ztoc-registry-'));
  mkdirSync(join(dir, 'data'));
  let tokenServer: TokenServer | undefined;
  let authYaml = '';
  if (auth === 'htpasswd') {
    requireBinary('htpasswd', 'apache2-utils');
    const line = execFileSync('htpasswd', ['-Bbn', username, password], { encoding: 'utf8' }).trim();
    writeFileSync(join(dir, 'htpasswd'), `${line}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth === 'token') {
    requireBinary('openssl', 'openssl');
    tokenServer = await startTokenServer({ users: { [username]: password }, ...opts.token });
    authYaml =
      `auth:\n  token:\n    realm: ${tokenServer.realm}\n    service: ${tokenServer.service}\n` +
      `    issuer: ${tokenServer.issuer}\n    rootcertbundle: ${tokenServer.certPath}\n`;
  }

  let tlsYaml = '';
  let caCertPath: string | undefined;
  if (opts.tls === true) {
    requireBinary('openssl', 'openssl');
    caCertPath = join(dir, 'tls.crt');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'tls.key'), '-out', caCertPath, '-subj', '/CN=127.0.0.1', '-days', '2', '-sha256', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    tlsYaml = `  tls:\n    certificate: ${caCertPath}\n    key: ${join(dir, 'tls.key')}\n`;
  }

  let lastErr = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config =
      `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n` +
      `  delete:\n    enabled: ${opts.deleteEnabled === false ? 'false' : 'true'}\nhttp:\n  addr: ${host}\n  secret: loopback-test-only\n${tlsYaml}${authYaml}`;
    writeFileSync(join(dir, 'config.yml'), config);
    // The registry logs to a file, not a pipe: a caller blocked in spawnSync (a `ztoc` child run synchronously)
    // drains no pipe, and once a 64 KiB pipe buffer of log lines filled, the registry's log writes blocked and every
    // manifest request hung (the backfill bench stopped at its 21st image on UND_ERR_HEADERS_TIMEOUT).
    const logPath = join(dir, 'registry.log');
    const logFd = openSync(logPath, 'w');
    const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', logFd] });
    closeSync(logFd);
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + 10_000;
    let up = false;
    while (Date.now() < deadline && !exited) {
      const status = await probe(`http://${host}/v2/`);
      // 401 means "up, auth required"; a TLS listener answers plain HTTP with 400, which also means "up".
      if (status !== undefined) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    if (up) {
      const running: RunningRegistry = {
        host,
        url: `${opts.tls === true ? 'https' : 'http'}://${host}`,
        dir,
        async stop() {
          if (!exited) {
            const done = new Promise<void>((r) => child.once('exit', () => r()));
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
            await done;
            clearTimeout(timer);
          }
          if (tokenServer !== undefined) await tokenServer.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
      if (auth !== 'none') {
        running.username = username;
        running.password = password;
      }
      if (tokenServer !== undefined) running.tokenServer = tokenServer;
      if (caCertPath !== undefined) running.caCertPath = caCertPath;
      return running;
    }
    if (!exited) child.kill('SIGKILL');
    lastErr = readFileSync(logPath, 'utf8').slice(0, 16_384);
  }
  if (tokenServer !== undefined) await tokenServer.stop();
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`docker-registry did not come up on 127.0.0.1: ${lastErr.slice(0, 2000)}`);
}

// --- small test images ---------------------------------------------------------------------------------------------

export interface TestBlob {
  desc: { mediaType: string; digest: string; size: number };
  bytes: Buffer;
}

export interface TestImage {
  config: TestBlob;
  layers: TestBlob[];
  manifest: TestBlob;
}

export function blobOf(bytes: Buffer, mediaType = 'application/octet-stream'): TestBlob {
  return { desc: { mediaType, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length }, bytes };
}

/** An OCI image with random layer bytes (not a real tar: the registry does not care). */
export function makeImage(layerSizes: number[] = [4096], label = 'x'): TestImage {
  const config = blobOf(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', label, rootfs: { type: 'layers', diff_ids: [] } })), 'application/vnd.oci.image.config.v1+json');
  const layers = layerSizes.map((n) => blobOf(randomBytes(n), 'application/vnd.oci.image.layer.v1.tar+gzip'));
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: config.desc, layers: layers.map((l) => l.desc) }),
  );
  return { config, layers, manifest: blobOf(manifest, 'application/vnd.oci.image.manifest.v1+json') };
}

/** A referrer manifest (SOCI-index-like) pointing at `subject`. */
export function makeReferrer(
  subject: { mediaType: string; digest: string; size: number },
  opts: { configMediaType?: string; artifactType?: string; annotations?: Record<string, string>; payload?: string } = {},
): { manifest: TestBlob; config: TestBlob; layer: TestBlob; info: { artifactType?: string; config: { mediaType: string }; annotations?: Record<string, string>; subject: typeof subject } } {
  const config = blobOf(Buffer.from('{}'), opts.configMediaType ?? 'application/vnd.amazon.soci.index.v1+json');
  const layer = blobOf(Buffer.from(opts.payload ?? `ztoc-${randomBytes(8).toString('hex')}`), 'application/octet-stream');
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json' };
  if (opts.artifactType !== undefined) doc.artifactType = opts.artifactType;
  doc.config = config.desc;
  doc.layers = [layer.desc];
  doc.subject = subject;
  if (opts.annotations !== undefined) doc.annotations = opts.annotations;
  const manifest = blobOf(Buffer.from(JSON.stringify(doc)), 'application/vnd.oci.image.manifest.v1+json');
  const info: { artifactType?: string; config: { mediaType: string }; annotations?: Record<string, string>; subject: typeof subject } = {
    config: { mediaType: config.desc.mediaType },
    subject,
  };
  if (opts.artifactType !== undefined) info.artifactType = opts.artifactType;
  if (opts.annotations !== undefined) info.annotations = opts.annotations;
  return { manifest, config, layer, info };
}
