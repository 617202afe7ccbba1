// Owns `ztoc get-file`: read one file through a zTOC, from a local layer file
// (`--ztoc Z --layer L PATH`) or, later, from an image through its SOCI index.

import { readFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { ZtocError } from '../../errors.js';
import { decodeZtoc } from '../../ztoc/decode.js';
import { extractFile, fileRangeReader, findEntry } from '../../ztoc/extract.js';

interface GetFileFlags {
  ztoc?: string;
  layer?: string;
  output?: string;
}

async function writeOut(chunks: AsyncIterable<Uint8Array>, output: string | undefined): Promise<void> {
  const dest = output === undefined || output === '-' ? process.stdout : createWriteStream(output);
  await pipeline(Readable.from(chunks), dest, { end: dest !== process.stdout });
}

export function registerGetFile(program: Command): void {
  program
    .command('get-file')
    .description('read one file through a zTOC, fetching and inflating only the spans that hold it')
    .argument('<path>', 'file path inside the layer (/usr/bin/x, usr/bin/x and ./usr/bin/x are the same)')
    .requiredOption('--ztoc <file>', 'zTOC file')
    .requiredOption('--layer <file>', 'the compressed layer the zTOC was built from')
    .option('-o, --output <file>', 'write the file here instead of stdout')
    .action(async (path: string, flags: GetFileFlags) => {
      const z = decodeZtoc(await readFile(flags.ztoc!));
      const entry = findEntry(z, path);
      if (entry === undefined) throw new ZtocError('FILE_NOT_FOUND', `${path}: no such file in the zTOC`);
      const layer = await fileRangeReader(flags.layer!);
      try {
        if (layer.size !== z.compressedArchiveSize) {
          throw new ZtocError('ZTOC_MISMATCH', `layer is ${layer.size} bytes but the zTOC was built from ${z.compressedArchiveSize} bytes`, {
            layer: flags.layer!,
          });
        }
        await writeOut(extractFile(z, entry, layer.read), flags.output);
      } finally {
        await layer.close();
      }
    });
}
