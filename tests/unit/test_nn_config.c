/* Tests of Keras config reading and writing: Keras 3 config.json and Keras 2 model_config
 * layouts from real fixtures round-trip unchanged; Functional graphs with shared layers,
 * multiple inputs/outputs and out-of-order layer lists load; unsafe configs are refused. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "core/json.h"
#include "nn/config.h"
#include "test_support.h"

static json_object *parse(const char *text) {
  json_object *value;
  SP_ASSERT_OK(sp_json_parse(text, strlen(text), "test", &value));
  return value;
}

static char *zip_member(const char *archive, const char *member) {
  int error = 0;
  zip_t *zip = zip_open(archive, ZIP_RDONLY, &error);
  cr_assert_not_null(zip, "cannot open %s", archive);
  zip_stat_t info;
  cr_assert_eq(zip_stat(zip, member, 0, &info), 0);
  char *text = calloc(1, info.size + 1);
  zip_file_t *file = zip_fopen(zip, member, 0);
  cr_assert_eq(zip_fread(file, text, info.size), (zip_int64_t)info.size);
  zip_fclose(file);
  zip_close(zip);
  return text;
}

Test(config, keras3_config_json_round_trips_unchanged) {
  char *path = sp_test_fixture("keras3.7-churn-keras-and-h5-same-model/my_model.keras");
  char *text = zip_member(path, "config.json");
  json_object *original = parse(text);
  sp_model *model;
  SP_ASSERT_OK(sp_model_from_config_object(original, NULL, &model));
  cr_assert_eq(model->layer_count, 5);
  cr_assert_eq(sp_model_parameter_count(model, 0), 19 * 128 + 128 + 128 * 64 + 64 + 64 * 32 + 32 + 32 + 1);
  json_object_object_del(original, "compile_config"); /* written by the formats layer, not the model config */
  json_object *written = sp_model_config_json(model, 3);
  char *expected = sp_json_dumps(original, 0), *actual = sp_json_dumps(written, 0);
  cr_assert_str_eq(actual, expected);
  free(expected);
  free(actual);
  json_object_put(written);
  json_object_put(original);
  sp_model_free(model);
  free(text);
  free(path);
}

/* tf.keras 2.10 model_config of tfkeras-h5-iris-k2.10.0/iris_model.h5 (PROVENANCE Appendix C). */
static const char *keras2_iris =
    "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"sequential\", \"layers\": [{\"class_name\": \"InputLayer\", "
    "\"config\": {\"batch_input_shape\": [null, 4], \"dtype\": \"float32\", \"sparse\": false, \"ragged\": false, \"name\": "
    "\"dense_input\"}}, {\"class_name\": \"Dense\", \"config\": {\"name\": \"dense\", \"trainable\": true, "
    "\"batch_input_shape\": [null, 4], \"dtype\": \"float32\", \"units\": 8, \"activation\": \"relu\", \"use_bias\": true, "
    "\"kernel_initializer\": {\"class_name\": \"GlorotUniform\", \"config\": {\"seed\": null}}, \"bias_initializer\": "
    "{\"class_name\": \"Zeros\", \"config\": {}}, \"kernel_regularizer\": null, \"bias_regularizer\": null, "
    "\"activity_regularizer\": null, \"kernel_constraint\": null, \"bias_constraint\": null}}, {\"class_name\": \"Dense\", "
    "\"config\": {\"name\": \"dense_1\", \"trainable\": true, \"dtype\": \"float32\", \"units\": 3, \"activation\": "
    "\"softmax\", \"use_bias\": true, \"kernel_initializer\": {\"class_name\": \"GlorotUniform\", \"config\": {\"seed\": "
    "null}}, \"bias_initializer\": {\"class_name\": \"Zeros\", \"config\": {}}, \"kernel_regularizer\": null, "
    "\"bias_regularizer\": null, \"activity_regularizer\": null, \"kernel_constraint\": null, \"bias_constraint\": null}}]}}";

Test(config, keras2_model_config_round_trips_and_converts_to_keras3) {
  json_object *original = parse(keras2_iris);
  sp_model *model;
  SP_ASSERT_OK(sp_model_from_config_object(original, NULL, &model));
  cr_assert_eq(model->keras_major, 2);
  char *expected = sp_json_dumps(original, 0), *actual = sp_model_to_config(model, 2);
  cr_assert_str_eq(actual, expected);
  free(actual);
  /* As Keras 3: InputLayer uses batch_shape, Dense gets a DTypePolicy and module keys. */
  json_object *keras3 = sp_model_config_json(model, 3);
  json_object *layers = sp_json_member(sp_json_member(keras3, "config"), "layers");
  json_object *input_config = sp_json_member(json_object_array_get_idx(layers, 0), "config");
  cr_assert_not_null(sp_json_member(input_config, "batch_shape"));
  cr_assert_null(sp_json_member(input_config, "batch_input_shape"));
  json_object *dense = json_object_array_get_idx(layers, 1);
  cr_assert_str_eq(json_object_get_string(sp_json_member(dense, "module")), "keras.layers");
  json_object *initializer = sp_json_member(sp_json_member(dense, "config"), "kernel_initializer");
  cr_assert_str_eq(json_object_get_string(sp_json_member(initializer, "module")), "keras.initializers");
  cr_assert_str_eq(json_object_get_string(sp_json_member(sp_json_member(sp_json_member(dense, "config"), "dtype"), "class_name")),
                   "DTypePolicy");
  /* and it loads back as an equivalent model */
  sp_model *again;
  SP_ASSERT_OK(sp_model_from_config_object(keras3, NULL, &again));
  cr_assert_eq(sp_model_parameter_count(again, 0), 4 * 8 + 8 + 8 * 3 + 3);
  sp_model_free(again);
  json_object_put(keras3);
  free(expected);
  json_object_put(original);
  sp_model_free(model);
}

/* A Keras 2 Functional config with two inputs, a shared Dense and a Concatenate-free Add-less
 * graph, with the layer list deliberately out of dependency order (shared layer first). */
static const char *keras2_functional =
    "{\"class_name\": \"Functional\", \"config\": {\"name\": \"two_towers\", \"layers\": ["
    "{\"class_name\": \"Dense\", \"config\": {\"name\": \"shared\", \"units\": 3, \"activation\": \"tanh\"}, \"name\": \"shared\", "
    " \"inbound_nodes\": [[[\"left\", 0, 0, {}]], [[\"right\", 0, 0, {}]]]},"
    "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 4], \"dtype\": \"float32\", \"name\": \"left\"}, \"name\": \"left\", \"inbound_nodes\": []},"
    "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 4], \"dtype\": \"float32\", \"name\": \"right\"}, \"name\": \"right\", \"inbound_nodes\": []},"
    "{\"class_name\": \"Dense\", \"config\": {\"name\": \"head\", \"units\": 1}, \"name\": \"head\", \"inbound_nodes\": [[[\"shared\", 1, 0, {}]]]}"
    "], \"input_layers\": [[\"right\", 0, 0], [\"left\", 0, 0]], \"output_layers\": [[\"shared\", 0, 0], [\"head\", 0, 0]]}}";

Test(config, functional_graph_with_shared_layer_and_deferred_nodes) {
  json_object *original = parse(keras2_functional);
  sp_model *model;
  SP_ASSERT_OK(sp_model_from_config_object(original, NULL, &model));
  cr_assert_eq(model->input_count, 2);
  cr_assert_str_eq(sp_model_input_name(model, 0), "right", "inputs follow input_layers, not the layer list");
  cr_assert_eq(model->output_count, 2);
  cr_assert_eq(model->plan->step_count, 3, "shared twice + head");
  json_object *written = sp_model_config_json(model, 2);
  json_object *shared = json_object_array_get_idx(sp_json_member(sp_json_member(written, "config"), "layers"), 0);
  cr_assert_eq(json_object_array_length(sp_json_member(shared, "inbound_nodes")), 2);
  char *text = sp_json_dumps(sp_json_member(sp_json_member(written, "config"), "output_layers"), 0);
  cr_assert_str_eq(text, "[[\"shared\", 0, 0], [\"head\", 0, 0]]");
  free(text);
  json_object_put(written);
  json_object_put(original);
  sp_model_free(model);
}

Test(config, keras3_functional_args_with_list_argument_and_bare_triples) {
  /* Keras 3 layout: __keras_tensor__ args, single bare-triple input_layers (Keras 3.0-3.3 style). */
  const char *text =
      "{\"module\": \"keras.src.models.functional\", \"class_name\": \"Functional\", \"config\": {\"name\": \"f\", "
      "\"trainable\": true, \"layers\": [{\"module\": \"keras.layers\", \"class_name\": \"InputLayer\", \"config\": "
      "{\"batch_shape\": [null, 3], \"dtype\": \"float32\", \"sparse\": false, \"name\": \"x\"}, \"registered_name\": null, "
      "\"name\": \"x\", \"inbound_nodes\": []}, {\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"config\": "
      "{\"name\": \"d\", \"units\": 2}, \"registered_name\": null, \"build_config\": {\"input_shape\": [null, 3]}, \"name\": "
      "\"d\", \"inbound_nodes\": [{\"args\": [{\"class_name\": \"__keras_tensor__\", \"config\": {\"shape\": [null, 3], "
      "\"dtype\": \"float32\", \"keras_history\": [\"x\", 0, 0]}}], \"kwargs\": {}}]}], \"input_layers\": [\"x\", 0, 0], "
      "\"output_layers\": [\"d\", 0, 0]}, \"registered_name\": \"Functional\", \"build_config\": {\"input_shape\": null}}";
  json_object *original = parse(text);
  sp_model *model;
  SP_ASSERT_OK(sp_model_from_config_object(original, NULL, &model));
  cr_assert_eq(model->keras_major, 3);
  char *expected = sp_json_dumps(original, 0), *actual = sp_model_to_config(model, 3);
  cr_assert_str_eq(actual, expected);
  free(expected);
  free(actual);
  json_object_put(original);
  sp_model_free(model);
}

Test(config, keras1_sequential_list_with_output_dim) {
  /* Keras 1.2.2: config is a bare list; Dense uses output_dim and batch_input_shape. */
  const char *text =
      "{\"class_name\": \"Sequential\", \"config\": [{\"class_name\": \"Dense\", \"config\": {\"output_dim\": 10, "
      "\"batch_input_shape\": [null, 4], \"activation\": \"relu\", \"name\": \"dense_1\", \"init\": \"glorot_uniform\", "
      "\"bias\": true, \"input_dtype\": \"float32\"}}, {\"class_name\": \"Dense\", \"config\": {\"output_dim\": 3, "
      "\"activation\": \"sigmoid\", \"name\": \"dense_2\"}}]}";
  json_object *original = parse(text);
  sp_model *model;
  SP_ASSERT_OK(sp_model_from_config_object(original, NULL, &model));
  cr_assert_str_eq(sp_model_input_name(model, 0), "dense_1_input");
  cr_assert_eq(sp_model_parameter_count(model, 0), 4 * 10 + 10 + 10 * 3 + 3);
  /* Written back with Keras 2 names, as Keras 2 upgrades them (legacy/interfaces.py). */
  char *written = sp_model_to_config(model, 2);
  cr_assert(strstr(written, "\"units\": 10") && strstr(written, "\"kernel_initializer\": \"glorot_uniform\"") &&
            strstr(written, "\"use_bias\": true") && strstr(written, "\"dtype\": \"float32\""), "%s", written);
  cr_assert_null(strstr(written, "output_dim"), "%s", written);
  free(written);
  json_object_put(original);
  sp_model_free(model);
}

Test(config, keras1_convolution_is_written_as_conv2d) {
  const char *text =
      "{\"class_name\": \"Sequential\", \"config\": [{\"class_name\": \"Convolution2D\", \"config\": {\"name\": \"c\", "
      "\"nb_filter\": 4, \"nb_row\": 3, \"nb_col\": 2, \"border_mode\": \"same\", \"subsample\": [1, 1], "
      "\"dim_ordering\": \"tf\", \"activation\": \"relu\", \"batch_input_shape\": [null, 8, 8, 1]}}]}";
  json_object *original = parse(text);
  sp_model *model;
  SP_ASSERT_OK(sp_model_from_config_object(original, NULL, &model));
  cr_assert_eq(sp_model_parameter_count(model, 0), 3 * 2 * 1 * 4 + 4);
  char *written = sp_model_to_config(model, 3);
  cr_assert(strstr(written, "\"class_name\": \"Conv2D\"") && strstr(written, "\"filters\": 4") &&
            strstr(written, "\"kernel_size\": [3, 2]") && strstr(written, "\"padding\": \"same\"") &&
            strstr(written, "\"data_format\": \"channels_last\""), "%s", written);
  cr_assert_null(strstr(written, "nb_filter"), "%s", written);
  free(written);
  json_object_put(original);
  sp_model_free(model);
}

Test(config, refuses_code_and_foreign_modules) {
  sp_model *model;
  json_object *lambda = parse("{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"Lambda\", "
                              "\"config\": {\"function\": {\"class_name\": \"__lambda__\", \"config\": {\"code\": \"4wEAAA==\"}}}}]}}");
  SP_ASSERT_FAILS(sp_model_from_config_object(lambda, NULL, &model), SP_ERROR_UNSAFE, "Python");
  json_object_put(lambda);
  json_object *foreign = parse("{\"module\": \"keras\", \"class_name\": \"Sequential\", \"config\": {\"layers\": ["
                               "{\"module\": \"os\", \"class_name\": \"system\", \"config\": {\"name\": \"rm\"}, \"registered_name\": null}]}}");
  SP_ASSERT_FAILS(sp_model_from_config_object(foreign, NULL, &model), SP_ERROR_UNSAFE, "module 'os'");
  json_object_put(foreign);
  json_object *activation = parse("{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"Dense\", "
                                  "\"config\": {\"units\": 1, \"batch_input_shape\": [null, 2], \"activation\": {\"module\": "
                                  "\"subprocess\", \"class_name\": \"function\", \"config\": \"call\", \"registered_name\": \"call\"}}}]}}");
  SP_ASSERT_FAILS(sp_model_from_config_object(activation, NULL, &model), SP_ERROR_UNSAFE, "subprocess");
  json_object_put(activation);
}

Test(config, bad_configs_name_the_layer_and_never_crash) {
  sp_model *model;
  const char *cases[][2] = {
      {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
       "{\"batch_shape\": [null, 3]}}, {\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": -4}}]}}",
       "layer 'd'"},
      {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"Dense\", \"config\": {\"units\": 2}}]}}",
       "no input shape"},
      {"{\"class_name\": \"Functional\", \"config\": {\"name\": \"f\", \"layers\": [{\"class_name\": \"Dense\", \"config\": "
       "{\"name\": \"d\", \"units\": 1}, \"name\": \"d\", \"inbound_nodes\": [[[\"ghost\", 0, 0, {}]]]}], \"input_layers\": [], "
       "\"output_layers\": [[\"d\", 0, 0]]}}",
       "'ghost'"},
      {"{\"class_name\": \"Widget\", \"config\": {}}", "not a model"},
      {"{\"class_name\": \"Sequential\"}", "needs 'class_name' and 'config'"},
      {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"Conv7D\", \"config\": {\"name\": \"c\"}}]}}",
       "unknown layer class 'Conv7D'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    json_object *root = parse(cases[i][0]);
    sp_status status = sp_model_from_config_object(root, NULL, &model);
    cr_assert_neq(status, SP_OK, "case %zu should fail", i);
    cr_assert(strstr(sp_last_error(), cases[i][1]), "case %zu: '%s' lacks '%s'", i, sp_last_error(), cases[i][1]);
    json_object_put(root);
  }
}

Test(config, nested_models_round_trip_through_keras3) {
  sp_model *inner = sp_sequential("inner");
  SP_ASSERT_OK(sp_model_add(inner, sp_input(1, (int64_t[]){3})));
  SP_ASSERT_OK(sp_model_add(inner, sp_dense(4, "relu")));
  sp_model *outer = sp_functional("outer");
  sp_symbol x, h, y;
  SP_ASSERT_OK(sp_model_input(outer, sp_input(1, (int64_t[]){3}), &x));
  SP_ASSERT_OK(sp_model_call(outer, sp_model_as_layer(inner), 1, &x, 1, &h, NULL));
  SP_ASSERT_OK(sp_model_call(outer, sp_dense(2, NULL), 1, &h, 1, &y, NULL));
  SP_ASSERT_OK(sp_model_set_outputs(outer, 1, &y));
  for (int major = 2; major <= 3; major++) {
    char *text = sp_model_to_config(outer, major);
    /* a nested model's first call is node 1 in Keras configs */
    cr_assert(strstr(text, "\"inner\", 1, 0"), "%s", text);
    sp_model *again;
    SP_ASSERT_OK(sp_model_from_config(text, strlen(text), &again));
    cr_assert_eq(sp_model_parameter_count(again, 0), sp_model_parameter_count(outer, 0));
    char *again_text = sp_model_to_config(again, major);
    cr_assert_str_eq(again_text, text);
    free(again_text);
    free(text);
    sp_model_free(again);
  }
  sp_model_free(outer);
}
