/* saved_model_cli.h — the SavedModel subcommands modelled on TensorFlow's saved_model_cli:
 * `show` for a SavedModel directory (wired in by the show dispatcher) and `run`.
 */
#ifndef SP_CLI_SAVED_MODEL_CLI_H
#define SP_CLI_SAVED_MODEL_CLI_H

/* `savepoint show DIR [--all] [--tag_set T] [--signature_def S] [--json]`. argv holds the options
 * (argv[0] may be the command name "show"); an argument equal to directory is skipped, so a
 * dispatcher may pass its argv unchanged. directory may be NULL when --dir is given. */
int sp_cli_show_saved_model(const char *directory, int argc, char **argv);

/* `savepoint run DIR --tag_set serve --signature_def NAME --input_exprs ... | --inputs ...`. */
int sp_cli_run(int argc, char **argv);

/* Matches "--name value" (consuming argv[*index + 1]) or "--name=value" at argv[*index].
 * Returns 1 and sets *value on a match, 0 when argv[*index] is another argument, -1 when the
 * value is missing. */
int sp_cli_option_value(int argc, char **argv, int *index, const char *name, const char **value);

#endif
