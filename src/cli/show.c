/* show.c — `savepoint show PATH`: what a model artifact holds.
 *
 * PATH is probed once (cli/artifact.h) and dispatched on its kind to a handler below; a kind
 * with no handler gets an error saying what the path is. For a TensorFlow checkpoint (a
 * prefix, its .index, or a directory with a `checkpoint` file) it lists every tensor like
 * tf.train.list_variables — name, dtype, shape, bytes — in key order, or prints one
 * tensor's values with --tensor (a numpy-like nested list; with --json a JSON nested list,
 * DT_STRING elements as strings or {"b64": …} when they are not UTF-8).
 */
#include <json.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/artifact.h"
#include "cli/cli.h"
#include "cli/saved_model_cli.h"
#include "cli/show_model.h"
#include "core/bytes.h"
#include "core/json.h"
#include "core/memory.h"
#include "formats/tf_bundle.h"
#include "savepoint/tensor.h"

typedef struct show_options {
  const char *path;
  const char *tensor; /* --tensor NAME, or NULL to list */
  int json;
} show_options;

static void print_help(void) {
  printf("usage: savepoint show PATH [--tensor NAME] [--json]\n\n"
         "Shows what PATH holds. PATH may be a TensorFlow checkpoint prefix (model.ckpt-1000),\n"
         "its .index file, or a checkpoint directory (its 'checkpoint' file names the latest);\n"
         "or a Keras model or weights file (.keras, .h5, .weights.h5, to_json .json) or a TF.js\n"
         "model.json: its format, Keras version, SHA-256 and a Keras-style summary (or its weights).\n\n"
         "  --tensor NAME  print the values of one tensor instead of the list\n"
         "  --json         machine-readable output: [{\"name\", \"dtype\", \"shape\", \"bytes\"}, ...]\n"
         "                 or, with --tensor, the values as a JSON nested list\n");
}

/* ---------- printing values ---------- */

/* numpy's spelling of a real number: shortest repr digits, and inf/-inf/nan. */
static void format_real(double value, int single, char *out, size_t capacity) {
  if (isnan(value)) snprintf(out, capacity, "nan");
  else if (isinf(value)) snprintf(out, capacity, value > 0 ? "inf" : "-inf");
  else if (single) sp_format_python_float32((float)value, out, capacity);
  else sp_format_python_float(value, out, capacity);
}

static sp_status append_python_bytes(sp_buffer *out, const sp_string *string) {
  SP_TRY(sp_buffer_append_text(out, "b'"));
  for (size_t i = 0; i < string->length; i++) {
    unsigned char c = (unsigned char)string->bytes[i];
    if (c == '\\' || c == '\'') SP_TRY(sp_buffer_printf(out, "\\%c", c));
    else if (c == '\n') SP_TRY(sp_buffer_append_text(out, "\\n"));
    else if (c == '\r') SP_TRY(sp_buffer_append_text(out, "\\r"));
    else if (c == '\t') SP_TRY(sp_buffer_append_text(out, "\\t"));
    else if (c < 0x20 || c >= 0x7f) SP_TRY(sp_buffer_printf(out, "\\x%02x", c));
    else SP_TRY(sp_buffer_put_u8(out, c));
  }
  return sp_buffer_put_u8(out, '\'');
}

static sp_status append_element(sp_buffer *out, const sp_tensor *tensor, int64_t i) {
  char text[64], imaginary[64];
  const void *data = tensor->data;
  switch (tensor->dtype) {
    case SP_STRING: return append_python_bytes(out, (const sp_string *)data + i);
    case SP_BOOL: return sp_buffer_append_text(out, ((const uint8_t *)data)[i] ? "True" : "False");
    case SP_INT64: return sp_buffer_printf(out, "%lld", (long long)((const int64_t *)data)[i]);
    case SP_UINT64: return sp_buffer_printf(out, "%llu", (unsigned long long)((const uint64_t *)data)[i]);
    case SP_FLOAT64: format_real(((const double *)data)[i], 0, text, sizeof text); break;
    case SP_FLOAT32: case SP_FLOAT16: case SP_BFLOAT16:
      format_real(sp_tensor_get_double(tensor, i), 1, text, sizeof text);
      break;
    case SP_COMPLEX64: case SP_COMPLEX128: {
      int single = tensor->dtype == SP_COMPLEX64;
      double real = single ? ((const float *)data)[2 * i] : ((const double *)data)[2 * i];
      double imag = single ? ((const float *)data)[2 * i + 1] : ((const double *)data)[2 * i + 1];
      format_real(real, single, text, sizeof text);
      format_real(imag, single, imaginary, sizeof imaginary);
      return sp_buffer_printf(out, "(%s%s%sj)", text, imaginary[0] == '-' ? "" : "+", imaginary);
    }
    default: /* the remaining integer types are exact as doubles */
      return sp_buffer_printf(out, "%.0f", sp_tensor_get_double(tensor, i));
  }
  return sp_buffer_append_text(out, text);
}

/* [[a, b],\n [c, d]]: rows of the innermost dimension on one line, outer ones broken. */
static sp_status append_nested(sp_buffer *out, const sp_tensor *tensor, int depth, int64_t *next) {
  if (depth == tensor->rank) return append_element(out, tensor, (*next)++);
  SP_TRY(sp_buffer_put_u8(out, '['));
  for (int64_t i = 0; i < tensor->shape[depth]; i++) {
    if (i > 0 && depth < tensor->rank - 1) SP_TRY(sp_buffer_printf(out, ",\n%*s", depth + 1, ""));
    else if (i > 0) SP_TRY(sp_buffer_append_text(out, ", "));
    SP_TRY(append_nested(out, tensor, depth + 1, next));
  }
  return sp_buffer_put_u8(out, ']');
}

static int valid_utf8(const unsigned char *bytes, size_t length) {
  for (size_t i = 0; i < length;) {
    unsigned char c = bytes[i];
    size_t extra = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 4;
    if (extra == 4 || c == 0xc0 || c == 0xc1 || c > 0xf4 || i + extra >= length) return 0;
    for (size_t k = 1; k <= extra; k++)
      if ((bytes[i + k] & 0xc0) != 0x80) return 0;
    i += extra + 1;
  }
  return 1;
}

/* A DT_STRING element as TF Serving's REST API writes one: a string, or {"b64": …}. */
static json_object *json_string_element(const sp_string *string) {
  if (valid_utf8((const unsigned char *)string->bytes, string->length))
    return json_object_new_string_len(string->length ? string->bytes : "", (int)string->length);
  char *encoded = sp_alloc(4 * ((string->length + 2) / 3) + 1);
  if (!encoded) return NULL;
  EVP_EncodeBlock((unsigned char *)encoded, (const unsigned char *)string->bytes, (int)string->length);
  json_object *object = json_object_new_object();
  json_object_object_add(object, "b64", json_object_new_string(encoded));
  free(encoded);
  return object;
}

static json_object *json_element(const sp_tensor *tensor, int64_t i) {
  const void *data = tensor->data;
  char text[64];
  switch (tensor->dtype) {
    case SP_STRING: return json_string_element((const sp_string *)data + i);
    case SP_BOOL: return json_object_new_boolean(((const uint8_t *)data)[i] != 0);
    case SP_INT64: return json_object_new_int64(((const int64_t *)data)[i]);
    case SP_UINT64: return json_object_new_uint64(((const uint64_t *)data)[i]);
    case SP_FLOAT32: case SP_FLOAT16: case SP_BFLOAT16: case SP_COMPLEX64: {
      double value = sp_tensor_get_double(tensor, i); /* complex: the real part, as TF Serving does */
      if (!isfinite(value)) return json_object_new_double(value);
      sp_format_python_float32((float)value, text, sizeof text);
      return json_object_new_double(strtod(text, NULL)); /* the double whose repr is the float32's */
    }
    case SP_FLOAT64: case SP_COMPLEX128: return json_object_new_double(sp_tensor_get_double(tensor, i));
    default: return json_object_new_int64((int64_t)sp_tensor_get_double(tensor, i));
  }
}

static json_object *json_nested(const sp_tensor *tensor, int depth, int64_t *next) {
  if (depth == tensor->rank) return json_element(tensor, (*next)++);
  json_object *array = json_object_new_array();
  for (int64_t i = 0; array && i < tensor->shape[depth]; i++) json_object_array_add(array, json_nested(tensor, depth + 1, next));
  return array;
}

/* Prints value (taken) as Python's json.dumps would, with a newline. */
static int print_json(json_object *value) {
  char *text = sp_json_dumps(value, 0);
  json_object_put(value);
  if (!text) return sp_cli_report("show", SP_ERROR_NO_MEMORY);
  puts(text);
  free(text);
  return 0;
}

/* ---------- checkpoints ---------- */

static int show_tensor(const show_options *options, sp_bundle_reader *reader) {
  sp_tensor *tensor;
  sp_status status = sp_bundle_read(reader, options->tensor, &tensor);
  if (status != SP_OK) return sp_cli_report("show", status);
  int64_t next = 0;
  if (options->json) {
    json_object *values = json_nested(tensor, 0, &next);
    sp_tensor_free(tensor);
    return print_json(values);
  }
  sp_buffer text = {0};
  status = append_nested(&text, tensor, 0, &next);
  if (status == SP_OK) status = sp_buffer_put_u8(&text, '\n');
  if (status == SP_OK) fwrite(text.data, 1, text.size, stdout);
  sp_buffer_free(&text);
  sp_tensor_free(tensor);
  return sp_cli_report("show", status);
}

static json_object *json_entry(const sp_bundle_entry *entry) {
  json_object *object = json_object_new_object(), *shape = json_object_new_array();
  for (int i = 0; i < entry->rank; i++) json_object_array_add(shape, json_object_new_int64(entry->shape[i]));
  json_object_object_add(object, "name", json_object_new_string(entry->key));
  json_object_object_add(object, "dtype", json_object_new_string(sp_bundle_dtype_name(entry->dtype)));
  json_object_object_add(object, "shape", shape);
  json_object_object_add(object, "bytes", json_object_new_uint64(entry->size));
  return object;
}

static int list_tensors(const show_options *options, const sp_bundle_reader *reader) {
  size_t count = sp_bundle_count(reader);
  if (options->json) {
    json_object *list = json_object_new_array();
    for (size_t i = 0; i < count; i++) json_object_array_add(list, json_entry(sp_bundle_entry_at(reader, i)));
    return print_json(list);
  }
  int name_width = 4, dtype_width = 5, shape_width = 5;
  char shape[160];
  for (size_t i = 0; i < count; i++) {
    const sp_bundle_entry *entry = sp_bundle_entry_at(reader, i);
    int name = (int)strlen(entry->key), dtype = (int)strlen(sp_bundle_dtype_name(entry->dtype));
    int dims = (int)strlen(sp_shape_format(entry->rank, entry->shape, shape, sizeof shape));
    name_width = name > name_width ? name : name_width;
    dtype_width = dtype > dtype_width ? dtype : dtype_width;
    shape_width = dims > shape_width ? dims : shape_width;
  }
  for (size_t i = 0; i < count; i++) {
    const sp_bundle_entry *entry = sp_bundle_entry_at(reader, i);
    printf("%-*s  %-*s  %-*s  %12llu%s\n", name_width, entry->key, dtype_width, sp_bundle_dtype_name(entry->dtype),
           shape_width, sp_shape_format(entry->rank, entry->shape, shape, sizeof shape),
           (unsigned long long)entry->size, entry->sliced ? "  (partitioned)" : "");
  }
  return 0;
}

static int show_checkpoint(const show_options *options, const sp_cli_artifact *artifact) {
  sp_bundle_reader *reader;
  sp_status status = sp_bundle_open(artifact->path, &reader);
  if (status != SP_OK) return sp_cli_report("show", status);
  int result = options->tensor ? show_tensor(options, reader) : list_tensors(options, reader);
  sp_bundle_close(reader);
  return result;
}

/* ---------- dispatch ---------- */

static int parse_arguments(int argc, char **argv, show_options *options) {
  memset(options, 0, sizeof *options);
  for (int i = 1; i < argc; i++) {
    const char *argument = argv[i];
    if (strcmp(argument, "--help") == 0 || strcmp(argument, "-h") == 0) {
      print_help();
      return 0;
    } else if (strcmp(argument, "--json") == 0) {
      options->json = 1;
    } else if (strncmp(argument, "--tensor=", 9) == 0) {
      options->tensor = argument + 9;
    } else if (strcmp(argument, "--tensor") == 0) {
      if (++i == argc) return sp_cli_usage_error("show", "--tensor needs a tensor name");
      options->tensor = argv[i];
    } else if (argument[0] == '-' && argument[1] == '-') {
      return sp_cli_usage_error("show", "unknown option '%s' for a checkpoint or Keras file", argument);
    } else if (options->path) {
      return sp_cli_usage_error("show", "one PATH only (got '%s' and '%s')", options->path, argument);
    } else {
      options->path = argument;
    }
  }
  if (!options->path) return sp_cli_usage_error("show", "missing PATH");
  return -1;
}

static int show_checkpoint_command(int argc, char **argv, const sp_cli_artifact *artifact) {
  show_options options;
  int exit_code = parse_arguments(argc, argv, &options);
  return exit_code >= 0 ? exit_code : show_checkpoint(&options, artifact);
}

static int show_saved_model_command(int argc, char **argv, const sp_cli_artifact *artifact) {
  return sp_cli_show_saved_model(artifact->path, argc, argv);
}

static int show_model_command(int argc, char **argv, const sp_cli_artifact *artifact) {
  show_options options;
  int exit_code = parse_arguments(argc, argv, &options);
  return exit_code >= 0 ? exit_code : sp_cli_show_model(artifact->path, options.json);
}

/* Each kind parses its own options (saved_model_cli's flags for SavedModels, --tensor for checkpoints). */
typedef int (*show_handler)(int argc, char **argv, const sp_cli_artifact *artifact);

static const struct {
  sp_cli_artifact_kind kind;
  show_handler show;
} handlers[] = {
    {SP_CLI_ARTIFACT_CHECKPOINT, show_checkpoint_command},
    {SP_CLI_ARTIFACT_SAVED_MODEL, show_saved_model_command},
    {SP_CLI_ARTIFACT_KERAS_ARCHIVE, show_model_command},
    {SP_CLI_ARTIFACT_HDF5, show_model_command},
    {SP_CLI_ARTIFACT_TFJS, show_model_command},
};

/* The PATH argument: --dir's value, or the first argument that is neither an option nor an option's value. */
static const char *find_path(int argc, char **argv) {
  static const char *const valued[] = {"--tensor", "--tag_set", "--signature_def", "--dir"};
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--dir=", 6) == 0) return argv[i] + 6;
    if (strcmp(argv[i], "--dir") == 0) return i + 1 < argc ? argv[i + 1] : NULL;
    if (argv[i][0] != '-') return argv[i];
    for (size_t v = 0; v < sizeof valued / sizeof *valued; v++)
      if (strcmp(argv[i], valued[v]) == 0) i++; /* skip the option's value */
  }
  return NULL;
}

int sp_cli_show(int argc, char **argv) {
  const char *path = find_path(argc, argv);
  if (!path) {
    for (int i = 1; i < argc; i++)
      if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
        print_help();
        printf("\nFor a SavedModel directory, saved_model_cli's flags apply: savepoint show DIR --help\n");
        return 0;
      }
    return sp_cli_usage_error("show", "missing PATH");
  }
  sp_cli_artifact artifact;
  sp_status status = sp_cli_artifact_probe(path, &artifact);
  if (status != SP_OK) return sp_cli_report("show", status);
  int exit_code = -1;
  for (size_t i = 0; i < sizeof handlers / sizeof *handlers; i++)
    if (handlers[i].kind == artifact.kind) exit_code = handlers[i].show(argc, argv, &artifact);
  if (exit_code < 0) exit_code = sp_cli_artifact_unsupported("show", &artifact);
  sp_cli_artifact_free(&artifact);
  return exit_code;
}
