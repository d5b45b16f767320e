/* Tests of src/formats/pbtext.
 *
 * The reference for parsing is protoc (Debian protobuf-compiler): for each text, the bytes of
 * our parsed message must equal `protoc --encode` of the same text with the same .proto files.
 * The reference for printing is `protoc --decode` (C++ TextFormat) for messages without
 * doubles, and Python text_format's rules (repr of doubles) spelled out for CheckpointState.
 * Errors must carry line:column and the field; nesting is capped. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_state.pb-c.h"
#include "core/bytes.h"
#include "core/file.h"
#include "core/memory.h"
#include "formats/pbtext.h"
#include "formats/tf_bundle.h"
#include "tensor_bundle.pb-c.h"
#include "test_support.h"
#include "trackable_object_graph.pb-c.h"

static ProtobufCMessage *parse_ok(const ProtobufCMessageDescriptor *descriptor, const char *text) {
  ProtobufCMessage *message;
  SP_ASSERT_OK(sp_pbtext_parse(descriptor, text, strlen(text), "test", &message));
  return message;
}

static sp_status parse(const ProtobufCMessageDescriptor *descriptor, const char *text) {
  ProtobufCMessage *message = NULL;
  sp_status status = sp_pbtext_parse(descriptor, text, strlen(text), "config.pbtxt", &message);
  if (message) protobuf_c_message_free_unpacked(message, NULL);
  return status;
}

static void pack(const ProtobufCMessage *message, sp_buffer *out) {
  out->size = 0;
  cr_assert_eq(sp_buffer_reserve(out, protobuf_c_message_get_packed_size(message)), SP_OK);
  out->size = protobuf_c_message_pack(message, out->data);
}

static int have_protoc(void) { return system("protoc --version > /dev/null 2>&1") == 0; }

/* Runs protoc with text (or bytes) on stdin and returns its stdout. */
static void run_protoc(const char *arguments, const void *input, size_t size, sp_buffer *output) {
  char *directory = sp_test_temp_dir("pbtext-protoc");
  char *in = sp_path_join(directory, "in"), *proto_path = sp_test_source_path("src/formats/proto");
  FILE *file = fopen(in, "wb");
  cr_assert_eq(fwrite(input, 1, size, file), size);
  fclose(file);
  char *command = sp_strdupf("protoc --proto_path='%s' %s < '%s'", proto_path, arguments, in);
  FILE *pipe = popen(command, "r");
  cr_assert_not_null(pipe);
  output->size = 0;
  char chunk[4096];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, pipe)) > 0) cr_assert_eq(sp_buffer_append(output, chunk, got), SP_OK);
  cr_assert_eq(pclose(pipe), 0, "protoc failed: %s", command);
  free(command);
  free(proto_path);
  free(in);
  free(directory);
}

/* Our parse of text must pack to the bytes protoc --encode makes of it. */
static void assert_encodes_like_protoc(const ProtobufCMessageDescriptor *descriptor, const char *proto_file,
                                       const char *text) {
  ProtobufCMessage *message = parse_ok(descriptor, text);
  sp_buffer ours = {0}, theirs = {0};
  pack(message, &ours);
  char *arguments = sp_strdupf("--encode=%s %s", descriptor->name, proto_file);
  run_protoc(arguments, text, strlen(text), &theirs);
  cr_assert_eq(ours.size, theirs.size, "%s: %zu bytes, protoc gives %zu for:\n%s", descriptor->name, ours.size,
               theirs.size, text);
  cr_assert_eq(memcmp(ours.data, theirs.data, ours.size), 0, "%s: bytes differ from protoc for:\n%s", descriptor->name,
               text);
  free(arguments);
  sp_buffer_free(&ours);
  sp_buffer_free(&theirs);
  protobuf_c_message_free_unpacked(message, NULL);
}

Test(pbtext, parses_like_protoc) {
  if (!have_protoc()) cr_skip_test("protoc (protobuf-compiler) is not installed");
  assert_encodes_like_protoc(&tensorflow__checkpoint_state__descriptor, "checkpoint_state.proto",
                             "# written by hand\n"
                             "model_checkpoint_path: \"ckpt-2\"\n"
                             "all_model_checkpoint_paths: \"ckpt-1\"\n"
                             "all_model_checkpoint_paths: 'ckpt-2'  # single quotes\n"
                             "all_model_checkpoint_timestamps: [1700000000.5, 1.7e9, 17E8, inf, -inf, 3, -0.25, .5]\n"
                             "all_model_checkpoint_timestamps: 2.5e-3;\n"
                             "last_preserved_timestamp: 1699999999.25,\n");
  assert_encodes_like_protoc(&tensorflow__trackable_object_graph__descriptor, "trackable_object_graph.proto",
                             "nodes {\n"
                             "  children { node_id: 1 local_name: \"a\" }\n"
                             "  children < local_name: 'b\\n\\t\\\\\\\"\\'' node_id: 0x2 >\n"
                             "  children: [{node_id: 03}, {local_name: \"\\101\\x41\\u00e9\\U0001F600\" \"+\" 'more'}]\n"
                             "}\n"
                             "nodes {\n"
                             "  attributes { name: \"VARIABLE_VALUE\" checkpoint_key: \"a/.ATTRIBUTES/VARIABLE_VALUE\""
                             " optional_restore: t }\n"
                             "  slot_variables { original_variable_node_id: -7 slot_name: \"m\" }\n"
                             "  registered_saver { name: \"saver\" }\n"
                             "  has_checkpoint_values { value: True }\n"
                             "}\n"
                             "nodes: {}\n");
  assert_encodes_like_protoc(&tensorflow__bundle_entry_proto__descriptor, "tensor_bundle.proto",
                             "dtype: DT_STRING shape { dim { size: 2 } dim { size: -1 name: \"x\" } unknown_rank: false }\n"
                             "shard_id: 0x10 offset: 017 size: 9223372036854775807 crc32c: 4294967295\n"
                             "slices { extent { start: 1 length: 2 } extent { start: 3 } }\n"
                             "slices { }\n");
  assert_encodes_like_protoc(&tensorflow__bundle_header_proto__descriptor, "tensor_bundle.proto",
                             "num_shards: -2147483648 endianness: BIG version { producer: 1 bad_consumers: [1, 2] }");
  assert_encodes_like_protoc(&tensorflow__bundle_entry_proto__descriptor, "tensor_bundle.proto",
                             "dtype: 9 offset: -9223372036854775808 shard_id: 2147483647");
}

Test(pbtext, prints_checkpoint_state_as_tensorflow_python_does) {
  ProtobufCMessage *message = parse_ok(&tensorflow__checkpoint_state__descriptor,
                                       "last_preserved_timestamp: 1699999999.25 all_model_checkpoint_paths: 'ckpt-1'\n"
                                       "model_checkpoint_path: 'dir/ckpt-2' all_model_checkpoint_paths: 'dir/ckpt-2'\n"
                                       "all_model_checkpoint_timestamps: [1.7e9, 1700000000.123456, 1e-07, 1e16, nan]");
  sp_buffer text = {0};
  SP_ASSERT_OK(sp_pbtext_print(message, &text));
  cr_assert_eq(sp_buffer_put_u8(&text, 0), SP_OK);
  /* Python text_format: field-number order, str() of doubles. */
  cr_assert_str_eq((const char *)text.data,
                   "model_checkpoint_path: \"dir/ckpt-2\"\n"
                   "all_model_checkpoint_paths: \"ckpt-1\"\n"
                   "all_model_checkpoint_paths: \"dir/ckpt-2\"\n"
                   "all_model_checkpoint_timestamps: 1700000000.0\n"
                   "all_model_checkpoint_timestamps: 1700000000.123456\n"
                   "all_model_checkpoint_timestamps: 1e-07\n"
                   "all_model_checkpoint_timestamps: 1e+16\n"
                   "all_model_checkpoint_timestamps: nan\n"
                   "last_preserved_timestamp: 1699999999.25\n");
  sp_buffer_free(&text);
  protobuf_c_message_free_unpacked(message, NULL);
}

static sp_buffer fixture_object_graph(void) {
  char *path = sp_test_fixture("tf-keras-save-weights-tf-format/training_2/cp-0000.ckpt.index");
  path[strlen(path) - strlen(".index")] = '\0';
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(path, &reader));
  sp_tensor *tensor;
  SP_ASSERT_OK(sp_bundle_read(reader, "_CHECKPOINTABLE_OBJECT_GRAPH", &tensor));
  sp_buffer bytes = {0};
  const sp_string *graph = tensor->data;
  cr_assert_eq(sp_buffer_append(&bytes, graph->bytes, graph->length), SP_OK);
  sp_tensor_free(tensor);
  sp_bundle_close(reader);
  free(path);
  return bytes;
}

Test(pbtext, object_graph_prints_like_protoc_and_round_trips) {
  sp_buffer bytes = fixture_object_graph();
  ProtobufCMessage *graph = protobuf_c_message_unpack(&tensorflow__trackable_object_graph__descriptor, NULL, bytes.size,
                                                      bytes.data);
  cr_assert_not_null(graph);
  sp_buffer text = {0}, packed = {0}, repacked = {0};
  SP_ASSERT_OK(sp_pbtext_print(graph, &text));
  if (have_protoc()) {
    sp_buffer theirs = {0};
    run_protoc("--decode=tensorflow.TrackableObjectGraph trackable_object_graph.proto", bytes.data, bytes.size, &theirs);
    cr_assert_eq(text.size, theirs.size, "printed %zu bytes, protoc --decode prints %zu", text.size, theirs.size);
    cr_assert_eq(memcmp(text.data, theirs.data, text.size), 0, "our text differs from protoc --decode");
    sp_buffer_free(&theirs);
  }
  ProtobufCMessage *back;
  SP_ASSERT_OK(sp_pbtext_parse(&tensorflow__trackable_object_graph__descriptor, (const char *)text.data, text.size,
                               "printed", &back));
  pack(graph, &packed);
  pack(back, &repacked);
  cr_assert_eq(packed.size, repacked.size);
  cr_assert_eq(memcmp(packed.data, repacked.data, packed.size), 0);
  protobuf_c_message_free_unpacked(back, NULL);
  protobuf_c_message_free_unpacked(graph, NULL);
  sp_buffer_free(&text);
  sp_buffer_free(&packed);
  sp_buffer_free(&repacked);
  sp_buffer_free(&bytes);
}

Test(pbtext, escapes_decode_and_print_back) {
  Tensorflow__CheckpointState *state = (Tensorflow__CheckpointState *)parse_ok(
      &tensorflow__checkpoint_state__descriptor,
      "model_checkpoint_path: \"a\\\"b\\'c\\\\d\\n\\t\\r\\a\\b\\f\\v\\?\\101\\x42\\x4\\7\\u00e9\\U0001F600\" 'x' \"\"");
  const char expected[] = "a\"b'c\\d\n\t\r\a\b\f\v?AB\x04\x07\xc3\xa9\xf0\x9f\x98\x80x";
  cr_assert_str_eq(state->model_checkpoint_path, expected);
  sp_buffer text = {0};
  SP_ASSERT_OK(sp_pbtext_print(&state->base, &text));
  cr_assert_eq(sp_buffer_put_u8(&text, 0), SP_OK);
  cr_assert_str_eq((const char *)text.data,
                   "model_checkpoint_path: \"a\\\"b\\'c\\\\d\\n\\t\\r\\007\\010\\014\\013?AB\\004\\007"
                   "\\303\\251\\360\\237\\230\\200x\"\n");
  sp_buffer_free(&text);
  protobuf_c_message_free_unpacked(&state->base, NULL);
}

Test(pbtext, errors_name_line_column_and_field) {
  const ProtobufCMessageDescriptor *state = &tensorflow__checkpoint_state__descriptor;
  SP_ASSERT_FAILS(parse(state, "model_checkpoint_path: \"a\"\n  bogus: 1\n"), SP_ERROR_FORMAT,
                  "config.pbtxt:2:3: tensorflow.CheckpointState has no field named 'bogus'");
  SP_ASSERT_FAILS(parse(state, "model_checkpoint_path: \"a\"\nmodel_checkpoint_path: \"b\""), SP_ERROR_FORMAT,
                  "config.pbtxt:2:1: field 'model_checkpoint_path' of tensorflow.CheckpointState is not repeated but is given twice");
  SP_ASSERT_FAILS(parse(state, "last_preserved_timestamp: abc"), SP_ERROR_FORMAT,
                  "config.pbtxt:1:27: field 'last_preserved_timestamp' of tensorflow.CheckpointState: expected a number, found 'abc'");
  SP_ASSERT_FAILS(parse(state, "\n\nmodel_checkpoint_path: \"abc\n\""), SP_ERROR_FORMAT,
                  "config.pbtxt:3:24: string is not closed on its line");
  SP_ASSERT_FAILS(parse(state, "model_checkpoint_path \"a\""), SP_ERROR_FORMAT, "1:23: field 'model_checkpoint_path' of "
                  "tensorflow.CheckpointState: expected ':' after the name, found '\"a\"'");
  SP_ASSERT_FAILS(parse(state, "model_checkpoint_path: [\"a\"]"), SP_ERROR_FORMAT, "a list '[…]' needs a repeated field");
  SP_ASSERT_FAILS(parse(state, "all_model_checkpoint_paths: [\"a\" \"b\" 'c', \"d\""), SP_ERROR_FORMAT,
                  "expected ',' or ']' in the list, found the end of the text");
  SP_ASSERT_FAILS(parse(state, "model_checkpoint_path: \"\\q\""), SP_ERROR_FORMAT, "unknown escape");
  SP_ASSERT_FAILS(parse(state, "model_checkpoint_path: \"\\400\""), SP_ERROR_FORMAT, "above \\377");
  SP_ASSERT_FAILS(parse(state, "model_checkpoint_path: \"\\u12\""), SP_ERROR_FORMAT, "malformed hex or unicode escape");
  SP_ASSERT_FAILS(parse(state, "model_checkpoint_path: \"\\ud800\""), SP_ERROR_FORMAT, "not a code point");
  SP_ASSERT_FAILS(parse(state, "model_checkpoint_path: 5"), SP_ERROR_FORMAT, "expected a quoted string, found '5'");
  SP_ASSERT_FAILS(parse(state, "model_checkpoint_path: \"a\" @"), SP_ERROR_FORMAT, "1:28: unexpected character '@'");
  SP_ASSERT_FAILS(parse(state, "[type.googleapis.com/tensorflow.CheckpointState] {}"), SP_ERROR_FORMAT,
                  "1:1: extensions and Any expansions");
  SP_ASSERT_FAILS(parse(state, "model_checkpoint_path: \"a\" }"), SP_ERROR_FORMAT, "expected a field name of tensorflow.CheckpointState, found '}'");

  const ProtobufCMessageDescriptor *entry = &tensorflow__bundle_entry_proto__descriptor;
  SP_ASSERT_FAILS(parse(entry, "shard_id: 2147483648"), SP_ERROR_FORMAT, "field 'shard_id' of tensorflow.BundleEntryProto: integer is out of range");
  SP_ASSERT_FAILS(parse(entry, "offset: -9223372036854775809"), SP_ERROR_FORMAT, "integer is out of range");
  SP_ASSERT_FAILS(parse(entry, "size: 99999999999999999999"), SP_ERROR_FORMAT, "expected an integer");
  SP_ASSERT_FAILS(parse(entry, "crc32c: -1"), SP_ERROR_FORMAT, "expected a non-negative integer");
  SP_ASSERT_FAILS(parse(entry, "crc32c: 1.5"), SP_ERROR_FORMAT, "expected an integer, found '1.5'");
  SP_ASSERT_FAILS(parse(entry, "dtype: DT_NOPE"), SP_ERROR_FORMAT, "expected a value of enum tensorflow.DataType, found 'DT_NOPE'");
  SP_ASSERT_FAILS(parse(entry, "shape { dim { size: 1 }\n"), SP_ERROR_FORMAT, "2:1: tensorflow.TensorShapeProto is not closed: expected '}'");
  SP_ASSERT_FAILS(parse(entry, "shape { dim { size: 1 > }"), SP_ERROR_FORMAT, "expected a field name of tensorflow.TensorShapeProto.Dim, found '>'");
  SP_ASSERT_FAILS(parse(entry, "shape: 5"), SP_ERROR_FORMAT, "expected '{' or '<' to open the message");
  SP_ASSERT_FAILS(parse(&tensorflow__trackable_object_graph__descriptor, "nodes { attributes { optional_restore: yes } }"),
                  SP_ERROR_FORMAT, "expected true or false, found 'yes'");
}

/* A recursive test message, Node { Node child = 1; float ratio = 2; sint64 count = 3; fixed64 tag = 4; },
 * described by hand because none of the project's messages nests itself. */
typedef struct node_message {
  ProtobufCMessage base;
  struct node_message *child;
  float ratio;
  int64_t count;
  uint64_t tag;
} node_message;

static const ProtobufCMessageDescriptor node_descriptor;

static void node_init(ProtobufCMessage *message) {
  node_message blank = {PROTOBUF_C_MESSAGE_INIT(&node_descriptor), NULL, 0, 0, 0};
  *(node_message *)message = blank;
}

static const ProtobufCFieldDescriptor node_fields[] = {
    {"child", 1, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_MESSAGE, 0, offsetof(node_message, child), &node_descriptor,
     NULL, 0, 0, NULL, NULL},
    {"ratio", 2, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_FLOAT, 0, offsetof(node_message, ratio), NULL, NULL, 0, 0, NULL,
     NULL},
    {"count", 3, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_SINT64, 0, offsetof(node_message, count), NULL, NULL, 0, 0, NULL,
     NULL},
    {"tag", 4, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_FIXED64, 0, offsetof(node_message, tag), NULL, NULL, 0, 0, NULL,
     NULL},
};
static const unsigned node_fields_by_name[] = {0, 2, 1, 3}; /* child, count, ratio, tag */
static const ProtobufCIntRange node_ranges[] = {{1, 0}, {0, 4}};
static const ProtobufCMessageDescriptor node_descriptor = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "test.Node", "Node", "Test__Node", "test", sizeof(node_message), 4,
    node_fields, node_fields_by_name, 1, node_ranges, node_init, NULL, NULL, NULL};

static char *nested_text(int depth) {
  sp_buffer text = {0};
  for (int i = 0; i < depth; i++) cr_assert_eq(sp_buffer_append_text(&text, "child { "), SP_OK);
  cr_assert_eq(sp_buffer_append_text(&text, "count: -3"), SP_OK);
  for (int i = 0; i < depth; i++) cr_assert_eq(sp_buffer_append_text(&text, " }"), SP_OK);
  cr_assert_eq(sp_buffer_put_u8(&text, 0), SP_OK);
  return (char *)sp_buffer_detach(&text, NULL);
}

Test(pbtext, nesting_is_capped) {
  char *deep = nested_text(SP_PBTEXT_MAX_DEPTH);
  node_message *node = (node_message *)parse_ok(&node_descriptor, deep);
  const node_message *innermost = node;
  for (int i = 0; i < SP_PBTEXT_MAX_DEPTH; i++) innermost = innermost->child;
  cr_assert_eq(innermost->count, -3);
  protobuf_c_message_free_unpacked(&node->base, NULL);
  free(deep);
  char *too_deep = nested_text(SP_PBTEXT_MAX_DEPTH + 1);
  SP_ASSERT_FAILS(parse(&node_descriptor, too_deep), SP_ERROR_FORMAT, "nested deeper than 100 levels");
  free(too_deep);
  char *hostile = sp_alloc(200001);
  memset(hostile, '{', 200000);
  hostile[200000] = '\0';
  memcpy(hostile, "child ", 6);
  SP_ASSERT_FAILS(parse(&node_descriptor, hostile), SP_ERROR_FORMAT, "expected a field name of test.Node");
  free(hostile);
}

static void assert_prints(const char *text, const char *expected) {
  ProtobufCMessage *message = parse_ok(&node_descriptor, text);
  sp_buffer out = {0};
  SP_ASSERT_OK(sp_pbtext_print(message, &out));
  cr_assert_eq(sp_buffer_put_u8(&out, 0), SP_OK);
  cr_assert_str_eq((const char *)out.data, expected, "printing '%s'", text);
  sp_buffer_free(&out);
  protobuf_c_message_free_unpacked(message, NULL);
}

Test(pbtext, floats_print_shortest_and_other_types_round_trip) {
  /* Python text_format prints a float field as str() of its shortest float32 digits. */
  assert_prints("ratio: 0.1", "ratio: 0.1\n");
  assert_prints("ratio: 3", "ratio: 3.0\n");
  assert_prints("ratio: 1e-7f", "ratio: 1e-07\n");
  assert_prints("ratio: 16777216", "ratio: 16777216.0\n");
  assert_prints("ratio: 1e20", "ratio: 1e+20\n");
  assert_prints("ratio: -inf", "ratio: -inf\n");
  assert_prints("ratio: 0.333333333333", "ratio: 0.33333334\n");
  assert_prints("count: -9223372036854775808 tag: 0xffffffffffffffff", "count: -9223372036854775808\ntag: 18446744073709551615\n");
  assert_prints("child { child < ratio: 2.5 > } ratio: 0", "child {\n  child {\n    ratio: 2.5\n  }\n}\n");
  assert_prints("", "");
}
