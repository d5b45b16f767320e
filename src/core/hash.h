/* hash.h — SHA-256 (OpenSSL libcrypto), CRC32C with LevelDB/TensorFlow masking, and CRC-32.
 *
 * SHA-256 is what the registry, manifests and `savepoint verify` compare; CRC32C is
 * what TensorFlow stores in tensor-bundle index blocks and entries; CRC-32 (zlib's,
 * the IEEE polynomial) is what zip archives store for each member.
 */
#ifndef SP_CORE_HASH_H
#define SP_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

enum { SP_SHA256_BYTES = 32, SP_SHA256_HEX = 65 /* 64 hex digits + NUL */ };

typedef struct sp_sha256 sp_sha256;

sp_sha256 *sp_sha256_new(void);
void sp_sha256_update(sp_sha256 *hash, const void *data, size_t size);
/* Writes 32 bytes and frees the context. */
void sp_sha256_finish(sp_sha256 *hash, uint8_t digest[SP_SHA256_BYTES]);
void sp_sha256_bytes(const void *data, size_t size, uint8_t digest[SP_SHA256_BYTES]);
/* Lower-case hex of a digest into out (65 bytes). */
void sp_sha256_hex(const uint8_t digest[SP_SHA256_BYTES], char out[SP_SHA256_HEX]);
/* Streams a file through SHA-256 without loading it whole; writes hex. */
sp_status sp_sha256_file(const char *path, char out[SP_SHA256_HEX]) SP_MUST_CHECK;

/* CRC32C (Castagnoli): crc = sp_crc32c_extend(0, data, n) for a fresh checksum. */
uint32_t sp_crc32c_extend(uint32_t crc, const void *data, size_t size);
static inline uint32_t sp_crc32c(const void *data, size_t size) { return sp_crc32c_extend(0, data, size); }

/* CRC-32 as zip and zlib compute it: crc = sp_crc32_extend(0, data, n) for a fresh checksum.
 * Folded with PCLMULQDQ on x86-64 CPUs that have it (several times zlib's speed), zlib's
 * crc32_z elsewhere; every zip CRC-32 savepoint computes itself goes through here. */
uint32_t sp_crc32_extend(uint32_t crc, const void *data, size_t size);
/* The CRC-32 of A followed by B, from the CRC-32s of A and of B (B being second_size bytes). */
uint32_t sp_crc32_combine(uint32_t first, uint32_t second, uint64_t second_size);
/* The CRC-32 of length bytes at offset of a file, read through one small buffer: on VMs where
 * touching a page for the first time is dear, cheaper than reading a fresh mapping of it. */
sp_status sp_crc32_file_range(const char *path, uint64_t offset, uint64_t length, uint32_t *crc) SP_MUST_CHECK;

/* LevelDB/TensorFlow masking of stored CRCs. */
static inline uint32_t sp_crc32c_mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
static inline uint32_t sp_crc32c_unmask(uint32_t masked) {
  uint32_t rotated = masked - 0xa282ead8u;
  return (rotated >> 17) | (rotated << 15);
}

#endif
