/* Tests of the TensorFlow.js layers codec: every TF.js layers fixture loads and reproduces its
 * Appendix F outputs (PROVENANCE.md), our export reads back bit-identical with shards cut where
 * asked, and hostile manifests (escaping paths, truncated shards, absurd shapes) are refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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
