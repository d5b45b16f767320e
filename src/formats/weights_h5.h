/* weights_h5.h (internal) — the Keras 3 weights layout in an HDF5 file, shared by `.weights.h5`
 * files and the `model.weights.h5` member of `.keras` archives (formats.md §1.4, §2).
 *
 * Writing reproduces Keras ≥ 3.6: a `vars` group for every saveable object, created in Keras's
 * visiting order, each with the object's `name` as a str attribute (so groups exist even when
 * empty: the root model, InputLayers, layers without weights), datasets "0".."n-1", and the
 * optimizer's variables under optimizer/vars. Reading accepts every Keras 3 writer (no name
 * attributes, no empty groups before 3.6), tf.keras 2.13's _layer_checkpoint_dependencies and
 * tf.keras 2.15 on Windows (inner paths joined with backslashes: one group "layers\dense").
 * Groups the model has no object for (metrics of tf.keras 2.15 files) are ignored; a different
 * set of weighted layers is an error that names both sides.
 */
#ifndef SP_FORMATS_WEIGHTS_H5_H
#define SP_FORMATS_WEIGHTS_H5_H

#include "core/status.h"
#include "formats/h5io.h"
#include "formats/keras_config.h"
#include "nn/model.h"
#include "savepoint/io.h"

/* Writes model's weights (and, with include_optimizer, its optimizer state) into file. */
sp_status sp_keras3_weights_write(const sp_model *model, sp_h5_file *file, int include_optimizer) SP_MUST_CHECK;
/* Reads model's weights from file; with_optimizer also restores optimizer/vars when the model's
 * optimizer is built and the file has them. source names the file in messages. */
sp_status sp_keras3_weights_read(sp_model *model, sp_h5_file *file, const sp_load_options *options,
                                 int with_optimizer, const char *source) SP_MUST_CHECK;
/* Reads one weight dataset into a model variable under the load's limits, checked before anything
 * is allocated: its size against max_tensor_bytes and against what remains of max_total_bytes
 * (*total counts what was read so far), and a dataset of over 1 MiB must store at least 1/1000
 * of what it declares (HDF5 can declare a huge dataset it never stored; Keras stores its
 * weights). A float32 dataset of the variable's shape is read in place; others are converted. */
sp_status sp_keras_read_weight(sp_h5_file *file, const char *path, const sp_load_options *options, uint64_t *total,
                               const char *source, sp_variable *variable) SP_MUST_CHECK;

/* Restores optimizer variables from the datasets paths[i] (NULL: left as it is), all or nothing:
 * every dataset is read and checked against its variable's shape before any is set; a shape that
 * differs is a warning and leaves the optimizer fresh, as Keras does. */
sp_status sp_keras_restore_optimizer(sp_h5_file *file, const sp_optimizer_state *state, char *const *paths,
                                     const sp_load_options *options, const char *source) SP_MUST_CHECK;

/* Writes an HDF5 file at path through a temporary file beside it, published over path only when
 * write(file, context) and closing succeed (core/file.h). */
sp_status sp_h5_write_durably(const char *path, sp_status (*write)(sp_h5_file *file, const void *context),
                              const void *context) SP_MUST_CHECK;
/* Opens path read-only (mapped, its weights viewed in place, with map_weights), runs
 * read(file, "'path'", context), closes it. */
sp_status sp_h5_read_with(const char *path, int map_weights,
                          sp_status (*read)(sp_h5_file *file, const char *source, void *context),
                          void *context) SP_MUST_CHECK;

/* 1 when an open HDF5 file has the Keras 3 layout (a root `vars` group or `layers` group). */
int sp_keras3_weights_recognise(sp_h5_file *file);

#endif
