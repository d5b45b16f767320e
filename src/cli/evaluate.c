/* evaluate.c — `savepoint evaluate MODEL DATA`: the loss and metrics of a model on labelled
 * data, as Keras's model.evaluate reports them. MODEL is loaded by cli/model_loading.h. */
#include <getopt.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/compile_flags.h"
#include "cli/model_loading.h"
#include "cli/training_data.h"
#include "cli/training_output.h"
#include "savepoint/train.h"

typedef struct evaluate_options {
  const char *model_path;
  sp_cli_data_options data;
  sp_cli_compile_flags compile;
  int64_t batch_size;
  int verbose, json, map_weights;
} evaluate_options;

static void print_help(void) {
  printf("usage: savepoint evaluate MODEL DATA [options]\n\n"
         "Reports the loss (with regularization) and metrics of MODEL on labelled data, as Keras's\n"
         "model.evaluate does. MODEL is any model file savepoint reads (.keras, .h5, TF.js model.json,\n"
         "a Keras SavedModel) or a Keras model config JSON.\n\n"
         "%s%s"
         "  --batch-size N          samples per step (default 32)\n"
         "  --verbose 0|1|2         progress (default 0)\n"
         "  --json                  print {\"loss\": …, \"<metric>\": …}\n"
         "%s",
         sp_cli_data_help, sp_cli_compile_help, sp_cli_map_weights_help);
}

enum { OPTION_BATCH_SIZE = 1300, OPTION_VERBOSE, OPTION_JSON, OPTION_MAP_WEIGHTS, OPTION_HELP };

static int parse_arguments(int argc, char **argv, evaluate_options *options) {
  static const struct option long_options[] = {{"batch-size", required_argument, NULL, OPTION_BATCH_SIZE},
                                               {"verbose", required_argument, NULL, OPTION_VERBOSE},
                                               {"json", no_argument, NULL, OPTION_JSON},
                                               {"map-weights", no_argument, NULL, OPTION_MAP_WEIGHTS},
                                               {"help", no_argument, NULL, OPTION_HELP},
                                               SP_CLI_DATA_LONG_OPTIONS,
                                               SP_CLI_COMPILE_LONG_OPTIONS,
                                               {NULL, 0, NULL, 0}};
  *options = (evaluate_options){.data = sp_cli_data_defaults(), .compile = sp_cli_compile_defaults(), .batch_size = 32};
  opterr = 0;
  optind = 1;
  int option;
  int64_t value;
  while ((option = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
    int handled = sp_cli_data_option("evaluate", option, optarg, &options->data);
    if (!handled) handled = sp_cli_compile_option("evaluate", option, optarg, &options->compile);
    if (handled < 0) return 2;
    if (handled) continue;
    switch (option) {
      case OPTION_BATCH_SIZE:
        if (!sp_cli_parse_int(optarg, &options->batch_size) || options->batch_size == 0)
          return sp_cli_usage_error("evaluate", "--batch-size needs a positive integer, got '%s'", optarg);
        break;
      case OPTION_VERBOSE:
        if (!sp_cli_parse_int(optarg, &value) || value > 2) return sp_cli_usage_error("evaluate", "--verbose takes 0, 1 or 2");
        options->verbose = (int)value;
        break;
      case OPTION_JSON: options->json = 1; break;
      case OPTION_MAP_WEIGHTS: options->map_weights = 1; break;
      case 'h':
      case OPTION_HELP: print_help(); return 0;
      case ':': return sp_cli_usage_error("evaluate", "%s needs a value", argv[optind - 1]);
      default: return sp_cli_usage_error("evaluate", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc) return sp_cli_usage_error("evaluate", "give the MODEL to evaluate");
  if (optind + 1 < argc) return sp_cli_usage_error("evaluate", "unexpected argument '%s'", argv[optind + 1]);
  options->model_path = argv[optind];
  return sp_cli_data_check("evaluate", &options->data, 1);
}

static void print_results(const sp_logs *results, int json) {
  if (json) {
    sp_cli_print_json(sp_cli_logs_json(results));
    return;
  }
  for (int i = 0; i < results->count; i++) printf("%s%s: %.4f", i ? " - " : "", results->entries[i].name, results->entries[i].value);
  printf("\n");
}

int sp_cli_evaluate(int argc, char **argv) {
  evaluate_options options;
  int exit_code = parse_arguments(argc, argv, &options);
  if (exit_code >= 0) return exit_code;
  sp_model *model = NULL;
  sp_cli_data data = {0};
  sp_logs results;
  sp_status status = sp_cli_load_model(options.model_path, options.map_weights, &model);
  if (status == SP_OK) status = sp_cli_compile(model, &options.compile);
  if (status == SP_OK) status = sp_cli_load_data(&options.data, model, 1, &data);
  if (status == SP_OK) {
    sp_evaluate_options evaluate = sp_evaluate_defaults();
    evaluate.batch_size = options.batch_size;
    evaluate.verbose = options.verbose;
    evaluate.progress = options.json ? stderr : stdout;
    status = sp_model_evaluate(model, data.x, data.y, &evaluate, &results);
  }
  if (status == SP_OK) print_results(&results, options.json);
  sp_cli_data_free(&data);
  sp_model_free(model);
  return sp_cli_report("evaluate", status);
}
