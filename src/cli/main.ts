// Owns the ztoc command line: commander wiring, error printing and exit codes
// (0 ok, 1 failure, 2 usage). Commands live in ./commands and call the library.

import { Command, CommanderError } from 'commander';
import { ZtocError } from '../errors.js';
import { VERSION } from '../version.js';
import { registerBackfill } from './commands/backfill.js';
import { registerBuild } from './commands/build.js';
import { registerDoctor } from './commands/doctor.js';
import { registerGetFile } from './commands/get-file.js';
import { registerInfo } from './commands/info.js';
import { registerIndex } from './commands/index.js';
import { registerList } from './commands/list.js';
import { log } from './io.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function createProgram(): Command {
  const program = new Command();
  program
    .name('ztoc')
    .description('Build SOCI zTOCs and indexes for existing container images, in one streaming pass')
    .version(VERSION)
    .showHelpAfterError('(run ztoc --help for usage)')
    .exitOverride();
  registerBuild(program);
  registerInfo(program);
  registerGetFile(program);
  registerIndex(program);
  registerList(program);
  registerBackfill(program);
  registerDoctor(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // `ztoc get-file IMAGE PATH | head` closes the pipe early: that is not a failure.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_OK);
  });
  try {
    await createProgram().parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit through here too, with code 0.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (err instanceof ZtocError) {
      log(`ztoc: error: ${err.describe()} [${err.code}]`);
      return err.code === 'INVALID_ARGUMENT' || err.code === 'REFERENCE_INVALID' ? EXIT_USAGE : EXIT_FAILURE;
    }
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'EPIPE') return EXIT_OK;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      log(`ztoc: error: ${e.message}`);
      return EXIT_FAILURE;
    }
    log(`ztoc: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT_FAILURE;
  }
}
