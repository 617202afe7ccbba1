// Owns running one registry test suite under either referrers mechanism: 'tag' talks to Debian's docker-registry
// directly (no referrers API, so ztoc writes the sha256-<hex> fallback index), 'api' talks to the referrers front
// before it (test/helpers/referrers-front.ts). Also reads back what a mechanism recorded, over HTTP, and pushes
// foreign referrers (an SBOM, a signature) that ztoc must keep and ignore.

import assert from 'node:assert/strict';
import { MediaType, type Descriptor, type ImageIndex } from '../../src/oci/types.js';
import { Repository, nextLink, referrersTag } from '../../src/registry/index.js';
import { makeReferrer, startRegistry, type RunningRegistry } from './registry.js';
import { startReferrersFront, type FrontSettings, type ReferrersFront } from './referrers-front.js';

export type ReferrersMode = 'tag' | 'api';

export interface ModeRegistry {
  mode: ReferrersMode;
  reg: RunningRegistry;
  /** Where ztoc and the test's clients talk: the registry itself (tag) or the front before it (api). */
  host: string;
  front: ReferrersFront | undefined;
  stop(): Promise<void>;
}

export async function startModeRegistry(mode: ReferrersMode, front: Partial<FrontSettings> = {}): Promise<ModeRegistry> {
  const reg = await startRegistry();
  if (mode === 'tag') return { mode, reg, host: reg.host, front: undefined, stop: () => reg.stop() };
  const f = await startReferrersFront({ upstream: reg.host, ...front });
  return {
    mode,
    reg,
    host: f.host,
    front: f,
    async stop() {
      await f.stop();
      await reg.stop();
    },
  };
}

export interface Recorded {
  referrers: Descriptor[];
  /** Changes whenever what the mechanism stores changes: the fallback index digest, or the API's answer. */
  fingerprint: string;
}

/**
 * What the mode's mechanism recorded for `subject`, read back over HTTP: the sha256-<hex> fallback index (tag), or
 * the front's referrers API (api), where the fallback tag must then not exist in the registry.
 */
export async function recorded(m: ModeRegistry, name: string, subject: string): Promise<Recorded> {
  const direct = new Repository(m.reg.host, name);
  try {
    const tag = referrersTag(subject);
    if (m.mode === 'tag') {
      const fallback = await direct.fetchManifest(tag);
      return { referrers: (fallback.manifest as ImageIndex).manifests, fingerprint: fallback.descriptor.digest };
    }
    assert.equal(await direct.headManifest(tag), undefined, `the referrers API is there, yet ${tag} was written`);
    const referrers: Descriptor[] = [];
    for (let url: URL | undefined = new URL(`http://${m.host}/v2/${name}/referrers/${subject}`); url !== undefined; ) {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      referrers.push(...(((await res.json()) as { manifests?: Descriptor[] | null }).manifests ?? []));
      url = nextLink(res.headers.get('link') === null ? [] : [res.headers.get('link')!], url);
    }
    return { referrers, fingerprint: JSON.stringify(referrers) };
  } finally {
    await direct.close();
  }
}

/** How many requests the front has seen (0 in tag mode, where there is none): a mark for writesSince. */
export async function requestMark(m: ModeRegistry): Promise<number> {
  return m.front === undefined ? 0 : (await m.front.requests()).length;
}

/** Write requests (anything but GET/HEAD) the front saw since `mark`; [] in tag mode. */
export async function writesSince(m: ModeRegistry, mark: number): Promise<string[]> {
  if (m.front === undefined) return [];
  return (await m.front.requests()).slice(mark).filter((q) => q.method !== 'GET' && q.method !== 'HEAD').map((q) => `${q.method} ${q.url}`);
}

export const FOREIGN_TYPES = ['application/vnd.example.sbom.v1+json', 'application/vnd.dev.cosign.artifact.sig.v1+json'];

/** Pushes one referrer of each FOREIGN_TYPES type for `subject` (through `m.host`); their digests. */
export async function pushForeignReferrers(m: ModeRegistry, name: string, subject: Descriptor): Promise<string[]> {
  const r = new Repository(m.host, name);
  try {
    const out: string[] = [];
    for (const artifactType of FOREIGN_TYPES) {
      const ref = makeReferrer(subject, { artifactType, configMediaType: MediaType.OciEmpty });
      await r.pushBlob(ref.config.desc, ref.config.bytes);
      await r.pushBlob(ref.layer.desc, ref.layer.bytes);
      const res = await r.pushReferrer(ref.manifest.bytes, MediaType.OciManifest, ref.info);
      assert.equal(res.mechanism, m.mode);
      out.push(res.descriptor.digest);
    }
    return out;
  } finally {
    await r.close();
  }
}
