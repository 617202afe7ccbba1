/*
 * inflate_thread: runs one layer's checkpointed inflate on a thread of its own, fed and drained
 * through fixed input and output slots, so that the JavaScript thread only hashes, scans and
 * encodes. It replaced a Node worker thread, which cost ~85 ms of CPU and ~15 MB to start (a new
 * isolate that compiles Node's internals again) and a structured-clone message per slot.
 *
 * The protocol is the worker's: input slots arrive in layer order and each comes back, once
 * consumed, with the checkpoints found in it; output slots come back full (or partial at the end)
 * and are handed back after the caller scanned them, which is the back-pressure. Plain C: what
 * it inflates with and how events reach JavaScript are the caller's (ItOps), so the N-API glue
 * stays in ztoc_native.c. Threads, locks and condition variables are libuv's (Node's).
 */
#ifndef INFLATE_THREAD_H
#define INFLATE_THREAD_H

#include <stddef.h>
#include <stdint.h>

#define IT_MAX_SLOTS 16

/* Event kinds, shared with src/inflate/native.ts (threadEvents). */
enum { IT_INPUT = 0, IT_OUTPUT = 1, IT_DRAINED = 2, IT_ERROR = 3 }; /* IT_DRAINED: sent by the caller's `exited` */

/* Statuses of an IT_ERROR beside the builder's own (ZT_ERR_DATA, ZT_ERR_MEM): no memory for the
   checkpoints of a consumed slot (the builder's ZT_ERR_MEM value), and no progress was made. */
#define IT_NO_MEMORY (-2)
#define IT_STALLED (-3)

typedef struct {
  int kind;
  int slot;        /* IT_INPUT, IT_OUTPUT: the slot; IT_ERROR: the status */
  double length;   /* IT_OUTPUT: bytes in the slot */
  double total_in; /* IT_ERROR: the compressed offset the engine reached */
  double members;  /* IT_ERROR: gzip members finished */
  double *cps;     /* IT_INPUT: [in, out, bits] per checkpoint found in the slot (malloc'd, may be NULL) */
  size_t ncps;
  char msg[256];   /* IT_ERROR */
} ItEvent;

typedef struct {
  /* One inflate step over in[0, inlen) into out[0, outlen); a ZT_* status. */
  int (*step)(void *engine, unsigned char *in, size_t inlen, unsigned char *out, size_t outlen, size_t *consumed, size_t *produced);
  const char *(*message)(void *engine);
  void (*progress)(void *engine, double *total_in, double *members, int64_t *checkpoints);
  /* Checkpoint i as [in, out, bits]. */
  void (*checkpoint)(void *engine, int64_t i, double *triple);
  /* Takes ownership of e (malloc'd). Called with the thread's lock held; must not block. */
  void (*emit)(void *sink, ItEvent *e);
  /* The thread's last act, when it no longer touches the engine: `drained` if it ended because the
     input did (it_end), not because it failed or was stopped. Nothing is emitted after it. */
  void (*exited)(void *sink, int drained);
} ItOps;

typedef struct InflateThread InflateThread;

/* Starts the thread (at `nice` where threads have their own priority). NULL if it can't. */
InflateThread *it_start(const ItOps *ops, void *engine, void *sink, unsigned char **in, const size_t *in_cap, int nin,
                        unsigned char **out, size_t out_cap, int nout, int nice);
/* Queues input slot `slot` holding `length` bytes from layer offset `start`. 0 if the slot is not idle. */
int it_input(InflateThread *t, int slot, size_t length, double start);
/* Hands output slot `slot` back. 0 if it was not out. */
int it_output(InflateThread *t, int slot);
/* No more input: once the queued input is inflated, the thread ends (`exited` with drained = 1). */
void it_end(InflateThread *t);
/* Stops the thread at its next step (at most one slot of work); emits nothing more. */
void it_stop(InflateThread *t);
/* Waits for the thread to end (it must have been ended or stopped); then frees it. */
void it_join_free(InflateThread *t);

#endif
