/* model.h (internal) — the model graph, its flattened execution plan, and the runner.
 *
 * Structure vs execution: sp_model keeps the graph exactly as Keras describes it (layers
 * in model.layers order, nodes = layer calls, nested models as layers) because formats
 * serialize that structure. Execution uses an sp_plan built once from it: nested models
 * are inlined, InputLayers disappear, and every tensor becomes a numbered slot. The plan
 * is immutable after build, so many runners (one per thread) can share it.
 */
#ifndef SP_NN_MODEL_H
#define SP_NN_MODEL_H

#include <json.h>

#include "nn/layer.h"
#include "savepoint/model.h"

typedef struct sp_training_config sp_training_config; /* owned by the train layer's code (nn/compile) */

typedef struct sp_node {
  sp_layer *layer;
  int input_count;
  sp_symbol *inputs;
  int output_count;
  sp_shape outputs[SP_MAX_LAYER_OUTPUTS]; /* symbolic shapes, batch -1 */
  int list_argument;      /* inputs were passed as one list (merge layers): Keras 3 args [[a, b]] */
  json_object *arguments; /* other call kwargs as read from a config, kept for round trips; may be NULL */
  int layer_node_index;   /* which call of its layer this is (Keras node_index) */
} sp_node;

typedef struct sp_step {
  const sp_layer *layer;
  int node;          /* node index in the model that owns the layer call (for messages) */
  int input_count;
  int *input_slots;
  int output_count;
  int output_slots[SP_MAX_LAYER_OUTPUTS];
} sp_step;

typedef struct sp_plan {
  int slot_count;
  sp_shape *slot_shapes;  /* symbolic, batch -1 */
  int *slot_consumers;    /* how many step inputs read each slot */
  int input_count;
  int *input_slots;
  int output_count;
  int *output_slots;
  int step_count;
  sp_step *steps;
} sp_plan;

struct sp_model {
  char *name;
  char *class_name;         /* "Sequential", "Functional" (Keras 2 files may say "Model") */
  int keras_major;          /* layout it was read from (3 for models built in C) */
  json_object *config_extra; /* model config keys we keep but do not interpret; owned, may be NULL */
  json_object *object_extra; /* keys beside class_name/config (module, registered_name, build_config …) */
  sp_layer **layers;        /* model.layers order, InputLayers included (Functional and Sequential) */
  int layer_count;
  size_t layer_capacity;
  sp_node *nodes;           /* topological (creation) order */
  int node_count;
  size_t node_capacity;
  sp_symbol *inputs;
  int input_count;
  sp_symbol *outputs;
  int output_count;
  json_object *input_structure;  /* Keras 3 input_layers/output_layers when not a flat list; owned */
  json_object *output_structure;
  int built;
  sp_plan *plan;
  sp_rng rng;
  sp_training_config *training; /* optimizer, losses, metrics; NULL until compiled */
  void (*training_release)(sp_training_config *training);
};

/* ---- structure ---- */
sp_status sp_model_new(const char *name, const char *class_name, sp_model **model) SP_MUST_CHECK;
/* Adds a node calling layer on inputs; computes symbolic output shapes (building the layer on first call). */
sp_status sp_model_add_node(sp_model *model, sp_layer *layer, int input_count, const sp_symbol *inputs,
                            int list_argument, const json_object *arguments, int *node_index) SP_MUST_CHECK;
/* Appends layer to model.layers unless present; takes a reference. */
sp_status sp_model_track_layer(sp_model *model, sp_layer *layer) SP_MUST_CHECK;
int sp_model_find_layer(const sp_model *model, const char *name);
/* Layers that own variables, in model.layers order, descending into nested models (Keras weight order). */
int sp_model_collect_variables(const sp_model *model, sp_variable ***variables, int trainable_only);
/* Fills every variable that is still uninitialized from its initializer, with the model's generator. */
sp_status sp_model_initialize(sp_model *model) SP_MUST_CHECK;
/* 1 for InputLayer layers. */
int sp_layer_is_input(const sp_layer *layer);
/* Keras's to_snake_case ("BatchNormalization" → "batch_normalization"), the base of layer names
 * and of .keras weight paths. */
void sp_snake_case(const char *name, char *out, size_t capacity);
/* A unique layer name for class_name in this model ("dense", "dense_1", …) as Keras picks them. */
char *sp_model_unique_layer_name(const sp_model *model, const char *class_name);

/* ---- execution ---- */
typedef struct sp_runner sp_runner;
/* Forward pass. training = 1 keeps what backward needs and enables dropout (rng required). */
sp_status sp_runner_forward(sp_runner *runner, int training, sp_rng *rng, int input_count,
                            const sp_tensor *const *inputs) SP_MUST_CHECK;
/* Outputs of the last forward (borrowed). */
sp_tensor *sp_runner_output(const sp_runner *runner, int index);
/* Backward pass from dL/d(output_i); adds into every trainable variable's gradient. */
sp_status sp_runner_backward(sp_runner *runner, sp_tensor *const *output_gradients) SP_MUST_CHECK;

#endif
