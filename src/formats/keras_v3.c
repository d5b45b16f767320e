/* keras_v3.c — the Keras 3 `.keras` archive (formats.md §1): a zip of metadata.json,
 * config.json and model.weights.h5, or the same three files in a directory.
 *
 * Written as Keras writes it: members in Keras's order, STORED, metadata.json and config.json
 * with zipfile.open's 1980-01-01 date and the weights with writestr's current local time
 * (zipio's defaults reproduce Python's zipfile), JSON as json.dumps writes it. metadata.json
 * records keras_version "3.7.0" — the layout we emit (Keras ≥ 3.6 weights with name
 * attributes, 3.7 config keys) — and, in an extra key Keras ignores, "producer": "savepoint x.y".
 * The weights are built as an in-memory HDF5 image that the zip takes without a copy.
 *
 * Read safely: zipio refuses escaping member names, duplicates, links and zip bombs before
 * anything is read; members are read under the load's limits (model.weights.h5, STORED as
 * Keras writes it, is lent to HDF5 in place from the mapped archive while a second thread
 * checks its CRC-32; a mismatch discards the model and reports the corrupt member as a copying
 * read would); config.json is checked for code
 * (nn/config.c) before a layer is built; the pickled npz weights variant is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "formats/codec.h"
#include "formats/h5io.h"
#include "formats/keras_config.h"
#include "formats/keras_v3.h"
#include "formats/weights_h5.h"
#include "formats/zipio.h"
#include "savepoint/version.h"

#define CONFIG_MEMBER "config.json"
#define METADATA_MEMBER "metadata.json"
#define WEIGHTS_MEMBER "model.weights.h5"
#define NPZ_MEMBER "model.weights.npz"

/* An archive or its unzipped directory, read the same way. */
typedef struct archive {
  const char *path;
  sp_zip_reader *zip;  /* NULL for a directory */
} archive;

static sp_status archive_open(const char *path, archive *source) {
  *source = (archive){.path = path};
  if (sp_is_directory(path)) return SP_OK;
  return sp_zip_open(path, &source->zip);
}

static sp_status archive_open_memory(const void *data, size_t size, const char *name, archive *source) {
  *source = (archive){.path = name};
  return sp_zip_open_memory(data, size, name, &source->zip);
}

static void archive_close(archive *source) { sp_zip_close(source->zip); }

static int archive_has(const archive *source, const char *member) {
  if (source->zip) return sp_zip_find(source->zip, member) != NULL;
  char *path = sp_path_join(source->path, member);
  int present = path && sp_is_regular_file(path);
  free(path);
  return present;
}

static sp_status archive_read(archive *source, const char *member, uint64_t limit, uint8_t **data, size_t *size) {
  if (source->zip) return sp_zip_read(source->zip, member, limit, data, size);
  char *path = sp_path_join(source->path, member);
  if (!path) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_read_file(path, limit > SIZE_MAX ? SIZE_MAX : (size_t)limit, data, size);
  free(path);
  return status;
}

static sp_status archive_read_json(archive *source, const char *member, uint64_t limit, json_object **root) {
  uint8_t *data;
  size_t size;
  *root = NULL;
  SP_TRY(archive_read(source, member, limit, &data, &size));
  char what[4200];
  snprintf(what, sizeof what, "'%s' %s", source->path, member);
  sp_status status = sp_json_parse((const char *)data, size, what, root);
  free(data);
  return status;
}

/* ---- probing ---- */

static int probe(const sp_probe_input *input, sp_probe_info *info) {
  if (!input->is_directory && !sp_probe_is_zip(input)) return 0;
  archive source;
  if (archive_open(input->path, &source) != SP_OK) {
    /* A zip zipio refuses (an escaping member name, a bomb, damage): claim it, so that loading
     * it reports that reason rather than "not a Keras archive". */
    info->format = SP_FORMAT_KERAS;
    sp_probe_set(info->description, sizeof info->description, "a zip archive savepoint refuses to read (%s)",
                 sp_last_error());
    sp_clear_error();
    return 1;
  }
  int claimed = archive_has(&source, CONFIG_MEMBER);
  if (claimed) {
    json_object *metadata = NULL;
    const char *version = NULL, *producer = NULL;
    if (archive_has(&source, METADATA_MEMBER) &&
        archive_read_json(&source, METADATA_MEMBER, UINT64_C(1) << 20, &metadata) == SP_OK) {
      if (sp_json_get_string(metadata, "keras_version", NULL, "", &version) != SP_OK) version = NULL;
      if (sp_json_get_string(metadata, "producer", NULL, "", &producer) != SP_OK) producer = NULL;
    }
    sp_clear_error();
    sp_probe_set(info->producer, sizeof info->producer, "%s", producer ? producer : "");
    info->format = SP_FORMAT_KERAS;
    info->has_model = 1;
    info->has_weights = archive_has(&source, WEIGHTS_MEMBER) || archive_has(&source, NPZ_MEMBER);
    sp_probe_set(info->keras_version, sizeof info->keras_version, "%s", version ? version : "");
    sp_probe_set(info->description, sizeof info->description, "%s (.keras%s%s)",
                 input->is_directory ? "an unzipped Keras 3 archive (a directory)" : "a Keras 3 archive",
                 version ? ", keras_version " : "", version ? version : "");
    json_object_put(metadata);
  }
  archive_close(&source);
  return claimed;
}

/* ---- loading ---- */

/* Starts lending model.weights.h5 from the archive (in place when STORED, as Keras writes it),
 * its CRC-32 checked on a second thread while the model is built and the weights read; see
 * finish_weights. Nothing to do for a directory or an archive without the member (open_weights
 * reports that). */
static sp_status start_weights(archive *source, const sp_load_options *options, sp_zip_view *image) {
  *image = (sp_zip_view){0};
  if (!source->zip || !archive_has(source, WEIGHTS_MEMBER)) return SP_OK;
  /* The HDF5 image also holds metadata besides the weights: allow a little over the weights limit. */
  uint64_t limit = options->max_total_bytes + (UINT64_C(64) << 20);
  return sp_zip_view_member_start(source->zip, WEIGHTS_MEMBER, limit, image);
}

/* Opens model.weights.h5: from disk in a directory, else the image start_weights lent (started
 * here when it has not been), kept in *image until the file is closed. */
static sp_status open_weights(archive *source, const sp_load_options *options, sp_zip_view *image,
                              sp_h5_file **file) {
  *file = NULL;
  if (!archive_has(source, WEIGHTS_MEMBER)) {
    if (archive_has(source, NPZ_MEMBER))
      return sp_fail(SP_ERROR_UNSAFE, "'%s' stores its weights as model.weights.npz, which holds pickled Python "
                     "objects; savepoint does not unpickle. Re-save the model with weights_format=\"h5\"", source->path);
    return sp_fail(SP_ERROR_FORMAT, "'%s' has no model.weights.h5 (or .npz)", source->path);
  }
  if (!source->zip) {
    char *path = sp_path_join(source->path, WEIGHTS_MEMBER);
    sp_status status = !path ? SP_ERROR_NO_MEMORY : options->map_weights ? sp_h5_open_mapped(path, file)
                                                                          : sp_h5_open(path, file);
    free(path);
    return status;
  }
  if (!image->data) SP_TRY(start_weights(source, options, image));
  char name[4200];
  snprintf(name, sizeof name, "%s:%s", source->path, WEIGHTS_MEMBER);
  SP_TRY(sp_h5_open_image(image->data, image->size, name, file));
  if (options->map_weights && image->mapped.mapping) sp_h5_allow_views(*file, image->mapped.mapping);
  return SP_OK;
}

/* Closes the weights and waits for the CRC-32 check of the lent image. A corrupt member wins
 * over whatever reading it gave (status), with the error a copying read reports, as when the
 * check ran before HDF5 saw the bytes. */
static sp_status finish_weights(sp_h5_file *file, sp_zip_view *image, sp_status status) {
  sp_h5_close(file);
  sp_status verified = sp_zip_view_finish(image);
  sp_zip_view_release(image);
  return verified != SP_OK ? verified : status;
}

/* config.json → model (compiled when asked), then model.weights.h5 into it. */
static sp_status load_archive(archive *source, const sp_load_options *options, sp_model **model) {
  json_object *config = NULL;
  sp_zip_view image = {0};
  sp_h5_file *weights = NULL;
  char context[4200];
  snprintf(context, sizeof context, "'%s' %s", source->path, CONFIG_MEMBER);
  sp_status status = archive_has(source, CONFIG_MEMBER)
                         ? archive_read_json(source, CONFIG_MEMBER, options->max_config_bytes, &config)
                         : sp_fail(SP_ERROR_FORMAT, "'%s' has no config.json: it is not a Keras archive", source->path);
  /* Started before the model is built, so the check overlaps the build; should it fail, it
   * is started again by open_weights and fails there, after the config's own errors. */
  if (status == SP_OK && start_weights(source, options, &image) != SP_OK) {
    sp_zip_view_release(&image);
    image = (sp_zip_view){0};
    sp_clear_error();
  }
  if (status == SP_OK) status = sp_keras_model_from_object(config, 0, context, model);
  int compiled = 0;
  if (status == SP_OK) status = sp_keras_model_restore_training(*model, NULL, options, context, &compiled);
  if (status == SP_OK) status = open_weights(source, options, &image, &weights);
  if (status == SP_OK) {
    char where[4200];
    snprintf(where, sizeof where, "'%s' %s", source->path, WEIGHTS_MEMBER);
    status = sp_keras3_weights_read(*model, weights, options, compiled, where);
  }
  status = finish_weights(weights, &image, status);
  json_object_put(config);
  if (status != SP_OK) {
    sp_model_free(*model);
    *model = NULL;
  }
  return status;
}

static sp_status load(const char *path, const sp_load_options *options, sp_model **model) {
  archive source;
  *model = NULL;
  SP_TRY(archive_open(path, &source));
  sp_status status = load_archive(&source, options, model);
  archive_close(&source);
  return status;
}

sp_status sp_keras_archive_load_memory(const void *data, size_t size, const char *name, const sp_load_options *options,
                                       sp_model **model) {
  archive source;
  *model = NULL;
  sp_load_options resolved = sp_load_options_resolved(options);
  SP_TRY(archive_open_memory(data, size, name, &source));
  sp_status status = load_archive(&source, &resolved, model);
  archive_close(&source);
  return status;
}

static sp_status load_weights(sp_model *model, const char *path, const sp_load_options *options) {
  archive source;
  SP_TRY(archive_open(path, &source));
  sp_zip_view image = {0};
  sp_h5_file *weights = NULL;
  /* Into a model the caller keeps: the CRC-32 is checked before any byte is assigned, so a
   * corrupt archive leaves the model as it was. */
  sp_status status = start_weights(&source, options, &image);
  if (status == SP_OK) status = sp_zip_view_finish(&image);
  if (status == SP_OK) status = open_weights(&source, options, &image, &weights);
  if (status == SP_OK) {
    char where[4200];
    snprintf(where, sizeof where, "'%s' %s", path, WEIGHTS_MEMBER);
    status = sp_keras3_weights_read(model, weights, options, options->compile, where);
  }
  status = finish_weights(weights, &image, status);
  archive_close(&source);
  return status;
}

/* ---- saving ---- */

static char *metadata_json(void) {
  char date[64];
  time_t now = time(NULL);
  struct tm local;
  localtime_r(&now, &local);
  strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &local);
  json_object *root = json_object_new_object();
  json_object_object_add(root, "keras_version", json_object_new_string(SP_KERAS3_VERSION));
  json_object_object_add(root, "date_saved", json_object_new_string(date));
  json_object_object_add(root, "producer", json_object_new_string("savepoint " SP_VERSION));
  char *text = sp_json_dumps(root, 0);
  json_object_put(root);
  return text;
}

static sp_status weights_image(const sp_model *model, int include_optimizer, uint8_t **data, size_t *size) {
  sp_h5_file *file;
  SP_TRY(sp_h5_create_image(WEIGHTS_MEMBER, &file));
  sp_status status = sp_keras3_weights_write(model, file, include_optimizer);
  if (status != SP_OK) {
    sp_h5_close(file);
    return status;
  }
  return sp_h5_take_image(file, data, size);
}

/* Ends config.json with as many spaces (JSON whitespace, which every reader skips) as put the
 * weights that follow it at a multiple of 64 bytes in the archive, so that a load with
 * map_weights can view them in place: a float cannot be viewed at an unaligned address. */
static sp_status pad_for_weights(const sp_zip_writer *writer, char **config_text) {
  size_t length = strlen(*config_text);
  size_t padding = sp_zip_writer_padding_before(writer, CONFIG_MEMBER, length, WEIGHTS_MEMBER, 64);
  if (padding == 0) return SP_OK;
  char *padded = sp_realloc_array(*config_text, length + padding + 1, 1);
  if (!padded) return SP_ERROR_NO_MEMORY;
  memset(padded + length, ' ', padding);
  padded[length + padding] = '\0';
  *config_text = padded;
  return SP_OK;
}

static sp_status save(const sp_model *model, const char *path, const sp_save_options *options) {
  json_object *config = sp_keras_model_object(model, 3);
  if (!config) return sp_last_status();
  char *config_text = sp_json_dumps(config, 0), *metadata_text = metadata_json();
  json_object_put(config);
  uint8_t *weights = NULL;
  size_t weights_size = 0;
  sp_status status = config_text && metadata_text ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = weights_image(model, options->include_optimizer, &weights, &weights_size);
  sp_zip_writer *writer = NULL;
  if (status == SP_OK) status = sp_zip_writer_open(path, &writer);
  if (status == SP_OK) {
    status = sp_zip_writer_add_owned(writer, METADATA_MEMBER, metadata_text, strlen(metadata_text), NULL);
    metadata_text = NULL;
  }
  if (status == SP_OK) status = pad_for_weights(writer, &config_text);
  if (status == SP_OK) {
    status = sp_zip_writer_add_owned(writer, CONFIG_MEMBER, config_text, strlen(config_text), NULL);
    config_text = NULL;
  }
  if (status == SP_OK) {
    sp_zip_entry_options written_now = {.method = SP_ZIP_STORED, .has_time = 1, .modified = time(NULL)};
    status = sp_zip_writer_add_owned(writer, WEIGHTS_MEMBER, weights, weights_size, &written_now);
    weights = NULL;
  }
  if (status == SP_OK) status = sp_zip_writer_commit(writer);
  else sp_zip_writer_abort(writer);
  free(weights);
  free(config_text);
  free(metadata_text);
  return status;
}

const sp_codec sp_keras_v3_codec = {
    .format = SP_FORMAT_KERAS,
    .name = "keras",
    .description = "a Keras 3 archive (.keras)",
    .probe = probe,
    .load = load,
    .save = save,
    .load_weights = load_weights,
};
