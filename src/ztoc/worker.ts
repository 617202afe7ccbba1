// Owns the worker-thread side of a build: inflate one layer at a time with checkpoints. Input
// slots arrive in order and are handed back once consumed (with the checkpoints found in them);
// output fills shared slots that the driver hands back after scanning, which is also the
// back-pressure: with no free output slot, inflation waits. When `init` asks for it, the worker also
// hashes each consumed input slot into the span digests (the same SpanHasher the driver uses), and it
// runs its thread at the build's priority.

import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { ZtocError } from '../errors.js';
import { CheckpointInflater, DEFAULT_OUTPUT_SIZE } from '../inflate/inflater.js';
import { NICE, serializeError, type BuildPriority, type FromWorker, type ToWorker } from './protocol.js';
import { SpanHasher } from './spans.js';

let inflater: CheckpointInflater | undefined;
let failed = false;
let ending = false;
let blobBox = 0;
let spans: SpanHasher | undefined;
let inputSlots: Uint8Array[] = [];
let outputSlots: Uint8Array[] = [];
const inputs: Array<{ slot: number; length: number; start: number; off: number }> = [];
const free: number[] = [];
let cur = -1;
let fill = 0;

let nice = NICE.normal;

/**
 * Runs this thread at `priority`. Linux names a thread by its id, the last part of /proc/thread-self;
 * elsewhere (no such link), or where it is not permitted, the build runs at the priority it has.
 */
function runAt(priority: BuildPriority): void {
  if (NICE[priority] === nice) return;
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), NICE[priority]);
    nice = NICE[priority];
  } catch {
    // the pool never asks a worker to raise its priority, so this is a platform without per-thread nice
  }
}

function send(msg: FromWorker): void {
  parentPort!.postMessage(msg);
}

function flushOutput(): void {
  if (cur < 0 || fill === 0) return;
  send({ type: 'output', slot: cur, length: fill });
  cur = -1;
  fill = 0;
}

function handBack(i: { slot: number; length: number; start: number }, checkpoints: Float64Array): void {
  send({ type: 'chunk', slot: i.slot, length: i.length, start: i.start, checkpoints });
}

function fail(err: unknown): void {
  failed = true;
  send({ type: 'error', error: serializeError(err) });
  // Hand every input back so the driver is never left waiting on a slot.
  for (const i of inputs.splice(0)) handBack(i, new Float64Array(0));
}

/** Inflates queued input while an output slot is free; returns when it must wait. */
function pump(): void {
  while (!failed && inflater !== undefined) {
    const input = inputs[0];
    if (input === undefined) break;
    if (cur < 0) {
      const s = free.pop();
      if (s === undefined) return; // wait for the driver to hand an output slot back
      cur = s;
      fill = 0;
    }
    const out = outputSlots[cur]!;
    const view = inputSlots[input.slot]!.subarray(0, input.length);
    let done: boolean;
    try {
      const [consumed, produced] = inflater.inflateInto(view, input.off, out.subarray(fill));
      input.off += consumed;
      fill += produced;
      done = input.off >= input.length && fill < out.length;
      // Every step must make progress; zlib never stalls with input and output room, so this is a bug guard.
      if (!done && consumed === 0 && produced === 0) throw new ZtocError('INTERNAL', `inflate made no progress at compressed offset ${input.start + input.off}`);
      if (fill === out.length) flushOutput();
    } catch (err) {
      flushOutput();
      fail(err);
      return;
    }
    if (done) {
      inputs.shift();
      const cps = inflater.takeCheckpoints();
      if (spans !== undefined) {
        try {
          spans.consumed(cps, view, input.start);
        } catch (err) {
          handBack(input, cps);
          fail(err);
          return;
        }
      }
      handBack(input, cps);
    }
  }
  if (ending && inputs.length === 0 && inflater !== undefined && !failed) {
    flushOutput();
    try {
      // The checkpoint blob (~0.8% of the layer, 32 MB at 4 GB) moves into the driver's box, uncopied.
      const end = inflater.end(blobBox);
      const summary = { inflatedSize: end.totalOut, members: end.members, engine: end.engine };
      send({ type: 'done', summary: spans === undefined ? summary : { ...summary, spanDigests: spans.finish() } });
    } catch (err) {
      fail(err);
    }
    inflater = undefined;
  }
}

parentPort!.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'init':
      failed = false;
      ending = false;
      inputs.length = 0;
      blobBox = msg.blobBox;
      runAt(msg.priority);
      spans = msg.hashSpans ? new SpanHasher() : undefined;
      inputSlots = msg.inputs.map((b) => new Uint8Array(b));
      outputSlots = msg.outputs.map((b) => new Uint8Array(b));
      free.length = 0;
      for (let i = outputSlots.length - 1; i >= 0; i--) free.push(i);
      cur = -1;
      fill = 0;
      try {
        inflater = new CheckpointInflater(msg.spanSize, true, DEFAULT_OUTPUT_SIZE, msg.engine);
      } catch (err) {
        inflater = undefined;
        fail(err);
      }
      break;
    case 'chunk':
      if (failed) handBack(msg, new Float64Array(0));
      else inputs.push({ slot: msg.slot, length: msg.length, start: msg.start, off: 0 });
      break;
    case 'output':
      free.push(msg.slot);
      break;
    case 'end':
      ending = true;
      break;
  }
  pump();
});
