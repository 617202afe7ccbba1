// Test helper: real images from real files. Trees archived with GNU tar and gzip become layers of
// an OCI layout written by our layout code; skopeo (an independent client) pushes them to the
// test registry, as OCI, as Docker v2 (`--format v2s2`), or as a multi-platform index (`--all`).

import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OciLayout } from '../../src/layout/index.js';
import { marshalIndex } from '../../src/oci/gojson.js';
import { MediaType, type Descriptor, type Platform } from '../../src/oci/types.js';
import { makeLayer, makeTree, sh } from './fixtures.js';

export interface BuiltLayer {
  path: string;
  tree: string;
}

/** Three layers: two large gzip layers from real trees (several MiB) and one tiny one. */
export function makeLayers(work: string, label: string): BuiltLayer[] {
  const t1 = makeTree(join(work, `${label}-t1`), { longNames: true, bigSize: 2 << 20 });
  const t2 = join(work, `${label}-t2`);
  mkdirSync(join(t2, 'etc'), { recursive: true });
  writeFileSync(join(t2, 'etc', 'label'), `${label}\n`);
  sh(`head -c 3000000 /dev/urandom > '${join(t2, 'etc', 'blob.bin')}' && cp -r /usr/share/common-licenses '${join(t2, 'licenses')}' 2>/dev/null || true`);
  const t3 = join(work, `${label}-t3`);
  mkdirSync(t3, { recursive: true });
  writeFileSync(join(t3, 'tiny.txt'), `tiny ${label}\n`);
  return [
    { path: makeLayer(t1, join(work, `${label}-1.tar.gz`), 'gnu', 'gzip-n'), tree: t1 },
    { path: makeLayer(t2, join(work, `${label}-2.tar.gz`), 'posix', 'pigz'), tree: t2 },
    { path: makeLayer(t3, join(work, `${label}-3.tar.gz`), 'gnu', 'gzip-n'), tree: t3 },
  ];
}

/** Writes a single-platform image into `dir` under `tag`. */
export async function writeLayoutImage(dir: string, layers: BuiltLayer[], tag: string, platform: Platform = { architecture: 'amd64', os: 'linux' }): Promise<Descriptor> {
  const layout = await OciLayout.create(dir).catch(() => OciLayout.open(dir));
  const img = await layout.writeImage({
    layers: layers.map((l) => ({ path: l.path, mediaType: MediaType.OciLayerGzip })),
    platform,
    tag,
  });
  return img.descriptor;
}

/** Writes an image index over two single-platform images into `dir` under `tag`. */
export async function writeMultiPlatform(dir: string, per: Array<{ layers: BuiltLayer[]; platform: Platform }>, tag: string): Promise<void> {
  const layout = await OciLayout.create(dir);
  const manifests: Descriptor[] = [];
  for (const [i, p] of per.entries()) {
    const img = await layout.writeImage({ layers: p.layers.map((l) => ({ path: l.path, mediaType: MediaType.OciLayerGzip })), platform: p.platform, tag: `p${i}` });
    manifests.push({ mediaType: img.descriptor.mediaType, digest: img.descriptor.digest, size: img.descriptor.size, platform: p.platform });
  }
  const bytes = marshalIndex({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests });
  await layout.addManifestBytes(bytes, MediaType.OciIndex, { tag });
}

/**
 * Two gzip layers from real trees (about 0.5 MiB and 0.3 MiB compressed, several 128 KiB spans each) and one tiny
 * one: a lighter image than makeLayers for tests that run the CLI many times.
 */
export function makeSmallLayers(work: string, label: string): BuiltLayer[] {
  const t1 = makeTree(join(work, `${label}-s1`), { longNames: true, bigSize: 512 << 10 });
  const t2 = join(work, `${label}-s2`);
  mkdirSync(join(t2, 'etc'), { recursive: true });
  writeFileSync(join(t2, 'etc', 'label'), `${label}\n`);
  sh(`head -c 300000 /dev/urandom > '${join(t2, 'etc', 'blob.bin')}' && cp -r /usr/share/common-licenses '${join(t2, 'licenses')}' 2>/dev/null || true`);
  const t3 = join(work, `${label}-s3`);
  mkdirSync(t3, { recursive: true });
  writeFileSync(join(t3, 'tiny.txt'), `tiny ${label}\n`);
  return [
    { path: makeLayer(t1, join(work, `${label}-s1.tar.gz`), 'gnu', 'gzip-n'), tree: t1 },
    { path: makeLayer(t2, join(work, `${label}-s2.tar.gz`), 'posix', 'pigz'), tree: t2 },
    { path: makeLayer(t3, join(work, `${label}-s3.tar.gz`), 'gnu', 'gzip-n'), tree: t3 },
  ];
}

export interface SkopeoPushOptions {
  format?: 'oci' | 'v2s2';
  all?: boolean;
  /** `user:password` for the destination registry (skopeo `--dest-creds`). */
  creds?: string;
}

function skopeoArgs(dir: string, tag: string, host: string, repo: string, opts: SkopeoPushOptions): string[] {
  const args = ['copy', '--quiet', '--dest-tls-verify=false'];
  if (opts.format) args.push('--format', opts.format);
  if (opts.all) args.push('--all');
  if (opts.creds !== undefined) args.push('--dest-creds', opts.creds);
  // skopeo copies blobs unchanged (layers keep their bytes and digests; v2s2 only renames media types).
  args.push(`oci:${dir}:${tag}`, `docker://${host}/${repo}:${tag}`);
  return args;
}

/** Pushes `oci:DIR:TAG` to `HOST/REPO:TAG` with skopeo. */
export function skopeoPush(dir: string, tag: string, host: string, repo: string, opts: SkopeoPushOptions = {}): void {
  execFileSync('skopeo', skopeoArgs(dir, tag, host, repo, opts), { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * skopeoPush without blocking the event loop: needed when a server skopeo talks to runs in this process (the token
 * server of `startRegistry({auth: 'token'})`), which a synchronous push would deadlock.
 */
export function skopeoPushAsync(dir: string, tag: string, host: string, repo: string, opts: SkopeoPushOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('skopeo', skopeoArgs(dir, tag, host, repo, opts), { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err !== null) reject(new Error(`skopeo push to ${host}/${repo}:${tag} failed: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}
