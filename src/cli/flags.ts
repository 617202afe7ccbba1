// Owns the flag groups commands share, declared once and parsed at declaration (commander argParser):
// the build flags (build, index, backfill), the image-indexing flags (index, backfill), the registry
// flags (every image command: credentials, transport, debug) and the value parsers. A new flag that
// belongs to a group goes here and reaches every command of the group; `indexSettings` and
// `sociOptions` turn the parsed groups into the library's options. Only cheap modules load here: the
// registry client is imported when a command asks for registry options (fast start, issue 12).
// Secrets never reach logs; a password on the command line is accepted with a warning,
// --password-stdin is the safe way.

import { Option, type Command } from './commander.js';
import { ZtocError } from '../errors.js';
import type { OpenedImage } from '../image/open.js';
import { DEFAULT_MIN_LAYER_SIZE } from '../jobs/defaults.js';
import { checkConcurrency } from '../jobs/limit.js';
import { parsePlatform } from '../oci/platform.js';
import type { Platform } from '../oci/types.js';
import type { Credential, RepositoryOptions } from '../registry/index.js';
import type { EngineChoice } from '../inflate/native.js';
import type { SociIndexVersion } from '../soci/index.js';
import type { Optimization } from '../soci/optimizations.js';
import { DEFAULT_BUILD_TOOL_ID, DEFAULT_SPAN_SIZE } from '../ztoc/model.js';
import { parseSize, type Terminal } from './io.js';

// ---------------------------------------------------------------------------------------------------
// Value parsers (commander argParser: value, previous) → parsed value; errors are usage errors (exit 2)
// ---------------------------------------------------------------------------------------------------

/** A byte count with an optional unit (4194304, 4MiB, 10MB). */
export const sizeArg = (v: string): number => parseSize(v);

/** A positive integer for `flag`, by the library's own rule (jobs/limit.ts). */
export function countArg(flag: string): (v: string) => number {
  return (v) => checkConcurrency(v.trim() === '' ? Number.NaN : Number(v), flag, JSON.stringify(v));
}

/** A repeatable string flag. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A repeatable --platform. */
export function collectPlatform(value: string, previous: Platform[] | undefined): Platform[] {
  return [...(previous ?? []), parsePlatform(value)];
}

/** A --platform that may be given once (a command that reads one manifest); a second one is an error, not ignored. */
export function onePlatform(flag: string): (value: string, previous: Platform | undefined) => Platform {
  return (value, previous) => {
    if (previous !== undefined) throw new ZtocError('INVALID_ARGUMENT', `${flag} may be given once here (one file is read from one manifest)`);
    return parsePlatform(value);
  };
}

function indexVersionArg(v: string): SociIndexVersion {
  if (v !== 'v1' && v !== 'v2') throw new ZtocError('INVALID_ARGUMENT', `--index-version must be v1 or v2, not ${v}`);
  return v;
}

// ---------------------------------------------------------------------------------------------------
// Build flags: how one zTOC is made (build, index, backfill)
// ---------------------------------------------------------------------------------------------------

export interface BuildFlags {
  spanSize: number;
  buildToolId: string;
  engine: EngineChoice;
}

export function addBuildFlags(cmd: Command): Command {
  return cmd
    .option('--span-size <bytes>', 'span size (e.g. 4194304 or 4MiB)', sizeArg, DEFAULT_SPAN_SIZE)
    .option('--build-tool-id <id>', 'build tool identifier written into the zTOC', DEFAULT_BUILD_TOOL_ID)
    // The library checks the name; ZTOC_ENGINE=zlib forces the fallback without a flag.
    .option('--engine <auto|fast|zlib>', 'inflate engine (env ZTOC_ENGINE)', process.env.ZTOC_ENGINE ?? 'auto');
}

// ---------------------------------------------------------------------------------------------------
// Image-indexing flags: which platforms and layers, which SOCI index (index, backfill)
// ---------------------------------------------------------------------------------------------------

export interface IndexFlags extends BuildFlags {
  platform?: Platform[];
  allPlatforms?: boolean;
  minLayerSize: number;
  indexVersion: SociIndexVersion;
  force?: boolean;
}

/** `v2Help` says where a v2 index goes (index: under --tag; backfill: under <tag><suffix>). */
export function addIndexFlags(cmd: Command, v2Help: string): Command {
  cmd
    .option('--platform <os/arch[/variant]>', 'platform to index (repeatable; default: all but attestations)', collectPlatform)
    .option('--all-platforms', 'index every platform of an image index');
  return addBuildFlags(cmd)
    .option('--min-layer-size <bytes>', 'skip layers smaller than this', sizeArg, DEFAULT_MIN_LAYER_SIZE)
    .option('--index-version <v1|v2>', `v1: a referrer of each manifest; v2: ${v2Help}`, indexVersionArg, 'v1' as SociIndexVersion)
    .option('--force', 'rebuild even when a SOCI index with the same span size exists');
}

/** The library options the image-indexing flags stand for (shared by indexImage and backfill). */
export function indexSettings(flags: IndexFlags): {
  platforms: Platform[] | 'all' | undefined;
  spanSize: number;
  minLayerSize: number;
  indexVersion: SociIndexVersion;
  force: boolean;
  buildToolId: string;
  engine: EngineChoice;
} {
  return {
    platforms: flags.platform ?? (flags.allPlatforms ? 'all' : undefined),
    spanSize: flags.spanSize,
    minLayerSize: flags.minLayerSize,
    indexVersion: flags.indexVersion,
    force: Boolean(flags.force),
    buildToolId: flags.buildToolId,
    engine: flags.engine,
  };
}

// ---------------------------------------------------------------------------------------------------
// SOCI build options (index): `soci create --optimizations` and prefetch files; --prefetch-file also on verify.
// Declared with plain collectors; the values are checked by the library when the command runs (fast start).
// ---------------------------------------------------------------------------------------------------

export interface PrefetchFlags {
  prefetchFile?: string[];
  prefetchFilesJson?: string;
}

export function addPrefetchFlags(cmd: Command, what: string): Command {
  return cmd
    .option('--prefetch-file <path>', `${what} (repeatable)`, collect)
    .option('--prefetch-files-json <file>', 'a JSON array of such paths, in a file');
}

/** The paths the prefetch flags name, the JSON file read now; trimmed, blanks dropped (SOCI's rules). */
export async function prefetchPaths(flags: PrefetchFlags): Promise<string[]> {
  const { prefetchPathsFrom } = await import('../soci/prefetch.js');
  let json: string | undefined;
  if (flags.prefetchFilesJson !== undefined) {
    const { readFile } = await import('node:fs/promises');
    try {
      json = await readFile(flags.prefetchFilesJson, 'utf8');
    } catch (err) {
      throw new ZtocError('INVALID_ARGUMENT', `--prefetch-files-json ${flags.prefetchFilesJson}: ${(err as Error).message}`);
    }
  }
  return prefetchPathsFrom(flags.prefetchFile ?? [], json, flags.prefetchFilesJson);
}

export interface SociOptionFlags extends PrefetchFlags {
  optimizations?: string[];
}

export function addSociOptionFlags(cmd: Command): Command {
  cmd.option('--optimizations <list>', 'SOCI optimizations (repeatable or comma-separated): xattr', collect);
  return addPrefetchFlags(cmd, 'file to prefetch at container start');
}

/** The library options the SOCI option flags stand for. */
export async function sociOptions(flags: SociOptionFlags): Promise<{ optimizations: Optimization[]; prefetchPaths: string[] }> {
  const { parseOptimizations } = await import('../soci/optimizations.js');
  return { optimizations: parseOptimizations(flags.optimizations ?? []), prefetchPaths: await prefetchPaths(flags) };
}

// ---------------------------------------------------------------------------------------------------
// Registry flags (every command that opens an image)
// ---------------------------------------------------------------------------------------------------

export interface RegistryFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  plainHttp?: boolean;
  insecure?: boolean;
  debug?: boolean;
}

export function addRegistryFlags(cmd: Command, term: Terminal): Command {
  return (
    cmd
      .option('-u, --username <name>', 'registry user name (default: docker config, credential helpers, auth.json)')
      .addOption(new Option('-p, --password <password>', 'registry password (prefer --password-stdin)').env('ZTOC_PASSWORD'))
      .option('--password-stdin', 'read the registry password or token from stdin')
      .option('--plain-http', 'use plain HTTP (default only for localhost, 127.0.0.1 and ::1)')
      .option('--insecure', 'use HTTPS without verifying the certificate')
      .option('--debug', 'print an HTTP trace to stderr (secrets redacted)')
      // Warn about a password typed on the command line, also when ZTOC_PASSWORD is set as well (the value
      // source says where the value came from; the environment variable alone is not a warning).
      .hook('preAction', (_self, action) => {
        if (action.getOptionValueSource('password') === 'cli') {
          term.log('ztoc: warning: a password on the command line can leak through shell history and process lists; use --password-stdin');
        }
      })
  );
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}

/** The registry options the flags stand for; loads the registry client. */
export async function registryOptions(flags: RegistryFlags, term: Terminal): Promise<RepositoryOptions> {
  const { createCredentialLookup } = await import('../registry/credentials.js');
  let explicit: Credential | undefined;
  const password = flags.passwordStdin ? await readAll(term.io.stdin) : flags.password;
  if (flags.username !== undefined || password !== undefined) {
    explicit = { ...(flags.username !== undefined ? { username: flags.username } : {}), ...(password !== undefined ? { password } : {}) };
  }
  const onDebug = flags.debug ? (line: string) => term.log(`debug: ${line}`) : undefined;
  return {
    credentials: createCredentialLookup({ ...(explicit ? { explicit } : {}), ...(onDebug ? { onDebug } : {}) }),
    ...(flags.plainHttp ? { plainHttp: true } : {}),
    ...(flags.insecure ? { insecure: true } : {}),
    ...(onDebug ? { onDebug } : {}),
  };
}

/** Opens IMAGE (a registry reference or oci:DIR…) with the registry flags; loads the image stores. */
export async function openImageWith(image: string, flags: RegistryFlags, term: Terminal): Promise<OpenedImage> {
  const { openImage } = await import('../image/open.js');
  return openImage(image, () => registryOptions(flags, term));
}
