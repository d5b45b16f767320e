/* ops.h — the op tables (one per ops_*.c file) and helpers shared between them. */
#ifndef SP_GRAPH_OPS_H
#define SP_GRAPH_OPS_H

#include "graph/kernel.h"

extern const sp_op sp_graph_ops_basic[];
extern const sp_op sp_graph_ops_variables[];
extern const sp_op sp_graph_ops_strings[];
extern const sp_op sp_graph_ops_math[];
extern const sp_op sp_graph_ops_array[];
extern const sp_op sp_graph_ops_nn[];
extern const sp_op sp_graph_ops_reduce[];
extern const sp_op sp_graph_ops_parse[];
extern const sp_op sp_graph_ops_random[];

/* Element-wise a <op> b with NumPy broadcasting, for ops that combine variables with deltas
 * ("Add", "Sub", "Mul"); the result is a new tensor the caller owns. */
sp_status sp_graph_binary(sp_kernel_context *context, const char *op, const sp_tensor *a, const sp_tensor *b,
                          sp_tensor **result) SP_MUST_CHECK;

#endif
