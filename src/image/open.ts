// Owns turning a user's image reference into an ImageStore plus the tag or digest to resolve:
// `oci:DIR[:TAG|@DIGEST]` opens a layout, anything else a registry repository. Each store's code is
// imported only when it is opened, so a layout never loads the registry client (undici) and vice versa.

import { parseReference, type ImageReference } from '../oci/reference.js';
import type { RepositoryOptions } from '../registry/index.js';
import type { ImageStore } from './store.js';

export interface OpenedImage {
  store: ImageStore;
  ref: ImageReference;
  /** What to resolve: the digest when given, else the tag (undefined = a layout's only image). */
  reference: string | undefined;
  /** For messages: the reference as the user would write it. */
  display: string;
}

/** `registryOptions` may be a function: it is called only for a registry reference (credentials are not looked up for a layout). */
export async function openImage(input: string, registryOptions: RepositoryOptions | (() => Promise<RepositoryOptions>) = {}): Promise<OpenedImage> {
  const ref = parseReference(input);
  const reference = ref.digest ?? ref.tag;
  if (ref.kind === 'layout') {
    const { LayoutStore } = await import('./layout-store.js');
    const store = await LayoutStore.open(ref.dir);
    return { store, ref, reference, display: input };
  }
  const [{ Repository }, { RegistryStore }] = await Promise.all([import('../registry/index.js'), import('./registry-store.js')]);
  const options = typeof registryOptions === 'function' ? await registryOptions() : registryOptions;
  const repo = new Repository(ref.registry, ref.repository, options);
  const display = `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;
  return { store: new RegistryStore(repo), ref, reference: reference ?? 'latest', display };
}
