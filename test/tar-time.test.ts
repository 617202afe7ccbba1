// Go time semantics used for mod_time: MarshalText in UTC (checked against GNU date over a wide range
// of seconds, including years 0-99 and the [0, 9999] limits), parsePAXTime and strconv.ParseInt.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { goParseInt, goTimeText, parsePaxTime, parsePaxTimeInto, paxTime } from '../src/tar/gotime.js';
import { byteString, utf8 } from '../src/tar/scanner.js';
import { rng } from './helpers/tar-fixtures.js';

const HAVE_DATE = spawnSync('date', ['-u', '-d', '@0'], { stdio: 'ignore' }).status === 0;

/** GNU date's UTC rendering of each second, 4-digit zero-padded years. */
function gnuDates(secs: number[]): string[] {
  const input = secs.map((s) => `@${s}`).join('\n') + '\n';
  const out = execFileSync('date', ['-u', '-f', '-', '+%04Y-%m-%dT%H:%M:%SZ'], { input }).toString().trim();
  return out.split('\n');
}

function paxText(s: string): string | null {
  const t = parsePaxTime(s);
  return t === null ? null : goTimeText(t.sec, t.nsec);
}

describe('Go time semantics', () => {
  // Every expectation below was confirmed with Go 1.19.8 (archive/tar + Time.MarshalText, TZ=UTC);
  // the PAX ones are also in the crafted corpus whose Go outcomes are recorded.
  it('reference values', () => {
    assert.equal(goTimeText(1700000000, 0), '2023-11-14T22:13:20Z');
    assert.equal(paxText('1700000000.4997788'), '2023-11-14T22:13:20.4997788Z');
    assert.equal(paxText('1700000000.123456789999'), '2023-11-14T22:13:20.123456789Z', 'truncated to 9 digits');
    assert.equal(paxText('1700000000.500'), '2023-11-14T22:13:20.5Z');
    assert.equal(paxText('1700000000.000'), '2023-11-14T22:13:20Z');
    assert.equal(paxText('1700000000.'), '2023-11-14T22:13:20Z');
    assert.equal(paxText('-1.5'), '1969-12-31T23:59:58.5Z', 'time.Unix(-1, -5e8)');
    assert.equal(paxText('-0.25'), '1969-12-31T23:59:59.75Z', "'-0' still negates the fraction");
    assert.equal(paxText('+1.25'), '1970-01-01T00:00:01.25Z');
    assert.equal(paxText('253402300800'), '', 'year 10000');
    assert.equal(paxText('253402300799.999999999'), '9999-12-31T23:59:59.999999999Z');
    assert.equal(paxText('-62167219200'), '0000-01-01T00:00:00Z', 'year 0');
    assert.equal(paxText('-62167219200.5'), '', '0.5 s before year 0 is year -1');
    assert.equal(paxText('9223372036854775807'), '');
    for (const bad of ['', '.5', '1.5e3', '1.-5', 'abc', '1e3', '9223372036854775808', '1_000']) {
      assert.equal(parsePaxTime(bad), null, JSON.stringify(bad));
    }
  });

  it('matches GNU date for 4000 seconds across years 0..9999', { skip: !HAVE_DATE ? 'no date' : false }, () => {
    const r = rng(7);
    const secs: number[] = [0, -1, 86399, 86400, -62167219200, -62135596800, 253402300799, 951782400, 4107542400];
    for (let y = 0; y < 120; y++) secs.push(Math.round((y - 1970) * 365.2425 * 86400)); // years 0..119
    for (let i = 0; i < 4000; i++) secs.push(Math.floor(-62167219200 + r() * (253402300799 + 62167219200)));
    const want = gnuDates(secs);
    secs.forEach((s, i) => assert.equal(goTimeText(s, 0), want[i], `sec ${s}`));
  });

  it('the allocation-free parsePaxTimeInto agrees with parsePaxTime', () => {
    const r = rng(11);
    const alphabet = '0123456789000.-+e x';
    for (let i = 0; i < 20000; i++) {
      const n = Math.floor(r() * 26);
      let s = '';
      for (let k = 0; k < n; k++) s += alphabet[Math.floor(r() * alphabet.length)];
      if (r() < 0.5) s = String(Math.floor((r() - 0.3) * 1e12)) + (r() < 0.7 ? '.' + String(Math.floor(r() * 1e12)) : '');
      const want = parsePaxTime(s);
      const ok = parsePaxTimeInto(s);
      assert.equal(ok, want !== null, JSON.stringify(s));
      if (want !== null) {
        assert.ok(Object.is(paxTime.sec, want.sec) || paxTime.sec === want.sec, JSON.stringify(s));
        assert.equal(paxTime.nsec, want.nsec, JSON.stringify(s));
        assert.equal(goTimeText(paxTime.sec, paxTime.nsec), goTimeText(want.sec, want.nsec));
      }
    }
  });

  it('strconv.ParseInt(s, 10, 64)', () => {
    assert.equal(goParseInt('0'), 0);
    assert.equal(goParseInt('-0'), 0);
    assert.ok(Object.is(goParseInt('-0'), 0));
    assert.equal(goParseInt('+42'), 42);
    assert.equal(goParseInt('007'), 7);
    assert.equal(goParseInt('9007199254740991'), 9007199254740991);
    assert.equal(goParseInt('9007199254740993'), 9007199254740993n);
    assert.equal(goParseInt('9223372036854775807'), 9223372036854775807n);
    assert.equal(goParseInt('-9223372036854775808'), -9223372036854775808n);
    for (const bad of ['', '+', '-', ' 1', '1 ', '0x10', '1_0', '9223372036854775808', '-9223372036854775809', '１']) {
      assert.equal(goParseInt(bad), null, JSON.stringify(bad));
    }
  });

  it('ByteString helpers round-trip', () => {
    const s = 'héllo-日本';
    assert.equal(byteString(s).length, Buffer.byteLength(s));
    assert.equal(utf8(byteString(s)), s);
    assert.equal(utf8('\xff'), '\ufffd');
  });
});
