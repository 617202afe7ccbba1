/*
 * ztoc_native: the checkpointed inflater behind ztoc, over the zlib that Node itself exports.
 *
 * It owns two small state machines:
 *  - a Builder that inflates a gzip layer and records SOCI checkpoints (in, out, bits, 32 KiB
 *    window) already packed in the zinfo blob layout of soci-format.md §2.1. Two engines sit
 *    behind it and give identical checkpoints: zlib with Z_BLOCK (the fallback and the oracle)
 *    and ztoc's own decoder (fast_inflate.c), which reports the same block boundaries;
 *  - a Reader that restores a checkpoint (inflatePrime + dictionary) and inflates onwards,
 *    across gzip member boundaries, for random-access reads.
 * and the N-API glue that runs a Builder on an inflate thread of its own (inflate_thread.c) and
 * reports its events back to JavaScript through a threadsafe function ("Inflate thread").
 *
 * We include Node's zlib.h, link no zlib and do not define Z_PREFIX: the symbols bind to Node's
 * own copy at load time (see shared/docs/inflate-notes.md). All buffers are owned by JavaScript
 * except the checkpoint store; JS passes input and a reused output buffer on every call. The
 * checkpoint store leaves the builder without a copy, through a blob box (see "Blob hand-over").
 *
 * Misuse is refused, never trusted: handles carry an N-API type tag (a reader handle passed to a
 * builder call throws), integer arguments are range-checked, and result arrays are addressed by
 * the named slots exported as `builderInfoSlots` / `readerInfoSlots`.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* mremap */
#endif
#include <node_api.h>
#include <zlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdio.h>
#include <pthread.h>
#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif
#include "fast_inflate.h"
#include "crc32.h"
#include "ztoc_encode.h"
#include "inflate_thread.h"

#define WINSIZE 32768
#define CKPT_SIZE (8 + 8 + 1 + WINSIZE)
#define HEADER_SIZE 12

/* Result codes shared with src/inflate/native.ts. */
#define ZT_OK 0
#define ZT_ERR_DATA -1
#define ZT_ERR_MEM -2
#define ZT_ERR_STATE -3

/* Engines (src/inflate/native.ts: Engine). */
#define ENGINE_ZLIB 0
#define ENGINE_FAST 1

/* Named slots of the Float64Array a builderInflate call reports into. */
enum {
  BI_CONSUMED,     /* input bytes taken from this call's input */
  BI_PRODUCED,     /* output bytes written */
  BI_TOTAL_IN,     /* zlib's total_in: the compressed offset errors are reported at */
  BI_TOTAL_OUT,    /* output bytes since the start of the layer */
  BI_CHECKPOINTS,  /* checkpoints found so far */
  BI_MEMBER_ENDED, /* 1 if a gzip member ended during the call */
  BI_MEMBERS,      /* members finished so far */
  BI_COUNT
};
/* ... and of readerInflate. */
enum { RI_CONSUMED, RI_PRODUCED, RI_MEMBERS_ENDED, RI_COUNT };

/* Type tags: an External is only accepted by the calls made for its kind. */
static const napi_type_tag BUILDER_TAG = {0x7a746f63426c6472ULL, 0x5a544f43b1d3e001ULL};
static const napi_type_tag READER_TAG = {0x7a746f6352656164ULL, 0x5a544f43b1d3e002ULL};

#define NAPI_CALL(env, call)                                              \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error((env), "ZTOC_NATIVE", "N-API call failed: " #call); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Builder                                                                                     */

typedef struct {
  int engine;           /* ENGINE_ZLIB or ENGINE_FAST */
  FastInflate *fi;      /* the fast engine's state (ENGINE_FAST) */
  z_stream strm;
  int ready;            /* inflateInit2 succeeded */
  int checkpoints_on;   /* 0: plain Z_NO_FLUSH loop (benchmark baseline) */
  int member_ended;     /* last inflate returned Z_STREAM_END */
  int started;          /* any input seen */
  int busy;             /* an inflate thread runs it: every call from JS is refused (atomic) */
  int64_t members;
  int64_t span;
  int64_t totin, totout, last;
  int64_t ncheckpoints;
  /* Output history preceding the current call's output: the last 32 KiB, oldest first. Starts as
     zeros, which is exactly SOCI's left zero-padding for checkpoints with out < 32768. */
  unsigned char ring[WINSIZE];
  /* Packed checkpoints, header room included: [n:int32][span:int64] then n * CKPT_SIZE. The blob
     sits BLOB_FRONT bytes into its own memory (blob_mem), room the zTOC encoder writes into. */
  unsigned char *blob;
  size_t blob_len, blob_cap;
  struct BlobMem { unsigned char *base; size_t size; } blob_mem;
  char msg[256];
} Builder;

static void put_le64(unsigned char *p, int64_t v) {
  uint64_t u = (uint64_t)v;
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(u >> (8 * i));
}

static void put_le32(unsigned char *p, int32_t v) {
  uint32_t u = (uint32_t)v;
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(u >> (8 * i));
}

/* ---- blob memory ------------------------------------------------------------------------------
 * The blob grows by doubling, to tens of MB, and must exist once. On Linux it is an anonymous
 * mapping: growing is mremap (no copy, and untouched capacity is never resident), and pages a move
 * leaves behind are given back with madvise. Elsewhere it is plain realloc. */
typedef struct BlobMem BlobMem;

/* BLOB_FRONT: virtual room in front of the blob for the zTOC's head (span digests, tables: about
   80 bytes per span), so that the encoder writes around the blob without moving it. */
#define BLOB_FRONT ((size_t)256 * 1024)

static size_t page_size(void) {
#ifdef __linux__
  return (size_t)sysconf(_SC_PAGESIZE);
#else
  return 4096;
#endif
}

static int mem_resize(BlobMem *m, size_t size) {
#ifdef __linux__
  size_t pg = page_size();
  size = (size + pg - 1) / pg * pg;
  void *p = m->base == NULL ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                            : mremap(m->base, m->size, size, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) return ZT_ERR_MEM;
#else
  void *p = realloc(m->base, size);
  if (p == NULL) return ZT_ERR_MEM;
#endif
  m->base = (unsigned char *)p;
  m->size = size;
  return ZT_OK;
}

static void mem_free(BlobMem *m) {
  if (m->base == NULL) return;
#ifdef __linux__
  munmap(m->base, m->size);
#else
  free(m->base);
#endif
  m->base = NULL;
  m->size = 0;
}

/* Gives back the whole pages inside [p, p + n): their bytes become zeros. */
static void mem_release(unsigned char *p, size_t n) {
#ifdef __linux__
  uintptr_t pg = (uintptr_t)page_size();
  uintptr_t lo = ((uintptr_t)p + pg - 1) / pg * pg, hi = ((uintptr_t)p + n) / pg * pg;
  if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
#else
  (void)p;
  (void)n;
#endif
}

/* Room for `need` blob bytes. */
static int blob_reserve(Builder *b, size_t need) {
  if (need <= b->blob_cap) return ZT_OK;
  size_t cap = b->blob_cap ? b->blob_cap * 2 : HEADER_SIZE + 8 * (size_t)CKPT_SIZE;
  while (cap < need) cap *= 2;
  if (mem_resize(&b->blob_mem, BLOB_FRONT + cap) != ZT_OK) return ZT_ERR_MEM;
  b->blob = b->blob_mem.base + BLOB_FRONT;
  b->blob_cap = b->blob_mem.size - BLOB_FRONT;
  return ZT_OK;
}

static void builder_finalize(napi_env env, void *data, void *hint) {
  Builder *b = (Builder *)data;
  if (b->ready) inflateEnd(&b->strm);
  free(b->fi);
  mem_free(&b->blob_mem);
  free(b);
}

/* Shift the tail of the previous output buffer into the ring before the buffer is reused. */
static void ring_absorb(Builder *b, const unsigned char *out, size_t n) {
  if (n >= WINSIZE) {
    memcpy(b->ring, out + n - WINSIZE, WINSIZE);
  } else if (n > 0) {
    memmove(b->ring, b->ring + n, WINSIZE - n);
    memcpy(b->ring + WINSIZE - n, out, n);
  }
}

static int add_checkpoint(Builder *b, const unsigned char *out, size_t pos, int bits) {
  if (blob_reserve(b, b->blob_len + CKPT_SIZE) != ZT_OK) return ZT_ERR_MEM;
  unsigned char *p = b->blob + b->blob_len;
  put_le64(p, b->totin);
  put_le64(p + 8, b->totout);
  p[16] = (unsigned char)bits;
  unsigned char *w = p + 17;
  /* window = last 32 KiB of (ring ++ out[0..pos]) */
  if (pos >= WINSIZE) {
    memcpy(w, out + pos - WINSIZE, WINSIZE);
  } else {
    memcpy(w, b->ring + pos, WINSIZE - pos);
    memcpy(w + WINSIZE - pos, out, pos);
  }
  b->blob_len += CKPT_SIZE;
  b->ncheckpoints++;
  return ZT_OK;
}

/* ---- argument checks: every value from JS is checked before it is used ------------------- */

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, "ZTOC_NATIVE", "N-API call failed: napi_get_cb_info");
    return 0;
  }
  if (argc < want) {
    char m[96];
    snprintf(m, sizeof m, "expected %zu arguments, got %zu", want, argc);
    napi_throw_type_error(env, "ZTOC_NATIVE_ARG", m);
    return 0;
  }
  return 1;
}

/* A typed array of the given type and at least `min` elements: its data and element count. Throws a
   TypeError "expected <what>" otherwise (with "of at least <min> slots for results" when min > 0). */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, size_t min, const char *what, void **data, size_t *len) {
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta || napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok ||
      t != want || *len < min) {
    char m[128];
    if (min > 0) snprintf(m, sizeof m, "expected %s of at least %zu slots for results", what, min);
    else snprintf(m, sizeof m, "expected %s", what);
    napi_throw_type_error(env, "ZTOC_NATIVE_ARG", m);
    return 0;
  }
  return 1;
}

static napi_value get_u8(napi_env env, napi_value v, unsigned char **data, size_t *len) {
  void *d;
  if (!get_typed(env, v, napi_uint8_array, 0, "a Uint8Array", &d, len)) return NULL;
  *data = (unsigned char *)d;
  return v;
}

/* The Float64Array a call reports into (at least `min` slots). */
static double *get_f64(napi_env env, napi_value v, size_t min) {
  void *d;
  size_t n;
  return get_typed(env, v, napi_float64_array, min, "a Float64Array", &d, &n) ? (double *)d : NULL;
}

/* An integer number in [lo, hi]; throws a TypeError / RangeError naming the argument otherwise. */
static int get_int(napi_env env, napi_value v, const char *name, double lo, double hi, int64_t *out) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &d) != napi_ok) {
    char m[96];
    snprintf(m, sizeof m, "%s must be a number", name);
    napi_throw_type_error(env, "ZTOC_NATIVE_ARG", m);
    return 0;
  }
  if (!(d >= lo && d <= hi) || d != floor(d)) {
    char m[160];
    snprintf(m, sizeof m, "%s must be an integer in [%.0f, %.0f], got %g", name, lo, hi, d);
    napi_throw_range_error(env, "ZTOC_NATIVE_ARG", m);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

static void *get_tagged(napi_env env, napi_value v, const napi_type_tag *tag, const char *what) {
  napi_valuetype t;
  bool ok = false;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok ||
      napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    char m[96];
    snprintf(m, sizeof m, "expected a %s handle", what);
    napi_throw_type_error(env, "ZTOC_NATIVE_ARG", m);
    return NULL;
  }
  return p;
}

static napi_value make_handle(napi_env env, void *p, napi_finalize fin, const napi_type_tag *tag) {
  napi_value ext;
  if (napi_create_external(env, p, fin, NULL, &ext) != napi_ok) {
    fin(env, p, NULL);
    napi_throw_error(env, "ZTOC_NATIVE", "N-API call failed: napi_create_external");
    return NULL;
  }
  if (napi_type_tag_object(env, ext, tag) != napi_ok) {
    napi_throw_error(env, "ZTOC_NATIVE", "N-API call failed: napi_type_tag_object");
    return NULL;
  }
  return ext;
}

#define MAX_SAFE_INT 9007199254740991.0

/* builderCreate(spanSize: number, checkpoints: boolean, engine: 0 zlib | 1 fast) -> handle */
static napi_value builder_create(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int64_t span, engine;
  bool ck;
  if (!get_int(env, argv[0], "spanSize", 0, MAX_SAFE_INT, &span)) return NULL;
  if (napi_get_value_bool(env, argv[1], &ck) != napi_ok) {
    napi_throw_type_error(env, "ZTOC_NATIVE_ARG", "checkpoints must be a boolean");
    return NULL;
  }
  if (!get_int(env, argv[2], "engine", ENGINE_ZLIB, ENGINE_FAST, &engine)) return NULL;
  Builder *b = (Builder *)calloc(1, sizeof(Builder));
  if (!b) {
    napi_throw_error(env, "ZTOC_NATIVE", "out of memory");
    return NULL;
  }
  b->span = span;
  b->checkpoints_on = ck ? 1 : 0;
  b->blob_len = HEADER_SIZE;
  b->engine = (int)engine;
  if (engine == ENGINE_FAST) {
    b->fi = (FastInflate *)malloc(sizeof(FastInflate));
    if (!b->fi) {
      free(b);
      napi_throw_error(env, "ZTOC_NATIVE", "out of memory");
      return NULL;
    }
    fi_init(b->fi);
  } else {
    /* 31 = gzip only (SOCI uses 47, which also accepts zlib streams; a layer is never one). */
    if (inflateInit2(&b->strm, 31) != Z_OK) {
      free(b);
      napi_throw_error(env, "ZTOC_NATIVE", "inflateInit2 failed");
      return NULL;
    }
    b->ready = 1;
  }
  return make_handle(env, b, builder_finalize, &BUILDER_TAG);
}

static Builder *get_builder(napi_env env, napi_value v) {
  Builder *b = (Builder *)get_tagged(env, v, &BUILDER_TAG, "builder");
  if (b != NULL && __atomic_load_n(&b->busy, __ATOMIC_ACQUIRE)) {
    napi_throw_error(env, "ZTOC_NATIVE_BUSY", "the builder is running on an inflate thread");
    return NULL;
  }
  return b;
}

/* SOCI's rule (gzip_zinfo.c): at a block boundary that is not after a member's final block, when
   nothing was produced yet or strictly more than span bytes since the last checkpoint. */
static int maybe_checkpoint(Builder *b, const unsigned char *out, size_t pos, int bits) {
  if (!b->checkpoints_on || !(b->totout == 0 || b->totout - b->last > b->span)) return ZT_OK;
  if (add_checkpoint(b, out, pos, bits) != ZT_OK) {
    strncpy(b->msg, "out of memory", sizeof(b->msg) - 1);
    return ZT_ERR_MEM;
  }
  b->last = b->totout;
  return ZT_OK;
}

/* The zlib engine: inflate(Z_BLOCK) stops at every boundary; data_type says which. */
static int zlib_step(Builder *b, unsigned char *in, size_t inlen, unsigned char *out, size_t outlen, size_t *consumed,
                     size_t *produced, int *ended_now) {
  b->strm.next_in = in;
  b->strm.avail_in = (uInt)inlen;
  b->strm.next_out = out;
  b->strm.avail_out = (uInt)outlen;
  int status = ZT_OK;
  int flush = b->checkpoints_on ? Z_BLOCK : Z_NO_FLUSH;
  for (;;) {
    if (b->member_ended) {
      if (b->strm.avail_in == 0) break;
      /* Another member follows (pigz, BGZF, concatenated gzip): keep our history, as SOCI does. */
      inflateReset2(&b->strm, 31);
      b->member_ended = 0;
    }
    if (b->strm.avail_out == 0) break;
    uInt in0 = b->strm.avail_in, out0 = b->strm.avail_out;
    int ret = inflate(&b->strm, flush);
    b->totin += in0 - b->strm.avail_in;
    b->totout += out0 - b->strm.avail_out;
    if (ret == Z_STREAM_END) {
      b->member_ended = 1;
      b->members++;
      *ended_now = 1;
      continue;
    }
    if (ret == Z_BUF_ERROR) break; /* needs more input (or output) */
    if (ret != Z_OK) {
      const char *m = b->strm.msg ? b->strm.msg : (ret == Z_MEM_ERROR ? "out of memory" : "inflate error");
      strncpy(b->msg, m, sizeof(b->msg) - 1);
      status = ret == Z_MEM_ERROR ? ZT_ERR_MEM : ZT_ERR_DATA;
      break;
    }
    int dt = b->strm.data_type;
    if ((dt & 128) && !(dt & 64)) {
      status = maybe_checkpoint(b, out, (size_t)(b->strm.next_out - out), dt & 7);
      if (status != ZT_OK) break;
    }
    if (in0 == b->strm.avail_in && out0 == b->strm.avail_out) break; /* no progress */
  }
  *consumed = (size_t)(b->strm.next_in - in);
  *produced = (size_t)(b->strm.next_out - out);
  b->strm.next_in = NULL;
  b->strm.avail_in = 0;
  b->strm.next_out = NULL;
  b->strm.avail_out = 0;
  return status;
}

/* The fast engine: fi_run returns at every boundary zlib's Z_BLOCK would report. */
static int fast_step(Builder *b, unsigned char *in, size_t inlen, unsigned char *out, size_t outlen, size_t *consumed,
                     size_t *produced, int *ended_now) {
  FastInflate *f = b->fi;
  const uint8_t *ip = in, *ie = in + inlen;
  uint8_t *op = out, *oe = out + outlen;
  int64_t out0 = b->totout;
  int status = ZT_OK;
  for (;;) {
    if (b->member_ended) {
      if (ip == ie && !fi_has_pending_bytes(f)) break;
      fi_next_member(f); /* the history stays, as in the zlib engine */
      b->member_ended = 0;
    }
    int ev = fi_run(f, &ip, ie, &op, out, oe, b->ring);
    if (ev == FI_BOUNDARY) {
      b->totout = out0 + (int64_t)(op - out);
      b->totin = (int64_t)fi_total_in(f);
      status = maybe_checkpoint(b, out, (size_t)(op - out), fi_bits(f));
      if (status != ZT_OK) break;
      continue;
    }
    if (ev == FI_MEMBER_END) {
      b->member_ended = 1;
      b->members++;
      *ended_now = 1;
      continue;
    }
    if (ev == FI_ERROR) {
      strncpy(b->msg, f->msg ? f->msg : "inflate error", sizeof(b->msg) - 1);
      status = ZT_ERR_DATA;
    }
    break;
  }
  b->totout = out0 + (int64_t)(op - out);
  b->totin = (int64_t)fi_total_in(f);
  *consumed = (size_t)(ip - in);
  *produced = (size_t)(op - out);
  return status;
}

/* One step over in[0, inlen) into out[0, outlen) on the builder's engine: the core of builderInflate,
   also run by an inflate thread. A ZT_* status; ended_now is set if a gzip member ended. */
static int builder_step(Builder *b, unsigned char *in, size_t inlen, unsigned char *out, size_t outlen, size_t *consumed,
                        size_t *produced, int *ended_now) {
  if (inlen > 0) b->started = 1;
  int status = b->engine == ENGINE_FAST ? fast_step(b, in, inlen, out, outlen, consumed, produced, ended_now)
                                        : zlib_step(b, in, inlen, out, outlen, consumed, produced, ended_now);
  /* Keep the tail of this call's output: it is the history for checkpoints in the next call, and
     for the fast engine's matches too. */
  if (b->checkpoints_on || b->engine == ENGINE_FAST) ring_absorb(b, out, *produced);
  return status;
}

/*
 * builderInflate(h, input, inOffset, output, info: Float64Array) -> status
 * Inflates input[inOffset..] into output[0..] until the input is used up or the output is full,
 * and reports into the BI_* slots of info.
 */
static napi_value builder_inflate(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return NULL;
  Builder *b = get_builder(env, argv[0]);
  if (!b) return NULL;
  unsigned char *in, *out;
  size_t inlen, outlen;
  int64_t inoff;
  if (!get_u8(env, argv[1], &in, &inlen)) return NULL;
  if (!get_int(env, argv[2], "inOffset", 0, (double)inlen, &inoff)) return NULL;
  if (!get_u8(env, argv[3], &out, &outlen)) return NULL;
  double *res = get_f64(env, argv[4], BI_COUNT);
  if (!res) return NULL;
  /* zlib counts in uInt; bigger buffers would wrap its counters. */
  if (inlen - (size_t)inoff > 0xffffffffu || outlen > 0xffffffffu) {
    napi_throw_range_error(env, "ZTOC_NATIVE_ARG", "input and output must each be under 4 GiB per call");
    return NULL;
  }
  size_t consumed = 0, produced = 0;
  int ended_now = 0;
  int status = builder_step(b, in + inoff, inlen - (size_t)inoff, out, outlen, &consumed, &produced, &ended_now);
  res[BI_CONSUMED] = (double)consumed;
  res[BI_PRODUCED] = (double)produced;
  res[BI_TOTAL_IN] = (double)b->totin;
  res[BI_TOTAL_OUT] = (double)b->totout;
  res[BI_CHECKPOINTS] = (double)b->ncheckpoints;
  res[BI_MEMBER_ENDED] = (double)ended_now;
  res[BI_MEMBERS] = (double)b->members;
  napi_value r;
  NAPI_CALL(env, napi_create_int32(env, status, &r));
  return r;
}

/* builderMessage(h) -> string: the engine's message for the last error. */
static napi_value builder_message(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Builder *b = get_builder(env, argv[0]);
  if (!b) return NULL;
  napi_value s;
  NAPI_CALL(env, napi_create_string_utf8(env, b->msg, NAPI_AUTO_LENGTH, &s));
  return s;
}

static int set_num(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  return napi_create_double(env, v, &n) == napi_ok && napi_set_named_property(env, obj, key, n) == napi_ok;
}

/* builderState(h) -> { memberEnded, members, started, totalIn, totalOut, checkpoints, engine } */
static napi_value builder_state(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Builder *b = get_builder(env, argv[0]);
  if (!b) return NULL;
  /* A member that ended with bytes still held by the fast engine is followed by more data. */
  int ended = b->member_ended && !(b->engine == ENGINE_FAST && fi_has_pending_bytes(b->fi));
  /* totalIn counts every byte handed over, as zlib does once a call returns. */
  double totin = b->engine == ENGINE_FAST ? (double)b->fi->pulled : (double)b->totin;
  napi_value o;
  NAPI_CALL(env, napi_create_object(env, &o));
  if (!set_num(env, o, "memberEnded", ended) || !set_num(env, o, "members", (double)b->members) ||
      !set_num(env, o, "started", b->started) || !set_num(env, o, "totalIn", totin) ||
      !set_num(env, o, "totalOut", (double)b->totout) || !set_num(env, o, "checkpoints", (double)b->ncheckpoints) ||
      !set_num(env, o, "engine", b->engine)) {
    napi_throw_error(env, "ZTOC_NATIVE", "N-API call failed: builderState");
    return NULL;
  }
  return o;
}

/* Checkpoint i of the blob as [in, out, bits]. */
static void checkpoint_at(const Builder *b, int64_t i, double *triple) {
  const unsigned char *p = b->blob + HEADER_SIZE + (size_t)i * CKPT_SIZE;
  int64_t vin = 0, vout = 0;
  for (int j = 7; j >= 0; j--) {
    vin = (vin << 8) | p[j];
    vout = (vout << 8) | p[8 + j];
  }
  triple[0] = (double)vin;
  triple[1] = (double)vout;
  triple[2] = (double)p[16];
}

/* builderCheckpoints(h, from) -> Float64Array [in, out, bits] * (n - from): positions for span hashing. */
static napi_value builder_checkpoints(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  Builder *b = get_builder(env, argv[0]);
  if (!b) return NULL;
  int64_t from;
  if (!get_int(env, argv[1], "from", 0, (double)b->ncheckpoints, &from)) return NULL;
  size_t k = b->blob == NULL ? 0 : (size_t)(b->ncheckpoints - from); /* none after builderBlob */
  napi_value abuf, arr;
  void *data;
  NAPI_CALL(env, napi_create_arraybuffer(env, k * 3 * sizeof(double), &data, &abuf));
  double *d = (double *)data;
  for (size_t i = 0; i < k; i++) checkpoint_at(b, from + (int64_t)i, d + 3 * i);
  NAPI_CALL(env, napi_create_typedarray(env, napi_float64_array, k * 3, abuf, 0, &arr));
  return arr;
}

/* ------------------------------------------------------------------------------------------ */
/* Blob hand-over                                                                              */
/*
 * The blob (32 MB at 4 GB of layer) must exist once, and reach the thread that encodes the zTOC from
 * the builder, which may live on another JS thread (a worker of a library user: Node marks external
 * ArrayBuffers untransferable, so the memory can't travel in a postMessage, and a copy into a Buffer
 * was the second copy). ztoc's own builds end their builder on the driver thread once its inflate
 * thread drained, and use the same path. So:
 *  - the encoding thread creates a box (blobBoxCreate, an External it owns) and names its id;
 *  - builderBlob(h, id) moves the builder's memory into that box (a pointer, under a process-wide lock);
 *  - blobBoxTake(box, before, after) gives the driver that same memory as an ArrayBuffer, grown to
 *    leave room around the blob, into which the encoder writes the zTOC (blobBufferMoveDown settles it).
 * Each blob is owned by exactly one of a builder, a box or a taken ArrayBuffer, and freed by its
 * finalizer: a box collected unclaimed frees its content, and a builder whose box is gone keeps
 * (then frees) its own. An id is only a name: a wrong one finds no box and throws.
 */
/* Boxes and taken buffers are kept in lists (first member: the link), guarded by one lock. */
typedef struct Link {
  struct Link *next;
} Link;

typedef struct Box {
  Link link;
  double id;
  int full;
  BlobMem mem;
  size_t off, len; /* the blob is mem.base[off, off + len) */
} Box;

/* A taken buffer: the ArrayBuffer over mem.base[0, size). */
typedef struct Taken {
  Link link;
  BlobMem mem;
  size_t size;
} Taken;

static const napi_type_tag BOX_TAG = {0x7a746f63426f7820ULL, 0x5a544f43b1d3e003ULL};
static pthread_mutex_t handover_lock = PTHREAD_MUTEX_INITIALIZER;
static Link *boxes;  /* every live Box */
static Link *takens; /* every live Taken */
static double next_box_id = 1;

/* Both under handover_lock. */
static void list_push(Link **head, Link *n) {
  n->next = *head;
  *head = n;
}

static void list_unlink(Link **head, Link *n) {
  for (Link **pp = head; *pp; pp = &(*pp)->next)
    if (*pp == n) {
      *pp = n->next;
      return;
    }
}

/* Empties the box; returns whether it held a blob, and that blob. */
static int box_empty(Box *x, BlobMem *mem, size_t *off, size_t *len) {
  pthread_mutex_lock(&handover_lock);
  int full = x->full;
  *mem = x->mem;
  *off = x->off;
  *len = x->len;
  x->full = 0;
  x->mem.base = NULL;
  x->mem.size = 0;
  pthread_mutex_unlock(&handover_lock);
  return full;
}

static void box_finalize(napi_env env, void *data, void *hint) {
  Box *x = (Box *)data;
  pthread_mutex_lock(&handover_lock);
  list_unlink(&boxes, &x->link);
  pthread_mutex_unlock(&handover_lock);
  if (x->full) mem_free(&x->mem);
  free(x);
}

static void taken_finalize(napi_env env, void *data, void *hint) {
  Taken *t = (Taken *)hint;
  pthread_mutex_lock(&handover_lock);
  list_unlink(&takens, &t->link);
  pthread_mutex_unlock(&handover_lock);
  mem_free(&t->mem);
  free(t);
}

/* blobBoxCreate() -> box handle */
static napi_value blob_box_create(napi_env env, napi_callback_info info) {
  Box *x = (Box *)calloc(1, sizeof(Box));
  if (!x) {
    napi_throw_error(env, "ZTOC_NATIVE", "out of memory");
    return NULL;
  }
  pthread_mutex_lock(&handover_lock);
  x->id = next_box_id++;
  list_push(&boxes, &x->link);
  pthread_mutex_unlock(&handover_lock);
  return make_handle(env, x, box_finalize, &BOX_TAG);
}

static Box *get_box(napi_env env, napi_value v) { return (Box *)get_tagged(env, v, &BOX_TAG, "blob box"); }

/* blobBoxId(box) -> number: the name the builder (on any thread) delivers to. */
static napi_value blob_box_id(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Box *x = get_box(env, argv[0]);
  if (!x) return NULL;
  napi_value r;
  NAPI_CALL(env, napi_create_double(env, x->id, &r));
  return r;
}

/* builderBlob(h, boxId) -> number: fills in the zinfo blob's header (soci-format.md §2.1) and moves
   the blob into the box; returns its length. Once, at the end. */
static napi_value builder_blob(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  Builder *b = get_builder(env, argv[0]);
  if (!b) return NULL;
  int64_t id;
  if (!get_int(env, argv[1], "boxId", 1, MAX_SAFE_INT, &id)) return NULL;
  if (b->blob_len == 0) {
    napi_throw_error(env, "ZTOC_NATIVE", "the blob was already handed over");
    return NULL;
  }
  if (blob_reserve(b, HEADER_SIZE) != ZT_OK) {
    napi_throw_error(env, "ZTOC_NATIVE", "out of memory");
    return NULL;
  }
  put_le32(b->blob, (int32_t)b->ncheckpoints);
  put_le64(b->blob + 4, b->span);
  size_t len = b->blob_len;
  int state = 0; /* 0 delivered, 1 no such box, 2 box full */
  pthread_mutex_lock(&handover_lock);
  Box *x = NULL;
  for (Link *l = boxes; l && x == NULL; l = l->next)
    if (((Box *)l)->id == (double)id) x = (Box *)l;
  if (x == NULL) state = 1;
  else if (x->full) state = 2;
  else {
    x->mem = b->blob_mem;
    x->off = BLOB_FRONT;
    x->len = len;
    x->full = 1;
  }
  pthread_mutex_unlock(&handover_lock);
  if (state != 0) {
    napi_throw_error(env, "ZTOC_NATIVE", state == 1 ? "no blob box with this id (its owner is gone)" : "the blob box is already full");
    return NULL;
  }
  b->blob_mem.base = NULL;
  b->blob_mem.size = 0;
  b->blob = NULL;
  b->blob_len = b->blob_cap = 0;
  napi_value r;
  NAPI_CALL(env, napi_create_double(env, (double)len, &r));
  return r;
}

/* blobBoxTake(box, before, after) -> Uint8Array: the blob, a view into its own memory, which is
   grown so that at least `before` bytes precede the view and exactly `after` follow it in the
   view's ArrayBuffer. Those bytes are uninitialised. The box is empty afterwards. */
static napi_value blob_box_take(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  Box *x = get_box(env, argv[0]);
  if (!x) return NULL;
  int64_t before, after;
  if (!get_int(env, argv[1], "before", 0, MAX_SAFE_INT, &before) || !get_int(env, argv[2], "after", 0, MAX_SAFE_INT, &after)) return NULL;
  BlobMem mem;
  size_t off, len;
  if (!box_empty(x, &mem, &off, &len)) {
    napi_throw_error(env, "ZTOC_NATIVE", "the blob box is empty");
    return NULL;
  }
  Taken *t = (Taken *)calloc(1, sizeof(Taken));
  size_t at = off < (size_t)before ? (size_t)before : off;
  size_t size = at + len + (size_t)after;
  if (t == NULL || (size > mem.size && mem_resize(&mem, size) != ZT_OK)) {
    free(t);
    mem_free(&mem);
    napi_throw_error(env, "ZTOC_NATIVE", "out of memory");
    return NULL;
  }
  /* Not enough room in front (a layer of many spans): move the blob up, once. */
  if (at != off) memmove(mem.base + at, mem.base + off, len);
  t->mem = mem;
  t->size = size;
  napi_value ab, view;
  if (napi_create_external_arraybuffer(env, mem.base, size, taken_finalize, t, &ab) != napi_ok) {
    mem_free(&mem);
    free(t);
    napi_throw_error(env, "ZTOC_NATIVE", "N-API call failed: napi_create_external_arraybuffer");
    return NULL;
  }
  pthread_mutex_lock(&handover_lock);
  list_push(&takens, &t->link);
  pthread_mutex_unlock(&handover_lock);
  NAPI_CALL(env, napi_create_typedarray(env, napi_uint8_array, len, ab, at, &view));
  return view;
}

/* blobBoxDrop(box): frees what the box holds (a build that failed after the hand-over). */
static napi_value blob_box_drop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Box *x = get_box(env, argv[0]);
  if (!x) return NULL;
  BlobMem mem;
  size_t off, len;
  if (box_empty(x, &mem, &off, &len)) mem_free(&mem);
  napi_value r;
  NAPI_CALL(env, napi_get_undefined(env, &r));
  return r;
}

/* The taken buffer a Uint8Array views, or NULL (and a TypeError unless quiet). */
static Taken *get_taken(napi_env env, napi_value v, int quiet) {
  napi_typedarray_type ty;
  size_t len, off, ablen = 0;
  void *data, *abdata = NULL;
  napi_value ab;
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta || napi_get_typedarray_info(env, v, &ty, &len, &data, &ab, &off) != napi_ok ||
      ty != napi_uint8_array) {
    napi_throw_type_error(env, "ZTOC_NATIVE_ARG", "expected a Uint8Array");
    return NULL;
  }
  bool is_ab = false; /* a view of a SharedArrayBuffer is none of ours */
  if (napi_is_arraybuffer(env, ab, &is_ab) != napi_ok || (is_ab && napi_get_arraybuffer_info(env, ab, &abdata, &ablen) != napi_ok)) {
    napi_throw_error(env, "ZTOC_NATIVE", "N-API call failed: napi_get_arraybuffer_info");
    return NULL;
  }
  Taken *t = NULL;
  pthread_mutex_lock(&handover_lock);
  for (Link *l = is_ab ? takens : NULL; l && t == NULL; l = l->next)
    if (((Taken *)l)->mem.base == abdata && ((Taken *)l)->size == ablen) t = (Taken *)l;
  pthread_mutex_unlock(&handover_lock);
  if (t == NULL && !quiet) napi_throw_type_error(env, "ZTOC_NATIVE_ARG", "expected a view of a taken checkpoint blob");
  return t;
}

/* blobBufferMoveDown(view, from, to, length): within the ArrayBuffer of a taken blob, moves bytes
   [from, from + length) down to `to`, and gives back the pages it leaves (which read as zeros). */
static napi_value blob_buffer_move_down(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  Taken *t = get_taken(env, argv[0], 0);
  if (!t) return NULL;
  int64_t from, to, length;
  if (!get_int(env, argv[1], "from", 0, (double)t->size, &from) || !get_int(env, argv[2], "to", 0, (double)from, &to) ||
      !get_int(env, argv[3], "length", 0, (double)(t->size - (size_t)from), &length))
    return NULL;
  unsigned char *p = t->mem.base;
  /* In 1 MiB steps, giving back each step's source pages that the destination doesn't cover: the
     bytes are never resident twice, beyond one step and the overlap of source and destination. */
  const size_t step = (size_t)1 << 20, pg = page_size();
  size_t freed = (size_t)(to + length) > (size_t)from ? (size_t)(to + length) : (size_t)from;
  for (size_t done = 0; done < (size_t)length;) {
    size_t n = (size_t)length - done < step ? (size_t)length - done : step;
    memmove(p + to + done, p + from + done, n);
    done += n;
    /* The mapping's last page is ours whole: past the buffer's end too. */
    size_t hi = (size_t)from + done == t->size ? t->mem.size : (size_t)from + done;
    if (hi > freed) {
      mem_release(p + freed, hi - freed);
      if (hi / pg * pg > freed) freed = hi / pg * pg;
    }
  }
  napi_value r;
  NAPI_CALL(env, napi_get_undefined(env, &r));
  return r;
}

/* blobBufferOwns(view) -> boolean: whether the view lies in a taken blob's memory (tests). */
static napi_value blob_buffer_owns(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Taken *t = get_taken(env, argv[0], 1);
  bool pending = false;
  if (t == NULL && (napi_is_exception_pending(env, &pending) != napi_ok || pending)) return NULL;
  napi_value r;
  NAPI_CALL(env, napi_get_boolean(env, t != NULL, &r));
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Inflate thread                                                                              */
/*
 * inflateThreadStart(builder, inputs: Uint8Array[], outputs: Uint8Array[], nice, onEvent) -> handle
 * runs the builder on a thread of its own (inflate_thread.c) until inflateThreadEnd's input is
 * inflated, a step fails, or inflateThreadStop. Events reach onEvent(kind, slot, value, totalIn,
 * members) on this thread through a threadsafe function: IT_INPUT (value: the slot's checkpoints, a
 * Float64Array of [in, out, bits] triples), IT_OUTPUT (value: bytes in the slot), IT_DRAINED (the
 * builder is free again: builderState and builderBlob work), IT_ERROR (slot: the status, value: the
 * engine's message). While the thread runs, every builder call from JS throws; the builder and the
 * slots stay referenced, so nothing it touches can be collected. The threadsafe function keeps the
 * event loop alive until the thread ends. An env torn down mid-build (a worker that terminates)
 * stops and joins the thread first (a cleanup hook), before its finalizers free the builder.
 */
static const napi_type_tag THREAD_TAG = {0x7a746f6354687264ULL, 0x5a544f43b1d3e004ULL};

/* The thread reports a failed allocation with the status JS maps for the builder's (NativeStatus.MemError). */
_Static_assert(IT_NO_MEMORY == ZT_ERR_MEM, "an inflate thread's out-of-memory status is the builder's");

typedef struct {
  InflateThread *t;
  Builder *b;
  napi_threadsafe_function tsfn;
  napi_ref refs[1 + 2 * IT_MAX_SLOTS]; /* the builder handle and every slot */
  int nrefs;
  int joined;      /* t was stopped, joined and freed */
  int handle_gone; /* the JS handle was collected */
  int tsfn_gone;   /* the threadsafe function was finalized */
} Glue;

static int glue_step(void *e, unsigned char *in, size_t inlen, unsigned char *out, size_t outlen, size_t *consumed, size_t *produced) {
  int ended_now = 0;
  return builder_step((Builder *)e, in, inlen, out, outlen, consumed, produced, &ended_now);
}

static const char *glue_message(void *e) { return ((Builder *)e)->msg; }

static void glue_progress(void *e, double *total_in, double *members, int64_t *checkpoints) {
  Builder *b = (Builder *)e;
  *total_in = (double)b->totin;
  *members = (double)b->members;
  *checkpoints = b->ncheckpoints;
}

static void glue_checkpoint(void *e, int64_t i, double *triple) { checkpoint_at((Builder *)e, i, triple); }

static void event_free(ItEvent *e) {
  free(e->cps);
  free(e);
}

static void glue_emit(void *sink, ItEvent *e) {
  if (napi_call_threadsafe_function(((Glue *)sink)->tsfn, e, napi_tsfn_nonblocking) != napi_ok) event_free(e); /* closing */
}

static void glue_exited(void *sink, int drained) {
  Glue *g = (Glue *)sink;
  __atomic_store_n(&g->b->busy, 0, __ATOMIC_RELEASE); /* before IT_DRAINED reaches JS, which then ends the builder */
  if (drained) {
    ItEvent *e = (ItEvent *)calloc(1, sizeof(ItEvent));
    if (e != NULL) {
      e->kind = IT_DRAINED;
      glue_emit(g, e);
    }
  }
  napi_release_threadsafe_function(g->tsfn, napi_tsfn_release);
}

static const ItOps GLUE_OPS = {glue_step, glue_message, glue_progress, glue_checkpoint, glue_emit, glue_exited};

/* On this thread: stop the inflate thread and wait for it (within one step). */
static void glue_join(Glue *g) {
  if (g->joined) return;
  it_stop(g->t);
  it_join_free(g->t);
  g->t = NULL;
  g->joined = 1;
}

static void glue_cleanup_hook(void *arg) { glue_join((Glue *)arg); }

static void glue_call_js(napi_env env, napi_value cb, void *context, void *data) {
  ItEvent *e = (ItEvent *)data;
  if (env != NULL && cb != NULL) {
    napi_value argv[5], undef;
    int ok = napi_get_undefined(env, &undef) == napi_ok && napi_create_int32(env, e->kind, &argv[0]) == napi_ok &&
             napi_create_int32(env, e->slot, &argv[1]) == napi_ok && napi_create_double(env, e->total_in, &argv[3]) == napi_ok &&
             napi_create_double(env, e->members, &argv[4]) == napi_ok;
    if (ok && e->kind == IT_INPUT) {
      void *d;
      napi_value ab;
      ok = napi_create_arraybuffer(env, e->ncps * 3 * sizeof(double), &d, &ab) == napi_ok &&
           napi_create_typedarray(env, napi_float64_array, e->ncps * 3, ab, 0, &argv[2]) == napi_ok;
      if (ok && e->ncps > 0) memcpy(d, e->cps, e->ncps * 3 * sizeof(double));
    } else if (ok && e->kind == IT_ERROR) {
      ok = napi_create_string_utf8(env, e->msg, NAPI_AUTO_LENGTH, &argv[2]) == napi_ok;
    } else if (ok) {
      ok = napi_create_double(env, e->length, &argv[2]) == napi_ok;
    }
    if (ok) napi_call_function(env, undef, cb, 5, argv, NULL); /* the callback never throws (src/inflate/inflater.ts) */
  }
  event_free(e);
}

static void glue_free_if_done(Glue *g) {
  if (g->handle_gone && g->tsfn_gone) free(g);
}

/* The thread released the function (or the env is going): it has ended, or ends within a step. */
static void glue_tsfn_finalize(napi_env env, void *data, void *hint) {
  Glue *g = (Glue *)data;
  glue_join(g);
  napi_remove_env_cleanup_hook(env, glue_cleanup_hook, g);
  for (int i = 0; i < g->nrefs; i++) napi_delete_reference(env, g->refs[i]);
  g->nrefs = 0;
  g->tsfn_gone = 1;
  glue_free_if_done(g);
}

/* The JS handle was collected: a thread nobody can feed or end any more is stopped. */
static void glue_handle_finalize(napi_env env, void *data, void *hint) {
  Glue *g = (Glue *)data;
  if (!g->joined && g->t != NULL) it_stop(g->t);
  g->handle_gone = 1;
  glue_free_if_done(g);
}

static Glue *get_glue(napi_env env, napi_value v) { return (Glue *)get_tagged(env, v, &THREAD_TAG, "inflate thread"); }

/* Drops a glue no thread was started for: its references, then itself; throws `msg` unless it is NULL
   (an exception is pending already). */
static napi_value glue_discard(napi_env env, Glue *g, const char *msg) {
  for (int i = 0; i < g->nrefs; i++) napi_delete_reference(env, g->refs[i]);
  free(g);
  if (msg != NULL) napi_throw_error(env, "ZTOC_NATIVE", msg);
  return NULL;
}

/* The Uint8Arrays of a JS array of 1..IT_MAX_SLOTS slots, each referenced by g. */
static int get_slots(napi_env env, napi_value arr, const char *what, Glue *g, unsigned char **data, size_t *len, int *n) {
  bool is_arr = false;
  uint32_t count = 0;
  if (napi_is_array(env, arr, &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, arr, &count) != napi_ok || count < 1 ||
      count > IT_MAX_SLOTS) {
    char m[96];
    snprintf(m, sizeof m, "%s must be an array of 1 to %d Uint8Arrays", what, IT_MAX_SLOTS);
    napi_throw_type_error(env, "ZTOC_NATIVE_ARG", m);
    return 0;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value v;
    if (napi_get_element(env, arr, i, &v) != napi_ok || !get_u8(env, v, &data[i], &len[i])) return 0;
    if (len[i] == 0 || len[i] > 0xffffffffu) {
      napi_throw_range_error(env, "ZTOC_NATIVE_ARG", "a slot must hold 1 byte to 4 GiB");
      return 0;
    }
    if (napi_create_reference(env, v, 1, &g->refs[g->nrefs]) != napi_ok) {
      napi_throw_error(env, "ZTOC_NATIVE", "N-API call failed: napi_create_reference");
      return 0;
    }
    g->nrefs++;
  }
  *n = (int)count;
  return 1;
}

static napi_value inflate_thread_start(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return NULL;
  Builder *b = get_builder(env, argv[0]);
  if (!b) return NULL;
  int64_t nice;
  if (!get_int(env, argv[3], "nice", 0, 19, &nice)) return NULL;
  napi_valuetype cbt;
  if (napi_typeof(env, argv[4], &cbt) != napi_ok || cbt != napi_function) {
    napi_throw_type_error(env, "ZTOC_NATIVE_ARG", "onEvent must be a function");
    return NULL;
  }
  Glue *g = (Glue *)calloc(1, sizeof(Glue));
  if (g == NULL) {
    napi_throw_error(env, "ZTOC_NATIVE", "out of memory");
    return NULL;
  }
  g->b = b;
  unsigned char *in[IT_MAX_SLOTS], *out[IT_MAX_SLOTS];
  size_t in_len[IT_MAX_SLOTS], out_len[IT_MAX_SLOTS];
  int nin = 0, nout = 0;
  if (napi_create_reference(env, argv[0], 1, &g->refs[0]) != napi_ok) return glue_discard(env, g, "N-API call failed: napi_create_reference");
  g->nrefs = 1;
  if (!get_slots(env, argv[1], "inputs", g, in, in_len, &nin) || !get_slots(env, argv[2], "outputs", g, out, out_len, &nout))
    return glue_discard(env, g, NULL);
  for (int i = 1; i < nout; i++)
    if (out_len[i] != out_len[0]) return glue_discard(env, g, "output slots must all have the same size");
  napi_value name, handle;
  if (napi_create_string_utf8(env, "ztoc-inflate", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[4], NULL, name, 0, 1, g, glue_tsfn_finalize, NULL, glue_call_js, &g->tsfn) != napi_ok)
    return glue_discard(env, g, "N-API call failed: napi_create_threadsafe_function");
  /* From here the threadsafe function owns g's references; its finalizer drops them. */
  __atomic_store_n(&b->busy, 1, __ATOMIC_RELEASE);
  g->t = it_start(&GLUE_OPS, b, g, in, in_len, nin, out, out_len[0], nout, (int)nice);
  if (g->t == NULL) {
    __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
    g->joined = 1;
    g->handle_gone = 1;
    napi_release_threadsafe_function(g->tsfn, napi_tsfn_release); /* finalizes g */
    napi_throw_error(env, "ZTOC_NATIVE", "could not start an inflate thread");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, glue_cleanup_hook, g);
  /* On failure the thread is stopped; the function's finalizer joins it, and g is freed once the handle is gone
     too: at once when there is no handle, else when the untagged one is collected. */
  if (napi_create_external(env, g, glue_handle_finalize, NULL, &handle) != napi_ok) {
    it_stop(g->t);
    g->handle_gone = 1;
    napi_throw_error(env, "ZTOC_NATIVE", "N-API call failed: napi_create_external");
    return NULL;
  }
  if (napi_type_tag_object(env, handle, &THREAD_TAG) != napi_ok) {
    it_stop(g->t);
    napi_throw_error(env, "ZTOC_NATIVE", "N-API call failed: napi_type_tag_object");
    return NULL;
  }
  return handle;
}

/* inflateThreadInput(t, slot, length, start) -> boolean: false if the slot is queued, too small, or the thread ended. */
static napi_value inflate_thread_input(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  Glue *g = get_glue(env, argv[0]);
  if (!g) return NULL;
  int64_t slot, length, start;
  if (!get_int(env, argv[1], "slot", 0, IT_MAX_SLOTS - 1, &slot) || !get_int(env, argv[2], "length", 0, 0xffffffffu, &length) ||
      !get_int(env, argv[3], "start", 0, MAX_SAFE_INT, &start))
    return NULL;
  napi_value r;
  NAPI_CALL(env, napi_get_boolean(env, !g->joined && it_input(g->t, (int)slot, (size_t)length, (double)start), &r));
  return r;
}

/* inflateThreadOutput(t, slot) -> boolean: hands a scanned output slot back. */
static napi_value inflate_thread_output(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  Glue *g = get_glue(env, argv[0]);
  if (!g) return NULL;
  int64_t slot;
  if (!get_int(env, argv[1], "slot", 0, IT_MAX_SLOTS - 1, &slot)) return NULL;
  napi_value r;
  NAPI_CALL(env, napi_get_boolean(env, !g->joined && it_output(g->t, (int)slot), &r));
  return r;
}

/* inflateThreadEnd(t) / inflateThreadStop(t): no more input / stop now. */
static napi_value thread_signal(napi_env env, napi_callback_info info, int stop) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Glue *g = get_glue(env, argv[0]);
  if (!g) return NULL;
  if (!g->joined) (stop ? it_stop : it_end)(g->t);
  return NULL;
}

static napi_value inflate_thread_end(napi_env env, napi_callback_info info) { return thread_signal(env, info, 0); }
static napi_value inflate_thread_stop(napi_env env, napi_callback_info info) { return thread_signal(env, info, 1); }

/* ------------------------------------------------------------------------------------------ */
/* Reader                                                                                      */

typedef struct Reader {
  z_stream strm;
  int ready;
  int gzip_mode;     /* 0: raw deflate from a checkpoint; 1: parsing whole gzip members */
  int trailer_left;  /* bytes of a raw member's 8-byte trailer still to skip */
  int member_ended;
  char msg[256];
} Reader;

static Reader *get_reader(napi_env env, napi_value v) { return (Reader *)get_tagged(env, v, &READER_TAG, "reader"); }

static void reader_finalize(napi_env env, void *data, void *hint) {
  Reader *r = (Reader *)data;
  if (r->ready) inflateEnd(&r->strm);
  free(r);
}

/* readerCreate(bits, firstByte, window: Uint8Array(32768)) -> External */
static napi_value reader_create(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int64_t bits, first;
  if (!get_int(env, argv[0], "bits", 0, 7, &bits)) return NULL;
  if (!get_int(env, argv[1], "firstByte", 0, 255, &first)) return NULL;
  unsigned char *win;
  size_t winlen;
  if (!get_u8(env, argv[2], &win, &winlen)) return NULL;
  if (winlen != WINSIZE) {
    napi_throw_range_error(env, "ZTOC_NATIVE_ARG", "bad checkpoint: the window must be 32768 bytes");
    return NULL;
  }
  Reader *r = (Reader *)calloc(1, sizeof(Reader));
  if (!r) {
    napi_throw_error(env, "ZTOC_NATIVE", "out of memory");
    return NULL;
  }
  if (inflateInit2(&r->strm, -15) != Z_OK) {
    free(r);
    napi_throw_error(env, "ZTOC_NATIVE", "inflateInit2 failed");
    return NULL;
  }
  r->ready = 1;
  if (bits > 0 && inflatePrime(&r->strm, (int)bits, (int)((first & 0xff) >> (8 - bits))) != Z_OK) {
    inflateEnd(&r->strm);
    free(r);
    napi_throw_error(env, "ZTOC_NATIVE", "inflatePrime failed");
    return NULL;
  }
  if (inflateSetDictionary(&r->strm, win, WINSIZE) != Z_OK) {
    inflateEnd(&r->strm);
    free(r);
    napi_throw_error(env, "ZTOC_NATIVE", "inflateSetDictionary failed");
    return NULL;
  }
  return make_handle(env, r, reader_finalize, &READER_TAG);
}

/*
 * readerInflate(h, input, inOffset, output, outOffset, info: Float64Array) -> status
 * Reports into the RI_* slots of info.
 */
static napi_value reader_inflate(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv)) return NULL;
  Reader *r = get_reader(env, argv[0]);
  if (!r) return NULL;
  unsigned char *in, *out;
  size_t inlen, outlen;
  int64_t inoff_i, outoff_i;
  if (!get_u8(env, argv[1], &in, &inlen)) return NULL;
  if (!get_int(env, argv[2], "inOffset", 0, (double)inlen, &inoff_i)) return NULL;
  if (!get_u8(env, argv[3], &out, &outlen)) return NULL;
  if (!get_int(env, argv[4], "outOffset", 0, (double)outlen, &outoff_i)) return NULL;
  double *res = get_f64(env, argv[5], RI_COUNT);
  if (!res) return NULL;
  size_t inoff = (size_t)inoff_i, outoff = (size_t)outoff_i;
  if (inlen - inoff > 0xffffffffu || outlen - outoff > 0xffffffffu) {
    napi_throw_range_error(env, "ZTOC_NATIVE_ARG", "input and output must each be under 4 GiB per call");
    return NULL;
  }
  r->strm.next_in = in + inoff;
  r->strm.avail_in = (uInt)(inlen - inoff);
  r->strm.next_out = out + outoff;
  r->strm.avail_out = (uInt)(outlen - outoff);
  int status = ZT_OK;
  int ended = 0;
  while (r->strm.avail_out > 0) {
    if (r->trailer_left > 0) {
      uInt skip = r->strm.avail_in < (uInt)r->trailer_left ? r->strm.avail_in : (uInt)r->trailer_left;
      r->strm.next_in += skip;
      r->strm.avail_in -= skip;
      r->trailer_left -= (int)skip;
      if (r->trailer_left > 0) break;
      r->member_ended = 1;
    }
    if (r->member_ended) {
      if (r->strm.avail_in == 0) break;
      inflateReset2(&r->strm, 31);
      r->gzip_mode = 1;
      r->member_ended = 0;
    }
    uInt in0 = r->strm.avail_in, out0 = r->strm.avail_out;
    int ret = inflate(&r->strm, Z_NO_FLUSH);
    if (ret == Z_STREAM_END) {
      ended++;
      /* Raw mode leaves the gzip trailer unread; gzip mode consumed it. */
      if (r->gzip_mode) r->member_ended = 1;
      else r->trailer_left = 8;
      continue;
    }
    if (ret == Z_BUF_ERROR) break;
    if (ret != Z_OK) {
      const char *m = r->strm.msg ? r->strm.msg : "inflate error";
      strncpy(r->msg, m, sizeof(r->msg) - 1);
      status = ret == Z_MEM_ERROR ? ZT_ERR_MEM : ZT_ERR_DATA;
      break;
    }
    if (in0 == r->strm.avail_in && out0 == r->strm.avail_out) break;
  }
  res[RI_CONSUMED] = (double)((size_t)(r->strm.next_in - in) - inoff);
  res[RI_PRODUCED] = (double)((size_t)(r->strm.next_out - out) - outoff);
  res[RI_MEMBERS_ENDED] = (double)ended;
  r->strm.next_in = NULL;
  r->strm.avail_in = 0;
  r->strm.next_out = NULL;
  r->strm.avail_out = 0;
  napi_value rv;
  NAPI_CALL(env, napi_create_int32(env, status, &rv));
  return rv;
}

static napi_value reader_message(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Reader *r = get_reader(env, argv[0]);
  if (!r) return NULL;
  napi_value s;
  NAPI_CALL(env, napi_create_string_utf8(env, r->msg, NAPI_AUTO_LENGTH, &s));
  return s;
}

static napi_value get_zlib_version(napi_env env, napi_callback_info info) {
  napi_value s;
  NAPI_CALL(env, napi_create_string_utf8(env, zlibVersion(), NAPI_AUTO_LENGTH, &s));
  return s;
}

/* ---- CRC-32 engines (crc32.c), exported for their tests and `ztoc doctor` ------------------- */

/* crc32(buf: Uint8Array, crc: number, engine?: string) -> number: zlib's crc32_z on one engine
   ("auto" = the one the fast inflater runs). An engine this CPU or build lacks throws. */
static napi_value crc32_call(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = 3;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!get_args(env, info, 2, argv)) return NULL;
  unsigned char *buf;
  size_t len;
  int64_t crc;
  if (!get_u8(env, argv[0], &buf, &len) || !get_int(env, argv[1], "crc", 0, 4294967295.0, &crc)) return NULL;
  char name[16] = "auto";
  napi_valuetype t = napi_undefined;
  if (argc > 2) NAPI_CALL(env, napi_typeof(env, argv[2], &t));
  if (t != napi_undefined) {
    size_t n;
    if (t != napi_string || napi_get_value_string_utf8(env, argv[2], name, sizeof name, &n) != napi_ok) {
      napi_throw_type_error(env, "ZTOC_NATIVE_ARG", "engine must be a string");
      return NULL;
    }
    if (n == sizeof name - 1) name[0] = '\0'; /* truncated: no engine has so long a name */
  }
  ztoc_crc32_fn fn = ztoc_crc32;
  if (strcmp(name, "auto") != 0) {
    int known = 0;
    for (const char *const *e = ztoc_crc32_engine_names; *e != NULL; e++) known |= strcmp(*e, name) == 0;
    if (!known) {
      napi_throw_range_error(env, "ZTOC_NATIVE_ARG", "engine must be auto, vpclmul, pclmul, armv8, zlib or table");
      return NULL;
    }
    fn = ztoc_crc32_engine(name);
    if (fn == NULL) {
      char m[96];
      snprintf(m, sizeof m, "crc32 engine %s is not available on this CPU or in this build", name);
      napi_throw_error(env, "ZTOC_NATIVE_UNSUPPORTED", m);
      return NULL;
    }
  }
  /* An empty Uint8Array may carry a NULL data pointer, which crc32_z reads as "return 0". */
  static const uint8_t none[1] = {0};
  napi_value rv;
  NAPI_CALL(env, napi_create_uint32(env, fn((uint32_t)crc, len > 0 ? buf : none, len), &rv));
  return rv;
}

/* { auto: engine name, available: [names, fastest first] } */
static napi_value crc32_info(napi_env env) {
  napi_value o, s, list;
  NAPI_CALL(env, napi_create_object(env, &o));
  NAPI_CALL(env, napi_create_string_utf8(env, ztoc_crc32_auto_name(), NAPI_AUTO_LENGTH, &s));
  NAPI_CALL(env, napi_set_named_property(env, o, "auto", s));
  NAPI_CALL(env, napi_create_array(env, &list));
  uint32_t n = 0;
  for (const char *const *e = ztoc_crc32_engine_names; *e != NULL; e++) {
    if (ztoc_crc32_engine(*e) == NULL) continue;
    NAPI_CALL(env, napi_create_string_utf8(env, *e, NAPI_AUTO_LENGTH, &s));
    NAPI_CALL(env, napi_set_element(env, list, n++, s));
  }
  NAPI_CALL(env, napi_set_named_property(env, o, "available", list));
  return o;
}

/* { name: index } for a slot enum, so JS addresses results by name and checks the layout. */
static napi_value slot_object(napi_env env, const char *const *names, int n) {
  napi_value o;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  for (int i = 0; i < n; i++)
    if (!set_num(env, o, names[i], i)) return NULL;
  return o;
}

/* ------------------------------------------------------------------------------------------ */
/* zTOC entries (ztoc_encode.c)                                                               */


/* A whole number in [0, 2^53): checked without libm's floor (the addon links only libc). */
static int whole(double d) { return d >= 0 && d < 9007199254740992.0 && d == (double)(int64_t)d; }

/*
 * encodeEntries(buf, state, vtables, chunk, cursor, metas) -> status (ZE_*)
 * The FbWriter of src/ztoc/encode.ts hands its state over: buf is its whole buffer, state a
 * Float64Array [cap, space, floor, minalign, vtableCount], vtables a Float64Array of the vtable
 * offsets (its length is the room for new ones), cursor [end, metaIndex] into the log chunk and the
 * metas Int32Array. All of it is checked, then written back.
 */
static napi_value encode_entries(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv)) return NULL;
  void *buf, *st, *vts, *chunk, *cur, *metas;
  size_t buflen, stlen, nvts, chunklen, curlen, nmetas;
  if (!get_typed(env, argv[0], napi_uint8_array, 0, "a Uint8Array (the writer's buffer)", &buf, &buflen) ||
      !get_typed(env, argv[1], napi_float64_array, 0, "a Float64Array (the writer's state)", &st, &stlen) ||
      !get_typed(env, argv[2], napi_float64_array, 0, "a Float64Array (the vtables)", &vts, &nvts) ||
      !get_typed(env, argv[3], napi_uint8_array, 0, "a Uint8Array (a log chunk)", &chunk, &chunklen) ||
      !get_typed(env, argv[4], napi_float64_array, 0, "a Float64Array (the cursor)", &cur, &curlen) ||
      !get_typed(env, argv[5], napi_int32_array, 0, "an Int32Array (the metas)", &metas, &nmetas))
    return NULL;
  double *s = (double *)st, *c = (double *)cur, *v = (double *)vts;
  if (stlen < 5 || curlen < 2) {
    napi_throw_range_error(env, "ZTOC_NATIVE_ARG", "state needs 5 slots and cursor 2");
    return NULL;
  }
  double cap = s[0], space = s[1], fl = s[2], minalign = s[3], nvt = s[4], end = c[0], mi = c[1];
  int ok = cap == (double)buflen && whole(space) && whole(fl) && fl <= space && space <= cap &&
           (minalign == 1 || minalign == 2 || minalign == 4 || minalign == 8) && whole(nvt) && nvt <= (double)nvts &&
           whole(end) && end <= (double)chunklen && whole(mi) && mi <= (double)nmetas;
  for (size_t k = 0; ok && k < (size_t)nvt; k++) ok = whole(v[k]) && v[k] >= 4 && v[k] <= cap - space;
  if (!ok) {
    napi_throw_range_error(env, "ZTOC_NATIVE_ARG", "encodeEntries: writer state, cursor or vtables out of range");
    return NULL;
  }
  int64_t *vt = (int64_t *)malloc(sizeof(int64_t) * (nvts > 0 ? nvts : 1));
  if (!vt) {
    napi_throw_error(env, "ZTOC_NATIVE", "out of memory");
    return NULL;
  }
  for (size_t k = 0; k < (size_t)nvt; k++) vt[k] = (int64_t)v[k];
  ZeWriter w = {.buf = (uint8_t *)buf, .cap = (int64_t)cap, .space = (int64_t)space, .floor = (int64_t)fl,
                .minalign = (int32_t)minalign, .vtables = vt, .nvt = (size_t)nvt, .vtcap = nvts};
  size_t e = (size_t)end, m = (size_t)mi;
  int status = ze_entries(&w, (const uint8_t *)chunk, &e, (int32_t *)metas, &m);
  for (size_t k = (size_t)nvt; k < w.nvt; k++) v[k] = (double)vt[k];
  free(vt);
  s[1] = (double)w.space;
  s[3] = (double)w.minalign;
  s[4] = (double)w.nvt;
  c[0] = (double)e;
  c[1] = (double)m;
  napi_value r;
  NAPI_CALL(env, napi_create_int32(env, status, &r));
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  static const char *const bi[BI_COUNT] = {"consumed", "produced", "totalIn", "totalOut", "checkpoints", "memberEnded", "members"};
  static const char *const ri[RI_COUNT] = {"consumed", "produced", "membersEnded"};
  napi_value bslots = slot_object(env, bi, BI_COUNT), rslots = slot_object(env, ri, RI_COUNT);
  if (bslots == NULL || rslots == NULL) return NULL;
  /* The engines this build has, by the number builderCreate takes. */
  napi_value engines;
  NAPI_CALL(env, napi_create_object(env, &engines));
  if (!set_num(env, engines, "zlib", ENGINE_ZLIB) || !set_num(env, engines, "fast", ENGINE_FAST)) return NULL;
  /* The event kinds inflateThreadStart's onEvent gets. */
  napi_value tevents;
  NAPI_CALL(env, napi_create_object(env, &tevents));
  if (!set_num(env, tevents, "input", IT_INPUT) || !set_num(env, tevents, "output", IT_OUTPUT) || !set_num(env, tevents, "drained", IT_DRAINED) ||
      !set_num(env, tevents, "error", IT_ERROR) || !set_num(env, tevents, "stalled", IT_STALLED))
    return NULL;
  /* Which build of the fast engine's Huffman loop this CPU runs ("bmi2" or "generic"). */
  napi_value variant;
  NAPI_CALL(env, napi_create_string_utf8(env, fi_variant(), NAPI_AUTO_LENGTH, &variant));
  napi_value crc32 = crc32_info(env);
  if (crc32 == NULL) return NULL;
  napi_property_descriptor props[] = {
      {"builderCreate", NULL, builder_create, NULL, NULL, NULL, napi_default, NULL},
      {"builderInflate", NULL, builder_inflate, NULL, NULL, NULL, napi_default, NULL},
      {"builderMessage", NULL, builder_message, NULL, NULL, NULL, napi_default, NULL},
      {"builderState", NULL, builder_state, NULL, NULL, NULL, napi_default, NULL},
      {"builderCheckpoints", NULL, builder_checkpoints, NULL, NULL, NULL, napi_default, NULL},
      {"builderBlob", NULL, builder_blob, NULL, NULL, NULL, napi_default, NULL},
      {"inflateThreadStart", NULL, inflate_thread_start, NULL, NULL, NULL, napi_default, NULL},
      {"inflateThreadInput", NULL, inflate_thread_input, NULL, NULL, NULL, napi_default, NULL},
      {"inflateThreadOutput", NULL, inflate_thread_output, NULL, NULL, NULL, napi_default, NULL},
      {"inflateThreadEnd", NULL, inflate_thread_end, NULL, NULL, NULL, napi_default, NULL},
      {"inflateThreadStop", NULL, inflate_thread_stop, NULL, NULL, NULL, napi_default, NULL},
      {"blobBoxCreate", NULL, blob_box_create, NULL, NULL, NULL, napi_default, NULL},
      {"blobBoxId", NULL, blob_box_id, NULL, NULL, NULL, napi_default, NULL},
      {"blobBoxTake", NULL, blob_box_take, NULL, NULL, NULL, napi_default, NULL},
      {"blobBoxDrop", NULL, blob_box_drop, NULL, NULL, NULL, napi_default, NULL},
      {"blobBufferMoveDown", NULL, blob_buffer_move_down, NULL, NULL, NULL, napi_default, NULL},
      {"blobBufferOwns", NULL, blob_buffer_owns, NULL, NULL, NULL, napi_default, NULL},
      {"readerCreate", NULL, reader_create, NULL, NULL, NULL, napi_default, NULL},
      {"readerInflate", NULL, reader_inflate, NULL, NULL, NULL, napi_default, NULL},
      {"readerMessage", NULL, reader_message, NULL, NULL, NULL, napi_default, NULL},
      {"zlibVersion", NULL, get_zlib_version, NULL, NULL, NULL, napi_default, NULL},
      {"encodeEntries", NULL, encode_entries, NULL, NULL, NULL, napi_default, NULL},
      {"fastVariant", NULL, NULL, NULL, NULL, variant, napi_enumerable, NULL},
      {"builderInfoSlots", NULL, NULL, NULL, NULL, bslots, napi_enumerable, NULL},
      {"readerInfoSlots", NULL, NULL, NULL, NULL, rslots, napi_enumerable, NULL},
      {"engines", NULL, NULL, NULL, NULL, engines, napi_enumerable, NULL},
      {"threadEvents", NULL, NULL, NULL, NULL, tevents, napi_enumerable, NULL},
      {"crc32", NULL, crc32_call, NULL, NULL, NULL, napi_default, NULL},
      {"crc32Info", NULL, NULL, NULL, NULL, crc32, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
