/* model_loading.c — a path to a model for the training commands (see model_loading.h). */
#include "cli/model_loading.h"

#include <stdlib.h>

#include "core/file.h"
#include "core/json.h"
#include "nn/model.h"
#include "savepoint/io.h"

enum { CONFIG_LIMIT = 64 << 20 };

/* An architecture alone is built but not initialised, so that the commands' --seed (set after
 * loading) decides the initial weights, as it did before the codecs existed. */
static sp_status load_architecture(const char *path, sp_model **model) {
  uint8_t *text;
  size_t size;
  SP_TRY(sp_read_file(path, CONFIG_LIMIT, &text, &size));
  sp_status status = sp_model_from_config((const char *)text, size, model);
  free(text);
  return sp_error_context(status, "loading the model config '%s'", path);
}

sp_status sp_cli_load_model(const char *path, int map_weights, sp_model **model) {
  *model = NULL;
  sp_probe_info info;
  SP_TRY(sp_probe(path, &info));
  if (info.format == SP_FORMAT_JSON) return load_architecture(path, model);
  /* Everything else as it is saved: weights, and for full-model files the training config and
   * optimizer state, so that training resumes. */
  sp_load_options options = sp_load_defaults();
  options.map_weights = map_weights;
  return sp_load(path, &options, model);
}

const char sp_cli_map_weights_help[] =
    "  --map-weights           view the weights in a mapping of the file instead of copying them\n"
    "                          (loads in about the time reading the file takes; the file must not be\n"
    "                          rewritten in place meanwhile)\n";

const json_object *sp_cli_model_compile_config(const sp_model *model) {
  const json_object *config = sp_json_member(model->object_extra, "compile_config");
  if (!config || !json_object_is_type(config, json_type_object) || json_object_object_length(config) == 0) return NULL;
  return config;
}
