/* proto_read.h — unpacking binary protobuf messages from untrusted bytes.
 *
 * protobuf-c validates the wire format but recurses once per nesting level without a limit, so a
 * few kilobytes of nested length prefixes could exhaust the stack. sp_proto_unpack first walks the
 * wire format against the message descriptors, refusing nesting deeper than SP_PROTO_MAX_DEPTH and
 * any length or tag that runs past the data (with the byte offset), and only then unpacks.
 */
#ifndef SP_FORMATS_PROTO_READ_H
#define SP_FORMATS_PROTO_READ_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

enum { SP_PROTO_MAX_DEPTH = 100 };

/* Checks and unpacks data as a message of descriptor's type; what names the data in errors.
 * Free the result with protobuf_c_message_free_unpacked(message, NULL). */
sp_status sp_proto_unpack(const ProtobufCMessageDescriptor *descriptor, const uint8_t *data, size_t size,
                          const char *what, ProtobufCMessage **message) SP_MUST_CHECK;

/* Reads path (refusing files over limit bytes) and unpacks it with sp_proto_unpack. */
sp_status sp_proto_read_file(const ProtobufCMessageDescriptor *descriptor, const char *path, size_t limit,
                             ProtobufCMessage **message) SP_MUST_CHECK;

#endif
