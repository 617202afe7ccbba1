// Owns a registry as a whole (oras-go's Registry): its name, the client its repositories share, and what belongs to
// no single repository: the catalog (`/v2/_catalog`, needs `registry:catalog:*`, paged with n/last and Link).

import { RegistryClient, type ClientOptions } from './client.js';
import { listCatalog, type ListOptions } from './listing.js';
import { Repository, type RepositoryOptions } from './repository.js';

export interface RegistryOptions extends ClientOptions {
  /** Share connections, tokens and capabilities (recommended). The client options above are then ignored. */
  client?: RegistryClient;
}

export class Registry {
  /** As in references: `docker.io`, `127.0.0.1:5000`. */
  readonly name: string;
  readonly client: RegistryClient;
  private readonly ownsClient: boolean;

  constructor(name: string, opts: RegistryOptions = {}) {
    this.name = name;
    this.ownsClient = opts.client === undefined;
    this.client = opts.client ?? new RegistryClient(opts);
  }

  /** A repository of this registry, on its client. */
  repository(name: string, opts: Omit<RepositoryOptions, 'client'> = {}): Repository {
    return new Repository(this.name, name, { ...opts, client: this.client });
  }

  /** Every repository name in the catalog, from `last` on (exclusive) when given. */
  async catalog(opts: ListOptions & { last?: string } = {}): Promise<string[]> {
    return listCatalog(this.client, this.name, opts);
  }

  /** Close the connection pool if this registry created its own client. */
  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close();
  }
}
