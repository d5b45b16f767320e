/* formats_peer.c — drives savepoint's model codecs for the Python and TF.js peer tests.
 *
 *   formats_peer build KIND OUT [FORMAT]      a model of KIND (dense, bn, recurrent, functional) with
 *                                             every variable filled from a fixed stream, saved to OUT
 *   formats_peer resave IN OUT [FORMAT]       loads IN by its content, saves it as OUT
 *   formats_peer resave-weights ARCH WEIGHTS OUT [FORMAT]
 *                                             the model of ARCH with the weights of WEIGHTS, saved as OUT
 *   formats_peer predict MODEL INPUT.json     loads MODEL, predicts on {"shape": [...], "values": [...]},
 *                                             prints output 0 the same way (%.9g)
 *
 * FORMAT is a name sp_format_from_name knows; weights-only formats save with sp_save_weights.
 * Exit 0 on success, 1 with a message on failure, 2 on misuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "nn/model.h"
#include "savepoint/io.h"

static int fail(const char *what) {
  fprintf(stderr, "formats_peer: %s: %s\n", what, sp_last_error());
  return 1;
}

/* Every variable from a fixed stream in [-0.5, 0.5); moving variances kept positive. */
static void fill_variables(sp_model *model) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  uint64_t state = 0x9e3779b97f4a7c15u;
  for (int v = 0; v < count; v++) {
    float *values = sp_tensor_floats(variables[v]->value);
    int positive = strstr(variables[v]->name, "variance") != NULL;
    for (int64_t i = 0; i < sp_tensor_count(variables[v]->value); i++) {
      state = state * 6364136223846793005u + 1442695040888963407u;
      float value = (float)((state >> 40) / (double)(1 << 24)) - 0.5f;
      values[i] = positive ? value + 1.0f : value;
    }
    variables[v]->initialized = 1;
  }
  free(variables);
}

static sp_status build_sequential(const char *kind, sp_model **result) {
  sp_model *model = sp_sequential(kind);
  sp_status status = SP_OK;
  if (strcmp(kind, "dense") == 0) {
    status = sp_model_add(model, sp_input(1, (int64_t[]){6}));
    if (status == SP_OK) status = sp_model_add(model, sp_dense(8, "relu"));
    if (status == SP_OK) status = sp_model_add(model, sp_dropout(0.1));
    if (status == SP_OK) status = sp_model_add(model, sp_dense(3, "softmax"));
  } else if (strcmp(kind, "bn") == 0) {
    status = sp_model_add(model, sp_input(1, (int64_t[]){6}));
    if (status == SP_OK) status = sp_model_add(model, sp_dense(8, NULL));
    if (status == SP_OK) status = sp_model_add(model, sp_batch_normalization());
    if (status == SP_OK) status = sp_model_add(model, sp_activation_layer("relu"));
    if (status == SP_OK) status = sp_model_add(model, sp_dense(2, "sigmoid"));
  } else if (strcmp(kind, "recurrent") == 0) {
    status = sp_model_add(model, sp_input(2, (int64_t[]){5, 4}));
    /* TF.js has no GRU with reset_after=True: use Keras's other GRU so every peer can run it. */
    if (status == SP_OK)
      status = sp_model_add(model, sp_layer_new("GRU", "{\"units\": 6, \"return_sequences\": true, \"reset_after\": false}"));
    if (status == SP_OK) status = sp_model_add(model, sp_lstm(3, 1));
    if (status == SP_OK) status = sp_model_add(model, sp_simple_rnn(4, "tanh", 0));
    if (status == SP_OK) status = sp_model_add(model, sp_dense(2, NULL));
  } else {
    status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "unknown model kind '%s' (dense, bn, recurrent, functional)", kind);
  }
  if (status != SP_OK) {
    sp_model_free(model);
    return status;
  }
  *result = model;
  return SP_OK;
}

/* Two branches of one input, added, then a head: shared structure TF.js and Keras both read. */
static sp_status build_functional(sp_model **result) {
  sp_model *model = sp_functional("functional");
  sp_symbol input = {0}, a = {0}, b = {0}, sum = {0}, out = {0};
  int count;
  sp_status status = sp_model_input(model, sp_input(1, (int64_t[]){4}), &input);
  if (status == SP_OK) status = sp_model_call(model, sp_dense(5, "tanh"), 1, &input, 1, &a, &count);
  if (status == SP_OK) status = sp_model_call(model, sp_dense(5, "relu"), 1, &input, 1, &b, &count);
  sp_symbol pair[2] = {a, b};
  if (status == SP_OK) status = sp_model_call(model, sp_add(), 2, pair, 1, &sum, &count);
  if (status == SP_OK) status = sp_model_call(model, sp_dense(1, NULL), 1, &sum, 1, &out, &count);
  if (status == SP_OK) status = sp_model_set_outputs(model, 1, &out);
  if (status != SP_OK) {
    sp_model_free(model);
    return status;
  }
  *result = model;
  return SP_OK;
}

static sp_status save_as(sp_model *model, const char *path, const char *format_name) {
  sp_save_options options = sp_save_defaults();
  if (format_name) SP_TRY(sp_format_from_name(format_name, &options.format));
  if (options.format == SP_FORMAT_WEIGHTS_H5 || options.format == SP_FORMAT_LEGACY_WEIGHTS_H5 ||
      (options.format == SP_FORMAT_AUTO && sp_path_has_suffix(path, ".weights.h5")))
    return sp_save_weights(model, path, &options);
  return sp_save(model, path, &options);
}

static sp_status load_by_content(const char *path, sp_model **model) {
  sp_probe_info info;
  SP_TRY(sp_probe(path, &info));
  sp_load_options options = sp_load_defaults();
  options.format = info.format;
  return sp_load(info.resolved_path, &options, model);
}

static int predict(const char *model_path, const char *input_path) {
  sp_model *model = NULL;
  json_object *input = NULL;
  uint8_t *text;
  size_t size;
  if (load_by_content(model_path, &model) != SP_OK) return fail(model_path);
  if (sp_read_file(input_path, 1 << 28, &text, &size) != SP_OK ||
      sp_json_parse((const char *)text, size, input_path, &input) != SP_OK)
    return fail(input_path);
  free(text);
  int64_t shape[SP_MAX_RANK];
  int rank;
  json_object *values = sp_json_member(input, "values");
  if (sp_json_get_int_list(input, "shape", SP_MAX_RANK, input_path, shape, &rank) != SP_OK || !values)
    return fail("input needs shape and values");
  sp_tensor *tensor = sp_tensor_new(SP_FLOAT32, rank, shape);
  if (!tensor || (size_t)sp_tensor_count(tensor) != json_object_array_length(values)) return fail("input size");
  for (int64_t i = 0; i < sp_tensor_count(tensor); i++)
    sp_tensor_floats(tensor)[i] = (float)json_object_get_double(json_object_array_get_idx(values, (size_t)i));
  int count;
  sp_tensor **outputs;
  if (sp_model_predict(model, 1, (const sp_tensor *const *)&tensor, &count, &outputs) != SP_OK) return fail("predict");
  printf("{\"shape\": [");
  for (int d = 0; d < outputs[0]->rank; d++) printf("%s%lld", d ? ", " : "", (long long)outputs[0]->shape[d]);
  printf("], \"values\": [");
  for (int64_t i = 0; i < sp_tensor_count(outputs[0]); i++) printf("%s%.9g", i ? ", " : "", sp_tensor_floats(outputs[0])[i]);
  printf("]}\n");
  for (int i = 0; i < count; i++) sp_tensor_free(outputs[i]);
  free(outputs);
  sp_tensor_free(tensor);
  json_object_put(input);
  sp_model_free(model);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "build") == 0) {
    sp_model *model = NULL;
    sp_status status = strcmp(argv[2], "functional") == 0 ? build_functional(&model) : build_sequential(argv[2], &model);
    if (status == SP_OK) status = sp_model_build(model);
    if (status != SP_OK) return fail("build");
    fill_variables(model);
    status = save_as(model, argv[3], argc > 4 ? argv[4] : NULL);
    sp_model_free(model);
    return status == SP_OK ? 0 : fail(argv[3]);
  }
  if (argc >= 4 && strcmp(argv[1], "resave") == 0) {
    sp_model *model = NULL;
    if (load_by_content(argv[2], &model) != SP_OK) return fail(argv[2]);
    sp_status status = save_as(model, argv[3], argc > 4 ? argv[4] : NULL);
    sp_model_free(model);
    return status == SP_OK ? 0 : fail(argv[3]);
  }
  if (argc >= 5 && strcmp(argv[1], "resave-weights") == 0) {
    sp_model *model = NULL;
    if (load_by_content(argv[2], &model) != SP_OK) return fail(argv[2]);
    if (sp_load_weights(model, argv[3], NULL) != SP_OK) return fail(argv[3]);
    sp_status status = save_as(model, argv[4], argc > 5 ? argv[5] : NULL);
    sp_model_free(model);
    return status == SP_OK ? 0 : fail(argv[4]);
  }
  if (argc == 4 && strcmp(argv[1], "predict") == 0) return predict(argv[2], argv[3]);
  fprintf(stderr, "usage: formats_peer build KIND OUT [FORMAT] | resave IN OUT [FORMAT] | "
                  "resave-weights ARCH WEIGHTS OUT [FORMAT] | predict MODEL INPUT.json\n");
  return 2;
}
