// `ztoc backfill` end to end through the referrers API: the full run, shared layers built once and the second run
// that writes nothing, against the referrers front before Debian's docker-registry, with an empty list answered
// without a `manifests` field at all.

import { backfillRegistrySuite } from './helpers/suite-backfill-registry.js';

backfillRegistrySuite('api', { empty: 'absent' });
