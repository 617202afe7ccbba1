// Owns image references: parsing `[docker://][domain[:port]/]path[:tag][@digest]` with the semantics of
// distribution/reference (Docker Hub defaults, `library/`, grammar and length checks) and `oci:DIR[:TAG|@DIGEST]`
// layout references; formatting them back; and mapping a registry name to the host its API lives on.

import { ZtocError } from '../errors.js';
import { isValidDigest } from './digest.js';

/** The default registry for names without a domain, as distribution/reference spells it. */
export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API actually lives. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const LEGACY_HUB = 'index.docker.io';

export interface RegistryReference {
  kind: 'registry';
  /** Registry name as the user means it (`docker.io`, `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`). */
  registry: string;
  /** Repository path (`library/ubuntu`). */
  repository: string;
  /** The tag: `latest` when neither tag nor digest was given; kept for display when a digest is also given. */
  tag?: string;
  /** When set, the digest is what identifies the manifest (it wins over the tag). */
  digest?: string;
}

export interface LayoutReference {
  kind: 'layout';
  /** OCI image layout directory. */
  dir: string;
  tag?: string;
  digest?: string;
}

export type ImageReference = RegistryReference | LayoutReference;

// --- grammar (distribution/reference regexp.go) ---------------------------------------------------------------
const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const domainAndPort = `(?:${domainName}|${ipv6})(?::[0-9]+)?`;
const PATH_RE = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const DOMAIN_RE = new RegExp(`^${domainAndPort}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const HEX64_RE = /^[a-f0-9]{64}$/;
const NAME_TOTAL_LENGTH_MAX = 255;

function invalid(input: string, why: string): ZtocError {
  return new ZtocError('REFERENCE_INVALID', `invalid reference ${JSON.stringify(input)}: ${why}`);
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function isValidRepositoryPath(path: string): boolean {
  return PATH_RE.test(path);
}

function checkDigest(input: string, digest: string): void {
  // go-digest (used by distribution/reference) accepts only registered algorithms with their exact lowercase hex length.
  if (!DIGEST_RE.test(digest) || !/^(sha256|sha512):/.test(digest) || !isValidDigest(digest)) {
    throw invalid(input, `bad digest ${JSON.stringify(digest)}`);
  }
}

/** Split `name[:tag][@digest]` (the tag is after the last `:` that follows the last `/`). */
function splitTagDigest(input: string, s: string): { name: string; tag?: string; digest?: string } {
  let name = s;
  let digest: string | undefined;
  let tag: string | undefined;
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
    checkDigest(input, digest);
  }
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (!isValidTag(tag)) throw invalid(input, `bad tag ${JSON.stringify(tag)}`);
  }
  const out: { name: string; tag?: string; digest?: string } = { name };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/**
 * Parse a registry reference with Docker's normalisation: `ubuntu` → `docker.io/library/ubuntu:latest`,
 * `index.docker.io/x/y` → `docker.io/x/y`. A leading `docker://` is stripped. When both a tag and a digest
 * are given the digest identifies the manifest and the tag is kept for display only.
 */
export function parseRegistryReference(input: string): RegistryReference {
  let s = input.trim();
  if (s.startsWith('docker://')) s = s.slice('docker://'.length);
  if (s === '') throw invalid(input, 'empty reference');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    throw invalid(input, 'unsupported scheme; write REGISTRY/REPOSITORY[:TAG][@DIGEST] (or oci:DIR for an OCI layout)');
  }
  const { name, tag, digest } = splitTagDigest(input, s);
  if (name === '') throw invalid(input, 'missing repository name');
  if (HEX64_RE.test(name)) throw invalid(input, 'a repository name cannot be a 64-character hexadecimal string');

  // distribution/reference splitDockerDomain: the first component is a domain when it has '.', ':',
  // is 'localhost', or has uppercase letters.
  let domain: string;
  let path: string;
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (slash < 0 || (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DOCKER_HUB;
    path = name;
  } else {
    domain = first;
    path = name.slice(slash + 1);
  }
  if (!DOMAIN_RE.test(domain)) throw invalid(input, `bad registry host ${JSON.stringify(domain)}`);
  if (domain === LEGACY_HUB) domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  if (path.toLowerCase() !== path) throw invalid(input, `repository name ${JSON.stringify(path)} must be lowercase`);
  if (!isValidRepositoryPath(path)) throw invalid(input, `bad repository name ${JSON.stringify(path)}`);
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(input, `repository name is longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const ref: RegistryReference = { kind: 'registry', registry: domain, repository: path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = 'latest';
  return ref;
}

/**
 * Parse `oci:DIR[:TAG|@DIGEST]` (skopeo's layout transport: the directory ends at the first `:`, so it cannot
 * contain one; a digest is recognised after the last `@`).
 */
export function parseLayoutReference(input: string): LayoutReference {
  if (!input.startsWith('oci:')) throw invalid(input, 'a layout reference starts with oci:');
  let rest = input.slice('oci:'.length);
  if (rest.startsWith('//')) {
    throw invalid(input, '"oci://" is ambiguous: write oci:DIR[:TAG|@DIGEST] for an OCI layout, or REGISTRY/REPOSITORY for a registry');
  }
  let digest: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0 && rest.indexOf(':', at) > at) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    checkDigest(input, digest);
  }
  let tag: string | undefined;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    if (digest !== undefined) throw invalid(input, 'give either :TAG or @DIGEST after the layout directory, not both');
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw invalid(input, `bad tag ${JSON.stringify(tag)}`);
  }
  if (rest === '') throw invalid(input, 'missing layout directory');
  const ref: LayoutReference = { kind: 'layout', dir: rest };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Parse either kind: `oci:...` is an OCI image layout, anything else a registry reference. */
export function parseReference(input: string): ImageReference {
  return input.trim().startsWith('oci:') ? parseLayoutReference(input.trim()) : parseRegistryReference(input);
}

/** Full form: `docker.io/library/ubuntu:22.04@sha256:…` (tag kept for display when a digest is present). */
export function formatReference(ref: ImageReference): string {
  const base = ref.kind === 'layout' ? `oci:${ref.dir}` : `${ref.registry}/${ref.repository}`;
  const tag = ref.tag !== undefined && !(ref.kind === 'layout' && ref.digest !== undefined) ? `:${ref.tag}` : '';
  const digest = ref.digest !== undefined ? `@${ref.digest}` : '';
  return `${base}${tag}${digest}`;
}

/** What identifies the manifest in the registry API: the digest when present, else the tag. */
export function manifestReference(ref: RegistryReference | LayoutReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** The host to talk HTTP to: Docker Hub's API is on registry-1.docker.io. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB || registry === LEGACY_HUB ? DOCKER_HUB_API_HOST : registry;
}

/** True for Docker Hub under any of its names. */
export function isDockerHub(registry: string): boolean {
  return registry === DOCKER_HUB || registry === LEGACY_HUB || registry === DOCKER_HUB_API_HOST;
}
