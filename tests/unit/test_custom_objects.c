/* Tests of custom objects: a per-load table is seen only while its scope is current, a name
 * found nowhere fails with the list of registered names and how to register one, and
 * Keras's to_snake_case is reproduced exactly (the names .keras weight paths are built from). */
#include <criterion/criterion.h>
#include <string.h>

#include "nn/custom_objects.h"
#include "nn/model.h"
#include "test_support.h"

static void double_it(const float *x, float *y, int64_t count, void *context) {
  (void)context;
  for (int64_t i = 0; i < count; i++) y[i] = 2 * x[i];
}

static const sp_custom_activation doubling = {"my_package>double_it", double_it, NULL, NULL};

static const char *config =
    "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": [{\"class_name\": \"InputLayer\", "
    "\"config\": {\"batch_input_shape\": [null, 2], \"name\": \"in\"}}, {\"class_name\": \"Activation\", \"config\": "
    "{\"name\": \"act\", \"activation\": \"my_package>double_it\"}}]}}";

Test(custom_objects, table_is_seen_only_inside_its_scope) {
  sp_model *model = NULL;
  SP_ASSERT_FAILS(sp_model_from_config(config, strlen(config), &model), SP_ERROR_UNSUPPORTED,
                  "sp_custom_objects_add_activation");
  sp_custom_objects *objects = sp_custom_objects_new();
  SP_ASSERT_OK(sp_custom_objects_add_activation(objects, &doubling));
  SP_ASSERT_FAILS(sp_custom_objects_add_activation(objects, &doubling), SP_ERROR_EXISTS, "double_it");
  const sp_custom_objects *previous = sp_custom_objects_enter(objects);
  SP_ASSERT_OK(sp_model_from_config(config, strlen(config), &model));
  sp_custom_objects_leave(previous);
  float values[2] = {1.5f, -2};
  sp_tensor *input = sp_tensor_wrap(SP_FLOAT32, 2, (int64_t[]){1, 2}, values);
  int count;
  sp_tensor **outputs;
  SP_ASSERT_OK(sp_model_predict(model, 1, (const sp_tensor *const *)&input, &count, &outputs));
  cr_assert_float_eq(sp_tensor_floats(outputs[0])[0], 3.0f, 0);
  cr_assert_float_eq(sp_tensor_floats(outputs[0])[1], -4.0f, 0);
  sp_tensor_free(outputs[0]);
  free(outputs);
  sp_tensor_free(input);
  sp_model_free(model);
  cr_assert_null(sp_custom_objects_find_activation("my_package>double_it"), "the scope must end with leave");
  sp_custom_objects_free(objects);
}

Test(custom_objects, unknown_layer_lists_registered_names) {
  const char *unknown = "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": [{\"class_name\": "
                        "\"InputLayer\", \"config\": {\"batch_input_shape\": [null, 2]}}, {\"class_name\": \"Fancy\", "
                        "\"config\": {\"name\": \"f\"}}]}}";
  sp_model *model = NULL;
  SP_ASSERT_FAILS(sp_model_from_config(unknown, strlen(unknown), &model), SP_ERROR_UNSUPPORTED, "unknown layer class 'Fancy'");
  cr_assert(strstr(sp_last_error(), "Dense") && strstr(sp_last_error(), "sp_register_layer_class"), "%s", sp_last_error());
}

Test(custom_objects, snake_case_matches_keras) {
  /* Expected values: Python's keras.src.utils.naming.to_snake_case on the same names. */
  const char *cases[][2] = {{"Conv2D", "conv2d"},           {"SimpleRNN", "simple_rnn"},
                            {"ReLU", "re_lu"},              {"BatchNormalization", "batch_normalization"},
                            {"Conv2DTranspose", "conv2d_transpose"}, {"AB1", "ab1"},
                            {"GlobalAveragePooling2D", "global_average_pooling2d"}, {"My-Layer", "my_layer"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char out[64];
    sp_snake_case(cases[i][0], out, sizeof out);
    cr_assert_str_eq(out, cases[i][1]);
  }
}
