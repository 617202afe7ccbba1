/*
 * fast_inflate: ztoc's own streaming gzip/DEFLATE decoder. See fast_inflate.h for the contract.
 * Written from RFC 1951 / RFC 1952; where the RFCs leave a choice (which malformed codes are
 * refused, when, and with what message), it follows zlib's documented behaviour so that both
 * engines fail alike.
 *
 * Speed comes from: a 64-bit bit buffer refilled without branches from an unaligned 8-byte load
 * while at least 8 input bytes remain; an 11-bit literal/length table (9-bit for distances) with
 * small second-level tables, whose entries carry base value, extra-bit count and code length so a
 * length or distance costs one lookup and one shift; and match copies in 8- or 16-byte words
 * while at least FAST_OUT bytes of output room remain. Near either end of a buffer a careful loop
 * decodes one symbol at a time and never consumes bits it cannot finish using, so it can suspend
 * at any symbol boundary. Block headers are decoded field by field for the same reason.
 */
#include "fast_inflate.h"

#include <string.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fast_inflate assumes a little-endian host"
#endif

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Modes of the member state machine. */
enum { M_HEAD, M_BLOCK, M_STORED_LEN, M_STORED, M_TABLE, M_LENLENS, M_CODELENS, M_HUFF, M_TRAILER, M_DONE, M_BAD };

/* Table entry: bits 0-5 bits to consume (the code; for a literal pair both codes), 6-7 number of
   literals (1 or 2), 8-11 extra bits (subtable index bits; a pair's first code length), 12-14
   type, 16-31 value (literal(s), base length/distance, or subtable start). The count to consume
   sits in the low 6 bits so that `bb >> e` needs no mask on x86-64 and arm64. */
#define T_LIT 0
#define T_LEN 1
#define T_EOB 2
#define T_SUB 3
#define T_BAD 4
#define T_DIST 5
#define ENTRY(type, len, extra, value) \
  (((uint32_t)(value) << 16) | ((uint32_t)(type) << 12) | ((uint32_t)(extra) << 8) | ((type) == T_LIT ? 1u << 6 : 0) | (uint32_t)(len))
#define E_LEN(e) ((e) & 63)
#define E_EXTRA(e) (((e) >> 8) & 15)
#define E_TYPE(e) (((e) >> 12) & 7)
#define E_VAL(e) ((e) >> 16)
#define E_NLIT(e) (((e) >> 6) & 3)
/* A literal entry's first code length: its own length, or the first of a pair. */
#define E_LIT1(e) (E_NLIT(e) == 2 ? E_EXTRA(e) : E_LEN(e))

#define FAST_IN 8             /* one unaligned 8-byte load per iteration */
#define FAST_OUT (258 + 32)    /* longest match plus the overshoot of word copies */

static const uint16_t LEN_BASE[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                      35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t LEN_EXTRA[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t DIST_BASE[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
                                       257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t DIST_EXTRA[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
/* RFC 1951 §3.2.7: the order in which code length code lengths are sent. */
static const uint8_t CL_ORDER[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

enum { K_LITLEN, K_DIST, K_CODELEN };

static inline unsigned rev_bits(unsigned code, unsigned len) {
  unsigned r = 0;
  for (unsigned i = 0; i < len; i++) {
    r = (r << 1) | (code & 1);
    code >>= 1;
  }
  return r;
}

static uint32_t sym_entry(int kind, unsigned sym, unsigned len) {
  switch (kind) {
    case K_LITLEN:
      if (sym < 256) return ENTRY(T_LIT, len, 0, sym);
      if (sym == 256) return ENTRY(T_EOB, len, 0, 0);
      if (sym < 286) return ENTRY(T_LEN, len, LEN_EXTRA[sym - 257], LEN_BASE[sym - 257]);
      return ENTRY(T_BAD, len, 0, 0); /* 286, 287: zlib's "invalid literal/length code" */
    case K_DIST:
      if (sym < 30) return ENTRY(T_DIST, len, DIST_EXTRA[sym], DIST_BASE[sym]);
      return ENTRY(T_BAD, len, 0, 0); /* 30, 31: "invalid distance code" */
    default:
      return ENTRY(T_LIT, len, 0, sym);
  }
}

/*
 * Builds a canonical Huffman decoding table (RFC 1951 §3.2.2) indexed by `root` bits as read
 * LSB first. Codes longer than `root` go to a subtable sized for the longest code sharing the
 * same first `root` bits. Returns 0, or -1 for an over-subscribed or (except zlib's two allowed
 * cases) incomplete set of lengths.
 */
static int build_table(uint32_t *tab, size_t cap, unsigned root, const uint8_t *lens, unsigned n, int kind) {
  unsigned count[16] = {0};
  for (unsigned i = 0; i < n; i++) count[lens[i]]++;
  count[0] = 0;
  unsigned max = 15;
  while (max > 0 && count[max] == 0) max--;
  size_t rootsize = (size_t)1 << root;
  if (max == 0) {
    /* zlib accepts an empty code: a distance code then fails when used, and an all-zero code
       length code decodes every single bit as length 0. */
    uint32_t e = kind == K_CODELEN ? ENTRY(T_LIT, 1, 0, 0) : ENTRY(T_BAD, 1, 0, 0);
    for (size_t i = 0; i < rootsize; i++) tab[i] = e;
    return 0;
  }
  int left = 1;
  for (unsigned len = 1; len <= 15; len++) {
    left <<= 1;
    left -= (int)count[len];
    if (left < 0) return -1;
  }
  /* zlib allows an incomplete code only when it is a single 1-bit code of a literal/length or
     distance alphabet; the unused half decodes as an invalid code. */
  if (left > 0 && (kind == K_CODELEN || max != 1)) return -1;
  if (left > 0)
    for (size_t i = 0; i < rootsize; i++) tab[i] = ENTRY(T_BAD, 1, 0, 0);

  unsigned next_code[16];
  unsigned offs[17];
  unsigned code = 0;
  offs[1] = 0;
  for (unsigned len = 1; len <= 15; len++) {
    code = (code + (len > 1 ? count[len - 1] : 0)) << 1;
    next_code[len] = code;
    offs[len + 1] = offs[len] + count[len];
  }
  /* Symbols sorted by (length, symbol) are exactly canonical code order. */
  uint16_t sorted[320];
  uint16_t codes[320];
  uint8_t slen[320];
  unsigned total = offs[16];
  for (unsigned s = 0; s < n; s++) {
    unsigned l = lens[s];
    if (l == 0) continue;
    unsigned k = offs[l]++;
    sorted[k] = (uint16_t)s;
    slen[k] = (uint8_t)l;
  }
  for (unsigned k = 0; k < total; k++) codes[k] = (uint16_t)next_code[slen[k]]++;

  size_t next = rootsize;
  unsigned cur_prefix = ~0u, sub_bits = 0;
  size_t sub_start = 0;
  for (unsigned k = 0; k < total; k++) {
    unsigned l = slen[k], c = codes[k];
    uint32_t e = sym_entry(kind, sorted[k], l);
    if (l <= root) {
      unsigned idx = rev_bits(c, l);
      for (size_t i = idx; i < rootsize; i += (size_t)1 << l) tab[i] = e;
      continue;
    }
    unsigned prefix = c >> (l - root);
    if (prefix != cur_prefix) {
      /* A new subtable: its size is set by the longest code with this prefix (the last one of
         the group in canonical order, codes with one prefix being contiguous). */
      unsigned j = k;
      while (j + 1 < total && (unsigned)(codes[j + 1] >> (slen[j + 1] - root)) == prefix) j++;
      sub_bits = slen[j] - root;
      sub_start = next;
      next += (size_t)1 << sub_bits;
      if (next > cap) return -1; /* cannot happen for a valid code; guard the array anyway */
      cur_prefix = prefix;
      tab[rev_bits(prefix, root)] = ENTRY(T_SUB, root, sub_bits, sub_start);
    }
    unsigned sl = l - root;
    unsigned idx = rev_bits(c & ((1u << sl) - 1), sl);
    for (size_t i = idx; i < ((size_t)1 << sub_bits); i += (size_t)1 << sl) tab[sub_start + i] = e;
  }
  return 0;
}

/* Where a root entry is a literal whose code leaves room for a second literal code in the same
   root bits, make it decode both: most of a typical layer's literals then cost half a lookup. */
static void pair_literals(uint32_t *tab) {
  /* Descending, so tab[i >> l1] (a lower index) is still a single literal when it is read. */
  for (unsigned i = (1u << FI_LBITS); i-- > 0;) {
    uint32_t e = tab[i];
    if (E_TYPE(e) != T_LIT || E_NLIT(e) != 1) continue;
    unsigned l1 = E_LEN(e);
    if (l1 >= FI_LBITS) continue;
    uint32_t e2 = tab[i >> l1];
    if (E_TYPE(e2) != T_LIT || E_NLIT(e2) != 1 || l1 + E_LEN(e2) > FI_LBITS) continue;
    tab[i] = ((E_VAL(e) | (E_VAL(e2) << 8)) << 16) | ((uint32_t)T_LIT << 12) | ((uint32_t)l1 << 8) | (2u << 6) | (l1 + E_LEN(e2));
  }
}

void fi_init(FastInflate *f) {
  memset(f, 0, offsetof(FastInflate, litlen));
  uint8_t l[288];
  for (int i = 0; i < 144; i++) l[i] = 8;
  for (int i = 144; i < 256; i++) l[i] = 9;
  for (int i = 256; i < 280; i++) l[i] = 7;
  for (int i = 280; i < 288; i++) l[i] = 8;
  build_table(f->fixed_lt, FI_LT_SIZE, FI_LBITS, l, 288, K_LITLEN);
  pair_literals(f->fixed_lt);
  for (int i = 0; i < 32; i++) l[i] = 5;
  build_table(f->fixed_dt, FI_DT_SIZE, FI_DBITS, l, 32, K_DIST);
  fi_next_member(f);
}

void fi_next_member(FastInflate *f) {
  f->mode = M_HEAD;
  f->hstep = 0;
  f->hgot = 0;
  f->hacc = 0;
  f->hcrc = (uint32_t)crc32(0L, Z_NULL, 0);
  f->crc = (uint32_t)crc32(0L, Z_NULL, 0);
  f->member_out = 0;
  f->last = 0;
  f->copy_len = 0;
}

int fi_has_pending_bytes(const FastInflate *f) { return f->bc >= 8; }

/* ---- bit and byte input for the careful paths --------------------------------------------- */

/* Pulls bytes until at least n bits are held (n <= 56) or input runs out. */
static inline int need_bits(FastInflate *f, const uint8_t **in, const uint8_t *end, unsigned n) {
  while (f->bc < n) {
    if (*in == end) return 0;
    f->bb |= (uint64_t)(*(*in)++) << f->bc;
    f->bc += 8;
    f->pulled++;
  }
  return 1;
}

static inline uint32_t peek(const FastInflate *f, unsigned n) { return (uint32_t)(f->bb & ((1ull << n) - 1)); }

static inline void drop(FastInflate *f, unsigned n) {
  f->bb >>= n;
  f->bc -= n;
}

/* One byte from a byte-aligned position: held whole bytes first, then the input. */
static inline int get_byte(FastInflate *f, const uint8_t **in, const uint8_t *end, unsigned *b) {
  if (f->bc >= 8) {
    *b = (unsigned)(f->bb & 0xff);
    drop(f, 8);
    return 1;
  }
  if (*in == end) return 0;
  *b = *(*in)++;
  f->pulled++;
  return 1;
}

static int fail(FastInflate *f, const char *msg) {
  f->msg = msg;
  f->mode = M_BAD;
  return FI_ERROR;
}

/* Accumulates `n` header bytes little-endian into hacc (and the header CRC). 1 when complete. */
static int header_bytes(FastInflate *f, const uint8_t **in, const uint8_t *end, unsigned n) {
  unsigned b;
  while (f->hgot < n) {
    if (!get_byte(f, in, end, &b)) return 0;
    uint8_t c = (uint8_t)b;
    f->hcrc = (uint32_t)crc32(f->hcrc, &c, 1);
    if (f->hgot < 4) f->hacc |= (uint32_t)b << (8 * f->hgot);
    f->hgot++;
  }
  f->hgot = 0;
  return 1;
}

/* RFC 1952 §2.3 member header, with zlib's checks in zlib's order. FI_BOUNDARY when complete. */
static int gzip_header(FastInflate *f, const uint8_t **in, const uint8_t *end) {
  unsigned b;
  for (;;) {
    switch (f->hstep) {
      case 0: /* ID1 ID2 */
        if (!header_bytes(f, in, end, 2)) return FI_NEED_INPUT;
        if (f->hacc != 0x8b1f) return fail(f, "incorrect header check");
        f->hacc = 0;
        f->hstep = 1;
        break;
      case 1: /* CM FLG */
        if (!header_bytes(f, in, end, 2)) return FI_NEED_INPUT;
        if ((f->hacc & 0xff) != 8) return fail(f, "unknown compression method");
        if (f->hacc & 0xe000) return fail(f, "unknown header flags set");
        f->hflags = f->hacc >> 8;
        f->hacc = 0;
        f->hstep = 2;
        break;
      case 2: /* MTIME XFL OS */
        if (!header_bytes(f, in, end, 6)) return FI_NEED_INPUT;
        f->hacc = 0;
        f->hstep = (f->hflags & 0x04) ? 3 : 5;
        break;
      case 3: /* XLEN */
        if (!header_bytes(f, in, end, 2)) return FI_NEED_INPUT;
        f->xlen = f->hacc;
        f->hacc = 0;
        f->hstep = 4;
        break;
      case 4: /* extra field */
        while (f->xlen > 0) {
          if (!get_byte(f, in, end, &b)) return FI_NEED_INPUT;
          uint8_t c = (uint8_t)b;
          f->hcrc = (uint32_t)crc32(f->hcrc, &c, 1);
          f->xlen--;
        }
        f->hstep = 5;
        break;
      case 5: /* FNAME */
      case 6: /* FCOMMENT */
        if (f->hflags & (f->hstep == 5 ? 0x08 : 0x10)) {
          for (;;) {
            if (!get_byte(f, in, end, &b)) return FI_NEED_INPUT;
            uint8_t c = (uint8_t)b;
            f->hcrc = (uint32_t)crc32(f->hcrc, &c, 1);
            if (b == 0) break;
          }
        }
        f->hstep++;
        /* The CRC16 covers every header byte before it. */
        if (f->hstep == 7) f->xlen = f->hcrc & 0xffff;
        break;
      case 7: /* FHCRC */
        if (f->hflags & 0x02) {
          if (!header_bytes(f, in, end, 2)) return FI_NEED_INPUT;
          if ((f->hacc & 0xffff) != f->xlen) return fail(f, "header crc mismatch");
        }
        f->hacc = 0;
        f->mode = M_BLOCK;
        return FI_BOUNDARY;
    }
  }
}

/* Trailer: CRC-32 then ISIZE, little-endian, from the byte boundary after the final block. */
static int gzip_trailer(FastInflate *f, const uint8_t **in, const uint8_t *end) {
  unsigned b;
  for (;;) {
    if (f->hstep == 0) { /* first entry: skip to the byte boundary */
      drop(f, f->bc & 7);
      f->hstep = 1;
      f->hacc = 0;
      f->hgot = 0;
    }
    while (f->hgot < 4) {
      if (!get_byte(f, in, end, &b)) return FI_NEED_INPUT;
      f->hacc |= (uint32_t)b << (8 * f->hgot);
      f->hgot++;
    }
    f->hgot = 0;
    if (f->hstep == 1) {
      if (f->hacc != f->crc) return fail(f, "incorrect data check");
      f->hstep = 2;
      f->hacc = 0;
    } else {
      if (f->hacc != (uint32_t)f->member_out) return fail(f, "incorrect length check");
      f->mode = M_DONE;
      return FI_MEMBER_END;
    }
  }
}

/* ---- match copies ------------------------------------------------------------------------- */

/* Byte-wise copy of `len` bytes from `dist` back, reading the ring for bytes before out_base. */
static void copy_slow(uint8_t *dst, uint32_t len, uint32_t dist, const uint8_t *out_base, const uint8_t *ring) {
  while (len > 0) {
    size_t pos = (size_t)(dst - out_base);
    if (dist > pos) {
      *dst++ = ring[FI_WINSIZE - (dist - pos)];
    } else {
      *dst = dst[-(ptrdiff_t)dist];
      dst++;
    }
    len--;
  }
}

/* ---- Huffman-coded data ------------------------------------------------------------------- */

#define SYNC_OUT(f, out)                                                                   \
  do {                                                                                     \
    size_t n_ = (size_t)((out) - (f)->crc_mark);                                           \
    if (n_) {                                                                              \
      (f)->crc = (uint32_t)crc32_z((f)->crc, (f)->crc_mark, n_);                           \
      (f)->member_out += n_;                                                               \
      (f)->crc_mark = (out);                                                               \
    }                                                                                      \
  } while (0)

/* Returns FI_BOUNDARY when the block's end-of-block code was decoded (the caller decides what
   follows), or NEED_INPUT / OUTPUT_FULL / ERROR. */
static int huff(FastInflate *f, const uint8_t **pin, const uint8_t *in_end, uint8_t **pout, uint8_t *out_base,
                uint8_t *out_end, const uint8_t *ring) {
  const uint8_t *in = *pin;
  uint8_t *out = *pout;
  uint64_t bb = f->bb;
  unsigned bc = f->bc;
  const uint32_t *lt = f->lt, *dt = f->dt;
  /* Member bytes before out_base, signed: the member may have begun inside this buffer. */
  int64_t mbase = (int64_t)f->member_out - (int64_t)(f->crc_mark - out_base);
  int ret;

#define SAVE()                                                  \
  do {                                                          \
    f->bb = bc ? (bb & (~0ull >> (64 - bc))) : 0;               \
    f->bc = bc;                                                 \
    f->pulled += (uint64_t)(in - *pin);                         \
    *pin = in;                                                  \
    *pout = out;                                                \
  } while (0)

  /* A match cut short by the previous call's full buffer. */
  if (UNLIKELY(f->copy_len > 0)) {
    uint32_t room = (uint32_t)(out_end - out);
    uint32_t n = f->copy_len < room ? f->copy_len : room;
    copy_slow(out, n, f->copy_dist, out_base, ring);
    out += n;
    f->copy_len -= n;
    if (f->copy_len > 0) {
      ret = FI_OUTPUT_FULL;
      goto leave;
    }
  }

  for (;;) {
    /* ---- fast loop: enough input for one refill, enough room for the longest match ---- */
    /* Runs while more than FAST_IN bytes of input and FAST_OUT of room remain (the careful loop
       below hands back under exactly the same condition). */
    const uint8_t *in_fast = in_end - in > FAST_IN ? in_end - FAST_IN : in;
    uint8_t *out_fast = out_end - out > FAST_OUT ? out_end - FAST_OUT : out;
    while (LIKELY(in < in_fast && out < out_fast)) {
      uint64_t w;
      memcpy(&w, in, 8);
      bb |= w << bc;
      in += (63 - bc) >> 3;
      bc |= 56;

      uint32_t e = lt[bb & ((1u << FI_LBITS) - 1)];
      if (LIKELY(E_TYPE(e) == T_LIT)) {
        /* One or two literals per entry, stored as two bytes (the second may be overwritten). */
        bb >>= E_LEN(e);
        bc -= E_LEN(e);
        uint16_t v = (uint16_t)E_VAL(e);
        memcpy(out, &v, 2);
        out += E_NLIT(e);
        /* Another entry fits in the bits left (>= 56 - 22) without a refill. */
        e = lt[bb & ((1u << FI_LBITS) - 1)];
        if (E_TYPE(e) == T_LIT) {
          bb >>= E_LEN(e);
          bc -= E_LEN(e);
          v = (uint16_t)E_VAL(e);
          memcpy(out, &v, 2);
          out += E_NLIT(e);
        }
        continue;
      }
      if (UNLIKELY(E_TYPE(e) == T_SUB)) {
        e = lt[E_VAL(e) + ((bb >> FI_LBITS) & ((1u << E_EXTRA(e)) - 1))];
        if (E_TYPE(e) == T_LIT) { /* a long literal code: always a single literal */
          bb >>= E_LEN(e);
          bc -= E_LEN(e);
          *out++ = (uint8_t)E_VAL(e);
          continue;
        }
      }
      if (LIKELY(E_TYPE(e) == T_LEN)) {
        unsigned l = E_LEN(e), x = E_EXTRA(e);
        uint32_t len = E_VAL(e) + (uint32_t)((bb >> l) & ((1u << x) - 1));
        bb >>= l + x;
        bc -= l + x;
        uint32_t d = dt[bb & ((1u << FI_DBITS) - 1)];
        if (UNLIKELY(E_TYPE(d) == T_SUB)) d = dt[E_VAL(d) + ((bb >> FI_DBITS) & ((1u << E_EXTRA(d)) - 1))];
        if (UNLIKELY(E_TYPE(d) != T_DIST)) {
          bb >>= E_LEN(d);
          bc -= E_LEN(d);
          SAVE();
          return fail(f, "invalid distance code");
        }
        l = E_LEN(d);
        x = E_EXTRA(d);
        uint32_t dist = E_VAL(d) + (uint32_t)((bb >> l) & ((1u << x) - 1));
        bb >>= l + x;
        bc -= l + x;
        size_t have = (size_t)(out - out_base);
        if (UNLIKELY((int64_t)have + mbase < (int64_t)dist)) {
          SAVE();
          return fail(f, "invalid distance too far back");
        }
        uint8_t *dst = out;
        out += len;
        if (LIKELY(dist <= have)) {
          const uint8_t *src = dst - dist;
          if (dist >= 16) {
            do {
              memcpy(dst, src, 16);
              dst += 16;
              src += 16;
            } while (dst < out);
          } else if (dist >= 8) {
            do {
              memcpy(dst, src, 8);
              dst += 8;
              src += 8;
            } while (dst < out);
          } else if (dist == 1) {
            uint64_t v = 0x0101010101010101ull * src[0];
            do {
              memcpy(dst, &v, 8);
              dst += 8;
            } while (dst < out);
          } else {
            do *dst++ = *src++;
            while (dst < out);
          }
        } else {
          copy_slow(dst, len, dist, out_base, ring);
        }
        continue;
      }
      if (E_TYPE(e) == T_EOB) {
        bb >>= E_LEN(e);
        bc -= E_LEN(e);
        ret = FI_BOUNDARY;
        goto leave;
      }
      bb >>= E_LEN(e);
      bc -= E_LEN(e);
      SAVE();
      return fail(f, "invalid literal/length code");
    }

    /* ---- careful loop: one symbol at a time, nothing consumed that cannot be finished ---- */
    bb &= bc ? (~0ull >> (64 - bc)) : 0;
    for (;;) {
      if (in_end - in > FAST_IN && out_end - out > FAST_OUT) break; /* back to the fast loop */
      while (bc < 56 && in < in_end) {
        bb |= (uint64_t)(*in++) << bc;
        bc += 8;
      }
      uint32_t e = lt[bb & ((1u << FI_LBITS) - 1)];
      if (E_TYPE(e) == T_SUB) e = lt[E_VAL(e) + ((bb >> FI_LBITS) & ((1u << E_EXTRA(e)) - 1))];
      unsigned t = E_TYPE(e);
      /* Here a literal pair yields only its first literal: its bits may not all be held yet. */
      unsigned l = t == T_LIT ? E_LIT1(e) : E_LEN(e);
      if (l > bc) {
        ret = FI_NEED_INPUT;
        goto leave;
      }
      if (t == T_LIT) {
        if (out == out_end) {
          ret = FI_OUTPUT_FULL;
          goto leave;
        }
        bb >>= l;
        bc -= l;
        *out++ = (uint8_t)E_VAL(e);
        continue;
      }
      if (t == T_EOB) {
        bb >>= l;
        bc -= l;
        ret = FI_BOUNDARY;
        goto leave;
      }
      if (t != T_LEN) {
        bb >>= l;
        bc -= l;
        SAVE();
        return fail(f, "invalid literal/length code");
      }
      unsigned x = E_EXTRA(e);
      if (l + x > bc) {
        ret = FI_NEED_INPUT;
        goto leave;
      }
      uint32_t len = E_VAL(e) + (uint32_t)((bb >> l) & ((1u << x) - 1));
      uint64_t b2 = bb >> (l + x);
      unsigned c2 = bc - (l + x);
      uint32_t d = dt[b2 & ((1u << FI_DBITS) - 1)];
      if (E_TYPE(d) == T_SUB) d = dt[E_VAL(d) + ((b2 >> FI_DBITS) & ((1u << E_EXTRA(d)) - 1))];
      unsigned dl = E_LEN(d);
      if (dl > c2) {
        ret = FI_NEED_INPUT;
        goto leave;
      }
      if (E_TYPE(d) != T_DIST) {
        bb = b2 >> dl;
        bc = c2 - dl;
        SAVE();
        return fail(f, "invalid distance code");
      }
      unsigned dx = E_EXTRA(d);
      if (dl + dx > c2) {
        ret = FI_NEED_INPUT;
        goto leave;
      }
      uint32_t dist = E_VAL(d) + (uint32_t)((b2 >> dl) & ((1u << dx) - 1));
      bb = b2 >> (dl + dx);
      bc = c2 - (dl + dx);
      size_t have = (size_t)(out - out_base);
      if ((int64_t)have + mbase < (int64_t)dist) {
        SAVE();
        return fail(f, "invalid distance too far back");
      }
      uint32_t room = (uint32_t)(out_end - out);
      uint32_t n = len < room ? len : room;
      copy_slow(out, n, dist, out_base, ring);
      out += n;
      if (n < len) {
        f->copy_len = len - n;
        f->copy_dist = dist;
        ret = FI_OUTPUT_FULL;
        goto leave;
      }
    }
  }

leave:
  SAVE();
  return ret;
#undef SAVE
}

/* ---- block headers ------------------------------------------------------------------------ */

/* The code lengths of a dynamic block (RFC 1951 §3.2.7), one symbol at a time. */
static int code_lengths(FastInflate *f, const uint8_t **in, const uint8_t *end) {
  unsigned total = f->nlen + f->ndist;
  while (f->have < total) {
    need_bits(f, in, end, 14); /* longest step: a 7-bit code and 7 extra bits */
    uint32_t e = f->codelen[peek(f, 7)];
    unsigned l = E_LEN(e);
    if (l > f->bc) return FI_NEED_INPUT;
    unsigned sym = E_VAL(e);
    if (sym < 16) {
      drop(f, l);
      f->lens[f->have++] = (uint8_t)sym;
      continue;
    }
    unsigned xb = sym == 16 ? 2 : sym == 17 ? 3 : 7;
    if (l + xb > f->bc) return FI_NEED_INPUT;
    if (sym == 16 && f->have == 0) {
      drop(f, l); /* zlib drops the code, not the extra bits, before it complains */
      return fail(f, "invalid bit length repeat");
    }
    drop(f, l);
    unsigned rep = peek(f, xb) + (sym == 16 ? 3 : sym == 17 ? 3 : 11);
    drop(f, xb);
    uint8_t v = sym == 16 ? f->lens[f->have - 1] : 0;
    if (f->have + rep > total) return fail(f, "invalid bit length repeat");
    while (rep--) f->lens[f->have++] = v;
  }
  if (f->lens[256] == 0) return fail(f, "invalid code -- missing end-of-block");
  if (build_table(f->litlen, FI_LT_SIZE, FI_LBITS, f->lens, f->nlen, K_LITLEN) != 0) return fail(f, "invalid literal/lengths set");
  pair_literals(f->litlen);
  if (build_table(f->dist, FI_DT_SIZE, FI_DBITS, f->lens + f->nlen, f->ndist, K_DIST) != 0) return fail(f, "invalid distances set");
  f->lt = f->litlen;
  f->dt = f->dist;
  f->mode = M_HUFF;
  return FI_BOUNDARY; /* internal: "continue" */
}

int fi_run(FastInflate *f, const uint8_t **in, const uint8_t *in_end, uint8_t **out, uint8_t *out_base,
           uint8_t *out_end, const uint8_t *ring) {
  int r;
  f->crc_mark = *out;
  for (;;) {
    switch (f->mode) {
      case M_HEAD:
        r = gzip_header(f, in, in_end);
        return r;
      case M_BLOCK:
        if (!need_bits(f, in, in_end, 3)) return FI_NEED_INPUT;
        f->last = (int)peek(f, 1);
        {
          unsigned type = (peek(f, 3) >> 1) & 3;
          drop(f, 3);
          if (type == 0) {
            f->mode = M_STORED_LEN;
          } else if (type == 1) {
            f->lt = f->fixed_lt;
            f->dt = f->fixed_dt;
            f->mode = M_HUFF;
          } else if (type == 2) {
            f->mode = M_TABLE;
          } else {
            return fail(f, "invalid block type");
          }
        }
        break;
      case M_STORED_LEN:
        drop(f, f->bc & 7);
        if (!need_bits(f, in, in_end, 32)) return FI_NEED_INPUT;
        {
          uint32_t v = peek(f, 32);
          drop(f, 32);
          if ((v & 0xffff) != ((~v >> 16) & 0xffff)) return fail(f, "invalid stored block lengths");
          f->stored_left = v & 0xffff;
          f->mode = M_STORED;
        }
        break;
      case M_STORED: {
        /* Whole bytes already held come first (the bit buffer is byte-aligned here). */
        while (f->stored_left > 0 && f->bc >= 8 && *out < out_end) {
          *(*out)++ = (uint8_t)f->bb;
          drop(f, 8);
          f->stored_left--;
        }
        size_t n = f->stored_left;
        if ((size_t)(out_end - *out) < n) n = (size_t)(out_end - *out);
        if ((size_t)(in_end - *in) < n) n = (size_t)(in_end - *in);
        if (f->bc == 0 && n > 0) {
          memcpy(*out, *in, n);
          *out += n;
          *in += n;
          f->pulled += n;
          f->stored_left -= (uint32_t)n;
        }
        if (f->stored_left > 0) {
          SYNC_OUT(f, *out);
          return *out == out_end ? FI_OUTPUT_FULL : FI_NEED_INPUT;
        }
        goto block_end;
      }
      case M_TABLE:
        if (!need_bits(f, in, in_end, 14)) return FI_NEED_INPUT;
        f->nlen = peek(f, 5) + 257;
        f->ndist = ((peek(f, 10) >> 5) & 31) + 1;
        f->ncode = ((peek(f, 14) >> 10) & 15) + 4;
        drop(f, 14);
        if (f->nlen > 286 || f->ndist > 30) return fail(f, "too many length or distance symbols");
        f->have = 0;
        memset(f->lens, 0, 19);
        f->mode = M_LENLENS;
        break;
      case M_LENLENS: {
        uint8_t cl[19];
        while (f->have < f->ncode) {
          if (!need_bits(f, in, in_end, 3)) return FI_NEED_INPUT;
          f->lens[CL_ORDER[f->have++]] = (uint8_t)peek(f, 3);
          drop(f, 3);
        }
        memcpy(cl, f->lens, 19);
        if (build_table(f->codelen, FI_CT_SIZE, 7, cl, 19, K_CODELEN) != 0) return fail(f, "invalid code lengths set");
        f->have = 0;
        f->mode = M_CODELENS;
        break;
      }
      case M_CODELENS:
        r = code_lengths(f, in, in_end);
        if (r != FI_BOUNDARY) return r;
        break;
      case M_HUFF:
        r = huff(f, in, in_end, out, out_base, out_end, ring);
        if (r != FI_BOUNDARY) {
          SYNC_OUT(f, *out);
          return r;
        }
        goto block_end;
      case M_TRAILER:
        r = gzip_trailer(f, in, in_end);
        return r;
      case M_DONE:
        return FI_MEMBER_END;
      default:
        return fail(f, f->msg ? f->msg : "inflate error");
    }
    continue;
  block_end:
    SYNC_OUT(f, *out);
    if (f->last) {
      f->mode = M_TRAILER;
      f->hstep = 0;
      continue;
    }
    f->mode = M_BLOCK;
    return FI_BOUNDARY;
  }
}
