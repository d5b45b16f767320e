/* model.h — a Keras-shaped model in memory: build it from C or from a Keras config, run it.
 *
 * A model is what a Keras config describes: layers with a class name and config, named
 * variables in creation order, and a graph of calls (Sequential or Functional, with
 * multiple inputs and outputs, shared layers and nested models).
 *
 *   sp_model *model = sp_sequential("classifier");
 *   sp_model_add(model, sp_input(1, (int64_t[]){784}));
 *   sp_model_add(model, sp_dense(512, "relu"));
 *   sp_model_add(model, sp_dropout(0.2));
 *   sp_model_add(model, sp_dense(10, NULL));
 *
 * Layer constructors return NULL on failure and sp_model_add(model, NULL) reports that
 * failure, so a chain of adds needs one check at the end (or at each add).
 * Thread safety: after sp_model_build() (loaders return built models), sp_model_predict()
 * and sp_runner_* may be used from many threads at once; anything that changes the model
 * (adding layers, training, loading weights) needs exclusive access.
 */
#ifndef SAVEPOINT_MODEL_H
#define SAVEPOINT_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "savepoint/status.h"
#include "savepoint/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sp_model sp_model;
typedef struct sp_layer sp_layer;

/* A symbolic tensor in a Functional model (Keras's KerasTensor): output `output` of node `node`. */
typedef struct sp_symbol {
  int node;
  int output;
} sp_symbol;

/* ---- building ---- */
sp_model *sp_sequential(const char *name);
sp_model *sp_functional(const char *name);
/* Appends a layer to a Sequential model; the model takes ownership of the layer, also on failure. */
sp_status sp_model_add(sp_model *model, sp_layer *layer);
/* Declares a Functional input from an InputLayer (sp_input); the model takes ownership. */
sp_status sp_model_input(sp_model *model, sp_layer *input_layer, sp_symbol *symbol);
/* Calls a layer (or a nested model made with sp_model_as_layer) on symbols; the model takes
 * ownership of a new layer, and a layer already in the model is shared (called again). */
sp_status sp_model_call(sp_model *model, sp_layer *layer, int input_count, const sp_symbol *inputs,
                        int output_capacity, sp_symbol *outputs, int *output_count);
/* Marks the Functional model's outputs; builds it. */
sp_status sp_model_set_outputs(sp_model *model, int output_count, const sp_symbol *outputs);
/* Wraps a model so it can be called as a layer inside another model (nesting); takes ownership. */
sp_layer *sp_model_as_layer(sp_model *model);

/* ---- layers (each builds its Keras config; NULL on failure, see sp_last_error) ---- */
/* Any registered layer class from its Keras config JSON, e.g. ("Dense", "{\"units\": 4}"). */
sp_layer *sp_layer_new(const char *class_name, const char *config_json);
/* An InputLayer; shape excludes the batch dimension (-1 for unknown dimensions). */
sp_layer *sp_input(int rank, const int64_t *shape);
sp_layer *sp_dense(int64_t units, const char *activation);
sp_layer *sp_activation_layer(const char *activation);
sp_layer *sp_dropout(double rate);
sp_layer *sp_flatten(void);
sp_layer *sp_reshape(int rank, const int64_t *target_shape);
/* Convolutions and pools, channels_last, with Keras's defaults: padding 'valid', strides 1
 * (pools: strides = pool size), dilation 1, glorot_uniform kernels and zero biases. For other
 * options write the Keras config: sp_layer_new("Conv2D", "{\"filters\": 8, \"kernel_size\": 3,
 * \"padding\": \"same\", \"strides\": 2}"). */
sp_layer *sp_conv1d(int64_t filters, int64_t kernel_size, const char *activation);
sp_layer *sp_conv2d(int64_t filters, int64_t kernel_h, int64_t kernel_w, const char *activation);
sp_layer *sp_depthwise_conv2d(int64_t kernel_h, int64_t kernel_w, int64_t depth_multiplier, const char *activation);
sp_layer *sp_max_pooling1d(int64_t pool_size);
sp_layer *sp_max_pooling2d(int64_t pool_h, int64_t pool_w);
sp_layer *sp_average_pooling1d(int64_t pool_size);
sp_layer *sp_average_pooling2d(int64_t pool_h, int64_t pool_w);
sp_layer *sp_global_max_pooling1d(void);
sp_layer *sp_global_max_pooling2d(void);
sp_layer *sp_global_average_pooling1d(void);
sp_layer *sp_global_average_pooling2d(void);
sp_layer *sp_zero_padding2d(int64_t top, int64_t bottom, int64_t left, int64_t right);
/* Recurrent layers with Keras 3 defaults (tanh, sigmoid gates, GRU reset_after=true); other
 * options (return_state, go_backwards, dropout, …) through sp_layer_new. */
sp_layer *sp_simple_rnn(int64_t units, const char *activation, int return_sequences);
sp_layer *sp_gru(int64_t units, int return_sequences);
sp_layer *sp_lstm(int64_t units, int return_sequences);
/* BatchNormalization (axis -1, momentum 0.99, epsilon 1e-3) and LayerNormalization (axis -1, epsilon 1e-3). */
sp_layer *sp_batch_normalization(void);
sp_layer *sp_layer_normalization(void);
sp_layer *sp_embedding(int64_t input_dim, int64_t output_dim);
/* Merge layers, called with sp_model_call on two or more symbols. */
sp_layer *sp_add(void);
sp_layer *sp_subtract(void);
sp_layer *sp_multiply(void);
sp_layer *sp_average(void);
sp_layer *sp_concatenate(int axis);
/* Frees a layer that was never given to a model. */
void sp_layer_free(sp_layer *layer);

/* ---- configs ---- */
/* A model from Keras config JSON: Keras 3 config.json ({module, class_name, config, …}) or
 * Keras 2 model.to_json()/model_config ({class_name, config}). Unknown keys are kept. */
sp_status sp_model_from_config(const char *json, size_t length, sp_model **model);
/* The config JSON as Keras 3 (keras_major 3) or Keras 2 (keras_major 2) writes it; caller frees. */
char *sp_model_to_config(const sp_model *model, int keras_major);

/* ---- using ---- */
/* Infers shapes, creates variables and the execution plan. Idempotent. */
sp_status sp_model_build(sp_model *model);
/* Seeds the model's random generator (initializers, dropout, shuffling). */
void sp_model_set_seed(sp_model *model, uint64_t seed);
/* Runs the model in inference mode on whole inputs (batch = shape[0]); outputs are new tensors
 * the caller frees (sp_tensor_free each, then free the array). */
sp_status sp_model_predict(sp_model *model, int input_count, const sp_tensor *const *inputs, int *output_count,
                           sp_tensor ***outputs);
void sp_model_free(sp_model *model);

const char *sp_model_name(const sp_model *model);
int sp_model_input_count(const sp_model *model);
int sp_model_output_count(const sp_model *model);
/* Name of input i (its InputLayer's name) and its shape with the batch dimension as -1. */
const char *sp_model_input_name(const sp_model *model, int index);
const char *sp_model_output_name(const sp_model *model, int index);
sp_status sp_model_input_shape(const sp_model *model, int index, int *rank, int64_t *shape);
sp_status sp_model_output_shape(const sp_model *model, int index, int *rank, int64_t *shape);
int64_t sp_model_parameter_count(const sp_model *model, int trainable_only);
/* Prints a summary like Keras's model.summary(). */
void sp_model_summary(const sp_model *model, FILE *out);

/* ---- a reusable per-thread runner for low-latency inference ---- */
typedef struct sp_runner sp_runner;
sp_status sp_runner_new(sp_model *model, sp_runner **runner);
/* Outputs are borrowed from the runner and stay valid until its next call or sp_runner_free. */
sp_status sp_runner_predict(sp_runner *runner, int input_count, const sp_tensor *const *inputs, int *output_count,
                            sp_tensor *const **outputs);
void sp_runner_free(sp_runner *runner);

#ifdef __cplusplus
}
#endif
#endif
