/* layer.c — layer lifecycle, variables, and the registry of layer classes.
 *
 * Built-in classes are listed in layer_registry.c; users add custom classes at run time
 * with sp_register_layer_class() under their Keras registered_name ("package>Name").
 */
#include "nn/layer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/mapping.h"
#include "core/memory.h"
#include "nn/custom_objects.h"
#include "nn/initializer.h"
#include "nn/layer_registry.h"

/* ---- registry ---- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static const sp_layer_class **custom_classes;
static size_t custom_count, custom_capacity;

const sp_layer_class *sp_find_layer_class(const char *class_name) {
  const sp_layer_class *scoped = sp_custom_objects_find_layer(class_name); /* the running load's table first */
  if (scoped) return scoped;
  for (const sp_layer_class *const *builtin = sp_builtin_layer_classes; *builtin; builtin++)
    if (strcmp((*builtin)->class_name, class_name) == 0) return *builtin;
  pthread_mutex_lock(&registry_lock);
  const sp_layer_class *found = NULL;
  for (size_t i = 0; i < custom_count && !found; i++)
    if (strcmp(custom_classes[i]->class_name, class_name) == 0) found = custom_classes[i];
  pthread_mutex_unlock(&registry_lock);
  return found;
}

sp_status sp_register_layer_class(const sp_layer_class *layer_class) {
  if (!layer_class || !layer_class->class_name || !layer_class->compute_shapes || !layer_class->forward)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a layer class needs class_name, compute_shapes and forward");
  if (sp_find_layer_class(layer_class->class_name))
    return sp_fail(SP_ERROR_EXISTS, "a layer class named '%s' is already registered", layer_class->class_name);
  pthread_mutex_lock(&registry_lock);
  sp_status status = SP_RESERVE(custom_classes, custom_capacity, custom_count + 1);
  if (status == SP_OK) custom_classes[custom_count++] = layer_class;
  pthread_mutex_unlock(&registry_lock);
  return status;
}

void sp_list_layer_classes(char *out, size_t capacity) {
  size_t used = 0;
  out[0] = '\0';
  for (const sp_layer_class *const *builtin = sp_builtin_layer_classes; *builtin && used < capacity; builtin++)
    used += (size_t)snprintf(out + used, capacity - used, "%s%s", used ? ", " : "", (*builtin)->class_name);
  pthread_mutex_lock(&registry_lock);
  for (size_t i = 0; i < custom_count && used < capacity; i++)
    used += (size_t)snprintf(out + used, capacity - used, ", %s", custom_classes[i]->class_name);
  pthread_mutex_unlock(&registry_lock);
  if (used < capacity) sp_custom_objects_append_names(1, out, capacity);
}

static sp_status unknown_class(const char *class_name) {
  char known[4096];
  sp_list_layer_classes(known, sizeof known);
  return sp_fail(SP_ERROR_UNSUPPORTED,
                 "unknown layer class '%s'. Known classes: %s. A custom layer must be registered in C with "
                 "sp_register_layer_class() under its Keras registered_name (\"package>Name\") before loading, or "
                 "passed in the load's custom-objects table (sp_custom_objects_add_layer())",
                 class_name, known);
}

/* ---- lifecycle ---- */

const char *sp_layer_describe(const sp_layer *layer) {
  static _Thread_local char text[256];
  snprintf(text, sizeof text, "layer '%s' (%s)", layer->name ? layer->name : "?", layer->class->class_name);
  return text;
}

static json_object *copy_json(const json_object *value) {
  json_object *copy = NULL;
  if (value && json_object_deep_copy((json_object *)value, &copy, NULL) != 0) {
    sp_fail(SP_ERROR_NO_MEMORY, "cannot copy a layer config");
    return NULL;
  }
  return copy;
}

sp_status sp_layer_create(const char *class_name, const json_object *config, const json_object *extra,
                          int keras_major, sp_layer **result) {
  *result = NULL;
  const sp_layer_class *layer_class = sp_find_layer_class(class_name);
  if (!layer_class) return unknown_class(class_name);
  if (config && !json_object_is_type(config, json_type_object))
    return sp_fail(SP_ERROR_FORMAT, "the config of a %s layer must be an object", class_name);
  sp_layer *layer = sp_alloc_zeroed(1, sizeof *layer);
  if (!layer) return SP_ERROR_NO_MEMORY;
  layer->class = layer_class;
  layer->keras_major = keras_major;
  layer->reference_count = 1;
  layer->config = config ? copy_json(config) : json_object_new_object();
  layer->extra = extra ? copy_json(extra) : NULL;
  layer->state = sp_alloc_zeroed(1, layer_class->state_size ? layer_class->state_size : 1);
  sp_status status = layer->config && layer->state && (!extra || layer->extra) ? SP_OK : SP_ERROR_NO_MEMORY;
  const char *name = NULL;
  if (status == SP_OK) status = sp_json_get_string(layer->config, "name", NULL, class_name, &name);
  if (status == SP_OK && name && !(layer->name = sp_strdup(name))) status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = sp_json_get_bool(layer->config, "trainable", 1, class_name, &layer->trainable);
  if (status == SP_OK && layer_class->configure) status = layer_class->configure(layer);
  if (status != SP_OK) {
    sp_layer_release(layer);
    return status;
  }
  *result = layer;
  return SP_OK;
}

static void free_variable(sp_variable *variable) {
  if (!variable) return;
  free(variable->name);
  sp_tensor_free(variable->value);
  sp_tensor_free(variable->gradient);
  free(variable);
}

void sp_layer_release(sp_layer *layer) {
  if (!layer || --layer->reference_count > 0) return;
  if (layer->class->release) layer->class->release(layer);
  for (int i = 0; i < layer->variable_count; i++) free_variable(layer->variables[i]);
  free(layer->variables);
  free(layer->build_inputs);
  json_object_put(layer->config);
  json_object_put(layer->extra);
  free(layer->state);
  free(layer->name);
  free(layer);
}

/* ---- variables ---- */

static sp_status add_variable(sp_layer *layer, const char *name, int rank, const int64_t *shape,
                              json_object *initializer, int trainable, sp_variable **result) {
  SP_TRY(SP_RESERVE(layer->variables, layer->variable_capacity, (size_t)layer->variable_count + 1));
  sp_variable *variable = sp_alloc_zeroed(1, sizeof *variable);
  if (!variable) return SP_ERROR_NO_MEMORY;
  variable->name = sp_strdup(name);
  variable->value = sp_tensor_new_unfaulted(SP_FLOAT32, rank, shape); /* filled or mapped later */
  if (!variable->name || !variable->value) {
    free_variable(variable);
    return sp_error_context(SP_ERROR_NO_MEMORY, "%s: variable '%s'", sp_layer_describe(layer), name);
  }
  variable->layer = layer;
  variable->trainable = trainable;
  variable->initializer = initializer;
  layer->variables[layer->variable_count++] = variable;
  if (result) *result = variable;
  return SP_OK;
}

static json_object *config_entry(const sp_layer *layer, const char *prefix, const char *suffix) {
  char key[128];
  snprintf(key, sizeof key, "%s_%s", prefix, suffix);
  json_object *value = sp_json_member(layer->config, key);
  return value && !json_object_is_type(value, json_type_null) ? value : NULL;
}

sp_status sp_layer_add_variable(sp_layer *layer, const char *name, int rank, const int64_t *shape,
                                const char *config_prefix, const char *default_initializer, int trainable,
                                sp_variable **result) {
  sp_variable *variable;
  json_object *initializer = config_prefix ? config_entry(layer, config_prefix, "initializer") : NULL;
  SP_TRY(add_variable(layer, name, rank, shape, initializer, trainable, &variable));
  variable->default_initializer = default_initializer;
  if (config_prefix) {
    char context[300];
    snprintf(context, sizeof context, "%s: %s_regularizer", sp_layer_describe(layer), config_prefix);
    SP_TRY(sp_regularizer_parse(config_entry(layer, config_prefix, "regularizer"), context, &variable->regularizer));
    snprintf(context, sizeof context, "%s: %s_constraint", sp_layer_describe(layer), config_prefix);
    SP_TRY(sp_constraint_parse(config_entry(layer, config_prefix, "constraint"), context, &variable->constraint));
  }
  if (result) *result = variable;
  return SP_OK;
}

sp_status sp_layer_add_variable_initialized_by(sp_layer *layer, const char *name, int rank, const int64_t *shape,
                                               const char *initializer_name, int trainable, sp_variable **result) {
  sp_variable *variable;
  SP_TRY(add_variable(layer, name, rank, shape, NULL, trainable, &variable));
  if (initializer_name && strcmp(initializer_name, "ones") == 0) {
    SP_TRY(sp_tensor_prepare_overwrite(variable->value));
    float *values = sp_tensor_floats(variable->value);
    for (int64_t i = 0; i < sp_tensor_count(variable->value); i++) values[i] = 1.0f;
  }
  variable->initialized = 1;
  if (result) *result = variable;
  return SP_OK;
}

sp_tensor *sp_variable_gradient(sp_variable *variable) {
  if (!variable->trainable || !variable->layer->trainable) return NULL;
  if (!variable->gradient) {
    variable->gradient = sp_tensor_new(SP_FLOAT32, variable->value->rank, variable->value->shape);
  }
  return variable->gradient;
}

/* ---- helpers ---- */

void *sp_call_scratch(sp_call *call, size_t bytes) {
  sp_scratch *scratch = call->scratch;
  if (scratch->capacity >= bytes) return scratch->data;
  void *grown = sp_realloc_array(scratch->data, bytes, 1);
  if (!grown) return NULL;
  scratch->data = grown;
  scratch->capacity = bytes;
  return grown;
}

sp_shape sp_shape_of(const sp_tensor *tensor) {
  sp_shape shape = {.rank = tensor->rank};
  for (int i = 0; i < tensor->rank; i++) shape.dims[i] = tensor->shape[i];
  return shape;
}

char *sp_shape_describe(const sp_shape *shape, char *out, size_t capacity) {
  size_t used = (size_t)snprintf(out, capacity, "(");
  for (int i = 0; i < shape->rank && used < capacity; i++) {
    const char *separator = i ? ", " : "";
    if (shape->dims[i] < 0)
      used += (size_t)snprintf(out + used, capacity - used, "%sNone", separator);
    else
      used += (size_t)snprintf(out + used, capacity - used, "%s%lld", separator, (long long)shape->dims[i]);
  }
  if (used < capacity) snprintf(out + used, capacity - used, shape->rank == 1 ? ",)" : ")");
  return out;
}

sp_status sp_layer_expect_inputs(const sp_layer *layer, int input_count, int minimum, int maximum) {
  if (input_count >= minimum && input_count <= maximum) return SP_OK;
  if (minimum == maximum)
    return sp_fail(SP_ERROR_MISMATCH, "%s expects %d input%s, got %d", sp_layer_describe(layer), minimum,
                   minimum == 1 ? "" : "s", input_count);
  return sp_fail(SP_ERROR_MISMATCH, "%s expects %d to %d inputs, got %d", sp_layer_describe(layer), minimum, maximum,
                 input_count);
}

/* ---- Keras objects ---- */

json_object *sp_keras_object(int keras_major, const char *module, const char *class_name, json_object *config) {
  json_object *object = json_object_new_object();
  if (!object) {
    json_object_put(config);
    return NULL;
  }
  if (keras_major >= 3) json_object_object_add(object, "module", json_object_new_string(module));
  json_object_object_add(object, "class_name", json_object_new_string(class_name));
  json_object_object_add(object, "config", config ? config : json_object_new_object());
  if (keras_major >= 3) json_object_object_add(object, "registered_name", NULL);
  return object;
}

