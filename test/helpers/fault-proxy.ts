// Owns a scriptable HTTP proxy for fault-injection tests, listening on 127.0.0.1 in front of a real registry. Tests
// add rules (match + how many times + action): answer a status (503/429, with or without Retry-After), cut the
// connection after N body bytes, stall after N bytes, flip a byte, rewrite response headers, strip the request's
// Range, or redirect elsewhere (a second proxy on another port = another origin). Every request is recorded.

import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback-server.js';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Which rule handled it (index into the rules added), if any. */
  rule: number | undefined;
  /** Wall-clock arrival time (Date.now()), to measure the waits between retries. */
  at: number;
}

export type FaultAction =
  | {
      kind: 'status';
      status: number;
      headers?: Record<string, string>;
      body?: string;
      /** Send `Retry-After` as an HTTP-date this many ms after the request arrived (whole seconds, as HTTP-dates are). */
      retryAfterDateInMs?: number;
    }
  | { kind: 'cut'; afterBytes: number }
  | { kind: 'stall'; afterBytes: number }
  | { kind: 'corrupt'; offset: number }
  | { kind: 'headers'; set?: Record<string, string>; remove?: string[] }
  | { kind: 'redirect'; location: string | ((req: IncomingMessage) => string); status?: number }
  | { kind: 'ignoreRange' };

export interface FaultRule {
  method?: string;
  /** Substring or regexp the request path+query must match. */
  path?: string | RegExp;
  /** Only requests that carry (true) / lack (false) an Authorization header. */
  withAuth?: boolean;
  /** How many matching requests this rule handles. Default: all. */
  times?: number;
  action: FaultAction;
}

export interface FaultProxyOptions {
  /** `host:port` of the upstream (the real registry). */
  upstream: string;
  /** Added upstream when the incoming request has no Authorization (simulates a presigned blob store). */
  injectAuthorization?: string;
}

export interface FaultProxy {
  host: string;
  url: string;
  port: number;
  requests: RecordedRequest[];
  addRule(rule: FaultRule): void;
  clearRules(): void;
  stop(): Promise<void>;
}

interface LiveRule {
  rule: FaultRule;
  left: number;
}

function matches(rule: FaultRule, req: IncomingMessage): boolean {
  if (rule.method !== undefined && rule.method !== req.method) return false;
  const url = req.url ?? '';
  if (rule.path !== undefined && !(typeof rule.path === 'string' ? url.includes(rule.path) : rule.path.test(url))) return false;
  if (rule.withAuth !== undefined && (req.headers.authorization !== undefined) !== rule.withAuth) return false;
  return true;
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const rules: LiveRule[] = [];
  const requests: RecordedRequest[] = [];
  const [upHost, upPortStr] = [opts.upstream.slice(0, opts.upstream.lastIndexOf(':')), opts.upstream.slice(opts.upstream.lastIndexOf(':') + 1)];
  const upPort = Number(upPortStr);

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    let ruleIndex: number | undefined;
    for (let i = 0; i < rules.length; i++) {
      const live = rules[i] as LiveRule;
      if (live.left > 0 && matches(live.rule, req)) {
        live.left--;
        ruleIndex = i;
        break;
      }
    }
    const at = Date.now();
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, rule: ruleIndex, at });
    const action = ruleIndex === undefined ? undefined : (rules[ruleIndex] as LiveRule).rule.action;

    if (action?.kind === 'status') {
      req.resume();
      const body = action.body ?? JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `injected ${action.status}` }] });
      const retryAfter = action.retryAfterDateInMs === undefined ? {} : { 'retry-after': new Date(at + action.retryAfterDateInMs).toUTCString() };
      res.writeHead(action.status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...action.headers, ...retryAfter });
      res.end(body);
      return;
    }
    if (action?.kind === 'redirect') {
      req.resume();
      const location = typeof action.location === 'function' ? action.location(req) : action.location;
      res.writeHead(action.status ?? 307, { location, 'content-length': '0' });
      res.end();
      return;
    }

    const headers: Record<string, string | string[] | undefined> = { ...req.headers };
    if (action?.kind === 'ignoreRange') delete headers.range;
    if (headers.authorization === undefined && opts.injectAuthorization !== undefined) headers.authorization = opts.injectAuthorization;
    const up = httpRequest(
      { host: upHost, port: upPort, method: req.method, path: req.url, headers, agent: false },
      (upRes: IncomingMessage) => {
        const outHeaders: Record<string, string | string[] | undefined> = { ...upRes.headers };
        if (action?.kind === 'headers') {
          for (const h of action.remove ?? []) delete outHeaders[h.toLowerCase()];
          for (const [k, v] of Object.entries(action.set ?? {})) outHeaders[k.toLowerCase()] = v;
        }
        res.writeHead(upRes.statusCode ?? 502, outHeaders);
        let sent = 0;
        let stopped = false;
        upRes.on('data', (chunk: Buffer) => {
          if (stopped) return;
          let data = chunk;
          if (action?.kind === 'corrupt' && action.offset >= sent && action.offset < sent + data.length) {
            data = Buffer.from(data);
            const i = action.offset - sent;
            data[i] = (data[i] as number) ^ 0xff;
          }
          if (action?.kind === 'cut' || action?.kind === 'stall') {
            const room = action.afterBytes - sent;
            if (room < data.length) {
              if (room > 0) res.write(data.subarray(0, room));
              sent += Math.max(0, room);
              stopped = true;
              upRes.destroy();
              if (action.kind === 'cut') {
                // Let the partial body reach the client, then drop the connection mid-body.
                setTimeout(() => res.socket?.destroy(), 20);
              }
              // 'stall': keep the socket open and silent until the client gives up.
              return;
            }
          }
          sent += data.length;
          res.write(data);
        });
        upRes.on('end', () => {
          if (!stopped) res.end();
        });
        upRes.on('error', () => res.socket?.destroy());
      },
    );
    up.on('error', (err) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy: ${err.message}`);
      } else {
        res.socket?.destroy();
      }
    });
    req.pipe(up);
  };

  const server: Server = createServer(handle);
  const { port, stop } = await listenOnLoopback(server);
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    addRule(rule: FaultRule) {
      rules.push({ rule, left: rule.times ?? Number.POSITIVE_INFINITY });
    },
    clearRules() {
      for (const r of rules) r.left = 0;
    },
    stop,
  };
}
