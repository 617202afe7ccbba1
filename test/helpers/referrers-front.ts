// Owns a small referrers-API front for tests: an HTTP server on 127.0.0.1 in front of a real registry (Debian's
// docker-registry, which has no referrers API) that adds what distribution-spec v1.1 §"Listing Referrers" and
// §"Pushing Manifests with subject" define, and proxies everything else unchanged:
// - `GET /v2/<name>/referrers/<digest>[?artifactType=]` answered from the manifests actually stored behind it. The
//   front learns candidates from the manifest PUTs with a `subject` that pass through it, and reads each one back
//   from the registry on every request (a manifest deleted there disappears from the answer). Descriptors carry
//   mediaType, digest, size, annotations and artifactType (the manifest's, else its config mediaType).
// - `artifactType` filtering with `OCI-Filters-Applied: artifactType` (switchable off: the client filters then),
//   paging with `Link: <…>; rel="next"` (page size settable), and the empty answer as `[]`, `null` (olareg) or an
//   absent field.
// - `OCI-Subject: <subject digest>` on the answer to a manifest PUT that carries a subject (switchable off).
// Fault modes for the referrers endpoint: a 404 (no API), 200 with a body that is not an index, malformed entries,
// and a status answered N times before the real answer (500 then 200). Every request is recorded.
// The server runs in a child process (this file, forked), so that tests may run the CLI synchronously against it;
// settings and the request log travel over the IPC channel.

import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { listenOnLoopback } from './loopback-server.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export type EmptyAnswer = 'array' | 'null' | 'absent';

export type FrontFault =
  | { kind: 'not-found' }
  | { kind: 'non-index' }
  | { kind: 'malformed' }
  | { kind: 'status'; status: number; times: number };

export interface FrontSettings {
  /** Descriptors per referrers page. Default 100. */
  pageSize: number;
  /** How an empty list is written. Default 'array'. */
  empty: EmptyAnswer;
  /** Apply `?artifactType=` (and say so in OCI-Filters-Applied). Default true. */
  applyFilter: boolean;
  /** Answer manifest PUTs with a subject with `OCI-Subject`. Default true. */
  ociSubject: boolean;
  /** A fault for the referrers endpoint; undefined = answer correctly. */
  fault: FrontFault | undefined;
}

export interface FrontRequest {
  method: string;
  url: string;
}

export interface ReferrersFront {
  host: string;
  url: string;
  /** Change settings; resolves once the front applies them. */
  set(s: Partial<FrontSettings>): Promise<void>;
  /** Every request received so far, in order. */
  requests(): Promise<FrontRequest[]>;
  /** The referrers GETs received (path + query). */
  referrersRequests(): Promise<string[]>;
  stop(): Promise<void>;
}

interface LocalFront {
  port: number;
  requests: FrontRequest[];
  settings: FrontSettings;
  stop(): Promise<void>;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

const REFERRERS_PATH = /^\/v2\/(.+)\/referrers\/([a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$/;
const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^/]+)$/;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function subjectOf(bytes: Buffer): string | undefined {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { subject?: { digest?: unknown } };
    return typeof doc.subject?.digest === 'string' ? doc.subject.digest : undefined;
  } catch {
    return undefined;
  }
}

async function serveFront(opts: { upstream: string } & Partial<FrontSettings>): Promise<LocalFront> {
  const [upHost, upPort] = [opts.upstream.slice(0, opts.upstream.lastIndexOf(':')), Number(opts.upstream.slice(opts.upstream.lastIndexOf(':') + 1))];
  const settings: FrontSettings = { pageSize: 100, empty: 'array', applyFilter: true, ociSubject: true, fault: undefined };
  const { upstream: _u, ...initial } = opts;
  Object.assign(settings, initial);
  const requests: FrontRequest[] = [];
  /** repository → referrer digest → subject digest, in push order. */
  const known = new Map<string, Map<string, string>>();

  /** Send the request upstream (body given, or piped from `req`) and hand back the upstream response. */
  const upstream = (req: IncomingMessage, body: Buffer | undefined): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers };
      if (body !== undefined) headers['content-length'] = String(body.length);
      const up = httpRequest({ host: upHost, port: upPort, method: req.method, path: req.url, headers }, resolve);
      up.on('error', reject);
      if (body !== undefined) up.end(body);
      else req.pipe(up);
    });

  const relay = (upRes: IncomingMessage, res: ServerResponse, extra: Record<string, string> = {}): void => {
    res.writeHead(upRes.statusCode ?? 502, { ...upRes.headers, ...extra });
    upRes.pipe(res);
  };

  /** A stored manifest read back from the registry, as the referrers API lists it; undefined when gone. */
  const describe = async (name: string, digest: string, subject: string, auth: string | undefined): Promise<Descriptor | undefined> => {
    const headers: Record<string, string> = { accept: MANIFEST_ACCEPT };
    if (auth !== undefined) headers.authorization = auth;
    const r = await fetch(`http://${opts.upstream}/v2/${name}/manifests/${digest}`, { headers });
    if (r.status !== 200) return undefined;
    const bytes = Buffer.from(await r.arrayBuffer());
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; artifactType?: string; config?: { mediaType?: string }; annotations?: Record<string, string>; subject?: { digest?: string } };
    if (doc.subject?.digest !== subject) return undefined;
    const d: Descriptor = { mediaType: doc.mediaType ?? (r.headers.get('content-type') ?? '').split(';')[0]!, digest, size: bytes.length };
    if (doc.annotations !== undefined && Object.keys(doc.annotations).length > 0) d.annotations = doc.annotations;
    const artifactType = doc.artifactType ?? doc.config?.mediaType;
    if (artifactType !== undefined && artifactType !== '') d.artifactType = artifactType;
    return d;
  };

  const answer = (res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
  };

  const referrers = async (req: IncomingMessage, res: ServerResponse, name: string, subject: string, query: URLSearchParams): Promise<void> => {
    req.resume();
    const fault = settings.fault;
    if (fault?.kind === 'status' && fault.times > 0) {
      fault.times--;
      answer(res, fault.status, 'application/json', JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected ${fault.status}` }] }));
      return;
    }
    // Debian's registry itself answers a text/plain "404 page not found" here.
    if (fault?.kind === 'not-found') return answer(res, 404, 'text/plain; charset=utf-8', '404 page not found\n');
    if (fault?.kind === 'non-index') return answer(res, 200, OCI_INDEX, '<html><body>Sign in to continue</body></html>');
    if (fault?.kind === 'malformed') {
      return answer(res, 200, OCI_INDEX, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 12 }] }));
    }
    const candidates = [...(known.get(name) ?? new Map<string, string>())].filter(([, s]) => s === subject);
    const all: Descriptor[] = [];
    for (const [digest] of candidates) {
      const d = await describe(name, digest, subject, req.headers.authorization);
      if (d !== undefined) all.push(d);
    }
    const want = query.get('artifactType');
    const headers: Record<string, string> = {};
    let list = all;
    if (want !== null && want !== '' && settings.applyFilter) {
      list = all.filter((d) => d.artifactType === want);
      headers['oci-filters-applied'] = 'artifactType';
    }
    const page = Number(query.get('page') ?? '0');
    const slice = list.slice(page * settings.pageSize, (page + 1) * settings.pageSize);
    if ((page + 1) * settings.pageSize < list.length) {
      const next = new URLSearchParams(query);
      next.set('page', String(page + 1));
      headers.link = `</v2/${name}/referrers/${subject}?${next.toString()}>; rel="next"`;
    }
    const doc: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_INDEX };
    if (slice.length > 0 || settings.empty === 'array') doc.manifests = slice;
    else if (settings.empty === 'null') doc.manifests = null;
    answer(res, 200, OCI_INDEX, JSON.stringify(doc), headers);
  };

  const putManifest = async (req: IncomingMessage, res: ServerResponse, name: string): Promise<void> => {
    const body = await readBody(req);
    const upRes = await upstream(req, body);
    const subject = subjectOf(body);
    const extra: Record<string, string> = {};
    if (subject !== undefined && upRes.statusCode === 201) {
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      if (!known.has(name)) known.set(name, new Map());
      known.get(name)!.set(digest, subject);
      if (settings.ociSubject) extra['oci-subject'] = subject;
    }
    relay(upRes, res, extra);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    const url = new URL(req.url ?? '/', 'http://front');
    const ref = REFERRERS_PATH.exec(url.pathname);
    if (ref !== null && req.method === 'GET') return referrers(req, res, ref[1]!, ref[2]!, url.searchParams);
    const man = MANIFEST_PATH.exec(url.pathname);
    if (man !== null && req.method === 'PUT') return putManifest(req, res, man[1]!);
    relay(await upstream(req, undefined), res);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) answer(res, 502, 'text/plain', `front: ${err.message}`);
      else res.socket?.destroy();
    });
  });
  const { port, stop } = await listenOnLoopback(server);
  return { port, requests, settings, stop };
}

type ControlMessage = { op: 'set'; settings: Partial<FrontSettings> } | { op: 'requests' } | { op: 'stop' };
type ToChild = ControlMessage & { id: number };
type FromChild = { id: number; requests?: FrontRequest[] } | { port: number };

const CHILD_FLAG = '--referrers-front-child';

/** Starts the front in a child process in front of `upstream` (`host:port`). */
export async function startReferrersFront(opts: { upstream: string } & Partial<FrontSettings>): Promise<ReferrersFront> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [CHILD_FLAG, JSON.stringify(opts)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: FromChild) => ('port' in m ? resolve(m.port) : reject(new Error('front: unexpected first message'))));
    child.once('exit', (code) => reject(new Error(`front exited with ${code}`)));
  });
  let nextId = 0;
  const waiting = new Map<number, (m: FromChild) => void>();
  child.on('message', (m: FromChild) => {
    if ('id' in m) waiting.get(m.id)?.(m);
  });
  const call = (msg: ControlMessage): Promise<FromChild> =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, (m) => {
        waiting.delete(id);
        resolve(m);
      });
      child.send({ ...msg, id });
    });
  const requests = async (): Promise<FrontRequest[]> => ((await call({ op: 'requests' })) as { requests: FrontRequest[] }).requests;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    async set(settings: Partial<FrontSettings>) {
      // IPC is JSON, which drops undefined: send "no fault" as null.
      await call({ op: 'set', settings: 'fault' in settings && settings.fault === undefined ? { ...settings, fault: null as unknown as undefined } : settings });
    },
    requests,
    async referrersRequests() {
      return (await requests()).filter((r) => r.method === 'GET' && REFERRERS_PATH.test(new URL(r.url, 'http://front').pathname)).map((r) => r.url);
    },
    async stop() {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await call({ op: 'stop' });
      await exited;
    },
  };
}

if (process.argv[2] === CHILD_FLAG && process.send !== undefined) {
  const send = process.send.bind(process);
  const front = await serveFront(JSON.parse(process.argv[3] ?? '{}') as { upstream: string } & Partial<FrontSettings>);
  process.on('message', (m: ToChild) => {
    if (m.op === 'set') {
      Object.assign(front.settings, m.settings);
      if (front.settings.fault === null) front.settings.fault = undefined;
      send({ id: m.id });
    } else if (m.op === 'requests') {
      send({ id: m.id, requests: front.requests });
    } else {
      void front.stop().then(() => {
        send({ id: m.id });
        process.disconnect();
      });
    }
  });
  send({ port: front.port });
}
