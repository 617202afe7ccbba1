// Test helper: `node --import …/record-loads.js PROGRAM` appends the URL of every module the process (and
// its worker threads) resolves to the file named by $ZTOC_LOAD_LOG, one per line: which code a command
// loads, checked structurally rather than by timing it.

import { register } from 'node:module';

register('./record-loads-hooks.js', import.meta.url);
