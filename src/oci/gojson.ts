// Owns Go-canonical JSON: byte-for-byte what Go's `encoding/json` Marshal (Go >= 1.22, the Go that SOCI
// is built with) writes for the image-spec v1.1.1 structs (Manifest, Index, Descriptor, Platform) and for
// generic `map[string]any` values, plus a Go-compatible UTF-8 decoder for the reverse direction.
// The SOCI snapshotter re-marshals every index it fetches and stores it under the original digest, so any
// byte we write differently from Go breaks lazy loading (soci-format.md §5.1 "CRITICAL").
//
// Go rules implemented here:
// - compact, no whitespace, no trailing newline; struct fields in declaration order; map keys sorted by
//   their UTF-8 bytes (not UTF-16 code units);
// - strings: `"` and `\` get a backslash; \b \f \n \r \t use their short forms (Go >= 1.22; Go <= 1.21
//   wrote \u0008 and \u000c); other C0 controls are \u00XX with lower-case hex; `<` `>` `&` are
//   \u003c \u003e \u0026; U+2028/U+2029 are \u2028/\u2029; DEL (0x7f) and all other characters are raw;
// - invalid UTF-8 in a byte string is written as the six characters `\ufffd`, one per bad byte
//   (utf8.DecodeRune semantics). A JS string cannot hold invalid UTF-8; its lone surrogates are written
//   as a raw U+FFFD, which is what Go's Unmarshal-then-Marshal round trip produces for `"\ud800"`;
// - omitempty exactly as the v1.1.1 struct tags; a nil slice for a non-omitempty slice field
//   (Manifest.layers, Index.manifests) is `null`, an empty one is `[]` (see marshalManifest);
// - []byte (Descriptor.data) is standard padded base64; unknown fields are dropped.

import { ZtocError } from '../errors.js';
import type { Descriptor, ImageIndex, ImageManifest, Platform } from './types.js';

/** A JSON value as Go decodes it into `any` (objects become `map[string]any`). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const HEX = '0123456789abcdef';

// ---------------------------------------------------------------------------------------------------
// UTF-8 decoding with Go's utf8.DecodeRune rules (one U+FFFD per invalid byte)
// ---------------------------------------------------------------------------------------------------

/**
 * Decodes one UTF-8 sequence at `i` the way Go's utf8.DecodeRune does.
 * Returns the code point and its length, or cp = -1 with size 1 for an invalid byte.
 */
function decodeRuneGo(b: Uint8Array, i: number): { cp: number; size: number } {
  const n = b.length;
  const c0 = b[i]!;
  if (c0 < 0x80) return { cp: c0, size: 1 };
  const cont = (j: number, lo = 0x80, hi = 0xbf): boolean => j < n && b[j]! >= lo && b[j]! <= hi;
  if (c0 >= 0xc2 && c0 <= 0xdf) {
    if (cont(i + 1)) return { cp: ((c0 & 0x1f) << 6) | (b[i + 1]! & 0x3f), size: 2 };
    return { cp: -1, size: 1 };
  }
  if (c0 >= 0xe0 && c0 <= 0xef) {
    const lo = c0 === 0xe0 ? 0xa0 : 0x80;
    const hi = c0 === 0xed ? 0x9f : 0xbf; // no surrogates
    if (cont(i + 1, lo, hi) && cont(i + 2)) {
      return { cp: ((c0 & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f), size: 3 };
    }
    return { cp: -1, size: 1 };
  }
  if (c0 >= 0xf0 && c0 <= 0xf4) {
    const lo = c0 === 0xf0 ? 0x90 : 0x80;
    const hi = c0 === 0xf4 ? 0x8f : 0xbf;
    if (cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3)) {
      const cp = ((c0 & 0x07) << 18) | ((b[i + 1]! & 0x3f) << 12) | ((b[i + 2]! & 0x3f) << 6) | (b[i + 3]! & 0x3f);
      return { cp, size: 4 };
    }
    return { cp: -1, size: 1 };
  }
  return { cp: -1, size: 1 };
}

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes bytes to a JS string the way Go turns JSON text into strings: every byte that does not start a
 * valid UTF-8 sequence becomes one U+FFFD (WHATWG's TextDecoder would merge some of them). A BOM is kept,
 * so JSON.parse rejects it as Go's Unmarshal does.
 */
export function decodeUtf8Go(bytes: Uint8Array): string {
  try {
    return fatalDecoder.decode(bytes);
  } catch {
    // fall through to the slow path
  }
  const parts: string[] = [];
  let start = 0;
  let i = 0;
  while (i < bytes.length) {
    if (bytes[i]! < 0x80) {
      i++;
      continue;
    }
    const { cp, size } = decodeRuneGo(bytes, i);
    if (cp < 0) {
      if (start < i) parts.push(fatalDecoder.decode(bytes.subarray(start, i)));
      parts.push('\ufffd');
      i += 1;
      start = i;
      continue;
    }
    i += size;
  }
  if (start < bytes.length) parts.push(fatalDecoder.decode(bytes.subarray(start)));
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------------

function escapeAscii(c: number): string | undefined {
  // Returns the escape for an ASCII byte Go escapes (with HTML escaping on), or undefined if it is raw.
  switch (c) {
    case 0x22:
      return '\\"';
    case 0x5c:
      return '\\\\';
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x3c: // <
    case 0x3e: // >
    case 0x26: // &
      return '\\u00' + HEX[c >> 4]! + HEX[c & 0xf]!;
    default:
      if (c < 0x20) return '\\u00' + HEX[c >> 4]! + HEX[c & 0xf]!;
      return undefined;
  }
}

/**
 * Quotes `s` as Go's encoding/json does (HTML escaping on, as json.Marshal has it), returning the JSON
 * string literal including its quotes. A Uint8Array is taken as a Go string's raw bytes (invalid UTF-8
 * becomes `\ufffd`); a JS string is taken as its UTF-8 encoding (a lone surrogate becomes a raw U+FFFD).
 * Encode the result with UTF-8 to get Go's bytes.
 */
export function goJsonString(s: string | Uint8Array): string {
  return typeof s === 'string' ? quoteJsString(s) : quoteGoBytes(s);
}

function quoteJsString(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c < 0x80) {
      rep = escapeAscii(c);
    } else if (c === 0x2028 || c === 0x2029) {
      rep = c === 0x2028 ? '\\u2028' : '\\u2029';
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++; // a valid pair: raw
        continue;
      }
      rep = '\ufffd';
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      rep = '\ufffd';
    }
    if (rep !== undefined) {
      out += s.slice(start, i) + rep;
      start = i + 1;
    }
  }
  return out + s.slice(start) + '"';
}

function quoteGoBytes(b: Uint8Array): string {
  let out = '"';
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      out += escapeAscii(c) ?? String.fromCharCode(c);
      i++;
      continue;
    }
    const { cp, size } = decodeRuneGo(b, i);
    if (cp < 0) out += '\\ufffd';
    else if (cp === 0x2028) out += '\\u2028';
    else if (cp === 0x2029) out += '\\u2029';
    else out += String.fromCodePoint(cp);
    i += size;
  }
  return out + '"';
}

// ---------------------------------------------------------------------------------------------------
// Scalars and generic values
// ---------------------------------------------------------------------------------------------------

function badValue(what: string, value: unknown): ZtocError {
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  return new ZtocError('INVALID_ARGUMENT', `cannot encode ${what}: ${shown}`);
}

/** A Go int / int64 field: must be a safe integer. */
function goInt(n: unknown, what: string): string {
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw badValue(`${what} (not an integer)`, n);
  return Object.is(n, -0) ? '0' : String(n);
}

/** A Go float64 as encoding/json writes it (same shortest-round-trip form and exponent thresholds as JS). */
function goFloat(n: number): string {
  if (!Number.isFinite(n)) throw badValue('a non-finite number', n);
  if (Object.is(n, -0)) return '-0';
  return String(n); // JS uses exponents below 1e-6 and from 1e21 on, like Go; "1e-7" form matches Go's cleanup
}

function str(s: unknown, what: string): string {
  if (s === undefined || s === null) return '""'; // Go zero value of a string field
  if (typeof s !== 'string') throw badValue(`${what} (not a string)`, s);
  return quoteJsString(s);
}

/** Sorts object keys as Go sorts map[string]T keys: by their UTF-8 bytes (after lone-surrogate repair). */
function sortedEntries<T>(obj: Record<string, T>): Array<[Buffer, string, T]> {
  const byKey = new Map<string, [Buffer, string, T]>();
  for (const k of Object.keys(obj)) {
    const kb = Buffer.from(k, 'utf8');
    byKey.set(kb.toString('latin1'), [kb, k, obj[k] as T]); // later duplicates (after repair) win, as in Go
  }
  return [...byKey.values()].sort((a, b) => Buffer.compare(a[0], b[0]));
}

function stringMap(m: Record<string, string>, what: string): string {
  const parts: string[] = [];
  for (const [, k, v] of sortedEntries(m)) parts.push(quoteJsString(k) + ':' + str(v, `${what}[${k}]`));
  return '{' + parts.join(',') + '}';
}

function stringSlice(a: readonly string[], what: string): string {
  return '[' + a.map((s, i) => str(s, `${what}[${i}]`)).join(',') + ']';
}

function isNonEmptyArray(a: unknown): a is unknown[] {
  return Array.isArray(a) && a.length > 0;
}

function isNonEmptyMap(m: unknown): m is Record<string, string> {
  return typeof m === 'object' && m !== null && Object.keys(m).length > 0;
}

/** Encodes a JSON value the way Go marshals the same value decoded into `any`. */
export function goJsonValue(v: JsonValue): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return goFloat(v);
    case 'string':
      return quoteJsString(v);
    default:
      break;
  }
  if (Array.isArray(v)) return '[' + v.map((x) => goJsonValue(x)).join(',') + ']';
  if (typeof v === 'object') {
    const parts: string[] = [];
    for (const [, k, x] of sortedEntries(v)) parts.push(quoteJsString(k) + ':' + goJsonValue(x));
    return '{' + parts.join(',') + '}';
  }
  throw badValue('a non-JSON value', v);
}

/** `json.Marshal(v)` for a value decoded into `any`. */
export function marshalGoValue(v: JsonValue): Buffer {
  return Buffer.from(goJsonValue(v), 'utf8');
}

// ---------------------------------------------------------------------------------------------------
// image-spec v1.1.1 structs
// ---------------------------------------------------------------------------------------------------

const BASE64_STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Descriptor.Data is []byte: base64 in JSON. Go's decoder ignores \r and \n and requires padding. */
function canonicalData(data: unknown): string | undefined {
  if (data === undefined || data === null) return undefined;
  if (typeof data !== 'string') throw badValue('descriptor data (not a base64 string)', data);
  const clean = data.replace(/[\r\n]/g, '');
  if (!BASE64_STD.test(clean)) throw badValue('descriptor data (not standard padded base64)', data);
  const bytes = Buffer.from(clean, 'base64');
  return bytes.length === 0 ? undefined : bytes.toString('base64');
}

function platformJson(p: Platform): string {
  let out = '{"architecture":' + str(p.architecture, 'platform.architecture') + ',"os":' + str(p.os, 'platform.os');
  if (p['os.version']) out += ',"os.version":' + str(p['os.version'], 'platform.os.version');
  if (isNonEmptyArray(p['os.features'])) out += ',"os.features":' + stringSlice(p['os.features'], 'platform.os.features');
  if (p.variant) out += ',"variant":' + str(p.variant, 'platform.variant');
  return out + '}';
}

function descriptorJson(d: Descriptor): string {
  if (typeof d !== 'object' || d === null) throw badValue('a descriptor', d);
  let out =
    '{"mediaType":' +
    str(d.mediaType, 'descriptor.mediaType') +
    ',"digest":' +
    str(d.digest, 'descriptor.digest') +
    ',"size":' +
    goInt(d.size ?? 0, 'descriptor.size');
  if (isNonEmptyArray(d.urls)) out += ',"urls":' + stringSlice(d.urls, 'descriptor.urls');
  if (isNonEmptyMap(d.annotations)) out += ',"annotations":' + stringMap(d.annotations, 'descriptor.annotations');
  const data = canonicalData(d.data);
  if (data !== undefined) out += ',"data":' + quoteJsString(data);
  if (d.platform !== undefined && d.platform !== null) out += ',"platform":' + platformJson(d.platform);
  if (d.artifactType) out += ',"artifactType":' + str(d.artifactType, 'descriptor.artifactType');
  return out + '}';
}

/** A non-omitempty slice: `null` when absent (Go nil), `[]` when empty. */
function descriptorSlice(a: readonly Descriptor[] | undefined | null): string {
  if (a === undefined || a === null) return 'null';
  if (!Array.isArray(a)) throw badValue('a descriptor list', a);
  return '[' + a.map((d) => descriptorJson(d)).join(',') + ']';
}

function headerJson(schemaVersion: unknown, mediaType: unknown, artifactType: unknown): string {
  let out = '{"schemaVersion":' + goInt(schemaVersion ?? 0, 'schemaVersion');
  if (mediaType) out += ',"mediaType":' + str(mediaType, 'mediaType');
  if (artifactType) out += ',"artifactType":' + str(artifactType, 'artifactType');
  return out;
}

function trailerJson(subject: Descriptor | undefined | null, annotations: Record<string, string> | undefined): string {
  let out = '';
  if (subject !== undefined && subject !== null) out += ',"subject":' + descriptorJson(subject);
  if (isNonEmptyMap(annotations)) out += ',"annotations":' + stringMap(annotations, 'annotations');
  return out + '}';
}

/**
 * `json.Marshal(ocispec.Manifest)`. `layers` has no omitempty in v1.1.1: an absent/null `layers` (a Go nil
 * slice, which is what Unmarshal leaves for a missing or `null` field) is written as `null`, an empty
 * array (what Unmarshal makes of `[]`) as `[]`. SOCI never marshals an empty index (ErrEmptyIndex).
 */
export function marshalManifest(m: ImageManifest): Buffer {
  const out =
    headerJson(m.schemaVersion, m.mediaType, m.artifactType) +
    ',"config":' +
    descriptorJson(m.config ?? ({} as Descriptor)) +
    ',"layers":' +
    descriptorSlice(m.layers) +
    trailerJson(m.subject, m.annotations);
  return Buffer.from(out, 'utf8');
}

/** `json.Marshal(ocispec.Index)`; `manifests` (no omitempty) follows the same nil/empty rule as layers. */
export function marshalIndex(i: ImageIndex): Buffer {
  const out =
    headerJson(i.schemaVersion, i.mediaType, i.artifactType) +
    ',"manifests":' +
    descriptorSlice(i.manifests) +
    trailerJson(i.subject, i.annotations);
  return Buffer.from(out, 'utf8');
}

/** `json.Marshal(ocispec.Descriptor)`. */
export function marshalDescriptor(d: Descriptor): Buffer {
  return Buffer.from(descriptorJson(d), 'utf8');
}

/** `json.Marshal(ocispec.Platform)`. */
export function marshalPlatform(p: Platform): Buffer {
  return Buffer.from(platformJson(p), 'utf8');
}

// ---------------------------------------------------------------------------------------------------
// SOCI's own structs
// ---------------------------------------------------------------------------------------------------

/** SOCI's `PrefetchSpan` (soci/prefetch.go): span IDs are inclusive; `priority` is `int` with omitempty. */
export interface PrefetchSpanJson {
  startSpan: number;
  endSpan: number;
  priority?: number;
}

/** SOCI's `PrefetchArtifact`: `prefetch_spans` has no omitempty, so a nil slice would be `null`. */
export interface PrefetchArtifactJson {
  version: string;
  prefetchSpans: readonly PrefetchSpanJson[] | null;
}

/** `json.Marshal(soci.PrefetchArtifact)`: `{"version":…,"prefetch_spans":[{"start_span":a,"end_span":b}]}`. */
export function marshalPrefetchArtifact(a: PrefetchArtifactJson): Buffer {
  const spans =
    a.prefetchSpans === null
      ? 'null'
      : '[' +
        a.prefetchSpans
          .map((s, i) => {
            let o = '{"start_span":' + goInt(s.startSpan, `prefetch_spans[${i}].start_span`) + ',"end_span":' + goInt(s.endSpan, `prefetch_spans[${i}].end_span`);
            if (s.priority !== undefined && s.priority !== 0) o += ',"priority":' + goInt(s.priority, `prefetch_spans[${i}].priority`);
            return o + '}';
          })
          .join(',') +
        ']';
  return Buffer.from('{"version":' + str(a.version, 'version') + ',"prefetch_spans":' + spans + '}', 'utf8');
}
