/*
 * fast_inflate: ztoc's own streaming gzip/DEFLATE decoder. See fast_inflate.h for the contract.
 * Written from RFC 1951 / RFC 1952; where the RFCs leave a choice (which malformed codes are
 * refused, when, and with what message), it follows zlib's documented behaviour so that both
 * engines fail alike.
 *
 * Speed comes from (libdeflate's and ISA-L's published techniques, our own code): a 64-bit bit
 * buffer refilled without branches from an unaligned 8-byte load; table entries consumed by their
 * low byte alone (code plus extra bits), so a length or distance is one lookup, one shift and one
 * masked extract; the next entry looked up before the current match is copied, so the lookup and
 * the copy overlap; up to three literals per refill; match copies of 32 bytes done without a
 * length test (most matches are shorter) and words for every distance, the short ones through a
 * period that is a multiple of the distance; tables filled by doubling rather than per code; and
 * the Huffman loop compiled twice, for plain x86-64 and for BMI2, picked at run time. The fast
 * loop runs while at least FAST_IN input bytes and FAST_OUT bytes of room remain. Near either
 * end of a buffer a careful loop decodes one symbol at a time and never consumes bits it cannot
 * finish using, so it can suspend at any symbol boundary. Block headers are decoded field by
 * field for the same reason.
 */
#include "fast_inflate.h"
#include "crc32.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fast_inflate assumes a little-endian host"
#endif

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Modes of the member state machine. */
enum { M_HEAD, M_BLOCK, M_STORED_LEN, M_STORED, M_TABLE, M_LENLENS, M_CODELENS, M_HUFF, M_TRAILER, M_DONE, M_BAD };

/* Table entry of the literal/length and distance tables:
     bits 0-7    bits the entry consumes: the code plus its extra bits; the root bits of a
                 subtable pointer. In the low byte, so consuming an entry
                 is `bb >>= (uint8_t)e; bc -= (uint8_t)e` and the extra bits need no other field.
     bits 8-11   the code's own length (its extra bits sit above it); for a subtable pointer the
                 subtable's index bits
     bit 12      SUB: a subtable pointer (with EXC)
     bit 14      EXC: neither a literal nor a length/distance: a subtable pointer, the end of the
                 block (value 0) or an invalid code (value 1)
     bit 15      LIT
     bits 16-31  the literal, the base length or distance, or
                 the subtable's start
   Subtable entries count only the bits after the root's. The code length code table uses the
   same layout (LIT, its length in the low byte, the symbol as value). */
#define F_SUB (1u << 12)
#define F_EXC (1u << 14)
#define F_LIT (1u << 15)
#define MK(flags, use, clen, value) (((uint32_t)(value) << 16) | (flags) | ((uint32_t)(clen) << 8) | (uint32_t)(use))
#define EOB_ENTRY(len) MK(F_EXC, len, len, 0)
#define BAD_ENTRY(len) MK(F_EXC, len, len, 1)
#define E_USE(e) ((e) & 0xff)
#define E_CLEN(e) (((e) >> 8) & 15)
#define E_VAL(e) ((e) >> 16)
#define IS_SUB(e) (((e) & (F_EXC | F_SUB)) == (F_EXC | F_SUB))
/* A length's or distance's extra bits, read from the bit buffer as it was before the entry was
   consumed. */
#define E_EXTRA_BITS(e, saved) ((uint32_t)(((saved) & ((1ull << E_USE(e)) - 1)) >> E_CLEN(e)))
#define LMASK ((1u << FI_LBITS) - 1)
#define DMASK ((1u << FI_DBITS) - 1)

#define FAST_IN 16            /* two unaligned 8-byte loads per iteration, each advancing <= 7 bytes */
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

/* The low `len` bits of `code`, reversed (Huffman codes are sent most significant bit first). */
static inline unsigned rev_bits(unsigned code, unsigned len) {
  unsigned x = code;
  x = ((x & 0x5555u) << 1) | ((x >> 1) & 0x5555u);
  x = ((x & 0x3333u) << 2) | ((x >> 2) & 0x3333u);
  x = ((x & 0x0f0fu) << 4) | ((x >> 4) & 0x0f0fu);
  x = ((x & 0x00ffu) << 8) | ((x >> 8) & 0x00ffu);
  return x >> (16 - len);
}

/* The entry of symbol `sym` whose code has `len` bits (counted from the table it sits in). */
static uint32_t sym_entry(int kind, unsigned sym, unsigned len) {
  switch (kind) {
    case K_LITLEN:
      if (sym < 256) return MK(F_LIT, len, len, sym);
      if (sym == 256) return EOB_ENTRY(len);
      if (sym < 286) return MK(0, len + LEN_EXTRA[sym - 257], len, LEN_BASE[sym - 257]);
      return BAD_ENTRY(len); /* 286, 287: zlib's "invalid literal/length code" */
    case K_DIST:
      if (sym < 30) return MK(0, len + DIST_EXTRA[sym], len, DIST_BASE[sym]);
      return BAD_ENTRY(len); /* 30, 31: "invalid distance code" */
    default:
      return MK(F_LIT, len, len, sym);
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
    uint32_t e = kind == K_CODELEN ? MK(F_LIT, 1, 1, 0) : BAD_ENTRY(1);
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

  /* Root codes, shortest first: the table for codes of up to len bits is the first 2^len
     entries; doubling it before the codes of len + 1 bits are written repeats every shorter
     code at each of its indices, so each entry is written about once. Entries no code covers
     (only an incomplete code has them) start as the invalid code. */
  unsigned k = 0;
  tab[0] = tab[1] = BAD_ENTRY(1);
  for (unsigned len = 1; len <= root; len++) {
    if (len > 1) memcpy(tab + ((size_t)1 << (len - 1)), tab, sizeof(uint32_t) << (len - 1));
    for (; k < total && slen[k] == len; k++) tab[rev_bits(codes[k], len)] = sym_entry(kind, sorted[k], len);
  }

  size_t next = rootsize;
  unsigned cur_prefix = ~0u, sub_bits = 0;
  size_t sub_start = 0;
  for (; k < total; k++) {
    unsigned l = slen[k], c = codes[k];
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
      tab[rev_bits(prefix, root)] = MK(F_EXC | F_SUB, root, sub_bits, sub_start);
    }
    unsigned sl = l - root;
    uint32_t e = sym_entry(kind, sorted[k], sl);
    unsigned idx = rev_bits(c & ((1u << sl) - 1), sl);
    for (size_t i = idx; i < ((size_t)1 << sub_bits); i += (size_t)1 << sl) tab[sub_start + i] = e;
  }
  return 0;
}

static fi_huff_fn pick_huff(void);

void fi_init(FastInflate *f) {
  memset(f, 0, offsetof(FastInflate, litlen));
  f->huff = pick_huff();
  uint8_t l[288];
  for (int i = 0; i < 144; i++) l[i] = 8;
  for (int i = 144; i < 256; i++) l[i] = 9;
  for (int i = 256; i < 280; i++) l[i] = 7;
  for (int i = 280; i < 288; i++) l[i] = 8;
  build_table(f->fixed_lt, FI_LT_SIZE, FI_LBITS, l, 288, K_LITLEN);
  for (int i = 0; i < 32; i++) l[i] = 5;
  build_table(f->fixed_dt, FI_DT_SIZE, FI_DBITS, l, 32, K_DIST);
  fi_next_member(f);
}

void fi_next_member(FastInflate *f) {
  f->mode = M_HEAD;
  f->hstep = 0;
  f->hgot = 0;
  f->hacc = 0;
  f->hcrc = 0; /* CRC-32 of nothing */
  f->crc = 0;
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
    f->hcrc = ztoc_crc32(f->hcrc, &c, 1);
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
          f->hcrc = ztoc_crc32(f->hcrc, &c, 1);
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
            f->hcrc = ztoc_crc32(f->hcrc, &c, 1);
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

static inline void copy8(uint8_t *dst, const uint8_t *src) {
  uint64_t w;
  memcpy(&w, src, 8);
  memcpy(dst, &w, 8);
}

static inline void copy16(uint8_t *dst, const uint8_t *src) {
  uint64_t w[2];
  memcpy(w, src, 16);
  memcpy(dst, w, 16);
}

/* The careful loop's lookup of the bits in bb in table t (root bits `root`), following a subtable
   pointer: *pre gets the root bits the pointer took (0 without one), *rest the bits after them. */
static inline uint32_t lookup(const uint32_t *t, unsigned root, uint64_t bb, unsigned *pre, uint64_t *rest) {
  uint32_t e = t[bb & ((1u << root) - 1)];
  *pre = 0;
  *rest = bb;
  if (IS_SUB(e)) {
    *pre = root;
    *rest = bb >> root;
    e = t[E_VAL(e) + (*rest & ((1u << E_CLEN(e)) - 1))];
  }
  return e;
}

/* A match in words of w bytes (16 or 8; w <= the distance, so a word never reads what it writes):
   the first 32 bytes without a length test (most matches are shorter), then word by word to end. */
static inline void copy_words(uint8_t *dst, const uint8_t *src, const uint8_t *end, uint32_t len, int w) {
  for (int k = 0; k < 32; k += w) {
    if (w == 16) copy16(dst + k, src + k);
    else copy8(dst + k, src + k);
  }
  if (len <= 32) return;
  dst += 32;
  src += 32;
  do {
    if (w == 16) copy16(dst, src);
    else copy8(dst, src);
    dst += w;
    src += w;
  } while (dst < end);
}

/* The smallest multiple of each distance 2..7 that is at least 8. */
static const uint8_t PERIOD8[8] = {0, 8, 8, 9, 8, 10, 12, 14};

/* ---- Huffman-coded data ------------------------------------------------------------------- */

#define SYNC_OUT(f, out)                                                                   \
  do {                                                                                     \
    size_t n_ = (size_t)((out) - (f)->crc_mark);                                           \
    if (n_) {                                                                              \
      (f)->crc = ztoc_crc32((f)->crc, (f)->crc_mark, n_);                                \
      (f)->member_out += n_;                                                               \
      (f)->crc_mark = (out);                                                               \
    }                                                                                      \
  } while (0)

/* Returns FI_BOUNDARY when the block's end-of-block code was decoded (the caller decides what
   follows), or NEED_INPUT / OUTPUT_FULL / ERROR. */
static inline __attribute__((always_inline)) int huff_body(FastInflate *f, const uint8_t **pin, const uint8_t *in_end,
                                                         uint8_t **pout, uint8_t *out_base, uint8_t *out_end,
                                                         const uint8_t *ring) {
  const uint8_t *in = *pin;
  uint8_t *out = *pout;
  uint64_t bb = f->bb;
  unsigned bc = f->bc;
  const uint32_t *lt = f->lt, *dt = f->dt;
  /* Member bytes before out_base, signed: the member may have begun inside this buffer. */
  int64_t mbase = (int64_t)f->member_out - (int64_t)(f->crc_mark - out_base);
  /* The earliest byte a match may copy from without the slow path: the buffer's start, or the
     member's first byte when the member began inside this buffer. */
  const uint8_t *lo = mbase < 0 ? out_base - mbase : out_base;
  int ret;

  /* One unaligned 8-byte load tops the buffer up to 56..63 bits; `in` advances by the whole
     bytes taken. Bits above bc are zeros or the very stream bits the load puts there. */
#define REFILL()                 \
  do {                           \
    uint64_t w_;                 \
    memcpy(&w_, in, 8);          \
    bb |= w_ << bc;              \
    in += (63 - bc) >> 3;        \
    bc |= 56;                    \
  } while (0)

  /* Consumes the root bits of subtable pointer e and replaces e by its subtable's entry. */
#define FOLLOW_SUB(t, e, root)                                      \
  do {                                                              \
    uint32_t start_ = E_VAL(e), mask_ = (1u << E_CLEN(e)) - 1;      \
    bb >>= (root);                                                  \
    bc -= (root);                                                   \
    (e) = (t)[start_ + (bb & mask_)];                               \
  } while (0)

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
    /* ---- fast loop: enough input for two refills, enough room for the longest match ---- */
    /* Runs while more than FAST_IN bytes of input and FAST_OUT of room remain (the careful loop
       below hands back under exactly the same condition). Each iteration starts with the next
       entry already looked up: a refill only adds bits above the ones held, and at least 11
       bits are always held where the lookup is made, so the entry stays right. */
    const uint8_t *in_fast = in_end - in > FAST_IN ? in_end - FAST_IN : in;
    uint8_t *out_fast = out_end - out > FAST_OUT ? out_end - FAST_OUT : out;
    if (LIKELY(in < in_fast && out < out_fast)) {
      REFILL();
      uint32_t e = lt[bb & LMASK];
      do {
        REFILL();
        if (LIKELY(e & F_LIT)) {
          /* Up to three literals: 3 x 11 bits of the >= 56 held. (Entries holding two literals
             were tried: with three literals per refill their table pass cost more than they
             saved.) */
          bb >>= E_USE(e);
          bc -= E_USE(e);
          *out++ = (uint8_t)E_VAL(e);
          e = lt[bb & LMASK];
          if (LIKELY(e & F_LIT)) {
            bb >>= E_USE(e);
            bc -= E_USE(e);
            *out++ = (uint8_t)E_VAL(e);
            e = lt[bb & LMASK];
            if (e & F_LIT) {
              bb >>= E_USE(e);
              bc -= E_USE(e);
              *out++ = (uint8_t)E_VAL(e);
              e = lt[bb & LMASK];
            }
          }
          continue;
        }
        if (UNLIKELY(e & F_EXC)) {
          if (IS_SUB(e)) {
            FOLLOW_SUB(lt, e, FI_LBITS);
            if (e & F_LIT) { /* a long literal code: always a single literal */
              bb >>= E_USE(e);
              bc -= E_USE(e);
              *out++ = (uint8_t)E_VAL(e);
              e = lt[bb & LMASK];
              continue;
            }
          }
          if (e & F_EXC) {
            bb >>= E_USE(e);
            bc -= E_USE(e);
            if (E_VAL(e) == 0) {
              ret = FI_BOUNDARY;
              goto leave;
            }
            SAVE();
            return fail(f, "invalid literal/length code");
          }
        }
        /* A length (<= 20 bits) and a distance (<= 28 bits) fit in the >= 56 held. */
        uint64_t saved = bb;
        bb >>= E_USE(e);
        bc -= E_USE(e);
        uint32_t len = E_VAL(e) + E_EXTRA_BITS(e, saved);
        uint32_t d = dt[bb & DMASK];
        if (UNLIKELY(d & F_EXC)) {
          if (IS_SUB(d)) FOLLOW_SUB(dt, d, FI_DBITS);
          if (d & F_EXC) {
            bb >>= E_USE(d);
            bc -= E_USE(d);
            SAVE();
            return fail(f, "invalid distance code");
          }
        }
        saved = bb;
        bb >>= E_USE(d);
        bc -= E_USE(d);
        uint32_t dist = E_VAL(d) + E_EXTRA_BITS(d, saved);
        /* Matches reaching before this call's buffer, or before the member's first byte when
           the member began in it, are rare: only then are the member's start checked and the
           ring read. */
        if (UNLIKELY(dist > (size_t)(out - lo))) {
          if ((int64_t)(out - out_base) + mbase < (int64_t)dist) {
            SAVE();
            return fail(f, "invalid distance too far back");
          }
          REFILL();
          e = lt[bb & LMASK];
          copy_slow(out, len, dist, out_base, ring);
          out += len;
          continue;
        }
        /* Refill and look the next entry up before the copy, so the two overlap. */
        REFILL();
        e = lt[bb & LMASK];
        uint8_t *dst = out;
        out += len;
        {
          const uint8_t *src = dst - dist;
          /* Whole words, the first 32 bytes unconditionally (most matches are shorter): a word
             never reads bytes it writes as long as the distance is at least its size. */
          if (LIKELY(dist >= 16)) {
            copy_words(dst, src, out, len, 16);
          } else if (dist >= 8) {
            copy_words(dst, src, out, len, 8);
          } else if (dist == 1) {
            uint64_t v = 0x0101010101010101ull * src[0];
            do {
              memcpy(dst, &v, 8);
              memcpy(dst + 8, &v, 8);
              dst += 16;
            } while (dst < out);
          } else {
            /* 2..7: eight bytes one by one; from then on the output repeats with a period that
               is a multiple of dist and at least 8, so words can copy the rest. */
            for (int i = 0; i < 8; i++) dst[i] = src[i];
            src = dst + 8 - PERIOD8[dist];
            dst += 8;
            while (dst < out) {
              copy8(dst, src);
              dst += 8;
              src += 8;
            }
          }
        }
      } while (LIKELY(in < in_fast && out < out_fast));
    }

    /* ---- careful loop: one symbol at a time, nothing consumed that cannot be finished ---- */
    bb &= bc ? (~0ull >> (64 - bc)) : 0;
    for (;;) {
      if (in_end - in > FAST_IN && out_end - out > FAST_OUT) break; /* back to the fast loop */
      while (bc < 56 && in < in_end) {
        bb |= (uint64_t)(*in++) << bc;
        bc += 8;
      }
      /* Missing bits read as zeros: an entry found that way is right whenever its code fits in
         the bits held, and anything longer waits for input. */
      unsigned pre;
      uint64_t b1;
      uint32_t e = lookup(lt, FI_LBITS, bb, &pre, &b1);
      if (e & F_LIT) {
        unsigned l = pre + E_USE(e);
        if (l > bc) {
          ret = FI_NEED_INPUT;
          goto leave;
        }
        if (out == out_end) {
          ret = FI_OUTPUT_FULL;
          goto leave;
        }
        bb >>= l;
        bc -= l;
        *out++ = (uint8_t)E_VAL(e);
        continue;
      }
      unsigned l = pre + E_USE(e);
      if (l > bc) {
        ret = FI_NEED_INPUT;
        goto leave;
      }
      if (e & F_EXC) {
        bb >>= l;
        bc -= l;
        if (E_VAL(e) == 0) {
          ret = FI_BOUNDARY;
          goto leave;
        }
        SAVE();
        return fail(f, "invalid literal/length code");
      }
      uint32_t len = E_VAL(e) + E_EXTRA_BITS(e, b1);
      uint64_t b2 = b1 >> E_USE(e);
      unsigned c2 = bc - l;
      unsigned dpre;
      uint64_t b3;
      uint32_t d = lookup(dt, FI_DBITS, b2, &dpre, &b3);
      unsigned dl = dpre + E_USE(d);
      if (dl > c2) {
        ret = FI_NEED_INPUT;
        goto leave;
      }
      if (d & F_EXC) {
        bb = b2 >> dl;
        bc = c2 - dl;
        SAVE();
        return fail(f, "invalid distance code");
      }
      uint32_t dist = E_VAL(d) + E_EXTRA_BITS(d, b3);
      bb = b2 >> dl;
      bc = c2 - dl;
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
#undef REFILL
#undef FOLLOW_SUB
}

static int huff_generic(FastInflate *f, const uint8_t **pin, const uint8_t *in_end, uint8_t **pout, uint8_t *out_base,
                        uint8_t *out_end, const uint8_t *ring) {
  return huff_body(f, pin, in_end, pout, out_base, out_end, ring);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The same loop compiled for BMI2 (shrx/shlx/bzhi: variable shifts and masks without flags), picked
   at run time: the addon and its prebuilds target plain x86-64. ~4 % fewer cycles here. */
__attribute__((target("bmi2"))) static int huff_bmi2(FastInflate *f, const uint8_t **pin, const uint8_t *in_end,
                                                     uint8_t **pout, uint8_t *out_base, uint8_t *out_end,
                                                     const uint8_t *ring) {
  return huff_body(f, pin, in_end, pout, out_base, out_end, ring);
}
#endif

static fi_huff_fn pick_huff(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("bmi2")) return huff_bmi2;
#endif
  return huff_generic;
}

const char *fi_variant(void) { return pick_huff() == huff_generic ? "generic" : "bmi2"; }

/* ---- block headers ------------------------------------------------------------------------ */

/* The code lengths of a dynamic block (RFC 1951 §3.2.7), one symbol at a time. */
static int code_lengths(FastInflate *f, const uint8_t **in, const uint8_t *end) {
  unsigned total = f->nlen + f->ndist;
  while (f->have < total) {
    need_bits(f, in, end, 14); /* longest step: a 7-bit code and 7 extra bits */
    uint32_t e = f->codelen[peek(f, 7)];
    unsigned l = E_USE(e);
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
        r = f->huff(f, in, in_end, out, out_base, out_end, ring);
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
