// Owns loading commander for the CLI. commander is CommonJS; importing it as ESM goes through its
// esm.mjs wrapper and Node's scan of the CommonJS exports, ~4 ms of every command's start here
// (issue 12), which require() skips. Types come from the package as usual.

import { createRequire } from 'node:module';
import type * as Commander from 'commander';

const commander = createRequire(import.meta.url)('commander') as typeof Commander;

export const { Command, CommanderError, Option } = commander;
export type Command = Commander.Command;
export type CommanderError = Commander.CommanderError;
export type Option = Commander.Option;
