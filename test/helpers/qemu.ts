// Owns finding qemu-x86_64 (Debian qemu-user) for the tests that run the addon on emulated x86-64 CPUs with
// fewer features than this host (no PCLMULQDQ, no BMI2): the code paths this host never takes natively.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/** qemu-x86_64's path; on a host without it the test is skipped (undefined), on x64 CI it fails (.ci/run installs it). */
export function qemuX86(t: TestContext): string | undefined {
  const qemu = spawnSync('sh', ['-c', 'command -v qemu-x86_64'], { encoding: 'utf8' }).stdout.trim();
  if (process.arch === 'x64' && qemu) return qemu;
  if (process.arch === 'x64' && process.env['CI']) assert.fail('needs qemu-x86_64 (Debian qemu-user)');
  t.skip('needs an x64 host with qemu-x86_64 (Debian qemu-user)');
  return undefined;
}
