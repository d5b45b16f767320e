/* show_model.c — `savepoint show` for Keras and TF.js model files (show_model.h).
 *
 * The format comes from sp_probe, so show agrees with sp_load about what a path holds, and the
 * model is loaded by its content (a misnamed file is shown as what it is). The SHA-256 is the
 * artifact hash of savepoint/manifest.h: a file's own hash, or a directory's listing hash.
 */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/show_model.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/memory.h"
#include "formats/h5io.h"
#include "nn/model.h"
#include "savepoint/io.h"
#include "savepoint/manifest.h"

static const char command[] = "show";

static sp_status artifact_hash(const char *path, char out[SP_SHA256_HEX]) {
  if (!sp_is_directory(path)) return sp_sha256_file(path, out);
  sp_manifest *manifest;
  SP_TRY(sp_manifest_compute(path, &manifest));
  memcpy(out, manifest->sha256, SP_SHA256_HEX);
  sp_manifest_free(manifest);
  return SP_OK;
}

/* ---- weights-only files: every dataset with its dtype and shape ---- */

typedef struct weight_row {
  char *path;
  sp_h5_dataset_info info;
} weight_row;

static sp_status collect_datasets(sp_h5_file *file, const char *group, int depth, weight_row **rows, size_t *count,
                                  size_t *capacity) {
  if (depth > 32) return SP_OK;
  sp_h5_child *children;
  size_t child_count;
  SP_TRY(sp_h5_list(file, group, &children, &child_count));
  sp_status status = SP_OK;
  for (size_t i = 0; i < child_count && status == SP_OK; i++) {
    char *path = group[0] ? sp_strdupf("%s/%s", group, children[i].name) : sp_strdup(children[i].name);
    if (!path) {
      status = SP_ERROR_NO_MEMORY;
      break;
    }
    if (children[i].kind == SP_H5_GROUP) {
      status = collect_datasets(file, path, depth + 1, rows, count, capacity);
      free(path);
    } else if (children[i].kind == SP_H5_DATASET) {
      sp_h5_dataset_info info;
      status = sp_h5_describe_dataset(file, path, &info);
      if (status == SP_OK) status = SP_RESERVE(*rows, *capacity, *count + 1);
      if (status == SP_OK) (*rows)[(*count)++] = (weight_row){path, info};
      else free(path);
    } else {
      free(path);
    }
  }
  sp_h5_children_free(children, child_count);
  return status;
}

static int show_weights(const char *path, const sp_probe_info *info, const char *hash, int json) {
  sp_h5_file *file;
  sp_status status = sp_h5_open(path, &file);
  if (status != SP_OK) return sp_cli_report(command, status);
  weight_row *rows = NULL;
  size_t count = 0, capacity = 0;
  status = collect_datasets(file, "", 0, &rows, &count, &capacity);
  sp_h5_close(file);
  if (status != SP_OK) return sp_cli_report(command, status);
  uint64_t total = 0;
  for (size_t i = 0; i < count; i++) total += rows[i].info.declared_bytes;
  if (json) {
    json_object *root = json_object_new_object(), *weights = json_object_new_array();
    json_object_object_add(root, "path", json_object_new_string(path));
    json_object_object_add(root, "format", json_object_new_string(sp_format_name(info->format)));
    json_object_object_add(root, "description", json_object_new_string(info->description));
    json_object_object_add(root, "keras_version", info->keras_version[0] ? json_object_new_string(info->keras_version) : NULL);
    json_object_object_add(root, "sha256", json_object_new_string(hash));
    for (size_t i = 0; i < count; i++) {
      json_object *weight = json_object_new_object(), *shape = json_object_new_array();
      for (int d = 0; d < rows[i].info.rank; d++) json_object_array_add(shape, json_object_new_int64(rows[i].info.shape[d]));
      json_object_object_add(weight, "name", json_object_new_string(rows[i].path));
      json_object_object_add(weight, "dtype", json_object_new_string(sp_dtype_name(rows[i].info.dtype)));
      json_object_object_add(weight, "shape", shape);
      json_object_object_add(weight, "bytes", json_object_new_uint64(rows[i].info.declared_bytes));
      json_object_array_add(weights, weight);
    }
    json_object_object_add(root, "weights", weights);
    json_object_object_add(root, "total_bytes", json_object_new_uint64(total));
    char *text = sp_json_dumps(root, 0);
    json_object_put(root);
    if (text) puts(text);
    free(text);
  } else {
    printf("File: %s\nFormat: %s\nKeras version: %s\nSHA-256: %s\n\n", path, info->description,
           info->keras_version[0] ? info->keras_version : "(not recorded)", hash);
    for (size_t i = 0; i < count; i++) {
      char shape[128];
      sp_shape_format(rows[i].info.rank, rows[i].info.shape, shape, sizeof shape);
      printf("%-60s %-8s %s\n", rows[i].path, sp_dtype_name(rows[i].info.dtype), shape);
    }
    printf("\n%zu weights, %llu bytes\n", count, (unsigned long long)total);
  }
  for (size_t i = 0; i < count; i++) free(rows[i].path);
  free(rows);
  return 0;
}

/* ---- whole models ---- */

static json_object *shape_json(const sp_shape *shape) {
  json_object *list = json_object_new_array();
  for (int i = 0; i < shape->rank; i++)
    json_object_array_add(list, shape->dims[i] < 0 ? NULL : json_object_new_int64(shape->dims[i]));
  return list;
}

static int64_t layer_parameters(const sp_layer *layer) {
  if (layer->inner_model) return sp_model_parameter_count(layer->inner_model, 0);
  int64_t total = 0;
  for (int v = 0; v < layer->variable_count; v++) total += sp_tensor_count(layer->variables[v]->value);
  return total;
}

static void print_model_json(const char *path, const sp_probe_info *info, const char *hash, const sp_model *model) {
  json_object *root = json_object_new_object(), *layers = json_object_new_array();
  json_object_object_add(root, "path", json_object_new_string(path));
  json_object_object_add(root, "format", json_object_new_string(sp_format_name(info->format)));
  json_object_object_add(root, "description", json_object_new_string(info->description));
  json_object_object_add(root, "keras_version", info->keras_version[0] ? json_object_new_string(info->keras_version) : NULL);
  json_object_object_add(root, "sha256", json_object_new_string(hash));
  json_object_object_add(root, "model", json_object_new_string(model->name));
  json_object_object_add(root, "class_name", json_object_new_string(model->class_name));
  int sequential = strcmp(model->class_name, "Sequential") == 0;
  for (int i = 0; i < model->layer_count; i++) {
    const sp_layer *layer = model->layers[i];
    if (sequential && i == 0 && sp_layer_is_input(layer)) continue;
    json_object *entry = json_object_new_object();
    json_object_object_add(entry, "name", json_object_new_string(layer->name ? layer->name : ""));
    json_object_object_add(entry, "class_name", json_object_new_string(layer->inner_model ? layer->inner_model->class_name
                                                                                          : layer->class->class_name));
    for (int n = 0; n < model->node_count; n++)
      if (model->nodes[n].layer == layer) {
        json_object_object_add(entry, "output_shape", shape_json(&model->nodes[n].outputs[0]));
        break;
      }
    json_object_object_add(entry, "params", json_object_new_int64(layer_parameters(layer)));
    json_object_array_add(layers, entry);
  }
  json_object_object_add(root, "layers", layers);
  int64_t total = sp_model_parameter_count(model, 0), trainable = sp_model_parameter_count(model, 1);
  json_object_object_add(root, "total_params", json_object_new_int64(total));
  json_object_object_add(root, "trainable_params", json_object_new_int64(trainable));
  json_object_object_add(root, "non_trainable_params", json_object_new_int64(total - trainable));
  json_object_object_add(root, "has_optimizer", json_object_new_boolean(info->has_optimizer));
  char *text = sp_json_dumps(root, 0);
  json_object_put(root);
  if (text) puts(text);
  free(text);
}

int sp_cli_show_model(const char *path, int json) {
  sp_probe_info info;
  sp_status status = sp_probe(path, &info);
  if (status != SP_OK) return sp_cli_report(command, status);
  char hash[SP_SHA256_HEX];
  status = artifact_hash(path, hash);
  if (status != SP_OK) return sp_cli_report(command, status);
  if (info.format == SP_FORMAT_WEIGHTS_H5 || info.format == SP_FORMAT_LEGACY_WEIGHTS_H5)
    return show_weights(path, &info, hash, json);
  if (!info.has_model) {
    fprintf(stderr, "savepoint %s: '%s' is %s; it holds no Keras model to show\n", command, path, info.description);
    return 1;
  }
  sp_load_options options = sp_load_defaults();
  options.format = info.format; /* the content decides, so a misnamed file is shown as what it is */
  sp_model *model = NULL;
  status = sp_load(info.resolved_path, &options, &model);
  if (status != SP_OK) return sp_cli_report(command, status);
  if (json) {
    print_model_json(path, &info, hash, model);
  } else {
    printf("File: %s\nFormat: %s\nKeras version: %s\nSHA-256: %s\n\n", path, info.description,
           info.keras_version[0] ? info.keras_version : "(not recorded)", hash);
    sp_model_summary(model, stdout);
  }
  sp_model_free(model);
  return 0;
}
