/* train_saving.h — the saving flags of `savepoint train`: the final model (--save), ModelCheckpoint
 * (--checkpoint …), EarlyStopping (--early-stopping-…), BackupAndRestore (--backup-dir) and the
 * registry run that records all of them (--registry or $SAVEPOINT_REGISTRY). */
#ifndef SP_CLI_TRAIN_SAVING_H
#define SP_CLI_TRAIN_SAVING_H

#include <getopt.h>
#include <stdint.h>

#include "savepoint/checkpoint.h"
#include "savepoint/registry.h"
#include "savepoint/train.h"

typedef struct sp_cli_saving_flags {
  const char *save_path;         /* --save */
  const char *checkpoint;        /* --checkpoint: a file template, or DIR/ for a checkpoint manager */
  const char *monitor;           /* --monitor (default val_loss with validation, else loss) */
  sp_monitor_mode mode;          /* --mode */
  int save_best_only, save_weights_only;
  int64_t save_freq;             /* --save-freq: 0 = epoch */
  int max_to_keep;               /* --max-to-keep (DIR/ form); -1: the manager's default */
  int early_stopping_patience;   /* --early-stopping-patience; -1: no EarlyStopping */
  const char *early_stopping_monitor;
  double min_delta;
  int start_from_epoch;
  int restore_best_weights;
  const char *backup_dir;        /* --backup-dir */
  int64_t backup_freq;           /* --backup-freq: 0 = epoch */
  int keep_backup;               /* --keep-backup: do not delete it when training ends */
  int backup_async;              /* --backup-async: write backups on a writer thread */
  const char *registry_url;      /* --registry */
} sp_cli_saving_flags;

enum {
  SP_CLI_OPTION_SAVE = 1300, SP_CLI_OPTION_CHECKPOINT, SP_CLI_OPTION_MONITOR, SP_CLI_OPTION_MODE,
  SP_CLI_OPTION_SAVE_BEST_ONLY, SP_CLI_OPTION_SAVE_WEIGHTS_ONLY, SP_CLI_OPTION_SAVE_FREQ, SP_CLI_OPTION_MAX_TO_KEEP,
  SP_CLI_OPTION_PATIENCE, SP_CLI_OPTION_STOPPING_MONITOR, SP_CLI_OPTION_MIN_DELTA, SP_CLI_OPTION_START_FROM_EPOCH,
  SP_CLI_OPTION_RESTORE_BEST, SP_CLI_OPTION_BACKUP_DIR, SP_CLI_OPTION_BACKUP_FREQ, SP_CLI_OPTION_KEEP_BACKUP,
  SP_CLI_OPTION_BACKUP_ASYNC, SP_CLI_OPTION_REGISTRY
};

#define SP_CLI_SAVING_LONG_OPTIONS                                                          \
  {"save", required_argument, NULL, SP_CLI_OPTION_SAVE},                                    \
      {"checkpoint", required_argument, NULL, SP_CLI_OPTION_CHECKPOINT},                    \
      {"monitor", required_argument, NULL, SP_CLI_OPTION_MONITOR},                          \
      {"mode", required_argument, NULL, SP_CLI_OPTION_MODE},                                \
      {"save-best-only", no_argument, NULL, SP_CLI_OPTION_SAVE_BEST_ONLY},                  \
      {"save-weights-only", no_argument, NULL, SP_CLI_OPTION_SAVE_WEIGHTS_ONLY},            \
      {"save-freq", required_argument, NULL, SP_CLI_OPTION_SAVE_FREQ},                      \
      {"max-to-keep", required_argument, NULL, SP_CLI_OPTION_MAX_TO_KEEP},                  \
      {"early-stopping-patience", required_argument, NULL, SP_CLI_OPTION_PATIENCE},         \
      {"early-stopping-monitor", required_argument, NULL, SP_CLI_OPTION_STOPPING_MONITOR},  \
      {"min-delta", required_argument, NULL, SP_CLI_OPTION_MIN_DELTA},                      \
      {"start-from-epoch", required_argument, NULL, SP_CLI_OPTION_START_FROM_EPOCH},        \
      {"restore-best-weights", no_argument, NULL, SP_CLI_OPTION_RESTORE_BEST},              \
      {"backup-dir", required_argument, NULL, SP_CLI_OPTION_BACKUP_DIR},                    \
      {"backup-freq", required_argument, NULL, SP_CLI_OPTION_BACKUP_FREQ},                  \
      {"keep-backup", no_argument, NULL, SP_CLI_OPTION_KEEP_BACKUP},                        \
      {"backup-async", no_argument, NULL, SP_CLI_OPTION_BACKUP_ASYNC},                      \
      {"registry", required_argument, NULL, SP_CLI_OPTION_REGISTRY}

extern const char sp_cli_saving_help[];

sp_cli_saving_flags sp_cli_saving_defaults(void);
/* 1 when option was a saving flag (stored), 0 when not, -1 after a usage error (printed). */
int sp_cli_saving_option(const char *command, int option, const char *argument, sp_cli_saving_flags *flags);

/* What the flags set up for one fit: the callbacks (in the order fit must run them, the backup
 * last), the checkpoint manager and the registry run. */
typedef struct sp_cli_saving {
  sp_registry *registry;
  int64_t run_id;
  sp_checkpoint_manager *manager;
  sp_callback *callbacks[4];
  int callback_count;
} sp_cli_saving;

/* Opens the registry (flag, else $SAVEPOINT_REGISTRY) and begins a run with argv and
 * hyperparameters (a JSON object text); builds the callbacks. validating: fit has validation data. */
sp_status sp_cli_saving_begin(const sp_cli_saving_flags *flags, int argc, char **argv, const char *hyperparameters,
                              int validating, int verbose, sp_cli_saving *saving);
/* After fit: saves the final model (--save) and records it, ends the registry run with status
 * ("completed" / "failed") and the final logs, and releases everything. */
sp_status sp_cli_saving_end(const sp_cli_saving_flags *flags, sp_cli_saving *saving, const sp_model *model,
                            sp_status fit_status, const sp_logs *final_logs);

#endif
