/* restore.c — RestoreV2's access to variables/variables.* through the tensor-bundle reader
 * (formats/tf_bundle.h); the only file of the graph layer that reads checkpoints. Every tensor is
 * checked against the dtype the graph expects, and CRC-verified by the reader. */
#include "graph/restore.h"

#include <stdlib.h>

#include "formats/tf_bundle.h"

static sp_status read_one(sp_bundle_reader *reader, const char *prefix, const char *key, sp_dtype dtype,
                          sp_tensor **tensor) {
  const sp_bundle_entry *entry = sp_bundle_find(reader, key);
  if (!entry) return sp_fail(SP_ERROR_NOT_FOUND, "checkpoint '%s' has no tensor '%s'", prefix, key);
  if (entry->sliced)
    return sp_fail(SP_ERROR_UNSUPPORTED, "checkpoint '%s': tensor '%s' is partitioned into slices", prefix, key);
  if (entry->dtype != dtype)
    return sp_fail(SP_ERROR_MISMATCH, "checkpoint '%s': tensor '%s' is %s, the graph restores it as %s", prefix, key,
                   sp_bundle_dtype_name(entry->dtype), sp_bundle_dtype_name(dtype));
  return sp_bundle_read(reader, key, tensor);
}

sp_status sp_graph_restore_tensors(const char *prefix, size_t count, const char *const *keys, const sp_dtype *dtypes,
                                   sp_tensor **tensors) {
  for (size_t i = 0; i < count; i++) tensors[i] = NULL;
  sp_bundle_reader *reader;
  SP_TRY(sp_bundle_open(prefix, &reader));
  sp_status status = SP_OK;
  for (size_t i = 0; i < count && status == SP_OK; i++) status = read_one(reader, prefix, keys[i], dtypes[i], &tensors[i]);
  sp_bundle_close(reader);
  if (status != SP_OK)
    for (size_t i = 0; i < count; i++) {
      sp_tensor_free(tensors[i]);
      tensors[i] = NULL;
    }
  return status;
}
