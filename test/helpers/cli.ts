// Test helper: runs the real `ztoc` executable (bin/ztoc.js → dist) in a child process, the way a
// user would, and returns its exit code, raw stdout and stderr.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

export const REPO_ROOT = repoRoot();
export const ZTOC_BIN = join(REPO_ROOT, 'bin', 'ztoc.js');

export interface CliResult {
  /** Exit status (null only if killed by a signal, reported as -1). */
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface CliOptions {
  /** Bytes piped to stdin (stdin is empty otherwise). */
  input?: Uint8Array | string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill after this many ms (a hang is a failure, not a stuck test run). */
  timeoutMs?: number;
}

export function runCli(args: string[], opts: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [ZTOC_BIN, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    input: opts.input ?? '',
    env: { ...process.env, NO_COLOR: '1', CI: '1', ...opts.env },
    maxBuffer: 1 << 28,
    timeout: opts.timeoutMs ?? 60_000,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}
