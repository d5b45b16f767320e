/* sstable.c — reader and writer of the LevelDB-style table behind a bundle's .index
 * (see sstable.h for the layout and the guarantees; formats.md §4.2 for the facts).
 *
 * Invariant relied on by the reader: a block's bytes are used only after its handle was
 * checked to lie before the footer and its CRC matched; entries are decoded through
 * sp_reader, so a lying length can only produce an error, never an out-of-bounds read.
 */
#include "formats/sstable.h"

#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/memory.h"

enum {
  COMPRESSION_NONE = 0,
  COMPRESSION_SNAPPY = 1,
  HANDLE_MAX_ENCODED = 20, /* two varint64s */
  /* A Snappy copy element turns 3 bytes into at most 64, so honest data never expands by
   * more than this; a larger claimed length is refused before anything is allocated. */
  SNAPPY_MAX_EXPANSION = 22,
  NAME_CAPACITY = 96
};

/* An absolute cap on one decompressed block; TF blocks are ~256 KiB. */
static const size_t max_block_bytes = (size_t)256 << 20;

/* ---- shared helpers ---- */

static int compare_keys(const uint8_t *a, size_t a_length, const uint8_t *b, size_t b_length) {
  size_t common = a_length < b_length ? a_length : b_length;
  int order = common ? memcmp(a, b, common) : 0;
  if (order != 0) return order;
  return a_length < b_length ? -1 : a_length > b_length ? 1 : 0;
}

/* Masked CRC32C of block ‖ type byte, as stored in the trailer. */
static uint32_t block_checksum(const uint8_t *block, size_t size, uint8_t type) {
  return sp_crc32c_mask(sp_crc32c_extend(sp_crc32c(block, size), &type, 1));
}

/* ---- reading ---- */

typedef struct block_handle {
  uint64_t offset;
  uint64_t size;
} block_handle;

typedef struct data_block {
  block_handle handle;
  uint8_t *index_key; /* the index block's separator: ≥ every key in this block */
  size_t index_key_length;
} data_block;

struct sp_table {
  const uint8_t *data;
  size_t size;
  char *what;
  data_block *blocks;
  size_t block_count;
  size_t block_capacity;
};

/* The contents of one verified block: borrowed from the file, or owned when decompressed. */
typedef struct block_contents {
  const uint8_t *bytes;
  size_t size;
  uint8_t *owned;
} block_contents;

static const char *describe_block(const char *kind, const block_handle *handle, char *out, size_t capacity) {
  snprintf(out, capacity, "%s (bytes %llu..%llu)", kind, (unsigned long long)handle->offset,
           (unsigned long long)(handle->offset + handle->size));
  return out;
}

static sp_status decode_handle(sp_reader *reader, block_handle *handle) {
  SP_TRY(sp_read_varint64(reader, &handle->offset));
  return sp_read_varint64(reader, &handle->size);
}

static sp_status uncompress_snappy(const sp_table *table, const char *name, const uint8_t *compressed,
                                   size_t compressed_size, block_contents *contents) {
  size_t length;
  if (snappy_uncompressed_length((const char *)compressed, compressed_size, &length) != SNAPPY_OK)
    return sp_fail(SP_ERROR_FORMAT, "%s: %s: Snappy header is invalid", table->what, name);
  if (length > max_block_bytes || length / SNAPPY_MAX_EXPANSION > compressed_size + 1)
    return sp_fail(SP_ERROR_FORMAT, "%s: %s: Snappy claims %zu uncompressed bytes from %zu compressed bytes",
                   table->what, name, length, compressed_size);
  uint8_t *buffer = sp_alloc(length);
  if (!buffer) return sp_error_context(SP_ERROR_NO_MEMORY, "%s: %s", table->what, name);
  size_t produced = length;
  if (snappy_uncompress((const char *)compressed, compressed_size, (char *)buffer, &produced) != SNAPPY_OK ||
      produced != length) {
    free(buffer);
    return sp_fail(SP_ERROR_FORMAT, "%s: %s: Snappy data is corrupt", table->what, name);
  }
  contents->bytes = contents->owned = buffer;
  contents->size = length;
  return SP_OK;
}

/* Checks that a handle lies before the footer, verifies the trailer's CRC and
 * decompresses when needed. */
static sp_status read_block(const sp_table *table, const block_handle *handle, const char *name,
                            block_contents *contents) {
  memset(contents, 0, sizeof *contents);
  uint64_t end_of_blocks = table->size - SP_TABLE_FOOTER_SIZE;
  if (handle->offset > end_of_blocks || handle->size > end_of_blocks - handle->offset ||
      SP_TABLE_TRAILER_SIZE > end_of_blocks - handle->offset - handle->size)
    return sp_fail(SP_ERROR_FORMAT, "%s: %s with its 5-byte trailer runs past the blocks, which end at byte %llu",
                   table->what, name, (unsigned long long)end_of_blocks);
  const uint8_t *block = table->data + handle->offset;
  size_t size = (size_t)handle->size;
  uint8_t type = block[size];
  uint32_t stored = sp_load_u32le(block + size + 1);
  uint32_t computed = block_checksum(block, size, type);
  if (stored != computed)
    return sp_fail(SP_ERROR_CHECKSUM, "%s: %s: checksum mismatch (stored 0x%08x, computed 0x%08x)", table->what,
                   name, stored, computed);
  if (type == COMPRESSION_SNAPPY) return uncompress_snappy(table, name, block, size, contents);
  if (type != COMPRESSION_NONE)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: %s: unknown compression type %u (known: 0 none, 1 Snappy)",
                   table->what, name, type);
  contents->bytes = block;
  contents->size = size;
  return SP_OK;
}

/* Walks the entries of a verified block, rebuilding prefix-compressed keys and checking
 * the restart array, strict key order and the bounds (lower, upper] given by the index. */
typedef struct block_walk {
  const sp_table *table;
  const char *name;
  const uint8_t *lower; /* NULL: no lower bound */
  size_t lower_length;
  const uint8_t *upper; /* NULL: no upper bound */
  size_t upper_length;
  sp_table_visit_fn visit;
  void *context;
} block_walk;

static sp_status walk_failure(const block_walk *walk, size_t offset, const char *problem) {
  return sp_fail(SP_ERROR_FORMAT, "%s: %s: entry at block byte %zu: %s", walk->table->what, walk->name, offset,
                 problem);
}

static sp_status read_restarts(const block_walk *walk, const block_contents *block, size_t *entries_end,
                               uint32_t *restart_count) {
  if (block->size < 4)
    return sp_fail(SP_ERROR_FORMAT, "%s: %s is %zu bytes, too short for its restart count", walk->table->what,
                   walk->name, block->size);
  *restart_count = sp_load_u32le(block->bytes + block->size - 4);
  if (*restart_count > (block->size - 4) / 4)
    return sp_fail(SP_ERROR_FORMAT, "%s: %s claims %u restart points but has room for %zu", walk->table->what,
                   walk->name, *restart_count, (block->size - 4) / 4);
  *entries_end = block->size - 4 - (size_t)*restart_count * 4;
  return SP_OK;
}

static sp_status check_key_order(const block_walk *walk, size_t offset, const sp_buffer *key, const sp_buffer *previous,
                                 int first) {
  if (!first && compare_keys(key->data, key->size, previous->data, previous->size) <= 0)
    return walk_failure(walk, offset, "key is not greater than the key before it");
  if (walk->lower && compare_keys(key->data, key->size, walk->lower, walk->lower_length) <= 0)
    return walk_failure(walk, offset, "key is not after the previous block's index key");
  if (walk->upper && compare_keys(key->data, key->size, walk->upper, walk->upper_length) > 0)
    return walk_failure(walk, offset, "key is after this block's index key");
  return SP_OK;
}

static sp_status walk_entries(const block_walk *walk, const block_contents *block, sp_buffer *key,
                              sp_buffer *previous) {
  size_t entries_end = 0;
  uint32_t restart_count = 0, restarts_seen = 0;
  SP_TRY(read_restarts(walk, block, &entries_end, &restart_count));
  const uint8_t *restarts = block->bytes + entries_end;
  sp_reader reader = sp_reader_make(block->bytes, entries_end, walk->name);
  for (int first = 1; sp_reader_remaining(&reader) > 0; first = 0) {
    size_t offset = reader.position;
    int at_restart = restarts_seen < restart_count && sp_load_u32le(restarts + 4 * restarts_seen) == offset;
    uint32_t shared, unshared, value_length;
    const uint8_t *delta, *value;
    SP_TRY(sp_read_varint32(&reader, &shared));
    SP_TRY(sp_read_varint32(&reader, &unshared));
    SP_TRY(sp_read_varint32(&reader, &value_length));
    SP_TRY(sp_read_bytes(&reader, unshared, &delta));
    SP_TRY(sp_read_bytes(&reader, value_length, &value));
    if (first && !at_restart) return walk_failure(walk, offset, "the first entry is not a restart point");
    if (at_restart && shared != 0) return walk_failure(walk, offset, "a restart point shares a key prefix");
    if (shared > previous->size) return walk_failure(walk, offset, "shares more bytes than the previous key has");
    restarts_seen += at_restart;
    key->size = 0;
    SP_TRY(sp_buffer_append(key, previous->data, shared));
    SP_TRY(sp_buffer_append(key, delta, unshared));
    SP_TRY(check_key_order(walk, offset, key, previous, first));
    SP_TRY(walk->visit(walk->context, key->data, key->size, value, value_length));
    sp_buffer swap = *previous;
    *previous = *key;
    *key = swap;
  }
  if (restarts_seen != restart_count && !(entries_end == 0 && restart_count <= 1))
    return sp_fail(SP_ERROR_FORMAT, "%s: %s: %u restart points do not all fall on entries", walk->table->what,
                   walk->name, restart_count);
  return SP_OK;
}

static sp_status walk_block(const block_walk *walk, const block_handle *handle) {
  block_contents block;
  SP_TRY(read_block(walk->table, handle, walk->name, &block));
  sp_buffer key = {0}, previous = {0};
  /* storage from the start, so that even an empty key is a valid pointer for visitors */
  sp_status status = sp_buffer_reserve(&key, 1);
  if (status == SP_OK) status = sp_buffer_reserve(&previous, 1);
  if (status == SP_OK) status = walk_entries(walk, &block, &key, &previous);
  sp_buffer_free(&key);
  sp_buffer_free(&previous);
  free(block.owned);
  return status;
}

static sp_status ignore_entry(void *context, const uint8_t *key, size_t key_length, const uint8_t *value,
                              size_t value_length) {
  return SP_OK;
}

static sp_status add_index_entry(void *context, const uint8_t *key, size_t key_length, const uint8_t *value,
                                 size_t value_length) {
  sp_table *table = context;
  SP_TRY(SP_RESERVE(table->blocks, table->block_capacity, table->block_count + 1));
  data_block *block = &table->blocks[table->block_count];
  memset(block, 0, sizeof *block);
  sp_reader reader = sp_reader_make(value, value_length, "index entry");
  sp_status status = decode_handle(&reader, &block->handle);
  if (status != SP_OK)
    return sp_error_context(status, "%s: index block: handle of data block %zu", table->what, table->block_count);
  block->index_key = sp_alloc(key_length ? key_length : 1);
  if (!block->index_key) return SP_ERROR_NO_MEMORY;
  if (key_length) memcpy(block->index_key, key, key_length);
  block->index_key_length = key_length;
  table->block_count++;
  return SP_OK;
}

static sp_status read_footer(const sp_table *table, block_handle *metaindex, block_handle *index) {
  if (table->size < SP_TABLE_FOOTER_SIZE)
    return sp_fail(SP_ERROR_FORMAT, "%s: %zu bytes is shorter than the %d-byte table footer (truncated file?)",
                   table->what, table->size, (int)SP_TABLE_FOOTER_SIZE);
  const uint8_t *footer = table->data + table->size - SP_TABLE_FOOTER_SIZE;
  uint64_t magic = sp_load_u64le(footer + SP_TABLE_FOOTER_SIZE - 8);
  if (magic != SP_TABLE_MAGIC)
    return sp_fail(SP_ERROR_FORMAT, "%s: footer magic is 0x%016llx, expected 0x%016llx (not a table, or truncated)",
                   table->what, (unsigned long long)magic, (unsigned long long)SP_TABLE_MAGIC);
  sp_reader reader = sp_reader_make(footer, SP_TABLE_FOOTER_SIZE - 8, "table footer");
  sp_status status = decode_handle(&reader, metaindex);
  if (status == SP_OK) status = decode_handle(&reader, index);
  return sp_error_context(status, "%s", table->what);
}

sp_status sp_table_open(const uint8_t *data, size_t size, const char *what, sp_table **result) {
  *result = NULL;
  sp_table *table = sp_alloc_zeroed(1, sizeof *table);
  if (!table) return SP_ERROR_NO_MEMORY;
  table->data = data;
  table->size = size;
  table->what = sp_strdup(what ? what : "table");
  if (!table->what) {
    sp_table_close(table);
    return SP_ERROR_NO_MEMORY;
  }
  block_handle metaindex, index;
  char metaindex_name[NAME_CAPACITY], index_name[NAME_CAPACITY];
  sp_status status = read_footer(table, &metaindex, &index);
  if (status == SP_OK) {
    block_walk walk = {table, describe_block("metaindex block", &metaindex, metaindex_name, sizeof metaindex_name),
                       NULL, 0, NULL, 0, ignore_entry, NULL};
    status = walk_block(&walk, &metaindex);
  }
  if (status == SP_OK) {
    block_walk walk = {table, describe_block("index block", &index, index_name, sizeof index_name),
                       NULL, 0, NULL, 0, add_index_entry, table};
    status = walk_block(&walk, &index);
  }
  if (status != SP_OK) {
    sp_table_close(table);
    return status;
  }
  *result = table;
  return SP_OK;
}

void sp_table_close(sp_table *table) {
  if (!table) return;
  for (size_t i = 0; i < table->block_count; i++) free(table->blocks[i].index_key);
  free(table->blocks);
  free(table->what);
  free(table);
}

size_t sp_table_block_count(const sp_table *table) { return table->block_count; }

const char *sp_table_block_name(const sp_table *table, size_t block, char *out, size_t capacity) {
  char kind[32];
  snprintf(kind, sizeof kind, "data block %zu", block);
  if (block >= table->block_count) {
    snprintf(out, capacity, "%s (absent)", kind);
    return out;
  }
  return describe_block(kind, &table->blocks[block].handle, out, capacity);
}

sp_status sp_table_visit_block(const sp_table *table, size_t block, sp_table_visit_fn visit, void *context) {
  if (block >= table->block_count)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: no data block %zu (the table has %zu)", table->what, block,
                   table->block_count);
  char name[NAME_CAPACITY];
  const data_block *current = &table->blocks[block];
  const data_block *before = block > 0 ? &table->blocks[block - 1] : NULL;
  block_walk walk = {table,
                     sp_table_block_name(table, block, name, sizeof name),
                     before ? before->index_key : NULL,
                     before ? before->index_key_length : 0,
                     current->index_key,
                     current->index_key_length,
                     visit,
                     context};
  return walk_block(&walk, &current->handle);
}

sp_status sp_table_visit(const sp_table *table, sp_table_visit_fn visit, void *context) {
  for (size_t block = 0; block < table->block_count; block++) SP_TRY(sp_table_visit_block(table, block, visit, context));
  return SP_OK;
}

/* ---- writing ---- */

void sp_table_shortest_separator(sp_buffer *start, const uint8_t *limit, size_t limit_length) {
  size_t common = start->size < limit_length ? start->size : limit_length;
  size_t difference = 0;
  while (difference < common && start->data[difference] == limit[difference]) difference++;
  if (difference >= common) return; /* one is a prefix of the other: keep start */
  uint8_t byte = start->data[difference];
  if (byte < 0xff && byte + 1 < limit[difference]) {
    start->data[difference]++;
    start->size = difference + 1;
  }
}

void sp_table_short_successor(sp_buffer *key) {
  for (size_t i = 0; i < key->size; i++) {
    if (key->data[i] != 0xff) {
      key->data[i]++;
      key->size = i + 1;
      return;
    }
  }
  /* a run of 0xff bytes has no shorter successor: keep it */
}

typedef struct block_builder {
  sp_buffer bytes;
  uint32_t *restarts;
  size_t restart_count;
  size_t restart_capacity;
  int interval;
  int since_restart;
  sp_buffer last_key;
} block_builder;

static sp_status block_reset(block_builder *block) {
  block->bytes.size = 0;
  block->last_key.size = 0;
  block->since_restart = 0;
  block->restart_count = 0;
  SP_TRY(SP_RESERVE(block->restarts, block->restart_capacity, 1));
  block->restarts[block->restart_count++] = 0;
  return SP_OK;
}

static void block_free(block_builder *block) {
  sp_buffer_free(&block->bytes);
  sp_buffer_free(&block->last_key);
  free(block->restarts);
}

static int block_is_empty(const block_builder *block) { return block->bytes.size == 0; }

static size_t block_size_estimate(const block_builder *block) {
  return block->bytes.size + block->restart_count * 4 + 4;
}

static sp_status block_add(block_builder *block, const uint8_t *key, size_t key_length, const uint8_t *value,
                           size_t value_length) {
  static const uint8_t nothing[1];
  if (!key) key = nothing; /* an empty key may come from a buffer that never held bytes */
  if (!value) value = nothing;
  size_t shared = 0;
  if (block->since_restart < block->interval) {
    size_t common = block->last_key.size < key_length ? block->last_key.size : key_length;
    while (shared < common && block->last_key.data[shared] == key[shared]) shared++;
  } else {
    SP_TRY(SP_RESERVE(block->restarts, block->restart_capacity, block->restart_count + 1));
    block->restarts[block->restart_count++] = (uint32_t)block->bytes.size;
    block->since_restart = 0;
  }
  SP_TRY(sp_buffer_put_varint64(&block->bytes, shared));
  SP_TRY(sp_buffer_put_varint64(&block->bytes, key_length - shared));
  SP_TRY(sp_buffer_put_varint64(&block->bytes, value_length));
  SP_TRY(sp_buffer_append(&block->bytes, key + shared, key_length - shared));
  SP_TRY(sp_buffer_append(&block->bytes, value, value_length));
  block->last_key.size = 0;
  SP_TRY(sp_buffer_append(&block->last_key, key, key_length));
  block->since_restart++;
  return SP_OK;
}

/* Appends the restart array and its count; the block's bytes are then complete. */
static sp_status block_finish(block_builder *block) {
  for (size_t i = 0; i < block->restart_count; i++) SP_TRY(sp_buffer_put_u32le(&block->bytes, block->restarts[i]));
  return sp_buffer_put_u32le(&block->bytes, (uint32_t)block->restart_count);
}

struct sp_table_builder {
  sp_table_options options;
  sp_buffer file;
  block_builder data;
  block_builder index;
  sp_buffer last_key;
  uint64_t entry_count;
  int pending_index_entry; /* the last flushed block still needs its index entry */
  block_handle pending_handle;
  sp_status failure;       /* sticky: a builder that failed once stays failed */
  int finished;
};

sp_status sp_table_builder_new(const sp_table_options *options, sp_table_builder **result) {
  *result = NULL;
  sp_table_builder *builder = sp_alloc_zeroed(1, sizeof *builder);
  if (!builder) return SP_ERROR_NO_MEMORY;
  builder->options.block_size = options && options->block_size ? options->block_size : SP_TABLE_BLOCK_SIZE;
  builder->options.restart_interval =
      options && options->restart_interval > 0 ? options->restart_interval : SP_TABLE_RESTART_INTERVAL;
  builder->data.interval = builder->options.restart_interval;
  builder->index.interval = 1;
  sp_status status = block_reset(&builder->data);
  if (status == SP_OK) status = block_reset(&builder->index);
  if (status != SP_OK) {
    sp_table_builder_free(builder);
    return status;
  }
  *result = builder;
  return SP_OK;
}

void sp_table_builder_free(sp_table_builder *builder) {
  if (!builder) return;
  sp_buffer_free(&builder->file);
  block_free(&builder->data);
  block_free(&builder->index);
  sp_buffer_free(&builder->last_key);
  free(builder);
}

/* Appends block bytes and their trailer to the file. */
static sp_status write_raw_block(sp_table_builder *builder, const uint8_t *bytes, size_t size, uint8_t compression,
                                 block_handle *handle) {
  handle->offset = builder->file.size;
  handle->size = size;
  SP_TRY(sp_buffer_append(&builder->file, bytes, size));
  SP_TRY(sp_buffer_put_u8(&builder->file, compression));
  return sp_buffer_put_u32le(&builder->file, block_checksum(bytes, size, compression));
}

static sp_status write_block(sp_table_builder *builder, block_builder *block, block_handle *handle) {
  SP_TRY(block_finish(block));
  SP_TRY(write_raw_block(builder, block->bytes.data, block->bytes.size, COMPRESSION_NONE, handle));
  return block_reset(block);
}

static sp_status flush_data_block(sp_table_builder *builder) {
  if (block_is_empty(&builder->data)) return SP_OK;
  SP_TRY(write_block(builder, &builder->data, &builder->pending_handle));
  builder->pending_index_entry = 1;
  return SP_OK;
}

static sp_status add_pending_index_entry(sp_table_builder *builder) {
  sp_buffer handle = {0};
  sp_status status = sp_buffer_put_varint64(&handle, builder->pending_handle.offset);
  if (status == SP_OK) status = sp_buffer_put_varint64(&handle, builder->pending_handle.size);
  if (status == SP_OK)
    status = block_add(&builder->index, builder->last_key.data, builder->last_key.size, handle.data, handle.size);
  sp_buffer_free(&handle);
  builder->pending_index_entry = 0;
  return status;
}

static sp_status builder_usable(const sp_table_builder *builder) {
  if (builder->finished) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "table builder used after finish");
  if (builder->failure != SP_OK)
    return sp_fail(builder->failure, "table builder used after an earlier failure");
  return SP_OK;
}

static sp_status add_entry(sp_table_builder *builder, const uint8_t *key, size_t key_length, const uint8_t *value,
                           size_t value_length) {
  /* TF-only rule: an entry of at least twice the block size starts a block of its own. */
  if (builder->entry_count > 0 && key_length + value_length >= 2 * builder->options.block_size)
    SP_TRY(flush_data_block(builder));
  if (builder->pending_index_entry) {
    sp_table_shortest_separator(&builder->last_key, key, key_length);
    SP_TRY(add_pending_index_entry(builder));
  }
  builder->last_key.size = 0;
  SP_TRY(sp_buffer_append(&builder->last_key, key, key_length));
  builder->entry_count++;
  SP_TRY(block_add(&builder->data, key, key_length, value, value_length));
  if (block_size_estimate(&builder->data) >= builder->options.block_size) SP_TRY(flush_data_block(builder));
  return SP_OK;
}

sp_status sp_table_builder_add(sp_table_builder *builder, const void *key, size_t key_length, const void *value,
                               size_t value_length) {
  SP_TRY(builder_usable(builder));
  if (builder->entry_count > 0 && compare_keys(key, key_length, builder->last_key.data, builder->last_key.size) <= 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "table keys must be added in strictly increasing bytewise order: '%.*s' came after '%.*s'",
                   (int)(key_length < 200 ? key_length : 200), (const char *)key,
                   (int)(builder->last_key.size < 200 ? builder->last_key.size : 200),
                   (const char *)builder->last_key.data);
  sp_status status = add_entry(builder, key, key_length, value, value_length);
  if (status != SP_OK) builder->failure = status;
  return status;
}

static sp_status put_footer(sp_table_builder *builder, const block_handle *metaindex, const block_handle *index) {
  size_t start = builder->file.size;
  SP_TRY(sp_buffer_put_varint64(&builder->file, metaindex->offset));
  SP_TRY(sp_buffer_put_varint64(&builder->file, metaindex->size));
  SP_TRY(sp_buffer_put_varint64(&builder->file, index->offset));
  SP_TRY(sp_buffer_put_varint64(&builder->file, index->size));
  static const uint8_t zeros[2 * HANDLE_MAX_ENCODED];
  SP_TRY(sp_buffer_append(&builder->file, zeros, start + 2 * HANDLE_MAX_ENCODED - builder->file.size));
  return sp_buffer_put_u64le(&builder->file, SP_TABLE_MAGIC);
}

static sp_status finish_table(sp_table_builder *builder) {
  block_handle metaindex, index;
  SP_TRY(flush_data_block(builder));
  block_builder empty = {.interval = builder->options.restart_interval};
  sp_status status = block_reset(&empty);
  if (status == SP_OK) status = write_block(builder, &empty, &metaindex);
  block_free(&empty);
  SP_TRY(status);
  if (builder->pending_index_entry) {
    sp_table_short_successor(&builder->last_key);
    SP_TRY(add_pending_index_entry(builder));
  }
  SP_TRY(write_block(builder, &builder->index, &index));
  return put_footer(builder, &metaindex, &index);
}

sp_status sp_table_builder_finish(sp_table_builder *builder, uint8_t **data, size_t *size) {
  *data = NULL;
  *size = 0;
  SP_TRY(builder_usable(builder));
  builder->finished = 1;
  sp_status status = finish_table(builder);
  if (status != SP_OK) {
    builder->failure = status;
    return status;
  }
  *data = sp_buffer_detach(&builder->file, size);
  return SP_OK;
}

sp_status sp_table_wrap_block(const void *block, size_t size, uint8_t compression, uint8_t **data, size_t *data_size) {
  *data = NULL;
  *data_size = 0;
  sp_table_builder *builder;
  SP_TRY(sp_table_builder_new(NULL, &builder));
  static const uint8_t last_key[] = {0xff};
  sp_status status = write_raw_block(builder, size ? block : last_key, size, compression, &builder->pending_handle);
  if (status == SP_OK) status = sp_buffer_append(&builder->last_key, last_key, sizeof last_key);
  builder->pending_index_entry = 1;
  if (status == SP_OK) status = sp_table_builder_finish(builder, data, data_size);
  sp_table_builder_free(builder);
  return status;
}
