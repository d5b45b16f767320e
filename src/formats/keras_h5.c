/* keras_h5.c — legacy Keras HDF5: the full model of model.save('x.h5') and the weights of
 * save_weights('x.h5') (formats.md §3). Two codecs share this file: the layouts are one.
 *
 * Reading takes every generation the fixtures hold: Keras 1.2.2 (no backend attribute,
 * weights "dense_1_W:0" beside the layer group's attributes, output_dim configs), Keras
 * 2.0–2.3 and tf.keras 2.x ("dense/kernel:0" in a nested group), the Keras 3 legacy writer
 * (suffix-less "sequential/dense/kernel"), fixed- or variable-length string attributes,
 * lists split into name0, name1, … (h5io reads all of these). Weights are matched to layers as
 * Keras does: by position among the layers that have weights, or by name (by_name), with
 * skip_mismatch reporting what it skips. A layer the model has but the file lacks under
 * by_name is never skipped silently.
 *
 * Writing produces tf.keras 2.15's layout: root attributes keras_version "2.15.0" and backend
 * (str), model_config and training_config (JSON bytes); model_weights with layer_names,
 * backend, keras_version (bytes), one group per layer in sorted-name order with weight_names
 * and datasets "<layer>/<variable>:0", then top_level_model_weights; optimizer_weights with
 * tf.keras 2.11+'s names and order (iteration, then the slots; no learning_rate variable).
 * keras_version decides how Keras reads the file back; 2.15.0 makes TF 2.15 and Keras 3 read
 * it as a tf.keras file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "formats/codec.h"
#include "formats/h5io.h"
#include "formats/keras_h5.h"
#include "formats/keras_config.h"
#include "formats/keras_weights.h"
#include "formats/weights_h5.h"

/* ---- reading helpers ---- */

static int has_list_attribute(sp_h5_file *file, const char *object, const char *name) {
  char split[128];
  snprintf(split, sizeof split, "%s0", name);
  return sp_h5_has_attribute(file, object, name) || sp_h5_has_attribute(file, object, split);
}

/* The group holding layer_names: model_weights in a full model, the root in save_weights files
 * (and model_weights in a full model given to load_weights, as Keras falls back to). */
static const char *weights_root(sp_h5_file *file) {
  if (has_list_attribute(file, "", "layer_names")) return "";
  if (sp_h5_is_group(file, "model_weights") && has_list_attribute(file, "model_weights", "layer_names"))
    return "model_weights";
  return NULL;
}

static char *string_attribute(sp_h5_file *file, const char *object, const char *name) {
  char *value = NULL;
  if (!sp_h5_has_attribute(file, object, name)) return NULL;
  if (sp_h5_read_string_attribute(file, object, name, &value, NULL) != SP_OK) {
    sp_clear_error();
    return NULL;
  }
  return value;
}

static char *keras_version_of(sp_h5_file *file) {
  char *version = string_attribute(file, "", "keras_version");
  if (!version) version = string_attribute(file, "model_weights", "keras_version");
  return version;
}

typedef struct saved_layer {
  char *name;
  sp_tensor *weight_names; /* SP_STRING list */
} saved_layer;

typedef struct saved_weights {
  const char *root;
  saved_layer *layers;
  int count;
} saved_weights;

static void saved_weights_free(saved_weights *saved) {
  for (int i = 0; i < saved->count; i++) {
    free(saved->layers[i].name);
    sp_tensor_free(saved->layers[i].weight_names);
  }
  free(saved->layers);
}

static char *join_group(const char *root, const char *name) {
  return root[0] ? sp_strdupf("%s/%s", root, name) : sp_strdup(name);
}

static sp_status read_saved_weights(sp_h5_file *file, const char *root, const char *source, saved_weights *saved) {
  *saved = (saved_weights){.root = root};
  sp_tensor *names;
  SP_TRY(sp_h5_read_string_list_attribute(file, root, "layer_names", &names));
  int64_t count = sp_tensor_count(names);
  saved->layers = sp_alloc_zeroed((size_t)count + 1, sizeof *saved->layers);
  sp_status status = saved->layers ? SP_OK : SP_ERROR_NO_MEMORY;
  const sp_string *strings = names->data;
  for (int64_t i = 0; i < count && status == SP_OK; i++) {
    saved_layer *layer = &saved->layers[saved->count];
    layer->name = sp_strndup(strings[i].bytes ? strings[i].bytes : "", strings[i].length);
    if (!layer->name) {
      status = SP_ERROR_NO_MEMORY;
      break;
    }
    saved->count++;
    char *group = join_group(root, layer->name);
    if (!group || !sp_h5_is_group(file, group)) {
      status = group ? sp_fail(SP_ERROR_FORMAT, "%s: layer_names lists '%s' but the file has no group %s", source,
                               layer->name, group)
                     : SP_ERROR_NO_MEMORY;
      free(group);
      break;
    }
    status = sp_h5_read_string_list_attribute(file, group, "weight_names", &layer->weight_names);
    free(group);
  }
  sp_tensor_free(names);
  if (status != SP_OK) saved_weights_free(saved);
  return status;
}

static int64_t weight_count(const saved_layer *layer) { return sp_tensor_count(layer->weight_names); }

/* The dataset path of weight i of a saved layer. */
static char *weight_path(const saved_weights *saved, const saved_layer *layer, int64_t i) {
  const sp_string *name = (const sp_string *)layer->weight_names->data + i;
  return saved->root[0] ? sp_strdupf("%s/%s/%.*s", saved->root, layer->name, (int)name->length, name->bytes)
                        : sp_strdupf("%s/%.*s", layer->name, (int)name->length, name->bytes);
}

/* ---- matching and assigning ---- */

typedef struct model_layer {
  sp_layer *layer;
  sp_variable **variables;
  int count;
} model_layer;

/* Top-level layers that have weights (Keras's filtered_layers), with their legacy weight order. */
static sp_status weighted_layers(const sp_model *model, model_layer **layers, int *count) {
  *layers = sp_alloc_zeroed((size_t)model->layer_count + 1, sizeof **layers);
  *count = 0;
  if (!*layers) return SP_ERROR_NO_MEMORY;
  for (int i = 0; i < model->layer_count; i++) {
    model_layer entry = {.layer = model->layers[i]};
    SP_TRY(sp_keras2_layer_weights(entry.layer, &entry.variables, &entry.count));
    if (entry.count > 0) (*layers)[(*count)++] = entry;
    else free(entry.variables);
  }
  return SP_OK;
}

static void weighted_layers_free(model_layer *layers, int count) {
  for (int i = 0; i < count; i++) free(layers[i].variables);
  free(layers);
}

/* The first weight whose shape differs between a file layer and a model layer, as text ("" if none). */
static void shape_difference(sp_h5_file *file, const saved_weights *saved, const saved_layer *file_layer,
                             const model_layer *layer, char *out, size_t capacity) {
  out[0] = '\0';
  int64_t count = weight_count(file_layer) < layer->count ? weight_count(file_layer) : layer->count;
  for (int64_t i = 0; i < count; i++) {
    char *path = weight_path(saved, file_layer, i);
    sp_h5_dataset_info info;
    int described = path && sp_h5_describe_dataset(file, path, &info) == SP_OK;
    sp_clear_error();
    const sp_tensor *value = layer->variables[i]->value;
    if (described && (info.rank != value->rank || memcmp(info.shape, value->shape, (size_t)info.rank * sizeof *info.shape) != 0)) {
      sp_shape in_file = {.rank = info.rank}, in_model = sp_shape_of(value);
      memcpy(in_file.dims, info.shape, sizeof info.shape);
      char a[128], b[128];
      snprintf(out, capacity, "%s is %s in the file but %s variable '%s' is %s", path,
               sp_shape_describe(&in_file, a, sizeof a), sp_layer_describe(layer->layer), layer->variables[i]->name,
               sp_shape_describe(&in_model, b, sizeof b));
      free(path);
      return;
    }
    free(path);
  }
}

/* Loads one saved layer's datasets into a model layer; all or nothing for its shapes. */
static sp_status assign_layer(sp_h5_file *file, const saved_weights *saved, const saved_layer *file_layer,
                              const model_layer *layer, const sp_load_options *options, const char *source,
                              uint64_t *total) {
  if (weight_count(file_layer) != layer->count)
    return sp_fail(SP_ERROR_MISMATCH, "%s: %s has %d weights but the file's layer '%s' has %lld", source,
                   sp_layer_describe(layer->layer), layer->count, file_layer->name, (long long)weight_count(file_layer));
  char difference[1024];
  shape_difference(file, saved, file_layer, layer, difference, sizeof difference);
  if (difference[0]) return sp_fail(SP_ERROR_MISMATCH, "%s: %s", source, difference);
  sp_status status = SP_OK;
  for (int i = 0; i < layer->count && status == SP_OK; i++) {
    char *path = weight_path(saved, file_layer, i);
    status = path ? sp_keras_read_weight(file, path, options, total, source, layer->variables[i]) : SP_ERROR_NO_MEMORY;
    free(path);
  }
  return status;
}

static void names_of_model(const model_layer *layers, int count, char *out, size_t capacity) {
  out[0] = '\0';
  for (int i = 0; i < count && strlen(out) + 2 < capacity; i++)
    snprintf(out + strlen(out), capacity - strlen(out), "%s%s", i ? ", " : "", layers[i].layer->name);
}

static void names_of_file(const saved_layer *const *layers, int count, char *out, size_t capacity) {
  out[0] = '\0';
  for (int i = 0; i < count && strlen(out) + 2 < capacity; i++)
    snprintf(out + strlen(out), capacity - strlen(out), "%s%s", i ? ", " : "", layers[i]->name);
}

/* Keras's topological loading: the n-th layer with weights gets the n-th saved layer with weights. */
static sp_status load_by_position(sp_h5_file *file, const saved_weights *saved, model_layer *layers, int count,
                                  const sp_load_options *options, const char *source) {
  const saved_layer **with_weights = sp_alloc_zeroed((size_t)saved->count + 1, sizeof *with_weights);
  if (!with_weights) return SP_ERROR_NO_MEMORY;
  int saved_count = 0;
  for (int i = 0; i < saved->count; i++)
    if (weight_count(&saved->layers[i]) > 0) with_weights[saved_count++] = &saved->layers[i];
  sp_status status = SP_OK;
  uint64_t total = 0;
  if (saved_count != count) {
    char model_names[2048], file_names[2048], difference[1024] = "";
    names_of_model(layers, count, model_names, sizeof model_names);
    names_of_file(with_weights, saved_count, file_names, sizeof file_names);
    for (int i = 0; i < saved_count && i < count && !difference[0]; i++)
      shape_difference(file, saved, with_weights[i], &layers[i], difference, sizeof difference);
    status = sp_fail(SP_ERROR_MISMATCH,
                     "%s: loading a weight file containing %d layers into a model with %d layers (model: %s; file: %s)%s%s",
                     source, saved_count, count, model_names, file_names, difference[0] ? "; first shape difference: " : "",
                     difference);
  }
  for (int i = 0; i < count && status == SP_OK; i++) {
    status = assign_layer(file, saved, with_weights[i], &layers[i], options, source, &total);
    if (status != SP_OK && strcmp(with_weights[i]->name, layers[i].layer->name) != 0)
      status = sp_error_context(status, "(layer %d of the model, '%s', was given the file's layer '%s': was a layer "
                                "added, removed or renamed?)", i, layers[i].layer->name, with_weights[i]->name);
  }
  free(with_weights);
  return status;
}

static sp_status load_by_name(sp_h5_file *file, const saved_weights *saved, model_layer *layers, int count,
                              const sp_load_options *options, const char *source) {
  int *loaded = sp_alloc_zeroed((size_t)count + 1, sizeof *loaded);
  if (!loaded) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  uint64_t total = 0;
  for (int s = 0; s < saved->count && status == SP_OK; s++) {
    const saved_layer *file_layer = &saved->layers[s];
    for (int m = 0; m < count && status == SP_OK; m++) {
      if (strcmp(layers[m].layer->name, file_layer->name) != 0) continue;
      status = assign_layer(file, saved, file_layer, &layers[m], options, source, &total);
      if (status == SP_ERROR_MISMATCH && options->skip_mismatch) {
        sp_load_warn(options, "skipping %s: %s", sp_layer_describe(layers[m].layer), sp_last_error());
        sp_clear_error();
        status = SP_OK;
        loaded[m] = -1;
        continue;
      }
      loaded[m] = status == SP_OK;
    }
  }
  /* By name, Keras leaves a layer the file does not name untouched without a word; a renamed layer
   * then keeps its initial weights. Say so instead. */
  char missing[2048] = "", unused[2048] = "";
  for (int m = 0; m < count && status == SP_OK; m++)
    if (!loaded[m]) snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s",
                             missing[0] ? ", " : "", layers[m].layer->name);
  for (int s = 0; s < saved->count && status == SP_OK; s++) {
    if (weight_count(&saved->layers[s]) == 0) continue;
    int used = 0;
    for (int m = 0; m < count && !used; m++) used = strcmp(layers[m].layer->name, saved->layers[s].name) == 0;
    if (!used) snprintf(unused + strlen(unused), sizeof unused - strlen(unused), "%s%s", unused[0] ? ", " : "",
                        saved->layers[s].name);
  }
  if (status == SP_OK && missing[0]) {
    char message[4600];
    snprintf(message, sizeof message, "%s: loading by name, the file has no weights for the model's layers %s%s%s%s",
             source, missing, unused[0] ? " (the file's layers without a match in the model: " : "", unused,
             unused[0] ? "; renamed?)" : "");
    if (options->skip_mismatch) sp_load_warn(options, "%s; they keep their current values", message);
    else status = sp_fail(SP_ERROR_MISMATCH, "%s", message);
  }
  free(loaded);
  return status;
}

static sp_status load_layer_weights(sp_model *model, sp_h5_file *file, const sp_load_options *options, const char *source) {
  const char *root = weights_root(file);
  if (!root) return sp_fail(SP_ERROR_FORMAT, "%s holds no legacy Keras weights (no layer_names attribute)", source);
  char *backend = string_attribute(file, root, "backend");
  int theano = backend && strcmp(backend, "theano") == 0;
  free(backend);
  if (theano)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s was written with the Theano backend, whose convolution kernels are "
                   "flipped; savepoint does not convert Theano weights", source);
  saved_weights saved;
  SP_TRY(read_saved_weights(file, root, source, &saved));
  model_layer *layers = NULL;
  int count = 0;
  sp_status status = weighted_layers(model, &layers, &count);
  if (status == SP_OK)
    status = options->by_name ? load_by_name(file, &saved, layers, count, options, source)
                              : load_by_position(file, &saved, layers, count, options, source);
  weighted_layers_free(layers, count);
  saved_weights_free(&saved);
  return status;
}

/* ---- optimizer state ---- */

/* Restores optimizer_weights when they are Keras 3's legacy layout (its order and count, learning
 * rate included) or tf.keras 2.11+'s (the same names we write; no learning_rate, which the
 * training config restores). optimizer_v1/v2 files order their slots otherwise (all m, then all
 * v): they are reported and the optimizer left fresh, as Keras 3 does. */
static sp_status load_optimizer(sp_model *model, sp_h5_file *file, const sp_load_options *options, const char *source) {
  sp_optimizer_state state;
  if (!sp_h5_is_group(file, "optimizer_weights") || !sp_optimizer_state_of(model, &state)) return SP_OK;
  sp_tensor *names = NULL;
  sp_status status = sp_h5_read_string_list_attribute(file, "optimizer_weights", "weight_names", &names);
  int64_t count = status == SP_OK ? sp_tensor_count(names) : 0;
  const sp_string *strings = names ? names->data : NULL;
  int keras2 = 0;
  for (int i = 0; i < state.count; i++) keras2 += state.keras2_names[i] != NULL;
  int same_names = count == keras2;
  for (int i = 0, k = 0; same_names && i < state.count; i++) {
    if (!state.keras2_names[i]) continue;
    same_names = strlen(state.keras2_names[i]) == strings[k].length &&
                 memcmp(state.keras2_names[i], strings[k].bytes, strings[k].length) == 0;
    k++;
  }
  char **paths = status == SP_OK ? sp_alloc_zeroed((size_t)state.count + 1, sizeof *paths) : NULL;
  if (status == SP_OK && !paths) status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK && (same_names || count == state.count)) {
    for (int i = 0, k = 0; i < state.count && status == SP_OK; i++) {
      if (same_names && !state.keras2_names[i]) continue;
      paths[i] = sp_strdupf("optimizer_weights/%.*s", (int)strings[k].length, strings[k].bytes);
      if (!paths[i]) status = SP_ERROR_NO_MEMORY;
      k++;
    }
    if (status == SP_OK) status = sp_keras_restore_optimizer(file, &state, paths, options, source);
  } else if (status == SP_OK) {
    sp_load_warn(options, "%s: the optimizer state (%lld variables) is not in a layout savepoint restores for "
                 "'%s' (%d variables); training resumes with fresh optimizer variables", source, (long long)count,
                 state.name, state.count);
  }
  for (int i = 0; paths && i < state.count; i++) free(paths[i]);
  free(paths);
  sp_tensor_free(names);
  sp_optimizer_state_release(&state);
  return status;
}

/* ---- probing ---- */

static int probe_kind(const sp_probe_input *input, sp_probe_info *info, int full_model) {
  if (input->is_directory || !sp_probe_is_hdf5(input)) return 0;
  sp_h5_file *file;
  if (sp_h5_open(input->path, &file) != SP_OK) {
    sp_clear_error();
    return 0;
  }
  int has_config = sp_h5_has_attribute(file, "", "model_config");
  const char *root = weights_root(file);
  int claimed = full_model ? has_config : !has_config && root != NULL;
  if (claimed) {
    char *version = keras_version_of(file);
    info->format = full_model ? SP_FORMAT_H5 : SP_FORMAT_LEGACY_WEIGHTS_H5;
    info->has_model = full_model;
    info->has_weights = root != NULL;
    info->has_optimizer = sp_h5_is_group(file, "optimizer_weights");
    sp_probe_set(info->keras_version, sizeof info->keras_version, "%s", version ? version : "");
    if (full_model)
      sp_probe_set(info->description, sizeof info->description, "a legacy Keras HDF5 model (keras_version %s%s)",
                   version ? version : "unknown", info->has_optimizer ? ", with optimizer state" : "");
    else
      sp_probe_set(info->description, sizeof info->description,
                   "a legacy Keras HDF5 weights file (save_weights, keras_version %s)", version ? version : "unknown");
    free(version);
  }
  sp_h5_close(file);
  return claimed;
}

static int probe_full(const sp_probe_input *input, sp_probe_info *info) { return probe_kind(input, info, 1); }
static int probe_weights(const sp_probe_input *input, sp_probe_info *info) { return probe_kind(input, info, 0); }

/* ---- loading ---- */

static int major_of(const char *version) {
  if (!version) return 0;
  int major = atoi(version);
  return major >= 1 && major <= 3 ? major : 0;
}

static sp_status read_json_attribute(sp_h5_file *file, const char *name, const char *source, json_object **value) {
  char *text = NULL;
  size_t length = 0;
  *value = NULL;
  SP_TRY(sp_h5_read_string_attribute(file, "", name, &text, &length));
  char what[4400];
  snprintf(what, sizeof what, "%s attribute %s", source, name);
  sp_status status = sp_json_parse(text, length, what, value);
  free(text);
  return status;
}

sp_status sp_keras_h5_load_model(sp_h5_file *file, const sp_load_options *options, const char *source, sp_model **model) {
  *model = NULL;
  json_object *config = NULL, *training = NULL;
  char *version = keras_version_of(file);
  sp_status status = sp_h5_has_attribute(file, "", "model_config")
                         ? read_json_attribute(file, "model_config", source, &config)
                         : sp_fail(SP_ERROR_MISMATCH, "%s has no model_config: it holds weights only; build the model "
                                   "and call sp_load_weights", source);
  if (status == SP_OK) {
    char context[4300];
    snprintf(context, sizeof context, "%s model_config", source);
    status = sp_keras_model_from_object(config, major_of(version), context, model);
  }
  int compiled = 0;
  if (status == SP_OK && options->compile && sp_h5_has_attribute(file, "", "training_config")) {
    status = read_json_attribute(file, "training_config", source, &training);
    if (status == SP_OK) status = sp_keras_model_restore_training(*model, training, options, source, &compiled);
  }
  if (status == SP_OK) status = load_layer_weights(*model, file, options, source);
  if (status == SP_OK && compiled) status = load_optimizer(*model, file, options, source);
  json_object_put(config);
  json_object_put(training);
  free(version);
  if (status != SP_OK) {
    sp_model_free(*model);
    *model = NULL;
  }
  return status;
}

sp_status sp_keras_h5_load_weights(sp_model *model, sp_h5_file *file, const sp_load_options *options,
                                   const char *source) {
  return load_layer_weights(model, file, options, source);
}

typedef struct h5_job {
  const sp_model *model;
  sp_model *target;
  sp_model **loaded;
  const sp_save_options *save;
  const sp_load_options *load;
  int full_model;
} h5_job;

static sp_status read_model(sp_h5_file *file, const char *source, void *context) {
  h5_job *job = context;
  return sp_keras_h5_load_model(file, job->load, source, job->loaded);
}

static sp_status read_weights(sp_h5_file *file, const char *source, void *context) {
  h5_job *job = context;
  return sp_keras_h5_load_weights(job->target, file, job->load, source);
}

static sp_status load(const char *path, const sp_load_options *options, sp_model **model) {
  h5_job job = {.loaded = model, .load = options};
  *model = NULL;
  return sp_h5_read_with(path, options->map_weights, read_model, &job);
}

static sp_status load_weights(sp_model *model, const char *path, const sp_load_options *options) {
  h5_job job = {.target = model, .load = options};
  return sp_h5_read_with(path, options->map_weights, read_weights, &job);
}

/* ---- writing ---- */

/* h5py's bytes (ASCII) and str (UTF-8) attribute values: Keras assigns both (formats.md §3.1). */
static sp_status write_text_attribute(sp_h5_file *file, const char *object, const char *name, const char *value,
                                      sp_h5_encoding encoding) {
  return sp_h5_write_string_attribute(file, object, name, value, strlen(value), encoding);
}

/* weight_names plus one dataset per variable, as save_subset_weights_to_hdf5_group writes them. */
static sp_status write_subset(sp_h5_file *file, const char *group, char **names, sp_tensor *const *values, int count) {
  SP_TRY(sp_h5_create_group(file, group));
  SP_TRY(sp_h5_write_string_list_attribute(file, group, "weight_names", (const char *const *)names, (size_t)count,
                                           SP_H5_BYTES));
  for (int i = 0; i < count; i++) {
    char *path = sp_strdupf("%s/%s", group, names[i]);
    sp_status status = path ? sp_h5_write_tensor(file, path, values[i]) : SP_ERROR_NO_MEMORY;
    free(path);
    SP_TRY(status);
  }
  return SP_OK;
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(sp_layer *const *)a)->name, (*(sp_layer *const *)b)->name);
}

static sp_status write_layer(sp_h5_file *file, const char *root, const sp_layer *layer) {
  sp_variable **variables;
  int count;
  SP_TRY(sp_keras2_layer_weights(layer, &variables, &count));
  char **names = sp_alloc_zeroed((size_t)count + 1, sizeof *names);
  sp_tensor **values = sp_alloc_zeroed((size_t)count + 1, sizeof *values);
  char *group = join_group(root, layer->name);
  sp_status status = names && values && group ? SP_OK : SP_ERROR_NO_MEMORY;
  for (int i = 0; i < count && status == SP_OK; i++) {
    names[i] = sp_keras2_weight_name(variables[i]);
    values[i] = variables[i]->value;
    if (!names[i]) status = SP_ERROR_NO_MEMORY;
  }
  if (status == SP_OK) status = write_subset(file, group, names, values, count);
  for (int i = 0; names && i < count; i++) free(names[i]);
  free(names);
  free(values);
  free(group);
  free(variables);
  return status;
}

/* save_weights_to_hdf5_group: layer_names, backend, keras_version, then the layer groups. */
static sp_status write_model_weights(const sp_model *model, sp_h5_file *file, const char *root) {
  int sequential = strcmp(model->class_name, "Sequential") == 0;
  int first = sequential && model->layer_count > 0 && sp_layer_is_input(model->layers[0]) ? 1 : 0;
  int count = model->layer_count - first;
  const char **names = sp_alloc_zeroed((size_t)count + 1, sizeof *names);
  sp_layer **sorted = sp_alloc_zeroed((size_t)count + 1, sizeof *sorted);
  sp_status status = names && sorted ? SP_OK : SP_ERROR_NO_MEMORY;
  for (int i = 0; i < count && status == SP_OK; i++) {
    names[i] = model->layers[first + i]->name;
    sorted[i] = model->layers[first + i];
  }
  if (status == SP_OK && root[0]) status = sp_h5_create_group(file, root);
  if (status == SP_OK) status = sp_h5_write_string_list_attribute(file, root, "layer_names", names, (size_t)count, SP_H5_BYTES);
  if (status == SP_OK) status = write_text_attribute(file, root, "backend", "tensorflow", SP_H5_BYTES);
  if (status == SP_OK) status = write_text_attribute(file, root, "keras_version", SP_KERAS2_VERSION, SP_H5_BYTES);
  if (status == SP_OK) qsort(sorted, (size_t)count, sizeof *sorted, by_name);
  for (int i = 0; i < count && status == SP_OK; i++) status = write_layer(file, root, sorted[i]);
  if (status == SP_OK) {
    char *group = join_group(root, "top_level_model_weights");
    status = group ? write_subset(file, group, NULL, NULL, 0) : SP_ERROR_NO_MEMORY;
    free(group);
  }
  free(names);
  free(sorted);
  return status;
}

/* Whether the optimizer has taken a step: tf.keras creates an optimizer's weights on its first
 * step, so a compiled model that never trained has no optimizer_weights group. */
static int optimizer_has_stepped(const sp_optimizer_state *state) {
  for (int i = 0; i < state->count; i++)
    if (state->keras2_names[i] && strcmp(state->keras2_names[i], "iteration:0") == 0)
      return sp_tensor_get_double(state->values[i], 0) > 0;
  return 1;
}

static sp_status write_optimizer(const sp_model *model, sp_h5_file *file) {
  sp_optimizer_state state;
  if (!sp_optimizer_state_of(model, &state)) return SP_OK;
  if (!optimizer_has_stepped(&state)) {
    sp_optimizer_state_release(&state);
    return SP_OK;
  }
  char **names = sp_alloc_zeroed((size_t)state.count + 1, sizeof *names);
  sp_tensor **values = sp_alloc_zeroed((size_t)state.count + 1, sizeof *values);
  sp_status status = names && values ? SP_OK : SP_ERROR_NO_MEMORY;
  int count = 0;
  for (int i = 0; i < state.count && status == SP_OK; i++) {
    if (!state.keras2_names || !state.keras2_names[i]) continue; /* tf.keras keeps no learning_rate variable */
    names[count] = state.keras2_names[i];
    values[count++] = state.values[i];
  }
  if (status == SP_OK && count > 0) status = write_subset(file, "optimizer_weights", names, values, count);
  free(names);
  free(values);
  sp_optimizer_state_release(&state);
  return status;
}

static sp_status write_json_attribute(sp_h5_file *file, const char *name, json_object *value) {
  char *text = value ? sp_json_dumps(value, 0) : NULL;
  json_object_put(value);
  if (!text) return sp_fail(SP_ERROR_NO_MEMORY, "cannot serialize %s", name);
  sp_status status = write_text_attribute(file, "", name, text, SP_H5_BYTES);
  free(text);
  return status;
}

static sp_status write_file(sp_h5_file *file, const void *context) {
  const h5_job *job = context;
  const sp_model *model = job->model;
  if (!job->full_model) return write_model_weights(model, file, "");
  SP_TRY(write_text_attribute(file, "", "keras_version", SP_KERAS2_VERSION, SP_H5_STR));
  SP_TRY(write_text_attribute(file, "", "backend", "tensorflow", SP_H5_STR));
  SP_TRY(write_json_attribute(file, "model_config", sp_keras2_model_config(model)));
  json_object *training = job->save->include_optimizer ? sp_keras_training_config(model) : NULL;
  if (training) SP_TRY(write_json_attribute(file, "training_config", training));
  SP_TRY(write_model_weights(model, file, "model_weights"));
  return job->save->include_optimizer ? write_optimizer(model, file) : SP_OK;
}

static sp_status write_h5(const sp_model *model, const char *path, const sp_save_options *options, int full_model) {
  h5_job job = {.model = model, .save = options, .full_model = full_model};
  return sp_h5_write_durably(path, write_file, &job);
}

static sp_status save_full(const sp_model *model, const char *path, const sp_save_options *options) {
  return write_h5(model, path, options, 1);
}

static sp_status save_weights(const sp_model *model, const char *path, const sp_save_options *options) {
  return write_h5(model, path, options, 0);
}

const sp_codec sp_keras_h5_codec = {
    .format = SP_FORMAT_H5,
    .name = "h5",
    .description = "a legacy Keras HDF5 model (.h5)",
    .probe = probe_full,
    .load = load,
    .save = save_full,
    .load_weights = load_weights,
    .save_weights = save_weights,
};

const sp_codec sp_legacy_weights_h5_codec = {
    .format = SP_FORMAT_LEGACY_WEIGHTS_H5,
    .name = "legacy-weights-h5",
    .description = "a legacy Keras HDF5 weights file (save_weights('x.h5'))",
    .probe = probe_weights,
    .load_weights = load_weights,
    .save_weights = save_weights,
};
