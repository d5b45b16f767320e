/* Tests of src/formats/tf_bundle.
 *
 * References: every bundle in the fixtures is compared with its listing in PROVENANCE.md
 * Appendix B (parsed from the appendix text at test time: names, dtypes, shapes, shards,
 * offsets, sizes and values); the expected values stated in the PROVENANCE sections; the
 * TrackableObjectGraph facts of formats.md §4.7; the fixture's own data and index files for
 * the writer (byte for byte); `protoc --decode_raw` for every index entry we write; and
 * round trips of every dtype, multi-shard bundles and damaged or crafted files. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/memory.h"
#include "formats/sstable.h"
#include "formats/tf_bundle.h"
#include "tensor_bundle.pb-c.h"
#include "test_support.h"
#include "trackable_object_graph.pb-c.h"

/* ---------- small helpers ---------- */

static sp_tensor *patterned_tensor(sp_dtype dtype, int rank, const int64_t *shape, unsigned seed);

static char *fixture_prefix(const char *relative) {
  char *index = sp_strdupf("%s.index", relative);
  char *path = sp_test_fixture(index); /* skips when fixtures are absent */
  free(index);
  path[strlen(path) - strlen(".index")] = '\0';
  return path;
}

/* Opens a fixture bundle by its prefix relative to the fixtures folder. */
static sp_bundle_reader *open_fixture(const char *relative) {
  char *prefix = fixture_prefix(relative);
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  free(prefix);
  return reader;
}

static sp_tensor *read_tensor(sp_bundle_reader *reader, const char *key) {
  sp_tensor *tensor;
  SP_ASSERT_OK(sp_bundle_read(reader, key, &tensor));
  return tensor;
}

static void copy_file(const char *from, const char *to) {
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_read_file(from, 1 << 26, &data, &size));
  FILE *file = fopen(to, "wb");
  cr_assert_not_null(file);
  cr_assert_eq(fwrite(data, 1, size, file), size);
  fclose(file);
  free(data);
}

static void write_bytes(const char *path, const void *data, size_t size) {
  FILE *file = fopen(path, "wb");
  cr_assert_not_null(file);
  cr_assert_eq(fwrite(data, 1, size, file), size);
  fclose(file);
}

/* Copies a fixture bundle (index + single data file) into a temporary directory. */
static char *copy_bundle(const char *relative, const char *test_name) {
  char *source = fixture_prefix(relative);
  char *directory = sp_test_temp_dir(test_name);
  char *prefix = sp_path_join(directory, "copy");
  const char *suffixes[] = {".index", ".data-00000-of-00001"};
  for (int i = 0; i < 2; i++) {
    char *from = sp_strdupf("%s%s", source, suffixes[i]), *to = sp_strdupf("%s%s", prefix, suffixes[i]);
    copy_file(from, to);
    free(from);
    free(to);
  }
  free(source);
  free(directory);
  return prefix;
}

static void flip_byte(const char *path, long offset) {
  FILE *file = fopen(path, "r+b");
  cr_assert_not_null(file);
  cr_assert_eq(fseek(file, offset, SEEK_SET), 0);
  int byte = fgetc(file);
  cr_assert_neq(byte, EOF);
  cr_assert_eq(fseek(file, offset, SEEK_SET), 0);
  fputc(byte ^ 0x20, file);
  fclose(file);
}

/* ---------- Appendix B of PROVENANCE.md ---------- */

/* Parses one Python bytes literal (b'...' or b"...") at *cursor; a trailing "...(N bytes)"
 * inside it means "only a prefix is shown; the whole string has N bytes". */
static void parse_python_bytes(const char **cursor, sp_buffer *out, long *total) {
  const char *p = *cursor;
  while (*p == ' ' || *p == ',') p++;
  cr_assert_eq(p[0], 'b', "bytes literal expected at '%.20s'", p);
  char quote = p[1];
  p += 2;
  out->size = 0;
  while (*p && *p != quote) {
    uint8_t byte = (uint8_t)*p++;
    if (byte == '\\') {
      char escape = *p++;
      switch (escape) {
        case 'n': byte = '\n'; break;
        case 'r': byte = '\r'; break;
        case 't': byte = '\t'; break;
        case 'x': {
          char hex[3] = {p[0], p[1], 0};
          byte = (uint8_t)strtoul(hex, NULL, 16);
          p += 2;
          break;
        }
        default: byte = (uint8_t)escape; break;
      }
    }
    cr_assert_eq(sp_buffer_put_u8(out, byte), SP_OK);
  }
  cr_assert_eq(*p, quote);
  *cursor = p + 1;
  cr_assert_eq(sp_buffer_put_u8(out, 0), SP_OK); /* terminated for strtol below, not counted */
  out->size--;
  *total = -1;
  static const char marker[] = "...(";
  for (size_t i = 0; out->size > sizeof marker && i + sizeof marker - 1 <= out->size; i++) {
    if (memcmp(out->data + i, marker, sizeof marker - 1) == 0) {
      *total = strtol((const char *)out->data + i + 4, NULL, 10);
      out->size = i;
      break;
    }
  }
}

/* The rounding of a printed number: half a unit in its last printed digit. */
static double printed_tolerance(const char *text) {
  const char *dot = strchr(text, '.');
  const char *exponent = strpbrk(text, "eE");
  int decimals = 0;
  if (dot)
    for (const char *d = dot + 1; *d >= '0' && *d <= '9'; d++) decimals++;
  double tolerance = 0.5 * pow(10.0, -decimals);
  if (exponent) tolerance *= pow(10.0, atof(exponent + 1));
  return tolerance * 1.0001;
}

static void check_numbers(const char *key, const sp_tensor *tensor, const char *list) {
  char *copy = sp_strdup(list), *save = NULL;
  int64_t index = 0;
  for (char *token = strtok_r(copy, ",", &save); token; token = strtok_r(NULL, ",", &save), index++) {
    while (*token == ' ') token++;
    cr_assert_lt(index, sp_tensor_count(tensor), "%s: more listed values than elements", key);
    double expected = strtod(token, NULL), actual = sp_tensor_get_double(tensor, index);
    cr_assert(fabs(actual - expected) <= printed_tolerance(token), "%s[%lld] = %.9g, appendix says %s", key,
              (long long)index, actual, token);
  }
  cr_assert_gt(index, 0, "%s: no values parsed", key);
  free(copy);
}

static void check_strings(const char *key, const sp_tensor *tensor, const char *list) {
  const sp_string *strings = tensor->data;
  sp_buffer expected = {0};
  const char *cursor = list;
  int64_t index = 0;
  while (*cursor == ' ' || *cursor == 'b') {
    long total;
    parse_python_bytes(&cursor, &expected, &total);
    cr_assert_lt(index, sp_tensor_count(tensor), "%s: more listed strings than elements", key);
    const sp_string *actual = &strings[index];
    if (total >= 0) cr_assert_eq((long)actual->length, total, "%s[%lld]: length", key, (long long)index);
    else cr_assert_eq(actual->length, expected.size, "%s[%lld]: length", key, (long long)index);
    cr_assert(expected.size == 0 || memcmp(actual->bytes, expected.data, expected.size) == 0, "%s[%lld]: bytes differ",
              key, (long long)index);
    index++;
    while (*cursor == ',' || *cursor == ' ') cursor++;
  }
  cr_assert_gt(index, 0, "%s: no strings parsed", key);
  sp_buffer_free(&expected);
}

static void parse_shape(const char *text, int *rank, int64_t *shape) {
  *rank = 0;
  const char *p = strchr(text, '[') + 1;
  while (*p && *p != ']') {
    shape[(*rank)++] = strtoll(p, (char **)&p, 10);
    while (*p == ',' || *p == ' ') p++;
  }
}

/* "name  dtype=float32 shape=[2, 3] shard=0 offset=0 size=24 values=[...]" */
static void check_listed_entry(sp_bundle_reader *reader, size_t position, const char *line) {
  const char *separator = strstr(line, "  dtype=");
  cr_assert_not_null(separator, "unexpected appendix line '%s'", line);
  char *key = sp_strndup(line, (size_t)(separator - line));
  const sp_bundle_entry *entry = sp_bundle_entry_at(reader, position);
  cr_assert_not_null(entry, "%s: the bundle has fewer entries than the appendix", key);
  cr_assert_str_eq(entry->key, key);
  char dtype[32];
  unsigned long long shard, offset, size;
  cr_assert_eq(sscanf(separator, "  dtype=%31s", dtype), 1);
  cr_assert_str_eq(sp_bundle_dtype_name(entry->dtype), dtype, "%s: dtype", key);
  int rank;
  int64_t shape[SP_MAX_RANK];
  parse_shape(strstr(separator, "shape="), &rank, shape);
  cr_assert_eq(entry->rank, rank, "%s: rank", key);
  for (int i = 0; i < rank; i++) cr_assert_eq(entry->shape[i], shape[i], "%s: dimension %d", key, i);
  cr_assert_eq(sscanf(strstr(separator, "shard="), "shard=%llu offset=%llu size=%llu", &shard, &offset, &size), 3);
  cr_assert_eq((unsigned long long)entry->shard_id, shard, "%s: shard", key);
  cr_assert_eq(entry->offset, offset, "%s: offset", key);
  cr_assert_eq(entry->size, size, "%s: size", key);
  const char *values = strstr(separator, "values=[");
  if (!values) values = strstr(separator, "first=[");
  cr_assert_not_null(values, "%s: no values listed", key);
  char *list = sp_strdup(strchr(values, '[') + 1);
  list[strlen(list) - 1] = '\0'; /* the closing ']' ends the line */
  sp_tensor *tensor = read_tensor(reader, key);
  if (tensor->dtype == SP_STRING) check_strings(key, tensor, list);
  else check_numbers(key, tensor, list);
  sp_tensor_free(tensor);
  free(list);
  free(key);
}

/* Checks one "#### `path`" section; returns the position after its closing ``` line. */
static char *check_listing(char *cursor, size_t *bundles) {
  char *name = strchr(cursor, '`') + 1;
  *strchr(name, '`') = '\0';
  char *prefix = fixture_prefix(name);
  char *block = strstr(name + strlen(name) + 1, "```\n") + 4;
  char *end = strstr(block, "```");
  *end = '\0';
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  size_t position = 0;
  for (char *line = block, *next; *line; line = next) {
    next = strchr(line, '\n');
    *next++ = '\0';
    if (strncmp(line, "header: ", 8) == 0) {
      int shards = 0;
      cr_assert_eq(sscanf(strstr(line, "'num_shards': "), "'num_shards': %d", &shards), 1);
      cr_assert_eq(sp_bundle_shard_count(reader), shards, "%s: num_shards", name);
      cr_assert_not_null(strstr(line, "'endianness': 0"));
      continue;
    }
    check_listed_entry(reader, position++, line);
  }
  cr_assert_eq(sp_bundle_count(reader), position, "%s: %zu entries, the appendix lists %zu", name,
               sp_bundle_count(reader), position);
  sp_bundle_close(reader);
  free(prefix);
  (*bundles)++;
  return end + 3;
}

Test(tf_bundle, every_fixture_bundle_matches_appendix_b) {
  char *path = sp_test_fixture("PROVENANCE.md");
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_read_file(path, 1 << 24, &data, &size));
  char *text = (char *)data;
  char *appendix = strstr(text, "## Appendix B");
  cr_assert_not_null(appendix);
  char *appendix_end = strstr(appendix, "## Appendix C");
  cr_assert_not_null(appendix_end);
  *appendix_end = '\0';
  size_t bundles = 0;
  for (char *cursor = strstr(appendix, "#### `"); cursor; cursor = strstr(cursor, "#### `"))
    cursor = check_listing(cursor, &bundles);
  cr_assert_eq(bundles, 33, "the appendix lists 33 bundles (one per .index fixture); checked %zu", bundles);
  free(data);
  free(path);
}

/* ---------- values stated in the PROVENANCE sections ---------- */

Test(tf_bundle, old_string_tensors_read_as_tensorflow_test_states) {
  /* tensor_bundle_test.cc StringTensorsOldFormat, quoted in PROVENANCE §5 */
  sp_bundle_reader *reader = open_fixture("tf-tensor-bundle-old-string-tensors/old_string_tensors/foo");
  cr_assert_eq(sp_bundle_count(reader), 4);
  sp_tensor *strs = read_tensor(reader, "strs");
  const sp_string *s = strs->data;
  cr_assert_eq(sp_tensor_count(strs), 4);
  cr_assert(s[0].length == 5 && memcmp(s[0].bytes, "hello", 5) == 0);
  cr_assert_eq(s[1].length, 0);
  cr_assert(s[2].length == 3 && memcmp(s[2].bytes, "x01", 3) == 0);
  cr_assert_eq(s[3].length, 1024);
  for (int i = 0; i < 1024; i++) cr_assert_eq(s[3].bytes[i], 'c');
  sp_tensor *floats = read_tensor(reader, "floats");
  cr_assert_eq(floats->rank, 2);
  for (int i = 0; i < 6; i++) cr_assert_eq(sp_tensor_floats(floats)[i], 16.18f);
  sp_tensor *scalar = read_tensor(reader, "scalar"), *empty = read_tensor(reader, "string_tensor");
  cr_assert(((sp_string *)scalar->data)[0].length == 5);
  cr_assert(((sp_string *)empty->data)[0].length == 0);
  sp_tensor_free(strs);
  sp_tensor_free(floats);
  sp_tensor_free(scalar);
  sp_tensor_free(empty);
  sp_bundle_close(reader);
}

Test(tf_bundle, name_based_checkpoints_hold_stated_values) {
  sp_bundle_reader *reader = open_fixture("tf-feature-column-embedding-ckpt/embedding.ckpt");
  sp_tensor *embedding = read_tensor(reader, "my_embedding");
  const float expected[] = {1, 2, 3, 5, 7, 11}; /* feature_column_test.py expected_lookups */
  sp_assert_close(sp_tensor_floats(embedding), expected, 6, 0, 0, "my_embedding");
  sp_tensor_free(embedding);
  sp_bundle_close(reader);

  reader = open_fixture("tf-trt-mnist-ckpt/model.ckpt-46900");
  sp_tensor *step = read_tensor(reader, "global_step");
  cr_assert_eq(step->dtype, SP_INT64);
  cr_assert_eq(((int64_t *)step->data)[0], 46900);
  cr_assert_not_null(sp_bundle_find(reader, "conv2d/kernel/Adam_1"));
  cr_assert_null(sp_bundle_find(reader, "conv2d/kernel/Adam_2"));
  sp_tensor_free(step);
  SP_ASSERT_FAILS(sp_bundle_read(reader, "no/such/tensor", &step), SP_ERROR_NOT_FOUND, "no tensor named 'no/such/tensor'");
  sp_bundle_close(reader);
}

/* ---------- TF2 object-based checkpoints ---------- */

static Tensorflow__TrackableObjectGraph *read_object_graph(sp_bundle_reader *reader) {
  sp_tensor *tensor = read_tensor(reader, "_CHECKPOINTABLE_OBJECT_GRAPH");
  cr_assert_eq(tensor->dtype, SP_STRING);
  cr_assert_eq(tensor->rank, 0);
  const sp_string *bytes = tensor->data;
  Tensorflow__TrackableObjectGraph *graph =
      tensorflow__trackable_object_graph__unpack(NULL, bytes->length, (const uint8_t *)bytes->bytes);
  cr_assert_not_null(graph, "_CHECKPOINTABLE_OBJECT_GRAPH is not a TrackableObjectGraph");
  sp_tensor_free(tensor);
  return graph;
}

static int child_named(const Tensorflow__TrackableObjectGraph__TrackableObject *node, const char *name) {
  for (size_t i = 0; i < node->n_children; i++)
    if (strcmp(node->children[i]->local_name, name) == 0) return node->children[i]->node_id;
  cr_assert_fail("no child '%s'", name);
  return -1;
}

/* Every attribute names a tensor of the bundle, and every tensor but the graph is named. */
static void check_keys_match_attributes(sp_bundle_reader *reader, const Tensorflow__TrackableObjectGraph *graph) {
  size_t named = 0;
  for (size_t n = 0; n < graph->n_nodes; n++)
    for (size_t a = 0; a < graph->nodes[n]->n_attributes; a++) {
      const char *key = graph->nodes[n]->attributes[a]->checkpoint_key;
      cr_assert_not_null(sp_bundle_find(reader, key), "attribute key '%s' is not in the bundle", key);
      named++;
    }
  cr_assert_eq(named + 1, sp_bundle_count(reader));
}

Test(tf_bundle, object_graph_of_half_plus_two_tf2) {
  /* formats.md §4.7 "Verified": root children a/b/c; the variable node's attribute. */
  sp_bundle_reader *reader = open_fixture("tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123/variables/variables");
  Tensorflow__TrackableObjectGraph *graph = read_object_graph(reader);
  const Tensorflow__TrackableObjectGraph__TrackableObject *root = graph->nodes[0];
  cr_assert_eq(child_named(root, "a"), 1);
  const Tensorflow__TrackableObjectGraph__TrackableObject *a = graph->nodes[1];
  cr_assert_eq(a->n_attributes, 1);
  cr_assert_str_eq(a->attributes[0]->name, "VARIABLE_VALUE");
  cr_assert_str_eq(a->attributes[0]->full_name, "a");
  cr_assert_str_eq(a->attributes[0]->checkpoint_key, "a/.ATTRIBUTES/VARIABLE_VALUE");
  cr_assert_not_null(a->has_checkpoint_values);
  cr_assert(a->has_checkpoint_values->value);
  check_keys_match_attributes(reader, graph);
  tensorflow__trackable_object_graph__free_unpacked(graph, NULL);
  sp_bundle_close(reader);
}

Test(tf_bundle, object_graph_of_keras_save_weights) {
  /* PROVENANCE §19: Sequential[Dense(512), Dropout, Dense(10)] saved by Keras 2.10 save_weights;
   * formats.md §4.7: children layer_with_weights-k, keys <path>/.ATTRIBUTES/VARIABLE_VALUE. */
  sp_bundle_reader *reader = open_fixture("tf-keras-save-weights-tf-format/training_2/cp-0000.ckpt");
  Tensorflow__TrackableObjectGraph *graph = read_object_graph(reader);
  const Tensorflow__TrackableObjectGraph__TrackableObject *root = graph->nodes[0];
  cr_assert_str_eq(root->children[0]->local_name, "layer_with_weights-0");
  const char *layers[] = {"layer_with_weights-0", "layer_with_weights-1"};
  const char *variables[] = {"kernel", "bias"};
  for (int l = 0; l < 2; l++)
    for (int v = 0; v < 2; v++) {
      int layer = child_named(root, layers[l]);
      cr_assert(layer > 0 && (size_t)layer < graph->n_nodes);
      int variable = child_named(graph->nodes[layer], variables[v]);
      const Tensorflow__TrackableObjectGraph__TrackableObject *node = graph->nodes[variable];
      cr_assert_eq(node->n_attributes, 1);
      cr_assert_str_eq(node->attributes[0]->name, "VARIABLE_VALUE");
      char expected[96];
      snprintf(expected, sizeof expected, "%s/%s/.ATTRIBUTES/VARIABLE_VALUE", layers[l], variables[v]);
      cr_assert_str_eq(node->attributes[0]->checkpoint_key, expected);
    }
  cr_assert_eq(child_named(root, "layer-0"), child_named(root, "layer_with_weights-0")); /* same layer object */
  check_keys_match_attributes(reader, graph);
  sp_tensor *bias = read_tensor(reader, "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE");
  for (int i = 0; i < 512; i++) cr_assert_eq(sp_tensor_floats(bias)[i], 0.0f); /* initial weights */
  sp_tensor_free(bias);
  tensorflow__trackable_object_graph__free_unpacked(graph, NULL);
  sp_bundle_close(reader);
}

/* ---------- writing ---------- */

static const char half_plus_two[] = "tfserving-testdata/saved_model_half_plus_two_2_versions/00000123/variables/variables";

static char *write_half_plus_two(const char *test_name) {
  char *directory = sp_test_temp_dir(test_name);
  char *prefix = sp_path_join(directory, "variables");
  sp_bundle_writer *writer;
  SP_ASSERT_OK(sp_bundle_writer_open(prefix, &writer));
  const char *keys[] = {"a", "b", "c"};
  float values[] = {0.5f, 2.0f, 3.0f}; /* Appendix B, in the fixture's order */
  for (int i = 0; i < 3; i++) {
    sp_tensor *scalar = sp_tensor_wrap(SP_FLOAT32, 0, NULL, &values[i]);
    SP_ASSERT_OK(sp_bundle_add(writer, keys[i], scalar));
    sp_tensor_free(scalar);
  }
  SP_ASSERT_OK(sp_bundle_writer_finish(writer));
  free(directory);
  return prefix;
}

static void assert_same_file(const char *ours, const char *theirs) {
  uint8_t *a, *b;
  size_t a_size, b_size;
  SP_ASSERT_OK(sp_read_file(ours, 1 << 24, &a, &a_size));
  SP_ASSERT_OK(sp_read_file(theirs, 1 << 24, &b, &b_size));
  cr_assert_eq(a_size, b_size, "%s has %zu bytes, %s has %zu", ours, a_size, theirs, b_size);
  cr_assert_eq(memcmp(a, b, a_size), 0, "%s differs from %s", ours, theirs);
  free(a);
  free(b);
}

Test(tf_bundle, writer_reproduces_half_plus_two_byte_for_byte) {
  char *ours = write_half_plus_two("bundle-half-plus-two");
  char *theirs = fixture_prefix(half_plus_two);
  const char *suffixes[] = {".data-00000-of-00001", ".index"}; /* the fixture's index is uncompressed */
  for (int i = 0; i < 2; i++) {
    char *a = sp_strdupf("%s%s", ours, suffixes[i]), *b = sp_strdupf("%s%s", theirs, suffixes[i]);
    assert_same_file(a, b);
    free(a);
    free(b);
  }
  sp_bundle_reader *mine, *fixture;
  SP_ASSERT_OK(sp_bundle_open(ours, &mine));
  SP_ASSERT_OK(sp_bundle_open(theirs, &fixture));
  cr_assert_eq(sp_bundle_count(mine), sp_bundle_count(fixture));
  for (size_t i = 0; i < sp_bundle_count(mine); i++) {
    const sp_bundle_entry *x = sp_bundle_entry_at(mine, i), *y = sp_bundle_entry_at(fixture, i);
    cr_assert_str_eq(x->key, y->key);
    cr_assert(x->dtype == y->dtype && x->rank == y->rank && x->offset == y->offset && x->size == y->size &&
              x->masked_crc32c == y->masked_crc32c && x->shard_id == y->shard_id);
  }
  sp_bundle_close(mine);
  sp_bundle_close(fixture);
  free(ours);
  free(theirs);
}

/* protoc --decode_raw of one value, as text. */
static char *decode_raw(const uint8_t *value, size_t length) {
  char *directory = sp_test_temp_dir("bundle-protoc");
  char *path = sp_path_join(directory, "value.bin");
  write_bytes(path, value, length);
  char *command = sp_strdupf("protoc --decode_raw < '%s'", path);
  FILE *pipe = popen(command, "r");
  cr_assert_not_null(pipe);
  sp_buffer text = {0};
  char chunk[512];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, pipe)) > 0) cr_assert_eq(sp_buffer_append(&text, chunk, got), SP_OK);
  cr_assert_eq(pclose(pipe), 0, "protoc --decode_raw failed on a %zu-byte value", length);
  cr_assert_eq(sp_buffer_put_u8(&text, 0), SP_OK);
  free(command);
  free(path);
  free(directory);
  return (char *)sp_buffer_detach(&text, NULL);
}

typedef struct raw_check {
  size_t checked;
  const char *keys[8];
  char expected[8][200];
} raw_check;

static sp_status compare_with_protoc(void *context, const uint8_t *key, size_t key_length, const uint8_t *value,
                                     size_t value_length) {
  raw_check *check = context;
  cr_assert_lt(check->checked, 8);
  const char *name = check->keys[check->checked];
  cr_assert(key_length == strlen(name) && memcmp(key, name, key_length) == 0, "entry %zu is not '%s'", check->checked,
            name);
  char *text = decode_raw(value, value_length);
  cr_assert_str_eq(text, check->expected[check->checked], "entry '%s': protoc says\n%s", name, text);
  check->checked++;
  free(text);
  return SP_OK;
}

static void check_index_with_protoc(const char *prefix, raw_check *check, size_t expected_count) {
  char *index_path = sp_bundle_index_path(prefix);
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_read_file(index_path, 1 << 20, &data, &size));
  sp_table *table;
  SP_ASSERT_OK(sp_table_open(data, size, index_path, &table));
  SP_ASSERT_OK(sp_table_visit(table, compare_with_protoc, check));
  cr_assert_eq(check->checked, expected_count);
  sp_table_close(table);
  free(data);
  free(index_path);
}

/* Expected fields from formats.md §4.3/§4.4 (proto3 omits zeros; protoc prints an empty
 * message as ""), offsets and sizes from Appendix B, CRCs from the formula of §4.5. */
Test(tf_bundle, protoc_decodes_every_index_entry_we_write) {
  if (system("protoc --version > /dev/null 2>&1") != 0) cr_skip_test("protoc (protobuf-compiler) is not installed");
  raw_check check = {0, {"", "a", "b", "c"}, {"1: 1\n3 {\n  1: 1\n}\n"}};
  const float values[] = {0.5f, 2.0f, 3.0f};
  for (int i = 0; i < 3; i++)
    snprintf(check.expected[i + 1], sizeof check.expected[0], "1: 1\n2: \"\"\n%s5: 4\n6: 0x%08x\n",
             i == 0 ? "" : i == 1 ? "4: 4\n" : "4: 8\n", sp_crc32c_mask(sp_crc32c(&values[i], 4)));
  char *prefix = write_half_plus_two("bundle-decode-raw");
  check_index_with_protoc(prefix, &check, 4);
  free(prefix);

  char *directory = sp_test_temp_dir("bundle-decode-raw-matrix");
  prefix = sp_path_join(directory, "ckpt");
  int64_t shape[] = {2, 3};
  sp_tensor *matrix = patterned_tensor(SP_INT64, 2, shape, 1);
  sp_bundle_writer *writer;
  SP_ASSERT_OK(sp_bundle_writer_open(prefix, &writer));
  SP_ASSERT_OK(sp_bundle_add(writer, "m", matrix));
  SP_ASSERT_OK(sp_bundle_writer_finish(writer));
  raw_check matrix_check = {0, {"", "m"}, {"1: 1\n3 {\n  1: 1\n}\n"}};
  snprintf(matrix_check.expected[1], sizeof matrix_check.expected[0],
           "1: 9\n2 {\n  2 {\n    1: 2\n  }\n  2 {\n    1: 3\n  }\n}\n5: 48\n6: 0x%08x\n",
           sp_crc32c_mask(sp_crc32c(matrix->data, 48)));
  check_index_with_protoc(prefix, &matrix_check, 2);
  sp_tensor_free(matrix);
  free(prefix);
  free(directory);
}

/* A tensor of each dtype with deterministic bytes. */
static sp_tensor *patterned_tensor(sp_dtype dtype, int rank, const int64_t *shape, unsigned seed) {
  sp_tensor *tensor = sp_tensor_new(dtype, rank, shape);
  cr_assert_not_null(tensor, "%s", sp_last_error());
  uint8_t *bytes = tensor->data;
  for (size_t i = 0; i < tensor->size; i++) bytes[i] = (uint8_t)(i * 31 + seed * 7 + 1);
  return tensor;
}

static void assert_same_tensor(const sp_tensor *a, const sp_tensor *b, const char *key) {
  cr_assert(sp_tensor_same_shape(a, b), "%s: dtype or shape changed", key);
  if (a->dtype != SP_STRING) {
    cr_assert_eq(a->size, b->size, "%s", key);
    cr_assert(a->size == 0 || memcmp(a->data, b->data, a->size) == 0, "%s: bytes changed", key);
    return;
  }
  const sp_string *x = a->data, *y = b->data;
  for (int64_t i = 0; i < sp_tensor_count(a); i++) {
    cr_assert_eq(x[i].length, y[i].length, "%s[%lld]", key, (long long)i);
    cr_assert(x[i].length == 0 || memcmp(x[i].bytes, y[i].bytes, x[i].length) == 0, "%s[%lld]", key, (long long)i);
  }
}

static sp_tensor *string_tensor(int rank, const int64_t *shape, const char *const *values, const size_t *lengths) {
  sp_tensor *tensor = sp_tensor_new(SP_STRING, rank, shape);
  for (int64_t i = 0; i < sp_tensor_count(tensor); i++) SP_ASSERT_OK(sp_tensor_set_string(tensor, i, values[i], lengths[i]));
  return tensor;
}

typedef struct named_tensor {
  char key[48];
  sp_tensor *tensor;
} named_tensor;

static size_t build_every_dtype(named_tensor *tensors) {
  static const sp_dtype dtypes[] = {SP_FLOAT32, SP_FLOAT64,  SP_INT32,   SP_UINT8,      SP_INT16,   SP_INT8,
                                    SP_COMPLEX64, SP_INT64, SP_BOOL, SP_BFLOAT16, SP_UINT16, SP_COMPLEX128,
                                    SP_FLOAT16, SP_UINT32, SP_UINT64};
  int64_t matrix[] = {2, 3}, empty[] = {0, 5};
  size_t count = 0;
  for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
    snprintf(tensors[count].key, sizeof tensors[count].key, "%s/matrix", sp_dtype_name(dtypes[d]));
    tensors[count].tensor = patterned_tensor(dtypes[d], 2, matrix, (unsigned)d);
    count++;
    snprintf(tensors[count].key, sizeof tensors[count].key, "%s/scalar", sp_dtype_name(dtypes[d]));
    tensors[count].tensor = patterned_tensor(dtypes[d], 0, NULL, (unsigned)d + 100);
    count++;
    snprintf(tensors[count].key, sizeof tensors[count].key, "%s/empty", sp_dtype_name(dtypes[d]));
    tensors[count].tensor = patterned_tensor(dtypes[d], 2, empty, 0);
    count++;
  }
  char *long_string = sp_alloc(300000);
  for (int i = 0; i < 300000; i++) long_string[i] = (char)(i % 251);
  const char *values[] = {"", "hello", long_string, "with\0nul", ""};
  const size_t lengths[] = {0, 5, 300000, 8, 0};
  int64_t four[] = {4}, none[] = {0};
  strcpy(tensors[count].key, "string/vector");
  tensors[count++].tensor = string_tensor(1, four, values, lengths);
  strcpy(tensors[count].key, "string/scalar_empty");
  tensors[count++].tensor = string_tensor(0, NULL, values, lengths);
  strcpy(tensors[count].key, "string/scalar_long");
  tensors[count++].tensor = string_tensor(0, NULL, values + 2, lengths + 2);
  strcpy(tensors[count].key, "string/none");
  tensors[count++].tensor = string_tensor(1, none, values, lengths);
  free(long_string);
  return count;
}

static void round_trip(int shard_count, const char *test_name) {
  named_tensor tensors[64];
  size_t count = build_every_dtype(tensors);
  char *directory = sp_test_temp_dir(test_name);
  char *prefix = sp_path_join(directory, "nested/dir/ckpt-1"); /* the writer makes the directories */
  sp_bundle_writer_options options = {shard_count};
  sp_bundle_writer *writer;
  SP_ASSERT_OK(sp_bundle_writer_open_with(prefix, &options, &writer));
  for (size_t i = 0; i < count; i++) SP_ASSERT_OK(sp_bundle_add(writer, tensors[i].key, tensors[i].tensor));
  SP_ASSERT_OK(sp_bundle_writer_finish(writer));
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  cr_assert_eq(sp_bundle_count(reader), count);
  cr_assert_eq(sp_bundle_shard_count(reader), shard_count);
  uint64_t last_offset[8] = {0};
  for (size_t i = 0; i < count; i++) {
    const sp_bundle_entry *entry = sp_bundle_find(reader, tensors[i].key);
    cr_assert_not_null(entry, "%s", tensors[i].key);
    cr_assert_lt(entry->shard_id, shard_count);
    cr_assert_geq(entry->offset, last_offset[entry->shard_id], "%s: data is not in add order", tensors[i].key);
    last_offset[entry->shard_id] = entry->offset;
    sp_tensor *back = read_tensor(reader, tensors[i].key);
    assert_same_tensor(tensors[i].tensor, back, tensors[i].key);
    sp_tensor_free(back);
  }
  for (size_t i = 1; i < count; i++) /* entries come out in bytewise key order */
    cr_assert_lt(strcmp(sp_bundle_entry_at(reader, i - 1)->key, sp_bundle_entry_at(reader, i)->key), 0);
  size_t problems;
  SP_ASSERT_OK(sp_bundle_verify(prefix, NULL, NULL, &problems));
  cr_assert_eq(problems, 0);
  sp_bundle_close(reader);
  for (int shard = 0; shard < shard_count; shard++) {
    char *path = sp_bundle_data_path(prefix, shard, shard_count);
    cr_assert(sp_is_regular_file(path), "%s is missing", path);
    free(path);
  }
  for (size_t i = 0; i < count; i++) sp_tensor_free(tensors[i].tensor);
  free(prefix);
  free(directory);
}

Test(tf_bundle, every_dtype_round_trips) { round_trip(1, "bundle-round-trip"); }

Test(tf_bundle, multi_shard_round_trips) { round_trip(3, "bundle-three-shards"); }

Test(tf_bundle, shards_are_balanced_by_bytes) {
  char *directory = sp_test_temp_dir("bundle-balance");
  char *prefix = sp_path_join(directory, "ckpt");
  sp_bundle_writer_options options = {2};
  sp_bundle_writer *writer;
  SP_ASSERT_OK(sp_bundle_writer_open_with(prefix, &options, &writer));
  int64_t big[] = {100}, small[] = {10};
  sp_tensor *a = sp_tensor_new(SP_FLOAT32, 1, big), *b = sp_tensor_new(SP_FLOAT32, 1, small);
  SP_ASSERT_OK(sp_bundle_add(writer, "big", a));    /* shard 0 */
  SP_ASSERT_OK(sp_bundle_add(writer, "small1", b)); /* shard 1 (empty) */
  SP_ASSERT_OK(sp_bundle_add(writer, "small2", b)); /* shard 1 (40 < 400) */
  SP_ASSERT_OK(sp_bundle_writer_finish(writer));
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  cr_assert_eq(sp_bundle_find(reader, "big")->shard_id, 0);
  cr_assert_eq(sp_bundle_find(reader, "small1")->shard_id, 1);
  cr_assert_eq(sp_bundle_find(reader, "small2")->shard_id, 1);
  cr_assert_eq(sp_bundle_find(reader, "small2")->offset, 40);
  sp_bundle_close(reader);
  sp_tensor_free(a);
  sp_tensor_free(b);
  free(prefix);
  free(directory);
}

static int count_temporaries(const char *directory) {
  DIR *listing = opendir(directory);
  cr_assert_not_null(listing);
  int count = 0;
  struct dirent *entry;
  while ((entry = readdir(listing)) != NULL) count += sp_path_is_temporary(entry->d_name);
  closedir(listing);
  return count;
}

Test(tf_bundle, failed_or_aborted_writes_leave_the_old_bundle) {
  char *prefix = write_half_plus_two("bundle-failed-writes");
  char *directory = sp_path_dirname(prefix);
  float value = 1;
  sp_tensor *scalar = sp_tensor_wrap(SP_FLOAT32, 0, NULL, &value);
  sp_bundle_writer *writer;
  SP_ASSERT_OK(sp_bundle_writer_open(prefix, &writer));
  SP_ASSERT_OK(sp_bundle_add(writer, "x", scalar));
  SP_ASSERT_FAILS(sp_bundle_add(writer, "", scalar), SP_ERROR_INVALID_ARGUMENT, "non-empty name");
  SP_ASSERT_OK(sp_bundle_add(writer, "x", scalar));
  SP_ASSERT_FAILS(sp_bundle_writer_finish(writer), SP_ERROR_INVALID_ARGUMENT, "tensor 'x' was added twice");
  SP_ASSERT_OK(sp_bundle_writer_open(prefix, &writer));
  SP_ASSERT_OK(sp_bundle_add(writer, "y", scalar));
  sp_bundle_writer_abort(writer);
  cr_assert_eq(count_temporaries(directory), 0, "temporary files were left behind");
  char *theirs = fixture_prefix(half_plus_two); /* the old bundle is intact */
  char *a = sp_strdupf("%s.index", prefix), *b = sp_strdupf("%s.index", theirs);
  assert_same_file(a, b);
  free(a);
  free(b);
  /* an overwrite with fewer shards replaces it completely */
  sp_bundle_writer_options options = {1};
  SP_ASSERT_OK(sp_bundle_writer_open_with(prefix, &options, &writer));
  SP_ASSERT_OK(sp_bundle_add(writer, "only", scalar));
  SP_ASSERT_OK(sp_bundle_writer_finish(writer));
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  cr_assert_eq(sp_bundle_count(reader), 1);
  cr_assert_not_null(sp_bundle_find(reader, "only"));
  sp_bundle_close(reader);
  sp_tensor_free(scalar);
  free(theirs);
  free(directory);
  free(prefix);
}

/* ---------- damaged and crafted bundles ---------- */

typedef struct problem_log {
  size_t count;
  char names[8][200];
} problem_log;

static void log_problem(void *context, const char *name, const char *message) {
  problem_log *log = context;
  if (log->count < 8) snprintf(log->names[log->count], sizeof log->names[0], "%s", name);
  log->count++;
  cr_assert_gt(strlen(message), 0);
}

Test(tf_bundle, a_flipped_data_byte_is_named) {
  char *prefix = copy_bundle("tf-trt-mnist-ckpt/model.ckpt-46900", "bundle-flip-data");
  char *data = sp_strdupf("%s.data-00000-of-00001", prefix);
  flip_byte(data, 225800 + 17); /* inside dense/bias (Appendix B: offset 225800, 2048 bytes) */
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  sp_tensor *tensor;
  SP_ASSERT_FAILS(sp_bundle_read(reader, "dense/bias", &tensor), SP_ERROR_CHECKSUM, "tensor 'dense/bias'");
  cr_assert_null(tensor);
  tensor = read_tensor(reader, "dense/bias/Adam"); /* its neighbours are fine */
  sp_tensor_free(tensor);
  sp_bundle_close(reader);
  problem_log log = {0};
  size_t problems;
  SP_ASSERT_FAILS(sp_bundle_verify(prefix, log_problem, &log, &problems), SP_ERROR_CHECKSUM, "1 damaged");
  cr_assert_eq(problems, 1);
  cr_assert_eq(log.count, 1);
  cr_assert_str_eq(log.names[0], "dense/bias");
  free(data);
  free(prefix);
}

/* One flipped byte inside any tensor's bytes is reported for that tensor and no other. */
static void flip_each_tensor(const char *relative, const char *test_name) {
  char *original = fixture_prefix(relative);
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(original, &reader));
  for (size_t i = 0; i < sp_bundle_count(reader); i++) {
    const sp_bundle_entry *entry = sp_bundle_entry_at(reader, i);
    if (entry->size == 0) continue;
    char *prefix = copy_bundle(relative, test_name);
    char *data = sp_strdupf("%s.data-00000-of-00001", prefix);
    flip_byte(data, (long)(entry->offset + entry->size / 2));
    problem_log log = {0};
    size_t problems;
    SP_ASSERT_FAILS(sp_bundle_verify(prefix, log_problem, &log, &problems), SP_ERROR_CHECKSUM, "1 damaged");
    cr_assert_str_eq(log.names[0], entry->key);
    sp_bundle_reader *damaged;
    sp_tensor *tensor;
    SP_ASSERT_OK(sp_bundle_open(prefix, &damaged));
    char fragment[300];
    snprintf(fragment, sizeof fragment, "tensor '%s'", entry->key);
    SP_ASSERT_FAILS(sp_bundle_read(damaged, entry->key, &tensor), SP_ERROR_CHECKSUM, fragment);
    sp_bundle_close(damaged);
    free(data);
    free(prefix);
  }
  sp_bundle_close(reader);
  free(original);
}

Test(tf_bundle, a_flipped_byte_in_any_tensor_is_named) {
  flip_each_tensor("tf-tensor-bundle-old-string-tensors/old_string_tensors/foo", "bundle-flip-each-strings");
  flip_each_tensor("tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123/variables/variables",
                   "bundle-flip-each-tf2");
  flip_each_tensor("tf-rust-keras-savedmodel/keras_single_input_saved_model/variables/variables",
                   "bundle-flip-each-keras");
}

Test(tf_bundle, a_flipped_string_byte_is_named) {
  char *prefix = copy_bundle("tf-tensor-bundle-old-string-tensors/old_string_tensors/foo", "bundle-flip-string");
  char *data = sp_strdupf("%s.data-00000-of-00001", prefix);
  flip_byte(data, 15 + 20); /* inside the bytes of strs (offset 15) */
  flip_byte(data, 5);       /* the length of scalar (offset 5): caught by the length checksum */
  problem_log log = {0};
  size_t problems;
  SP_ASSERT_FAILS(sp_bundle_verify(prefix, log_problem, &log, &problems), SP_ERROR_CHECKSUM, "2 damaged");
  cr_assert_eq(log.count, 2);
  cr_assert_str_eq(log.names[0], "scalar");
  cr_assert_str_eq(log.names[1], "strs");
  sp_bundle_reader *reader;
  sp_tensor *tensor;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  SP_ASSERT_FAILS(sp_bundle_read(reader, "strs", &tensor), SP_ERROR_CHECKSUM, "tensor 'strs'");
  sp_bundle_close(reader);
  free(data);
  free(prefix);
}

Test(tf_bundle, a_flipped_index_byte_names_the_block) {
  char *prefix = copy_bundle("tf-trt-mnist-ckpt/model.ckpt-46900", "bundle-flip-index");
  char *index = sp_strdupf("%s.index", prefix);
  flip_byte(index, 40);
  sp_bundle_reader *reader;
  SP_ASSERT_FAILS(sp_bundle_open(prefix, &reader), SP_ERROR_CHECKSUM, "data block 0 (bytes 0..");
  problem_log log = {0};
  size_t problems;
  SP_ASSERT_FAILS(sp_bundle_verify(prefix, log_problem, &log, &problems), SP_ERROR_CHECKSUM, "data block 0");
  cr_assert_eq(problems, 1);
  cr_assert_not_null(strstr(log.names[0], ".index"));
  free(index);
  free(prefix);
}

Test(tf_bundle, truncated_and_missing_files_are_refused) {
  char *prefix = copy_bundle("tf-trt-mnist-ckpt/model.ckpt-46900", "bundle-truncated");
  char *data = sp_strdupf("%s.data-00000-of-00001", prefix), *index = sp_strdupf("%s.index", prefix);
  cr_assert_eq(truncate(data, 686727), 0); /* one byte short: global_step ends at 686728 */
  sp_bundle_reader *reader;
  SP_ASSERT_FAILS(sp_bundle_open(prefix, &reader), SP_ERROR_FORMAT, "tensor 'global_step': bytes 686720..686728 run past");
  cr_assert_eq(truncate(index, 600), 0);
  SP_ASSERT_FAILS(sp_bundle_open(prefix, &reader), SP_ERROR_FORMAT, "footer magic");
  cr_assert_eq(unlink(data), 0);
  char *original = fixture_prefix("tf-trt-mnist-ckpt/model.ckpt-46900");
  char *original_index = sp_strdupf("%s.index", original);
  copy_file(original_index, index);
  free(original_index);
  free(original);
  SP_ASSERT_FAILS(sp_bundle_open(prefix, &reader), SP_ERROR_NOT_FOUND, "data-00000-of-00001' is missing");
  cr_assert_eq(unlink(index), 0);
  SP_ASSERT_FAILS(sp_bundle_open(prefix, &reader), SP_ERROR_NOT_FOUND, "no such file");
  size_t problems;
  SP_ASSERT_FAILS(sp_bundle_verify(prefix, NULL, NULL, &problems), SP_ERROR_NOT_FOUND, "no such file");
  cr_assert_eq(problems, 1);
  free(data);
  free(index);
  free(prefix);
}

/* Builds a one-entry bundle by hand: header fields and one BundleEntryProto as given. */
typedef struct crafted {
  int num_shards;
  int endianness;
  int min_consumer;
  const char *key;
  Tensorflow__BundleEntryProto entry;
  int64_t dims[12];
  size_t rank;
  const uint8_t *raw_entry; /* used instead of entry when set */
  size_t raw_length;
  size_t data_size;
} crafted;

static void craft_defaults(crafted *c) {
  memset(c, 0, sizeof *c);
  c->num_shards = 1;
  c->key = "t";
  tensorflow__bundle_entry_proto__init(&c->entry);
  c->entry.dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
  c->rank = 1;
  c->dims[0] = 2;
  c->entry.size = 8;
  c->data_size = 8;
}

static void add_packed(sp_table_builder *table, const char *key, const ProtobufCMessage *message) {
  uint8_t buffer[512];
  size_t size = protobuf_c_message_pack(message, buffer);
  SP_ASSERT_OK(sp_table_builder_add(table, key, strlen(key), buffer, size));
}

static sp_status open_crafted(const crafted *c) {
  char *directory = sp_test_temp_dir("bundle-crafted");
  char *prefix = sp_path_join(directory, "ckpt");
  sp_table_builder *table;
  SP_ASSERT_OK(sp_table_builder_new(NULL, &table));
  Tensorflow__VersionDef version = TENSORFLOW__VERSION_DEF__INIT;
  version.producer = 1;
  version.min_consumer = c->min_consumer;
  Tensorflow__BundleHeaderProto header = TENSORFLOW__BUNDLE_HEADER_PROTO__INIT;
  header.num_shards = c->num_shards;
  header.endianness = (Tensorflow__BundleHeaderProto__Endianness)c->endianness;
  header.version = &version;
  add_packed(table, "", &header.base);
  Tensorflow__TensorShapeProto shape = TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
  Tensorflow__TensorShapeProto__Dim dims[12], *pointers[12];
  for (size_t i = 0; i < c->rank; i++) {
    tensorflow__tensor_shape_proto__dim__init(&dims[i]);
    dims[i].size = c->dims[i];
    pointers[i] = &dims[i];
  }
  shape.n_dim = c->rank;
  shape.dim = pointers;
  Tensorflow__BundleEntryProto entry = c->entry;
  entry.shape = &shape;
  uint8_t *data = sp_alloc_zeroed(1, c->data_size);
  entry.crc32c = sp_crc32c_mask(sp_crc32c(data, c->data_size));
  if (c->raw_entry) SP_ASSERT_OK(sp_table_builder_add(table, c->key, strlen(c->key), c->raw_entry, c->raw_length));
  else add_packed(table, c->key, &entry.base);
  uint8_t *index;
  size_t index_size;
  SP_ASSERT_OK(sp_table_builder_finish(table, &index, &index_size));
  sp_table_builder_free(table);
  char *index_path = sp_bundle_index_path(prefix), *data_path = sp_bundle_data_path(prefix, 0, 1);
  write_bytes(index_path, index, index_size);
  write_bytes(data_path, data, c->data_size);
  sp_bundle_reader *reader;
  sp_status status = sp_bundle_open(prefix, &reader);
  if (status == SP_OK) {
    sp_tensor *tensor = NULL;
    status = sp_bundle_read(reader, c->key, &tensor);
    sp_tensor_free(tensor);
    sp_bundle_close(reader);
  }
  free(index_path);
  free(data_path);
  free(index);
  free(data);
  free(prefix);
  free(directory);
  return status;
}

Test(tf_bundle, crafted_entries_are_refused_clearly) {
  crafted c;
  craft_defaults(&c);
  SP_ASSERT_OK(open_crafted(&c));
  craft_defaults(&c);
  c.dims[0] = -2;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_FORMAT, "tensor 't': dimension 0 is negative");
  craft_defaults(&c);
  c.rank = 9;
  for (int i = 0; i < 9; i++) c.dims[i] = 1;
  c.entry.size = 4;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_UNSUPPORTED, "rank 9 exceeds");
  craft_defaults(&c);
  c.rank = 3;
  c.dims[0] = c.dims[1] = c.dims[2] = INT64_C(1) << 30;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_FORMAT, "2^62");
  craft_defaults(&c);
  c.dims[0] = INT64_C(1) << 61; /* a count that fits, times 4 bytes, is not the size */
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_FORMAT, "needs 2305843009213693952 x 4 bytes");
  craft_defaults(&c);
  c.entry.size = 12;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_FORMAT, "run past the end of data file 0");
  craft_defaults(&c);
  c.entry.offset = INT64_C(1) << 62;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_FORMAT, "run past the end");
  craft_defaults(&c);
  c.entry.offset = -4;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_FORMAT, "negative offset");
  craft_defaults(&c);
  c.entry.shard_id = 5;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_FORMAT, "data file 5 does not exist");
  craft_defaults(&c);
  c.entry.dtype = 27;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_FORMAT, "dtype 27 is not");
  craft_defaults(&c);
  c.entry.dtype = TENSORFLOW__DATA_TYPE__DT_VARIANT;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_UNSUPPORTED, "dtype variant");
  craft_defaults(&c);
  c.entry.dtype = TENSORFLOW__DATA_TYPE__DT_STRING;
  c.dims[0] = 100;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_FORMAT, "cannot hold 100 strings");
  craft_defaults(&c);
  c.num_shards = 0;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_FORMAT, "header says 0 data files");
  craft_defaults(&c);
  c.endianness = 1;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_UNSUPPORTED, "big-endian");
  craft_defaults(&c);
  c.min_consumer = 7;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_UNSUPPORTED, "needs a reader of version 7");
  craft_defaults(&c);
  static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff};
  c.raw_entry = garbage;
  c.raw_length = sizeof garbage;
  SP_ASSERT_FAILS(open_crafted(&c), SP_ERROR_FORMAT, "is not a BundleEntryProto");
}

Test(tf_bundle, a_table_without_header_is_not_a_bundle) {
  char *directory = sp_test_temp_dir("bundle-no-header");
  char *prefix = sp_path_join(directory, "ckpt");
  sp_table_builder *table;
  SP_ASSERT_OK(sp_table_builder_new(NULL, &table));
  SP_ASSERT_OK(sp_table_builder_add(table, "k", 1, "v", 1));
  uint8_t *index;
  size_t size;
  SP_ASSERT_OK(sp_table_builder_finish(table, &index, &size));
  sp_table_builder_free(table);
  char *index_path = sp_bundle_index_path(prefix);
  write_bytes(index_path, index, size);
  sp_bundle_reader *reader;
  SP_ASSERT_FAILS(sp_bundle_open(prefix, &reader), SP_ERROR_FORMAT, "not the header entry");
  free(index);
  free(index_path);
  free(prefix);
  free(directory);
}
