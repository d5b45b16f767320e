/* base64.c — RFC 4648 base64 encode and strict decode (see base64.h). */
#include "core/base64.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

sp_status sp_base64_encode(const void *data, size_t size, sp_buffer *out) {
  if (size == 0) return SP_OK;
  SP_TRY(sp_buffer_reserve(out, sp_base64_encoded_length(size)));
  const unsigned char *bytes = data;
  char *cursor = (char *)out->data + out->size;
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    uint32_t group = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];
    *cursor++ = alphabet[group >> 18 & 63];
    *cursor++ = alphabet[group >> 12 & 63];
    *cursor++ = alphabet[group >> 6 & 63];
    *cursor++ = alphabet[group & 63];
  }
  if (i < size) {
    uint32_t group = (uint32_t)bytes[i] << 16 | (i + 1 < size ? (uint32_t)bytes[i + 1] << 8 : 0);
    *cursor++ = alphabet[group >> 18 & 63];
    *cursor++ = alphabet[group >> 12 & 63];
    *cursor++ = i + 1 < size ? alphabet[group >> 6 & 63] : '=';
    *cursor++ = '=';
  }
  out->size = (size_t)((unsigned char *)cursor - out->data);
  return SP_OK;
}

static int digit_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

sp_status sp_base64_decode(const char *text, size_t length, unsigned char *out, size_t *size) {
  size_t padding = 0;
  while (padding < 2 && length > padding && text[length - 1 - padding] == '=') padding++;
  size_t digits = length - padding;
  uint32_t accumulator = 0;
  int bits = 0;
  size_t written = 0;
  /* Characters first, so a stray byte is reported where it is rather than as a bad length. */
  for (size_t i = 0; i < digits; i++) {
    int value = digit_value((unsigned char)text[i]);
    if (value < 0) {
      unsigned char c = (unsigned char)text[i];
      if (c >= 0x20 && c < 0x7f)
        return sp_fail(SP_ERROR_FORMAT, "base64 text: '%c' at offset %zu is not a base64 character", c, i);
      return sp_fail(SP_ERROR_FORMAT, "base64 text: byte 0x%02x at offset %zu is not a base64 character", c, i);
    }
    accumulator = accumulator << 6 | (uint32_t)value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[written++] = (unsigned char)(accumulator >> bits);
      accumulator &= (1u << bits) - 1;
    }
  }
  if (padding && length % 4 != 0)
    return sp_fail(SP_ERROR_FORMAT, "base64 text of %zu characters has padding but is not a multiple of 4", length);
  if (digits % 4 == 1)
    return sp_fail(SP_ERROR_FORMAT, "base64 text of %zu characters cannot encode whole bytes", length);
  if (accumulator != 0)
    return sp_fail(SP_ERROR_FORMAT, "base64 text: the last character carries bits past the end of the data");
  *size = written;
  return SP_OK;
}
