// Owns `ztoc list` and `ztoc verify`: the SOCI indexes that refer to an image, and checking them.

import type { Command } from 'commander';
import type { Platform } from '../../oci/types.js';
import { addRegistryFlags, collectPlatform, openImageWith, type RegistryFlags } from '../flags.js';
import type { Terminal } from '../io.js';

interface ListFlags extends RegistryFlags {
  platform?: Platform[];
  json?: boolean;
}

/** `list` and `verify` take the same image argument and flags. */
function imageCommand(program: Command, term: Terminal, name: string, description: string): Command {
  const cmd = program
    .command(name)
    .description(description)
    .argument('<image>', 'registry reference or oci:DIR[:TAG|@DIGEST]')
    .option('--platform <os/arch[/variant]>', 'only this platform (repeatable)', collectPlatform)
    .option('--json', 'print JSON');
  return addRegistryFlags(cmd, term);
}

export function registerList(program: Command, term: Terminal): void {
  imageCommand(program, term, 'list', 'list the SOCI indexes that refer to an image').action(async (image: string, flags: ListFlags) => {
    const opened = await openImageWith(image, flags, term);
    try {
      const [{ findSociIndexes }, { platformManifests }, { formatPlatform }] = await Promise.all([
        import('../../jobs/inspect.js'),
        import('../../jobs/platforms.js'),
        import('../../oci/platform.js'),
      ]);
      const root = await opened.store.resolve(opened.reference ?? 'latest');
      const rows = [];
      for (const pm of await platformManifests(opened.store, root, flags.platform)) {
        for (const f of await findSociIndexes(opened.store, pm)) {
          rows.push({
            platform: formatPlatform(pm.platform),
            manifest: pm.descriptor.digest,
            index: f.descriptor.digest,
            version: f.info.version,
            via: f.via,
            spanSizes: f.info.spanSizes,
            buildTool: f.info.buildToolId,
            ztocs: f.info.ztocs.map((z) => ({ layer: z.layerDigest, ztoc: z.ztoc.digest, size: z.ztoc.size })),
          });
        }
      }
      if (flags.json) {
        term.json(rows);
        return;
      }
      if (rows.length === 0) term.log(`no SOCI index refers to ${opened.display}`);
      for (const r of rows) {
        term.out(`${r.index}  ${r.version}  ${r.platform}  span ${r.spanSizes.join(',')}  ${r.ztocs.length} zTOCs  (${r.via}; ${r.buildTool ?? 'unknown tool'})`);
      }
    } finally {
      await opened.store.close();
    }
  });

  const verifyHelp = "check every zTOC of the image's SOCI indexes against its layer (span digests, checkpoints, TOC)";
  imageCommand(program, term, 'verify', verifyHelp).action(async (image: string, flags: ListFlags) => {
    const opened = await openImageWith(image, flags, term);
    const { verifyImage } = await import('../../jobs/inspect.js');
    const progress = await term.progress(`verifying ${opened.display}`);
    try {
      const r = await verifyImage(opened.store, opened.reference, {
        ...(flags.platform ? { platforms: flags.platform } : {}),
        onLayer: (v) => progress.update(`verified ${v.layer}`),
      });
      progress.stop();
      if (flags.json) term.json({ ok: true, ...r });
      else {
        for (const l of r.layers) {
          term.out(`ok  ${l.platform}  layer ${l.layer}  ztoc ${l.ztoc}  (${l.report.spans} spans, ${l.report.checkpoints} checkpoints, ${l.report.entries} entries)`);
        }
        term.out(`${r.layers.length} zTOCs in ${r.indexes} SOCI indexes match their layers`);
      }
    } finally {
      progress.stop();
      await opened.store.close();
    }
  });
}
