#!/usr/bin/env node
// ztoc's executable: runs the compiled CLI (npm ci builds it into dist/).
import { main } from '../dist/src/cli/main.js';

const code = await main(process.argv);
process.exitCode = code;
