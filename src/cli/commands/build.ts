// Owns `ztoc build`: one layer file (or stdin) → one zTOC file, with a summary.

import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { buildZtoc, DEFAULT_BUILD_TOOL_ID } from '../../ztoc/build.js';
import { readFileChunks } from '../../ztoc/source.js';
import { DEFAULT_SPAN_SIZE } from '../../ztoc/model.js';
import { ZtocError } from '../../errors.js';
import type { EngineChoice } from '../../inflate/native.js';
import { formatBytes, log, out, parseSize, printJson, Progress, rate } from '../io.js';

interface BuildFlags {
  output?: string;
  spanSize: string;
  buildToolId: string;
  engine: string;
  json?: boolean;
}

export function registerBuild(program: Command): void {
  program
    .command('build')
    .description('build the zTOC of one layer blob (gzip or uncompressed tar, auto-detected)')
    .argument('<layer>', 'layer file, or - for stdin')
    .option('-o, --output <file>', 'where to write the zTOC (default: <layer>.ztoc; - for stdout)')
    .option('--span-size <bytes>', 'span size (e.g. 4194304 or 4MiB)', String(DEFAULT_SPAN_SIZE))
    .option('--build-tool-id <id>', 'build tool identifier written into the zTOC', DEFAULT_BUILD_TOOL_ID)
    .option('--engine <auto|fast|zlib>', 'inflate engine (env ZTOC_ENGINE)', process.env.ZTOC_ENGINE ?? 'auto')
    .option('--json', 'print the summary as JSON')
    .action(async (layer: string, flags: BuildFlags) => {
      const spanSize = parseSize(flags.spanSize);
      const output = flags.output ?? (layer === '-' ? undefined : `${basename(layer)}.ztoc`);
      if (output === undefined) throw new ZtocError('INVALID_ARGUMENT', 'reading from stdin needs -o/--output');
      const source = layer === '-' ? process.stdin : readFileChunks(layer);
      const progress = new Progress(`indexing ${layer}`);
      const cpu0 = process.cpuUsage();
      try {
        const r = await buildZtoc(source, {
          spanSize,
          buildToolId: flags.buildToolId,
          kind: 'auto',
          engine: flags.engine as EngineChoice,
          layer: layer === '-' ? 'stdin' : layer,
          onProgress: (n) => progress.update(`indexing ${layer}: ${formatBytes(n)}`),
        });
        progress.stop();
        if (output === '-') process.stdout.write(r.bytes);
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
          spanSize,
          spans: r.ztoc.spanDigests.length,
          files: r.ztoc.entries.length,
          compressedSize: r.compressedSize,
          uncompressedSize: r.inflatedSize,
          seconds: Number(r.seconds.toFixed(3)),
          cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(3)),
          mbPerSecond: Number((r.compressedSize / 1e6 / r.seconds).toFixed(1)),
        };
        const print = output === '-' ? log : out;
        if (flags.json) {
          if (output === '-') log(JSON.stringify(summary, null, 2));
          else printJson(summary);
          return;
        }
        print(`zTOC ${r.digest} (${formatBytes(r.bytes.length)}) -> ${output}`);
        print(`  layer      ${r.layerDigest} (${r.kind})`);
        print(`  sizes      ${formatBytes(r.compressedSize)} compressed, ${formatBytes(r.inflatedSize)} uncompressed`);
        print(`  spans      ${summary.spans} of ${formatBytes(spanSize)}`);
        print(`  files      ${summary.files}`);
        print(`  time       ${summary.seconds}s (${rate(r.compressedSize, r.seconds)} compressed in)`);
      } finally {
        progress.stop();
      }
    });
}
