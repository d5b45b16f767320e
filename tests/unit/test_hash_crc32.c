/* Tests of sp_crc32_extend (core/hash.c), zip's CRC-32: the published check value, a bit-at-a-time
 * reference written from the definition, and zlib's crc32 for every length 0..4096 from
 * misaligned starts, with arbitrary incoming CRCs, split extends, and a buffer of 64 MiB, so the
 * PCLMULQDQ folding (taken from 256 bytes on CPUs that have it), its 64- and 16-byte loops and
 * its tails are all compared with zlib. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/hash.h"

/* The definition: reflected input and output, polynomial 0xEDB88320, pre- and post-inverted. */
static uint32_t crc32_bitwise(uint32_t crc, const uint8_t *bytes, size_t size) {
  crc = ~crc;
  for (size_t i = 0; i < size; i++) {
    crc ^= bytes[i];
    for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

/* Deterministic pseudo-random bytes (xorshift), so a failure reproduces. */
static uint8_t *random_bytes(size_t size, uint64_t seed) {
  uint8_t *bytes = malloc(size ? size : 1);
  cr_assert_not_null(bytes);
  uint64_t state = seed | 1;
  for (size_t i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    bytes[i] = (uint8_t)(state >> 24);
  }
  return bytes;
}

Test(hash_crc32, matches_the_published_check_value) {
  cr_assert_eq(sp_crc32_extend(0, "123456789", 9), 0xCBF43926u);
  cr_assert_eq(sp_crc32_extend(0, "", 0), 0u);
}

Test(hash_crc32, matches_the_bitwise_definition) {
  uint8_t *bytes = random_bytes(2048, 7);
  size_t lengths[] = {1, 15, 63, 64, 255, 256, 257, 319, 320, 1000, 2047};
  for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++)
    cr_assert_eq(sp_crc32_extend(0, bytes + 1, lengths[i]), crc32_bitwise(0, bytes + 1, lengths[i]),
                 "length %zu", lengths[i]);
  free(bytes);
}

Test(hash_crc32, matches_zlib_for_every_length_and_misaligned_start) {
  enum { LONGEST = 4096, STARTS = 16 };
  uint8_t *bytes = random_bytes(LONGEST + STARTS, 11);
  uint32_t incoming = 0;
  for (size_t length = 0; length <= LONGEST; length++) {
    size_t start = (length * 7) % STARTS;
    incoming = incoming * 2654435761u + (uint32_t)length; /* a different incoming CRC each time */
    uLong expected = crc32_z(incoming, bytes + start, length);
    cr_assert_eq(sp_crc32_extend(incoming, bytes + start, length), (uint32_t)expected, "length %zu from byte %zu",
                 length, start);
  }
  free(bytes);
}

Test(hash_crc32, extends_across_arbitrary_splits) {
  enum { SIZE = 10007 };
  uint8_t *bytes = random_bytes(SIZE, 13);
  uint32_t whole = (uint32_t)crc32_z(0, bytes, SIZE);
  for (size_t split = 0; split <= SIZE; split += 97) {
    uint32_t first = sp_crc32_extend(0, bytes, split);
    cr_assert_eq(sp_crc32_extend(first, bytes + split, SIZE - split), whole, "split at %zu", split);
  }
  free(bytes);
}

Test(hash_crc32, matches_zlib_on_uniform_buffers) {
  enum { SIZE = 4096 };
  uint8_t *bytes = malloc(SIZE);
  cr_assert_not_null(bytes);
  int fills[] = {0x00, 0xff, 0x5a};
  for (size_t f = 0; f < 3; f++) {
    memset(bytes, fills[f], SIZE);
    cr_assert_eq(sp_crc32_extend(0, bytes, SIZE), (uint32_t)crc32_z(0, bytes, SIZE), "fill %#x", fills[f]);
    cr_assert_eq(sp_crc32_extend(0xffffffffu, bytes, SIZE), (uint32_t)crc32_z(0xffffffffu, bytes, SIZE));
  }
  free(bytes);
}

Test(hash_crc32, matches_zlib_on_a_large_misaligned_buffer) {
  size_t size = (size_t)64 << 20;
  uint8_t *bytes = random_bytes(size + 3, 17);
  cr_assert_eq(sp_crc32_extend(0, bytes + 3, size), (uint32_t)crc32_z(0, bytes + 3, size));
  cr_assert_eq(sp_crc32_extend(0x12345678u, bytes + 1, size - 5), (uint32_t)crc32_z(0x12345678u, bytes + 1, size - 5));
  free(bytes);
}

Test(hash_crc32, combines_as_the_bitwise_definition_of_the_whole) {
  enum { SIZE = 50021 };
  uint8_t *bytes = random_bytes(SIZE, 19);
  uint32_t whole = crc32_bitwise(0, bytes, SIZE);
  for (size_t split = 0; split <= SIZE; split += 4999)
    cr_assert_eq(sp_crc32_combine(crc32_bitwise(0, bytes, split), crc32_bitwise(0, bytes + split, SIZE - split),
                                  SIZE - split), whole, "split at %zu", split);
  free(bytes);
}

Test(hash_crc32, of_a_file_range_matches_zlib_over_its_bytes) {
  enum { SIZE = (3 << 20) + 123 }; /* over the 1 MiB read buffer, not a whole number of it */
  uint8_t *bytes = random_bytes(SIZE, 23);
  char path[] = "/tmp/sp-crc-range-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  cr_assert_eq(write(fd, bytes, SIZE), SIZE);
  close(fd);
  uint32_t crc;
  cr_assert_eq(sp_crc32_file_range(path, 0, SIZE, &crc), SP_OK);
  cr_assert_eq(crc, (uint32_t)crc32_z(0, bytes, SIZE));
  cr_assert_eq(sp_crc32_file_range(path, 777, SIZE - 1000, &crc), SP_OK);
  cr_assert_eq(crc, (uint32_t)crc32_z(0, bytes + 777, SIZE - 1000));
  cr_assert_eq(sp_crc32_file_range(path, 10, SIZE, &crc), SP_ERROR_FORMAT, "a range past the end is refused");
  sp_clear_error();
  unlink(path);
  free(bytes);
}
