/* Peer tests of graph kernels: each case builds a one-op graph over seeded random inputs, runs it,
 * and writes inputs and outputs as .npy files; graph_ops_reference.py then recomputes every case
 * with numpy (convolutions and pooling as explicit loops over NumPy arrays) and compares. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "core/npy.h"
#include "graph/session.h"
#include "graph_builder.h"
#include "test_support.h"

typedef struct ops_run {
  char *directory;
  FILE *manifest;
  int cases;
  uint64_t seed;
} ops_run;

static double next_random(ops_run *run) {
  run->seed = run->seed * 6364136223846793005u + 1442695040888963407u;
  return (double)(run->seed >> 11) * 0x1.0p-53 * 2 - 1;
}

static sp_tensor *random_tensor(ops_run *run, sp_dtype dtype, int rank, const int64_t *shape, double scale) {
  sp_tensor *t = sp_tensor_new(dtype, rank, shape);
  cr_assert_not_null(t);
  for (int64_t i = 0; i < sp_tensor_count(t); i++) sp_tensor_set_double(t, i, next_random(run) * scale);
  return t;
}

static sp_tensor *int_tensor(sp_dtype dtype, int rank, const int64_t *shape, const int64_t *values) {
  sp_tensor *t = sp_tensor_new(dtype, rank, shape);
  cr_assert_not_null(t);
  for (int64_t i = 0; i < sp_tensor_count(t); i++) sp_tensor_set_double(t, i, (double)values[i]);
  return t;
}

typedef void (*attr_setter)(graph_builder *b, Tensorflow__NodeDef *node);

/* Runs op over inputs (owned; freed here), writes case files, records the case as name. */
static void run_case(ops_run *run, const char *name, const char *op, size_t input_count, sp_tensor **inputs,
                     size_t output_count, attr_setter attrs) {
  graph_builder b = {0};
  char input_names[8][16];
  for (size_t i = 0; i < input_count; i++) {
    snprintf(input_names[i], sizeof input_names[i], "in%zu", i);
    add_const(&b, input_names[i], inputs[i]);
  }
  Tensorflow__NodeDef *node = add_node(&b, "op", op, NULL);
  for (size_t i = 0; i < input_count; i++) {
    node->input = builder_grow(&b, node->input, node->n_input, sizeof *node->input);
    node->input[node->n_input++] = builder_string(&b, input_names[i]);
  }
  attr_type(&b, node, "T", inputs[0]->dtype);
  if (attrs) attrs(&b, node);
  size_t size;
  uint8_t *data = graph_builder_pack(&b, &size);
  char *graph_path = sp_strdupf("%s/%d-graph.pb", run->directory, run->cases); /* a seed for fuzz_graph_run */
  SP_ASSERT_OK(sp_write_file_atomic(graph_path, data, size));
  free(graph_path);
  sp_graph_session *session;
  SP_ASSERT_OK(sp_graph_session_open_graph(data, size, name, NULL, &session));
  const char *fetch_names[8];
  char fetch_text[8][16];
  sp_tensor *outputs[8];
  for (size_t i = 0; i < output_count; i++) {
    snprintf(fetch_text[i], sizeof fetch_text[i], "op:%zu", i);
    fetch_names[i] = fetch_text[i];
  }
  sp_status status = sp_graph_session_run_tensors(session, 0, NULL, NULL, output_count, fetch_names, 0, NULL, outputs);
  cr_assert(status == SP_OK, "case %s: %s", name, sp_last_error());
  for (size_t i = 0; i < input_count; i++) {
    char *path = sp_strdupf("%s/%d-in%zu.npy", run->directory, run->cases, i);
    SP_ASSERT_OK(sp_npy_write(path, inputs[i]));
    free(path);
    sp_tensor_free(inputs[i]);
  }
  for (size_t i = 0; i < output_count; i++) {
    char *path = sp_strdupf("%s/%d-out%zu.npy", run->directory, run->cases, i);
    SP_ASSERT_OK(sp_npy_write(path, outputs[i]));
    free(path);
    sp_tensor_free(outputs[i]);
  }
  fprintf(run->manifest, "%d %s %zu %zu\n", run->cases++, name, input_count, output_count);
  sp_graph_session_close(session);
  free(data);
  graph_builder_free(&b);
}

/* ---------- attrs per case ---------- */

static void conv_same_stride2(graph_builder *b, Tensorflow__NodeDef *n) {
  int64_t strides[4] = {1, 2, 2, 1};
  attr_ints(b, n, "strides", 4, strides);
  attr_string(b, n, "padding", "SAME");
}
static void conv_valid_dilated(graph_builder *b, Tensorflow__NodeDef *n) {
  int64_t strides[4] = {1, 1, 1, 1}, dilations[4] = {1, 2, 2, 1};
  attr_ints(b, n, "strides", 4, strides);
  attr_ints(b, n, "dilations", 4, dilations);
  attr_string(b, n, "padding", "VALID");
}
static void conv_explicit(graph_builder *b, Tensorflow__NodeDef *n) {
  int64_t strides[4] = {1, 1, 2, 1}, pads[8] = {0, 0, 1, 2, 2, 1, 0, 0};
  attr_ints(b, n, "strides", 4, strides);
  attr_string(b, n, "padding", "EXPLICIT");
  attr_ints(b, n, "explicit_paddings", 8, pads);
}
static void same_stride1(graph_builder *b, Tensorflow__NodeDef *n) {
  int64_t strides[4] = {1, 1, 1, 1};
  attr_ints(b, n, "strides", 4, strides);
  attr_string(b, n, "padding", "SAME");
}
static void pool_3x3_stride2_same(graph_builder *b, Tensorflow__NodeDef *n) {
  int64_t ksize[4] = {1, 3, 3, 1}, strides[4] = {1, 2, 2, 1};
  attr_ints(b, n, "ksize", 4, ksize);
  attr_ints(b, n, "strides", 4, strides);
  attr_string(b, n, "padding", "SAME");
}
static void pool_2x2_valid(graph_builder *b, Tensorflow__NodeDef *n) {
  int64_t ksize[4] = {1, 2, 2, 1}, strides[4] = {1, 2, 2, 1};
  attr_ints(b, n, "ksize", 4, ksize);
  attr_ints(b, n, "strides", 4, strides);
  attr_string(b, n, "padding", "VALID");
}
static void transpose_b(graph_builder *b, Tensorflow__NodeDef *n) { attr_bool(b, n, "transpose_b", 1); }
static void adjoint_x(graph_builder *b, Tensorflow__NodeDef *n) { attr_bool(b, n, "adj_x", 1); }
static void keep_dims(graph_builder *b, Tensorflow__NodeDef *n) { attr_bool(b, n, "keep_dims", 1); }
static void slice_masks(graph_builder *b, Tensorflow__NodeDef *n) {
  /* x[1:, ::-2, ..., None, 2] on a rank-4 input */
  attr_int(b, n, "begin_mask", 2);
  attr_int(b, n, "end_mask", 1 | 2);
  attr_int(b, n, "ellipsis_mask", 4);
  attr_int(b, n, "new_axis_mask", 8);
  attr_int(b, n, "shrink_axis_mask", 16);
}
static void slice_shrink_negative(graph_builder *b, Tensorflow__NodeDef *n) {
  /* x[-1, 1:-1] */
  attr_int(b, n, "shrink_axis_mask", 1);
}
static void gather_attrs(graph_builder *b, Tensorflow__NodeDef *n) { attr_type(b, n, "Tparams", SP_FLOAT32); }
static void pack_axis1(graph_builder *b, Tensorflow__NodeDef *n) {
  attr_int(b, n, "N", 3);
  attr_int(b, n, "axis", 1);
}
static void unpack_axis2(graph_builder *b, Tensorflow__NodeDef *n) {
  attr_int(b, n, "num", 3);
  attr_int(b, n, "axis", 2);
}
static void batch_norm_inference(graph_builder *b, Tensorflow__NodeDef *n) {
  attr_float(b, n, "epsilon", 0.001f);
  attr_bool(b, n, "is_training", 0);
}
static void leaky(graph_builder *b, Tensorflow__NodeDef *n) { attr_float(b, n, "alpha", 0.3f); }

Test(graph_ops, kernels_agree_with_numpy) {
  if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    cr_skip_test("/usr/bin/python3 with numpy is not installed: peer check skipped");
  ops_run run = {sp_test_temp_dir("graph-ops"), NULL, 0, 12345};
  char *manifest_path = sp_path_join(run.directory, "cases.txt");
  run.manifest = fopen(manifest_path, "w");
  cr_assert_not_null(run.manifest);

  int64_t x1[4] = {2, 7, 6, 3}, w1[4] = {3, 3, 3, 4};
  run_case(&run, "conv_same_stride2", "Conv2D", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 4, x1, 1), random_tensor(&run, SP_FLOAT32, 4, w1, 1)}, 1,
           conv_same_stride2);
  int64_t x2[4] = {1, 9, 9, 2}, w2[4] = {2, 3, 2, 3};
  run_case(&run, "conv_valid_dilated", "Conv2D", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 4, x2, 1), random_tensor(&run, SP_FLOAT32, 4, w2, 1)}, 1,
           conv_valid_dilated);
  int64_t x3[4] = {1, 5, 5, 1}, w3[4] = {3, 3, 1, 2};
  run_case(&run, "conv_explicit", "Conv2D", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 4, x3, 1), random_tensor(&run, SP_FLOAT32, 4, w3, 1)}, 1,
           conv_explicit);
  int64_t x4[4] = {1, 6, 6, 3}, w4[4] = {3, 3, 3, 2};
  run_case(&run, "depthwise_same", "DepthwiseConv2dNative", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 4, x4, 1), random_tensor(&run, SP_FLOAT32, 4, w4, 1)}, 1,
           same_stride1);
  int64_t x5[4] = {1, 7, 7, 2};
  run_case(&run, "maxpool_same", "MaxPool", 1, (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 4, x5, 1)}, 1,
           pool_3x3_stride2_same);
  run_case(&run, "avgpool_same", "AvgPool", 1, (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 4, x5, 1)}, 1,
           pool_3x3_stride2_same);
  run_case(&run, "maxpool_valid", "MaxPool", 1, (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 4, x5, 1)}, 1,
           pool_2x2_valid);
  int64_t a6[2] = {3, 4}, b6[2] = {5, 4};
  run_case(&run, "matmul_transpose_b", "MatMul", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 2, a6, 1), random_tensor(&run, SP_FLOAT32, 2, b6, 1)}, 1,
           transpose_b);
  int64_t a7[4] = {2, 1, 4, 3}, b7[3] = {5, 4, 2};
  run_case(&run, "batch_matmul_adj_x", "BatchMatMulV2", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 4, a7, 1), random_tensor(&run, SP_FLOAT32, 3, b7, 1)}, 1,
           adjoint_x);
  int64_t ints_shape[2] = {2, 3}, ints_a[6] = {1, -2, 3, 4, 5, -6}, ints_b[6] = {7, 8, -9, 10, 11, 12};
  run_case(&run, "matmul_int32", "MatMul", 2,
           (sp_tensor *[]){int_tensor(SP_INT32, 2, ints_shape, ints_a), int_tensor(SP_INT32, 2, ints_shape, ints_b)}, 1,
           transpose_b);
  int64_t s8[2] = {3, 5};
  run_case(&run, "softmax", "Softmax", 1, (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 2, s8, 5)}, 1, NULL);
  run_case(&run, "log_softmax", "LogSoftmax", 1, (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 2, s8, 5)}, 1, NULL);
  int64_t r9[3] = {2, 3, 4}, one = 1, two = 2, axis1[1] = {1}, axes02[2] = {0, -1};
  run_case(&run, "mean_keep_dims_axis1", "Mean", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, r9, 1), int_tensor(SP_INT32, 1, &one, axis1)}, 1, keep_dims);
  run_case(&run, "sum_axes_0_2", "Sum", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, r9, 1), int_tensor(SP_INT64, 1, &two, axes02)}, 1, NULL);
  run_case(&run, "max_axis1", "Max", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, r9, 1), int_tensor(SP_INT32, 1, &one, axis1)}, 1, NULL);
  run_case(&run, "prod_axis1", "Prod", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, r9, 2), int_tensor(SP_INT32, 1, &one, axis1)}, 1, NULL);
  run_case(&run, "argmax_axis1", "ArgMax", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, r9, 1), int_tensor(SP_INT32, 0, NULL, axis1)}, 1, NULL);
  int64_t x10[4] = {4, 5, 3, 6}, five = 5;
  int64_t begin10[5] = {1, 0, 0, 0, 2}, end10[5] = {0, 0, 0, 0, 3}, strides10[5] = {1, -2, 1, 1, 1};
  run_case(&run, "strided_slice_masks", "StridedSlice", 4,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 4, x10, 1), int_tensor(SP_INT32, 1, &five, begin10),
                           int_tensor(SP_INT32, 1, &five, end10), int_tensor(SP_INT32, 1, &five, strides10)},
           1, slice_masks);
  int64_t x11[2] = {3, 6}, begin11[2] = {-1, 1}, end11[2] = {0, -1}, strides11[2] = {1, 1};
  run_case(&run, "strided_slice_shrink", "StridedSlice", 4,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 2, x11, 1), int_tensor(SP_INT64, 1, &two, begin11),
                           int_tensor(SP_INT64, 1, &two, end11), int_tensor(SP_INT64, 1, &two, strides11)},
           1, slice_shrink_negative);
  int64_t three = 3, perm[3] = {2, 0, 1}, multiples[3] = {2, 1, 3}, paddings_shape[2] = {3, 2};
  int64_t paddings[6] = {1, 0, 0, 2, 1, 1};
  run_case(&run, "transpose", "Transpose", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, r9, 1), int_tensor(SP_INT32, 1, &three, perm)}, 1, NULL);
  run_case(&run, "tile", "Tile", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, r9, 1), int_tensor(SP_INT32, 1, &three, multiples)}, 1, NULL);
  run_case(&run, "pad", "Pad", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, r9, 1), int_tensor(SP_INT32, 2, paddings_shape, paddings)},
           1, NULL);
  int64_t indices_shape[2] = {2, 2}, indices[4] = {3, 0, 1, 3};
  run_case(&run, "gather_axis2", "GatherV2", 3,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, r9, 1), int_tensor(SP_INT32, 2, indices_shape, indices),
                           int_tensor(SP_INT32, 0, NULL, (int64_t[]){2})},
           1, gather_attrs);
  run_case(&run, "concat_axis1", "ConcatV2", 3,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, r9, 1),
                           random_tensor(&run, SP_FLOAT32, 3, (int64_t[]){2, 5, 4}, 1),
                           int_tensor(SP_INT32, 0, NULL, (int64_t[]){1})},
           1, NULL);
  run_case(&run, "pack_axis1", "Pack", 3,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 2, ints_shape, 1), random_tensor(&run, SP_FLOAT32, 2, ints_shape, 1),
                           random_tensor(&run, SP_FLOAT32, 2, ints_shape, 1)},
           1, pack_axis1);
  run_case(&run, "unpack_axis2", "Unpack", 1,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, (int64_t[]){2, 2, 3}, 1)}, 3, unpack_axis2);
  run_case(&run, "squared_difference_broadcast", "SquaredDifference", 2,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 3, (int64_t[]){3, 1, 4}, 1),
                           random_tensor(&run, SP_FLOAT32, 2, (int64_t[]){5, 1}, 1)},
           1, NULL);
  int64_t mods_a[6] = {7, -7, 7, -7, 0, 5}, mods_b[6] = {3, 3, -3, -3, 2, -1};
  run_case(&run, "floor_mod_int32", "FloorMod", 2,
           (sp_tensor *[]){int_tensor(SP_INT32, 1, (int64_t[]){6}, mods_a), int_tensor(SP_INT32, 1, (int64_t[]){6}, mods_b)},
           1, NULL);
  run_case(&run, "floor_div_int64", "FloorDiv", 2,
           (sp_tensor *[]){int_tensor(SP_INT64, 1, (int64_t[]){6}, mods_a), int_tensor(SP_INT64, 1, (int64_t[]){6}, mods_b)},
           1, NULL);
  int64_t channels = 3, x12[4] = {2, 2, 2, 3};
  sp_tensor *variance = random_tensor(&run, SP_FLOAT32, 1, &channels, 1);
  for (int i = 0; i < 3; i++) sp_tensor_floats(variance)[i] = sp_tensor_floats(variance)[i] * sp_tensor_floats(variance)[i] + 0.1f;
  run_case(&run, "fused_batch_norm_inference", "FusedBatchNormV3", 5,
           (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 4, x12, 1), random_tensor(&run, SP_FLOAT32, 1, &channels, 1),
                           random_tensor(&run, SP_FLOAT32, 1, &channels, 1), random_tensor(&run, SP_FLOAT32, 1, &channels, 1),
                           variance},
           1, batch_norm_inference);
  const char *unary[] = {"Selu", "Elu", "Softplus", "Erf", "Sigmoid", "Tanh", "Relu6", "Rsqrt", "Round", "Sign"};
  for (size_t i = 0; i < sizeof unary / sizeof *unary; i++) {
    sp_tensor *x = random_tensor(&run, SP_FLOAT32, 1, (int64_t[]){12}, 4);
    if (strcmp(unary[i], "Rsqrt") == 0)
      for (int k = 0; k < 12; k++) sp_tensor_floats(x)[k] = sp_tensor_floats(x)[k] * sp_tensor_floats(x)[k] + 0.01f;
    if (strcmp(unary[i], "Round") == 0)
      for (int k = 0; k < 12; k++) sp_tensor_floats(x)[k] = (float)(k - 6) + 0.5f;
    run_case(&run, unary[i], unary[i], 1, (sp_tensor *[]){x}, 1, NULL);
  }
  run_case(&run, "LeakyRelu", "LeakyRelu", 1, (sp_tensor *[]){random_tensor(&run, SP_FLOAT32, 1, (int64_t[]){12}, 4)}, 1,
           leaky);
  fclose(run.manifest);

  char *reference = sp_test_source_path("tests/unit/graph_ops_reference.py");
  char *command = sp_strdupf("/usr/bin/python3 %s %s", reference, run.directory);
  cr_assert_eq(system(command), 0, "numpy disagrees (see the lines above)");
  free(command);
  free(reference);
  free(manifest_path);
  sp_remove_tree(run.directory);
  free(run.directory);
}
