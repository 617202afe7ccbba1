/*
 * ztoc_encode: the hot part of zTOC serialisation in C — the TOC entries (FileMetadata tables, their
 * strings and xattrs), written back to front exactly as src/ztoc/encode.ts's FbWriter (and so SOCI's
 * Go flatbuffers marshaler) writes them. The writer's state lives in JS between calls; a call takes
 * it, encodes as many entry-log records as surely fit above `floor`, and hands it back. Everything
 * else of a zTOC (a few tables and strings) stays in JS.
 */
#ifndef ZTOC_ENCODE_H
#define ZTOC_ENCODE_H

#include <stddef.h>
#include <stdint.h>

/* The entry log's fixed part (src/ztoc/entry-log.ts LOG_FIXED): 5 float64 then 2 uint32. */
#define ZE_LOG_FIXED 48

typedef struct {
  uint8_t *buf;     /* the writer's buffer; bytes [space, cap) are written */
  int64_t cap;      /* its size: offsets count back from here */
  int64_t space;    /* the next byte goes below this index */
  int64_t floor;    /* nothing may be written below this index */
  int32_t minalign; /* Builder.minalign */
  int64_t *vtables; /* offsets (from the end) of the vtables written so far */
  size_t nvt, vtcap;
} ZeWriter;

/* Results of ze_entries. */
#define ZE_DONE 0      /* every record of the chunk was encoded */
#define ZE_NEED_ROOM 1 /* stopped before a record that might not fit above floor: grow, call again */
#define ZE_NEED_VT 2   /* stopped: the vtable list is full */
#define ZE_ONE_IN_JS 3 /* stopped before a record with more xattrs than C takes: encode that one in JS */
#define ZE_BAD_LOG (-1)

/*
 * Encodes the records of one log chunk that end at or before *end, last record first, as
 * writeMetadata does; each record's table offset goes to metas[--*mi]. Advances *end past what it
 * encoded (down to 0) and updates w.
 */
int ze_entries(ZeWriter *w, const uint8_t *chunk, size_t *end, int32_t *metas, size_t *mi);

#endif
