/* keras_saved_model.h — the Keras model inside a SavedModel that tf.keras wrote (formats.md §5.5).
 *
 * The architecture is the root's Keras metadata: keras_metadata.pb (TF >= 2.5), or, in older
 * SavedModels, the same JSON kept in the object graph's SavedUserObject.metadata. The weights are
 * read from variables/ through the checkpoint's object graph: each Keras layer's metadata names its
 * node, and the variables below that node carry their checkpoint keys and names ("dense/kernel").
 * With options->compile (the default) the model is compiled from the root's training_config and
 * its optimizer's state restored from variables/, as tf.keras's load_model(compile=True) does;
 * metrics' state is not restored.
 *
 * The public entry point is sp_load_keras_saved_model (savepoint/saved_model.h).
 */
#ifndef SP_FORMATS_KERAS_SAVED_MODEL_H
#define SP_FORMATS_KERAS_SAVED_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "nn/model.h"
#include "savepoint/io.h"

/* The root metadata JSON of keras_metadata.pb's bytes (hostile input; for the fuzzer and the
 * loader): *root is the parsed object the caller puts (json_object_put). */
sp_status sp_keras_metadata_root(const uint8_t *data, size_t size, const char *what, json_object **root) SP_MUST_CHECK;

/* The Keras model config ({class_name, config}) a root metadata object describes; a new reference. */
sp_status sp_keras_metadata_model_config(const json_object *root, const char *what, json_object **config) SP_MUST_CHECK;

/* sp_load_keras_saved_model with load options (options may be NULL: the defaults). */
sp_status sp_keras_saved_model_load(const char *directory, const sp_load_options *options,
                                    sp_model **model) SP_MUST_CHECK;

#endif
