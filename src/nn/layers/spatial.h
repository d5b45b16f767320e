/* spatial.h — what the convolution, pooling and padding layers share.
 *
 * Reading Keras window options from a config (sizes, strides, dilation, padding mode,
 * data_format; Keras 1 spellings where they differ), and TensorFlow's arithmetic for output
 * sizes and 'same' padding. Every layer here works on a 2-D view of its input: a 1-D layer's
 * (batch, steps, channels) is (batch, 1, steps, channels), so index 0 of every pair below is
 * the height (always 1 for 1-D layers) and index 1 the width. channels_last only.
 */
#ifndef SP_NN_LAYERS_SPATIAL_H
#define SP_NN_LAYERS_SPATIAL_H

#include <stdint.h>

#include "nn/layer.h"

typedef enum sp_padding_mode { SP_PADDING_VALID, SP_PADDING_SAME, SP_PADDING_CAUSAL } sp_padding_mode;

/* A sliding window (a kernel or a pool) over one or two spatial axes. */
typedef struct sp_window {
  int spatial_rank; /* 1 or 2 */
  int64_t size[2], strides[2], dilation[2];
  sp_padding_mode padding;
  const char *size_key; /* the config key the size came from ("kernel_size", "pool_size"), for messages */
} sp_window;

/* The window applied to one input shape. Extents are -1 where the input's are unknown. */
typedef struct sp_window_geometry {
  int64_t batch, channels;
  int64_t input[2], output[2];
  int64_t pad_before[2]; /* TF 'same' puts the odd padding element after (bottom, right) */
} sp_window_geometry;

/* The key the config uses: keras1_key when only it is present (Keras 1 names), else key. */
const char *sp_spatial_key(const sp_layer *layer, const char *key, const char *keras1_key);

/* Reads key as an integer or a list of spatial_rank integers (Keras's standardize_tuple) into
 * values (2-D view: a 1-D layer gets values[0] = 1). A missing key or null gives fallback on
 * every axis; fallback 0 makes the key required. Every entry must be at least 1. */
sp_status sp_spatial_read_tuple(const sp_layer *layer, const char *key, int spatial_rank, int64_t fallback,
                                int64_t values[2]) SP_MUST_CHECK;

/* 'padding' (Keras 1: 'border_mode'), case-insensitive: valid (the default), same, and causal
 * when allow_causal (Conv1D). */
sp_status sp_spatial_read_padding(const sp_layer *layer, int allow_causal, sp_padding_mode *mode) SP_MUST_CHECK;

/* Refuses channels_first: 'data_format' must be channels_last or null (Keras 2's "use the
 * default"), and a Keras 1 'dim_ordering' must be 'tf' or 'default'. */
sp_status sp_spatial_require_channels_last(const sp_layer *layer) SP_MUST_CHECK;

/* The geometry of window over input, which must have rank spatial_rank + 2. Fails, naming the
 * layer and window->size_key, when a 'valid' window does not fit the input. */
sp_status sp_window_geometry_of(const sp_layer *layer, const sp_window *window, const sp_shape *input,
                                sp_window_geometry *geometry) SP_MUST_CHECK;

/* (batch, [out_height,] out_width, channels) in the input's rank. */
sp_shape sp_window_output_shape(const sp_window *window, const sp_window_geometry *geometry, int64_t channels);

/* The input rows [row_first, row_end) and columns that an undilated window (a pool) at output
 * position (row, column) covers, clipped to the input: padding is left out. TF 'same' padding never
 * exceeds size - 1 in total, so no span is empty. */
typedef struct sp_window_span {
  int64_t row_first, row_end, column_first, column_end;
} sp_window_span;
sp_window_span sp_window_span_at(const sp_window *window, const sp_window_geometry *geometry, int64_t row, int64_t column);

#endif
