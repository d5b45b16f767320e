/* Tests of sp_probe and of load dispatch: what a path holds (SavedModel directory, TF Serving
 * base path, checkpoint, TFLite, TF.js, architecture JSON), and the messages a load gives when
 * the path says one format and the content is another — the field's most common mistake. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "io_check.h"
#include "savepoint/io.h"

static sp_probe_info probe_fixture(const char *relative) {
  char *path = sp_test_fixture(relative);
  sp_probe_info info;
  SP_ASSERT_OK(sp_probe(path, &info));
  free(path);
  return info;
}

Test(probe, serving_base_path_names_its_highest_version) {
  sp_probe_info info = probe_fixture("tfserving-testdata/saved_model_half_plus_two_2_versions");
  cr_assert_eq(info.format, SP_FORMAT_SERVING_BASE, "%s", info.description);
  cr_assert(strstr(info.description, "the highest version is 124"), "%s", info.description);
  cr_assert(sp_path_has_suffix(info.resolved_path, "/00000124"), "%s", info.resolved_path);
  char *path = sp_test_fixture("tfserving-testdata/saved_model_half_plus_two_2_versions");
  sp_model *model = NULL;
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_MISMATCH, "00000124");
  free(path);
}

Test(probe, saved_model_directory_and_its_graph_file) {
  sp_probe_info info = probe_fixture("tfserving-testdata/saved_model_half_plus_two_cpu/00000123");
  cr_assert_eq(info.format, SP_FORMAT_SAVED_MODEL, "%s", info.description);
  info = probe_fixture("tfserving-testdata/saved_model_half_plus_two_cpu/00000123/saved_model.pb");
  cr_assert_eq(info.format, SP_FORMAT_SAVED_MODEL);
  cr_assert(sp_path_has_suffix(info.resolved_path, "00000123"), "%s", info.resolved_path);
}

Test(probe, checkpoints_by_prefix_index_and_data_file) {
  sp_probe_info info = probe_fixture("tf-trt-mnist-ckpt/model.ckpt-46900.index");
  cr_assert_eq(info.format, SP_FORMAT_CHECKPOINT, "%s", info.description);
  cr_assert(sp_path_has_suffix(info.resolved_path, "model.ckpt-46900"), "%s", info.resolved_path);
  info = probe_fixture("tf-trt-mnist-ckpt/model.ckpt-46900.data-00000-of-00001");
  cr_assert_eq(info.format, SP_FORMAT_CHECKPOINT);
  char *prefix = sp_test_fixture("tf-trt-mnist-ckpt");
  char *full = sp_path_join(prefix, "model.ckpt-46900");
  SP_ASSERT_OK(sp_probe(full, &info));
  cr_assert_eq(info.format, SP_FORMAT_CHECKPOINT, "%s", info.description);
  SP_ASSERT_OK(sp_probe(prefix, &info));
  cr_assert_eq(info.format, SP_FORMAT_CHECKPOINT, "%s", info.description);
  cr_assert(sp_path_has_suffix(info.resolved_path, "model.ckpt-46900"), "%s", info.resolved_path);
  free(full);
  free(prefix);
}

Test(probe, tflite_flatbuffer_says_what_it_is) {
  sp_probe_info info = probe_fixture("tflite-testdata/add.bin");
  cr_assert_eq(info.format, SP_FORMAT_TFLITE);
  cr_assert(strstr(info.description, "TensorFlow Lite"), "%s", info.description);
  char *path = sp_test_fixture("tflite-testdata/add.bin");
  sp_model *model = NULL;
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSUPPORTED, "TensorFlow Lite");
  free(path);
}

Test(probe, an_h5_path_that_is_a_saved_model_directory) {
  char *directory = sp_test_temp_dir("probe-h5-dir");
  char *fake = sp_path_join(directory, "model.h5");
  SP_ASSERT_OK(sp_make_directories(fake));
  char *graph = sp_path_join(fake, "saved_model.pb");
  SP_ASSERT_OK(sp_write_file_atomic(graph, "\x08\x01", 2));
  sp_model *model = NULL;
  SP_ASSERT_FAILS(sp_load(fake, NULL, &model), SP_ERROR_MISMATCH, "is a SavedModel directory, not an HDF5 file");
  cr_assert(strstr(sp_last_error(), "format savedmodel"), "%s", sp_last_error());
  free(graph);
  free(fake);
  free(directory);
}

Test(probe, missing_paths_and_unknown_names) {
  sp_probe_info info;
  SP_ASSERT_FAILS(sp_probe("/nonexistent/savepoint/model.keras", &info), SP_ERROR_NOT_FOUND, "nothing exists");
  sp_model *model = sp_sequential("m");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){2})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(1, NULL)));
  SP_ASSERT_FAILS(sp_save(model, "/tmp/model.bin", NULL), SP_ERROR_INVALID_ARGUMENT, "`.keras` extension");
  sp_model_free(model);
}
