/* Tests of src/formats/sstable: reading the .index tables TensorFlow wrote (uncompressed and
 * Snappy), rebuilding every uncompressed fixture index byte for byte, the index-key
 * shortening rules of formats.md §4.2, the TF-only large-entry flush rule, and refusal of
 * corrupt, truncated and crafted tables (with every single-byte flip of real files). */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/memory.h"
#include "formats/sstable.h"
#include "test_support.h"

typedef struct entry_list {
  char keys[64][128];
  sp_buffer values[64];
  size_t count;
} entry_list;

static sp_status collect(void *context, const uint8_t *key, size_t key_length, const uint8_t *value,
                         size_t value_length) {
  entry_list *list = context;
  cr_assert_lt(list->count, 64);
  cr_assert_lt(key_length, 128);
  memcpy(list->keys[list->count], key, key_length);
  list->keys[list->count][key_length] = '\0';
  sp_buffer *copy = &list->values[list->count];
  copy->size = 0;
  cr_assert_eq(sp_buffer_append(copy, value, value_length), SP_OK);
  list->count++;
  return SP_OK;
}

static void entry_list_free(entry_list *list) {
  for (size_t i = 0; i < 64; i++) sp_buffer_free(&list->values[i]);
}

static void read_fixture(const char *relative, uint8_t **data, size_t *size) {
  char *path = sp_test_fixture(relative);
  SP_ASSERT_OK(sp_read_file(path, 1 << 24, data, size));
  free(path);
}

static void read_all(const uint8_t *data, size_t size, entry_list *list) {
  sp_table *table;
  memset(list, 0, sizeof *list);
  SP_ASSERT_OK(sp_table_open(data, size, "fixture", &table));
  SP_ASSERT_OK(sp_table_visit(table, collect, list));
  sp_table_close(table);
}

/* Compression type byte of data block 0, found from its name "data block 0 (bytes A..B)". */
static int first_block_type(const uint8_t *data, size_t size) {
  sp_table *table;
  SP_ASSERT_OK(sp_table_open(data, size, "fixture", &table));
  char name[96];
  unsigned long long start, end;
  sp_table_block_name(table, 0, name, sizeof name);
  sp_table_close(table);
  cr_assert_eq(sscanf(name, "data block 0 (bytes %llu..%llu)", &start, &end), 2, "%s", name);
  cr_assert_lt(end, size);
  return data[end];
}

static const uint8_t header_value[] = {0x08, 0x01, 0x1a, 0x02, 0x08, 0x01};                   /* formats.md §4.3 */
static const uint8_t entry_a_value[] = {0x08, 0x01, 0x12, 0x00, 0x28, 0x04, 0x35, 0x06, 0x38, 0x27, 0x1f}; /* §4.4 */

Test(sstable, reads_uncompressed_fixture) {
  uint8_t *data;
  size_t size;
  read_fixture("tfserving-testdata/saved_model_half_plus_two_2_versions/00000123/variables/variables.index", &data,
               &size);
  cr_assert_eq(first_block_type(data, size), 0);
  entry_list list;
  read_all(data, size, &list);
  cr_assert_eq(list.count, 4);
  cr_assert_str_eq(list.keys[0], "");
  cr_assert_str_eq(list.keys[1], "a");
  cr_assert_str_eq(list.keys[2], "b");
  cr_assert_str_eq(list.keys[3], "c");
  cr_assert_eq(list.values[0].size, sizeof header_value);
  cr_assert_eq(memcmp(list.values[0].data, header_value, sizeof header_value), 0);
  cr_assert_eq(list.values[1].size, sizeof entry_a_value);
  cr_assert_eq(memcmp(list.values[1].data, entry_a_value, sizeof entry_a_value), 0);
  entry_list_free(&list);
  free(data);
}

Test(sstable, reads_snappy_fixtures) {
  static const char *const tf1_keys[] = {"", "a", "a2", "b", "c", "c2"};
  static const char *const tf2_keys[] = {"", "_CHECKPOINTABLE_OBJECT_GRAPH", "a/.ATTRIBUTES/VARIABLE_VALUE",
                                         "b/.ATTRIBUTES/VARIABLE_VALUE", "c/.ATTRIBUTES/VARIABLE_VALUE"};
  struct {
    const char *path;
    const char *const *keys;
    size_t count;
  } cases[] = {
      {"tfserving-testdata/saved_model_half_plus_two_cpu/00000123/variables/variables.index", tf1_keys, 6},
      {"tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123/variables/variables.index", tf2_keys, 5},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    uint8_t *data;
    size_t size;
    read_fixture(cases[c].path, &data, &size);
    cr_assert_eq(first_block_type(data, size), 1, "%s is expected to hold a Snappy block", cases[c].path);
    entry_list list;
    read_all(data, size, &list);
    cr_assert_eq(list.count, cases[c].count, "%s", cases[c].path);
    for (size_t i = 0; i < list.count; i++) cr_assert_str_eq(list.keys[i], cases[c].keys[i]);
    cr_assert_eq(memcmp(list.values[0].data, header_value, sizeof header_value), 0);
    entry_list_free(&list);
    free(data);
  }
}

/* Feeds a fixture's own entries to the builder and compares the result with the file. */
static void rebuild_and_compare(const char *path) {
  uint8_t *data, *built;
  size_t size, built_size;
  SP_ASSERT_OK(sp_read_file(path, 1 << 24, &data, &size));
  entry_list list;
  read_all(data, size, &list);
  sp_table_builder *builder;
  SP_ASSERT_OK(sp_table_builder_new(NULL, &builder));
  for (size_t i = 0; i < list.count; i++)
    SP_ASSERT_OK(sp_table_builder_add(builder, list.keys[i], strlen(list.keys[i]), list.values[i].data,
                                      list.values[i].size));
  SP_ASSERT_OK(sp_table_builder_finish(builder, &built, &built_size));
  sp_table_builder_free(builder);
  cr_assert_eq(built_size, size, "%s: rebuilt %zu bytes, the file has %zu", path, built_size, size);
  cr_assert_eq(memcmp(built, data, size), 0, "%s: rebuilt bytes differ", path);
  free(built);
  entry_list_free(&list);
  free(data);
}

Test(sstable, writer_reproduces_every_uncompressed_fixture_index) {
  char *root = sp_test_fixture(".");
  size_t compared = 0;
  const char *patterns[] = {"%s/*/*.index", "%s/*/*/*.index", "%s/*/*/*/*.index", "%s/*/*/*/*/*.index",
                            "%s/*/*/*/*/*/*.index"};
  for (size_t p = 0; p < sizeof patterns / sizeof *patterns; p++) {
    char *glob_pattern = sp_strdupf(patterns[p], root);
    glob_t matches;
    if (glob(glob_pattern, 0, NULL, &matches) == 0) {
      for (size_t i = 0; i < matches.gl_pathc; i++) {
        uint8_t *data;
        size_t size;
        SP_ASSERT_OK(sp_read_file(matches.gl_pathv[i], 1 << 24, &data, &size));
        int type = first_block_type(data, size);
        free(data);
        if (type != 0) continue; /* Snappy fixtures: TF's writer would not compress (formats.md §4.2) */
        rebuild_and_compare(matches.gl_pathv[i]);
        compared++;
      }
      globfree(&matches);
    }
    free(glob_pattern);
  }
  cr_assert_geq(compared, 20, "only %zu uncompressed fixture indexes found", compared);
  free(root);
}

static void check_separator(const char *start, const char *limit, const char *expected) {
  sp_buffer buffer = {0};
  cr_assert_eq(sp_buffer_append(&buffer, start, strlen(start)), SP_OK);
  sp_table_shortest_separator(&buffer, (const uint8_t *)limit, strlen(limit));
  cr_assert_eq(buffer.size, strlen(expected), "separator('%s', '%s')", start, limit);
  cr_assert_eq(memcmp(buffer.data, expected, buffer.size), 0, "separator('%s', '%s')", start, limit);
  sp_buffer_free(&buffer);
}

static void check_successor(const char *key, const char *expected) {
  sp_buffer buffer = {0};
  cr_assert_eq(sp_buffer_append(&buffer, key, strlen(key)), SP_OK);
  sp_table_short_successor(&buffer);
  cr_assert_eq(buffer.size, strlen(expected), "successor('%s')", key);
  cr_assert_eq(memcmp(buffer.data, expected, buffer.size), 0, "successor('%s')", key);
  sp_buffer_free(&buffer);
}

Test(sstable, index_keys_are_shortened_as_tensorflow_does) {
  /* formats.md §4.2 rules and its two real-data examples. */
  check_successor("c2", "d");
  check_successor("_CHECKPOINTABLE_OBJECT_GRAPH", "`");
  check_successor("\xff\xff", "\xff\xff");
  check_successor("\xff\x01z", "\xff\x02");
  check_separator("abcd", "abzz", "abd");
  check_separator("abc", "abd", "abc");   /* c+1 is not < d */
  check_separator("ab", "abc", "ab");     /* prefix: unchanged */
  check_separator("a\xff", "b", "a\xff"); /* a+1 is not < b */
  check_separator("dense/bias", "dense/kernel", "dense/c");
}

static size_t count_blocks(const uint8_t *data, size_t size) {
  sp_table *table;
  SP_ASSERT_OK(sp_table_open(data, size, "built", &table));
  size_t count = sp_table_block_count(table);
  sp_table_close(table);
  return count;
}

static void build_two(size_t block_size, size_t second_value_length, uint8_t **data, size_t *size) {
  sp_table_options options = {block_size, 0};
  sp_table_builder *builder;
  SP_ASSERT_OK(sp_table_builder_new(&options, &builder));
  uint8_t *value = sp_alloc_zeroed(1, second_value_length);
  SP_ASSERT_OK(sp_table_builder_add(builder, "a", 1, "x", 1));
  SP_ASSERT_OK(sp_table_builder_add(builder, "b", 1, value, second_value_length));
  SP_ASSERT_OK(sp_table_builder_finish(builder, data, size));
  sp_table_builder_free(builder);
  free(value);
}

Test(sstable, an_entry_of_twice_the_block_size_starts_a_new_block) {
  uint8_t *data;
  size_t size;
  build_two(64, 127, &data, &size); /* 1 + 127 = 2·64: flushed before "b" */
  cr_assert_eq(count_blocks(data, size), 2);
  entry_list list;
  read_all(data, size, &list);
  cr_assert_eq(list.count, 2);
  entry_list_free(&list);
  free(data);
  build_two(64, 126, &data, &size); /* 1 + 126 < 2·64: "a" and "b" share a block */
  cr_assert_eq(count_blocks(data, size), 1);
  free(data);
}

static sp_status check_numbered_entry(void *context, const uint8_t *key, size_t key_length, const uint8_t *value, size_t value_length) {
  int *next = context;
  char expected_key[32], expected_value[32];
  snprintf(expected_key, sizeof expected_key, "layer_%05d/kernel", *next);
  snprintf(expected_value, sizeof expected_value, "value %d", *next * 7);
  cr_assert_eq(key_length, strlen(expected_key));
  cr_assert_eq(memcmp(key, expected_key, key_length), 0);
  cr_assert_eq(value_length, strlen(expected_value));
  cr_assert_eq(memcmp(value, expected_value, value_length), 0);
  (*next)++;
  return SP_OK;
}

Test(sstable, many_blocks_read_back_in_order) {
  sp_table_options options = {256, 16};
  sp_table_builder *builder;
  SP_ASSERT_OK(sp_table_builder_new(&options, &builder));
  char key[32], value[32];
  for (int i = 0; i < 2000; i++) {
    snprintf(key, sizeof key, "layer_%05d/kernel", i);
    snprintf(value, sizeof value, "value %d", i * 7);
    SP_ASSERT_OK(sp_table_builder_add(builder, key, strlen(key), value, strlen(value)));
  }
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_table_builder_finish(builder, &data, &size));
  sp_table_builder_free(builder);
  sp_table *table;
  SP_ASSERT_OK(sp_table_open(data, size, "built", &table));
  cr_assert_gt(sp_table_block_count(table), 50);
  struct {
    int next;
  } state = {0};
  SP_ASSERT_OK(sp_table_visit(table, check_numbered_entry, &state.next));
  cr_assert_eq(state.next, 2000);
  sp_table_close(table);
  free(data);
}


Test(sstable, keys_must_increase) {
  sp_table_builder *builder;
  SP_ASSERT_OK(sp_table_builder_new(NULL, &builder));
  SP_ASSERT_OK(sp_table_builder_add(builder, "b", 1, "", 0));
  SP_ASSERT_FAILS(sp_table_builder_add(builder, "a", 1, "", 0), SP_ERROR_INVALID_ARGUMENT, "strictly increasing");
  SP_ASSERT_FAILS(sp_table_builder_add(builder, "b", 1, "", 0), SP_ERROR_INVALID_ARGUMENT, "'b' came after 'b'");
  SP_ASSERT_OK(sp_table_builder_add(builder, "ba", 2, "", 0));
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_table_builder_finish(builder, &data, &size));
  SP_ASSERT_FAILS(sp_table_builder_add(builder, "c", 1, "", 0), SP_ERROR_INVALID_ARGUMENT, "after finish");
  sp_table_builder_free(builder);
  free(data);
}

Test(sstable, empty_table_has_no_blocks) {
  sp_table_builder *builder;
  SP_ASSERT_OK(sp_table_builder_new(NULL, &builder));
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_table_builder_finish(builder, &data, &size));
  sp_table_builder_free(builder);
  /* empty metaindex (8+5), empty index (8+5), footer (48) */
  cr_assert_eq(size, 13 + 13 + 48);
  cr_assert_eq(count_blocks(data, size), 0);
  free(data);
}

static sp_status ignore(void *context, const uint8_t *key, size_t key_length, const uint8_t *value,
                        size_t value_length) {
  return SP_OK;
}

static sp_status open_and_visit(const uint8_t *data, size_t size) {
  sp_table *table;
  SP_TRY(sp_table_open(data, size, "damaged.index", &table));
  sp_status status = sp_table_visit(table, ignore, NULL);
  sp_table_close(table);
  return status;
}


Test(sstable, damaged_blocks_are_named) {
  uint8_t *data;
  size_t size;
  read_fixture("tfserving-testdata/saved_model_half_plus_two_2_versions/00000123/variables/variables.index", &data,
               &size);
  /* formats.md: data block at 0 (66 bytes), metaindex at 71, index at 84, footer at 103. */
  data[10] ^= 0x01;
  SP_ASSERT_FAILS(open_and_visit(data, size), SP_ERROR_CHECKSUM, "damaged.index: data block 0 (bytes 0..66)");
  data[10] ^= 0x01;
  data[75] ^= 0x01;
  SP_ASSERT_FAILS(open_and_visit(data, size), SP_ERROR_CHECKSUM, "metaindex block (bytes 71..79)");
  data[75] ^= 0x01;
  data[86] ^= 0x01;
  SP_ASSERT_FAILS(open_and_visit(data, size), SP_ERROR_CHECKSUM, "index block (bytes 84..98)");
  data[86] ^= 0x01;
  data[size - 1] ^= 0x01;
  SP_ASSERT_FAILS(open_and_visit(data, size), SP_ERROR_FORMAT, "footer magic");
  data[size - 1] ^= 0x01;
  SP_ASSERT_FAILS(open_and_visit(data, size - 1), SP_ERROR_FORMAT, "footer magic");
  SP_ASSERT_FAILS(open_and_visit(data, 20), SP_ERROR_FORMAT, "shorter than the 48-byte table footer");
  SP_ASSERT_OK(open_and_visit(data, size));
  free(data);
}

/* A table around one crafted data block (correct CRC), optionally with the footer's metaindex
 * offset pointed far past the end. */
static sp_status open_crafted(const void *block, size_t size, uint8_t type, int bad_handle) {
  uint8_t *data;
  size_t data_size;
  SP_ASSERT_OK(sp_table_wrap_block(block, size, type, &data, &data_size));
  if (bad_handle) {
    data[data_size - SP_TABLE_FOOTER_SIZE] = 0xff; /* metaindex offset 16383 */
    data[data_size - SP_TABLE_FOOTER_SIZE + 1] = 0x7f;
  }
  sp_status status = open_and_visit(data, data_size);
  free(data);
  return status;
}

Test(sstable, crafted_tables_are_refused_clearly) {
  /* a well-formed block: one entry "k" → "v", restart [0], count 1 */
  static const uint8_t good[] = {0, 1, 1, 'k', 'v', 0, 0, 0, 0, 1, 0, 0, 0};
  SP_ASSERT_OK(open_crafted(good, sizeof good, 0, 0));
  SP_ASSERT_FAILS(open_crafted(good, sizeof good, 0, 1), SP_ERROR_FORMAT, "metaindex block (bytes 16383..");
  SP_ASSERT_FAILS(open_crafted(good, sizeof good, 0, 1), SP_ERROR_FORMAT, "runs past the blocks");
  SP_ASSERT_FAILS(open_crafted(good, sizeof good, 7, 0), SP_ERROR_UNSUPPORTED, "unknown compression type 7");
  static const uint8_t many_restarts[] = {0, 1, 1, 'k', 'v', 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f};
  SP_ASSERT_FAILS(open_crafted(many_restarts, sizeof many_restarts, 0, 0), SP_ERROR_FORMAT, "restart points");
  static const uint8_t long_value[] = {0, 1, 0x7f, 'k', 'v', 0, 0, 0, 0, 1, 0, 0, 0};
  SP_ASSERT_FAILS(open_crafted(long_value, sizeof long_value, 0, 0), SP_ERROR_FORMAT, "truncated");
  static const uint8_t shares_too_much[] = {0, 1, 1, 'k', 'v', 5, 1, 1, 'l', 'w', 0, 0, 0, 0, 1, 0, 0, 0};
  SP_ASSERT_FAILS(open_crafted(shares_too_much, sizeof shares_too_much, 0, 0), SP_ERROR_FORMAT, "shares more bytes");
  static const uint8_t out_of_order[] = {0, 1, 1, 'k', 'v', 0, 1, 1, 'a', 'w', 0, 0, 0, 0, 1, 0, 0, 0};
  SP_ASSERT_FAILS(open_crafted(out_of_order, sizeof out_of_order, 0, 0), SP_ERROR_FORMAT, "not greater");
  static const uint8_t past_index_key[] = {0, 2, 1, 0xff, 1, 'v', 0, 0, 0, 0, 1, 0, 0, 0}; /* "\xff\x01" > "\xff" */
  SP_ASSERT_FAILS(open_crafted(past_index_key, sizeof past_index_key, 0, 0), SP_ERROR_FORMAT, "after this block's index key");
  static const uint8_t stray_restart[] = {0, 1, 1, 'k', 'v', 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0};
  SP_ASSERT_FAILS(open_crafted(stray_restart, sizeof stray_restart, 0, 0), SP_ERROR_FORMAT, "do not all fall on entries");
  /* Snappy: a header claiming 1 GiB from a few bytes is refused before allocating. */
  static const uint8_t snappy_bomb[] = {0x80, 0x80, 0x80, 0x80, 0x04, 0, 0, 0};
  SP_ASSERT_FAILS(open_crafted(snappy_bomb, sizeof snappy_bomb, 1, 0), SP_ERROR_FORMAT, "Snappy claims");
  static const uint8_t snappy_garbage[] = {0x0d, 0xff, 0xff, 0xff, 0xff};
  SP_ASSERT_FAILS(open_crafted(snappy_garbage, sizeof snappy_garbage, 1, 0), SP_ERROR_FORMAT, "Snappy");
}

/* Every single-byte change and every truncation of real files must give a clean status. */
Test(sstable, every_flip_and_truncation_is_survived) {
  const char *paths[] = {
      "tfserving-testdata/saved_model_half_plus_two_2_versions/00000123/variables/variables.index",
      "tfserving-testdata/saved_model_half_plus_two_cpu/00000123/variables/variables.index",
      "tf-trt-mnist-ckpt/model.ckpt-46900.index",
  };
  for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
    uint8_t *data;
    size_t size;
    read_fixture(paths[p], &data, &size);
    size_t refused = 0;
    for (size_t i = 0; i < size; i++) {
      for (int bit = 0; bit < 8; bit += 3) {
        data[i] ^= (uint8_t)(1u << bit);
        refused += open_and_visit(data, size) != SP_OK;
        data[i] ^= (uint8_t)(1u << bit);
      }
    }
    cr_assert_gt(refused, size, "%s: flips went unnoticed", paths[p]); /* most flips must be caught */
    for (size_t length = 0; length < size; length++) {
      uint8_t *copy = sp_alloc(length);
      memcpy(copy, data, length);
      cr_assert_neq(open_and_visit(copy, length), SP_OK, "%s truncated to %zu bytes was accepted", paths[p], length);
      free(copy);
    }
    free(data);
  }
}
