// SOCI build options from `soci create`: the xattr optimization decision (SOCI's shouldDisableXattrs) and prefetch
// artifacts (soci/prefetch.go): their Go-canonical bytes, written by hand from the Go struct tags, span geometry
// checked by extracting each file from only the prefetched spans, and the overlay rules (topmost layer wins,
// whiteouts hide, hardlinks and symlinks resolve) through a real layout.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, symlinkSync, linkSync } from 'node:fs';
import { join } from 'node:path';
import { isZtocError } from '../src/errors.js';
import { LayoutStore } from '../src/image/layout-store.js';
import { indexImage } from '../src/jobs/index-image.js';
import { parseSociIndex, ANNOTATION_DISABLE_XATTRS, ANNOTATION_IMAGE_LAYER_DIGEST } from '../src/soci/index.js';
import { parseOptimizations, shouldDisableXattrs } from '../src/soci/optimizations.js';
import { fileSpans, normalizeSpans, parsePrefetchArtifact, prefetchArtifact, prefetchPathsFrom } from '../src/soci/prefetch.js';
import { marshalPrefetchArtifact } from '../src/oci/gojson.js';
import type { TocEntry } from '../src/tar/types.js';
import { decodeZtoc } from '../src/ztoc/decode.js';
import { collect, extractFile, findEntry, spanTable } from '../src/ztoc/extract.js';
import { MediaType } from '../src/oci/types.js';
import { cleanup, makeLayer, prngBytes, tempDir, writeTree } from './helpers/fixtures.js';
import { writeLayoutImage } from './helpers/images.js';
import { LOCAL_GOLDEN } from './helpers/golden.js';

const work = tempDir('ztoc-prefetch-');
after(() => cleanup(work));

function entry(name: string, xattrs: Array<[string, string]> = []): TocEntry {
  return { name, type: 'reg', offset: 512, size: 0, linkname: '', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', modTime: '', devmajor: 0, devminor: 0, xattrs, headerOffset: 0 };
}

test('disable-xattrs: only SCHILY.xattr.* records and a raw .wh..wh..opq name suffix count', () => {
  assert.equal(shouldDisableXattrs([]), true);
  assert.equal(shouldDisableXattrs([entry('a', [['atime', '1'], ['mtime', '2'], ['path', 'a']]), entry('./b/')]), true);
  assert.equal(shouldDisableXattrs([entry('a'), entry('b', [['SCHILY.xattr.user.x', 'v']])]), false);
  assert.equal(shouldDisableXattrs([entry('b', [['SCHILY.xattr.', '']])]), false, 'a bare prefix is an xattr with an empty name');
  assert.equal(shouldDisableXattrs([entry('b', [['schily.xattr.user.x', 'v'], ['LIBARCHIVE.xattr.user.x', 'v']])]), true, 'prefix is case-sensitive');
  assert.equal(shouldDisableXattrs([entry('dir/.wh..wh..opq')]), false);
  assert.equal(shouldDisableXattrs([entry('./.wh..wh..opq')]), false);
  assert.equal(shouldDisableXattrs([entry('dir/x.wh..wh..opq')]), false, 'SOCI tests a plain suffix');
  assert.equal(shouldDisableXattrs([entry('dir/.wh..wh..opq/')]), true, 'a trailing slash is not the suffix');
  assert.equal(shouldDisableXattrs([entry('dir/.wh.file')]), true, 'plain whiteouts set no xattr');
});

test('disable-xattrs on the golden zTOCs: GNU-format and npm layers qualify, PAX layers with xattrs do not', () => {
  const decide = (f: string): boolean => shouldDisableXattrs(decodeZtoc(readFileSync(join(LOCAL_GOLDEN, 'ztoc', f))).entries);
  assert.equal(decide('gnu-tree.tar.gz.span1048576.ztoc'), true);
  assert.equal(decide('semver-7.6.3.tgz.span65536.ztoc'), true);
  assert.equal(decide('pax-tree.tar.gz.span1048576.ztoc'), false); // SCHILY.xattr.user.test
  assert.equal(decide('pax-records.tar.gz.span65536.ztoc'), false);
});

test('--optimizations parsing: SOCI names only, comma lists, duplicates collapse', () => {
  assert.deepEqual(parseOptimizations([]), []);
  assert.deepEqual(parseOptimizations(['xattr', 'xattr,', ' xattr ']), ['xattr']);
  assert.throws(() => parseOptimizations(['xattrs']), (e) => isZtocError(e, 'INVALID_ARGUMENT') && /not a valid optimization \[xattr\]/.test(e.message));
});

test('prefetch artifact JSON is what Go writes for soci.PrefetchArtifact', () => {
  // type PrefetchArtifact struct { Version string `json:"version"`; PrefetchSpans []PrefetchSpan `json:"prefetch_spans"` }
  // type PrefetchSpan struct { StartSpan SpanID `json:"start_span"`; EndSpan SpanID `json:"end_span"`; Priority int `json:"priority,omitempty"` }
  const layer = 'sha256:' + 'ab'.repeat(32);
  const a = prefetchArtifact(layer, [{ start: 0, end: 2 }, { start: 10, end: 15 }]);
  assert.equal(a.bytes.toString('utf8'), '{"version":"1.0","prefetch_spans":[{"start_span":0,"end_span":2},{"start_span":10,"end_span":15}]}');
  assert.equal(a.descriptor.size, a.bytes.length);
  assert.equal(a.descriptor.mediaType, 'application/vnd.amazon.soci.prefetch.v1+json');
  assert.deepEqual(a.descriptor.annotations, { 'com.amazon.soci.image-layer-digest': layer });
  assert.equal(marshalPrefetchArtifact({ version: '1.0', prefetchSpans: [{ startSpan: 5, endSpan: 10, priority: 1 }] }).toString(), '{"version":"1.0","prefetch_spans":[{"start_span":5,"end_span":10,"priority":1}]}');
  assert.equal(marshalPrefetchArtifact({ version: '1.0', prefetchSpans: null }).toString(), '{"version":"1.0","prefetch_spans":null}');
  assert.throws(() => prefetchArtifact(layer, []), (e) => isZtocError(e, 'INVALID_ARGUMENT'));
  // Reading back, as SOCI's UnmarshalPrefetchArtifact: version 1.0 and at least one span.
  const p = parsePrefetchArtifact(a.bytes);
  assert.equal(p.canonical, true);
  assert.deepEqual(p.spans, [{ start: 0, end: 2, priority: 0 }, { start: 10, end: 15, priority: 0 }]);
  assert.equal(parsePrefetchArtifact(Buffer.from('{"prefetch_spans":[{"end_span":3,"start_span":1}],"version":"1.0"}')).canonical, false);
  assert.throws(() => parsePrefetchArtifact(Buffer.from('{"version":"0.9","prefetch_spans":[{"start_span":1,"end_span":1}]}')), /unsupported prefetch artifact version/);
  assert.throws(() => parsePrefetchArtifact(Buffer.from('{"version":"1.0","prefetch_spans":[]}')), /empty/);
  assert.throws(() => parsePrefetchArtifact(Buffer.from('not-json')), /not JSON/);
});

test('span ranges are sorted and overlapping or adjacent ones merged', () => {
  assert.deepEqual(normalizeSpans([]), []);
  assert.deepEqual(
    normalizeSpans([{ start: 7, end: 9 }, { start: 0, end: 1 }, { start: 2, end: 3 }, { start: 8, end: 12 }, { start: 20, end: 20 }, { start: 5, end: 5 }]),
    [{ start: 0, end: 3 }, { start: 5, end: 5 }, { start: 7, end: 12 }, { start: 20, end: 20 }],
  );
});

test('prefetch paths: flags and a JSON array, trimmed, blanks dropped; bad JSON is a usage error', () => {
  assert.deepEqual(prefetchPathsFrom([' /a ', '', '/b'], '["/c", "  ", " d"]'), ['/a', '/b', '/c', 'd']);
  assert.throws(() => prefetchPathsFrom([], '{"a":1}', 'p.json'), (e) => isZtocError(e, 'INVALID_ARGUMENT') && /p\.json: expected a JSON array of strings/.test(e.message));
  assert.throws(() => prefetchPathsFrom([], '[', 'p.json'), (e) => isZtocError(e, 'INVALID_ARGUMENT'));
});

test('fileSpans: every file of a golden layer extracts from its prefetch spans alone', async () => {
  const layer = readFileSync(join(LOCAL_GOLDEN, 'layers', 'pax-records.tar.gz'));
  const z = decodeZtoc(readFileSync(join(LOCAL_GOLDEN, 'ztoc', 'pax-records.tar.gz.span65536.ztoc')));
  const spans = spanTable(z);
  let multi = 0;
  for (const e of z.entries.filter((x) => x.type === 'reg' && x.size > 0)) {
    const r = fileSpans(z, e)!;
    if (r.end > r.start) multi++;
    // SOCI's rule: span of the first byte … span of offset+size.
    assert.ok(spans[r.start]!.uncompressedStart <= e.offset && e.offset < spans[r.start]!.uncompressedEnd);
    const allowed = (s: number, t: number): boolean => s >= spans[r.start]!.compressedStart && t <= spans[r.end]!.compressedEnd;
    const data = await collect(
      extractFile(z, e, async (s, t) => {
        assert.ok(allowed(s, t), `${e.name}: read [${s}, ${t}) outside spans ${r.start}-${r.end}`);
        return layer.subarray(s, t);
      }),
    );
    assert.equal(data.length, e.size);
  }
  assert.ok(multi >= 2, 'the layer has files over several spans');
  assert.equal(fileSpans(z, { ...findEntry(z, 'app/nanotime.txt')!, size: 0 }), undefined);
});

const tree = (name: string, files: Record<string, string | Buffer>): string => writeTree(join(work, name), files);

test('indexImage with prefetch files and the xattr optimization over an overlay', async () => {
  const lower = tree('lower', {
    'etc/a.conf': 'lower a\n',
    'etc/b.conf': 'lower b\n',
    'opt/app/x.bin': prngBytes(300_000, 1),
    'usr/lib/libz.so.1.3': prngBytes(200_000, 2),
    'data/big.bin': prngBytes(400_000, 3),
  });
  symlinkSync('libz.so.1.3', join(lower, 'usr/lib/libz.so.1'));
  linkSync(join(lower, 'data/big.bin'), join(lower, 'data/big-hardlink'));
  const upper = tree('upper', {
    'etc/.wh.a.conf': '',
    'etc/b.conf': 'upper b\n',
    'opt/app/.wh..wh..opq': '',
    'opt/app/new.bin': prngBytes(150_000, 4),
    'srv/empty': '',
  });
  const top = tree('top', { 'tiny.txt': 'tiny\n' });
  const layers = [
    { path: makeLayer(lower, join(work, 'lower.tar.gz'), 'gnu', 'gzip-n'), tree: lower },
    { path: makeLayer(upper, join(work, 'upper.tar.gz'), 'gnu', 'gzip-n'), tree: upper },
    { path: makeLayer(top, join(work, 'top.tar.gz'), 'gnu', 'gzip-n'), tree: top },
  ];
  const dir = join(work, 'layout');
  await writeLayoutImage(dir, layers, 'v1');
  const store = await LayoutStore.open(dir);
  try {
    const paths = ['/etc/b.conf', '/etc/a.conf', 'opt/app/x.bin', '/opt/app/new.bin', '/usr/lib/libz.so.1', '/data/big-hardlink', '/tiny.txt', '/srv/empty', '/nope', '/etc'];
    const r = await indexImage(store, 'v1', { minLayerSize: 100_000, spanSize: 65536, optimizations: ['xattr'], prefetchPaths: paths });
    const p = r.platforms[0]!;
    assert.equal(p.status, 'indexed');
    const root = await store.resolve('v1');
    assert.equal(root.doc.kind, 'manifest');
    const [lowerLayer, upperLayer] = root.doc.kind === 'manifest' ? root.doc.manifest.layers : [];
    // The upper layer holds an opaque whiteout: no disable-xattrs; the lower one qualifies.
    assert.deepEqual(p.ztocs.map((z) => [z.layer, z.disableXattrs === true]), [[lowerLayer!.digest, true], [upperLayer!.digest, false]]);
    const files = new Map(p.prefetch!.files.map((f) => [f.path, f.layer]));
    assert.deepEqual([...files.keys()].sort(), ['/data/big-hardlink', '/etc/b.conf', '/opt/app/new.bin', '/usr/lib/libz.so.1']);
    assert.equal(files.get('/opt/app/new.bin'), upperLayer!.digest);
    assert.equal(files.get('/etc/b.conf'), upperLayer!.digest, 'the upper copy wins');
    assert.equal(files.get('/usr/lib/libz.so.1'), lowerLayer!.digest);
    const missed = new Map(p.prefetch!.missed.map((m) => [m.path, m.reason]));
    assert.match(missed.get('/etc/a.conf')!, /hidden by a whiteout/);
    assert.match(missed.get('opt/app/x.bin')!, /hidden by a whiteout/);
    assert.match(missed.get('/tiny.txt')!, /has no zTOC/);
    assert.match(missed.get('/srv/empty')!, /is empty/);
    assert.match(missed.get('/nope')!, /no such file/);
    assert.match(missed.get('/etc')!, /is a dir/);

    // The pushed index: zTOCs, then one prefetch artifact per layer in layer order, and the blobs are there.
    const blob = (d: string): Buffer => readFileSync(join(dir, 'blobs', 'sha256', d.slice(7)));
    const info = parseSociIndex(blob(p.sociIndex!.digest));
    assert.equal(info.canonical, true);
    assert.deepEqual(info.manifest.layers.map((l) => l.mediaType), [MediaType.OctetStream, MediaType.OctetStream, MediaType.SociPrefetch, MediaType.SociPrefetch]);
    assert.equal(info.manifest.layers[0]!.annotations![ANNOTATION_DISABLE_XATTRS], 'true');
    assert.equal(info.manifest.layers[1]!.annotations![ANNOTATION_DISABLE_XATTRS], undefined);
    assert.deepEqual(info.prefetches.map((d) => d.annotations![ANNOTATION_IMAGE_LAYER_DIGEST]), [lowerLayer!.digest, upperLayer!.digest]);
    // Each lower-layer file extracts from its layer's prefetched spans alone.
    const lowerZtoc = decodeZtoc(blob(p.ztocs[0]!.ztoc.digest));
    const art = parsePrefetchArtifact(blob(info.prefetches[0]!.digest));
    assert.equal(art.canonical, true);
    const spans = spanTable(lowerZtoc);
    const inPrefetch = (s: number, t: number): boolean => art.spans.some((a) => s >= spans[a.start]!.compressedStart && t <= spans[a.end]!.compressedEnd);
    const layerBytes = blob(lowerLayer!.digest);
    for (const name of ['usr/lib/libz.so.1.3', 'data/big-hardlink']) { // GNU tar stores big-hardlink first (sorted); big.bin links to it
      const e = findEntry(lowerZtoc, name)!;
      const got = await collect(
        extractFile(lowerZtoc, e, async (s, t) => {
          assert.ok(inPrefetch(s, t), `${name}: [${s}, ${t}) not prefetched`);
          return layerBytes.subarray(s, t);
        }),
      );
      assert.ok(got.equals(readFileSync(join(lower, name))));
    }
    // Same settings again: the identical index is found, nothing new is pushed.
    const again = await indexImage(store, 'v1', { minLayerSize: 100_000, spanSize: 65536, optimizations: ['xattr'], prefetchPaths: paths });
    assert.equal(again.platforms[0]!.status, 'exists');
    assert.equal(again.platforms[0]!.sociIndex!.digest, p.sociIndex!.digest);
    // v2: the same artifacts, in the index the SOCI-enabled image names.
    const v2 = await indexImage(store, 'v1', { minLayerSize: 100_000, spanSize: 65536, optimizations: ['xattr'], prefetchPaths: paths, indexVersion: 'v2', tag: 'v1-soci' });
    const v2info = parseSociIndex(blob(v2.platforms[0]!.sociIndex!.digest));
    assert.equal(v2info.version, 'v2');
    assert.deepEqual(v2info.prefetches.map((d) => d.digest), info.prefetches.map((d) => d.digest));
    assert.deepEqual(v2info.manifest.layers.slice(0, 2), info.manifest.layers.slice(0, 2));
  } finally {
    await store.close();
  }
});
