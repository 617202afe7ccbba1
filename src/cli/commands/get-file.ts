// Owns `ztoc get-file`: read one file through a zTOC, either from a local layer file
// (`--ztoc Z --layer L PATH`) or from an image through its SOCI index (`IMAGE PATH`), fetching
// only the spans that hold the file.

import type { Command } from 'commander';
import { ZtocError } from '../../errors.js';
import type { Platform } from '../../oci/types.js';
import { addRegistryFlags, onePlatform, openImageWith, type RegistryFlags } from '../flags.js';
import type { Terminal } from '../io.js';

interface GetFileFlags extends RegistryFlags {
  ztoc?: string;
  layer?: string;
  output?: string;
  platform?: Platform;
  verbose?: boolean;
}

/** Streams to stdout, or to OUT atomically (fs/atomic-write.ts): a failed read leaves no partial file. */
async function writeOut(term: Terminal, chunks: AsyncIterable<Uint8Array>, output: string | undefined): Promise<void> {
  if (output === undefined || output === '-') {
    const [{ pipeline }, { Readable }] = await Promise.all([import('node:stream/promises'), import('node:stream')]);
    await pipeline(Readable.from(chunks), term.io.stdout, { end: false });
  } else {
    const { atomicWriteFile } = await import('../../fs/atomic-write.js');
    await atomicWriteFile(output, chunks);
  }
}

async function fromLayerFile(term: Terminal, path: string, ztocPath: string, layerPath: string, output: string | undefined): Promise<void> {
  const [{ readFile }, { decodeZtoc }, { extractFile, fileRangeReader, findEntry }] = await Promise.all([
    import('node:fs/promises'),
    import('../../ztoc/decode.js'),
    import('../../ztoc/extract.js'),
  ]);
  const z = decodeZtoc(await readFile(ztocPath));
  const entry = findEntry(z, path);
  if (entry === undefined) throw new ZtocError('FILE_NOT_FOUND', `${path}: no such file in the zTOC`);
  const layer = await fileRangeReader(layerPath);
  try {
    if (layer.size !== z.compressedArchiveSize) {
      throw new ZtocError('ZTOC_MISMATCH', `layer is ${layer.size} bytes but the zTOC was built from ${z.compressedArchiveSize} bytes`, {
        layer: layerPath,
      });
    }
    const data = extractFile(z, entry, layer.read);
    await writeOut(term, data, output).catch((err: unknown) => Promise.reject(ZtocError.withLayer(err, layerPath)));
  } finally {
    await layer.close();
  }
}

export function registerGetFile(program: Command, term: Terminal): void {
  const cmd = program
    .command('get-file')
    .description('read one file through a zTOC, fetching and inflating only the spans that hold it')
    .usage('IMAGE PATH [options]  |  --ztoc Z --layer L PATH [options]')
    .argument('<image-or-path>', 'image reference, or the file path when --ztoc/--layer are given')
    .argument('[path]', 'file path inside the image (/usr/bin/x, usr/bin/x and ./usr/bin/x are the same)')
    .option('--ztoc <file>', 'a local zTOC file (with --layer)')
    .option('--layer <file>', 'the local compressed layer the zTOC was built from')
    .option('--platform <os/arch[/variant]>', 'platform of a multi-platform image (default: this host)', onePlatform('--platform'))
    .option('-o, --output <file>', 'write the file here instead of stdout')
    .option('-v, --verbose', 'say on stderr which layer served the file');
  addRegistryFlags(cmd, term).action(async (first: string, second: string | undefined, flags: GetFileFlags) => {
    if (flags.ztoc !== undefined || flags.layer !== undefined) {
      if (flags.ztoc === undefined || flags.layer === undefined) throw new ZtocError('INVALID_ARGUMENT', '--ztoc and --layer go together');
      if (second !== undefined) throw new ZtocError('INVALID_ARGUMENT', 'with --ztoc/--layer give only the file path');
      await fromLayerFile(term, first, flags.ztoc, flags.layer, flags.output);
      return;
    }
    if (second === undefined) throw new ZtocError('INVALID_ARGUMENT', 'usage: ztoc get-file IMAGE PATH, or ztoc get-file --ztoc Z --layer L PATH');
    const opened = await openImageWith(first, flags, term);
    try {
      const { getFileFromImage } = await import('../../jobs/inspect.js');
      const r = await getFileFromImage(opened.store, opened.reference, second, flags.platform ? { platform: flags.platform } : {});
      if (flags.verbose) term.log(`${second}: ${r.entry.size} bytes from layer ${r.layer.digest}${r.viaZtoc ? ' via its zTOC' : ' (no zTOC: read whole)'}`);
      await writeOut(term, r.data, flags.output);
    } finally {
      await opened.store.close();
    }
  });
}
