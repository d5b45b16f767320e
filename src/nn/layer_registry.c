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
    &sp_conv1d_class,
    &sp_conv2d_class,
    &sp_depthwise_conv2d_class,
    &sp_convolution1d_class,
    &sp_convolution2d_class,
    &sp_max_pooling1d_class,
    &sp_max_pooling2d_class,
    &sp_average_pooling1d_class,
    &sp_average_pooling2d_class,
    &sp_global_max_pooling1d_class,
    &sp_global_max_pooling2d_class,
    &sp_global_average_pooling1d_class,
    &sp_global_average_pooling2d_class,
    &sp_zero_padding1d_class,
    &sp_zero_padding2d_class,
    NULL,
};
