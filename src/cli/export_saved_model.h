/* export_saved_model.h — the SavedModel half of `savepoint convert MODEL DIR --format savedmodel`
 * and of `savepoint demo`'s last step, for the commands that own those (convert.c, demo.c) to call.
 */
#ifndef SP_CLI_EXPORT_SAVED_MODEL_H
#define SP_CLI_EXPORT_SAVED_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "savepoint/model.h"

/* The options this part reads; convert passes its whole argv and skips these when it sees them. */
#define SP_CLI_EXPORT_OPTIONS_HELP                                                                     \
  "  --version N                  SavedModel: write DIR/N/ (TF Serving's layout), never overwriting\n" \
  "  --signature-name NAME        SavedModel: key of the default signature (default serving_default)\n" \
  "  --sequence-length T          SavedModel: time steps of recurrent models whose input length is\n"  \
  "                               unknown (recurrent layers are unrolled over a fixed length)\n"        \
  "  --replace                    SavedModel without --version: replace an existing DIR\n"

/* 1 when argv[index] is one of the options above (*takes_value: it is followed by a value unless it
 * has "=value"). */
int sp_cli_is_export_option(const char *argument, int *takes_value);

/* Exports model to directory with the options found in argv (others are ignored), then prints where
 * it went and how to serve and query it. Returns the exit status (0, 1, or 2 for a bad option). */
int sp_cli_export_saved_model(const char *command, const sp_model *model, const char *directory, int argc,
                              char **argv);

/* Prints the tensorflow_model_server (or `savepoint serve`) command that serves base_path as
 * model_name, and a curl that sends it one all-zero example of the model's inputs. */
void sp_cli_print_serving_commands(FILE *out, const sp_model *model, const char *base_path, const char *model_name,
                                   const char *signature_name);

#endif
