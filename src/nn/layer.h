/* layer.h — what a layer is, and the contract every layer implementation follows.
 *
 * A layer is a Keras layer: a class name, its Keras config (kept as JSON, the canonical
 * text; keys we do not understand survive a round trip), typed state parsed from that
 * config, and named variables in creation order (the order Keras saves them).
 *
 * Implementing a layer class (see layers/core.c for the pattern):
 *   configure       parse layer->config into layer->state; fail with the layer name and key.
 *   compute_shapes  output shapes from input shapes (dims[0] is the batch, -1 if unknown);
 *                   pure, called for symbolic shapes at build time and concrete ones per run.
 *   build           create variables with sp_layer_add_variable() for the given input shapes;
 *                   called once, before the first forward.
 *   forward         fill call->outputs (already allocated with compute_shapes' shapes).
 *                   With call->training, save in sp_call_scratch() whatever backward needs.
 *   backward        given call->output_gradients, OVERWRITE each non-NULL call->input_gradients[i]
 *                   and ADD into each trainable variable's gradient (sp_variable_gradient()).
 *                   call->inputs/outputs still hold the forward values.
 * Inference runs one layer from many threads at once: forward must not modify the layer
 * (it is const); per-call memory comes from the call.
 */
#ifndef SP_NN_LAYER_H
#define SP_NN_LAYER_H

#include <json.h>
#include <stdint.h>

#include "core/status.h"
#include "nn/rng.h"
#include "savepoint/tensor.h"

enum { SP_MAX_LAYER_INPUTS = 64, SP_MAX_LAYER_OUTPUTS = 8 };

typedef struct sp_model sp_model;
typedef struct sp_layer sp_layer;
typedef struct sp_call sp_call;

/* A shape with the batch dimension first; -1 marks an unknown dimension. */
typedef struct sp_shape {
  int rank;
  int64_t dims[SP_MAX_RANK];
} sp_shape;

typedef struct sp_regularizer {
  double l1, l2;
} sp_regularizer;

typedef enum sp_constraint_kind {
  SP_CONSTRAINT_NONE = 0,
  SP_CONSTRAINT_NON_NEG,
  SP_CONSTRAINT_MAX_NORM,
  SP_CONSTRAINT_MIN_MAX_NORM,
  SP_CONSTRAINT_UNIT_NORM
} sp_constraint_kind;

typedef struct sp_constraint {
  sp_constraint_kind kind;
  double max_value, min_value, rate;
  int axis_count;
  int axes[SP_MAX_RANK];
} sp_constraint;

typedef struct sp_variable {
  char *name;               /* "kernel", "bias", "moving_mean", … */
  sp_layer *layer;          /* owner */
  sp_tensor *value;         /* float32 */
  sp_tensor *gradient;      /* same shape, allocated when training needs it */
  int trainable;
  int initialized;          /* 0 until filled by its initializer or loaded from a file */
  json_object *initializer; /* borrowed from the layer config (string or object); NULL = the default */
  const char *default_initializer; /* Keras default when the config has none ("glorot_uniform"); NULL = zeros */
  sp_regularizer regularizer;
  sp_constraint constraint;
} sp_variable;

typedef struct sp_layer_class {
  const char *class_name; /* Keras class name: "Dense" */
  const char *module;     /* Keras 3 module for serialization: "keras.layers" */
  size_t state_size;      /* bytes of layer->state, zeroed before configure */
  sp_status (*configure)(sp_layer *layer);
  sp_status (*compute_shapes)(const sp_layer *layer, int input_count, const sp_shape *inputs, int *output_count,
                              sp_shape *outputs);
  sp_status (*build)(sp_layer *layer, int input_count, const sp_shape *inputs); /* may be NULL */
  sp_status (*forward)(const sp_layer *layer, sp_call *call);
  sp_status (*backward)(const sp_layer *layer, sp_call *call); /* NULL: not differentiable */
  void (*release)(sp_layer *layer);                            /* frees state internals; may be NULL */
} sp_layer_class;

struct sp_layer {
  const sp_layer_class *class;
  char *name;
  json_object *config;   /* the inner config dict, owned */
  json_object *extra;    /* other keys of the serialized layer object (module, registered_name,
                            build_config, …), owned, may be NULL */
  void *state;           /* class-specific parsed config */
  int keras_major;       /* 2 or 3: which Keras definitions apply (hard_sigmoid differs) */
  int trainable;
  int built;
  int build_input_count;
  sp_shape *build_inputs;  /* the input shapes it was built for (Keras build_config) */
  sp_variable **variables; /* creation order */
  int variable_count;
  size_t variable_capacity;
  sp_model *inner_model;   /* set when this layer is a nested model */
  int call_count;          /* nodes created for it so far (Keras node_index numbering) */
  int reference_count;     /* models sharing this layer */
};

/* The per-invocation context a runner passes to forward and backward. */
typedef struct sp_scratch {
  void *data;
  size_t capacity;
} sp_scratch;

struct sp_call {
  int training;
  int input_count;
  sp_tensor *const *inputs;
  int output_count;
  sp_tensor *const *outputs;
  sp_tensor *const *output_gradients; /* backward only */
  sp_tensor *const *input_gradients;  /* backward only; entries may be NULL */
  sp_scratch *scratch;                /* survives from forward to the matching backward */
  sp_rng *rng;                        /* training randomness; NULL at inference */
};

/* At least bytes of memory kept with this call's node until the runner is freed.
 * Returns NULL (with an error set) when memory runs out. Contents persist from forward to backward. */
void *sp_call_scratch(sp_call *call, size_t bytes);

/* ---- layer lifecycle ---- */

/* Creates a layer of a registered class from its inner config (copied), e.g. from a Keras file.
 * extra: the other keys of the serialized object (copied; may be NULL). keras_major: 2 or 3. */
sp_status sp_layer_create(const char *class_name, const json_object *config, const json_object *extra,
                          int keras_major, sp_layer **layer) SP_MUST_CHECK;
/* Releases one reference; frees the layer when none remain. */
void sp_layer_release(sp_layer *layer);

/* For build(): adds a float32 variable whose initializer, regularizer and constraint are read from
 * the config keys "<prefix>_initializer", "<prefix>_regularizer", "<prefix>_constraint"; when the
 * config has no initializer, default_initializer (a Keras name, NULL = zeros) applies, as the layer's
 * constructor default would in Keras. The config itself is never changed. The value is zeroed and
 * marked uninitialized until sp_model_initialize(). */
sp_status sp_layer_add_variable(sp_layer *layer, const char *name, int rank, const int64_t *shape,
                                const char *config_prefix, const char *default_initializer, int trainable,
                                sp_variable **variable) SP_MUST_CHECK;
/* Like above with an explicit initializer name ("zeros", "ones") instead of a config key. */
sp_status sp_layer_add_variable_initialized_by(sp_layer *layer, const char *name, int rank, const int64_t *shape,
                                               const char *initializer_name, int trainable,
                                               sp_variable **variable) SP_MUST_CHECK;
/* The gradient tensor of a variable (allocated and zeroed on first use); NULL when not trainable. */
sp_tensor *sp_variable_gradient(sp_variable *variable);

/* {"module": module, "class_name": …, "config": config, "registered_name": null} for Keras 3, or
 * {"class_name": …, "config": config} for Keras 2. Takes ownership of config (may be NULL). */
json_object *sp_keras_object(int keras_major, const char *module, const char *class_name, json_object *config);

/* "layer 'dense_1' (Dense)" for messages; returns a static thread-local buffer. */
const char *sp_layer_describe(const sp_layer *layer);

/* ---- the class registry (built-in classes and user-registered custom layers) ---- */

/* Registers a layer class under its Keras name or "package>Name" registered_name.
 * Built-ins are registered automatically. Fails with SP_ERROR_EXISTS on a duplicate. */
sp_status sp_register_layer_class(const sp_layer_class *layer_class) SP_MUST_CHECK;
const sp_layer_class *sp_find_layer_class(const char *class_name);
/* Writes the registered class names, comma separated, for error messages. */
void sp_list_layer_classes(char *out, size_t capacity);

/* ---- helpers for implementations ---- */

static inline int64_t sp_shape_elements(const sp_shape *shape) {
  int64_t count = 1;
  for (int i = 0; i < shape->rank; i++) count *= shape->dims[i];
  return count;
}
/* Shape of a tensor as an sp_shape. */
sp_shape sp_shape_of(const sp_tensor *tensor);
/* "(None, 28, 28, 1)" as Keras prints shapes; -1 prints as None. */
char *sp_shape_describe(const sp_shape *shape, char *out, size_t capacity);
/* Fails unless input_count is within [minimum, maximum], naming the layer. */
sp_status sp_layer_expect_inputs(const sp_layer *layer, int input_count, int minimum, int maximum) SP_MUST_CHECK;

#endif
