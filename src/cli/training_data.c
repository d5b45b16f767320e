/* training_data.c — the data flags of train, evaluate and predict (see training_data.h). */
#include "cli/training_data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/memory.h"
#include "core/npy.h"
#include "savepoint/train.h"

enum { NPY_LIMIT = 1 << 30 }; /* no training array beyond 1 GiB */

const char sp_cli_data_help[] =
    "data (one source):\n"
    "  --data IMAGES[,LABELS]  IDX files, gzip or raw (MNIST's format); u8 values become float32\n"
    "                          times --scale (default 1/255)\n"
    "  --x X.npy [--y Y.npy]   NumPy arrays (--scale, if given, applies to X)\n"
    "  --csv FILE              numeric CSV, one sample per line; --label-column N|NAME selects the\n"
    "                          label (default: the last column; for predict: none), --header or\n"
    "                          --no-header (default: detected from the first line)\n"
    "  --samples N             use only the first N samples\n";

sp_cli_data_options sp_cli_data_defaults(void) {
  return (sp_cli_data_options){.csv_header = -1, .scale = NAN};
}

int sp_cli_parse_int(const char *text, int64_t *value) {
  char *end;
  errno = 0;
  long long parsed = strtoll(text, &end, 10);
  if (!*text || *end || errno || parsed < 0) return 0;
  *value = parsed;
  return 1;
}

int sp_cli_parse_double(const char *text, double *value) {
  char *end;
  errno = 0;
  *value = strtod(text, &end);
  return *text && !*end && !errno && isfinite(*value);
}

int sp_cli_data_option(const char *command, int option, const char *argument, sp_cli_data_options *options) {
  switch (option) {
    case SP_CLI_OPTION_DATA: options->idx = argument; return 1;
    case SP_CLI_OPTION_X: options->x_path = argument; return 1;
    case SP_CLI_OPTION_Y: options->y_path = argument; return 1;
    case SP_CLI_OPTION_CSV: options->csv = argument; return 1;
    case SP_CLI_OPTION_LABEL_COLUMN: options->label_column = argument; return 1;
    case SP_CLI_OPTION_HEADER: options->csv_header = 1; return 1;
    case SP_CLI_OPTION_NO_HEADER: options->csv_header = 0; return 1;
    case SP_CLI_OPTION_SAMPLES:
      if (!sp_cli_parse_int(argument, &options->samples) || options->samples == 0) {
        sp_cli_usage_error(command, "--samples needs a positive integer, got '%s'", argument);
        return -1;
      }
      return 1;
    case SP_CLI_OPTION_SCALE:
      if (!sp_cli_parse_double(argument, &options->scale)) {
        sp_cli_usage_error(command, "--scale needs a number, got '%s'", argument);
        return -1;
      }
      return 1;
    default: return 0;
  }
}

int sp_cli_data_check(const char *command, const sp_cli_data_options *options, int need_labels) {
  int sources = (options->idx != NULL) + (options->x_path != NULL) + (options->csv != NULL);
  if (sources != 1)
    return sp_cli_usage_error(command, "give the data with exactly one of --data, --x or --csv");
  if (options->y_path && !options->x_path) return sp_cli_usage_error(command, "--y goes with --x");
  if (need_labels && options->x_path && !options->y_path)
    return sp_cli_usage_error(command, "--x needs --y with the targets");
  if (need_labels && options->idx && !strchr(options->idx, ','))
    return sp_cli_usage_error(command, "--data needs IMAGES,LABELS (two IDX files separated by a comma)");
  return -1;
}

/* ---- sources ---- */

/* IDX values as float32: u8 (or any dtype when --scale is given) times the scale. */
static sp_status read_idx_features(const char *path, double scale, sp_tensor **x) {
  sp_tensor *raw;
  SP_TRY(sp_idx_read(path, 0, 1, &raw));
  double factor = !isnan(scale) ? scale : raw->dtype == SP_UINT8 ? 1.0 / 255.0 : 1.0;
  *x = sp_tensor_new(SP_FLOAT32, raw->rank, raw->shape);
  if (*x)
    for (int64_t i = 0; i < sp_tensor_count(raw); i++) sp_tensor_floats(*x)[i] = (float)(sp_tensor_get_double(raw, i) * factor);
  sp_tensor_free(raw);
  return *x ? SP_OK : SP_ERROR_NO_MEMORY;
}

static sp_status read_idx(const sp_cli_data_options *options, int need_labels, sp_cli_data *data) {
  const char *comma = strchr(options->idx, ',');
  char *images = comma ? sp_strndup(options->idx, (size_t)(comma - options->idx)) : sp_strdup(options->idx);
  if (!images) return SP_ERROR_NO_MEMORY;
  sp_status status = read_idx_features(images, options->scale, &data->x);
  free(images);
  SP_TRY(status);
  if (need_labels && comma) SP_TRY(sp_idx_read(comma + 1, 0, 1, &data->y));
  return SP_OK;
}

static sp_status read_csv(const sp_cli_data_options *options, int need_labels, sp_cli_data *data) {
  sp_csv_options csv = sp_csv_defaults();
  csv.header = options->csv_header;
  int64_t column;
  if (options->label_column && sp_cli_parse_int(options->label_column, &column)) {
    if (column > INT32_MAX) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "label column %s is out of range", options->label_column);
    csv.label_column = (int)column;
  } else if (options->label_column) {
    csv.label_name = options->label_column;
  } else if (!need_labels) {
    csv.label_column = SP_CSV_NO_LABEL;
  }
  SP_TRY(sp_csv_read(options->csv, &csv, &data->x, &data->y));
  if (!need_labels) {
    sp_tensor_free(data->y);
    data->y = NULL;
  }
  return SP_OK;
}

/* A .npy array; with --scale its values become float32 times the scale. */
static sp_status read_npy(const char *path, double scale, sp_tensor **tensor) {
  *tensor = NULL;
  sp_tensor *array;
  SP_TRY(sp_npy_read(path, NPY_LIMIT, &array));
  if (isnan(scale)) {
    *tensor = array;
    return SP_OK;
  }
  *tensor = sp_tensor_new(SP_FLOAT32, array->rank, array->shape);
  for (int64_t i = 0; *tensor && i < sp_tensor_count(array); i++)
    sp_tensor_floats(*tensor)[i] = (float)(sp_tensor_get_double(array, i) * scale);
  sp_tensor_free(array);
  return *tensor ? SP_OK : SP_ERROR_NO_MEMORY;
}

/* ---- shaping ---- */

static sp_status first_rows(sp_tensor **tensor, int64_t rows) {
  if (!*tensor || (*tensor)->rank < 1 || (*tensor)->shape[0] <= rows) return SP_OK;
  int64_t shape[SP_MAX_RANK];
  memcpy(shape, (*tensor)->shape, sizeof shape);
  shape[0] = rows;
  sp_tensor *cut = sp_tensor_new((*tensor)->dtype, (*tensor)->rank, shape);
  if (!cut) return SP_ERROR_NO_MEMORY;
  memcpy(cut->data, (*tensor)->data, cut->size);
  sp_tensor_free(*tensor);
  *tensor = cut;
  return SP_OK;
}

/* Gives x the model's input layout when the values per sample agree (images → flat vectors). */
static sp_status fit_to_input(const sp_model *model, sp_tensor *x) {
  int rank;
  int64_t shape[SP_MAX_RANK], per_sample = 1, have = 1;
  SP_TRY(sp_model_input_shape(model, 0, &rank, shape));
  if (rank == x->rank) return SP_OK;
  for (int d = 1; d < rank; d++) {
    if (shape[d] < 0) return SP_OK; /* an unknown dimension: leave it to the model to judge */
    per_sample *= shape[d];
  }
  for (int d = 1; d < x->rank; d++) have *= x->shape[d];
  if (per_sample != have) return SP_OK;
  shape[0] = x->shape[0];
  return sp_tensor_reshape(x, rank, shape);
}

sp_status sp_cli_load_data(const sp_cli_data_options *options, const sp_model *model, int need_labels, sp_cli_data *data) {
  *data = (sp_cli_data){0};
  sp_status status;
  if (options->idx) {
    status = read_idx(options, need_labels, data);
  } else if (options->csv) {
    status = read_csv(options, need_labels, data);
  } else {
    status = read_npy(options->x_path, options->scale, &data->x);
    if (status == SP_OK && need_labels) status = read_npy(options->y_path, NAN, &data->y);
  }
  if (status == SP_OK && options->samples) status = first_rows(&data->x, options->samples);
  if (status == SP_OK && options->samples) status = first_rows(&data->y, options->samples);
  if (status == SP_OK && sp_model_input_count(model) == 1) status = fit_to_input(model, data->x);
  if (status != SP_OK) sp_cli_data_free(data);
  return status;
}

void sp_cli_data_free(sp_cli_data *data) {
  sp_tensor_free(data->x);
  sp_tensor_free(data->y);
  *data = (sp_cli_data){0};
}
