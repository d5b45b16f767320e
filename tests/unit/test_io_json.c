/* Tests of the architecture-only JSON codec (model.to_json / model_from_json): both layouts
 * read, write and round-trip, and configs that name code are refused. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "formats/codec.h"
#include "io_check.h"
#include "savepoint/io.h"

Test(json_arch, keras3_to_json_fixture_loads_and_round_trips) {
  char *path = sp_test_fixture("keras3-weights-h5-diabetes/model.json");
  sp_probe_info info;
  SP_ASSERT_OK(sp_probe(path, &info));
  cr_assert_eq(info.format, SP_FORMAT_JSON, "%s", info.description);
  cr_assert(strstr(info.description, "Keras 3 layout"), "%s", info.description);
  sp_model *model = NULL;
  SP_ASSERT_OK(sp_load(path, NULL, &model));
  cr_assert_eq(sp_model_parameter_count(model, 0), 8 * 12 + 12 + 12 * 8 + 8 + 8 + 1);
  /* Written back in the Keras 3 layout, the file is the fixture's text (compile_config kept). */
  char *directory = sp_test_temp_dir("json-arch");
  char *copy = sp_path_join(directory, "model.json.json");
  SP_ASSERT_OK(sp_save(model, copy, NULL));
  uint8_t *original, *written;
  size_t original_size, written_size;
  SP_ASSERT_OK(sp_read_file(path, 1 << 20, &original, &original_size));
  SP_ASSERT_OK(sp_read_file(copy, 1 << 20, &written, &written_size));
  cr_assert_eq(written_size, original_size, "%.*s", (int)written_size, written);
  cr_assert(memcmp(original, written, original_size) == 0);
  free(original);
  free(written);
  sp_model_free(model);
  free(copy);
  free(directory);
  free(path);
}

Test(json_arch, keras2_to_json_fixture_loads_and_writes_both_layouts) {
  char *path = sp_test_fixture("hls4ml-example-models-keras2.0-json-weights/keras/KERAS_3layer.json");
  sp_model *model = NULL;
  SP_ASSERT_OK(sp_load(path, NULL, &model));
  cr_assert_eq(sp_model_parameter_count(model, 0), 16 * 64 + 64 + 64 * 32 + 32 + 32 * 32 + 32 + 32 * 5 + 5);
  char *directory = sp_test_temp_dir("json-arch-2");
  char *keras2 = sp_path_join(directory, "k2.json"), *keras3 = sp_path_join(directory, "k3.json");
  sp_save_options options = sp_save_defaults();
  options.keras_major = 2;
  SP_ASSERT_OK(sp_save(model, keras2, &options));
  SP_ASSERT_OK(sp_save(model, keras3, NULL));
  json_object *root;
  SP_ASSERT_OK(sp_codec_read_json(keras2, 1 << 20, &root));
  cr_assert_str_eq(json_object_get_string(sp_json_member(root, "keras_version")), "2.15.0");
  cr_assert_null(sp_json_member(root, "module"));
  json_object_put(root);
  SP_ASSERT_OK(sp_codec_read_json(keras3, 1 << 20, &root));
  cr_assert_str_eq(json_object_get_string(sp_json_member(root, "class_name")), "Functional");
  cr_assert_not_null(sp_json_member(root, "module"));
  json_object_put(root);
  sp_model *again = NULL;
  SP_ASSERT_OK(sp_load(keras3, NULL, &again));
  cr_assert_eq(sp_model_parameter_count(again, 0), sp_model_parameter_count(model, 0));
  sp_model_free(again);
  sp_model_free(model);
  free(keras2);
  free(keras3);
  free(directory);
  free(path);
}

Test(json_arch, lambda_and_foreign_modules_are_refused) {
  char *directory = sp_test_temp_dir("json-arch-unsafe");
  char *path = sp_path_join(directory, "evil.json");
  const char *lambda = "{\"module\": \"keras\", \"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": "
                       "[{\"module\": \"keras.layers\", \"class_name\": \"Lambda\", \"config\": {\"name\": \"l\", "
                       "\"function\": {\"class_name\": \"__lambda__\", \"config\": {\"value\": [\"4wEAAAAA\"]}}}}]}}";
  SP_ASSERT_OK(sp_write_file_atomic(path, lambda, strlen(lambda)));
  sp_model *model = NULL;
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSAFE, "never runs code");
  const char *foreign = "{\"module\": \"os\", \"class_name\": \"system\", \"config\": {\"command\": \"id\"}}";
  SP_ASSERT_OK(sp_write_file_atomic(path, foreign, strlen(foreign)));
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSAFE, "outside the Keras namespaces");
  cr_assert_null(model);
  free(path);
  free(directory);
}
