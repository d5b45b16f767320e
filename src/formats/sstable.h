/* sstable.h — the immutable sorted string table TensorFlow writes as a tensor bundle's .index
 * (a LevelDB table as tensorflow/core/lib/io/table_builder.cc writes it; formats.md §4.2).
 *
 * Layout: data blocks, one metaindex block, one index block, a 48-byte footer. Each block
 * is prefix-compressed entries + restart array, followed by a 5-byte trailer (compression
 * type, masked CRC32C of block bytes ‖ type).
 *
 * Reader guarantees: it works over the whole file in memory and never reads outside it;
 * every handle, varint, length and restart offset is checked before use; every block's
 * CRC is verified before its bytes are parsed; Snappy blocks (type 1) are decompressed only
 * after their claimed size passed a sanity limit; keys come out in strictly increasing
 * bytewise order or the table is refused. Errors name the file, the block and the byte.
 *
 * Writer guarantees: the bytes TensorFlow's TableBuilder writes for the same keys and
 * values (uncompressed blocks, block_size 262144, restart interval 16 in data blocks and 1
 * in the index block, the "flush before an entry of ≥ 2·block_size" rule, shortened index
 * keys, an empty metaindex block).
 */
#ifndef SP_FORMATS_SSTABLE_H
#define SP_FORMATS_SSTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "core/status.h"

enum {
  SP_TABLE_BLOCK_SIZE = 262144,    /* TensorFlow's table_options.h value (LevelDB uses 4096) */
  SP_TABLE_RESTART_INTERVAL = 16,  /* data blocks; the index block uses 1 */
  SP_TABLE_FOOTER_SIZE = 48,       /* two padded block handles (40) + magic (8) */
  SP_TABLE_TRAILER_SIZE = 5        /* compression type byte + masked CRC32C */
};

#define SP_TABLE_MAGIC UINT64_C(0xdb4775248b80fb57)

/* ---- reading ---- */

typedef struct sp_table sp_table;

/* Called once per entry, in key order. key and value are valid only during the call.
 * A status other than SP_OK stops the visit and is returned by it. */
typedef sp_status (*sp_table_visit_fn)(void *context, const uint8_t *key, size_t key_length,
                                       const uint8_t *value, size_t value_length);

/* Opens a table held in data[0..size) (borrowed: it must outlive the table). what names it
 * in messages (usually the path). Checks the footer, verifies and parses the metaindex
 * and index blocks; data blocks are read by the visit functions. */
sp_status sp_table_open(const uint8_t *data, size_t size, const char *what, sp_table **table) SP_MUST_CHECK;
void sp_table_close(sp_table *table);

/* Number of data blocks (entries of the index block). */
size_t sp_table_block_count(const sp_table *table);
/* Writes a name for data block `block` for messages, e.g. "data block 1 (bytes 262149..524301)". */
const char *sp_table_block_name(const sp_table *table, size_t block, char *out, size_t capacity);

/* Verifies and visits one data block. Its keys must lie after the previous block's index
 * key and at or before its own, so visiting blocks one by one still proves the order. */
sp_status sp_table_visit_block(const sp_table *table, size_t block, sp_table_visit_fn visit,
                               void *context) SP_MUST_CHECK;
/* Visits every entry of every data block in key order; stops at the first bad block. */
sp_status sp_table_visit(const sp_table *table, sp_table_visit_fn visit, void *context) SP_MUST_CHECK;

/* ---- writing ---- */

typedef struct sp_table_options {
  size_t block_size;     /* 0 = SP_TABLE_BLOCK_SIZE */
  int restart_interval;  /* data blocks; 0 = SP_TABLE_RESTART_INTERVAL */
} sp_table_options;

typedef struct sp_table_builder sp_table_builder;

/* options may be NULL for TensorFlow's settings. */
sp_status sp_table_builder_new(const sp_table_options *options, sp_table_builder **builder) SP_MUST_CHECK;
/* Keys must arrive in strictly increasing bytewise order (SP_ERROR_INVALID_ARGUMENT otherwise). */
sp_status sp_table_builder_add(sp_table_builder *builder, const void *key, size_t key_length, const void *value,
                               size_t value_length) SP_MUST_CHECK;
/* Writes the last data block, the metaindex and index blocks and the footer, and hands the
 * whole file to the caller (*data is freed with free()). No more adds after this. */
sp_status sp_table_builder_finish(sp_table_builder *builder, uint8_t **data, size_t *size) SP_MUST_CHECK;
void sp_table_builder_free(sp_table_builder *builder);

/* A table whose only data block is `block` verbatim (any bytes, even malformed), stored with
 * the given compression type byte and a correct CRC, under the index key "\xff". Lets tests
 * and fuzzers reach the block parser and the decompressor past the checksum. */
sp_status sp_table_wrap_block(const void *block, size_t size, uint8_t compression, uint8_t **data,
                              size_t *data_size) SP_MUST_CHECK;

/* The index-key shortening of TensorFlow's table builder, exposed for tests.
 * shortest_separator: shortens *start to a key k with start ≤ k < limit (start < limit).
 * short_successor: shortens *key to a key k ≥ key. Both only shrink the buffer's size. */
void sp_table_shortest_separator(sp_buffer *start, const uint8_t *limit, size_t limit_length);
void sp_table_short_successor(sp_buffer *key);

#endif
