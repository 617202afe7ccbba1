// Owns what a backfill works on: the repositories (a `--repos` file, else the registry's paged `_catalog`), their
// tags, `--match` globs over `repo:tag`, each tag resolved to its digest (HEAD, not counted by Docker Hub's pull
// limit) with identical digests of a repository merged, and the stable share of one shard (`--shard I/N`: a hash of
// `repo@digest`, so N machines split the work with no coordinator).

import { createHash } from 'node:crypto';
import { ZtocError } from '../errors.js';
import { isValidDigest } from '../oci/digest.js';
import { isDockerHub, parseRegistryReference } from '../oci/reference.js';
import type { RegistryClient } from '../registry/client.js';
import { Registry } from '../registry/registry.js';
import type { Repository } from '../registry/repository.js';
import { limiter } from './limit.js';

export interface RepoSpec {
  repo: string;
  /** undefined = every tag of the repository. */
  tag?: string;
  digest?: string;
}

/** One image to index: a digest in a repository, with every selected tag that names it. */
export interface Candidate {
  repo: string;
  digest: string;
  tags: string[];
}

/** A tag that could not be resolved to a digest. */
export interface SelectionProblem {
  repo: string;
  tag: string;
  /** 'skipped' = the tag vanished between listing and resolving. */
  status: 'skipped' | 'failed';
  error: string;
}

export interface Shard {
  index: number;
  count: number;
}

// --- --repos files ---------------------------------------------------------------------------------------------

/**
 * One `repo`, `repo:tag` or `repo@digest` per line; `#` starts a comment; blank lines are ignored. A line may also
 * start with the registry name (`registry.example.com/team/app:1`). Docker Hub names get `library/` as in docker pull.
 */
export function parseReposFile(text: string, registry: string, source = 'repository list'): RepoSpec[] {
  const out: RepoSpec[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    let rest = line.startsWith(`${registry}/`) ? line.slice(registry.length + 1) : line;
    const lastSlash = rest.lastIndexOf('/');
    const hasDigest = rest.includes('@');
    const hasTag = !hasDigest && rest.indexOf(':', lastSlash + 1) >= 0;
    let ref;
    try {
      // Parse it as a reference on this registry, so names are checked and normalised the usual way.
      if (isDockerHub(registry) && !rest.includes('/')) rest = `library/${rest}`;
      ref = parseRegistryReference(`${registry}/${rest}`);
    } catch (err) {
      throw new ZtocError('INVALID_ARGUMENT', `${source} line ${i + 1}: ${(err as Error).message}`);
    }
    const spec: RepoSpec = { repo: ref.repository };
    if (hasDigest && ref.digest !== undefined) spec.digest = ref.digest;
    else if (hasTag && ref.tag !== undefined) spec.tag = ref.tag;
    const k = `${spec.repo}|${spec.tag ?? ''}|${spec.digest ?? ''}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(spec);
    }
  });
  return out;
}

// --- --match globs -----------------------------------------------------------------------------------------------

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

interface CompiledGlob {
  text: string;
  negate: boolean;
  repo: RegExp;
  /** undefined: any tag. */
  tag: RegExp | undefined;
}

export interface Matcher {
  /** Whether an image `repo:tag` (tag undefined for a digest-only entry) is selected. */
  matches(repo: string, tag: string | undefined): boolean;
  /** False when no tag of the repository can be selected (its tags need not be listed). */
  repoMayMatch(repo: string): boolean;
  readonly patterns: string[];
}

/**
 * `--match REPO[:TAG]`, repeatable. `*` and `?` stay within one path segment, `**` crosses `/`; no `:TAG` means any
 * tag. A pattern starting with `!` excludes. Selected: matches some including pattern (or there is none) and no
 * excluding one. Digest-only entries are matched on the repository part alone.
 */
export function compileMatcher(patterns: string[]): Matcher {
  const globs: CompiledGlob[] = patterns.map((p) => {
    const negate = p.startsWith('!');
    const body = negate ? p.slice(1) : p;
    if (body === '') throw new ZtocError('INVALID_ARGUMENT', `--match ${JSON.stringify(p)}: empty pattern`);
    const colon = body.indexOf(':');
    const repoGlob = colon < 0 ? body : body.slice(0, colon);
    const tagGlob = colon < 0 ? undefined : body.slice(colon + 1);
    if (repoGlob === '') throw new ZtocError('INVALID_ARGUMENT', `--match ${JSON.stringify(p)}: empty repository pattern (use * or **)`);
    return { text: p, negate, repo: globToRegExp(repoGlob), tag: tagGlob === undefined || tagGlob === '' || tagGlob === '*' || tagGlob === '**' ? undefined : globToRegExp(tagGlob) };
  });
  const includes = globs.filter((g) => !g.negate);
  const excludes = globs.filter((g) => g.negate);
  // A digest-only entry (no tag) is included on its repository alone, and excluded only by a pattern without a tag.
  const included = (g: CompiledGlob, repo: string, tag: string | undefined): boolean => g.repo.test(repo) && (g.tag === undefined || tag === undefined || g.tag.test(tag));
  const excluded = (g: CompiledGlob, repo: string, tag: string | undefined): boolean => g.repo.test(repo) && (g.tag === undefined || (tag !== undefined && g.tag.test(tag)));
  return {
    patterns,
    matches(repo, tag) {
      if (includes.length > 0 && !includes.some((g) => included(g, repo, tag))) return false;
      return !excludes.some((g) => excluded(g, repo, tag));
    },
    repoMayMatch(repo) {
      if (includes.length > 0 && !includes.some((g) => g.repo.test(repo))) return false;
      return !excludes.some((g) => g.tag === undefined && g.repo.test(repo));
    },
  };
}

// --- sharding ----------------------------------------------------------------------------------------------------

/** The shard of an image: the first 8 bytes of sha256(`repo@digest`) as an unsigned big-endian integer, mod N. */
export function shardOf(key: string, count: number): number {
  const h = createHash('sha256').update(key).digest();
  return Number(h.readBigUInt64BE(0) % BigInt(count));
}

/** `I/N`, or `auto`: I from JOB_COMPLETION_INDEX (Kubernetes Indexed Job), N from JOB_COMPLETIONS. */
export function parseShard(spec: string, env: NodeJS.ProcessEnv = process.env): Shard {
  let text = spec.trim();
  if (text === 'auto') {
    const i = env['JOB_COMPLETION_INDEX'];
    const n = env['JOB_COMPLETIONS'];
    if (i === undefined || i === '') throw new ZtocError('INVALID_ARGUMENT', '--shard auto: JOB_COMPLETION_INDEX is not set (run it as a Kubernetes Indexed Job, or give --shard I/N)');
    if (n === undefined || n === '') throw new ZtocError('INVALID_ARGUMENT', '--shard auto: JOB_COMPLETIONS is not set (set it to the Job\'s spec.completions)');
    text = `${i}/${n}`;
  }
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (m === null) throw new ZtocError('INVALID_ARGUMENT', `--shard ${JSON.stringify(spec)}: expected I/N (e.g. 0/4) or auto`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (!Number.isSafeInteger(count) || count < 1 || count > 1_000_000) throw new ZtocError('INVALID_ARGUMENT', `--shard ${spec}: N must be between 1 and 1000000`);
  if (index >= count) throw new ZtocError('INVALID_ARGUMENT', `--shard ${spec}: I must be less than N (shards are numbered from 0)`);
  return { index, count };
}

// --- selection -----------------------------------------------------------------------------------------------------

/** Tags that are not images of their own: the referrers fallback index and cosign's signature/attestation tags. */
const ARTIFACT_TAG = /^sha256-[0-9a-f]{64}(\.[A-Za-z0-9_-]+)?$/;

export interface SelectOptions {
  client: RegistryClient;
  registry: string;
  /** From --repos; undefined = the catalog. */
  repos?: RepoSpec[];
  matcher: Matcher;
  /** Tags with this suffix are outputs of an earlier `--index-version v2` run, not inputs. */
  ignoreTagSuffix?: string;
  /** Requests at once while listing and resolving. */
  concurrency: number;
  catalogPageSize?: number;
  signal?: AbortSignal;
  onProgress?: (what: string) => void;
}

export interface Selection {
  candidates: Candidate[];
  problems: SelectionProblem[];
  repositories: number;
  /** Tags considered (after --match). */
  tags: number;
  /** Tags left out as not being images (referrers fallback, cosign, earlier v2 outputs). */
  ignoredTags: number;
}

export async function selectImages(o: SelectOptions): Promise<Selection> {
  const registry = new Registry(o.registry, { client: o.client });
  const repoOf = (name: string): Repository => registry.repository(name);
  let specs: RepoSpec[];
  if (o.repos !== undefined) specs = o.repos;
  else {
    o.onProgress?.('listing the catalog');
    let names: string[];
    try {
      names = await registry.catalog({ pageSize: o.catalogPageSize ?? 1000, ...(o.signal ? { signal: o.signal } : {}) });
    } catch (err) {
      if (err instanceof ZtocError && ['REGISTRY_UNAUTHORIZED', 'REGISTRY_DENIED', 'REGISTRY_NOT_FOUND'].includes(err.code)) {
        throw new ZtocError('CATALOG_UNAVAILABLE', `${err.message}: this registry does not list its repositories to you; name the repositories instead`, {
          cause: err,
          ...(err.status !== undefined ? { status: err.status } : {}),
        });
      }
      throw err;
    }
    specs = [...new Set(names)].map((repo) => ({ repo }));
  }
  specs = specs.filter((s) => o.matcher.repoMayMatch(s.repo));
  const repositories = new Set(specs.map((s) => s.repo)).size;

  // Expand repositories to tags.
  const limit = limiter(o.concurrency);
  const pairs: Array<{ repo: string; tag?: string; digest?: string }> = [];
  const problems: SelectionProblem[] = [];
  let ignoredTags = 0;
  const keep = (repo: string, tag: string): boolean => {
    if (ARTIFACT_TAG.test(tag) || (o.ignoreTagSuffix !== undefined && o.ignoreTagSuffix !== '' && tag.endsWith(o.ignoreTagSuffix))) {
      ignoredTags++;
      return false;
    }
    return o.matcher.matches(repo, tag);
  };
  let listed = 0;
  await Promise.all(
    specs.map((s) =>
      limit(async () => {
        if (s.digest !== undefined) {
          if (o.matcher.matches(s.repo, undefined)) pairs.push({ repo: s.repo, digest: s.digest });
          return;
        }
        if (s.tag !== undefined) {
          if (keep(s.repo, s.tag)) pairs.push({ repo: s.repo, tag: s.tag });
          return;
        }
        let tags: string[];
        try {
          tags = await repoOf(s.repo).listTags({ ...(o.signal ? { signal: o.signal } : {}) });
        } catch (err) {
          problems.push({ repo: s.repo, tag: '*', status: 'failed', error: describe(err) });
          return;
        }
        for (const t of tags) if (keep(s.repo, t)) pairs.push({ repo: s.repo, tag: t });
        o.onProgress?.(`listed tags of ${++listed}/${specs.length} repositories`);
      }),
    ),
  );

  // Resolve tags to digests, merging the tags of one digest.
  const byImage = new Map<string, Candidate>();
  const add = (repo: string, digest: string, tag: string | undefined): void => {
    const k = `${repo}@${digest}`;
    let c = byImage.get(k);
    if (c === undefined) {
      c = { repo, digest, tags: [] };
      byImage.set(k, c);
    }
    if (tag !== undefined && !c.tags.includes(tag)) c.tags.push(tag);
  };
  let resolved = 0;
  await Promise.all(
    pairs.map((p) =>
      limit(async () => {
        if (p.digest !== undefined) {
          if (!isValidDigest(p.digest)) problems.push({ repo: p.repo, tag: p.digest, status: 'failed', error: `invalid digest ${p.digest}` });
          else add(p.repo, p.digest, undefined);
          return;
        }
        const tag = p.tag!;
        try {
          const d = await repoOf(p.repo).headManifest(tag, { ...(o.signal ? { signal: o.signal } : {}) });
          if (d === undefined) problems.push({ repo: p.repo, tag, status: 'skipped', error: 'the tag no longer exists' });
          else add(p.repo, d.digest, tag);
        } catch (err) {
          problems.push({ repo: p.repo, tag, status: 'failed', error: describe(err) });
        }
        if (++resolved % 50 === 0) o.onProgress?.(`resolved ${resolved}/${pairs.length} tags`);
      }),
    ),
  );
  const candidates = [...byImage.values()];
  for (const c of candidates) c.tags.sort();
  candidates.sort((a, b) => (a.repo === b.repo ? (a.tags[0] ?? a.digest).localeCompare(b.tags[0] ?? b.digest) : a.repo < b.repo ? -1 : 1));
  problems.sort((a, b) => `${a.repo}:${a.tag}`.localeCompare(`${b.repo}:${b.tag}`));
  return { candidates, problems, repositories, tags: pairs.length, ignoredTags };
}

export function describe(err: unknown): string {
  if (err instanceof ZtocError) return `${err.describe()} [${err.code}]`;
  return err instanceof Error ? err.message : String(err);
}
