/* activation.h — Keras activations by name, forward and backward.
 *
 * Element-wise activations work on any layout; softmax and log_softmax reduce over the
 * last axis (`inner` contiguous elements), as Keras's default axis=-1 does.
 * hard_sigmoid follows the config's Keras version: Keras 2 clip(0.2x + 0.5, 0, 1),
 * Keras 3 relu6(x + 3) / 6.
 */
#ifndef SP_NN_ACTIVATION_H
#define SP_NN_ACTIVATION_H

#include <json.h>
#include <stdint.h>

#include "core/status.h"
#include "savepoint/custom.h"

typedef enum sp_activation_kind {
  SP_ACTIVATION_LINEAR,
  SP_ACTIVATION_RELU,
  SP_ACTIVATION_RELU6,
  SP_ACTIVATION_LEAKY_RELU,
  SP_ACTIVATION_ELU,
  SP_ACTIVATION_SELU,
  SP_ACTIVATION_GELU,
  SP_ACTIVATION_GELU_APPROXIMATE,
  SP_ACTIVATION_SIGMOID,
  SP_ACTIVATION_HARD_SIGMOID_KERAS2,
  SP_ACTIVATION_HARD_SIGMOID_KERAS3,
  SP_ACTIVATION_TANH,
  SP_ACTIVATION_SOFTMAX,
  SP_ACTIVATION_LOG_SOFTMAX,
  SP_ACTIVATION_SOFTPLUS,
  SP_ACTIVATION_SOFTSIGN,
  SP_ACTIVATION_SWISH,
  SP_ACTIVATION_EXPONENTIAL,
  SP_ACTIVATION_CUSTOM
} sp_activation_kind;

/* sp_custom_activation (a user activation registered under a name) is public: savepoint/custom.h. */

typedef struct sp_activation {
  sp_activation_kind kind;
  float alpha; /* leaky_relu negative slope, elu alpha */
  const sp_custom_activation *custom;
} sp_activation;

/* Resolves an activation spec: NULL/"linear", a name, or a Keras 3 {"class_name": "function", …}
 * object. keras_major picks the hard_sigmoid definition. */
sp_status sp_activation_parse(const json_object *spec, int keras_major, const char *context,
                              sp_activation *activation) SP_MUST_CHECK;
sp_status sp_activation_from_name(const char *name, int keras_major, const char *context,
                                  sp_activation *activation) SP_MUST_CHECK;
/* The Keras name ("relu", "hard_sigmoid", …). */
const char *sp_activation_name(const sp_activation *activation);

/* y = f(x) for count elements; inner is the size of the last axis (softmax family). x may equal y. */
void sp_activation_forward(const sp_activation *activation, const float *x, float *y, int64_t count, int64_t inner);
/* dx = dy * f'(x) from the forward x and y. dx may equal dy. */
void sp_activation_backward(const sp_activation *activation, const float *x, const float *y, const float *dy, float *dx,
                            int64_t count, int64_t inner);
/* 1 when backward needs x (else y suffices, and x may be NULL). */
int sp_activation_needs_input(const sp_activation *activation);

sp_status sp_register_activation(const sp_custom_activation *activation) SP_MUST_CHECK;

#endif
