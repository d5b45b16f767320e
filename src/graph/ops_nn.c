/* ops_nn.c — neural-network ops: MatMul and BatchMatMul (through OpenBLAS), BiasAdd, Conv2D
 * (im2col + sgemm), DepthwiseConv2dNative, MaxPool, AvgPool, FusedBatchNorm, Softmax and
 * LogSoftmax. Layouts are TensorFlow's defaults: NHWC activations, HWIO filters.
 */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "graph/ops.h"

/* ---------- matrix products ---------- */

static sp_status check_blas_size(sp_kernel_context *context, int64_t m, int64_t n, int64_t k) {
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
    return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "a %lld x %lld x %lld product is too large for BLAS",
                          (long long)m, (long long)k, (long long)n);
  return SP_OK;
}

/* c[m,n] = op(a) op(b) for one pair of matrices of any supported dtype. */
static void multiply(sp_dtype dtype, const void *a, const void *b, void *c, int64_t m, int64_t n, int64_t k,
                     int transpose_a, int transpose_b) {
  int lda = transpose_a ? (int)m : (int)k, ldb = transpose_b ? (int)k : (int)n;
  if (m == 0 || n == 0) return;
  if (dtype == SP_FLOAT32) {
    cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans, (int)m,
                (int)n, (int)k, 1.0f, a, lda, b, ldb, 0.0f, c, (int)n);
    return;
  }
  if (dtype == SP_FLOAT64) {
    cblas_dgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans, (int)m,
                (int)n, (int)k, 1.0, a, lda, b, ldb, 0.0, c, (int)n);
    return;
  }
  /* integers: exact 64-bit accumulation (BLAS has no integer GEMM) */
  sp_tensor ta = {dtype, 0, {0}, (void *)a, 0, 0}, tb = {dtype, 0, {0}, (void *)b, 0, 0}, tc = {dtype, 0, {0}, c, 0, 0};
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      uint64_t sum = 0;
      for (int64_t p = 0; p < k; p++) {
        int64_t x = sp_tensor_get_int(&ta, transpose_a ? p * m + i : i * k + p);
        int64_t y = sp_tensor_get_int(&tb, transpose_b ? j * k + p : p * n + j);
        sum += (uint64_t)x * (uint64_t)y;
      }
      sp_tensor_set_int(&tc, i * n + j, (int64_t)sum);
    }
}

static int matmul_dtype_supported(sp_dtype dtype) {
  return dtype == SP_FLOAT32 || dtype == SP_FLOAT64 || dtype == SP_INT32 || dtype == SP_INT64;
}

static sp_status mat_mul(sp_kernel_context *context) {
  const sp_tensor *a, *b;
  SP_TRY(sp_kernel_input(context, 0, &a));
  SP_TRY(sp_kernel_input(context, 1, &b));
  int transpose_a, transpose_b;
  SP_TRY(sp_kernel_attr_bool(context, "transpose_a", 0, &transpose_a));
  SP_TRY(sp_kernel_attr_bool(context, "transpose_b", 0, &transpose_b));
  if (a->rank != 2 || b->rank != 2 || a->dtype != b->dtype || !matmul_dtype_supported(a->dtype))
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "needs two matrices of one dtype (float, double, int32, int64), "
                          "got ranks %d and %d, %s and %s", a->rank, b->rank, sp_dtype_name(a->dtype), sp_dtype_name(b->dtype));
  int64_t m = a->shape[transpose_a ? 1 : 0], k = a->shape[transpose_a ? 0 : 1];
  int64_t k2 = b->shape[transpose_b ? 1 : 0], n = b->shape[transpose_b ? 0 : 1];
  if (k != k2)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "inner dimensions differ: [%lld, %lld] x [%lld, %lld]", (long long)m,
                          (long long)k, (long long)k2, (long long)n);
  SP_TRY(check_blas_size(context, m, n, k));
  int64_t shape[2] = {m, n};
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, a->dtype, 2, shape, &out));
  multiply(a->dtype, a->data, b->data, out->data, m, n, k, transpose_a, transpose_b);
  return SP_OK;
}

/* BatchMatMul (equal batch dimensions) and V2/V3 (broadcast batch dimensions), adj_x / adj_y. */
static sp_status batch_mat_mul(sp_kernel_context *context) {
  const sp_tensor *a, *b;
  SP_TRY(sp_kernel_input(context, 0, &a));
  SP_TRY(sp_kernel_input(context, 1, &b));
  int adjoint_a, adjoint_b;
  SP_TRY(sp_kernel_attr_bool(context, "adj_x", 0, &adjoint_a));
  SP_TRY(sp_kernel_attr_bool(context, "adj_y", 0, &adjoint_b));
  if (a->rank < 2 || b->rank < 2 || a->dtype != b->dtype || !matmul_dtype_supported(a->dtype))
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "needs tensors of rank >= 2 and one supported dtype");
  int64_t m = a->shape[a->rank - (adjoint_a ? 1 : 2)], k = a->shape[a->rank - (adjoint_a ? 2 : 1)];
  int64_t k2 = b->shape[b->rank - (adjoint_b ? 1 : 2)], n = b->shape[b->rank - (adjoint_b ? 2 : 1)];
  if (k != k2) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "inner dimensions differ (%lld and %lld)", (long long)k, (long long)k2);
  SP_TRY(check_blas_size(context, m, n, k));
  int batch_rank = (a->rank > b->rank ? a->rank : b->rank) - 2;
  int64_t shape[SP_MAX_RANK], a_strides[SP_MAX_RANK], b_strides[SP_MAX_RANK];
  int64_t a_stride = m * k, b_stride = k * n;
  for (int d = batch_rank - 1; d >= 0; d--) {
    int ad = d - (batch_rank - (a->rank - 2)), bd = d - (batch_rank - (b->rank - 2));
    int64_t x = ad >= 0 ? a->shape[ad] : 1, y = bd >= 0 ? b->shape[bd] : 1;
    if (x != y && x != 1 && y != 1) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "batch dimensions do not broadcast");
    shape[d] = x > y ? x : y;
    a_strides[d] = x == 1 ? 0 : a_stride;
    b_strides[d] = y == 1 ? 0 : b_stride;
    a_stride *= x;
    b_stride *= y;
  }
  shape[batch_rank] = m;
  shape[batch_rank + 1] = n;
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, a->dtype, batch_rank + 2, shape, &out));
  int64_t batches = 1, counter[SP_MAX_RANK] = {0};
  for (int d = 0; d < batch_rank; d++) batches *= shape[d];
  size_t element = sp_dtype_size(a->dtype);
  for (int64_t i = 0; i < batches; i++) {
    int64_t a_offset = 0, b_offset = 0;
    for (int d = 0; d < batch_rank; d++) a_offset += counter[d] * a_strides[d], b_offset += counter[d] * b_strides[d];
    multiply(a->dtype, (const char *)a->data + (size_t)a_offset * element, (const char *)b->data + (size_t)b_offset * element,
             (char *)out->data + (size_t)(i * m * n) * element, m, n, k, adjoint_a, adjoint_b);
    sp_index_advance(batch_rank, shape, counter);
  }
  return SP_OK;
}

/* ---------- layout helpers ---------- */

static sp_status require_nhwc(sp_kernel_context *context) {
  char format[16];
  SP_TRY(sp_kernel_attr_string(context, "data_format", "NHWC", format, sizeof format));
  if (strcmp(format, "NHWC") != 0)
    return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "data_format %s (only NHWC runs on CPU)", format);
  return SP_OK;
}

static sp_status bias_add(sp_kernel_context *context) {
  const sp_tensor *value, *bias;
  SP_TRY(sp_kernel_input(context, 0, &value));
  SP_TRY(sp_kernel_input(context, 1, &bias));
  char format[16];
  SP_TRY(sp_kernel_attr_string(context, "data_format", "NHWC", format, sizeof format));
  int channels_first = strcmp(format, "NCHW") == 0;
  int axis = channels_first ? 1 : value->rank - 1;
  if (value->rank < 2 || bias->rank != 1 || value->dtype != bias->dtype || bias->shape[0] != value->shape[axis] ||
      (!sp_dtype_is_float(value->dtype) && !sp_dtype_is_integer(value->dtype)))
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "bias of %lld values does not match dimension %d of the value",
                          (long long)(bias->rank == 1 ? bias->shape[0] : -1), axis);
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, value->dtype, value->rank, value->shape, &out));
  int64_t channels = bias->shape[0], inner = 1, count = sp_tensor_count(value);
  for (int d = axis + 1; d < value->rank; d++) inner *= value->shape[d];
  if (value->dtype == SP_FLOAT32) {
    const float *x = value->data, *b = bias->data;
    float *y = out->data;
    for (int64_t i = 0; i < count; i++) y[i] = x[i] + b[(i / inner) % channels];
    return SP_OK;
  }
  for (int64_t i = 0; i < count; i++) {
    int64_t c = (i / inner) % channels;
    if (sp_dtype_is_float(value->dtype)) sp_tensor_set_double(out, i, sp_tensor_get_double(value, i) + sp_tensor_get_double(bias, c));
    else sp_tensor_set_int(out, i, (int64_t)((uint64_t)sp_tensor_get_int(value, i) + (uint64_t)sp_tensor_get_int(bias, c)));
  }
  return SP_OK;
}

/* ---------- windows (convolution and pooling) ---------- */

typedef struct window {
  int64_t batch, in_h, in_w, channels;
  int64_t k_h, k_w, stride_h, stride_w, dilation_h, dilation_w;
  int64_t out_h, out_w, pad_top, pad_left;
} window;

static sp_status window_geometry(sp_kernel_context *context, window *w) {
  char padding[16];
  SP_TRY(sp_kernel_attr_string(context, "padding", "VALID", padding, sizeof padding));
  int64_t effective_h = (w->k_h - 1) * w->dilation_h + 1, effective_w = (w->k_w - 1) * w->dilation_w + 1;
  if (w->stride_h < 1 || w->stride_w < 1 || w->dilation_h < 1 || w->dilation_w < 1 || w->k_h < 1 || w->k_w < 1)
    return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "window, strides and dilations must be positive");
  if (strcmp(padding, "VALID") == 0) {
    w->out_h = w->in_h >= effective_h ? (w->in_h - effective_h) / w->stride_h + 1 : 0;
    w->out_w = w->in_w >= effective_w ? (w->in_w - effective_w) / w->stride_w + 1 : 0;
    w->pad_top = w->pad_left = 0;
  } else if (strcmp(padding, "SAME") == 0) {
    w->out_h = (w->in_h + w->stride_h - 1) / w->stride_h;
    w->out_w = (w->in_w + w->stride_w - 1) / w->stride_w;
    int64_t total_h = (w->out_h - 1) * w->stride_h + effective_h - w->in_h;
    int64_t total_w = (w->out_w - 1) * w->stride_w + effective_w - w->in_w;
    w->pad_top = total_h > 0 ? total_h / 2 : 0;
    w->pad_left = total_w > 0 ? total_w / 2 : 0;
  } else if (strcmp(padding, "EXPLICIT") == 0) {
    int64_t pads[8];
    size_t count;
    SP_TRY(sp_kernel_attr_ints(context, "explicit_paddings", pads, 8, &count));
    if (count != 8) return sp_kernel_fail(context, SP_ERROR_FORMAT, "explicit_paddings needs 8 values");
    for (int i = 0; i < 8; i++)
      if (pads[i] < 0 || pads[i] > INT32_MAX) return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "bad explicit padding");
    w->pad_top = pads[2];
    w->pad_left = pads[4];
    int64_t h = w->in_h + pads[2] + pads[3], wd = w->in_w + pads[4] + pads[5];
    w->out_h = h >= effective_h ? (h - effective_h) / w->stride_h + 1 : 0;
    w->out_w = wd >= effective_w ? (wd - effective_w) / w->stride_w + 1 : 0;
  } else {
    return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "padding '%s'", padding);
  }
  return SP_OK;
}

/* strides/dilations/ksize attrs: [1, h, w, 1] in NHWC. */
static sp_status nhwc_pair(sp_kernel_context *context, const char *name, int64_t *h, int64_t *w) {
  int64_t values[4];
  size_t count;
  SP_TRY(sp_kernel_attr_ints(context, name, values, 4, &count));
  if (count == 0) {
    *h = *w = 1;
    return SP_OK;
  }
  if (count != 4 || values[0] != 1 || values[3] != 1)
    return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "%s must be [1, h, w, 1]", name);
  *h = values[1];
  *w = values[2];
  return SP_OK;
}

static sp_status input_nhwc(sp_kernel_context *context, const sp_tensor *input, window *w) {
  if (input->rank != 4) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "input must be NHWC (rank 4), has rank %d", input->rank);
  w->batch = input->shape[0];
  w->in_h = input->shape[1];
  w->in_w = input->shape[2];
  w->channels = input->shape[3];
  return SP_OK;
}

/* Inputs, layout, filter and window of Conv2D and DepthwiseConv2dNative (filter [h, w, in, k]). */
static sp_status convolution_setup(sp_kernel_context *context, int blas_types_only, const sp_tensor **input,
                                   const sp_tensor **filter, window *w) {
  SP_TRY(sp_kernel_input(context, 0, input));
  SP_TRY(sp_kernel_input(context, 1, filter));
  SP_TRY(require_nhwc(context));
  SP_TRY(input_nhwc(context, *input, w));
  sp_dtype dtype = (*input)->dtype;
  int usable = blas_types_only ? dtype == SP_FLOAT32 || dtype == SP_FLOAT64 : sp_dtype_is_float(dtype);
  if ((*filter)->rank != 4 || (*filter)->shape[2] != w->channels || (*filter)->dtype != dtype || !usable)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "needs a %s filter [h, w, %lld, k] of the input's dtype, got %s",
                          blas_types_only ? "float32 or float64" : "floating-point", (long long)w->channels,
                          sp_dtype_name((*filter)->dtype));
  w->k_h = (*filter)->shape[0];
  w->k_w = (*filter)->shape[1];
  SP_TRY(nhwc_pair(context, "strides", &w->stride_h, &w->stride_w));
  SP_TRY(nhwc_pair(context, "dilations", &w->dilation_h, &w->dilation_w));
  return window_geometry(context, w);
}

static sp_status conv_2d(sp_kernel_context *context) {
  const sp_tensor *input, *filter;
  window w = {0};
  SP_TRY(convolution_setup(context, 1, &input, &filter, &w));
  int64_t out_c = filter->shape[3], patch = w.k_h * w.k_w * w.channels, positions = w.out_h * w.out_w;
  int64_t shape[4] = {w.batch, w.out_h, w.out_w, out_c};
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, input->dtype, 4, shape, &out));
  int64_t column_shape[2] = {positions, patch};
  SP_TRY(sp_kernel_check_shape(context, input->dtype, 2, column_shape));
  SP_TRY(check_blas_size(context, positions, out_c, patch));
  size_t element = sp_dtype_size(input->dtype);
  char *columns = sp_alloc_zeroed((size_t)(positions * patch > 0 ? positions * patch : 1), element);
  if (!columns) return SP_ERROR_NO_MEMORY;
  for (int64_t b = 0; b < w.batch; b++) {
    memset(columns, 0, (size_t)(positions * patch) * element);
    for (int64_t oy = 0; oy < w.out_h; oy++)
      for (int64_t ox = 0; ox < w.out_w; ox++)
        for (int64_t ky = 0; ky < w.k_h; ky++)
          for (int64_t kx = 0; kx < w.k_w; kx++) {
            int64_t iy = oy * w.stride_h + ky * w.dilation_h - w.pad_top, ix = ox * w.stride_w + kx * w.dilation_w - w.pad_left;
            if (iy < 0 || iy >= w.in_h || ix < 0 || ix >= w.in_w) continue;
            memcpy(columns + (size_t)(((oy * w.out_w + ox) * patch) + (ky * w.k_w + kx) * w.channels) * element,
                   (const char *)input->data + (size_t)(((b * w.in_h + iy) * w.in_w + ix) * w.channels) * element,
                   (size_t)w.channels * element);
          }
    multiply(input->dtype, columns, filter->data, (char *)out->data + (size_t)(b * positions * out_c) * element, positions,
             out_c, patch, 0, 0);
  }
  free(columns);
  return SP_OK;
}

static sp_status depthwise_conv_2d(sp_kernel_context *context) {
  const sp_tensor *input, *filter;
  window w = {0};
  SP_TRY(convolution_setup(context, 0, &input, &filter, &w));
  int64_t multiplier = filter->shape[3], out_c = w.channels * multiplier;
  int64_t shape[4] = {w.batch, w.out_h, w.out_w, out_c};
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, input->dtype, 4, shape, &out));
  for (int64_t b = 0; b < w.batch; b++)
    for (int64_t oy = 0; oy < w.out_h; oy++)
      for (int64_t ox = 0; ox < w.out_w; ox++)
        for (int64_t c = 0; c < w.channels; c++)
          for (int64_t q = 0; q < multiplier; q++) {
            double sum = 0;
            for (int64_t ky = 0; ky < w.k_h; ky++)
              for (int64_t kx = 0; kx < w.k_w; kx++) {
                int64_t iy = oy * w.stride_h + ky * w.dilation_h - w.pad_top, ix = ox * w.stride_w + kx * w.dilation_w - w.pad_left;
                if (iy < 0 || iy >= w.in_h || ix < 0 || ix >= w.in_w) continue;
                sum += sp_tensor_get_double(input, ((b * w.in_h + iy) * w.in_w + ix) * w.channels + c) *
                       sp_tensor_get_double(filter, ((ky * w.k_w + kx) * w.channels + c) * multiplier + q);
              }
            sp_tensor_set_double(out, ((b * w.out_h + oy) * w.out_w + ox) * out_c + c * multiplier + q, sum);
          }
  return SP_OK;
}

static sp_status pool(sp_kernel_context *context) {
  int maximum = strcmp(context->node->op, "MaxPool") == 0;
  const sp_tensor *input;
  SP_TRY(sp_kernel_input(context, 0, &input));
  SP_TRY(require_nhwc(context));
  window w = {0};
  SP_TRY(input_nhwc(context, input, &w));
  if (!sp_dtype_is_float(input->dtype)) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "input must be floating point");
  SP_TRY(nhwc_pair(context, "ksize", &w.k_h, &w.k_w));
  SP_TRY(nhwc_pair(context, "strides", &w.stride_h, &w.stride_w));
  w.dilation_h = w.dilation_w = 1;
  SP_TRY(window_geometry(context, &w));
  int64_t shape[4] = {w.batch, w.out_h, w.out_w, w.channels};
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, input->dtype, 4, shape, &out));
  for (int64_t b = 0; b < w.batch; b++)
    for (int64_t oy = 0; oy < w.out_h; oy++)
      for (int64_t ox = 0; ox < w.out_w; ox++)
        for (int64_t c = 0; c < w.channels; c++) {
          double result = maximum ? -INFINITY : 0;
          int64_t count = 0;
          for (int64_t ky = 0; ky < w.k_h; ky++)
            for (int64_t kx = 0; kx < w.k_w; kx++) {
              int64_t iy = oy * w.stride_h + ky - w.pad_top, ix = ox * w.stride_w + kx - w.pad_left;
              if (iy < 0 || iy >= w.in_h || ix < 0 || ix >= w.in_w) continue;
              double value = sp_tensor_get_double(input, ((b * w.in_h + iy) * w.in_w + ix) * w.channels + c);
              result = maximum ? (value > result || isnan(value) ? value : result) : result + value;
              count++;
            }
          sp_tensor_set_double(out, ((b * w.out_h + oy) * w.out_w + ox) * w.channels + c,
                               maximum ? result : count ? result / (double)count : 0);
        }
  return SP_OK;
}

/* ---------- normalization and softmax ---------- */

/* FusedBatchNorm(x, scale, offset, mean, variance): inference uses the given statistics;
 * is_training (TF's default) normalizes with the batch's own mean and (biased) variance. */
static sp_status fused_batch_norm(sp_kernel_context *context) {
  const sp_tensor *x, *parameters[4];
  SP_TRY(sp_kernel_input(context, 0, &x));
  for (int i = 0; i < 4; i++) SP_TRY(sp_kernel_input(context, (size_t)i + 1, &parameters[i]));
  SP_TRY(require_nhwc(context));
  double epsilon;
  int training;
  SP_TRY(sp_kernel_attr_float(context, "epsilon", 0.0001, &epsilon));
  SP_TRY(sp_kernel_attr_bool(context, "is_training", 1, &training));
  if (x->rank != 4 || !sp_dtype_is_float(x->dtype)) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "x must be a float NHWC tensor");
  int64_t channels = x->shape[3], count = sp_tensor_count(x), per_channel = channels ? count / channels : 0;
  for (int i = 0; i < 4; i++)
    if (parameters[i]->rank != 1 || (!training || i < 2 ? parameters[i]->shape[0] != channels : 0))
      return sp_kernel_fail(context, SP_ERROR_MISMATCH, "scale, offset, mean and variance need %lld values", (long long)channels);
  double *mean = sp_alloc_zeroed((size_t)channels + 1, sizeof *mean), *variance = sp_alloc_zeroed((size_t)channels + 1, sizeof *variance);
  if (!mean || !variance) {
    free(mean);
    free(variance);
    return SP_ERROR_NO_MEMORY;
  }
  for (int64_t c = 0; c < channels; c++) {
    if (!training) {
      mean[c] = sp_tensor_get_double(parameters[2], c);
      variance[c] = sp_tensor_get_double(parameters[3], c);
      continue;
    }
    for (int64_t i = c; i < count; i += channels) mean[c] += sp_tensor_get_double(x, i);
    mean[c] /= per_channel ? (double)per_channel : 1;
    for (int64_t i = c; i < count; i += channels) variance[c] += pow(sp_tensor_get_double(x, i) - mean[c], 2);
    variance[c] /= per_channel ? (double)per_channel : 1;
  }
  sp_tensor *y;
  sp_status status = sp_kernel_output_new(context, 0, x->dtype, 4, x->shape, &y);
  for (int64_t i = 0; i < count && status == SP_OK; i++) {
    int64_t c = i % channels;
    double scale = sp_tensor_get_double(parameters[0], c), offset = sp_tensor_get_double(parameters[1], c);
    sp_tensor_set_double(y, i, (sp_tensor_get_double(x, i) - mean[c]) * scale / sqrt(variance[c] + epsilon) + offset);
  }
  for (size_t k = 1; k < context->output_count && status == SP_OK; k++) {
    sp_tensor *statistic;
    int64_t length = k < 5 ? channels : 0;
    status = sp_kernel_output_new(context, k, parameters[0]->dtype, 1, &length, &statistic);
    for (int64_t c = 0; c < length && status == SP_OK; c++)
      sp_tensor_set_double(statistic, c, k == 1 || k == 3 ? mean[c] : variance[c]);
  }
  free(mean);
  free(variance);
  return status;
}

static sp_status softmax(sp_kernel_context *context) {
  int logarithmic = strcmp(context->node->op, "LogSoftmax") == 0;
  const sp_tensor *logits;
  SP_TRY(sp_kernel_input(context, 0, &logits));
  if (logits->rank < 1 || !sp_dtype_is_float(logits->dtype))
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "logits must be a floating-point tensor of rank >= 1");
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, logits->dtype, logits->rank, logits->shape, &out));
  int64_t classes = logits->shape[logits->rank - 1], rows = classes ? sp_tensor_count(logits) / classes : 0;
  for (int64_t r = 0; r < rows; r++) {
    int64_t base = r * classes;
    double largest = -INFINITY, sum = 0;
    for (int64_t c = 0; c < classes; c++) largest = fmax(largest, sp_tensor_get_double(logits, base + c));
    for (int64_t c = 0; c < classes; c++) sum += exp(sp_tensor_get_double(logits, base + c) - largest);
    for (int64_t c = 0; c < classes; c++) {
      double shifted = sp_tensor_get_double(logits, base + c) - largest;
      sp_tensor_set_double(out, base + c, logarithmic ? shifted - log(sum) : exp(shifted) / sum);
    }
  }
  return SP_OK;
}

const sp_op sp_graph_ops_nn[] = {
    {"MatMul", mat_mul, NULL, 0},
    {"BatchMatMul", batch_mat_mul, NULL, 0},
    {"BatchMatMulV2", batch_mat_mul, NULL, 0},
    {"BatchMatMulV3", batch_mat_mul, NULL, 0},
    {"BiasAdd", bias_add, NULL, 0},
    {"BiasAddV1", bias_add, NULL, 0},
    {"Conv2D", conv_2d, NULL, 0},
    {"DepthwiseConv2dNative", depthwise_conv_2d, NULL, 0},
    {"MaxPool", pool, NULL, 0},
    {"AvgPool", pool, NULL, 0},
    {"FusedBatchNorm", fused_batch_norm, "y,batch_mean,batch_variance,reserve_space_1,reserve_space_2", 0},
    {"FusedBatchNormV2", fused_batch_norm, "y,batch_mean,batch_variance,reserve_space_1,reserve_space_2", 0},
    {"FusedBatchNormV3", fused_batch_norm,
     "y,batch_mean,batch_variance,reserve_space_1,reserve_space_2,reserve_space_3", 0},
    {"Softmax", softmax, NULL, 0},
    {"LogSoftmax", softmax, NULL, 0},
    {NULL, NULL, NULL, 0},
};
