#!/usr/bin/env node
// ztoc's executable: runs the compiled CLI (npm ci builds it into dist/). A bare `--version` is answered
// before commander and the command declarations load: it is what scripts and health checks call most,
// and it must cost no more than Node's own start (issue 12). Everything else goes through the CLI.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { VERSION } = await import('../dist/src/version.js');
  process.stdout.write(`${VERSION}\n`);
} else {
  // A command that builds layers starts its inflate worker first, beside the CLI's own loading.
  await (await import('../dist/src/cli/prestart.js')).prestartFor(args[0]);
  const { main } = await import('../dist/src/cli/main.js');
  process.exitCode = await main(process.argv);
}
