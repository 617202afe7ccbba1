// `ztoc index`, list, get-file and verify end to end through the sha256-<hex> tag fallback: Debian's docker-registry
// has no referrers API. The suite itself is test/helpers/suite-index-registry.ts; index-registry-api.test.ts runs it
// through the referrers API.

import { indexRegistrySuite } from './helpers/suite-index-registry.js';

indexRegistrySuite('tag');
