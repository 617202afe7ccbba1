// Owns the project's JSON schemas (ajv v8 dialect) for the fields ztoc uses of OCI descriptors, platforms, image
// manifests and image indexes. They are compiled ahead of time (scripts/gen-validators.mjs) into
// src/oci/generated/validators.ts, so no command pays for compiling them at start-up; a test holds the two equal.

/** OCI digest grammar; sha256 and sha512 must additionally have their exact lower-case hex length. */
export const DIGEST_PATTERN =
  '^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}|(?!sha256:|sha512:)[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$';
/** RFC 6838 media type (type/subtype, restricted names), as the OCI schema has it. */
export const MEDIA_TYPE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$';

export const platformSchema = {
  $id: 'ztoc:platform',
  type: 'object',
  required: ['architecture', 'os'],
  properties: {
    architecture: { type: 'string', minLength: 1 },
    os: { type: 'string', minLength: 1 },
    'os.version': { type: 'string' },
    'os.features': { type: 'array', items: { type: 'string' } },
    variant: { type: 'string' },
  },
} as const;

export const descriptorSchema = {
  $id: 'ztoc:descriptor',
  type: 'object',
  required: ['mediaType', 'digest', 'size'],
  properties: {
    mediaType: { type: 'string', pattern: MEDIA_TYPE_PATTERN },
    digest: { type: 'string', pattern: DIGEST_PATTERN },
    size: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    urls: { type: 'array', items: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    data: { type: 'string', pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$' },
    platform: { $ref: 'ztoc:platform' },
    artifactType: { type: 'string', pattern: MEDIA_TYPE_PATTERN },
  },
} as const;

export const manifestSchema = {
  $id: 'ztoc:manifest',
  type: 'object',
  required: ['schemaVersion', 'config', 'layers'],
  properties: {
    schemaVersion: { const: 2 },
    mediaType: { type: 'string' },
    artifactType: { type: 'string', pattern: MEDIA_TYPE_PATTERN },
    config: { $ref: 'ztoc:descriptor' },
    layers: { type: 'array', items: { $ref: 'ztoc:descriptor' } },
    subject: { $ref: 'ztoc:descriptor' },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

export const indexSchema = {
  $id: 'ztoc:index',
  type: 'object',
  required: ['schemaVersion', 'manifests'],
  properties: {
    schemaVersion: { const: 2 },
    mediaType: { type: 'string' },
    artifactType: { type: 'string', pattern: MEDIA_TYPE_PATTERN },
    manifests: { type: 'array', items: { $ref: 'ztoc:descriptor' } },
    subject: { $ref: 'ztoc:descriptor' },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;
