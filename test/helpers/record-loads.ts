// Test helper: `node --import …/record-loads.js PROGRAM` appends the URL of every module the process (and
// its worker threads) resolves to the file named by $ZTOC_LOAD_LOG, one per line: which code a command
// loads, checked structurally rather than by timing it. CommonJS modules loaded by require() (inside packages,
// or through createRequire) don't pass the ESM resolve hook, so the main thread's CommonJS cache is added at exit.

import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

register('./record-loads-hooks.js', import.meta.url);

process.on('exit', () => {
  const log = process.env['ZTOC_LOAD_LOG'];
  if (log === undefined || log === '') return;
  const loaded = Object.keys(createRequire(import.meta.url).cache);
  appendFileSync(log, loaded.map((f) => `${pathToFileURL(f).href}\n`).join(''));
});
