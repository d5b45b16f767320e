/* proto_read.c — guarded protobuf unpacking (see proto_read.h).
 *
 * The walk follows only fields the descriptor declares as messages; unknown fields and scalars are
 * skipped by their wire type, exactly as protobuf-c will treat them, so a message that passes the
 * walk unpacks with bounded recursion.
 */
#include "formats/proto_read.h"

#include <stdlib.h>

#include "core/bytes.h"
#include "core/file.h"

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LENGTH = 2, WIRE_FIXED32 = 5 };

static sp_status check_message(const ProtobufCMessageDescriptor *descriptor, const uint8_t *data, size_t size,
                               size_t base, int depth, const char *what);

static sp_status wire_error(const char *what, size_t offset, const char *problem) {
  return sp_fail(SP_ERROR_FORMAT, "%s: byte %zu: %s (not a valid %s)", what, offset, problem, "protobuf message");
}

static sp_status check_field(const ProtobufCFieldDescriptor *field, sp_reader *reader, unsigned wire, size_t base,
                             int depth, const char *what) {
  size_t offset = base + reader->position;
  uint64_t ignored;
  const uint8_t *bytes;
  switch (wire) {
    case WIRE_VARINT:
      if (sp_read_varint64(reader, &ignored) != SP_OK) return wire_error(what, offset, "truncated varint");
      return SP_OK;
    case WIRE_FIXED64:
      if (sp_reader_skip(reader, 8) != SP_OK) return wire_error(what, offset, "truncated 64-bit value");
      return SP_OK;
    case WIRE_FIXED32:
      if (sp_reader_skip(reader, 4) != SP_OK) return wire_error(what, offset, "truncated 32-bit value");
      return SP_OK;
    case WIRE_LENGTH: {
      uint64_t length;
      if (sp_read_varint64(reader, &length) != SP_OK) return wire_error(what, offset, "truncated length");
      if (length > sp_reader_remaining(reader)) return wire_error(what, offset, "length runs past the end");
      size_t start = base + reader->position;
      if (sp_read_bytes(reader, (size_t)length, &bytes) != SP_OK) return wire_error(what, offset, "truncated field");
      if (field && field->type == PROTOBUF_C_TYPE_MESSAGE)
        return check_message(field->descriptor, bytes, (size_t)length, start, depth + 1, what);
      return SP_OK;
    }
    default:
      return wire_error(what, offset, "unsupported wire type (groups are not used by TensorFlow)");
  }
}

static sp_status check_message(const ProtobufCMessageDescriptor *descriptor, const uint8_t *data, size_t size,
                               size_t base, int depth, const char *what) {
  if (depth > SP_PROTO_MAX_DEPTH)
    return sp_fail(SP_ERROR_UNSAFE, "%s: byte %zu: messages nested deeper than %d levels", what, base,
                   (int)SP_PROTO_MAX_DEPTH);
  sp_reader reader = sp_reader_make(data, size, what);
  while (sp_reader_remaining(&reader) > 0) {
    size_t offset = base + reader.position;
    uint64_t tag;
    if (sp_read_varint64(&reader, &tag) != SP_OK) return wire_error(what, offset, "truncated field tag");
    uint64_t number = tag >> 3;
    if (number == 0 || number > 536870911u) return wire_error(what, offset, "field number 0 or too large");
    const ProtobufCFieldDescriptor *field =
        descriptor ? protobuf_c_message_descriptor_get_field(descriptor, (unsigned)number) : NULL;
    SP_TRY(check_field(field, &reader, (unsigned)(tag & 7), base, depth, what));
  }
  return SP_OK;
}

sp_status sp_proto_unpack(const ProtobufCMessageDescriptor *descriptor, const uint8_t *data, size_t size,
                          const char *what, ProtobufCMessage **message) {
  *message = NULL;
  SP_TRY(check_message(descriptor, data, size, 0, 1, what));
  *message = protobuf_c_message_unpack(descriptor, NULL, size, data);
  if (!*message)
    return sp_fail(SP_ERROR_FORMAT, "%s: not a valid %s message (%zu bytes)", what, descriptor->name, size);
  return SP_OK;
}

sp_status sp_proto_read_file(const ProtobufCMessageDescriptor *descriptor, const char *path, size_t limit,
                             ProtobufCMessage **message) {
  uint8_t *data;
  size_t size;
  *message = NULL;
  SP_TRY(sp_read_file(path, limit, &data, &size));
  sp_status status = sp_proto_unpack(descriptor, data, size, path, message);
  free(data);
  return status;
}
