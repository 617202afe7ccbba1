/*
 * ztoc_encode: the TOC entries of a zTOC, written back to front. See ztoc_encode.h. Each step
 * mirrors a method of FbWriter in src/ztoc/encode.ts (itself a flatbuffers Builder call, in SOCI's
 * call order): prep, strings, offsets, int fields, vtables shared when identical. The golden zTOCs
 * and the property test against the flatbuffers library (test/ztoc-encode.test.ts) hold both to
 * SOCI's bytes.
 */
#include "ztoc_encode.h"

#include <string.h>

typedef struct {
  ZeWriter *w;
  int32_t vt[16];
  int vt_in_use;
  int64_t object_start;
  size_t last_shared;
} Enc;

static inline int64_t off(const ZeWriter *w) { return w->cap - w->space; }

static inline void put32(uint8_t *p, int32_t v) {
  uint32_t u = (uint32_t)v;
  p[0] = (uint8_t)u;
  p[1] = (uint8_t)(u >> 8);
  p[2] = (uint8_t)(u >> 16);
  p[3] = (uint8_t)(u >> 24);
}

static inline void put16(uint8_t *p, int32_t v) {
  uint16_t u = (uint16_t)v;
  p[0] = (uint8_t)u;
  p[1] = (uint8_t)(u >> 8);
}

static inline uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static inline int64_t get_f64_int(const uint8_t *p) {
  double d;
  memcpy(&d, p, 8);
  return (int64_t)d; /* the log holds safe integers */
}

/* Builder.prep: zero padding so that `size` is aligned after `additional` more bytes. Room was
   checked for the whole record before it started. */
static inline void prep(ZeWriter *w, int size, int64_t additional) {
  if (size > w->minalign) w->minalign = size;
  int64_t align = -(off(w) + additional) & (size - 1);
  while (align-- > 0) w->buf[--w->space] = 0;
}

static inline void write32(ZeWriter *w, int32_t v) {
  w->space -= 4;
  put32(w->buf + w->space, v);
}

static inline void add_offset(ZeWriter *w, int64_t o) {
  prep(w, 4, 0);
  write32(w, (int32_t)(off(w) - o + 4));
}

/* Builder.createString of n bytes: NUL, padding, the bytes, their length. */
static int64_t string(ZeWriter *w, const uint8_t *s, uint32_t n) {
  w->buf[--w->space] = 0; /* addInt8(0): its prep(1, 0) never pads */
  int64_t align = -(off(w) + (int64_t)n) & 3;
  while (align-- > 0) w->buf[--w->space] = 0;
  if (w->minalign < 4) w->minalign = 4;
  w->space -= n;
  memcpy(w->buf + w->space, s, n);
  write32(w, (int32_t)n);
  return off(w);
}

static inline void start_object(Enc *e, int n) {
  memset(e->vt, 0, sizeof(int32_t) * (size_t)n);
  e->vt_in_use = n;
  e->object_start = off(e->w);
}

static inline void field_offset(Enc *e, int slot, int64_t o) {
  add_offset(e->w, o);
  e->vt[slot] = (int32_t)off(e->w);
}

/* addFieldInt64 with default 0. */
static inline void field_i64(Enc *e, int slot, int64_t v) {
  if (v == 0) return;
  ZeWriter *w = e->w;
  prep(w, 8, 0);
  w->space -= 8;
  put32(w->buf + w->space, (int32_t)(uint32_t)((uint64_t)v & 0xffffffffu));
  put32(w->buf + w->space + 4, (int32_t)(uint32_t)((uint64_t)v >> 32));
  e->vt[slot] = (int32_t)off(w);
}

/* addFieldInt32 with default 0. */
static inline void field_i32(Enc *e, int slot, int32_t v) {
  if (v == 0) return;
  prep(e->w, 4, 0);
  write32(e->w, v);
  e->vt[slot] = (int32_t)off(e->w);
}

/* Builder.endObject: writes the vtable, or points at the identical one already written. At most
   one written vtable can match (a match is never written again), so the search order is free. */
static int64_t end_object(Enc *e) {
  ZeWriter *w = e->w;
  prep(w, 4, 0);
  write32(w, 0);
  int64_t vtableloc = off(w);
  int i = e->vt_in_use - 1;
  while (i >= 0 && e->vt[i] == 0) i--;
  int len = (i + 3) * 2;
  if (w->minalign < 2) w->minalign = 2;
  for (; i >= 0; i--) {
    w->space -= 2;
    put16(w->buf + w->space, e->vt[i] != 0 ? (int32_t)(vtableloc - e->vt[i]) : 0);
  }
  w->space -= 2;
  put16(w->buf + w->space, (int32_t)(vtableloc - e->object_start));
  w->space -= 2;
  put16(w->buf + w->space, len);
  const uint8_t *mine = w->buf + w->space;
  for (size_t k = 0; k < w->nvt; k++) {
    size_t idx = (e->last_shared + k) % w->nvt;
    const uint8_t *vt2 = w->buf + (w->cap - w->vtables[idx]);
    /* The length first: a shorter vtable may end close to the buffer's end. */
    if (w->vtables[idx] < len) continue; /* not a vtable of this length: it would end past the buffer */
    if (vt2[0] == mine[0] && vt2[1] == mine[1] && memcmp(vt2 + 2, mine + 2, (size_t)len - 2) == 0) {
      e->last_shared = idx;
      w->space = w->cap - vtableloc;
      put32(w->buf + w->space, (int32_t)(w->vtables[idx] - vtableloc));
      return vtableloc;
    }
  }
  w->vtables[w->nvt++] = off(w);
  put32(w->buf + (w->cap - vtableloc), (int32_t)(off(w) - vtableloc));
  return vtableloc;
}

/* The log string at p (uint32 length, bytes) that must end by `end`: its bytes and length, and
   where the next field starts; NULL when the record is damaged. */
static const uint8_t *log_string(const uint8_t *p, const uint8_t *end, const uint8_t **bytes, uint32_t *n) {
  if (end - p < 4) return NULL;
  *n = get32(p);
  if ((uint64_t)(end - p - 4) < *n) return NULL;
  *bytes = p + 4;
  return p + 4 + *n;
}

/* The most one record can take: its strings grow by at most 8 + 3 bytes each (length, NUL,
   padding), the tables and vector by a bounded amount per field and per xattr. */
static int64_t record_bound(uint32_t rec_len, uint32_t nx) { return (int64_t)rec_len + 512 + 96 * (int64_t)nx; }

/* prepareFileMetadataFlatbuffer for the record at r (rec_len bytes); 0 or ZE_BAD_LOG. */
static int metadata(Enc *e, const uint8_t *r, uint32_t rec_len, int64_t *table, int64_t *xoffs) {
  ZeWriter *w = e->w;
  const uint8_t *end = r + rec_len;
  int64_t offset = get_f64_int(r), size = get_f64_int(r + 8), mode = get_f64_int(r + 16);
  int64_t devmajor = get_f64_int(r + 24), devminor = get_f64_int(r + 32);
  int32_t uid = (int32_t)get32(r + 40), gid = (int32_t)get32(r + 44);
  const uint8_t *p = r + ZE_LOG_FIXED;
  int64_t strs[6];
  const uint8_t *b;
  uint32_t n;
  for (int k = 0; k < 6; k++) {
    if ((p = log_string(p, end, &b, &n)) == NULL) return ZE_BAD_LOG;
    strs[k] = string(w, b, n);
  }
  if (end - p < 4) return ZE_BAD_LOG;
  uint32_t nx = get32(p);
  p += 4;
  for (uint32_t i = 0; i < nx; i++) {
    int64_t kv[2];
    for (int j = 0; j < 2; j++) {
      if ((p = log_string(p, end, &b, &n)) == NULL) return ZE_BAD_LOG;
      kv[j] = string(w, b, n);
    }
    start_object(e, 2);
    field_offset(e, 0, kv[0]);
    field_offset(e, 1, kv[1]);
    xoffs[i] = end_object(e);
  }
  /* startVector(4, nx, 4), the offsets from the last to the first, endVector */
  prep(w, 4, 4 * (int64_t)nx);
  for (uint32_t i = nx; i-- > 0;) add_offset(w, xoffs[i]);
  write32(w, (int32_t)nx);
  int64_t xvec = off(w);

  start_object(e, 14);
  field_offset(e, 0, strs[0]);
  field_offset(e, 1, strs[1]);
  field_i64(e, 2, offset);
  field_i64(e, 3, size);
  field_offset(e, 4, strs[2]);
  field_i64(e, 5, mode);
  field_i32(e, 6, uid);
  field_i32(e, 7, gid);
  field_offset(e, 8, strs[3]);
  field_offset(e, 9, strs[4]);
  field_offset(e, 10, strs[5]);
  field_i64(e, 11, devmajor);
  field_i64(e, 12, devminor);
  field_offset(e, 13, xvec);
  *table = end_object(e);
  return 0;
}

/* xattr counts up to this are handled without an allocation; a record with more stops the call
   with ZE_ONE_IN_JS, and the caller encodes that record itself. */
#define ZE_MAX_XATTRS 1024

int ze_entries(ZeWriter *w, const uint8_t *chunk, size_t *end, int32_t *metas, size_t *mi) {
  Enc e = {.w = w, .vt_in_use = 0, .object_start = 0, .last_shared = 0};
  int64_t xoffs[ZE_MAX_XATTRS];
  while (*end > 0) {
    if (*end < 4) return ZE_BAD_LOG;
    uint32_t rec_len = get32(chunk + *end - 4);
    if ((uint64_t)rec_len + 4 > *end || rec_len < ZE_LOG_FIXED + 7 * 4) return ZE_BAD_LOG;
    const uint8_t *r = chunk + *end - 4 - rec_len;
    /* The xattr count sits after the six strings; find it to bound the record. */
    const uint8_t *p = r + ZE_LOG_FIXED, *rend = r + rec_len;
    const uint8_t *b;
    uint32_t n;
    for (int k = 0; k < 6; k++)
      if ((p = log_string(p, rend, &b, &n)) == NULL) return ZE_BAD_LOG;
    if (rend - p < 4) return ZE_BAD_LOG;
    uint32_t nx = get32(p);
    if (nx > ZE_MAX_XATTRS) return ZE_ONE_IN_JS;
    if (w->space - w->floor < record_bound(rec_len, nx)) return ZE_NEED_ROOM;
    if (w->vtcap - w->nvt < (size_t)nx + 1) return ZE_NEED_VT;
    if (*mi == 0) return ZE_BAD_LOG;
    int64_t table;
    int r2 = metadata(&e, r, rec_len, &table, xoffs);
    if (r2 != 0) return r2;
    metas[--*mi] = (int32_t)table;
    *end -= (size_t)rec_len + 4;
  }
  return ZE_DONE;
}
