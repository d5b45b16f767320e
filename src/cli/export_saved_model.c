/* export_saved_model.c — exporting a loaded model as a SavedModel from the command line and telling
 * the user how to serve it (see export_saved_model.h). The option names follow the project's
 * flag style; --signature_name and --sequence_length are accepted too (saved_model_cli spells
 * flags with underscores).
 */
#include "cli/export_saved_model.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/file.h"
#include "savepoint/saved_model.h"

static const char *const valued_options[] = {"--version", "--signature-name", "--signature_name", "--sequence-length",
                                             "--sequence_length"};

int sp_cli_is_export_option(const char *argument, int *takes_value) {
  *takes_value = 0;
  if (strcmp(argument, "--replace") == 0) return 1;
  for (size_t i = 0; i < sizeof valued_options / sizeof *valued_options; i++) {
    size_t length = strlen(valued_options[i]);
    if (strncmp(argument, valued_options[i], length) != 0) continue;
    if (argument[length] == 0) {
      *takes_value = 1;
      return 1;
    }
    if (argument[length] == '=') return 1;
  }
  return 0;
}

static int parse_count(const char *command, const char *name, const char *text, int64_t *value) {
  char *end;
  long long number = strtoll(text, &end, 10);
  if (*text == 0 || *end || number <= 0)
    return sp_cli_usage_error(command, "%s needs a positive integer, got '%s'", name, text);
  *value = number;
  return 0;
}

static int parse_options(const char *command, int argc, char **argv, sp_export_options *options) {
  for (int i = 1; i < argc; i++) {
    int takes_value;
    if (!sp_cli_is_export_option(argv[i], &takes_value)) continue;
    if (strcmp(argv[i], "--replace") == 0) {
      options->replace = 1;
      continue;
    }
    const char *equals = strchr(argv[i], '=');
    const char *value = equals ? equals + 1 : i + 1 < argc ? argv[++i] : NULL;
    if (!value) return sp_cli_usage_error(command, "%s needs a value", argv[i]);
    int code = 0;
    if (strncmp(argv[i], "--version", 9) == 0) code = parse_count(command, "--version", value, &options->version);
    else if (strncmp(argv[i], "--signature", 11) == 0) options->signature_name = value;
    else code = parse_count(command, "--sequence-length", value, &options->sequence_length);
    if (code) return code;
  }
  return 0;
}

int sp_cli_export_saved_model(const char *command, const sp_model *model, const char *directory, int argc,
                              char **argv) {
  sp_export_options options = sp_export_defaults();
  int code = parse_options(command, argc, argv, &options);
  if (code) return code;
  if (options.version > 0 && options.replace)
    return sp_cli_usage_error(command, "--replace does not apply to --version: versions are never overwritten");
  sp_status status = sp_export_saved_model(model, directory, &options);
  if (status != SP_OK) return sp_cli_report(command, status);
  char *written = sp_export_path(directory, &options);
  printf("wrote the SavedModel %s\n", written ? written : directory);
  free(written);
  if (options.version > 0) {
    const char *name = sp_path_basename(directory);
    sp_cli_print_serving_commands(stdout, model, directory, *name ? name : "model", options.signature_name);
  }
  return 0;
}

/* One all-zero example of input `index` (without the batch dimension) as JSON, or NULL when it has
 * more than limit values or an unknown dimension. */
static char *zero_example(const sp_model *model, int index, int64_t limit) {
  int rank;
  int64_t shape[SP_MAX_RANK];
  if (sp_model_input_shape(model, index, &rank, shape) != SP_OK) return NULL;
  int64_t count = 1;
  for (int d = 1; d < rank; d++) {
    if (shape[d] <= 0) return NULL;
    count *= shape[d];
  }
  if (count > limit) return NULL;
  size_t capacity = (size_t)count * (6 + 2 * (size_t)rank) + 16; /* "0.0, " and brackets */
  char *text = malloc(capacity), *out = text;
  if (!text) return NULL;
  int64_t position[SP_MAX_RANK] = {0};
  for (int d = 1; d < rank; d++) *out++ = '[';
  for (int64_t e = 0; e < count; e++) {
    out += sprintf(out, "0.0");
    int d = rank - 1, closed = 0;
    while (d >= 1 && ++position[d] == shape[d]) position[d--] = 0, closed++;
    for (int c = 0; c < closed; c++) *out++ = ']';
    if (e + 1 < count) *out++ = ',', *out++ = ' ';
    for (int c = 0; c < closed && e + 1 < count; c++) *out++ = '[';
  }
  *out = 0;
  return text;
}

void sp_cli_print_serving_commands(FILE *out, const sp_model *model, const char *base_path, const char *model_name,
                                   const char *signature_name) {
  fprintf(out, "\nserve it (TensorFlow Serving, or savepoint's own server):\n");
  fprintf(out, "  tensorflow_model_server --rest_api_port=8501 --model_name=%s --model_base_path=\"$(realpath %s)\"\n",
          model_name, base_path);
  fprintf(out, "  savepoint serve --rest_api_port=8501 --model_name=%s --model_base_path=%s\n", model_name, base_path);
  fprintf(out, "query it:\n  curl -s -X POST http://localhost:8501/v1/models/%s:predict -d '{", model_name);
  if (signature_name && strcmp(signature_name, SP_DEFAULT_SIGNATURE) != 0)
    fprintf(out, "\"signature_name\": \"%s\", ", signature_name);
  int inputs = sp_model_input_count(model);
  if (inputs == 1) {
    char *example = zero_example(model, 0, 64);
    fprintf(out, "\"instances\": [%s]}'\n", example ? example : "…");
    free(example);
    return;
  }
  fprintf(out, "\"inputs\": {");
  for (int i = 0; i < inputs; i++) {
    char *example = zero_example(model, i, 64);
    fprintf(out, "%s\"%s\": [%s]", i ? ", " : "", sp_model_input_name(model, i), example ? example : "…");
    free(example);
  }
  fprintf(out, "}}'\n");
}
