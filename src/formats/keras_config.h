/* keras_config.h (internal) — a model's config JSON as Keras files carry it, shared by every
 * codec that stores an architecture (.keras config.json, to_json, .h5 model_config, TF.js
 * modelTopology), with the training config beside it.
 *
 * Reading strips the wrapper keys a file adds around the model object (keras_version, backend,
 * compile_config) before nn builds the model, so they are never written back as model keys,
 * and builds inside the load's custom-objects scope. A compile_config that is not applied (the
 * load asked for compile = 0, or savepoint cannot compile) is kept on the model and written
 * back unchanged, so load → save loses nothing.
 */
#ifndef SP_FORMATS_KERAS_CONFIG_H
#define SP_FORMATS_KERAS_CONFIG_H

#include <json.h>

#include "core/status.h"
#include "nn/model.h"
#include "savepoint/io.h"

/* Builds a model from a model object ({module?, class_name, config, …}); context names the
 * source in messages ("'m.keras' config.json"). keras_major 0 detects the layout. */
sp_status sp_keras_model_from_object(const json_object *object, int keras_major, const char *context,
                                     sp_model **model) SP_MUST_CHECK;

/* The model object as Keras 3 config.json / to_json() writes it (keras_major 3, with
 * compile_config when compiled) or as tf.keras to_json() does (keras_major 2: class_name,
 * config, keras_version, backend). Caller owns the result; NULL on failure (error set). */
json_object *sp_keras_model_object(const sp_model *model, int keras_major);

/* Calls visit for every {class_name, config} object inside value (layers, nested models, cells),
 * depth first, with a bounded depth; visit may add keys to config. */
void sp_keras_config_visit_layers(json_object *value, void (*visit)(const char *class_name, json_object *config));

/* {class_name, config} in the Keras 2 layout (.h5 model_config, TF.js modelTopology), with the
 * defaults that Keras 2-layout readers interpret differently written out. Caller owns it. */
json_object *sp_keras2_model_config(const sp_model *model);

/* The Keras 3 compile_config the model carries: its live training config when compiled, else the
 * one it was loaded with; NULL when neither. New reference. */
json_object *sp_keras_compile_config(const sp_model *model);

/* ---- training state (over nn/compile.h) ---- */

/* The optimizer's variables as files store them. */
typedef struct sp_optimizer_state {
  const char *name;         /* the optimizer's name ("adam"): the optimizer/vars group's name */
  int count;
  sp_tensor **values;       /* borrowed, Keras 3 order: iteration, learning_rate (unless a schedule), slots */
  char **keras2_names;      /* tf.keras 2.11+ names ("iteration:0", "Adam/m/dense/kernel:0"); NULL where a
                               variable has no tf.keras counterpart (learning_rate) */
} sp_optimizer_state;

/* Fills state when the model is compiled and its optimizer built; returns 0 (state empty) otherwise. */
int sp_optimizer_state_of(const sp_model *model, sp_optimizer_state *state);
void sp_optimizer_state_release(sp_optimizer_state *state);
/* Compiles model from a Keras 3 compile_config or a legacy training_config and builds its
 * optimizer (so its variables can then be set). SP_ERROR_UNSUPPORTED when this build has no
 * training support; callers then keep the config on the model and go on. */
sp_status sp_keras_model_compile(sp_model *model, const json_object *config, const char *context) SP_MUST_CHECK;
/* Compiles model, when options->compile, from config (a legacy training_config) or, when config
 * is NULL, from the compile_config it was loaded with — as Keras's loaders do. *compiled says
 * whether it now is. A config savepoint cannot apply (a build without training support, a loss
 * or optimizer it lacks) leaves the model uncompiled with a warning, its compile_config kept
 * and written back; a config naming code still fails (SP_ERROR_UNSAFE). */
sp_status sp_keras_model_restore_training(sp_model *model, const json_object *config, const sp_load_options *options,
                                          const char *context, int *compiled) SP_MUST_CHECK;
/* The legacy training_config (Keras 2 layout) of a compiled model; NULL when not compiled. */
json_object *sp_keras_training_config(const sp_model *model);

/* The Keras versions savepoint records in what it writes: the version whose layout it emits
 * (keras_version is what Keras reads to choose how to load a file; see docs/ARCHITECTURE.md). */
#define SP_KERAS3_VERSION "3.7.0"   /* the Keras 3 layout savepoint writes (.keras, .weights.h5, to_json) */
#define SP_KERAS2_VERSION "2.15.0"  /* the tf.keras layout savepoint writes (legacy .h5, Keras 2 JSON, TF.js) */

#endif
