/* Tests of src/formats/h5io: every .h5 fixture read as PROVENANCE.md Appendix C lists it
 * (attribute strings in all their storage forms, dataset shapes and dtypes), weights
 * checked by recomputing the Appendix F reference outputs from them, model.weights.h5
 * read from inside both .keras fixtures through the image path, hostile layouts built
 * with libhdf5 refused before allocation, and files we write read back exactly
 * (the in-memory image byte-identical to the file on disk). h5py's view of what we
 * write is checked by tests/peer/test_h5io_peer.py. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "formats/h5io.h"
#include "formats/zipio.h"
#include "savepoint/tensor.h"
#include "test_support.h"

/* ------------------------------------------------------------- helpers ---- */

static sp_h5_file *open_fixture(const char *relative) {
  char *path = sp_test_fixture(relative);
  sp_h5_file *file = NULL;
  SP_ASSERT_OK(sp_h5_open(path, &file));
  free(path);
  return file;
}

static void assert_string_attribute(sp_h5_file *file, const char *path, const char *name, const char *expected) {
  char *value = NULL;
  size_t length = 0;
  SP_ASSERT_OK(sp_h5_read_string_attribute(file, path, name, &value, &length));
  cr_assert_str_eq(value, expected, "%s @%s", path, name);
  cr_assert_eq(length, strlen(expected));
  free(value);
}

static void assert_string_list(sp_h5_file *file, const char *path, const char *name, const char *const *expected,
                               size_t count) {
  sp_tensor *strings = NULL;
  SP_ASSERT_OK(sp_h5_read_string_list_attribute(file, path, name, &strings));
  cr_assert_eq(strings->dtype, SP_STRING);
  cr_assert_eq(strings->rank, 1);
  cr_assert_eq(strings->shape[0], (int64_t)count, "%s @%s: %lld strings, expected %zu", path, name,
               (long long)strings->shape[0], count);
  const sp_string *values = strings->data;
  for (size_t index = 0; index < count; index++) {
    cr_assert_str_eq(values[index].bytes, expected[index], "%s @%s[%zu]", path, name, index);
    cr_assert_eq(values[index].length, strlen(expected[index]));
  }
  sp_tensor_free(strings);
}

static sp_tensor *read_dataset(sp_h5_file *file, const char *path) {
  sp_tensor *tensor = NULL;
  SP_ASSERT_OK(sp_h5_read_tensor(file, path, SP_H5_NO_LIMIT, &tensor));
  return tensor;
}

/* Reads a dataset and checks dtype and shape (rank -1 entries end the shape). */
static sp_tensor *expect_dataset(sp_h5_file *file, const char *path, sp_dtype dtype, int rank, int64_t d0, int64_t d1) {
  sp_tensor *tensor = read_dataset(file, path);
  cr_assert_eq(tensor->dtype, dtype, "%s: dtype %s", path, sp_dtype_name(tensor->dtype));
  cr_assert_eq(tensor->rank, rank, "%s: rank %d", path, tensor->rank);
  if (rank > 0) cr_assert_eq(tensor->shape[0], d0, "%s: shape[0] %lld", path, (long long)tensor->shape[0]);
  if (rank > 1) cr_assert_eq(tensor->shape[1], d1, "%s: shape[1] %lld", path, (long long)tensor->shape[1]);
  return tensor;
}

static void assert_same_tensor(const sp_tensor *a, const sp_tensor *b, const char *what) {
  cr_assert(sp_tensor_same_shape(a, b), "%s: dtype or shape differ", what);
  cr_assert_eq(a->size, b->size);
  cr_assert(memcmp(a->data, b->data, a->size) == 0, "%s: values differ", what);
}

/* PROVENANCE records these pairs of datasets as bit-identical across files. */
static void assert_datasets_equal(sp_h5_file *a, const char *path_a, sp_h5_file *b, const char *path_b) {
  sp_tensor *left = read_dataset(a, path_a), *right = read_dataset(b, path_b);
  assert_same_tensor(left, right, path_a);
  sp_tensor_free(left);
  sp_tensor_free(right);
}

typedef enum activation { LINEAR, RELU, SIGMOID, SOFTMAX } activation;

/* y = act(x W + b) for a batch of rows, W stored [in, out] as Keras stores Dense kernels. */
static float *dense(const float *x, int rows, const sp_tensor *kernel, const sp_tensor *bias, activation act) {
  int in = (int)kernel->shape[0], out = (int)kernel->shape[1];
  cr_assert_eq(bias->shape[0], out);
  float *y = calloc((size_t)rows * (size_t)out, sizeof *y);
  for (int row = 0; row < rows; row++) {
    for (int j = 0; j < out; j++) {
      double sum = sp_tensor_floats(bias)[j];
      for (int i = 0; i < in; i++) sum += (double)x[row * in + i] * sp_tensor_floats(kernel)[i * out + j];
      if (act == RELU && sum < 0) sum = 0;
      if (act == SIGMOID) sum = 1.0 / (1.0 + exp(-sum));
      y[row * out + j] = (float)sum;
    }
    if (act == SOFTMAX) {
      double peak = -INFINITY, total = 0;
      for (int j = 0; j < out; j++) peak = fmax(peak, y[row * out + j]);
      for (int j = 0; j < out; j++) total += exp(y[row * out + j] - peak);
      for (int j = 0; j < out; j++) y[row * out + j] = (float)(exp(y[row * out + j] - peak) / total);
    }
  }
  return y;
}

/* Runs a stack of Dense layers whose kernels and biases are the datasets named. */
static float *run_dense_stack(sp_h5_file *file, const char *const *kernels, const char *const *biases,
                              const activation *acts, int layers, const float *input, int rows) {
  sp_tensor *first = read_dataset(file, kernels[0]);
  size_t width = (size_t)first->shape[0];
  sp_tensor_free(first);
  float *x = malloc(sizeof(float) * (size_t)rows * width);
  memcpy(x, input, sizeof(float) * (size_t)rows * width);
  for (int layer = 0; layer < layers; layer++) {
    sp_tensor *kernel = read_dataset(file, kernels[layer]), *bias = read_dataset(file, biases[layer]);
    float *y = dense(x, rows, kernel, bias, acts[layer]);
    free(x);
    x = y;
    sp_tensor_free(kernel);
    sp_tensor_free(bias);
  }
  return x;
}

/* Runs two Dense layers over the XOR truth table and compares with Appendix F. */
static void check_xor_table(sp_h5_file *file, const char *const *kernels, const char *const *biases,
                            const activation *acts, const float *expected, double relative, const char *what) {
  const float table[] = {0, 0, 0, 1, 1, 0, 1, 1};
  float *y = run_dense_stack(file, kernels, biases, acts, 2, table, 4);
  sp_assert_close(y, expected, 4, relative, 1e-7, what);
  free(y);
  SP_ASSERT_OK(sp_h5_close(file));
}

/* Appendix F's gen(n): zeros, ones, linspace(-1, 1, n). */
static float *gen_rows(int n) {
  float *rows = calloc(3 * (size_t)n, sizeof *rows);
  for (int i = 0; i < n; i++) {
    rows[n + i] = 1.0f;
    rows[2 * n + i] = (float)(-1.0 + 2.0 * i / (n - 1));
  }
  return rows;
}

static uint8_t *read_keras_member(const char *fixture, const char *member, size_t *size) {
  char *path = sp_test_fixture(fixture);
  sp_zip_reader *archive = NULL;
  SP_ASSERT_OK(sp_zip_open(path, &archive));
  uint8_t *data = NULL;
  SP_ASSERT_OK(sp_zip_read(archive, member, SP_ZIP_NO_LIMIT, &data, size));
  sp_zip_close(archive);
  free(path);
  return data;
}

static int count_kind(sp_h5_file *file, const char *group, sp_h5_kind kind) {
  sp_h5_child *children = NULL;
  size_t count = 0;
  SP_ASSERT_OK(sp_h5_list(file, group, &children, &count));
  int matching = 0;
  for (size_t index = 0; index < count; index++) matching += children[index].kind == kind;
  sp_h5_children_free(children, count);
  return matching;
}

/* ------------------------------------------------------ legacy .h5 fixtures ---- */

Test(h5_fixtures, keras_2_12_variable_length_strings_and_empty_lists) {
  sp_h5_file *file = open_fixture("keras2.12-house-price-h5-savedmodel-tfjsgraph/savedModel.h5");
  assert_string_attribute(file, "/", "backend", "tensorflow"); /* vlen UTF-8 */
  assert_string_attribute(file, "", "keras_version", "2.12.0");
  assert_string_attribute(file, "model_weights", "keras_version", "2.12.0"); /* vlen ASCII */
  char *config = NULL;
  size_t length = 0;
  SP_ASSERT_OK(sp_h5_read_string_attribute(file, "/", "model_config", &config, &length));
  cr_assert_eq(length, 1499);
  cr_assert(strncmp(config, "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"sequential\", \"layers\": "
                            "[{\"class_name\": \"InputLayer\"", 99) == 0, "%.120s", config);
  free(config);
  SP_ASSERT_OK(sp_h5_read_string_attribute(file, "/", "training_config", &config, &length));
  cr_assert_eq(length, 476);
  free(config);
  const char *layers[] = {"dense", "dense_1", "dense_2"};
  assert_string_list(file, "model_weights", "layer_names", layers, 3);
  const char *weights[] = {"dense/kernel:0", "dense/bias:0"};
  assert_string_list(file, "model_weights/dense", "weight_names", weights, 2);
  assert_string_list(file, "model_weights/top_level_model_weights", "weight_names", NULL, 0); /* float64 (0,) */
  sp_tensor *optimizer = NULL;
  SP_ASSERT_OK(sp_h5_read_string_list_attribute(file, "optimizer_weights", "weight_names", &optimizer));
  cr_assert_eq(optimizer->shape[0], 13);
  cr_assert_str_eq(((sp_string *)optimizer->data)[0].bytes, "iteration:0");
  cr_assert_str_eq(((sp_string *)optimizer->data)[12].bytes, "Adam/v/dense_2/bias:0");
  sp_tensor_free(optimizer);
  sp_tensor_free(expect_dataset(file, "model_weights/dense/dense/kernel:0", SP_FLOAT32, 2, 99, 128));
  sp_tensor_free(expect_dataset(file, "/model_weights/dense_2/dense_2/bias:0", SP_FLOAT32, 1, 1, 0));
  sp_tensor_free(expect_dataset(file, "optimizer_weights/Adam/m/dense_1/kernel:0", SP_FLOAT32, 2, 128, 128));
  sp_tensor_free(expect_dataset(file, "optimizer_weights/iteration:0", SP_INT64, 0, 0, 0));
  SP_ASSERT_OK(sp_h5_close(file));
}

Test(h5_fixtures, keras_2_0_fixed_length_nullpad_strings) {
  sp_h5_file *file = open_fixture("hls4ml-example-models-keras2.0-json-weights/keras/KERAS_3layer_weights.h5");
  assert_string_attribute(file, "/", "keras_version", "2.0.0");
  assert_string_attribute(file, "/", "backend", "tensorflow");
  const char *layers[] = {"input_1", "fc1_relu", "fc2_relu", "fc3_relu", "output_softmax"};
  assert_string_list(file, "/", "layer_names", layers, 5); /* STRSIZE 14, NULLPAD */
  const char *weights[] = {"fc1_relu/kernel:0", "fc1_relu/bias:0"};
  assert_string_list(file, "fc1_relu", "weight_names", weights, 2);
  assert_string_list(file, "input_1", "weight_names", NULL, 0);
  sp_tensor_free(expect_dataset(file, "fc1_relu/fc1_relu/kernel:0", SP_FLOAT32, 2, 16, 64));
  /* the Keras 2.3.1 full model of the same network */
  sp_h5_file *full = open_fixture("hls4ml-example-models-keras2.3.1-h5/keras/keras_3layer.h5");
  assert_datasets_equal(file, "fc1_relu/fc1_relu/kernel:0", full, "model_weights/fc1_relu/fc1_relu/kernel:0");
  SP_ASSERT_OK(sp_h5_close(full));
  SP_ASSERT_OK(sp_h5_close(file));
}

Test(h5_fixtures, keras_1_2_2_has_no_backend_and_flat_weight_names) {
  sp_h5_file *file = open_fixture("keras-h5-dl4j-coursera-k1.2.2-k2.0.8-k2.1.4/model_keras_1.h5");
  assert_string_attribute(file, "/", "keras_version", "1.2.2");
  char *value = NULL;
  SP_ASSERT_FAILS(sp_h5_read_string_attribute(file, "/", "backend", &value, NULL), SP_ERROR_NOT_FOUND, "backend");
  cr_assert(!sp_h5_has_attribute(file, "/", "backend"));
  cr_assert(sp_h5_has_attribute(file, "/", "model_config"));
  const char *layers[] = {"dense_1", "dense_2"};
  assert_string_list(file, "model_weights", "layer_names", layers, 2);
  const char *weights[] = {"dense_1_W:0", "dense_1_b:0"};
  assert_string_list(file, "model_weights/dense_1", "weight_names", weights, 2);
  sp_tensor_free(expect_dataset(file, "model_weights/dense_1/dense_1_W:0", SP_FLOAT32, 2, 4, 4));
  sp_tensor_free(expect_dataset(file, "model_weights/dense_2/dense_2_b:0", SP_FLOAT32, 1, 3, 0));
  SP_ASSERT_OK(sp_h5_close(file));
}

Test(h5_fixtures, keras_2_2_4_xor_weights_reproduce_appendix_f) {
  sp_h5_file *file = open_fixture("keras-h5-xor-k2.2.4/xor.h5");
  const char *layers[] = {"dense_1", "activation_1", "dense_2", "activation_2"};
  assert_string_list(file, "model_weights", "layer_names", layers, 4);
  assert_string_list(file, "model_weights/activation_1", "weight_names", NULL, 0);
  sp_tensor *names = NULL;
  SP_ASSERT_OK(sp_h5_read_string_list_attribute(file, "optimizer_weights", "weight_names", &names));
  cr_assert_eq(names->shape[0], 5);
  cr_assert_str_eq(((sp_string *)names->data)[0].bytes, "SGD/iterations:0");
  sp_tensor_free(names);
  sp_tensor_free(expect_dataset(file, "optimizer_weights/SGD/iterations:0", SP_INT64, 0, 0, 0));
  const char *kernels[] = {"model_weights/dense_1/dense_1/kernel:0", "model_weights/dense_2/dense_2/kernel:0"};
  const char *biases[] = {"model_weights/dense_1/dense_1/bias:0", "model_weights/dense_2/dense_2/bias:0"};
  const activation acts[] = {SIGMOID, SIGMOID}; /* Dense(linear) + Activation(sigmoid), twice */
  const float expected[] = {0.08179228f, 0.8161827f, 0.8167741f, 0.2434704f};
  check_xor_table(file, kernels, biases, acts, expected, 1e-5, "xor k2.2.4");
}

Test(h5_fixtures, keras_3_6_legacy_h5_reproduces_appendix_f) {
  sp_h5_file *file = open_fixture("keras3.6-h5-xor/xor_model.h5");
  assert_string_attribute(file, "/", "keras_version", "3.6.0");
  const char *weights[] = {"sequential/dense/kernel", "sequential/dense/bias"};
  assert_string_list(file, "model_weights/dense", "weight_names", weights, 2);
  sp_tensor_free(expect_dataset(file, "optimizer_weights/adam/iteration", SP_INT64, 0, 0, 0));
  sp_tensor *rate = expect_dataset(file, "optimizer_weights/adam/learning_rate", SP_FLOAT32, 0, 0, 0);
  cr_assert_float_eq(sp_tensor_floats(rate)[0], 0.009999999776482582f, 0); /* training_config's Adam lr */
  sp_tensor_free(rate);
  const char *kernels[] = {"model_weights/dense/sequential/dense/kernel", "model_weights/dense_1/sequential/dense_1/kernel"};
  const char *biases[] = {"model_weights/dense/sequential/dense/bias", "model_weights/dense_1/sequential/dense_1/bias"};
  const activation acts[] = {RELU, SIGMOID};
  const float expected[] = {0.0001922629f, 0.9999747f, 0.999961f, 1.208252e-05f};
  check_xor_table(file, kernels, biases, acts, expected, 1e-4, "xor keras 3.6");
}

Test(h5_fixtures, tf_keras_fixed_length_lists_and_structure) {
  sp_h5_file *file = open_fixture("tfkeras-h5-xor-k2.2.4-tf/xor.h5");
  assert_string_attribute(file, "/", "keras_version", "2.2.4-tf");
  const char *layers[] = {"dense", "dense_1", "dense_2", "dense_3", "output"};
  assert_string_list(file, "model_weights", "layer_names", layers, 5);
  const char *weights[] = {"dense_1_1/kernel:0", "dense_1_1/bias:0"};
  assert_string_list(file, "model_weights/dense_1", "weight_names", weights, 2);
  sp_tensor *names = NULL;
  SP_ASSERT_OK(sp_h5_read_string_list_attribute(file, "optimizer_weights", "weight_names", &names));
  cr_assert_eq(names->shape[0], 21); /* fixed-length, STRSIZE 34 */
  cr_assert_str_eq(((sp_string *)names->data)[0].bytes, "training/Adam/iter:0");
  sp_tensor_free(names);
  cr_assert(sp_h5_is_group(file, "optimizer_weights/training/Adam/dense_1_1/kernel"));
  cr_assert_eq(sp_h5_kind_at(file, "optimizer_weights/training/Adam/dense_1_1/kernel/m:0"), SP_H5_DATASET);
  cr_assert_eq(sp_h5_kind_at(file, "optimizer_weights/training/Adam/nothing"), SP_H5_MISSING);
  sp_tensor_free(expect_dataset(file, "optimizer_weights/training/Adam/dense_1_1/kernel/v:0", SP_FLOAT32, 2, 64, 64));
  SP_ASSERT_OK(sp_h5_close(file));
}

Test(h5_fixtures, full_model_and_weights_only_files_hold_identical_weights) {
  sp_h5_file *model = open_fixture("keras-h5-iris-full-and-weights-k2.3.1/iris_model.h5");
  sp_h5_file *weights = open_fixture("keras-h5-iris-full-and-weights-k2.3.1/iris_weight.h5");
  const char *layers[] = {"dense_1", "dense_2", "dropout_1", "dense_3"};
  assert_string_list(model, "model_weights", "layer_names", layers, 4);
  assert_string_list(weights, "/", "layer_names", layers, 4); /* save_weights: at the root */
  sp_tensor_free(expect_dataset(weights, "dense_2/dense_2/kernel:0", SP_FLOAT32, 2, 512, 512));
  assert_datasets_equal(model, "model_weights/dense_2/dense_2/kernel:0", weights, "dense_2/dense_2/kernel:0");
  sp_tensor *names = NULL;
  SP_ASSERT_OK(sp_h5_read_string_list_attribute(model, "optimizer_weights", "weight_names", &names));
  cr_assert_eq(names->shape[0], 19);
  cr_assert_str_eq(((sp_string *)names->data)[0].bytes, "Adam/iterations:0");
  sp_tensor_free(names);
  SP_ASSERT_OK(sp_h5_close(model));
  SP_ASSERT_OK(sp_h5_close(weights));
}

Test(h5_fixtures, conv_and_batch_norm_shapes) {
  sp_h5_file *conv = open_fixture("hls4ml-example-models-keras2.3.1-h5/keras/keras_conv2d_model.h5");
  sp_tensor *kernel = expect_dataset(conv, "model_weights/conv2d_1/conv2d_1/kernel:0", SP_FLOAT32, 4, 3, 3);
  cr_assert_eq(kernel->shape[2], 1);
  cr_assert_eq(kernel->shape[3], 2);
  sp_tensor_free(kernel);
  SP_ASSERT_OK(sp_h5_close(conv));
  sp_h5_file *norm = open_fixture("hls4ml-example-models-keras2.3.1-h5/keras/keras_3layer_batch_norm.h5");
  const char *weights[] = {"bn1/gamma:0", "bn1/beta:0", "bn1/moving_mean:0", "bn1/moving_variance:0"};
  assert_string_list(norm, "model_weights/bn1", "weight_names", weights, 4);
  sp_tensor *variance = expect_dataset(norm, "model_weights/bn1/bn1/moving_variance:0", SP_FLOAT32, 1, 64, 0);
  for (int i = 0; i < 64; i++) cr_assert(sp_tensor_floats(variance)[i] > 0, "a variance must be positive");
  sp_tensor_free(variance);
  SP_ASSERT_OK(sp_h5_close(norm));
}

/* Walks a file, reading every dataset: nothing in a real Keras file is refused. */
static int walk_and_read(sp_h5_file *file, const char *group) {
  sp_h5_child *children = NULL;
  size_t count = 0;
  SP_ASSERT_OK(sp_h5_list(file, group, &children, &count));
  int datasets = 0;
  for (size_t index = 0; index < count; index++) {
    char *path = sp_strdupf("%s/%s", group, children[index].name);
    cr_assert_neq(children[index].kind, SP_H5_OTHER, "%s", path);
    if (children[index].kind == SP_H5_GROUP) datasets += walk_and_read(file, path);
    if (children[index].kind == SP_H5_DATASET) {
      sp_h5_dataset_info info;
      SP_ASSERT_OK(sp_h5_describe_dataset(file, path, &info));
      cr_assert_eq(info.declared_bytes, info.stored_bytes, "%s: contiguous and fully written", path);
      sp_tensor *tensor = NULL;
      SP_ASSERT_OK(sp_h5_read_tensor(file, path, UINT64_C(64) << 20, &tensor));
      cr_assert(tensor->dtype == SP_FLOAT32 || tensor->dtype == SP_INT64, "%s: %s", path, sp_dtype_name(tensor->dtype));
      cr_assert_eq(tensor->size, info.declared_bytes);
      sp_tensor_free(tensor);
      datasets++;
    }
    free(path);
  }
  sp_h5_children_free(children, count);
  return datasets;
}

/* What a Keras loader relies on: every name in layer_names is a group whose weight_names are
 * dataset paths relative to it. Returns the number of weights listed. */
static int check_layer_names(sp_h5_file *file, const char *weights_group) {
  sp_tensor *layers = NULL;
  SP_ASSERT_OK(sp_h5_read_string_list_attribute(file, weights_group, "layer_names", &layers));
  int listed = 0;
  for (int64_t layer = 0; layer < layers->shape[0]; layer++) {
    char *group = sp_strdupf("%s/%s", weights_group, ((sp_string *)layers->data)[layer].bytes);
    cr_assert(sp_h5_is_group(file, group), "%s is listed in layer_names", group);
    sp_tensor *weights = NULL;
    SP_ASSERT_OK(sp_h5_read_string_list_attribute(file, group, "weight_names", &weights));
    for (int64_t weight = 0; weight < weights->shape[0]; weight++, listed++) {
      char *path = sp_strdupf("%s/%s", group, ((sp_string *)weights->data)[weight].bytes);
      cr_assert_eq(sp_h5_kind_at(file, path), SP_H5_DATASET, "%s is listed in weight_names", path);
      free(path);
    }
    sp_tensor_free(weights);
    free(group);
  }
  sp_tensor_free(layers);
  return listed;
}

Test(h5_fixtures, every_h5_fixture_reads_completely) {
  static const struct {
    const char *path;
    const char *keras_version; /* at the root ("" for Keras 3 weights files) */
    const char *weights_group; /* where layer_names lives (NULL: Keras 3 layout) */
    int datasets;              /* counted from Appendix C */
    int layer_weights;         /* weight_names entries of the listed layers */
  } fixtures[] = {
      {"keras2.12-house-price-h5-savedmodel-tfjsgraph/savedModel.h5", "2.12.0", "model_weights", 19, 6},
      {"keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model.h5", "2.15.0", "model_weights", 6, 6},
      {"hls4ml-example-models-keras2.0-json-weights/keras/KERAS_3layer_weights.h5", "2.0.0", "", 8, 8},
      {"hls4ml-example-models-keras2.0-json-weights/keras/KERAS_conv2d_model_weights.h5", "2.0.0", "", 4, 4},
      {"hls4ml-example-models-keras2.3.1-h5/keras/keras_1layer.h5", "2.3.1", "model_weights", 4, 4},
      {"hls4ml-example-models-keras2.3.1-h5/keras/keras_3layer.h5", "2.3.1", "model_weights", 8, 8},
      {"hls4ml-example-models-keras2.3.1-h5/keras/keras_3layer_batch_norm.h5", "2.3.1", "model_weights", 24, 24},
      {"hls4ml-example-models-keras2.3.1-h5/keras/keras_conv1d_small.h5", "2.3.1", "model_weights", 10, 10},
      {"hls4ml-example-models-keras2.3.1-h5/keras/keras_conv2d_model.h5", "2.3.1", "model_weights", 4, 4},
      {"keras-h5-dl4j-coursera-k1.2.2-k2.0.8-k2.1.4/iris_model.h5", "2.1.4", "model_weights", 17, 4},
      {"keras-h5-dl4j-coursera-k1.2.2-k2.0.8-k2.1.4/model.h5", "2.0.8", "model_weights", 4, 4},
      {"keras-h5-dl4j-coursera-k1.2.2-k2.0.8-k2.1.4/model_keras_1.h5", "1.2.2", "model_weights", 4, 4},
      {"keras-h5-xor-k2.2.4/xor.h5", "2.2.4", "model_weights", 9, 4},
      {"tfkeras-h5-xor-k2.2.4-tf/xor.h5", "2.2.4-tf", "model_weights", 31, 10},
      {"keras-h5-iris-full-and-weights-k2.3.1/iris_model.h5", "2.3.1", "model_weights", 25, 6},
      {"keras-h5-iris-full-and-weights-k2.3.1/iris_weight.h5", "2.3.1", "", 6, 6},
      {"tfkeras-h5-iris-k2.4.0/iris_model.h5", "2.4.0", "model_weights", 9, 4},
      {"tfkeras-h5-iris-k2.10.0/iris_model.h5", "2.10.0", "model_weights", 13, 4},
      {"tfjs-layers-from-keras2.15-maternal-health/notebook/my_keras_model.h5", "2.15.0", "model_weights", 19, 6},
      {"keras3.6-h5-xor/xor_model.h5", "3.6.0", "model_weights", 14, 4},
      {"keras3.7-churn-keras-and-h5-same-model/my_model.h5", "3.7.0", "model_weights", 26, 8},
      {"keras3-weights-h5-diabetes/model.weights.h5", "", NULL, 20, 0},
  };
  for (size_t index = 0; index < sizeof fixtures / sizeof fixtures[0]; index++) {
    sp_h5_file *file = open_fixture(fixtures[index].path);
    int datasets = walk_and_read(file, "");
    cr_assert_eq(datasets, fixtures[index].datasets, "%s: %d datasets, Appendix C lists %d", fixtures[index].path,
                 datasets, fixtures[index].datasets);
    if (*fixtures[index].keras_version) assert_string_attribute(file, "/", "keras_version", fixtures[index].keras_version);
    else cr_assert(!sp_h5_has_attribute(file, "/", "keras_version"), "Keras 3 weights files have no root attributes");
    if (fixtures[index].weights_group) {
      int listed = check_layer_names(file, fixtures[index].weights_group);
      cr_assert_eq(listed, fixtures[index].layer_weights, "%s: %d weights listed", fixtures[index].path, listed);
    }
    SP_ASSERT_OK(sp_h5_close(file));
  }
}

/* ------------------------------------------------- Keras 3 weights files ---- */

Test(h5_fixtures, keras_3_weights_file_layout) {
  sp_h5_file *file = open_fixture("keras3-weights-h5-diabetes/model.weights.h5");
  assert_string_attribute(file, "vars", "name", "sequential"); /* scalar vlen UTF-8 */
  assert_string_attribute(file, "layers/dense_1/vars", "name", "dense_1");
  assert_string_attribute(file, "optimizer/vars", "name", "adam");
  sp_h5_child *children = NULL;
  size_t count = 0;
  SP_ASSERT_OK(sp_h5_list(file, "/", &children, &count));
  cr_assert_eq(count, 3);
  cr_assert_str_eq(children[0].name, "layers");
  cr_assert_str_eq(children[1].name, "optimizer");
  cr_assert_str_eq(children[2].name, "vars");
  sp_h5_children_free(children, count);
  cr_assert_eq(count_kind(file, "optimizer/vars", SP_H5_DATASET), 14);
  cr_assert_eq(count_kind(file, "layers", SP_H5_GROUP), 3);
  sp_tensor_free(expect_dataset(file, "optimizer/vars/0", SP_INT64, 0, 0, 0));
  sp_tensor_free(expect_dataset(file, "optimizer/vars/10", SP_FLOAT32, 2, 8, 1));
  sp_tensor_free(expect_dataset(file, "layers/dense/vars/0", SP_FLOAT32, 2, 8, 12));
  SP_ASSERT_OK(sp_h5_close(file));
}

Test(h5_fixtures, keras_3_7_archive_weights_through_the_image_path) {
  size_t size = 0;
  uint8_t *image = read_keras_member("keras3.7-churn-keras-and-h5-same-model/my_model.keras", "model.weights.h5", &size);
  cr_assert_eq(size, 180920);
  sp_h5_file *weights = NULL;
  SP_ASSERT_OK(sp_h5_open_image(image, size, "my_model.keras:model.weights.h5", &weights));
  assert_string_attribute(weights, "vars", "name", "sequential");
  assert_string_attribute(weights, "optimizer/vars", "name", "adam");
  cr_assert_eq(count_kind(weights, "optimizer/vars", SP_H5_DATASET), 18);
  sp_tensor_free(expect_dataset(weights, "optimizer/vars/1", SP_FLOAT32, 0, 0, 0));
  /* PROVENANCE: all 26 datasets equal those of my_model.h5 */
  sp_h5_file *legacy = open_fixture("keras3.7-churn-keras-and-h5-same-model/my_model.h5");
  sp_tensor_free(expect_dataset(weights, "layers/dense/vars/0", SP_FLOAT32, 2, 19, 128));
  assert_datasets_equal(weights, "layers/dense/vars/0", legacy, "model_weights/dense/sequential/dense/kernel");
  assert_datasets_equal(weights, "optimizer/vars/3", legacy, "optimizer_weights/adam/sequential_dense_kernel_velocity");
  SP_ASSERT_OK(sp_h5_close(legacy));
  const char *kernels[] = {"layers/dense/vars/0", "layers/dense_1/vars/0", "layers/dense_2/vars/0",
                           "layers/dense_3/vars/0"};
  const char *biases[] = {"layers/dense/vars/1", "layers/dense_1/vars/1", "layers/dense_2/vars/1",
                          "layers/dense_3/vars/1"};
  const activation acts[] = {RELU, RELU, RELU, SIGMOID};
  float *input = gen_rows(19);
  float *y = run_dense_stack(weights, kernels, biases, acts, 4, input, 3);
  const float expected[] = {0.1564455f, 0.6582941f, 0.01416638f};
  sp_assert_close(y, expected, 3, 1e-5, 1e-7, "churn .keras, Appendix F");
  free(y);
  free(input);
  SP_ASSERT_OK(sp_h5_close(weights));
  free(image);
}

Test(h5_fixtures, windows_archive_with_backslash_group_names) {
  size_t size = 0;
  uint8_t *image = read_keras_member("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model.keras", "model.weights.h5",
                                     &size);
  cr_assert_eq(size, 489848);
  sp_h5_file *weights = NULL;
  SP_ASSERT_OK(sp_h5_open_image(image, size, "my_model.keras:model.weights.h5", &weights));
  const char *groups[] = {"layers\\dense", "layers\\dense_1", "layers\\dense_2", "layers\\flatten",
                          "metrics\\mean", "metrics\\mean_metric_wrapper", "vars"};
  sp_h5_child *children = NULL;
  size_t count = 0;
  SP_ASSERT_OK(sp_h5_list(weights, "", &children, &count));
  cr_assert_eq(count, 7);
  for (size_t index = 0; index < count; index++) {
    cr_assert_str_eq(children[index].name, groups[index]);
    cr_assert_eq(children[index].kind, SP_H5_GROUP);
  }
  sp_h5_children_free(children, count);
  cr_assert(!sp_h5_has_attribute(weights, "vars", "name"), "tf.keras 2.15 predates the vars name attribute");
  sp_tensor_free(expect_dataset(weights, "metrics\\mean/vars/1", SP_FLOAT32, 0, 0, 0));
  sp_h5_file *legacy = open_fixture("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model.h5");
  sp_tensor_free(expect_dataset(weights, "layers\\dense/vars/0", SP_FLOAT32, 2, 784, 128));
  assert_datasets_equal(weights, "layers\\dense_2/vars/1", legacy, "model_weights/dense_21/dense_21/bias:0");
  SP_ASSERT_OK(sp_h5_close(legacy));
  const char *kernels[] = {"layers\\dense/vars/0", "layers\\dense_1/vars/0", "layers\\dense_2/vars/0"};
  const char *biases[] = {"layers\\dense/vars/1", "layers\\dense_1/vars/1", "layers\\dense_2/vars/1"};
  const activation acts[] = {RELU, RELU, SOFTMAX};
  float *input = calloc(2 * 784, sizeof *input);
  for (int i = 784; i < 2 * 784; i++) input[i] = 1.0f;
  float *y = run_dense_stack(weights, kernels, biases, acts, 3, input, 2);
  const float expected[] = {0.105663f,     0.064478f,     0.05333858f,   0.05122029f,  0.1581578f,
                            0.1650072f,    0.1641564f,    0.09853888f,   0.06285681f,  0.07658308f,
                            2.535037e-07f, 3.608264e-07f, 4.294828e-09f, 0.07744481f,  5.767885e-41f,
                            0.9225546f,    1.017328e-10f, 2.074359e-15f, 4.311687e-09f, 1.876934e-12f};
  sp_assert_close(y, expected, 20, 1e-4, 1e-9, "mnist .keras, Appendix F");
  free(y);
  free(input);
  SP_ASSERT_OK(sp_h5_close(weights));
  free(image);
}

/* ------------------------------------------------ hostile layouts (libhdf5) ---- */

static char *scratch_path(const char *name) {
  char *directory = sp_test_temp_dir("h5io");
  char *path = sp_path_join(directory, name);
  free(directory);
  return path;
}

static hid_t create_raw(const char *path) {
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  cr_assert_geq(file, 0);
  return file;
}

static void raw_dataset(hid_t file, const char *name, hid_t type, int rank, const hsize_t *dims, hid_t creation,
                        const void *data) {
  hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
  hid_t dataset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, creation, H5P_DEFAULT);
  cr_assert_geq(dataset, 0, "creating %s", name);
  if (data) cr_assert_geq(H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
  H5Dclose(dataset);
  H5Sclose(space);
}

static void raw_string_attribute(hid_t object, const char *name, size_t size, H5T_str_t pad, H5T_cset_t cset,
                                 hsize_t count, const void *data) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, size);
  if (size != H5T_VARIABLE) H5Tset_strpad(type, pad);
  H5Tset_cset(type, cset);
  hid_t space = count == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, NULL);
  hid_t attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  cr_assert_geq(attribute, 0);
  cr_assert_geq(H5Awrite(attribute, type, data), 0);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Tclose(type);
}

Test(h5_hostile, links_that_leave_the_file_are_refused) {
  char *path = scratch_path("links.h5");
  hid_t raw = create_raw(path);
  float value = 1.0f;
  hsize_t one = 1;
  hid_t group = H5Gcreate2(raw, "real", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Gclose(group);
  raw_dataset(raw, "real/x", H5T_IEEE_F32LE, 1, &one, H5P_DEFAULT, &value);
  cr_assert_geq(H5Lcreate_soft("/real", raw, "soft", H5P_DEFAULT, H5P_DEFAULT), 0);
  cr_assert_geq(H5Lcreate_soft("/real/x", raw, "soft_x", H5P_DEFAULT, H5P_DEFAULT), 0);
  cr_assert_geq(H5Lcreate_external("/etc/passwd", "/x", raw, "external", H5P_DEFAULT, H5P_DEFAULT), 0);
  H5Fclose(raw);
  sp_h5_file *file = NULL;
  SP_ASSERT_OK(sp_h5_open(path, &file));
  sp_tensor *tensor = NULL;
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "soft/x", SP_H5_NO_LIMIT, &tensor), SP_ERROR_UNSAFE, "'soft' is a soft link");
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "soft_x", SP_H5_NO_LIMIT, &tensor), SP_ERROR_UNSAFE, "soft link");
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "external/x", SP_H5_NO_LIMIT, &tensor), SP_ERROR_UNSAFE,
                  "'external' is an external link");
  char *value_text = NULL;
  SP_ASSERT_FAILS(sp_h5_read_string_attribute(file, "soft", "name", &value_text, NULL), SP_ERROR_UNSAFE, "soft link");
  cr_assert_eq(sp_h5_kind_at(file, "soft"), SP_H5_OTHER);
  cr_assert(!sp_h5_exists(file, "soft/x"));
  cr_assert(sp_h5_exists(file, "real/x"));
  sp_h5_child *children = NULL;
  size_t count = 0;
  SP_ASSERT_OK(sp_h5_list(file, "/", &children, &count));
  cr_assert_eq(count, 4);
  cr_assert_str_eq(children[0].name, "external");
  cr_assert_eq(children[0].kind, SP_H5_OTHER);
  cr_assert_eq(children[1].kind, SP_H5_GROUP);
  cr_assert_eq(children[2].kind, SP_H5_OTHER);
  sp_h5_children_free(children, count);
  SP_ASSERT_OK(sp_h5_read_tensor(file, "/real/x", SP_H5_NO_LIMIT, &tensor));
  sp_tensor_free(tensor);
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "real", SP_H5_NO_LIMIT, &tensor), SP_ERROR_NOT_FOUND, "not a dataset");
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "real/x/y", SP_H5_NO_LIMIT, &tensor), SP_ERROR_NOT_FOUND, "not a group");
  SP_ASSERT_OK(sp_h5_close(file));
  free(path);
}

Test(h5_hostile, storage_elsewhere_and_absurd_sizes_are_refused_before_reading) {
  char *path = scratch_path("storage.h5");
  hid_t raw = create_raw(path);
  hsize_t small = 16, huge[2] = {UINT64_C(1) << 22, UINT64_C(1) << 20}; /* 16 TiB of float32 */
  hid_t external = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_external(external, "/etc/passwd", 0, 64);
  raw_dataset(raw, "external", H5T_IEEE_F32LE, 1, &small, external, NULL);
  H5Pclose(external);
  hid_t chunked = H5Pcreate(H5P_DATASET_CREATE);
  hsize_t chunk[2] = {64, 64};
  H5Pset_chunk(chunked, 2, chunk);
  raw_dataset(raw, "absurd", H5T_IEEE_F32LE, 2, huge, chunked, NULL); /* nothing stored */
  hsize_t tall_chunk[1] = {UINT64_C(1) << 28};
  hsize_t tall = UINT64_C(1) << 28;
  H5Pset_chunk(chunked, 1, tall_chunk);
  raw_dataset(raw, "big_chunks", H5T_IEEE_F32LE, 1, &tall, chunked, NULL);
  H5Pclose(chunked);
  hid_t source_space = H5Screate_simple(1, &small, NULL);
  hid_t virtual = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_virtual(virtual, source_space, "/etc/other.h5", "/data", source_space);
  raw_dataset(raw, "virtual", H5T_IEEE_F32LE, 1, &small, virtual, NULL);
  H5Pclose(virtual);
  H5Sclose(source_space);
  H5Fclose(raw);

  sp_h5_file *file = NULL;
  SP_ASSERT_OK(sp_h5_open(path, &file));
  sp_tensor *tensor = NULL;
  sp_h5_dataset_info info;
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "external", SP_H5_NO_LIMIT, &tensor), SP_ERROR_UNSAFE, "external files");
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "virtual", SP_H5_NO_LIMIT, &tensor), SP_ERROR_UNSAFE, "virtual dataset");
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "absurd", SP_H5_NO_LIMIT, &tensor), SP_ERROR_UNSAFE,
                  "declares 17592186044416 bytes but stores only 0");
  SP_ASSERT_FAILS(sp_h5_describe_dataset(file, "absurd", &info), SP_ERROR_UNSAFE, "more than 1000x");
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "big_chunks", UINT64_C(1) << 20, &tensor), SP_ERROR_UNSAFE,
                  "chunks of 1073741824 bytes exceed the limit");
  cr_assert_null(tensor);
  SP_ASSERT_OK(sp_h5_close(file));
  free(path);
}

Test(h5_hostile, unsupported_types_are_named) {
  char *path = scratch_path("types.h5");
  hid_t raw = create_raw(path);
  hsize_t two = 2, nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 2};
  hid_t compound = H5Tcreate(H5T_COMPOUND, 12);
  H5Tinsert(compound, "a", 0, H5T_STD_I32LE);
  H5Tinsert(compound, "b", 4, H5T_IEEE_F64LE);
  raw_dataset(raw, "compound", compound, 1, &two, H5P_DEFAULT, NULL);
  H5Tclose(compound);
  hid_t sequence = H5Tvlen_create(H5T_STD_I32LE);
  raw_dataset(raw, "vlen", sequence, 1, &two, H5P_DEFAULT, NULL);
  H5Tclose(sequence);
  hid_t text = H5Tcopy(H5T_C_S1);
  H5Tset_size(text, 8);
  raw_dataset(raw, "text", text, 1, &two, H5P_DEFAULT, "abcdefghabcdefgh");
  H5Tclose(text);
  raw_dataset(raw, "rank9", H5T_STD_I8LE, 9, nine, H5P_DEFAULT, NULL);
  hid_t null_space = H5Screate(H5S_NULL);
  hid_t empty = H5Dcreate2(raw, "null", H5T_IEEE_F32LE, null_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(empty);
  H5Sclose(null_space);
  hid_t flagged = H5Dopen2(raw, "text", H5P_DEFAULT);
  raw_string_attribute(flagged, "dtype", H5T_VARIABLE, H5T_STR_NULLTERM, H5T_CSET_UTF8, 0, &(const char *){"bfloat16"});
  H5Dclose(flagged);
  H5Fclose(raw);

  sp_h5_file *file = NULL;
  SP_ASSERT_OK(sp_h5_open(path, &file));
  sp_tensor *tensor = NULL;
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "compound", SP_H5_NO_LIMIT, &tensor), SP_ERROR_UNSUPPORTED,
                  "dataset 'compound': unsupported HDF5 type compound of 12 bytes");
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "vlen", SP_H5_NO_LIMIT, &tensor), SP_ERROR_UNSUPPORTED,
                  "variable-length sequence");
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "rank9", SP_H5_NO_LIMIT, &tensor), SP_ERROR_UNSUPPORTED,
                  "rank 9 exceeds the maximum of 8");
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "null", SP_H5_NO_LIMIT, &tensor), SP_ERROR_UNSUPPORTED, "no dataspace");
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "text", SP_H5_NO_LIMIT, &tensor), SP_ERROR_UNSUPPORTED,
                  "flagged dtype=\"bfloat16\" but stored as a 8-byte string");
  SP_ASSERT_OK(sp_h5_close(file));
  free(path);
}

Test(h5_hostile, files_that_are_not_hdf5) {
  sp_h5_file *file = NULL;
  SP_ASSERT_FAILS(sp_h5_open("/nonexistent/model.h5", &file), SP_ERROR_NOT_FOUND, "no such file");
  char *path = scratch_path("garbage.h5");
  SP_ASSERT_OK(sp_write_file_atomic(path, "not an HDF5 file at all", 23));
  SP_ASSERT_FAILS(sp_h5_open(path, &file), SP_ERROR_FORMAT, "file signature not found");
  static const uint8_t truncated[16] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  SP_ASSERT_FAILS(sp_h5_open_image(truncated, sizeof truncated, "image", &file), SP_ERROR_FORMAT, "image");
  SP_ASSERT_FAILS(sp_h5_open_image(truncated, 4, "tiny", &file), SP_ERROR_FORMAT, "4 bytes is not an HDF5 file");
  cr_assert_null(file);
  free(path);
}

/* ------------------------------------------------- every string flavour ---- */

Test(h5_strings, fixed_and_variable_strings_in_every_padding) {
  char *path = scratch_path("strings.h5");
  hid_t raw = create_raw(path);
  raw_string_attribute(raw, "nullterm", 8, H5T_STR_NULLTERM, H5T_CSET_ASCII, 0, "abc\0zzzz");
  raw_string_attribute(raw, "nullpad", 6, H5T_STR_NULLPAD, H5T_CSET_ASCII, 0, "abc\0\0\0");
  raw_string_attribute(raw, "spacepad", 6, H5T_STR_SPACEPAD, H5T_CSET_ASCII, 0, "abc   ");
  raw_string_attribute(raw, "full", 3, H5T_STR_NULLTERM, H5T_CSET_ASCII, 0, "xyz");
  raw_string_attribute(raw, "utf8_fixed", 8, H5T_STR_NULLPAD, H5T_CSET_UTF8, 0, "d\xc3\xa9nse\0\0");
  raw_string_attribute(raw, "utf8_vlen", H5T_VARIABLE, H5T_STR_NULLTERM, H5T_CSET_UTF8, 0,
                       &(const char *){"\xe6\xa8\xa1\xe5\x9e\x8b"});
  const char *list[] = {"dense/kernel:0", "", "dense/bias:0"};
  raw_string_attribute(raw, "vlen_list", H5T_VARIABLE, H5T_STR_NULLTERM, H5T_CSET_ASCII, 3, list);
  raw_string_attribute(raw, "fixed_list", 5, H5T_STR_NULLPAD, H5T_CSET_ASCII, 3, "a\0\0\0\0bb\0\0\0ccccc");
  raw_string_attribute(raw, "spacepad_list", 4, H5T_STR_SPACEPAD, H5T_CSET_ASCII, 2, "ab  cd  ");
  /* Keras's split form, chunks deliberately of different widths and padding */
  raw_string_attribute(raw, "split0", 3, H5T_STR_NULLPAD, H5T_CSET_ASCII, 2, "abcd\0\0");
  raw_string_attribute(raw, "split1", H5T_VARIABLE, H5T_STR_NULLTERM, H5T_CSET_ASCII, 1, &(const char *){"efg"});
  raw_string_attribute(raw, "split3", 3, H5T_STR_NULLPAD, H5T_CSET_ASCII, 1, "zzz"); /* after a gap: ignored */
  int32_t numbers[3] = {7, -8, 9};
  hsize_t three = 3;
  hid_t space = H5Screate_simple(1, &three, NULL);
  hid_t attribute = H5Acreate2(raw, "numbers", H5T_STD_I32BE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, H5T_NATIVE_INT32, numbers);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Fclose(raw);

  sp_h5_file *file = NULL;
  SP_ASSERT_OK(sp_h5_open(path, &file));
  assert_string_attribute(file, "/", "nullterm", "abc");
  assert_string_attribute(file, "/", "nullpad", "abc");
  assert_string_attribute(file, "/", "spacepad", "abc");
  assert_string_attribute(file, "/", "full", "xyz");
  assert_string_attribute(file, "/", "utf8_fixed", "d\xc3\xa9nse");
  assert_string_attribute(file, "/", "utf8_vlen", "\xe6\xa8\xa1\xe5\x9e\x8b");
  assert_string_list(file, "/", "vlen_list", list, 3);
  const char *fixed[] = {"a", "bb", "ccccc"};
  assert_string_list(file, "/", "fixed_list", fixed, 3);
  const char *spaced[] = {"ab", "cd"};
  assert_string_list(file, "/", "spacepad_list", spaced, 2);
  const char *joined[] = {"abc", "d", "efg"};
  assert_string_list(file, "/", "split", joined, 3);
  char *value = NULL;
  sp_tensor *strings = NULL;
  SP_ASSERT_FAILS(sp_h5_read_string_attribute(file, "/", "vlen_list", &value, NULL), SP_ERROR_FORMAT,
                  "expected a scalar string, found a 1-D list");
  SP_ASSERT_FAILS(sp_h5_read_string_list_attribute(file, "/", "nullpad", &strings), SP_ERROR_FORMAT,
                  "expected a 1-D list of strings, found a scalar string");
  SP_ASSERT_FAILS(sp_h5_read_string_attribute(file, "/", "numbers", &value, NULL), SP_ERROR_FORMAT,
                  "expected strings, found integer values");
  SP_ASSERT_FAILS(sp_h5_read_string_list_attribute(file, "/", "absent", &strings), SP_ERROR_NOT_FOUND,
                  "'absent0'");
  sp_tensor *numbers_read = NULL;
  SP_ASSERT_OK(sp_h5_read_attribute_tensor(file, "/", "numbers", &numbers_read));
  cr_assert_eq(numbers_read->dtype, SP_INT32);
  cr_assert_eq(((int32_t *)numbers_read->data)[1], -8); /* big-endian in the file */
  sp_tensor_free(numbers_read);
  SP_ASSERT_FAILS(sp_h5_read_attribute_tensor(file, "/", "nullpad", &numbers_read), SP_ERROR_UNSUPPORTED, "string");
  SP_ASSERT_OK(sp_h5_close(file));
  free(path);
}

/* ---------------------------------------------------------------- writing ---- */

static sp_tensor *ramp(sp_dtype dtype, int rank, const int64_t *shape) {
  sp_tensor *tensor = sp_tensor_new(dtype, rank, shape);
  int64_t count = sp_tensor_count(tensor);
  for (int64_t i = 0; i < count; i++) {
    if (dtype == SP_FLOAT16) ((uint16_t *)tensor->data)[i] = sp_float_to_half((float)i * 0.25f - 1.0f);
    else if (dtype == SP_BFLOAT16) ((uint16_t *)tensor->data)[i] = sp_float_to_bfloat16((float)i * 0.25f - 1.0f);
    else if (dtype == SP_BOOL) ((uint8_t *)tensor->data)[i] = (uint8_t)(i % 3 == 0);
    else if (dtype == SP_COMPLEX64) sp_tensor_floats(tensor)[i * 2] = (float)i, sp_tensor_floats(tensor)[i * 2 + 1] = -1;
    else sp_tensor_set_double(tensor, i, (double)i * (dtype == SP_FLOAT32 || dtype == SP_FLOAT64 ? 0.5 : 1) - 3);
  }
  return tensor;
}

static const sp_dtype written_dtypes[] = {SP_FLOAT32, SP_FLOAT64, SP_FLOAT16, SP_BFLOAT16, SP_INT8,   SP_INT16,
                                          SP_INT32,   SP_INT64,   SP_UINT8,   SP_UINT16,   SP_UINT32, SP_UINT64,
                                          SP_BOOL,    SP_COMPLEX64};

/* The same calls Keras's legacy writer and H5IOStore make, through our API. */
static void write_keras_like_content(sp_h5_file *file) {
  SP_ASSERT_OK(sp_h5_write_string_attribute(file, "/", "keras_version", "3.7.0", 5, SP_H5_STR));
  SP_ASSERT_OK(sp_h5_write_string_attribute(file, "/", "model_config", "{\"class_name\": \"Sequential\"}", 28,
                                            SP_H5_BYTES));
  SP_ASSERT_OK(sp_h5_create_group(file, "model_weights"));
  const char *layers[] = {"dense", "dense_1"};
  SP_ASSERT_OK(sp_h5_write_string_list_attribute(file, "model_weights", "layer_names", layers, 2, SP_H5_BYTES));
  SP_ASSERT_OK(sp_h5_create_group(file, "model_weights/dense_1"));
  SP_ASSERT_OK(sp_h5_write_string_list_attribute(file, "model_weights/dense_1", "weight_names", NULL, 0, SP_H5_BYTES));
  int64_t kernel_shape[2] = {3, 4};
  sp_tensor *kernel = ramp(SP_FLOAT32, 2, kernel_shape);
  SP_ASSERT_OK(sp_h5_write_tensor(file, "model_weights/dense/dense/kernel:0", kernel));
  sp_tensor_free(kernel);
  sp_tensor *scalar = ramp(SP_INT64, 0, NULL);
  SP_ASSERT_OK(sp_h5_write_tensor(file, "optimizer/vars/0", scalar));
  sp_tensor_free(scalar);
  SP_ASSERT_OK(sp_h5_create_group(file, "vars"));
  SP_ASSERT_OK(sp_h5_write_string_attribute(file, "vars", "name", "s\xc3\xa9quential", 11, SP_H5_STR));
  for (size_t index = 0; index < sizeof written_dtypes / sizeof written_dtypes[0]; index++) {
    int64_t shape[2] = {2, 3};
    sp_tensor *tensor = ramp(written_dtypes[index], 2, shape);
    char *path = sp_strdupf("dtypes/%s", sp_dtype_name(written_dtypes[index]));
    SP_ASSERT_OK(sp_h5_write_tensor(file, path, tensor));
    free(path);
    sp_tensor_free(tensor);
  }
  int64_t empty_shape[2] = {0, 3};
  sp_tensor *empty = sp_tensor_new(SP_FLOAT32, 2, empty_shape);
  SP_ASSERT_OK(sp_h5_write_tensor(file, "empty", empty));
  sp_tensor_free(empty);
}

static void check_keras_like_content(sp_h5_file *file) {
  assert_string_attribute(file, "/", "keras_version", "3.7.0");
  assert_string_attribute(file, "/", "model_config", "{\"class_name\": \"Sequential\"}");
  assert_string_attribute(file, "vars", "name", "s\xc3\xa9quential");
  const char *layers[] = {"dense", "dense_1"};
  assert_string_list(file, "model_weights", "layer_names", layers, 2);
  assert_string_list(file, "model_weights/dense_1", "weight_names", NULL, 0);
  sp_tensor *kernel = expect_dataset(file, "model_weights/dense/dense/kernel:0", SP_FLOAT32, 2, 3, 4);
  cr_assert_float_eq(sp_tensor_floats(kernel)[11], 2.5f, 0);
  sp_tensor_free(kernel);
  sp_tensor *scalar = expect_dataset(file, "optimizer/vars/0", SP_INT64, 0, 0, 0);
  cr_assert_eq(*(int64_t *)scalar->data, -3);
  sp_tensor_free(scalar);
  for (size_t index = 0; index < sizeof written_dtypes / sizeof written_dtypes[0]; index++) {
    int64_t shape[2] = {2, 3};
    sp_tensor *expected = ramp(written_dtypes[index], 2, shape);
    char *path = sp_strdupf("dtypes/%s", sp_dtype_name(written_dtypes[index]));
    sp_tensor *actual = read_dataset(file, path);
    assert_same_tensor(actual, expected, path);
    free(path);
    sp_tensor_free(actual);
    sp_tensor_free(expected);
  }
  assert_string_attribute(file, "dtypes/bfloat16", "dtype", "bfloat16");
  sp_tensor_free(expect_dataset(file, "empty", SP_FLOAT32, 2, 0, 3));
}

Test(h5_write, path_and_image_give_identical_bytes_that_read_back) {
  char *path = scratch_path("written.h5");
  sp_h5_file *file = NULL;
  SP_ASSERT_OK(sp_h5_create(path, &file));
  write_keras_like_content(file);
  SP_ASSERT_OK(sp_h5_close(file));
  SP_ASSERT_OK(sp_h5_create_image("written image", &file));
  write_keras_like_content(file);
  uint8_t *image = NULL;
  size_t size = 0;
  SP_ASSERT_OK(sp_h5_take_image(file, &image, &size));
  uint8_t *on_disk = NULL;
  size_t disk_size = 0;
  SP_ASSERT_OK(sp_read_file(path, SIZE_MAX, &on_disk, &disk_size));
  cr_assert_eq(size, disk_size, "image %zu bytes, file %zu bytes", size, disk_size);
  cr_assert(memcmp(image, on_disk, size) == 0, "the image and the file differ");
  cr_assert_eq(image[8], 0, "superblock version 0");
  SP_ASSERT_OK(sp_h5_open(path, &file));
  check_keras_like_content(file);
  SP_ASSERT_OK(sp_h5_close(file));
  SP_ASSERT_OK(sp_h5_open_image(image, size, "image", &file));
  check_keras_like_content(file);
  SP_ASSERT_OK(sp_h5_close(file));
  free(image);
  free(on_disk);
  free(path);
}

/* Large tensors written to (and read from) a file on disk move in pieces of whole rows (a
 * partial last piece included); the file must hold the same bytes as an image written whole,
 * and read back as the ramp written. */
Test(h5_write, large_tensors_written_in_pieces_match_the_image) {
  int64_t matrix_shape[2] = {3001, 500}, vector_shape[1] = {1500007}, cube_shape[3] = {700, 30, 25};
  sp_tensor *tensors[3] = {ramp(SP_FLOAT32, 2, matrix_shape), ramp(SP_INT16, 1, vector_shape),
                           ramp(SP_FLOAT64, 3, cube_shape)};
  const char *names[3] = {"layers/dense/vars/0", "vector", "cube"};
  char *path = scratch_path("pieces.h5");
  sp_h5_file *file = NULL;
  SP_ASSERT_OK(sp_h5_create(path, &file));
  for (int i = 0; i < 3; i++) SP_ASSERT_OK(sp_h5_write_tensor(file, names[i], tensors[i]));
  SP_ASSERT_OK(sp_h5_close(file));
  SP_ASSERT_OK(sp_h5_create_image("whole", &file));
  for (int i = 0; i < 3; i++) SP_ASSERT_OK(sp_h5_write_tensor(file, names[i], tensors[i]));
  uint8_t *image = NULL, *on_disk = NULL;
  size_t size = 0, disk_size = 0;
  SP_ASSERT_OK(sp_h5_take_image(file, &image, &size));
  SP_ASSERT_OK(sp_read_file(path, SIZE_MAX, &on_disk, &disk_size));
  cr_assert_eq(size, disk_size);
  cr_assert(memcmp(image, on_disk, size) == 0, "the pieces and the whole write differ");
  SP_ASSERT_OK(sp_h5_open(path, &file)); /* read back in pieces too, into new and existing tensors */
  for (int i = 0; i < 3; i++) {
    sp_tensor *actual = read_dataset(file, names[i]);
    assert_same_tensor(actual, tensors[i], names[i]);
    memset(actual->data, 0x5a, actual->size);
    SP_ASSERT_OK(sp_h5_read_tensor_into(file, names[i], actual));
    assert_same_tensor(actual, tensors[i], names[i]);
    sp_tensor_free(actual);
    sp_tensor_free(tensors[i]);
  }
  SP_ASSERT_OK(sp_h5_close(file));
  free(image);
  free(on_disk);
  free(path);
}

Test(h5_write, long_lists_split_like_keras_and_read_back_joined) {
  enum { COUNT = 7001 };
  static char storage[COUNT][16];
  const char *names[COUNT];
  for (int i = 0; i < COUNT; i++) {
    snprintf(storage[i], sizeof storage[i], i == 5 ? "w" : "layer_%05d", i);
    names[i] = storage[i];
  }
  sp_h5_file *file = NULL;
  SP_ASSERT_OK(sp_h5_create_image("split", &file));
  SP_ASSERT_OK(sp_h5_write_string_list_attribute(file, "/", "layer_names", names, COUNT, SP_H5_BYTES));
  static char too_long[SP_H5_ATTRIBUTE_SPLIT_BYTES + 2];
  memset(too_long, 'x', sizeof too_long - 1);
  const char *one[] = {too_long};
  SP_ASSERT_FAILS(sp_h5_write_string_list_attribute(file, "/", "bad", one, 1, SP_H5_BYTES), SP_ERROR_UNSUPPORTED,
                  "64513 bytes");
  SP_ASSERT_FAILS(sp_h5_write_string_attribute(file, "/", "nul", "a\0b", 3, SP_H5_STR), SP_ERROR_INVALID_ARGUMENT,
                  "NUL");
  uint8_t *image = NULL;
  size_t size = 0;
  SP_ASSERT_OK(sp_h5_take_image(file, &image, &size));
  SP_ASSERT_OK(sp_h5_open_image(image, size, "split", &file));
  /* numpy: 7001 x 11 bytes = 77011 > 64512 -> array_split into 2 chunks: 3501 + 3500 */
  cr_assert(!sp_h5_has_attribute(file, "/", "layer_names"));
  cr_assert(sp_h5_has_attribute(file, "/", "layer_names1"));
  cr_assert(!sp_h5_has_attribute(file, "/", "layer_names2"));
  sp_tensor *strings = NULL;
  SP_ASSERT_OK(sp_h5_read_string_list_attribute(file, "/", "layer_names", &strings));
  cr_assert_eq(strings->shape[0], COUNT);
  for (int i = 0; i < COUNT; i++) cr_assert_str_eq(((sp_string *)strings->data)[i].bytes, names[i]);
  sp_tensor_free(strings);
  SP_ASSERT_OK(sp_h5_close(file));
  free(image);
}

Test(h5_write, refusals_while_writing) {
  sp_h5_file *file = NULL;
  SP_ASSERT_OK(sp_h5_create_image("refusals", &file));
  int64_t shape[1] = {2};
  sp_tensor *tensor = ramp(SP_FLOAT32, 1, shape);
  SP_ASSERT_OK(sp_h5_write_tensor(file, "a/b", tensor));
  SP_ASSERT_FAILS(sp_h5_write_tensor(file, "a/b", tensor), SP_ERROR_EXISTS, "already there");
  SP_ASSERT_FAILS(sp_h5_create_group(file, "a/b"), SP_ERROR_EXISTS, "something else");
  SP_ASSERT_OK(sp_h5_create_group(file, "a")); /* an existing group is fine */
  sp_tensor *strings = sp_tensor_new(SP_STRING, 1, shape);
  SP_ASSERT_FAILS(sp_h5_write_tensor(file, "s", strings), SP_ERROR_UNSUPPORTED, "string");
  sp_tensor_free(strings);
  SP_ASSERT_OK(sp_h5_close(file));
  char *path = scratch_path("read-only.h5");
  SP_ASSERT_OK(sp_h5_create(path, &file));
  SP_ASSERT_OK(sp_h5_close(file));
  SP_ASSERT_OK(sp_h5_open(path, &file));
  SP_ASSERT_FAILS(sp_h5_write_tensor(file, "x", tensor), SP_ERROR_INVALID_ARGUMENT, "opened for reading");
  uint8_t *image = NULL;
  size_t size = 0;
  SP_ASSERT_FAILS(sp_h5_take_image(file, &image, &size), SP_ERROR_INVALID_ARGUMENT, "not an in-memory file");
  sp_tensor_free(tensor);
  free(path);
}

Test(h5_write, large_tensor_is_written_in_place) {
  int64_t shape[1] = {(int64_t)1 << 22}; /* 16 MiB */
  float *values = malloc(sizeof(float) << 22);
  for (int64_t i = 0; i < shape[0]; i++) values[i] = (float)i;
  sp_tensor *wrapped = sp_tensor_wrap(SP_FLOAT32, 1, shape, values);
  sp_h5_file *file = NULL;
  SP_ASSERT_OK(sp_h5_create_image("large", &file));
  SP_ASSERT_OK(sp_h5_write_tensor(file, "vars/0", wrapped));
  uint8_t *image = NULL;
  size_t size = 0;
  SP_ASSERT_OK(sp_h5_take_image(file, &image, &size));
  cr_assert_gt(size, sizeof(float) << 22);
  SP_ASSERT_OK(sp_h5_open_image(image, size, "large", &file));
  sp_tensor *read = NULL;
  SP_ASSERT_FAILS(sp_h5_read_tensor(file, "vars/0", sizeof(float) << 21, &read), SP_ERROR_UNSAFE, "exceed the limit");
  SP_ASSERT_OK(sp_h5_read_tensor(file, "vars/0", sizeof(float) << 22, &read));
  cr_assert(memcmp(read->data, values, sizeof(float) << 22) == 0);
  sp_tensor_free(read);
  SP_ASSERT_OK(sp_h5_close(file));
  sp_tensor_free(wrapped);
  free(values);
  free(image);
}
