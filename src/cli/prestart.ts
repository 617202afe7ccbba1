// Owns the earliest step of a layer-building command: starting an inflate worker before the CLI's
// own modules load. bin/ztoc.js calls it ahead of importing the CLI, so the worker's start (~85 ms
// here: a new isolate, its modules, the addon) runs beside commander and the command modules
// loading instead of after them. Commands call it again when they run (a no-op by then), which
// covers `run()` used in-process.

/** The commands that build layers, and so inflate. */
const BUILDS_LAYERS = new Set(['build', 'index', 'backfill']);

/** Starts an inflate worker in the background when `command` builds layers; never throws. */
export async function prestartFor(command: string | undefined): Promise<void> {
  if (command !== undefined && BUILDS_LAYERS.has(command)) await prestartWorker();
}

/** Starts an inflate worker in the background; never throws. */
export async function prestartWorker(): Promise<void> {
  try {
    const { sharedPool } = await import('../ztoc/pool.js');
    sharedPool().prestart();
  } catch {
    // Only a head start: the command itself starts its worker, and reports what fails there.
  }
}
