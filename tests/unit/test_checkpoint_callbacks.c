/* Tests of ModelCheckpoint, EarlyStopping and BackupAndRestore. The expected epochs come from Keras
 * 3's rules applied by hand to scripted val_loss sequences (written next to each test): an
 * improvement is current < best - min_delta (min) or current > best + min_delta (max), best starts
 * at ±inf or initial_value_threshold; EarlyStopping waits one more epoch per non-improving epoch
 * and stops once wait >= patience. BackupAndRestore is checked against an uninterrupted run of
 * the same fit: the weights must be equal bit for bit. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/monitor.h"
#include "core/file.h"
#include "core/memory.h"
#include "nn/model.h"
#include "savepoint/checkpoint.h"
#include "savepoint/io.h"
#include "savepoint/train.h"
#include "test_support.h"
#include "train_models.h"

static sp_model *classifier(void) {
  sp_model *model = sp_test_dropout_classifier();
  SP_ASSERT_OK(sp_model_build(model));
  SP_ASSERT_OK(sp_model_initialize(model));
  return model;
}

/* Sets every weight of the model to value: the weights "of epoch e" are recognisable later. */
static void fill_weights(sp_model *model, float value) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  for (int i = 0; i < count; i++)
    for (int64_t k = 0; k < sp_tensor_count(variables[i]->value); k++) sp_tensor_floats(variables[i]->value)[k] = value;
  free(variables);
}

static float first_weight(sp_model *model) {
  sp_variable **variables;
  cr_assert(sp_model_collect_variables(model, &variables, 0) > 0);
  float value = sp_tensor_floats(variables[0]->value)[0];
  free(variables);
  return value;
}

/* Drives a callback through epochs with scripted monitored values, as fit would; returns the
 * number of epochs run (stops when a callback sets stop_training). Before each epoch's end the
 * weights are set to the epoch index. */
static int run_epochs(sp_callback *callback, sp_model *model, const char *monitor, const double *values, int epochs) {
  sp_training training = {.model = model, .epochs = epochs, .steps = 1, .callback_count = 1, .callbacks = &callback};
  if (callback->on_train_begin) SP_ASSERT_OK(callback->on_train_begin(callback, &training, NULL));
  sp_logs logs = {0};
  int epoch = 0;
  for (; epoch < epochs && !training.state.stop_training; epoch++) {
    if (callback->on_epoch_begin) SP_ASSERT_OK(callback->on_epoch_begin(callback, &training, epoch, NULL));
    logs = (sp_logs){0};
    SP_ASSERT_OK(sp_logs_set(&logs, "loss", 1.0 / (epoch + 1)));
    SP_ASSERT_OK(sp_logs_set(&logs, monitor, values[epoch]));
    fill_weights(model, (float)epoch);
    if (callback->on_epoch_end) SP_ASSERT_OK(callback->on_epoch_end(callback, &training, epoch, &logs));
  }
  if (callback->on_train_end) SP_ASSERT_OK(callback->on_train_end(callback, &training, &logs));
  return epoch;
}

static char *read_text(FILE *file) {
  fflush(file);
  long size = ftell(file);
  rewind(file);
  char *text = calloc((size_t)size + 1, 1);
  cr_assert_eq(fread(text, 1, (size_t)size, file), (size_t)size);
  return text;
}

/* ---- monitor ---- */

Test(monitor, auto_mode_follows_keras_metric_directions) {
  sp_monitor monitor;
  const char *down[] = {"loss", "val_loss", "val_mae", "mean_squared_error", "val_binary_crossentropy", "output_1_loss"};
  const char *up[] = {"accuracy", "val_accuracy", "val_sparse_categorical_accuracy", "auc", "val_precision", "acc"};
  for (size_t i = 0; i < sizeof down / sizeof *down; i++) {
    SP_ASSERT_OK(sp_monitor_init(&monitor, down[i], SP_MONITOR_AUTO, 0, "test"));
    cr_assert(!monitor.maximize && sp_monitor_worst(&monitor) == INFINITY, "%s", down[i]);
    sp_monitor_release(&monitor);
  }
  for (size_t i = 0; i < sizeof up / sizeof *up; i++) {
    SP_ASSERT_OK(sp_monitor_init(&monitor, up[i], SP_MONITOR_AUTO, 0, "test"));
    cr_assert(monitor.maximize && sp_monitor_worst(&monitor) == -INFINITY, "%s", up[i]);
    sp_monitor_release(&monitor);
  }
  SP_ASSERT_FAILS(sp_monitor_init(&monitor, "val_widgets", SP_MONITOR_AUTO, 0, "EarlyStopping"),
                  SP_ERROR_INVALID_ARGUMENT, "Pass mode max");
  SP_ASSERT_OK(sp_monitor_init(&monitor, "val_widgets", SP_MONITOR_MAX, -0.5, "test"));
  /* min_delta 0.5 (sign ignored): 1.6 beats 1.0 by more than 0.5, 1.5 does not */
  cr_assert(sp_monitor_is_improvement(&monitor, 1.6, 1.0) && !sp_monitor_is_improvement(&monitor, 1.5, 1.0));
  sp_monitor_release(&monitor);
}

/* ---- ModelCheckpoint ---- */

Test(model_checkpoint, save_best_only_writes_exactly_the_improving_epochs) {
  char *directory = sp_test_temp_dir("model_checkpoint_best");
  char *template_path = sp_strdupf("%s/cp-{epoch:02d}-{val_loss:.2f}.weights.h5", directory);
  FILE *out = tmpfile();
  sp_model_checkpoint_options options = sp_model_checkpoint_defaults();
  options.filepath = template_path;
  options.save_best_only = 1;
  options.save_weights_only = 1;
  options.verbose = 1;
  options.out = out;
  sp_callback *callback;
  SP_ASSERT_OK(sp_model_checkpoint(&options, &callback));
  sp_model *model = classifier();
  /* val_loss 0.5 0.4 0.45 0.3 0.3 0.35: improvements (strictly below the best) at epochs 1, 2, 4 */
  const double values[] = {0.5, 0.4, 0.45, 0.3, 0.3, 0.35};
  cr_assert_eq(run_epochs(callback, model, "val_loss", values, 6), 6);
  char **names;
  size_t count;
  SP_ASSERT_OK(sp_list_directory(directory, 100, &names, &count));
  cr_assert_eq(count, 3);
  const char *expected[] = {"cp-01-0.50.weights.h5", "cp-02-0.40.weights.h5", "cp-04-0.30.weights.h5"};
  for (size_t i = 0; i < 3; i++) {
    char *path = sp_path_join(directory, expected[i]);
    cr_assert(sp_is_regular_file(path), "missing %s", path);
    free(path);
  }
  sp_free_names(names, count);
  char *text = read_text(out);
  char *first = sp_strdupf("\nEpoch 1: val_loss improved from inf to 0.50000, saving model to %s/cp-01-0.50.weights.h5\n"
                           "\nEpoch 1: finished saving model to %s/cp-01-0.50.weights.h5\n", directory, directory);
  cr_assert(strncmp(text, first, strlen(first)) == 0, "got:\n%s", text);
  cr_assert(strstr(text, "\nEpoch 3: val_loss did not improve from 0.40000\n"), "got:\n%s", text);
  cr_assert(strstr(text, "\nEpoch 5: val_loss did not improve from 0.30000\n"), "got:\n%s", text);
  /* The file holds the weights of its epoch (epoch index 3 for cp-04). */
  sp_model *loaded = classifier();
  char *path = sp_path_join(directory, expected[2]);
  SP_ASSERT_OK(sp_load_weights(loaded, path, NULL));
  cr_assert_eq(first_weight(loaded), 3.0f);
  free(path);
  free(first);
  free(text);
  fclose(out);
  sp_model_free(loaded);
  sp_model_free(model);
  sp_callback_free(callback);
  free(template_path);
  free(directory);
}

Test(model_checkpoint, max_mode_and_initial_value_threshold) {
  char *directory = sp_test_temp_dir("model_checkpoint_max");
  char *target = sp_strdupf("%s/best.keras", directory);
  FILE *out = tmpfile();
  sp_model_checkpoint_options options = sp_model_checkpoint_defaults();
  options.filepath = target;
  options.monitor = "val_accuracy";
  options.save_best_only = 1;
  options.has_initial_value_threshold = 1;
  options.initial_value_threshold = 0.7;
  options.verbose = 1;
  options.out = out;
  sp_callback *callback;
  SP_ASSERT_OK(sp_model_checkpoint(&options, &callback));
  sp_model *model = classifier();
  /* accuracy goes up; threshold 0.7: 0.6 and 0.7 do not beat it, 0.8 does (epoch 3), 0.75 not */
  const double values[] = {0.6, 0.7, 0.8, 0.75};
  run_epochs(callback, model, "val_accuracy", values, 4);
  char *text = read_text(out);
  cr_assert(strstr(text, "\nEpoch 1: val_accuracy did not improve from 0.70000\n"), "got:\n%s", text);
  cr_assert(strstr(text, "\nEpoch 3: val_accuracy improved from 0.70000 to 0.80000, saving model to "), "got:\n%s", text);
  cr_assert(strstr(text, "\nEpoch 4: val_accuracy did not improve from 0.80000\n"), "got:\n%s", text);
  sp_model *loaded;
  SP_ASSERT_OK(sp_load(target, NULL, &loaded));
  cr_assert_eq(first_weight(loaded), 2.0f);
  sp_model_free(loaded);
  free(text);
  fclose(out);
  sp_model_free(model);
  sp_callback_free(callback);
  free(target);
  free(directory);
}

Test(model_checkpoint, refuses_what_keras_refuses) {
  sp_model_checkpoint_options options = sp_model_checkpoint_defaults();
  sp_callback *callback;
  options.filepath = "m.keras";
  options.save_weights_only = 1;
  SP_ASSERT_FAILS(sp_model_checkpoint(&options, &callback), SP_ERROR_INVALID_ARGUMENT, ".weights.h5");
  options.filepath = "m.weights.h5";
  options.save_weights_only = 0;
  SP_ASSERT_FAILS(sp_model_checkpoint(&options, &callback), SP_ERROR_INVALID_ARGUMENT, "weights-only");
  options.filepath = "m.keras";
  options.monitor = "val_widgets";
  SP_ASSERT_FAILS(sp_model_checkpoint(&options, &callback), SP_ERROR_INVALID_ARGUMENT, "mode min");
}

Test(model_checkpoint, every_n_batches_counts_across_epochs_into_a_tf_checkpoint) {
  char *directory = sp_test_temp_dir("model_checkpoint_batches");
  char *target = sp_strdupf("%s/cp-{epoch}-{batch}", directory);
  sp_model_checkpoint_options options = sp_model_checkpoint_defaults();
  options.filepath = target;
  options.save_freq = 3;
  sp_callback *callback;
  SP_ASSERT_OK(sp_model_checkpoint(&options, &callback));
  sp_model *model = classifier();
  sp_tensor *x = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){40, 8}), *y = sp_tensor_new(SP_FLOAT32, 1, (int64_t[]){40});
  for (int64_t i = 0; i < 40 * 8; i++) sp_tensor_floats(x)[i] = (float)sin((double)i);
  for (int64_t i = 0; i < 40; i++) sp_tensor_floats(y)[i] = (float)(i % 4);
  sp_fit_options fit = sp_fit_defaults();
  fit.epochs = 2, fit.batch_size = 10, fit.verbose = 0, fit.seed = 3;
  fit.callbacks = &callback, fit.callback_count = 1;
  SP_ASSERT_OK(sp_model_fit(model, x, y, &fit, NULL));
  /* 4 batches per epoch, 8 in all, a save every 3rd: overall batches 3 and 6 = epoch 1 batch 3 and
   * epoch 2 batch 2 (counted 1-based in the name) */
  const char *expected[] = {"cp-1-3", "cp-2-2"};
  for (size_t i = 0; i < 2; i++) {
    char *prefix = sp_path_join(directory, expected[i]);
    cr_assert(sp_checkpoint_exists(prefix), "missing %s", prefix);
    free(prefix);
  }
  char *other = sp_path_join(directory, "cp-1-4");
  cr_assert(!sp_checkpoint_exists(other));
  free(other);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(model);
  sp_callback_free(callback);
  free(target);
  free(directory);
}

/* ---- EarlyStopping ---- */

static sp_callback *early_stopping(int patience, double min_delta, int restore_best_weights, FILE *out) {
  sp_early_stopping_options options = sp_early_stopping_defaults();
  options.patience = patience;
  options.min_delta = min_delta;
  options.restore_best_weights = restore_best_weights;
  options.verbose = out != NULL;
  options.out = out;
  sp_callback *callback;
  SP_ASSERT_OK(sp_early_stopping(&options, &callback));
  return callback;
}

/* Runs EarlyStopping (restoring the best weights) over values; checks the epochs run, where it
 * stopped (-1: it did not), the weights it ended with (the best epoch's index) and its messages. */
static void check_early_stopping(int patience, const double *values, int epochs, int expected_epochs,
                                 int expected_stop, float expected_weights, const char *expected_messages) {
  FILE *out = tmpfile();
  sp_callback *callback = early_stopping(patience, 0, 1, out);
  sp_model *model = classifier();
  cr_assert_eq(run_epochs(callback, model, "val_loss", values, epochs), expected_epochs);
  cr_assert_eq(sp_early_stopping_stopped_epoch(callback), expected_stop);
  cr_assert_eq(first_weight(model), expected_weights);
  char *text = read_text(out);
  cr_assert_str_eq(text, expected_messages);
  free(text);
  fclose(out);
  sp_model_free(model);
  sp_callback_free(callback);
}

Test(early_stopping, stops_after_patience_epochs_without_improvement_and_restores_the_best) {
  /* 1.0 (best, wait 0), 0.8 (best, wait 0), 0.85 (wait 1), 0.9 (wait 2 >= 2: stop at epoch index
   * 3); the weights at the end of epoch index 1 come back */
  const double values[] = {1.0, 0.8, 0.85, 0.9, 0.1};
  check_early_stopping(2, values, 5, 4, 3, 1.0f,
                       "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 2.\n");
}

Test(early_stopping, restores_also_when_training_ends_without_stopping) {
  /* 0.5, 0.4, 0.3: every epoch improves, training ends after 3 epochs; the best is index 2 */
  const double values[] = {0.5, 0.4, 0.3};
  check_early_stopping(1, values, 3, 3, -1, 2.0f,
                       "Training ended without early stopping.\n"
                       "Restoring model weights from the end of the best epoch: 3.\n");
}

Test(early_stopping, min_delta_baseline_and_start_from_epoch) {
  sp_model *model = classifier();
  /* min_delta 0.1, patience 1: 1.0 best; 0.95 is not below 1.0 - 0.1: wait 1 → stop at index 1 */
  sp_callback *callback = early_stopping(1, 0.1, 0, NULL);
  const double small_steps[] = {1.0, 0.95, 0.85};
  cr_assert_eq(run_epochs(callback, model, "val_loss", small_steps, 3), 2);
  sp_callback_free(callback);

  /* baseline 0.5, patience 1: 0.9 improves on inf but not on the baseline, so wait stays 1;
   * 0.95 does not improve: wait 2 >= 1 → stop at index 1 */
  sp_early_stopping_options options = sp_early_stopping_defaults();
  options.patience = 1;
  options.has_baseline = 1;
  options.baseline = 0.5;
  SP_ASSERT_OK(sp_early_stopping(&options, &callback));
  const double above_baseline[] = {0.9, 0.95, 0.1};
  cr_assert_eq(run_epochs(callback, model, "val_loss", above_baseline, 3), 2);
  sp_callback_free(callback);

  /* start_from_epoch 2, patience 0: indices 0 and 1 are ignored although rising; 3 is best at
   * index 2, 4 does not improve: wait 1 >= 0 → stop at index 3 */
  options = sp_early_stopping_defaults();
  options.start_from_epoch = 2;
  SP_ASSERT_OK(sp_early_stopping(&options, &callback));
  const double rising[] = {1, 2, 3, 4, 0};
  cr_assert_eq(run_epochs(callback, model, "val_loss", rising, 5), 4);
  cr_assert_eq(sp_early_stopping_stopped_epoch(callback), 3);
  sp_callback_free(callback);
  sp_model_free(model);
}

/* ---- BackupAndRestore ---- */

typedef struct crash {
  int64_t at; /* fail before this global batch */
  int64_t seen;
} crash;

static sp_status crash_before_batch(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs) {
  (void)training, (void)batch, (void)logs;
  crash *c = self->context;
  if (c->seen++ == c->at) return sp_fail(SP_ERROR_IO, "simulated crash");
  return SP_OK;
}

/* A fit of 3 epochs with a History file and EarlyStopping (state to carry) and a backup every
 * save_freq batches, the History written to backup_dir + ".history.json"; crash_at >= 0 makes it
 * fail before that global batch. */
static sp_status fit_with_backup(sp_model *model, const char *backup_dir, int64_t crash_at, int64_t save_freq,
                                 int async) {
  sp_tensor *x = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){50, 8}), *y = sp_tensor_new(SP_FLOAT32, 1, (int64_t[]){50});
  for (int64_t i = 0; i < 50 * 8; i++) sp_tensor_floats(x)[i] = (float)cos(0.11 * (double)i);
  for (int64_t i = 0; i < 50; i++) sp_tensor_floats(y)[i] = (float)((i * 7) % 4);
  crash state = {.at = crash_at};
  sp_callback *crasher = sp_callback_new("crash", &state);
  crasher->on_train_batch_begin = crash_before_batch;
  sp_early_stopping_options stop_options = sp_early_stopping_defaults();
  stop_options.monitor = "loss";
  stop_options.patience = 10;
  stop_options.restore_best_weights = 1;
  sp_callback *stopper, *backup;
  SP_ASSERT_OK(sp_early_stopping(&stop_options, &stopper));
  sp_backup_options options = sp_backup_defaults();
  options.backup_dir = backup_dir;
  options.save_freq = save_freq;
  options.async = async;
  SP_ASSERT_OK(sp_backup_and_restore(&options, &backup));
  char *history_path = sp_strdupf("%s.history.json", backup_dir);
  sp_callback *logger = sp_history_logger(history_path);
  free(history_path);
  sp_callback *callbacks[] = {crasher, logger, stopper, backup};
  sp_fit_options fit = sp_fit_defaults();
  fit.epochs = 3, fit.batch_size = 8, fit.verbose = 0, fit.seed = 11;
  fit.callbacks = callbacks, fit.callback_count = 4;
  sp_status status = sp_model_fit(model, x, y, &fit, NULL);
  for (int i = 0; i < 4; i++) sp_callback_free(callbacks[i]);
  sp_tensor_free(x);
  sp_tensor_free(y);
  return status;
}

/* The History files of two runs hold the same bytes (takes other). */
static void assert_same_files(const char *expected, char *other) {
  uint8_t *a, *b;
  size_t a_size, b_size;
  SP_ASSERT_OK(sp_read_file(expected, 1 << 20, &a, &a_size));
  SP_ASSERT_OK(sp_read_file(other, 1 << 20, &b, &b_size));
  cr_assert(a_size == b_size && memcmp(a, b, a_size) == 0, "%s differs from %s", other, expected);
  free(a);
  free(b);
  free(other);
}

Test(backup_and_restore, a_run_interrupted_anywhere_ends_bit_identical) {
  char *directory = sp_test_temp_dir("backup_and_restore");
  sp_model *whole = classifier();
  char *whole_dir = sp_path_join(directory, "whole");
  SP_ASSERT_OK(fit_with_backup(whole, whole_dir, -1, 1, 0));
  char *whole_history = sp_strdupf("%s.history.json", whole_dir);
  cr_assert(!sp_path_exists(whole_dir), "the backup is deleted when training ends");
  /* 7 batches per epoch, 21 in all: crash before batch 0 of epoch 2, mid-epoch, and twice in a row. */
  const int64_t crashes[][2] = {{7, -1}, {10, -1}, {3, 9}, {20, -1}};
  for (size_t c = 0; c < sizeof crashes / sizeof *crashes; c++) {
    /* every batch, every batch with async writes, every 3 batches */
    for (int variant = 0; variant < 3; variant++) {
      int64_t save_freq = variant == 2 ? 3 : 1;
      int async = variant == 1;
      char *backup_dir = sp_strdupf("%s/run-%zu-%d", directory, c, variant);
      sp_model *model = classifier();
      cr_assert_neq(fit_with_backup(model, backup_dir, crashes[c][0], save_freq, async), SP_OK);
      cr_assert(sp_path_exists(backup_dir), "a crashed run keeps its backup");
      if (crashes[c][1] >= 0) {
        sp_model_free(model); /* a new process: fresh model, same initial weights */
        model = classifier();
        cr_assert_neq(fit_with_backup(model, backup_dir, crashes[c][1], save_freq, async), SP_OK);
      }
      sp_model_free(model);
      model = classifier();
      SP_ASSERT_OK(fit_with_backup(model, backup_dir, -1, save_freq, async));
      cr_assert(sp_test_same_weights(whole, model), "crash at %lld, save_freq %lld, async %d: weights differ",
                (long long)crashes[c][0], (long long)save_freq, async);
      assert_same_files(whole_history, sp_strdupf("%s.history.json", backup_dir));
      sp_model_free(model);
      free(backup_dir);
    }
  }
  sp_model_free(whole);
  free(whole_history);
  free(whole_dir);
  free(directory);
}

Test(backup_and_restore, must_be_the_last_callback) {
  char *directory = sp_test_temp_dir("backup_last");
  sp_backup_options options = sp_backup_defaults();
  options.backup_dir = directory;
  sp_callback *backup, *nan = sp_terminate_on_nan();
  SP_ASSERT_OK(sp_backup_and_restore(&options, &backup));
  sp_model *model = classifier();
  sp_tensor *x = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){4, 8}), *y = sp_tensor_new(SP_FLOAT32, 1, (int64_t[]){4});
  memset(x->data, 0, x->size);
  memset(y->data, 0, y->size);
  sp_callback *callbacks[] = {backup, nan};
  sp_fit_options fit = sp_fit_defaults();
  fit.verbose = 0, fit.callbacks = callbacks, fit.callback_count = 2;
  SP_ASSERT_FAILS(sp_model_fit(model, x, y, &fit, NULL), SP_ERROR_INVALID_ARGUMENT, "must be the last callback");
  sp_callback_free(backup);
  sp_callback_free(nan);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(model);
  free(directory);
}
