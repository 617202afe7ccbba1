// Test helper: runs the real `ztoc` executable (bin/ztoc.js → dist) in a child process, the way a
// user would, and returns its exit code, raw stdout and stderr.

import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './golden.js';

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
  /** Variables to remove from the inherited environment (e.g. credentials). */
  unset?: string[];
}

function env(opts: CliOptions): NodeJS.ProcessEnv {
  // No spinner, no colours: stderr holds only what the CLI means to say.
  const inherited: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', CI: '1' };
  for (const k of opts.unset ?? []) delete inherited[k];
  return { ...inherited, ...opts.env };
}

export function runCli(args: string[], opts: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [ZTOC_BIN, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    input: opts.input ?? '',
    env: env(opts),
    maxBuffer: 1 << 28,
    timeout: opts.timeoutMs ?? 60_000,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** runCli without blocking the event loop, so several runs can go in parallel. */
export function runCliAsync(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ZTOC_BIN, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: env(opts),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {}); // the CLI may exit before reading all of its input
    child.stdin.end(opts.input ?? '');
  });
}

export interface TextResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The CLI with a private HOME, XDG_RUNTIME_DIR and DOCKER_CONFIG (default: `home`) and no inherited
 * credentials, without blocking: tests that run servers in-process need their event loop.
 */
export async function runCliHermetic(args: string[], home: string, opts: CliOptions & { dockerConfig?: string } = {}): Promise<TextResult> {
  const r = await runCliAsync(args, {
    timeoutMs: 60_000,
    ...opts,
    env: { HOME: home, XDG_RUNTIME_DIR: home, DOCKER_CONFIG: opts.dockerConfig ?? home, ...opts.env },
    unset: ['REGISTRY_AUTH_FILE', 'ZTOC_PASSWORD', ...(opts.unset ?? [])],
  });
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}
