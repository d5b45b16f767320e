/* builders.c — Keras-like constructors for layers: each writes the Keras 3 config a Keras
 * user would get from `keras.layers.X(...)` and creates the layer from it, so layers built in
 * C and layers loaded from files go through one path. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/memory.h"
#include "nn/builders.h"
#include "nn/layer.h"
#include "savepoint/model.h"

json_object *sp_builder_base_config(void) {
  json_object *config = json_object_new_object();
  if (!config) return NULL;
  json_object_object_add(config, "trainable", json_object_new_boolean(1));
  json_object *policy = json_object_new_object();
  json_object_object_add(policy, "name", json_object_new_string("float32"));
  json_object_object_add(config, "dtype", sp_keras_object(3, "keras", "DTypePolicy", policy));
  return config;
}

sp_layer *sp_builder_create(const char *class_name, json_object *config) {
  sp_layer *layer = NULL;
  if (!config) {
    sp_fail(SP_ERROR_NO_MEMORY, "cannot build a %s config", class_name);
    return NULL;
  }
  if (sp_layer_create(class_name, config, NULL, 3, &layer) != SP_OK) layer = NULL;
  json_object_put(config);
  return layer;
}

sp_layer *sp_layer_new(const char *class_name, const char *config_json) {
  json_object *config = NULL;
  if (config_json && sp_json_parse(config_json, strlen(config_json), class_name, &config) != SP_OK) return NULL;
  if (!config) config = json_object_new_object();
  sp_layer *layer = NULL;
  if (sp_layer_create(class_name, config, NULL, 3, &layer) != SP_OK) layer = NULL;
  json_object_put(config);
  return layer;
}

static json_object *shape_list(int rank, const int64_t *shape, int with_batch) {
  json_object *list = json_object_new_array();
  if (with_batch) json_object_array_add(list, NULL);
  for (int i = 0; i < rank; i++) json_object_array_add(list, shape[i] < 0 ? NULL : json_object_new_int64(shape[i]));
  return list;
}

sp_layer *sp_input(int rank, const int64_t *shape) {
  if (rank < 0 || rank >= SP_MAX_RANK) {
    sp_fail(SP_ERROR_INVALID_ARGUMENT, "an input of rank %d is not supported", rank);
    return NULL;
  }
  json_object *config = json_object_new_object();
  json_object_object_add(config, "batch_shape", shape_list(rank, shape, 1));
  json_object_object_add(config, "dtype", json_object_new_string("float32"));
  json_object_object_add(config, "sparse", json_object_new_boolean(0));
  return sp_builder_create("InputLayer", config);
}

json_object *sp_builder_activation(const char *activation) {
  return json_object_new_string(activation ? activation : "linear");
}

sp_layer *sp_dense(int64_t units, const char *activation) {
  json_object *config = sp_builder_base_config();
  json_object_object_add(config, "units", json_object_new_int64(units));
  json_object_object_add(config, "activation", sp_builder_activation(activation));
  json_object_object_add(config, "use_bias", json_object_new_boolean(1));
  static const char *const nulls[] = {"kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint"};
  json_object *kernel = json_object_new_object();
  json_object_object_add(kernel, "seed", NULL);
  json_object_object_add(config, "kernel_initializer", sp_keras_object(3, "keras.initializers", "GlorotUniform", kernel));
  json_object_object_add(config, "bias_initializer", sp_keras_object(3, "keras.initializers", "Zeros", NULL));
  for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++) json_object_object_add(config, nulls[i], NULL);
  return sp_builder_create("Dense", config);
}

sp_layer *sp_activation_layer(const char *activation) {
  json_object *config = sp_builder_base_config();
  json_object_object_add(config, "activation", sp_builder_activation(activation));
  return sp_builder_create("Activation", config);
}

sp_layer *sp_dropout(double rate) {
  json_object *config = sp_builder_base_config();
  json_object_object_add(config, "rate", json_object_new_double(rate));
  json_object_object_add(config, "seed", NULL);
  json_object_object_add(config, "noise_shape", NULL);
  return sp_builder_create("Dropout", config);
}

sp_layer *sp_flatten(void) {
  json_object *config = sp_builder_base_config();
  json_object_object_add(config, "data_format", json_object_new_string("channels_last"));
  return sp_builder_create("Flatten", config);
}

sp_layer *sp_reshape(int rank, const int64_t *target_shape) {
  json_object *config = sp_builder_base_config();
  json_object_object_add(config, "target_shape", shape_list(rank, target_shape, 0));
  return sp_builder_create("Reshape", config);
}
