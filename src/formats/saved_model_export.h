/* saved_model_export.h — the SavedModel exporter's internals that tests and the codec table use.
 * The public entry point is sp_export_saved_model (savepoint/saved_model.h).
 *
 * What an export contains, mirroring TF Serving's saved_model_half_plus_two_cpu (TF 1.14) node for
 * node where the structures overlap:
 *   <input key>                    Placeholder (dtype and shape from the model, batch -1)
 *   <layer>/<variable>             VariableV2, with /initial_value (Const), /Assign and /read
 *   <layer>/<op>…                  the layers' ops (formats/graph_layers.c)
 *   <output key>                   Identity of each model output (the signature's tensors)
 *   init                           NoOp grouping the variables' Assign (never run by loaders)
 *   save/…                         the sharded V2 saver: filename placeholders, StringJoin,
 *                                  ShardedFilename, SaveV2, MergeV2Checkpoints, save/Identity;
 *                                  RestoreV2, one Assign per variable, save/restore_shard,
 *                                  save/restore_all
 *   saver_def {save/Const:0, save/Identity:0, save/restore_all, sharded, V2}
 *   collections "variables" and "trainable_variables" (VariableDef), tags {serve},
 *   meta_info_def.tensorflow_version "2.14.0" (the op set targeted), stripped_op_list.
 */
#ifndef SP_FORMATS_SAVED_MODEL_EXPORT_H
#define SP_FORMATS_SAVED_MODEL_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "savepoint/saved_model.h"

#define SP_EXPORT_TENSORFLOW_VERSION "2.14.0"
/* TF 2.14's GraphDef versions (TF_GRAPH_DEF_VERSION / _MIN_CONSUMER), as in its fixture. */
enum { SP_EXPORT_GRAPH_PRODUCER = 1569, SP_EXPORT_GRAPH_MIN_CONSUMER = 12 };

/* The serialized SavedModel of an export (saved_model.pb's bytes) and the variables it restores,
 * without writing anything. keys[i] names values[i] (sorted); values are borrowed from the model. */
typedef struct sp_export_graph {
  uint8_t *saved_model;
  size_t saved_model_size;
  size_t variable_count;
  char **keys;
  const sp_tensor **values;
} sp_export_graph;

sp_status sp_export_build(const sp_model *model, const sp_export_options *options, sp_export_graph *graph) SP_MUST_CHECK;
void sp_export_graph_free(sp_export_graph *graph);

#endif
