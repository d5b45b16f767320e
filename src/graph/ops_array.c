/* ops_array.c — shape and layout ops: Reshape, Shape, Size, Rank, Squeeze, ExpandDims, Concat,
 * Pack/Unpack, Split, Transpose, StridedSlice (every mask), Slice, Gather, Fill, Range, Tile, Pad,
 * BroadcastTo, BroadcastGradientArgs and DynamicStitch.
 *
 * Every output size is computed and checked against the limits before it is allocated, so a
 * hostile Fill, Range or Tile fails with the node named instead of exhausting memory.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "graph/ops.h"

/* ---------- helpers ---------- */

static void row_major_strides(int rank, const int64_t *shape, int64_t *strides) {
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d];
  }
}

/* Copies count elements; strings are duplicated, everything else is one memcpy. */
static sp_status copy_elements(sp_tensor *target, int64_t to, const sp_tensor *source, int64_t from, int64_t count) {
  if (count <= 0) return SP_OK;
  if (target->dtype == SP_STRING) {
    for (int64_t i = 0; i < count; i++) SP_TRY(sp_tensor_copy_element(target, to + i, source, from + i));
    return SP_OK;
  }
  size_t size = sp_dtype_size(target->dtype);
  memcpy((char *)target->data + (size_t)to * size, (const char *)source->data + (size_t)from * size, (size_t)count * size);
  return SP_OK;
}

static sp_status normalize_axis(sp_kernel_context *context, int64_t axis, int rank, int *out) {
  if (axis < -rank || axis >= rank)
    return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "axis %lld is outside [%d, %d)", (long long)axis, -rank, rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return SP_OK;
}

static sp_status scalar_int(sp_kernel_context *context, size_t index, int64_t *value) {
  int64_t values[1];
  size_t count;
  SP_TRY(sp_kernel_input_ints(context, index, values, 1, &count));
  if (count != 1 || context->inputs[index]->tensor->rank != 0)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "input %zu must be a scalar", index);
  *value = values[0];
  return SP_OK;
}

/* A new output with the input's data and another shape (no element conversion). */
static sp_status output_reshaped(sp_kernel_context *context, const sp_tensor *input, int rank, const int64_t *shape) {
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, input->dtype, rank, shape, &out));
  return copy_elements(out, 0, input, 0, sp_tensor_count(input));
}

/* ---------- reshaping ---------- */

static sp_status reshape(sp_kernel_context *context) {
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  int64_t shape[SP_MAX_RANK];
  size_t rank;
  SP_TRY(sp_kernel_input_ints(context, 1, shape, SP_MAX_RANK, &rank));
  int64_t known = 1, total = sp_tensor_count(input);
  int unknown = -1;
  for (size_t d = 0; d < rank; d++) {
    if (shape[d] == -1 && unknown < 0) unknown = (int)d;
    else if (shape[d] < 0) return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "shape has dimension %lld", (long long)shape[d]);
    else known *= shape[d] ? shape[d] : 1;
  }
  int has_zero = 0;
  for (size_t d = 0; d < rank; d++) has_zero |= shape[d] == 0;
  if (unknown >= 0) shape[unknown] = has_zero ? 0 : known ? total / known : 0;
  int64_t count;
  if (sp_shape_count((int)rank, shape, &count) != SP_OK || count != total) {
    char from[160], to[160];
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "cannot reshape %s (%lld elements) to %s",
                          sp_shape_format(input->rank, input->shape, from, sizeof from), (long long)total,
                          sp_shape_format((int)rank, shape, to, sizeof to));
  }
  return output_reshaped(context, input, (int)rank, shape);
}

static sp_status shape_op(sp_kernel_context *context) {
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  sp_dtype type;
  SP_TRY(sp_kernel_attr_type(context, "out_type", SP_INT32, &type));
  if (type != SP_INT32 && type != SP_INT64) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "out_type must be int32 or int64");
  int64_t rank = input->rank;
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, type, 1, &rank, &out));
  for (int d = 0; d < input->rank; d++) sp_tensor_set_int(out, d, input->shape[d]);
  return SP_OK;
}

static sp_status size_or_rank(sp_kernel_context *context) {
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  sp_dtype type;
  SP_TRY(sp_kernel_attr_type(context, "out_type", SP_INT32, &type));
  if (type != SP_INT32 && type != SP_INT64) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "out_type must be int32 or int64");
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, type, 0, NULL, &out));
  sp_tensor_set_int(out, 0, strcmp(context->node->op, "Rank") == 0 ? input->rank : sp_tensor_count(input));
  return SP_OK;
}

static sp_status squeeze(sp_kernel_context *context) {
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  int64_t axes[SP_MAX_RANK];
  size_t axis_count;
  SP_TRY(sp_kernel_attr_ints(context, "squeeze_dims", axes, SP_MAX_RANK, &axis_count));
  int remove[SP_MAX_RANK] = {0};
  for (size_t i = 0; i < axis_count; i++) {
    int axis = 0;
    SP_TRY(normalize_axis(context, axes[i], input->rank, &axis));
    if (input->shape[axis] != 1)
      return sp_kernel_fail(context, SP_ERROR_MISMATCH, "cannot squeeze dimension %d of size %lld", axis,
                            (long long)input->shape[axis]);
    remove[axis] = 1;
  }
  int64_t shape[SP_MAX_RANK];
  int rank = 0;
  for (int d = 0; d < input->rank; d++)
    if (!(axis_count ? remove[d] : input->shape[d] == 1)) shape[rank++] = input->shape[d];
  return output_reshaped(context, input, rank, shape);
}

static sp_status expand_dims(sp_kernel_context *context) {
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  int64_t axis_value = 0;
  int64_t values[1];
  size_t count;
  SP_TRY(sp_kernel_input_ints(context, 1, values, 1, &count));
  if (count != 1) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "axis must hold one value");
  axis_value = values[0];
  if (input->rank >= SP_MAX_RANK) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "rank would exceed %d", SP_MAX_RANK);
  int axis = 0;
  SP_TRY(normalize_axis(context, axis_value, input->rank + 1, &axis));
  int64_t shape[SP_MAX_RANK];
  for (int d = 0, s = 0; d <= input->rank; d++) shape[d] = d == axis ? 1 : input->shape[s++];
  return output_reshaped(context, input, input->rank + 1, shape);
}

/* ---------- joining and splitting ---------- */

/* Concatenates inputs[first .. first+n) along axis. */
static sp_status concatenate(sp_kernel_context *context, size_t first, size_t n, int64_t axis_value) {
  const sp_tensor *base;
  SP_TRY(sp_kernel_input(context, first, &base));
  int axis = 0;
  SP_TRY(normalize_axis(context, axis_value, base->rank, &axis));
  int64_t shape[SP_MAX_RANK];
  memcpy(shape, base->shape, sizeof shape);
  shape[axis] = 0;
  for (size_t i = 0; i < n; i++) {
    const sp_tensor *part;
    SP_TRY(sp_kernel_input(context, first + i, &part));
    int fits = part->dtype == base->dtype && part->rank == base->rank;
    for (int d = 0; fits && d < base->rank; d++) fits = d == axis || part->shape[d] == base->shape[d];
    if (!fits) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "input %zu does not fit beside input 0", i);
    shape[axis] += part->shape[axis];
  }
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, base->dtype, base->rank, shape, &out));
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; d++) outer *= shape[d];
  for (int d = axis + 1; d < base->rank; d++) inner *= shape[d];
  int64_t position = 0;
  for (int64_t o = 0; o < outer; o++)
    for (size_t i = 0; i < n; i++) {
      const sp_tensor *part;
      SP_TRY(sp_kernel_input(context, first + i, &part));
      int64_t block = part->shape[axis] * inner;
      SP_TRY(copy_elements(out, position, part, o * block, block));
      position += block;
    }
  return SP_OK;
}

static sp_status concat_v2(sp_kernel_context *context) {
  if (context->input_count < 2) return sp_kernel_fail(context, SP_ERROR_FORMAT, "needs values and an axis");
  int64_t axis = 0;
  SP_TRY(scalar_int(context, context->input_count - 1, &axis));
  return concatenate(context, 0, context->input_count - 1, axis);
}

static sp_status concat_v1(sp_kernel_context *context) {
  if (context->input_count < 2) return sp_kernel_fail(context, SP_ERROR_FORMAT, "needs an axis and values");
  int64_t axis = 0;
  SP_TRY(scalar_int(context, 0, &axis));
  return concatenate(context, 1, context->input_count - 1, axis);
}

static sp_status pack(sp_kernel_context *context) {
  if (context->input_count == 0) return sp_kernel_fail(context, SP_ERROR_FORMAT, "needs values");
  const sp_tensor *base;
  SP_TRY(sp_kernel_input(context, 0, &base));
  if (base->rank >= SP_MAX_RANK) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "rank would exceed %d", SP_MAX_RANK);
  int64_t axis_value = 0;
  SP_TRY(sp_kernel_attr_int(context, "axis", 0, &axis_value));
  int axis = 0;
  SP_TRY(normalize_axis(context, axis_value, base->rank + 1, &axis));
  int64_t shape[SP_MAX_RANK];
  for (int d = 0, s = 0; d <= base->rank; d++) shape[d] = d == axis ? (int64_t)context->input_count : base->shape[s++];
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, base->dtype, base->rank + 1, shape, &out));
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; d++) outer *= base->shape[d];
  for (int d = axis; d < base->rank; d++) inner *= base->shape[d];
  for (size_t i = 0; i < context->input_count; i++) {
    const sp_tensor *part;
    SP_TRY(sp_kernel_input(context, i, &part));
    if (!sp_tensor_same_shape(part, base)) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "input %zu differs from input 0", i);
    for (int64_t o = 0; o < outer; o++)
      SP_TRY(copy_elements(out, (o * (int64_t)context->input_count + (int64_t)i) * inner, part, o * inner, inner));
  }
  return SP_OK;
}

/* Splits input along axis into context->output_count pieces of the given sizes. */
static sp_status split_into(sp_kernel_context *context, const sp_tensor *input, int axis, const int64_t *sizes,
                            int drop_axis) {
  int64_t outer = 1, inner = 1, offset = 0;
  for (int d = 0; d < axis; d++) outer *= input->shape[d];
  for (int d = axis + 1; d < input->rank; d++) inner *= input->shape[d];
  for (size_t k = 0; k < context->output_count; k++) {
    int64_t shape[SP_MAX_RANK];
    int rank = 0;
    for (int d = 0; d < input->rank; d++) {
      if (d == axis && drop_axis) continue;
      shape[rank++] = d == axis ? sizes[k] : input->shape[d];
    }
    sp_tensor *out;
    SP_TRY(sp_kernel_output_new(context, k, input->dtype, rank, shape, &out));
    for (int64_t o = 0; o < outer; o++)
      SP_TRY(copy_elements(out, o * sizes[k] * inner, input, (o * input->shape[axis] + offset) * inner, sizes[k] * inner));
    offset += sizes[k];
  }
  return SP_OK;
}

static sp_status unpack(sp_kernel_context *context) {
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  int64_t axis_value = 0;
  SP_TRY(sp_kernel_attr_int(context, "axis", 0, &axis_value));
  int axis = 0;
  SP_TRY(normalize_axis(context, axis_value, input->rank, &axis));
  if (input->shape[axis] != (int64_t)context->output_count)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "dimension %d has %lld entries, num is %zu", axis,
                          (long long)input->shape[axis], context->output_count);
  int64_t *sizes = sp_alloc_zeroed(context->output_count + 1, sizeof *sizes);
  if (!sizes) return SP_ERROR_NO_MEMORY;
  for (size_t k = 0; k < context->output_count; k++) sizes[k] = 1;
  sp_status status = split_into(context, input, axis, sizes, 1);
  free(sizes);
  return status;
}

static sp_status split(sp_kernel_context *context) {
  int64_t axis_value = 0;
  SP_TRY(scalar_int(context, 0, &axis_value));
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 1, &input));
  int axis = 0;
  SP_TRY(normalize_axis(context, axis_value, input->rank, &axis));
  size_t pieces = context->output_count;
  if (pieces == 0 || input->shape[axis] % (int64_t)pieces)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "dimension %d (%lld) does not split into %zu", axis,
                          (long long)input->shape[axis], pieces);
  int64_t *sizes = sp_alloc_zeroed(pieces, sizeof *sizes);
  if (!sizes) return SP_ERROR_NO_MEMORY;
  for (size_t k = 0; k < pieces; k++) sizes[k] = input->shape[axis] / (int64_t)pieces;
  sp_status status = split_into(context, input, axis, sizes, 0);
  free(sizes);
  return status;
}

static sp_status split_v(sp_kernel_context *context) {
  const sp_tensor *input, *size_tensor;
  SP_TRY(sp_kernel_input(context, 0, &input));
  SP_TRY(sp_kernel_input(context, 1, &size_tensor));
  int64_t axis_value = 0;
  SP_TRY(scalar_int(context, 2, &axis_value));
  int axis = 0;
  SP_TRY(normalize_axis(context, axis_value, input->rank, &axis));
  int64_t *sizes, count;
  SP_TRY(sp_kernel_tensor_ints(context, size_tensor, "size_splits", &sizes, &count));
  sp_status status = count == (int64_t)context->output_count ? SP_OK
                     : sp_kernel_fail(context, SP_ERROR_MISMATCH, "size_splits has %lld entries for %zu outputs",
                                      (long long)count, context->output_count);
  int64_t known = 0;
  int unknown = -1;
  for (int64_t k = 0; k < count && status == SP_OK; k++) {
    if (sizes[k] == -1 && unknown < 0) unknown = (int)k;
    else if (sizes[k] < 0) status = sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "negative split size");
    else known += sizes[k];
  }
  if (status == SP_OK && unknown >= 0) sizes[unknown] = input->shape[axis] - known;
  if (status == SP_OK && (unknown >= 0 ? sizes[unknown] < 0 : known != input->shape[axis]))
    status = sp_kernel_fail(context, SP_ERROR_MISMATCH, "split sizes do not add up to %lld", (long long)input->shape[axis]);
  if (status == SP_OK) status = split_into(context, input, axis, sizes, 0);
  free(sizes);
  return status;
}

/* ---------- reordering ---------- */

static sp_status transpose(sp_kernel_context *context) {
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  int64_t perm[SP_MAX_RANK];
  size_t count;
  SP_TRY(sp_kernel_input_ints(context, 1, perm, SP_MAX_RANK, &count));
  if ((int)count != input->rank) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "perm has %zu entries for rank %d", count, input->rank);
  int seen[SP_MAX_RANK] = {0};
  int64_t shape[SP_MAX_RANK], in_strides[SP_MAX_RANK], strides[SP_MAX_RANK];
  row_major_strides(input->rank, input->shape, in_strides);
  for (int d = 0; d < input->rank; d++) {
    if (perm[d] < 0 || perm[d] >= input->rank || seen[perm[d]]++)
      return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "perm is not a permutation of 0..%d", input->rank - 1);
    shape[d] = input->shape[perm[d]];
    strides[d] = in_strides[perm[d]];
  }
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, input->dtype, input->rank, shape, &out));
  int64_t counter[SP_MAX_RANK] = {0}, total = sp_tensor_count(out);
  for (int64_t i = 0; i < total; i++) {
    int64_t offset = 0;
    for (int d = 0; d < input->rank; d++) offset += counter[d] * strides[d];
    SP_TRY(copy_elements(out, i, input, offset, 1));
    sp_index_advance(input->rank, shape, counter);
  }
  return SP_OK;
}

/* Copies a box of input (begin[d] + i*step[d] for i < size[d]) into a new output of out_shape. */
static sp_status gather_box(sp_kernel_context *context, const sp_tensor *input, const int64_t *begin,
                            const int64_t *step, const int64_t *size, int out_rank, const int64_t *out_shape) {
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, input->dtype, out_rank, out_shape, &out));
  int64_t strides[SP_MAX_RANK], counter[SP_MAX_RANK] = {0}, total = sp_tensor_count(out);
  row_major_strides(input->rank, input->shape, strides);
  for (int64_t i = 0; i < total; i++) {
    int64_t offset = 0;
    for (int d = 0; d < input->rank; d++) offset += (begin[d] + counter[d] * step[d]) * strides[d];
    SP_TRY(copy_elements(out, i, input, offset, 1));
    sp_index_advance(input->rank, size, counter);
  }
  return SP_OK;
}

static sp_status slice(sp_kernel_context *context) {
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  int64_t begin[SP_MAX_RANK], size[SP_MAX_RANK], step[SP_MAX_RANK];
  size_t begin_count, size_count;
  SP_TRY(sp_kernel_input_ints(context, 1, begin, SP_MAX_RANK, &begin_count));
  SP_TRY(sp_kernel_input_ints(context, 2, size, SP_MAX_RANK, &size_count));
  if ((int)begin_count != input->rank || (int)size_count != input->rank)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "begin and size need %d entries", input->rank);
  for (int d = 0; d < input->rank; d++) {
    if (size[d] == -1) size[d] = input->shape[d] - begin[d];
    if (begin[d] < 0 || size[d] < 0 || begin[d] + size[d] > input->shape[d])
      return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "slice [%lld, +%lld) of dimension %d (size %lld)",
                            (long long)begin[d], (long long)size[d], d, (long long)input->shape[d]);
    step[d] = 1;
  }
  return gather_box(context, input, begin, step, size, input->rank, size);
}

enum { NEW_AXIS = -1 };

/* StridedSlice with begin/end/strides and every mask, following TF's ValidateStridedSliceOp. */
static sp_status strided_slice(sp_kernel_context *context) {
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  int64_t begin[SP_MAX_RANK * 2], end[SP_MAX_RANK * 2], strides[SP_MAX_RANK * 2];
  size_t n, end_count, stride_count;
  SP_TRY(sp_kernel_input_ints(context, 1, begin, SP_MAX_RANK * 2, &n));
  SP_TRY(sp_kernel_input_ints(context, 2, end, SP_MAX_RANK * 2, &end_count));
  SP_TRY(sp_kernel_input_ints(context, 3, strides, SP_MAX_RANK * 2, &stride_count));
  if (end_count != n || stride_count != n) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "begin, end and strides differ in length");
  int64_t masks[5];
  const char *mask_names[5] = {"begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"};
  for (int m = 0; m < 5; m++) SP_TRY(sp_kernel_attr_int(context, mask_names[m], 0, &masks[m]));
  int64_t ellipsis = masks[2], new_axis = masks[3], shrink = masks[4];
  int after_ellipsis = 0, seen_ellipsis = 0;
  for (size_t i = 0; i < n; i++) {
    if (ellipsis >> i & 1) {
      if (seen_ellipsis++) return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "more than one ellipsis");
    } else if (seen_ellipsis && (new_axis >> i & 1)) {
      after_ellipsis++;
    }
  }
  int rank = input->rank, full = 0, final_count = 0;
  int64_t start[SP_MAX_RANK], step[SP_MAX_RANK], size[SP_MAX_RANK];
  int final_dims[SP_MAX_RANK * 2];
  for (int d = 0; d < rank; d++) start[d] = 0, step[d] = 1, size[d] = input->shape[d];
  for (size_t i = 0; i < n; i++) {
    if (ellipsis >> i & 1) {
      int next = rank - (int)(n - i) + 1 + after_ellipsis;
      if (next > rank) next = rank;
      for (; full < next; full++) final_dims[final_count++] = full;
      continue;
    }
    if (new_axis >> i & 1) {
      if (final_count >= SP_MAX_RANK) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "rank would exceed %d", SP_MAX_RANK);
      final_dims[final_count++] = NEW_AXIS;
      continue;
    }
    if (full >= rank) return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "slice spec has more dimensions than the input");
    int64_t dim = input->shape[full], s = strides[i];
    if (s == 0) return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "stride %zu is zero", i);
    if (shrink >> i & 1) {
      int64_t b = begin[i] < 0 ? begin[i] + dim : begin[i];
      if (b < 0 || b >= dim)
        return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "index %lld is outside dimension %d of size %lld",
                              (long long)begin[i], full, (long long)dim);
      start[full] = b, step[full] = 1, size[full] = 1;
    } else {
      int64_t low = s > 0 ? 0 : -1, high = s > 0 ? dim : dim - 1;
      int64_t b = masks[0] >> i & 1 ? (s > 0 ? 0 : dim - 1) : (begin[i] < 0 ? begin[i] + dim : begin[i]);
      int64_t e = masks[1] >> i & 1 ? (s > 0 ? dim : -1) : (end[i] < 0 ? end[i] + dim : end[i]);
      b = b < low ? low : b > high ? high : b;
      e = e < low ? low : e > high ? high : e;
      int64_t span = s > 0 ? e - b : b - e, magnitude = s > 0 ? s : -s;
      start[full] = b, step[full] = s, size[full] = span > 0 ? (span + magnitude - 1) / magnitude : 0;
      final_dims[final_count++] = full;
    }
    full++;
  }
  for (; full < rank; full++) final_dims[final_count++] = full;
  if (final_count > SP_MAX_RANK) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "rank would exceed %d", SP_MAX_RANK);
  int64_t out_shape[SP_MAX_RANK];
  for (int k = 0; k < final_count; k++) out_shape[k] = final_dims[k] == NEW_AXIS ? 1 : size[final_dims[k]];
  return gather_box(context, input, start, step, size, final_count, out_shape);
}

/* GatherV2(params, indices, axis) with batch_dims 0; Gather is GatherV2 on axis 0. */
static sp_status gather(sp_kernel_context *context) {
  const sp_tensor *params, *indices;
  SP_TRY(sp_kernel_input(context, 0, &params));
  SP_TRY(sp_kernel_input(context, 1, &indices));
  int64_t axis_value = 0, batch_dims;
  if (strcmp(context->node->op, "GatherV2") == 0) SP_TRY(scalar_int(context, 2, &axis_value));
  SP_TRY(sp_kernel_attr_int(context, "batch_dims", 0, &batch_dims));
  if (batch_dims != 0) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "batch_dims %lld", (long long)batch_dims);
  int axis = 0;
  SP_TRY(normalize_axis(context, axis_value, params->rank, &axis));
  if (params->rank - 1 + indices->rank > SP_MAX_RANK) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "rank would exceed %d", SP_MAX_RANK);
  int64_t *rows, row_count;
  SP_TRY(sp_kernel_tensor_ints(context, indices, "indices", &rows, &row_count));
  int64_t shape[SP_MAX_RANK];
  int rank = 0;
  for (int d = 0; d < axis; d++) shape[rank++] = params->shape[d];
  for (int d = 0; d < indices->rank; d++) shape[rank++] = indices->shape[d];
  for (int d = axis + 1; d < params->rank; d++) shape[rank++] = params->shape[d];
  sp_tensor *out;
  sp_status status = sp_kernel_output_new(context, 0, params->dtype, rank, shape, &out);
  int64_t outer = 1, inner = 1, limit = params->shape[axis];
  for (int d = 0; d < axis; d++) outer *= params->shape[d];
  for (int d = axis + 1; d < params->rank; d++) inner *= params->shape[d];
  for (int64_t o = 0; o < outer && status == SP_OK; o++)
    for (int64_t r = 0; r < row_count && status == SP_OK; r++) {
      if (rows[r] < 0 || rows[r] >= limit)
        status = sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "index %lld is outside [0, %lld)", (long long)rows[r],
                                (long long)limit);
      else status = copy_elements(out, (o * row_count + r) * inner, params, (o * limit + rows[r]) * inner, inner);
    }
  free(rows);
  return status;
}

/* ---------- making tensors ---------- */

static sp_status fill(sp_kernel_context *context) {
  int64_t shape[SP_MAX_RANK];
  size_t rank;
  SP_TRY(sp_kernel_input_ints(context, 0, shape, SP_MAX_RANK, &rank));
  const sp_tensor *value;
  SP_TRY(sp_kernel_input(context, 1, &value));
  if (value->rank != 0) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "value must be a scalar");
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, value->dtype, (int)rank, shape, &out));
  for (int64_t i = 0; i < sp_tensor_count(out); i++) SP_TRY(sp_tensor_copy_element(out, i, value, 0));
  return SP_OK;
}

static sp_status range(sp_kernel_context *context) {
  const sp_tensor *start_tensor, *limit_tensor, *delta_tensor;
  SP_TRY(sp_kernel_input(context, 0, &start_tensor));
  SP_TRY(sp_kernel_input(context, 1, &limit_tensor));
  SP_TRY(sp_kernel_input(context, 2, &delta_tensor));
  if (start_tensor->rank || limit_tensor->rank || delta_tensor->rank)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "start, limit and delta must be scalars");
  sp_dtype dtype = start_tensor->dtype;
  if (!sp_dtype_is_float(dtype) && !sp_dtype_is_integer(dtype))
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "start must be a number, found %s", sp_dtype_name(dtype));
  double start = sp_tensor_get_double(start_tensor, 0), limit = sp_tensor_get_double(limit_tensor, 0),
         delta = sp_tensor_get_double(delta_tensor, 0);
  if (delta == 0 || (delta > 0 && start > limit) || (delta < 0 && start < limit))
    return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "start %g, limit %g and delta %g make no range", start, limit, delta);
  double count_value = sp_dtype_is_float(dtype) ? ceil((limit - start) / delta) : ceil(fabs(limit - start) / fabs(delta));
  if (!(count_value < 9.0e15)) return sp_kernel_fail(context, SP_ERROR_UNSAFE, "range of %g elements", count_value);
  int64_t count = (int64_t)count_value;
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, dtype, 1, &count, &out));
  for (int64_t i = 0; i < count; i++) {
    if (sp_dtype_is_float(dtype)) sp_tensor_set_double(out, i, start + (double)i * delta);
    else sp_tensor_set_int(out, i, sp_tensor_get_int(start_tensor, 0) + i * sp_tensor_get_int(delta_tensor, 0));
  }
  return SP_OK;
}

static sp_status tile(sp_kernel_context *context) {
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  int64_t multiples[SP_MAX_RANK];
  size_t count;
  SP_TRY(sp_kernel_input_ints(context, 1, multiples, SP_MAX_RANK, &count));
  if ((int)count != input->rank) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "multiples need %d entries", input->rank);
  int64_t shape[SP_MAX_RANK], strides[SP_MAX_RANK];
  for (int d = 0; d < input->rank; d++) {
    if (multiples[d] < 0) return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "negative multiple");
    if (input->shape[d] && multiples[d] > INT64_MAX / input->shape[d])
      return sp_kernel_fail(context, SP_ERROR_UNSAFE, "tiled dimension %d overflows", d);
    shape[d] = input->shape[d] * multiples[d];
  }
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, input->dtype, input->rank, shape, &out));
  row_major_strides(input->rank, input->shape, strides);
  int64_t counter[SP_MAX_RANK] = {0}, total = sp_tensor_count(out);
  for (int64_t i = 0; i < total; i++) {
    int64_t offset = 0;
    for (int d = 0; d < input->rank; d++) offset += (counter[d] % input->shape[d]) * strides[d];
    SP_TRY(copy_elements(out, i, input, offset, 1));
    sp_index_advance(input->rank, shape, counter);
  }
  return SP_OK;
}

/* Pad / PadV2 with a constant (zero, or constant_values). */
static sp_status pad(sp_kernel_context *context) {
  const sp_tensor *input, *paddings, *constant = NULL;
  SP_TRY(sp_kernel_input(context, 0, &input));
  SP_TRY(sp_kernel_input(context, 1, &paddings));
  if (context->input_count > 2) SP_TRY(sp_kernel_input(context, 2, &constant));
  if (paddings->rank != 2 || paddings->shape[0] != input->rank || paddings->shape[1] != 2 ||
      (paddings->dtype != SP_INT32 && paddings->dtype != SP_INT64))
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "paddings must be an integer [%d, 2] tensor", input->rank);
  if (constant && (constant->rank != 0 || constant->dtype != input->dtype))
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "constant_values must be a scalar of the input's dtype");
  int64_t before[SP_MAX_RANK], shape[SP_MAX_RANK], strides[SP_MAX_RANK];
  for (int d = 0; d < input->rank; d++) {
    before[d] = sp_tensor_get_int(paddings, 2 * d);
    int64_t after = sp_tensor_get_int(paddings, 2 * d + 1);
    if (before[d] < 0 || after < 0 || before[d] > INT32_MAX || after > INT32_MAX)
      return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "paddings of dimension %d are out of range", d);
    shape[d] = input->shape[d] + before[d] + after;
  }
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, input->dtype, input->rank, shape, &out));
  if (constant)
    for (int64_t i = 0; i < sp_tensor_count(out); i++) SP_TRY(sp_tensor_copy_element(out, i, constant, 0));
  row_major_strides(input->rank, shape, strides);
  int64_t counter[SP_MAX_RANK] = {0}, total = sp_tensor_count(input);
  for (int64_t i = 0; i < total; i++) {
    int64_t offset = 0;
    for (int d = 0; d < input->rank; d++) offset += (counter[d] + before[d]) * strides[d];
    SP_TRY(copy_elements(out, offset, input, i, 1));
    sp_index_advance(input->rank, input->shape, counter);
  }
  return SP_OK;
}

static sp_status broadcast_to(sp_kernel_context *context) {
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  int64_t shape[SP_MAX_RANK], multiples[SP_MAX_RANK], padded[SP_MAX_RANK];
  size_t rank;
  SP_TRY(sp_kernel_input_ints(context, 1, shape, SP_MAX_RANK, &rank));
  if ((int)rank < input->rank) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "target rank is below the input's");
  for (size_t d = 0; d < rank; d++) {
    int axis = (int)d - ((int)rank - input->rank);
    padded[d] = axis >= 0 ? input->shape[axis] : 1;
    if (padded[d] != shape[d] && padded[d] != 1)
      return sp_kernel_fail(context, SP_ERROR_MISMATCH, "dimension %zu (%lld) cannot broadcast to %lld", d,
                            (long long)padded[d], (long long)shape[d]);
    multiples[d] = padded[d] == shape[d] ? 1 : shape[d];
  }
  SP_TRY(sp_kernel_check_shape(context, input->dtype, (int)rank, shape));
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, input->dtype, (int)rank, shape, &out));
  int64_t strides[SP_MAX_RANK], counter[SP_MAX_RANK] = {0}, total = sp_tensor_count(out);
  row_major_strides((int)rank, padded, strides);
  for (int64_t i = 0; i < total; i++) {
    int64_t offset = 0;
    for (size_t d = 0; d < rank; d++) offset += (multiples[d] == 1 ? counter[d] : 0) * strides[d];
    SP_TRY(copy_elements(out, i, input, offset, 1));
    sp_index_advance((int)rank, shape, counter);
  }
  return SP_OK;
}

/* BroadcastGradientArgs(s0, s1): the axes each operand was broadcast along (gradient graphs). */
static sp_status broadcast_gradient_args(sp_kernel_context *context) {
  int64_t a[SP_MAX_RANK], b[SP_MAX_RANK];
  size_t rank_a, rank_b;
  SP_TRY(sp_kernel_input_ints(context, 0, a, SP_MAX_RANK, &rank_a));
  SP_TRY(sp_kernel_input_ints(context, 1, b, SP_MAX_RANK, &rank_b));
  size_t rank = rank_a > rank_b ? rank_a : rank_b;
  int64_t reduce_a[SP_MAX_RANK], reduce_b[SP_MAX_RANK], count_a = 0, count_b = 0;
  for (size_t d = 0; d < rank; d++) {
    int64_t x = d + rank_a >= rank ? a[d + rank_a - rank] : 1, y = d + rank_b >= rank ? b[d + rank_b - rank] : 1;
    if (x != y && x != 1 && y != 1)
      return sp_kernel_fail(context, SP_ERROR_MISMATCH, "shapes are not broadcastable at dimension %zu", d);
    if (x == 1 && y != 1) reduce_a[count_a++] = (int64_t)d;
    if (y == 1 && x != 1) reduce_b[count_b++] = (int64_t)d;
    if (x == 1 && y == 1) reduce_a[count_a++] = (int64_t)d, reduce_b[count_b++] = (int64_t)d;
  }
  sp_dtype dtype = context->inputs[0]->tensor ? context->inputs[0]->tensor->dtype : SP_INT32;
  sp_tensor *out_a, *out_b;
  SP_TRY(sp_kernel_output_new(context, 0, dtype, 1, &count_a, &out_a));
  SP_TRY(sp_kernel_output_new(context, 1, dtype, 1, &count_b, &out_b));
  for (int64_t i = 0; i < count_a; i++) sp_tensor_set_int(out_a, i, reduce_a[i]);
  for (int64_t i = 0; i < count_b; i++) sp_tensor_set_int(out_b, i, reduce_b[i]);
  return SP_OK;
}

/* DynamicStitch(indices[N], data[N]): merged[indices[m][i], ...] = data[m][i, ...]. */
static sp_status dynamic_stitch(sp_kernel_context *context) {
  size_t n = context->input_count / 2;
  if (n == 0 || context->input_count % 2) return sp_kernel_fail(context, SP_ERROR_FORMAT, "needs N indices and N data");
  int64_t rows = 0;
  const sp_tensor *first_data;
  SP_TRY(sp_kernel_input(context, n, &first_data));
  for (size_t m = 0; m < n; m++) {
    const sp_tensor *indices;
    SP_TRY(sp_kernel_input(context, m, &indices));
    if (indices->dtype != SP_INT32) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "indices must be int32");
    for (int64_t i = 0; i < sp_tensor_count(indices); i++) {
      int64_t index = sp_tensor_get_int(indices, i);
      if (index < 0 || index > INT32_MAX) return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "negative index");
      if (index + 1 > rows) rows = index + 1;
    }
  }
  const sp_tensor *indices0 = context->inputs[0]->tensor;
  int inner_rank = first_data->rank - (indices0 ? indices0->rank : 0);
  if (inner_rank < 0 || inner_rank + 1 > SP_MAX_RANK) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "data and indices ranks do not fit");
  int64_t shape[SP_MAX_RANK], inner = 1;
  shape[0] = rows;
  for (int d = 0; d < inner_rank; d++) {
    shape[d + 1] = first_data->shape[first_data->rank - inner_rank + d];
    inner *= shape[d + 1];
  }
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, first_data->dtype, inner_rank + 1, shape, &out));
  for (size_t m = 0; m < n; m++) {
    const sp_tensor *indices, *data;
    SP_TRY(sp_kernel_input(context, m, &indices));
    SP_TRY(sp_kernel_input(context, n + m, &data));
    if (data->dtype != out->dtype || sp_tensor_count(data) != sp_tensor_count(indices) * inner)
      return sp_kernel_fail(context, SP_ERROR_MISMATCH, "data %zu does not match its indices", m);
    for (int64_t i = 0; i < sp_tensor_count(indices); i++)
      SP_TRY(copy_elements(out, sp_tensor_get_int(indices, i) * inner, data, i * inner, inner));
  }
  return SP_OK;
}

const sp_op sp_graph_ops_array[] = {
    {"Reshape", reshape, NULL, 0},
    {"Shape", shape_op, NULL, 0},
    {"Size", size_or_rank, NULL, 0},
    {"Rank", size_or_rank, NULL, 0},
    {"Squeeze", squeeze, NULL, 0},
    {"ExpandDims", expand_dims, NULL, 0},
    {"ConcatV2", concat_v2, NULL, 0},
    {"Concat", concat_v1, NULL, 0},
    {"Pack", pack, NULL, 0},
    {"Unpack", unpack, "output*num", 0},
    {"Split", split, "output*num_split", 0},
    {"SplitV", split_v, "output*num_split", 0},
    {"Transpose", transpose, NULL, 0},
    {"Slice", slice, NULL, 0},
    {"StridedSlice", strided_slice, NULL, 0},
    {"GatherV2", gather, NULL, 0},
    {"Gather", gather, NULL, 0},
    {"Fill", fill, NULL, 0},
    {"Range", range, NULL, 0},
    {"Tile", tile, NULL, 0},
    {"Pad", pad, NULL, 0},
    {"PadV2", pad, NULL, 0},
    {"BroadcastTo", broadcast_to, NULL, 0},
    {"BroadcastGradientArgs", broadcast_gradient_args, "r0,r1", 0},
    {"DynamicStitch", dynamic_stitch, NULL, 0},
    {NULL, NULL, NULL, 0},
};
