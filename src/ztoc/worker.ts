// Owns the worker-thread side of a build: one LayerEngine per layer, fed by messages. Chunk
// buffers are transferred in and handed back after use, so the driver can hash and reuse them.

import { parentPort } from 'node:worker_threads';
import { LayerEngine } from './engine.js';
import { serializeError, type ToWorker, type FromWorker } from './protocol.js';

let engine: LayerEngine | undefined;
let failed = false;

function send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(msg, transfer);
}

parentPort!.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'init':
      engine = new LayerEngine(msg.kind, msg.spanSize);
      failed = false;
      break;
    case 'chunk': {
      let checkpoints: Float64Array = new Float64Array(0);
      if (engine !== undefined && !failed) {
        try {
          checkpoints = engine.push(new Uint8Array(msg.buf, 0, msg.length));
        } catch (err) {
          failed = true;
          send({ type: 'error', error: serializeError(err) });
        }
      }
      send({ type: 'chunk', buf: msg.buf, length: msg.length, start: msg.start, checkpoints }, [msg.buf]);
      break;
    }
    case 'end': {
      if (engine === undefined || failed) break;
      try {
        const r = engine.encode(msg.input);
        const buf = r.bytes.buffer as ArrayBuffer;
        send({ type: 'result', result: r }, r.bytes.byteLength === buf.byteLength ? [buf] : []);
      } catch (err) {
        send({ type: 'error', error: serializeError(err) });
      }
      engine = undefined;
      break;
    }
  }
});
