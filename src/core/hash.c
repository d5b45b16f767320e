/* hash.c — SHA-256 over OpenSSL EVP, CRC32C (table-driven, SSE4.2 when the CPU has it), and
 * zlib's CRC-32 (folded with PCLMULQDQ when the CPU has it). */
#include "core/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/file.h"
#include "core/memory.h"

struct sp_sha256 {
  EVP_MD_CTX *context;
};

sp_sha256 *sp_sha256_new(void) {
  sp_sha256 *hash = sp_alloc(sizeof *hash);
  if (!hash) return NULL;
  hash->context = EVP_MD_CTX_new();
  if (!hash->context || EVP_DigestInit_ex(hash->context, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(hash->context);
    free(hash);
    sp_fail(SP_ERROR_INTERNAL, "OpenSSL could not start a SHA-256 digest");
    return NULL;
  }
  return hash;
}

void sp_sha256_update(sp_sha256 *hash, const void *data, size_t size) {
  EVP_DigestUpdate(hash->context, data, size);
}

void sp_sha256_finish(sp_sha256 *hash, uint8_t digest[SP_SHA256_BYTES]) {
  unsigned int length = SP_SHA256_BYTES;
  EVP_DigestFinal_ex(hash->context, digest, &length);
  EVP_MD_CTX_free(hash->context);
  free(hash);
}

void sp_sha256_bytes(const void *data, size_t size, uint8_t digest[SP_SHA256_BYTES]) {
  unsigned int length = SP_SHA256_BYTES;
  EVP_Digest(data, size, digest, &length, EVP_sha256(), NULL);
}

void sp_sha256_hex(const uint8_t digest[SP_SHA256_BYTES], char out[SP_SHA256_HEX]) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < SP_SHA256_BYTES; i++) {
    out[2 * i] = digits[digest[i] >> 4];
    out[2 * i + 1] = digits[digest[i] & 15];
  }
  out[64] = '\0';
}

static void hash_chunk(void *hash, const uint8_t *bytes, size_t size) { sp_sha256_update(hash, bytes, size); }

sp_status sp_sha256_file(const char *path, char out[SP_SHA256_HEX]) {
  sp_sha256 *hash = sp_sha256_new();
  if (!hash) return SP_ERROR_INTERNAL;
  sp_status status = sp_read_file_chunks(path, 0, UINT64_MAX, hash_chunk, hash);
  uint8_t digest[SP_SHA256_BYTES];
  sp_sha256_finish(hash, digest);
  if (status == SP_OK) sp_sha256_hex(digest, out);
  return status;
}

uint32_t sp_crc32_combine(uint32_t first, uint32_t second, uint64_t second_size) {
  return (uint32_t)crc32_combine64(first, second, (z_off64_t)second_size);
}

static void crc32_chunk(void *crc, const uint8_t *bytes, size_t size) {
  *(uint32_t *)crc = sp_crc32_extend(*(uint32_t *)crc, bytes, size);
}

sp_status sp_crc32_file_range(const char *path, uint64_t offset, uint64_t length, uint32_t *crc) {
  *crc = 0;
  return sp_read_file_chunks(path, offset, length, crc32_chunk, crc);
}

/* ---- CRC32C ---- */

static uint32_t crc_table[8][256];
static int crc_table_ready;

static void build_crc_table(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
    crc_table[0][i] = crc;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int slice = 1; slice < 8; slice++)
      crc_table[slice][i] = (crc_table[slice - 1][i] >> 8) ^ crc_table[0][crc_table[slice - 1][i] & 0xff];
  __atomic_store_n(&crc_table_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t crc32c_software(uint32_t crc, const uint8_t *bytes, size_t size) {
  if (!__atomic_load_n(&crc_table_ready, __ATOMIC_ACQUIRE)) build_crc_table();
  while (size >= 8) {
    uint32_t low, high;
    memcpy(&low, bytes, 4);
    memcpy(&high, bytes + 4, 4);
    low ^= crc; /* little-endian hosts only, as everywhere in savepoint */
    crc = crc_table[7][low & 0xff] ^ crc_table[6][(low >> 8) & 0xff] ^ crc_table[5][(low >> 16) & 0xff] ^
          crc_table[4][low >> 24] ^ crc_table[3][high & 0xff] ^ crc_table[2][(high >> 8) & 0xff] ^
          crc_table[1][(high >> 16) & 0xff] ^ crc_table[0][high >> 24];
    bytes += 8;
    size -= 8;
  }
  while (size--) crc = (crc >> 8) ^ crc_table[0][(crc ^ *bytes++) & 0xff];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hardware(uint32_t crc, const uint8_t *bytes,
                                                                    size_t size) {
  uint64_t wide = crc;
  while (size >= 8) {
    uint64_t word;
    memcpy(&word, bytes, 8);
    wide = __builtin_ia32_crc32di(wide, word);
    bytes += 8;
    size -= 8;
  }
  uint32_t narrow = (uint32_t)wide;
  while (size--) narrow = __builtin_ia32_crc32qi(narrow, *bytes++);
  return narrow;
}
#endif

uint32_t sp_crc32c_extend(uint32_t crc, const void *data, size_t size) {
  crc = ~crc;
#if defined(__x86_64__)
  if (__builtin_cpu_supports("sse4.2")) return ~crc32c_hardware(crc, data, size);
#endif
  return ~crc32c_software(crc, data, size);
}

/* ---- CRC-32 (zlib's: reflected, polynomial 0x04C11DB7, written reversed as 0xEDB88320) ----
 *
 * zlib's crc32_z is the portable path and the reference. On x86-64 CPUs with PCLMULQDQ, long
 * buffers are folded 64 bytes at a time with carry-less multiplication (the method of Intel's
 * "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ Instruction", 2009), which runs
 * several times faster than zlib's tables; a 1 GiB .keras weights member is checked once per load.
 *
 * The arithmetic, in our own words. Bits are taken in CRC order: bit 0 of byte 0 first, as the
 * highest power of x. A 16-byte block loaded little-endian into an SSE register therefore holds
 * a polynomial a(x) of degree < 128 *bit-reversed*: register bit j is the coefficient of
 * x^(127-j), so its low 64-bit half holds the high part a_hi and its high half the low part a_lo
 * (a = a_hi x^64 + a_lo). Moving a forward by D bits, so it can be added (XORed) to the block
 * D bits later, needs a x^D mod P; it is enough to keep any polynomial of degree < 128 congruent
 * to it: a x^D = a_hi x^(D+64) + a_lo x^D == a_hi (x^(D+32) mod P) x^32 + a_lo (x^(D-32) mod P) x^32.
 * With both factors bit-reversed, the 128-bit carry-less product of a 64-bit and a 33-bit value
 * is the bit-reversed 96-bit product, which read as a 128-bit reversed register is exactly that
 * product times x^32. So each fold constant is x^(D+32) mod P or x^(D-32) mod P stored reversed
 * in 33 bits (bit j = coefficient of x^(32-j)), here
 * for D = 512 (four registers, 64 bytes apart) and D = 128 (one register into the next).
 * The four published values for zlib's polynomial (0x154442bd4, 0x1c6e41596, 0x1751997d0,
 * 0x0ccaa009e in Intel's paper) come out of the same formula; the unit tests compare the whole
 * CRC with zlib's for every length up to 4096 and misaligned starts.
 *
 * The incoming CRC enters by XOR into the first four bytes (what a reflected CRC register does
 * to the first 32 message bits), and the final 128-bit remainder is reduced by running the
 * plain CRC over its 16 bytes from a zero state: crc_raw(0, a) = a x^32 mod P. Tails shorter
 * than a block go through zlib as well. */

/* The CRC register without zlib's pre- and post-inversion. */
static uint32_t crc32_raw(uint32_t state, const uint8_t *bytes, size_t size) {
  return ~(uint32_t)crc32_z(~state, bytes, size);
}

#if defined(__x86_64__)
#include <immintrin.h>

/* {x^(D+32) mod P, x^(D-32) mod P} bit-reversed into 33 bits (bit j = coefficient of x^(32-j)),
 * low then high register half, for D = 512 and D = 128: Intel's published values for this P,
 * which the formula above reproduces (shift x^0 left D±32 times reducing by 0x104C11DB7, then
 * reverse the 33 bits). */
static const uint64_t fold_512[2] = {UINT64_C(0x154442bd4), UINT64_C(0x1c6e41596)};
static const uint64_t fold_128[2] = {UINT64_C(0x1751997d0), UINT64_C(0x0ccaa009e)};

/* a x^D + next, for the register a and the constants of D (see above). */
__attribute__((target("pclmul,sse4.1"))) static inline __m128i fold(__m128i a, __m128i constants, __m128i next) {
  __m128i high_part = _mm_clmulepi64_si128(a, constants, 0x00); /* a_hi (low half) times x^(D+32) */
  __m128i low_part = _mm_clmulepi64_si128(a, constants, 0x11);  /* a_lo (high half) times x^(D-32) */
  return _mm_xor_si128(_mm_xor_si128(high_part, low_part), next);
}

/* The raw CRC state after size bytes (size >= 64). */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_folded(uint32_t state, const uint8_t *bytes,
                                                                       size_t size) {
  const __m128i by_512 = _mm_set_epi64x((long long)fold_512[1], (long long)fold_512[0]);
  const __m128i by_128 = _mm_set_epi64x((long long)fold_128[1], (long long)fold_128[0]);
  __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)bytes), _mm_cvtsi32_si128((int)state));
  __m128i x1 = _mm_loadu_si128((const __m128i *)(bytes + 16));
  __m128i x2 = _mm_loadu_si128((const __m128i *)(bytes + 32));
  __m128i x3 = _mm_loadu_si128((const __m128i *)(bytes + 48));
  bytes += 64;
  size -= 64;
  for (; size >= 64; bytes += 64, size -= 64) {
    x0 = fold(x0, by_512, _mm_loadu_si128((const __m128i *)bytes));
    x1 = fold(x1, by_512, _mm_loadu_si128((const __m128i *)(bytes + 16)));
    x2 = fold(x2, by_512, _mm_loadu_si128((const __m128i *)(bytes + 32)));
    x3 = fold(x3, by_512, _mm_loadu_si128((const __m128i *)(bytes + 48)));
  }
  __m128i x = fold(fold(fold(x0, by_128, x1), by_128, x2), by_128, x3);
  for (; size >= 16; bytes += 16, size -= 16) x = fold(x, by_128, _mm_loadu_si128((const __m128i *)bytes));
  uint8_t remainder[16];
  _mm_storeu_si128((__m128i *)remainder, x);
  return crc32_raw(crc32_raw(0, remainder, sizeof remainder), bytes, size);
}
#endif

uint32_t sp_crc32_extend(uint32_t crc, const void *data, size_t size) {
#if defined(__x86_64__)
  enum { FOLDING_WORTHWHILE = 256 }; /* below this, zlib's tables win or tie */
  if (size >= FOLDING_WORTHWHILE && __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1")) {
    return ~crc32_folded(~crc, data, size);
  }
#endif
  return (uint32_t)crc32_z(crc, data, size);
}
