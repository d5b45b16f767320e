/* builders_conv.c — Keras-like constructors for the convolution, pooling and padding layers.
 *
 * Each writes the config keras.layers.X(...) would hold with the same arguments in Keras 3 (key
 * order included), with Keras's defaults for everything else: padding 'valid', strides 1 (pools:
 * strides = pool_size), channels_last, glorot_uniform kernels and zero biases. Other options go
 * through sp_layer_new(class_name, config_json), which takes any Keras config.
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "nn/builders.h"
#include "nn/layer.h"
#include "savepoint/model.h"

static json_object *int_list(int count, const int64_t *values) {
  json_object *list = json_object_new_array();
  for (int i = 0; i < count; i++) json_object_array_add(list, json_object_new_int64(values[i]));
  return list;
}

/* A convolution's config in BaseConv.get_config order: first (filters or depth_multiplier), the
 * window keys, activation, use_bias, then the weight options named after kernel ("kernel",
 * "depthwise"): GlorotUniform and Zeros, no regularizers or constraints. */
static sp_layer *convolution(const char *class_name, const char *first, int64_t first_value, int spatial_rank,
                             const int64_t *kernel_size, const char *activation, const char *kernel) {
  static const int64_t ones[2] = {1, 1};
  char initializer[48], regularizer[48], constraint[48];
  snprintf(initializer, sizeof initializer, "%s_initializer", kernel);
  snprintf(regularizer, sizeof regularizer, "%s_regularizer", kernel);
  snprintf(constraint, sizeof constraint, "%s_constraint", kernel);
  json_object *config = sp_builder_base_config(), *seed = json_object_new_object();
  json_object_object_add(config, first, json_object_new_int64(first_value));
  json_object_object_add(config, "kernel_size", int_list(spatial_rank, kernel_size));
  json_object_object_add(config, "strides", int_list(spatial_rank, ones));
  json_object_object_add(config, "padding", json_object_new_string("valid"));
  json_object_object_add(config, "data_format", json_object_new_string("channels_last"));
  json_object_object_add(config, "dilation_rate", int_list(spatial_rank, ones));
  if (strcmp(first, "filters") == 0) json_object_object_add(config, "groups", json_object_new_int64(1));
  json_object_object_add(config, "activation", sp_builder_activation(activation));
  json_object_object_add(config, "use_bias", json_object_new_boolean(1));
  json_object_object_add(seed, "seed", NULL);
  json_object_object_add(config, initializer, sp_keras_object(3, "keras.initializers", "GlorotUniform", seed));
  json_object_object_add(config, "bias_initializer", sp_keras_object(3, "keras.initializers", "Zeros", NULL));
  const char *const nulls[] = {regularizer, "bias_regularizer", "activity_regularizer", constraint, "bias_constraint"};
  for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++) json_object_object_add(config, nulls[i], NULL);
  return sp_builder_create(class_name, config);
}

sp_layer *sp_conv1d(int64_t filters, int64_t kernel_size, const char *activation) {
  return convolution("Conv1D", "filters", filters, 1, &kernel_size, activation, "kernel");
}

sp_layer *sp_conv2d(int64_t filters, int64_t kernel_h, int64_t kernel_w, const char *activation) {
  return convolution("Conv2D", "filters", filters, 2, (const int64_t[]){kernel_h, kernel_w}, activation, "kernel");
}

sp_layer *sp_depthwise_conv2d(int64_t kernel_h, int64_t kernel_w, int64_t depth_multiplier, const char *activation) {
  return convolution("DepthwiseConv2D", "depth_multiplier", depth_multiplier, 2, (const int64_t[]){kernel_h, kernel_w},
                     activation, "depthwise");
}

/* BasePooling.get_config: pool_size, padding, strides, data_format. */
static sp_layer *pooling(const char *class_name, int spatial_rank, const int64_t *pool) {
  json_object *config = sp_builder_base_config();
  json_object_object_add(config, "pool_size", int_list(spatial_rank, pool));
  json_object_object_add(config, "padding", json_object_new_string("valid"));
  json_object_object_add(config, "strides", int_list(spatial_rank, pool));
  json_object_object_add(config, "data_format", json_object_new_string("channels_last"));
  return sp_builder_create(class_name, config);
}

sp_layer *sp_max_pooling1d(int64_t pool_size) { return pooling("MaxPooling1D", 1, &pool_size); }
sp_layer *sp_average_pooling1d(int64_t pool_size) { return pooling("AveragePooling1D", 1, &pool_size); }
sp_layer *sp_max_pooling2d(int64_t pool_h, int64_t pool_w) {
  return pooling("MaxPooling2D", 2, (const int64_t[]){pool_h, pool_w});
}
sp_layer *sp_average_pooling2d(int64_t pool_h, int64_t pool_w) {
  return pooling("AveragePooling2D", 2, (const int64_t[]){pool_h, pool_w});
}

static sp_layer *global_pooling(const char *class_name) {
  json_object *config = sp_builder_base_config();
  json_object_object_add(config, "data_format", json_object_new_string("channels_last"));
  json_object_object_add(config, "keepdims", json_object_new_boolean(0));
  return sp_builder_create(class_name, config);
}

sp_layer *sp_global_max_pooling1d(void) { return global_pooling("GlobalMaxPooling1D"); }
sp_layer *sp_global_max_pooling2d(void) { return global_pooling("GlobalMaxPooling2D"); }
sp_layer *sp_global_average_pooling1d(void) { return global_pooling("GlobalAveragePooling1D"); }
sp_layer *sp_global_average_pooling2d(void) { return global_pooling("GlobalAveragePooling2D"); }

sp_layer *sp_zero_padding2d(int64_t top, int64_t bottom, int64_t left, int64_t right) {
  json_object *config = sp_builder_base_config();
  json_object *padding = json_object_new_array();
  json_object_array_add(padding, int_list(2, (const int64_t[]){top, bottom}));
  json_object_array_add(padding, int_list(2, (const int64_t[]){left, right}));
  json_object_object_add(config, "padding", padding);
  json_object_object_add(config, "data_format", json_object_new_string("channels_last"));
  return sp_builder_create("ZeroPadding2D", config);
}
