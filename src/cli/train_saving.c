/* train_saving.c — the saving flags of `savepoint train` (see train_saving.h): they only translate
 * flags into the library's callbacks (ckpt/), which do the work, so that library users and the
 * CLI save, stop and resume alike.
 *
 * Order of the callbacks: EarlyStopping, ModelCheckpoint, then BackupAndRestore, which must come
 * last so that a backup holds what the others did with the batch or epoch.
 */
#include "cli/train_saving.h"

#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/training_data.h"
#include "core/file.h"
#include "cli/training_output.h"
#include "core/json.h"

const char sp_cli_saving_help[] =
    "saving (the format follows the extension: .keras, .weights.h5, .h5, else a TF checkpoint prefix):\n"
    "  --save PATH             save the trained model (or weights) there when training ends\n"
    "  --checkpoint TEMPLATE   Keras's ModelCheckpoint: a path formatted with {epoch:02d}, {batch},\n"
    "                          {val_loss:.4f} or any logged value; DIR/ (a trailing slash) keeps\n"
    "                          numbered TF checkpoints DIR/ckpt-<step> with a checkpoint manager\n"
    "  --monitor NAME          value ModelCheckpoint watches (default val_loss with validation, else loss)\n"
    "  --mode auto|min|max     whether lower or higher is better (default auto: from the name)\n"
    "  --save-best-only        save only when the monitored value improves\n"
    "  --save-weights-only     save weights (.weights.h5) instead of whole models (.keras)\n"
    "  --save-freq epoch|N     checkpoint at the end of every epoch (default) or every N batches\n"
    "  --max-to-keep N         with DIR/: keep the newest N checkpoints (default 5; 0 keeps all)\n"
    "early stopping (Keras's EarlyStopping):\n"
    "  --early-stopping-patience N   stop after N epochs without improvement\n"
    "  --early-stopping-monitor NAME value to watch (default: as --monitor)\n"
    "  --min-delta F           smallest change that counts as an improvement (default 0)\n"
    "  --start-from-epoch N    ignore the first N epochs (default 0)\n"
    "  --restore-best-weights  end with the weights of the best epoch, stopped early or not\n"
    "resuming (BackupAndRestore):\n"
    "  --backup-dir DIR        back up to DIR and, when it holds a backup, resume from it exactly\n"
    "                          (same batch, data order, dropout, optimizer and callback state)\n"
    "  --backup-freq epoch|N   back up at the end of every epoch (default) or every N batches\n"
    "  --keep-backup           keep DIR when training ends (it is deleted by default)\n"
    "  --backup-async          write each backup on a writer thread while training goes on\n"
    "registry:\n"
    "  --registry URL          record the run, its checkpoints, saves and deletions (sqlite:PATH,\n"
    "                          postgresql://…; default $SAVEPOINT_REGISTRY)\n";

sp_cli_saving_flags sp_cli_saving_defaults(void) {
  return (sp_cli_saving_flags){.mode = SP_MONITOR_AUTO, .max_to_keep = -1, .early_stopping_patience = -1};
}

/* "epoch" → 0, or a positive number of batches. */
static int parse_frequency(const char *argument, int64_t *frequency) {
  if (strcmp(argument, "epoch") == 0) {
    *frequency = 0;
    return 1;
  }
  return sp_cli_parse_int(argument, frequency) && *frequency > 0;
}

static int parse_count(const char *argument, int *value) {
  int64_t parsed;
  if (!sp_cli_parse_int(argument, &parsed) || parsed < 0 || parsed > INT32_MAX) return 0;
  *value = (int)parsed;
  return 1;
}

static int parse_mode(const char *argument, sp_monitor_mode *mode) {
  if (strcmp(argument, "auto") == 0) *mode = SP_MONITOR_AUTO;
  else if (strcmp(argument, "min") == 0) *mode = SP_MONITOR_MIN;
  else if (strcmp(argument, "max") == 0) *mode = SP_MONITOR_MAX;
  else return 0;
  return 1;
}

static int store_option(int option, const char *argument, sp_cli_saving_flags *flags) {
  switch (option) {
    case SP_CLI_OPTION_SAVE: flags->save_path = argument; return 1;
    case SP_CLI_OPTION_CHECKPOINT: flags->checkpoint = argument; return 1;
    case SP_CLI_OPTION_MONITOR: flags->monitor = argument; return 1;
    case SP_CLI_OPTION_MODE: return parse_mode(argument, &flags->mode);
    case SP_CLI_OPTION_SAVE_BEST_ONLY: flags->save_best_only = 1; return 1;
    case SP_CLI_OPTION_SAVE_WEIGHTS_ONLY: flags->save_weights_only = 1; return 1;
    case SP_CLI_OPTION_SAVE_FREQ: return parse_frequency(argument, &flags->save_freq);
    case SP_CLI_OPTION_MAX_TO_KEEP: return parse_count(argument, &flags->max_to_keep);
    case SP_CLI_OPTION_PATIENCE: return parse_count(argument, &flags->early_stopping_patience);
    case SP_CLI_OPTION_STOPPING_MONITOR: flags->early_stopping_monitor = argument; return 1;
    case SP_CLI_OPTION_MIN_DELTA: return sp_cli_parse_double(argument, &flags->min_delta) && flags->min_delta >= 0;
    case SP_CLI_OPTION_START_FROM_EPOCH: return parse_count(argument, &flags->start_from_epoch);
    case SP_CLI_OPTION_RESTORE_BEST: flags->restore_best_weights = 1; return 1;
    case SP_CLI_OPTION_BACKUP_DIR: flags->backup_dir = argument; return 1;
    case SP_CLI_OPTION_BACKUP_FREQ: return parse_frequency(argument, &flags->backup_freq);
    case SP_CLI_OPTION_KEEP_BACKUP: flags->keep_backup = 1; return 1;
    case SP_CLI_OPTION_BACKUP_ASYNC: flags->backup_async = 1; return 1;
    case SP_CLI_OPTION_REGISTRY: flags->registry_url = argument; return 1;
  }
  return -2;
}

int sp_cli_saving_option(const char *command, int option, const char *argument, sp_cli_saving_flags *flags) {
  int stored = store_option(option, argument, flags);
  if (stored == -2) return 0;
  if (stored == 0) {
    sp_cli_usage_error(command, "'%s' is not a valid value for this option", argument ? argument : "");
    return -1;
  }
  return 1;
}

/* ---- setting up ---- */

static const char *default_monitor(const sp_cli_saving_flags *flags, int validating) {
  return flags->monitor ? flags->monitor : validating ? "val_loss" : "loss";
}

static int is_manager_directory(const char *checkpoint) {
  return sp_path_has_suffix(checkpoint, "/") || sp_is_directory(checkpoint);
}

/* callback is read after made was computed (the constructor fills it). */
static sp_status add_callback(sp_cli_saving *saving, sp_status made, sp_callback *const *callback) {
  SP_TRY(made);
  saving->callbacks[saving->callback_count++] = *callback;
  return SP_OK;
}

static sp_status add_early_stopping(const sp_cli_saving_flags *flags, int validating, int verbose, sp_cli_saving *saving) {
  if (flags->early_stopping_patience < 0) return SP_OK;
  sp_early_stopping_options options = sp_early_stopping_defaults();
  options.monitor = flags->early_stopping_monitor ? flags->early_stopping_monitor : default_monitor(flags, validating);
  options.patience = flags->early_stopping_patience;
  options.min_delta = flags->min_delta;
  options.mode = flags->mode;
  options.start_from_epoch = flags->start_from_epoch;
  options.restore_best_weights = flags->restore_best_weights;
  options.verbose = verbose;
  sp_callback *callback = NULL;
  return add_callback(saving, sp_early_stopping(&options, &callback), &callback);
}

static sp_status add_model_checkpoint(const sp_cli_saving_flags *flags, int validating, int verbose,
                                      sp_cli_saving *saving) {
  if (!flags->checkpoint) return SP_OK;
  sp_model_checkpoint_options options = sp_model_checkpoint_defaults();
  options.monitor = default_monitor(flags, validating);
  options.mode = flags->mode;
  options.save_best_only = flags->save_best_only;
  options.save_weights_only = flags->save_weights_only;
  options.save_freq = flags->save_freq;
  options.verbose = verbose;
  options.registry = saving->registry;
  options.registry_run_id = saving->run_id;
  if (is_manager_directory(flags->checkpoint)) {
    sp_checkpoint_manager_options manager = sp_checkpoint_manager_defaults();
    if (flags->max_to_keep >= 0) manager.max_to_keep = flags->max_to_keep;
    manager.registry = saving->registry;
    manager.registry_run_id = saving->run_id;
    SP_TRY(sp_checkpoint_manager_open(flags->checkpoint, &manager, &saving->manager));
    options.manager = saving->manager;
  } else {
    options.filepath = flags->checkpoint;
  }
  sp_callback *callback = NULL;
  return add_callback(saving, sp_model_checkpoint(&options, &callback), &callback);
}

static sp_status add_backup(const sp_cli_saving_flags *flags, int verbose, sp_cli_saving *saving) {
  if (!flags->backup_dir) return SP_OK;
  sp_backup_options options = sp_backup_defaults();
  options.backup_dir = flags->backup_dir;
  options.save_freq = flags->backup_freq;
  options.delete_checkpoint = !flags->keep_backup;
  options.async = flags->backup_async;
  options.verbose = verbose;
  options.registry = saving->registry;
  options.registry_run_id = saving->run_id;
  sp_callback *callback = NULL;
  return add_callback(saving, sp_backup_and_restore(&options, &callback), &callback);
}

static sp_status begin_run(const sp_cli_saving_flags *flags, int argc, char **argv, const char *hyperparameters,
                           sp_cli_saving *saving) {
  if (flags->registry_url) SP_TRY(sp_registry_open(flags->registry_url, &saving->registry));
  else SP_TRY(sp_registry_open_default(&saving->registry));
  if (!saving->registry) return SP_OK;
  char *command_line = sp_registry_join_command_line(argc, argv);
  if (!command_line) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_registry_begin_run(saving->registry, command_line, hyperparameters, &saving->run_id);
  free(command_line);
  return status;
}

sp_status sp_cli_saving_begin(const sp_cli_saving_flags *flags, int argc, char **argv, const char *hyperparameters,
                              int validating, int verbose, sp_cli_saving *saving) {
  *saving = (sp_cli_saving){0};
  if (flags->max_to_keep >= 0 && !(flags->checkpoint && is_manager_directory(flags->checkpoint)))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "--max-to-keep applies to a checkpoint directory: give --checkpoint DIR/");
  SP_TRY(begin_run(flags, argc, argv, hyperparameters, saving));
  SP_TRY(add_early_stopping(flags, validating, verbose, saving));
  SP_TRY(add_model_checkpoint(flags, validating, verbose, saving));
  return add_backup(flags, verbose, saving);
}

/* ---- finishing ---- */

static sp_status save_final(const sp_cli_saving_flags *flags, const sp_cli_saving *saving, const sp_model *model,
                            const sp_logs *final_logs) {
  const char *path = flags->save_path;
  SP_TRY(sp_error_context(sp_save_trained(model, path, flags->save_weights_only), "saving the trained model to '%s'", path));
  return sp_record_saved_artifact(saving->registry, saving->run_id, path, final_logs);
}

static char *logs_text(const sp_logs *logs) {
  json_object *root = sp_cli_logs_json(logs);
  char *text = root ? sp_json_dumps(root, 0) : NULL;
  json_object_put(root);
  return text;
}

sp_status sp_cli_saving_end(const sp_cli_saving_flags *flags, sp_cli_saving *saving, const sp_model *model,
                            sp_status fit_status, const sp_logs *final_logs) {
  sp_status status = fit_status;
  if (status == SP_OK && flags->save_path) status = save_final(flags, saving, model, final_logs);
  for (int i = 0; i < saving->callback_count; i++) sp_callback_free(saving->callbacks[i]);
  saving->callback_count = 0;
  if (saving->manager) {
    sp_status closed = sp_checkpoint_manager_close(saving->manager);
    if (status == SP_OK) status = closed;
    saving->manager = NULL;
  }
  char message[1024] = "";
  if (status != SP_OK) snprintf(message, sizeof message, "%s", sp_last_error()); /* the registry may reset it */
  if (saving->registry && saving->run_id) {
    char *metrics = status == SP_OK ? logs_text(final_logs) : NULL;
    sp_status ended = sp_registry_end_run(saving->registry, saving->run_id, status == SP_OK ? "completed" : "failed",
                                          metrics);
    free(metrics);
    if (ended != SP_OK) fprintf(stderr, "savepoint: warning: ending the registry run failed: %s\n", sp_last_error());
  }
  sp_registry_close(saving->registry);
  saving->registry = NULL;
  return status == SP_OK ? SP_OK : sp_fail(status, "%s", message);
}
