// `ztoc backfill` end to end through the sha256-<hex> tag fallback (Debian's docker-registry has no referrers API).
// The suite is test/helpers/suite-backfill-registry.ts; backfill-registry-api.test.ts runs it through the referrers API.

import { backfillRegistrySuite } from './helpers/suite-backfill-registry.js';

backfillRegistrySuite('tag');
