/* terminate_on_nan.c — Keras's TerminateOnNaN (keras/src/callbacks/terminate_on_nan.py): after a
 * batch whose running loss is NaN or infinite, say so and stop training. */
#include <math.h>
#include <stdio.h>

#include "train/loop.h"

static sp_status nan_batch_end(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs) {
  double loss = sp_logs_get(logs, "loss", 0);
  if (isnan(loss) || isinf(loss)) {
    printf("Batch %lld: Invalid loss, terminating training\n", (long long)batch);
    fflush(stdout);
    training->state.stop_training = 1;
  }
  return SP_OK;
}

sp_callback *sp_terminate_on_nan(void) {
  sp_callback *callback = sp_callback_new("terminate_on_nan", NULL);
  if (callback) callback->on_train_batch_end = nan_batch_end;
  return callback;
}
