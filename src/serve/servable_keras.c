/* servable_keras.c — the Keras-model adapter: a version directory holding one `.keras`, `.h5` /
 * `.hdf5` or TF.js `model.json` becomes a servable over the Keras-model runtime (sp_model).
 *
 * TF Serving cannot serve these without a SavedModel export; here the model's own inputs and
 * outputs make one signature, serving_default (method tensorflow/serving/predict), whose keys
 * are the input and output layer names and whose shapes are the model's with the batch
 * dimension unknown. Runs check dtype and shape against that signature (naming the input)
 * before calling sp_model_predict, which is safe from many threads on one built model.
 *
 * Loading files needs sp_load (savepoint/io.h, branch `formats`); until it is merged, loading
 * fails with a message saying so, and probing still recognises the directory.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "savepoint/model.h"
#include "serve/servable_formats.h"
#if __has_include("savepoint/io.h")
#include "savepoint/io.h"
#define SP_HAVE_MODEL_LOADER 1
#endif

static int is_keras_file_name(const char *name) {
  if (name[0] == '.') return 0; /* temporary and hidden names */
  if (strcmp(name, "model.json") == 0) return 1;
  if (sp_path_has_suffix(name, ".weights.h5")) return 0; /* weights only: nothing to serve */
  return sp_path_has_suffix(name, ".keras") || sp_path_has_suffix(name, ".h5") || sp_path_has_suffix(name, ".hdf5");
}

/* The one model file of a version directory. More than one is ambiguous and refused. */
static sp_status find_model_file(const char *directory, char **path) {
  *path = NULL;
  DIR *listing = opendir(directory);
  if (!listing) return sp_fail(SP_ERROR_IO, "cannot list version directory '%s'", directory);
  char *found = NULL;
  sp_status status = SP_OK;
  struct dirent *entry;
  while (status == SP_OK && (entry = readdir(listing)) != NULL) {
    if (!is_keras_file_name(entry->d_name)) continue;
    if (found)
      status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "version directory '%s' holds two models ('%s' and '%s'); keep one",
                       directory, sp_path_basename(found), entry->d_name);
    else if (!(found = sp_path_join(directory, entry->d_name)))
      status = SP_ERROR_NO_MEMORY;
  }
  closedir(listing);
  if (status == SP_OK && !found) status = sp_fail(SP_ERROR_NOT_FOUND, "no Keras or TF.js model in '%s'", directory);
  if (status != SP_OK) {
    free(found);
    return status;
  }
  *path = found;
  return SP_OK;
}

static int probe_keras(const char *directory) {
  DIR *listing = opendir(directory);
  if (!listing) return 0;
  int found = 0;
  struct dirent *entry;
  while (!found && (entry = readdir(listing)) != NULL) found = is_keras_file_name(entry->d_name);
  closedir(listing);
  return found;
}

/* ---------- signature from the model ---------- */

static sp_status describe_endpoint(const sp_model *model, int output, int index, sp_tensor_spec *spec) {
  const char *name = output ? sp_model_output_name(model, index) : sp_model_input_name(model, index);
  spec->key = sp_strdup(name ? name : "");
  spec->tensor_name = sp_strdup("");
  spec->dims = sp_alloc_zeroed(SP_MAX_RANK + 1, sizeof *spec->dims);
  if (!spec->key || !spec->tensor_name || !spec->dims) return SP_ERROR_NO_MEMORY;
  spec->dtype = SP_FLOAT32;
  return output ? sp_model_output_shape(model, index, &spec->rank, spec->dims)
                : sp_model_input_shape(model, index, &spec->rank, spec->dims);
}

sp_status sp_keras_model_signature(const sp_model *model, sp_signature **signature) {
  *signature = sp_alloc_zeroed(1, sizeof **signature);
  if (!*signature) return SP_ERROR_NO_MEMORY;
  sp_signature *result = *signature;
  int inputs = sp_model_input_count(model), outputs = sp_model_output_count(model);
  result->key = sp_strdup(SP_DEFAULT_SIGNATURE);
  result->method_name = sp_strdup(SP_METHOD_PREDICT);
  result->inputs = sp_alloc_zeroed((size_t)inputs + 1, sizeof *result->inputs);
  result->outputs = sp_alloc_zeroed((size_t)outputs + 1, sizeof *result->outputs);
  sp_status status =
      result->key && result->method_name && result->inputs && result->outputs ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) {
    result->input_count = (size_t)inputs;
    result->output_count = (size_t)outputs;
  }
  for (int i = 0; status == SP_OK && i < inputs; i++) status = describe_endpoint(model, 0, i, &result->inputs[i]);
  for (int i = 0; status == SP_OK && i < outputs; i++) status = describe_endpoint(model, 1, i, &result->outputs[i]);
  if (status != SP_OK) {
    sp_signatures_free(result, 1);
    *signature = NULL;
  }
  return status;
}

/* ---------- running ---------- */

static sp_status check_input(const sp_tensor_spec *spec, const sp_tensor *tensor) {
  char expected[160], found[160];
  if (tensor->dtype != SP_FLOAT32)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "input '%s' must be DT_FLOAT, got %s", spec->key,
                   sp_dtype_tf_name(tensor->dtype));
  int matches = spec->rank < 0 || spec->rank == tensor->rank;
  for (int d = 0; matches && spec->rank > 0 && d < spec->rank; d++)
    matches = spec->dims[d] < 0 || spec->dims[d] == tensor->shape[d];
  if (!matches)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "input '%s' must have shape %s (-1: any size), got %s", spec->key,
                   sp_shape_format(spec->rank, spec->dims, expected, sizeof expected),
                   sp_shape_format(tensor->rank, tensor->shape, found, sizeof found));
  return SP_OK;
}

/* Orders the caller's inputs as the model's. */
static sp_status order_inputs(const sp_signature *signature, size_t input_count, const char *const *input_keys,
                              const sp_tensor *const *inputs, const sp_tensor **ordered) {
  if (input_count != signature->input_count)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "the model takes %zu input%s, got %zu", signature->input_count,
                   signature->input_count == 1 ? "" : "s", input_count);
  for (size_t i = 0; i < input_count; i++) {
    size_t j = 0;
    while (j < signature->input_count && strcmp(signature->inputs[j].key, input_keys[i]) != 0) j++;
    if (j == signature->input_count)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "'%s' is not an input of the model", input_keys[i]);
    if (ordered[j]) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "input '%s' is given twice", input_keys[i]);
    SP_TRY(check_input(&signature->inputs[j], inputs[i]));
    ordered[j] = inputs[i];
  }
  return SP_OK;
}

typedef struct keras_state {
  sp_model *model;
  int *input_order;  /* signature input j (sorted by key) is model input input_order[j] */
  int *output_order; /* model output i is signature output output_order[i] */
} keras_state;

static sp_status run_model(void *state_pointer, const sp_signature *signature, size_t input_count,
                           const char *const *input_keys, const sp_tensor *const *inputs, size_t *output_count,
                           char ***output_keys, sp_tensor ***outputs) {
  keras_state *state = state_pointer;
  const sp_tensor **ordered = sp_alloc_zeroed(signature->input_count + 1, sizeof *ordered);
  const sp_tensor **model_inputs = sp_alloc_zeroed(signature->input_count + 1, sizeof *model_inputs);
  sp_status status = ordered && model_inputs ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = order_inputs(signature, input_count, input_keys, inputs, ordered);
  for (size_t j = 0; status == SP_OK && j < signature->input_count; j++)
    model_inputs[state->input_order[j]] = ordered[j];
  int produced = 0;
  sp_tensor **results = NULL;
  if (status == SP_OK)
    status = sp_model_predict(state->model, (int)signature->input_count, model_inputs, &produced, &results);
  free(ordered);
  free(model_inputs);
  if (status != SP_OK) return status;
  *output_keys = sp_alloc_zeroed((size_t)produced + 1, sizeof **output_keys);
  status = *output_keys ? SP_OK : SP_ERROR_NO_MEMORY;
  for (int i = 0; status == SP_OK && i < produced; i++)
    if (!((*output_keys)[i] = sp_strdup(signature->outputs[state->output_order[i]].key))) status = SP_ERROR_NO_MEMORY;
  if (status != SP_OK) {
    sp_servable_outputs_free((size_t)produced, *output_keys, results);
    *output_keys = NULL;
    return status;
  }
  *outputs = results;
  *output_count = (size_t)produced;
  return SP_OK;
}

static void free_keras_state(void *state_pointer) {
  keras_state *state = state_pointer;
  if (!state) return;
  sp_model_free(state->model);
  free(state->input_order);
  free(state->output_order);
  free(state);
}

static const sp_servable_operations keras_operations = {run_model, free_keras_state};

/* Where each sorted signature entry sits in the model's own order. */
static sp_status map_order(const sp_model *model, const sp_signature *signature, keras_state *state) {
  state->input_order = sp_alloc_zeroed(signature->input_count + 1, sizeof *state->input_order);
  state->output_order = sp_alloc_zeroed(signature->output_count + 1, sizeof *state->output_order);
  if (!state->input_order || !state->output_order) return SP_ERROR_NO_MEMORY;
  for (size_t j = 0; j < signature->input_count; j++)
    for (int i = 0; i < sp_model_input_count(model); i++)
      if (strcmp(sp_model_input_name(model, i), signature->inputs[j].key) == 0) state->input_order[j] = i;
  for (int i = 0; i < sp_model_output_count(model); i++)
    for (size_t j = 0; j < signature->output_count; j++)
      if (strcmp(sp_model_output_name(model, i), signature->outputs[j].key) == 0) state->output_order[i] = (int)j;
  return SP_OK;
}

sp_status sp_servable_from_keras_model(sp_model *model, const char *format, const char *source,
                                       sp_servable **servable) {
  *servable = NULL;
  keras_state *state = sp_alloc_zeroed(1, sizeof *state);
  if (!state) {
    sp_model_free(model);
    return SP_ERROR_NO_MEMORY;
  }
  state->model = model;
  sp_signature *signature = NULL;
  sp_status status = sp_model_build(model);
  if (status == SP_OK) status = sp_keras_model_signature(model, &signature);
  if (status == SP_OK) sp_signature_sort(signature);
  if (status == SP_OK) status = map_order(model, signature, state);
  char *description = status == SP_OK
                          ? sp_strdupf("Keras model '%s' from %s (%d input%s, %d output%s)", sp_model_name(model),
                                       source, sp_model_input_count(model), sp_model_input_count(model) == 1 ? "" : "s",
                                       sp_model_output_count(model), sp_model_output_count(model) == 1 ? "" : "s")
                          : NULL;
  if (status == SP_OK && !description) status = SP_ERROR_NO_MEMORY;
  if (status != SP_OK) {
    sp_signatures_free(signature, signature ? 1 : 0);
    free_keras_state(state);
    return status;
  }
  return sp_servable_create(format, description, signature, 1, &keras_operations, state, servable);
}

static sp_status load_keras(const char *directory, const sp_servable_options *options, sp_servable **servable) {
  (void)options;
  *servable = NULL;
  char *path = NULL;
  SP_TRY(find_model_file(directory, &path));
  const char *format = sp_path_has_suffix(path, ".keras") ? "keras" : sp_path_has_suffix(path, ".json") ? "tfjs" : "h5";
#ifdef SP_HAVE_MODEL_LOADER
  sp_load_options load_options = sp_load_defaults();
  load_options.compile = 0; /* serving needs no optimizer state */
  sp_model *model = NULL;
  sp_status status = sp_load(path, &load_options, &model);
  if (status == SP_OK) status = sp_servable_from_keras_model(model, format, sp_path_basename(path), servable);
  if (status != SP_OK) status = sp_error_context(status, "loading '%s'", path);
  free(path);
  return status;
#else
  sp_status status = sp_fail(SP_ERROR_UNSUPPORTED,
                             "serving %s model '%s' needs the Keras/TF.js loaders (sp_load), which this build does not "
                             "have yet; export a SavedModel for now",
                             format, path);
  free(path);
  return status;
#endif
}

const sp_servable_format sp_servable_format_keras = {"keras", probe_keras, load_keras};
