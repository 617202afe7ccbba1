// Owns `ztoc list` and `ztoc verify`: the SOCI indexes that refer to an image (with their prefetch artifacts and
// optimizations), and checking them (zTOCs, prefetch artifacts, and that they cover the files named).

import type { Command } from 'commander';
import { openImage } from '../../image/open.js';
import { findSociIndexes, verifyImage } from '../../jobs/inspect.js';
import { platformManifests } from '../../jobs/platforms.js';
import { formatPlatform } from '../../oci/platform.js';
import type { Platform } from '../../oci/types.js';
import { ANNOTATION_IMAGE_LAYER_DIGEST } from '../../soci/index.js';
import { prefetchPathsFrom } from '../../soci/prefetch.js';
import { collectList, log, out, printJson, Progress, readPrefetchJson } from '../io.js';
import { addRegistryFlags, collectPlatform, registryOptions, type RegistryFlags } from '../registry-flags.js';

interface ListFlags extends RegistryFlags {
  platform?: Platform[];
  json?: boolean;
  prefetchFile?: string[];
  prefetchFilesJson?: string;
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
            ztocs: f.info.ztocs.map((z) => ({ layer: z.layerDigest, ztoc: z.ztoc.digest, size: z.ztoc.size, ...(z.disableXattrs ? { disableXattrs: true } : {}) })),
            // What an index shows of `--optimizations`: xattr when any zTOC descriptor says disable-xattrs.
            optimizations: f.info.ztocs.some((z) => z.disableXattrs) ? ['xattr'] : [],
            prefetch: f.info.prefetches.map((p) => ({ digest: p.digest, size: p.size, layer: p.annotations?.[ANNOTATION_IMAGE_LAYER_DIGEST] })),
          });
        }
      }
      if (flags.json) {
        printJson(rows);
        return;
      }
      if (rows.length === 0) log(`no SOCI index refers to ${opened.display}`);
      for (const r of rows) {
        const xattr = r.ztocs.filter((z) => z.disableXattrs).length;
        const extras = [
          ...(r.prefetch.length > 0 ? [`${r.prefetch.length} prefetch artifact${r.prefetch.length === 1 ? '' : 's'}`] : []),
          ...(xattr > 0 ? [`optimizations xattr (${xattr} of ${r.ztocs.length} layers disable-xattrs)`] : []),
        ];
        out(`${r.index}  ${r.version}  ${r.platform}  span ${r.spanSizes.join(',')}  ${r.ztocs.length} zTOCs${extras.map((e) => `  ${e}`).join('')}  (${r.via}; ${r.buildTool ?? 'unknown tool'})`);
        for (const p of r.prefetch) out(`    prefetch ${p.digest} for layer ${p.layer ?? '?'} (${p.size} bytes)`);
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
    .option('--prefetch-file <path>', "check that the index's prefetch artifacts cover this file (repeatable)", collectList)
    .option('--prefetch-files-json <file>', 'JSON array of files to check like --prefetch-file')
    .option('--json', 'print JSON');
  addRegistryFlags(verify).action(async (image: string, flags: ListFlags) => {
    const opened = await openImage(image, await registryOptions(flags));
    const progress = new Progress(`verifying ${opened.display}`);
    try {
      const r = await verifyImage(opened.store, opened.reference, {
        ...(flags.platform ? { platforms: flags.platform } : {}),
        prefetchPaths: prefetchPathsFrom(flags.prefetchFile ?? [], flags.prefetchFilesJson === undefined ? undefined : readPrefetchJson(flags.prefetchFilesJson), flags.prefetchFilesJson),
        onLayer: (v) => progress.update(`verified ${v.layer}`),
      });
      progress.stop();
      if (flags.json) printJson({ ok: true, ...r });
      else {
        for (const l of r.layers) {
          out(`ok  ${l.platform}  layer ${l.layer}  ztoc ${l.ztoc}  (${l.report.spans} spans, ${l.report.checkpoints} checkpoints, ${l.report.entries} entries)`);
        }
        for (const p of r.prefetch) {
          for (const a of p.artifacts) out(`ok  prefetch ${a.digest}  layer ${a.layer}  (${a.spans} span ranges)`);
          for (const c of p.covered) out(`ok  ${c.path}: spans ${c.spans.start}-${c.spans.end} of layer ${c.layer} are prefetched by ${p.index}`);
          for (const m of p.missed) out(`--  ${m.path}: needs no prefetch, ${m.reason}`);
        }
        const artifacts = r.prefetch.reduce((n, p) => n + p.artifacts.length, 0);
        out(`${r.layers.length} zTOCs${artifacts > 0 ? ` and ${artifacts} prefetch artifacts` : ''} in ${r.indexes} SOCI indexes match their layers`);
      }
    } finally {
      progress.stop();
      await opened.store.close();
    }
  });
}
