/* fuzz_keras_h5.c — structure-aware libFuzzer target for the Keras layout readers on HDF5:
 * the legacy full-model and weights-only readers (keras_h5.c) and the Keras 3 weights layout
 * (weights_h5.c). h5io's own handling of hostile HDF5 is fuzzed by fuzz_h5_layout.c; here the
 * HDF5 is always valid and the *Keras layout* is hostile.
 *
 * The input is a recipe. Its first byte picks the reader; the rest builds, with h5io's writer,
 * an in-memory file of Keras-shaped pieces: groups and datasets at Keras-like paths
 * (model_weights/dense/dense/kernel:0, layers/dense_1/vars/0, optimizer/vars/3 …) with fuzzed
 * dtypes and shapes, layer_names / weight_names lists naming things that may or may not exist
 * (split into name0, name1 … or not), keras_version, backend and model_config attributes from
 * valid templates or fuzzed text. The reader then loads it into a fixed model (or builds one
 * from model_config) under small limits. Properties: no crash, no leak, no allocation past
 * the limits, and a failure always leaves a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/h5io.h"
#include "formats/keras_h5.h"
#include "formats/weights_h5.h"
#include "nn/model.h"

typedef struct recipe {
  const uint8_t *data;
  size_t size, position;
} recipe;

static unsigned take(recipe *r) { return r->position < r->size ? r->data[r->position++] : 0; }

static const char *const components[] = {
    "model_weights", "dense", "dense_1", "dense_2", "kernel:0", "bias:0", "layers", "vars", "0", "1", "2", "10",
    "optimizer", "top_level_model_weights", "optimizer_weights", "sequential", "layers\\dense", "_layer_checkpoint_dependencies",
    "input_layer", "batch_normalization", "gamma:0", "moving_variance:0", "kernel", "bias", "cell", "gru"};
enum { COMPONENTS = sizeof components / sizeof *components };

static const char *const strings[] = {
    "dense", "dense_1", "dense_2", "dense/kernel:0", "dense/bias:0", "dense_1/kernel:0", "dense_1/bias:0",
    "sequential/dense/kernel", "2.15.0", "3.7.0", "1.2.2", "tensorflow", "theano", "", "../../etc", "dense\\kernel:0",
    "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": [{\"class_name\": \"InputLayer\", "
    "\"config\": {\"batch_input_shape\": [null, 3], \"name\": \"in\"}}, {\"class_name\": \"Dense\", \"config\": "
    "{\"name\": \"dense\", \"units\": 4}}, {\"class_name\": \"Dense\", \"config\": {\"name\": \"dense_1\", \"units\": 2}}]}}",
    "{\"class_name\": \"Sequential\", \"config\": [{\"class_name\": \"Dense\", \"config\": {\"name\": \"dense\", "
    "\"output_dim\": 4, \"input_dim\": 3}}]}",
    "{\"loss\": \"mse\", \"optimizer_config\": {\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.001}}}"};
enum { STRINGS = sizeof strings / sizeof *strings };

static const char *const attribute_names[] = {"layer_names", "weight_names", "keras_version", "backend",
                                              "model_config", "training_config", "name", "layer_names0",
                                              "layer_names1", "weight_names0"};
enum { ATTRIBUTES = sizeof attribute_names / sizeof *attribute_names };

static void make_path(recipe *r, char *out, size_t capacity) {
  size_t depth = 1 + take(r) % 5, used = 0;
  out[0] = '\0';
  for (size_t i = 0; i < depth && used + 1 < capacity; i++) {
    int written = snprintf(out + used, capacity - used, "%s%s", i ? "/" : "", components[take(r) % COMPONENTS]);
    if (written < 0) break;
    used += (size_t)written < capacity - used ? (size_t)written : capacity - used - 1;
  }
}

/* A string from the dictionary or a run of input bytes (never with NUL). */
static void make_string(recipe *r, char *out, size_t capacity) {
  unsigned choice = take(r);
  if (choice < 200) {
    snprintf(out, capacity, "%s", strings[choice % STRINGS]);
    return;
  }
  size_t length = take(r) % 48, i = 0;
  for (; i < length && i + 1 < capacity; i++) {
    char c = (char)take(r);
    out[i] = c ? c : 'x';
  }
  out[i] = '\0';
}

static void add_dataset(sp_h5_file *file, recipe *r) {
  static const sp_dtype dtypes[] = {SP_FLOAT32, SP_FLOAT32, SP_FLOAT64, SP_FLOAT16, SP_INT64, SP_INT32, SP_BOOL, SP_UINT8};
  char path[512];
  make_path(r, path, sizeof path);
  int64_t shape[3];
  int rank = (int)(take(r) % 4);
  for (int i = 0; i < rank; i++) shape[i] = take(r) % 7;
  sp_tensor *tensor = sp_tensor_new(dtypes[take(r) % (sizeof dtypes / sizeof *dtypes)], rank, shape);
  if (!tensor) return;
  for (size_t i = 0; i < tensor->size; i++) ((uint8_t *)tensor->data)[i] = (uint8_t)take(r);
  if (tensor->dtype == SP_BOOL)
    for (size_t i = 0; i < tensor->size; i++) ((uint8_t *)tensor->data)[i] &= 1;
  if (sp_h5_write_tensor(file, path, tensor) != SP_OK) sp_clear_error();
  sp_tensor_free(tensor);
}

static void add_attribute(sp_h5_file *file, recipe *r) {
  char object[512];
  if (take(r) % 3 == 0) object[0] = '\0';
  else make_path(r, object, sizeof object);
  if (object[0] && !sp_h5_exists(file, object) && sp_h5_create_group(file, object) != SP_OK) {
    sp_clear_error();
    return;
  }
  const char *name = attribute_names[take(r) % ATTRIBUTES];
  if (take(r) % 2) {
    char value[2048];
    make_string(r, value, sizeof value);
    if (sp_h5_write_string_attribute(file, object, name, value, strlen(value), take(r) % 2 ? SP_H5_STR : SP_H5_BYTES) != SP_OK)
      sp_clear_error();
    return;
  }
  size_t count = take(r) % 6;
  char values[6][256];
  const char *list[6];
  for (size_t i = 0; i < count; i++) {
    make_string(r, values[i], sizeof values[i]);
    list[i] = values[i];
  }
  if (sp_h5_write_string_list_attribute(file, object, name, list, count, SP_H5_BYTES) != SP_OK) sp_clear_error();
}

static sp_model *fixed_model(void) {
  sp_model *model = sp_sequential("s");
  if (sp_model_add(model, sp_input(1, (int64_t[]){3})) != SP_OK || sp_model_add(model, sp_dense(4, "relu")) != SP_OK ||
      sp_model_add(model, sp_dense(2, NULL)) != SP_OK || sp_model_build(model) != SP_OK)
    abort();
  return model;
}

static void quiet(const char *message, void *context) {
  (void)message;
  (void)context;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sp_model *model;
  if (!model) model = fixed_model();
  recipe r = {data, size, 0};
  unsigned mode = take(&r) % 5;
  sp_h5_file *file = NULL;
  if (sp_h5_create_image("fuzz.h5", &file) != SP_OK) abort();
  for (int step = 0; step < 48 && r.position < r.size; step++) {
    unsigned action = take(&r) % 3;
    if (action == 0) add_dataset(file, &r);
    else if (action == 1) add_attribute(file, &r);
    else {
      char path[512];
      make_path(&r, path, sizeof path);
      if (sp_h5_create_group(file, path) != SP_OK) sp_clear_error();
    }
  }
  uint8_t *image;
  size_t image_size;
  if (sp_h5_take_image(file, &image, &image_size) != SP_OK) abort(); /* our writer made it: it must close */
  if (sp_h5_open_image(image, image_size, "fuzz.h5", &file) != SP_OK) abort();
  sp_load_options options = sp_load_defaults();
  options.max_tensor_bytes = UINT64_C(1) << 20;
  options.max_total_bytes = UINT64_C(4) << 20;
  options.by_name = mode == 2 || mode == 3;
  options.skip_mismatch = mode == 3;
  options.warning = quiet;
  sp_status status;
  if (mode == 0) {
    sp_model *loaded = NULL;
    status = sp_keras_h5_load_model(file, &options, "fuzz.h5", &loaded);
    sp_model_free(loaded);
  } else if (mode == 4) {
    status = sp_keras3_weights_read(model, file, &options, 1, "fuzz.h5");
  } else {
    status = sp_keras_h5_load_weights(model, file, &options, "fuzz.h5");
  }
  if (status != SP_OK && sp_last_error()[0] == '\0') abort(); /* every failure says why */
  sp_h5_close(file);
  free(image);
  return 0;
}
