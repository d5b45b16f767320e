/* loss.h — Keras losses by name or config, each giving its value and dL/d(y_pred).
 *
 * Definitions follow Keras 3 (keras/src/losses/losses.py and the backend's nn ops):
 *   mean_squared_error       per sample mean((y_true - y_pred)^2, axis=-1)
 *   mean_absolute_error      per sample mean(|y_true - y_pred|, axis=-1)
 *   binary_crossentropy      per sample mean(-(t log p + (1-t) log(1-p)), axis=-1), p clipped to
 *                            [1e-7, 1 - 1e-7]; from_logits uses max(x,0) - x t + log(1 + e^-|x|)
 *   categorical_crossentropy p normalised to sum 1 along the last axis, clipped, -sum(t log p);
 *                            from_logits is softmax cross-entropy on the logits
 *   sparse_categorical_crossentropy  integer labels; probabilities are clipped, logged and
 *                            passed through log-softmax (what TF's backend does), logits directly
 * then reduced with "sum_over_batch_size" (the mean of the per-sample values; Keras's default)
 * or "sum". Gradients through a clip are zero where the clip is active, as in TensorFlow.
 *
 * Shapes are reconciled as Keras's squeeze_or_expand_to_same_rank does: y_true (N,) against
 * y_pred (N, 1) and y_true (N, 1) against y_pred (N,) are the same values. Sparse labels may be
 * (N,) or (N, 1) against y_pred (N, C). Accumulation is in double; gradients are float32.
 */
#ifndef SP_NN_LOSS_H
#define SP_NN_LOSS_H

#include <json.h>
#include <stdint.h>

#include "core/status.h"
#include "savepoint/tensor.h"

typedef enum sp_loss_kind {
  SP_LOSS_NONE = 0,
  SP_LOSS_MEAN_SQUARED_ERROR,
  SP_LOSS_MEAN_ABSOLUTE_ERROR,
  SP_LOSS_BINARY_CROSSENTROPY,
  SP_LOSS_CATEGORICAL_CROSSENTROPY,
  SP_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
  SP_LOSS_AUTO_CROSSENTROPY /* "crossentropy" / "ce": Keras picks the kind from the shapes */
} sp_loss_kind;

enum { SP_LOSS_NAME_MAX = 64 };

typedef struct sp_loss {
  sp_loss_kind kind;
  int from_logits;
  double label_smoothing; /* binary and categorical cross-entropy */
  int reduce_sum;         /* reduction "sum" instead of "sum_over_batch_size" */
  char name[SP_LOSS_NAME_MAX]; /* what Keras names it: the string given, or the config's name */
} sp_loss;

/* Keras's clipping epsilon (keras.backend.epsilon()). */
#define SP_KERAS_EPSILON 1e-7

/* Parses a loss as compile() accepts it: a name ("mse", "MeanSquaredError",
 * "sparse_categorical_crossentropy", "bce", …) or an object {"class_name", "config"} with or
 * without Keras 3's module keys, or a Keras 2 "Custom>…" registered name. */
sp_status sp_loss_parse(const json_object *spec, const char *context, sp_loss *loss) SP_MUST_CHECK;
sp_status sp_loss_from_name(const char *name, const char *context, sp_loss *loss) SP_MUST_CHECK;

/* Checks y_true against y_pred and resolves "crossentropy" into binary / categorical / sparse
 * from their shapes (is_binary_or_sparse_categorical in keras/src/trainers/compile_utils.py). */
sp_status sp_loss_resolve(sp_loss *loss, const sp_tensor *y_true, const sp_tensor *y_pred) SP_MUST_CHECK;

/* The sum of the per-sample losses and how many per-sample values there are (before the
 * reduction). scale multiplies the gradient, which is written (not added) to gradient when it is
 * non-NULL: gradient = scale * d(reduced loss)/d(y_pred). y_true may be any numeric dtype;
 * y_pred and gradient are float32. */
sp_status sp_loss_evaluate(const sp_loss *loss, const sp_tensor *y_true, const sp_tensor *y_pred, double scale,
                           double *sum, int64_t *count, sp_tensor *gradient) SP_MUST_CHECK;

/* The reduced loss value (and scaled gradient, as above). */
sp_status sp_loss_compute(const sp_loss *loss, const sp_tensor *y_true, const sp_tensor *y_pred, double scale,
                          double *value, sp_tensor *gradient) SP_MUST_CHECK;

/* The Keras function name of a resolved kind ("mean_squared_error", …). */
const char *sp_loss_kind_name(sp_loss_kind kind);

#endif
