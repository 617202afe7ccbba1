// Scanner vs real tools: archives written by GNU tar (gnu, oldgnu, posix, ustar, v7) and Python's
// tarfile, checked against the source tree's bytes, GNU tar's and Python's own listings, and (when a
// Go toolchain is installed) Go archive/tar itself.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { ZtocError } from '../src/errors.js';
import { TarScanner, byteString, utf8 } from '../src/tar/scanner.js';
import { checkSociReadable } from '../src/tar/soci-rules.js';
import type { TarScanResult, TocEntry } from '../src/tar/types.js';
import { PY_TARFILE, makeTree, run, runLenient, scan, scanOk } from './helpers/tar-fixtures.js';
import { goOracle, goOutcome, goScan, ourOutcome } from './helpers/tar-go-oracle.js';

const HAVE_TAR = spawnSync('tar', ['--version'], { stdio: 'ignore' }).status === 0;
const HAVE_PY = spawnSync('python3', ['--version'], { stdio: 'ignore' }).status === 0;

const PY_LIST = String.raw`
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1], encoding='utf-8', errors='surrogateescape') as tf:
    for ti in tf:
        b = lambda s: s.encode('utf-8', 'surrogateescape').hex()
        out.append({'name': b(ti.name), 'type': ti.type.decode('latin1'), 'linkname': b(ti.linkname),
                    'size': ti.size, 'offset': ti.offset_data, 'mode': ti.mode, 'uid': ti.uid, 'gid': ti.gid,
                    'uname': b(ti.uname), 'gname': b(ti.gname), 'devmajor': ti.devmajor, 'devminor': ti.devminor,
                    'pax': sorted([[b(k), b(v)] for k, v in ti.pax_headers.items()])})
print(json.dumps(out))
`;

interface PyEntry {
  name: string;
  type: string;
  linkname: string;
  size: number;
  offset: number;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

const PY_TYPES: Record<string, TocEntry['type']> = {
  '0': 'reg',
  '\0': 'reg',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

function pyList(file: string): PyEntry[] {
  const raw = JSON.parse(run('python3', ['-c', PY_LIST, file]).toString('utf8')) as PyEntry[];
  const h = (s: string): string => Buffer.from(s, 'hex').toString('latin1');
  return raw.map((e) => ({ ...e, name: h(e.name), linkname: h(e.linkname), uname: h(e.uname), gname: h(e.gname) }));
}

/** GNU tar's own list of member names (raw bytes, as stored). */
function gnuList(file: string): string[] {
  const out = run('tar', ['--quoting-style=literal', '-tf', file]).toString('latin1');
  return out.split('\n').slice(0, -1);
}

const stripSlash = (s: string): string => s.replace(/\/+$/, '');

/** The checks every archive must pass, whatever wrote it. */
function checkArchive(file: string, root: string | null): TarScanResult {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const res = scanOk(bytes, 1 << 20);

  // Names as GNU tar lists them, in order.
  assert.deepEqual(
    res.entries.map((e) => e.name),
    gnuList(file),
  );

  // Python's view: types, link names, sizes, data offsets, ids.
  const py = pyList(file);
  assert.equal(py.length, res.entries.length);
  res.entries.forEach((e, i) => {
    const p = py[i]!;
    assert.equal(stripSlash(e.name), stripSlash(p.name), `name ${i}`);
    assert.equal(e.type, PY_TYPES[p.type], `type of ${e.name}`);
    assert.equal(e.linkname, p.linkname, `linkname of ${e.name}`);
    assert.equal(e.offset, p.offset, `offset of ${e.name}`);
    if (e.type === 'reg') assert.equal(e.size, p.size, `size of ${e.name}`);
    assert.equal(e.mode & 0o7777, p.mode, `mode of ${e.name}`);
    assert.equal(e.uid, p.uid);
    assert.equal(e.gid, p.gid);
    assert.equal(e.uname, p.uname);
    assert.equal(e.gname, p.gname);
    if (e.type === 'char' || e.type === 'block') {
      assert.equal(e.devmajor, p.devmajor);
      assert.equal(e.devminor, p.devminor);
    }
  });

  // Regular files: the bytes at [offset, offset+size) are the file's content.
  for (const e of res.entries) {
    if (e.type !== 'reg') continue;
    const data = bytes.subarray(e.offset, e.offset + e.size);
    if (root !== null) {
      const src = fs.readFileSync(Buffer.concat([Buffer.from(root + '/'), Buffer.from(e.name, 'latin1')]));
      assert.ok(Buffer.from(data).equals(src), `content of ${utf8(e.name)}`);
    }
  }

  // Header offsets chain like SOCI's derivation, and the archive ends at the 2nd zero block.
  let next = 0;
  for (const e of res.entries) {
    assert.equal(e.headerOffset, next);
    assert.ok(e.offset >= e.headerOffset + 512 && e.offset % 512 === 0);
    const nb = e.type === 'reg' ? e.size : 0;
    next = e.offset + Math.ceil(nb / 512) * 512;
  }
  assert.equal(res.archiveSize, next + 1024);
  assert.ok(bytes.subarray(next).every((x) => x === 0), 'only zeros after the last entry');
  return res;
}

describe('tar scanner on real archives', { skip: !HAVE_TAR || !HAVE_PY ? 'needs GNU tar and python3' : false }, () => {
  let dir = '';
  let root = '';
  let xattrs = false;
  const archives: Record<string, string> = {};

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ztoc-tar-real-'));
    root = path.join(dir, 'src');
    fs.mkdirSync(root);
    xattrs = makeTree(root).xattrs;
    const fixed = ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000'];
    const tarTo = (name: string, args: string[], lenient = false): void => {
      const f = path.join(dir, name);
      const all = ['-C', root, '-cf', f, ...args, 'tree'];
      if (lenient) runLenient('tar', all);
      else run('tar', all);
      archives[name] = f;
    };
    tarTo('gnu.tar', ['--format=gnu']);
    tarTo('gnu-fixed.tar', ['--format=gnu', ...fixed]);
    tarTo('oldgnu.tar', ['--format=oldgnu']);
    tarTo('posix.tar', ['--format=posix', ...(xattrs ? ['--xattrs', '--xattrs-include=user.*'] : [])]);
    tarTo('posix-fixed.tar', ['--format=posix', ...fixed]);
    // ustar/v7 cannot hold every name in the tree: tar skips those (exit 2) and writes the rest.
    tarTo('ustar.tar', ['--format=ustar', ...fixed], true);
    tarTo('v7.tar', ['--format=v7'], true);
    for (const kind of ['pax', 'gnu']) {
      const f = path.join(dir, `py-${kind}.tar`);
      run('python3', ['-c', PY_TARFILE, f, kind]);
      archives[`py-${kind}.tar`] = f;
    }
  });

  after(() => {
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const name of ['gnu.tar', 'gnu-fixed.tar', 'oldgnu.tar', 'posix.tar', 'posix-fixed.tar', 'ustar.tar', 'v7.tar']) {
    it(`GNU tar ${name}: names, types, links, offsets, contents, archive size`, () => {
      const res = checkArchive(archives[name]!, root);
      const names = new Set(res.entries.map((e) => e.name));
      assert.ok(names.has('tree/hello.txt') || names.has('tree/dir/hard.txt'));
      const sym = res.entries.find((e) => e.name === 'tree/dir/sym');
      assert.equal(sym?.type, 'symlink');
      assert.equal(sym?.linkname, '../hello.txt');
      const hard = res.entries.find((e) => e.type === 'hardlink');
      assert.ok(hard !== undefined && names.has(hard.linkname), 'hardlink points at an archived name');
      if (name !== 'v7.tar') assert.equal(res.entries.find((e) => e.name === 'tree/fifo')?.type, 'fifo');
      if (!name.startsWith('ustar') && !name.startsWith('v7')) {
        assert.ok(res.entries.some((e) => e.name.length > 255), 'has a >255-byte name');
        assert.equal(res.entries.find((e) => e.name === 'tree/dir/longsym')?.linkname, 'x'.repeat(150));
      }
      assert.ok(names.has(byteString('tree/héllo-ñ-日本.txt')));
      if (name !== 'v7.tar') assert.ok(names.has('tree/latin1-\xe9\xff.txt'));
      if (name.includes('fixed')) {
        for (const e of res.entries) {
          assert.equal(e.uid, 0);
          assert.equal(e.gid, 0);
          assert.match(e.modTime, /^2023-11-14T22:13:20(\.\d+)?Z$/);
        }
        if (!name.startsWith('posix')) assert.ok(res.entries.every((e) => e.modTime === '2023-11-14T22:13:20Z'));
      }
      if (name.startsWith('gnu')) assert.equal(fs.statSync(archives[name]!).size % 10240, 0);
      if (name.startsWith('posix')) {
        for (const e of res.entries) {
          const keys = e.xattrs.map(([k]) => k);
          assert.deepEqual([...keys].sort(), keys, 'sorted');
        }
      }
      if (name === 'posix.tar') {
        // Sub-second times go to PAX records, which become the entry's xattrs verbatim.
        const e = res.entries.find((x) => x.name === 'tree/hello.txt')!;
        const rec = e.xattrs.find(([k]) => k === 'mtime')?.[1];
        assert.ok(rec !== undefined && /^\d+\.\d+$/.test(rec), 'GNU tar posix writes an mtime record');
        const frac = rec.split('.')[1]!.padEnd(9, '0').replace(/0+$/, '');
        assert.equal(e.modTime, dateUtc(Number(rec.split('.')[0])).replace('Z', frac === '' ? 'Z' : `.${frac}Z`));
      }
      if (name === 'posix.tar' && xattrs) {
        const x = res.entries.find((e) => e.name === 'tree/xattr.txt');
        assert.deepEqual(
          x?.xattrs.filter(([k]) => k.startsWith('SCHILY.')),
          [['SCHILY.xattr.user.ztoc', 'v1']],
        );
      }
    });
  }

  it('a tiny 10240-byte GNU tar: the archive size ends at the 2nd zero block, not at the file end', () => {
    const f = path.join(dir, 'tiny.tar');
    run('tar', ['-C', path.join(root, 'tree'), '--format=gnu', '-cf', f, 'hello.txt']);
    archives['tiny.tar'] = f;
    assert.equal(fs.statSync(f).size, 10240);
    const res = checkArchive(f, path.join(root, 'tree'));
    // header + one data block + two zero blocks
    assert.equal(res.archiveSize, 4 * 512);
    assert.deepEqual(
      res.entries.map((e) => [e.name, e.offset, e.size]),
      [['hello.txt', 512, 12]],
    );
  });

  it('USTAR prefix split and GNU long names decode to the same full path', () => {
    const want = 'tree/' + 'p'.repeat(60) + '/' + 'q'.repeat(60) + '/' + 'r'.repeat(40) + '.txt';
    for (const name of ['gnu.tar', 'ustar.tar', 'posix.tar']) {
      const res = scanOk(new Uint8Array(fs.readFileSync(archives[name]!)));
      const e = res.entries.find((x) => x.name === want);
      assert.ok(e !== undefined, `${name} has ${want}`);
      assert.equal(e.size, 'prefix split\n'.length);
    }
  });

  it('python tarfile PAX archive: nanosecond mtime, big ids, long names, xattr records, year 10000', () => {
    const res = checkArchive(archives['py-pax.tar']!, null);
    const by = (n: string): TocEntry => {
      const e = res.entries.find((x) => x.name === n);
      assert.ok(e !== undefined, n);
      return e;
    };
    // Python writes str(float): 1700000000.4997788 is the double 1700000000.4997787...
    assert.deepEqual(by('nano.txt').xattrs, [['mtime', '1700000000.4997787']]);
    assert.equal(by('nano.txt').modTime, '2023-11-14T22:13:20.4997787Z');
    assert.deepEqual(by('nano-record.txt').xattrs, [['mtime', '1700000000.4997788']]);
    assert.equal(by('nano-record.txt').modTime, '2023-11-14T22:13:20.4997788Z');
    assert.equal(by('neg.txt').modTime, dateUtc(-86401));
    assert.equal(by('biguid.txt').uid, 3000000000);
    assert.equal(by('biguid.txt').gid, 4294967295);
    assert.equal(by('longuname.txt').uname, 'u'.repeat(40));
    assert.equal(by('longuname.txt').gname, 'g'.repeat(40));
    assert.equal(by('L'.repeat(300)).size, 'long name\n'.length);
    assert.equal(by('ln').linkname, 'T'.repeat(200));
    assert.equal(by('dev-char').devmajor, 4);
    assert.equal(by('dev-char').devminor, 64);
    assert.equal(by('dev-block').type, 'block');
    assert.equal(by('dir/').type, 'dir');
    assert.equal(by(byteString('café-日本.txt')).size, 'utf8 name\n'.length);
    assert.deepEqual(by('xattr.txt').xattrs, [
      ['SCHILY.xattr.security.selinux', 'ctx'],
      ['SCHILY.xattr.user.x', 'v'],
      ['comment', 'hi'],
    ]);
    assert.equal(by('y10k.txt').modTime, '', 'year 10000 cannot be marshalled');
  });

  it('python tarfile GNU archive: base-256 ids and mtimes', () => {
    const res = checkArchive(archives['py-gnu.tar']!, null);
    const by = (n: string): TocEntry => res.entries.find((x) => x.name === n)!;
    assert.equal(by('biguid.txt').uid, 3000000000);
    assert.equal(by('biguid.txt').gid, 4294967295);
    assert.equal(by('neg.txt').modTime, dateUtc(-86401));
    assert.equal(by('bigmtime.txt').modTime, dateUtc(8 ** 11 * 2));
    // 'L' header + one block of name + the entry's own header.
    assert.equal(by('L'.repeat(300)).offset - by('L'.repeat(300)).headerOffset, 3 * 512);
    assert.deepEqual(by('nano.txt').xattrs, []);
  });

  it('matches Go archive/tar on every real archive', { skip: goOracle() === null ? 'no Go toolchain' : false }, () => {
    const names = Object.keys(archives);
    const go = goScan(goOracle()!, names.map((n) => archives[n]!));
    names.forEach((n, i) => {
      const ours = ourOutcome(scan(new Uint8Array(fs.readFileSync(archives[n]!))));
      assert.deepEqual(ours, goOutcome(go[i]!), n);
    });
  });

  it('streams a gzip layer through zlib in reused-buffer chunks', async () => {
    const tarBytes = fs.readFileSync(archives['posix.tar']!);
    const gz = zlib.gzipSync(tarBytes);
    const s = new TarScanner();
    await new Promise<void>((resolve, reject) => {
      const g = zlib.createGunzip({ chunkSize: 16 * 1024 });
      g.on('data', (chunk: Buffer) => s.push(chunk));
      g.on('end', resolve);
      g.on('error', reject);
      g.end(gz);
    });
    assert.deepEqual(s.end(), scanOk(new Uint8Array(tarBytes)));
  });

  it('rejects GNU sparse files (old GNU and PAX formats)', () => {
    const sp = path.join(dir, 'sparse');
    fs.mkdirSync(sp);
    const img = path.join(sp, 'sparse.img');
    execFileSync('truncate', ['-s', '4M', img]);
    fs.appendFileSync(img, 'data at the end');
    for (const [fmt, code] of [
      ['gnu', /type 'S' \(GNU sparse file\)/],
      ['posix', /GNU sparse file, PAX record "GNU\.sparse\./],
    ] as const) {
      const f = path.join(dir, `sparse-${fmt}.tar`);
      run('tar', ['-C', sp, '--sparse', `--format=${fmt}`, '-cf', f, 'sparse.img']);
      // Old GNU 'S' fails the scan (SOCI's TOC builder refuses the type); PAX sparse scans as Go
      // reads it, and the readability rule refuses the hole before its data.
      const r = scan(new Uint8Array(fs.readFileSync(f)));
      let e: ZtocError;
      if ('err' in r) e = r.err;
      else e = ztocError(() => checkSociReadable(r.ok));
      assert.equal(e.code, 'TAR_UNSUPPORTED_ENTRY', fmt);
      assert.match(e.message, code);
      assert.equal(e.offsetKind, 'uncompressed');
    }
  });

  it("rejects a PAX global header ('g') written by python", () => {
    const f = path.join(dir, 'global.tar');
    run('python3', [
      '-c',
      "import io,sys,tarfile\nwith tarfile.open(sys.argv[1],'w',format=tarfile.PAX_FORMAT,pax_headers={'comment':'g'}) as t:\n ti=tarfile.TarInfo('a'); t.addfile(ti)",
      f,
    ]);
    const r = scan(new Uint8Array(fs.readFileSync(f)));
    assert.ok('err' in r);
    assert.equal(r.err.code, 'TAR_UNSUPPORTED_ENTRY');
    assert.equal(r.err.offset, 0);
    assert.match(r.err.message, /^unsupported tar entry type 'g' \(pax global header\) ".*" at offset 0$/);
  });
});

function ztocError(f: () => void): ZtocError {
  try {
    f();
  } catch (e) {
    if (e instanceof ZtocError) return e;
    throw e;
  }
  assert.fail('expected a ZtocError');
}

/** GNU date's rendering of a Unix time in UTC, as RFC 3339 with 'Z'. */
function dateUtc(sec: number): string {
  return execFileSync('date', ['-u', '-d', `@${sec}`, '+%Y-%m-%dT%H:%M:%SZ']).toString().trim();
}
