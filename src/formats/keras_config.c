/* keras_config.c — model config objects in and out of Keras files (keras_config.h). */
#include "formats/keras_config.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/memory.h"
#include "formats/codec.h"
#include "formats/keras_weights.h"
#include "nn/compile.h"
#include "nn/config.h"
#include "nn/optimizer.h"

static json_object *copy_of(const json_object *value) {
  json_object *copy = NULL;
  if (value) json_object_deep_copy((json_object *)value, &copy, NULL);
  return copy;
}

sp_status sp_keras_model_from_object(const json_object *object, int keras_major, const char *context,
                                     sp_model **model) {
  *model = NULL;
  if (!object || !json_object_is_type(object, json_type_object))
    return sp_fail(SP_ERROR_FORMAT, "%s: the model config must be a JSON object", context);
  json_object *stripped = json_object_new_object();
  if (!stripped) return sp_fail(SP_ERROR_NO_MEMORY, "%s: cannot copy the model config", context);
  json_object *compile = NULL;
  json_object_object_foreach((json_object *)object, key, value) {
    if (strcmp(key, "keras_version") == 0 || strcmp(key, "backend") == 0) continue;
    if (strcmp(key, "compile_config") == 0) {
      compile = value;
      continue;
    }
    json_object_object_add(stripped, key, copy_of(value));
  }
  sp_config_options options = {.keras_major = keras_major};
  sp_status status = sp_model_from_config_object(stripped, &options, model);
  json_object_put(stripped);
  if (status != SP_OK) return sp_error_context(status, "%s", context);
  if (compile && !json_object_is_type(compile, json_type_null)) {
    if (!(*model)->object_extra) (*model)->object_extra = json_object_new_object();
    json_object_object_add((*model)->object_extra, "compile_config", copy_of(compile));
  }
  return SP_OK;
}

json_object *sp_keras_compile_config(const sp_model *model) {
  /* The config a model was loaded with is written back as it was (Keras keeps compile()'s
   * arguments, so a file without an optimizer key stays without one); a model compiled in C
   * gets its live config. */
  const json_object *loaded = sp_json_member(model->object_extra, "compile_config");
  if (loaded || !sp_model_training_config(model)) return copy_of(loaded);
  return sp_training_config_json(model, SP_LAYOUT_KERAS3_COMPILE_CONFIG);
}

static void visit_layers(json_object *value, void (*visit)(const char *class_name, json_object *config), int depth) {
  if (depth > SP_JSON_MAX_DEPTH) return; /* parsed JSON is never deeper; built JSON is ours */
  if (json_object_is_type(value, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(value); i++)
      visit_layers(json_object_array_get_idx(value, i), visit, depth + 1);
    return;
  }
  if (!json_object_is_type(value, json_type_object)) return;
  json_object *class_name = sp_json_member(value, "class_name"), *config = sp_json_member(value, "config");
  if (class_name && json_object_is_type(class_name, json_type_string) && json_object_is_type(config, json_type_object))
    visit(json_object_get_string(class_name), config);
  json_object_object_foreach(value, key, child) {
    (void)key;
    if (child) visit_layers(child, visit, depth + 1);
  }
}

void sp_keras_config_visit_layers(json_object *value, void (*visit)(const char *class_name, json_object *config)) {
  visit_layers(value, visit, 0);
}

/* A config that leaves a key to its default means Keras 3's default; where a Keras 2-layout reader
 * defaults otherwise (standalone Keras 2.0-2.2 and tfjs-layers: recurrent_activation hard_sigmoid),
 * write Keras 3's value out. */
static void write_keras3_defaults(const char *class_name, json_object *config) {
  if ((strcmp(class_name, "GRU") == 0 || strcmp(class_name, "LSTM") == 0) && !sp_json_member(config, "recurrent_activation"))
    json_object_object_add(config, "recurrent_activation", json_object_new_string("sigmoid"));
}

json_object *sp_keras2_model_config(const sp_model *model) {
  json_object *config = sp_model_config_json(model, 2);
  if (config) sp_keras_config_visit_layers(config, write_keras3_defaults);
  return config;
}

json_object *sp_keras_model_object(const sp_model *model, int keras_major) {
  json_object *tree = keras_major >= 3 ? sp_model_config_json(model, 3) : sp_keras2_model_config(model);
  if (!tree) {
    sp_fail(SP_ERROR_NO_MEMORY, "cannot serialize the config of model '%s'", model->name);
    return NULL;
  }
  if (keras_major >= 3) {
    json_object *compile = sp_keras_compile_config(model);
    if (compile) json_object_object_add(tree, "compile_config", compile);
  } else {
    json_object_object_add(tree, "keras_version", json_object_new_string(SP_KERAS2_VERSION));
    json_object_object_add(tree, "backend", json_object_new_string("tensorflow"));
  }
  return tree;
}

/* ---- training state (the bridge to nn/compile.h) ---- */

sp_status sp_keras_model_restore_training(sp_model *model, const json_object *config, const sp_load_options *options,
                                          const char *context, int *compiled) {
  *compiled = 0;
  const json_object *source = config ? config : sp_json_member(model->object_extra, "compile_config");
  if (!source || json_object_is_type(source, json_type_null) || !options->compile) return SP_OK;
  sp_status status = sp_keras_model_compile(model, source, context);
  if (status == SP_OK) {
    *compiled = 1;
    return SP_OK;
  }
  if (status == SP_ERROR_UNSAFE || status == SP_ERROR_NO_MEMORY) return status;
  sp_load_warn(options, "the model is loaded without its training configuration: %s", sp_last_error());
  sp_clear_error();
  return SP_OK;
}

/* tf.keras 2.11+'s short slot names ("Adam/m/dense/kernel:0"); Keras 3 calls them momentum and
 * velocity. */
static const char *keras2_slot_name(sp_optimizer_kind kind, const char *slot) {
  int adam_family = kind == SP_OPTIMIZER_ADAM || kind == SP_OPTIMIZER_ADAMW || kind == SP_OPTIMIZER_NADAM;
  if (adam_family && strcmp(slot, "momentum") == 0) return "m";
  if (adam_family && strcmp(slot, "velocity") == 0) return "v";
  if (adam_family && strcmp(slot, "velocity_hat") == 0) return "vhat";
  if (kind == SP_OPTIMIZER_SGD && strcmp(slot, "momentum") == 0) return "m";
  return slot;
}

/* The tf.keras name of optimizer variable i, or NULL where tf.keras keeps none (learning_rate). */
static char *keras2_variable_name(const sp_optimizer *optimizer, int i) {
  const sp_optimizer_variable *variable = &optimizer->variables[i];
  if (variable->value == optimizer->iteration) return sp_strdup("iteration:0");
  if (!variable->slot || variable->target < 0 || variable->target >= optimizer->target_count) return NULL;
  char *weight = sp_keras2_weight_name(optimizer->targets[variable->target]);
  char *name = weight ? sp_strdupf("%s/%s/%s", sp_optimizer_class_name(optimizer),
                                   keras2_slot_name(optimizer->kind, variable->slot), weight)
                      : NULL;
  free(weight);
  return name;
}

int sp_optimizer_state_of(const sp_model *model, sp_optimizer_state *state) {
  *state = (sp_optimizer_state){0};
  sp_training_config *training = sp_model_training_config(model);
  sp_optimizer *optimizer = training ? training->optimizer : NULL;
  if (!optimizer || !optimizer->built || optimizer->variable_count == 0) return 0;
  state->name = optimizer->name;
  state->values = sp_alloc_zeroed((size_t)optimizer->variable_count + 1, sizeof *state->values);
  state->keras2_names = sp_alloc_zeroed((size_t)optimizer->variable_count + 1, sizeof *state->keras2_names);
  if (!state->values || !state->keras2_names) {
    sp_optimizer_state_release(state);
    return 0;
  }
  state->count = optimizer->variable_count;
  for (int i = 0; i < optimizer->variable_count; i++) {
    state->values[i] = optimizer->variables[i].value;
    state->keras2_names[i] = keras2_variable_name(optimizer, i);
  }
  return 1;
}

void sp_optimizer_state_release(sp_optimizer_state *state) {
  for (int i = 0; state->keras2_names && i < state->count; i++) free(state->keras2_names[i]);
  free(state->keras2_names);
  free(state->values);
  *state = (sp_optimizer_state){0};
}

sp_status sp_keras_model_compile(sp_model *model, const json_object *config, const char *context) {
  return sp_model_compile_from_config(model, config, context); /* builds the optimizer's variables too */
}

json_object *sp_keras_training_config(const sp_model *model) {
  if (!sp_model_training_config(model)) return NULL;
  return sp_training_config_json(model, SP_LAYOUT_KERAS2_TRAINING_CONFIG);
}
