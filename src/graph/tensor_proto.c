/* tensor_proto.c — decoding TensorProto values (see tensor_proto.h).
 *
 * Sizes come from the graph file, so the element count is checked against max_bytes before any
 * allocation: a Const declaring [2^40] with one float_val (a legal splat) is refused, not expanded.
 */
#include "graph/tensor_proto.h"

#include <string.h>

#include "core/memory.h"

sp_status sp_shape_from_proto(const Tensorflow__TensorShapeProto *proto, const char *what, int *rank,
                              int64_t *shape) {
  *rank = 0;
  if (!proto) return SP_OK;
  if (proto->unknown_rank) return sp_fail(SP_ERROR_FORMAT, "%s: shape has unknown rank", what);
  if (proto->n_dim > SP_MAX_RANK)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: %zu dimensions (savepoint handles up to %d)", what, proto->n_dim,
                   SP_MAX_RANK);
  for (size_t i = 0; i < proto->n_dim; i++) {
    if (proto->dim[i]->size < 0)
      return sp_fail(SP_ERROR_FORMAT, "%s: dimension %zu is %lld", what, i, (long long)proto->dim[i]->size);
    shape[i] = proto->dim[i]->size;
  }
  *rank = (int)proto->n_dim;
  return SP_OK;
}

/* How many values the typed list for dtype holds, and element i of it stored into tensor. */
static size_t list_length(const Tensorflow__TensorProto *proto, sp_dtype dtype) {
  switch (dtype) {
    case SP_FLOAT32: return proto->n_float_val;
    case SP_FLOAT64: return proto->n_double_val;
    case SP_INT32: case SP_INT16: case SP_INT8: case SP_UINT8: case SP_UINT16: return proto->n_int_val;
    case SP_INT64: return proto->n_int64_val;
    case SP_BOOL: return proto->n_bool_val;
    case SP_FLOAT16: case SP_BFLOAT16: return proto->n_half_val;
    case SP_UINT32: return proto->n_uint32_val;
    case SP_UINT64: return proto->n_uint64_val;
    case SP_STRING: return proto->n_string_val;
    case SP_COMPLEX64: return proto->n_scomplex_val / 2;
    case SP_COMPLEX128: return proto->n_dcomplex_val / 2;
    default: return 0;
  }
}

static sp_status store_list_value(const Tensorflow__TensorProto *proto, sp_tensor *tensor, int64_t to, size_t from) {
  void *data = tensor->data;
  switch (tensor->dtype) {
    case SP_FLOAT32: ((float *)data)[to] = proto->float_val[from]; break;
    case SP_FLOAT64: ((double *)data)[to] = proto->double_val[from]; break;
    case SP_INT32: ((int32_t *)data)[to] = proto->int_val[from]; break;
    case SP_INT16: ((int16_t *)data)[to] = (int16_t)proto->int_val[from]; break;
    case SP_INT8: ((int8_t *)data)[to] = (int8_t)proto->int_val[from]; break;
    case SP_UINT8: ((uint8_t *)data)[to] = (uint8_t)proto->int_val[from]; break;
    case SP_UINT16: ((uint16_t *)data)[to] = (uint16_t)proto->int_val[from]; break;
    case SP_INT64: ((int64_t *)data)[to] = proto->int64_val[from]; break;
    case SP_BOOL: ((uint8_t *)data)[to] = proto->bool_val[from] != 0; break;
    case SP_FLOAT16: case SP_BFLOAT16: ((uint16_t *)data)[to] = (uint16_t)proto->half_val[from]; break;
    case SP_UINT32: ((uint32_t *)data)[to] = proto->uint32_val[from]; break;
    case SP_UINT64: ((uint64_t *)data)[to] = proto->uint64_val[from]; break;
    case SP_COMPLEX64:
      ((float *)data)[2 * to] = proto->scomplex_val[2 * from];
      ((float *)data)[2 * to + 1] = proto->scomplex_val[2 * from + 1];
      break;
    case SP_COMPLEX128:
      ((double *)data)[2 * to] = proto->dcomplex_val[2 * from];
      ((double *)data)[2 * to + 1] = proto->dcomplex_val[2 * from + 1];
      break;
    case SP_STRING:
      return sp_tensor_set_string(tensor, to, proto->string_val[from].data, proto->string_val[from].len);
    default: break;
  }
  return SP_OK;
}

static sp_status fill_from_list(const Tensorflow__TensorProto *proto, sp_tensor *tensor, int64_t count,
                                size_t max_bytes, const char *what) {
  size_t length = list_length(proto, tensor->dtype);
  if ((int64_t)length > count)
    return sp_fail(SP_ERROR_FORMAT, "%s: %zu values for a tensor of %lld elements", what, length, (long long)count);
  if (length == 0) return SP_OK; /* zeros (or empty strings) */
  if (tensor->dtype == SP_STRING) { /* repeated strings must not multiply past the limit either */
    size_t total = 0;
    for (int64_t i = 0; i < count; i++) {
      total += proto->string_val[(size_t)i < length ? (size_t)i : length - 1].len;
      if (total > max_bytes)
        return sp_fail(SP_ERROR_UNSAFE, "%s: string values total over the %zu-byte limit", what, max_bytes);
    }
  }
  for (int64_t i = 0; i < count; i++) {
    size_t from = (size_t)i < length ? (size_t)i : length - 1;
    SP_TRY(store_list_value(proto, tensor, i, from));
  }
  return SP_OK;
}

sp_status sp_tensor_from_proto(const Tensorflow__TensorProto *proto, size_t max_bytes, const char *what,
                               sp_tensor **tensor) {
  *tensor = NULL;
  sp_dtype dtype = (sp_dtype)proto->dtype;
  size_t element_size = sp_dtype_size(dtype);
  if (element_size == 0) {
    const ProtobufCEnumValue *name = protobuf_c_enum_descriptor_get_value(&tensorflow__data_type__descriptor, proto->dtype);
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: tensors of dtype %s are not supported", what,
                   name ? name->name : "(unknown)");
  }
  int rank;
  int64_t shape[SP_MAX_RANK];
  SP_TRY(sp_shape_from_proto(proto->tensor_shape, what, &rank, shape));
  int64_t count;
  SP_TRY(sp_shape_count(rank, shape, &count));
  size_t bytes;
  if (!sp_multiply_size((size_t)count, element_size, &bytes) || bytes > max_bytes)
    return sp_fail(SP_ERROR_UNSAFE, "%s: a %s tensor of %lld elements is over the %zu-byte limit", what,
                   sp_dtype_name(dtype), (long long)count, max_bytes);
  if (proto->tensor_content.len && dtype != SP_STRING && proto->tensor_content.len != bytes)
    return sp_fail(SP_ERROR_FORMAT, "%s: tensor_content holds %zu bytes, shape and dtype need %zu", what,
                   proto->tensor_content.len, bytes);
  sp_tensor *result = sp_tensor_new(dtype, rank, shape);
  if (!result) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  if (proto->tensor_content.len && dtype != SP_STRING) {
    memcpy(result->data, proto->tensor_content.data, bytes);
    if (dtype == SP_BOOL)
      for (size_t i = 0; i < bytes; i++) ((uint8_t *)result->data)[i] = ((uint8_t *)result->data)[i] != 0;
  } else {
    status = fill_from_list(proto, result, count, max_bytes, what);
  }
  if (status != SP_OK) {
    sp_tensor_free(result);
    return status;
  }
  *tensor = result;
  return SP_OK;
}
