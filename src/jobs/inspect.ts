// Owns the read side of an indexed image: finding its SOCI indexes (v1 referrers and the v2
// manifest annotation), reading one file through them with range reads the way the snapshotter
// does (topmost layer wins, whiteouts hide), and verifying every zTOC against its layer (and the
// prefetch artifacts, verify-prefetch.ts).

import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { ZtocError } from '../errors.js';
import type { ImageStore } from '../image/store.js';
import { formatPlatform, hostPlatform } from '../oci/platform.js';
import { platformManifests, type PlatformManifest } from './platforms.js';
import { layerCompression, MediaType, type Descriptor, type Platform } from '../oci/types.js';
import { ANNOTATION_INDEX_DIGEST, parseSociIndex, type SociIndexInfo } from '../soci/index.js';
import { lookupInLayer } from '../oci/overlay.js';
import { byteString, utf8 } from '../tar/bytes.js';
import { TarScanner } from '../tar/scanner.js';
import type { TocEntry } from '../tar/types.js';
import { decodeZtoc } from '../ztoc/decode.js';
import { cleanName, extractFile, type RangeReader } from '../ztoc/extract.js';
import type { Ztoc } from '../ztoc/model.js';
import { verifyZtoc, type VerifyReport } from '../ztoc/verify.js';
import { verifyPrefetch, type PrefetchCheck } from './verify-prefetch.js';

const MAX_ZTOC_BYTES = 1 << 30;
/** Layers without a zTOC are read whole (they are below min-layer-size); refuse absurd ones. */
const MAX_PLAIN_LAYER = 512 * 1024 * 1024;

export interface FoundSociIndex {
  descriptor: Descriptor;
  info: SociIndexInfo;
  /** How it was found: a v1 referrer, or the v2 manifest annotation. */
  via: 'referrer' | 'annotation';
}

/** Every SOCI index of one platform manifest: v1 referrers, then the v2 annotation if present. */
export async function findSociIndexes(store: ImageStore, pm: PlatformManifest): Promise<FoundSociIndex[]> {
  const out: FoundSociIndex[] = [];
  for (const r of await store.referrers(pm.descriptor.digest, MediaType.SociIndexV1)) {
    const doc = await store.fetchDocument(r);
    out.push({ descriptor: r, info: parseSociIndex(doc.bytes), via: 'referrer' });
  }
  const v2 = pm.manifest.annotations?.[ANNOTATION_INDEX_DIGEST];
  if (v2 !== undefined) {
    const doc = await store.fetchDocument({ mediaType: MediaType.OciManifest, digest: v2, size: -1 });
    out.push({ descriptor: { ...doc.descriptor, artifactType: MediaType.SociIndexV2 }, info: parseSociIndex(doc.bytes), via: 'annotation' });
  }
  return out;
}

async function fetchZtoc(store: ImageStore, d: Descriptor): Promise<Ztoc> {
  return decodeZtoc(await store.fetchBlob(d, MAX_ZTOC_BYTES));
}

/** A layer's file list: from its zTOC when it has one, else by reading the (small) layer whole. */
interface LayerView {
  layer: Descriptor;
  entries: TocEntry[];
  read(entry: TocEntry): AsyncGenerator<Uint8Array>;
}

async function plainLayerView(store: ImageStore, layer: Descriptor): Promise<LayerView> {
  const blob = await store.fetchBlob(layer, MAX_PLAIN_LAYER);
  const kind = layerCompression(layer.mediaType);
  if (kind !== 'gzip' && kind !== 'tar') throw new ZtocError('LAYER_UNSUPPORTED', `layer ${layer.digest} is ${layer.mediaType}`, { layer: layer.digest });
  const parts: Buffer[] = [];
  const src = kind === 'gzip' ? Readable.from([blob]).pipe(createGunzip()) : Readable.from([blob]);
  for await (const c of src) parts.push(c as Buffer);
  const tar = Buffer.concat(parts);
  const scanner = new TarScanner();
  scanner.push(tar);
  const { entries } = scanner.end();
  return {
    layer,
    entries,
    async *read(e) {
      yield tar.subarray(e.offset, e.offset + e.size);
    },
  };
}

export interface GetFileResult {
  entry: TocEntry;
  layer: Descriptor;
  viaZtoc: boolean;
  data: AsyncGenerator<Uint8Array>;
}

/**
 * Reads one file of an image through its SOCI index: the topmost layer holding PATH wins and a
 * whiteout above it hides it, as in the overlay the snapshotter mounts. Layers with a zTOC are read
 * with range requests for the spans that hold the file; others are read whole.
 */
export async function getFileFromImage(
  store: ImageStore,
  reference: string | undefined,
  path: string,
  opts: { platform?: Platform } = {},
): Promise<GetFileResult> {
  const root = await store.resolve(reference ?? 'latest');
  // An index is narrowed to this host's platform unless one is asked for; a single manifest must match an asked one.
  const platform = opts.platform ?? (root.doc.kind === 'index' ? hostPlatform() : undefined);
  const pm = (await platformManifests(store, root, platform && [platform]))[0]!;
  const found = await findSociIndexes(store, pm);
  if (found.length === 0) {
    throw new ZtocError('ZTOC_NOT_FOUND', `no SOCI index refers to ${pm.descriptor.digest}: run ztoc index first`);
  }
  const index = found[0]!.info;
  const want = cleanName(byteString(path));
  const layers = pm.manifest.layers;
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i]!;
    const ztocDesc = index.ztocByLayer.get(layer.digest);
    let view: LayerView;
    if (ztocDesc !== undefined) {
      const z = await fetchZtoc(store, ztocDesc);
      const read: RangeReader = (s, e) => store.readRange(layer.digest, s, e);
      view = { layer, entries: z.entries, read: (e) => extractFile(z, e, read) };
    } else {
      view = await plainLayerView(store, layer);
    }
    const look = lookupInLayer(view.entries, want);
    if (look.kind === 'found') {
      const hit = look.data;
      if (hit.type !== 'reg') {
        throw new ZtocError('FILE_NOT_FOUND', `${path} is a ${hit.type}${hit.linkname ? ` -> ${utf8(hit.linkname)}` : ''}, not a regular file`);
      }
      return { entry: hit, layer, viaZtoc: ztocDesc !== undefined, data: view.read(hit) };
    }
    if (look.kind === 'hidden') break;
  }
  throw new ZtocError('FILE_NOT_FOUND', `${path}: no such file in ${store.display}`);
}

export interface VerifiedLayer {
  platform: string;
  layer: string;
  ztoc: string;
  report: VerifyReport;
}

/**
 * Checks every zTOC of every SOCI index of the image against its layer, and every prefetch artifact (and that it
 * covers `prefetchPaths`, see verify-prefetch.ts); throws on the first mismatch.
 */
export async function verifyImage(
  store: ImageStore,
  reference: string | undefined,
  opts: { platforms?: Platform[]; prefetchPaths?: readonly string[]; onLayer?: (v: VerifiedLayer) => void } = {},
): Promise<{ indexes: number; layers: VerifiedLayer[]; prefetch: PrefetchCheck[] }> {
  const root = await store.resolve(reference ?? 'latest');
  const pms = await platformManifests(store, root, opts.platforms);
  const layers: VerifiedLayer[] = [];
  const prefetch: PrefetchCheck[] = [];
  let indexes = 0;
  for (const pm of pms) {
    const found = await findSociIndexes(store, pm);
    if (found.length === 0) throw new ZtocError('ZTOC_NOT_FOUND', `no SOCI index refers to ${pm.descriptor.digest}`);
    for (const f of found) {
      indexes++;
      const ztocs = new Map<string, Ztoc>();
      for (const z of f.info.ztocs) {
        const layer = pm.manifest.layers.find((l) => l.digest === z.layerDigest);
        if (layer === undefined) {
          throw new ZtocError('ZTOC_MISMATCH', `SOCI index ${f.descriptor.digest} has a zTOC for ${z.layerDigest}, which is not a layer of ${pm.descriptor.digest}`);
        }
        try {
          const ztoc = await fetchZtoc(store, z.ztoc);
          ztocs.set(z.layerDigest, ztoc);
          const report = await verifyZtoc(ztoc, (s, e) => store.readRange(layer.digest, s, e), store.openBlob(layer));
          const v = { platform: formatPlatform(pm.platform), layer: layer.digest, ztoc: z.ztoc.digest, report };
          layers.push(v);
          opts.onLayer?.(v);
        } catch (err) {
          throw ZtocError.withLayer(err, layer.digest);
        }
      }
      if (f.info.prefetches.length > 0 || (opts.prefetchPaths ?? []).length > 0) {
        prefetch.push(await verifyPrefetch(store, pm.manifest, f, async (l) => ztocs.get(l), opts.prefetchPaths ?? []));
      }
    }
  }
  return { indexes, layers, prefetch };
}
