/* saved_model_describe.h — what `savepoint show DIR` prints for a SavedModel: the text layout of
 * `saved_model_cli show` (tag-sets, signature keys, inputs/outputs, --all), followed in --all mode by
 * what saved_model_cli lacks (TensorFlow version, fingerprint, assets, variables, Keras metadata),
 * and the same facts as JSON.
 */
#ifndef SP_FORMATS_SAVED_MODEL_DESCRIBE_H
#define SP_FORMATS_SAVED_MODEL_DESCRIBE_H

#include <json.h>

#include "core/bytes.h"
#include "formats/saved_model.h"

typedef struct sp_saved_model_show_options {
  const char *tag_set;       /* NULL: list tag-sets (text) / every meta graph (JSON) */
  const char *signature_def; /* NULL: list signature keys (text) / every signature (JSON) */
  int all;                   /* --all: everything, saved_model_cli layout plus details */
} sp_saved_model_show_options;

/* Appends the text saved_model_cli would print (plus details with all). */
sp_status sp_saved_model_show_text(const sp_saved_model *model, const sp_saved_model_show_options *options,
                                   sp_buffer *out) SP_MUST_CHECK;

/* A JSON object with the same facts (filtered by tag_set / signature_def when given). Caller puts it. */
sp_status sp_saved_model_show_json(const sp_saved_model *model, const sp_saved_model_show_options *options,
                                   json_object **out) SP_MUST_CHECK;

/* "(-1, 1)", "()" or "unknown_rank", as saved_model_cli prints a TensorShapeProto. */
sp_status sp_tensor_shape_proto_text(const Tensorflow__TensorShapeProto *shape, sp_buffer *out) SP_MUST_CHECK;

#endif
