// Owns validation of untrusted OCI JSON against the project's own JSON schemas (schemas.ts, compiled ahead of
// time into generated/validators.ts) for descriptors, platforms, image manifests and image indexes (OCI and
// Docker v2 / manifest list), and parseManifestOrIndex, which decodes bytes like Go would, tells a manifest
// from an index, enforces the size and count limits, and turns schema failures into one clear MANIFEST_INVALID
// message.

import type { ErrorObject, ValidateFunction } from 'ajv';
import { ZtocError } from '../errors.js';
import * as generated from './generated/validators.js';
import { decodeUtf8Go } from './gojson.js';
import { MediaType, isIndexMediaType, isManifestMediaType, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from './types.js';

/** Largest manifest or index ztoc accepts (the distribution spec's recommended registry limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Most layers in a manifest / manifests in an index ztoc accepts. */
export const MAX_MANIFEST_ENTRIES = 1000;

export { DIGEST_PATTERN, MEDIA_TYPE_PATTERN } from './schemas.js';

/** The generated validators, typed: ajv's standalone code is plain JavaScript. */
const validators = generated as unknown as {
  platform: ValidateFunction<Platform>;
  descriptor: ValidateFunction<Descriptor>;
  manifest: ValidateFunction<ImageManifest>;
  index: ValidateFunction<ImageIndex>;
};

function describeError(what: string, errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (e === undefined) return `${what} is invalid`;
  const path = e.instancePath === '' ? '(top level)' : e.instancePath;
  if (e.keyword === 'pattern') {
    const field = e.instancePath.split('/').pop() ?? '';
    const kind = field === 'digest' ? 'digest' : /mediaType|artifactType/i.test(field) ? 'media type' : 'value';
    return `${what} is invalid at ${path}: not a valid ${kind}`;
  }
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty?: string }).missingProperty ?? '?';
    return `${what} is invalid at ${path}: missing required field "${missing}"`;
  }
  return `${what} is invalid at ${path}: ${e.message ?? e.keyword}`;
}

function check<T>(fn: ValidateFunction<T>, value: unknown, what: string): T {
  if (!fn(value)) throw new ZtocError('MANIFEST_INVALID', describeError(what, fn.errors));
  return value;
}

/** Validates a descriptor object (e.g. from a referrers response); throws MANIFEST_INVALID. */
export function validateDescriptor(value: unknown, what = 'descriptor'): Descriptor {
  return check(validators.descriptor, value, what);
}

/** Validates a platform object; throws MANIFEST_INVALID. */
export function validatePlatform(value: unknown, what = 'platform'): Platform {
  return check(validators.platform, value, what);
}

/** Validates a parsed image manifest (OCI or Docker v2 schema 2); throws MANIFEST_INVALID. */
export function validateManifest(value: unknown, what = 'image manifest'): ImageManifest {
  if (isObject(value) && Array.isArray(value['layers']) && value['layers'].length > MAX_MANIFEST_ENTRIES) {
    throw new ZtocError('MANIFEST_INVALID', `${what} has ${value['layers'].length} layers; at most ${MAX_MANIFEST_ENTRIES} are accepted`);
  }
  return check(validators.manifest, value, what);
}

/** Validates a parsed image index or Docker manifest list; throws MANIFEST_INVALID. */
export function validateIndex(value: unknown, what = 'image index'): ImageIndex {
  if (isObject(value) && Array.isArray(value['manifests']) && value['manifests'].length > MAX_MANIFEST_ENTRIES) {
    throw new ZtocError(
      'MANIFEST_INVALID',
      `${what} has ${value['manifests'].length} manifests; at most ${MAX_MANIFEST_ENTRIES} are accepted`,
    );
  }
  return check(validators.index, value, what);
}

export type ParsedManifestOrIndex =
  | { kind: 'manifest'; manifest: ImageManifest; mediaType: string }
  | { kind: 'index'; index: ImageIndex; mediaType: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const SCHEMA1_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

/**
 * Parses manifest or index bytes. `contentType` (an HTTP Content-Type or a descriptor media type) wins
 * when it names a manifest or index type, and must then agree with the body's own `mediaType`; otherwise
 * the body's `mediaType` decides, and without one the shape does (`manifests` → index, `config`/`layers`
 * → manifest). A body with both shapes is rejected (the OCI spec's guard against type confusion).
 * Strings are decoded with Go's rules so a later Go-canonical re-marshal matches what Go would produce.
 */
export function parseManifestOrIndex(bytes: Uint8Array, contentType?: string): ParsedManifestOrIndex {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new ZtocError(
      'MANIFEST_TOO_LARGE',
      `manifest is ${bytes.length} bytes; the limit is ${MAX_MANIFEST_BYTES} bytes (4 MiB)`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(decodeUtf8Go(bytes));
  } catch (err) {
    throw new ZtocError('MANIFEST_INVALID', `manifest is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(doc)) throw new ZtocError('MANIFEST_INVALID', 'manifest is not a JSON object');

  const ct = contentType?.split(';')[0]?.trim().toLowerCase();
  const bodyType = typeof doc['mediaType'] === 'string' ? doc['mediaType'] : undefined;
  for (const t of [ct, bodyType]) {
    if (t !== undefined && SCHEMA1_TYPES.has(t)) {
      throw new ZtocError('MANIFEST_INVALID', `Docker schema 1 manifests (${t}) are not supported`);
    }
  }
  const hasIndexShape = 'manifests' in doc;
  const hasManifestShape = 'config' in doc || 'layers' in doc;

  let mediaType: string;
  if (ct !== undefined && (isManifestMediaType(ct) || isIndexMediaType(ct))) {
    if (bodyType !== undefined && bodyType !== ct) {
      throw new ZtocError('MANIFEST_INVALID', `media type mismatch: expected ${ct}, the document says ${bodyType}`);
    }
    mediaType = ct;
  } else if (bodyType !== undefined) {
    if (!isManifestMediaType(bodyType) && !isIndexMediaType(bodyType)) {
      throw new ZtocError('MANIFEST_INVALID', `unsupported manifest media type ${JSON.stringify(bodyType)}`);
    }
    mediaType = bodyType;
  } else if (hasIndexShape && !hasManifestShape) {
    mediaType = MediaType.OciIndex;
  } else if (hasManifestShape && !hasIndexShape) {
    mediaType = MediaType.OciManifest;
  } else {
    throw new ZtocError('MANIFEST_INVALID', 'cannot tell whether the document is an image manifest or an index');
  }

  if (isIndexMediaType(mediaType)) {
    if (hasManifestShape) {
      throw new ZtocError('MANIFEST_INVALID', `${mediaType} document must not have "config" or "layers"`);
    }
    return { kind: 'index', index: validateIndex(doc), mediaType };
  }
  if (hasIndexShape) {
    throw new ZtocError('MANIFEST_INVALID', `${mediaType} document must not have "manifests"`);
  }
  return { kind: 'manifest', manifest: validateManifest(doc), mediaType };
}
