/* Tests of compile: training configs read from real Keras .h5 files (../shared/fixtures, read
 * here with the HDF5 library) compile, name their optimizer variables as the files do, and are
 * written back identically; multi-output losses, weights and metric names follow Keras. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "formats/keras_config.h"
#include "nn/compile.h"
#include "nn/config.h"
#include "savepoint/train.h"
#include "test_support.h"

/* A string attribute of the file's root group (variable or fixed length). */
static char *root_attribute(const char *path, const char *name) {
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert(file >= 0, "cannot open %s", path);
  hid_t attribute = H5Aopen(file, name, H5P_DEFAULT);
  cr_assert(attribute >= 0, "%s has no attribute %s", path, name);
  hid_t type = H5Aget_type(attribute);
  char *text;
  if (H5Tis_variable_str(type) > 0) {
    hid_t memory = H5Tcopy(H5T_C_S1);
    H5Tset_size(memory, H5T_VARIABLE);
    char *value = NULL;
    cr_assert(H5Aread(attribute, memory, &value) >= 0);
    text = strdup(value);
    H5free_memory(value);
    H5Tclose(memory);
  } else {
    size_t size = H5Tget_size(type);
    text = calloc(size + 1, 1);
    cr_assert(H5Aread(attribute, type, text) >= 0);
  }
  H5Tclose(type);
  H5Aclose(attribute);
  H5Fclose(file);
  return text;
}

/* The optimizer_weights group's weight_names attribute, as a list. */
static int optimizer_weight_names(const char *path, char ***names) {
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t group = H5Gopen(file, "optimizer_weights", H5P_DEFAULT);
  hid_t attribute = H5Aopen(group, "weight_names", H5P_DEFAULT);
  hid_t space = H5Aget_space(attribute);
  int count = (int)H5Sget_simple_extent_npoints(space);
  hid_t memory = H5Tcopy(H5T_C_S1);
  H5Tset_size(memory, H5T_VARIABLE);
  char **values = calloc((size_t)count, sizeof *values);
  cr_assert(H5Aread(attribute, memory, values) >= 0);
  *names = values;
  H5Sclose(space);
  H5Tclose(memory);
  H5Aclose(attribute);
  H5Gclose(group);
  H5Fclose(file);
  return count;
}

static json_object *parsed(const char *text) {
  json_object *value;
  SP_ASSERT_OK(sp_json_parse(text, strlen(text), "test", &value));
  return value;
}

static sp_model *model_from_file(const char *path) {
  char *config = root_attribute(path, "model_config");
  sp_model *model;
  SP_ASSERT_OK(sp_model_from_config(config, strlen(config), &model));
  free(config);
  return model;
}

/* A fixture's model compiled from its own training_config attribute. */
typedef struct compiled_file {
  char *path, *text;
  sp_model *model;
} compiled_file;

static compiled_file compile_file(const char *relative_path) {
  compiled_file file = {.path = sp_test_fixture(relative_path)};
  file.model = model_from_file(file.path);
  file.text = root_attribute(file.path, "training_config");
  json_object *config = parsed(file.text);
  SP_ASSERT_OK(sp_model_compile_from_config(file.model, config, relative_path));
  json_object_put(config);
  return file;
}

static void release_file(compiled_file *file) {
  free(file->text);
  free(file->path);
  sp_model_free(file->model);
}

/* Writing the training config in layout gives the attribute's text back exactly. */
static void assert_round_trip(const compiled_file *file, sp_training_layout layout) {
  json_object *written = sp_training_config_json(file->model, layout);
  char *dumped = sp_json_dumps(written, 0);
  cr_assert_str_eq(dumped, file->text);
  free(dumped);
  json_object_put(written);
}

Test(compile, keras3_h5_training_config_round_trips_and_names_the_file_s_optimizer_variables) {
  const char *files[] = {"keras3.6-h5-xor/xor_model.h5", "keras3.7-churn-keras-and-h5-same-model/my_model.h5"};
  for (int f = 0; f < 2; f++) {
    compiled_file file = compile_file(files[f]);
    assert_round_trip(&file, SP_LAYOUT_KERAS3_TRAINING_CONFIG);
    char **names;
    int count = optimizer_weight_names(file.path, &names);
    sp_optimizer *optimizer = sp_model_optimizer(file.model);
    cr_assert_eq(sp_optimizer_variable_count(optimizer), count);
    for (int i = 0; i < count; i++) {
      cr_assert_str_eq(sp_optimizer_variable_name(optimizer, i), names[i], "%s: variable %d", files[f], i);
      H5free_memory(names[i]);
    }
    free(names);
    release_file(&file);
  }
}

Test(compile, keras2_training_config_round_trips) {
  compiled_file iris = compile_file("tfkeras-h5-iris-k2.10.0/iris_model.h5");
  sp_training_config *training = sp_model_training_config(iris.model);
  cr_assert_eq(training->losses[0].kind, SP_LOSS_CATEGORICAL_CROSSENTROPY);
  cr_assert_eq(training->metric_count, 2);
  cr_assert_str_eq(training->metrics[1].metric.name, "accuracy"); /* MeanMetricWrapper(name accuracy, fn categorical_accuracy) */
  cr_assert_eq(training->metrics[1].metric.kind, SP_METRIC_CATEGORICAL_ACCURACY);
  assert_round_trip(&iris, SP_LAYOUT_KERAS2_TRAINING_CONFIG);
  release_file(&iris);

  compiled_file xor = compile_file("keras-h5-xor-k2.2.4/xor.h5");
  cr_assert_eq(sp_model_optimizer(xor.model)->kind, SP_OPTIMIZER_SGD);
  cr_assert_float_eq(sp_optimizer_current_learning_rate(sp_model_optimizer(xor.model)), 0.1f, 1e-9);
  release_file(&xor);
}

/* Two inputs, two outputs named "score" and "kind". */
static sp_model *two_output_model(void) {
  sp_model *model = sp_functional("two_heads");
  sp_symbol input, hidden, score, kind;
  int count;
  SP_ASSERT_OK(sp_model_input(model, sp_input(1, (int64_t[]){4}), &input));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(8, "relu"), 1, &input, 1, &hidden, &count));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("Dense", "{\"units\": 1, \"name\": \"score\"}"), 1, &hidden, 1, &score, &count));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("Dense", "{\"units\": 3, \"name\": \"kind\"}"), 1, &hidden, 1, &kind, &count));
  SP_ASSERT_OK(sp_model_set_outputs(model, 2, (sp_symbol[]){score, kind}));
  return model;
}

static const char *metric_name(const sp_model *model, int index) {
  return sp_model_training_config(model)->metrics[index].metric.name;
}

Test(compile, several_outputs_name_their_losses_and_metrics_like_keras) {
  sp_model *model = two_output_model();
  SP_ASSERT_OK(sp_model_compile(model, sp_adam(0.001), "{\"score\": \"mse\", \"kind\": \"sparse_categorical_crossentropy\"}",
                                (const char *[]){"[[\"mae\"], [\"accuracy\", \"accuracy\"]]", NULL}));
  sp_training_config *training = sp_model_training_config(model);
  cr_assert_eq(training->losses[0].kind, SP_LOSS_MEAN_SQUARED_ERROR);
  cr_assert_eq(training->losses[1].kind, SP_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
  /* loss, then compile metrics (per output, "<output>_<name>", "_1" on a repeat), then per-output losses */
  const char *expected[] = {"loss", "score_mae", "kind_accuracy", "kind_accuracy_1", "score_loss", "kind_loss"};
  cr_assert_eq(training->metric_count, 6);
  for (int i = 0; i < 6; i++) cr_assert_str_eq(metric_name(model, i), expected[i]);
  sp_model_free(model);

  model = two_output_model();
  SP_ASSERT_OK(sp_model_compile_json(model, "{\"optimizer\": \"sgd\", \"loss\": [\"mse\", null], \"loss_weights\": {\"score\": 0.5},"
                                            " \"metrics\": {\"kind\": \"acc\"}}"));
  training = sp_model_training_config(model);
  cr_assert_eq(training->losses[1].kind, SP_LOSS_NONE);
  cr_assert_float_eq(training->loss_weights[0], 0.5, 1e-12);
  cr_assert_float_eq(training->loss_weights[1], 1.0, 1e-12);
  cr_assert_eq(training->metric_count, 2); /* one loss: no per-output loss trackers */
  cr_assert_str_eq(metric_name(model, 1), "kind_acc");
  SP_ASSERT_FAILS(sp_model_compile(model, sp_adam(0.1), "{\"score\": \"mse\", \"typo\": \"mse\"}", NULL),
                  SP_ERROR_INVALID_ARGUMENT, "score, kind");
  SP_ASSERT_FAILS(sp_model_compile(model, sp_adam(0.1), "[\"mse\", \"mse\", \"mse\"]", NULL), SP_ERROR_INVALID_ARGUMENT,
                  "has 3 entries");
  sp_model_free(model);
}

Test(compile, compile_config_is_written_as_keras3_does) {
  sp_model *model = sp_sequential("m");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){3})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(2, NULL)));
  SP_ASSERT_OK(sp_model_compile(model, sp_sgd(0.5, 0.0, 0), "mse", (const char *[]){"mae", NULL}));
  char *config = sp_model_compile_config(model);
  cr_assert_str_eq(config,
                   "{\"optimizer\": {\"module\": \"keras.optimizers\", \"class_name\": \"SGD\", \"config\": {\"name\": \"SGD\", "
                   "\"learning_rate\": 0.5, \"weight_decay\": null, \"clipnorm\": null, \"global_clipnorm\": null, "
                   "\"clipvalue\": null, \"use_ema\": false, \"ema_momentum\": 0.99, \"ema_overwrite_frequency\": null, "
                   "\"loss_scale_factor\": null, \"gradient_accumulation_steps\": null, \"momentum\": 0.0, \"nesterov\": false}, "
                   "\"registered_name\": null}, \"loss\": \"mse\", \"loss_weights\": null, \"metrics\": [\"mae\"], "
                   "\"weighted_metrics\": null, \"run_eagerly\": false, \"steps_per_execution\": 1, \"jit_compile\": false}");
  /* compiling again from that config gives the same config */
  sp_model *again = sp_sequential("m");
  SP_ASSERT_OK(sp_model_add(again, sp_input(1, (int64_t[]){3})));
  SP_ASSERT_OK(sp_model_add(again, sp_dense(2, NULL)));
  SP_ASSERT_OK(sp_model_compile_json(again, config));
  char *second = sp_model_compile_config(again);
  cr_assert_str_eq(second, config);
  free(second);
  free(config);
  sp_model_free(again);
  sp_model_free(model);
}

/* A config read from a file is written back as it was, until the model is compiled anew. */
Test(compile, compiling_again_replaces_the_compile_config_a_file_gave) {
  json_object *object = parsed("{\"class_name\": \"Sequential\", \"config\": {\"name\": \"m\", \"layers\": ["
                               "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 3], \"name\": \"input\"}}, "
                               "{\"class_name\": \"Dense\", \"config\": {\"name\": \"dense\", \"units\": 2}}]}, "
                               "\"compile_config\": {\"optimizer\": \"adam\", \"loss\": \"mse\"}}");
  sp_model *model;
  SP_ASSERT_OK(sp_keras_model_from_object(object, 3, "config", &model));
  json_object *kept = sp_keras_compile_config(model);
  cr_assert_str_eq(json_object_get_string(sp_json_member(kept, "optimizer")), "adam");
  json_object_put(kept);
  SP_ASSERT_OK(sp_model_compile_json(model, "{\"optimizer\": {\"class_name\": \"SGD\", \"config\": {\"use_ema\": true}}, "
                                            "\"loss\": \"mae\"}"));
  json_object *written = sp_keras_compile_config(model);
  json_object *optimizer = sp_json_member(written, "optimizer");
  cr_assert_str_eq(json_object_get_string(sp_json_member(optimizer, "class_name")), "SGD");
  cr_assert(json_object_get_boolean(sp_json_member(sp_json_member(optimizer, "config"), "use_ema")));
  cr_assert_str_eq(json_object_get_string(sp_json_member(written, "loss")), "mae");
  json_object_put(written);
  json_object_put(object);
  sp_model_free(model);
}

Test(compile, a_failed_optimizer_constructor_is_reported_by_compile) {
  sp_model *model = sp_sequential("m");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){3})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(2, NULL)));
  SP_ASSERT_FAILS(sp_model_compile(model, sp_sgd(0.1, 2.0, 0), "mse", NULL), SP_ERROR_INVALID_ARGUMENT, "momentum");
  cr_assert_null(sp_model_optimizer(model));
  sp_model_free(model);
}
