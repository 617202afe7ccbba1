// Owns the public surface of the registry client: what the rest of ztoc (and library users) may import.

export { Repository } from './repository.js';
export { Registry } from './registry.js';
export type { RegistryOptions } from './registry.js';
export type {
  BlobMountResult,
  BlobPushResult,
  CallOptions,
  FetchBlobOptions,
  FetchedManifest,
  PushManifestResult,
  PushReferrerResult,
  RemoveReferrersResult,
  RepositoryOptions,
} from './repository.js';
export { RegistryClient, defaultsToPlainHttp } from './client.js';
export type { ClientOptions, ReferrersCapability, RegistryRequest } from './client.js';
export {
  DOCKER_HUB_CREDENTIAL_KEY,
  createCredentialLookup,
  credentialServerUrl,
  normalizeAuthKey,
  resolveCredential,
  runCredentialHelper,
  staticCredentials,
} from './credentials.js';
export type { Credential, CredentialLookup, CredentialOptions, ResolvedCredential } from './credentials.js';
export { Authenticator, cleanScopes, parseWWWAuthenticate, repositoryScope } from './auth.js';
export type { Challenge } from './auth.js';
export { DEFAULT_RETRY_POLICY, backoffDelay, isRetryableStatus, parseRetryAfter, retryDelay } from './retry.js';
export type { RetryEvent, RetryPolicy } from './retry.js';
export { HttpTransport, RegistryNetworkError, redactUrl } from './transport.js';
export type { HttpMethod, HttpRequest, HttpResponse, TransportOptions } from './transport.js';
export { RegistryResponseError } from './errors.js';
export type { RegistryErrorEntry } from './errors.js';
export { applyReferrerChanges, referrersTag } from './referrers.js';
export type { ReferrerChange, ReferrerManifestInfo } from './referrers.js';
export { fallbackStep, newFallbackState, updateFallbackIndex } from './referrers-fallback.js';
export type { FallbackIo, FallbackState, FallbackStep } from './referrers-fallback.js';
export { nextLink } from './link.js';
export type { ListOptions } from './listing.js';
export { parseContentRange, resumableBody } from './resumable.js';
export type { ResumableSource } from './resumable.js';
