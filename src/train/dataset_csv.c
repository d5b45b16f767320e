/* dataset_csv.c — numeric CSV files: one sample per line, one label column.
 *
 * Fields are separated by one character (',' by default) and may be double-quoted with ""
 * inside quotes, as Python's csv module writes them; lines end with "\n" or "\r\n"; empty lines
 * are skipped. The first line is a header when asked, or (auto) when one of its fields is not a
 * number. Every other field must be a whole number literal (strtod), or the error says where
 * it is: "data.csv: line 7, column 3 (byte 181): 'abc' is not a number".
 * Two passes: the first counts lines and fields (so the tensors are sized from what the file
 * holds), the second converts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "train/dataset.h"

sp_csv_options sp_csv_defaults(void) {
  return (sp_csv_options){.header = SP_CSV_HEADER_AUTO, .label_column = SP_CSV_LAST_COLUMN, .separator = ','};
}

enum { FIELD_MAX = 256 };

typedef struct cursor {
  const uint8_t *data;
  size_t size, position;
  const char *what;
  char separator;
  int64_t line;          /* 1-based line of the current record */
} cursor;

typedef struct field {
  char text[FIELD_MAX]; /* unquoted, NUL-terminated (a longer field is an error) */
  size_t offset;        /* byte where the field starts */
  int last;             /* the field ends its record */
} field;

static int at_end(const cursor *c) { return c->position >= c->size; }

/* Skips blank lines; returns 0 at the end of the input. */
static int next_record(cursor *c) {
  while (!at_end(c) && (c->data[c->position] == '\n' || c->data[c->position] == '\r')) {
    if (c->data[c->position] == '\n') c->line++;
    c->position++;
  }
  return !at_end(c);
}

static sp_status read_field(cursor *c, int64_t column, field *out) {
  size_t length = 0;
  int quoted = !at_end(c) && c->data[c->position] == '"';
  out->offset = c->position;
  if (quoted) c->position++;
  for (;;) {
    if (at_end(c)) {
      if (quoted)
        return sp_fail(SP_ERROR_FORMAT, "%s: line %lld, column %lld (byte %zu): the quoted field is not closed", c->what,
                       (long long)c->line, (long long)column + 1, out->offset);
      break;
    }
    char ch = (char)c->data[c->position];
    if (quoted && ch == '"') {
      if (c->position + 1 < c->size && c->data[c->position + 1] == '"') {
        c->position++;
      } else {
        quoted = 0;
        c->position++;
        continue;
      }
    } else if (!quoted && (ch == c->separator || ch == '\n' || ch == '\r')) {
      break;
    }
    if (length + 1 >= FIELD_MAX)
      return sp_fail(SP_ERROR_FORMAT, "%s: line %lld, column %lld (byte %zu): a field longer than %d bytes", c->what,
                     (long long)c->line, (long long)column + 1, out->offset, FIELD_MAX - 1);
    out->text[length++] = ch;
    c->position++;
  }
  out->text[length] = '\0';
  out->last = at_end(c) || c->data[c->position] != (uint8_t)c->separator;
  if (!out->last) c->position++; /* the separator */
  else if (!at_end(c)) {          /* the line end */
    if (c->data[c->position] == '\r') c->position++;
    if (!at_end(c) && c->data[c->position] == '\n') c->position++;
    c->line++;
  }
  return SP_OK;
}

static int parse_number(const char *text, double *value) {
  while (*text == ' ' || *text == '\t') text++;
  if (!*text) return 0;
  char *end;
  errno = 0;
  *value = strtod(text, &end);
  while (*end == ' ' || *end == '\t') end++;
  return *end == '\0' && errno != ERANGE;
}

/* ---- pass 1: shape and header ---- */

typedef struct csv_shape {
  int64_t rows, columns;
  int header;           /* the first record is a header */
  size_t body_start;    /* byte after the header */
  int64_t body_line;
  int64_t label;        /* column index, or -1 for none */
} csv_shape;

static sp_status first_record(cursor *c, const sp_csv_options *options, csv_shape *shape, char (*names)[FIELD_MAX],
                              int64_t name_capacity) {
  int all_numbers = 1;
  field f;
  int64_t columns = 0;
  do {
    SP_TRY(read_field(c, columns, &f));
    double ignored;
    all_numbers &= parse_number(f.text, &ignored);
    if (columns < name_capacity) memcpy(names[columns], f.text, sizeof f.text);
    columns++;
  } while (!f.last);
  shape->columns = columns;
  shape->header = options->header == SP_CSV_HEADER_AUTO ? !all_numbers : options->header != 0;
  return SP_OK;
}

static sp_status choose_label(const cursor *c, const sp_csv_options *options, csv_shape *shape, char (*names)[FIELD_MAX],
                              int64_t name_count) {
  if (options->label_name) {
    if (!shape->header)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: the label column '%s' is named, but the file has no header line", c->what,
                     options->label_name);
    for (int64_t i = 0; i < name_count; i++)
      if (strcmp(names[i], options->label_name) == 0) {
        shape->label = i;
        return SP_OK;
      }
    char listed[1024] = "";
    for (int64_t i = 0; i < name_count; i++) {
      size_t used = strlen(listed);
      snprintf(listed + used, sizeof listed - used, "%s%s", i ? ", " : "", names[i]);
    }
    return sp_fail(SP_ERROR_NOT_FOUND, "%s: no column is named '%s' (columns: %s)", c->what, options->label_name, listed);
  }
  if (options->label_column == SP_CSV_NO_LABEL) {
    shape->label = -1;
    return SP_OK;
  }
  shape->label = options->label_column == SP_CSV_LAST_COLUMN ? shape->columns - 1 : options->label_column;
  if (shape->label < 0 || shape->label >= shape->columns)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: label column %d does not exist: the file has %lld columns (0 to %lld)",
                   c->what, options->label_column, (long long)shape->columns, (long long)shape->columns - 1);
  if (shape->columns < 2)
    return sp_fail(SP_ERROR_FORMAT, "%s: one column is all labels; at least one feature column is needed", c->what);
  return SP_OK;
}

static sp_status count_records(cursor *c, csv_shape *shape) {
  while (next_record(c)) {
    int64_t line = c->line, columns = 0;
    field f;
    do {
      SP_TRY(read_field(c, columns, &f));
      columns++;
    } while (!f.last);
    if (columns != shape->columns)
      return sp_fail(SP_ERROR_FORMAT, "%s: line %lld has %lld fields, the first line has %lld", c->what, (long long)line,
                     (long long)columns, (long long)shape->columns);
    shape->rows++;
  }
  return SP_OK;
}

enum { NAMES_KEPT = 64 };

static sp_status measure(cursor *c, const sp_csv_options *options, csv_shape *shape) {
  char (*names)[FIELD_MAX] = sp_alloc_zeroed(NAMES_KEPT, FIELD_MAX);
  if (!names) return SP_ERROR_NO_MEMORY;
  sp_status status = next_record(c) ? first_record(c, options, shape, names, NAMES_KEPT)
                                    : sp_fail(SP_ERROR_FORMAT, "%s: the file holds no data", c->what);
  if (status == SP_OK) status = choose_label(c, options, shape, names, shape->columns < NAMES_KEPT ? shape->columns : NAMES_KEPT);
  free(names);
  SP_TRY(status);
  if (!shape->header) {
    c->position = 0;
    c->line = 1;
  }
  shape->body_start = c->position;
  shape->body_line = c->line;
  SP_TRY(count_records(c, shape));
  if (shape->rows == 0) return sp_fail(SP_ERROR_FORMAT, "%s: the file has a header but no data lines", c->what);
  return SP_OK;
}

/* ---- pass 2: values ---- */

static sp_status fill(cursor *c, const csv_shape *shape, sp_tensor *x, sp_tensor *y) {
  c->position = shape->body_start;
  c->line = shape->body_line;
  float *features = sp_tensor_floats(x), *labels = y ? sp_tensor_floats(y) : NULL;
  int64_t width = x->shape[1];
  for (int64_t row = 0; row < shape->rows; row++) {
    next_record(c);
    int64_t line = c->line, feature_index = 0;
    for (int64_t column = 0; column < shape->columns; column++) {
      field f;
      SP_TRY(read_field(c, column, &f));
      double value;
      if (!parse_number(f.text, &value))
        return sp_fail(SP_ERROR_FORMAT, "%s: line %lld, column %lld (byte %zu): '%s' is not a number", c->what,
                       (long long)line, (long long)column + 1, f.offset, f.text);
      if (column == shape->label) labels[row] = (float)value;
      else features[row * width + feature_index++] = (float)value;
    }
  }
  return SP_OK;
}

sp_status sp_csv_parse(const uint8_t *data, size_t size, const char *what, const sp_csv_options *options, sp_tensor **x,
                       sp_tensor **y) {
  *x = NULL;
  if (y) *y = NULL;
  sp_csv_options chosen = options ? *options : sp_csv_defaults();
  if (!chosen.separator || chosen.separator == '"' || chosen.separator == '\n' || chosen.separator == '\r')
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "CSV separator '%c' cannot be used", chosen.separator ? chosen.separator : '0');
  cursor c = {data, size, 0, what, chosen.separator, 1};
  csv_shape shape = {0};
  SP_TRY(measure(&c, &chosen, &shape));
  int64_t features = shape.columns - (shape.label >= 0 ? 1 : 0);
  sp_tensor *inputs = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){shape.rows, features});
  sp_tensor *labels = shape.label >= 0 ? sp_tensor_new(SP_FLOAT32, 1, (int64_t[]){shape.rows}) : NULL;
  sp_status status = inputs && (labels || shape.label < 0) ? fill(&c, &shape, inputs, labels) : SP_ERROR_NO_MEMORY;
  if (status != SP_OK || !y) {
    sp_tensor_free(labels);
    labels = NULL;
  }
  if (status != SP_OK) {
    sp_tensor_free(inputs);
    return status;
  }
  *x = inputs;
  if (y) *y = labels;
  return SP_OK;
}

sp_status sp_csv_read(const char *path, const sp_csv_options *options, sp_tensor **x, sp_tensor **y) {
  uint8_t *data;
  size_t size;
  *x = NULL;
  if (y) *y = NULL;
  SP_TRY(sp_read_file(path, SP_DATASET_LIMIT, &data, &size));
  sp_status status = sp_csv_parse(data, size, path, options, x, y);
  free(data);
  return status;
}
