// Issue 11, built with the real tools: layers whose zTOC SOCI's reader would reject or misread are
// refused (code, entry, field, offset) as .tar and as .tar.gz alike; the PAX GNU sparse entries SOCI
// serves are indexed as SOCI's TOC builder does (Go archive/tar), with every file read through the
// zTOC equal to Go's and GNU tar's reading; and a layer's declared kind is checked against its content.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ZtocError } from '../src/errors.js';
import { LayoutStore } from '../src/image/layout-store.js';
import { indexImage } from '../src/jobs/index-image.js';
import { OciLayout } from '../src/layout/index.js';
import { MediaType } from '../src/oci/types.js';
import { utf8 } from '../src/tar/bytes.js';
import { buildZtoc, type BuildOptions, type BuildResult } from '../src/ztoc/build.js';
import { collect, extractFile } from '../src/ztoc/extract.js';
import { verifyZtoc } from '../src/ztoc/verify.js';
import { runCli } from './helpers/cli.js';
import { cleanup, tempDir } from './helpers/fixtures.js';
import { goOracle, goScan } from './helpers/tar-go-oracle.js';

const work = tempDir('ztoc-interop-');
after(() => cleanup(work));
const GO_TESTDATA = path.join(import.meta.dirname, '..', '..', 'testdata', 'go-tar');
const go = goOracle();

function gzipN(tarPath: string): string {
  const out = `${tarPath}.gz`;
  fs.writeFileSync(out, execFileSync('gzip', ['-n', '-c', tarPath]));
  return out;
}

/** The archive as .tar and as gzip -n .tar.gz. */
function bothKinds(tarPath: string): Array<[string, string]> {
  return [
    ['tar', tarPath],
    ['tar.gz', gzipN(tarPath)],
  ];
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

async function build(file: string, opts: BuildOptions = {}): Promise<BuildResult> {
  return buildZtoc(once(fs.readFileSync(file)), { kind: 'auto', thread: 'inline', spanSize: 65536, layer: file, ...opts });
}

async function refusal(file: string, opts: BuildOptions = {}): Promise<ZtocError> {
  try {
    await build(file, opts);
  } catch (e) {
    if (e instanceof ZtocError) return e;
    throw e;
  }
  assert.fail(`${file}: the build succeeded`);
}

function python(script: string, ...args: string[]): void {
  execFileSync('python3', ['-c', script, ...args]);
}

describe('zTOCs SOCI would reject or misread are refused', () => {
  it('GNU tar by Python tarfile with uid/gid 2^33 (base-256): refused at the entry, naming uid', async () => {
    const make = (file: string, id: string): string => {
      python(
        "import io,sys,tarfile\n" +
          "with tarfile.open(sys.argv[1],'w',format=tarfile.GNU_FORMAT) as t:\n" +
          " for n,i in (('small.txt',0),('big-ids.txt',int(sys.argv[2]))):\n" +
          "  d=n.encode()+b'\\n'; ti=tarfile.TarInfo(n); ti.size=len(d); ti.uid=i; ti.gid=i; ti.mtime=1700000000; t.addfile(ti,io.BytesIO(d))",
        file,
        id,
      );
      return file;
    };
    for (const [kind, f] of bothKinds(make(path.join(work, 'ids-2p33.tar'), String(2 ** 33)))) {
      const e = await refusal(f);
      assert.equal(e.code, 'TAR_UNSUPPORTED_ENTRY', kind);
      assert.equal(e.entry, 'big-ids.txt', kind);
      assert.equal(e.offset, 1024, `${kind}: the entry's header follows small.txt's two blocks`);
      assert.equal(e.offsetKind, 'uncompressed');
      assert.match(e.message, /: uid 8589934592 \(from the header at offset 1024\) does not fit the zTOC's uint32, which holds 0/, kind);
    }
    // The largest uint32 id is what the zTOC holds exactly: such a layer builds.
    for (const [kind, f] of bothKinds(make(path.join(work, 'ids-u32max.tar'), String(2 ** 32 - 1)))) {
      const r = await build(f);
      assert.deepEqual(r.ztoc.entries.map((e) => [e.name, e.uid, e.gid]), [['small.txt', 0, 0], ['big-ids.txt', 4294967295, 4294967295]], kind);
    }
  });

  it("Go's hdr-only.tar: the first header-only entry that declares a size is refused, naming size", async () => {
    const tar = path.join(work, 'hdr-only.tar');
    fs.copyFileSync(path.join(GO_TESTDATA, 'hdr-only.tar'), tar);
    for (const [kind, f] of bothKinds(tar)) {
      const e = await refusal(f);
      assert.equal(e.code, 'TAR_UNSUPPORTED_ENTRY', kind);
      assert.equal(e.entry, 'dir/', kind);
      assert.equal(e.offset, 4608, `${kind}: header of the second "dir/", size 5`);
      assert.match(e.message, /"dir\/" \(dir\) at offset 4608: size 5 is not the length of its data/, kind);
      assert.match(e.message, /next entry "fifo" \(fifo\) at offset 5632 instead of 5120/, kind);
    }
  });

  it('GNU tar --sparse over a file with holes (PAX 0.0, 0.1, 1.0): refused, the hole before the data named', async () => {
    const src = path.join(work, 'holes');
    fs.mkdirSync(src);
    const img = path.join(src, 'sparse.img');
    execFileSync('truncate', ['-s', '1M', img]);
    fs.appendFileSync(img, 'data after a 1 MiB hole');
    for (const version of ['0.0', '0.1', '1.0']) {
      const tar = path.join(work, `holes-${version}.tar`);
      execFileSync('tar', ['-C', src, '--sparse', `--sparse-version=${version}`, '--format=posix', '-cf', tar, 'sparse.img']);
      for (const [kind, f] of bothKinds(tar)) {
        const e = await refusal(f);
        assert.equal(e.code, 'TAR_UNSUPPORTED_ENTRY', `${version} ${kind}`);
        assert.equal(e.entry, 'sparse.img');
        assert.equal(e.offset, 0);
        assert.match(e.message, /GNU sparse file, PAX record "GNU\.sparse\.map" has a hole at byte 0 before stored data/);
      }
    }
  });

  it('ztoc index skips such a layer with the reason and indexes the rest', async () => {
    const dir = path.join(work, 'layout-skip');
    const good = path.join(work, 'good.tar');
    python(
      "import io,sys,tarfile\nwith tarfile.open(sys.argv[1],'w',format=tarfile.GNU_FORMAT) as t:\n d=b'x'*100000; ti=tarfile.TarInfo('good.bin'); ti.size=len(d); t.addfile(ti,io.BytesIO(d))",
      good,
    );
    const bad = path.join(work, 'skip-hdr-only.tar');
    fs.copyFileSync(path.join(GO_TESTDATA, 'hdr-only.tar'), bad);
    const layout = await OciLayout.create(dir);
    await layout.writeImage({ layers: [{ path: gzipN(good), mediaType: MediaType.OciLayerGzip }, { path: gzipN(bad), mediaType: MediaType.OciLayerGzip }], tag: 'v1' });
    const store = await LayoutStore.open(dir);
    try {
      const r = await indexImage(store, 'v1', { minLayerSize: 1, spanSize: 65536, indexVersion: 'v1' });
      const p = r.platforms[0]!;
      assert.equal(p.ztocs.length, 1);
      assert.equal(p.skipped.length, 1);
      assert.match(p.skipped[0]!.reason, /^tar entry "dir\/" \(dir\) at offset 4608: size 5 is not the length of its data/);
    } finally {
      await store.close();
    }
  });
});

describe('PAX GNU sparse 1.0 entries SOCI serves are indexed like SOCI does', () => {
  for (const name of ['pax-nil-sparse-data.tar', 'pax-nil-sparse-hole.tar']) {
    it(`Go's ${name}, gzip -n: the TOC is Go's, every file read through the zTOC equals Go's and GNU tar's reading`, async () => {
      const tar = path.join(work, name);
      fs.copyFileSync(path.join(GO_TESTDATA, name), tar);
      const layer = gzipN(tar);
      const r = await build(layer);
      const z = r.ztoc;
      const bytes = fs.readFileSync(layer);
      const read = async (s: number, e: number): Promise<Uint8Array> => bytes.subarray(s, e);
      await verifyZtoc(z, read, once(bytes));
      // Go 1.19 reads it as SOCI's TOC builder does: the data offset after the sparse map, the logical size.
      assert.deepEqual(
        z.entries.map((e) => [e.name, e.type, e.offset, e.size]),
        [['sparse.db', 'reg', 2048, 1000]],
      );
      assert.equal(z.uncompressedArchiveSize, name.endsWith('data.tar') ? 4096 : 3072);
      const got = await collect(extractFile(z, z.entries[0]!, read));
      const gnu = execFileSync('tar', ['-xOf', tar, utf8(z.entries[0]!.name)]);
      assert.ok(got.equals(gnu), 'zTOC read differs from GNU tar');
      if (go !== null) {
        const [g] = goScan(go, [tar]);
        assert.equal(g!.error, undefined);
        assert.deepEqual(
          g!.entries.map((e) => [e.name, e.type, e.offset, e.size, e.headerOffset, e.contentError]),
          z.entries.map((e) => [e.name, e.type, e.offset, e.size, e.headerOffset, undefined]),
        );
        assert.equal(createHash('sha256').update(got).digest('hex'), g!.entries[0]!.content, 'zTOC read differs from Go');
      }
      // The same bytes as an uncompressed layer give the same TOC.
      assert.deepEqual((await build(tar)).ztoc.entries, z.entries);
    });
  }

  it('a trailing hole that runs past the archive end is refused', async () => {
    // GNU tar 1.0 over data followed by a 1 MiB hole: the hole would be read from beyond the end blocks.
    const src = path.join(work, 'tail');
    fs.mkdirSync(src);
    const img = path.join(src, 'tail.img');
    fs.writeFileSync(img, 'data first\n');
    execFileSync('truncate', ['-s', '1M', img]);
    const tar = path.join(work, 'tail-hole.tar');
    execFileSync('tar', ['-C', src, '--sparse', '--sparse-version=1.0', '--format=posix', '-cf', tar, 'tail.img']);
    const e = await refusal(tar);
    assert.equal(e.code, 'TAR_UNSUPPORTED_ENTRY');
    assert.equal(e.entry, 'tail.img');
    assert.match(e.message, /ends with a hole of \d+ bytes/);
  });
});

describe('the declared layer kind against the content', () => {
  const tar = path.join(work, 'plain.tar');
  python("import io,sys,tarfile\nwith tarfile.open(sys.argv[1],'w') as t:\n d=b'plain\\n'; ti=tarfile.TarInfo('p.txt'); ti.size=len(d); t.addfile(ti,io.BytesIO(d))", tar);
  const gz = gzipN(tar);

  it("buildZtoc kind 'gzip' on a tar and 'tar' on a gzip: LAYER_KIND_MISMATCH; 'auto' and matching kinds build", async () => {
    const e1 = await refusal(tar, { kind: 'gzip', declaredBy: 'media type application/vnd.oci.image.layer.v1.tar+gzip' });
    assert.equal(e1.code, 'LAYER_KIND_MISMATCH');
    assert.equal(e1.message, 'the layer is declared gzip (media type application/vnd.oci.image.layer.v1.tar+gzip), but its content is an uncompressed tar');
    const e2 = await refusal(gz, { kind: 'tar' });
    assert.equal(e2.code, 'LAYER_KIND_MISMATCH');
    assert.equal(e2.message, 'the layer is declared an uncompressed tar, but its content is gzip');
    assert.equal((await build(tar, { kind: 'tar' })).kind, 'tar');
    assert.equal((await build(gz, { kind: 'gzip' })).kind, 'gzip');
    assert.equal((await build(tar)).kind, 'tar');
  });

  it('ztoc build --kind gzip on a tar fails and writes nothing; --kind tar and auto build', () => {
    const out = path.join(work, 'kind.ztoc');
    const r = runCli(['build', '--kind', 'gzip', tar, '-o', out]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /declared gzip \(--kind gzip\), but its content is an uncompressed tar .*\[LAYER_KIND_MISMATCH\]/);
    assert.ok(!fs.existsSync(out));
    assert.equal(runCli(['build', '--kind', 'tar', tar, '-o', out]).code, 0);
    assert.equal(runCli(['build', gz, '-o', out]).code, 0);
    const bad = runCli(['build', '--kind', 'zip', tar, '-o', out]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Allowed choices are gzip, tar, auto/);
  });

  it('ztoc index: a tar layer whose media type says gzip fails the image and pushes nothing', async () => {
    const dir = path.join(work, 'layout-mismatch');
    const layout = await OciLayout.create(dir);
    await layout.writeImage({ layers: [{ path: tar, mediaType: MediaType.OciLayerGzip }], config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, tag: 'v1' });
    const files = (): string[] => fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
    const before = files();
    const indexJson = fs.readFileSync(path.join(dir, 'index.json'));
    const store = await LayoutStore.open(dir);
    try {
      await assert.rejects(indexImage(store, 'v1', { minLayerSize: 1, spanSize: 65536, indexVersion: 'v1' }), (e: unknown) => {
        assert.ok(e instanceof ZtocError);
        assert.equal(e.code, 'LAYER_KIND_MISMATCH');
        assert.match(e.message, /declared gzip \(media type application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip\), but its content is an uncompressed tar/);
        return true;
      });
    } finally {
      await store.close();
    }
    assert.deepEqual(files(), before, 'nothing was written into the layout');
    assert.ok(fs.readFileSync(path.join(dir, 'index.json')).equals(indexJson));
  });
});
