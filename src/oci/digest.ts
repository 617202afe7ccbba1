// Owns content digests: computing sha256 digests of bytes, parsing and validating digest strings
// (OCI image-spec "digest" grammar; sha256 and sha512 must have their exact lowercase hex length).

import { createHash, type Hash } from 'node:crypto';
import { ZtocError } from '../errors.js';

/** Generic digest grammar from the OCI image spec / distribution reference. */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Registered algorithms with a fixed encoding (image-spec descriptor.md). */
const KNOWN_ALGORITHMS: Readonly<Record<string, RegExp>> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export interface ParsedDigest {
  algorithm: string;
  hex: string;
}

/** `sha256:<hex>` of the given bytes. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A streaming sha256 hasher that also counts bytes. */
export class Sha256Counter {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  /** Finish and return `sha256:<hex>`; the hasher cannot be used afterwards. */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** True when `s` is a syntactically valid digest; known algorithms must have their exact hex form. */
export function isValidDigest(s: string): boolean {
  if (!DIGEST_GRAMMAR.test(s)) return false;
  const colon = s.indexOf(':');
  const alg = s.slice(0, colon);
  const known = KNOWN_ALGORITHMS[alg];
  return known === undefined ? true : known.test(s.slice(colon + 1));
}

/** True when `s` is exactly `sha256:<64 lowercase hex>`. */
export function isSha256Digest(s: string): boolean {
  return /^sha256:[a-f0-9]{64}$/.test(s);
}

/** Split and validate a digest; throws INVALID_ARGUMENT when malformed. */
export function parseDigest(s: string): ParsedDigest {
  if (!isValidDigest(s)) {
    throw new ZtocError('INVALID_ARGUMENT', `invalid digest ${JSON.stringify(s)}: expected <algorithm>:<hex>, e.g. sha256:<64 hex>`);
  }
  const colon = s.indexOf(':');
  return { algorithm: s.slice(0, colon), hex: s.slice(colon + 1) };
}

/** The algorithms ztoc can hash itself, and so store and verify (a layout's `blobs/<alg>/<hex>`). */
export type HashAlgorithm = 'sha256' | 'sha512';

/** True when `s` is a valid sha256 or sha512 digest (lowercase hex of the exact length). */
export function isHashableDigest(s: string): boolean {
  return (s.startsWith('sha256:') || s.startsWith('sha512:')) && isValidDigest(s);
}

/** parseDigest restricted to sha256 and sha512; throws INVALID_ARGUMENT for any other digest. */
export function parseHashableDigest(s: string): { algorithm: HashAlgorithm; hex: string } {
  if (!isHashableDigest(s)) {
    throw new ZtocError('INVALID_ARGUMENT', `invalid or unsupported digest ${JSON.stringify(s)} (sha256 or sha512 expected)`);
  }
  const { algorithm, hex } = parseDigest(s);
  return { algorithm: algorithm as HashAlgorithm, hex };
}

/** Validate that `s` is `sha256:<64 hex>` (the only algorithm ztoc produces and verifies). */
export function assertSha256Digest(s: string, what = 'digest'): string {
  if (!isSha256Digest(s)) {
    throw new ZtocError('INVALID_ARGUMENT', `invalid ${what} ${JSON.stringify(s)}: expected sha256:<64 lowercase hex>`);
  }
  return s;
}
