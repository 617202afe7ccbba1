// Owns the overlay rules of OCI image layers (image-spec layer.md "Whiteouts"), one layer at a time: whether a
// layer holds a path, where the bytes of that file are (a hardlink's target), and whether one of the layer's
// whiteouts hides the path in every layer below. Callers walk layers from the top down and stop at the first
// answer, so the topmost layer wins, as in the overlay the snapshotter mounts.

import type { TocEntry } from '../tar/types.js';
import { cleanName } from '../ztoc/extract.js';

/** What one layer says about a path: it holds it (`entry`, with `data` the entry whose bytes it has), hides it, or neither. */
export type LayerLookup = { kind: 'found'; entry: TocEntry; data: TocEntry } | { kind: 'hidden' } | { kind: 'absent' };

const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_OPAQUE = '.wh..wh..opq';

/** True when a whiteout among `entries` hides `want` (a cleaned path) in the layers below. */
export function whiteoutHides(entries: readonly TocEntry[], want: string): boolean {
  // `dir/.wh.name` hides dir/name (and below); `dir/.wh..wh..opq` hides everything below dir.
  const parts = want.split('/');
  for (const e of entries) {
    const n = cleanName(e.name);
    const slash = n.lastIndexOf('/');
    const dir = slash < 0 ? '' : n.slice(0, slash);
    const base = n.slice(slash + 1);
    if (!base.startsWith(WHITEOUT_PREFIX)) continue;
    if (base === WHITEOUT_OPAQUE) {
      if (dir === '' || want.startsWith(`${dir}/`)) return true;
      continue;
    }
    const hidden = dir === '' ? base.slice(WHITEOUT_PREFIX.length) : `${dir}/${base.slice(WHITEOUT_PREFIX.length)}`;
    for (let i = 1; i <= parts.length; i++) if (parts.slice(0, i).join('/') === hidden) return true;
  }
  return false;
}

/**
 * Looks `want` (a cleaned path, a byte string) up in one layer: the last entry with that cleaned name wins, as in
 * tar extraction; a hardlink's bytes are those of its target's regular entry in the same layer.
 */
export function lookupInLayer(entries: readonly TocEntry[], want: string): LayerLookup {
  let hit: TocEntry | undefined;
  for (const e of entries) if (cleanName(e.name) === want) hit = e;
  if (hit !== undefined) {
    let data = hit;
    if (hit.type === 'hardlink') {
      const target = cleanName(hit.linkname);
      data = entries.find((e) => cleanName(e.name) === target && e.type === 'reg') ?? hit;
    }
    return { kind: 'found', entry: hit, data };
  }
  return whiteoutHides(entries, want) ? { kind: 'hidden' } : { kind: 'absent' };
}
