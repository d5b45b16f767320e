/* graph_layers.h — TensorFlow ops for each Keras layer class, for the SavedModel exporter.
 *
 * An emitter turns one layer call into standard ops that stock TF Serving has (no functions, no
 * While): it reads the layer's Keras config and its variables' read tensors and returns the
 * tensors of the call's outputs. Classes without an emitter fail with SP_ERROR_UNSUPPORTED naming
 * the layer and listing the classes that can be exported.
 */
#ifndef SP_FORMATS_GRAPH_LAYERS_H
#define SP_FORMATS_GRAPH_LAYERS_H

#include "formats/graph_builder.h"
#include "nn/layer.h"

/* A tensor of the graph being built: its name, dtype and shape (batch -1). */
typedef struct sp_graph_value {
  const char *tensor;
  sp_dtype dtype;
  sp_shape shape;
} sp_graph_value;

typedef struct sp_graph_emitter {
  sp_graph_builder *graph;
  size_t variable_count;
  const sp_variable *const *variables; /* every variable of the model … */
  const char *const *variable_reads;   /* … and the tensor that reads it ("dense/kernel/read") */
} sp_graph_emitter;

/* Emits one call of layer on inputs; fills outputs (their count is what compute_shapes gives). */
sp_status sp_graph_emit_layer(sp_graph_emitter *emitter, const sp_layer *layer, int input_count,
                              const sp_graph_value *inputs, int *output_count, sp_graph_value *outputs) SP_MUST_CHECK;

/* 1 when the class has an emitter. */
int sp_graph_can_emit(const char *class_name);

#endif
