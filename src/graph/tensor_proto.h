/* tensor_proto.h — TensorProto (Const values, attr tensors, signature defaults) to sp_tensor. */
#ifndef SP_GRAPH_TENSOR_PROTO_H
#define SP_GRAPH_TENSOR_PROTO_H

#include <stddef.h>

#include "core/status.h"
#include "savepoint/tensor.h"
#include "tensor.pb-c.h"

/* Shape of a TensorShapeProto; unknown rank, unknown (-1) dimensions and rank > SP_MAX_RANK fail. */
sp_status sp_shape_from_proto(const Tensorflow__TensorShapeProto *proto, const char *what, int *rank,
                              int64_t *shape) SP_MUST_CHECK;

/* Decodes a TensorProto: tensor_content, or a typed value list (an empty list means zeros, a
 * shorter one repeats its last value, as TF stores splat constants). Tensors over max_bytes, content
 * of the wrong size and dtypes savepoint cannot hold fail with what named. */
sp_status sp_tensor_from_proto(const Tensorflow__TensorProto *proto, size_t max_bytes, const char *what,
                               sp_tensor **tensor) SP_MUST_CHECK;

#endif
