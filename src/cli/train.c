/* train.c — `savepoint train`: trains a model described by a Keras config on IDX, NPY or CSV
 * data, with Keras's fit options, and writes its History.
 *
 * The steps are: load the model (cli/model_loading.h), seed it, compile (its compile_config and
 * the compile flags), load the data, fit, then write what was asked for (history, CSV log). The
 * options struct is where the saving flags (--save, --checkpoint …) of the format and checkpoint
 * work slot in, acted on after fit in write_results().
 */
#include <getopt.h>
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/compile_flags.h"
#include "cli/model_loading.h"
#include "cli/training_data.h"
#include "cli/training_output.h"
#include "cli/train_saving.h"
#include "core/json.h"
#include "savepoint/train.h"
#include "train/loop.h"

typedef struct train_options {
  const char *model_path;
  sp_cli_data_options data;
  sp_cli_compile_flags compile;
  int epochs, initial_epoch, verbose, shuffle, json;
  int64_t batch_size, seed;
  double validation_split;
  const char *history_path, *csv_log_path;
  sp_cli_saving_flags saving; /* --save, --checkpoint, --early-stopping-…, --backup-dir, --registry */
} train_options;

static void print_help(void) {
  printf("usage: savepoint train --model CONFIG.json DATA [options]\n\n"
         "Trains the model that a Keras config JSON describes (config.json of a .keras archive or\n"
         "model.to_json(), Keras 2 or 3), as Keras's model.fit does, and prints its progress.\n\n"
         "  --model PATH            the model config (its compile_config, if any, is used)\n"
         "%s%s"
         "fit:\n"
         "  --epochs N              epochs to train (default 1)\n"
         "  --initial-epoch N       epoch to start from (default 0)\n"
         "  --batch-size N          samples per step (default 32)\n"
         "  --validation-split F    fraction of the data, taken from its end, to validate on\n"
         "  --seed N                seed of the initial weights, shuffling and dropout\n"
         "  --no-shuffle            keep the samples in order\n"
         "  --verbose 0|1|2         0 silent, 1 progress bar (one line per epoch off a terminal),\n"
         "                          2 one line per epoch (default 1)\n"
         "output:\n"
         "  --history PATH          write the History as JSON ({\"loss\": [...], ...}) after every epoch\n"
         "  --csv-log PATH          write Keras's CSVLogger file\n"
         "  --json                  print a JSON summary (progress then goes to stderr)\n"
         "%s",
         sp_cli_data_help, sp_cli_compile_help, sp_cli_saving_help);
}

enum { OPTION_MODEL = 1200, OPTION_EPOCHS, OPTION_INITIAL_EPOCH, OPTION_BATCH_SIZE, OPTION_VALIDATION_SPLIT,
       OPTION_SEED, OPTION_NO_SHUFFLE, OPTION_VERBOSE, OPTION_HISTORY, OPTION_CSV_LOG, OPTION_JSON, OPTION_HELP };

static int parse_number_option(int option, const char *argument, train_options *options) {
  int64_t value = 0;
  if (option == OPTION_VALIDATION_SPLIT)
    return sp_cli_parse_double(argument, &options->validation_split) && options->validation_split >= 0 &&
           options->validation_split < 1;
  if (!sp_cli_parse_int(argument, &value) || value > INT32_MAX) return 0;
  switch (option) {
    case OPTION_EPOCHS: options->epochs = (int)value; return 1;
    case OPTION_INITIAL_EPOCH: options->initial_epoch = (int)value; return 1;
    case OPTION_BATCH_SIZE: options->batch_size = value; return value > 0;
    case OPTION_SEED: options->seed = value; return 1;
    case OPTION_VERBOSE: options->verbose = (int)value; return value <= 2;
  }
  return 0;
}

static int parse_arguments(int argc, char **argv, train_options *options) {
  static const struct option long_options[] = {
      {"model", required_argument, NULL, OPTION_MODEL},
      {"epochs", required_argument, NULL, OPTION_EPOCHS},
      {"initial-epoch", required_argument, NULL, OPTION_INITIAL_EPOCH},
      {"batch-size", required_argument, NULL, OPTION_BATCH_SIZE},
      {"validation-split", required_argument, NULL, OPTION_VALIDATION_SPLIT},
      {"seed", required_argument, NULL, OPTION_SEED},
      {"no-shuffle", no_argument, NULL, OPTION_NO_SHUFFLE},
      {"verbose", required_argument, NULL, OPTION_VERBOSE},
      {"history", required_argument, NULL, OPTION_HISTORY},
      {"csv-log", required_argument, NULL, OPTION_CSV_LOG},
      {"json", no_argument, NULL, OPTION_JSON},
      {"help", no_argument, NULL, OPTION_HELP},
      SP_CLI_DATA_LONG_OPTIONS,
      SP_CLI_COMPILE_LONG_OPTIONS,
      SP_CLI_SAVING_LONG_OPTIONS,
      {NULL, 0, NULL, 0}};
  *options = (train_options){.data = sp_cli_data_defaults(), .compile = sp_cli_compile_defaults(), .epochs = 1,
                             .saving = sp_cli_saving_defaults(), .verbose = -1, .shuffle = 1, .batch_size = 32,
                             .seed = -1};
  opterr = 0;
  optind = 1;
  int option;
  while ((option = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
    int handled = sp_cli_data_option("train", option, optarg, &options->data);
    if (!handled) handled = sp_cli_compile_option("train", option, optarg, &options->compile);
    if (!handled) handled = sp_cli_saving_option("train", option, optarg, &options->saving);
    if (handled < 0) return 2;
    if (handled) continue;
    switch (option) {
      case OPTION_MODEL: options->model_path = optarg; break;
      case OPTION_NO_SHUFFLE: options->shuffle = 0; break;
      case OPTION_HISTORY: options->history_path = optarg; break;
      case OPTION_CSV_LOG: options->csv_log_path = optarg; break;
      case OPTION_JSON: options->json = 1; break;
      case 'h':
      case OPTION_HELP: print_help(); return 0;
      case ':': return sp_cli_usage_error("train", "%s needs a value", argv[optind - 1]);
      case '?': return sp_cli_usage_error("train", "unknown option '%s'", argv[optind - 1]);
      default:
        if (!parse_number_option(option, optarg, options))
          return sp_cli_usage_error("train", "%s: '%s' is not a valid value", argv[optind - 1], optarg);
    }
  }
  if (optind < argc) return sp_cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
  if (!options->model_path) return sp_cli_usage_error("train", "--model is required");
  return sp_cli_data_check("train", &options->data, 1);
}

typedef struct training_run {
  sp_model *model;
  sp_cli_data data;
  sp_history *history;
  sp_callback *csv_logger, *history_logger;
  sp_cli_saving saving;
  double seconds;
} training_run;

/* The run's hyperparameters for the registry (a JSON object text; caller frees). */
static char *hyperparameters(const train_options *options) {
  json_object *root = json_object_new_object();
  if (!root) return NULL;
  json_object_object_add(root, "epochs", json_object_new_int(options->epochs));
  json_object_object_add(root, "batch_size", json_object_new_int64(options->batch_size));
  json_object_object_add(root, "validation_split", json_object_new_double(options->validation_split));
  json_object_object_add(root, "shuffle", json_object_new_boolean(options->shuffle));
  if (options->seed >= 0) json_object_object_add(root, "seed", json_object_new_int64(options->seed));
  if (options->compile.optimizer) json_object_object_add(root, "optimizer", json_object_new_string(options->compile.optimizer));
  if (!isnan(options->compile.learning_rate))
    json_object_object_add(root, "learning_rate", json_object_new_double(options->compile.learning_rate));
  if (options->compile.loss) json_object_object_add(root, "loss", json_object_new_string(options->compile.loss));
  if (options->compile.metrics) json_object_object_add(root, "metrics", json_object_new_string(options->compile.metrics));
  char *text = sp_json_dumps(root, 0);
  json_object_put(root);
  return text;
}

/* The last epoch's logs, from the History. */
static void final_logs(const sp_history *history, sp_logs *logs) {
  *logs = (sp_logs){0};
  for (int k = 0; history && k < sp_history_key_count(history); k++) {
    int count = 0;
    const double *values = sp_history_values(history, sp_history_key(history, k), &count);
    if (count > 0 && sp_logs_set(logs, sp_history_key(history, k), values[count - 1]) != SP_OK) return;
  }
}

static sp_status fit(const train_options *options, training_run *run) {
  sp_fit_options fit_options = sp_fit_defaults();
  fit_options.epochs = options->epochs;
  fit_options.initial_epoch = options->initial_epoch;
  fit_options.batch_size = options->batch_size;
  fit_options.validation_split = options->validation_split;
  fit_options.shuffle = options->shuffle;
  fit_options.seed = options->seed;
  fit_options.verbose = options->verbose >= 0 ? options->verbose : options->json ? 0 : 1;
  fit_options.progress = options->json ? stderr : stdout;
  /* The loggers first, the saving callbacks after them (BackupAndRestore last). */
  sp_callback *callbacks[2 + sizeof run->saving.callbacks / sizeof *run->saving.callbacks];
  int count = 0;
  if (options->csv_log_path) {
    if (!(run->csv_logger = sp_csv_logger(options->csv_log_path, ',', 0))) return SP_ERROR_NO_MEMORY;
    callbacks[count++] = run->csv_logger;
  }
  if (options->history_path) {
    if (!(run->history_logger = sp_history_logger(options->history_path))) return SP_ERROR_NO_MEMORY;
    callbacks[count++] = run->history_logger;
  }
  for (int i = 0; i < run->saving.callback_count; i++) callbacks[count++] = run->saving.callbacks[i];
  fit_options.callbacks = callbacks;
  fit_options.callback_count = count;
  double start = sp_seconds_now();
  SP_TRY(sp_model_fit(run->model, run->data.x, run->data.y, &fit_options, &run->history));
  run->seconds = sp_seconds_now() - start;
  return SP_OK;
}

static sp_status prepare(const train_options *options, int argc, char **argv, training_run *run) {
  SP_TRY(sp_cli_load_model(options->model_path, 0, &run->model));
  if (options->seed >= 0) sp_model_set_seed(run->model, (uint64_t)options->seed);
  SP_TRY(sp_cli_compile(run->model, &options->compile));
  SP_TRY(sp_cli_load_data(&options->data, run->model, 1, &run->data));
  char *parameters = hyperparameters(options);
  if (!parameters) return SP_ERROR_NO_MEMORY;
  int verbose = options->verbose != 0 && !options->json;
  sp_status status = sp_cli_saving_begin(&options->saving, argc, argv, parameters, options->validation_split > 0,
                                         verbose, &run->saving);
  free(parameters);
  return status;
}

static sp_status train(const train_options *options, int argc, char **argv, training_run *run) {
  sp_status status = prepare(options, argc, argv, run);
  if (status == SP_OK) status = fit(options, run);
  sp_logs last;
  final_logs(run->history, &last);
  status = sp_cli_saving_end(&options->saving, &run->saving, run->model, status, &last);
  return status;
}

static void print_summary(const train_options *options, const training_run *run) {
  int epochs = sp_history_epoch_count(run->history);
  if (!options->json) {
    printf("trained %d epoch%s on %lld samples in %.1fs%s%s\n", epochs, epochs == 1 ? "" : "s",
           (long long)run->data.x->shape[0], run->seconds, options->history_path ? "; history in " : "",
           options->history_path ? options->history_path : "");
    return;
  }
  json_object *summary = json_object_new_object();
  json_object_object_add(summary, "model", json_object_new_string(options->model_path));
  json_object_object_add(summary, "samples", json_object_new_int64(run->data.x->shape[0]));
  json_object_object_add(summary, "epochs", json_object_new_int(epochs));
  json_object_object_add(summary, "seconds", json_object_new_double(run->seconds));
  json_object_object_add(summary, "final", sp_cli_history_json(run->history, 1));
  json_object_object_add(summary, "history", sp_cli_history_json(run->history, 0));
  sp_cli_print_json(summary);
}

int sp_cli_train(int argc, char **argv) {
  train_options options;
  int exit_code = parse_arguments(argc, argv, &options);
  if (exit_code >= 0) return exit_code;
  training_run run = {0};
  sp_status status = train(&options, argc, argv, &run);
  if (status == SP_OK) print_summary(&options, &run);
  sp_callback_free(run.csv_logger);
  sp_callback_free(run.history_logger);
  sp_history_free(run.history);
  sp_cli_data_free(&run.data);
  sp_model_free(run.model);
  return sp_cli_report("train", status);
}
