/* recording.c — recording what a command wrote in the configured registry (see recording.h). */
#include "cli/recording.h"

#include <json.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "savepoint/io.h"
#include "savepoint/version.h"

sp_status sp_cli_recorder_open(sp_cli_recorder *recorder, const char *url, int argc, char **argv,
                               const char *hyperparameters_json) {
  *recorder = (sp_cli_recorder){0};
  SP_TRY(url && *url ? sp_registry_open(url, &recorder->registry) : sp_registry_open_default(&recorder->registry));
  if (!recorder->registry) return SP_OK;
  char *command_line = sp_registry_join_command_line(argc, argv);
  sp_status status = command_line ? sp_registry_begin_run(recorder->registry, command_line, hyperparameters_json,
                                                          &recorder->run_id)
                                  : SP_ERROR_NO_MEMORY;
  free(command_line);
  if (status != SP_OK) {
    sp_registry_close(recorder->registry);
    *recorder = (sp_cli_recorder){0};
  }
  return status;
}

void sp_cli_recorder_close(sp_cli_recorder *recorder, sp_status status, const char *metrics_json) {
  if (!recorder->registry) return;
  if (sp_registry_end_run(recorder->registry, recorder->run_id, status == SP_OK ? "completed" : "failed",
                          metrics_json) != SP_OK)
    sp_clear_error(); /* the command's own outcome is what it reports */
  sp_registry_close(recorder->registry);
  *recorder = (sp_cli_recorder){0};
}

/* The registry's format names ("saved_model", "weights_h5"), from sp_format_name's. */
static void registry_format_name(sp_format format, char *name, size_t capacity) {
  const char *source = format == SP_FORMAT_SAVED_MODEL ? "saved_model" : sp_format_name(format);
  size_t i = 0;
  for (; source[i] && i + 1 < capacity; i++) name[i] = source[i] == '-' ? '_' : source[i];
  name[i] = 0;
}

static json_object *endpoints_json(const sp_model *model, int outputs) {
  json_object *list = json_object_new_array();
  int count = outputs ? sp_model_output_count(model) : sp_model_input_count(model);
  for (int i = 0; i < count; i++) {
    int rank = 0;
    int64_t shape[SP_MAX_RANK];
    sp_status status = outputs ? sp_model_output_shape(model, i, &rank, shape) : sp_model_input_shape(model, i, &rank, shape);
    json_object *dims = json_object_new_array();
    for (int d = 0; status == SP_OK && d < rank; d++) json_object_array_add(dims, json_object_new_int64(shape[d] < 0 ? -1 : shape[d]));
    if (status != SP_OK) sp_clear_error();
    json_object *entry = json_object_new_object();
    const char *name = outputs ? sp_model_output_name(model, i) : sp_model_input_name(model, i);
    json_object_object_add(entry, "name", json_object_new_string(name ? name : ""));
    json_object_object_add(entry, "dtype", json_object_new_string("float32")); /* the Keras runtime's dtype */
    json_object_object_add(entry, "shape", dims);
    json_object_array_add(list, entry);
  }
  return list;
}

/* {"inputs": [{name, dtype, shape}], "outputs": [...]} of a model (a new string; NULL without one). */
static char *signature_json(const sp_model *model) {
  if (!model) return NULL;
  json_object *root = json_object_new_object();
  json_object_object_add(root, "inputs", endpoints_json(model, 0));
  json_object_object_add(root, "outputs", endpoints_json(model, 1));
  char *text = sp_json_dumps(root, 0);
  json_object_put(root);
  return text;
}

sp_status sp_cli_record(sp_cli_recorder *recorder, const sp_cli_recording *recording, int64_t *artifact_id) {
  if (artifact_id) *artifact_id = 0;
  if (!recorder->registry) return SP_OK;
  sp_probe_info info;
  SP_TRY(sp_probe(recording->path, &info));
  char format[32];
  registry_format_name(info.format, format, sizeof format);
  char *signature = signature_json(recording->model);
  sp_artifact_record record = {
      .run_id = recorder->run_id,
      .kind = recording->kind,
      .name = recording->name ? recording->name : recording->model ? sp_model_name(recording->model) : NULL,
      .version = recording->version,
      .format = format,
      .format_version = info.keras_version[0] ? info.keras_version : NULL,
      .producer = "savepoint",
      .producer_version = SP_VERSION,
      .path = recording->path,
      .signature_json = signature,
      .metrics_json = recording->metrics_json,
      .parent_id = recording->parent_id,
  };
  sp_status status = sp_registry_record_artifact(recorder->registry, &record, artifact_id);
  free(signature);
  return sp_error_context(status, "recording '%s' in the registry", recording->path);
}

/* Who wrote a source file: the producer it names ("savepoint 0.1.0", TF.js's "keras v2.15.0") split
 * into name and version, else Keras when it records a keras_version, else unknown. */
static void source_producer(const sp_probe_info *info, char *name, size_t name_size, char *version,
                            size_t version_size) {
  const char *space = strchr(info->producer, ' ');
  if (info->producer[0] && space) {
    snprintf(name, name_size, "%.*s", (int)(space - info->producer), info->producer);
    const char *number = space + 1 + (space[1] == 'v');
    snprintf(version, version_size, "%s", number);
  } else if (info->producer[0]) {
    snprintf(name, name_size, "%s", info->producer);
    version[0] = '\0';
  } else {
    snprintf(name, name_size, "%s", info->keras_version[0] ? "keras" : "unknown");
    snprintf(version, version_size, "%s", info->keras_version);
  }
}

sp_status sp_cli_record_source(sp_cli_recorder *recorder, const char *path, int64_t *artifact_id) {
  *artifact_id = 0;
  if (!recorder->registry) return SP_OK;
  sp_manifest *manifest = NULL;
  SP_TRY(sp_manifest_compute(path, &manifest));
  sp_status status = sp_registry_find_artifact(recorder->registry, path, manifest->sha256, artifact_id);
  if (status == SP_ERROR_NOT_FOUND) {
    sp_clear_error();
    sp_probe_info info;
    status = sp_probe(path, &info);
    char format[32] = "", producer[64] = "", producer_version[64] = "";
    if (status == SP_OK) {
      registry_format_name(info.format, format, sizeof format);
      source_producer(&info, producer, sizeof producer, producer_version, sizeof producer_version);
    }
    sp_artifact_record record = {.kind = info.format == SP_FORMAT_SAVED_MODEL ? SP_ARTIFACT_EXPORT : SP_ARTIFACT_MODEL,
                                 .format = format,
                                 .producer = producer,
                                 .producer_version = producer_version[0] ? producer_version : NULL,
                                 .path = path,
                                 .manifest = manifest};
    if (status == SP_OK) status = sp_registry_record_artifact(recorder->registry, &record, artifact_id);
  }
  sp_manifest_free(manifest);
  return sp_error_context(status, "recording the source '%s' in the registry", path);
}
