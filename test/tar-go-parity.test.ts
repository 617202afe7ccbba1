// Scanner vs Go archive/tar on the crafted corpus: against outcomes recorded from Go (always), against
// a live Go toolchain when one is installed, and a bounded differential fuzz of mutated archives.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { craftedCases } from './helpers/tar-crafted.js';
import { GO_EXPECTED } from './helpers/tar-go-expected.js';
import { concat, rng, scan } from './helpers/tar-fixtures.js';
import { goOracle, goOutcome, goScan, ourOutcome, outcomeText, type Outcome } from './helpers/tar-go-oracle.js';

/**
 * Deliberate divergences from Go, with the outcome we produce instead: a size beyond 2^53 (on a
 * header-only entry, or a GNU sparse size or map value), which Go returns as an entry: we cannot
 * hold it. (Which scanned archives SOCI's reader serves is decided after the scan: soci-rules.ts.)
 */
const DIVERGENT: Record<string, { ours: string; why: string }> = {
  'pax size huge': { ours: 'TAR_BAD_HEADER', why: 'size beyond 2^53 on a header-only entry' },
};

function allowedDivergence(ours: Outcome, err: string | undefined): boolean {
  // The only mismatches the fuzz may show are the policy above, a GNU sparse map over the
  // special-file limit (Go reads any length), and an old GNU sparse 'S' entry, refused before Go
  // parses the sparse map in its header (Go may fail there first; SOCI refuses 'S' either way).
  if (!('error' in ours)) return false;
  return err !== undefined && /out of range|GNU sparse map .* is over|type 'S' \(GNU sparse file\)/.test(err);
}

function stored(text: string): string {
  return text.length > 4000 ? 'sha256:' + createHash('sha256').update(text).digest('hex') : text;
}

describe('tar scanner vs Go archive/tar', () => {
  const cases = craftedCases();

  it('the recorded Go outcomes cover exactly the current corpus', () => {
    assert.deepEqual(
      cases.map((c) => c.name),
      Object.keys(GO_EXPECTED),
      'corpus changed: re-run test/helpers/tar-record-go.ts with a Go toolchain',
    );
    for (const c of cases) {
      const inHash = createHash('sha256').update(c.bytes).digest('hex');
      assert.equal(inHash, GO_EXPECTED[c.name]![0], `bytes of ${JSON.stringify(c.name)} changed: re-record`);
    }
  });

  for (const c of cases) {
    it(`crafted: ${c.name}`, () => {
      const r = scan(c.bytes);
      const ours = outcomeText(ourOutcome(r));
      const div = DIVERGENT[c.name];
      if (div !== undefined) {
        assert.ok('err' in r, div.why);
        assert.equal(r.err.code, div.ours, div.why);
        assert.notEqual(stored(ours), GO_EXPECTED[c.name]![1], 'divergence is still real');
        return;
      }
      assert.equal(stored(ours), GO_EXPECTED[c.name]![1]);
    });
  }

  const bin = goOracle();
  it('live Go agrees with the recorded outcomes and with us', { skip: bin === null ? 'no Go toolchain' : false }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ztoc-go-live-'));
    try {
      const files = cases.map((c, i) => {
        const f = path.join(dir, `${i}.tar`);
        fs.writeFileSync(f, c.bytes);
        return f;
      });
      const go = goScan(bin!, files);
      cases.forEach((c, i) => {
        const g = outcomeText(goOutcome(go[i]!));
        assert.equal(stored(g), GO_EXPECTED[c.name]![1], `recorded outcome of ${c.name} is stale`);
        if (DIVERGENT[c.name] === undefined) assert.equal(outcomeText(ourOutcome(scan(c.bytes))), g, c.name);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('differential fuzz: mutated archives give the same outcome as Go', { skip: bin === null ? 'no Go toolchain' : false }, () => {
    const seeds = cases.map((c) => c.bytes).filter((b) => b.length > 0 && b.length < 20000);
    seeds.push(concat(seeds.slice(0, 12)));
    const r = rng(20240601);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ztoc-go-fuzz-'));
    try {
      const muts: Uint8Array[] = [];
      for (let i = 0; i < 1500; i++) {
        const b = new Uint8Array(seeds[Math.floor(r() * seeds.length)]!);
        const n = 1 + Math.floor(r() * 3);
        for (let k = 0; k < n; k++) {
          const off = Math.floor(r() * b.length);
          const pick = r();
          if (pick < 0.4) b[off] = Math.floor(r() * 256);
          else if (pick < 0.8) b[off] = [0, 0x20, 0x30, 0x37, 0x38, 0x80, 0xff, 0x0a, 0x3d, 0x2e, 0x2d, 0x2b][Math.floor(r() * 12)]!;
          else b[off] ^= 1 << Math.floor(r() * 8);
        }
        // Re-seal checksums most of the time so mutations reach past getFormat.
        if (r() < 0.75) {
          for (let o = 0; o + 512 <= b.length; o += 512) {
            const field = Buffer.from(b.subarray(o + 148, o + 156)).toString('latin1');
            if (!/^[0-7]{6}\0 $/.test(field)) continue;
            let sum = 0;
            for (let j = 0; j < 512; j++) sum += j >= 148 && j < 156 ? 0x20 : b[o + j];
            b.set(Buffer.from(sum.toString(8).padStart(6, '0') + '\0 ', 'latin1'), o + 148);
          }
        }
        muts.push(r() < 0.2 ? b.subarray(0, Math.floor(r() * b.length)) : b);
      }
      const files = muts.map((m, i) => {
        const f = path.join(dir, `${i}.tar`);
        fs.writeFileSync(f, m);
        return f;
      });
      const go = goScan(bin!, files);
      let compared = 0;
      muts.forEach((m, i) => {
        const o = scan(m);
        const ours = ourOutcome(o);
        const g = goOutcome(go[i]!);
        if (outcomeText(ours) === outcomeText(g)) {
          compared++;
          return;
        }
        assert.ok(allowedDivergence(ours, 'err' in o ? o.err.message : undefined), `mutant ${i}: ${outcomeText(ours)} vs Go ${outcomeText(g)}`);
      });
      assert.ok(compared > muts.length * 0.95, `${compared} of ${muts.length} identical`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
