// Test helper: runs the ztoc CLI in this process over captured streams (npm's loadMockNpm + joinedOutput,
// corepack's injected context), so command output is tested without spawning. Exit codes, EPIPE and
// signals stay with the spawn runner (cli.ts): they belong to the process, not to the commands.

import { PassThrough, Readable } from 'node:stream';
import { run } from '../../src/cli/main.js';

export interface InProcessResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function capture(): { stream: PassThrough; text: () => Buffer } {
  const stream = new PassThrough();
  const parts: Buffer[] = [];
  stream.on('data', (c: Buffer) => parts.push(c));
  return { stream, text: () => Buffer.concat(parts) };
}

/** `ztoc ARGS` in-process; `stdin` is what the command reads from standard input (empty by default). */
export async function runInProcess(args: string[], opts: { stdin?: Uint8Array | string } = {}): Promise<InProcessResult> {
  const out = capture();
  const err = capture();
  const stdin = Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]);
  const code = await run(['node', 'ztoc', ...args], { stdout: out.stream, stderr: err.stream, stdin, interactive: false });
  // Let the PassThroughs deliver what was written before reading them.
  await new Promise((r) => setImmediate(r));
  return { code, stdout: out.text(), stderr: err.text().toString('utf8') };
}
