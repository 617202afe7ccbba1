// Owns turning a failed registry response into a typed ZtocError: the distribution error body
// `{"errors":[{code,message,detail}]}` (read capped at 8 KiB), mapped onto ZtocError codes, with method, URL
// (query stripped: upload and presigned URLs carry state and signatures) and status in the message.

import { ZtocError, type ZtocErrorCode } from '../errors.js';

export interface RegistryErrorEntry {
  code: string;
  message: string;
  detail?: unknown;
}

/** A ZtocError raised from an HTTP response; keeps the registry's own error codes for callers that branch on them. */
export class RegistryResponseError extends ZtocError {
  readonly method: string;
  readonly url: string;
  readonly registryErrors: RegistryErrorEntry[];

  constructor(code: ZtocErrorCode, message: string, method: string, url: string, status: number, errors: RegistryErrorEntry[]) {
    super(code, message, { status });
    this.method = method;
    this.url = url;
    this.registryErrors = errors;
  }

  hasRegistryCode(code: string): boolean {
    return this.registryErrors.some((e) => e.code === code);
  }
}

export const ERROR_BODY_LIMIT = 8 * 1024;

/** A URL for messages: no query string, no userinfo. */
export function displayUrl(url: URL | string): string {
  const u = new URL(String(url));
  u.username = '';
  u.password = '';
  u.search = '';
  u.hash = '';
  return u.toString();
}

/** Parse an error body; anything that is not the distribution shape yields no entries. */
export function parseErrorBody(text: string): RegistryErrorEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof parsed !== 'object' || parsed === null) return [];
  const errors = (parsed as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return [];
  const out: RegistryErrorEntry[] = [];
  for (const e of errors) {
    if (typeof e !== 'object' || e === null) continue;
    const rec = e as Record<string, unknown>;
    const entry: RegistryErrorEntry = {
      code: typeof rec.code === 'string' ? rec.code : 'UNKNOWN',
      message: typeof rec.message === 'string' ? rec.message : '',
    };
    if (rec.detail !== undefined) entry.detail = rec.detail;
    out.push(entry);
  }
  return out;
}

const NOT_FOUND_CODES = new Set(['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'BLOB_UPLOAD_UNKNOWN']);

function codeFor(status: number, errors: RegistryErrorEntry[]): ZtocErrorCode {
  if (status === 401 || errors.some((e) => e.code === 'UNAUTHORIZED')) return 'REGISTRY_UNAUTHORIZED';
  if (status === 403 || errors.some((e) => e.code === 'DENIED')) return 'REGISTRY_DENIED';
  if (status === 404 || errors.some((e) => NOT_FOUND_CODES.has(e.code))) return 'REGISTRY_NOT_FOUND';
  return 'REGISTRY_ERROR';
}

function describeEntries(errors: RegistryErrorEntry[]): string {
  return errors
    .map((e) => {
      let d = '';
      if (e.detail !== undefined && e.detail !== null && e.detail !== '') {
        const j = JSON.stringify(e.detail);
        d = ` (${j.length > 200 ? `${j.slice(0, 200)}…` : j})`;
      }
      return `${e.code}: ${e.message}${d}`;
    })
    .join('; ');
}

/** Build the error for `method url` answered with `status` and (already capped) body text. */
export function responseError(method: string, url: URL | string, status: number, bodyText: string, context?: string): RegistryResponseError {
  const errors = parseErrorBody(bodyText);
  const shown = displayUrl(url);
  let detail = describeEntries(errors);
  if (detail === '') {
    const plain = bodyText.replace(/\s+/g, ' ').trim();
    detail = plain.length > 200 ? `${plain.slice(0, 200)}…` : plain;
  }
  const prefix = context !== undefined ? `${context}: ` : '';
  const msg = `${prefix}${method} ${shown}: HTTP ${status}${detail !== '' ? ` — ${detail}` : ''}`;
  return new RegistryResponseError(codeFor(status, errors), msg, method, shown, status, errors);
}

/** The error for a failed response, reading (a capped prefix of) its body unless it answered a HEAD. */
export async function failedResponse(
  res: { method: string; url: URL; status: number; textPrefix(limit: number): Promise<string> },
  context?: string,
): Promise<RegistryResponseError> {
  const body = res.method === 'HEAD' ? '' : await res.textPrefix(ERROR_BODY_LIMIT);
  return responseError(res.method, res.url, res.status, body, context);
}
