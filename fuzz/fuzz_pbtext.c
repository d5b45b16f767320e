/* fuzz_pbtext.c — libFuzzer target for the generic text-format parser and printer.
 *
 * The first byte picks a message type with nesting, repeated fields, enums, a oneof and every
 * integer width; the rest is parsed as text. An accepted message, printed and parsed again,
 * must pack to the same bytes, or the target aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "formats/pbtext.h"
#include "tensor_bundle.pb-c.h"
#include "trackable_object_graph.pb-c.h"

static void pack(const ProtobufCMessage *message, sp_buffer *out) {
  if (sp_buffer_reserve(out, protobuf_c_message_get_packed_size(message)) != SP_OK) abort();
  out->size = protobuf_c_message_pack(message, out->data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  static const ProtobufCMessageDescriptor *const types[] = {
      &tensorflow__trackable_object_graph__descriptor, &tensorflow__bundle_entry_proto__descriptor,
      &tensorflow__bundle_header_proto__descriptor};
  const ProtobufCMessageDescriptor *type = types[data[0] % 3];
  ProtobufCMessage *message;
  if (sp_pbtext_parse(type, (const char *)data + 1, size - 1, "fuzz", &message) != SP_OK) return 0;
  sp_buffer text = {0}, original = {0}, reparsed = {0};
  if (sp_pbtext_print(message, &text) != SP_OK) abort();
  ProtobufCMessage *again;
  if (sp_pbtext_parse(type, (const char *)text.data, text.size, "printed", &again) != SP_OK) abort();
  pack(message, &original);
  pack(again, &reparsed);
  if (original.size != reparsed.size || (original.size && memcmp(original.data, reparsed.data, original.size) != 0))
    abort();
  protobuf_c_message_free_unpacked(again, NULL);
  protobuf_c_message_free_unpacked(message, NULL);
  sp_buffer_free(&text);
  sp_buffer_free(&original);
  sp_buffer_free(&reparsed);
  return 0;
}
