// Owns the backfill's zTOC cache: zTOC blobs keyed by (layer digest, span size, build tool id), so that a layer that
// appears in many repositories is read and built once per run. In memory, or under a directory (which also survives
// a restart); bounded in bytes with least-recently-used eviction. Concurrent lookups of one key wait for the first
// caller's build instead of building again. It also remembers which repositories of the registry hold each zTOC
// blob, so later copies are pushed by cross-repository mount.

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZtocError } from '../errors.js';
import { sha256Digest } from '../oci/digest.js';
import { DEFAULT_DISK_CACHE_BYTES, DEFAULT_MEMORY_CACHE_BYTES } from './defaults.js';
import type { CachedZtoc, ZtocCache, ZtocCacheKey } from './index-image.js';

export { DEFAULT_DISK_CACHE_BYTES, DEFAULT_MEMORY_CACHE_BYTES };

export interface ZtocStoreOptions {
  /** Keep the zTOC bytes under this directory instead of in memory. */
  dir?: string;
  /** Upper bound of the bytes kept (default 256 MiB in memory, 2 GiB on disk). */
  maxBytes?: number;
}

export interface ZtocStoreStats {
  /** Lookups answered from the cache (layers not read). */
  hits: number;
  /** Lookups that had to build. */
  misses: number;
  /** zTOCs stored. */
  stored: number;
  evictions: number;
  /** Bytes held now. */
  bytes: number;
  /** Entries found on disk at start. */
  loaded: number;
}

interface Entry {
  digest: string;
  size: number;
  spans: number;
  files: number;
  /** In memory mode. */
  bytes?: Uint8Array;
}

interface Meta {
  layer: string;
  spanSize: number;
  buildToolId: string;
  digest: string;
  size: number;
  spans: number;
  files: number;
}

function keyString(k: ZtocCacheKey): string {
  return `${k.layer}\n${k.spanSize}\n${k.buildToolId}`;
}

function fileStem(ks: string): string {
  return createHash('sha256').update(ks).digest('hex');
}

const MAX_HOLDER_KEYS = 1_000_000;

export class ZtocStore {
  readonly dir: string | undefined;
  readonly maxBytes: number;
  readonly stats: ZtocStoreStats = { hits: 0, misses: 0, stored: 0, evictions: 0, bytes: 0, loaded: 0 };
  /** Least recently used first (Map insertion order; a hit moves the entry to the end). */
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  /** Repositories known to hold the zTOC blob of a key (kept after eviction: it is a few bytes). */
  private readonly holders = new Map<string, string[]>();
  /** Keys whose blob is being pushed to some repository right now; other pushers wait, then mount. */
  private readonly pushing = new Map<string, { promise: Promise<void>; resolve: () => void }>();

  constructor(opts: ZtocStoreOptions = {}) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes ?? (opts.dir !== undefined ? DEFAULT_DISK_CACHE_BYTES : DEFAULT_MEMORY_CACHE_BYTES);
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes < 0) throw new ZtocError('INVALID_ARGUMENT', `invalid cache size ${this.maxBytes}`);
    if (this.dir !== undefined) this.loadDir(this.dir);
  }

  /** Picks up what an earlier run left under the directory, oldest first; drops half-written files. */
  private loadDir(dir: string): void {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new ZtocError('IO', `cannot create the cache directory ${dir}: ${(err as Error).message}`, { cause: err });
    }
    const found: Array<{ ks: string; e: Entry; mtime: number }> = [];
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (name.includes('.tmp-')) {
        rmSync(path, { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      const stem = name.slice(0, -'.json'.length);
      try {
        const m = JSON.parse(readFileSync(path, 'utf8')) as Meta;
        const ks = keyString(m);
        const st = statSync(join(dir, `${stem}.ztoc`));
        if (fileStem(ks) !== stem || st.size !== m.size) throw new Error('mismatch');
        found.push({ ks, e: { digest: m.digest, size: m.size, spans: m.spans, files: m.files }, mtime: st.mtimeMs });
      } catch {
        rmSync(path, { force: true });
        rmSync(join(dir, `${stem}.ztoc`), { force: true });
      }
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) {
      this.entries.set(f.ks, f.e);
      this.stats.bytes += f.e.size;
    }
    this.stats.loaded = found.length;
    void this.evict();
  }

  private async read(ks: string, e: Entry): Promise<Uint8Array | undefined> {
    if (e.bytes !== undefined) return e.bytes;
    if (this.dir === undefined) return undefined;
    try {
      const b = await readFile(join(this.dir, `${fileStem(ks)}.ztoc`));
      // The disk can lie; a zTOC that doesn't hash right is rebuilt.
      return b.length === e.size && sha256Digest(b) === e.digest ? b : undefined;
    } catch {
      return undefined;
    }
  }

  private drop(ks: string): void {
    const e = this.entries.get(ks);
    if (e === undefined) return;
    this.entries.delete(ks);
    this.stats.bytes -= e.size;
    if (this.dir !== undefined) {
      const stem = join(this.dir, fileStem(ks));
      rmSync(`${stem}.json`, { force: true });
      rmSync(`${stem}.ztoc`, { force: true });
    }
  }

  private async evict(): Promise<void> {
    for (const ks of this.entries.keys()) {
      if (this.stats.bytes <= this.maxBytes) break;
      this.drop(ks);
      this.stats.evictions++;
    }
  }

  /** The cached zTOC, or undefined after claiming the key: the caller builds and then calls put(). */
  async get(key: ZtocCacheKey): Promise<CachedZtoc | undefined> {
    const ks = keyString(key);
    for (;;) {
      const e = this.entries.get(ks);
      if (e !== undefined) {
        const bytes = await this.read(ks, e);
        if (bytes !== undefined && this.entries.get(ks) === e) {
          this.entries.delete(ks);
          this.entries.set(ks, e);
          this.stats.hits++;
          return { digest: e.digest, bytes, spans: e.spans, files: e.files };
        }
        if (bytes === undefined) this.drop(ks);
        continue;
      }
      const pending = this.inflight.get(ks);
      if (pending === undefined) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        this.inflight.set(ks, { promise, resolve });
        this.stats.misses++;
        return undefined;
      }
      await pending.promise;
    }
  }

  /** Stores what the claimant built (or nothing, when it could not build) and wakes those waiting for the key. */
  async put(key: ZtocCacheKey, z: CachedZtoc | undefined): Promise<void> {
    const ks = keyString(key);
    try {
      if (z !== undefined && z.bytes.length <= this.maxBytes && !this.entries.has(ks)) {
        const e: Entry = { digest: z.digest, size: z.bytes.length, spans: z.spans, files: z.files };
        if (this.dir === undefined) e.bytes = z.bytes;
        else await this.write(ks, key, z);
        this.entries.set(ks, e);
        this.stats.bytes += e.size;
        this.stats.stored++;
        await this.evict();
      }
    } catch {
      // A cache that cannot write is only slower: the zTOC is rebuilt when next needed.
    } finally {
      const p = this.inflight.get(ks);
      this.inflight.delete(ks);
      p?.resolve();
    }
  }

  private async write(ks: string, key: ZtocCacheKey, z: CachedZtoc): Promise<void> {
    const stem = join(this.dir!, fileStem(ks));
    const tmp = `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const meta: Meta = { layer: key.layer, spanSize: key.spanSize, buildToolId: key.buildToolId, digest: z.digest, size: z.bytes.length, spans: z.spans, files: z.files };
    try {
      await writeFile(`${stem}.ztoc${tmp}`, z.bytes);
      await rename(`${stem}.ztoc${tmp}`, `${stem}.ztoc`);
      // The metadata last: an entry is only picked up at start when both files are there and agree.
      await writeFile(`${stem}.json${tmp}`, JSON.stringify(meta));
      await rename(`${stem}.json${tmp}`, `${stem}.json`);
    } catch (err) {
      await rm(`${stem}.ztoc${tmp}`, { force: true });
      await rm(`${stem}.json${tmp}`, { force: true });
      throw err;
    }
  }

  /**
   * A repository other than `repo` known to hold the key's zTOC blob. When nobody holds it yet but another push of
   * it is under way, waits for that push (so this copy can be mounted rather than uploaded again); otherwise the
   * caller claims the push (`claimed`) and must call stored() when it is over.
   */
  async mountFrom(key: ZtocCacheKey, repo: string): Promise<{ from: string | undefined; claimed: boolean }> {
    const ks = keyString(key);
    for (;;) {
      const h = this.holders.get(ks);
      if (h !== undefined) return { from: h.includes(repo) ? undefined : h[0], claimed: false };
      const p = this.pushing.get(ks);
      if (p === undefined) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        this.pushing.set(ks, { promise, resolve });
        return { from: undefined, claimed: true };
      }
      // When that push fails, the loop comes round and this caller may claim it.
      await p.promise;
    }
  }

  /** A push of the key's blob to `repo` is over; the claimant's call lets the waiting pushers go on. */
  stored(key: ZtocCacheKey, repo: string, ok: boolean, claimant: boolean): void {
    const ks = keyString(key);
    if (ok) {
      const h = this.holders.get(ks);
      if (h === undefined) {
        if (this.holders.size < MAX_HOLDER_KEYS) this.holders.set(ks, [repo]);
      } else if (!h.includes(repo)) h.push(repo);
    }
    if (claimant) {
      const p = this.pushing.get(ks);
      this.pushing.delete(ks);
      p?.resolve();
    }
  }

  /** The view indexImage gets for an image of `repo` (one view per indexImage call). */
  forRepository(repo: string): ZtocCache {
    const claims = new Set<string>();
    return {
      get: (k) => this.get(k),
      put: (k, z) => this.put(k, z),
      mountFrom: async (k) => {
        const r = await this.mountFrom(k, repo);
        if (r.claimed) claims.add(keyString(k));
        return r.from;
      },
      stored: (k, ok) => this.stored(k, repo, ok, claims.delete(keyString(k))),
    };
  }
}
