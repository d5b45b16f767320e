/* tf_bundle.h — TensorFlow checkpoints: the tensor bundle V2 (<prefix>.index + data files).
 *
 * A bundle is an index table (sstable.h) mapping tensor names, in bytewise order, to
 * BundleEntryProto records (dtype, shape, data file, byte range, masked CRC32C), plus one
 * or more data files <prefix>.data-%05d-of-%05d holding the tensors back to back in the
 * order they were added (formats.md §4.1–4.5).
 *
 * Reading: sp_bundle_open reads and checks the whole index (every block CRC, the header,
 * every entry against the dtype, the shape and the data file sizes) but no tensor data;
 * sp_bundle_read preads one tensor and verifies its CRC. Numeric tensors, bool, half,
 * bfloat16 and DT_STRING (both the old varint32 and the current varint64 length encoding)
 * are supported; entries of other TF dtypes (variant, resource, quantized) are listed and
 * verified but cannot be read into an sp_tensor.
 *
 * Writing — durability: each data file and the index are written under temporary names
 * (core/file.h) and published data first, index last: the index is the commit point.
 * When a prefix already exists, its old index is removed before any new data file is
 * renamed into place, so a reader never pairs an old index with new data. A crash leaves:
 *   - before finish: only temporary files (".<name>.tmp-XXXXXX"), which readers never open;
 *     an existing bundle under the prefix is untouched;
 *   - during finish, after the old index was removed but before the new one is in place:
 *     no <prefix>.index, so the prefix reads as absent (the old checkpoint is lost, never
 *     mixed with the new one); data files may already be the new ones;
 *   - after finish: the complete new bundle.
 */
#ifndef SP_FORMATS_TF_BUNDLE_H
#define SP_FORMATS_TF_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "savepoint/tensor.h"

enum {
  SP_BUNDLE_MAX_SHARDS = 99999 /* data file names carry the count in 5 digits */
};

/* One tensor of the index. key is owned by the reader. dtype is TF's DataType number (it may
 * be one savepoint cannot hold in an sp_tensor, see sp_bundle_dtype_name). For a sliced
 * (partitioned) tensor, shard_id/offset/size/masked_crc32c are meaningless: the slices are
 * stored under their own keys. */
typedef struct sp_bundle_entry {
  const char *key;
  sp_dtype dtype;
  int rank;
  int64_t shape[SP_MAX_RANK];
  int32_t shard_id;
  uint64_t offset, size;
  uint32_t masked_crc32c;
  int sliced;
} sp_bundle_entry;

/* ---- reading ---- */

typedef struct sp_bundle_reader sp_bundle_reader;

/* Reads <prefix>.index and validates the header (num_shards, endianness, version) and every
 * entry (dtype known, shape sane, shard_id < num_shards, offset+size within the shard file,
 * size == nelem*elemsize for fixed-size dtypes). */
sp_status sp_bundle_open(const char *prefix, sp_bundle_reader **reader) SP_MUST_CHECK;
void sp_bundle_close(sp_bundle_reader *reader);

/* Entries in key order (the header entry "" is not one of them). */
size_t sp_bundle_count(const sp_bundle_reader *reader);
const sp_bundle_entry *sp_bundle_entry_at(const sp_bundle_reader *reader, size_t index);
/* NULL when absent. */
const sp_bundle_entry *sp_bundle_find(const sp_bundle_reader *reader, const char *key);
/* num_shards of the header. */
int sp_bundle_shard_count(const sp_bundle_reader *reader);

/* Reads one tensor from its data file and verifies its CRC32C (SP_ERROR_CHECKSUM naming the
 * tensor when the bytes do not match). The tensor owns its data; free with sp_tensor_free. */
sp_status sp_bundle_read(sp_bundle_reader *reader, const char *key, sp_tensor **tensor) SP_MUST_CHECK;

/* Reads every index block and every tensor, calling report once per bad one with its name
 * (a tensor key, or "<prefix>.index" / "<prefix>.index data block N (bytes A..B)").
 * *problem_count gets the number of reports. Returns SP_OK when nothing is wrong,
 * SP_ERROR_CHECKSUM when some block or tensor is bad, or the error that stopped the check
 * (no index, unreadable footer or header). report may be NULL. */
typedef void (*sp_bundle_problem_fn)(void *context, const char *key_or_block, const char *message);
sp_status sp_bundle_verify(const char *prefix, sp_bundle_problem_fn report, void *context,
                           size_t *problem_count) SP_MUST_CHECK;

/* ---- writing ---- */

typedef struct sp_bundle_writer sp_bundle_writer;

typedef struct sp_bundle_writer_options {
  /* Number of data files (1 .. SP_BUNDLE_MAX_SHARDS; 0 means 1). Each tensor goes whole to
   * the data file with the fewest bytes so far (ties: the lowest number). */
  int shard_count;
} sp_bundle_writer_options;

/* A single-shard writer, as tf.train.Checkpoint and Keras write. Creates the prefix's
 * directory when missing. */
sp_status sp_bundle_writer_open(const char *prefix, sp_bundle_writer **writer) SP_MUST_CHECK;
sp_status sp_bundle_writer_open_with(const char *prefix, const sp_bundle_writer_options *options,
                                     sp_bundle_writer **writer) SP_MUST_CHECK;
/* Appends the tensor's bytes to a data file (in add order). Keys must be non-empty and
 * distinct; a duplicate is reported by finish. An I/O failure makes the writer unusable. */
sp_status sp_bundle_add(sp_bundle_writer *writer, const char *key, const sp_tensor *tensor) SP_MUST_CHECK;
/* Writes the index (sorted keys + header) and publishes the bundle (see the durability note
 * above). Releases the writer whatever the outcome; on failure before publishing, the
 * temporary files are removed and an existing bundle is untouched. */
sp_status sp_bundle_writer_finish(sp_bundle_writer *writer) SP_MUST_CHECK;
/* Removes the temporary files and releases the writer; the prefix is untouched. */
void sp_bundle_writer_abort(sp_bundle_writer *writer);

/* ---- helpers shared with other formats, the CLI and the fuzzers ---- */

/* "<prefix>.index" and "<prefix>.data-00003-of-00008" as new strings (NULL on failure). */
char *sp_bundle_index_path(const char *prefix);
char *sp_bundle_data_path(const char *prefix, int shard, int shard_count);

/* numpy-style name of any TF DataType a bundle may hold: sp_dtype_name() for those savepoint
 * supports, else "variant", "resource", "qint8", ... ("unknown" for numbers TF lacks). */
const char *sp_bundle_dtype_name(sp_dtype dtype);

/* Decodes and validates one serialized BundleEntryProto (what the reader does per entry).
 * key is borrowed into entry->key. shard_sizes[shard_count] are the data file sizes. */
sp_status sp_bundle_decode_entry(const char *key, const uint8_t *value, size_t length, int shard_count,
                                 const uint64_t *shard_sizes, sp_bundle_entry *entry) SP_MUST_CHECK;

#endif
