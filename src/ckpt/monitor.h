/* monitor.h — the monitored quantity of ModelCheckpoint and EarlyStopping (Keras's
 * MonitorCallback): which direction is better, and what counts as an improvement.
 *
 * mode auto follows Keras 3: "loss" and "val_loss" (and any "*_loss") are minimized; for other
 * names Keras asks the model's metric for its direction, which savepoint knows by name: accuracy
 * metrics, AUC, precision, recall, F-scores, IoU, R², cosine similarity go up; errors,
 * cross-entropies and other losses used as metrics go down. A name it cannot place is refused, as
 * Keras refuses it, asking for mode min or max.
 */
#ifndef SP_CKPT_MONITOR_H
#define SP_CKPT_MONITOR_H

#include "core/status.h"
#include "savepoint/checkpoint.h"

typedef struct sp_monitor {
  char *name;
  int maximize;
  double min_delta; /* >= 0; an improvement must beat the reference by more than this */
} sp_monitor;

/* Resolves the direction (see above); context names the callback in messages. */
sp_status sp_monitor_init(sp_monitor *monitor, const char *name, sp_monitor_mode mode, double min_delta,
                          const char *context) SP_MUST_CHECK;
void sp_monitor_release(sp_monitor *monitor);
/* Keras's _is_improvement: monitor_op(current - min_delta, reference) with min_delta signed by
 * the direction. */
int sp_monitor_is_improvement(const sp_monitor *monitor, double current, double reference);
/* The worst possible value: +inf when minimizing, -inf when maximizing (Keras's initial best). */
double sp_monitor_worst(const sp_monitor *monitor);

#endif
