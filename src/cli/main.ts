// Owns the ztoc command line: the list of commands, commander wiring, error printing and exit codes
// (0 ok, 1 failure, 2 usage). `run(argv, io)` is the whole CLI over injected streams, for in-process
// tests; `main(argv)` binds it to the process. Commands live in ./commands: each declares its flags
// cheaply and imports the library code it needs only when it runs (fast start, issue 12). A run of one
// named command loads only that command's module; help and anything else load them all.

import { Command, CommanderError } from './commander.js';
import { ZtocError } from '../errors.js';
import { VERSION } from '../version.js';
import { processIO, Terminal, type CliIO } from './io.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** One command: declares itself (name, arguments, flags, action) on the program. */
export type RegisterCommand = (program: Command, term: Terminal) => void;

/** A module of commands: the names it declares, and how to load its declarations. */
interface CommandModule {
  names: readonly string[];
  load(): Promise<RegisterCommand>;
}

/** Every command, in the order `ztoc --help` lists them. */
export const COMMANDS: readonly CommandModule[] = [
  { names: ['build'], load: async () => (await import('./commands/build.js')).registerBuild },
  { names: ['info'], load: async () => (await import('./commands/info.js')).registerInfo },
  { names: ['get-file'], load: async () => (await import('./commands/get-file.js')).registerGetFile },
  { names: ['index'], load: async () => (await import('./commands/index.js')).registerIndex },
  { names: ['list', 'verify'], load: async () => (await import('./commands/list.js')).registerList },
  { names: ['rm'], load: async () => (await import('./commands/rm.js')).registerRm },
  { names: ['backfill'], load: async () => (await import('./commands/backfill.js')).registerBackfill },
  { names: ['doctor'], load: async () => (await import('./commands/doctor.js')).registerDoctor },
];

/**
 * The program, with the commands `argv` can reach: only the named command when its first argument names one
 * (commander then parses nothing else), every command otherwise (help, suggestions for a misspelt name).
 */
export async function createProgram(term: Terminal = new Terminal(processIO()), argv?: readonly string[]): Promise<Command> {
  const program = new Command();
  program
    .name('ztoc')
    .description('Build SOCI zTOCs and indexes for existing container images, in one streaming pass')
    .version(VERSION)
    // Before the commands are added: subcommands copy these settings when they are created.
    .configureOutput({ writeOut: (s) => term.io.stdout.write(s), writeErr: (s) => term.io.stderr.write(s) })
    .showHelpAfterError('(run ztoc --help for usage)')
    .exitOverride();
  const named = COMMANDS.find((m) => argv?.[2] !== undefined && m.names.includes(argv[2]));
  const registers = await Promise.all((named !== undefined ? [named] : COMMANDS).map((m) => m.load()));
  for (const register of registers) register(program, term);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** Runs the CLI with `io` as its streams and returns the exit code; never exits the process. */
export async function run(argv: string[], io: CliIO): Promise<number> {
  const term = new Terminal(io);
  try {
    await (await createProgram(term, argv)).parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    return exitCodeOf(err, term);
  }
}

/** Prints a failure the way the CLI reports it and returns its exit code. */
function exitCodeOf(err: unknown, term: Terminal): number {
  if (err instanceof CommanderError) {
    // Help and version exit through here too, with code 0.
    return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (err instanceof ZtocError) {
    term.log(`ztoc: error: ${err.describe()} [${err.code}]`);
    return err.code === 'INVALID_ARGUMENT' || err.code === 'REFERENCE_INVALID' ? EXIT_USAGE : EXIT_FAILURE;
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EPIPE') return EXIT_OK;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') {
    term.log(`ztoc: error: ${e.message}`);
    return EXIT_FAILURE;
  }
  term.log(`ztoc: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return EXIT_FAILURE;
}

/** The executable's entry: the CLI on the process streams. */
export async function main(argv: string[]): Promise<number> {
  // `ztoc get-file IMAGE PATH | head` closes the pipe early: that is not a failure.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_OK);
  });
  return run(argv, processIO());
}
