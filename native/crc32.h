/*
 * crc32: the gzip CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320, init and final xor ~0) of the
 * fast engine's output, with zlib's crc32_z semantics, on the fastest engine this CPU has.
 *
 * Engines, picked once when the addon loads (the binaries are built for generic x86-64 / ARMv8-A,
 * so the CPU is asked at run time, never assumed):
 *  - "vpclmul": x86-64 with AVX-512F + VPCLMULQDQ: the folding of "pclmul" on 512-bit registers;
 *  - "pclmul":  x86-64 with PCLMULQDQ + SSE4.1: carry-less multiply folding (Intel, "Fast CRC
 *               Computation for Generic Polynomials Using PCLMULQDQ"), Barrett reduction;
 *  - "armv8":   AArch64 with the CRC32 extension (HWCAP_CRC32): the CRC32X/W/H/B instructions;
 *  - "zlib":    anywhere else: the crc32_z of the zlib Node exports (braided, ~2x the tables);
 *  - "table":   slicing-by-8 tables, portable. It takes every buffer shorter than 64 bytes (gzip
 *               header bytes, tails), where setting up any of the others costs more than it saves.
 */
#ifndef ZTOC_CRC32_H
#define ZTOC_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* zlib's crc32_z: `crc` is a previous result (0 to start); chained calls over consecutive pieces give
   the CRC of the whole. A NULL buf returns 0, as zlib does. Thread-safe. */
uint32_t ztoc_crc32(uint32_t crc, const uint8_t *buf, size_t len);

typedef uint32_t (*ztoc_crc32_fn)(uint32_t crc, const uint8_t *buf, size_t len);

/* The engine called `name` ("vpclmul", "pclmul", "armv8", "zlib", "table"; "auto" is ztoc_crc32 itself), or
   NULL when this build or this CPU lacks it. For tests and benchmarks of each engine. */
ztoc_crc32_fn ztoc_crc32_engine(const char *name);

/* The name of the engine ztoc_crc32 runs on for long buffers ("ztoc doctor"). */
const char *ztoc_crc32_auto_name(void);

/* Every engine name this build knows, fastest first, NULL-terminated (available or not). */
extern const char *const ztoc_crc32_engine_names[];

#endif
