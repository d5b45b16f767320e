/* io.h — saving and loading models in the formats Keras and TensorFlow.js use.
 *
 *   sp_save(model, "model.keras", NULL);              // Keras 3 archive
 *   sp_save(model, "model.h5", NULL);                 // legacy Keras 2 HDF5 (tf.keras 2.15 layout)
 *   sp_save_weights(model, "model.weights.h5", NULL); // Keras 3 weights only
 *   sp_model *copy;
 *   sp_load("model.keras", NULL, &copy);
 *
 * Dispatch follows the path as Keras does (saving_api.py): `*.keras` → Keras 3 archive,
 * `*.weights.h5` → Keras 3 weights only, `*.h5` / `*.hdf5` → legacy HDF5, a directory or
 * `model.json` → TensorFlow.js layers model, another `*.json` → architecture only
 * (model.to_json()). Loading then checks the content (zip, HDF5, JSON and protobuf
 * signatures): when the path and the content disagree, the load fails with a message saying
 * what the path really holds and what to call instead. sp_probe answers "what is this?" for
 * any path without loading it.
 *
 * Every file or directory is written under a temporary name beside the final one, fsynced
 * and renamed over it (see core/file.h): a crash leaves the old artifact or the new one.
 * Loading never trusts a file: sizes, shapes and names are checked before anything is
 * allocated, archive members never escape their directory, and configs that name code
 * (a Keras __lambda__, a Lambda layer, a module outside the Keras namespaces) are refused
 * whatever the options say.
 */
#ifndef SAVEPOINT_IO_H
#define SAVEPOINT_IO_H

#include <stddef.h>
#include <stdint.h>

#include "savepoint/custom.h"
#include "savepoint/model.h"
#include "savepoint/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sp_format {
  SP_FORMAT_AUTO = 0,          /* by path when saving, by path and content when loading */
  SP_FORMAT_KERAS,             /* Keras 3 `.keras` zip archive (or its unzipped directory) */
  SP_FORMAT_H5,                /* legacy Keras HDF5 full model (`model.save('x.h5')`) */
  SP_FORMAT_WEIGHTS_H5,        /* Keras 3 weights only (`x.weights.h5`) */
  SP_FORMAT_LEGACY_WEIGHTS_H5, /* legacy Keras HDF5 weights only (`save_weights('x.h5')`) */
  SP_FORMAT_JSON,              /* architecture only (`model.to_json()`) */
  SP_FORMAT_TFJS,              /* TensorFlow.js layers model: model.json + group1-shardNofM.bin */
  SP_FORMAT_SAVED_MODEL,       /* TensorFlow SavedModel directory */
  SP_FORMAT_CHECKPOINT,        /* TensorFlow checkpoint (tensor bundle) prefix */
  SP_FORMAT_TFLITE,            /* TensorFlow Lite flatbuffer (recognised, not loaded) */
  SP_FORMAT_SERVING_BASE,      /* a TF Serving base path: numbered version directories */
  SP_FORMAT_UNKNOWN
} sp_format;

/* "keras", "h5", "weights-h5", "legacy-weights-h5", "json", "tfjs", "savedmodel", "ckpt",
 * "tflite", "serving-base", "unknown" (the names `savepoint convert --format` takes). */
const char *sp_format_name(sp_format format);
/* Parses a name above ("auto" too); SP_ERROR_INVALID_ARGUMENT lists the valid ones. */
sp_status sp_format_from_name(const char *name, sp_format *format);

/* ---- saving ---- */

/* The default TF.js shard size, as tensorflowjs_converter's weight_shard_size_bytes. */
#define SP_TFJS_DEFAULT_SHARD_BYTES (UINT64_C(4) << 20)

typedef struct sp_save_options {
  sp_format format;       /* SP_FORMAT_AUTO: by path (see the file comment) */
  int include_optimizer;  /* full-model formats: optimizer state and training config (default 1) */
  uint64_t tfjs_shard_bytes; /* TF.js: bytes per shard file (default SP_TFJS_DEFAULT_SHARD_BYTES) */
  int keras_major;        /* JSON architecture layout: 3 (Keras 3 to_json, default) or 2 (tf.keras) */
} sp_save_options;

sp_save_options sp_save_defaults(void);

/* Saves the whole model: architecture, weights and (when compiled, and include_optimizer) the
 * training config and optimizer state. options may be NULL (the defaults). */
sp_status sp_save(const sp_model *model, const char *path, const sp_save_options *options);
/* Saves the weights only: Keras 3 `.weights.h5` (with the optimizer's state when the model is
 * compiled and include_optimizer), legacy weights-only HDF5 (format SP_FORMAT_LEGACY_WEIGHTS_H5,
 * or a path ending .h5 that is not .weights.h5), or a TF.js directory. As Keras requires, a
 * `.keras` or `.json` path is refused. */
sp_status sp_save_weights(const sp_model *model, const char *path, const sp_save_options *options);

/* ---- loading ---- */

/* Receives a non-fatal message (a layer skipped with skip_mismatch, a file group that the model
 * has no object for). */
typedef void (*sp_warning_function)(const char *message, void *context);

typedef struct sp_load_options {
  sp_format format;        /* SP_FORMAT_AUTO: path and content decide; else force a codec */
  int compile;             /* compile from the file's training config and restore the optimizer state
                              (default 1); a config savepoint cannot apply is a warning, not an error */
  /* Weights files (sp_load_weights): */
  int by_name;             /* legacy HDF5: match layers by name instead of by position */
  int skip_mismatch;       /* with by_name: skip layers whose weights do not fit (reported) */
  /* Weights stored plainly (.keras, .weights.h5, legacy .h5, TF.js) are viewed where they lie in
   * a private mapping of the file instead of being copied (default 0). Loading then costs about
   * what reading the file costs; a weight written later (training) gets its own copy of the
   * page, never touching the file. The file must not be rewritten in place while the model
   * lives: savepoint's own saves replace files by rename, which is safe; a program that
   * truncates and rewrites the file (h5py's "w" mode) changes the model's weights under it. */
  int map_weights;
  /* Limits, checked before anything is allocated: */
  uint64_t max_tensor_bytes;  /* one weight (default 16 GiB) */
  uint64_t max_total_bytes;   /* all weights of a file together (default 64 GiB) */
  uint64_t max_config_bytes;  /* config.json, model.json, metadata (default 256 MiB, as Keras) */
  const sp_custom_objects *custom_objects; /* looked up before registered and built-in names */
  sp_warning_function warning; /* NULL: warnings go to stderr as "savepoint: warning: …" */
  void *warning_context;
} sp_load_options;

sp_load_options sp_load_defaults(void);

/* Loads a whole model (architecture and weights; training state when compile). options may be
 * NULL. A weights-only file fails with a message saying to build the model and call
 * sp_load_weights. */
sp_status sp_load(const char *path, const sp_load_options *options, sp_model **model);
/* Loads weights into a built model. Accepts Keras 3 `.weights.h5`, `.keras` (its weights),
 * legacy HDF5 (weights-only or full model) and TF.js. An architecture that differs from the
 * file's fails with what differs: "loading a weight file containing 5 layers into a model with
 * 4 layers (…)", the first shape that does not match, layers that were renamed. */
sp_status sp_load_weights(sp_model *model, const char *path, const sp_load_options *options);

/* ---- what a path holds ---- */

typedef struct sp_probe_info {
  sp_format format;          /* SP_FORMAT_UNKNOWN when nothing savepoint knows */
  char keras_version[32];    /* as the file records it ("2.15.0"), "" when it records none */
  char producer[64];         /* the writer as the file names it: a .keras metadata.json's "producer"
                                ("savepoint 0.1.0"), TF.js's generatedBy ("keras v2.15.0"); "" if none */
  int has_model;             /* an architecture is stored (sp_load can rebuild the model) */
  int has_weights;
  int has_optimizer;         /* optimizer state is stored */
  char description[512];     /* "a legacy Keras HDF5 model (keras_version 2.15.0)" */
  char resolved_path[4096];  /* what to open: the path, a TF.js dir's model.json, a serving
                                base path's highest version, a checkpoint's prefix */
} sp_probe_info;

/* Says what path holds, by name and content, without loading it. Fails (SP_ERROR_NOT_FOUND)
 * only when nothing exists there; anything that exists gets a format, maybe SP_FORMAT_UNKNOWN. */
sp_status sp_probe(const char *path, sp_probe_info *info);

#ifdef __cplusplus
}
#endif
#endif
