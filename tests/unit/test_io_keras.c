/* Tests of the Keras 3 formats: `.keras` archives (zip and unzipped directory, Keras 3.7 and
 * tf.keras 2.15 on Windows with backslash group names) and `.weights.h5`, against PROVENANCE.md
 * Appendix F and across formats; round trips of what we write; mismatch messages. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "formats/zipio.h"
#include "io_check.h"
#include "savepoint/io.h"

static const float churn_expected[] = {0.1564455f, 0.6582941f, 0.01416638f};

Test(keras_v3, keras_3_7_archive_matches_appendix_f_and_its_h5_twin) {
  sp_model *model = sp_test_load_fixture("keras3.7-churn-keras-and-h5-same-model/my_model.keras");
  float *rows = sp_test_gen(19);
  sp_test_predict_close(model, rows, 2, (int64_t[]){3, 19}, churn_expected, 3, "churn .keras");
  sp_model *h5 = sp_test_load_fixture("keras3.7-churn-keras-and-h5-same-model/my_model.h5");
  cr_assert(sp_test_same_weights(model, h5), "the .keras and .h5 copies hold bit-identical weights");
  free(rows);
  sp_model_free(h5);
  sp_model_free(model);
}

Test(keras_v3, tf_keras_2_15_windows_archive_with_backslash_groups) {
  sp_model *keras = sp_test_load_fixture("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model.keras");
  float *images = calloc(2 * 784, sizeof *images);
  for (int i = 784; i < 2 * 784; i++) images[i] = 1;
  sp_test_predict_close(keras, images, 3, (int64_t[]){2, 28, 28}, sp_test_mnist_expected, 20, "mnist .keras");
  sp_model *h5 = sp_test_load_fixture("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model.h5");
  sp_test_predict_close(h5, images, 3, (int64_t[]){2, 28, 28}, sp_test_mnist_expected, 20, "mnist .h5");
  sp_model *tfjs = sp_test_load_fixture("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model/model.json");
  cr_assert(sp_test_same_weights(keras, h5) && sp_test_same_weights(h5, tfjs),
            "the .keras, .h5 and TF.js copies hold bit-identical weights");
  free(images);
  sp_model_free(keras);
  sp_model_free(h5);
  sp_model_free(tfjs);
}

Test(keras_v3, keras3_to_json_plus_weights_h5_diabetes) {
  sp_model *model = sp_test_load_fixture("keras3-weights-h5-diabetes/model.json");
  char *weights = sp_test_fixture("keras3-weights-h5-diabetes/model.weights.h5");
  sp_probe_info info;
  SP_ASSERT_OK(sp_probe(weights, &info));
  cr_assert_eq(info.format, SP_FORMAT_WEIGHTS_H5, "%s", info.description);
  cr_assert(info.has_optimizer);
  SP_ASSERT_OK(sp_load_weights(model, weights, NULL));
  const float pima[] = {6, 148, 72, 35, 0, 33.6f, 0.627f, 50, 1, 85, 66, 29, 0, 26.6f, 0.351f, 31};
  sp_test_predict_close(model, pima, 2, (int64_t[]){2, 8}, (const float[]){0.6855473f, 0.2554207f}, 2, "diabetes");
  free(weights);
  sp_model_free(model);
}

static sp_model *dense_stack(int layers, uint64_t seed) {
  sp_model *model = sp_sequential("stack");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){6})));
  for (int i = 0; i < layers; i++) SP_ASSERT_OK(sp_model_add(model, sp_dense(i == layers - 1 ? 3 : 8, "relu")));
  sp_model_set_seed(model, seed);
  SP_ASSERT_OK(sp_model_build(model));
  SP_ASSERT_OK(sp_model_initialize(model));
  return model;
}

Test(keras_v3, every_format_round_trips_bit_identical) {
  const char *names[] = {"m.keras", "m.h5", "m.weights.h5", "legacy_weights.h5", "web"};
  sp_format formats[] = {SP_FORMAT_AUTO, SP_FORMAT_AUTO, SP_FORMAT_AUTO, SP_FORMAT_LEGACY_WEIGHTS_H5, SP_FORMAT_TFJS};
  char *directory = sp_test_temp_dir("keras-round-trip");
  sp_model *model = dense_stack(3, 11);
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    char *path = sp_path_join(directory, names[i]);
    sp_save_options options = sp_save_defaults();
    options.format = formats[i];
    int weights_only = i == 2 || i == 3;
    SP_ASSERT_OK(weights_only ? sp_save_weights(model, path, &options) : sp_save(model, path, &options));
    sp_model *copy = NULL;
    if (weights_only) {
      copy = dense_stack(3, 99);
      cr_assert(!sp_test_same_weights(model, copy));
      SP_ASSERT_OK(sp_load_weights(copy, path, NULL));
    } else {
      SP_ASSERT_OK(sp_load(path, NULL, &copy));
    }
    cr_assert(sp_test_same_weights(model, copy), "%s did not round-trip", names[i]);
    sp_model_free(copy);
    free(path);
  }
  sp_model_free(model);
  free(directory);
}

/* The weights member is lent to HDF5 while its CRC-32 is checked on another thread: a flipped
 * byte, whether in the HDF5 superblock (HDF5 fails first) or among the weights (HDF5 reads it
 * happily), must still fail the load as a corrupt archive, with no model left behind; loading
 * weights into an existing model must leave its weights as they were. */
Test(keras_v3, corrupt_weights_member_fails_the_load_as_corrupt) {
  char *directory = sp_test_temp_dir("keras-corrupt-weights");
  char *path = sp_path_join(directory, "m.keras"), *corrupt = sp_path_join(directory, "corrupt.keras");
  sp_model *model = dense_stack(3, 5);
  sp_save_options options = sp_save_defaults();
  SP_ASSERT_OK(sp_save(model, path, &options));
  uint8_t *bytes = NULL;
  size_t size = 0;
  SP_ASSERT_OK(sp_read_file(path, SIZE_MAX, &bytes, &size));
  size_t data = 0; /* the first byte of model.weights.h5's data: after its 30-byte local header and name */
  for (size_t at = 0; at + 46 <= size && !data; at++)
    if (memcmp(bytes + at, "PK\3\4", 4) == 0 && memcmp(bytes + at + 30, "model.weights.h5", 16) == 0) data = at + 46;
  cr_assert(data > 0 && memcmp(bytes + data, "\x89HDF", 4) == 0, "found the HDF5 image in the archive");
  size_t places[] = {data + 1, data + (size - data) / 2};
  for (size_t i = 0; i < 2; i++) {
    bytes[places[i]] ^= 0x10;
    SP_ASSERT_OK(sp_write_file_atomic(corrupt, bytes, size));
    bytes[places[i]] ^= 0x10;
    sp_model *loaded = (sp_model *)&loaded; /* must come back NULL */
    SP_ASSERT_FAILS(sp_load(corrupt, NULL, &loaded), SP_ERROR_CHECKSUM,
                    "member 'model.weights.h5': its bytes do not match its CRC-32 (the archive is corrupt)");
    cr_assert_null(loaded);
    sp_model *target = dense_stack(3, 6), *untouched = dense_stack(3, 6);
    cr_assert(sp_test_same_weights(target, untouched), "dense_stack is deterministic");
    SP_ASSERT_FAILS(sp_load_weights(target, corrupt, NULL), SP_ERROR_CHECKSUM, "do not match its CRC-32");
    cr_assert(sp_test_same_weights(target, untouched), "a corrupt archive changed the model's weights");
    sp_model_free(target);
    sp_model_free(untouched);
  }
  sp_model *intact = NULL;
  SP_ASSERT_OK(sp_load(path, NULL, &intact));
  cr_assert(sp_test_same_weights(model, intact));
  sp_model_free(intact);
  sp_model_free(model);
  free(bytes);
  free(corrupt);
  free(path);
  free(directory);
}

Test(keras_v3, unzipped_directory_variant_loads) {
  char *archive_path = sp_test_fixture("keras3.7-churn-keras-and-h5-same-model/my_model.keras");
  char *directory = sp_test_temp_dir("keras-unzipped");
  sp_zip_reader *reader;
  SP_ASSERT_OK(sp_zip_open(archive_path, &reader));
  const char *members[] = {"metadata.json", "config.json", "model.weights.h5"};
  for (int i = 0; i < 3; i++) {
    uint8_t *data;
    size_t size;
    SP_ASSERT_OK(sp_zip_read(reader, members[i], UINT64_MAX, &data, &size));
    char *path = sp_path_join(directory, members[i]);
    SP_ASSERT_OK(sp_write_file_atomic(path, data, size));
    free(path);
    free(data);
  }
  sp_zip_close(reader);
  sp_probe_info info;
  SP_ASSERT_OK(sp_probe(directory, &info));
  cr_assert_eq(info.format, SP_FORMAT_KERAS, "%s", info.description);
  cr_assert_str_eq(info.keras_version, "3.7.0");
  sp_model *model = NULL;
  SP_ASSERT_OK(sp_load(directory, NULL, &model));
  float *rows = sp_test_gen(19);
  sp_test_predict_close(model, rows, 2, (int64_t[]){3, 19}, churn_expected, 3, "unzipped churn");
  free(rows);
  sp_model_free(model);
  free(directory);
  free(archive_path);
}

Test(keras_v3, weights_for_another_architecture_fail_naming_both) {
  char *directory = sp_test_temp_dir("keras-mismatch");
  char *path = sp_path_join(directory, "five.weights.h5");
  sp_model *five = dense_stack(5, 1), *four = dense_stack(4, 2);
  SP_ASSERT_OK(sp_save_weights(five, path, NULL));
  SP_ASSERT_FAILS(sp_load_weights(four, path, NULL), SP_ERROR_MISMATCH,
                  "loading a weight file containing 5 layers into a model with 4 layers");
  cr_assert(strstr(sp_last_error(), "layers/dense_4/vars (no match in the model)"), "%s", sp_last_error());
  char *legacy = sp_path_join(directory, "five.h5");
  SP_ASSERT_OK(sp_save_weights(five, legacy, NULL));
  SP_ASSERT_FAILS(sp_load_weights(four, legacy, NULL), SP_ERROR_MISMATCH,
                  "loading a weight file containing 5 layers into a model with 4 layers");
  cr_assert(strstr(sp_last_error(), "first shape difference"), "%s", sp_last_error());
  sp_model_free(five);
  sp_model_free(four);
  free(legacy);
  free(path);
  free(directory);
}

Test(keras_v3, a_legacy_h5_named_keras_says_what_it_is) {
  char *source = sp_test_fixture("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model.h5");
  char *directory = sp_test_temp_dir("keras-misnamed");
  char *path = sp_path_join(directory, "m.keras");
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_read_file(source, SIZE_MAX, &data, &size));
  SP_ASSERT_OK(sp_write_file_atomic(path, data, size));
  sp_model *model = NULL;
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_MISMATCH, "is a legacy Keras HDF5 model (keras_version 2.15.0)");
  cr_assert(strstr(sp_last_error(), "savepoint convert") && strstr(sp_last_error(), "m2.keras --format keras"), "%s",
            sp_last_error());
  sp_load_options options = sp_load_defaults();
  options.format = SP_FORMAT_H5;
  SP_ASSERT_OK(sp_load(path, &options, &model));
  sp_model_free(model);
  free(data);
  free(path);
  free(directory);
  free(source);
}

/* ---- round trips of every layer family through every format ---- */

static void fill(sp_model *model) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  uint64_t state = 12345;
  for (int v = 0; v < count; v++) {
    float *values = sp_tensor_floats(variables[v]->value);
    for (int64_t i = 0; i < sp_tensor_count(variables[v]->value); i++) {
      state = state * 6364136223846793005u + 1442695040888963407u;
      values[i] = (float)((state >> 40) / (double)(1 << 24)) - 0.5f + (strstr(variables[v]->name, "variance") ? 1.0f : 0);
    }
    variables[v]->initialized = 1;
  }
  free(variables);
}

static sp_model *family_model(const char *family, int rank, const int64_t *shape) {
  sp_model *model = sp_sequential(family);
  SP_ASSERT_OK(sp_model_add(model, sp_input(rank, shape)));
  if (strcmp(family, "conv") == 0) {
    SP_ASSERT_OK(sp_model_add(model, sp_conv2d(3, 3, 3, "relu")));
    SP_ASSERT_OK(sp_model_add(model, sp_max_pooling2d(2, 2)));
    SP_ASSERT_OK(sp_model_add(model, sp_batch_normalization()));
    SP_ASSERT_OK(sp_model_add(model, sp_flatten()));
  } else {
    SP_ASSERT_OK(sp_model_add(model, sp_layer_new("GRU", "{\"units\": 5, \"return_sequences\": true, \"reset_after\": false}")));
    SP_ASSERT_OK(sp_model_add(model, sp_lstm(4, 1)));
    SP_ASSERT_OK(sp_model_add(model, sp_layer_normalization()));
    SP_ASSERT_OK(sp_model_add(model, sp_simple_rnn(3, "tanh", 0)));
  }
  SP_ASSERT_OK(sp_model_add(model, sp_dense(2, "softmax")));
  SP_ASSERT_OK(sp_model_build(model));
  fill(model);
  return model;
}

static void round_trip_family(const char *family, int rank, const int64_t *shape) {
  const char *names[] = {"m.keras", "m.h5", "m.weights.h5", "legacy_weights.h5", "web", "arch.json"};
  sp_format formats[] = {SP_FORMAT_AUTO, SP_FORMAT_AUTO, SP_FORMAT_AUTO, SP_FORMAT_LEGACY_WEIGHTS_H5, SP_FORMAT_TFJS,
                         SP_FORMAT_AUTO};
  char *directory = sp_test_temp_dir(family);
  sp_model *model = family_model(family, rank, shape);
  int64_t batch_shape[SP_MAX_RANK] = {2};
  memcpy(batch_shape + 1, shape, (size_t)rank * sizeof *shape);
  int64_t count = 2;
  for (int i = 0; i < rank; i++) count *= shape[i];
  float *input = calloc((size_t)count, sizeof *input);
  for (int64_t i = 0; i < count; i++) input[i] = (float)((i * 7) % 11) / 11.0f - 0.4f;
  sp_tensor *tensor = sp_tensor_wrap(SP_FLOAT32, rank + 1, batch_shape, input);
  int outputs;
  sp_tensor **expected;
  SP_ASSERT_OK(sp_model_predict(model, 1, (const sp_tensor *const *)&tensor, &outputs, &expected));
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    char *path = sp_path_join(directory, names[i]);
    sp_save_options options = sp_save_defaults();
    options.format = formats[i];
    int weights_only = i == 2 || i == 3, architecture = i == 5;
    SP_ASSERT_OK(weights_only ? sp_save_weights(model, path, &options) : sp_save(model, path, &options));
    sp_model *copy = NULL;
    if (weights_only) {
      copy = family_model(family, rank, shape);
      sp_variable **variables;
      int n = sp_model_collect_variables(copy, &variables, 0);
      for (int v = 0; v < n; v++) memset(variables[v]->value->data, 0, variables[v]->value->size);
      free(variables);
      SP_ASSERT_OK(sp_load_weights(copy, path, NULL));
    } else {
      SP_ASSERT_OK(sp_load(path, NULL, &copy));
    }
    if (!architecture) {
      cr_assert(sp_test_same_weights(model, copy), "%s %s did not round-trip", family, names[i]);
      sp_test_predict_close(copy, input, rank + 1, batch_shape, sp_tensor_floats(expected[0]),
                            (size_t)sp_tensor_count(expected[0]), names[i]);
    } else {
      cr_assert_eq(sp_model_parameter_count(copy, 0), sp_model_parameter_count(model, 0));
    }
    sp_model_free(copy);
    free(path);
  }
  sp_tensor_free(expected[0]);
  free(expected);
  sp_tensor_free(tensor);
  free(input);
  sp_model_free(model);
  free(directory);
}

Test(keras_v3, conv_pooling_and_batch_norm_round_trip_in_every_format) {
  round_trip_family("conv", 3, (int64_t[]){8, 8, 2});
}

Test(keras_v3, recurrent_and_layer_norm_round_trip_in_every_format) {
  round_trip_family("recurrent", 2, (int64_t[]){5, 4});
}

Test(keras_v3, hls4ml_conv2d_json_plus_weights_equals_its_keras_2_3_1_twin) {
  char *json = sp_test_fixture("hls4ml-example-models-keras2.0-json-weights/keras/KERAS_conv2d_model.json");
  char *weights = sp_test_fixture("hls4ml-example-models-keras2.0-json-weights/keras/KERAS_conv2d_model_weights.h5");
  sp_model *model = NULL, *twin = sp_test_load_fixture("hls4ml-example-models-keras2.3.1-h5/keras/keras_conv2d_model.h5");
  SP_ASSERT_OK(sp_load(json, NULL, &model));
  SP_ASSERT_OK(sp_load_weights(model, weights, NULL));
  cr_assert(sp_test_same_weights(model, twin), "PROVENANCE: the 2.0 weights and the 2.3.1 model are bit-identical");
  sp_model_free(model);
  sp_model_free(twin);
  free(json);
  free(weights);
}
