/* record.c — what ModelCheckpoint and `savepoint train --save` share: saving by extension
 * (sp_save_trained) and telling the registry what they wrote (sp_record_saved_artifact). */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/file.h"
#include "core/json.h"
#include "formats/codec.h"
#include "savepoint/checkpoint.h"
#include "savepoint/io.h"
#include "savepoint/version.h"

sp_status sp_save_trained(const sp_model *model, const char *path, int weights_only) {
  char *directory = sp_path_dirname(path);
  if (!directory) return SP_ERROR_NO_MEMORY;
  sp_status status = *directory ? sp_make_directories(directory) : SP_OK;
  free(directory);
  SP_TRY(status);
  sp_format format = sp_format_for_path(path);
  if (weights_only || format == SP_FORMAT_UNKNOWN || format == SP_FORMAT_CHECKPOINT)
    return sp_save_weights(model, path, NULL); /* an unknown name: a TF checkpoint (codec.c) */
  return sp_save(model, path, NULL);
}

static void kind_of(const char *path, sp_artifact_kind *kind, const char **format) {
  switch (sp_format_for_path(path)) {
    case SP_FORMAT_KERAS: *kind = SP_ARTIFACT_MODEL, *format = "keras"; return;
    case SP_FORMAT_H5: *kind = SP_ARTIFACT_MODEL, *format = "h5"; return;
    case SP_FORMAT_WEIGHTS_H5: *kind = SP_ARTIFACT_WEIGHTS, *format = "weights_h5"; return;
    default: *kind = SP_ARTIFACT_CHECKPOINT, *format = "tf_checkpoint"; return;
  }
}

static char *metrics_json(const sp_logs *metrics) {
  if (!metrics || metrics->count == 0) return NULL;
  json_object *root = json_object_new_object();
  for (int i = 0; root && i < metrics->count; i++)
    json_object_object_add(root, metrics->entries[i].name, json_object_new_double(metrics->entries[i].value));
  char *text = root ? sp_json_dumps(root, 0) : NULL;
  json_object_put(root);
  return text;
}

sp_status sp_record_saved_artifact(sp_registry *registry, int64_t run_id, const char *path, const sp_logs *metrics) {
  if (!registry) return SP_OK;
  sp_artifact_record record = {0};
  record.run_id = run_id;
  kind_of(path, &record.kind, &record.format);
  record.producer = "savepoint";
  record.producer_version = SP_VERSION;
  record.path = path;
  char *metrics_text = metrics_json(metrics);
  record.metrics_json = metrics_text;
  sp_status status = sp_registry_record_artifact(registry, &record, NULL);
  free(metrics_text);
  return status == SP_OK ? SP_OK : sp_error_context(status, "recording '%s' in the registry", path);
}
