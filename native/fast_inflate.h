/*
 * fast_inflate: ztoc's own streaming gzip/DEFLATE decoder (RFC 1951 + RFC 1952), written for
 * speed and for exact block boundaries. It is the "fast" engine of the builder in ztoc_native.c.
 *
 * Contract with the builder:
 *  - input arrives in chunks of any size, output goes into buffers of any size; the decoder
 *    suspends wherever either runs out and resumes on the next call with no loss;
 *  - it returns FI_BOUNDARY at every point where zlib's inflate(Z_BLOCK) would report
 *    `data_type & 128` without `& 64`: right after a gzip member header, and right after the
 *    end of every non-final deflate block. The bit position there is exact (see fi_bitpos);
 *  - gzip headers, trailers (CRC-32, ISIZE) and errors follow zlib's semantics and messages, so
 *    the builder maps both engines' failures to the same typed errors.
 * The decoder keeps no history of its own: matches that reach before the current output buffer
 * read the caller's 32 KiB `ring` (the output that preceded this buffer, oldest byte first).
 */
#ifndef ZTOC_FAST_INFLATE_H
#define ZTOC_FAST_INFLATE_H

#include <stddef.h>
#include <stdint.h>

#define FI_WINSIZE 32768

/* Events returned by fi_run. */
#define FI_NEED_INPUT 0
#define FI_OUTPUT_FULL 1
#define FI_BOUNDARY 2
#define FI_MEMBER_END 3
#define FI_ERROR (-1)

/* Table geometry: root index bits, and room for every subtable a valid code can need. */
#define FI_LBITS 11
#define FI_DBITS 8
#define FI_LT_SIZE ((1 << FI_LBITS) + 288 * 16)
#define FI_DT_SIZE ((1 << FI_DBITS) + 32 * 128)
#define FI_CT_SIZE (1 << 7)

struct FastInflate;
typedef int (*fi_huff_fn)(struct FastInflate *, const uint8_t **, const uint8_t *, uint8_t **, uint8_t *, uint8_t *,
                          const uint8_t *);

typedef struct FastInflate {
  /* Bit reader: `bc` valid bits in `bb`, LSB first; `pulled` counts input bytes moved into bb
     over the whole stream. The next unread bit sits at stream bit 8*pulled - bc. */
  uint64_t bb;
  unsigned bc;
  uint64_t pulled;

  int mode;
  int last;        /* current block is the member's final block */

  /* gzip header / trailer */
  unsigned hstep, hflags, hneed, hgot;
  uint32_t hacc, hcrc, xlen;

  /* member state */
  uint32_t crc;
  uint64_t member_out;
  const uint8_t *crc_mark; /* first output byte of this call not yet in crc/member_out */

  /* block state */
  uint32_t stored_left;
  unsigned nlen, ndist, ncode, have;
  uint8_t lens[320];
  uint32_t copy_len, copy_dist; /* a match cut short by a full output buffer */

  const char *msg;
  fi_huff_fn huff; /* the Huffman loop built for this CPU */
  const uint32_t *lt, *dt;
  uint32_t litlen[FI_LT_SIZE];
  uint32_t dist[FI_DT_SIZE];
  uint32_t codelen[FI_CT_SIZE];
  uint32_t fixed_lt[FI_LT_SIZE];
  uint32_t fixed_dt[FI_DT_SIZE];
} FastInflate;

/* Prepares a decoder for a gzip stream (the first member header comes next). */
void fi_init(FastInflate *f);

/* Another member follows the one that just ended (FI_MEMBER_END). */
void fi_next_member(FastInflate *f);

/* True when the decoder holds no unread whole byte (only meaningful between members). */
int fi_has_pending_bytes(const FastInflate *f);

/*
 * Decodes from *in (up to in_end) into *out (up to out_end). out_base is the start of the
 * caller's output buffer for this call: bytes in [out_base, *out) are history, and `ring` is
 * the 32 KiB that precede out_base. Advances *in and *out. Returns an FI_* event; on FI_ERROR
 * f->msg holds zlib's message for the same fault.
 */
int fi_run(FastInflate *f, const uint8_t **in, const uint8_t *in_end, uint8_t **out, uint8_t *out_base,
           uint8_t *out_end, const uint8_t *ring);

/* Which build of the Huffman loop runs on this CPU: "bmi2" or "generic". */
const char *fi_variant(void);

/* zlib's total_in at this point: bytes consumed, a partly consumed byte counted. */
static inline uint64_t fi_total_in(const FastInflate *f) { return f->pulled - (f->bc >> 3); }

/* Unused bits of the last byte counted by fi_total_in (zlib's data_type & 7). */
static inline int fi_bits(const FastInflate *f) { return (int)(f->bc & 7); }

#endif
