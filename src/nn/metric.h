/* metric.h — Keras metrics as running means over an epoch.
 *
 * A metric accumulates total and count as Keras's Mean / MeanMetricWrapper do (every per-sample
 * value counts once; the loss tracker weights each batch's loss by its batch size) and reports
 * total / count (0 before any update, as divide_no_nan). Results are reported rounded to float32,
 * the dtype Keras keeps metric variables in.
 *
 * "accuracy" / "acc" are resolved as Keras's compile_utils.get_metric resolves them, from the
 * shapes of y_true and y_pred: y_pred's last axis of 1 → binary accuracy (threshold 0.5); y_true
 * of lower rank, or a last axis of 1 against classes → sparse categorical; otherwise categorical.
 * A loss name used as a metric ("mse", "binary_crossentropy", …) reports the mean per-sample loss.
 */
#ifndef SP_NN_METRIC_H
#define SP_NN_METRIC_H

#include <json.h>

#include "core/status.h"
#include "nn/loss.h"
#include "savepoint/tensor.h"

typedef enum sp_metric_kind {
  SP_METRIC_MEAN = 0,           /* fed values directly (the loss trackers) */
  SP_METRIC_AUTO_ACCURACY,      /* "accuracy"/"acc" before resolution */
  SP_METRIC_BINARY_ACCURACY,
  SP_METRIC_CATEGORICAL_ACCURACY,
  SP_METRIC_SPARSE_CATEGORICAL_ACCURACY,
  SP_METRIC_LOSS                /* mean of a loss function's per-sample values */
} sp_metric_kind;

enum { SP_METRIC_NAME_MAX = 96 };

typedef struct sp_metric {
  sp_metric_kind kind;
  char name[SP_METRIC_NAME_MAX]; /* the log key: "accuracy", "val_…" is added by the caller */
  double threshold;              /* binary accuracy */
  sp_loss loss;                  /* SP_METRIC_LOSS */
  double total, count;
} sp_metric;

/* A metric as compile() accepts it: a name or an object ({"class_name": "SparseCategoricalAccuracy",
 * "config": {"name": …}}, tf.keras's MeanMetricWrapper with "fn", Keras 3's "function" objects). */
sp_status sp_metric_parse(const json_object *spec, const char *context, sp_metric *metric) SP_MUST_CHECK;
/* A plain running mean named name. */
void sp_metric_init_mean(sp_metric *metric, const char *name);
/* Resolves "accuracy" and checks shapes (also resolves a metric loss's "crossentropy"). */
sp_status sp_metric_resolve(sp_metric *metric, const sp_tensor *y_true, const sp_tensor *y_pred) SP_MUST_CHECK;
/* Adds one batch (y_true any numeric dtype, y_pred float32). */
sp_status sp_metric_update(sp_metric *metric, const sp_tensor *y_true, const sp_tensor *y_pred) SP_MUST_CHECK;
/* Adds value with weight (Mean.update_state(value, sample_weight)). */
void sp_metric_add(sp_metric *metric, double value, double weight);
double sp_metric_result(const sp_metric *metric);
void sp_metric_reset(sp_metric *metric);

#endif
