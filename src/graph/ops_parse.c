/* ops_parse.c — ParseExample and ParseExampleV2 for dense features: the tf.Example decoding that
 * classify and regress signatures start with. Sparse and ragged features are refused by name. */
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "formats/example.h"
#include "graph/ops.h"
#include "graph/tensor_proto.h"

typedef struct dense_spec {
  const char *key;     /* borrowed from an input tensor */
  sp_dtype dtype;
  int rank;
  int64_t shape[SP_MAX_RANK];
  int64_t count;       /* elements per example */
  const sp_tensor *fallback; /* default value, or NULL when the feature is required */
} dense_spec;

static sp_status feature_values(sp_kernel_context *context, const Tensorflow__Feature *feature, const dense_spec *spec,
                                size_t *count) {
  switch (spec->dtype) {
    case SP_FLOAT32:
      if (feature->kind_case != TENSORFLOW__FEATURE__KIND_FLOAT_LIST) break;
      *count = feature->float_list->n_value;
      return SP_OK;
    case SP_INT64:
      if (feature->kind_case != TENSORFLOW__FEATURE__KIND_INT64_LIST) break;
      *count = feature->int64_list->n_value;
      return SP_OK;
    case SP_STRING:
      if (feature->kind_case != TENSORFLOW__FEATURE__KIND_BYTES_LIST) break;
      *count = feature->bytes_list->n_value;
      return SP_OK;
    default:
      return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "dense feature '%s' has dtype %s", spec->key,
                            sp_dtype_name(spec->dtype));
  }
  return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "feature '%s' is not a %s list", spec->key,
                        spec->dtype == SP_FLOAT32 ? "float" : spec->dtype == SP_INT64 ? "int64" : "bytes");
}

static sp_status store_feature(sp_kernel_context *context, const Tensorflow__Feature *feature, const dense_spec *spec,
                               sp_tensor *out, int64_t base) {
  size_t count = 0;
  SP_TRY(feature_values(context, feature, spec, &count));
  if ((int64_t)count != spec->count)
    return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "feature '%s' has %zu values, the graph expects %lld",
                          spec->key, count, (long long)spec->count);
  for (size_t i = 0; i < count; i++) {
    int64_t at = base + (int64_t)i;
    if (spec->dtype == SP_FLOAT32) ((float *)out->data)[at] = feature->float_list->value[i];
    else if (spec->dtype == SP_INT64) ((int64_t *)out->data)[at] = feature->int64_list->value[i];
    else SP_TRY(sp_tensor_set_string(out, at, feature->bytes_list->value[i].data, feature->bytes_list->value[i].len));
  }
  return SP_OK;
}

static sp_status store_default(sp_kernel_context *context, const dense_spec *spec, sp_tensor *out, int64_t base) {
  if (!spec->fallback || sp_tensor_count(spec->fallback) == 0)
    return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "feature '%s' is required but the example lacks it",
                          spec->key);
  int64_t available = sp_tensor_count(spec->fallback);
  if (spec->fallback->dtype != spec->dtype || (available != 1 && available != spec->count))
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "the default of feature '%s' is %lld %s values, not %lld %s",
                          spec->key, (long long)available, sp_dtype_name(spec->fallback->dtype),
                          (long long)spec->count, sp_dtype_name(spec->dtype));
  for (int64_t i = 0; i < spec->count; i++)
    SP_TRY(sp_tensor_copy_element(out, base + i, spec->fallback, available == 1 ? 0 : i));
  return SP_OK;
}

/* Fills dense output k for every serialized example. */
static sp_status parse_dense(sp_kernel_context *context, const sp_tensor *serialized, const dense_spec *specs,
                             size_t dense_count, size_t first_output) {
  int64_t batch = sp_tensor_count(serialized);
  sp_tensor **outputs = sp_alloc_zeroed(dense_count + 1, sizeof *outputs);
  if (!outputs) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  for (size_t k = 0; k < dense_count && status == SP_OK; k++) {
    int64_t shape[SP_MAX_RANK];
    int rank = 0;
    if (serialized->rank == 1) shape[rank++] = batch;
    if (rank + specs[k].rank > SP_MAX_RANK) status = sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "rank too large");
    for (int d = 0; d < specs[k].rank && status == SP_OK; d++) shape[rank++] = specs[k].shape[d];
    if (status == SP_OK) status = sp_kernel_output_new(context, first_output + k, specs[k].dtype, rank, shape, &outputs[k]);
  }
  for (int64_t b = 0; b < batch && status == SP_OK; b++) {
    const sp_string *record = &((const sp_string *)serialized->data)[b];
    Tensorflow__Example *example;
    status = sp_example_decode(record->bytes, record->length, "serialized tf.Example", &example);
    if (status != SP_OK) {
      status = sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "example %lld: %s", (long long)b, sp_last_error());
      break;
    }
    for (size_t k = 0; k < dense_count && status == SP_OK; k++) {
      const Tensorflow__Feature *feature = sp_example_find_feature(example, specs[k].key);
      status = feature ? store_feature(context, feature, &specs[k], outputs[k], b * specs[k].count)
                       : store_default(context, &specs[k], outputs[k], b * specs[k].count);
    }
    protobuf_c_message_free_unpacked(&example->base, NULL);
  }
  free(outputs);
  return status;
}

/* dense_shapes and Tdense attrs into specs (keys and defaults are filled by the callers). */
static sp_status dense_attrs(sp_kernel_context *context, dense_spec *specs, size_t count) {
  const Tensorflow__AttrValue *types = sp_kernel_attr(context, "Tdense");
  const Tensorflow__AttrValue *shapes = sp_kernel_attr(context, "dense_shapes");
  size_t type_count = types && types->value_case == TENSORFLOW__ATTR_VALUE__VALUE_LIST ? types->list->n_type : 0;
  size_t shape_count = shapes && shapes->value_case == TENSORFLOW__ATTR_VALUE__VALUE_LIST ? shapes->list->n_shape : 0;
  if (type_count != count || shape_count != count)
    return sp_kernel_fail(context, SP_ERROR_FORMAT, "Tdense and dense_shapes must list %zu entries", count);
  for (size_t k = 0; k < count; k++) {
    specs[k].dtype = (sp_dtype)types->list->type[k];
    SP_TRY(sp_shape_from_proto(shapes->list->shape[k], "dense_shapes", &specs[k].rank, specs[k].shape));
    SP_TRY(sp_shape_count(specs[k].rank, specs[k].shape, &specs[k].count));
  }
  return SP_OK;
}

static sp_status require_none(sp_kernel_context *context, const char *attr, const char *what) {
  const Tensorflow__AttrValue *value = sp_kernel_attr(context, attr);
  int64_t count = 0;
  if (value && value->value_case == TENSORFLOW__ATTR_VALUE__VALUE_I) count = value->i;
  if (value && value->value_case == TENSORFLOW__ATTR_VALUE__VALUE_LIST) count = (int64_t)value->list->n_type;
  if (count) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "%s features are not supported", what);
  return SP_OK;
}

static const char *string_at(const sp_tensor *tensor, int64_t index) {
  return ((const sp_string *)tensor->data)[index].bytes;
}

/* ParseExample(serialized, names, sparse_keys[Nsparse], dense_keys[Ndense], dense_defaults[Ndense]). */
static sp_status parse_example(sp_kernel_context *context) {
  SP_TRY(require_none(context, "Nsparse", "sparse"));
  int64_t dense;
  SP_TRY(sp_kernel_attr_int(context, "Ndense", 0, &dense));
  if (dense < 0 || context->input_count != 2 + 2 * (size_t)dense)
    return sp_kernel_fail(context, SP_ERROR_FORMAT, "needs 2 + 2 x %lld inputs", (long long)dense);
  const sp_tensor *serialized;
  SP_TRY(sp_kernel_input_typed(context, 0, SP_STRING, &serialized));
  if (serialized->rank != 1) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "serialized must be a vector");
  dense_spec *specs = sp_alloc_zeroed((size_t)dense + 1, sizeof *specs);
  if (!specs) return SP_ERROR_NO_MEMORY;
  sp_status status = dense_attrs(context, specs, (size_t)dense);
  for (int64_t k = 0; k < dense && status == SP_OK; k++) {
    const sp_tensor *key;
    status = sp_kernel_input_typed(context, 2 + (size_t)k, SP_STRING, &key);
    if (status == SP_OK && sp_tensor_count(key) != 1) status = sp_kernel_fail(context, SP_ERROR_MISMATCH, "dense keys must be scalars");
    if (status == SP_OK) specs[k].key = string_at(key, 0);
    if (status == SP_OK) status = sp_kernel_input(context, 2 + (size_t)(dense + k), &specs[k].fallback);
  }
  if (status == SP_OK) status = parse_dense(context, serialized, specs, (size_t)dense, 0);
  free(specs);
  return status;
}

/* ParseExampleV2(serialized, names, sparse_keys, dense_keys, ragged_keys, dense_defaults[...]). */
static sp_status parse_example_v2(sp_kernel_context *context) {
  SP_TRY(require_none(context, "num_sparse", "sparse"));
  SP_TRY(require_none(context, "ragged_value_types", "ragged"));
  const sp_tensor *serialized, *keys;
  SP_TRY(sp_kernel_input_typed(context, 0, SP_STRING, &serialized));
  SP_TRY(sp_kernel_input_typed(context, 3, SP_STRING, &keys));
  if (serialized->rank > 1) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "serialized must be a scalar or a vector");
  int64_t dense = sp_tensor_count(keys);
  if (context->input_count != 5 + (size_t)dense)
    return sp_kernel_fail(context, SP_ERROR_FORMAT, "needs 5 + %lld inputs", (long long)dense);
  dense_spec *specs = sp_alloc_zeroed((size_t)dense + 1, sizeof *specs);
  if (!specs) return SP_ERROR_NO_MEMORY;
  sp_status status = dense_attrs(context, specs, (size_t)dense);
  for (int64_t k = 0; k < dense && status == SP_OK; k++) {
    specs[k].key = string_at(keys, k);
    status = sp_kernel_input(context, 5 + (size_t)k, &specs[k].fallback);
  }
  if (status == SP_OK) status = parse_dense(context, serialized, specs, (size_t)dense, 0);
  free(specs);
  return status;
}

const sp_op sp_graph_ops_parse[] = {
    {"ParseExample", parse_example, "sparse_indices*Nsparse,sparse_values*sparse_types,sparse_shapes*Nsparse,"
                                    "dense_values*Tdense", 0},
    {"ParseExampleV2", parse_example_v2, "sparse_indices*num_sparse,sparse_values*sparse_types,"
                                         "sparse_shapes*num_sparse,dense_values*Tdense,"
                                         "ragged_values*ragged_value_types,ragged_row_splits*ragged_split_types", 0},
    {NULL, NULL, NULL, 0},
};
