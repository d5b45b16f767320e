/* Tests of the TensorFlow.js layers codec: every TF.js layers fixture loads and reproduces its
 * Appendix F outputs (PROVENANCE.md), our export reads back bit-identical with shards cut where
 * asked, and hostile manifests (escaping paths, truncated shards, absurd shapes) are refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/memory.h"
#include "formats/codec.h"
#include "io_check.h"
#include "savepoint/io.h"

Test(tfjs, abalone_tfjs_layers_1_3_2_matches_appendix_f) {
  sp_model *model = sp_test_load_fixture("tfjs-layers-abalone-tfjs1.3.2/abalone-node/trainedModel/model.json");
  float *rows = sp_test_gen(8);
  const float expected[] = {8.890125f, 11.62151f, 10.75324f};
  sp_test_predict_close(model, rows, 2, (int64_t[]){3, 8}, expected, 3, "abalone");
  free(rows);
  sp_model_free(model);
}

Test(tfjs, react_native_bundle_with_bare_list_config_matches_appendix_f) {
  sp_model *model = sp_test_load_fixture("tfjs-rn-bundle-dense/model/bundle_model_test.json");
  float *rows = sp_test_gen(10);
  const float expected[] = {0.1612433f, 0.9954263f, -1.220814f};
  sp_test_predict_close(model, rows, 2, (int64_t[]){3, 10}, expected, 3, "rn bundle");
  free(rows);
  sp_model_free(model);
}

Test(tfjs, converted_keras_2_15_maternal_health_matches_appendix_f) {
  sp_model *model = sp_test_load_fixture("tfjs-layers-from-keras2.15-maternal-health/tfjs_model/model.json");
  float *rows = sp_test_gen(5);
  const float expected[] = {0.4647651f, 0.3144669f, 0.2207681f, 0.4159444f, 0.3187284f,
                            0.2653272f, 0.5266374f, 0.2900032f, 0.1833594f};
  sp_test_predict_close(model, rows, 2, (int64_t[]){3, 5}, expected, 9, "maternal health");
  free(rows);
  sp_model_free(model);
}

Test(tfjs, mnist_directory_loads_through_its_model_json) {
  char *directory = sp_test_fixture("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model");
  sp_model *model = NULL;
  SP_ASSERT_OK(sp_load(directory, NULL, &model));
  float *images = calloc(2 * 784, sizeof *images);
  for (int i = 784; i < 2 * 784; i++) images[i] = 1;
  sp_test_predict_close(model, images, 3, (int64_t[]){2, 28, 28}, sp_test_mnist_expected, 20, "mnist tfjs");
  free(images);
  sp_model_free(model);
  free(directory);
}

Test(tfjs, embedding_gru_e2e_model_matches_its_test_values) {
  sp_test_require_layer("GRU", "recurrent");
  sp_model *model = sp_test_load_fixture("tfjs-e2e-load-predict/load_predict_data/layers_model/model.json");
  const float tokens[] = {86, 11, 62, 40, 36, 75, 82, 94, 67, 75};
  /* e2e/integration_tests/load_predict_test.ts */
  const float expected[] = {-0.003578941337764263f, 0.0028922036290168762f, -0.002957976423203945f, 0.00955402385443449f};
  sp_test_predict_close(model, tokens, 2, (int64_t[]){1, 10}, expected, 4, "e2e GRU");
  sp_model_free(model);
}

static sp_model *small_model(void) {
  sp_model *model = sp_sequential("small");
  cr_assert_not_null(model);
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){3})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(5, "relu")));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(2, "softmax")));
  sp_model_set_seed(model, 7);
  SP_ASSERT_OK(sp_model_build(model));
  SP_ASSERT_OK(sp_model_initialize(model));
  return model;
}

Test(tfjs, export_round_trips_bit_identical_across_shards) {
  sp_model *model = small_model();
  char *directory = sp_test_temp_dir("tfjs-export");
  char *target = sp_path_join(directory, "web");
  sp_save_options options = sp_save_defaults();
  options.format = SP_FORMAT_TFJS;
  options.tfjs_shard_bytes = 24; /* 15 + 5 + 10 + 2 floats = 128 bytes → 6 shards; weights span shards */
  SP_ASSERT_OK(sp_save(model, target, &options));
  char *shard = sp_strdupf("%s/group1-shard6of6.bin", target);
  uint64_t size = 0;
  SP_ASSERT_OK(sp_file_size(shard, &size));
  cr_assert_eq(size, 128 - 5 * 24);
  sp_probe_info info;
  SP_ASSERT_OK(sp_probe(target, &info));
  cr_assert_eq(info.format, SP_FORMAT_TFJS, "%s", info.description);
  sp_model *copy = NULL;
  SP_ASSERT_OK(sp_load(target, NULL, &copy));
  cr_assert(sp_test_same_weights(model, copy));
  /* Saving again replaces the directory whole: no stale shards remain. */
  options.tfjs_shard_bytes = SP_TFJS_DEFAULT_SHARD_BYTES;
  SP_ASSERT_OK(sp_save(model, target, &options));
  cr_assert(!sp_path_exists(shard), "an old shard survived the replacement");
  /* A trailing slash names the directory too, and needs no format option. */
  char *slashed = sp_strdupf("%s/web2/", directory);
  SP_ASSERT_OK(sp_save(model, slashed, NULL));
  char *json = sp_strdupf("%s/web2/model.json", directory);
  cr_assert(sp_is_regular_file(json), "%s was not written", json);
  free(json);
  free(slashed);
  sp_model_free(copy);
  sp_model_free(model);
  free(shard);
  free(target);
  free(directory);
}

Test(tfjs, refuses_to_replace_a_directory_that_is_not_a_tfjs_model) {
  sp_model *model = small_model();
  char *directory = sp_test_temp_dir("tfjs-refuse");
  char *keep = sp_path_join(directory, "notes.txt");
  SP_ASSERT_OK(sp_write_file_atomic(keep, "mine", 4));
  sp_save_options options = sp_save_defaults();
  options.format = SP_FORMAT_TFJS;
  SP_ASSERT_FAILS(sp_save(model, directory, &options), SP_ERROR_EXISTS, "not a TensorFlow.js model");
  cr_assert(sp_path_exists(keep));
  sp_model_free(model);
  free(keep);
  free(directory);
}

static char *write_hostile(const char *name, const char *manifest, const char *shard, size_t shard_size) {
  char *directory = sp_test_temp_dir(name);
  char *json = sp_strdupf("{\"format\": \"layers-model\", \"modelTopology\": {\"class_name\": \"Sequential\", \"config\": "
                          "{\"name\": \"s\", \"layers\": [{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", "
                          "\"units\": 1, \"batch_input_shape\": [null, 2]}}]}}, \"weightsManifest\": %s}", manifest);
  char *path = sp_path_join(directory, "model.json");
  SP_ASSERT_OK(sp_write_file_atomic(path, json, strlen(json)));
  if (shard) {
    char *shard_path = sp_path_join(directory, "w.bin");
    SP_ASSERT_OK(sp_write_file_atomic(shard_path, shard, shard_size));
    free(shard_path);
  }
  free(json);
  free(directory);
  return path;
}

Test(tfjs, hostile_manifests_are_refused_with_clear_errors) {
  static const char zeros[12] = {0};
  sp_model *model = NULL;
  char *path = write_hostile("tfjs-escape", "[{\"paths\": [\"../../etc/passwd\"], \"weights\": [{\"name\": \"d/kernel\", "
                             "\"shape\": [2, 1], \"dtype\": \"float32\"}]}]", NULL, 0);
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSAFE, "not a plain relative name");
  free(path);
  path = write_hostile("tfjs-truncated", "[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"d/kernel\", \"shape\": [2, 1], "
                       "\"dtype\": \"float32\"}, {\"name\": \"d/bias\", \"shape\": [1], \"dtype\": \"float32\"}]}]", zeros, 8);
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_FORMAT, "truncated");
  free(path);
  path = write_hostile("tfjs-huge", "[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"d/kernel\", \"shape\": "
                       "[4611686018427387904, 4], \"dtype\": \"float32\"}]}]", zeros, 12);
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSAFE, "d/kernel");
  free(path);
  path = write_hostile("tfjs-dtype", "[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"d/kernel\", \"shape\": [2, 1], "
                       "\"dtype\": \"complex64\"}]}]", zeros, 12);
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSUPPORTED, "complex64");
  free(path);
  path = write_hostile("tfjs-renamed", "[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"other/kernel\", \"shape\": [2, 1], "
                       "\"dtype\": \"float32\"}, {\"name\": \"d/bias\", \"shape\": [1], \"dtype\": \"float32\"}]}]", zeros, 12);
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_MISMATCH, "matches no variable");
  free(path);
  cr_assert_null(model);
}

/* ---- shards read straight into tensors, written straight from them ---- */

/* A directory holding model.json for Dense "d" (2 inputs, 1 unit) with the given manifest and
 * the given shard files (name, bytes, size; a NULL name ends the list). Returns model.json's path. */
typedef struct shard_bytes {
  const char *name;
  const unsigned char *bytes;
  size_t size;
} shard_bytes;

static char *write_model(const char *name, const char *manifest, const shard_bytes *shards) {
  char *path = write_hostile(name, manifest, NULL, 0);
  char *directory = sp_path_dirname(path);
  for (const shard_bytes *shard = shards; shard && shard->name; shard++) {
    char *shard_path = sp_path_join(directory, shard->name);
    SP_ASSERT_OK(sp_write_file_atomic(shard_path, shard->bytes, shard->size));
    free(shard_path);
  }
  free(directory);
  return path;
}

static const float *dense_values(const sp_model *model, int which) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  cr_assert_eq(count, 2);
  const float *values = sp_tensor_floats(variables[which]->value);
  free(variables);
  return values;
}

/* kernel {1.5, -2} and bias {0.25} as little-endian float32 (IEEE 754: 0x3FC00000, 0xC0000000,
 * 0x3E800000), cut 6 + 6 bytes so the kernel's second value spans both files. */
static const unsigned char float_first[] = {0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00};
static const unsigned char float_second[] = {0x00, 0xC0, 0x00, 0x00, 0x80, 0x3E};
#define FLOAT_MANIFEST                                                                                          \
  "[{\"paths\": [\"a.bin\", \"b.bin\"], \"weights\": [{\"name\": \"d/kernel\", \"shape\": [2, 1], \"dtype\": " \
  "\"float32\"}, {\"name\": \"d/bias\", \"shape\": [1], \"dtype\": \"float32\"}]}]"

/* Writes a model with manifest and shards under name, loads it, and checks that its Dense layer
 * holds kernel {kernel_first, kernel_second} and bias {bias}. */
static void check_dense_load(const char *name, const char *manifest, const shard_bytes *shards, float kernel_first,
                             float kernel_second, float bias) {
  char *path = write_model(name, manifest, shards);
  sp_model *model = NULL;
  SP_ASSERT_OK(sp_load(path, NULL, &model));
  const float *kernel = dense_values(model, 0), *bias_values = dense_values(model, 1);
  cr_assert_eq(kernel[0], kernel_first);
  cr_assert_eq(kernel[1], kernel_second);
  cr_assert_eq(bias_values[0], bias);
  sp_model_free(model);
  free(path);
}

Test(tfjs, a_weight_spanning_two_shard_files_is_read_from_both) {
  const shard_bytes shards[] = {{"a.bin", float_first, 6}, {"b.bin", float_second, 6}, {NULL, NULL, 0}};
  check_dense_load("tfjs-span", FLOAT_MANIFEST, shards, 1.5f, -2.0f, 0.25f);
}

Test(tfjs, quantized_weights_spanning_shards_are_converted) {
  /* tfjs-converter's dequantization: value = q * scale + min (uint8), float16 widened. kernel
   * uint8 {4, 1} with min -1, scale 0.5 → {1, -0.5}; bias float16 0x3400 = 0.25. Cut 3 + 1 bytes. */
  static const unsigned char first[] = {4, 1, 0x00}, second[] = {0x34};
  const shard_bytes shards[] = {{"a.bin", first, 3}, {"b.bin", second, 1}, {NULL, NULL, 0}};
  check_dense_load("tfjs-quantized-span",
                   "[{\"paths\": [\"a.bin\", \"b.bin\"], \"weights\": [{\"name\": \"d/kernel\", \"shape\": [2, 1], "
                   "\"dtype\": \"float32\", \"quantization\": {\"dtype\": \"uint8\", \"min\": -1, \"scale\": 0.5}}, "
                   "{\"name\": \"d/bias\", \"shape\": [1], \"dtype\": \"float32\", \"quantization\": "
                   "{\"dtype\": \"float16\"}}]}]",
                   shards, 1.0f, -0.5f, 0.25f);
}

Test(tfjs, a_manifest_that_does_not_fit_the_model_changes_none_of_its_weights) {
  const shard_bytes shards[] = {{"a.bin", float_first, 6}, {"b.bin", float_second, 6}, {NULL, NULL, 0}};
  char *path = write_model("tfjs-fits", FLOAT_MANIFEST, shards);
  sp_model *model = NULL;
  SP_ASSERT_OK(sp_load(path, NULL, &model));
  static const unsigned char ones[12] = {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x80, 0x3F};
  const shard_bytes other[] = {{"w.bin", ones, 12}, {NULL, NULL, 0}};
  /* The kernel matches and comes first; the second weight names no variable. */
  char *renamed = write_model("tfjs-renamed-second", "[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"d/kernel\", "
                              "\"shape\": [2, 1], \"dtype\": \"float32\"}, {\"name\": \"other/bias\", \"shape\": [1], "
                              "\"dtype\": \"float32\"}]}]", other);
  SP_ASSERT_FAILS(sp_load_weights(model, renamed, NULL), SP_ERROR_MISMATCH, "matches no variable");
  /* The kernel matches; the bias has the wrong shape. */
  char *reshaped = write_model("tfjs-reshaped-second", "[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"d/kernel\", "
                               "\"shape\": [2, 1], \"dtype\": \"float32\"}, {\"name\": \"d/bias\", \"shape\": [1, 1], "
                               "\"dtype\": \"float32\"}]}]", other);
  SP_ASSERT_FAILS(sp_load_weights(model, reshaped, NULL), SP_ERROR_MISMATCH, "has shape");
  const float *kernel = dense_values(model, 0);
  cr_assert_eq(kernel[0], 1.5f, "a refused manifest overwrote the kernel");
  cr_assert_eq(kernel[1], -2.0f, "a refused manifest overwrote the kernel");
  sp_model_free(model);
  free(reshaped);
  free(renamed);
  free(path);
}

Test(tfjs, shards_longer_than_the_manifest_or_linked_elsewhere_are_refused) {
  static const unsigned char sixteen[16] = {0};
  const shard_bytes longer[] = {{"w.bin", sixteen, 16}, {NULL, NULL, 0}};
  sp_model *model = NULL;
  char *path = write_model("tfjs-longer", "[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"d/kernel\", \"shape\": "
                           "[2, 1], \"dtype\": \"float32\"}, {\"name\": \"d/bias\", \"shape\": [1], \"dtype\": "
                           "\"float32\"}]}]", longer);
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_FORMAT, "need 12 bytes but its 1 shard file holds 16");
  free(path);
  const shard_bytes shards[] = {{"a.bin", float_first, 6}, {"b.bin", float_second, 6}, {NULL, NULL, 0}};
  path = write_model("tfjs-linked", FLOAT_MANIFEST, shards);
  char *directory = sp_path_dirname(path), *second = sp_path_join(directory, "b.bin");
  cr_assert_eq(unlink(second), 0);
  cr_assert_eq(symlink("a.bin", second), 0);
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSAFE, "not a regular file");
  cr_assert_null(model);
  free(second);
  free(directory);
  free(path);
}

/* The value savepoint gives element i of variable v below: exact in float32. */
static float formula(int variable, int64_t element) { return (float)(variable * 100 + element) * 0.25f - 3.0f; }

Test(tfjs, shard_files_hold_the_tensor_bytes_in_order_cut_every_shard_size) {
  sp_model *model = small_model();
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  cr_assert_eq(count, 4);
  int64_t total = 0;
  for (int v = 0; v < count; v++) {
    float *values = sp_tensor_floats(variables[v]->value);
    for (int64_t i = 0; i < sp_tensor_count(variables[v]->value); i++) values[i] = formula(v, i);
    total += sp_tensor_count(variables[v]->value);
  }
  cr_assert_eq(total, 15 + 5 + 10 + 2);
  char *directory = sp_test_temp_dir("tfjs-layout");
  char *target = sp_path_join(directory, "web");
  sp_save_options options = sp_save_defaults();
  options.format = SP_FORMAT_TFJS;
  options.tfjs_shard_bytes = 20; /* 128 bytes: six shards of 20 and one of 8; cuts fall inside values' neighbours */
  SP_ASSERT_OK(sp_save(model, target, &options));
  /* Keras 2 order for two Dense layers: kernel, bias, kernel, bias — the order of the variables. */
  float expected[32];
  int next = 0;
  for (int v = 0; v < count; v++)
    for (int64_t i = 0; i < sp_tensor_count(variables[v]->value); i++) expected[next++] = formula(v, i);
  unsigned char concatenated[128];
  size_t offset = 0;
  for (int shard = 1; shard <= 7; shard++) {
    char *path = sp_strdupf("%s/group1-shard%dof7.bin", target, shard);
    uint8_t *bytes = NULL;
    size_t size = 0;
    SP_ASSERT_OK(sp_read_file(path, 1024, &bytes, &size));
    cr_assert_eq(size, shard < 7 ? 20u : 8u, "%s holds %zu bytes", path, size);
    memcpy(concatenated + offset, bytes, size);
    offset += size;
    free(bytes);
    free(path);
  }
  cr_assert_eq(offset, sizeof expected);
  cr_assert_eq(memcmp(concatenated, expected, sizeof expected), 0, "the shards are not the tensors' bytes in order");
  /* Nothing but the published directory is left beside it: no temporary names. */
  char **names = NULL;
  size_t name_count = 0;
  SP_ASSERT_OK(sp_list_directory(directory, 16, &names, &name_count));
  cr_assert_eq(name_count, 1);
  cr_assert_str_eq(names[0], "web");
  sp_free_names(names, name_count);
  SP_ASSERT_OK(sp_list_directory(target, 16, &names, &name_count));
  cr_assert_eq(name_count, 8, "expected model.json and 7 shards, found %zu names", name_count);
  for (size_t i = 0; i < name_count; i++) cr_assert(!sp_path_is_temporary(names[i]), "%s left behind", names[i]);
  sp_free_names(names, name_count);
  free(variables);
  free(target);
  free(directory);
  sp_model_free(model);
}
