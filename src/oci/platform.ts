// Owns platforms: parsing `os/arch[/variant]` specifiers, containerd-style normalisation (aarch64 → arm64,
// x86_64 → amd64, arm defaults to v7, arm64's v8 is implied), the host platform, matching a wanted
// platform against index entries, spotting buildx attestation manifests, and formatting for humans.

import { arch as osArch, endianness } from 'node:os';
import { ZtocError } from '../errors.js';
import { isIndexMediaType, isManifestMediaType, type Descriptor, type ImageIndex, type Platform } from './types.js';

const KNOWN_OS = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl',
  'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos',
]);

const KNOWN_ARCH = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips',
  'mipsle', 'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x',
  'sparc', 'sparc64', 'wasm',
  // aliases normalisation understands
  'i386', 'x86_64', 'x86-64', 'aarch64', 'armhf', 'armel',
]);

const PART_RE = /^[A-Za-z0-9_.-]+$/;

function normalizeOs(os: string): string {
  const o = os.toLowerCase();
  return o === 'macos' ? 'darwin' : o;
}

/** containerd's normalizeArch: returns the canonical architecture and variant ('' = none). */
function normalizeArch(arch: string, variant: string): { architecture: string; variant: string } {
  let a = arch.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case 'i386':
      a = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      a = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      a = 'arm64';
      if (v === '8' || v === 'v8' || v === 'v8.0') v = '';
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9';
      break;
    case 'armhf':
      a = 'arm';
      v = 'v7';
      break;
    case 'armel':
      a = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = 'v' + v;
      break;
    default:
      break;
  }
  return { architecture: a, variant: v };
}

function build(os: string, architecture: string, variant: string, rest?: Platform): Platform {
  const p: Platform = { architecture, os };
  if (rest?.['os.version']) p['os.version'] = rest['os.version'];
  if (rest?.['os.features'] && rest['os.features'].length > 0) p['os.features'] = [...rest['os.features']];
  if (variant !== '') p.variant = variant;
  return p;
}

/**
 * Canonical form used for comparisons: lower case, aliases resolved, arm without a variant is arm/v7,
 * arm64/v8 is plain arm64 (no variant), amd64/v1 is plain amd64.
 */
export function normalizePlatform(p: Platform): Platform {
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? '');
  return build(normalizeOs(p.os), architecture, variant, p);
}

/**
 * Parses `os/arch[/variant]`; `os` or `arch` alone is accepted (an OS gets the host architecture, an
 * architecture gets `linux`). The result is normalised; `linux/arm64` comes back without a variant.
 */
export function parsePlatform(spec: string): Platform {
  const parts = spec.trim().split('/');
  if (parts.length < 1 || parts.length > 3 || parts.some((x) => !PART_RE.test(x))) {
    throw new ZtocError('INVALID_ARGUMENT', `invalid platform ${JSON.stringify(spec)}: expected os/arch[/variant]`);
  }
  if (parts.length === 1) {
    const one = parts[0]!.toLowerCase();
    if (KNOWN_OS.has(normalizeOs(one))) {
      const host = hostPlatform();
      return normalizePlatform({ os: normalizeOs(one), architecture: host.architecture, ...(host.variant ? { variant: host.variant } : {}) });
    }
    if (KNOWN_ARCH.has(one)) return normalizePlatform({ os: 'linux', architecture: one });
    throw new ZtocError('INVALID_ARGUMENT', `invalid platform ${JSON.stringify(spec)}: unknown OS or architecture`);
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts.length === 3) p.variant = parts[2]!;
  return normalizePlatform(p);
}

/** `os/arch[/variant]`, plus `(os.version)` when set. */
export function formatPlatform(p: Platform): string {
  let s = `${p.os}/${p.architecture}`;
  if (p.variant) s += `/${p.variant}`;
  if (p['os.version']) s += ` (${p['os.version']})`;
  return s;
}

/** What Node says about a machine: process.platform, os.arch(), the arm_version it was built for, os.endianness(). */
export interface NodeHost {
  platform: string;
  arch: string;
  armVersion?: string | number | undefined;
  endianness?: 'BE' | 'LE';
}

/** The platform images run on here (see ociPlatformOf). */
export function hostPlatform(): Platform {
  const v = (process.config as { variables?: Record<string, unknown> }).variables?.['arm_version'];
  return ociPlatformOf({
    platform: process.platform,
    arch: osArch(),
    armVersion: typeof v === 'string' || typeof v === 'number' ? v : undefined,
    endianness: endianness(),
  });
}

/**
 * The OCI platform of a machine described in Node's names. Containers on macOS run in a Linux VM, so
 * darwin maps to linux; Windows stays windows. The arm variant comes from Node's build (arm_version),
 * as containerd reads cpuinfo; v7 when unknown.
 */
export function ociPlatformOf(host: NodeHost): Platform {
  const os = host.platform === 'win32' ? 'windows' : host.platform === 'darwin' ? 'linux' : host.platform;
  const nodeArch = host.arch;
  let architecture: string;
  let variant = '';
  switch (nodeArch) {
    case 'x64':
      architecture = 'amd64';
      break;
    case 'ia32':
      architecture = '386';
      break;
    case 'arm64':
      architecture = 'arm64';
      break;
    case 'arm': {
      architecture = 'arm';
      variant = host.armVersion !== undefined ? `v${host.armVersion}` : 'v7';
      break;
    }
    case 'ppc64':
      architecture = host.endianness === 'LE' ? 'ppc64le' : 'ppc64';
      break;
    case 'mipsel':
      architecture = 'mipsle';
      break;
    default:
      architecture = nodeArch; // s390x, riscv64, loong64, mips, ppc … are already Go names
  }
  return normalizePlatform({ os, architecture, ...(variant ? { variant } : {}) });
}

/**
 * True when `have` satisfies `want` after normalising both: same OS, architecture and variant
 * (containerd's OnlyStrict), so `linux/arm64` matches `linux/arm64/v8` and `linux/arm` matches
 * `linux/arm/v7`; `os.version` is compared only when `want` sets it. An entry without a platform never matches.
 */
export function matchPlatform(want: Platform, have: Platform | undefined): boolean {
  if (have === undefined) return false;
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture || (w.variant ?? '') !== (h.variant ?? '')) return false;
  if (w['os.version'] && w['os.version'] !== h['os.version']) return false;
  return true;
}

/** Normalised equality (used to replace an existing SOCI index entry for the same platform). */
export function samePlatform(a: Platform, b: Platform): boolean {
  return matchPlatform(a, b) && (normalizePlatform(a)['os.version'] ?? '') === (normalizePlatform(b)['os.version'] ?? '');
}

export const ATTESTATION_REFERENCE_TYPE_ANNOTATION = 'vnd.docker.reference.type';

/** A buildx attestation manifest: platform unknown/unknown, or `vnd.docker.reference.type: attestation-manifest`. */
export function isAttestation(desc: Descriptor): boolean {
  if (desc.annotations?.[ATTESTATION_REFERENCE_TYPE_ANNOTATION] === 'attestation-manifest') return true;
  return desc.platform?.os === 'unknown' && desc.platform.architecture === 'unknown';
}

/**
 * The runnable image manifests of an index that match `want` ('all' = every platform), in index order.
 * Attestations, nested indexes and artifacts with an artifactType (e.g. SOCI indexes) are left out.
 */
export function selectManifests(index: ImageIndex, want: Platform | 'all'): Descriptor[] {
  return index.manifests.filter((d) => {
    if (!isManifestMediaType(d.mediaType) || isIndexMediaType(d.mediaType)) return false;
    if (d.artifactType !== undefined && d.artifactType !== '') return false;
    if (isAttestation(d)) return false;
    return want === 'all' ? true : matchPlatform(want, d.platform);
  });
}
