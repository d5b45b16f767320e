/* hash.c — SHA-256 over OpenSSL EVP, CRC32C (table-driven, SSE4.2 when the CPU has it), and
 * zlib's CRC-32. */
#include "core/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

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

sp_status sp_sha256_file(const char *path, char out[SP_SHA256_HEX]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    return sp_fail(error == ENOENT ? SP_ERROR_NOT_FOUND : SP_ERROR_IO, "cannot open '%s': %s", path,
                   strerror(error));
  }
  sp_sha256 *hash = sp_sha256_new();
  if (!hash) {
    close(fd);
    return SP_ERROR_INTERNAL;
  }
  enum { CHUNK = 1 << 20 };
  uint8_t *buffer = sp_alloc(CHUNK);
  sp_status status = buffer ? SP_OK : SP_ERROR_NO_MEMORY;
  while (status == SP_OK) {
    ssize_t got = read(fd, buffer, CHUNK);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int error = errno;
      status = sp_fail(SP_ERROR_IO, "cannot read '%s': %s", path, strerror(error));
    }
    if (got <= 0) break;
    sp_sha256_update(hash, buffer, (size_t)got);
  }
  uint8_t digest[SP_SHA256_BYTES];
  sp_sha256_finish(hash, digest);
  free(buffer);
  close(fd);
  if (status == SP_OK) sp_sha256_hex(digest, out);
  return status;
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

uint32_t sp_crc32_extend(uint32_t crc, const void *data, size_t size) {
  return (uint32_t)crc32_z(crc, data, size);
}
