/* saved_model_codec.c — the SavedModel row of the codec table: sp_save(model, DIR, format
 * "savedmodel") exports (saved_model_export.c) and sp_load(DIR) rebuilds the Keras model a
 * tf.keras SavedModel holds (keras_saved_model.c).
 *
 * The row has no probe of its own: probe.c already names SavedModel directories (and their
 * saved_model.pb), and a codec probe runs before it only to claim Keras and TF.js content.
 * Saving never picks this row from a path (Keras 3 has no directory rule; a directory path
 * means TF.js here, as before): it takes options.format. An existing SavedModel directory is
 * replaced atomically, as Keras's model.save(dir) replaces it; any other existing path is
 * refused. Versioned exports (DIR/N/) go through sp_export_saved_model directly.
 */
#include "core/file.h"
#include "formats/codec.h"
#include "formats/keras_saved_model.h"
#include "savepoint/saved_model.h"

static sp_status load(const char *path, const sp_load_options *options, sp_model **model) {
  return sp_keras_saved_model_load(path, options, model);
}

static sp_status save(const sp_model *model, const char *path, const sp_save_options *options) {
  (void)options;
  sp_export_options export = sp_export_defaults();
  if (sp_is_directory(path)) {
    sp_probe_info existing;
    SP_TRY(sp_probe(path, &existing));
    int empty = existing.format == SP_FORMAT_UNKNOWN && sp_directory_is_empty(path);
    if (existing.format != SP_FORMAT_SAVED_MODEL && !empty)
      return sp_fail(SP_ERROR_EXISTS, "'%s' is %s; a SavedModel replaces only a SavedModel directory or an empty one",
                     path, existing.description);
    export.replace = 1;
  }
  return sp_export_saved_model(model, path, &export);
}

const sp_codec sp_saved_model_codec = {
    .format = SP_FORMAT_SAVED_MODEL,
    .name = "savedmodel",
    .description = "a TensorFlow SavedModel directory",
    .load = load,
    .save = save,
};
