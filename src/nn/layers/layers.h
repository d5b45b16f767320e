/* layers.h — the built-in layer classes and helpers shared by their implementations. */
#ifndef SP_NN_LAYERS_H
#define SP_NN_LAYERS_H

#include "nn/layer.h"

/* core.c */
extern const sp_layer_class sp_input_layer_class, sp_dense_class, sp_activation_class, sp_relu_class,
    sp_dropout_class, sp_flatten_class, sp_reshape_class;
/* conv.c, pooling.c, zero_padding.c */
extern const sp_layer_class sp_conv1d_class, sp_conv2d_class, sp_depthwise_conv2d_class, sp_convolution1d_class,
    sp_convolution2d_class, sp_max_pooling1d_class, sp_max_pooling2d_class, sp_average_pooling1d_class,
    sp_average_pooling2d_class, sp_global_max_pooling1d_class, sp_global_max_pooling2d_class,
    sp_global_average_pooling1d_class, sp_global_average_pooling2d_class, sp_zero_padding1d_class,
    sp_zero_padding2d_class;

/* recurrent.c */
extern const sp_layer_class sp_simple_rnn_class, sp_gru_class, sp_lstm_class;
/* normalization.c */
extern const sp_layer_class sp_batch_normalization_class, sp_layer_normalization_class;
/* embedding.c */
extern const sp_layer_class sp_embedding_class;
/* merge.c */
extern const sp_layer_class sp_add_class, sp_subtract_class, sp_multiply_class, sp_average_class, sp_concatenate_class;

/* compute_shapes for single-input layers whose output has the input's shape. */
sp_status sp_same_shape(const sp_layer *layer, int input_count, const sp_shape *inputs, int *output_count,
                        sp_shape *outputs);

#endif
