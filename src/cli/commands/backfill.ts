// Owns `ztoc backfill REGISTRY`: the flags of a registry-wide batch (selection, sharding, state, cache, manners,
// reporting) turned into one backfill() call; a live progress line on a TTY, one line per image on stderr otherwise,
// the summary table (or --json) on stdout, and exit 1 when any image failed.

import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { ZtocError } from '../../errors.js';
import type { BackfillReport, ImageRecord } from '../../jobs/backfill.js';
import { DEFAULT_DISK_CACHE_BYTES, DEFAULT_MEMORY_CACHE_BYTES, DEFAULT_V2_TAG_SUFFIX } from '../../jobs/defaults.js';
import { addIndexFlags, addRegistryFlags, addSociOptionFlags, collect, countArg, indexSettings, registryOptions, sizeArg, sociOptions, type IndexFlags, type RegistryFlags, type SociOptionFlags } from '../flags.js';
import { formatBytes, type Terminal } from '../io.js';

interface BackfillFlags extends IndexFlags, SociOptionFlags, RegistryFlags {
  repos?: string;
  match?: string[];
  shard?: string;
  state?: string;
  report?: string;
  cacheDir?: string;
  cacheMaxBytes?: number;
  concurrency?: number;
  rps?: string;
  keepGoing?: boolean;
  failFast?: boolean;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  tagSuffix: string;
  prune?: boolean;
}

/** A registry name only: `host[:port]` with a dot, a port, or `localhost` (so it can't be mistaken for a repository). */
function checkRegistry(r: string): string {
  const s = r.replace(/^docker:\/\//, '').replace(/\/+$/, '');
  if (s.includes('/') || !(s.includes('.') || s.includes(':') || s === 'localhost')) {
    throw new ZtocError('INVALID_ARGUMENT', `REGISTRY must be a registry host such as registry.example.com or 127.0.0.1:5000, not ${JSON.stringify(r)} (select repositories with --repos or --match)`);
  }
  return s === 'index.docker.io' || s === 'registry-1.docker.io' ? 'docker.io' : s;
}

const OUTCOME_ORDER = ['indexed', 'exists', 'no-ztocs', 'no-platform', 'not-an-image', 'state', 'dry-run', 'not-run', 'failed'] as const;
const OUTCOME_TEXT: Record<(typeof OUTCOME_ORDER)[number], string> = {
  indexed: 'SOCI index pushed',
  exists: 'already indexed (same settings)',
  'no-ztocs': 'no layer needs a zTOC',
  'no-platform': 'no matching platform',
  'not-an-image': 'not an image / tag gone',
  state: 'finished in an earlier run (--state)',
  'dry-run': 'would be indexed (--dry-run)',
  'not-run': 'not started (stopped early)',
  failed: 'failed',
};

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function lpad(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

export function printBackfillSummary(term: Terminal, r: BackfillReport): void {
  const { out } = term;
  const t = r.totals;
  const shard = r.shard ? ` shard ${r.shard.index}/${r.shard.count}:` : '';
  out(
    `backfill ${r.registry}:${shard} ${r.selection.inShard} image${r.selection.inShard === 1 ? '' : 's'}` +
      `${r.shard ? ` of ${r.selection.images}` : ''} from ${r.selection.repositories} repositories (${r.selection.tags} tags)`,
  );
  const rows: string[][] = [['outcome', 'images', 'zTOCs', 'read', 'seconds', '']];
  for (const o of OUTCOME_ORDER) {
    const recs = r.images.filter((i) => i.outcome === o);
    if (recs.length === 0) continue;
    rows.push([
      o,
      String(recs.length),
      String(recs.reduce((n, i) => n + i.ztocs, 0)),
      formatBytes(recs.reduce((n, i) => n + i.bytes, 0)),
      recs.reduce((n, i) => n + i.seconds, 0).toFixed(1),
      OUTCOME_TEXT[o],
    ]);
  }
  rows.push(['total', String(t.images), String(t.ztocs), formatBytes(t.bytesRead), t.seconds.toFixed(1), 'wall clock']);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const [i, row] of rows.entries()) {
    out(`  ${row.map((cell, c) => (c === 0 || c === row.length - 1 ? pad(cell, widths[c]!) : lpad(cell, widths[c]!))).join('  ').trimEnd()}`);
    if (i === 0 || i === rows.length - 2) out(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  }
  out(
    `  zTOCs: ${t.ztocsBuilt} built, ${t.ztocsReused} reused from the run's cache; blobs: ${t.blobs.pushed} uploaded, ${t.blobs.mounted} mounted, ${t.blobs.exists} already there`,
  );
  out(`  ${formatBytes(t.bytesRead)} read in ${t.seconds.toFixed(1)} s: ${t.mbPerSecond.toFixed(1)} MB/s, ${t.imagesPerMinute.toFixed(1)} images/min`);
  const failed = r.images.filter((i) => i.status === 'failed');
  if (failed.length > 0) {
    out(`failed (${failed.length}):`);
    for (const f of failed) out(`  ${f.ref}${f.digest ? ` (${f.digest})` : ''}: ${f.error ?? 'unknown error'}`);
  }
  if (r.stopped) out('stopped early: some images were not started (see not-run)');
}

function imageLine(rec: ImageRecord, finished: number, total: number): string {
  const what =
    rec.status === 'failed'
      ? `FAILED ${rec.error ?? ''}`
      : rec.outcome === 'indexed'
        ? `indexed: ${plural(rec.ztocs, 'zTOC')} (${rec.ztocsBuilt} built, ${rec.ztocsReused} reused), ${formatBytes(rec.bytes)} read`
        : `${rec.outcome}: ${rec.reason ?? ''}`;
  return `[${finished}/${total}] ${rec.ref} ${rec.digest.replace(/^sha256:/, '').slice(0, 12)} ${rec.seconds.toFixed(1)}s ${what}`;
}

export function registerBackfill(program: Command, term: Terminal): void {
  const cmd = program
    .command('backfill')
    .description('index every selected image of a registry: resumable (--state), shardable (--shard), idempotent')
    .argument('<registry>', 'registry host, e.g. registry.example.com or 127.0.0.1:5000')
    .option('--repos <file>', 'repositories to index, one `repo`, `repo:tag` or `repo@digest` a line (# comments); default: the catalog')
    .option('--match <glob>', 'select `repo[:tag]` by glob (repeatable; * and ? stay within a path segment, ** crosses /; !glob excludes)', collect)
    .option('--shard <I/N|auto>', 'take the stable share I of N (hash of repo@digest); auto: JOB_COMPLETION_INDEX / JOB_COMPLETIONS')
    .option('--state <file>', 'JSONL journal: finished images are not redone on restart, failed ones are retried')
    .option('--report <file>', 'write the per-image report as JSON')
    .option('--cache-dir <dir>', 'keep built zTOCs under this directory (default: in memory)')
    .option('--cache-max-bytes <n>', `bound of the zTOC cache, least recently used evicted (default ${formatBytes(DEFAULT_MEMORY_CACHE_BYTES)} in memory, ${formatBytes(DEFAULT_DISK_CACHE_BYTES)} on disk)`, sizeArg)
    .option('--concurrency <n>', 'images at once (default: 2 × cores)', countArg('--concurrency'))
    .option('--rps <n>', 'registry requests per second over all workers (default: unlimited)')
    .option('--keep-going', 'record failures and go on (the default)')
    .option('--fail-fast', 'stop starting new images after the first failure')
    .option('--dry-run', 'list what would be indexed; build and push nothing')
    .option('--json', 'print the summary as JSON')
    .option('-q, --quiet', 'no per-image lines on stderr');
  addIndexFlags(cmd, 'a new image index under <tag><suffix>')
    .option('--tag-suffix <suffix>', 'v2: the SOCI-enabled index of repo:tag is pushed as repo:<tag><suffix>', DEFAULT_V2_TAG_SUFFIX)
    .option('--prune', "v1: remove each image's other SOCI indexes whose span size or build settings differ from this run's");
  addSociOptionFlags(cmd);
  addRegistryFlags(cmd, term).action(async (registryArg: string, flags: BackfillFlags) => {
    const registry = checkRegistry(registryArg);
    if (flags.keepGoing && flags.failFast) throw new ZtocError('INVALID_ARGUMENT', '--keep-going and --fail-fast exclude each other');
    const rps = flags.rps === undefined ? 0 : Number(flags.rps);
    if (!(rps >= 0) || !Number.isFinite(rps)) throw new ZtocError('INVALID_ARGUMENT', `--rps must be a non-negative number`);
    const soci = await sociOptions(flags);
    const [{ backfill, backfillFailed, BackfillProgress }, { ZtocStore }, { ThrottledClient }, { parseReposFile, parseShard }, { InflatePool }, { readFile }, { atomicWriteFile }] =
      await Promise.all([
        import('../../jobs/backfill.js'),
        import('../../jobs/backfill-cache.js'),
        import('../../jobs/backfill-rate.js'),
        import('../../jobs/backfill-select.js'),
        import('../../ztoc/pool.js'),
        import('node:fs/promises'),
        import('../../fs/atomic-write.js'),
      ]);
    const shard = flags.shard !== undefined ? parseShard(flags.shard) : undefined;
    let repos;
    if (flags.repos !== undefined) {
      let text: string;
      try {
        text = await readFile(flags.repos, 'utf8');
      } catch (err) {
        throw new ZtocError('INVALID_ARGUMENT', `--repos ${flags.repos}: ${(err as Error).message}`);
      }
      repos = parseReposFile(text, registry, `--repos ${flags.repos}`);
    }
    const cache = new ZtocStore({
      ...(flags.cacheDir !== undefined ? { dir: flags.cacheDir } : {}),
      ...(flags.cacheMaxBytes !== undefined ? { maxBytes: flags.cacheMaxBytes } : {}),
    });

    const { log, out } = term;
    const client = new ThrottledClient(await registryOptions(flags, term), {
      rps,
      onPace: (host, gap, remaining) =>
        log(gap > 0 ? `ztoc: ${host} reports ratelimit-remaining ${remaining}: one manifest GET every ${(gap / 1000).toFixed(1)} s` : `ztoc: ${host} rate limit recovered; no pacing`),
    });
    const pool = new InflatePool(availableParallelism());
    const progress = new BackfillProgress();
    const tty = term.io.interactive;
    const spinner = await term.progress(`backfill ${registry}: selecting images`);
    const stop = new AbortController();
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) process.exit(130);
      log(`ztoc: ${sig}: finishing the images in flight (again to quit at once)`);
      stop.abort(new Error(sig));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const line = (): string => {
      const s = progress.seconds;
      return (
        `backfill ${registry}: ${progress.finished}/${progress.total} images, ${formatBytes(progress.bytesRead)} read, ` +
        `${s > 0 ? (progress.bytesRead / 1e6 / s).toFixed(1) : '0.0'} MB/s, ${progress.failed} failed, ${progress.running} running`
      );
    };
    const timer = tty ? setInterval(() => spinner.update(line()), 250) : undefined;
    timer?.unref();
    let report: BackfillReport;
    try {
      const { platforms, ...settings } = indexSettings(flags);
      report = await backfill({
        registry,
        client,
        ...(repos !== undefined ? { repos } : {}),
        ...(flags.match !== undefined ? { match: flags.match } : {}),
        ...(shard !== undefined ? { shard } : {}),
        ...(flags.state !== undefined ? { statePath: flags.state } : {}),
        cache,
        ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
        pool,
        failFast: Boolean(flags.failFast),
        dryRun: Boolean(flags.dryRun),
        ...(platforms !== undefined ? { platforms } : {}),
        ...settings,
        ...soci,
        tagSuffix: flags.tagSuffix,
        prune: Boolean(flags.prune),
        signal: stop.signal,
        progress,
        skipLabels: { LAYER_BELOW_MIN_SIZE: 'smaller than --min-layer-size' },
        onEvent: (e) => {
          if (e.type === 'selecting') spinner.update(`backfill ${registry}: ${e.what}`);
          else if (e.type === 'notice') log(`ztoc: ${e.message}`);
          else if (e.type === 'selected' && !flags.quiet && !tty) {
            log(`ztoc: ${plural(e.inShard, 'image')} selected${shard ? ` in shard ${shard.index}/${shard.count} (of ${e.images})` : ''}; ${e.fromState} finished earlier (--state); ${e.toRun} to ${flags.dryRun ? 'list' : 'run'}`);
          } else if (e.type === 'image-done' && !flags.quiet && !tty) log(imageLine(e.record, e.finished, e.total));
        },
      });
    } catch (err) {
      if (err instanceof ZtocError && err.code === 'CATALOG_UNAVAILABLE') {
        throw new ZtocError(err.code, `${err.message} with --repos FILE`, { cause: err, ...(err.status !== undefined ? { status: err.status } : {}) });
      }
      throw err;
    } finally {
      if (timer) clearInterval(timer);
      spinner.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await pool.close();
      await client.close();
    }
    if (flags.report !== undefined) await atomicWriteFile(flags.report, `${JSON.stringify(report, null, 2)}\n`, { mkdir: true });
    if (flags.dryRun) {
      if (flags.json) term.json({ ...report, images: undefined, wouldIndex: report.images.filter((i) => i.outcome === 'dry-run').map((i) => ({ ref: i.ref, digest: i.digest, tags: i.tags })) });
      else {
        for (const i of report.images) if (i.outcome === 'dry-run') out(`${i.ref}@${i.digest}`);
        log(`ztoc: dry run: ${plural(report.totals.byOutcome['dry-run'] ?? 0, 'image')} would be indexed, ${report.selection.fromState} finished earlier (--state), ${report.totals.failed} could not be resolved`);
      }
    } else if (flags.json) {
      const { images, ...summary } = report;
      term.json({ ...summary, failed: images.filter((i) => i.status === 'failed') });
    } else printBackfillSummary(term, report);
    if (backfillFailed(report)) {
      const failed = report.images.filter((i) => i.status === 'failed');
      const msg =
        failed.length > 0
          ? `backfill: ${failed.length} of ${report.totals.images} images failed (first: ${failed[0]!.ref}: ${failed[0]!.error ?? '?'})`
          : 'backfill: stopped before every image was started';
      // main() prints it and exits 1 (not a usage error).
      throw new ZtocError('BACKFILL_INCOMPLETE', msg);
    }
  });
}
