// Owns checking manifest and index JSON fetched from a registry before anything uses it: the media type is the
// body's `mediaType`, else the response Content-Type; image manifests and indexes (OCI and Docker) are validated
// with the project's JSON schemas (src/oci/schemas.ts, applied by src/oci/validate.ts: schemaVersion 2, descriptor
// mediaType/digest/size ≤ 2^53, at most 1000 layers/manifests → MANIFEST_INVALID). Other artifact types pass through unparsed.

import { ZtocError } from '../errors.js';
import { MAX_MANIFEST_BYTES, MAX_MANIFEST_ENTRIES, validateIndex, validateManifest } from '../oci/validate.js';
import { MediaType, isIndexMediaType, isManifestMediaType, type ImageIndex, type ImageManifest } from '../oci/types.js';

export { MAX_MANIFEST_BYTES, MAX_MANIFEST_ENTRIES };

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex }
  | { kind: 'other'; mediaType: string };

const SCHEMA1 = new Set(['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws']);

/** `type/subtype` of a Content-Type, lowercased, parameters dropped. */
export function bareMediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const t = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return t === '' ? undefined : t;
}

/**
 * Decide the media type of fetched manifest bytes and validate them. `what` names the document in messages
 * (e.g. `manifest docker.io/library/ubuntu@sha256:…`).
 */
export function parseFetchedManifest(bytes: Uint8Array, contentType: string | undefined, what: string): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new ZtocError('MANIFEST_TOO_LARGE', `${what} is ${bytes.length} bytes; the limit is ${MAX_MANIFEST_BYTES} bytes (4 MiB)`);
  }
  const ct = bareMediaType(contentType);
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    if (ct !== undefined && (isManifestMediaType(ct) || isIndexMediaType(ct))) {
      throw new ZtocError('MANIFEST_INVALID', `${what} is not valid JSON`);
    }
    return { kind: 'other', mediaType: ct ?? MediaType.OctetStream };
  }
  const bodyType =
    typeof doc === 'object' && doc !== null && typeof (doc as { mediaType?: unknown }).mediaType === 'string'
      ? (doc as { mediaType: string }).mediaType
      : undefined;
  const mediaType = bodyType ?? ct ?? '';
  if (SCHEMA1.has(mediaType)) throw new ZtocError('MANIFEST_INVALID', `${what}: Docker schema 1 manifests (${mediaType}) are not supported`);
  if (mediaType === '') throw new ZtocError('MANIFEST_INVALID', `${what} has no mediaType and the registry sent no Content-Type`);
  if (isManifestMediaType(mediaType)) return { kind: 'manifest', mediaType, manifest: validateManifest(doc, what) };
  if (isIndexMediaType(mediaType)) return { kind: 'index', mediaType, index: validateIndex(doc, what) };
  return { kind: 'other', mediaType };
}

/**
 * Validate a referrers response or fallback-tag document: it must be an image index. An empty list is read leniently,
 * as the SOCI snapshotter and oras-go read it (Go decodes both to an empty slice): olareg answers
 * `"manifests": null`, and an absent `manifests` means none too. Entries stay strictly checked: a malformed
 * descriptor fails with MANIFEST_INVALID naming the path, so nothing is built or pushed on top of it.
 * `contentType` (the response's) decides the type only when the body names none.
 */
export function parseReferrersIndex(bytes: Uint8Array, what: string, contentType?: string): ImageIndex {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new ZtocError('MANIFEST_INVALID', `${what} is not valid JSON`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ZtocError('MANIFEST_INVALID', `${what} is not a JSON object`);
  const obj = doc as Record<string, unknown>;
  const type = typeof obj['mediaType'] === 'string' ? obj['mediaType'] : bareMediaType(contentType);
  if (type !== undefined && !isIndexMediaType(type)) throw new ZtocError('MANIFEST_INVALID', `${what} is ${type}, not an image index`);
  const manifests = obj['manifests'];
  return validateIndex(manifests === null || manifests === undefined ? { ...obj, manifests: [] } : obj, what);
}
