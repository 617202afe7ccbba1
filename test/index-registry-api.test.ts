// `ztoc index`, list, get-file and verify end to end through the referrers API: the suite of index-registry.test.ts
// against the referrers front before Debian's docker-registry, answering an empty list as olareg does
// (`"manifests": null`, the answer that made `ztoc index` fail on a fresh image in issue 8), in pages of one.

import { indexRegistrySuite } from './helpers/suite-index-registry.js';

indexRegistrySuite('api', { empty: 'null', pageSize: 1 });
