/* convert.c — `savepoint convert IN OUT`: between .keras, legacy .h5, .weights.h5, legacy
 * weights-only .h5, architecture JSON and TF.js, and to a SavedModel (`--format savedmodel`,
 * optionally as TF Serving's version directory OUT/N/). A Keras SavedModel is read like any
 * other input.
 *
 * IN is read as what it holds (sp_probe), not as what its name says, so the command a load's
 * mismatch message suggests works on the misnamed file. OUT follows Keras's path rule unless
 * --format says otherwise. A weights-only IN needs the architecture from --architecture.
 */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/export_saved_model.h"
#include "cli/recording.h"
#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "nn/model.h"
#include "savepoint/io.h"

static const char command[] = "convert";

static const char usage[] =
    "usage: savepoint convert IN OUT [--format FORMAT] [--architecture ARCH] [--no-optimizer]\n"
    "                         [--weight_shard_size_bytes N] [--keras_version 2|3] [--json]\n"
    "       savepoint convert IN DIR --format savedmodel [--version N] [--signature-name NAME]\n"
    "\n"
    "Converts a model between Keras, TensorFlow.js and SavedModel formats. IN is read as what it\n"
    "holds (a Keras SavedModel too),\n"
    "whatever its name; OUT is written in the format its name says, as Keras decides:\n"
    "  *.keras         Keras 3 archive             *.h5, *.hdf5   legacy Keras HDF5 model\n"
    "  *.weights.h5    Keras 3 weights only        *.json         architecture (model.to_json())\n"
    "  DIR, model.json TensorFlow.js layers model (model.json + group1-shardNofM.bin); a new\n"
    "                  name without an extension is taken as a TF.js directory\n"
    "\n"
    "  --format F                   write F instead: keras, h5, weights-h5, legacy-weights-h5, json, tfjs,\n"
    "                               ckpt (the weights and optimizer state as a TF checkpoint prefix),\n"
    "                               savedmodel (a SavedModel TensorFlow Serving serves; options below)\n"
    "  --architecture ARCH          IN holds weights only: build the model from ARCH (any model file)\n"
    "  --no-optimizer               leave the optimizer state and training config out\n"
    "  --weight_shard_size_bytes N  TF.js shard size (default 4194304)\n"
    "  --keras_version 2|3          layout of a JSON architecture (default 3)\n"
    "  --registry URL               record the conversion (source as parent) in this registry\n"
    "                               (default $SAVEPOINT_REGISTRY; none: nothing is recorded)\n"
    "  --json                       print what was done as JSON\n"
    SP_CLI_EXPORT_OPTIONS_HELP;

typedef struct convert_options {
  const char *input, *output, *architecture, *registry;
  sp_save_options save;
  sp_export_options export;
  int json, export_options_given;
} convert_options;

static int parse_arguments(int argc, char **argv, convert_options *options) {
  memset(options, 0, sizeof *options);
  options->save = sp_save_defaults();
  for (int i = 1; i < argc; i++) {
    const char *argument = argv[i];
    const char *value = NULL;
    if (strcmp(argument, "--help") == 0 || strcmp(argument, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (strcmp(argument, "--json") == 0) {
      options->json = 1;
      continue;
    }
    if (strcmp(argument, "--no-optimizer") == 0) {
      options->save.include_optimizer = 0;
      continue;
    }
    int takes_value;
    if (sp_cli_is_export_option(argument, &takes_value)) { /* read by sp_cli_parse_export_options */
      options->export_options_given = 1;
      i += takes_value;
      continue;
    }
    if (strncmp(argument, "--", 2) == 0) {
      const char *equals = strchr(argument, '=');
      size_t length = equals ? (size_t)(equals - argument) : strlen(argument);
      const char *names[] = {"--format", "--architecture", "--weight_shard_size_bytes", "--keras_version", "--registry"};
      int known = -1;
      for (int k = 0; k < 5; k++)
        if (strlen(names[k]) == length && strncmp(argument, names[k], length) == 0) known = k;
      if (known < 0) return sp_cli_usage_error(command, "unknown option '%s'", argument);
      if (equals) value = equals + 1;
      else if (++i < argc) value = argv[i];
      else return sp_cli_usage_error(command, "%s needs a value", names[known]);
      if (known == 0 && sp_format_from_name(value, &options->save.format) != SP_OK)
        return sp_cli_usage_error(command, "%s", sp_last_error());
      if (known == 1) options->architecture = value;
      if (known == 4) options->registry = value;
      if (known == 2) {
        char *end;
        unsigned long long bytes = strtoull(value, &end, 10);
        if (*end || bytes == 0) return sp_cli_usage_error(command, "--weight_shard_size_bytes needs a positive integer");
        options->save.tfjs_shard_bytes = bytes;
      }
      if (known == 3) {
        if (strcmp(value, "2") != 0 && strcmp(value, "3") != 0)
          return sp_cli_usage_error(command, "--keras_version is 2 or 3");
        options->save.keras_major = value[0] - '0';
      }
      continue;
    }
    if (!options->input) options->input = argument;
    else if (!options->output) options->output = argument;
    else return sp_cli_usage_error(command, "expected IN and OUT, got a third path '%s'", argument);
  }
  if (!options->input || !options->output) return sp_cli_usage_error(command, "expected IN and OUT");
  options->export = sp_export_defaults();
  int code = sp_cli_parse_export_options(command, argc, argv, &options->export);
  if (code) return code;
  if (options->export_options_given && options->save.format != SP_FORMAT_SAVED_MODEL)
    return sp_cli_usage_error(command, "--version, --signature-name, --sequence-length and --replace go with --format savedmodel");
  return -1;
}

static int weights_only(sp_format format) {
  return format == SP_FORMAT_WEIGHTS_H5 || format == SP_FORMAT_LEGACY_WEIGHTS_H5 || format == SP_FORMAT_CHECKPOINT;
}

/* Loads IN by its content; a weights file gets its architecture from --architecture. */
static sp_status load_input(const convert_options *options, const sp_probe_info *info, sp_model **model) {
  sp_load_options load = sp_load_defaults();
  if (info->has_model && !options->architecture) {
    load.format = info->format;
    return sp_load(info->resolved_path, &load, model);
  }
  if (!options->architecture)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "'%s' is %s and holds no architecture: give one with --architecture ARCH (a .json, .keras or .h5)",
                   options->input, info->description);
  SP_TRY(sp_load(options->architecture, NULL, model));
  load.format = info->format;
  sp_status status = sp_load_weights(*model, info->resolved_path, &load);
  if (status != SP_OK) {
    sp_model_free(*model);
    *model = NULL;
  }
  return status;
}

/* Writes the model as OUT says; *written is the path written (OUT, or OUT/N for a version). */
static sp_status write_output(const convert_options *options, const sp_model *model, char **written) {
  *written = NULL;
  sp_status status;
  if (options->save.format == SP_FORMAT_SAVED_MODEL) {
    status = sp_export_saved_model(model, options->output, &options->export);
    if (status == SP_OK && !(*written = sp_export_path(options->output, &options->export))) status = SP_ERROR_NO_MEMORY;
    return status;
  }
  status = weights_only(options->save.format) ? sp_save_weights(model, options->output, &options->save)
                                              : sp_save(model, options->output, &options->save);
  if (status == SP_OK && !(*written = sp_strdup(options->output))) status = SP_ERROR_NO_MEMORY;
  return status;
}

static sp_artifact_kind artifact_kind(sp_format format) {
  if (weights_only(format)) return SP_ARTIFACT_WEIGHTS;
  return format == SP_FORMAT_SAVED_MODEL || format == SP_FORMAT_TFJS ? SP_ARTIFACT_EXPORT : SP_ARTIFACT_MODEL;
}

/* Records the conversion: the source (found, or recorded now) and the output as its child. */
static sp_status record(const convert_options *options, int argc, char **argv, const sp_probe_info *output,
                        const char *written, const sp_model *model) {
  sp_cli_recorder recorder;
  SP_TRY(sp_cli_recorder_open(&recorder, options->registry, argc, argv, NULL));
  int versioned = options->save.format == SP_FORMAT_SAVED_MODEL && options->export.version > 0;
  sp_cli_recording recording = {.path = written, .kind = artifact_kind(output->format), .model = model,
                                .name = versioned ? sp_path_basename(options->output) : NULL,
                                .version = versioned ? options->export.version : 0};
  sp_status status = sp_cli_record_source(&recorder, options->input, &recording.parent_id);
  if (status == SP_OK) status = sp_cli_record(&recorder, &recording, NULL);
  sp_cli_recorder_close(&recorder, status, NULL);
  return status;
}

static void print_result(const convert_options *options, const sp_probe_info *input, const sp_probe_info *output,
                         const char *written, const sp_model *model) {
  if (options->json) {
    json_object *root = json_object_new_object();
    json_object_object_add(root, "input", json_object_new_string(options->input));
    json_object_object_add(root, "input_format", json_object_new_string(sp_format_name(input->format)));
    json_object_object_add(root, "output", json_object_new_string(written));
    json_object_object_add(root, "output_format", json_object_new_string(sp_format_name(output->format)));
    char *text = sp_json_dumps(root, 0);
    json_object_put(root);
    if (text) puts(text);
    free(text);
    return;
  }
  printf("%s (%s) -> %s (%s)\n", options->input, input->description, written, output->description);
  if (options->save.format == SP_FORMAT_SAVED_MODEL && options->export.version > 0) {
    const char *name = sp_path_basename(options->output);
    sp_cli_print_serving_commands(stdout, model, options->output, *name ? name : "model", options->export.signature_name);
  }
}

int sp_cli_convert(int argc, char **argv) {
  convert_options options;
  int exit_code = parse_arguments(argc, argv, &options);
  if (exit_code >= 0) return exit_code;
  sp_probe_info input;
  sp_status status = sp_probe(options.input, &input);
  if (status != SP_OK) return sp_cli_report(command, status);
  sp_model *model = NULL;
  status = load_input(&options, &input, &model);
  if (status != SP_OK) return sp_cli_report(command, status);
  /* A new path without an extension is a TF.js directory (what tensorflowjs_converter writes). */
  const char *base = strrchr(options.output, '/') ? strrchr(options.output, '/') + 1 : options.output;
  if (options.save.format == SP_FORMAT_AUTO && !strchr(base, '.')) options.save.format = SP_FORMAT_TFJS;
  char *written = NULL;
  sp_probe_info output;
  status = write_output(&options, model, &written);
  if (status == SP_OK) status = sp_probe(written, &output);
  if (status == SP_OK) status = record(&options, argc, argv, &output, written, model);
  if (status == SP_OK) print_result(&options, &input, &output, written, model);
  free(written);
  sp_model_free(model);
  return sp_cli_report(command, status);
}
