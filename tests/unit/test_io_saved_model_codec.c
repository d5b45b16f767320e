/* test_io_saved_model_codec.c — the SavedModel row of the codec table: sp_save with format
 * savedmodel exports (a directory TF Serving loads: saved_model.pb, variables/, manifest), replaces
 * only a SavedModel or an empty directory, and sp_load rebuilds the Keras model of a tf.keras
 * SavedModel (the same one sp_load_keras_saved_model gives, bit for bit). */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "core/file.h"
#include "io_check.h"
#include "savepoint/io.h"
#include "savepoint/saved_model.h"

static sp_save_options saved_model_format(void) {
  sp_save_options options = sp_save_defaults();
  options.format = SP_FORMAT_SAVED_MODEL;
  return options;
}

static int has_file(const char *directory, const char *name) {
  char *path = sp_path_join(directory, name);
  int present = sp_is_regular_file(path);
  free(path);
  return present;
}

Test(saved_model_codec, save_exports_and_replaces_only_a_saved_model) {
  sp_model *model = sp_test_load_fixture("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model.h5");
  char *root = sp_test_temp_dir("saved-model-codec");
  char *directory = sp_path_join(root, "export");
  sp_save_options options = saved_model_format();
  SP_ASSERT_OK(sp_save(model, directory, &options));
  cr_assert(has_file(directory, "saved_model.pb") && has_file(directory, "savepoint.sha256"));
  sp_probe_info info;
  SP_ASSERT_OK(sp_probe(directory, &info));
  cr_assert_eq(info.format, SP_FORMAT_SAVED_MODEL);
  SP_ASSERT_OK(sp_save(model, directory, &options)); /* an existing SavedModel is replaced */
  char *other = sp_path_join(root, "other");
  SP_ASSERT_OK(sp_make_directories(other));
  char *stray = sp_path_join(other, "notes.txt");
  SP_ASSERT_OK(sp_write_file_atomic(stray, "x", 1));
  SP_ASSERT_FAILS(sp_save(model, other, &options), SP_ERROR_EXISTS, "replaces only a SavedModel");
  cr_assert(sp_is_regular_file(stray), "the refused directory must be left alone");
  free(stray);
  free(other);
  free(directory);
  free(root);
  sp_model_free(model);
}

Test(saved_model_codec, load_rebuilds_a_keras_saved_model) {
  char *path = sp_test_fixture("keras-savedmodel-mlmath4-tf2.12/model");
  sp_model *through_codec = NULL, *direct = NULL;
  SP_ASSERT_OK(sp_load(path, NULL, &through_codec));
  SP_ASSERT_OK(sp_load_keras_saved_model(path, &direct));
  cr_assert(sp_test_same_weights(through_codec, direct));
  sp_model_free(through_codec);
  sp_model_free(direct);
  free(path);
}
