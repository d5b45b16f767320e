/* backup_and_restore.c — BackupAndRestore to the batch: a run killed at any moment and started
 * again with the same arguments continues from its last backup and ends bit-identical to a run
 * that was never interrupted.
 *
 * Why that holds: every random draw of fit derives from (seed, epoch, batch) (train.h), so the
 * loop's whole state is the plain sp_training_state; a backup stores it together with the
 * weights, the optimizer's variables (its iteration count drives the learning-rate schedule) and
 * every other callback's save_state, in one TF checkpoint written by a checkpoint manager (the
 * training state rides in the bundle, so the index publishes all of it at once). A backup is taken
 * after all other callbacks have seen the batch or epoch, hence the rule that this callback comes
 * last. An epoch-end backup is stored as "the next epoch, batch 0", so that a resumed run does not
 * replay the epoch's end (validation, EarlyStopping's count) a second time.
 *
 * State layout (JSON text kept with the checkpoint):
 *   {"format": "savepoint-backup", "version": 1, "training": "<sp_training_state JSON>",
 *    "callbacks": [{"name": "early_stopping", "state": "<its save_state JSON>"}, …]}
 * one entry per callback before this one, in order (state null when it has none).
 */
#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "savepoint/checkpoint.h"
#include "train/loop.h"

#define BACKUP_FORMAT "savepoint-backup"

typedef struct backup {
  sp_backup_options options;
  char *directory;
  sp_checkpoint_manager *manager;
} backup;

sp_backup_options sp_backup_defaults(void) { return (sp_backup_options){.delete_checkpoint = 1}; }

static FILE *messages(const backup *b) { return b->options.out ? b->options.out : stdout; }

/* ---- the backup's state ---- */

static sp_status add_callback_states(const sp_training *training, const sp_callback *self, json_object *list) {
  for (int i = 0; i < training->callback_count; i++) {
    sp_callback *callback = training->callbacks[i];
    if (callback == self) continue;
    char *text = NULL;
    if (callback->save_state) {
      sp_status status = callback->save_state(callback, &text);
      if (status != SP_OK) return sp_error_context(status, "saving the state of callback '%s'", callback->name);
    }
    json_object *entry = json_object_new_object();
    json_object_object_add(entry, "name", json_object_new_string(callback->name));
    json_object_object_add(entry, "state", text ? json_object_new_string(text) : NULL);
    json_object_array_add(list, entry);
    free(text);
  }
  return SP_OK;
}

static sp_status state_json(const sp_training *training, const sp_callback *self, const sp_training_state *state,
                            char **json) {
  *json = NULL;
  char *loop = sp_training_state_to_json(state);
  if (!loop) return SP_ERROR_NO_MEMORY;
  json_object *root = json_object_new_object(), *list = json_object_new_array();
  json_object_object_add(root, "format", json_object_new_string(BACKUP_FORMAT));
  json_object_object_add(root, "version", json_object_new_int(1));
  json_object_object_add(root, "training", json_object_new_string(loop));
  json_object_object_add(root, "callbacks", list);
  free(loop);
  sp_status status = add_callback_states(training, self, list);
  if (status == SP_OK && !(*json = sp_json_dumps(root, 0))) status = SP_ERROR_NO_MEMORY;
  json_object_put(root);
  return status;
}

static sp_status restore_callbacks(sp_training *training, const sp_callback *self, const json_object *list,
                                   const char *prefix) {
  size_t count = json_object_array_length(list), index = 0;
  for (int i = 0; i < training->callback_count; i++) {
    sp_callback *callback = training->callbacks[i];
    if (callback == self) continue;
    json_object *entry = index < count ? json_object_array_get_idx(list, index) : NULL;
    const char *name = NULL, *state = NULL;
    if (entry) SP_TRY(sp_json_get_string(entry, "name", NULL, "backup state", &name));
    if (!name || strcmp(name, callback->name) != 0)
      return sp_fail(SP_ERROR_MISMATCH, "backup '%s' was made by a run whose callback %zu was '%s'; this run's is '%s' "
                     "(resume with the same callbacks, or delete the backup)", prefix, index + 1, name ? name : "(none)",
                     callback->name);
    SP_TRY(sp_json_get_string(entry, "state", NULL, "backup state", &state));
    if (state && callback->restore_state) {
      sp_status status = callback->restore_state(callback, state);
      if (status != SP_OK) return sp_error_context(status, "restoring callback '%s' from backup '%s'", callback->name, prefix);
    }
    index++;
  }
  if (index != count)
    return sp_fail(SP_ERROR_MISMATCH, "backup '%s' holds the state of %zu callbacks, this run has %zu", prefix, count, index);
  return SP_OK;
}

static sp_status parse_backup(sp_training *training, const sp_callback *self, const char *json, const char *prefix) {
  json_object *root;
  SP_TRY(sp_json_parse(json, strlen(json), "backup state", &root));
  const char *format = NULL, *loop = NULL;
  json_object *list = NULL;
  sp_training_state state;
  sp_status status = sp_json_get_string(root, "format", NULL, "backup state", &format);
  if (status == SP_OK && (!format || strcmp(format, BACKUP_FORMAT) != 0))
    status = sp_fail(SP_ERROR_FORMAT, "checkpoint '%s' is not a BackupAndRestore backup (format '%s')", prefix,
                     format ? format : "(none)");
  if (status == SP_OK) status = sp_json_get_string(root, "training", NULL, "backup state", &loop);
  if (status == SP_OK && !loop) status = sp_fail(SP_ERROR_FORMAT, "backup '%s' holds no training state", prefix);
  if (status == SP_OK) status = sp_training_state_from_json(loop, &state);
  if (status == SP_OK) status = sp_json_require(root, "callbacks", json_type_array, "backup state", &list);
  if (status == SP_OK) status = restore_callbacks(training, self, list, prefix);
  json_object_put(root);
  if (status == SP_OK) training->state = state;
  return status;
}

/* ---- saving and restoring ---- */

static sp_status save_backup(backup *b, sp_training *training, const sp_callback *self, const sp_training_state *state) {
  char *json;
  SP_TRY(state_json(training, self, state, &json));
  sp_checkpoint_save_info info = {.step = (int64_t)state->epoch * training->steps + state->batch,
                                  .training_state = json};
  sp_status status = sp_checkpoint_manager_save(b->manager, training->model, &info, NULL);
  free(json);
  return status;
}

static sp_status restore_latest(backup *b, sp_training *training, const sp_callback *self) {
  const char *latest = sp_checkpoint_manager_latest(b->manager);
  if (!latest) return SP_OK;
  SP_TRY(sp_checkpoint_read(training->model, latest, NULL));
  char *json;
  SP_TRY(sp_checkpoint_read_training_state(latest, &json));
  sp_status status = parse_backup(training, self, json, latest);
  free(json);
  if (status != SP_OK) return sp_error_context(status, "resuming from backup '%s'", latest);
  if (b->options.verbose > 0)
    fprintf(messages(b), "Resuming from backup %s: epoch %d, batch %lld\n", latest, training->state.epoch + 1,
            (long long)training->state.batch);
  return SP_OK;
}

/* ---- hooks ---- */

static sp_status on_train_begin(sp_callback *self, sp_training *training, const sp_logs *logs) {
  (void)logs;
  backup *b = self->context;
  if (training->callback_count == 0 || training->callbacks[training->callback_count - 1] != self)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "BackupAndRestore must be the last callback (it saves what the callbacks "
                   "before it did with each batch)");
  sp_checkpoint_manager_options options = sp_checkpoint_manager_defaults();
  options.max_to_keep = 1;
  options.checkpoint_name = "backup";
  options.async = b->options.async;
  options.registry = b->options.registry;
  options.registry_run_id = b->options.registry_run_id;
  if (b->manager) SP_TRY(sp_checkpoint_manager_close(b->manager));
  b->manager = NULL;
  SP_TRY(sp_checkpoint_manager_open(b->directory, &options, &b->manager));
  return restore_latest(b, training, self);
}

static sp_status on_train_batch_end(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs) {
  (void)batch, (void)logs;
  backup *b = self->context;
  const sp_training_state *state = &training->state;
  int64_t done = (int64_t)state->epoch * training->steps + state->batch;
  if (b->options.save_freq <= 0 || done % b->options.save_freq != 0) return SP_OK;
  return save_backup(b, training, self, state);
}

static sp_status on_epoch_end(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  (void)logs;
  backup *b = self->context;
  if (b->options.save_freq > 0) return SP_OK;
  sp_training_state next = training->state;
  if (next.batch == training->steps) { /* a complete epoch: resume at the next one */
    next.epoch = epoch + 1;
    next.batch = 0;
    next.metric_count = 0;
  }
  return save_backup(b, training, self, &next);
}

static sp_status remove_backups(backup *b) {
  size_t count = sp_checkpoint_manager_count(b->manager);
  for (size_t i = 0; b->options.registry && i < count; i++) {
    sp_checkpoint_info info;
    if (sp_checkpoint_manager_get(b->manager, i, &info) == SP_OK && info.owned &&
        sp_registry_record_deletion(b->options.registry, info.prefix, "BackupAndRestore: training finished") != SP_OK)
      fprintf(stderr, "savepoint: warning: recording the deletion of '%s' failed: %s\n", info.prefix, sp_last_error());
  }
  sp_status status = sp_checkpoint_manager_close(b->manager);
  b->manager = NULL;
  SP_TRY(status);
  /* Renamed away first: a process killed while removing files must not leave a backup directory
   * whose state file names a checkpoint with files missing. The next run starts afresh. */
  char *doomed = sp_strdupf("%s.deleting-%ld", b->directory, (long)getpid());
  if (!doomed) return SP_ERROR_NO_MEMORY;
  if (rename(b->directory, doomed) != 0)
    status = sp_fail(SP_ERROR_IO, "cannot move backup directory '%s' away to delete it: %s", b->directory, strerror(errno));
  char *parent = status == SP_OK ? sp_path_dirname(b->directory) : NULL;
  if (status == SP_OK) status = parent ? sp_fsync_directory(*parent ? parent : ".") : SP_ERROR_NO_MEMORY;
  free(parent);
  if (status == SP_OK) status = sp_remove_tree(doomed);
  free(doomed);
  return sp_error_context(status, "deleting backup directory '%s'", b->directory);
}

static sp_status on_train_end(sp_callback *self, sp_training *training, const sp_logs *logs) {
  (void)training, (void)logs;
  backup *b = self->context;
  if (!b->manager) return SP_OK;
  if (b->options.delete_checkpoint) return remove_backups(b);
  sp_status status = sp_checkpoint_manager_close(b->manager);
  b->manager = NULL;
  return status;
}

static void release(sp_callback *self) {
  backup *b = self->context;
  if (!b) return;
  if (b->manager && sp_checkpoint_manager_close(b->manager) != SP_OK)
    fprintf(stderr, "savepoint: warning: closing backup directory '%s': %s\n", b->directory, sp_last_error());
  free(b->directory);
  free(b);
}

sp_status sp_backup_and_restore(const sp_backup_options *options, sp_callback **callback) {
  *callback = NULL;
  if (!options->backup_dir || !*options->backup_dir)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "BackupAndRestore needs a backup directory");
  if (options->save_freq < 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "BackupAndRestore save_freq must be 0 (every epoch) or a number of "
                   "batches, got %lld", (long long)options->save_freq);
  sp_callback *made;
  SP_TRY(sp_callback_with_context("backup_and_restore", sizeof(backup), release, &made));
  backup *b = made->context;
  b->options = *options;
  if (!(b->directory = sp_strdup(options->backup_dir))) {
    sp_callback_free(made);
    return SP_ERROR_NO_MEMORY;
  }
  b->options.backup_dir = b->directory;
  made->on_train_begin = on_train_begin;
  made->on_train_batch_end = on_train_batch_end;
  made->on_epoch_end = on_epoch_end;
  made->on_train_end = on_train_end;
  *callback = made;
  return SP_OK;
}
