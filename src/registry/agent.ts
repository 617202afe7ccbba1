// Owns loading undici's Agent, and only what it needs. `import 'undici'` loads all of undici (fetch, WebSocket,
// EventSource, caches, mocks, interceptors): ~60 ms of every registry command's start here, for a client that uses
// one Agent and its request API. undici 7 has no "exports" map, so its own modules are loaded as its index.js wires
// them: the request API is installed on Dispatcher.prototype there, so it is here too. test/registry-unit.test.ts
// checks that this is undici's own Agent class and that it answers requests; an undici whose layout moved fails there.

import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, Dispatcher as UndiciDispatcher } from 'undici';

const load = createRequire(import.meta.url) as (id: string) => unknown;

const Dispatcher = load('undici/lib/dispatcher/dispatcher') as typeof UndiciDispatcher;
Object.assign(Dispatcher.prototype, load('undici/lib/api') as object);

export const Agent = load('undici/lib/dispatcher/agent') as typeof UndiciAgent;
