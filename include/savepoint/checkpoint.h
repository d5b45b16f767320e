/* checkpoint.h — TensorFlow checkpoints of a model.
 *
 * One checkpoint (a prefix: "dir/ckpt-3" names dir/ckpt-3.index and dir/ckpt-3.data-*):
 *
 *   sp_checkpoint_write(model, "training_2/cp-0001.ckpt", NULL);  // as tf.keras save_weights
 *   sp_checkpoint_read(model, "training_2/cp-0001.ckpt", NULL);   // object-based or TF1 name-based
 *
 * The layout is tf.keras 2's object-based one (layer_with_weights-0/kernel/.ATTRIBUTES/
 * VARIABLE_VALUE, optimizer slots under .OPTIMIZER_SLOT/optimizer/m, the
 * _CHECKPOINTABLE_OBJECT_GRAPH object graph), so tf.keras `model.load_weights(prefix)` and
 * tf.train.Checkpoint read what savepoint writes, and savepoint reads what they write.
 */
#ifndef SAVEPOINT_CHECKPOINT_H
#define SAVEPOINT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "savepoint/model.h"
#include "savepoint/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- one checkpoint ---- */

typedef struct sp_checkpoint_options {
  int include_optimizer;      /* the optimizer's variables, when the model is compiled (default 1) */
  int64_t save_counter;       /* writing: > 0 stores save_counter as tf.train.Checkpoint.save() does */
  const char *training_state; /* writing: JSON text kept with the checkpoint for resuming, or NULL */
} sp_checkpoint_options;

sp_checkpoint_options sp_checkpoint_defaults(void);

/* Writes model's variables (and optimizer's) at prefix in tf.keras's object-based layout.
 * options may be NULL. The directory is created when missing. */
sp_status sp_checkpoint_write(const sp_model *model, const char *prefix, const sp_checkpoint_options *options);
/* Reads values into a built model from an object-based or a TF1 name-based checkpoint. A model
 * that does not fit is reported with what differs and left unchanged. options may be NULL. */
sp_status sp_checkpoint_read(sp_model *model, const char *prefix, const sp_checkpoint_options *options);
/* The training state JSON stored with a checkpoint (caller frees); SP_ERROR_NOT_FOUND when none. */
sp_status sp_checkpoint_read_training_state(const char *prefix, char **json);
/* 1 when <prefix>.index exists. */
int sp_checkpoint_exists(const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
