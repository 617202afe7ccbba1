// Error reporting of the tar scanner: codes, offsets and messages for bad, truncated, unsupported
// and oversized input; sticky failures; options; and what happens after the end of the archive.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ZtocError } from '../src/errors.js';
import { TarScanner } from '../src/tar/scanner.js';
import { END, b256, concat, entry, header, pax, paxRecord, randomBytes, scan, scanOk, zeros } from './helpers/tar-fixtures.js';

function err(bytes: Uint8Array): ZtocError {
  const r = scan(bytes);
  assert.ok('err' in r, 'expected an error');
  assert.ok(r.err instanceof ZtocError);
  assert.equal(r.err.offsetKind, 'uncompressed');
  return r.err;
}

const A = entry({ name: 'a' }, 'abc'); // 1024 bytes

describe('tar scanner errors', () => {
  it('bad checksum: TAR_BAD_HEADER at the header offset', () => {
    const e = err(concat([A, header({ name: 'b', checksum: 'bad' }), END]));
    assert.equal(e.code, 'TAR_BAD_HEADER');
    assert.equal(e.offset, 1024);
    assert.match(e.message, /checksum/);
    assert.match(e.describe(), /uncompressed offset 1024/);
  });

  it('truncated mid-data: TAR_TRUNCATED naming the entry', () => {
    const e = err(concat([A, entry({ name: 'big' }, randomBytes(5000, 1))]).subarray(0, 1024 + 512 + 4000));
    assert.equal(e.code, 'TAR_TRUNCATED');
    assert.equal(e.offset, 1024);
    assert.equal(e.entry, 'big');
    assert.match(e.message, /inside the data of "big".*1000 bytes missing/);
  });

  it('truncated mid-header and mid-meta-body', () => {
    const h = err(concat([A, header({ name: 'b' }).subarray(0, 100)]));
    assert.equal(h.code, 'TAR_TRUNCATED');
    assert.equal(h.offset, 1024);
    const m = err(concat([A, pax([['path', 'x'.repeat(1000)]]).subarray(0, 900)]));
    assert.equal(m.code, 'TAR_TRUNCATED');
    assert.equal(m.offset, 1024);
    assert.match(m.message, /body of a 'x' header/);
  });

  it('zero block followed by a non-zero block', () => {
    const e = err(concat([A, zeros(512), A, END]));
    assert.equal(e.code, 'TAR_BAD_HEADER');
    assert.equal(e.offset, 1536);
    assert.match(e.message, /zero block followed by a non-zero block/);
  });

  it("'g' global header: TAR_UNSUPPORTED_ENTRY with the Go-visible name", () => {
    const e = err(concat([A, A, pax([['comment', 'c']], 'g', 'pax_global_header'), A, END]));
    assert.equal(e.code, 'TAR_UNSUPPORTED_ENTRY');
    assert.equal(e.message, `unsupported tar entry type 'g' (pax global header) "pax_global_header" at offset 2048`);
    assert.equal(e.offset, 2048);
    assert.equal(e.entry, 'pax_global_header');
  });

  it("old GNU sparse entries ('S') and other typeflags are unsupported; a PAX sparse map must fit its data", () => {
    const s = err(concat([A, entry({ name: 'sp', typeflag: 'S', format: 'gnu' }, 'x'), END]));
    assert.equal(s.code, 'TAR_UNSUPPORTED_ENTRY');
    assert.match(s.message, /type 'S' \(GNU sparse file\) "sp" at offset 1024/);
    // PAX sparse 1.0 reads its map from whole data blocks; 1 byte of data is Go's ErrUnexpectedEOF.
    const p = err(concat([pax([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0']]), entry({ name: 'sp' }, 'x'), END]));
    assert.equal(p.code, 'TAR_TRUNCATED');
    assert.equal(p.offset, 1024, 'offset of the entry header itself, after its PAX header');
    assert.match(p.message, /inside the GNU sparse map of "sp"/);
    for (const t of ['7', 'D', 'V', 'M', 'N', 'X']) {
      const u = err(concat([entry({ name: 'n', typeflag: t }, 'x'), END]));
      assert.equal(u.code, 'TAR_UNSUPPORTED_ENTRY', t);
      assert.match(u.message, new RegExp(`type '${t}'`));
    }
  });

  it('malformed PAX records: TAR_BAD_HEADER at the PAX header', () => {
    for (const body of ['garbage', '11 path=x\n', '7 a=b\n', '5 =\n\n', '6 a=b.']) {
      const e = err(concat([A, pax(body), A, END]));
      assert.equal(e.code, 'TAR_BAD_HEADER', JSON.stringify(body));
      assert.equal(e.offset, 1024);
    }
    const bad = err(concat([A, pax([['uid', 'x1']]), A, END]));
    assert.equal(bad.code, 'TAR_BAD_HEADER');
    assert.equal(bad.offset, 1024, 'a bad value is reported at its PAX header');
    assert.match(bad.message, /bad PAX uid "x1"/);
  });

  it('PAX and GNU long-name bodies over 1 MiB: TAR_LIMIT (like Go ErrFieldTooLong)', () => {
    const big = err(concat([A, pax(paxRecord('comment', 'c'.repeat(1 << 20))), A, END]));
    assert.equal(big.code, 'TAR_LIMIT');
    assert.equal(big.offset, 1024);
    const long = err(concat([entry({ name: '././@LongLink', typeflag: 'L' }, 'n'.repeat((1 << 20) + 1)), A, END]));
    assert.equal(long.code, 'TAR_LIMIT');
    assert.equal(long.offset, 0);
    // Go reads limit+1 bytes before giving up: a shorter stream is a truncation.
    const cut = err(concat([header({ name: 'x', typeflag: 'x', size: 2 << 20 }), zeros(1 << 20)]));
    assert.equal(cut.code, 'TAR_TRUNCATED');
  });

  it('maxSpecialFileSize and maxEntries options', () => {
    const bytes = concat([pax([['path', 'p'.repeat(100)]]), A, A, END]);
    const s = new TarScanner({ maxSpecialFileSize: 64 });
    assert.throws(() => {
      s.push(bytes);
      s.end();
    }, (e: unknown) => e instanceof ZtocError && e.code === 'TAR_LIMIT');
    const ok = new TarScanner({ maxSpecialFileSize: 200 });
    ok.push(bytes);
    assert.equal(ok.end().entries.length, 2);
    const few = new TarScanner({ maxEntries: 1 });
    assert.throws(
      () => few.push(bytes),
      (e: unknown) => e instanceof ZtocError && e.code === 'TAR_LIMIT' && /more than 1 entries/.test(e.message),
    );
  });

  it('negative sizes: rejected on files, kept on header-only entries', () => {
    const e = err(concat([header({ name: 'neg', size: b256(-1n, 12) }), END]));
    assert.equal(e.code, 'TAR_BAD_HEADER');
    assert.equal(scanOk(concat([header({ name: 'd/', typeflag: '5', size: b256(-7n, 12) }), END])).entries[0]!.size, -7);
  });

  it('failures are sticky and end() after a failure rethrows it', () => {
    const s = new TarScanner();
    const bytes = concat([A, header({ name: 'b', checksum: 'bad' }), END]);
    assert.throws(() => s.push(bytes));
    assert.throws(() => s.push(END), /checksum/);
    assert.throws(() => s.end(), /checksum/);
    assert.equal(s.finished, false);
  });

  it('after the end of the archive: finished, trailing bytes ignored, end() idempotent', () => {
    const s = new TarScanner();
    s.push(concat([A, END]));
    assert.equal(s.finished, true);
    s.push(randomBytes(4096, 9)); // gzip record padding or garbage: ignored
    const r = s.end();
    assert.equal(r.archiveSize, 2048);
    assert.deepEqual(s.end(), r);
  });

  it('rejects a bad push range', () => {
    const s = new TarScanner();
    assert.throws(() => s.push(new Uint8Array(10), 5, 20), (e: unknown) => e instanceof ZtocError && e.code === 'INVALID_ARGUMENT');
  });

  it('does not retain the pushed buffer (straddling headers and PAX bodies are copied)', () => {
    const bytes = concat([pax([['path', 'from-pax'], ['SCHILY.xattr.user.k', 'v']]), entry({ name: 'x' }, 'data'), END]);
    const s = new TarScanner();
    const buf = new Uint8Array(300);
    for (let i = 0; i < bytes.length; i += 300) {
      const n = Math.min(300, bytes.length - i);
      buf.set(bytes.subarray(i, i + n));
      s.push(buf, 0, n);
      buf.fill(0x55);
    }
    const [e] = s.end().entries;
    assert.equal(e!.name, 'from-pax');
    assert.deepEqual(e!.xattrs, [
      ['SCHILY.xattr.user.k', 'v'],
      ['path', 'from-pax'],
    ]);
  });
});
