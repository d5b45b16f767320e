/* loss.c — Keras losses: names and configs, values and gradients (definitions in loss.h).
 *
 * Every loss is computed per "row": the last axis of y_pred. Element-wise losses (mse, mae,
 * binary cross-entropy) average their elements over the row; the categorical ones reduce the row
 * to one value. The per-sample values are then summed, and the reduction divides by their number.
 * Clipping uses float32 bounds, as Keras does in float32: [1e-7f, 1 - 1e-7f].
 */
#include "nn/loss.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"

typedef struct loss_name {
  const char *name;
  sp_loss_kind kind;
} loss_name;

/* The identifiers keras.losses.get accepts for the losses savepoint implements (function names,
 * class names, the aliases in ALL_OBJECTS_DICT) plus "crossentropy"/"ce" from compile_utils. */
static const loss_name loss_names[] = {
    {"mean_squared_error", SP_LOSS_MEAN_SQUARED_ERROR},
    {"mse", SP_LOSS_MEAN_SQUARED_ERROR},
    {"MSE", SP_LOSS_MEAN_SQUARED_ERROR},
    {"MeanSquaredError", SP_LOSS_MEAN_SQUARED_ERROR},
    {"mean_absolute_error", SP_LOSS_MEAN_ABSOLUTE_ERROR},
    {"mae", SP_LOSS_MEAN_ABSOLUTE_ERROR},
    {"MAE", SP_LOSS_MEAN_ABSOLUTE_ERROR},
    {"MeanAbsoluteError", SP_LOSS_MEAN_ABSOLUTE_ERROR},
    {"binary_crossentropy", SP_LOSS_BINARY_CROSSENTROPY},
    {"bce", SP_LOSS_BINARY_CROSSENTROPY},
    {"BCE", SP_LOSS_BINARY_CROSSENTROPY},
    {"BinaryCrossentropy", SP_LOSS_BINARY_CROSSENTROPY},
    {"categorical_crossentropy", SP_LOSS_CATEGORICAL_CROSSENTROPY},
    {"CategoricalCrossentropy", SP_LOSS_CATEGORICAL_CROSSENTROPY},
    {"sparse_categorical_crossentropy", SP_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
    {"SparseCategoricalCrossentropy", SP_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
};

const char *sp_loss_kind_name(sp_loss_kind kind) {
  switch (kind) {
    case SP_LOSS_MEAN_SQUARED_ERROR: return "mean_squared_error";
    case SP_LOSS_MEAN_ABSOLUTE_ERROR: return "mean_absolute_error";
    case SP_LOSS_BINARY_CROSSENTROPY: return "binary_crossentropy";
    case SP_LOSS_CATEGORICAL_CROSSENTROPY: return "categorical_crossentropy";
    case SP_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY: return "sparse_categorical_crossentropy";
    case SP_LOSS_AUTO_CROSSENTROPY: return "crossentropy";
    case SP_LOSS_NONE: break;
  }
  return "none";
}

static void set_name(sp_loss *loss, const char *name) { snprintf(loss->name, sizeof loss->name, "%s", name); }

sp_status sp_loss_from_name(const char *name, const char *context, sp_loss *loss) {
  memset(loss, 0, sizeof *loss);
  if (strcasecmp(name, "crossentropy") == 0 || strcasecmp(name, "ce") == 0) {
    loss->kind = SP_LOSS_AUTO_CROSSENTROPY;
    set_name(loss, name);
    return SP_OK;
  }
  for (size_t i = 0; i < sizeof loss_names / sizeof *loss_names; i++)
    if (strcmp(loss_names[i].name, name) == 0) {
      loss->kind = loss_names[i].kind;
      /* A class name gives the class's default name; a function name or alias is kept as given. */
      set_name(loss, isupper((unsigned char)name[0]) && strlen(name) > 3 ? sp_loss_kind_name(loss->kind) : name);
      return SP_OK;
    }
  return sp_fail(SP_ERROR_UNSUPPORTED,
                 "%s: unknown loss '%s' (known: mean_squared_error/mse, mean_absolute_error/mae, "
                 "binary_crossentropy/bce, categorical_crossentropy, sparse_categorical_crossentropy, crossentropy, "
                 "and their class names such as SparseCategoricalCrossentropy)",
                 context, name);
}

static sp_status parse_reduction(const json_object *config, const char *context, sp_loss *loss) {
  const char *reduction;
  SP_TRY(sp_json_get_string(config, "reduction", "sum_over_batch_size", context, &reduction));
  if (strcmp(reduction, "sum") == 0) {
    loss->reduce_sum = 1;
    return SP_OK;
  }
  if (strcmp(reduction, "sum_over_batch_size") == 0 || strcmp(reduction, "auto") == 0) return SP_OK;
  return sp_fail(SP_ERROR_UNSUPPORTED, "%s: loss reduction '%s' is not supported (sum_over_batch_size, auto, sum)",
                 context, reduction);
}

/* The options of a loss class config that change its value; keys that do not (name, dtype) are free. */
static sp_status parse_loss_config(const json_object *config, const char *context, sp_loss *loss) {
  const char *name;
  SP_TRY(sp_json_get_string(config, "name", NULL, context, &name));
  if (name) set_name(loss, name);
  SP_TRY(sp_json_get_bool(config, "from_logits", 0, context, &loss->from_logits));
  SP_TRY(sp_json_get_double(config, "label_smoothing", 0, context, &loss->label_smoothing));
  SP_TRY(parse_reduction(config, context, loss));
  int64_t axis;
  SP_TRY(sp_json_get_int(config, "axis", -1, context, &axis));
  if (axis != -1) return sp_fail(SP_ERROR_UNSUPPORTED, "%s: only axis=-1 is supported for losses, found %lld", context, (long long)axis);
  json_object *ignore_class = sp_json_member(config, "ignore_class");
  if (ignore_class && !json_object_is_type(ignore_class, json_type_null))
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: ignore_class is not supported", context);
  if (loss->label_smoothing < 0 || loss->label_smoothing > 1)
    return sp_fail(SP_ERROR_FORMAT, "%s: label_smoothing must be in [0, 1], found %g", context, loss->label_smoothing);
  if (loss->label_smoothing != 0 && loss->kind != SP_LOSS_BINARY_CROSSENTROPY && loss->kind != SP_LOSS_CATEGORICAL_CROSSENTROPY)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: label_smoothing applies to binary and categorical cross-entropy only", context);
  if (loss->from_logits && loss->kind != SP_LOSS_BINARY_CROSSENTROPY && loss->kind != SP_LOSS_CATEGORICAL_CROSSENTROPY &&
      loss->kind != SP_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)
    return sp_fail(SP_ERROR_FORMAT, "%s: from_logits applies to the cross-entropy losses only", context);
  return SP_OK;
}

sp_status sp_loss_parse(const json_object *spec, const char *context, sp_loss *loss) {
  memset(loss, 0, sizeof *loss);
  if (!spec || json_object_is_type(spec, json_type_null)) return SP_OK; /* no loss for this output */
  if (json_object_is_type(spec, json_type_string)) return sp_loss_from_name(json_object_get_string((json_object *)spec), context, loss);
  if (!json_object_is_type(spec, json_type_object))
    return sp_fail(SP_ERROR_FORMAT, "%s: a loss must be a name or an object {class_name, config}", context);
  const char *class_name;
  SP_TRY(sp_json_get_string(spec, "class_name", NULL, context, &class_name));
  if (!class_name) return sp_fail(SP_ERROR_FORMAT, "%s: a loss object needs 'class_name'", context);
  const json_object *config = sp_json_member(spec, "config");
  /* Keras 3 serializes a plain loss function as {"class_name": "function", "config": "<name>"}. */
  if (strcmp(class_name, "function") == 0 && json_object_is_type(config, json_type_string))
    return sp_loss_from_name(json_object_get_string((json_object *)config), context, loss);
  if (strcmp(class_name, "LossFunctionWrapper") == 0) {
    json_object *fn = sp_json_member(config, "fn");
    if (!fn) return sp_fail(SP_ERROR_FORMAT, "%s: LossFunctionWrapper without 'fn'", context);
    SP_TRY(sp_loss_parse(fn, context, loss));
    return parse_loss_config(config, context, loss);
  }
  if (strncmp(class_name, "Custom>", 7) == 0) class_name += 7;
  SP_TRY(sp_loss_from_name(class_name, context, loss));
  return parse_loss_config(config, context, loss);
}

/* ---- shapes ---- */

static const char *shape_text(const sp_tensor *tensor, char *out, size_t capacity) {
  return sp_shape_format(tensor->rank, tensor->shape, out, capacity);
}

/* Same values after Keras's squeeze_or_expand_to_same_rank (a trailing axis of 1 either side). */
static int same_after_squeeze(const sp_tensor *a, const sp_tensor *b) {
  if (a->rank == b->rank) {
    for (int d = 0; d < a->rank; d++)
      if (a->shape[d] != b->shape[d]) return 0;
    return 1;
  }
  const sp_tensor *longer = a->rank > b->rank ? a : b, *shorter = a->rank > b->rank ? b : a;
  if (longer->rank != shorter->rank + 1 || longer->shape[longer->rank - 1] != 1) return 0;
  for (int d = 0; d < shorter->rank; d++)
    if (shorter->shape[d] != longer->shape[d]) return 0;
  return 1;
}

/* Sparse labels: y_pred's shape without its last axis, optionally with a trailing 1. */
static int sparse_labels_fit(const sp_tensor *labels, const sp_tensor *y_pred) {
  int rank = y_pred->rank - 1;
  if (labels->rank != rank && !(labels->rank == rank + 1 && labels->shape[rank] == 1)) return 0;
  for (int d = 0; d < rank; d++)
    if (labels->shape[d] != y_pred->shape[d]) return 0;
  return 1;
}

static sp_status shape_mismatch(const sp_loss *loss, const sp_tensor *y_true, const sp_tensor *y_pred, const char *expected) {
  char true_shape[96], pred_shape[96];
  return sp_fail(SP_ERROR_MISMATCH, "loss '%s': y_true has shape %s and y_pred %s; %s", loss->name,
                 shape_text(y_true, true_shape, sizeof true_shape), shape_text(y_pred, pred_shape, sizeof pred_shape),
                 expected);
}

static sp_status check_shapes(const sp_loss *loss, const sp_tensor *y_true, const sp_tensor *y_pred) {
  if (y_pred->dtype != SP_FLOAT32) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "loss '%s': y_pred must be float32", loss->name);
  if (y_pred->rank < 1) return shape_mismatch(loss, y_true, y_pred, "y_pred needs at least one axis");
  if (y_true->dtype == SP_STRING) return sp_fail(SP_ERROR_MISMATCH, "loss '%s': y_true is a string tensor", loss->name);
  if (loss->kind == SP_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) {
    if (!sparse_labels_fit(y_true, y_pred))
      return shape_mismatch(loss, y_true, y_pred, "sparse labels need y_pred's shape without its last (class) axis");
    return SP_OK;
  }
  if (!same_after_squeeze(y_true, y_pred)) return shape_mismatch(loss, y_true, y_pred, "they must have the same shape");
  return SP_OK;
}

sp_status sp_loss_resolve(sp_loss *loss, const sp_tensor *y_true, const sp_tensor *y_pred) {
  if (loss->kind == SP_LOSS_AUTO_CROSSENTROPY) {
    if (y_pred->rank < 1 || y_true->rank < 1) return shape_mismatch(loss, y_true, y_pred, "cannot pick a cross-entropy");
    int64_t true_last = y_true->shape[y_true->rank - 1], pred_last = y_pred->shape[y_pred->rank - 1];
    int binary = pred_last == 1;
    int sparse = y_true->rank < y_pred->rank || (true_last == 1 && pred_last > 1);
    loss->kind = binary ? SP_LOSS_BINARY_CROSSENTROPY
                 : sparse ? SP_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY
                          : SP_LOSS_CATEGORICAL_CROSSENTROPY;
  }
  if (loss->kind == SP_LOSS_NONE) return SP_OK;
  return check_shapes(loss, y_true, y_pred);
}

/* ---- values and gradients ---- */

static inline double true_value(const sp_tensor *y_true, int64_t index) {
  return y_true->dtype == SP_FLOAT32 ? (double)((const float *)y_true->data)[index] : sp_tensor_get_double(y_true, index);
}

static const float clip_low = 1e-7f, clip_high = 1.0f - 1e-7f;

static inline int inside_clip(double p) { return p >= clip_low && p <= clip_high; }
static inline double clip(double p) { return p < clip_low ? clip_low : p > clip_high ? clip_high : p; }

/* One element of an element-wise loss: value and derivative with respect to the prediction. */
static double element_loss(const sp_loss *loss, double t, double p, double *derivative) {
  switch (loss->kind) {
    case SP_LOSS_MEAN_SQUARED_ERROR:
      *derivative = 2 * (p - t);
      return (p - t) * (p - t);
    case SP_LOSS_MEAN_ABSOLUTE_ERROR:
      *derivative = (p > t) - (p < t); /* sign, 0 at 0 as TensorFlow's abs gradient */
      return fabs(p - t);
    default: break;
  }
  t = t * (1 - loss->label_smoothing) + 0.5 * loss->label_smoothing;
  if (loss->from_logits) { /* sigmoid_cross_entropy_with_logits */
    *derivative = 1 / (1 + exp(-p)) - t;
    return fmax(p, 0) - p * t + log1p(exp(-fabs(p)));
  }
  double q = clip(p);
  *derivative = inside_clip(p) ? -t / q + (1 - t) / (1 - q) : 0;
  return -(t * log(q) + (1 - t) * log(1 - q));
}

/* Sums element losses; each row (last axis) counts as one sample, its value the mean of the row. */
static void elementwise(const sp_loss *loss, const sp_tensor *y_true, const float *p, int64_t count, int64_t inner,
                        double factor, double *sum, float *gradient) {
  double total = 0;
  for (int64_t i = 0; i < count; i++) {
    double derivative;
    total += element_loss(loss, true_value(y_true, i), p[i], &derivative);
    if (gradient) gradient[i] = (float)(derivative * factor / (double)inner);
  }
  *sum = total / (double)inner;
}

static double log_sum_exp(const float *x, int64_t classes) {
  double maximum = x[0];
  for (int64_t j = 1; j < classes; j++) maximum = fmax(maximum, x[j]);
  if (isinf(maximum)) return maximum;
  double total = 0;
  for (int64_t j = 0; j < classes; j++) total += exp((double)x[j] - maximum);
  return maximum + log(total);
}

/* Keras's label smoothing for categorical targets: t (1 - s) + s / classes. */
static inline double smoothed_target(const sp_tensor *y_true, int64_t index, double smoothing, int64_t classes) {
  return true_value(y_true, index) * (1 - smoothing) + smoothing / (double)classes;
}

/* Categorical cross-entropy of one row with target distribution t. */
static double categorical_row(const sp_loss *loss, const sp_tensor *y_true, int64_t offset, const float *p,
                              int64_t classes, double factor, float *gradient) {
  double smoothing = loss->label_smoothing, value = 0;
  if (loss->from_logits) { /* softmax_cross_entropy_with_logits */
    double lse = log_sum_exp(p, classes), target_total = 0;
    for (int64_t j = 0; j < classes; j++) {
      double t = smoothed_target(y_true, offset + j, smoothing, classes);
      target_total += t;
      value += t * (lse - p[j]);
    }
    for (int64_t j = 0; gradient && j < classes; j++)
      gradient[j] = (float)((exp((double)p[j] - lse) * target_total - smoothed_target(y_true, offset + j, smoothing, classes)) * factor);
    return value;
  }
  double row_sum = 0, weighted = 0;
  for (int64_t j = 0; j < classes; j++) row_sum += p[j];
  /* g_j = dL/dq_j for q = p / sum(p); then dL/dp_k = (g_k - sum_j g_j q_j) / sum(p). */
  for (int64_t j = 0; j < classes; j++) {
    double q = p[j] / row_sum, t = smoothed_target(y_true, offset + j, smoothing, classes);
    value -= t * log(clip(q));
    double g = inside_clip(q) ? -t / clip(q) : 0;
    weighted += g * q;
    if (gradient) gradient[j] = (float)g;
  }
  for (int64_t j = 0; gradient && j < classes; j++) gradient[j] = (float)(((double)gradient[j] - weighted) / row_sum * factor);
  return value;
}

static sp_status label_of(const sp_loss *loss, const sp_tensor *y_true, int64_t row, int64_t classes, int64_t *label) {
  double value = true_value(y_true, row);
  if (!(value >= 0 && value < (double)classes && value == floor(value)))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "loss '%s': label %g of sample %lld is not a class index in [0, %lld)",
                   loss->name, value, (long long)row, (long long)classes);
  *label = (int64_t)value;
  return SP_OK;
}

/* Sparse categorical cross-entropy of one row with class `label`. Probabilities go through
 * log(clip(p)) and log-softmax, as TensorFlow's backend computes it. */
static double sparse_row(const sp_loss *loss, int64_t label, const float *p, int64_t classes, double factor, float *gradient) {
  if (loss->from_logits) {
    double lse = log_sum_exp(p, classes);
    for (int64_t j = 0; gradient && j < classes; j++)
      gradient[j] = (float)((exp((double)p[j] - lse) - (j == label)) * factor);
    return lse - p[label];
  }
  double clipped_sum = 0;
  for (int64_t j = 0; j < classes; j++) clipped_sum += clip(p[j]);
  /* d/dp_j [log(sum q) - log q_label] with q = clip(p): 1/sum(q) - [j == label]/q_j where unclipped. */
  for (int64_t j = 0; gradient && j < classes; j++)
    gradient[j] = inside_clip(p[j]) ? (float)((1 / clipped_sum - (j == label) / clip(p[j])) * factor) : 0.0f;
  return log(clipped_sum) - log(clip(p[label]));
}

sp_status sp_loss_evaluate(const sp_loss *loss, const sp_tensor *y_true, const sp_tensor *y_pred, double scale,
                           double *sum, int64_t *count, sp_tensor *gradient) {
  *sum = 0;
  *count = 0;
  if (loss->kind == SP_LOSS_AUTO_CROSSENTROPY)
    return sp_fail(SP_ERROR_INTERNAL, "loss '%s' must be resolved against its shapes first", loss->name);
  if (loss->kind == SP_LOSS_NONE) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "no loss to evaluate");
  SP_TRY(check_shapes(loss, y_true, y_pred));
  if (gradient && !sp_tensor_same_shape(gradient, y_pred))
    return sp_fail(SP_ERROR_INTERNAL, "loss '%s': the gradient tensor does not have y_pred's shape", loss->name);
  const float *p = sp_tensor_floats(y_pred);
  float *g = gradient ? sp_tensor_floats(gradient) : NULL;
  int64_t total = sp_tensor_count(y_pred), inner = y_pred->shape[y_pred->rank - 1];
  int64_t samples = inner ? total / inner : 0;
  *count = samples;
  if (samples == 0) return SP_OK;
  double factor = scale * (loss->reduce_sum ? 1.0 : 1.0 / (double)samples);
  if (loss->kind == SP_LOSS_MEAN_SQUARED_ERROR || loss->kind == SP_LOSS_MEAN_ABSOLUTE_ERROR ||
      loss->kind == SP_LOSS_BINARY_CROSSENTROPY) {
    elementwise(loss, y_true, p, total, inner, factor, sum, g);
    return SP_OK;
  }
  double accumulated = 0;
  for (int64_t row = 0; row < samples; row++) {
    const float *row_p = p + row * inner;
    float *row_g = g ? g + row * inner : NULL;
    if (loss->kind == SP_LOSS_CATEGORICAL_CROSSENTROPY) {
      accumulated += categorical_row(loss, y_true, row * inner, row_p, inner, factor, row_g);
    } else {
      int64_t label = 0;
      SP_TRY(label_of(loss, y_true, row, inner, &label));
      accumulated += sparse_row(loss, label, row_p, inner, factor, row_g);
    }
  }
  *sum = accumulated;
  return SP_OK;
}

sp_status sp_loss_compute(const sp_loss *loss, const sp_tensor *y_true, const sp_tensor *y_pred, double scale,
                          double *value, sp_tensor *gradient) {
  double sum;
  int64_t count;
  SP_TRY(sp_loss_evaluate(loss, y_true, y_pred, scale, &sum, &count, gradient));
  *value = loss->reduce_sum ? sum : count ? sum / (double)count : 0;
  return SP_OK;
}
