/* Tests of the GraphDef interpreter (src/graph) on the SavedModel fixtures and on hostile graphs.
 *
 * Expected outputs: the source repositories' tests as PROVENANCE.md records them (sections 1-4,
 * 13, 15, 16), the generator docstrings (y = 0.5x + 2, y2 = 0.5x + 3, y3 = 0.5x2 + 3), and for the
 * Keras SavedModels (sections 21-23) Appendix F's numpy reference where it holds; for three models
 * Appendix F used the Adam slot variables instead of the weights (see
 * keras_savedmodels_match_numpy_over_their_weights), so those expectations are numpy forward passes
 * over the .ATTRIBUTES/VARIABLE_VALUE tensors, computed with numpy float32 outside this project. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "formats/example.h"
#include "graph/session.h"
#include "graph_builder.h"
#include "test_support.h"

static sp_graph_session *open_fixture(const char *relative, const char *tag_set) {
  char *path = sp_test_fixture(relative);
  sp_graph_session *session = NULL;
  SP_ASSERT_OK(sp_graph_session_open(path, tag_set, &session));
  free(path);
  return session;
}

static sp_tensor *floats(int rank, const int64_t *shape, const float *values) {
  sp_tensor *t = sp_tensor_new(SP_FLOAT32, rank, shape);
  cr_assert_not_null(t);
  memcpy(t->data, values, t->size);
  return t;
}

/* Runs signature with one input and returns the output called output_key (caller frees). */
static sp_tensor *run_one(sp_graph_session *session, const char *signature, const char *input_key, const sp_tensor *input,
                          const char *output_key) {
  size_t count;
  char **keys;
  sp_tensor **outputs;
  const char *input_keys[] = {input_key};
  const sp_tensor *inputs[] = {input};
  SP_ASSERT_OK(sp_graph_session_run(session, signature, input ? 1 : 0, input_keys, inputs, &count, &keys, &outputs));
  sp_tensor *found = NULL;
  for (size_t i = 0; i < count; i++)
    if (strcmp(keys[i], output_key) == 0) {
      found = outputs[i];
      outputs[i] = NULL;
    }
  cr_assert_not_null(found, "no output '%s'", output_key);
  sp_graph_outputs_free(count, keys, outputs);
  return found;
}

static void expect_floats(const sp_tensor *t, size_t count, const float *expected, const char *what) {
  cr_assert_eq(t->dtype, SP_FLOAT32, "%s: dtype %s", what, sp_dtype_name(t->dtype));
  cr_assert_eq((size_t)sp_tensor_count(t), count, "%s: %lld elements", what, (long long)sp_tensor_count(t));
  sp_assert_close(sp_tensor_floats(t), expected, count, 1e-6, 1e-6, what);
}

/* A batch of serialized tf.Examples with one float feature "x". */
static sp_tensor *examples(size_t count, const float *xs) {
  int64_t shape[1] = {(int64_t)count};
  sp_tensor *t = sp_tensor_new(SP_STRING, 1, shape);
  for (size_t i = 0; i < count; i++) {
    sp_example_feature feature = {"x", SP_FLOAT32, 1, &xs[i]};
    sp_buffer bytes = {0};
    SP_ASSERT_OK(sp_example_encode(&feature, 1, &bytes));
    SP_ASSERT_OK(sp_tensor_set_string(t, (int64_t)i, bytes.data, bytes.size));
    sp_buffer_free(&bytes);
  }
  return t;
}

/* ---------- graphs without variables ---------- */

Test(graph_fixtures, matrix_half_plus_two_from_its_generator_docstring) {
  sp_graph_session *session = open_fixture("tfserving-batching-testdata/matrix_half_plus_two/1", "serve");
  int64_t shape[3] = {1, 3, 3};
  float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[9] = {2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5};
  sp_tensor *input = floats(3, shape, x);
  sp_tensor *output = run_one(session, "serving_default", "x", input, "y");
  expect_floats(output, 9, y, "matrix_half_plus_two");
  cr_assert_eq(output->rank, 3);
  sp_tensor_free(output);
  sp_tensor_free(input);
  sp_graph_session_close(session);
}

/* ---------- TF1 half_plus_two family (tensorflow_model_server_test.py, saved_model_bundle_test.cc) ---------- */

static void check_half_plus_two(const char *relative, float b, int has_y2, int has_classify_x2) {
  sp_graph_session *session = open_fixture(relative, "serve");
  int64_t shape[2] = {3, 1};
  float x[3] = {2, 3, 4}, y[3] = {0.5f * 2 + b, 0.5f * 3 + b, 0.5f * 4 + b};
  sp_tensor *input = floats(2, shape, x);
  sp_tensor *output = run_one(session, "serving_default", "x", input, "y");
  expect_floats(output, 3, y, relative);
  sp_tensor_free(output);
  sp_tensor_free(input);
  if (has_y2) {
    float xs[4] = {0, 1, 2, 3}, regressed[4] = {2, 2.5, 3, 3.5}, y2[1] = {4}, y3[1] = {4}, two[1] = {2};
    sp_tensor *batch = examples(4, xs);
    output = run_one(session, "regress_x_to_y", "inputs", batch, "outputs");
    expect_floats(output, 4, regressed, "regress_x_to_y");
    cr_assert_eq(output->rank, 2);
    sp_tensor_free(output);
    sp_tensor_free(batch);
    batch = examples(1, two);
    output = run_one(session, "classify_x_to_y", "inputs", batch, "scores");
    float three[1] = {3};
    expect_floats(output, 1, three, "classify_x_to_y");
    sp_tensor_free(output);
    output = run_one(session, "regress_x_to_y2", "inputs", batch, "outputs"); /* [1, 10, 10, 1] in the mkl model */
    for (int64_t i = 0; i < sp_tensor_count(output); i++) cr_assert_eq(sp_tensor_floats(output)[i], y2[0]);
    sp_tensor_free(output);
    sp_tensor_free(batch);
    int64_t one[2] = {1, 1};
    sp_tensor *x2 = floats(2, one, two);
    output = run_one(session, "regress_x2_to_y3", "inputs", x2, "outputs");
    for (int64_t i = 0; i < sp_tensor_count(output); i++) cr_assert_eq(sp_tensor_floats(output)[i], y3[0]);
    sp_tensor_free(output);
    if (has_classify_x2) {
      output = run_one(session, "classify_x2_to_y3", "inputs", x2, "scores");
      expect_floats(output, 1, y3, "classify_x2_to_y3");
      sp_tensor_free(output);
    }
    sp_tensor_free(x2);
  }
  sp_graph_session_close(session);
}

Test(graph_fixtures, tf1_half_plus_two_family) {
  check_half_plus_two("tfserving-testdata/saved_model_half_plus_two_cpu/00000123", 2, 1, 0);
  check_half_plus_two("tfserving-testdata/saved_model_half_plus_two_2_versions/00000123", 2, 1, 1);
  check_half_plus_two("tfserving-testdata/saved_model_half_plus_two_2_versions/00000124", 2, 1, 1);
  check_half_plus_two("tfserving-testdata/saved_model_half_plus_two_gpu/00000123", 2, 1, 1);
  check_half_plus_two("tfserving-testdata/saved_model_half_plus_two_cpu_with_saved_model_config/00000123", 2, 1, 1);
  check_half_plus_two("tf-cc-saved-model-testdata/half_plus_two/00000123", 2, 1, 1);
  check_half_plus_two("tf-cc-saved-model-testdata/half_plus_two_main_op/00000123", 2, 1, 1);
  check_half_plus_two("tf-cc-saved-model-testdata/half_plus_two_pbtxt/00000123", 2, 1, 1);
  check_half_plus_two("tf-cc-saved-model-testdata/half_plus_two_v2/00000123", 2, 1, 0);
  check_half_plus_two("tfserving-testdata/saved_model_half_plus_three/00000123", 3, 0, 0);
}

Test(graph_fixtures, mkl_variant_runs_its_main_op_and_conv_outputs) {
  check_half_plus_two("tfserving-testdata/saved_model_half_plus_two_mkl/00000123", 2, 1, 0);
}

static char *fetch_string(sp_graph_session *session, const char *name) {
  const char *fetch[] = {name};
  sp_tensor *value = NULL;
  SP_ASSERT_OK(sp_graph_session_run_tensors(session, 0, NULL, NULL, 1, fetch, 0, NULL, &value));
  cr_assert_eq(value->dtype, SP_STRING);
  char *text = sp_strdup(((const sp_string *)value->data)->bytes);
  sp_tensor_free(value);
  return text;
}

Test(graph_fixtures, init_ops_and_asset_feeds) {
  /* saved_model_bundle_test.cc: after loading, filename_tensor:0 holds "foo.txt" (legacy_init_op assigns it). */
  sp_graph_session *session = open_fixture("tf-cc-saved-model-testdata/half_plus_two/00000123", "serve");
  char *text = fetch_string(session, "filename_tensor:0");
  cr_assert_str_eq(text, "foo.txt");
  free(text);
  sp_graph_session_close(session);
  /* TF2: the init op assigns the asset placeholder, fed with <dir>/assets/foo.txt, to a variable. */
  session = open_fixture("tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123", "serve");
  text = fetch_string(session, "Variable/Read/ReadVariableOp:0");
  cr_assert(sp_path_has_suffix(text, "/saved_model_half_plus_two_tf2_cpu/00000123/assets/foo.txt"), "%s", text);
  free(text);
  sp_graph_session_close(session);
}

/* ---------- TF2 object-graph SavedModels ---------- */

Test(graph_fixtures, tf2_half_plus_two) {
  sp_graph_session *session = open_fixture("tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123", "serve");
  int64_t one[1] = {1};
  float two[1] = {2}, three[1] = {3}, four[1] = {4};
  sp_tensor *x = floats(1, one, two);
  sp_tensor *y = run_one(session, "serving_default", "x", x, "y");
  expect_floats(y, 1, three, "serving_default");
  sp_tensor_free(y);
  y = run_one(session, "regress_x2_to_y3", "inputs", x, "outputs");
  expect_floats(y, 1, four, "regress_x2_to_y3");
  sp_tensor_free(y);
  sp_tensor *batch = examples(1, two);
  y = run_one(session, "classify_x_to_y", "inputs", batch, "scores");
  expect_floats(y, 1, three, "classify_x_to_y (ParseExampleV2)");
  sp_tensor_free(y);
  y = run_one(session, "regress_x_to_y2", "inputs", batch, "outputs");
  expect_floats(y, 1, four, "regress_x_to_y2");
  sp_tensor_free(y);
  sp_tensor_free(batch);
  /* PlaceholderWithDefault: serving_default_x may be left out */
  size_t count;
  char **keys;
  sp_tensor **outputs;
  SP_ASSERT_OK(sp_graph_session_run(session, "serving_default", 0, NULL, NULL, &count, &keys, &outputs));
  sp_graph_outputs_free(count, keys, outputs);
  sp_tensor_free(x);
  sp_graph_session_close(session);
}

Test(graph_fixtures, x_plus_y_v2) {
  sp_graph_session *session = open_fixture("tf-cc-saved-model-testdata/x_plus_y_v2_debuginfo", "serve");
  float two[1] = {2.5f}, three[1] = {3};
  sp_tensor *x = floats(0, NULL, two), *y = floats(0, NULL, three);
  const char *keys[] = {"x", "y"};
  const sp_tensor *inputs[] = {x, y};
  size_t count;
  char **names;
  sp_tensor **outputs;
  SP_ASSERT_OK(sp_graph_session_run(session, "serving_default", 2, keys, inputs, &count, &names, &outputs));
  float sum[1] = {5.5f};
  expect_floats(outputs[0], 1, sum, "x + y");
  sp_graph_outputs_free(count, names, outputs);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_graph_session_close(session);
}

/* tfjs-node/src/saved_model_test.ts */
Test(graph_fixtures, tfjs_node_saved_models) {
  const char *base = "tfjs-node-savedmodels/saved_model/";
  struct {
    const char *model, *signature;
    sp_dtype dtype;
    int64_t count;
    int64_t x[3];
    const char *output;
    int64_t expected[3];
  } cases[] = {
      {"times_three_float", "serving_default", SP_FLOAT32, 3, {1, 2, 3}, "output_0", {3, 6, 9}},
      {"times_two_int", "serving_default", SP_INT32, 3, {1, 2, 3}, "output_0", {2, 4, 6}},
      {"module_with_multiple_signatures", "serving_default", SP_FLOAT32, 3, {1, 2, 3}, "output_0", {3, 6, 9}},
      {"module_with_multiple_signatures", "timestwo", SP_FLOAT32, 3, {1, 2, 3}, "output_0", {2, 4, 6}},
      {"model_single_input_multi_output", "serving_default", SP_INT32, 3, {1, 2, 3}, "output_0", {2, 4, 6}},
      {"model_single_input_multi_output", "serving_default", SP_INT32, 3, {1, 2, 3}, "output_1", {1, 2, 3}},
      {"uint8_multiply", "serving_default", SP_UINT8, 1, {3}, "output_0", {18}},
      {"int64_multiply", "serving_default", SP_INT64, 2, {3, 4}, "output_0", {18, 24}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    char *relative = sp_strdupf("%s%s", base, cases[c].model);
    sp_graph_session *session = open_fixture(relative, "serve");
    sp_tensor *x = sp_tensor_new(cases[c].dtype, 1, &cases[c].count);
    for (int64_t i = 0; i < cases[c].count; i++) sp_tensor_set_double(x, i, (double)cases[c].x[i]);
    sp_tensor *y = run_one(session, cases[c].signature, "x", x, cases[c].output);
    cr_assert_eq(sp_tensor_count(y), cases[c].count, "%s", relative);
    for (int64_t i = 0; i < cases[c].count; i++)
      cr_assert_eq(sp_tensor_get_double(y, i), (double)cases[c].expected[i], "%s %s element %lld", relative,
                   cases[c].output, (long long)i);
    sp_tensor_free(x);
    sp_tensor_free(y);
    sp_graph_session_close(session);
    free(relative);
  }
}

Test(graph_fixtures, tfjs_model_multi_output_two_inputs) {
  sp_graph_session *session = open_fixture("tfjs-node-savedmodels/saved_model/model_multi_output", "serve");
  int64_t three = 3;
  sp_tensor *x = sp_tensor_new(SP_INT32, 1, &three), *y = sp_tensor_new(SP_INT32, 1, &three);
  for (int i = 0; i < 3; i++) ((int32_t *)x->data)[i] = ((int32_t *)y->data)[i] = i + 1;
  const char *keys[] = {"x", "y"};
  const sp_tensor *inputs[] = {x, y};
  size_t count;
  char **names;
  sp_tensor **outputs;
  SP_ASSERT_OK(sp_graph_session_run(session, "serving_default", 2, keys, inputs, &count, &names, &outputs));
  cr_assert_eq(count, 2);
  cr_assert_str_eq(names[0], "output_0");
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(((int32_t *)outputs[0]->data)[i], 2 * (i + 1));
    cr_assert_eq(((int32_t *)outputs[1]->data)[i], i + 1);
  }
  sp_graph_outputs_free(count, names, outputs);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_graph_session_close(session);
}

/* export_counter.py: incr_counter adds 1, incr_counter_by adds delta, reset_counter sets 0. */
Test(graph_fixtures, counter_sequence) {
  sp_graph_session *session = open_fixture("tfserving-testdata/saved_model_counter/00000123", "serve");
  float expected[] = {1, 2, 3};
  for (int i = 0; i < 3; i++) {
    sp_tensor *value = run_one(session, "incr_counter", NULL, NULL, "output");
    expect_floats(value, 1, &expected[i], "incr_counter");
    sp_tensor_free(value);
  }
  float delta_value[1] = {2.5f}, after[1] = {5.5f}, zero[1] = {0};
  sp_tensor *delta = floats(0, NULL, delta_value);
  sp_tensor *value = run_one(session, "incr_counter_by", "delta", delta, "output");
  expect_floats(value, 1, after, "incr_counter_by");
  sp_tensor_free(value);
  value = run_one(session, "get_counter", NULL, NULL, "output");
  expect_floats(value, 1, after, "get_counter");
  sp_tensor_free(value);
  value = run_one(session, "reset_counter", NULL, NULL, "output");
  expect_floats(value, 1, zero, "reset_counter");
  sp_tensor_free(value);
  sp_tensor_free(delta);
  sp_graph_session_close(session);
}

typedef struct counter_thread {
  sp_graph_session *session;
  int failures;
} counter_thread;

static void *increment_many(void *argument) {
  counter_thread *state = argument;
  for (int i = 0; i < 200; i++) {
    size_t count;
    char **keys;
    sp_tensor **outputs;
    if (sp_graph_session_run(state->session, "incr_counter", 0, NULL, NULL, &count, &keys, &outputs) != SP_OK)
      state->failures++;
    else sp_graph_outputs_free(count, keys, outputs);
  }
  return NULL;
}

Test(graph_fixtures, concurrent_runs_share_one_session) {
  sp_graph_session *session = open_fixture("tfserving-testdata/saved_model_counter/00000123", "serve");
  pthread_t threads[4];
  counter_thread states[4];
  for (int i = 0; i < 4; i++) {
    states[i] = (counter_thread){session, 0};
    cr_assert_eq(pthread_create(&threads[i], NULL, increment_many, &states[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(threads[i], NULL);
    cr_assert_eq(states[i].failures, 0);
  }
  float total[1] = {800};
  sp_tensor *value = run_one(session, "get_counter", NULL, NULL, "output");
  expect_floats(value, 1, total, "counter after 4 x 200 concurrent increments");
  sp_tensor_free(value);
  sp_graph_session_close(session);
}

/* tensorflow/rust: regression-model (tags train,serve) predicts y_hat; regression_savedmodel trains. */
Test(graph_fixtures, tf_rust_regression_models) {
  sp_graph_session *session = open_fixture("tf-rust-regression-savedmodel/regression-model", "train,serve");
  int64_t one[1] = {1};
  float two[1] = {2}, four[1] = {4};
  sp_tensor *x = floats(1, one, two), *y = floats(1, one, four);
  const char *keys[] = {"x", "y"};
  const sp_tensor *inputs[2] = {x, y};
  size_t count;
  char **names;
  sp_tensor **outputs;
  SP_ASSERT_OK(sp_graph_session_run(session, "tensorflow/serving/regress", 2, keys, inputs, &count, &names, &outputs));
  cr_assert_eq(sp_tensor_count(outputs[0]), 1);
  sp_graph_outputs_free(count, names, outputs);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_graph_session_close(session);

  /* Training y = 0.1 x + 0.3 with the `train` signature drives w -> 0.1 and b -> 0.3 (the rust example's
   * result; the least-squares fixed point). */
  session = open_fixture("tf-rust-regression-savedmodel/regression_savedmodel", "serve");
  int64_t n[1] = {8};
  float xs[8], ys[8];
  for (int i = 0; i < 8; i++) xs[i] = (float)i / 4 - 1, ys[i] = 0.1f * xs[i] + 0.3f;
  x = floats(1, n, xs);
  y = floats(1, n, ys);
  inputs[0] = x;
  inputs[1] = y;
  for (int step = 0; step < 3000; step++) {
    SP_ASSERT_OK(sp_graph_session_run(session, "train", 2, keys, inputs, &count, &names, &outputs));
    sp_graph_outputs_free(count, names, outputs);
  }
  float w_expected[1] = {0.1f}, b_expected[1] = {0.3f};
  sp_tensor *w = run_one(session, "w", NULL, NULL, "output"), *b = run_one(session, "b", NULL, NULL, "output");
  sp_assert_close(sp_tensor_floats(w), w_expected, 1, 0, 1e-3, "trained w");
  sp_assert_close(sp_tensor_floats(b), b_expected, 1, 0, 1e-3, "trained b");
  sp_tensor_free(w);
  sp_tensor_free(b);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_graph_session_close(session);
}

/* ---------- Keras SavedModels: MatMul, BiasAdd, Relu, Sigmoid, Softmax in TF2 function libraries ---------- */

static void check_keras(const char *relative, const char *input_key, int rank, const int64_t *shape, const float *x,
                        const char *output_key, size_t count, const float *expected) {
  sp_graph_session *session = open_fixture(relative, "serve");
  sp_tensor *input = floats(rank, shape, x);
  sp_tensor *output = run_one(session, "serving_default", input_key, input, output_key);
  cr_assert_eq((size_t)sp_tensor_count(output), count, "%s", relative);
  sp_assert_close(sp_tensor_floats(output), expected, count, 1e-4, 1e-9, relative);
  sp_tensor_free(output);
  sp_tensor_free(input);
  sp_graph_session_close(session);
}

Test(graph_fixtures, keras_house_price_matches_appendix_f) {
  float x[3 * 99];
  for (int i = 0; i < 99; i++) x[i] = 0, x[99 + i] = 1, x[198 + i] = -1 + 2.0f * (float)i / 98;
  int64_t shape[2] = {3, 99};
  float expected[3] = {1352.079f, 18702860.0f, 12112.64f};
  check_keras("keras2.12-house-price-h5-savedmodel-tfjsgraph/saved_model", "dense_input", 2, shape, x, "dense_2", 3, expected);
}

Test(graph_fixtures, keras_savedmodels_match_numpy_over_their_weights) {
  /* Appendix F's values for these three (e.g. mlmath4 [4,5,+] -> 5906.63, handwritten ~0.1 everywhere)
   * come from the ".OPTIMIZER_SLOT/optimizer/v" tensors, which share each weight's key prefix; a numpy
   * forward pass over the slot tensors reproduces them exactly. The values below are numpy float32
   * forward passes over the .ATTRIBUTES/VARIABLE_VALUE weights (Dense layers: x @ kernel + bias). */
  float arithmetic[12] = {4, 5, 0, 13, 9, 1, 10, 10, 3, 8, 2, 2};
  int64_t arithmetic_shape[2] = {4, 3};
  float arithmetic_expected[4] = {8.96962f, 3.720569f, 98.691986f, 4.2144866f};
  check_keras("keras-savedmodel-mlmath4-tf2.12/model", "dense_input", 2, arithmetic_shape, arithmetic, "dense_3", 4,
              arithmetic_expected);
  static float images[2 * 28 * 28];
  for (int i = 0; i < 28 * 28; i++) images[i] = 0, images[28 * 28 + i] = 1;
  int64_t image_shape[3] = {2, 28, 28};
  float digits[20] = {4.6062049e-02f, 9.0108119e-02f, 7.7149570e-02f, 4.6340548e-02f, 2.3722683e-01f,
                      1.2126159e-01f, 8.1338108e-02f, 1.1582920e-01f, 7.3371127e-02f, 1.1131294e-01f,
                      9.3090306e-19f, 7.3844915e-14f, 4.0652130e-06f, 2.6638117e-03f, 2.4271358e-35f,
                      7.6583430e-02f, 7.5121185e-05f, 1.6709548e-18f, 9.2067361e-01f, 8.2563263e-24f};
  sp_graph_session *session = open_fixture("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/handwritten.model", "serve");
  sp_tensor *input = floats(3, image_shape, images);
  sp_tensor *output = run_one(session, "serving_default", "flatten_2_input", input, "dense_8");
  cr_assert_eq(sp_tensor_count(output), 20);
  /* probabilities: 1e-4 relative where they are not vanishingly small */
  sp_assert_close(sp_tensor_floats(output), digits, 20, 1e-4, 1e-12, "handwritten.model");
  sp_tensor_free(output);
  sp_tensor_free(input);
  sp_graph_session_close(session);
  float row[5] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
  int64_t row_shape[2] = {1, 5};
  float single[1] = {0.50030786f};
  check_keras("tf-rust-keras-savedmodel/keras_single_input_saved_model", "test_in_input", 2, row_shape, row, "test_out",
              1, single);
}

Test(graph_fixtures, keras_two_inputs_shared_submodel) {
  sp_graph_session *session = open_fixture("tf-rust-keras-savedmodel/keras_multiple_inputs_saved_model", "serve");
  int64_t shape[2] = {1, 5};
  float a[5] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f}, c[5] = {0.5f, 0.4f, 0.3f, 0.2f, 0.1f};
  sp_tensor *first = floats(2, shape, a), *second = floats(2, shape, c);
  const char *keys[] = {"test_in1", "test_in2"};
  const sp_tensor *inputs[] = {first, second};
  size_t count;
  char **names;
  sp_tensor **outputs;
  SP_ASSERT_OK(sp_graph_session_run(session, "serving_default", 2, keys, inputs, &count, &names, &outputs));
  float expected[1] = {0.5505382f}; /* numpy: sigmoid(concat(relu(a W0 + b0), relu(c W0 + b0)) W1 + b1) */
  sp_assert_close(sp_tensor_floats(outputs[0]), expected, 1, 1e-4, 0, "keras_multiple_inputs");
  sp_graph_outputs_free(count, names, outputs);
  sp_tensor_free(first);
  sp_tensor_free(second);
  sp_graph_session_close(session);
}

/* ---------- errors a caller sees ---------- */

Test(graph_errors, bad_signatures_and_inputs) {
  sp_graph_session *session = open_fixture("tfserving-batching-testdata/matrix_half_plus_two/1", "serve");
  size_t count;
  char **keys;
  sp_tensor **outputs;
  SP_ASSERT_FAILS(sp_graph_session_run(session, "predict", 0, NULL, NULL, &count, &keys, &outputs), SP_ERROR_NOT_FOUND,
                  "no signature 'predict'; the model has: 'serving_default'");
  int64_t shape[1] = {3};
  sp_tensor *wrong = sp_tensor_new(SP_INT32, 1, shape);
  const char *x_key[] = {"x"}, *z_key[] = {"z"};
  const sp_tensor *inputs[] = {wrong};
  SP_ASSERT_FAILS(sp_graph_session_run(session, "serving_default", 1, x_key, inputs, &count, &keys, &outputs),
                  SP_ERROR_MISMATCH, "input 'x' must be DT_FLOAT, got DT_INT32");
  SP_ASSERT_FAILS(sp_graph_session_run(session, "serving_default", 1, z_key, inputs, &count, &keys, &outputs),
                  SP_ERROR_NOT_FOUND, "\"z\" is not an input of signature 'serving_default'; choose from \"x\"");
  SP_ASSERT_FAILS(sp_graph_session_run(session, "serving_default", 0, NULL, NULL, &count, &keys, &outputs),
                  SP_ERROR_INVALID_ARGUMENT, "needs input 'x' (tensor x:0)");
  sp_tensor_free(wrong);
  sp_graph_session_close(session);
}

Test(graph_errors, tag_set_must_match_exactly) {
  char *path = sp_test_fixture("tf-rust-regression-savedmodel/regression-model");
  sp_graph_session *session;
  SP_ASSERT_FAILS(sp_graph_session_open(path, "serve", &session), SP_ERROR_NOT_FOUND, "it has: 'train,serve'");
  free(path);
}

Test(graph_errors, legacy_session_bundle_is_explained) {
  char *path = sp_test_fixture("tfserving-session-bundle-legacy/half_plus_two/00000123");
  sp_graph_session *session;
  SP_ASSERT_FAILS(sp_graph_session_open(path, "serve", &session), SP_ERROR_UNSUPPORTED, "legacy SessionBundle");
  free(path);
}

/* ---------- hostile and broken graphs ---------- */

static sp_status open_built(graph_builder *b, const sp_graph_limits *limits, sp_graph_session **session) {
  size_t size;
  uint8_t *data = graph_builder_pack(b, &size);
  sp_status status = sp_graph_session_open_graph(data, size, "test graph", limits, session);
  free(data);
  return status;
}

static sp_status run_fetch(sp_graph_session *session, const char *fetch, sp_tensor **value) {
  const char *fetches[] = {fetch};
  return sp_graph_session_run_tensors(session, 0, NULL, NULL, 1, fetches, 0, NULL, value);
}

Test(graph_hostile, cycles_are_refused) {
  graph_builder b = {0};
  add_node(&b, "a", "Identity", "b", NULL);
  add_node(&b, "b", "Identity", "a", NULL);
  sp_graph_session *session;
  SP_ASSERT_OK(open_built(&b, NULL, &session));
  sp_tensor *value;
  SP_ASSERT_FAILS(run_fetch(session, "a:0", &value), SP_ERROR_FORMAT, "has a cycle through node");
  sp_graph_session_close(session);
  graph_builder_free(&b);
}

Test(graph_hostile, missing_inputs_and_outputs) {
  graph_builder b = {0};
  add_node(&b, "a", "Identity", "nowhere", NULL);
  sp_graph_session *session;
  SP_ASSERT_FAILS(open_built(&b, NULL, &session), SP_ERROR_FORMAT, "input 'nowhere' names no node");
  graph_builder_free(&b);
  float one = 1;
  sp_tensor *scalar = floats(0, NULL, &one);
  add_const(&b, "c", scalar);
  add_node(&b, "d", "Identity", "c:7", NULL);
  SP_ASSERT_FAILS(open_built(&b, NULL, &session), SP_ERROR_FORMAT, "names an output the node does not have");
  graph_builder_free(&b);
  sp_tensor_free(scalar);
}

Test(graph_hostile, unsupported_ops_are_listed_together) {
  graph_builder b = {0};
  add_node(&b, "x", "FancyOp", NULL);
  add_node(&b, "y", "OtherOp", "x", NULL);
  add_node(&b, "z", "FancyOp", "y", NULL);
  sp_graph_session *session;
  SP_ASSERT_OK(open_built(&b, NULL, &session));
  sp_tensor *value;
  SP_ASSERT_FAILS(run_fetch(session, "z:0", &value), SP_ERROR_UNSUPPORTED,
                  "unsupported ops: FancyOp (node 'x' and 1 more), OtherOp (node 'y')");
  sp_graph_session_close(session);
  graph_builder_free(&b);
}

Test(graph_hostile, absurd_constants_are_refused_before_allocation) {
  graph_builder b = {0};
  Tensorflow__NodeDef *node = add_node(&b, "huge", "Const", NULL);
  attr_type(&b, node, "dtype", SP_FLOAT32);
  Tensorflow__AttrValue *value = add_attr(&b, node, "value");
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_TENSOR;
  Tensorflow__TensorProto *proto = builder_alloc(&b, sizeof *proto);
  *proto = (Tensorflow__TensorProto)TENSORFLOW__TENSOR_PROTO__INIT;
  proto->dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
  int64_t dims[2] = {INT64_C(1) << 20, INT64_C(1) << 20};
  proto->tensor_shape = shape_proto(&b, 2, dims);
  float splat = 1;
  proto->float_val = &splat;
  proto->n_float_val = 1;
  value->tensor = proto;
  sp_graph_session *session;
  SP_ASSERT_FAILS(open_built(&b, NULL, &session), SP_ERROR_UNSAFE, "over the 1073741824-byte limit");
  graph_builder_free(&b);
}

Test(graph_hostile, huge_fill_range_and_tile_fail_at_run) {
  graph_builder b = {0};
  int64_t two = 2;
  sp_tensor *dims = sp_tensor_new(SP_INT64, 1, &two);
  ((int64_t *)dims->data)[0] = ((int64_t *)dims->data)[1] = INT64_C(1) << 30;
  float one = 1, zero = 0, tiny = 1e-9f;
  sp_tensor *scalar = floats(0, NULL, &one), *start = floats(0, NULL, &zero), *delta = floats(0, NULL, &tiny);
  add_const(&b, "dims", dims);
  add_const(&b, "one", scalar);
  add_const(&b, "zero", start);
  add_const(&b, "delta", delta);
  add_node(&b, "fill", "Fill", "dims", "one", NULL);
  add_node(&b, "range", "Range", "zero", "one", "delta", NULL);
  sp_graph_limits limits = {1 << 20, 8};
  sp_graph_session *session;
  SP_ASSERT_OK(open_built(&b, &limits, &session));
  sp_tensor *value;
  SP_ASSERT_FAILS(run_fetch(session, "fill:0", &value), SP_ERROR_UNSAFE, "Fill node 'fill': an output of shape");
  SP_ASSERT_FAILS(run_fetch(session, "range:0", &value), SP_ERROR_UNSAFE, "over the 1048576-byte limit");
  sp_graph_session_close(session);
  graph_builder_free(&b);
  sp_tensor_free(dims);
  sp_tensor_free(scalar);
  sp_tensor_free(start);
  sp_tensor_free(delta);
}

Test(graph_hostile, runaway_recursion_stops) {
  graph_builder b = {0};
  const char *arguments[] = {"x"}, *outputs[] = {"y"}, *returns[] = {"again:output:0"};
  Tensorflow__FunctionDef *function = add_function(&b, "forever", 1, arguments, 1, outputs, returns);
  Tensorflow__NodeDef *call = add_function_node(&b, function, "again", "PartitionedCall", "x", NULL);
  attr_func(&b, call, "f", "forever");
  sp_dtype types[1] = {SP_FLOAT32};
  attr_types(&b, call, "Tin", 1, types);
  attr_types(&b, call, "Tout", 1, types);
  float one = 1;
  sp_tensor *scalar = floats(0, NULL, &one);
  add_const(&b, "x", scalar);
  Tensorflow__NodeDef *top = add_node(&b, "top", "PartitionedCall", "x", NULL);
  attr_func(&b, top, "f", "forever");
  attr_types(&b, top, "Tin", 1, types);
  attr_types(&b, top, "Tout", 1, types);
  sp_graph_limits limits = {1 << 20, 16};
  sp_graph_session *session;
  SP_ASSERT_OK(open_built(&b, &limits, &session));
  sp_tensor *value;
  SP_ASSERT_FAILS(run_fetch(session, "top:0", &value), SP_ERROR_UNSAFE, "nest deeper than 16");
  sp_graph_session_close(session);
  graph_builder_free(&b);
  sp_tensor_free(scalar);
}

/* Function bodies name outputs "node:out_arg:index"; GraphDefs "node:index"; direct calls use the
 * function's own output names. */
Test(graph_functions, output_argument_references) {
  graph_builder b = {0};
  const char *arguments[] = {"a", "b"}, *outputs[] = {"sum", "first"};
  const char *returns[] = {"add:z:0", "unpacked:output:0"};
  Tensorflow__FunctionDef *function = add_function(&b, "f", 2, arguments, 2, outputs, returns);
  add_function_node(&b, function, "add", "AddV2", "a", "b", NULL);
  Tensorflow__NodeDef *pack = add_function_node(&b, function, "packed", "Pack", "a", "b", NULL);
  attr_int(&b, pack, "N", 2);
  Tensorflow__NodeDef *unpack = add_function_node(&b, function, "unpacked", "Unpack", "packed:output:0", NULL);
  attr_int(&b, unpack, "num", 2);
  float values[2] = {1.5f, 2.25f};
  sp_tensor *a = floats(0, NULL, &values[0]), *c = floats(0, NULL, &values[1]);
  add_const(&b, "a", a);
  add_const(&b, "c", c);
  add_node(&b, "direct", "f", "a", "c", NULL);
  sp_graph_session *session;
  SP_ASSERT_OK(open_built(&b, NULL, &session));
  const char *fetches[] = {"direct:0", "direct:1"};
  sp_tensor *results[2];
  SP_ASSERT_OK(sp_graph_session_run_tensors(session, 0, NULL, NULL, 2, fetches, 0, NULL, results));
  cr_assert_eq(sp_tensor_floats(results[0])[0], 3.75f);
  cr_assert_eq(sp_tensor_floats(results[1])[0], 1.5f);
  sp_tensor_free(results[0]);
  sp_tensor_free(results[1]);
  sp_graph_session_close(session);
  graph_builder_free(&b);
  sp_tensor_free(a);
  sp_tensor_free(c);
}
