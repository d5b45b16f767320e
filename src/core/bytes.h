/* bytes.h — bounds-checked reading of binary data and a growable byte buffer.
 *
 * Every parser of an on-disk format reads through sp_reader, so no size, offset or
 * count taken from a file is used before it is checked against the bytes that exist.
 * Integers are little-endian; varints are LEB128 as in protobuf and LevelDB.
 */
#ifndef SP_CORE_BYTES_H
#define SP_CORE_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct sp_reader {
  const uint8_t *data;
  size_t size;
  size_t position;
  const char *what; /* names the data in error messages, e.g. "index block 'x.index'" */
} sp_reader;

static inline sp_reader sp_reader_make(const void *data, size_t size, const char *what) {
  sp_reader reader = {(const uint8_t *)data, size, 0, what};
  return reader;
}
static inline size_t sp_reader_remaining(const sp_reader *reader) { return reader->size - reader->position; }

sp_status sp_read_u8(sp_reader *reader, uint8_t *value) SP_MUST_CHECK;
sp_status sp_read_u32le(sp_reader *reader, uint32_t *value) SP_MUST_CHECK;
sp_status sp_read_u64le(sp_reader *reader, uint64_t *value) SP_MUST_CHECK;
sp_status sp_read_varint32(sp_reader *reader, uint32_t *value) SP_MUST_CHECK;
sp_status sp_read_varint64(sp_reader *reader, uint64_t *value) SP_MUST_CHECK;
/* Points *bytes at the next size bytes (no copy) and advances. */
sp_status sp_read_bytes(sp_reader *reader, size_t size, const uint8_t **bytes) SP_MUST_CHECK;
sp_status sp_reader_skip(sp_reader *reader, size_t size) SP_MUST_CHECK;

static inline uint16_t sp_load_u16le(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t sp_load_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t sp_load_u64le(const uint8_t *p) {
  return (uint64_t)sp_load_u32le(p) | (uint64_t)sp_load_u32le(p + 4) << 32;
}
static inline void sp_store_u16le(uint8_t *p, uint16_t value) {
  p[0] = (uint8_t)value;
  p[1] = (uint8_t)(value >> 8);
}
static inline void sp_store_u32le(uint8_t *p, uint32_t value) {
  sp_store_u16le(p, (uint16_t)value);
  sp_store_u16le(p + 2, (uint16_t)(value >> 16));
}

typedef struct sp_buffer {
  uint8_t *data;
  size_t size;
  size_t capacity;
} sp_buffer;

sp_status sp_buffer_reserve(sp_buffer *buffer, size_t extra) SP_MUST_CHECK;
sp_status sp_buffer_append(sp_buffer *buffer, const void *data, size_t size) SP_MUST_CHECK;
sp_status sp_buffer_append_text(sp_buffer *buffer, const char *text) SP_MUST_CHECK;
sp_status sp_buffer_printf(sp_buffer *buffer, const char *format, ...) SP_PRINTF(2, 3) SP_MUST_CHECK;
sp_status sp_buffer_put_u8(sp_buffer *buffer, uint8_t value) SP_MUST_CHECK;
sp_status sp_buffer_put_u32le(sp_buffer *buffer, uint32_t value) SP_MUST_CHECK;
sp_status sp_buffer_put_u64le(sp_buffer *buffer, uint64_t value) SP_MUST_CHECK;
sp_status sp_buffer_put_varint64(sp_buffer *buffer, uint64_t value) SP_MUST_CHECK;
/* Takes the bytes out (caller frees) and leaves the buffer empty. */
uint8_t *sp_buffer_detach(sp_buffer *buffer, size_t *size);
void sp_buffer_free(sp_buffer *buffer);

#endif
