// Owns `ztoc doctor`: which addon binary this install loaded (shipped prebuild or local node-gyp
// build), which inflate engine and CRC-32 engine it runs, and a one-layer self-test through it.

import type { Command } from 'commander';
import { VERSION } from '../../version.js';
import type { Terminal } from '../io.js';

/** An empty tar (two zero blocks), gzipped: the smallest layer that goes through the checkpointing inflater. */
async function* emptyLayer(): AsyncGenerator<Uint8Array> {
  // Loaded here: node:zlib costs every other command ~5 ms of start-up (issue 12).
  const { gzipSync } = await import('node:zlib');
  yield gzipSync(Buffer.alloc(1024));
}

/** The C library node runs on: glibc reports its version in the diagnostic report, musl reports none. */
function libc(): string {
  const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
  return glibc ? `glibc ${glibc}` : 'musl';
}

export function registerDoctor(program: Command, term: Terminal): void {
  program
    .command('doctor')
    .description('show which native addon and inflate engine this install uses, and test them')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const [{ nativeInfo }, { buildZtoc }] = await Promise.all([import('../../inflate/native.js'), import('../../ztoc/build.js')]);
      const addon = nativeInfo();
      const r = await buildZtoc(emptyLayer(), { thread: 'inline', layer: 'doctor self-test' });
      const report = {
        version: VERSION,
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        libc: libc(),
        napi: Number(process.versions.napi),
        addon: { origin: addon.origin, path: addon.path },
        engine: addon.engine,
        crc32: addon.crc32,
        selfTest: { ok: true, ztocBytes: r.bytes.length },
      };
      if (flags.json) {
        term.json(report);
        return;
      }
      const { out } = term;
      out(`ztoc       ${report.version}`);
      out(`node       ${report.node} (${report.platform}, ${report.libc}, N-API ${report.napi})`);
      out(`addon      ${addon.origin === 'prebuild' ? 'prebuilt' : addon.origin === 'build' ? 'built here by node-gyp' : 'loaded from outside the package'}: ${addon.path}`);
      const e = addon.engine;
      const others = e.available.filter((n) => n !== e.name).map((n) => (n === 'zlib' ? `zlib ${e.zlibVersion} (exported by node; --engine zlib or ZTOC_ENGINE=zlib)` : n));
      const name = e.name === 'zlib' ? `zlib ${e.zlibVersion} (exported by node)` : e.fastVariant !== undefined ? `${e.name} (${e.fastVariant} build of its Huffman loop)` : e.name;
      out(`engine     ${name}${others.length > 0 ? `; also ${others.join(', ')}` : ''}`);
      if (addon.crc32 !== undefined) {
        const { auto, available } = addon.crc32;
        const others = available.filter((n) => n !== auto);
        out(`crc32      ${auto} (gzip CRC-32 of the fast engine)${others.length > 0 ? `; also ${others.join(', ')}` : ''}`);
      }
      out(`self-test  ok (zTOC of an empty layer, ${r.bytes.length} bytes)`);
    });
}
