/* fuzz_sstable.c — libFuzzer target for the table reader (and, through it, the writer).
 *
 * The first byte picks what the rest is: 'B' a data block and 'S' a Snappy-compressed data
 * block, each wrapped in a table with a correct CRC (so mutations reach the block parser and
 * the decompressor instead of stopping at the checksum); anything else a whole table file
 * (footer, handles, CRCs). The table is opened and every block visited one by one, as
 * `savepoint verify` does. When the whole table reads, its entries are written again with
 * the builder and read back: the second reading must give the same entries (any difference
 * aborts, so the fuzzer reports it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "formats/sstable.h"

typedef struct collected {
  sp_buffer records; /* key length, key, value length, value, ... */
  size_t count;
} collected;

static sp_status collect(void *context, const uint8_t *key, size_t key_length, const uint8_t *value,
                         size_t value_length) {
  collected *c = context;
  c->count++;
  SP_TRY(sp_buffer_put_u64le(&c->records, key_length));
  SP_TRY(sp_buffer_append(&c->records, key, key_length));
  SP_TRY(sp_buffer_put_u64le(&c->records, value_length));
  return sp_buffer_append(&c->records, value, value_length);
}

static void rebuild_and_compare(const collected *first) {
  sp_table_options options = {64, 4}; /* small blocks, to exercise separators and restarts */
  sp_table_builder *builder;
  if (sp_table_builder_new(&options, &builder) != SP_OK) return;
  size_t position = 0;
  for (size_t i = 0; i < first->count; i++) {
    const uint8_t *records = first->records.data;
    uint64_t key_length = sp_load_u64le(records + position);
    const uint8_t *key = records + position + 8;
    uint64_t value_length = sp_load_u64le(key + key_length);
    const uint8_t *value = key + key_length + 8;
    position += 16 + key_length + value_length;
    if (sp_table_builder_add(builder, key, key_length, value, value_length) != SP_OK) abort(); /* keys were ordered */
  }
  uint8_t *table_bytes;
  size_t size;
  if (sp_table_builder_finish(builder, &table_bytes, &size) != SP_OK) abort();
  sp_table_builder_free(builder);
  sp_table *table;
  collected second = {{0}, 0};
  if (sp_table_open(table_bytes, size, "rebuilt", &table) != SP_OK) abort();
  if (sp_table_visit(table, collect, &second) != SP_OK) abort();
  if (second.count != first->count || second.records.size != first->records.size ||
      (first->records.size && memcmp(second.records.data, first->records.data, first->records.size) != 0))
    abort();
  sp_table_close(table);
  sp_buffer_free(&second.records);
  free(table_bytes);
}

static void read_table(const uint8_t *data, size_t size) {
  sp_table *table;
  if (sp_table_open(data, size, "fuzz", &table) != SP_OK) return;
  collected entries = {{0}, 0};
  int all_read = 1;
  for (size_t block = 0; block < sp_table_block_count(table); block++)
    if (sp_table_visit_block(table, block, collect, &entries) != SP_OK) all_read = 0;
  sp_table_close(table);
  if (all_read) rebuild_and_compare(&entries);
  sp_buffer_free(&entries.records);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 0 && (data[0] == 'B' || data[0] == 'S')) {
    uint8_t *table;
    size_t table_size;
    if (sp_table_wrap_block(data + 1, size - 1, data[0] == 'S', &table, &table_size) != SP_OK) return 0;
    read_table(table, table_size);
    free(table);
    return 0;
  }
  read_table(data, size);
  return 0;
}
