/* model_loading.c — a path to a model for the training commands (see model_loading.h). */
#include "cli/model_loading.h"

#include <stdlib.h>

#include "core/file.h"
#include "core/json.h"
#include "nn/model.h"

enum { CONFIG_LIMIT = 64 << 20 };

sp_status sp_cli_load_model(const char *path, sp_model **model) {
  /* Formats hook: replace this body with the codecs' loader once they are merged. */
  uint8_t *text;
  size_t size;
  *model = NULL;
  SP_TRY(sp_read_file(path, CONFIG_LIMIT, &text, &size));
  sp_status status = sp_model_from_config((const char *)text, size, model);
  free(text);
  if (status != SP_OK)
    return sp_error_context(status, "loading '%s' (the training commands read a Keras model config JSON)", path);
  return SP_OK;
}

const json_object *sp_cli_model_compile_config(const sp_model *model) {
  const json_object *config = sp_json_member(model->object_extra, "compile_config");
  if (!config || !json_object_is_type(config, json_type_object) || json_object_object_length(config) == 0) return NULL;
  return config;
}
