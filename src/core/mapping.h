/* mapping.h — private mappings of files that tensors can view instead of copying.
 *
 * A mapping is a region of files mapped MAP_PRIVATE with read and write access: reads come
 * straight from the page cache, and a write copies just the page written (copy on write), so
 * a file is never changed through its mapping. It is reference counted: every tensor viewing
 * it holds a reference (sp_tensor_view), and the region is unmapped with the last one.
 *
 * What a view cannot survive: a file savepoint publishes is replaced by rename, so a mapped
 * file keeps its bytes; a file another program rewrites or truncates in place changes under
 * the mapping (and touching a page past a truncated end raises SIGBUS). That is why loading
 * maps weights only when asked (sp_load_options.map_weights).
 */
#ifndef SP_CORE_MAPPING_H
#define SP_CORE_MAPPING_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "savepoint/tensor.h"

typedef struct sp_mapping sp_mapping;

/* Maps length (> 0) bytes at offset of a regular file; *data points at byte offset. The page
 * tables are filled up front for reading (no page is copied). SP_ERROR_FORMAT when the range
 * is not inside the file. */
sp_status sp_mapping_open(const char *path, uint64_t offset, uint64_t length, sp_mapping **mapping,
                          const uint8_t **data) SP_MUST_CHECK;
/* Maps whole files one after another as one region, as if they were concatenated (TF.js
 * shards): *data points at the first file's first byte. Every file but the last must be a
 * whole number of pages long (SP_ERROR_UNSUPPORTED otherwise, for the caller to copy
 * instead), and each must still have the size given. */
sp_status sp_mapping_join(const char *const *paths, const uint64_t *sizes, size_t count, sp_mapping **mapping,
                          const uint8_t **data) SP_MUST_CHECK;
sp_mapping *sp_mapping_retain(sp_mapping *mapping);
/* Drops a reference; the last one unmaps the region. NULL is allowed. */
void sp_mapping_release(sp_mapping *mapping);

/* Makes tensor view size bytes at data inside mapping (retained) in place of its own storage,
 * which is released. Numeric tensors only; data must be aligned for the dtype and the bytes
 * must be the tensor's little-endian elements. */
void sp_tensor_view(sp_tensor *tensor, sp_mapping *mapping, const void *data);

/* A zero-filled tensor whose storage is not faulted in (sp_tensor_new faults large tensors
 * in at once, to be filled): for a model's variables, which a load may point at a mapping
 * instead, or fill through sp_tensor_prepare_overwrite. */
sp_tensor *sp_tensor_new_unfaulted(sp_dtype dtype, int rank, const int64_t *shape);
/* Before every byte of tensor is written: a view gets private storage of its own again (the
 * mapping released), and large storage is faulted in with one call (memory.h). */
sp_status sp_tensor_prepare_overwrite(sp_tensor *tensor) SP_MUST_CHECK;
/* Copies source's bytes (same dtype and shape) over target's, after preparing target. */
sp_status sp_tensor_overwrite(sp_tensor *target, const sp_tensor *source) SP_MUST_CHECK;

#endif
