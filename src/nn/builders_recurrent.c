/* builders_recurrent.c — Keras-like constructors for the recurrent, normalization, embedding
 * and merge layers. Like builders.c, each writes the Keras 3 config a Keras user would get
 * from `keras.layers.X(...)` (here as JSON text) and creates the layer through
 * sp_layer_new, so layers built in C and layers loaded from files share one path. */
#include <stdlib.h>

#include "core/memory.h"
#include "savepoint/model.h"

#define KERAS_BASE                                                                                   \
  "\"trainable\": true, \"dtype\": {\"module\": \"keras\", \"class_name\": \"DTypePolicy\", "      \
  "\"config\": {\"name\": \"float32\"}, \"registered_name\": null}"
#define INITIALIZER(class_name, config)                                                             \
  "{\"module\": \"keras.initializers\", \"class_name\": \"" class_name "\", \"config\": " config \
  ", \"registered_name\": null}"
#define ZEROS INITIALIZER("Zeros", "{}")
#define ONES INITIALIZER("Ones", "{}")

/* Creates class_name from config text made by sp_strdupf (NULL: that allocation failed). */
static sp_layer *from_text(const char *class_name, char *config) {
  if (!config) return NULL;
  sp_layer *layer = sp_layer_new(class_name, config);
  free(config);
  return layer;
}

/* The config keys of keras.layers.RNN subclasses; cell_keys adds the cell's own. */
static sp_layer *recurrent(const char *class_name, int64_t units, const char *activation, int return_sequences,
                           const char *cell_keys) {
  return from_text(class_name, sp_strdupf(
      "{" KERAS_BASE ", \"return_sequences\": %s, \"return_state\": false, \"go_backwards\": false, "
      "\"stateful\": false, \"unroll\": false, \"zero_output_for_mask\": false, \"units\": %lld, "
      "\"activation\": \"%s\", %s\"use_bias\": true, "
      "\"kernel_initializer\": " INITIALIZER("GlorotUniform", "{\"seed\": null}") ", "
      "\"recurrent_initializer\": " INITIALIZER("Orthogonal", "{\"gain\": 1.0, \"seed\": null}") ", "
      "\"bias_initializer\": " ZEROS ", \"kernel_regularizer\": null, \"recurrent_regularizer\": null, "
      "\"bias_regularizer\": null, \"activity_regularizer\": null, \"kernel_constraint\": null, "
      "\"recurrent_constraint\": null, \"bias_constraint\": null, \"dropout\": 0.0, \"recurrent_dropout\": 0.0, "
      "\"seed\": null}",
      return_sequences ? "true" : "false", (long long)units, activation ? activation : "linear", cell_keys));
}

sp_layer *sp_simple_rnn(int64_t units, const char *activation, int return_sequences) {
  return recurrent("SimpleRNN", units, activation, return_sequences, "");
}

sp_layer *sp_gru(int64_t units, int return_sequences) {
  return recurrent("GRU", units, "tanh", return_sequences, "\"recurrent_activation\": \"sigmoid\", \"reset_after\": true, ");
}

sp_layer *sp_lstm(int64_t units, int return_sequences) {
  return recurrent("LSTM", units, "tanh", return_sequences,
                   "\"recurrent_activation\": \"sigmoid\", \"unit_forget_bias\": true, ");
}

sp_layer *sp_batch_normalization(void) {
  return from_text("BatchNormalization", sp_strdupf(
      "{" KERAS_BASE ", \"axis\": -1, \"momentum\": 0.99, \"epsilon\": 0.001, \"center\": true, \"scale\": true, "
      "\"beta_initializer\": " ZEROS ", \"gamma_initializer\": " ONES ", \"moving_mean_initializer\": " ZEROS ", "
      "\"moving_variance_initializer\": " ONES ", \"beta_regularizer\": null, \"gamma_regularizer\": null, "
      "\"beta_constraint\": null, \"gamma_constraint\": null, \"synchronized\": false}"));
}

sp_layer *sp_layer_normalization(void) {
  return from_text("LayerNormalization", sp_strdupf(
      "{" KERAS_BASE ", \"axis\": -1, \"epsilon\": 0.001, \"center\": true, \"scale\": true, \"rms_scaling\": false, "
      "\"beta_initializer\": " ZEROS ", \"gamma_initializer\": " ONES ", \"beta_regularizer\": null, "
      "\"gamma_regularizer\": null, \"beta_constraint\": null, \"gamma_constraint\": null}"));
}

sp_layer *sp_embedding(int64_t input_dim, int64_t output_dim) {
  return from_text("Embedding", sp_strdupf(
      "{" KERAS_BASE ", \"input_dim\": %lld, \"output_dim\": %lld, \"embeddings_initializer\": "
      INITIALIZER("RandomUniform", "{\"minval\": -0.05, \"maxval\": 0.05, \"seed\": null}") ", "
      "\"embeddings_regularizer\": null, \"activity_regularizer\": null, \"embeddings_constraint\": null, "
      "\"mask_zero\": false}",
      (long long)input_dim, (long long)output_dim));
}

sp_layer *sp_add(void) { return from_text("Add", sp_strdupf("{" KERAS_BASE "}")); }
sp_layer *sp_subtract(void) { return from_text("Subtract", sp_strdupf("{" KERAS_BASE "}")); }
sp_layer *sp_multiply(void) { return from_text("Multiply", sp_strdupf("{" KERAS_BASE "}")); }
sp_layer *sp_average(void) { return from_text("Average", sp_strdupf("{" KERAS_BASE "}")); }

sp_layer *sp_concatenate(int axis) {
  return from_text("Concatenate", sp_strdupf("{" KERAS_BASE ", \"axis\": %d}", axis));
}
