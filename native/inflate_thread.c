/*
 * inflate_thread: one layer's inflate loop on its own thread (see inflate_thread.h). The loop is
 * the one the worker thread ran: take the oldest queued input slot, inflate into the current output
 * slot, hand the output back when full and the input when used up (with its checkpoints).
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* syscall */
#endif
#include "inflate_thread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
/* libuv's threads, as the `node` executable exports them: glibc 2.34 gave pthread_create a new symbol
   version, which a binary for older glibc must not need (scripts/prebuild.mjs checks). */
#include <uv.h>

#define ZT_OK 0

typedef struct {
  int slot;
  size_t length, off;
  double start;
} Queued;

struct InflateThread {
  const ItOps *ops;
  void *engine, *sink;
  unsigned char *in[IT_MAX_SLOTS], *out[IT_MAX_SLOTS];
  size_t in_cap[IT_MAX_SLOTS], out_cap;
  int nin, nout;
  uv_mutex_t mu;
  uv_cond_t cv;
  uv_thread_t th;
  /* Under mu. Input slots queued, oldest first (a ring); output slots free to fill. */
  Queued q[IT_MAX_SLOTS];
  int qhead, qlen;
  int queued[IT_MAX_SLOTS];
  int free_out[IT_MAX_SLOTS], nfree;
  int out_busy[IT_MAX_SLOTS]; /* filled and not yet handed back */
  int cur;                    /* the output slot being filled, or -1 */
  size_t fill;
  int ending, stopped, failed;
  int64_t reported; /* checkpoints handed out with input slots so far */
  int nice;
};

static ItEvent *event(int kind, int slot) {
  ItEvent *e = (ItEvent *)calloc(1, sizeof(ItEvent));
  if (e != NULL) {
    e->kind = kind;
    e->slot = slot;
  }
  return e;
}

/* Emits the current output slot, if it holds anything. Under mu. */
static void flush_output(InflateThread *t) {
  if (t->cur < 0 || t->fill == 0) return;
  ItEvent *e = event(IT_OUTPUT, t->cur);
  if (e == NULL) return; /* out of memory for 200 bytes: the driver's wait for this slot is the least of it */
  e->length = (double)t->fill;
  t->out_busy[t->cur] = 1;
  t->cur = -1;
  t->fill = 0;
  t->ops->emit(t->sink, e);
}

/* Reports a failure; from now on every input comes back untouched. Under mu. */
static void fail(InflateThread *t, int status, const char *msg) {
  t->failed = 1;
  ItEvent *e = event(IT_ERROR, status);
  if (e == NULL) return;
  double tin, members;
  int64_t n;
  t->ops->progress(t->engine, &tin, &members, &n);
  e->total_in = tin;
  e->members = members;
  snprintf(e->msg, sizeof e->msg, "%s", msg);
  t->ops->emit(t->sink, e);
}

/* Hands the oldest queued input back, with the checkpoints found since the last one. Under mu. */
static void hand_back(InflateThread *t, int with_checkpoints) {
  Queued *q = &t->q[t->qhead];
  ItEvent *e = event(IT_INPUT, q->slot);
  t->queued[q->slot] = 0;
  t->qhead = (t->qhead + 1) % IT_MAX_SLOTS;
  t->qlen--;
  if (e == NULL) return;
  if (with_checkpoints) {
    double tin, members;
    int64_t n;
    t->ops->progress(t->engine, &tin, &members, &n);
    if (n > t->reported) {
      e->cps = (double *)malloc((size_t)(n - t->reported) * 3 * sizeof(double));
      /* Without them the spans would be hashed across these checkpoints: fail, never a wrong digest. */
      if (e->cps == NULL) fail(t, IT_NO_MEMORY, "out of memory");
      else {
        for (int64_t i = t->reported; i < n; i++) t->ops->checkpoint(t->engine, i, e->cps + 3 * (i - t->reported));
        e->ncps = (size_t)(n - t->reported);
      }
      t->reported = n;
    }
  }
  t->ops->emit(t->sink, e);
}

static void run_at(int nice) {
#ifdef __linux__
  /* prctl, not pthread_setname_np: that one is in glibc's libc only since 2.34, and the prebuilds target 2.28. */
  prctl(PR_SET_NAME, "ztoc-inflate", 0, 0, 0);
  /* Linux gives each thread its own priority, named by its id. Where that is refused, the build runs as it is. */
  if (nice != 0) (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
#else
  (void)nice;
#endif
}

static void thread_main(void *arg) {
  InflateThread *t = (InflateThread *)arg;
  run_at(t->nice);
  int drained = 0;
  uv_mutex_lock(&t->mu);
  for (;;) {
    if (t->stopped) break;
    if (t->failed) {
      while (t->qlen > 0) hand_back(t, 0);
      if (t->ending) break;
      uv_cond_wait(&t->cv, &t->mu);
      continue;
    }
    if (t->qlen == 0) {
      if (t->ending) {
        flush_output(t);
        drained = 1;
        break;
      }
      uv_cond_wait(&t->cv, &t->mu);
      continue;
    }
    if (t->cur < 0) {
      if (t->nfree == 0) {
        uv_cond_wait(&t->cv, &t->mu); /* wait for the driver to hand an output slot back */
        continue;
      }
      t->cur = t->free_out[--t->nfree];
      t->fill = 0;
    }
    Queued *q = &t->q[t->qhead];
    unsigned char *in = t->in[q->slot] + q->off, *out = t->out[t->cur] + t->fill;
    size_t inlen = q->length - q->off, outlen = t->out_cap - t->fill;
    uv_mutex_unlock(&t->mu);
    size_t consumed = 0, produced = 0;
    int status = t->ops->step(t->engine, in, inlen, out, outlen, &consumed, &produced);
    uv_mutex_lock(&t->mu);
    if (status != ZT_OK) {
      /* What the failing step produced is dropped: it may be garbage written before the engine noticed. */
      flush_output(t);
      fail(t, status, t->ops->message(t->engine));
      continue;
    }
    q->off += consumed;
    t->fill += produced;
    /* Done with the slot once its input is used up and the output was not the limit. */
    int done = q->off >= q->length && t->fill < t->out_cap;
    if (!done && consumed == 0 && produced == 0) {
      char m[128];
      snprintf(m, sizeof m, "inflate made no progress at compressed offset %.0f", q->start + (double)q->off);
      flush_output(t);
      fail(t, IT_STALLED, m);
      continue;
    }
    if (t->fill == t->out_cap) flush_output(t);
    if (done) hand_back(t, 1);
  }
  uv_mutex_unlock(&t->mu);
  t->ops->exited(t->sink, drained);
}

InflateThread *it_start(const ItOps *ops, void *engine, void *sink, unsigned char **in, const size_t *in_cap, int nin,
                        unsigned char **out, size_t out_cap, int nout, int nice) {
  if (nin < 1 || nin > IT_MAX_SLOTS || nout < 1 || nout > IT_MAX_SLOTS) return NULL;
  InflateThread *t = (InflateThread *)calloc(1, sizeof(InflateThread));
  if (t == NULL) return NULL;
  t->ops = ops;
  t->engine = engine;
  t->sink = sink;
  t->nin = nin;
  t->nout = nout;
  t->out_cap = out_cap;
  t->cur = -1;
  t->nice = nice;
  for (int i = 0; i < nin; i++) {
    t->in[i] = in[i];
    t->in_cap[i] = in_cap[i];
  }
  for (int i = 0; i < nout; i++) t->out[i] = out[i];
  for (int i = nout - 1; i >= 0; i--) t->free_out[t->nfree++] = i;
  if (uv_mutex_init(&t->mu) != 0) {
    free(t);
    return NULL;
  }
  if (uv_cond_init(&t->cv) != 0) {
    uv_mutex_destroy(&t->mu);
    free(t);
    return NULL;
  }
  if (uv_thread_create(&t->th, thread_main, t) != 0) {
    uv_cond_destroy(&t->cv);
    uv_mutex_destroy(&t->mu);
    free(t);
    return NULL;
  }
  return t;
}

int it_input(InflateThread *t, int slot, size_t length, double start) {
  int ok = 0;
  uv_mutex_lock(&t->mu);
  if (slot >= 0 && slot < t->nin && !t->queued[slot] && length <= t->in_cap[slot] && !t->ending && t->qlen < IT_MAX_SLOTS) {
    Queued *q = &t->q[(t->qhead + t->qlen) % IT_MAX_SLOTS];
    q->slot = slot;
    q->length = length;
    q->off = 0;
    q->start = start;
    t->queued[slot] = 1;
    t->qlen++;
    ok = 1;
    uv_cond_signal(&t->cv);
  }
  uv_mutex_unlock(&t->mu);
  return ok;
}

int it_output(InflateThread *t, int slot) {
  int ok = 0;
  uv_mutex_lock(&t->mu);
  if (slot >= 0 && slot < t->nout && t->out_busy[slot]) {
    t->out_busy[slot] = 0;
    t->free_out[t->nfree++] = slot;
    ok = 1;
    uv_cond_signal(&t->cv);
  }
  uv_mutex_unlock(&t->mu);
  return ok;
}

void it_end(InflateThread *t) {
  uv_mutex_lock(&t->mu);
  t->ending = 1;
  uv_cond_signal(&t->cv);
  uv_mutex_unlock(&t->mu);
}

void it_stop(InflateThread *t) {
  uv_mutex_lock(&t->mu);
  t->stopped = 1;
  uv_cond_signal(&t->cv);
  uv_mutex_unlock(&t->mu);
}

void it_join_free(InflateThread *t) {
  uv_thread_join(&t->th);
  uv_cond_destroy(&t->cv);
  uv_mutex_destroy(&t->mu);
  free(t);
}
