/* main.c — dispatch of `savepoint <command> …` to the subcommands listed below. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/saved_model_cli.h"
#include "savepoint/savepoint.h"

/* In the order a user meets them: the tutorial, training, inspecting, converting, serving, auditing. */
static const sp_cli_command commands[] = {
    {"demo", "the save-point tutorial on Fashion-MNIST, end to end", sp_cli_demo},
    {"train", "train a model file or Keras config on IDX, NPY or CSV data; checkpoints, resume", sp_cli_train},
    {"evaluate", "loss and metrics of a model on labelled data", sp_cli_evaluate},
    {"predict", "run a model on data and print or write its outputs", sp_cli_predict},
    {"show", "what a model, weights file, SavedModel or checkpoint holds", sp_cli_show},
    {"run", "run a SavedModel signature on inputs (like saved_model_cli run)", sp_cli_run},
    {"convert", "convert between .keras, .h5, .weights.h5, JSON, TF.js, checkpoints and SavedModel", sp_cli_convert},
    {"ckpt", "checkpoint directories: list, latest, prune", sp_cli_ckpt},
    {"serve", "TF Serving REST API over versioned model directories, with safe hot reload", sp_cli_serve},
    {"verify", "check every checksum and SHA-256 of an artifact and name what is damaged", sp_cli_verify},
    {"manifest", "write the sha256sum-style manifest of an artifact", sp_cli_manifest},
    {"registry", "artifact registry: list, show, history, label, verify, add, gc", sp_cli_registry},
    {NULL, NULL, NULL},
};

int sp_cli_report(const char *command, sp_status status) {
  if (status == SP_OK) return 0;
  fprintf(stderr, "savepoint %s: %s\n", command, sp_last_error());
  return 1;
}

int sp_cli_usage_error(const char *command, const char *format, ...) {
  va_list args;
  fprintf(stderr, "savepoint %s: ", command);
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
  fprintf(stderr, "\n(see 'savepoint %s --help')\n", command);
  return 2;
}

int sp_cli_stdout_is_terminal(void) { return isatty(STDOUT_FILENO); }

static void print_help(FILE *out) {
  fprintf(out,
          "savepoint %s — save, load, checkpoint, convert, inspect, audit and serve TensorFlow/Keras models\n\n"
          "usage: savepoint <command> [options]   (savepoint <command> --help for each)\n\ncommands:\n",
          SP_VERSION);
  for (const sp_cli_command *command = commands; command->name; command++)
    fprintf(out, "  %-10s %s\n", command->name, command->summary);
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    print_help(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("savepoint %s\n", SP_VERSION);
    return 0;
  }
  for (const sp_cli_command *command = commands; command->name; command++)
    if (strcmp(argv[1], command->name) == 0) return command->run(argc - 1, argv + 1);
  fprintf(stderr, "savepoint: unknown command '%s'\n", argv[1]);
  print_help(stderr);
  return 2;
}
