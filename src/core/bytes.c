/* bytes.c — sp_reader and sp_buffer (see bytes.h). */
#include "core/bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"

static sp_status truncated(const sp_reader *reader, size_t needed) {
  return sp_fail(SP_ERROR_FORMAT, "%s: truncated at byte %zu: needed %zu more bytes, %zu remain",
                 reader->what ? reader->what : "data", reader->position, needed, sp_reader_remaining(reader));
}

sp_status sp_read_bytes(sp_reader *reader, size_t size, const uint8_t **bytes) {
  if (size > sp_reader_remaining(reader)) return truncated(reader, size);
  *bytes = reader->data + reader->position;
  reader->position += size;
  return SP_OK;
}

sp_status sp_reader_skip(sp_reader *reader, size_t size) {
  const uint8_t *ignored;
  return sp_read_bytes(reader, size, &ignored);
}

sp_status sp_read_u8(sp_reader *reader, uint8_t *value) {
  const uint8_t *bytes;
  SP_TRY(sp_read_bytes(reader, 1, &bytes));
  *value = bytes[0];
  return SP_OK;
}

sp_status sp_read_u32le(sp_reader *reader, uint32_t *value) {
  const uint8_t *bytes;
  SP_TRY(sp_read_bytes(reader, 4, &bytes));
  *value = sp_load_u32le(bytes);
  return SP_OK;
}

sp_status sp_read_u64le(sp_reader *reader, uint64_t *value) {
  const uint8_t *bytes;
  SP_TRY(sp_read_bytes(reader, 8, &bytes));
  *value = sp_load_u64le(bytes);
  return SP_OK;
}

sp_status sp_read_varint64(sp_reader *reader, uint64_t *value) {
  uint64_t result = 0;
  size_t start = reader->position;
  for (int shift = 0; shift < 64; shift += 7) {
    if (reader->position >= reader->size) return truncated(reader, 1);
    uint8_t byte = reader->data[reader->position++];
    if (shift == 63 && byte > 1) break;
    result |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *value = result;
      return SP_OK;
    }
  }
  return sp_fail(SP_ERROR_FORMAT, "%s: varint at byte %zu is longer than 10 bytes",
                 reader->what ? reader->what : "data", start);
}

sp_status sp_read_varint32(sp_reader *reader, uint32_t *value) {
  size_t start = reader->position;
  uint64_t wide;
  SP_TRY(sp_read_varint64(reader, &wide));
  if (wide > UINT32_MAX)
    return sp_fail(SP_ERROR_FORMAT, "%s: varint at byte %zu does not fit 32 bits",
                   reader->what ? reader->what : "data", start);
  *value = (uint32_t)wide;
  return SP_OK;
}

sp_status sp_buffer_reserve(sp_buffer *buffer, size_t extra) {
  if (extra > SIZE_MAX - buffer->size) return sp_fail(SP_ERROR_NO_MEMORY, "buffer would exceed SIZE_MAX");
  return sp_reserve((void **)&buffer->data, &buffer->capacity, buffer->size + extra, 1);
}

sp_status sp_buffer_append(sp_buffer *buffer, const void *data, size_t size) {
  if (size == 0) return SP_OK;
  SP_TRY(sp_buffer_reserve(buffer, size));
  memcpy(buffer->data + buffer->size, data, size);
  buffer->size += size;
  return SP_OK;
}

sp_status sp_buffer_append_text(sp_buffer *buffer, const char *text) {
  return sp_buffer_append(buffer, text, strlen(text));
}

sp_status sp_buffer_printf(sp_buffer *buffer, const char *format, ...) {
  va_list args;
  va_start(args, format);
  int length = vsnprintf(NULL, 0, format, args);
  va_end(args);
  if (length < 0) return sp_fail(SP_ERROR_INTERNAL, "bad format string '%s'", format);
  SP_TRY(sp_buffer_reserve(buffer, (size_t)length + 1));
  va_start(args, format);
  vsnprintf((char *)buffer->data + buffer->size, (size_t)length + 1, format, args);
  va_end(args);
  buffer->size += (size_t)length;
  return SP_OK;
}

sp_status sp_buffer_put_u8(sp_buffer *buffer, uint8_t value) { return sp_buffer_append(buffer, &value, 1); }

sp_status sp_buffer_put_u32le(sp_buffer *buffer, uint32_t value) {
  uint8_t bytes[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16), (uint8_t)(value >> 24)};
  return sp_buffer_append(buffer, bytes, 4);
}

sp_status sp_buffer_put_u64le(sp_buffer *buffer, uint64_t value) {
  SP_TRY(sp_buffer_put_u32le(buffer, (uint32_t)value));
  return sp_buffer_put_u32le(buffer, (uint32_t)(value >> 32));
}

sp_status sp_buffer_put_varint64(sp_buffer *buffer, uint64_t value) {
  uint8_t bytes[10];
  size_t length = 0;
  do {
    uint8_t byte = value & 0x7f;
    value >>= 7;
    bytes[length++] = byte | (value ? 0x80 : 0);
  } while (value);
  return sp_buffer_append(buffer, bytes, length);
}

uint8_t *sp_buffer_detach(sp_buffer *buffer, size_t *size) {
  uint8_t *data = buffer->data;
  if (size) *size = buffer->size;
  buffer->data = NULL;
  buffer->size = buffer->capacity = 0;
  return data;
}

void sp_buffer_free(sp_buffer *buffer) {
  free(buffer->data);
  buffer->data = NULL;
  buffer->size = buffer->capacity = 0;
}
