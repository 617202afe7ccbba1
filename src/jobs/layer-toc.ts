// Owns reading the TOC of a layer that has no zTOC (it is below --min-layer-size, or was skipped), in one streaming
// pass: the prefetch planner and `verify` need the whole overlay, small layers included.

import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZtocError } from '../errors.js';
import type { ImageStore } from '../image/store.js';
import { layerCompression, type Descriptor } from '../oci/types.js';
import { TarScanner } from '../tar/scanner.js';
import type { TocEntry } from '../tar/types.js';

/** The entries of a gzip or plain tar layer. Other media types raise LAYER_UNSUPPORTED. */
export async function scanLayerToc(store: ImageStore, layer: Descriptor): Promise<TocEntry[]> {
  const kind = layerCompression(layer.mediaType);
  if (kind !== 'gzip' && kind !== 'tar') throw new ZtocError('LAYER_UNSUPPORTED', `layer ${layer.digest} is ${layer.mediaType}`, { layer: layer.digest });
  const scanner = new TarScanner();
  const sink = async (source: AsyncIterable<Uint8Array>): Promise<void> => {
    for await (const c of source) scanner.push(c);
  };
  if (kind === 'gzip') await pipeline(Readable.from(store.openBlob(layer)), createGunzip(), sink);
  else await sink(store.openBlob(layer));
  return scanner.end().entries;
}

/** scanLayerToc, with undefined for a layer whose content is not a readable tar; store failures still throw. */
export async function tryScanLayerToc(store: ImageStore, layer: Descriptor): Promise<TocEntry[] | undefined> {
  try {
    return await scanLayerToc(store, layer);
  } catch (err) {
    if (err instanceof ZtocError && /^(LAYER_|TAR_|GZIP_)/.test(err.code)) return undefined;
    throw err;
  }
}
