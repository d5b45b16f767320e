/* restore.h — reading checkpoint tensors for RestoreV2, the one place the graph layer touches the
 * tensor-bundle reader. */
#ifndef SP_GRAPH_RESTORE_H
#define SP_GRAPH_RESTORE_H

#include <stddef.h>

#include "core/status.h"
#include "savepoint/tensor.h"

/* Reads keys[i] from the bundle at prefix into tensors[i] (new tensors the caller frees); on failure
 * none are returned. dtypes[i] is what the graph expects. */
sp_status sp_graph_restore_tensors(const char *prefix, size_t count, const char *const *keys, const sp_dtype *dtypes,
                                   sp_tensor **tensors) SP_MUST_CHECK;

#endif
