// Owns the OCI image layout on disk (image-spec image-layout.md) as both a source and a target:
// `oci-layout`, `index.json`, `blobs/<alg>/<hex>`. Reading verifies digests; writing goes through
// fs/atomic-write.ts (temp file, fsync, rename, fsync the directory) so readers never see partial blobs
// or a half-written index.json. It also records referrers (manifests with a `subject`) and writes small
// test/example images from layer files.
//
// Concurrency: index.json updates are serialised within one OciLayout instance; two processes updating
// the same layout at once can lose an update (last rename wins), as with other layout tools.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ZtocError } from '../errors.js';
import { parseManifestOrIndex, validateIndex, type ParsedManifestOrIndex } from '../oci/validate.js';
import { atomicWriteFile, commitTempFile, writeTempFile } from '../fs/atomic-write.js';
import { readFileChunks } from '../fs/file-chunks.js';
import { Sha256Counter, isHashableDigest, parseHashableDigest, sha256Digest } from '../oci/digest.js';
import { MediaType, isIndexMediaType, isManifestMediaType, layerCompression, referrerDescriptor, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from '../oci/types.js';
import { marshalIndex, marshalManifest, marshalGoValue, type JsonValue } from '../oci/gojson.js';

export const OCI_LAYOUT_FILE = 'oci-layout';
export const OCI_LAYOUT_VERSION = '1.0.0';
export const INDEX_FILE = 'index.json';
/** Tag annotation on index.json entries. */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** Chunk size of openBlobStream. */
export const BLOB_STREAM_CHUNK = 1024 * 1024;

function isEnoent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

function ioError(what: string, err: unknown): ZtocError {
  return new ZtocError('IO', `${what}: ${(err as Error).message}`, { cause: err });
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isEnoent(err)) return false;
    throw ioError(`cannot stat ${path}`, err);
  }
}

/** Writes `data` to `path` atomically and durably (fs/atomic-write.ts), as an IO error naming the file. */
async function atomicWrite(path: string, data: Uint8Array): Promise<void> {
  try {
    await atomicWriteFile(path, data);
  } catch (err) {
    throw ioError(`cannot write ${path}`, err);
  }
}

/** A parsed manifest or index blob with its bytes. */
export type ParsedManifestBlob = ParsedManifestOrIndex & { bytes: Buffer };

export interface LayoutReference {
  tag?: string;
  digest?: string;
}

export interface WriteImageLayer {
  /** Layer bytes, or `path` to a file with them. */
  bytes?: Uint8Array;
  path?: string;
  mediaType: string;
  annotations?: Record<string, string>;
}

export interface WriteImageOptions {
  layers: WriteImageLayer[];
  /** Config blob (bytes, or a JSON value written Go-canonically). Default: built from `platform` with diff_ids. */
  config?: Uint8Array | JsonValue;
  configMediaType?: string;
  /** Platform for the index.json entry (and the generated config). */
  platform?: Platform;
  tag?: string;
  /** Manifest media type: OCI (default) or Docker v2 schema 2. */
  manifestMediaType?: string;
  annotations?: Record<string, string>;
  subject?: Descriptor;
  artifactType?: string;
}

export interface WrittenImage {
  manifest: ImageManifest;
  bytes: Buffer;
  /** The index.json entry (with platform and tag annotation when given). */
  descriptor: Descriptor;
  config: Descriptor;
}

export class OciLayout {
  readonly dir: string;
  private indexLock: Promise<unknown> = Promise.resolve();

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Opens an existing layout, checking `oci-layout` and `index.json`. */
  static async open(dir: string): Promise<OciLayout> {
    let marker: string;
    try {
      marker = await readFile(join(dir, OCI_LAYOUT_FILE), 'utf8');
    } catch (err) {
      if (isEnoent(err)) throw new ZtocError('LAYOUT_INVALID', `${dir} is not an OCI image layout (no ${OCI_LAYOUT_FILE} file)`);
      throw ioError(`cannot read ${join(dir, OCI_LAYOUT_FILE)}`, err);
    }
    let version: unknown;
    try {
      version = (JSON.parse(marker) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (version !== OCI_LAYOUT_VERSION) {
      throw new ZtocError('LAYOUT_INVALID', `${join(dir, OCI_LAYOUT_FILE)}: unsupported imageLayoutVersion ${JSON.stringify(version)}`);
    }
    const layout = new OciLayout(dir);
    await layout.readIndex();
    return layout;
  }

  /**
   * Creates an empty layout (directories, `oci-layout`, empty `index.json`). A directory that already has
   * an `oci-layout` file is opened instead; an existing `index.json` is kept.
   */
  static async create(dir: string): Promise<OciLayout> {
    if (await fileExists(join(dir, OCI_LAYOUT_FILE))) return OciLayout.open(dir);
    try {
      await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    } catch (err) {
      throw ioError(`cannot create ${dir}`, err);
    }
    const layout = new OciLayout(dir);
    if (!(await fileExists(join(dir, INDEX_FILE)))) {
      await layout.writeIndex({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
    }
    await atomicWrite(join(dir, OCI_LAYOUT_FILE), Buffer.from(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION })));
    return OciLayout.open(dir);
  }

  /** Path of a blob (whether or not it exists). */
  blobPath(digest: string): string {
    const { algorithm, hex } = parseHashableDigest(digest);
    return join(this.dir, 'blobs', algorithm, hex);
  }

  async readIndex(): Promise<ImageIndex> {
    const path = join(this.dir, INDEX_FILE);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if (isEnoent(err)) throw new ZtocError('LAYOUT_INVALID', `${this.dir} has no ${INDEX_FILE}`);
      throw ioError(`cannot read ${path}`, err);
    }
    try {
      const parsed = parseManifestOrIndex(bytes);
      if (parsed.kind !== 'index') throw new ZtocError('LAYOUT_INVALID', `${path} is not an image index`);
      return parsed.index;
    } catch (err) {
      if (err instanceof ZtocError && err.code !== 'LAYOUT_INVALID') {
        throw new ZtocError('LAYOUT_INVALID', `${path}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  private async writeIndex(index: ImageIndex): Promise<void> {
    validateIndex(index, INDEX_FILE);
    await atomicWrite(join(this.dir, INDEX_FILE), marshalIndex(index));
  }

  /** Runs a read-modify-write of index.json, serialised with other updates through this instance. */
  private updateIndex<T>(fn: (index: ImageIndex) => T | Promise<T>): Promise<T> {
    const run = this.indexLock.then(async () => {
      const index = await this.readIndex();
      const result = await fn(index);
      await this.writeIndex(index);
      return result;
    });
    this.indexLock = run.catch(() => undefined);
    return run;
  }

  /** Tags in index.json, in order. */
  async tags(): Promise<string[]> {
    const index = await this.readIndex();
    return index.manifests.flatMap((d) => {
      const t = d.annotations?.[ANNOTATION_REF_NAME];
      return t === undefined ? [] : [t];
    });
  }

  /**
   * Finds the descriptor to start from: by tag (`org.opencontainers.image.ref.name`), by digest (an
   * index.json entry, else any manifest/index blob in the layout), or, with neither, the single image in
   * index.json (entries with an artifactType, e.g. referrers, are not counted). A string is a digest when
   * it looks like one, otherwise a tag.
   */
  async resolve(ref?: LayoutReference | string): Promise<Descriptor> {
    const r: LayoutReference =
      typeof ref === 'string' ? (isHashableDigest(ref) ? { digest: ref } : { tag: ref }) : (ref ?? {});
    const index = await this.readIndex();
    if (r.tag !== undefined) {
      const hits = index.manifests.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] === r.tag);
      const hit = hits[hits.length - 1];
      if (hit === undefined) {
        const tags = (await this.tags()).map((t) => JSON.stringify(t)).join(', ') || 'none';
        throw new ZtocError('REFERENCE_INVALID', `tag ${JSON.stringify(r.tag)} not found in ${this.dir} (tags: ${tags})`);
      }
      if (r.digest !== undefined && hit.digest !== r.digest) {
        throw new ZtocError('REFERENCE_INVALID', `tag ${JSON.stringify(r.tag)} is ${hit.digest}, not ${r.digest}`);
      }
      return structuredClone(hit);
    }
    if (r.digest !== undefined) {
      parseHashableDigest(r.digest);
      const hit = index.manifests.find((d) => d.digest === r.digest);
      if (hit !== undefined) return structuredClone(hit);
      const bytes = await this.readBlob(r.digest);
      const parsed = parseManifestOrIndex(bytes);
      return { mediaType: parsed.mediaType, digest: r.digest, size: bytes.length };
    }
    const images = index.manifests.filter((d) => !d.artifactType);
    const candidates = images.length > 0 ? images : index.manifests;
    if (candidates.length === 1) return structuredClone(candidates[0]!);
    if (candidates.length === 0) throw new ZtocError('REFERENCE_INVALID', `${this.dir} holds no images`);
    const tags = (await this.tags()).map((t) => JSON.stringify(t)).join(', ') || 'none';
    throw new ZtocError('REFERENCE_INVALID', `${this.dir} holds ${candidates.length} images: name a tag or digest (tags: ${tags})`);
  }

  async hasBlob(digest: string): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch (err) {
      if (isEnoent(err)) return false;
      throw ioError(`cannot stat blob ${digest}`, err);
    }
  }

  /** Size of a blob on disk. */
  async blobSize(digest: string): Promise<number> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (err) {
      if (isEnoent(err)) throw this.missing(digest);
      throw ioError(`cannot stat blob ${digest}`, err);
    }
  }

  private missing(digest: string): ZtocError {
    return new ZtocError('LAYOUT_INVALID', `blob ${digest} is not in the layout ${this.dir}`);
  }

  /** Reads a whole blob and checks its digest (and `expectedSize` when given). */
  async readBlob(digest: string, expectedSize?: number): Promise<Buffer> {
    const { algorithm: alg } = parseHashableDigest(digest);
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(digest));
    } catch (err) {
      if (isEnoent(err)) throw this.missing(digest);
      throw ioError(`cannot read blob ${digest}`, err);
    }
    if (expectedSize !== undefined && bytes.length !== expectedSize) {
      throw new ZtocError('SIZE_MISMATCH', `blob ${digest} is ${bytes.length} bytes, expected ${expectedSize}`);
    }
    const actual = `${alg}:${createHash(alg).update(bytes).digest('hex')}`;
    if (actual !== digest) throw new ZtocError('DIGEST_MISMATCH', `blob ${digest} has digest ${actual}: the layout is corrupt`);
    return bytes;
  }

  /** Reads and parses a manifest or index blob. */
  async readManifestOrIndex(desc: Descriptor): Promise<ParsedManifestBlob> {
    const bytes = await this.readBlob(desc.digest, desc.size);
    return { ...parseManifestOrIndex(bytes, desc.mediaType), bytes };
  }

  /**
   * Streams a blob in chunks of up to 1 MiB. With `verify` (default) the digest is checked at the end and
   * the iteration throws DIGEST_MISMATCH after the last chunk if it differs. With `reuseBuffer` every
   * chunk is read into the same buffer, valid until the next one is asked for (for consumers that copy).
   */
  openBlobStream(digest: string, opts: { verify?: boolean; reuseBuffer?: boolean } = {}): AsyncIterable<Uint8Array> {
    const { algorithm: alg } = parseHashableDigest(digest);
    const path = this.blobPath(digest);
    const verify = opts.verify ?? true;
    const reuse = opts.reuseBuffer === true;
    const missing = (): ZtocError => this.missing(digest);
    return {
      async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
        const hash: Hash | undefined = verify ? createHash(alg) : undefined;
        const chunks = reuse ? readFileChunks(path, BLOB_STREAM_CHUNK) : (createReadStream(path, { highWaterMark: BLOB_STREAM_CHUNK }) as AsyncIterable<Buffer> & { destroy(): void });
        try {
          for await (const chunk of chunks) {
            hash?.update(chunk);
            yield chunk;
          }
        } catch (err) {
          if (isEnoent(err)) throw missing();
          throw ioError(`cannot read blob ${digest}`, err);
        } finally {
          if ('destroy' in chunks) chunks.destroy();
        }
        if (hash !== undefined) {
          const actual = `${alg}:${hash.digest('hex')}`;
          if (actual !== digest) throw new ZtocError('DIGEST_MISMATCH', `blob ${digest} has digest ${actual}: the layout is corrupt`);
        }
      },
    };
  }

  /** Reads bytes [start, end) of a blob (end exclusive; not digest-verified: it is a partial read). */
  async readRange(digest: string, start: number, end: number): Promise<Buffer> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
      throw new ZtocError('INVALID_ARGUMENT', `invalid range [${start}, ${end})`);
    }
    let fh;
    try {
      fh = await open(this.blobPath(digest), 'r');
    } catch (err) {
      if (isEnoent(err)) throw this.missing(digest);
      throw ioError(`cannot open blob ${digest}`, err);
    }
    try {
      const size = (await fh.stat()).size;
      if (end > size) {
        throw new ZtocError('INVALID_ARGUMENT', `range [${start}, ${end}) is beyond the end of blob ${digest} (${size} bytes)`);
      }
      const buf = Buffer.alloc(end - start);
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await fh.read(buf, off, buf.length - off, start + off);
        if (bytesRead === 0) throw new ZtocError('IO', `blob ${digest} shrank while reading`);
        off += bytesRead;
      }
      return buf;
    } finally {
      await fh.close();
    }
  }

  /** Stores bytes as a sha256 blob (idempotent) and returns its digest. */
  async writeBlob(bytes: Uint8Array): Promise<string> {
    const digest = sha256Digest(bytes);
    if (await this.hasBlob(digest)) return digest;
    const dir = join(this.dir, 'blobs', 'sha256');
    await mkdir(dir, { recursive: true });
    await atomicWrite(this.blobPath(digest), bytes);
    return digest;
  }

  /**
   * Stores a stream as a sha256 blob: written to a temp file while hashing, then renamed to its digest.
   * With `expected`, a different digest or size fails (DIGEST_MISMATCH / SIZE_MISMATCH) and nothing is kept.
   */
  async writeBlobStream(
    source: AsyncIterable<Uint8Array>,
    expected?: { digest?: string; size?: number },
  ): Promise<{ digest: string; size: number }> {
    const dir = join(this.dir, 'blobs', 'sha256');
    await mkdir(dir, { recursive: true });
    const hash = new Sha256Counter();
    const hashed = async function* (): AsyncGenerator<Uint8Array> {
      for await (const chunk of source) {
        hash.update(chunk);
        yield chunk;
      }
    };
    let tmp: string | undefined;
    try {
      tmp = await writeTempFile(dir, hashed());
      const digest = hash.digest();
      const size = hash.bytes;
      if (expected?.size !== undefined && expected.size !== size) {
        throw new ZtocError('SIZE_MISMATCH', `blob is ${size} bytes, expected ${expected.size}`);
      }
      if (expected?.digest !== undefined && expected.digest !== digest) {
        throw new ZtocError('DIGEST_MISMATCH', `blob has digest ${digest}, expected ${expected.digest}`);
      }
      const done = tmp;
      tmp = undefined;
      if (await this.hasBlob(digest)) await unlink(done).catch(() => undefined);
      else await commitTempFile(done, this.blobPath(digest));
      return { digest, size };
    } catch (err) {
      if (tmp !== undefined) await unlink(tmp).catch(() => undefined);
      if (err instanceof ZtocError) throw err;
      throw ioError('cannot write blob', err);
    }
  }

  /** Stores a file's bytes as a blob (streamed). */
  async writeBlobFromFile(path: string): Promise<{ digest: string; size: number }> {
    return this.writeBlobStream(createReadStream(path, { highWaterMark: BLOB_STREAM_CHUNK }) as AsyncIterable<Buffer>);
  }

  /**
   * Adds a manifest/index descriptor to index.json. With a tag, the tag moves to this descriptor (other
   * entries carrying it are removed). Without one, an identical untagged entry is not duplicated.
   */
  async addManifest(descriptor: Descriptor, opts: { tag?: string } = {}): Promise<Descriptor> {
    if (!(await this.hasBlob(descriptor.digest))) throw this.missing(descriptor.digest);
    const entry = structuredClone(descriptor);
    if (opts.tag !== undefined) {
      if (opts.tag === '') throw new ZtocError('INVALID_ARGUMENT', 'empty tag');
      entry.annotations = { ...(entry.annotations ?? {}), [ANNOTATION_REF_NAME]: opts.tag };
    }
    return this.updateIndex((index) => {
      const tag = opts.tag;
      if (tag !== undefined) {
        index.manifests = index.manifests.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] !== tag);
        // an untagged entry for the same digest becomes this tagged one
        const same = index.manifests.findIndex((d) => d.digest === entry.digest && d.annotations?.[ANNOTATION_REF_NAME] === undefined);
        if (same >= 0) index.manifests.splice(same, 1);
      } else if (index.manifests.some((d) => d.digest === entry.digest)) {
        return structuredClone(index.manifests.find((d) => d.digest === entry.digest)!);
      }
      index.manifests.push(entry);
      return structuredClone(entry);
    });
  }

  /**
   * Records a referrer (a manifest blob already in the layout that has a `subject`) in index.json, with
   * its artifactType (the manifest's artifactType, else its config media type) and its annotations, as
   * the referrers API would list it.
   */
  async addReferrer(descriptor: Descriptor): Promise<Descriptor> {
    const parsed = await this.readManifestOrIndex(descriptor);
    const subject = parsed.kind === 'manifest' ? parsed.manifest.subject : parsed.index.subject;
    if (subject === undefined) {
      throw new ZtocError('INVALID_ARGUMENT', `manifest ${descriptor.digest} has no subject, so it is not a referrer`);
    }
    const entry = referrerDescriptor({ ...descriptor, mediaType: parsed.mediaType }, parsed.kind === 'manifest' ? parsed.manifest : parsed.index);
    return this.updateIndex((index) => {
      index.manifests = index.manifests.filter((d) => d.digest !== entry.digest || d.annotations?.[ANNOTATION_REF_NAME] !== undefined);
      index.manifests.push(entry);
      return structuredClone(entry);
    });
  }

  /**
   * The referrers of `subjectDigest` among index.json entries: every manifest (or index) whose `subject`
   * points at it, described with artifactType and annotations as the referrers API lists them, filtered by
   * `artifactType` when given. Entries whose blob is missing are skipped.
   */
  async referrers(subjectDigest: string, artifactType?: string): Promise<Descriptor[]> {
    const index = await this.readIndex();
    const out: Descriptor[] = [];
    const seen = new Set<string>();
    for (const d of index.manifests) {
      if (seen.has(d.digest) || !isHashableDigest(d.digest)) continue; // unsupported algorithms are skipped
      if (!isManifestMediaType(d.mediaType) && !isIndexMediaType(d.mediaType)) continue;
      if (!(await this.hasBlob(d.digest))) continue;
      const parsed = await this.readManifestOrIndex(d);
      const doc = parsed.kind === 'manifest' ? parsed.manifest : parsed.index;
      if (doc.subject?.digest !== subjectDigest) continue;
      const entry = referrerDescriptor({ ...d, mediaType: parsed.mediaType }, doc);
      if (artifactType !== undefined && entry.artifactType !== artifactType) continue;
      seen.add(d.digest);
      out.push(entry);
    }
    return out;
  }

  /**
   * Removes referrers of `subjectDigest` from index.json: every entry whose digest is in `digests` and whose manifest
   * has that subject (a tagged entry too: it names the same referrer). Other entries are kept in order. The blobs stay
   * (a layout has no garbage collection; zTOCs may be shared with other indexes). Returns the digests removed.
   */
  async removeReferrers(subjectDigest: string, digests: readonly string[]): Promise<string[]> {
    const want = new Set(digests);
    const subjects = new Map<string, string | undefined>();
    for (const d of (await this.readIndex()).manifests) {
      if (!want.has(d.digest) || subjects.has(d.digest) || !(await this.hasBlob(d.digest))) continue;
      const parsed = await this.readManifestOrIndex(d);
      subjects.set(d.digest, (parsed.kind === 'manifest' ? parsed.manifest.subject : parsed.index.subject)?.digest);
    }
    return this.updateIndex((index) => {
      const removed = new Set<string>();
      index.manifests = index.manifests.filter((d) => {
        const drop = want.has(d.digest) && subjects.get(d.digest) === subjectDigest;
        if (drop) removed.add(d.digest);
        return !drop;
      });
      return [...removed];
    });
  }

  /** Writes the manifest bytes as a blob and adds it to index.json. */
  async addManifestBytes(bytes: Uint8Array, mediaType: string, opts: { tag?: string; platform?: Platform } = {}): Promise<Descriptor> {
    const digest = await this.writeBlob(bytes);
    const desc: Descriptor = { mediaType, digest, size: bytes.length };
    if (opts.platform !== undefined) desc.platform = structuredClone(opts.platform);
    return this.addManifest(desc, opts.tag === undefined ? {} : { tag: opts.tag });
  }

  /**
   * Writes a single-platform image (layers, config, manifest) and records it in index.json. Intended for
   * tests and examples: layer files are streamed, but a generated config gunzips gzip layers in memory.
   */
  async writeImage(opts: WriteImageOptions): Promise<WrittenImage> {
    const manifestMediaType = opts.manifestMediaType ?? MediaType.OciManifest;
    const docker = manifestMediaType === MediaType.DockerManifest;
    if (!docker && manifestMediaType !== MediaType.OciManifest) {
      throw new ZtocError('INVALID_ARGUMENT', `writeImage writes OCI or Docker v2 manifests, not ${manifestMediaType}`);
    }
    const layers: Descriptor[] = [];
    const diffIds: string[] = [];
    for (const [i, l] of opts.layers.entries()) {
      let written: { digest: string; size: number };
      if (l.bytes !== undefined) written = { digest: await this.writeBlob(l.bytes), size: l.bytes.length };
      else if (l.path !== undefined) written = await this.writeBlobFromFile(l.path);
      else throw new ZtocError('INVALID_ARGUMENT', `layer ${i} has neither bytes nor path`);
      const d: Descriptor = { mediaType: l.mediaType, digest: written.digest, size: written.size };
      if (l.annotations !== undefined) d.annotations = { ...l.annotations };
      layers.push(d);
      if (opts.config === undefined) diffIds.push(await this.diffId(d));
    }

    let configBytes: Uint8Array;
    if (opts.config === undefined) {
      const p = opts.platform ?? { architecture: 'amd64', os: 'linux' };
      const cfg: { [k: string]: JsonValue } = {
        architecture: p.architecture,
        os: p.os,
        rootfs: { type: 'layers', diff_ids: diffIds },
      };
      if (p.variant) cfg['variant'] = p.variant;
      if (p['os.version']) cfg['os.version'] = p['os.version'];
      configBytes = marshalGoValue(cfg);
    } else if (opts.config instanceof Uint8Array) {
      configBytes = opts.config;
    } else {
      configBytes = marshalGoValue(opts.config);
    }
    const config: Descriptor = {
      mediaType: opts.configMediaType ?? (docker ? MediaType.DockerConfig : MediaType.OciConfig),
      digest: await this.writeBlob(configBytes),
      size: configBytes.length,
    };

    const manifest: ImageManifest = { schemaVersion: 2, mediaType: manifestMediaType, config, layers };
    if (opts.artifactType !== undefined) manifest.artifactType = opts.artifactType;
    if (opts.subject !== undefined) manifest.subject = structuredClone(opts.subject);
    if (opts.annotations !== undefined) manifest.annotations = { ...opts.annotations };
    const bytes = marshalManifest(manifest);
    const descriptor = await this.addManifestBytes(bytes, manifestMediaType, {
      ...(opts.tag !== undefined ? { tag: opts.tag } : {}),
      ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
    });
    return { manifest, bytes, descriptor, config };
  }

  /** sha256 of a layer's uncompressed tar (for generated configs). */
  private async diffId(layer: Descriptor): Promise<string> {
    const kind = layerCompression(layer.mediaType);
    if (kind === 'tar') return layer.digest;
    if (kind === 'gzip') {
      return sha256Digest(gunzipSync(await this.readBlob(layer.digest)));
    }
    throw new ZtocError('INVALID_ARGUMENT', `cannot compute the diff_id of a ${layer.mediaType} layer: pass a config`);
  }
}

