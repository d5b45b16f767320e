/* predict.c — `savepoint predict MODEL DATA`: the model's outputs for every sample, as JSON
 * (TensorFlow Serving's {"predictions": …} shape) or float32 .npy files, one per output
 * (Y.npy, Y_1.npy, …). MODEL is loaded by cli/model_loading.h. */
#include <getopt.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/model_loading.h"
#include "cli/training_data.h"
#include "cli/training_output.h"
#include "core/file.h"
#include "core/memory.h"
#include "core/npy.h"

typedef struct predict_options {
  const char *model_path, *output_path;
  sp_cli_data_options data;
  int json, map_weights;
} predict_options;

static void print_help(void) {
  printf("usage: savepoint predict MODEL DATA [--output Y.npy] [--json] [--map-weights]\n\n"
         "Runs MODEL (.keras, .h5, TF.js model.json, a Keras SavedModel or a Keras config JSON) on every\n"
         "sample and prints the outputs as JSON:\n"
         "{\"predictions\": [[…], …]} for one output, {\"outputs\": {\"<name>\": [[…], …]}} for several.\n\n"
         "%s"
         "  --output Y.npy          write float32 .npy files instead (Y.npy, Y_1.npy, … per output)\n"
         "  --json                  print JSON (the default without --output)\n"
         "%s",
         sp_cli_data_help, sp_cli_map_weights_help);
}

enum { OPTION_OUTPUT = 1400, OPTION_JSON, OPTION_MAP_WEIGHTS, OPTION_HELP };

static int parse_arguments(int argc, char **argv, predict_options *options) {
  static const struct option long_options[] = {{"output", required_argument, NULL, OPTION_OUTPUT},
                                               {"json", no_argument, NULL, OPTION_JSON},
                                               {"map-weights", no_argument, NULL, OPTION_MAP_WEIGHTS},
                                               {"help", no_argument, NULL, OPTION_HELP},
                                               SP_CLI_DATA_LONG_OPTIONS,
                                               {NULL, 0, NULL, 0}};
  *options = (predict_options){.data = sp_cli_data_defaults()};
  opterr = 0;
  optind = 1;
  int option;
  while ((option = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
    int handled = sp_cli_data_option("predict", option, optarg, &options->data);
    if (handled < 0) return 2;
    if (handled) continue;
    switch (option) {
      case OPTION_OUTPUT: options->output_path = optarg; break;
      case OPTION_JSON: options->json = 1; break;
      case OPTION_MAP_WEIGHTS: options->map_weights = 1; break;
      case 'h':
      case OPTION_HELP: print_help(); return 0;
      case ':': return sp_cli_usage_error("predict", "%s needs a value", argv[optind - 1]);
      default: return sp_cli_usage_error("predict", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc) return sp_cli_usage_error("predict", "give the MODEL to run");
  if (optind + 1 < argc) return sp_cli_usage_error("predict", "unexpected argument '%s'", argv[optind + 1]);
  options->model_path = argv[optind];
  if (!options->output_path) options->json = 1;
  return sp_cli_data_check("predict", &options->data, 0);
}

/* Nested lists of a float32 tensor's values, sample by sample. */
static json_object *values_json(const float *values, int rank, const int64_t *shape) {
  if (rank == 0) return json_object_new_double(values[0]);
  json_object *list = json_object_new_array();
  int64_t stride = 1;
  for (int d = 1; d < rank; d++) stride *= shape[d];
  for (int64_t i = 0; i < shape[0]; i++) json_object_array_add(list, values_json(values + i * stride, rank - 1, shape + 1));
  return list;
}

static void print_json(const sp_model *model, int count, sp_tensor **outputs) {
  json_object *root = json_object_new_object();
  if (count == 1) {
    json_object_object_add(root, "predictions", values_json(sp_tensor_floats(outputs[0]), outputs[0]->rank, outputs[0]->shape));
  } else {
    json_object *named = json_object_new_object();
    for (int o = 0; o < count; o++)
      json_object_object_add(named, sp_model_output_name(model, o),
                             values_json(sp_tensor_floats(outputs[o]), outputs[o]->rank, outputs[o]->shape));
    json_object_object_add(root, "outputs", named);
  }
  sp_cli_print_json(root);
}

/* Output o goes to path for o = 0, else to path with "_<o>" before its .npy extension. */
static sp_status write_outputs(const char *path, int count, sp_tensor **outputs) {
  size_t stem = sp_path_has_suffix(path, ".npy") ? strlen(path) - 4 : strlen(path);
  for (int o = 0; o < count; o++) {
    char *name = o == 0 ? sp_strdup(path) : sp_strdupf("%.*s_%d%s", (int)stem, path, o, path + stem);
    if (!name) return SP_ERROR_NO_MEMORY;
    sp_status status = sp_npy_write(name, outputs[o]);
    free(name);
    SP_TRY(status);
  }
  return SP_OK;
}

int sp_cli_predict(int argc, char **argv) {
  predict_options options;
  int exit_code = parse_arguments(argc, argv, &options);
  if (exit_code >= 0) return exit_code;
  sp_model *model = NULL;
  sp_cli_data data = {0};
  sp_tensor **outputs = NULL;
  int count = 0;
  sp_status status = sp_cli_load_model(options.model_path, options.map_weights, &model);
  if (status == SP_OK) status = sp_cli_load_data(&options.data, model, 0, &data);
  if (status == SP_OK) status = sp_model_predict(model, 1, (const sp_tensor *const *)&data.x, &count, &outputs);
  if (status == SP_OK && options.output_path) status = write_outputs(options.output_path, count, outputs);
  if (status == SP_OK && options.json) print_json(model, count, outputs);
  for (int o = 0; o < count; o++) sp_tensor_free(outputs[o]);
  free(outputs);
  sp_cli_data_free(&data);
  sp_model_free(model);
  return sp_cli_report("predict", status);
}
