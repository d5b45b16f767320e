/* metric.c — accuracy variants, loss functions as metrics, and running means (see metric.h). */
#include "nn/metric.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"

typedef struct metric_name {
  const char *name;
  sp_metric_kind kind;
  const char *default_name; /* the metric object's name when built from its class */
} metric_name;

static const metric_name accuracy_names[] = {
    {"binary_accuracy", SP_METRIC_BINARY_ACCURACY, "binary_accuracy"},
    {"BinaryAccuracy", SP_METRIC_BINARY_ACCURACY, "binary_accuracy"},
    {"categorical_accuracy", SP_METRIC_CATEGORICAL_ACCURACY, "categorical_accuracy"},
    {"CategoricalAccuracy", SP_METRIC_CATEGORICAL_ACCURACY, "categorical_accuracy"},
    {"sparse_categorical_accuracy", SP_METRIC_SPARSE_CATEGORICAL_ACCURACY, "sparse_categorical_accuracy"},
    {"SparseCategoricalAccuracy", SP_METRIC_SPARSE_CATEGORICAL_ACCURACY, "sparse_categorical_accuracy"},
};

static void set_name(sp_metric *metric, const char *name) { snprintf(metric->name, sizeof metric->name, "%s", name); }

void sp_metric_init_mean(sp_metric *metric, const char *name) {
  memset(metric, 0, sizeof *metric);
  metric->kind = SP_METRIC_MEAN;
  set_name(metric, name);
}

static sp_status metric_from_name(const char *name, const char *context, sp_metric *metric) {
  memset(metric, 0, sizeof *metric);
  metric->threshold = 0.5;
  set_name(metric, name);
  if (strcasecmp(name, "accuracy") == 0 || strcasecmp(name, "acc") == 0) {
    metric->kind = SP_METRIC_AUTO_ACCURACY;
    return SP_OK;
  }
  for (size_t i = 0; i < sizeof accuracy_names / sizeof *accuracy_names; i++)
    if (strcmp(accuracy_names[i].name, name) == 0) {
      metric->kind = accuracy_names[i].kind;
      if (isupper((unsigned char)name[0])) set_name(metric, accuracy_names[i].default_name);
      return SP_OK;
    }
  if (strcmp(name, "crossentropy") != 0 && strcmp(name, "ce") != 0 &&
      sp_loss_from_name(name, context, &metric->loss) == SP_OK) {
    metric->kind = SP_METRIC_LOSS;
    set_name(metric, metric->loss.name);
    return SP_OK;
  }
  return sp_fail(SP_ERROR_UNSUPPORTED,
                 "%s: unknown metric '%s' (known: accuracy/acc, binary_accuracy, categorical_accuracy, "
                 "sparse_categorical_accuracy, mse, mae, the cross-entropies, and their class names)",
                 context, name);
}

static sp_status apply_metric_config(const json_object *config, const char *context, sp_metric *metric) {
  const char *name;
  SP_TRY(sp_json_get_string(config, "name", NULL, context, &name));
  if (name) set_name(metric, name);
  SP_TRY(sp_json_get_double(config, "threshold", 0.5, context, &metric->threshold));
  if (metric->kind == SP_METRIC_LOSS) {
    SP_TRY(sp_json_get_bool(config, "from_logits", 0, context, &metric->loss.from_logits));
    SP_TRY(sp_json_get_double(config, "label_smoothing", 0, context, &metric->loss.label_smoothing));
  }
  return SP_OK;
}

sp_status sp_metric_parse(const json_object *spec, const char *context, sp_metric *metric) {
  memset(metric, 0, sizeof *metric);
  if (json_object_is_type(spec, json_type_string)) return metric_from_name(json_object_get_string((json_object *)spec), context, metric);
  if (!json_object_is_type(spec, json_type_object))
    return sp_fail(SP_ERROR_FORMAT, "%s: a metric must be a name or an object {class_name, config}", context);
  const char *class_name;
  SP_TRY(sp_json_get_string(spec, "class_name", NULL, context, &class_name));
  if (!class_name) return sp_fail(SP_ERROR_FORMAT, "%s: a metric object needs 'class_name'", context);
  const json_object *config = sp_json_member(spec, "config");
  if (strcmp(class_name, "function") == 0 && json_object_is_type(config, json_type_string))
    return metric_from_name(json_object_get_string((json_object *)config), context, metric);
  if (strcmp(class_name, "MeanMetricWrapper") == 0) { /* tf.keras: {"name": "accuracy", "fn": "categorical_accuracy"} */
    json_object *fn = sp_json_member(config, "fn");
    if (!fn) return sp_fail(SP_ERROR_FORMAT, "%s: MeanMetricWrapper without 'fn'", context);
    SP_TRY(sp_metric_parse(fn, context, metric));
    return apply_metric_config(config, context, metric);
  }
  if (strncmp(class_name, "Custom>", 7) == 0) class_name += 7;
  SP_TRY(metric_from_name(class_name, context, metric));
  return apply_metric_config(config, context, metric);
}

static sp_status shape_error(const sp_metric *metric, const sp_tensor *y_true, const sp_tensor *y_pred, const char *why) {
  char true_shape[96], pred_shape[96];
  return sp_fail(SP_ERROR_MISMATCH, "metric '%s': y_true has shape %s and y_pred %s; %s", metric->name,
                 sp_shape_format(y_true->rank, y_true->shape, true_shape, sizeof true_shape),
                 sp_shape_format(y_pred->rank, y_pred->shape, pred_shape, sizeof pred_shape), why);
}

sp_status sp_metric_resolve(sp_metric *metric, const sp_tensor *y_true, const sp_tensor *y_pred) {
  if (metric->kind == SP_METRIC_MEAN) return SP_OK;
  if (y_pred->rank < 1 || y_true->rank < 1) return shape_error(metric, y_true, y_pred, "both need at least one axis");
  if (metric->kind == SP_METRIC_AUTO_ACCURACY) {
    int64_t true_last = y_true->shape[y_true->rank - 1], pred_last = y_pred->shape[y_pred->rank - 1];
    if (pred_last == 1) metric->kind = SP_METRIC_BINARY_ACCURACY;
    else if (y_true->rank < y_pred->rank || (true_last == 1 && pred_last > 1)) metric->kind = SP_METRIC_SPARSE_CATEGORICAL_ACCURACY;
    else metric->kind = SP_METRIC_CATEGORICAL_ACCURACY;
  }
  if (metric->kind == SP_METRIC_LOSS) return sp_loss_resolve(&metric->loss, y_true, y_pred);
  int64_t true_count = sp_tensor_count(y_true), pred_count = sp_tensor_count(y_pred);
  int64_t classes = y_pred->shape[y_pred->rank - 1], rows = classes ? pred_count / classes : 0;
  if (metric->kind == SP_METRIC_BINARY_ACCURACY && true_count != pred_count)
    return shape_error(metric, y_true, y_pred, "binary accuracy compares them element by element");
  if (metric->kind == SP_METRIC_CATEGORICAL_ACCURACY && true_count != pred_count)
    return shape_error(metric, y_true, y_pred, "categorical accuracy needs one-hot targets of y_pred's shape");
  if (metric->kind == SP_METRIC_SPARSE_CATEGORICAL_ACCURACY && true_count != rows)
    return shape_error(metric, y_true, y_pred, "sparse categorical accuracy needs one label per row of y_pred");
  return SP_OK;
}

static inline double value_at(const sp_tensor *tensor, int64_t index) {
  return tensor->dtype == SP_FLOAT32 ? (double)((const float *)tensor->data)[index] : sp_tensor_get_double(tensor, index);
}

/* Index of the largest value; the first on ties, as argmax does. NaN never wins. */
static int64_t argmax(const sp_tensor *tensor, int64_t offset, int64_t count) {
  int64_t best = 0;
  double best_value = value_at(tensor, offset);
  for (int64_t j = 1; j < count; j++) {
    double value = value_at(tensor, offset + j);
    if (value > best_value || (isnan(best_value) && !isnan(value))) {
      best = j;
      best_value = value;
    }
  }
  return best;
}

/* Accuracy matches over the batch: each element (binary) or row (categorical) counts once. */
static void count_matches(const sp_metric *metric, const sp_tensor *y_true, const sp_tensor *y_pred, double *matches,
                          double *count) {
  int64_t total = sp_tensor_count(y_pred), classes = y_pred->shape[y_pred->rank - 1];
  int64_t rows = classes ? total / classes : 0;
  const float *p = sp_tensor_floats(y_pred);
  double hits = 0;
  if (metric->kind == SP_METRIC_BINARY_ACCURACY) {
    for (int64_t i = 0; i < total; i++) hits += value_at(y_true, i) == (p[i] > metric->threshold ? 1.0 : 0.0);
    *count = (double)total;
  } else {
    for (int64_t r = 0; r < rows; r++) {
      double predicted = (double)argmax(y_pred, r * classes, classes);
      double expected = metric->kind == SP_METRIC_CATEGORICAL_ACCURACY ? (double)argmax(y_true, r * classes, classes)
                                                                       : value_at(y_true, r);
      hits += predicted == expected;
    }
    *count = (double)rows;
  }
  *matches = hits;
}

sp_status sp_metric_update(sp_metric *metric, const sp_tensor *y_true, const sp_tensor *y_pred) {
  if (metric->kind == SP_METRIC_MEAN || metric->kind == SP_METRIC_AUTO_ACCURACY || y_pred->dtype != SP_FLOAT32)
    return sp_fail(SP_ERROR_INTERNAL, "metric '%s' cannot be updated from predictions before it is resolved", metric->name);
  if (metric->kind == SP_METRIC_LOSS) {
    double sum;
    int64_t count;
    SP_TRY(sp_loss_evaluate(&metric->loss, y_true, y_pred, 1.0, &sum, &count, NULL));
    metric->total += sum;
    metric->count += (double)count;
    return SP_OK;
  }
  double matches, count;
  count_matches(metric, y_true, y_pred, &matches, &count);
  metric->total += matches;
  metric->count += count;
  return SP_OK;
}

void sp_metric_add(sp_metric *metric, double value, double weight) {
  metric->total += value * weight;
  metric->count += weight;
}

double sp_metric_result(const sp_metric *metric) {
  return metric->count == 0 ? 0.0 : (double)(float)(metric->total / metric->count);
}

void sp_metric_reset(sp_metric *metric) { metric->total = metric->count = 0; }
