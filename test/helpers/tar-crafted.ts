// Test helper: a deterministic corpus of hand-crafted tar streams covering Go archive/tar's odd
// corners. Expected outcomes are not written here: they come from running Go's reader on these
// exact bytes (live, or recorded in tar-go-expected.ts by tar-record-go.ts).

import {
  BLOCK,
  END,
  b256,
  concat,
  entry,
  header,
  pax,
  paxRecord,
  randomBytes,
  zeros,
} from './tar-fixtures.js';

export interface CraftedCase {
  name: string;
  bytes: Uint8Array;
}

const file = (name: string, data: string | Uint8Array, extra: Parameters<typeof entry>[0] = {}): Uint8Array =>
  entry({ name, ...extra }, data);

function cases(): CraftedCase[] {
  const c: CraftedCase[] = [];
  const add = (name: string, ...parts: Uint8Array[]): void => {
    c.push({ name, bytes: concat(parts) });
  };

  // --- End of archive ---------------------------------------------------------------------
  add('empty stream');
  add('only end blocks', END);
  add('one zero block then EOF', zeros(BLOCK));
  add('one file, no end blocks', file('a', 'abc'));
  add('one file, one zero block', file('a', 'abc'), zeros(BLOCK));
  add('one file, end blocks, record padding', file('a', 'abc'), END, zeros(8192));
  add('zero block then non-zero block', file('a', 'abc'), zeros(BLOCK), file('b', 'x'));
  add('zero block then partial block', file('a', 'abc'), zeros(BLOCK), zeros(100));
  add('end blocks then garbage', file('a', 'abc'), END, randomBytes(700, 5));
  add('EOF in last padding', file('a', 'abc').subarray(0, BLOCK + 100));
  add('EOF right after data', file('a', 'abc').subarray(0, BLOCK + 3));
  add('EOF inside data', file('a', randomBytes(2000, 1)).subarray(0, BLOCK + 1500));
  add('EOF inside header', file('a', 'abc'), header({ name: 'b' }).subarray(0, 300));
  add('EOF right after a header with data', header({ name: 'b', size: 10 }));

  // --- Checksums and formats --------------------------------------------------------------
  add('bad checksum', file('a', 'abc'), header({ name: 'b', checksum: 'bad' }), END);
  add(
    'signed checksum accepted',
    header({ name: 'h\xe9\xff\xfe', size: 3, checksum: 'signed' }),
    zeros(BLOCK).fill(0x61, 0, 3),
    END,
  );
  add('checksum field garbage', header({ name: 'a', checksum: { raw: '0001z2\0 ' } }), END);
  add('v7 header', file('v7file', 'seven', { format: 'v7', uname: 'ignored' }), END);
  add('gnu header', file('gnufile', 'gnu', { format: 'gnu' }), END);
  add(
    'star header with prefix and times',
    file('name', 'star', { format: 'star', prefix: 'star/prefix', atime: 1600000000, ctime: 1600000001 }),
    END,
  );
  add('star header with bad atime', file('name', 'star', { format: 'star', atime: '99999999999x' }), END);
  add('ustar prefix', file('base.txt', 'u', { prefix: 'some/long/prefix' }), END);
  add('ustar prefix, empty name', file('', 'u', { prefix: 'pfx' }), END);
  add(
    'gnu pre-Go1.8 prefix fallback',
    file('fallback.txt', 'g', { format: 'gnu', prefix: 'old/go/prefix/that/is/not/octal' }),
    END,
  );
  add(
    'gnu non-ascii prefix ignored',
    file('fallback.txt', 'g', { format: 'gnu', prefix: 'non/ascii/\xe9/prefix' }),
    END,
  );
  add('gnu valid atime ctime', file('t.txt', 'g', { format: 'gnu', atime: 1600000000, ctime: 1600000001 }), END);

  // --- Numeric fields ---------------------------------------------------------------------
  add('octal with spaces', file('sp', 'abc', { mode: ' 644 \0\0\0', uid: '  1750 \0', mtime: ' 14524277000' }), END);
  add('octal all spaces', file('sp', 'abc', { mode: '        ', uid: '\0\0\0\0\0\0\0\0' }), END);
  add('octal digit 9', file('bad', 'abc', { mode: '0000649\0' }), END);
  add('octal embedded space', file('bad', 'abc', { mode: '064 4\0\0\0' }), END);
  add('octal embedded NUL', file('ok', 'abc', { mode: '064\x004\0\0\0' }), END);
  add('octal sign', file('bad', 'abc', { uid: '+000017\0' }), END);
  add('bad devmajor', file('bad', 'abc', { devmajor: 'abc' }), END);
  add('bad devmajor v7 ignored', file('ok', 'abc', { format: 'v7', patch: [[329, 'abc']] }), END);
  add('base-256 size', file('b256', randomBytes(1000, 2), { size: b256(1000n, 12) }), END);
  add('base-256 uid gid', file('ids', 'x', { uid: b256(5000000000n, 8), gid: b256(-2n, 8) }), END);
  add('base-256 negative mtime', file('neg', 'x', { mtime: b256(-1000000n, 12) }), END);
  add('base-256 huge mtime', file('huge', 'x', { mtime: b256(1n << 60n, 12) }), END);
  add('base-256 year 10000 mtime', file('y10k', 'x', { mtime: b256(253402300800n, 12) }), END);
  add('base-256 mtime overflow', file('ovf', 'x', { mtime: new Uint8Array([0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }), END);
  add('base-256 mode', file('mode', 'x', { mode: b256(0o100755n, 8) }), END);
  add('base-256 negative size', header({ name: 'negsize', size: b256(-1n, 12) }), END);
  add('negative size on a directory', header({ name: 'negdir/', typeflag: '5', size: b256(-5n, 12) }), END);
  add('mtime year 0', file('y0', 'x', { mtime: b256(-62167219200n, 12) }), END);
  add('mtime year -1', file('yneg', 'x', { mtime: b256(-62167219201n, 12) }), END);
  add('mtime 9999-12-31T23:59:59', file('y9999', 'x', { mtime: b256(253402300799n, 12) }), END);

  // --- Types ------------------------------------------------------------------------------
  add('TypeRegA file', file('rega', 'data', { typeflag: 0 }), END);
  add('TypeRegA dir', header({ name: 'regadir/', typeflag: 0 }), END);
  add('TypeRegA dir with size', header({ name: 'regadir/', typeflag: 0, size: 5 }), zeros(BLOCK), END);
  add(
    'all header-only types',
    header({ name: 'hl', typeflag: '1', linkname: 'target' }),
    header({ name: 'sl', typeflag: '2', linkname: '../x' }),
    header({ name: 'chr', typeflag: '3', devmajor: 1, devminor: 3 }),
    header({ name: 'blk', typeflag: '4', devmajor: 8, devminor: 0o17 }),
    header({ name: 'd/', typeflag: '5', mode: 0o755 }),
    header({ name: 'fifo', typeflag: '6' }),
    END,
  );
  add('hardlink with size', header({ name: 'hl', typeflag: '1', linkname: 't', size: 700 }), file('next', 'n'), END);
  add('dir with size', header({ name: 'd/', typeflag: '5', size: 100 }), file('next', 'n'), END);
  add('type 7', file('seven', 'x', { typeflag: '7' }), END);
  add('type S', file('sparse', 'x', { typeflag: 'S', format: 'gnu' }), END);
  add('type D', file('dump', 'x', { typeflag: 'D', format: 'gnu' }), END);
  add('type V', file('vol', 'x', { typeflag: 'V', format: 'gnu' }), END);
  add('type Z', file('z', 'x', { typeflag: 'Z' }), END);
  add('type 0x01', file('one', 'x', { typeflag: 1 }), END);
  add('global header', pax([['path', 'global-name'], ['comment', 'x']], 'g', 'pax_global_header'), file('a', 'b'), END);
  add('global header, bad body', pax('garbage', 'g', 'pax_global_header'), file('a', 'b'), END);

  // --- PAX --------------------------------------------------------------------------------
  add('pax path linkpath', pax([['path', 'pax/name'], ['linkpath', 'pax/target']]), header({ name: 'short', typeflag: '2', linkname: 'x' }), END);
  add(
    'pax ids names',
    pax([['uid', '4294967297'], ['gid', '-1'], ['uname', 'pax-user'], ['gname', 'pax-group']]),
    file('ids', 'i'),
    END,
  );
  add('pax uid too big', pax([['uid', '9223372036854775808']]), file('ids', 'i'), END);
  add('pax uid int64 max', pax([['uid', '9223372036854775807'], ['gid', '-9223372036854775808']]), file('ids', 'i'), END);
  add('pax uid plus sign', pax([['uid', '+7']]), file('ids', 'i'), END);
  add('pax uid bad', pax([['uid', '12a']]), file('ids', 'i'), END);
  add('pax empty values', pax([['path', ''], ['uid', ''], ['mtime', ''], ['size', ''], ['foo', '']]), file('keep', 'kk'), END);
  add('pax size override', pax([['size', '3']]), header({ name: 'sz', size: 1000 }), zeros(BLOCK).fill(0x41, 0, 3), END);
  add('pax size on symlink', pax([['size', '999']]), header({ name: 'sl', typeflag: '2', linkname: 't' }), END);
  add('pax negative size', pax([['size', '-1']]), header({ name: 'neg' }), END);
  add('pax size bad', pax([['size', '1x']]), header({ name: 'bad' }), END);
  add('pax size huge', pax([['size', '99999999999999999']]), header({ name: 'huge', typeflag: '5' }), END);
  for (const [i, t] of [
    '1700000000.4997788',
    '1700000000.123456789123',
    '1700000000.',
    '1700000000.000000000',
    '-1.5',
    '-0.5',
    '-0',
    '+5.25',
    '0.000000001',
    '253402300799.999999999',
    '253402300800',
    '-62167219200',
    '-62167219200.5',
    '-62167219201',
    '9223372036854775807',
    '-9223372036854775808.9',
    '1e3',
    '1.5e3',
    '1.-5',
    '.5',
    'abc',
    '',
  ].entries()) {
    add(`pax mtime ${i} ${JSON.stringify(t)}`, pax([['mtime', t]]), file('t', 't'), END);
  }
  add('pax bad atime', pax([['atime', 'x']]), file('t', 't'), END);
  add('pax bad ctime', pax([['ctime', '1.x']]), file('t', 't'), END);
  add('pax xattrs sorted', pax([['SCHILY.xattr.user.b', '2'], ['SCHILY.xattr.user.a', '1'], ['Zed', 'z'], ['abc', 'é']]), file('x', 'x'), END);
  add('pax duplicate key', pax(paxRecord('comment', 'first') + paxRecord('comment', 'second')), file('x', 'x'), END);
  add('pax two x headers', pax([['path', 'first'], ['uid', '5']]), pax([['gname', 'second']]), file('x', 'x'), END);
  add('pax x then L', pax([['path', 'from-pax']]), entry({ name: '././@LongLink', typeflag: 'L' }, 'from-gnu\0'), file('x', 'x'), END);
  add('pax binary value', pax([['SCHILY.xattr.security.capability', '\x01\x00\x00\x02\xff\x00']]), file('cap', 'c'), END);
  add('pax NUL in path', pax(paxRecord('path', 'a\0b')), file('x', 'x'), END);
  add('pax NUL in other value', pax(paxRecord('comment', 'a\0b')), file('x', 'x'), END);
  add('pax NUL in key', pax(paxRecord('com\0ment', 'ab')), file('x', 'x'), END);
  add('pax empty key', pax('9 =value\n'), file('x', 'x'), END);
  add('pax no equals', pax('11 novalue\n'), file('x', 'x'), END);
  add('pax no newline', pax('12 path=abc.'), file('x', 'x'), END);
  add('pax length too big', pax('99 path=abc\n'), file('x', 'x'), END);
  add('pax length too small', pax('3 a=\n'), file('x', 'x'), END);
  add('pax length with plus', pax('+13 path=abc\n'), file('x', 'x'), END);
  add('pax length leading zeros', pax('00014 path=ab\n'), file('x', 'x'), END);
  add('pax length covers only itself', pax('00005 ab\n'), file('x', 'x'), END);
  add('pax no space', pax('12path=abc\n'), file('x', 'x'), END);
  add('pax trailing garbage', pax(paxRecord('path', 'p') + 'junk'), file('x', 'x'), END);
  add('pax empty body', pax(''), file('x', 'x'), END);
  add('pax sparse 0.0 records', pax(paxRecord('GNU.sparse.size', '10') + paxRecord('GNU.sparse.offset', '0') + paxRecord('GNU.sparse.numbytes', '1')), file('x', 'x'), END);
  add('pax sparse 0.0 bad order', pax(paxRecord('GNU.sparse.numbytes', '1') + paxRecord('GNU.sparse.offset', '0')), file('x', 'x'), END);
  add('pax sparse 1.0', pax([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '100'], ['GNU.sparse.name', 'real']]), file('x', '1\n0\n1\n'.padEnd(512, '\0') + 'x'), END);
  add('pax unknown sparse key', pax([['GNU.sparse.whatever', '1']]), file('x', 'x'), END);
  add('pax body exactly 1 MiB', pax(paxRecord('comment', 'c'.repeat((1 << 20) - 17))), file('x', 'x'), END);
  add('pax body 1 MiB + 1', pax(paxRecord('comment', 'c'.repeat((1 << 20) - 16))), file('x', 'x'), END);
  add(
    'pax body over 1 MiB, truncated',
    concat([header({ name: 'PaxHeaders/big', typeflag: 'x', size: (1 << 20) + 100 }), zeros(1 << 20)]),
  );
  add('pax header then EOF', pax([['path', 'p']]));
  add('pax header then end blocks', pax([['path', 'p']]), END);
  add('pax header, EOF in body', pax([['path', 'p'.repeat(600)]]).subarray(0, BLOCK + 300));
  add('pax header, EOF in padding', pax([['path', 'p']]).subarray(0, BLOCK + 100));
  add('pax header negative size', header({ name: 'PaxHeaders/x', typeflag: 'x', size: b256(-1n, 12) }), file('x', 'x'), END);

  // --- GNU long names ---------------------------------------------------------------------
  add('gnu long name and link', entry({ name: '././@LongLink', typeflag: 'L', format: 'gnu' }, 'n'.repeat(300) + '\0'), entry({ name: '././@LongLink', typeflag: 'K', format: 'gnu' }, 't'.repeat(200) + '\0'), header({ name: 'n'.repeat(99), typeflag: '2', linkname: 't'.repeat(99), format: 'gnu' }), END);
  add('gnu two long names', entry({ name: '././@LongLink', typeflag: 'L' }, 'first'), entry({ name: '././@LongLink', typeflag: 'L' }, 'second\0junk'), file('short', 's'), END);
  add('gnu long name then empty', entry({ name: '././@LongLink', typeflag: 'L' }, 'first'), entry({ name: '././@LongLink', typeflag: 'L' }, '\0abc'), file('short', 's'), END);
  add('gnu long name binary', entry({ name: '././@LongLink', typeflag: 'L' }, 'bin\xff\xfe/name'), file('short', 's'), END);
  add('gnu long name over 1 MiB', entry({ name: '././@LongLink', typeflag: 'L' }, 'n'.repeat((1 << 20) + 1)), file('short', 's'), END);
  add('gnu long name then pax path', entry({ name: '././@LongLink', typeflag: 'L' }, 'from-gnu'), pax([['path', 'from-pax']]), file('short', 's'), END);
  add('gnu long link on a file', entry({ name: '././@LongLink', typeflag: 'K' }, 'link-on-reg'), file('reg', 'r'), END);

  // --- Names ------------------------------------------------------------------------------
  add('name 100 bytes, no NUL', file('n'.repeat(100), 'x'), END);
  add('dot names', header({ name: './', typeflag: '5' }), header({ name: './dir/', typeflag: '5' }), file('./dir/f', 'f'), END);
  add('latin1 bytes in name', file('caf\xe9\xff', 'x', { uname: 'us\xe9r' }), END);
  add('utf8 name', file(Buffer.from('日本/ünï.txt', 'utf8').toString('latin1'), 'x'), END);
  return c;
}

let memo: CraftedCase[] | undefined;
export function craftedCases(): CraftedCase[] {
  memo ??= cases();
  return memo;
}
