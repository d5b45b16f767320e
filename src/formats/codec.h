/* codec.h (internal) — the codec table of DESIGN.md: one small struct per model file format.
 *
 * A codec says how to recognise its format from content (probe) and implements what the
 * format can hold: a whole model (load/save), weights only (load_weights/save_weights).
 * Absent operations are NULL and dispatch says so. Adding a format is one new file that
 * defines an sp_codec and one line in codec.c's list.
 *
 * sp_save/sp_load (io.h) pick a codec by path the way Keras does (sp_format_for_path),
 * then probe the content (probe.c): when the content is another format, the load fails
 * naming what the path holds and what to do instead.
 */
#ifndef SP_FORMATS_CODEC_H
#define SP_FORMATS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <json.h>

#include "core/status.h"
#include "nn/model.h"
#include "savepoint/io.h"

/* The first bytes of a file, read once by the probe and shown to every codec. */
typedef struct sp_probe_input {
  const char *path;
  int is_directory;
  const uint8_t *head; /* NULL for a directory */
  size_t head_size;
  uint64_t file_size;
} sp_probe_input;

typedef struct sp_codec {
  sp_format format;
  const char *name;        /* sp_format_name */
  const char *description; /* "a Keras 3 archive (.keras)" */
  /* Recognises the format: returns 1 and fills info (format, description, versions…) when
   * the input is this codec's, 0 otherwise. Never fails; may open the file. */
  int (*probe)(const sp_probe_input *input, sp_probe_info *info);
  sp_status (*load)(const char *path, const sp_load_options *options, sp_model **model);
  sp_status (*save)(const sp_model *model, const char *path, const sp_save_options *options);
  sp_status (*load_weights)(sp_model *model, const char *path, const sp_load_options *options);
  sp_status (*save_weights)(const sp_model *model, const char *path, const sp_save_options *options);
} sp_codec;

/* The registered codecs, NULL-terminated, in probe order. */
extern const sp_codec *const sp_codecs[];

/* The codec for a format, or NULL. */
const sp_codec *sp_codec_for_format(sp_format format);
/* Keras's path rule for saving: .keras, .weights.h5, .h5/.hdf5, model.json or a directory
 * (TF.js), other .json (architecture). SP_FORMAT_UNKNOWN when the path says nothing. */
sp_format sp_format_for_path(const char *path);

/* Options with every zero field replaced by its default (so callers may pass NULL or a
 * zeroed struct). */
sp_load_options sp_load_options_resolved(const sp_load_options *options);
sp_save_options sp_save_options_resolved(const sp_save_options *options);
/* Reports a warning through options->warning (stderr when NULL). */
void sp_load_warn(const sp_load_options *options, const char *format, ...) SP_PRINTF(2, 3);

/* Content tests on the probe's head bytes (probe.c). */
int sp_probe_is_hdf5(const sp_probe_input *input);
int sp_probe_is_zip(const sp_probe_input *input);
int sp_probe_is_json_object(const sp_probe_input *input);

/* Reads and parses a whole JSON file of at most limit bytes (SP_ERROR_UNSAFE beyond). */
sp_status sp_codec_read_json(const char *path, uint64_t limit, json_object **root) SP_MUST_CHECK;

/* Copies text into a fixed buffer, always NUL-terminated (for sp_probe_info fields). */
void sp_probe_set(char *field, size_t capacity, const char *format, ...) SP_PRINTF(3, 4);

/* The codecs (one file each). */
extern const sp_codec sp_tf_checkpoint_codec;
extern const sp_codec sp_keras_v3_codec, sp_keras_h5_codec, sp_legacy_weights_h5_codec, sp_weights_h5_codec,
    sp_json_arch_codec, sp_tfjs_codec, sp_saved_model_codec;

#endif
