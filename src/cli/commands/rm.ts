// Owns `ztoc rm`: remove SOCI indexes that refer to an image (`--index DIGEST`, repeatable, or `--all`), keeping
// every other referrer, and say what happened to each (removed, refused by the registry, a v2 index left alone).

import type { Command } from 'commander';
import type { RemovedIndex } from '../../jobs/remove.js';
import type { Platform } from '../../oci/types.js';
import { addRegistryFlags, collect, collectPlatform, openImageWith, type RegistryFlags } from '../flags.js';
import type { Terminal } from '../io.js';

interface RmFlags extends RegistryFlags {
  index?: string[];
  all?: boolean;
  platform?: Platform[];
  dryRun?: boolean;
  json?: boolean;
}

const WHERE: Record<string, string> = { tag: 'referrers tag fallback', api: 'referrers API', layout: 'layout index.json' };

function line(r: RemovedIndex): string {
  const head = `${r.index}  ${r.version}  ${r.platform}`;
  switch (r.outcome) {
    case 'removed':
      return `removed ${head} (${WHERE[r.mechanism ?? ''] ?? r.mechanism}${r.manifestState === 'deleted' ? '; manifest deleted' : ''})${r.note ? `: ${r.note}` : ''}`;
    case 'would-remove':
      return `would remove ${head}`;
    case 'not-removed':
      return `NOT removed ${head}: ${r.note ?? 'the registry kept it'}`;
    case 'kept-v2':
      return `kept ${head}: ${r.note ?? ''}`;
  }
}

export function registerRm(program: Command, term: Terminal): void {
  const cmd = program
    .command('rm')
    .description('remove SOCI indexes that refer to an image; every other referrer stays')
    .argument('<image>', 'registry reference or oci:DIR[:TAG|@DIGEST]')
    .option('--index <digest>', 'SOCI index to remove (repeatable)', collect)
    .option('--all', 'remove every SOCI index (v1) of the image')
    .option('--platform <os/arch[/variant]>', 'only this platform (repeatable; default: all)', collectPlatform)
    .option('--dry-run', 'show what would be removed')
    .option('--json', 'print JSON');
  addRegistryFlags(cmd, term).action(async (image: string, flags: RmFlags) => {
    const opened = await openImageWith(image, flags, term);
    const { removeSociIndexes } = await import('../../jobs/remove.js');
    try {
      const r = await removeSociIndexes(opened.store, opened.reference, {
        ...(flags.index ? { indexes: flags.index } : {}),
        all: Boolean(flags.all),
        ...(flags.platform ? { platforms: flags.platform } : {}),
        dryRun: Boolean(flags.dryRun),
      });
      if (flags.json) term.json(r);
      else {
        for (const x of r.indexes) term.out(line(x));
        for (const d of r.notFound) term.out(`not found ${d}: no SOCI index with that digest refers to ${opened.display} (already removed?)`);
        if (r.indexes.length === 0 && r.notFound.length === 0) term.log(`no SOCI index refers to ${opened.display}: nothing to remove`);
      }
      const refused = r.indexes.filter((x) => x.outcome === 'not-removed');
      if (refused.length > 0) {
        // A plain error with a code: the CLI prints it and exits 1 (not a usage error).
        throw Object.assign(new Error(`rm: ${refused.length} SOCI index${refused.length === 1 ? ' was' : 'es were'} not removed (see above)`), { code: 'RM_INCOMPLETE' });
      }
    } finally {
      await opened.store.close();
    }
  });
}
