/* fuzz_bundle_entry.c — libFuzzer target for BundleEntryProto decoding and validation.
 *
 * The input is one index value. Whatever it holds, an accepted entry must satisfy what the
 * reader relies on (rank within limits, non-negative dimensions, the byte range inside its
 * data file, size matching dtype and shape); a violation aborts. */
#include <stdint.h>
#include <stdlib.h>

#include "formats/tf_bundle.h"
#include "savepoint/tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint64_t shard_sizes[] = {4096, 1u << 20};
  sp_bundle_entry entry;
  if (sp_bundle_decode_entry("fuzz", data, size, 2, shard_sizes, &entry) != SP_OK) return 0;
  int64_t count;
  if (entry.rank < 0 || entry.rank > SP_MAX_RANK) abort();
  if (sp_shape_count(entry.rank, entry.shape, &count) != SP_OK) abort();
  if (entry.sliced) return 0;
  if (entry.shard_id < 0 || entry.shard_id > 1) abort();
  if (entry.offset > shard_sizes[entry.shard_id] || entry.size > shard_sizes[entry.shard_id] - entry.offset) abort();
  size_t element = sp_dtype_size(entry.dtype);
  if (element && entry.dtype != SP_STRING && (uint64_t)count * element != entry.size) abort();
  if (entry.dtype == SP_STRING && count > 0 && entry.size < (uint64_t)count) abort();
  return 0;
}
