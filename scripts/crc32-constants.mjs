#!/usr/bin/env node
// Derives the folding constants of native/crc32.c from the CRC-32 polynomial (the math is in that
// file's header comment) and prints them as its #defines; with --check, compares them with the
// ones in native/crc32.c and exits 1 on any difference (test/crc32.test.ts runs that).
//   node scripts/crc32-constants.mjs [--check]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const P = 0x104c11db7n; // x^32 + x^26 + ... + 1, the gzip polynomial, not reflected

const degree = (a) => a.toString(2).length - 1;

/** Polynomial division over GF(2): [quotient, remainder]. */
function divmod(a, p) {
  let q = 0n;
  const dp = degree(p);
  while (a !== 0n && degree(a) >= dp) {
    const s = BigInt(degree(a) - dp);
    q |= 1n << s;
    a ^= p << s;
  }
  return [q, a];
}

/** The `width`-bit reflection of v: bit j becomes bit width-1-j. */
function reflect(v, width) {
  let r = 0n;
  for (let j = 0; j < width; j++) if ((v >> BigInt(j)) & 1n) r |= 1n << BigInt(width - 1 - j);
  return r;
}

/** 33-bit reflected x^k mod P: what a carry-less multiply of a reflected 64-bit lane needs. */
const xmod = (k) => reflect(divmod(1n << BigInt(k), P)[1], 33);

const constants = {
  K_2080: xmod(2048 + 32),
  K_2016: xmod(2048 - 32),
  K_544: xmod(512 + 32),
  K_480: xmod(512 - 32),
  K_160: xmod(128 + 32),
  K_96: xmod(128 - 32),
  K_64: xmod(64),
  K_MU: reflect(divmod(1n << 64n, P)[0], 33),
  K_POLY: reflect(P, 33),
};

const hex = (v) => `0x${v.toString(16).padStart(9, '0')}ULL`;

if (process.argv.includes('--check')) {
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'native', 'crc32.c');
  const src = readFileSync(file, 'utf8');
  let bad = 0;
  for (const [name, v] of Object.entries(constants)) {
    const m = new RegExp(`#define ${name} (0x[0-9a-f]+)ULL`).exec(src);
    if (!m || BigInt(m[1]) !== v) {
      process.stderr.write(`${file}: ${name} is ${m ? m[1] : 'missing'}, the math gives ${hex(v)}\n`);
      bad++;
    }
  }
  process.exit(bad === 0 ? 0 : 1);
}
for (const [name, v] of Object.entries(constants)) process.stdout.write(`#define ${name} ${hex(v)}\n`);
