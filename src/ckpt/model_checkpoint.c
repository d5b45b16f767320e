/* model_checkpoint.c — Keras 3's ModelCheckpoint (keras/src/callbacks/model_checkpoint.py): saves
 * the model or its weights at the end of every epoch or every N batches, optionally only when the
 * monitored value improves, to a path formatted from a template.
 *
 * Guarantees: every save goes through sp_save / sp_save_weights / sp_checkpoint_write or the
 * manager, all of which publish atomically, so a crash mid-save leaves the previous file; a save
 * that fails stops training with the path named. The decision state (best value, the batch
 * counter) is save_state-able, so a resumed run saves exactly where the uninterrupted one did.
 */
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/monitor.h"
#include "ckpt/template.h"
#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "formats/codec.h"
#include "savepoint/io.h"
#include "train/loop.h"

typedef struct model_checkpoint {
  sp_model_checkpoint_options options;
  char *filepath;
  sp_monitor monitor;
  double best;
  int64_t batches_since_saving, last_batch_seen;
  int current_epoch;
} model_checkpoint;

sp_model_checkpoint_options sp_model_checkpoint_defaults(void) {
  return (sp_model_checkpoint_options){.monitor = "val_loss", .mode = SP_MONITOR_AUTO};
}

static FILE *messages(const model_checkpoint *checkpoint) {
  return checkpoint->options.out ? checkpoint->options.out : stdout;
}

/* ---- where and how a save goes ---- */

/* Keras refuses a .keras path for weights and a .weights.h5 path for whole models. */
static sp_status check_path(const sp_model_checkpoint_options *options) {
  if (options->manager) return SP_OK;
  if (!options->filepath || !*options->filepath)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "ModelCheckpoint needs a filepath (or a checkpoint manager)");
  sp_format format = sp_format_for_path(options->filepath);
  if (format == SP_FORMAT_JSON || format == SP_FORMAT_TFJS || format == SP_FORMAT_TFLITE)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "ModelCheckpoint filepath '%s' must end in .keras, .weights.h5 or .h5, "
                   "or be a TF checkpoint prefix", options->filepath);
  if (options->save_weights_only && format == SP_FORMAT_KERAS)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "ModelCheckpoint with save_weights_only: the filepath must end in "
                   ".weights.h5 (or .h5, or be a TF checkpoint prefix), got '%s'", options->filepath);
  if (!options->save_weights_only && format == SP_FORMAT_WEIGHTS_H5)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "ModelCheckpoint: '%s' is a weights-only path; pass save_weights_only "
                   "or end the filepath in .keras", options->filepath);
  return SP_OK;
}

/* filepath.format(epoch=epoch + 1, batch=batch + 1, **logs) as Keras does ("batch" only for batch
 * saves and when the logs do not hold one). */
static sp_status format_path(const model_checkpoint *checkpoint, int epoch, int64_t batch, const sp_logs *logs,
                             char **path) {
  sp_template_value values[SP_LOGS_CAPACITY + 2];
  size_t count = 0;
  values[count++] = (sp_template_value){.name = "epoch", .is_integer = 1, .integer = epoch + 1};
  if (batch >= 0 && sp_logs_find(logs, "batch") < 0)
    values[count++] = (sp_template_value){.name = "batch", .is_integer = 1, .integer = batch + 1};
  for (int i = 0; i < logs->count; i++)
    values[count++] = (sp_template_value){.name = logs->entries[i].name, .real = logs->entries[i].value};
  return sp_format_template(checkpoint->filepath, values, count, "ModelCheckpoint filepath", path);
}

/* Saves; *where receives the path or the manager's new prefix (caller frees). */
static sp_status save(model_checkpoint *checkpoint, sp_training *training, int epoch, int64_t batch,
                      const sp_logs *logs, char **where) {
  const sp_model_checkpoint_options *options = &checkpoint->options;
  int monitored = sp_logs_find(logs, checkpoint->monitor.name);
  if (options->manager) {
    sp_checkpoint_save_info info = {.step = training->state.iterations,
                                    .has_metric = monitored >= 0,
                                    .metric = monitored >= 0 ? logs->entries[monitored].value : 0};
    return sp_checkpoint_manager_save(options->manager, training->model, &info, where);
  }
  SP_TRY(format_path(checkpoint, epoch, batch, logs, where));
  sp_status status = sp_save_trained(training->model, *where, checkpoint->options.save_weights_only);
  if (status != SP_OK) return sp_error_context(status, "ModelCheckpoint saving '%s'", *where);
  /* As the manager does: the file is saved; a registry that cannot record it must not stop training. */
  if (sp_record_saved_artifact(options->registry, options->registry_run_id, *where, logs) != SP_OK)
    fprintf(stderr, "savepoint: warning: '%s' is saved, but %s\n", *where, sp_last_error());
  return SP_OK;
}

static void format_value(double value, char *out, size_t capacity) {
  if (isnan(value)) snprintf(out, capacity, "nan"); /* Python prints nan unsigned */
  else snprintf(out, capacity, "%.5f", value);
}

/* _should_save_model: whether to save, printing Keras's decision messages. */
static int should_save(model_checkpoint *checkpoint, int epoch, const sp_logs *logs, const char *path) {
  FILE *out = messages(checkpoint);
  int verbose = checkpoint->options.verbose > 0;
  if (!checkpoint->options.save_best_only) {
    if (verbose) fprintf(out, "\nEpoch %d: saving model to %s\n", epoch + 1, path);
    return 1;
  }
  int index = sp_logs_find(logs, checkpoint->monitor.name);
  if (index < 0) {
    fprintf(stderr, "savepoint: warning: Can save best model only with %s available.\n", checkpoint->monitor.name);
    return 1;
  }
  double current = logs->entries[index].value;
  char best[64], now[64];
  format_value(checkpoint->best, best, sizeof best);
  format_value(current, now, sizeof now);
  if (sp_monitor_is_improvement(&checkpoint->monitor, current, checkpoint->best)) {
    if (verbose) fprintf(out, "\nEpoch %d: %s improved from %s to %s, saving model to %s\n", epoch + 1,
                         checkpoint->monitor.name, best, now, path);
    checkpoint->best = current;
    return 1;
  }
  if (verbose) fprintf(out, "\nEpoch %d: %s did not improve from %s\n", epoch + 1, checkpoint->monitor.name, best);
  return 0;
}

static sp_status save_model(model_checkpoint *checkpoint, sp_training *training, int epoch, int64_t batch,
                            const sp_logs *logs) {
  /* The path the message names: the template's, or the manager's directory. */
  char *path = NULL;
  if (!checkpoint->options.manager) SP_TRY(format_path(checkpoint, epoch, batch, logs, &path));
  int decision = should_save(checkpoint, epoch, logs,
                             path ? path : sp_checkpoint_manager_directory(checkpoint->options.manager));
  free(path);
  if (!decision) return SP_OK;
  char *where = NULL;
  sp_status status = save(checkpoint, training, epoch, batch, logs, &where);
  if (status == SP_OK && checkpoint->options.verbose > 0 && where)
    fprintf(messages(checkpoint), "\nEpoch %d: finished saving model to %s\n", epoch + 1, where);
  fflush(messages(checkpoint));
  free(where);
  return status;
}

/* ---- hooks ---- */

static sp_status on_train_begin(sp_callback *self, sp_training *training, const sp_logs *logs) {
  (void)training, (void)logs;
  model_checkpoint *checkpoint = self->context;
  checkpoint->best = checkpoint->options.has_initial_value_threshold ? checkpoint->options.initial_value_threshold
                                                                     : sp_monitor_worst(&checkpoint->monitor);
  checkpoint->batches_since_saving = checkpoint->last_batch_seen = 0;
  return SP_OK;
}

static sp_status on_epoch_begin(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  (void)training, (void)logs;
  ((model_checkpoint *)self->context)->current_epoch = epoch;
  return SP_OK;
}

/* _should_save_on_batch: counts batches across epochs (a new epoch restarts the batch index). */
static sp_status on_train_batch_end(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs) {
  model_checkpoint *checkpoint = self->context;
  if (checkpoint->options.save_freq <= 0) return SP_OK;
  checkpoint->batches_since_saving += batch <= checkpoint->last_batch_seen ? batch + 1 : batch - checkpoint->last_batch_seen;
  checkpoint->last_batch_seen = batch;
  if (checkpoint->batches_since_saving < checkpoint->options.save_freq) return SP_OK;
  checkpoint->batches_since_saving = 0;
  return save_model(checkpoint, training, checkpoint->current_epoch, batch, logs);
}

static sp_status on_epoch_end(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  model_checkpoint *checkpoint = self->context;
  if (checkpoint->options.save_freq > 0) return SP_OK;
  return save_model(checkpoint, training, epoch, -1, logs);
}

/* ---- resumable state ---- */

static sp_status save_state(sp_callback *self, char **json) {
  const model_checkpoint *checkpoint = self->context;
  json_object *root = json_object_new_object();
  if (!root) return SP_ERROR_NO_MEMORY;
  json_object_object_add(root, "best", json_object_new_double(checkpoint->best));
  json_object_object_add(root, "batches_since_saving", json_object_new_int64(checkpoint->batches_since_saving));
  json_object_object_add(root, "last_batch_seen", json_object_new_int64(checkpoint->last_batch_seen));
  json_object_object_add(root, "current_epoch", json_object_new_int(checkpoint->current_epoch));
  *json = sp_json_dumps(root, 0);
  json_object_put(root);
  return *json ? SP_OK : SP_ERROR_NO_MEMORY;
}

static sp_status restore_state(sp_callback *self, const char *json) {
  model_checkpoint *checkpoint = self->context;
  json_object *root;
  SP_TRY(sp_json_parse(json, strlen(json), "ModelCheckpoint state", &root));
  double best;
  int64_t since, last, epoch;
  sp_status status = sp_json_get_double(root, "best", checkpoint->best, "ModelCheckpoint state", &best);
  if (status == SP_OK) status = sp_json_get_int(root, "batches_since_saving", 0, "ModelCheckpoint state", &since);
  if (status == SP_OK) status = sp_json_get_int(root, "last_batch_seen", 0, "ModelCheckpoint state", &last);
  if (status == SP_OK) status = sp_json_get_int(root, "current_epoch", 0, "ModelCheckpoint state", &epoch);
  json_object_put(root);
  SP_TRY(status);
  checkpoint->best = best;
  checkpoint->batches_since_saving = since;
  checkpoint->last_batch_seen = last;
  checkpoint->current_epoch = (int)epoch;
  return SP_OK;
}

static void release(sp_callback *self) {
  model_checkpoint *checkpoint = self->context;
  if (!checkpoint) return;
  sp_monitor_release(&checkpoint->monitor);
  free(checkpoint->filepath);
  free(checkpoint);
}

sp_status sp_model_checkpoint(const sp_model_checkpoint_options *options, sp_callback **callback) {
  *callback = NULL;
  if (options->save_freq < 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "ModelCheckpoint save_freq must be 0 (every epoch) or a number of "
                   "batches, got %lld", (long long)options->save_freq);
  SP_TRY(check_path(options));
  sp_callback *made;
  SP_TRY(sp_callback_with_context("model_checkpoint", sizeof(model_checkpoint), release, &made));
  model_checkpoint *checkpoint = made->context;
  checkpoint->options = *options;
  checkpoint->options.filepath = NULL;
  sp_status status = sp_monitor_init(&checkpoint->monitor, options->monitor ? options->monitor : "val_loss",
                                     options->mode, 0, "ModelCheckpoint");
  if (status == SP_OK && options->filepath && !(checkpoint->filepath = sp_strdup(options->filepath)))
    status = SP_ERROR_NO_MEMORY;
  if (status != SP_OK) {
    sp_callback_free(made);
    return status;
  }
  checkpoint->best = options->has_initial_value_threshold ? options->initial_value_threshold
                                                          : sp_monitor_worst(&checkpoint->monitor);
  made->on_train_begin = on_train_begin;
  made->on_epoch_begin = on_epoch_begin;
  made->on_train_batch_end = on_train_batch_end;
  made->on_epoch_end = on_epoch_end;
  made->save_state = save_state;
  made->restore_state = restore_state;
  *callback = made;
  return SP_OK;
}
