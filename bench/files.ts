// Owns walking real files for the benchmarks' generated layers: regular files in name order,
// symlinks skipped (/usr/bin/X11 points at itself), unreadable directories ignored.

import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Calls `visit(path, size)` for each regular file under `dirs` until it returns false. */
export function walkFiles(dirs: string[], visit: (path: string, size: number) => boolean, maxDepth = 16): void {
  let more = true;
  const walk = (d: string, depth: number): void => {
    if (depth > maxDepth) return;
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (!more) return;
      const p = join(d, n);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(p, depth + 1);
      else if (st?.isFile()) more = visit(p, st.size);
    }
  };
  for (const d of dirs) if (more) walk(d, 0);
}
