/* codec.c — the codec table and sp_save / sp_load / sp_save_weights / sp_load_weights.
 *
 * Saving picks the codec from the path as Keras does (or from options.format). Loading looks
 * at the content too (sp_probe): a path whose content is another format fails with what it
 * really holds and what to do, instead of a parser's confusion three layers down.
 */
#include "formats/codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "nn/custom_objects.h"

/* One line per codec; probe order matters only where two could claim the same content. */
const sp_codec *const sp_codecs[] = {
    &sp_keras_v3_codec,
    &sp_weights_h5_codec,
    &sp_keras_h5_codec,
    &sp_legacy_weights_h5_codec,
    &sp_tfjs_codec,
    &sp_json_arch_codec,
    &sp_saved_model_codec,
    &sp_tf_checkpoint_codec,
    NULL,
};

static const char *const format_names[] = {
    [SP_FORMAT_AUTO] = "auto",
    [SP_FORMAT_KERAS] = "keras",
    [SP_FORMAT_H5] = "h5",
    [SP_FORMAT_WEIGHTS_H5] = "weights-h5",
    [SP_FORMAT_LEGACY_WEIGHTS_H5] = "legacy-weights-h5",
    [SP_FORMAT_JSON] = "json",
    [SP_FORMAT_TFJS] = "tfjs",
    [SP_FORMAT_SAVED_MODEL] = "savedmodel",
    [SP_FORMAT_CHECKPOINT] = "ckpt",
    [SP_FORMAT_TFLITE] = "tflite",
    [SP_FORMAT_SERVING_BASE] = "serving-base",
    [SP_FORMAT_UNKNOWN] = "unknown",
};

const char *sp_format_name(sp_format format) {
  return format >= SP_FORMAT_AUTO && format <= SP_FORMAT_UNKNOWN ? format_names[format] : "unknown";
}

sp_status sp_format_from_name(const char *name, sp_format *format) {
  for (int i = SP_FORMAT_AUTO; i < SP_FORMAT_UNKNOWN; i++)
    if (name && strcmp(name, format_names[i]) == 0) {
      *format = (sp_format)i;
      return SP_OK;
    }
  return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                 "unknown format '%s' (known: keras, h5, weights-h5, legacy-weights-h5, json, tfjs, savedmodel, ckpt)",
                 name ? name : "(null)");
}

const sp_codec *sp_codec_for_format(sp_format format) {
  for (const sp_codec *const *codec = sp_codecs; *codec; codec++)
    if ((*codec)->format == format) return *codec;
  return NULL;
}

sp_format sp_format_for_path(const char *path) {
  const char *base = sp_path_basename(path);
  if (sp_path_has_suffix(path, ".keras")) return SP_FORMAT_KERAS;
  if (sp_path_has_suffix(path, ".weights.h5")) return SP_FORMAT_WEIGHTS_H5;
  if (sp_path_has_suffix(path, ".h5") || sp_path_has_suffix(path, ".hdf5")) return SP_FORMAT_H5;
  if (strcmp(base, "model.json") == 0 || sp_path_has_suffix(path, "/")) return SP_FORMAT_TFJS;
  if (sp_path_has_suffix(path, ".json")) return SP_FORMAT_JSON;
  if (sp_path_has_suffix(path, ".tflite")) return SP_FORMAT_TFLITE;
  if (sp_path_has_suffix(path, ".index")) return SP_FORMAT_CHECKPOINT;
  return SP_FORMAT_UNKNOWN;
}

/* ---- options ---- */

sp_save_options sp_save_defaults(void) {
  return (sp_save_options){.format = SP_FORMAT_AUTO, .include_optimizer = 1,
                           .tfjs_shard_bytes = SP_TFJS_DEFAULT_SHARD_BYTES, .keras_major = 3};
}

sp_load_options sp_load_defaults(void) {
  return (sp_load_options){.format = SP_FORMAT_AUTO,
                           .compile = 1,
                           .max_tensor_bytes = UINT64_C(16) << 30,
                           .max_total_bytes = UINT64_C(64) << 30,
                           .max_config_bytes = UINT64_C(256) << 20};
}

sp_save_options sp_save_options_resolved(const sp_save_options *options) {
  sp_save_options resolved = options ? *options : sp_save_defaults();
  if (resolved.tfjs_shard_bytes == 0) resolved.tfjs_shard_bytes = SP_TFJS_DEFAULT_SHARD_BYTES;
  if (resolved.keras_major == 0) resolved.keras_major = 3;
  return resolved;
}

sp_load_options sp_load_options_resolved(const sp_load_options *options) {
  sp_load_options defaults = sp_load_defaults(), resolved = options ? *options : defaults;
  if (resolved.max_tensor_bytes == 0) resolved.max_tensor_bytes = defaults.max_tensor_bytes;
  if (resolved.max_total_bytes == 0) resolved.max_total_bytes = defaults.max_total_bytes;
  if (resolved.max_config_bytes == 0) resolved.max_config_bytes = defaults.max_config_bytes;
  return resolved;
}

void sp_load_warn(const sp_load_options *options, const char *format, ...) {
  char message[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  if (options && options->warning) options->warning(message, options->warning_context);
  else fprintf(stderr, "savepoint: warning: %s\n", message);
}

void sp_probe_set(char *field, size_t capacity, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(field, capacity, format, args);
  va_end(args);
}

sp_status sp_codec_read_json(const char *path, uint64_t limit, json_object **root) {
  uint8_t *data;
  size_t size;
  *root = NULL;
  SP_TRY(sp_read_file(path, limit > SIZE_MAX ? SIZE_MAX : (size_t)limit, &data, &size));
  sp_status status = sp_json_parse((const char *)data, size, path, root);
  free(data);
  return status;
}

/* ---- dispatch ---- */

/* Formats whose files one load path may hold interchangeably (content decides among them). */
static int family(sp_format format) {
  switch (format) {
    case SP_FORMAT_H5: case SP_FORMAT_WEIGHTS_H5: case SP_FORMAT_LEGACY_WEIGHTS_H5: return 1;
    case SP_FORMAT_JSON: case SP_FORMAT_TFJS: return 2;
    default: return 10 + (int)format;
  }
}

static const char *what_path_says(sp_format format) {
  switch (format) {
    case SP_FORMAT_KERAS: return "a Keras 3 archive";
    case SP_FORMAT_H5: case SP_FORMAT_WEIGHTS_H5: case SP_FORMAT_LEGACY_WEIGHTS_H5: return "an HDF5 file";
    case SP_FORMAT_JSON: case SP_FORMAT_TFJS: return "a JSON file";
    case SP_FORMAT_TFLITE: return "a TensorFlow Lite file";
    case SP_FORMAT_CHECKPOINT: return "a TensorFlow checkpoint";
    default: return "a model file";
  }
}

/* "m.keras" → "m2.keras": a name for a converted copy in messages. */
static void converted_name(const char *path, const char *extension, char *out, size_t capacity) {
  const char *base = sp_path_basename(path);
  const char *dot = strrchr(base, '.');
  size_t stem = dot && dot != base ? (size_t)(dot - path) : strlen(path);
  snprintf(out, capacity, "%.*s2%s", (int)stem, path, extension);
}

/* What to do with a path that holds `info` instead of what `expected` needs. */
static sp_status mismatch(const char *path, sp_format expected, const sp_probe_info *info) {
  char target[4200];
  switch (info->format) {
    case SP_FORMAT_H5: case SP_FORMAT_LEGACY_WEIGHTS_H5: case SP_FORMAT_WEIGHTS_H5:
      converted_name(path, expected == SP_FORMAT_KERAS ? ".keras" : ".h5", target, sizeof target);
      return sp_fail(SP_ERROR_MISMATCH,
                     "'%s' is %s, not %s: load it as .h5 (rename it, or pass format h5) or convert it with "
                     "`savepoint convert %s %s --format %s`",
                     path, info->description, what_path_says(expected), path, target,
                     expected == SP_FORMAT_KERAS ? "keras" : sp_format_name(expected));
    case SP_FORMAT_KERAS:
      converted_name(path, ".keras", target, sizeof target);
      return sp_fail(SP_ERROR_MISMATCH,
                     "'%s' is %s, not %s: load it as .keras (rename it, or pass format keras) or convert it with "
                     "`savepoint convert %s %s`",
                     path, info->description, what_path_says(expected), path, target);
    case SP_FORMAT_SERVING_BASE:
      return sp_fail(SP_ERROR_MISMATCH, "'%s' is %s: load %s", path, info->description, info->resolved_path);
    default:
      return sp_fail(SP_ERROR_MISMATCH, "'%s' is %s, not %s%s", path, info->description, what_path_says(expected),
                     info->format == SP_FORMAT_SAVED_MODEL ? ": load the directory as a SavedModel (format savedmodel)"
                     : info->format == SP_FORMAT_TFLITE ? ": TensorFlow Lite files cannot be converted back to Keras"
                     : "");
  }
}

/* Chooses the codec for loading path: options.format, else the content within what the path
 * allows. info receives the probe. */
static sp_status codec_for_loading(const char *path, const sp_load_options *options, sp_probe_info *info,
                                   const sp_codec **codec) {
  *codec = NULL;
  memset(info, 0, sizeof *info);
  if (options->format != SP_FORMAT_AUTO) {
    *codec = sp_codec_for_format(options->format);
    if (!*codec)
      return sp_fail(SP_ERROR_UNSUPPORTED, "'%s': savepoint has no %s codec in this build", path,
                     sp_format_name(options->format));
    info->format = options->format;
    sp_probe_set(info->resolved_path, sizeof info->resolved_path, "%s", path);
    return SP_OK;
  }
  SP_TRY(sp_probe(path, info));
  sp_format expected = sp_format_for_path(path);
  if (info->format == SP_FORMAT_UNKNOWN)
    return sp_fail(SP_ERROR_FORMAT, "'%s' is %s, which savepoint cannot load", path, info->description);
  if (expected != SP_FORMAT_UNKNOWN && family(expected) != family(info->format)) return mismatch(path, expected, info);
  if (info->format == SP_FORMAT_SERVING_BASE) return mismatch(path, expected, info);
  *codec = sp_codec_for_format(info->format);
  if (!*codec)
    return sp_fail(SP_ERROR_UNSUPPORTED, "'%s' is %s; savepoint cannot load this format yet", path, info->description);
  return SP_OK;
}

static sp_status save_with(const sp_model *model, const char *path, const sp_save_options *options, int weights_only) {
  if (!model || !path) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "saving needs a model and a path");
  sp_save_options resolved = sp_save_options_resolved(options);
  sp_format format = resolved.format;
  if (format == SP_FORMAT_AUTO) {
    format = sp_format_for_path(path);
    if (weights_only && format == SP_FORMAT_H5) format = SP_FORMAT_LEGACY_WEIGHTS_H5;
    if (format == SP_FORMAT_UNKNOWN && sp_is_directory(path)) format = SP_FORMAT_TFJS;
    /* tf.keras 2's rule: weights saved under a name without a known extension are a TF checkpoint */
    if (weights_only && format == SP_FORMAT_UNKNOWN) format = SP_FORMAT_CHECKPOINT;
    if (weights_only && (format == SP_FORMAT_KERAS || format == SP_FORMAT_JSON))
      return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                     "'%s': weights alone are saved in a file ending `.weights.h5` (Keras 3), `.h5` (legacy) or a "
                     "TensorFlow.js directory, as Keras requires", path);
  }
  const sp_codec *codec = sp_codec_for_format(format);
  if (format == SP_FORMAT_UNKNOWN || !codec)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "cannot tell how to save '%s' from its name: use a `.keras` extension for the Keras 3 format "
                   "(recommended), `.h5` for legacy HDF5, `.weights.h5` for weights only, a `.json` name for the "
                   "architecture, or `model.json` / a directory for TensorFlow.js (or set the format option)",
                   path);
  sp_status (*save)(const sp_model *, const char *, const sp_save_options *) = weights_only ? codec->save_weights : codec->save;
  if (!save && !weights_only && codec->save_weights && (format == SP_FORMAT_WEIGHTS_H5 || format == SP_FORMAT_LEGACY_WEIGHTS_H5))
    save = codec->save_weights; /* sp_save(model, "x.weights.h5") saves what that format can hold */
  if (!save)
    return sp_fail(SP_ERROR_UNSUPPORTED, "the %s format cannot hold %s; '%s' was not written", codec->name,
                   weights_only ? "weights alone" : "a whole model", path);
  resolved.format = format;
  return sp_error_context(save(model, path, &resolved), "saving '%s' as %s", path, codec->description);
}

sp_status sp_save(const sp_model *model, const char *path, const sp_save_options *options) {
  return save_with(model, path, options, 0);
}

sp_status sp_save_weights(const sp_model *model, const char *path, const sp_save_options *options) {
  return save_with(model, path, options, 1);
}

sp_status sp_load(const char *path, const sp_load_options *options, sp_model **model) {
  if (!path || !model) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "loading needs a path and a result pointer");
  *model = NULL;
  sp_load_options resolved = sp_load_options_resolved(options);
  sp_probe_info info;
  const sp_codec *codec;
  SP_TRY(codec_for_loading(path, &resolved, &info, &codec));
  if (!codec->load)
    return sp_fail(SP_ERROR_MISMATCH,
                   "'%s' is %s and holds no architecture: build the model in C (or load its architecture) and call "
                   "sp_load_weights",
                   path, info.description[0] ? info.description : codec->description);
  const sp_custom_objects *previous = sp_custom_objects_enter(resolved.custom_objects);
  sp_status status = codec->load(info.resolved_path, &resolved, model);
  sp_custom_objects_leave(previous);
  return sp_error_context(status, "loading '%s'", path);
}

sp_status sp_load_weights(sp_model *model, const char *path, const sp_load_options *options) {
  if (!path || !model) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "loading weights needs a model and a path");
  sp_load_options resolved = sp_load_options_resolved(options);
  sp_probe_info info;
  const sp_codec *codec;
  SP_TRY(codec_for_loading(path, &resolved, &info, &codec));
  if (!codec->load_weights)
    return sp_fail(SP_ERROR_MISMATCH, "'%s' is %s, which holds no weights", path,
                   info.description[0] ? info.description : codec->description);
  SP_TRY(sp_model_build(model));
  return sp_error_context(codec->load_weights(model, info.resolved_path, &resolved), "loading weights from '%s'", path);
}
