// Owns `ztoc index`: index an image in a registry or an OCI layout and push its SOCI index.

import type { Command } from 'commander';
import { ZtocError } from '../../errors.js';
import type { IndexEvent, IndexResult } from '../../jobs/index-image.js';
import { addIndexFlags, addRegistryFlags, addSociOptionFlags, countArg, indexSettings, openImageWith, sociOptions, type IndexFlags, type RegistryFlags, type SociOptionFlags } from '../flags.js';
import { formatBytes, rate, type Terminal } from '../io.js';

interface IndexCommandFlags extends IndexFlags, SociOptionFlags, RegistryFlags {
  concurrency?: number;
  tag?: string;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
}

function short(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

export function printIndexResult(term: Terminal, r: IndexResult): void {
  const { out } = term;
  out(`${r.image} (${r.digest}) — SOCI index ${r.version}`);
  for (const p of r.platforms) {
    const where = p.mechanism === 'tag' ? ' (referrers tag fallback)' : p.mechanism === 'api' ? ' (referrers API)' : p.mechanism === 'layout' ? ' (layout index.json)' : '';
    const head =
      p.status === 'exists'
        ? `already indexed: ${p.sociIndex?.digest} (use --force to rebuild)`
        : p.status === 'no-ztocs'
          ? p.skipped.every((x) => x.code === 'LAYER_BELOW_MIN_SIZE')
            ? 'no layer needed a zTOC (none is at least --min-layer-size): no SOCI index, nothing pushed'
            : 'no layer needed a zTOC: nothing pushed'
          : p.status === 'dry-run'
            ? `dry run: would push ${p.sociIndex?.digest}`
            : `pushed ${p.sociIndex?.digest}${where}`;
    out(`  ${p.platform}: ${head}`);
    for (const z of p.ztocs) {
      out(`    layer ${short(z.layer)} -> ztoc ${z.ztoc.digest} (${formatBytes(z.ztoc.size)}, ${z.spans} spans, ${z.files} files, ${z.seconds.toFixed(2)}s, ${rate(z.layerSize, z.seconds)})${z.disableXattrs ? ' disable-xattrs' : ''}`);
    }
    for (const s of p.skipped) out(`    layer ${short(s.layer)} skipped: ${s.reason}`);
    for (const f of p.prefetch?.files ?? []) out(`    prefetch ${f.path}: layer ${short(f.layer)} spans ${f.spans.start}-${f.spans.end}`);
    for (const m of p.prefetch?.missed ?? []) out(`    prefetch ${m.path}: not prefetched, ${m.reason}`);
    if (p.ztocs.length > 0) out(`    ${formatBytes(p.bytesRead)} read in ${p.seconds.toFixed(2)}s (${rate(p.bytesRead, p.seconds)})`);
  }
  if (r.v2Index) out(`  SOCI-enabled image index ${r.v2Index.descriptor.digest} -> tag ${r.v2Index.tag}`);
}

export function registerIndex(program: Command, term: Terminal): void {
  const cmd = program
    .command('index')
    .description('build zTOCs for an image and push its SOCI index next to it (the image is not changed)')
    .argument('<image>', 'registry reference (registry/repo:tag, repo@digest) or oci:DIR[:TAG|@DIGEST]');
  addIndexFlags(cmd, 'a new image index under --tag')
    .option('--concurrency <n>', 'layers built at once (default: cores)', countArg('--concurrency'))
    .option('--tag <tag>', 'v2: tag for the SOCI-enabled image index')
    .option('--dry-run', 'build everything, push nothing')
    .option('--json', 'print the result as JSON')
    .option('-q, --quiet', 'print only the SOCI index digests');
  addSociOptionFlags(cmd);
  addRegistryFlags(cmd, term).action(async (image: string, flags: IndexCommandFlags) => {
    if (flags.indexVersion === 'v2' && !flags.tag && !flags.dryRun) {
      throw new ZtocError('INVALID_ARGUMENT', '--index-version v2 needs --tag: the SOCI-enabled image index is pushed under a new tag');
    }
    const soci = await sociOptions(flags);
    const opened = await openImageWith(image, flags, term);
    const { indexImage } = await import('../../jobs/index-image.js');
    const progress = await term.progress(`resolving ${opened.display}`);
    const seen = new Map<string, { bytes: number; size: number; t0: number }>();
    const onEvent = (e: IndexEvent): void => {
      if (e.type === 'layer-start') seen.set(e.layer, { bytes: 0, size: e.size, t0: performance.now() });
      else if (e.type === 'layer-progress') {
        const s = seen.get(e.layer);
        if (s) s.bytes = e.bytes;
        progress.tick(() => `indexing ${[...seen].map(([d, v]) => `${short(d)} ${formatBytes(v.bytes)}/${formatBytes(v.size)} ${rate(v.bytes, (performance.now() - v.t0) / 1000)}`).join(' | ')}`);
      } else if (e.type === 'layer-done') seen.delete(e.layer);
      else if (e.type === 'push') progress.update(`pushing ${e.what} ${short(e.digest)}`);
      else if (e.type === 'exists' && !flags.json && !flags.quiet) progress.update(`${e.platform}: already indexed`);
    };
    try {
      const r = await indexImage(opened.store, opened.reference, {
        ...indexSettings(flags),
        ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
        ...(flags.tag !== undefined ? { tag: flags.tag } : {}),
        dryRun: Boolean(flags.dryRun),
        ...soci,
        onEvent,
      });
      progress.stop();
      if (flags.json) term.json(r);
      else if (flags.quiet) {
        for (const p of r.platforms) if (p.sociIndex) term.out(p.sociIndex.digest);
      } else printIndexResult(term, r);
      if (r.platforms.every((p) => p.status === 'no-ztocs') && !flags.quiet && !flags.json) {
        const small = r.platforms.every((p) => p.skipped.every((x) => x.code === 'LAYER_BELOW_MIN_SIZE'));
        term.log(`ztoc: note: ${small ? 'no layer reached --min-layer-size (--min-layer-size 0 indexes every layer)' : 'no layer could get a zTOC'}; SOCI would not create an index either`);
      }
    } finally {
      progress.stop();
      await opened.store.close();
    }
  });
}
