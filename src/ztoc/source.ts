// Owns the chunk streams the builder reads: a local layer file (src/fs/file-chunks.ts: one reused
// buffer; the builder copies or hashes each chunk before asking for the next), and the mark a store
// puts on a blob stream that verifies its own digest, so that the builder doesn't hash the same
// bytes a second time.

export { readFileChunks } from '../fs/file-chunks.js';

/**
 * A chunk stream that hashes its own bytes and throws (DIGEST_MISMATCH) from its last step when
 * they don't hash to `verifiedDigest`: iterating it to the end proves the digest.
 */
export interface VerifiedSource extends AsyncIterable<Uint8Array> {
  readonly verifiedDigest: string;
}

/** Marks `source` as checking itself against `digest` (the caller vouches that it does). */
export function verifiedSource(source: AsyncIterable<Uint8Array>, digest: string): VerifiedSource {
  return { verifiedDigest: digest, [Symbol.asyncIterator]: () => source[Symbol.asyncIterator]() };
}

/** The digest a source proves by ending cleanly, if it is a VerifiedSource. */
export function verifiedDigestOf(source: AsyncIterable<Uint8Array>): string | undefined {
  const d = (source as Partial<VerifiedSource>).verifiedDigest;
  return typeof d === 'string' ? d : undefined;
}
