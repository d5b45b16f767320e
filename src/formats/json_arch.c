/* json_arch.c — the architecture-only JSON of model.to_json() / model_from_json().
 *
 * Both layouts: Keras 3 (the config.json object: module, class_name, config, registered_name,
 * build_config, compile_config) and tf.keras 2 ({class_name, config, keras_version, backend}).
 * Loading gives a built model with freshly initialised weights, as model_from_json does; load
 * its weights with sp_load_weights. Written with Python's json.dumps separators, atomically.
 */
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "formats/codec.h"
#include "formats/keras_config.h"

/* A Keras model object: class_name and config, no TF.js wrapper. */
static int is_architecture(const json_object *root) {
  return sp_json_member(root, "class_name") && sp_json_member(root, "config") && !sp_json_member(root, "modelTopology");
}

static int probe(const sp_probe_input *input, sp_probe_info *info) {
  if (input->is_directory || !sp_probe_is_json_object(input)) return 0;
  json_object *root;
  if (sp_codec_read_json(input->path, UINT64_C(256) << 20, &root) != SP_OK) {
    sp_clear_error();
    return 0;
  }
  int claimed = is_architecture(root);
  if (claimed) {
    const char *version = NULL, *class_name = NULL;
    if (sp_json_get_string(root, "keras_version", NULL, "", &version) != SP_OK) version = NULL;
    if (sp_json_get_string(root, "class_name", NULL, "", &class_name) != SP_OK) class_name = NULL;
    sp_clear_error();
    int keras3 = sp_json_member(root, "module") != NULL;
    info->format = SP_FORMAT_JSON;
    info->has_model = 1;
    info->has_optimizer = 0;
    sp_probe_set(info->keras_version, sizeof info->keras_version, "%s", version ? version : "");
    sp_probe_set(info->description, sizeof info->description,
                 "a Keras model architecture without weights (model.to_json(), %s layout%s%s): a %s model",
                 keras3 ? "Keras 3" : "Keras 2", version ? ", keras_version " : "", version ? version : "",
                 class_name ? class_name : "?");
  }
  json_object_put(root);
  return claimed;
}

static sp_status load(const char *path, const sp_load_options *options, sp_model **model) {
  json_object *root;
  SP_TRY(sp_codec_read_json(path, options->max_config_bytes, &root));
  char context[4200];
  snprintf(context, sizeof context, "'%s'", path);
  sp_status status = is_architecture(root) ? SP_OK
                     : sp_fail(SP_ERROR_FORMAT, "'%s' is JSON but not a Keras model config (no class_name/config)", path);
  if (status == SP_OK) status = sp_keras_model_from_object(root, 0, context, model);
  int compiled = 0; /* Keras 3's model_from_json compiles from a compile_config too */
  if (status == SP_OK) status = sp_keras_model_restore_training(*model, NULL, options, context, &compiled);
  json_object_put(root);
  if (status == SP_OK) status = sp_model_initialize(*model);
  if (status != SP_OK) {
    sp_model_free(*model);
    *model = NULL;
  }
  return status;
}

static sp_status save(const sp_model *model, const char *path, const sp_save_options *options) {
  json_object *tree = sp_keras_model_object(model, options->keras_major >= 3 ? 3 : 2);
  if (!tree) return sp_last_status();
  char *text = sp_json_dumps(tree, 0);
  json_object_put(tree);
  if (!text) return sp_fail(SP_ERROR_NO_MEMORY, "cannot serialize the config of model '%s'", model->name);
  sp_status status = sp_write_file_atomic(path, text, strlen(text));
  free(text);
  return status;
}

const sp_codec sp_json_arch_codec = {
    .format = SP_FORMAT_JSON,
    .name = "json",
    .description = "a Keras architecture JSON (model.to_json())",
    .probe = probe,
    .load = load,
    .save = save,
};
