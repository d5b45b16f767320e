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
    NULL,
};
