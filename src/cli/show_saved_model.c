/* show_saved_model.c — `savepoint show DIR` for a SavedModel directory, in saved_model_cli's layout
 * (formats/saved_model_describe.c renders it), or as JSON with --json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/saved_model_cli.h"
#include "core/json.h"
#include "formats/saved_model.h"
#include "formats/saved_model_describe.h"

static const char command[] = "show";

static void print_help(void) {
  printf("usage: savepoint show DIR [--all] [--tag_set TAGS [--signature_def KEY]] [--json]\n\n"
         "Inspects a SavedModel directory the way saved_model_cli show does:\n"
         "  (no flags)                   the tag-sets of its MetaGraphDefs\n"
         "  --tag_set serve              the SignatureDef keys of that MetaGraphDef\n"
         "  --tag_set serve --signature_def KEY   its inputs and outputs\n"
         "  --all                        everything, plus the TensorFlow version, fingerprint,\n"
         "                               assets and variables\n"
         "  --json                       the same facts as JSON\n"
         "  --dir DIR                    the SavedModel directory (instead of the positional DIR)\n");
}

int sp_cli_option_value(int argc, char **argv, int *index, const char *name, const char **value) {
  const char *argument = argv[*index];
  size_t length = strlen(name);
  if (strncmp(argument, name, length) != 0) return 0;
  if (argument[length] == '=') {
    *value = argument + length + 1;
    return 1;
  }
  if (argument[length] != '\0') return 0;
  if (*index + 1 >= argc) return -1;
  *value = argv[++*index];
  return 1;
}

static int emit(const sp_saved_model *model, const sp_saved_model_show_options *options, int json) {
  sp_status status;
  if (json) {
    json_object *object;
    if ((status = sp_saved_model_show_json(model, options, &object)) != SP_OK) return sp_cli_report(command, status);
    char *text = sp_json_dumps(object, 2);
    json_object_put(object);
    if (!text) return sp_cli_report(command, SP_ERROR_NO_MEMORY);
    printf("%s\n", text);
    free(text);
    return 0;
  }
  sp_buffer out = {0};
  status = sp_saved_model_show_text(model, options, &out);
  if (status == SP_OK) fwrite(out.data, 1, out.size, stdout);
  sp_buffer_free(&out);
  return sp_cli_report(command, status);
}

int sp_cli_show_saved_model(const char *directory, int argc, char **argv) {
  sp_saved_model_show_options options = {0};
  int json = 0;
  for (int i = 0; i < argc; i++) {
    const char *value = NULL;
    int matched;
    if (i == 0 && strcmp(argv[i], command) == 0) continue;
    if (directory && strcmp(argv[i], directory) == 0) continue;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      print_help();
      return 0;
    }
    if (strcmp(argv[i], "--all") == 0) {
      options.all = 1;
    } else if (strcmp(argv[i], "--json") == 0) {
      json = 1;
    } else if ((matched = sp_cli_option_value(argc, argv, &i, "--tag_set", &value)) != 0) {
      if (matched < 0) return sp_cli_usage_error(command, "--tag_set needs a value (e.g. --tag_set serve)");
      options.tag_set = value;
    } else if ((matched = sp_cli_option_value(argc, argv, &i, "--signature_def", &value)) != 0) {
      if (matched < 0) return sp_cli_usage_error(command, "--signature_def needs a value (e.g. serving_default)");
      options.signature_def = value;
    } else if ((matched = sp_cli_option_value(argc, argv, &i, "--dir", &value)) != 0) {
      if (matched < 0) return sp_cli_usage_error(command, "--dir needs a directory");
      directory = value;
    } else if (!directory && argv[i][0] != '-') {
      directory = argv[i];
    } else {
      return sp_cli_usage_error(command, "unknown option '%s'", argv[i]);
    }
  }
  if (!directory) return sp_cli_usage_error(command, "which SavedModel directory? (savepoint show DIR)");
  if (options.signature_def && !options.tag_set && !options.all && !json)
    return sp_cli_usage_error(command, "--signature_def needs --tag_set (e.g. --tag_set serve)");
  sp_saved_model *model;
  sp_status status = sp_saved_model_read(directory, &model);
  if (status != SP_OK) return sp_cli_report(command, status);
  int exit_code = emit(model, &options, json);
  sp_saved_model_free(model);
  return exit_code;
}
