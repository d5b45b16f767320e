/* weights_h5.c — the Keras 3 weights layout (weights_h5.h) and the `.weights.h5` codec.
 *
 * Paths come from one place (keras_weights.c), so writing and reading cannot disagree. Before
 * any dataset is read, the file's weighted groups are matched against the model's weighted
 * objects: a different architecture fails with both lists and the first shape that differs,
 * never with a half-loaded model.
 */
#include "formats/weights_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/memory.h"
#include "formats/codec.h"
#include "formats/keras_config.h"
#include "formats/keras_weights.h"

enum { MAX_FILE_GROUPS = 1 << 20, MAX_GROUP_DEPTH = 64 };

static char *vars_path(const char *inner) { return inner[0] ? sp_strdupf("%s/vars", inner) : sp_strdup("vars"); }

/* ---- writing ---- */

static sp_status write_vars(sp_h5_file *file, const char *inner, const char *name, int count, sp_tensor *const *values) {
  char *group = vars_path(inner);
  if (!group) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_h5_create_group(file, group);
  if (status == SP_OK) status = sp_h5_write_string_attribute(file, group, "name", name, strlen(name), SP_H5_STR);
  for (int i = 0; i < count && status == SP_OK; i++) {
    char *dataset = sp_strdupf("%s/%d", group, i);
    status = dataset ? sp_h5_write_tensor(file, dataset, values[i]) : SP_ERROR_NO_MEMORY;
    free(dataset);
  }
  free(group);
  return status;
}

sp_status sp_keras3_weights_write(const sp_model *model, sp_h5_file *file, int include_optimizer) {
  sp_keras3_layout layout;
  SP_TRY(sp_keras3_layout_of(model, &layout));
  sp_status status = SP_OK;
  for (int i = 0; i < layout.count && status == SP_OK; i++) {
    const sp_keras3_object *object = &layout.objects[i];
    sp_tensor **values = sp_alloc_zeroed((size_t)object->variable_count + 1, sizeof *values);
    if (!values) {
      status = SP_ERROR_NO_MEMORY;
      break;
    }
    for (int v = 0; v < object->variable_count; v++) values[v] = object->variables[v]->value;
    status = write_vars(file, object->path, object->name, object->variable_count, values);
    free(values);
  }
  sp_keras3_layout_free(&layout);
  sp_optimizer_state optimizer;
  if (status == SP_OK && include_optimizer && sp_optimizer_state_of(model, &optimizer)) {
    status = write_vars(file, "optimizer", optimizer.name, optimizer.count, optimizer.values);
    sp_optimizer_state_release(&optimizer);
  }
  return status;
}

/* ---- what the file holds ---- */

typedef struct file_group {
  char *path;     /* of the vars group */
  int datasets;   /* children that are datasets */
  int matched;
} file_group;

typedef struct file_groups {
  file_group *items;
  size_t count, capacity;
} file_groups;

static void file_groups_free(file_groups *groups) {
  for (size_t i = 0; i < groups->count; i++) free(groups->items[i].path);
  free(groups->items);
}

/* Every group named `vars` that holds datasets, outside optimizer/ and metrics (which a model's
 * layers never own). */
static sp_status collect_groups(sp_h5_file *file, const char *path, int depth, file_groups *groups) {
  if (depth > MAX_GROUP_DEPTH) return sp_fail(SP_ERROR_UNSAFE, "'%s': groups nest deeper than %d at '%s'",
                                              sp_h5_name(file), MAX_GROUP_DEPTH, path);
  sp_h5_child *children;
  size_t count;
  SP_TRY(sp_h5_list(file, path, &children, &count));
  sp_status status = SP_OK;
  int datasets = 0;
  for (size_t i = 0; i < count; i++) datasets += children[i].kind == SP_H5_DATASET;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (strcmp(base, "vars") == 0 && datasets > 0) {
    status = SP_RESERVE(groups->items, groups->capacity, groups->count + 1);
    char *copy = status == SP_OK ? sp_strdup(path) : NULL;
    if (status == SP_OK && !copy) status = SP_ERROR_NO_MEMORY;
    if (status == SP_OK) groups->items[groups->count++] = (file_group){copy, datasets, 0};
  }
  for (size_t i = 0; i < count && status == SP_OK; i++) {
    if (children[i].kind != SP_H5_GROUP) continue;
    if (depth == 0 && (strcmp(children[i].name, "optimizer") == 0 || strncmp(children[i].name, "metrics", 7) == 0)) continue;
    if (groups->count >= MAX_FILE_GROUPS) {
      status = sp_fail(SP_ERROR_UNSAFE, "'%s' has more than %d weight groups", sp_h5_name(file), MAX_FILE_GROUPS);
      break;
    }
    char *child = path[0] ? sp_strdupf("%s/%s", path, children[i].name) : sp_strdup(children[i].name);
    status = child ? collect_groups(file, child, depth + 1, groups) : SP_ERROR_NO_MEMORY;
    free(child);
  }
  sp_h5_children_free(children, count);
  return status;
}

/* The vars group of an inner path as this file spells it: POSIX joins, tf.keras 2.15 on Windows
 * (the whole inner path one link with backslashes), or tf.keras 2.13's dependency name. */
static char *find_vars(sp_h5_file *file, const char *inner) {
  char *path = vars_path(inner);
  if (!path || sp_h5_is_group(file, path)) return path;
  free(path);
  char *windows = sp_strdup(inner);
  if (!windows) return NULL;
  for (char *c = windows; *c; c++)
    if (*c == '/') *c = '\\';
  path = vars_path(windows);
  free(windows);
  if (!path || sp_h5_is_group(file, path)) return path;
  free(path);
  if (strncmp(inner, "layers", 6) == 0 && sp_h5_is_group(file, "_layer_checkpoint_dependencies")) {
    path = sp_strdupf("_layer_checkpoint_dependencies%s/vars", inner + 6);
    if (path && sp_h5_is_group(file, path)) return path;
    free(path);
  }
  return NULL;
}

static file_group *group_named(file_groups *groups, const char *path) {
  for (size_t i = 0; path && i < groups->count; i++)
    if (strcmp(groups->items[i].path, path) == 0) return &groups->items[i];
  return NULL;
}

/* "(4, 8)" of a dataset, for messages; "?" when it cannot be described. */
static void dataset_shape(sp_h5_file *file, const char *path, char *out, size_t capacity) {
  sp_h5_dataset_info info;
  if (sp_h5_describe_dataset(file, path, &info) != SP_OK) {
    sp_clear_error();
    snprintf(out, capacity, "?");
    return;
  }
  sp_shape shape = {.rank = info.rank};
  memcpy(shape.dims, info.shape, sizeof info.shape);
  sp_shape_describe(&shape, out, capacity);
}

/* The first variable whose dataset has another shape, as " first difference: …" (or ""). */
static void first_shape_difference(sp_h5_file *file, const sp_keras3_layout *layout, char **found, char *out,
                                   size_t capacity) {
  out[0] = '\0';
  for (int i = 0; i < layout->count; i++) {
    const sp_keras3_object *object = &layout->objects[i];
    for (int v = 0; found[i] && v < object->variable_count; v++) {
      char *dataset = sp_strdupf("%s/%d", found[i], v);
      sp_h5_dataset_info info;
      int differs = dataset && sp_h5_describe_dataset(file, dataset, &info) == SP_OK &&
                    (info.rank != object->variables[v]->value->rank ||
                     memcmp(info.shape, object->variables[v]->value->shape, (size_t)info.rank * sizeof *info.shape) != 0);
      sp_clear_error();
      if (differs) {
        char in_file[128], in_model[128];
        sp_shape model_shape = sp_shape_of(object->variables[v]->value);
        dataset_shape(file, dataset, in_file, sizeof in_file);
        snprintf(out, capacity, "; first shape difference: %s is %s in the file, %s in %s variable '%s'", dataset,
                 in_file, sp_shape_describe(&model_shape, in_model, sizeof in_model),
                 sp_layer_describe(object->variables[v]->layer), object->variables[v]->name);
        free(dataset);
        return;
      }
      free(dataset);
    }
  }
}

static void append(char *out, size_t capacity, const char *format, const char *a, const char *b) {
  size_t used = strlen(out);
  if (used + 1 < capacity) snprintf(out + used, capacity - used, format, a, b);
}

/* Matches the model's weighted objects to the file's groups; fails naming both sides when the
 * sets differ. found[i] receives the vars group of object i (NULL for objects without weights). */
static sp_status match_objects(sp_h5_file *file, const sp_keras3_layout *layout, file_groups *groups, char **found,
                               const char *source) {
  int model_count = 0, missing = 0;
  for (int i = 0; i < layout->count; i++) {
    if (layout->objects[i].variable_count == 0) continue;
    model_count++;
    found[i] = find_vars(file, layout->objects[i].path);
    file_group *group = group_named(groups, found[i]);
    if (group) group->matched = 1;
    else missing++;
  }
  int extra = 0;
  for (size_t g = 0; g < groups->count; g++) extra += !groups->items[g].matched;
  if (missing == 0 && extra == 0) return SP_OK;
  char model_list[2048] = "", file_list[2048] = "", detail[1024];
  for (int i = 0; i < layout->count; i++)
    if (layout->objects[i].variable_count > 0)
      append(model_list, sizeof model_list, model_list[0] ? ", %s (%s)" : "%s (%s)", layout->objects[i].name,
             layout->objects[i].path);
  for (size_t g = 0; g < groups->count; g++)
    append(file_list, sizeof file_list, file_list[0] ? ", %s%s" : "%s%s", groups->items[g].path,
           groups->items[g].matched ? "" : " (no match in the model)");
  first_shape_difference(file, layout, found, detail, sizeof detail);
  return sp_fail(SP_ERROR_MISMATCH,
                 "%s: loading a weight file containing %zu layers into a model with %d layers (model: %s; file: %s)%s",
                 source, groups->count, model_count, model_list, file_list, detail);
}

static sp_status read_object(sp_h5_file *file, const sp_keras3_object *object, const char *group,
                             const sp_load_options *options, const char *source, uint64_t *total) {
  sp_h5_child *children;
  size_t count;
  SP_TRY(sp_h5_list(file, group, &children, &count));
  size_t datasets = 0;
  for (size_t i = 0; i < count; i++) datasets += children[i].kind == SP_H5_DATASET;
  sp_h5_children_free(children, count);
  if (datasets != (size_t)object->variable_count) {
    char names[512] = "";
    for (int v = 0; v < object->variable_count; v++)
      append(names, sizeof names, names[0] ? ", %s%s" : "%s%s", object->variables[v]->name, "");
    return sp_fail(SP_ERROR_MISMATCH, "%s: %s expects %d variables (%s) but %s holds %zu",
                   source, sp_layer_describe(object->layer), object->variable_count, names, group, datasets);
  }
  sp_status status = SP_OK;
  for (int v = 0; v < object->variable_count && status == SP_OK; v++) {
    char *dataset = sp_strdupf("%s/%d", group, v);
    status = dataset ? sp_keras_read_weight(file, dataset, options, total, source, object->variables[v])
                     : SP_ERROR_NO_MEMORY;
    free(dataset);
  }
  return status;
}

sp_status sp_keras_restore_optimizer(sp_h5_file *file, const sp_optimizer_state *state, char *const *paths,
                                     const sp_load_options *options, const char *source) {
  sp_tensor **values = sp_alloc_zeroed((size_t)state->count + 1, sizeof *values);
  if (!values) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  const char *problem = NULL;
  int at = -1;
  for (int i = 0; i < state->count && status == SP_OK && !problem; i++) {
    if (!paths[i]) continue;
    status = sp_h5_read_tensor(file, paths[i], state->values[i]->size * 8 + 64, &values[i]);
    if (status == SP_OK && (values[i]->rank != state->values[i]->rank ||
                            memcmp(values[i]->shape, state->values[i]->shape,
                                   (size_t)values[i]->rank * sizeof *values[i]->shape) != 0)) {
      problem = "does not have the shape of the optimizer's variable";
      at = i;
    }
  }
  if (status == SP_OK && problem) {
    sp_load_warn(options, "%s: %s %s %d; the optimizer starts from fresh variables", source, paths[at], problem, at);
  } else if (status == SP_OK) {
    for (int i = 0; i < state->count; i++)
      for (int64_t e = 0; values[i] && e < sp_tensor_count(values[i]); e++)
        sp_tensor_set_double(state->values[i], e, sp_tensor_get_double(values[i], e));
  }
  for (int i = 0; i < state->count; i++) sp_tensor_free(values[i]);
  free(values);
  return status;
}

/* Keras's Optimizer.load_own_variables: a different variable count is a warning, not an error
 * (a compile_config without its optimizer gives RMSprop, whose variables cannot take Adam's). */
static sp_status read_optimizer(sp_model *model, sp_h5_file *file, const sp_load_options *options, const char *source) {
  sp_optimizer_state state;
  if (!sp_h5_is_group(file, "optimizer/vars") || !sp_optimizer_state_of(model, &state)) return SP_OK;
  sp_h5_child *children;
  size_t count;
  sp_status status = sp_h5_list(file, "optimizer/vars", &children, &count);
  size_t datasets = 0;
  for (size_t i = 0; status == SP_OK && i < count; i++) datasets += children[i].kind == SP_H5_DATASET;
  if (status == SP_OK) sp_h5_children_free(children, count);
  char **paths = status == SP_OK ? sp_alloc_zeroed((size_t)state.count + 1, sizeof *paths) : NULL;
  if (status == SP_OK && !paths) status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK && datasets != (size_t)state.count) {
    sp_load_warn(options, "%s: skipping the optimizer's variables: '%s' has %d whereas the saved optimizer has %zu",
                 source, state.name, state.count, datasets);
  } else if (status == SP_OK) {
    for (int i = 0; i < state.count && status == SP_OK; i++)
      if (!(paths[i] = sp_strdupf("optimizer/vars/%d", i))) status = SP_ERROR_NO_MEMORY;
    if (status == SP_OK) status = sp_keras_restore_optimizer(file, &state, paths, options, source);
  }
  for (int i = 0; paths && i < state.count; i++) free(paths[i]);
  free(paths);
  sp_optimizer_state_release(&state);
  return status;
}

sp_status sp_keras3_weights_read(sp_model *model, sp_h5_file *file, const sp_load_options *options,
                                 int with_optimizer, const char *source) {
  sp_keras3_layout layout;
  SP_TRY(sp_keras3_layout_of(model, &layout));
  file_groups groups = {0};
  char **found = sp_alloc_zeroed((size_t)layout.count + 1, sizeof *found);
  sp_status status = found ? collect_groups(file, "", 0, &groups) : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = match_objects(file, &layout, &groups, found, source);
  uint64_t total = 0;
  for (int i = 0; i < layout.count && status == SP_OK; i++)
    if (layout.objects[i].variable_count > 0)
      status = read_object(file, &layout.objects[i], found[i], options, source, &total);
  if (status == SP_OK && with_optimizer) status = read_optimizer(model, file, options, source);
  for (int i = 0; found && i < layout.count; i++) free(found[i]);
  free(found);
  file_groups_free(&groups);
  sp_keras3_layout_free(&layout);
  return status;
}

sp_status sp_keras_read_weight(sp_h5_file *file, const char *path, const sp_load_options *options, uint64_t *total,
                               const char *source, sp_variable *variable) {
  sp_h5_dataset_info info;
  SP_TRY(sp_h5_describe_dataset(file, path, &info));
  if (info.declared_bytes > options->max_tensor_bytes)
    return sp_fail(SP_ERROR_UNSAFE, "%s: %s declares %llu bytes, over the limit of %llu for one weight", source, path,
                   (unsigned long long)info.declared_bytes, (unsigned long long)options->max_tensor_bytes);
  if (info.declared_bytes > options->max_total_bytes - *total)
    return sp_fail(SP_ERROR_UNSAFE, "%s: the weights add up to more than the limit of %llu bytes at %s", source,
                   (unsigned long long)options->max_total_bytes, path);
  if (info.declared_bytes > (UINT64_C(1) << 20) && info.stored_bytes < info.declared_bytes / 1000)
    return sp_fail(SP_ERROR_UNSAFE, "%s: %s declares %llu bytes but the file stores only %llu for it; refusing to "
                   "allocate it", source, path, (unsigned long long)info.declared_bytes,
                   (unsigned long long)info.stored_bytes);
  *total += info.declared_bytes;
  const sp_tensor *target = variable->value;
  char where[1024];
  snprintf(where, sizeof where, "%s: %s", source, path);
  if (info.dtype == target->dtype && info.rank == target->rank &&
      memcmp(info.shape, target->shape, (size_t)info.rank * sizeof *info.shape) == 0) {
    /* The common case reads straight into the variable: no second copy of a large weight. */
    SP_TRY(sp_error_context(sp_h5_read_tensor_into(file, path, variable->value), "%s", source));
    variable->initialized = 1;
    return SP_OK;
  }
  sp_tensor *value = NULL;
  sp_status status = sp_h5_read_tensor(file, path, options->max_tensor_bytes, &value);
  if (status == SP_OK) status = sp_variable_assign(variable, value, where);
  sp_tensor_free(value);
  return status;
}

int sp_keras3_weights_recognise(sp_h5_file *file) {
  if (sp_h5_is_group(file, "vars") || sp_h5_is_group(file, "layers") || sp_h5_is_group(file, "optimizer"))
    return !sp_h5_has_attribute(file, "", "layer_names") && !sp_h5_is_group(file, "model_weights");
  /* tf.keras 2.15 on Windows: "layers\dense" links at the root. */
  sp_h5_child *children;
  size_t count;
  if (sp_h5_list(file, "", &children, &count) != SP_OK) {
    sp_clear_error();
    return 0;
  }
  int found = 0;
  for (size_t i = 0; i < count && !found; i++) found = strncmp(children[i].name, "layers\\", 7) == 0;
  sp_h5_children_free(children, count);
  return found;
}

/* ---- the .weights.h5 codec ---- */

static int probe(const sp_probe_input *input, sp_probe_info *info) {
  if (input->is_directory || !sp_probe_is_hdf5(input)) return 0;
  sp_h5_file *file;
  if (sp_h5_open(input->path, &file) != SP_OK) {
    sp_clear_error();
    return 0;
  }
  int claimed = sp_keras3_weights_recognise(file);
  if (claimed) {
    info->format = SP_FORMAT_WEIGHTS_H5;
    info->has_weights = 1;
    info->has_optimizer = sp_h5_is_group(file, "optimizer/vars");
    sp_probe_set(info->description, sizeof info->description, "a Keras 3 weights file (.weights.h5)%s",
                 info->has_optimizer ? " with optimizer state" : "");
  }
  sp_h5_close(file);
  return claimed;
}

sp_status sp_h5_write_durably(const char *path, sp_status (*write)(sp_h5_file *file, const void *context),
                              const void *context) {
  char *temp = NULL;
  sp_h5_file *file = NULL;
  SP_TRY(sp_temp_path_for(path, &temp));
  sp_status status = sp_h5_create(temp, &file);
  if (status == SP_OK) status = write(file, context);
  sp_status closed = sp_h5_close(file);
  if (status == SP_OK) status = closed;
  if (status == SP_OK) status = sp_publish_file(temp, path);
  else unlink(temp);
  free(temp);
  return status;
}

sp_status sp_h5_read_with(const char *path, int map_weights,
                          sp_status (*read)(sp_h5_file *file, const char *source, void *context), void *context) {
  sp_h5_file *file;
  SP_TRY(map_weights ? sp_h5_open_mapped(path, &file) : sp_h5_open(path, &file));
  char source[4200];
  snprintf(source, sizeof source, "'%s'", path);
  sp_status status = read(file, source, context);
  sp_h5_close(file);
  return status;
}

typedef struct weights_job {
  const sp_model *model;
  sp_model *target;
  const sp_save_options *save;
  const sp_load_options *load;
} weights_job;

static sp_status write_weights(sp_h5_file *file, const void *context) {
  const weights_job *job = context;
  return sp_keras3_weights_write(job->model, file, job->save->include_optimizer);
}

static sp_status save_weights(const sp_model *model, const char *path, const sp_save_options *options) {
  weights_job job = {.model = model, .save = options};
  return sp_h5_write_durably(path, write_weights, &job);
}

static sp_status read_weights(sp_h5_file *file, const char *source, void *context) {
  weights_job *job = context;
  return sp_keras3_weights_read(job->target, file, job->load, job->load->compile, source);
}

static sp_status load_weights(sp_model *model, const char *path, const sp_load_options *options) {
  weights_job job = {.target = model, .load = options};
  return sp_h5_read_with(path, options->map_weights, read_weights, &job);
}

const sp_codec sp_weights_h5_codec = {
    .format = SP_FORMAT_WEIGHTS_H5,
    .name = "weights-h5",
    .description = "a Keras 3 weights file (.weights.h5)",
    .probe = probe,
    .load_weights = load_weights,
    .save_weights = save_weights,
};
