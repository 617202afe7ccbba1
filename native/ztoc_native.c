/*
 * ztoc_native: the checkpointed inflater behind ztoc, over the zlib that Node itself exports.
 *
 * It owns two small state machines and nothing else:
 *  - a Builder that inflates a gzip layer with Z_BLOCK and records SOCI checkpoints (in, out,
 *    bits, 32 KiB window) already packed in the zinfo blob layout of soci-format.md §2.1;
 *  - a Reader that restores a checkpoint (inflatePrime + dictionary) and inflates onwards,
 *    across gzip member boundaries, for random-access reads.
 *
 * We include Node's zlib.h, link no zlib and do not define Z_PREFIX: the symbols bind to Node's
 * own copy at load time (see shared/docs/inflate-notes.md). All buffers are owned by JavaScript
 * except the checkpoint store; JS passes input and a reused output buffer on every call.
 */
#include <node_api.h>
#include <zlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WINSIZE 32768
#define CKPT_SIZE (8 + 8 + 1 + WINSIZE)
#define HEADER_SIZE 12

/* Result codes shared with src/inflate/native.ts. */
#define ZT_OK 0
#define ZT_ERR_DATA -1
#define ZT_ERR_MEM -2
#define ZT_ERR_STATE -3

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
  z_stream strm;
  int ready;            /* inflateInit2 succeeded */
  int checkpoints_on;   /* 0: plain Z_NO_FLUSH loop (benchmark baseline) */
  int member_ended;     /* last inflate returned Z_STREAM_END */
  int started;          /* any input seen */
  int64_t members;
  int64_t span;
  int64_t totin, totout, last;
  int64_t ncheckpoints;
  /* Output history preceding the current call's output: the last 32 KiB, oldest first. Starts as
     zeros, which is exactly SOCI's left zero-padding for checkpoints with out < 32768. */
  unsigned char ring[WINSIZE];
  /* Packed checkpoints, header room included: [n:int32][span:int64] then n * CKPT_SIZE. */
  unsigned char *blob;
  size_t blob_len, blob_cap;
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

static void builder_finalize(napi_env env, void *data, void *hint) {
  Builder *b = (Builder *)data;
  if (b->ready) inflateEnd(&b->strm);
  free(b->blob);
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
  if (b->blob_len + CKPT_SIZE > b->blob_cap) {
    size_t cap = b->blob_cap ? b->blob_cap * 2 : HEADER_SIZE + 8 * (size_t)CKPT_SIZE;
    while (cap < b->blob_len + CKPT_SIZE) cap *= 2;
    unsigned char *nb = (unsigned char *)realloc(b->blob, cap);
    if (!nb) return ZT_ERR_MEM;
    b->blob = nb;
    b->blob_cap = cap;
  }
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

static napi_value get_u8(napi_env env, napi_value v, unsigned char **data, size_t *len) {
  napi_typedarray_type t;
  size_t n;
  void *d;
  napi_value ab;
  size_t off;
  NAPI_CALL(env, napi_get_typedarray_info(env, v, &t, &n, &d, &ab, &off));
  if (t != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return NULL;
  }
  *data = (unsigned char *)d;
  *len = n;
  return v;
}

/* The Float64Array a call reports into (at least `min` slots). */
static double *get_f64(napi_env env, napi_value v, size_t min) {
  napi_typedarray_type t;
  size_t n;
  void *d;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, &n, &d, &ab, &off) != napi_ok || t != napi_float64_array || n < min) {
    napi_throw_type_error(env, NULL, "expected a Float64Array for results");
    return NULL;
  }
  return (double *)d;
}

static struct Reader *get_reader(napi_env env, napi_value v);

/* builderCreate(spanSize: number, checkpoints: boolean) -> External */
static napi_value builder_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double span;
  bool ck;
  NAPI_CALL(env, napi_get_value_double(env, argv[0], &span));
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &ck));
  Builder *b = (Builder *)calloc(1, sizeof(Builder));
  if (!b) {
    napi_throw_error(env, "ZTOC_NATIVE", "out of memory");
    return NULL;
  }
  b->span = (int64_t)span;
  b->checkpoints_on = ck ? 1 : 0;
  b->blob_len = HEADER_SIZE;
  /* 31 = gzip only (SOCI uses 47, which also accepts zlib streams; a layer is never one). */
  if (inflateInit2(&b->strm, 31) != Z_OK) {
    free(b);
    napi_throw_error(env, "ZTOC_NATIVE", "inflateInit2 failed");
    return NULL;
  }
  b->ready = 1;
  napi_value ext;
  NAPI_CALL(env, napi_create_external(env, b, builder_finalize, NULL, &ext));
  return ext;
}

static Builder *get_builder(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "expected a builder handle");
    return NULL;
  }
  return (Builder *)p;
}

/*
 * builderInflate(h, input, inOffset, output, info: Float64Array) -> status
 * Inflates input[inOffset..] into output[0..] until the input is used up or the output is full.
 * info[0] = input bytes consumed, info[1] = output bytes produced, info[2] = total in,
 * info[3] = total out, info[4] = checkpoints so far, info[5] = 1 if a member just ended,
 * info[6] = members finished.
 */
static napi_value builder_inflate(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Builder *b = get_builder(env, argv[0]);
  if (!b) return NULL;
  unsigned char *in, *out;
  size_t inlen, outlen;
  double inoff_d;
  if (!get_u8(env, argv[1], &in, &inlen)) return NULL;
  NAPI_CALL(env, napi_get_value_double(env, argv[2], &inoff_d));
  if (!get_u8(env, argv[3], &out, &outlen)) return NULL;
  double *res = get_f64(env, argv[4], 7);
  if (!res) return NULL;
  size_t inoff = (size_t)inoff_d;
  if (inoff > inlen) inoff = inlen;

  b->strm.next_in = in + inoff;
  b->strm.avail_in = (uInt)(inlen - inoff);
  b->strm.next_out = out;
  b->strm.avail_out = (uInt)outlen;
  if (b->strm.avail_in > 0) b->started = 1;
  int status = ZT_OK;
  int ended_now = 0;
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
      ended_now = 1;
      continue;
    }
    if (ret == Z_BUF_ERROR) break; /* needs more input (or output) */
    if (ret != Z_OK) {
      const char *m = b->strm.msg ? b->strm.msg : (ret == Z_MEM_ERROR ? "out of memory" : "inflate error");
      strncpy(b->msg, m, sizeof(b->msg) - 1);
      status = ret == Z_MEM_ERROR ? ZT_ERR_MEM : ZT_ERR_DATA;
      break;
    }
    if (b->checkpoints_on) {
      int dt = b->strm.data_type;
      /* SOCI's rule (gzip_zinfo.c): at a block boundary that is not after a member's final block,
         when nothing was produced yet or strictly more than span bytes since the last checkpoint. */
      if ((dt & 128) && !(dt & 64) && (b->totout == 0 || b->totout - b->last > b->span)) {
        size_t pos = (size_t)(b->strm.next_out - out);
        if (add_checkpoint(b, out, pos, dt & 7) != ZT_OK) {
          strncpy(b->msg, "out of memory", sizeof(b->msg) - 1);
          status = ZT_ERR_MEM;
          break;
        }
        b->last = b->totout;
      }
    }
    if (in0 == b->strm.avail_in && out0 == b->strm.avail_out) break; /* no progress */
  }
  size_t produced = (size_t)(b->strm.next_out - out);
  /* Keep the tail of this call's output: it is the history for checkpoints in the next call. */
  if (b->checkpoints_on) ring_absorb(b, out, produced);
  res[0] = (double)((size_t)(b->strm.next_in - in) - inoff);
  res[1] = (double)produced;
  res[2] = (double)b->totin;
  res[3] = (double)b->totout;
  res[4] = (double)b->ncheckpoints;
  res[5] = (double)ended_now;
  res[6] = (double)b->members;
  b->strm.next_in = NULL;
  b->strm.avail_in = 0;
  b->strm.next_out = NULL;
  b->strm.avail_out = 0;
  napi_value r;
  NAPI_CALL(env, napi_create_int32(env, status, &r));
  return r;
}

/* builderMessage(h) -> string: zlib's message for the last error. */
static napi_value builder_message(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Builder *b = get_builder(env, argv[0]);
  if (!b) return NULL;
  napi_value s;
  NAPI_CALL(env, napi_create_string_utf8(env, b->msg, NAPI_AUTO_LENGTH, &s));
  return s;
}

/* builderState(h) -> [memberEnded, members, started, totin, totout, checkpoints] */
static napi_value builder_state(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Builder *b = get_builder(env, argv[0]);
  if (!b) return NULL;
  double vals[6] = {(double)b->member_ended, (double)b->members, (double)b->started,
                    (double)b->totin, (double)b->totout, (double)b->ncheckpoints};
  napi_value arr;
  NAPI_CALL(env, napi_create_array_with_length(env, 6, &arr));
  for (uint32_t i = 0; i < 6; i++) {
    napi_value v;
    NAPI_CALL(env, napi_create_double(env, vals[i], &v));
    NAPI_CALL(env, napi_set_element(env, arr, i, v));
  }
  return arr;
}

/* builderCheckpoints(h, from) -> Float64Array [in, out, bits] * (n - from): positions for span hashing. */
static napi_value builder_checkpoints(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Builder *b = get_builder(env, argv[0]);
  if (!b) return NULL;
  double from_d;
  NAPI_CALL(env, napi_get_value_double(env, argv[1], &from_d));
  int64_t from = (int64_t)from_d;
  if (from < 0) from = 0;
  if (from > b->ncheckpoints) from = b->ncheckpoints;
  size_t k = b->blob == NULL ? 0 : (size_t)(b->ncheckpoints - from); /* none after builderBlob */
  napi_value abuf, arr;
  void *data;
  NAPI_CALL(env, napi_create_arraybuffer(env, k * 3 * sizeof(double), &data, &abuf));
  double *d = (double *)data;
  for (size_t i = 0; i < k; i++) {
    const unsigned char *p = b->blob + HEADER_SIZE + (size_t)(from + (int64_t)i) * CKPT_SIZE;
    int64_t vin = 0, vout = 0;
    for (int j = 7; j >= 0; j--) {
      vin = (vin << 8) | p[j];
      vout = (vout << 8) | p[8 + j];
    }
    d[3 * i] = (double)vin;
    d[3 * i + 1] = (double)vout;
    d[3 * i + 2] = (double)p[16];
  }
  NAPI_CALL(env, napi_create_typedarray(env, napi_float64_array, k * 3, abuf, 0, &arr));
  return arr;
}

/* builderBlob(h) -> Buffer: the zinfo blob (soci-format.md §2.1), header filled in. Call once, at the end. */
static napi_value builder_blob(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Builder *b = get_builder(env, argv[0]);
  if (!b) return NULL;
  if (b->blob == NULL) {
    b->blob = (unsigned char *)malloc(HEADER_SIZE);
    if (!b->blob) {
      napi_throw_error(env, "ZTOC_NATIVE", "out of memory");
      return NULL;
    }
    b->blob_cap = HEADER_SIZE;
  }
  put_le32(b->blob, (int32_t)b->ncheckpoints);
  put_le64(b->blob + 4, b->span);
  napi_value buf;
  void *copy;
  NAPI_CALL(env, napi_create_buffer_copy(env, b->blob_len, b->blob, &copy, &buf));
  /* The blob is handed over once, at the end: release our copy now (it can be tens of MB). */
  free(b->blob);
  b->blob = NULL;
  b->blob_len = b->blob_cap = 0;
  return buf;
}

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

static Reader *get_reader(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "expected a reader handle");
    return NULL;
  }
  return (Reader *)p;
}

static void reader_finalize(napi_env env, void *data, void *hint) {
  Reader *r = (Reader *)data;
  if (r->ready) inflateEnd(&r->strm);
  free(r);
}

/* readerCreate(bits, firstByte, window: Uint8Array(32768)) -> External */
static napi_value reader_create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t bits, first;
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &bits));
  NAPI_CALL(env, napi_get_value_int32(env, argv[1], &first));
  unsigned char *win;
  size_t winlen;
  if (!get_u8(env, argv[2], &win, &winlen)) return NULL;
  if (bits < 0 || bits > 7 || winlen != WINSIZE) {
    napi_throw_range_error(env, NULL, "bad checkpoint: bits must be 0..7 and the window 32768 bytes");
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
  if (bits > 0 && inflatePrime(&r->strm, bits, (first & 0xff) >> (8 - bits)) != Z_OK) {
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
  napi_value ext;
  NAPI_CALL(env, napi_create_external(env, r, reader_finalize, NULL, &ext));
  return ext;
}

/*
 * readerInflate(h, input, inOffset, output, outOffset, info: Float64Array) -> status
 * info[0] = consumed, info[1] = produced, info[2] = members ended during the call.
 */
static napi_value reader_inflate(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Reader *r = get_reader(env, argv[0]);
  if (!r) return NULL;
  unsigned char *in, *out;
  size_t inlen, outlen;
  double inoff_d, outoff_d;
  if (!get_u8(env, argv[1], &in, &inlen)) return NULL;
  NAPI_CALL(env, napi_get_value_double(env, argv[2], &inoff_d));
  if (!get_u8(env, argv[3], &out, &outlen)) return NULL;
  NAPI_CALL(env, napi_get_value_double(env, argv[4], &outoff_d));
  double *res = get_f64(env, argv[5], 3);
  if (!res) return NULL;
  size_t inoff = (size_t)inoff_d, outoff = (size_t)outoff_d;
  if (inoff > inlen) inoff = inlen;
  if (outoff > outlen) outoff = outlen;
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
  res[0] = (double)((size_t)(r->strm.next_in - in) - inoff);
  res[1] = (double)((size_t)(r->strm.next_out - out) - outoff);
  res[2] = (double)ended;
  r->strm.next_in = NULL;
  r->strm.avail_in = 0;
  r->strm.next_out = NULL;
  r->strm.avail_out = 0;
  napi_value rv;
  NAPI_CALL(env, napi_create_int32(env, status, &rv));
  return rv;
}

static napi_value reader_message(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"builderCreate", NULL, builder_create, NULL, NULL, NULL, napi_default, NULL},
      {"builderInflate", NULL, builder_inflate, NULL, NULL, NULL, napi_default, NULL},
      {"builderMessage", NULL, builder_message, NULL, NULL, NULL, napi_default, NULL},
      {"builderState", NULL, builder_state, NULL, NULL, NULL, napi_default, NULL},
      {"builderCheckpoints", NULL, builder_checkpoints, NULL, NULL, NULL, napi_default, NULL},
      {"builderBlob", NULL, builder_blob, NULL, NULL, NULL, napi_default, NULL},
      {"readerCreate", NULL, reader_create, NULL, NULL, NULL, napi_default, NULL},
      {"readerInflate", NULL, reader_inflate, NULL, NULL, NULL, napi_default, NULL},
      {"readerMessage", NULL, reader_message, NULL, NULL, NULL, napi_default, NULL},
      {"zlibVersion", NULL, get_zlib_version, NULL, NULL, NULL, napi_default, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
