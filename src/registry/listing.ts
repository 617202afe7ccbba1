// Owns listing names with pagination, as tags/list and _catalog answer them: `{"<key>": [names]}` pages (null or an
// absent list = none) followed through `Link: <…>; rel="next"` on the same host, bounded in pages and page size.

import { ZtocError } from '../errors.js';
import type { RegistryClient, RegistryRequest } from './client.js';
import { failedResponse } from './errors.js';
import { nextLink } from './link.js';

export interface ListOptions {
  signal?: AbortSignal;
  /** `n` per page. Default 1000. */
  pageSize?: number;
  /** Stop (with an error) after this many pages. Default 1000. */
  maxPages?: number;
}

const LIST_PAGE_LIMIT = 4 * 1024 * 1024;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every name of the `key` list of `first` and the pages after it. `what` names the listing in messages. */
export async function listAllPages(
  client: RegistryClient,
  target: Pick<RegistryRequest, 'registry' | 'repository' | 'scopes'>,
  first: URL,
  key: string,
  what: string,
  opts: ListOptions,
): Promise<string[]> {
  const maxPages = opts.maxPages ?? 1000;
  const out: string[] = [];
  let url: URL | undefined = first;
  for (let page = 0; url !== undefined; page++) {
    if (page >= maxPages) throw new ZtocError('REGISTRY_PROTOCOL', `${what}: more than ${maxPages} pages`);
    const res = await client.request({
      ...target,
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
      bufferLimit: LIST_PAGE_LIMIT,
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    if (res.status !== 200) throw await failedResponse(res, what);
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

/** The repository names in `registry`'s catalog (`/v2/_catalog?n=&last=`, scope `registry:catalog:*`). */
export function listCatalog(client: RegistryClient, registry: string, opts: ListOptions & { last?: string } = {}): Promise<string[]> {
  const first = new URL('/v2/_catalog', client.baseUrl(registry));
  first.searchParams.set('n', String(opts.pageSize ?? 1000));
  if (opts.last !== undefined) first.searchParams.set('last', opts.last);
  return listAllPages(client, { registry, scopes: ['registry:catalog:*'] }, first, 'repositories', `catalog of ${registry}`, opts);
}
