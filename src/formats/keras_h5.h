/* keras_h5.h (internal) — the legacy Keras HDF5 readers on an open HDF5 file (an image in
 * memory for fuzzing, or a file). Everything else goes through sp_load / sp_load_weights. */
#ifndef SP_FORMATS_KERAS_H5_H
#define SP_FORMATS_KERAS_H5_H

#include "core/status.h"
#include "formats/h5io.h"
#include "nn/model.h"
#include "savepoint/io.h"

/* A whole model from model_config, training_config and model_weights; source names the file. */
sp_status sp_keras_h5_load_model(sp_h5_file *file, const sp_load_options *options, const char *source,
                                 sp_model **model) SP_MUST_CHECK;
/* Legacy weights (layer_names at the root or in model_weights) into model, by position or by name. */
sp_status sp_keras_h5_load_weights(sp_model *model, sp_h5_file *file, const sp_load_options *options,
                                   const char *source) SP_MUST_CHECK;

#endif
