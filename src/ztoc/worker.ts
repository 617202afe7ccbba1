// Owns the worker-thread side of a build: inflate one layer at a time with checkpoints. Input
// chunks arrive in order and are handed back once consumed (with the checkpoints found in them);
// output goes back in transferred buffers that the driver returns after scanning, which is also
// the back-pressure: with no free output buffer, inflation waits.

import { parentPort } from 'node:worker_threads';
import { ZtocError } from '../errors.js';
import { CheckpointInflater } from '../inflate/inflater.js';
import { serializeError, type FromWorker, type ToWorker } from './protocol.js';

let inflater: CheckpointInflater | undefined;
let failed = false;
let ending = false;
const inputs: Array<{ buf: ArrayBuffer; length: number; start: number; off: number }> = [];
const free: ArrayBuffer[] = [];
let cur: Uint8Array | undefined;
let fill = 0;

function send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(msg, transfer);
}

function flushOutput(): void {
  if (cur === undefined || fill === 0) return;
  const buf = cur.buffer as ArrayBuffer;
  send({ type: 'output', buf, length: fill }, [buf]);
  cur = undefined;
  fill = 0;
}

function fail(err: unknown): void {
  failed = true;
  send({ type: 'error', error: serializeError(err) });
  // Hand every input back so the driver is never left waiting on a buffer.
  for (const i of inputs.splice(0)) send({ type: 'chunk', buf: i.buf, length: i.length, start: i.start, checkpoints: new Float64Array(0) }, [i.buf]);
}

/** Inflates queued input while an output buffer is free; returns when it must wait. */
function pump(): void {
  while (!failed && inflater !== undefined) {
    const input = inputs[0];
    if (input === undefined) break;
    if (cur === undefined) {
      const b = free.pop();
      if (b === undefined) return; // wait for the driver to hand an output buffer back
      cur = new Uint8Array(b);
      fill = 0;
    }
    const view = new Uint8Array(input.buf, 0, input.length);
    let done: boolean;
    try {
      const [consumed, produced] = inflater.inflateInto(view, input.off, cur.subarray(fill));
      input.off += consumed;
      fill += produced;
      done = input.off >= input.length && fill < cur.length;
      // Every step must make progress; zlib never stalls with input and output room, so this is a bug guard.
      if (!done && consumed === 0 && produced === 0) throw new ZtocError('INTERNAL', `inflate made no progress at compressed offset ${input.start + input.off}`);
      if (fill === cur.length) flushOutput();
    } catch (err) {
      flushOutput();
      fail(err);
      return;
    }
    if (done) {
      inputs.shift();
      send({ type: 'chunk', buf: input.buf, length: input.length, start: input.start, checkpoints: inflater.takeCheckpoints() }, [input.buf]);
    }
  }
  if (ending && inputs.length === 0 && inflater !== undefined && !failed) {
    flushOutput();
    try {
      const end = inflater.end();
      const blob = new Uint8Array(end.blob);
      send({ type: 'done', summary: { blob, inflatedSize: end.totalOut, members: end.members } }, [blob.buffer as ArrayBuffer]);
    } catch (err) {
      fail(err);
    }
    inflater = undefined;
  }
}

parentPort!.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'init':
      inflater = new CheckpointInflater(msg.spanSize);
      failed = false;
      ending = false;
      inputs.length = 0;
      free.length = 0;
      free.push(...msg.outputs);
      cur = undefined;
      fill = 0;
      break;
    case 'chunk':
      if (failed) send({ type: 'chunk', buf: msg.buf, length: msg.length, start: msg.start, checkpoints: new Float64Array(0) }, [msg.buf]);
      else inputs.push({ buf: msg.buf, length: msg.length, start: msg.start, off: 0 });
      break;
    case 'output':
      free.push(msg.buf);
      break;
    case 'end':
      ending = true;
      break;
  }
  pump();
});
