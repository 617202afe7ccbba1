// Owns `ztoc index`: index an image in a registry or an OCI layout and push its SOCI index.

import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { openImage } from '../../image/open.js';
import { DEFAULT_MIN_LAYER_SIZE, indexImage, type IndexEvent, type IndexResult } from '../../jobs/index-image.js';
import { DEFAULT_BUILD_TOOL_ID } from '../../ztoc/build.js';
import { DEFAULT_SPAN_SIZE } from '../../ztoc/model.js';
import { ZtocError } from '../../errors.js';
import type { EngineChoice } from '../../inflate/native.js';
import type { Platform } from '../../oci/types.js';
import { formatBytes, log, out, parseSize, printJson, Progress, rate } from '../io.js';
import { addRegistryFlags, collectPlatform, registryOptions, type RegistryFlags } from '../registry-flags.js';

interface IndexFlags extends RegistryFlags {
  platform?: Platform[];
  allPlatforms?: boolean;
  spanSize: string;
  minLayerSize: string;
  concurrency?: string;
  indexVersion: string;
  tag?: string;
  force?: boolean;
  dryRun?: boolean;
  buildToolId: string;
  engine: string;
  json?: boolean;
  quiet?: boolean;
}

function short(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

export function printIndexResult(r: IndexResult): void {
  out(`${r.image} (${r.digest}) — SOCI index ${r.version}`);
  for (const p of r.platforms) {
    const where = p.mechanism === 'tag' ? ' (referrers tag fallback)' : p.mechanism === 'api' ? ' (referrers API)' : p.mechanism === 'layout' ? ' (layout index.json)' : '';
    const head =
      p.status === 'exists'
        ? `already indexed: ${p.sociIndex?.digest} (use --force to rebuild)`
        : p.status === 'no-ztocs'
          ? 'no layer needed a zTOC: nothing pushed'
          : p.status === 'dry-run'
            ? `dry run: would push ${p.sociIndex?.digest}`
            : `pushed ${p.sociIndex?.digest}${where}`;
    out(`  ${p.platform}: ${head}`);
    for (const z of p.ztocs) {
      out(`    layer ${short(z.layer)} -> ztoc ${z.ztoc.digest} (${formatBytes(z.ztoc.size)}, ${z.spans} spans, ${z.files} files, ${z.seconds.toFixed(2)}s, ${rate(z.layerSize, z.seconds)})`);
    }
    for (const s of p.skipped) out(`    layer ${short(s.layer)} skipped: ${s.reason}`);
    if (p.ztocs.length > 0) out(`    ${formatBytes(p.bytesRead)} read in ${p.seconds.toFixed(2)}s (${rate(p.bytesRead, p.seconds)})`);
  }
  if (r.v2Index) out(`  SOCI-enabled image index ${r.v2Index.descriptor.digest} -> tag ${r.v2Index.tag}`);
}

export function registerIndex(program: Command): void {
  const cmd = program
    .command('index')
    .description('build zTOCs for an image and push its SOCI index next to it (the image is not changed)')
    .argument('<image>', 'registry reference (registry/repo:tag, repo@digest) or oci:DIR[:TAG|@DIGEST]')
    .option('--platform <os/arch[/variant]>', 'platform to index (repeatable; default: all but attestations)', collectPlatform)
    .option('--all-platforms', 'index every platform of an image index')
    .option('--span-size <bytes>', 'span size', String(DEFAULT_SPAN_SIZE))
    .option('--min-layer-size <bytes>', 'skip layers smaller than this', String(DEFAULT_MIN_LAYER_SIZE))
    .option('--concurrency <n>', 'layers built at once (default: cores)')
    .option('--index-version <v1|v2>', 'v1: a referrer of each manifest; v2: a new image index under --tag', 'v1')
    .option('--tag <tag>', 'v2: tag for the SOCI-enabled image index')
    .option('--force', 'rebuild even when a SOCI index with the same span size exists')
    .option('--dry-run', 'build everything, push nothing')
    .option('--build-tool-id <id>', 'build tool identifier', DEFAULT_BUILD_TOOL_ID)
    .option('--engine <auto|fast|zlib>', 'inflate engine (env ZTOC_ENGINE)', process.env.ZTOC_ENGINE ?? 'auto')
    .option('--json', 'print the result as JSON')
    .option('-q, --quiet', 'print only the SOCI index digests');
  addRegistryFlags(cmd).action(async (image: string, flags: IndexFlags) => {
    if (flags.indexVersion !== 'v1' && flags.indexVersion !== 'v2') {
      throw new ZtocError('INVALID_ARGUMENT', `--index-version must be v1 or v2, not ${flags.indexVersion}`);
    }
    const concurrency = flags.concurrency === undefined ? availableParallelism() : Number(flags.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new ZtocError('INVALID_ARGUMENT', `--concurrency must be a positive integer`);
    const opened = await openImage(image, await registryOptions(flags));
    const progress = new Progress(`resolving ${opened.display}`);
    const seen = new Map<string, { bytes: number; size: number; t0: number }>();
    const onEvent = (e: IndexEvent): void => {
      if (e.type === 'layer-start') seen.set(e.layer, { bytes: 0, size: e.size, t0: performance.now() });
      else if (e.type === 'layer-progress') {
        const s = seen.get(e.layer);
        if (s) s.bytes = e.bytes;
        const parts = [...seen].map(([d, v]) => `${short(d)} ${formatBytes(v.bytes)}/${formatBytes(v.size)} ${rate(v.bytes, (performance.now() - v.t0) / 1000)}`);
        progress.update(`indexing ${parts.join(' | ')}`);
      } else if (e.type === 'layer-done') seen.delete(e.layer);
      else if (e.type === 'push') progress.update(`pushing ${e.what} ${short(e.digest)}`);
      else if (e.type === 'exists' && !flags.json && !flags.quiet) progress.update(`${e.platform}: already indexed`);
    };
    try {
      const r = await indexImage(opened.store, opened.reference, {
        platforms: flags.platform ?? (flags.allPlatforms ? 'all' : undefined),
        spanSize: parseSize(flags.spanSize),
        minLayerSize: parseSize(flags.minLayerSize),
        concurrency,
        indexVersion: flags.indexVersion,
        ...(flags.tag !== undefined ? { tag: flags.tag } : {}),
        force: Boolean(flags.force),
        dryRun: Boolean(flags.dryRun),
        buildToolId: flags.buildToolId,
        engine: flags.engine as EngineChoice,
        onEvent,
      });
      progress.stop();
      if (flags.json) printJson(r);
      else if (flags.quiet) {
        for (const p of r.platforms) if (p.sociIndex) out(p.sociIndex.digest);
      } else printIndexResult(r);
      if (r.platforms.every((p) => p.status === 'no-ztocs') && !flags.quiet && !flags.json) {
        log('ztoc: note: no layer reached --min-layer-size; SOCI would not create an index either');
      }
    } finally {
      progress.stop();
      await opened.store.close();
    }
  });
}
