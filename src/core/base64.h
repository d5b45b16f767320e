/* base64.h — RFC 4648 base64 (standard alphabet), as TF Serving's REST API carries binary
 * strings ({"b64": "..."}) and as JSON protobuf renders bytes fields.
 *
 * Decoding is strict about the alphabet (no whitespace, no URL-safe characters mixed in) and
 * bounds-checked; trailing '=' padding is optional, as absl::Base64Unescape allows it, but
 * padding in the middle and impossible lengths are refused.
 */
#ifndef SP_CORE_BASE64_H
#define SP_CORE_BASE64_H

#include <stddef.h>

#include "core/bytes.h"
#include "core/status.h"

/* Bytes needed to encode size bytes (without a NUL). */
static inline size_t sp_base64_encoded_length(size_t size) { return (size + 2) / 3 * 4; }
/* Upper bound on the bytes text of this length decodes to. */
static inline size_t sp_base64_decoded_capacity(size_t length) { return length / 4 * 3 + 3; }

/* Appends the base64 text of data to out. */
sp_status sp_base64_encode(const void *data, size_t size, sp_buffer *out) SP_MUST_CHECK;

/* Decodes text[0..length) into out (at least sp_base64_decoded_capacity(length) bytes);
 * *size receives the decoded length. Invalid text is an SP_ERROR_FORMAT naming the byte offset. */
sp_status sp_base64_decode(const char *text, size_t length, unsigned char *out, size_t *size) SP_MUST_CHECK;

#endif
