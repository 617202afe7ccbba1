// Owns `ztoc list` and `ztoc verify`: the SOCI indexes that refer to an image (with their prefetch artifacts and
// optimizations), and checking them (zTOCs, prefetch artifacts, and that they cover the files named).

import type { Command } from 'commander';
import type { Platform } from '../../oci/types.js';
import { addPrefetchFlags, addRegistryFlags, collectPlatform, openImageWith, prefetchPaths, type PrefetchFlags, type RegistryFlags } from '../flags.js';
import type { Terminal } from '../io.js';

interface ListFlags extends RegistryFlags, PrefetchFlags {
  platform?: Platform[];
  json?: boolean;
}

/** The annotation naming a prefetch artifact's layer (as soci/index.ts; not imported, to keep --help light). */
const IMAGE_LAYER_DIGEST = 'com.amazon.soci.image-layer-digest';

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
            ztocs: f.info.ztocs.map((z) => ({ layer: z.layerDigest, ztoc: z.ztoc.digest, size: z.ztoc.size, ...(z.disableXattrs ? { disableXattrs: true } : {}) })),
            // What an index shows of `--optimizations`: xattr when any zTOC descriptor says disable-xattrs.
            optimizations: f.info.ztocs.some((z) => z.disableXattrs) ? ['xattr'] : [],
            prefetch: f.info.prefetches.map((p) => ({ digest: p.digest, size: p.size, layer: p.annotations?.[IMAGE_LAYER_DIGEST] })),
          });
        }
      }
      if (flags.json) {
        term.json(rows);
        return;
      }
      if (rows.length === 0) term.log(`no SOCI index refers to ${opened.display}`);
      for (const r of rows) {
        const xattr = r.ztocs.filter((z) => z.disableXattrs).length;
        const extras = [
          ...(r.prefetch.length > 0 ? [`${r.prefetch.length} prefetch artifact${r.prefetch.length === 1 ? '' : 's'}`] : []),
          ...(xattr > 0 ? [`optimizations xattr (${xattr} of ${r.ztocs.length} layers disable-xattrs)`] : []),
        ];
        term.out(`${r.index}  ${r.version}  ${r.platform}  span ${r.spanSizes.join(',')}  ${r.ztocs.length} zTOCs${extras.map((e) => `  ${e}`).join('')}  (${r.via}; ${r.buildTool ?? 'unknown tool'})`);
        for (const p of r.prefetch) term.out(`    prefetch ${p.digest} for layer ${p.layer ?? '?'} (${p.size} bytes)`);
      }
    } finally {
      await opened.store.close();
    }
  });

  const verifyHelp = "check every zTOC of the image's SOCI indexes against its layer (span digests, checkpoints, TOC) and their prefetch artifacts";
  addPrefetchFlags(imageCommand(program, term, 'verify', verifyHelp), "check that the index's prefetch artifacts cover this file").action(async (image: string, flags: ListFlags) => {
    const paths = await prefetchPaths(flags);
    const opened = await openImageWith(image, flags, term);
    const { verifyImage } = await import('../../jobs/inspect.js');
    const progress = await term.progress(`verifying ${opened.display}`);
    try {
      const r = await verifyImage(opened.store, opened.reference, {
        ...(flags.platform ? { platforms: flags.platform } : {}),
        prefetchPaths: paths,
        onLayer: (v) => progress.update(`verified ${v.layer}`),
      });
      progress.stop();
      if (flags.json) term.json({ ok: true, ...r });
      else {
        for (const l of r.layers) {
          term.out(`ok  ${l.platform}  layer ${l.layer}  ztoc ${l.ztoc}  (${l.report.spans} spans, ${l.report.checkpoints} checkpoints, ${l.report.entries} entries)`);
        }
        for (const p of r.prefetch) {
          for (const a of p.artifacts) term.out(`ok  prefetch ${a.digest}  layer ${a.layer}  (${a.spans} span ranges)`);
          for (const c of p.covered) term.out(`ok  ${c.path}: spans ${c.spans.start}-${c.spans.end} of layer ${c.layer} are prefetched by ${p.index}`);
          for (const m of p.missed) term.out(`--  ${m.path}: needs no prefetch, ${m.reason}`);
        }
        const artifacts = r.prefetch.reduce((n, p) => n + p.artifacts.length, 0);
        term.out(`${r.layers.length} zTOCs${artifacts > 0 ? ` and ${artifacts} prefetch artifacts` : ''} in ${r.indexes} SOCI indexes match their layers`);
      }
    } finally {
      progress.stop();
      await opened.store.close();
    }
  });
}
