/* servable_formats.h — the built-in servable formats (one adapter file each), listed in
 * servable.c's format table. */
#ifndef SP_SERVE_SERVABLE_FORMATS_H
#define SP_SERVE_SERVABLE_FORMATS_H

#include "serve/servable.h"

/* SavedModel directories (saved_model.pb / saved_model.pbtxt): servable_saved_model.c. */
extern const sp_servable_format sp_servable_format_saved_model;
/* Keras models (*.keras, *.h5, TF.js model.json) in the version directory: servable_keras.c. */
extern const sp_servable_format sp_servable_format_keras;

/* The signatures of a SavedModel's meta graph (tag_set NULL: "serve") as the server describes
 * them, without loading anything to run: for metadata tests and tools. */
struct sp_saved_model;
sp_status sp_saved_model_signatures(const struct sp_saved_model *model, const char *tag_set, sp_signature **signatures,
                                    size_t *count) SP_MUST_CHECK;

/* The serving_default signature of a built Keras-shaped model: its input and output names, float32,
 * shapes with the batch dimension -1. */
struct sp_model;
sp_status sp_keras_model_signature(const struct sp_model *model, sp_signature **signature) SP_MUST_CHECK;
/* A servable over a model (built here if needed); takes ownership of model, also on failure.
 * format names it ("keras", "h5", "tfjs"), source is the file it came from (for logs). */
sp_status sp_servable_from_keras_model(struct sp_model *model, const char *format, const char *source,
                                       sp_servable **servable) SP_MUST_CHECK;

#endif
