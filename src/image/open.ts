// Owns turning a user's image reference into an ImageStore plus the tag or digest to resolve:
// `oci:DIR[:TAG|@DIGEST]` opens a layout, anything else a registry repository.

import { parseReference, type ImageReference } from '../oci/reference.js';
import { Repository, type RepositoryOptions } from '../registry/index.js';
import { LayoutStore } from './layout-store.js';
import { RegistryStore } from './registry-store.js';
import type { ImageStore } from './store.js';

export interface OpenedImage {
  store: ImageStore;
  ref: ImageReference;
  /** What to resolve: the digest when given, else the tag (undefined = a layout's only image). */
  reference: string | undefined;
  /** For messages: the reference as the user would write it. */
  display: string;
}

export async function openImage(input: string, registryOptions: RepositoryOptions = {}): Promise<OpenedImage> {
  const ref = parseReference(input);
  const reference = ref.digest ?? ref.tag;
  if (ref.kind === 'layout') {
    const store = await LayoutStore.open(ref.dir);
    return { store, ref, reference, display: input };
  }
  const repo = new Repository(ref.registry, ref.repository, registryOptions);
  const display = `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;
  return { store: new RegistryStore(repo), ref, reference: reference ?? 'latest', display };
}
