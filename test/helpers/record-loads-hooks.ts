// Test helper: the module-resolution hook behind record-loads.ts (it runs on the loader thread).

import { appendFileSync } from 'node:fs';

type Resolved = { url: string };
type NextResolve = (specifier: string, context: unknown) => Promise<Resolved>;

export async function resolve(specifier: string, context: unknown, next: NextResolve): Promise<Resolved> {
  const r = await next(specifier, context);
  const log = process.env['ZTOC_LOAD_LOG'];
  if (log !== undefined && log !== '') appendFileSync(log, `${r.url}\n`);
  return r;
}
