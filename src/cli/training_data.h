/* training_data.h — the data flags shared by train, evaluate and predict, and loading them.
 *
 *   --data IMAGES[,LABELS]   IDX files, gzip or raw (MNIST's format); u8 values are scaled by
 *                            --scale (default 1/255) into float32
 *   --x X.npy [--y Y.npy]    NumPy arrays (core/npy.h)
 *   --csv FILE               numeric CSV; --label-column N|NAME picks the label column (default:
 *                            the last for train/evaluate, none for predict), --header/--no-header
 *                            (default: detected)
 *   --samples N              use only the first N samples
 * Inputs are reshaped to the model's input shape when only the layout differs (28x28 images
 * for a 784-wide input).
 */
#ifndef SP_CLI_TRAINING_DATA_H
#define SP_CLI_TRAINING_DATA_H

#include <getopt.h>
#include <stdint.h>

#include "savepoint/model.h"
#include "savepoint/tensor.h"

typedef struct sp_cli_data_options {
  const char *idx;          /* "IMAGES[,LABELS]" */
  const char *x_path, *y_path;
  const char *csv;
  const char *label_column; /* index or header name */
  int csv_header;           /* -1 detect, 0, 1 */
  int64_t samples;          /* 0 = all */
  double scale;
} sp_cli_data_options;

typedef struct sp_cli_data {
  sp_tensor *x, *y; /* y is NULL when labels were not asked for */
} sp_cli_data;

/* Option codes (getopt_long values) of the data flags, and their table entries. */
enum {
  SP_CLI_OPTION_DATA = 1000,
  SP_CLI_OPTION_X,
  SP_CLI_OPTION_Y,
  SP_CLI_OPTION_CSV,
  SP_CLI_OPTION_LABEL_COLUMN,
  SP_CLI_OPTION_HEADER,
  SP_CLI_OPTION_NO_HEADER,
  SP_CLI_OPTION_SAMPLES,
  SP_CLI_OPTION_SCALE
};
#define SP_CLI_DATA_LONG_OPTIONS                                        \
  {"data", required_argument, NULL, SP_CLI_OPTION_DATA},                \
      {"x", required_argument, NULL, SP_CLI_OPTION_X},                  \
      {"y", required_argument, NULL, SP_CLI_OPTION_Y},                  \
      {"csv", required_argument, NULL, SP_CLI_OPTION_CSV},              \
      {"label-column", required_argument, NULL, SP_CLI_OPTION_LABEL_COLUMN}, \
      {"header", no_argument, NULL, SP_CLI_OPTION_HEADER},              \
      {"no-header", no_argument, NULL, SP_CLI_OPTION_NO_HEADER},        \
      {"samples", required_argument, NULL, SP_CLI_OPTION_SAMPLES},      \
      {"scale", required_argument, NULL, SP_CLI_OPTION_SCALE}

/* The help lines of the data flags. */
extern const char sp_cli_data_help[];

sp_cli_data_options sp_cli_data_defaults(void);
/* Handles one getopt_long result: 1 when it was a data flag (stored), 0 when it was not, and
 * -1 (after printing a usage error for command) when its argument is malformed. */
int sp_cli_data_option(const char *command, int option, const char *argument, sp_cli_data_options *options);
/* Checks that exactly one source was given; prints a usage error and returns 2, or returns -1. */
int sp_cli_data_check(const char *command, const sp_cli_data_options *options, int need_labels);
/* Loads the data for model (labels only when need_labels). */
sp_status sp_cli_load_data(const sp_cli_data_options *options, const sp_model *model, int need_labels, sp_cli_data *data);
void sp_cli_data_free(sp_cli_data *data);

/* Parses a whole non-negative decimal integer; 0 on malformed text. */
int sp_cli_parse_int(const char *text, int64_t *value);
int sp_cli_parse_double(const char *text, double *value);

#endif
