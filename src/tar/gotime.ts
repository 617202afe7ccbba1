// Owns Go time semantics for tar timestamps: strconv.ParseInt, archive/tar parsePAXTime, time.Unix
// normalisation, and time.Time.MarshalText() rendered in UTC (proleptic Gregorian, no Date).

import { latin1 } from './bytes.js';

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * Go strconv.ParseInt(s, 10, 64): optional '+'/'-', then one or more ASCII digits, within int64.
 * Returns null on a syntax or range error; a bigint only when the value is not a safe JS integer.
 */
export function goParseInt(s: string): number | bigint | null {
  const len = s.length;
  if (len === 0) return null;
  let i = 0;
  let neg = false;
  const c0 = s.charCodeAt(0);
  if (c0 === 0x2b || c0 === 0x2d) {
    neg = c0 === 0x2d;
    i = 1;
    if (len === 1) return null;
  }
  if (len - i <= 15) {
    let x = 0;
    for (; i < len; i++) {
      const d = s.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) return null;
      x = x * 10 + d;
    }
    return neg ? 0 - x : x;
  }
  for (let k = i; k < len; k++) {
    const d = s.charCodeAt(k) - 0x30;
    if (d < 0 || d > 9) return null;
  }
  const mag = BigInt(s.slice(i));
  const v = neg ? -mag : mag;
  if (v > INT64_MAX || v < INT64_MIN) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

/** A Go time.Time as Unix seconds + nanoseconds in [0, 1e9). sec is NaN when beyond JS safe integers. */
export interface GoTime {
  sec: number;
  nsec: number;
}

/** Go time.Unix(sec, nsec) normalisation for |nsec| < 1e9. */
function unix(sec: number, nsec: number): GoTime {
  if (nsec < 0) {
    nsec += 1e9;
    sec -= 1;
  }
  return { sec, nsec };
}

/** Where parsePaxTimeInto puts its result when the caller passes no object of its own. */
export const paxTime: GoTime = { sec: 0, nsec: 0 };

/**
 * parsePaxTime without allocating in the common case (up to 15 digits of seconds): the result goes
 * to out (the scanner passes its own). Returns false where Go returns ErrHeader.
 */
export function parsePaxTimeInto(s: string, out: GoTime = paxTime): boolean {
  const len = s.length;
  let i = 0;
  let neg = false;
  if (len > 0 && (s.charCodeAt(0) === 0x2b || s.charCodeAt(0) === 0x2d)) {
    neg = s.charCodeAt(0) === 0x2d;
    i = 1;
  }
  let sec = 0;
  const digits0 = i;
  for (; i < len; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) break;
    sec = sec * 10 + d;
  }
  if (i === digits0 || i - digits0 > 15 || (i < len && s.charCodeAt(i) !== 0x2e)) {
    const t = parsePaxTime(s); // rare: long numbers or errors, done exactly
    if (t === null) return false;
    out.sec = t.sec;
    out.nsec = t.nsec;
    return true;
  }
  let nsec = 0;
  let scale = 1e8;
  for (let k = i + 1; k < len; k++) {
    const d = s.charCodeAt(k) - 0x30;
    if (d < 0 || d > 9) return false;
    if (scale >= 1) {
      nsec += d * scale;
      scale /= 10;
    }
  }
  if (neg) {
    sec = 0 - sec;
    nsec = 0 - nsec;
  }
  if (nsec < 0) {
    nsec += 1e9;
    sec -= 1;
  }
  out.sec = sec;
  out.nsec = nsec;
  return true;
}

/**
 * Go archive/tar parsePAXTime. Returns null where Go returns ErrHeader.
 * Seconds beyond safe integers (necessarily outside MarshalText's year range) become NaN.
 */
export function parsePaxTime(s: string): GoTime | null {
  const dot = s.indexOf('.');
  const ss = dot < 0 ? s : s.slice(0, dot);
  let sn = dot < 0 ? '' : s.slice(dot + 1);
  const parsed = goParseInt(ss);
  if (parsed === null) return null;
  const secs = typeof parsed === 'bigint' ? Number.NaN : parsed;
  if (sn.length === 0) return { sec: secs, nsec: 0 };
  for (let k = 0; k < sn.length; k++) {
    const d = sn.charCodeAt(k) - 0x30;
    if (d < 0 || d > 9) return null;
  }
  if (sn.length < 9) sn = sn + '000000000'.slice(sn.length);
  else sn = sn.slice(0, 9);
  let nsecs = Number(sn);
  if (ss.length > 0 && ss.charCodeAt(0) === 0x2d) nsecs = 0 - nsecs; // Negative correction
  return unix(secs, nsecs);
}

const MIN_SEC = -62167219200; // 0000-01-01T00:00:00Z
const MAX_SEC = 253402300799; // 9999-12-31T23:59:59Z

/**
 * Go time.Time.MarshalText() in UTC. The text is assembled as bytes in a scratch buffer and decoded
 * once (a flat string, not a tree of concatenations); the date part is kept while the day repeats.
 */
export class GoTimeText {
  private readonly tb = new Uint8Array(32);
  private lastDays = Number.NaN;

  private put2(p: number, v: number): void {
    this.tb[p] = 0x30 + Math.floor(v / 10);
    this.tb[p + 1] = 0x30 + (v % 10);
  }

  /**
   * MarshalText of time.Unix(sec, nsec): RFC 3339 with the nanoseconds' trailing zeros trimmed (no
   * fraction when 0). "" where Go fails (year outside [0, 9999]).
   */
  text(sec: number, nsec: number): string {
    if (!(sec >= MIN_SEC && sec <= MAX_SEC)) return '';
    const tb = this.tb;
    const days = Math.floor(sec / 86400);
    let sod = sec - days * 86400;
    if (days !== this.lastDays) {
      this.civilDate(days); // tb[0, 11) = "YYYY-MM-DDT"
      this.lastDays = days;
    }
    const hh = Math.floor(sod / 3600);
    sod -= hh * 3600;
    const mm = Math.floor(sod / 60);
    this.put2(11, hh);
    tb[13] = 0x3a;
    this.put2(14, mm);
    tb[16] = 0x3a;
    this.put2(17, sod - mm * 60);
    let n = 19;
    if (nsec !== 0) {
      tb[n++] = 0x2e;
      let div = 1e8;
      let rest = nsec;
      while (rest !== 0) {
        const d = Math.floor(rest / div);
        tb[n++] = 0x30 + d;
        rest -= d * div;
        div /= 10;
      }
    }
    tb[n++] = 0x5a;
    return latin1(tb, 0, n);
  }

  /** Writes "YYYY-MM-DDT" for a day number since 1970-01-01 into tb[0, 11). */
  private civilDate(days: number): void {
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm, valid for the proleptic calendar).
    const z = days + 719468;
    const era = Math.floor(z / 146097);
    const doe = z - era * 146097;
    const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153);
    const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
    const m = mp < 10 ? mp + 3 : mp - 9;
    const y = yoe + era * 400 + (m <= 2 ? 1 : 0); // 0..9999 here
    this.put2(0, Math.floor(y / 100));
    this.put2(2, y % 100);
    this.tb[4] = 0x2d;
    this.put2(5, m);
    this.tb[7] = 0x2d;
    this.put2(8, d);
    this.tb[10] = 0x54;
  }
}

/** GoTimeText.text for a one-off value (the scanner keeps its own formatter). */
export function goTimeText(sec: number, nsec: number): string {
  return new GoTimeText().text(sec, nsec);
}
