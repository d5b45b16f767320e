/* early_stopping.c — Keras 3's EarlyStopping (keras/src/callbacks/early_stopping.py): stops training
 * when the monitored value has stopped improving, and optionally puts back the best epoch's weights.
 *
 * Semantics as Keras 3: best starts at the worst value; every epoch from start_from_epoch on counts
 * one more wait; an improvement (by more than min_delta) records the best and restarts the wait
 * only when it also beats baseline; training stops once wait >= patience (never at epoch 0).
 * restore_best_weights restores at the end of training whether it stopped early or not, and says
 * so. The best weights are part of save_state, so BackupAndRestore resumes them too.
 */
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/monitor.h"
#include "core/base64.h"
#include "core/bytes.h"
#include "core/json.h"
#include "core/memory.h"
#include "nn/model.h"
#include "train/loop.h"

typedef struct early_stopping {
  sp_early_stopping_options options;
  sp_monitor monitor;
  sp_model *model;
  int wait, stopped_epoch, best_epoch;
  double best;
  float *best_weights; /* every variable's values, in model weight order; NULL until set */
  size_t weight_count;
} early_stopping;

sp_early_stopping_options sp_early_stopping_defaults(void) {
  return (sp_early_stopping_options){.monitor = "val_loss", .mode = SP_MONITOR_AUTO};
}

static FILE *messages(const early_stopping *stopping) { return stopping->options.out ? stopping->options.out : stdout; }

/* ---- weights (Keras's get_weights / set_weights) ---- */

static sp_status model_weight_count(sp_model *model, sp_variable ***variables, int *count, size_t *floats) {
  *count = sp_model_collect_variables(model, variables, 0);
  if (*count < 0) return SP_ERROR_NO_MEMORY;
  *floats = 0;
  for (int i = 0; i < *count; i++) *floats += (size_t)sp_tensor_count((*variables)[i]->value);
  return SP_OK;
}

/* copy_in: model → best_weights; else best_weights → model. */
static sp_status copy_weights(early_stopping *stopping, int copy_in) {
  sp_variable **variables;
  int count;
  size_t floats;
  SP_TRY(model_weight_count(stopping->model, &variables, &count, &floats));
  if (copy_in && !stopping->best_weights) {
    stopping->best_weights = sp_alloc_zeroed(floats ? floats : 1, sizeof(float));
    stopping->weight_count = floats;
  }
  sp_status status = SP_OK;
  if (!stopping->best_weights) status = SP_ERROR_NO_MEMORY;
  else if (floats != stopping->weight_count)
    status = sp_fail(SP_ERROR_MISMATCH, "EarlyStopping: the model has %zu weight values, the best weights %zu",
                     floats, stopping->weight_count);
  size_t offset = 0;
  for (int i = 0; status == SP_OK && i < count; i++) {
    sp_tensor *value = variables[i]->value;
    size_t n = (size_t)sp_tensor_count(value);
    if (copy_in) memcpy(stopping->best_weights + offset, value->data, n * sizeof(float));
    else memcpy(value->data, stopping->best_weights + offset, n * sizeof(float));
    offset += n;
  }
  free(variables);
  return status;
}

/* ---- hooks ---- */

static sp_status on_train_begin(sp_callback *self, sp_training *training, const sp_logs *logs) {
  (void)logs;
  early_stopping *stopping = self->context;
  stopping->model = training->model;
  stopping->wait = stopping->stopped_epoch = stopping->best_epoch = 0;
  stopping->best = sp_monitor_worst(&stopping->monitor);
  free(stopping->best_weights);
  stopping->best_weights = NULL;
  return SP_OK;
}

static void warn_missing(const early_stopping *stopping, const sp_logs *logs) {
  fprintf(stderr, "savepoint: warning: Early stopping conditioned on metric `%s` which is not available. "
          "Available metrics are: ", stopping->monitor.name);
  for (int i = 0; i < logs->count; i++) fprintf(stderr, "%s%s", i ? "," : "", logs->entries[i].name);
  fputc('\n', stderr);
}

static int beats_baseline(const early_stopping *stopping, double current) {
  return !stopping->options.has_baseline || sp_monitor_is_improvement(&stopping->monitor, current, stopping->options.baseline);
}

static sp_status on_epoch_end(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  early_stopping *stopping = self->context;
  int index = sp_logs_find(logs, stopping->monitor.name);
  if (index < 0) warn_missing(stopping, logs);
  if (index < 0 || epoch < stopping->options.start_from_epoch) return SP_OK;
  double current = logs->entries[index].value;
  if (stopping->options.restore_best_weights && !stopping->best_weights) {
    SP_TRY(copy_weights(stopping, 1)); /* never set: the current weights are the best */
    stopping->best_epoch = epoch;
  }
  stopping->wait++;
  if (sp_monitor_is_improvement(&stopping->monitor, current, stopping->best)) {
    stopping->best = current;
    stopping->best_epoch = epoch;
    if (stopping->options.restore_best_weights) SP_TRY(copy_weights(stopping, 1));
    if (beats_baseline(stopping, current)) stopping->wait = 0;
    return SP_OK;
  }
  if (stopping->wait >= stopping->options.patience && epoch > 0) {
    stopping->stopped_epoch = epoch;
    training->state.stop_training = 1;
  }
  return SP_OK;
}

static sp_status on_train_end(sp_callback *self, sp_training *training, const sp_logs *logs) {
  (void)training, (void)logs;
  early_stopping *stopping = self->context;
  FILE *out = messages(stopping);
  int verbose = stopping->options.verbose > 0;
  if (stopping->stopped_epoch > 0 && verbose) fprintf(out, "Epoch %d: early stopping\n", stopping->stopped_epoch + 1);
  if (stopping->options.restore_best_weights && stopping->best_weights) {
    if (verbose && stopping->stopped_epoch == 0) fprintf(out, "Training ended without early stopping.\n");
    if (verbose) fprintf(out, "Restoring model weights from the end of the best epoch: %d.\n", stopping->best_epoch + 1);
    SP_TRY(copy_weights(stopping, 0));
  }
  fflush(out);
  return SP_OK;
}

/* ---- resumable state ---- */

static sp_status add_weights(const early_stopping *stopping, json_object *root) {
  if (!stopping->best_weights) return SP_OK;
  sp_buffer text = {0};
  sp_status status = sp_base64_encode(stopping->best_weights, stopping->weight_count * sizeof(float), &text);
  if (status == SP_OK) status = sp_buffer_put_u8(&text, 0);
  if (status == SP_OK) json_object_object_add(root, "best_weights", json_object_new_string((const char *)text.data));
  free(text.data);
  return status;
}

static sp_status save_state(sp_callback *self, char **json) {
  const early_stopping *stopping = self->context;
  json_object *root = json_object_new_object();
  if (!root) return SP_ERROR_NO_MEMORY;
  json_object_object_add(root, "wait", json_object_new_int(stopping->wait));
  json_object_object_add(root, "stopped_epoch", json_object_new_int(stopping->stopped_epoch));
  json_object_object_add(root, "best_epoch", json_object_new_int(stopping->best_epoch));
  json_object_object_add(root, "best", json_object_new_double(stopping->best));
  sp_status status = add_weights(stopping, root);
  *json = status == SP_OK ? sp_json_dumps(root, 0) : NULL;
  json_object_put(root);
  return status == SP_OK && !*json ? SP_ERROR_NO_MEMORY : status;
}

static sp_status read_weights(early_stopping *stopping, const json_object *root) {
  const char *text;
  SP_TRY(sp_json_get_string(root, "best_weights", NULL, "EarlyStopping state", &text));
  if (!text) return SP_OK;
  size_t length = strlen(text), size = 0;
  unsigned char *decoded = sp_alloc(sp_base64_decoded_capacity(length));
  if (!decoded) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_base64_decode(text, length, decoded, &size);
  if (status == SP_OK && size % sizeof(float) != 0)
    status = sp_fail(SP_ERROR_FORMAT, "EarlyStopping state: best_weights holds %zu bytes, not whole float32 values", size);
  if (status != SP_OK) {
    free(decoded);
    return status;
  }
  free(stopping->best_weights);
  stopping->best_weights = (float *)decoded;
  stopping->weight_count = size / sizeof(float);
  return SP_OK;
}

static sp_status restore_state(sp_callback *self, const char *json) {
  early_stopping *stopping = self->context;
  json_object *root;
  SP_TRY(sp_json_parse(json, strlen(json), "EarlyStopping state", &root));
  int64_t wait, stopped, best_epoch;
  double best;
  sp_status status = sp_json_get_int(root, "wait", 0, "EarlyStopping state", &wait);
  if (status == SP_OK) status = sp_json_get_int(root, "stopped_epoch", 0, "EarlyStopping state", &stopped);
  if (status == SP_OK) status = sp_json_get_int(root, "best_epoch", 0, "EarlyStopping state", &best_epoch);
  if (status == SP_OK) status = sp_json_get_double(root, "best", stopping->best, "EarlyStopping state", &best);
  if (status == SP_OK) status = read_weights(stopping, root);
  json_object_put(root);
  SP_TRY(status);
  stopping->wait = (int)wait;
  stopping->stopped_epoch = (int)stopped;
  stopping->best_epoch = (int)best_epoch;
  stopping->best = best;
  return SP_OK;
}

static void release(sp_callback *self) {
  early_stopping *stopping = self->context;
  if (!stopping) return;
  sp_monitor_release(&stopping->monitor);
  free(stopping->best_weights);
  free(stopping);
}

int sp_early_stopping_stopped_epoch(const sp_callback *callback) {
  const early_stopping *stopping = callback->context;
  return stopping->stopped_epoch > 0 ? stopping->stopped_epoch : -1;
}

sp_status sp_early_stopping(const sp_early_stopping_options *options, sp_callback **callback) {
  *callback = NULL;
  if (options->patience < 0 || options->start_from_epoch < 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "EarlyStopping: patience and start_from_epoch must be >= 0 (got %d and %d)",
                   options->patience, options->start_from_epoch);
  sp_callback *made;
  SP_TRY(sp_callback_with_context("early_stopping", sizeof(early_stopping), release, &made));
  early_stopping *stopping = made->context;
  stopping->options = *options;
  sp_status status = sp_monitor_init(&stopping->monitor, options->monitor ? options->monitor : "val_loss", options->mode,
                                     options->min_delta, "EarlyStopping");
  if (status != SP_OK) {
    sp_callback_free(made);
    return status;
  }
  stopping->best = sp_monitor_worst(&stopping->monitor);
  made->on_train_begin = on_train_begin;
  made->on_epoch_end = on_epoch_end;
  made->on_train_end = on_train_end;
  made->save_state = save_state;
  made->restore_state = restore_state;
  *callback = made;
  return SP_OK;
}
