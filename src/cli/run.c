/* run.c — `savepoint run DIR`: runs one signature of a SavedModel, like saved_model_cli run.
 *
 * Any other model file savepoint loads (.keras, .h5, TF.js, a Keras SavedModel's rebuild) runs too:
 * its inputs are keyed by the model's input layer names and its outputs by its output layer names,
 * the keys a served Keras model's serving_default has.
 *
 * Inputs come from .npy/.npz files (--inputs), Python literals (--input_exprs; parsed, never
 * evaluated) or tf.Example feature dicts (--input_examples), and are converted to the dtype the
 * signature declares, as TensorFlow's feed conversion does. Results print the way numpy prints
 * them ("Result for output key y:" then the array), go to one .npy per key with --outdir (each
 * written atomically), or print as a JSON object with --json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/literal.h"
#include "cli/saved_model_cli.h"
#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "core/npy.h"
#include "formats/example.h"
#include "formats/zipio.h"
#include "graph/session.h"
#include "savepoint/io.h"
#include "savepoint/model.h"

static const char command[] = "run";

enum { MAX_INPUT_FILE_BYTES = 1 << 30 };

typedef struct run_options {
  const char *directory;
  const char *tag_set;
  const char *signature;
  const char *inputs;
  const char *input_exprs;
  const char *input_examples;
  const char *outdir;
  int overwrite;
  int json;
} run_options;

typedef struct input_list {
  char **keys;
  sp_tensor **tensors;
  size_t count, capacity;
} input_list;

static void free_inputs(input_list *list) {
  for (size_t i = 0; i < list->count; i++) {
    free(list->keys[i]);
    sp_tensor_free(list->tensors[i]);
  }
  free(list->keys);
  free(list->tensors);
}

/* Adds (or, as saved_model_cli does, replaces) an input; takes ownership of tensor. */
static sp_status add_input(input_list *list, const char *key, size_t key_length, sp_tensor *tensor) {
  for (size_t i = 0; i < list->count; i++)
    if (strlen(list->keys[i]) == key_length && strncmp(list->keys[i], key, key_length) == 0) {
      sp_tensor_free(list->tensors[i]);
      list->tensors[i] = tensor;
      return SP_OK;
    }
  size_t capacity = list->capacity;
  sp_status status = SP_RESERVE(list->keys, capacity, list->count + 1);
  if (status == SP_OK) status = SP_RESERVE(list->tensors, list->capacity, list->count + 1);
  char *copy = status == SP_OK ? sp_strndup(key, key_length) : NULL;
  if (!copy) {
    sp_tensor_free(tensor);
    return status == SP_OK ? SP_ERROR_NO_MEMORY : status;
  }
  list->keys[list->count] = copy;
  list->tensors[list->count++] = tensor;
  return SP_OK;
}

/* Splits "key=value" (one ';'-separated entry of option): the key's length and a copy of value. */
static sp_status split_entry(const char *entry, size_t length, const char *option, const char *form,
                             size_t *key_length, char **value) {
  const char *equals = memchr(entry, '=', length);
  if (!equals || equals == entry)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s \"%.*s\": expected %s", option, (int)length, entry, form);
  *key_length = (size_t)(equals - entry);
  *value = sp_strndup(equals + 1, length - *key_length - 1);
  return *value ? SP_OK : SP_ERROR_NO_MEMORY;
}

/* ---------- --inputs key=file.npy;key=file.npz[name] ---------- */

/* One array of an .npz archive (read through formats/zipio.h, which vets every member name and size);
 * name NULL takes the only array, as saved_model_cli does. */
static sp_status read_npz_member(const char *path, const char *name, sp_tensor **tensor) {
  sp_zip_reader *archive;
  SP_TRY(sp_zip_open(path, &archive));
  sp_status status = SP_OK;
  char *member = NULL;
  if (name) {
    member = sp_strdupf("%s.npy", name);
  } else if (sp_zip_count(archive) == 1) {
    member = sp_strdup(sp_zip_member_at(archive, 0)->name);
  } else {
    status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "'%s' holds %zu arrays; name one as %s[name]", path,
                     sp_zip_count(archive), path);
  }
  if (status == SP_OK && !member) status = SP_ERROR_NO_MEMORY;
  uint8_t *data = NULL;
  size_t size = 0;
  if (status == SP_OK && !sp_zip_find(archive, member))
    status = sp_fail(SP_ERROR_NOT_FOUND, "'%s' has no array named '%s'", path, name ? name : member);
  if (status == SP_OK) status = sp_zip_read(archive, member, MAX_INPUT_FILE_BYTES, &data, &size);
  if (status == SP_OK) status = sp_npy_parse(data, size, member, tensor);
  free(data);
  free(member);
  sp_zip_close(archive);
  return status;
}

static sp_status parse_file_input(input_list *list, const char *entry, size_t length) {
  size_t key_length = 0;
  char *file = NULL;
  SP_TRY(split_entry(entry, length, "--inputs", "<input_key>=<filename> or <input_key>=<filename>[<variable_name>]",
                     &key_length, &file));
  char *bracket = strchr(file, '[');
  sp_tensor *tensor = NULL;
  sp_status status;
  if (bracket && file[strlen(file) - 1] == ']') {
    *bracket = '\0';
    file[strlen(bracket + 1) + (size_t)(bracket + 1 - file) - 1] = '\0';
    status = sp_path_has_suffix(file, ".npz") ? read_npz_member(file, bracket + 1, &tensor)
                                              : sp_npy_read(file, MAX_INPUT_FILE_BYTES, &tensor);
  } else {
    status = sp_path_has_suffix(file, ".npz") ? read_npz_member(file, NULL, &tensor)
                                              : sp_npy_read(file, MAX_INPUT_FILE_BYTES, &tensor);
  }
  free(file);
  SP_TRY(status);
  return add_input(list, entry, key_length, tensor);
}

/* ---------- --input_exprs key=literal ---------- */

static sp_status parse_expression_input(input_list *list, const char *entry, size_t length) {
  size_t key_length = 0;
  char *text = NULL;
  SP_TRY(split_entry(entry, length, "--input_exprs", "<input_key>=<python literal>", &key_length, &text));
  char what[160];
  snprintf(what, sizeof what, "--input_exprs %.*s", (int)key_length, entry);
  sp_literal *literal = NULL;
  sp_tensor *tensor = NULL;
  sp_status status = sp_literal_parse(text, what, &literal);
  if (status == SP_OK) status = sp_literal_to_tensor(literal, what, &tensor);
  sp_literal_free(literal);
  free(text);
  SP_TRY(status);
  return add_input(list, entry, key_length, tensor);
}

/* ---------- --input_examples key=[{"feature": [values]}] ---------- */

static sp_status feature_from_list(const char *name, const sp_literal *values, sp_example_feature *feature,
                                   void **storage) {
  if (values->kind != SP_LITERAL_LIST || values->count == 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "--input_examples: feature '%s' must be a non-empty list", name);
  sp_literal_kind kind = values->items[0]->kind;
  feature->name = name;
  feature->count = values->count;
  feature->dtype = kind == SP_LITERAL_FLOAT ? SP_FLOAT32 : kind == SP_LITERAL_STRING ? SP_STRING : SP_INT64;
  size_t element = feature->dtype == SP_STRING ? sizeof(sp_string) : feature->dtype == SP_FLOAT32 ? 4 : 8;
  *storage = sp_alloc_zeroed(values->count, element);
  if (!*storage) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < values->count; i++) {
    const sp_literal *value = values->items[i];
    int fits = feature->dtype == SP_STRING ? value->kind == SP_LITERAL_STRING
                                           : value->kind != SP_LITERAL_STRING && value->kind != SP_LITERAL_LIST &&
                                                 value->kind != SP_LITERAL_DICT;
    if (!fits) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "--input_examples: feature '%s' mixes kinds of values", name);
    if (feature->dtype == SP_FLOAT32) ((float *)*storage)[i] = (float)value->number;
    else if (feature->dtype == SP_INT64) ((int64_t *)*storage)[i] = value->integer;
    else ((sp_string *)*storage)[i] = (sp_string){value->text, value->length};
  }
  feature->values = *storage;
  return SP_OK;
}

static sp_status encode_example(const sp_literal *dict, sp_tensor *tensor, int64_t index) {
  if (dict->kind != SP_LITERAL_DICT)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "--input_examples: each example must be a dict of feature lists");
  sp_example_feature *features = sp_alloc_zeroed(dict->count + 1, sizeof *features);
  void **storage = sp_alloc_zeroed(dict->count + 1, sizeof *storage);
  sp_status status = features && storage ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < dict->count && status == SP_OK; i++)
    status = feature_from_list(dict->keys[i], dict->items[i], &features[i], &storage[i]);
  sp_buffer bytes = {0};
  if (status == SP_OK) status = sp_example_encode(features, dict->count, &bytes);
  if (status == SP_OK) status = sp_tensor_set_string(tensor, index, bytes.data ? (char *)bytes.data : "", bytes.size);
  sp_buffer_free(&bytes);
  for (size_t i = 0; storage && i < dict->count; i++) free(storage[i]);
  free(storage);
  free(features);
  return status;
}

static sp_status parse_example_input(input_list *list, const char *entry, size_t length) {
  size_t key_length = 0;
  char *text = NULL;
  SP_TRY(split_entry(entry, length, "--input_examples", "<input_key>=[{feature: [values]}]", &key_length, &text));
  sp_literal *literal = NULL;
  sp_status status = sp_literal_parse(text, "--input_examples", &literal);
  free(text);
  if (status == SP_OK && literal->kind != SP_LITERAL_LIST)
    status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "--input_examples: the value must be a list of dicts");
  sp_tensor *tensor = NULL;
  if (status == SP_OK) {
    int64_t shape[1] = {(int64_t)literal->count};
    if (!(tensor = sp_tensor_new(SP_STRING, 1, shape))) status = SP_ERROR_NO_MEMORY;
  }
  for (size_t i = 0; status == SP_OK && i < literal->count; i++) status = encode_example(literal->items[i], tensor, (int64_t)i);
  sp_literal_free(literal);
  if (status != SP_OK) {
    sp_tensor_free(tensor);
    return status;
  }
  return add_input(list, entry, key_length, tensor);
}

typedef sp_status (*entry_parser)(input_list *list, const char *entry, size_t length);

/* Splits "a=...;b=..." at top-level semicolons (not inside quotes or brackets). */
static sp_status parse_entries(const char *text, entry_parser parse, input_list *list) {
  if (!text) return SP_OK;
  const char *start = text;
  int depth = 0;
  char quote = 0;
  for (const char *p = text;; p++) {
    if (quote) {
      if (*p == '\\' && p[1]) p++;
      else if (*p == quote) quote = 0;
      else if (!*p) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "unterminated string in '%s'", text);
      continue;
    }
    if (*p == '\'' || *p == '"') quote = *p;
    else if (*p == '[' || *p == '(' || *p == '{') depth++;
    else if (*p == ']' || *p == ')' || *p == '}') depth--;
    if ((*p == ';' && depth == 0) || !*p) {
      if (p > start) SP_TRY(parse(list, start, (size_t)(p - start)));
      if (!*p) return SP_OK;
      start = p + 1;
    }
  }
}

/* Converts inputs to the dtypes the signature declares (numeric casts, as TF's feed conversion). */
static sp_status convert_inputs(sp_graph_session *session, const char *signature_key, input_list *list) {
  const sp_signature_proto *signature = sp_meta_graph_signature(sp_graph_session_meta_graph(session), signature_key);
  if (!signature) return SP_OK; /* the run reports the unknown signature */
  for (size_t i = 0; i < list->count; i++) {
    const sp_tensor_info_proto *info = sp_signature_tensor_info(signature, 0, list->keys[i]);
    if (!info || (int)info->dtype == (int)list->tensors[i]->dtype || sp_dtype_size((sp_dtype)info->dtype) == 0) continue;
    if (list->tensors[i]->dtype == SP_STRING || info->dtype == TENSORFLOW__DATA_TYPE__DT_STRING) {
      char name[24];
      return sp_fail(SP_ERROR_MISMATCH, "input '%s' must be %s, but the value given is %s", list->keys[i],
                     sp_data_type_name(info->dtype, name, sizeof name), sp_dtype_tf_name(list->tensors[i]->dtype));
    }
    sp_tensor *cast = sp_tensor_cast(list->tensors[i], (sp_dtype)info->dtype);
    if (!cast) return SP_ERROR_NO_MEMORY;
    sp_tensor_free(list->tensors[i]);
    list->tensors[i] = cast;
  }
  return SP_OK;
}

/* ---------- output ---------- */

static sp_status print_text(size_t count, char **keys, sp_tensor **outputs) {
  for (size_t i = 0; i < count; i++) {
    sp_buffer text = {0};
    sp_status status = sp_npy_format(outputs[i], &text);
    if (status == SP_OK) printf("Result for output key %s:\n%.*s\n", keys[i], (int)text.size, (char *)text.data);
    sp_buffer_free(&text);
    SP_TRY(status);
  }
  return SP_OK;
}

static sp_status write_outputs(const run_options *options, size_t count, char **keys, sp_tensor **outputs) {
  SP_TRY(sp_make_directories(options->outdir));
  for (size_t i = 0; i < count; i++) {
    char *path = sp_strdupf("%s/%s.npy", options->outdir, keys[i]);
    if (!path) return SP_ERROR_NO_MEMORY;
    sp_status status = SP_OK;
    if (strchr(keys[i], '/'))
      status = sp_fail(SP_ERROR_UNSAFE, "output key '%s' cannot be a file name", keys[i]);
    else if (!options->overwrite && sp_path_exists(path))
      status = sp_fail(SP_ERROR_EXISTS, "output file %s already exists; add --overwrite to replace it", path);
    if (status == SP_OK) status = sp_npy_write(path, outputs[i]);
    if (status == SP_OK) printf("Output %s is saved to %s\n", keys[i], path);
    free(path);
    SP_TRY(status);
  }
  return SP_OK;
}

static json_object *element_json(const sp_tensor *tensor, int64_t index) {
  switch (tensor->dtype) {
    case SP_BOOL: return json_object_new_boolean(((const uint8_t *)tensor->data)[index] != 0);
    case SP_STRING: {
      const sp_string *value = &((const sp_string *)tensor->data)[index];
      return json_object_new_string_len(value->bytes, (int)value->length);
    }
    case SP_FLOAT32: case SP_FLOAT64: case SP_FLOAT16: case SP_BFLOAT16: {
      /* numpy's shortest repr for the element type, e.g. 0.1 rather than 0.10000000149011612 */
      sp_tensor scalar = {tensor->dtype, 0, {0}, (char *)tensor->data + (size_t)index * sp_dtype_size(tensor->dtype),
                          sp_dtype_size(tensor->dtype), 0};
      sp_buffer text = {0};
      double value = sp_tensor_get_double(tensor, index);
      json_object *number = NULL;
      if (sp_npy_format(&scalar, &text) == SP_OK && sp_buffer_put_u8(&text, 0) == SP_OK) {
        const char *shown = (const char *)text.data;
        if (strcmp(shown, "nan") == 0) shown = "NaN";
        else if (strcmp(shown, "inf") == 0) shown = "Infinity";
        else if (strcmp(shown, "-inf") == 0) shown = "-Infinity";
        number = json_object_new_double_s(value, shown);
      }
      sp_buffer_free(&text);
      return number;
    }
    default: return json_object_new_int64(sp_tensor_get_int(tensor, index));
  }
}

static json_object *tensor_json(const sp_tensor *tensor, int axis, int64_t *index) {
  if (axis == tensor->rank) return element_json(tensor, (*index)++);
  json_object *array = json_object_new_array();
  for (int64_t i = 0; array && i < tensor->shape[axis]; i++) {
    json_object *item = tensor_json(tensor, axis + 1, index);
    if (!item || json_object_array_add(array, item) != 0) {
      json_object_put(item);
      json_object_put(array);
      return NULL;
    }
  }
  return array;
}

static sp_status print_json(size_t count, char **keys, sp_tensor **outputs) {
  json_object *object = json_object_new_object();
  for (size_t i = 0; object && i < count; i++) {
    int64_t index = 0;
    json_object *value = tensor_json(outputs[i], 0, &index);
    if (!value || json_object_object_add(object, keys[i], value) != 0) {
      json_object_put(value);
      json_object_put(object);
      object = NULL;
    }
  }
  char *text = object ? sp_json_dumps(object, 0) : NULL;
  json_object_put(object);
  if (!text) return sp_fail(SP_ERROR_NO_MEMORY, "out of memory writing JSON");
  printf("%s\n", text);
  free(text);
  return SP_OK;
}

/* ---------- command ---------- */

static void print_help(void) {
  printf("usage: savepoint run DIR [--tag_set serve] [--signature_def serving_default]\n"
         "                       [--inputs 'x=in.npy;y=in.npz[name]'] [--input_exprs 'x=[[1.0],[2.0]];b=True']\n"
         "                       [--input_examples 'inputs=[{\"x\": [2.0]}]'] [--outdir DIR [--overwrite]] [--json]\n\n"
         "Runs one SignatureDef of a SavedModel, as saved_model_cli run does (a signature without\n"
         "inputs, such as a counter's, runs with none given). DIR may also be any model file savepoint\n"
         "loads (.keras, .h5, TF.js model.json): its inputs and outputs are keyed by layer name.\n"
         "  --inputs          .npy files, or arrays inside .npz files, per input key (';'-separated)\n"
         "  --input_exprs     Python literals per input key: numbers, nested lists, True/False, strings\n"
         "                    (parsed, never evaluated)\n"
         "  --input_examples  lists of tf.Example feature dicts, serialized for classify/regress inputs\n"
         "  --outdir          write each output to DIR/<key>.npy (atomically); --overwrite replaces files\n"
         "  --json            print {\"key\": nested lists} instead of numpy's text\n");
}

static int parse_arguments(int argc, char **argv, run_options *options) {
  for (int i = 1; i < argc; i++) {
    const char *value = NULL;
    struct {
      const char *name;
      const char **target;
    } valued[] = {{"--dir", &options->directory},           {"--tag_set", &options->tag_set},
                  {"--signature_def", &options->signature}, {"--inputs", &options->inputs},
                  {"--input_exprs", &options->input_exprs}, {"--input_examples", &options->input_examples},
                  {"--outdir", &options->outdir}};
    int matched = 0;
    for (size_t k = 0; k < sizeof valued / sizeof *valued && !matched; k++) {
      matched = sp_cli_option_value(argc, argv, &i, valued[k].name, &value);
      if (matched < 0) return sp_cli_usage_error(command, "%s needs a value", valued[k].name);
      if (matched) *valued[k].target = value;
    }
    if (matched) continue;
    if (strcmp(argv[i], "--overwrite") == 0) options->overwrite = 1;
    else if (strcmp(argv[i], "--json") == 0) options->json = 1;
    else if (argv[i][0] != '-' && !options->directory) options->directory = argv[i];
    else return sp_cli_usage_error(command, "unknown argument '%s'", argv[i]);
  }
  if (!options->directory) return sp_cli_usage_error(command, "which SavedModel directory? (savepoint run DIR ...)");
  return 0;
}

/* A Keras-format model: inputs by input layer name, as float32; outputs keyed by output layer name. */
static sp_status run_keras_model(const char *path, input_list *inputs, size_t *count, char ***keys, sp_tensor ***outputs) {
  sp_model *model = NULL;
  sp_load_options load = sp_load_defaults();
  load.compile = 0;
  SP_TRY(sp_load(path, &load, &model));
  int input_count = sp_model_input_count(model);
  sp_tensor **ordered = sp_alloc_zeroed((size_t)input_count + 1, sizeof *ordered);
  sp_status status = ordered ? SP_OK : SP_ERROR_NO_MEMORY;
  for (int i = 0; status == SP_OK && i < input_count; i++) {
    const char *name = sp_model_input_name(model, i);
    for (size_t k = 0; k < inputs->count && !ordered[i]; k++)
      if (strcmp(inputs->keys[k], name) == 0) ordered[i] = sp_tensor_cast(inputs->tensors[k], SP_FLOAT32);
    if (!ordered[i]) status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "no value for the model's input '%s' (give it as %s=…)", name, name);
  }
  for (size_t k = 0; status == SP_OK && k < inputs->count; k++) {
    int known = 0;
    for (int i = 0; i < input_count && !known; i++) known = strcmp(inputs->keys[k], sp_model_input_name(model, i)) == 0;
    if (!known) status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "the model has no input named '%s'", inputs->keys[k]);
  }
  int output_count = 0;
  if (status == SP_OK)
    status = sp_model_predict(model, input_count, (const sp_tensor *const *)ordered, &output_count, outputs);
  if (status == SP_OK) {
    *count = (size_t)output_count;
    if (!(*keys = sp_alloc_zeroed((size_t)output_count + 1, sizeof **keys))) status = SP_ERROR_NO_MEMORY;
    for (int i = 0; status == SP_OK && i < output_count; i++)
      if (!((*keys)[i] = sp_strdup(sp_model_output_name(model, i)))) status = SP_ERROR_NO_MEMORY;
  }
  for (int i = 0; ordered && i < input_count; i++) sp_tensor_free(ordered[i]);
  free(ordered);
  sp_model_free(model);
  return status;
}

static int is_saved_model(const char *path) {
  sp_probe_info info;
  if (sp_probe(path, &info) != SP_OK) {
    sp_clear_error();
    return 1; /* the SavedModel reader says what is wrong */
  }
  return info.format == SP_FORMAT_SAVED_MODEL || info.format == SP_FORMAT_UNKNOWN;
}

static sp_status run_model(const run_options *options) {
  sp_graph_session *session = NULL;
  input_list inputs = {0};
  sp_status status = parse_entries(options->inputs, parse_file_input, &inputs);
  if (status == SP_OK) status = parse_entries(options->input_exprs, parse_expression_input, &inputs);
  if (status == SP_OK) status = parse_entries(options->input_examples, parse_example_input, &inputs);
  int saved_model = status == SP_OK && is_saved_model(options->directory);
  if (status == SP_OK && saved_model) status = sp_graph_session_open(options->directory, options->tag_set, &session);
  if (status == SP_OK && saved_model) status = convert_inputs(session, options->signature, &inputs);
  size_t count = 0;
  char **keys = NULL;
  sp_tensor **outputs = NULL;
  if (status == SP_OK && saved_model)
    status = sp_graph_session_run(session, options->signature, inputs.count, (const char *const *)inputs.keys,
                                  (const sp_tensor *const *)inputs.tensors, &count, &keys, &outputs);
  else if (status == SP_OK)
    status = run_keras_model(options->directory, &inputs, &count, &keys, &outputs);
  if (status == SP_OK) {
    if (options->json) status = print_json(count, keys, outputs);
    else status = print_text(count, keys, outputs);
  }
  if (status == SP_OK && options->outdir) status = write_outputs(options, count, keys, outputs);
  sp_graph_outputs_free(count, keys, outputs);
  sp_graph_session_close(session);
  free_inputs(&inputs);
  return status;
}

int sp_cli_run(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      print_help();
      return 0;
    }
  run_options options = {.tag_set = "serve", .signature = "serving_default"};
  int usage = parse_arguments(argc, argv, &options);
  if (usage) return usage;
  return sp_cli_report(command, run_model(&options));
}
