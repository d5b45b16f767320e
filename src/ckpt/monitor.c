/* monitor.c — direction and improvement of a monitored quantity (see monitor.h). */
#include "ckpt/monitor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"

/* Metric names (without "val_") by direction, as Keras 3's metrics declare _direction. */
static const char *const rising[] = {"acc", "accuracy", "auc", "precision", "recall", "f1_score", "fbeta_score",
                                     "iou", "r2_score", "cosine_similarity", "specificity", "sensitivity", NULL};
static const char *const falling[] = {"mse", "mae", "mape", "msle", "mean_squared_error", "mean_absolute_error",
                                      "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
                                      "root_mean_squared_error", "crossentropy", "hinge", "squared_hinge",
                                      "categorical_hinge", "kl_divergence", "kld", "poisson", "logcosh", "log_cosh",
                                      "huber", NULL};

static int listed(const char *const *names, const char *name) {
  for (const char *const *candidate = names; *candidate; candidate++) {
    size_t length = strlen(*candidate), name_length = strlen(name);
    /* "accuracy", "sparse_categorical_accuracy", "binary_crossentropy", "output_1_mse" */
    if (name_length >= length && strcmp(name + name_length - length, *candidate) == 0 &&
        (name_length == length || name[name_length - length - 1] == '_'))
      return 1;
  }
  return 0;
}

static sp_status auto_direction(const char *name, int *maximize, const char *context) {
  const char *metric = strncmp(name, "val_", 4) == 0 ? name + 4 : name;
  size_t length = strlen(metric);
  if (strcmp(metric, "loss") == 0 || (length > 5 && strcmp(metric + length - 5, "_loss") == 0) || listed(falling, metric)) {
    *maximize = 0;
    return SP_OK;
  }
  if (listed(rising, metric) || strncmp(metric, "fmeasure", 8) == 0) {
    *maximize = 1;
    return SP_OK;
  }
  return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                 "%s received monitor=%s, but savepoint isn't able to automatically determine whether that metric "
                 "should be maximized or minimized. Pass mode max in order to monitor based on the highest metric "
                 "value, or mode min in order to use the lowest value",
                 context, name);
}

sp_status sp_monitor_init(sp_monitor *monitor, const char *name, sp_monitor_mode mode, double min_delta,
                          const char *context) {
  memset(monitor, 0, sizeof *monitor);
  if (!name || !*name) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: monitor names no logged value", context);
  if (mode == SP_MONITOR_AUTO) SP_TRY(auto_direction(name, &monitor->maximize, context));
  else monitor->maximize = mode == SP_MONITOR_MAX;
  monitor->min_delta = fabs(min_delta);
  monitor->name = sp_strdup(name);
  return monitor->name ? SP_OK : SP_ERROR_NO_MEMORY;
}

void sp_monitor_release(sp_monitor *monitor) {
  free(monitor->name);
  monitor->name = NULL;
}

int sp_monitor_is_improvement(const sp_monitor *monitor, double current, double reference) {
  if (monitor->maximize) return current - monitor->min_delta > reference;
  return current + monitor->min_delta < reference;
}

double sp_monitor_worst(const sp_monitor *monitor) { return monitor->maximize ? -INFINITY : INFINITY; }
