// Owns `ztoc list` and `ztoc verify`: the SOCI indexes that refer to an image, and checking them.

import type { Command } from 'commander';
import { openImage } from '../../image/open.js';
import { findSociIndexes, verifyImage } from '../../jobs/inspect.js';
import { platformManifests } from '../../jobs/platforms.js';
import { formatPlatform } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';
import { log, out, printJson, Progress } from '../io.js';
import { addRegistryFlags, collectPlatform, registryOptions, type RegistryFlags } from '../registry-flags.js';

interface ListFlags extends RegistryFlags {
  platform?: Platform[];
  json?: boolean;
}

export function registerList(program: Command): void {
  const list = program
    .command('list')
    .description('list the SOCI indexes that refer to an image')
    .argument('<image>', 'registry reference or oci:DIR[:TAG|@DIGEST]')
    .option('--platform <os/arch[/variant]>', 'only this platform (repeatable)', collectPlatform)
    .option('--json', 'print JSON');
  addRegistryFlags(list).action(async (image: string, flags: ListFlags) => {
    const opened = await openImage(image, await registryOptions(flags));
    try {
      const root = await opened.store.resolve(opened.reference ?? 'latest');
      const rows = [];
      for (const pm of await platformManifests(opened.store, root, flags.platform)) {
        for (const f of await findSociIndexes(opened.store, pm)) {
          rows.push({
            platform: pm.platform ? formatPlatform(pm.platform) : 'default',
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
        printJson(rows);
        return;
      }
      if (rows.length === 0) log(`no SOCI index refers to ${opened.display}`);
      for (const r of rows) {
        out(`${r.index}  ${r.version}  ${r.platform}  span ${r.spanSizes.join(',')}  ${r.ztocs.length} zTOCs  (${r.via}; ${r.buildTool ?? 'unknown tool'})`);
      }
    } finally {
      await opened.store.close();
    }
  });

  const verify = program
    .command('verify')
    .description("check every zTOC of the image's SOCI indexes against its layer (span digests, checkpoints, TOC)")
    .argument('<image>', 'registry reference or oci:DIR[:TAG|@DIGEST]')
    .option('--platform <os/arch[/variant]>', 'only this platform (repeatable)', collectPlatform)
    .option('--json', 'print JSON');
  addRegistryFlags(verify).action(async (image: string, flags: ListFlags) => {
    const opened = await openImage(image, await registryOptions(flags));
    const progress = new Progress(`verifying ${opened.display}`);
    try {
      const r = await verifyImage(opened.store, opened.reference, {
        ...(flags.platform ? { platforms: flags.platform } : {}),
        onLayer: (v) => progress.update(`verified ${v.layer}`),
      });
      progress.stop();
      if (flags.json) printJson({ ok: true, ...r });
      else {
        for (const l of r.layers) {
          out(`ok  ${l.platform}  layer ${l.layer}  ztoc ${l.ztoc}  (${l.report.spans} spans, ${l.report.checkpoints} checkpoints, ${l.report.entries} entries)`);
        }
        out(`${r.layers.length} zTOCs in ${r.indexes} SOCI indexes match their layers`);
      }
    } finally {
      progress.stop();
      await opened.store.close();
    }
  });
}
