// Owns SOCI's build optimizations (`soci create --optimizations`): the names SOCI accepts and the xattr
// decision, made from a zTOC's TOC entries exactly as SOCI's `shouldDisableXattrs` makes it
// (soci-format.md §5.1: `com.amazon.soci.disable-xattrs`).

import { ZtocError } from '../errors.js';
import type { TocEntry } from '../tar/types.js';

/** The optimizations SOCI knows (soci `Optimizations`); `xattr` is the only one. */
export const OPTIMIZATIONS = ['xattr'] as const;
export type Optimization = (typeof OPTIMIZATIONS)[number];

/** The PAX key prefix the snapshotter turns into Linux xattrs (SOCI `ztoc/tar.go`, `Xattrs`). */
const SCHILY_XATTR_PREFIX = 'SCHILY.xattr.';
/** An opaque-directory whiteout: the snapshotter sets the overlay `trusted.overlay.opaque` xattr for it. */
const WHITEOUT_OPAQUE = '.wh..wh..opq';

/** Parses `--optimizations` values (SOCI `ParseOptimization`): each must be a known name; duplicates collapse. */
export function parseOptimizations(values: readonly string[]): Optimization[] {
  const out: Optimization[] = [];
  for (const raw of values) {
    for (const v of raw.split(',')) {
      const name = v.trim();
      if (name === '') continue;
      const known = OPTIMIZATIONS.find((o) => o === name);
      if (known === undefined) {
        throw new ZtocError('INVALID_ARGUMENT', `optimization ${name} is not a valid optimization [${OPTIMIZATIONS.join(' ')}]`);
      }
      if (!out.includes(known)) out.push(known);
    }
  }
  return out;
}

/**
 * True when the snapshotter may skip xattr lookups for the layer: no entry carries a `SCHILY.xattr.*` PAX
 * record and no entry name ends in `.wh..wh..opq`. Like SOCI, the name test is a raw suffix test on the
 * stored name (no cleaning), and a key that is exactly `SCHILY.xattr.` counts as an xattr.
 */
export function shouldDisableXattrs(entries: readonly TocEntry[]): boolean {
  for (const e of entries) {
    if (e.name.endsWith(WHITEOUT_OPAQUE)) return false;
    for (const [key] of e.xattrs) if (key.startsWith(SCHILY_XATTR_PREFIX)) return false;
  }
  return true;
}
