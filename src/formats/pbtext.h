/* pbtext.h — protobuf text format (the `checkpoint` state file, saved_model.pbtxt, TF Serving's
 * model config), generic over protobuf-c descriptors.
 *
 * Parsing accepts what TensorFlow's Python and C++ writers and people write by hand:
 * `field: value` and `field { … }` / `field < … >` (the colon is optional before a message),
 * repeated fields as repeated lines or `field: [a, b]`, enums by name or number, integers in
 * decimal, hex and octal, floats with exponents, an `f` suffix, inf/nan, bools as
 * true/false/t/f/1/0, adjacent strings concatenated, single or double quotes with C escapes
 * (\n \t \\ \' \" \NNN octal \xHH \uXXXX \UXXXXXXXX), `;` or `,` after a field, `#` comments,
 * and map fields as repeated {key value} entries. It refuses, naming the text, the line:column
 * and the field: unknown fields, a singular field given twice, two members of one oneof, values
 * out of range for the field, `[…]` extension/Any expansions, and nesting deeper than
 * SP_PBTEXT_MAX_DEPTH. The text is encoded to wire bytes guided by the descriptor and then
 * unpacked by protobuf-c, so the result is an ordinary protobuf-c message.
 *
 * Printing writes the style of TensorFlow's writers (Python text_format): fields in field-number
 * order, `name: value` lines, nested messages as `name {` … `}` indented by two spaces, strings
 * C-escaped with octal for bytes outside printable ASCII, doubles as Python's repr, floats as
 * their shortest round-tripping form. Unset proto3 scalars (zero) are not printed; unknown
 * fields are not printed.
 */
#ifndef SP_FORMATS_PBTEXT_H
#define SP_FORMATS_PBTEXT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "core/bytes.h"
#include "core/status.h"

enum { SP_PBTEXT_MAX_DEPTH = 100 };

/* Parses text[0..length) as a message of the given type; what names the text in errors
 * ("'/ckpt/checkpoint'"). Free the result with protobuf_c_message_free_unpacked(message, NULL). */
sp_status sp_pbtext_parse(const ProtobufCMessageDescriptor *descriptor, const char *text, size_t length,
                          const char *what, ProtobufCMessage **message) SP_MUST_CHECK;

/* Appends the text form of message to out. */
sp_status sp_pbtext_print(const ProtobufCMessage *message, sp_buffer *out) SP_MUST_CHECK;

#endif
