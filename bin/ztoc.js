#!/usr/bin/env node
// ztoc's executable: runs the compiled CLI (npm ci builds it into dist/). A bare `--version` is answered
// before commander and the command declarations load: it is what scripts and health checks call most,
// and it must cost no more than Node's own start (issue 12). Everything else goes through the CLI.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { VERSION } = await import('../dist/src/version.js');
  process.stdout.write(`${VERSION}\n`);
} else {
  // undici parses HTTP with llhttp, compiled to WebAssembly. V8 compiles it with Liftoff, then again with TurboFan on a
  // background thread, and the process waits for that job before it exits: ~80 ms of every registry command here.
  // Liftoff's code parses as fast for ztoc, whose bodies pass through llhttp in whole chunks (docs/performance.md).
  // Set by the executable only: the library leaves its host's V8 alone. Not for the commands that never reach a
  // registry, which would pay ~4 ms to load node:v8 for nothing.
  if (!['build', 'info', 'doctor'].includes(args[0])) (await import('node:v8')).setFlagsFromString('--liftoff-only');
  const { main } = await import('../dist/src/cli/main.js');
  process.exitCode = await main(process.argv);
}
