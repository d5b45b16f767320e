/* layer_registry.c — the list of built-in layer classes (one line per class). */
#include "nn/layer_registry.h"

#include "nn/layers/layers.h"

const sp_layer_class *const sp_builtin_layer_classes[] = {
    &sp_input_layer_class,
    &sp_dense_class,
    &sp_activation_class,
    &sp_relu_class,
    &sp_dropout_class,
    &sp_flatten_class,
    &sp_reshape_class,
    &sp_simple_rnn_class,
    &sp_gru_class,
    &sp_lstm_class,
    &sp_batch_normalization_class,
    &sp_layer_normalization_class,
    &sp_embedding_class,
    &sp_add_class,
    &sp_subtract_class,
    &sp_multiply_class,
    &sp_average_class,
    &sp_concatenate_class,
    NULL,
};
