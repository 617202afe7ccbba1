// Owns `ztoc build`: one layer file (or stdin) → one zTOC file, with a summary.

import { basename } from 'node:path';
import { Option, type Command } from '../commander.js';
import { ZtocError } from '../../errors.js';
import { addBuildFlags, type BuildFlags } from '../flags.js';
import { formatBytes, rate, type Terminal } from '../io.js';

interface BuildCommandFlags extends BuildFlags {
  output?: string;
  json?: boolean;
  kind: 'gzip' | 'tar' | 'auto';
}

export function registerBuild(program: Command, term: Terminal): void {
  const cmd = program
    .command('build')
    .description('build the zTOC of one layer blob (gzip or uncompressed tar, auto-detected)')
    .argument('<layer>', 'layer file, or - for stdin')
    .option('-o, --output <file>', 'where to write the zTOC (default: <layer>.ztoc; - for stdout)');
  addBuildFlags(cmd)
    .option('--json', 'print the summary as JSON')
    .addOption(new Option('--kind <kind>', 'layer format: gzip or tar fails on content of another kind; auto detects').choices(['gzip', 'tar', 'auto']).default('auto'))
    .action(async (layer: string, flags: BuildCommandFlags) => {
      const output = flags.output ?? (layer === '-' ? undefined : `${basename(layer)}.ztoc`);
      if (output === undefined) throw new ZtocError('INVALID_ARGUMENT', 'reading from stdin needs -o/--output');
      const [{ buildZtoc }, { readFileChunks }, { writeFile }] = await Promise.all([
        import('../../ztoc/build.js'),
        import('../../ztoc/source.js'),
        import('node:fs/promises'),
      ]);
      const source = layer === '-' ? (term.io.stdin as AsyncIterable<Buffer>) : readFileChunks(layer);
      const progress = await term.progress(`indexing ${layer}`);
      const cpu0 = process.cpuUsage();
      try {
        const r = await buildZtoc(source, {
          spanSize: flags.spanSize,
          buildToolId: flags.buildToolId,
          engine: flags.engine,
          kind: flags.kind,
          ...(flags.kind === 'auto' ? {} : { declaredBy: `--kind ${flags.kind}` }),
          layer: layer === '-' ? 'stdin' : layer,
          onProgress: (n) => progress.tick(() => `indexing ${layer}: ${formatBytes(n)}`),
        });
        progress.stop();
        if (output === '-') term.io.stdout.write(r.bytes);
        else await writeFile(output, r.bytes);
        const cpu = process.cpuUsage(cpu0);
        const summary = {
          layer,
          layerDigest: r.layerDigest,
          format: r.kind,
          engine: r.engine,
          output,
          ztocDigest: r.digest,
          ztocSize: r.bytes.length,
          spanSize: flags.spanSize,
          spans: r.spans,
          files: r.files,
          compressedSize: r.compressedSize,
          uncompressedSize: r.inflatedSize,
          seconds: Number(r.seconds.toFixed(3)),
          cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(3)),
          mbPerSecond: Number((r.compressedSize / 1e6 / r.seconds).toFixed(1)),
        };
        // With the zTOC on stdout, the summary goes to stderr.
        const to = output === '-' ? 'stderr' : 'stdout';
        if (flags.json) {
          term.json(summary, to);
          return;
        }
        const print = to === 'stderr' ? term.log : term.out;
        print(`zTOC ${r.digest} (${formatBytes(r.bytes.length)}) -> ${output}`);
        print(`  layer      ${r.layerDigest} (${r.kind})`);
        print(`  sizes      ${formatBytes(r.compressedSize)} compressed, ${formatBytes(r.inflatedSize)} uncompressed`);
        print(`  spans      ${summary.spans} of ${formatBytes(flags.spanSize)}`);
        print(`  files      ${summary.files}`);
        print(`  time       ${summary.seconds}s (${rate(r.compressedSize, r.seconds)} compressed in)`);
      } finally {
        progress.stop();
      }
    });
}
