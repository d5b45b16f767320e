/* keras_weights.h (internal) — where Keras puts each variable, for every Keras file format,
 * and the one checked way to put a value read from a file into a model variable.
 *
 * Keras 3 object paths (.keras, .weights.h5; formats.md §1.4): the model's own `vars` at the
 * root, then `layers/<snake_case(class)>[_N]/vars/<i>`, numbered per class within each
 * container; Sequential's `layers` excludes the InputLayer, Functional's includes it; a
 * nested model repeats the scheme under its path; recurrent layers keep their variables on
 * their cell (`layers/gru/cell/vars`). Layer names never appear in paths.
 * Keras 2 (legacy .h5): one group per top-level layer named by the layer, datasets named
 * `<layer>/<variable>:0`; a nested model's group lists its trainable variables, then its
 * non-trainable ones (layer.trainable_weights + layer.non_trainable_weights).
 * TF.js: `<layer>/<variable>`.
 */
#ifndef SP_FORMATS_KERAS_WEIGHTS_H
#define SP_FORMATS_KERAS_WEIGHTS_H

#include "core/status.h"
#include "nn/model.h"

/* ---- Keras 3 object paths ---- */

typedef struct sp_keras3_object {
  char *path;              /* inner path: "" for the root model, "layers/dense_1", "layers/gru/cell" */
  char *name;              /* the object's .name (the vars group's `name` attribute) */
  const sp_layer *layer;   /* the layer owning the variables; NULL for a model's own vars */
  int variable_count;
  sp_variable **variables; /* borrowed, save order: vars/0, vars/1, … */
} sp_keras3_object;

typedef struct sp_keras3_layout {
  sp_keras3_object *objects; /* Keras's visiting order (the order it creates the groups) */
  int count;
} sp_keras3_layout;

/* Every saveable object of model with its path, as Keras 3's _save_state visits them. */
sp_status sp_keras3_layout_of(const sp_model *model, sp_keras3_layout *layout) SP_MUST_CHECK;
void sp_keras3_layout_free(sp_keras3_layout *layout);
/* The number of objects that hold variables (for messages). */
int sp_keras3_layout_weighted_count(const sp_keras3_layout *layout);

/* ---- Keras 2 / legacy HDF5 ---- */

/* The variables Keras 2 saves for one top-level layer (layer.weights as _legacy_weights
 * orders them). *variables is a new array (free it); count 0 for layers without weights. */
sp_status sp_keras2_layer_weights(const sp_layer *layer, sp_variable ***variables, int *count) SP_MUST_CHECK;
/* "dense/kernel:0" — the name a tf.keras 2.15 file records (and the dataset path inside the
 * layer's group); recurrent cells add their cell scope ("gru/gru_cell/kernel:0"). Caller frees. */
char *sp_keras2_weight_name(const sp_variable *variable);
/* "dense/kernel" — what TF.js layers names the variable (LayerVariable.originalName). Caller frees. */
char *sp_tfjs_weight_name(const sp_variable *variable);

/* ---- assigning loaded values ---- */

/* Puts value (read from `source`, e.g. "'m.keras' layers/dense/vars/0") into variable: the
 * shape must match exactly; numeric dtypes are converted to float32. Marks it initialized. */
sp_status sp_variable_assign(sp_variable *variable, const sp_tensor *value, const char *source) SP_MUST_CHECK;
/* Appends "name, name, …" of the given layers to out (for messages). */
void sp_layer_names_text(const sp_layer *const *layers, int count, char *out, size_t capacity);

#endif
