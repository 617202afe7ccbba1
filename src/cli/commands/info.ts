// Owns `ztoc info`: what a zTOC file says, as text or JSON (the fields of `soci ztoc info`).

import type { Command } from 'commander';
import { formatBytes, type Terminal } from '../io.js';

export function registerInfo(program: Command, term: Terminal): void {
  program
    .command('info')
    .description('show what a zTOC file holds')
    .argument('<ztoc>', 'zTOC file')
    .option('--files', 'list every file with its offset, size and spans')
    .option('--json', 'print JSON')
    .action(async (path: string, flags: { files?: boolean; json?: boolean }) => {
      const [{ readFile }, { decodeZtoc }, { ztocInfo }] = await Promise.all([
        import('node:fs/promises'),
        import('../../ztoc/decode.js'),
        import('../../ztoc/info.js'),
      ]);
      const bytes = await readFile(path);
      const info = ztocInfo(decodeZtoc(bytes), bytes.length, Boolean(flags.files));
      if (flags.json) {
        term.json(info);
        return;
      }
      const { out } = term;
      out(`version            ${info.version}`);
      out(`build tool         ${info.build_tool}`);
      out(`size               ${info.size} (${formatBytes(info.size)})`);
      out(`compression        ${info.compression}`);
      out(`compressed size    ${info.compressed_size}`);
      out(`uncompressed size  ${info.uncompressed_size}`);
      out(`span size          ${info.span_size}`);
      out(`spans              ${info.num_spans}`);
      out(`files              ${info.num_files}`);
      out(`multi-span files   ${info.num_multi_span_files}`);
      if (info.files) {
        out('');
        out('TYPE      OFFSET        SIZE  SPANS    NAME');
        for (const f of info.files) {
          const spans = f.start_span === f.end_span ? `${f.start_span}` : `${f.start_span}-${f.end_span}`;
          out(`${f.type.padEnd(8)} ${String(f.offset).padStart(8)} ${String(f.size).padStart(11)}  ${spans.padEnd(8)} ${f.filename}`);
        }
      }
    });
}
