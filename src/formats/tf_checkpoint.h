/* tf_checkpoint.h — a model (and its optimizer) as a TensorFlow checkpoint: the object-based
 * layout tf.keras writes (formats.md §4.7), and TF1 name-based checkpoints for reading.
 *
 * tf.keras 2 `model.save_weights(prefix)` (TF format) writes, and savepoint writes and reads:
 *   layer_with_weights-<k>/<variable>/.ATTRIBUTES/VARIABLE_VALUE        one per model variable
 *   optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE                            int64 step count
 *   optimizer/<hyper>/.ATTRIBUTES/VARIABLE_VALUE                         optimizer_v2's hyperparameters
 *                                    (beta_1, beta_2, decay, learning_rate, momentum, rho, …)
 *   layer_with_weights-<k>/<variable>/.OPTIMIZER_SLOT/optimizer/<slot>/.ATTRIBUTES/VARIABLE_VALUE
 *                                    slot variables under optimizer_v2's names (Adam m, v, vhat;
 *                                    RMSprop rms, momentum, mg; SGD momentum; Adagrad accumulator)
 *   _CHECKPOINTABLE_OBJECT_GRAPH                                         TrackableObjectGraph
 * plus, when written by a manager, save_counter/.ATTRIBUTES/VARIABLE_VALUE (int64) as
 * tf.train.Checkpoint.save() does, and savepoint's resume state:
 *   _SAVEPOINT_TRAINING_STATE                                            a JSON string
 * Our Keras 3 optimizer's variables map one to one onto that layout (iteration → iter,
 * learning_rate → learning_rate, Nadam's u_product → momentum_cache, slots → slot variables;
 * gradient accumulators, which tf.keras 2 lacks, are slot variables "gradient_accumulator"), so a
 * resumed run gets its optimizer back exactly. Reading also accepts the Keras 2.11+ optimizer's
 * layout (optimizer/_iterations, _learning_rate, _variables/<i>). The hyperparameter variables
 * are written for TensorFlow's sake and not read back: the compiled optimizer's config governs.
 * The optimizer's state is restored whole or not at all: a checkpoint of another optimizer still
 * gives its weights, with a warning (Keras skips a mismatched optimizer the same way).
 * The object graph is numbered as TensorFlow numbers it (breadth first from the model; slot
 * variables appended afterwards, slot name by slot name), and tensors are added to the data file
 * in node order with the graph last, so a model with the fixture's values is written byte for
 * byte as tf.keras wrote it. _SAVEPOINT_TRAINING_STATE (a JSON string) is referenced by no
 * object, so TensorFlow's object-based restore never looks at it.
 *
 * Reading matches the model against the saved object graph by structure, the way TensorFlow
 * restores (layer_with_weights-k edges, then the variable edges), from the root or from a root
 * child "model" (tf.train.Checkpoint(model=…)). A bundle without an object graph is a TF1
 * name-based checkpoint: variables are looked up as "<layer>/<variable>" ("dense/kernel"). All
 * values are read and checked before any is assigned, so a failed read leaves the model as it was.
 */
#ifndef SP_FORMATS_TF_CHECKPOINT_H
#define SP_FORMATS_TF_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "nn/model.h"
#include "savepoint/checkpoint.h"

#define SP_CHECKPOINT_OBJECT_GRAPH_KEY "_CHECKPOINTABLE_OBJECT_GRAPH"
#define SP_CHECKPOINT_TRAINING_STATE_KEY "_SAVEPOINT_TRAINING_STATE"

/* The tensors of one checkpoint, keyed as they will be written, in write order. Values are
 * borrowed from the model (capture without copy) or copies owned by the snapshot (with copy),
 * so a writer thread can write them while training changes the model. */
typedef struct sp_checkpoint_snapshot sp_checkpoint_snapshot;

/* Builds the checkpoint's keys and object graph for model and collects its values. With
 * copy_values the values are copied into buffers owned by the snapshot; passing the previous
 * snapshot as *snapshot reuses its buffers when the sizes are unchanged (no new pages to fault
 * in). With copy_values 0 the snapshot borrows the model's tensors and is valid only while the
 * model is unchanged. */
sp_status sp_checkpoint_snapshot_capture(const sp_model *model, const sp_checkpoint_options *options, int copy_values,
                                         sp_checkpoint_snapshot **snapshot) SP_MUST_CHECK;
/* Writes the snapshot as a bundle at prefix (published data first, index last). */
sp_status sp_checkpoint_snapshot_write(const sp_checkpoint_snapshot *snapshot, const char *prefix) SP_MUST_CHECK;
/* Bytes of tensor data the snapshot holds (or borrows). */
uint64_t sp_checkpoint_snapshot_bytes(const sp_checkpoint_snapshot *snapshot);
size_t sp_checkpoint_snapshot_count(const sp_checkpoint_snapshot *snapshot);
/* Key of tensor i in write order (the object graph and the training state included). */
const char *sp_checkpoint_snapshot_key(const sp_checkpoint_snapshot *snapshot, size_t index);
/* Value of tensor i in write order (borrowed), NULL past the end. */
const sp_tensor *sp_checkpoint_snapshot_value(const sp_checkpoint_snapshot *snapshot, size_t index);
/* The serialized TrackableObjectGraph (borrowed). */
const uint8_t *sp_checkpoint_snapshot_graph(const sp_checkpoint_snapshot *snapshot, size_t *size);
void sp_checkpoint_snapshot_free(sp_checkpoint_snapshot *snapshot);

/* Escapes one object-graph local name as TensorFlow does: "." → "..", then "/" → ".S". */
char *sp_checkpoint_escape_local_name(const char *name);

#endif
