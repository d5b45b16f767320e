/* ops_reduce.c — reductions over axes (Sum, Mean, Max, Min, Prod, All, Any) and ArgMax/ArgMin.
 *
 * Float reductions accumulate in double (the result rounds once to the element type); integer
 * ones in 64-bit with wrap-around; Mean of integers divides with truncation, as TensorFlow does.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "graph/ops.h"

typedef enum reduce_kind { SUM, MEAN, MAXIMUM, MINIMUM, PRODUCT, ALL, ANY } reduce_kind;

typedef struct reduction {
  int reduce[SP_MAX_RANK];   /* 1 for each reduced axis */
  int64_t out_shape[SP_MAX_RANK];
  int out_rank;
  int64_t kept_shape[SP_MAX_RANK]; /* the input shape with reduced axes set to 1 */
} reduction;

static sp_status plan_reduction(sp_kernel_context *context, const sp_tensor *input, reduction *r) {
  int64_t axes[SP_MAX_RANK * 2];
  size_t count;
  SP_TRY(sp_kernel_input_ints(context, 1, axes, SP_MAX_RANK * 2, &count));
  int keep_dims;
  SP_TRY(sp_kernel_attr_bool(context, "keep_dims", 0, &keep_dims));
  memset(r, 0, sizeof *r);
  for (size_t i = 0; i < count; i++) {
    if (axes[i] < -input->rank || axes[i] >= input->rank)
      return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "axis %lld is outside a rank-%d input", (long long)axes[i],
                            input->rank);
    r->reduce[axes[i] < 0 ? axes[i] + input->rank : axes[i]] = 1;
  }
  for (int d = 0; d < input->rank; d++) {
    r->kept_shape[d] = r->reduce[d] ? 1 : input->shape[d];
    if (!r->reduce[d] || keep_dims) r->out_shape[r->out_rank++] = r->reduce[d] ? 1 : input->shape[d];
  }
  return SP_OK;
}

/* The output element each input element folds into. */
static int64_t output_index(const reduction *r, int rank, const int64_t *counter) {
  int64_t index = 0;
  for (int d = 0; d < rank; d++) index = index * r->kept_shape[d] + (r->reduce[d] ? 0 : counter[d]);
  return index;
}

static double fold_double(reduce_kind kind, double accumulated, double value) {
  switch (kind) {
    case SUM: case MEAN: return accumulated + value;
    case PRODUCT: return accumulated * value;
    case MAXIMUM: return isnan(value) || value > accumulated ? value : accumulated;
    case MINIMUM: return isnan(value) || value < accumulated ? value : accumulated;
    default: return accumulated;
  }
}

static int64_t fold_integer(reduce_kind kind, int64_t accumulated, int64_t value) {
  switch (kind) {
    case SUM: case MEAN: return (int64_t)((uint64_t)accumulated + (uint64_t)value);
    case PRODUCT: return (int64_t)((uint64_t)accumulated * (uint64_t)value);
    case MAXIMUM: return value > accumulated ? value : accumulated;
    case MINIMUM: return value < accumulated ? value : accumulated;
    case ALL: return accumulated && value;
    case ANY: return accumulated || value;
    default: return accumulated;
  }
}

static sp_status reduce(sp_kernel_context *context) {
  static const struct {
    const char *name;
    reduce_kind kind;
  } names[] = {{"Sum", SUM}, {"Mean", MEAN}, {"Max", MAXIMUM}, {"Min", MINIMUM}, {"Prod", PRODUCT}, {"All", ALL}, {"Any", ANY}};
  reduce_kind kind = SUM;
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcmp(names[i].name, context->node->op) == 0) kind = names[i].kind;
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  int logical = kind == ALL || kind == ANY;
  if (logical ? input->dtype != SP_BOOL : !sp_dtype_is_float(input->dtype) && !sp_dtype_is_integer(input->dtype))
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "is not defined for %s", sp_dtype_name(input->dtype));
  reduction r;
  SP_TRY(plan_reduction(context, input, &r));
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, input->dtype, r.out_rank, r.out_shape, &out));
  int64_t out_count = sp_tensor_count(out), in_count = sp_tensor_count(input);
  if (out_count == 0) return SP_OK;
  int64_t group = in_count / out_count;
  if ((kind == MAXIMUM || kind == MINIMUM) && group == 0)
    return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "reducing an empty axis has no %s", kind == MAXIMUM ? "maximum" : "minimum");
  int floating = sp_dtype_is_float(input->dtype);
  double *doubles = floating ? sp_alloc_zeroed((size_t)out_count, sizeof *doubles) : NULL;
  int64_t *integers = floating ? NULL : sp_alloc_zeroed((size_t)out_count, sizeof *integers);
  unsigned char *started = sp_alloc_zeroed((size_t)out_count, 1);
  if ((floating ? !doubles : !integers) || !started) {
    free(doubles);
    free(integers);
    free(started);
    return sp_kernel_fail(context, SP_ERROR_NO_MEMORY, "out of memory");
  }
  int64_t counter[SP_MAX_RANK] = {0};
  for (int64_t i = 0; i < in_count; i++) {
    int64_t o = output_index(&r, input->rank, counter);
    if (floating) {
      double value = sp_tensor_get_double(input, i);
      doubles[o] = started[o] ? fold_double(kind, doubles[o], value) : value;
    } else {
      int64_t value = sp_tensor_get_int(input, i);
      integers[o] = started[o] ? fold_integer(kind, integers[o], value) : value;
    }
    started[o] = 1;
    sp_index_advance(input->rank, input->shape, counter);
  }
  for (int64_t o = 0; o < out_count; o++) {
    if (floating) {
      double value = !started[o] ? (kind == PRODUCT ? 1 : 0) : kind == MEAN ? doubles[o] / (double)group : doubles[o];
      sp_tensor_set_double(out, o, value);
    } else {
      int64_t value = !started[o] ? (kind == PRODUCT || kind == ALL) : kind == MEAN ? integers[o] / group : integers[o];
      sp_tensor_set_int(out, o, value);
    }
  }
  free(doubles);
  free(integers);
  free(started);
  return SP_OK;
}

static sp_status arg_extreme(sp_kernel_context *context) {
  int maximum = strcmp(context->node->op, "ArgMax") == 0;
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  int64_t axis_values[1];
  size_t count;
  SP_TRY(sp_kernel_input_ints(context, 1, axis_values, 1, &count));
  if (count != 1 || input->rank == 0)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "needs a scalar axis and an input of rank >= 1");
  int64_t axis = axis_values[0] < 0 ? axis_values[0] + input->rank : axis_values[0];
  if (axis < 0 || axis >= input->rank) return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "axis is out of range");
  if (input->shape[axis] == 0) return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "reduces an empty axis");
  if (!sp_dtype_is_float(input->dtype) && !sp_dtype_is_integer(input->dtype))
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "is not defined for %s", sp_dtype_name(input->dtype));
  sp_dtype type;
  SP_TRY(sp_kernel_attr_type(context, "output_type", SP_INT64, &type));
  if (type != SP_INT32 && type != SP_INT64) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "output_type must be int32 or int64");
  int64_t shape[SP_MAX_RANK], outer = 1, inner = 1, length = input->shape[axis];
  int rank = 0;
  for (int d = 0; d < input->rank; d++) {
    if (d == axis) continue;
    shape[rank++] = input->shape[d];
    if (d < axis) outer *= input->shape[d];
    else inner *= input->shape[d];
  }
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, type, rank, shape, &out));
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t best = 0;
      double best_value = sp_tensor_get_double(input, o * length * inner + i);
      for (int64_t k = 1; k < length && !isnan(best_value); k++) {
        double value = sp_tensor_get_double(input, (o * length + k) * inner + i);
        if (isnan(value) || (maximum ? value > best_value : value < best_value)) best = k, best_value = value;
      }
      sp_tensor_set_int(out, o * inner + i, best);
    }
  return SP_OK;
}

const sp_op sp_graph_ops_reduce[] = {
    {"Sum", reduce, NULL, 0},  {"Mean", reduce, NULL, 0}, {"Max", reduce, NULL, 0},
    {"Min", reduce, NULL, 0},  {"Prod", reduce, NULL, 0}, {"All", reduce, NULL, 0},
    {"Any", reduce, NULL, 0},  {"ArgMax", arg_extreme, NULL, 0}, {"ArgMin", arg_extreme, NULL, 0},
    {NULL, NULL, NULL, 0},
};
