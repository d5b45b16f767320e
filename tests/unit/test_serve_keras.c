/* Tests of the Keras-model servable adapter (src/serve/servable_keras.c) over a model built in C,
 * until the .keras/.h5/TF.js loaders are merged: the serving_default signature comes from the
 * model's input and output names and shapes (batch dimension -1, DT_FLOAT, method predict), a
 * run through the servable gives what sp_model_predict gives for the same inputs, and inputs of
 * the wrong shape or dtype are refused naming the input before the model runs. A version
 * directory with a Keras file is recognised (probe) and, without the loaders, refused with a
 * message saying so. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "savepoint/model.h"
#include "serve/servable.h"
#include "serve/servable_formats.h"
#include "test_support.h"

static sp_model *small_model(void) {
  sp_model *model = sp_sequential("scorer");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){3})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(2, "sigmoid")));
  sp_model_set_seed(model, 7);
  SP_ASSERT_OK(sp_model_build(model));
  return model;
}

Test(serve_keras, signature_from_the_model) {
  sp_servable *servable = NULL;
  SP_ASSERT_OK(sp_servable_from_keras_model(small_model(), "keras", "test", &servable));
  cr_assert_eq(servable->signature_count, 1);
  const sp_signature *signature = sp_servable_signature(servable, SP_DEFAULT_SIGNATURE);
  cr_assert_not_null(signature);
  cr_assert_str_eq(signature->method_name, SP_METHOD_PREDICT);
  cr_assert_eq(signature->input_count, 1);
  cr_assert_eq(signature->output_count, 1);
  cr_assert_eq(signature->inputs[0].dtype, SP_FLOAT32);
  cr_assert_eq(signature->inputs[0].rank, 2);
  cr_assert(signature->inputs[0].dims[0] == -1 && signature->inputs[0].dims[1] == 3);
  cr_assert(signature->outputs[0].dims[0] == -1 && signature->outputs[0].dims[1] == 2);
  cr_assert(strstr(servable->description, "scorer"));
  sp_servable_free(servable);
}

Test(serve_keras, runs_like_the_model) {
  sp_model *reference = small_model();
  sp_servable *servable = NULL;
  SP_ASSERT_OK(sp_servable_from_keras_model(small_model(), "keras", "test", &servable));
  float values[] = {0.5f, -1.0f, 2.0f, 0.0f, 0.25f, 3.0f};
  sp_tensor *x = sp_tensor_wrap(SP_FLOAT32, 2, (int64_t[]){2, 3}, values);
  const sp_signature *signature = sp_servable_signature(servable, SP_DEFAULT_SIGNATURE);
  const char *key = signature->inputs[0].key;
  size_t count = 0;
  char **keys = NULL;
  sp_tensor **outputs = NULL;
  SP_ASSERT_OK(sp_servable_run(servable, signature, 1, &key, (const sp_tensor *const *)&x, &count, &keys, &outputs));
  cr_assert_eq(count, 1);
  cr_assert_str_eq(keys[0], signature->outputs[0].key);
  int produced = 0;
  sp_tensor **expected = NULL;
  SP_ASSERT_OK(sp_model_predict(reference, 1, (const sp_tensor *const *)&x, &produced, &expected));
  cr_assert(sp_tensor_same_shape(outputs[0], expected[0]));
  sp_assert_close(sp_tensor_floats(outputs[0]), sp_tensor_floats(expected[0]), 4, 0, 0, "output");
  sp_tensor_free(expected[0]);
  free(expected);
  sp_servable_outputs_free(count, keys, outputs);

  sp_tensor *wrong = sp_tensor_wrap(SP_FLOAT32, 2, (int64_t[]){3, 2}, values);
  SP_ASSERT_FAILS(
      sp_servable_run(servable, signature, 1, &key, (const sp_tensor *const *)&wrong, &count, &keys, &outputs),
      SP_ERROR_INVALID_ARGUMENT, "must have shape [-1, 3]");
  int32_t integers[6] = {0};
  sp_tensor *ints = sp_tensor_wrap(SP_INT32, 2, (int64_t[]){2, 3}, integers);
  SP_ASSERT_FAILS(
      sp_servable_run(servable, signature, 1, &key, (const sp_tensor *const *)&ints, &count, &keys, &outputs),
      SP_ERROR_INVALID_ARGUMENT, "must be DT_FLOAT");
  const char *other = "nope";
  SP_ASSERT_FAILS(
      sp_servable_run(servable, signature, 1, &other, (const sp_tensor *const *)&x, &count, &keys, &outputs),
      SP_ERROR_INVALID_ARGUMENT, "'nope' is not an input");
  sp_tensor_free(x);
  sp_tensor_free(wrong);
  sp_tensor_free(ints);
  sp_servable_free(servable);
  sp_model_free(reference);
}

Test(serve_keras, keras_version_directories_are_recognised) {
  char *directory = sp_test_temp_dir("serve_keras_probe");
  char *file = sp_path_join(directory, "model.keras");
  SP_ASSERT_OK(sp_write_file_atomic(file, "PK", 2));
  cr_assert(sp_servable_format_keras.probe(directory));
  cr_assert(!sp_servable_format_saved_model.probe(directory));
  char *weights_only = sp_path_join(directory, "extra.weights.h5");
  SP_ASSERT_OK(sp_write_file_atomic(weights_only, "x", 1));
  sp_servable *servable = NULL;
  sp_status status = sp_servable_load(directory, NULL, &servable);
  cr_assert_neq(status, SP_OK); /* a 2-byte "zip" is no model, whatever the loaders say */
  cr_assert_null(servable);
  cr_assert(strstr(sp_last_error(), "model.keras"), "%s", sp_last_error());
  SP_ASSERT_OK(sp_remove_tree(directory));
  free(weights_only);
  free(file);
  free(directory);
}
