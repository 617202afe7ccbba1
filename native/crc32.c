/*
 * crc32: the gzip CRC-32 on the fastest engine the CPU has (see crc32.h for the contract).
 *
 * The math behind the folding engines, written out because the constants come from it
 * (scripts/crc32-constants.mjs recomputes every one of them):
 *   The CRC of a message M (n bytes) is (~crc0 * x^(8n) + M * x^32) mod P, P = 0x104C11DB7, with
 *   every polynomial bit-reflected: the first byte's bit 0 is the highest power. XORing ~crc0 into
 *   the first 4 bytes turns this into M' * x^32 mod P.
 *   Loaded little-endian, a 16-byte block is a polynomial of degree < 128 whose low 64-bit lane
 *   holds the high powers (H) and whose high lane holds the low ones (L): A = H x^64 + L.
 *   Folding A forward over T bits (onto the block T bits later) replaces A x^T by
 *   H * (x^(T+64) mod P) + L * (x^T mod P), of degree < 96, which is XORed into that block.
 *   A carry-less product of two reflected operands comes out one bit short; storing each
 *   constant as a 33-bit reflection (bit j = coefficient of x^(32-j)) pays for that and places
 *   the product as a 128-bit block at the same time, which shifts the powers by 32:
 *   the constants are x^(T+32) mod P (for H) and x^(T-32) mod P (for L).
 *   At the end, one 128-bit block R is left: R x^32 mod P is folded 128 -> 96 bits with
 *   x^96 mod P, 96 -> 64 bits with x^64 mod P, and the last 64 bits are reduced with Barrett:
 *   q = floor(T_hi * floor(x^64 / P) / x^32), crc = (T + q P) mod x^32.
 * The tail (< 16 bytes) goes through the table engine.
 */
#include "crc32.h"

#include <string.h>
#include <zlib.h> /* Node's: crc32_z binds to the copy the node executable exports */

#define POLY_REFLECTED 0xEDB88320u
#define SHORT_LEN 64 /* buffers below this skip the vector set-up */

/* ---- table engine: slicing-by-8 ------------------------------------------------------------ */

/* crc_table[k][b]: the CRC register change of byte b followed by k zero bytes. Filled once at load. */
static uint32_t crc_table[8][256];

static void make_tables(void) {
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = b;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ POLY_REFLECTED : c >> 1;
    crc_table[0][b] = c;
  }
  for (uint32_t b = 0; b < 256; b++)
    for (int k = 1; k < 8; k++) crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^ crc_table[0][crc_table[k - 1][b] & 0xff];
}

/* Little-endian loads by bytes: portable, and one plain load on x86-64 and AArch64. */
static inline uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Runs the (inverted) register `c` over n bytes. */
static inline uint32_t table_run(uint32_t c, const uint8_t *p, size_t n) {
  while (n >= 8) {
    uint32_t a = c ^ le32(p), b = le32(p + 4);
    c = crc_table[7][a & 0xff] ^ crc_table[6][(a >> 8) & 0xff] ^ crc_table[5][(a >> 16) & 0xff] ^ crc_table[4][a >> 24] ^
        crc_table[3][b & 0xff] ^ crc_table[2][(b >> 8) & 0xff] ^ crc_table[1][(b >> 16) & 0xff] ^ crc_table[0][b >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

static uint32_t crc_table_engine(uint32_t crc, const uint8_t *p, size_t n) { return ~table_run(~crc, p, n); }

/* ---- x86-64: PCLMULQDQ, and VPCLMULQDQ on AVX-512 ------------------------------------------ */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_ENGINES 1
#include <immintrin.h>

/* 33-bit reflected x^k mod P, by the k they stand for (see the header comment). */
#define K_2080 0x11542778aULL /* fold 4 x 512 bits: T = 2048 */
#define K_2016 0x1322d1430ULL
#define K_544 0x154442bd4ULL /* fold 4 x 128 bits (and 512-bit registers by one): T = 512 */
#define K_480 0x1c6e41596ULL
#define K_160 0x1751997d0ULL /* fold by 128 bits: T = 128; x^96 also folds 128 -> 96 */
#define K_96 0x0ccaa009eULL
#define K_64 0x163cd6124ULL  /* 96 -> 64 */
#define K_MU 0x1f7011641ULL  /* floor(x^64 / P), 33-bit reflected */
#define K_POLY 0x1db710641ULL /* P, 33-bit reflected */

#define PCLMUL_TARGET __attribute__((target("pclmul,sse4.1")))

/* A folded over T bits onto the block d: the low lane times k's low lane, the high lane times k's high lane. */
static inline PCLMUL_TARGET __m128i fold128(__m128i a, __m128i k, __m128i d) {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00), _mm_clmulepi64_si128(a, k, 0x11)), d);
}

/* Folds 16-byte blocks of p into x, reduces x to the CRC register and runs the tail (< 16 bytes). */
static inline PCLMUL_TARGET uint32_t finish128(__m128i x, const uint8_t *p, size_t n) {
  const __m128i k1 = _mm_set_epi64x((long long)K_96, (long long)K_160);
  for (; n >= 16; p += 16, n -= 16) x = fold128(x, k1, _mm_loadu_si128((const __m128i *)p));
  const __m128i low32 = _mm_set_epi32(0, 0, 0, -1);
  const __m128i kr = _mm_set_epi64x((long long)K_MU, (long long)K_64);
  const __m128i kp = _mm_set_epi64x(0, (long long)K_POLY);
  /* 128 -> 96 bits: H * x^96 + L (in bits 0..95) */
  __m128i v = _mm_xor_si128(_mm_clmulepi64_si128(x, k1, 0x10), _mm_srli_si128(x, 8));
  /* 96 -> 64 bits: top 32 bits * x^64 + the other 64 (in bits 0..63) */
  v = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(v, low32), kr, 0x00), _mm_srli_si128(v, 4));
  /* Barrett: q = top 32 bits * mu, high half; the remainder lands in bits 32..63 */
  __m128i q = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(v, low32), kr, 0x10), low32);
  v = _mm_xor_si128(v, _mm_clmulepi64_si128(q, kp, 0x00));
  return table_run((uint32_t)_mm_extract_epi32(v, 1), p, n);
}

/* n >= 64: four 128-bit lanes, each folded over 512 bits. */
static inline PCLMUL_TARGET uint32_t pclmul_run(uint32_t c, const uint8_t *p, size_t n) {
  __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)c));
  __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
  __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
  __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
  p += 64;
  n -= 64;
  const __m128i k4 = _mm_set_epi64x((long long)K_480, (long long)K_544);
  for (; n >= 64; p += 64, n -= 64) {
    x0 = fold128(x0, k4, _mm_loadu_si128((const __m128i *)p));
    x1 = fold128(x1, k4, _mm_loadu_si128((const __m128i *)(p + 16)));
    x2 = fold128(x2, k4, _mm_loadu_si128((const __m128i *)(p + 32)));
    x3 = fold128(x3, k4, _mm_loadu_si128((const __m128i *)(p + 48)));
  }
  const __m128i k1 = _mm_set_epi64x((long long)K_96, (long long)K_160);
  x0 = fold128(fold128(fold128(x0, k1, x1), k1, x2), k1, x3);
  return finish128(x0, p, n);
}

static PCLMUL_TARGET uint32_t crc_pclmul_engine(uint32_t crc, const uint8_t *p, size_t n) {
  return n < SHORT_LEN ? crc_table_engine(crc, p, n) : ~pclmul_run(~crc, p, n);
}

#define VPCLMUL_TARGET __attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.1")))

static inline VPCLMUL_TARGET __m512i fold512(__m512i a, __m512i k, __m512i d) {
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(a, k, 0x00), _mm512_clmulepi64_epi128(a, k, 0x11), d, 0x96);
}

/* n >= 256: four 512-bit registers (16 lanes of 128 bits), each folded over 2048 bits; then one
   register folded over 512 bits per 64 bytes; then its four lanes into one. */
static VPCLMUL_TARGET uint32_t crc_vpclmul_engine(uint32_t crc, const uint8_t *p, size_t n) {
  if (n < 256) return crc_pclmul_engine(crc, p, n);
  __m512i z0 = _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_inserti32x4(_mm512_setzero_si512(), _mm_cvtsi32_si128((int)~crc), 0));
  __m512i z1 = _mm512_loadu_si512(p + 64);
  __m512i z2 = _mm512_loadu_si512(p + 128);
  __m512i z3 = _mm512_loadu_si512(p + 192);
  p += 256;
  n -= 256;
  const __m512i k16 = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)K_2016, (long long)K_2080));
  for (; n >= 256; p += 256, n -= 256) {
    z0 = fold512(z0, k16, _mm512_loadu_si512(p));
    z1 = fold512(z1, k16, _mm512_loadu_si512(p + 64));
    z2 = fold512(z2, k16, _mm512_loadu_si512(p + 128));
    z3 = fold512(z3, k16, _mm512_loadu_si512(p + 192));
  }
  const __m512i k4 = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)K_480, (long long)K_544));
  z0 = fold512(fold512(fold512(z0, k4, z1), k4, z2), k4, z3);
  for (; n >= 64; p += 64, n -= 64) z0 = fold512(z0, k4, _mm512_loadu_si512(p));
  const __m128i k1 = _mm_set_epi64x((long long)K_96, (long long)K_160);
  __m128i x = fold128(_mm512_extracti32x4_epi32(z0, 0), k1, _mm512_extracti32x4_epi32(z0, 1));
  x = fold128(fold128(x, k1, _mm512_extracti32x4_epi32(z0, 2)), k1, _mm512_extracti32x4_epi32(z0, 3));
  return ~finish128(x, p, n);
}
#endif

/* ---- AArch64: the CRC32 extension ---------------------------------------------------------- */

#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__)) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    (defined(__linux__) || defined(__ARM_FEATURE_CRC32))
#define HAVE_ARMV8_ENGINE 1
#include <arm_acle.h>
#if defined(__ARM_FEATURE_CRC32)
/* The target baseline has CRC32 (Apple silicon, -march=armv8.1-a and later): no run-time check. */
#define ARMV8_TARGET
static int armv8_supported(void) { return 1; }
#else
/* Generic ARMv8.0-A (our Linux prebuild): CRC32 is optional there, so the kernel is asked. */
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7) /* Linux arch/arm64 uapi hwcap.h */
#endif
#define ARMV8_TARGET __attribute__((target("+crc")))
static int armv8_supported(void) { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }
#endif

static inline uint64_t le64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

ARMV8_TARGET static uint32_t crc_armv8_engine(uint32_t crc, const uint8_t *p, size_t n) {
  uint32_t c = ~crc;
  for (; n > 0 && ((uintptr_t)p & 7) != 0; n--) c = __crc32b(c, *p++);
  for (; n >= 32; p += 32, n -= 32) {
    c = __crc32d(c, le64(p));
    c = __crc32d(c, le64(p + 8));
    c = __crc32d(c, le64(p + 16));
    c = __crc32d(c, le64(p + 24));
  }
  for (; n >= 8; p += 8, n -= 8) c = __crc32d(c, le64(p));
  if (n & 4) {
    c = __crc32w(c, le32(p));
    p += 4;
  }
  if (n & 2) {
    c = __crc32h(c, (uint16_t)(p[0] | p[1] << 8));
    p += 2;
  }
  if (n & 1) c = __crc32b(c, *p);
  return ~c;
}
#endif

/* ---- zlib: where the CPU has no CRC instructions, zlib's braided code beats slicing-by-8 ---- */

static uint32_t crc_zlib_engine(uint32_t crc, const uint8_t *p, size_t n) { return (uint32_t)crc32_z(crc, p, n); }

/* ---- dispatch ------------------------------------------------------------------------------ */

const char *const ztoc_crc32_engine_names[] = {"vpclmul", "pclmul", "armv8", "zlib", "table", NULL};

/* The engine for buffers of SHORT_LEN bytes and more; set once, before the addon's init runs. */
static ztoc_crc32_fn crc_long = crc_table_engine;
static const char *crc_long_name = "table";

ztoc_crc32_fn ztoc_crc32_engine(const char *name) {
  if (strcmp(name, "table") == 0) return crc_table_engine;
  if (strcmp(name, "zlib") == 0) return crc_zlib_engine;
#ifdef HAVE_X86_ENGINES
  __builtin_cpu_init();
  int pclmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  if (strcmp(name, "pclmul") == 0) return pclmul ? crc_pclmul_engine : NULL;
  /* avx512f is reported only when the OS saves the 512-bit state (XCR0). */
  if (strcmp(name, "vpclmul") == 0)
    return pclmul && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq") ? crc_vpclmul_engine : NULL;
#endif
#ifdef HAVE_ARMV8_ENGINE
  if (strcmp(name, "armv8") == 0) return armv8_supported() ? crc_armv8_engine : NULL;
#endif
  return NULL;
}

/* Runs when the addon is loaded (dlopen), before any thread can call in: no lazy race to guard. */
__attribute__((constructor)) static void crc32_init(void) {
  make_tables();
  for (const char *const *name = ztoc_crc32_engine_names; *name != NULL; name++) {
    ztoc_crc32_fn fn = ztoc_crc32_engine(*name);
    if (fn != NULL) {
      crc_long = fn;
      crc_long_name = *name;
      return;
    }
  }
}

const char *ztoc_crc32_auto_name(void) { return crc_long_name; }

uint32_t ztoc_crc32(uint32_t crc, const uint8_t *buf, size_t len) {
  if (buf == NULL) return 0;
  if (len < SHORT_LEN) return ~table_run(~crc, buf, len);
  return crc_long(crc, buf, len);
}
