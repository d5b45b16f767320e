/* spatial.c — window options and TensorFlow's output-size arithmetic (see spatial.h).
 *
 * Output sizes follow TF: 'valid' floor((in - span) / stride) + 1 with span = dilation·(size-1)+1,
 * 'same' ceil(in / stride) with max((out-1)·stride + span - in, 0) padding of which the smaller
 * half goes before, 'causal' (Conv1D) all span-1 padding before. Sizes and extents are capped at
 * INT32_MAX so that the arithmetic cannot overflow and every count fits the int of a cblas call.
 */
#include "nn/layers/spatial.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"

enum { LARGEST_EXTENT = 0x7fffffff };

const char *sp_spatial_key(const sp_layer *layer, const char *key, const char *keras1_key) {
  return !sp_json_member(layer->config, key) && sp_json_member(layer->config, keras1_key) ? keras1_key : key;
}

static sp_status bad_tuple(const sp_layer *layer, const char *key, int spatial_rank, const json_object *value) {
  char preview[80];
  return sp_fail(SP_ERROR_FORMAT, "%s: '%s' must be a positive integer or a list of %d positive integers, found %s",
                 sp_layer_describe(layer), key, spatial_rank, sp_json_preview(value, preview, sizeof preview));
}

sp_status sp_spatial_read_tuple(const sp_layer *layer, const char *key, int spatial_rank, int64_t fallback,
                                int64_t values[2]) {
  const char *context = sp_layer_describe(layer);
  json_object *member = sp_json_member(layer->config, key);
  int64_t read[2] = {fallback, fallback};
  if (member && json_object_is_type(member, json_type_int)) {
    read[0] = read[1] = json_object_get_int64(member);
  } else if (member && json_object_is_type(member, json_type_array)) {
    int count = 0;
    if (json_object_array_length(member) != (size_t)spatial_rank) return bad_tuple(layer, key, spatial_rank, member);
    SP_TRY(sp_json_get_int_list(layer->config, key, spatial_rank, context, read, &count));
  } else if (member && !json_object_is_type(member, json_type_null)) {
    return bad_tuple(layer, key, spatial_rank, member);
  } else if (fallback == 0) {
    return sp_fail(SP_ERROR_FORMAT, "%s: '%s' is required", context, key);
  }
  values[0] = 1;
  for (int i = 0; i < spatial_rank; i++) {
    if (read[i] < 1 || read[i] > LARGEST_EXTENT) return bad_tuple(layer, key, spatial_rank, member);
    values[2 - spatial_rank + i] = read[i];
  }
  return SP_OK;
}

sp_status sp_spatial_read_padding(const sp_layer *layer, int allow_causal, sp_padding_mode *mode) {
  const char *key = sp_spatial_key(layer, "padding", "border_mode"), *text;
  SP_TRY(sp_json_get_string(layer->config, key, "valid", sp_layer_describe(layer), &text));
  if (strcasecmp(text, "valid") == 0) *mode = SP_PADDING_VALID;
  else if (strcasecmp(text, "same") == 0) *mode = SP_PADDING_SAME;
  else if (allow_causal && strcasecmp(text, "causal") == 0) *mode = SP_PADDING_CAUSAL;
  else
    return sp_fail(SP_ERROR_FORMAT, "%s: '%s' must be 'valid' or 'same'%s, found '%s'", sp_layer_describe(layer), key,
                   allow_causal ? " (or 'causal')" : "", text);
  return SP_OK;
}

sp_status sp_spatial_require_channels_last(const sp_layer *layer) {
  const char *context = sp_layer_describe(layer), *format, *ordering;
  SP_TRY(sp_json_get_string(layer->config, "data_format", "channels_last", context, &format));
  SP_TRY(sp_json_get_string(layer->config, "dim_ordering", "tf", context, &ordering)); /* Keras 1 */
  if (strcmp(format, "channels_first") == 0 || strcmp(ordering, "th") == 0)
    return sp_fail(SP_ERROR_UNSUPPORTED,
                   "%s: %s '%s' is not supported: savepoint runs channels_last only (inputs shaped (batch, ..., "
                   "channels)); rebuild the model with data_format='channels_last'",
                   context, strcmp(format, "channels_first") == 0 ? "data_format" : "dim_ordering",
                   strcmp(format, "channels_first") == 0 ? format : ordering);
  if (strcmp(format, "channels_last") != 0)
    return sp_fail(SP_ERROR_FORMAT, "%s: 'data_format' must be 'channels_last' or 'channels_first', found '%s'", context,
                   format);
  if (strcmp(ordering, "tf") != 0 && strcmp(ordering, "default") != 0)
    return sp_fail(SP_ERROR_FORMAT, "%s: 'dim_ordering' must be 'tf', 'th' or 'default', found '%s'", context, ordering);
  return SP_OK;
}

static sp_status fit_axis(const sp_layer *layer, const sp_window *window, int axis, const sp_shape *input,
                          sp_window_geometry *geometry) {
  int64_t extent = geometry->input[axis], stride = window->strides[axis];
  int64_t span = window->dilation[axis] * (window->size[axis] - 1) + 1;
  geometry->pad_before[axis] = 0;
  geometry->output[axis] = -1;
  if (extent < 0) return SP_OK;
  if (extent > LARGEST_EXTENT)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: a spatial extent of %lld is larger than supported (%d)",
                   sp_layer_describe(layer), (long long)extent, LARGEST_EXTENT);
  if (window->padding == SP_PADDING_VALID) {
    if (extent < span) {
      char shape[96], dilated[48] = "";
      if (span != window->size[axis]) snprintf(dilated, sizeof dilated, " (dilated to %lld)", (long long)span);
      return sp_fail(SP_ERROR_MISMATCH,
                     "%s: '%s' %lld%s is larger than the input's %lld along axis %d of input shape %s with padding "
                     "'valid'; the output would be empty",
                     sp_layer_describe(layer), window->size_key, (long long)window->size[axis], dilated,
                     (long long)extent, window->spatial_rank == 1 ? 1 : axis + 1,
                     sp_shape_describe(input, shape, sizeof shape));
    }
    geometry->output[axis] = (extent - span) / stride + 1;
  } else if (window->padding == SP_PADDING_SAME) {
    geometry->output[axis] = (extent + stride - 1) / stride;
    int64_t total = (geometry->output[axis] - 1) * stride + span - extent;
    geometry->pad_before[axis] = total > 0 ? total / 2 : 0;
  } else {
    geometry->output[axis] = (extent - 1) / stride + 1;
    geometry->pad_before[axis] = span - 1;
  }
  return SP_OK;
}

sp_status sp_window_geometry_of(const sp_layer *layer, const sp_window *window, const sp_shape *input,
                                sp_window_geometry *geometry) {
  int rank = window->spatial_rank + 2;
  if (input->rank != rank) {
    char shape[96];
    return sp_fail(SP_ERROR_MISMATCH, "%s expects inputs of rank %d %s, got shape %s", sp_layer_describe(layer), rank,
                   rank == 3 ? "(batch, steps, channels)" : "(batch, height, width, channels)",
                   sp_shape_describe(input, shape, sizeof shape));
  }
  geometry->batch = input->dims[0];
  geometry->channels = input->dims[rank - 1];
  geometry->input[0] = window->spatial_rank == 1 ? 1 : input->dims[1];
  geometry->input[1] = input->dims[rank - 2];
  for (int axis = 0; axis < 2; axis++) SP_TRY(fit_axis(layer, window, axis, input, geometry));
  return SP_OK;
}

sp_shape sp_window_output_shape(const sp_window *window, const sp_window_geometry *geometry, int64_t channels) {
  sp_shape shape = {.rank = window->spatial_rank + 2};
  shape.dims[0] = geometry->batch;
  if (window->spatial_rank == 2) shape.dims[1] = geometry->output[0];
  shape.dims[shape.rank - 2] = geometry->output[1];
  shape.dims[shape.rank - 1] = channels;
  return shape;
}

sp_window_span sp_window_span_at(const sp_window *window, const sp_window_geometry *geometry, int64_t row, int64_t column) {
  int64_t top = row * window->strides[0] - geometry->pad_before[0];
  int64_t left = column * window->strides[1] - geometry->pad_before[1];
  int64_t bottom = top + window->size[0], right = left + window->size[1];
  return (sp_window_span){.row_first = top > 0 ? top : 0,
                          .row_end = bottom < geometry->input[0] ? bottom : geometry->input[0],
                          .column_first = left > 0 ? left : 0,
                          .column_end = right < geometry->input[1] ? right : geometry->input[1]};
}
