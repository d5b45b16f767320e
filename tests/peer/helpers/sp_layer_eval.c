/* sp_layer_eval.c — runs one savepoint layer on .npy files, so Python peer tests can compare
 * it with numpy or torch.
 *
 *   sp_layer_eval [--training] [--keras-major N] CLASS CONFIG_JSON INPUT.npy OUTPUT_PREFIX [WEIGHT.npy ...]
 *
 * CONFIG_JSON is the layer's Keras config as JSON text (or, when it does not start with '{',
 * a file holding it). The layer is built for INPUT's shape, its variables are set from the
 * WEIGHT files in creation order (shapes must match), and forward runs in inference mode
 * (--training: training mode with a fixed seed). Output i is written to OUTPUT_PREFIX<i>.npy.
 * Inputs may be float32, float64, int32 or int64 (cast to float32, as the runner does);
 * outputs are float32, C order. Exit 0 on success, 1 with a message on failure, 2 on misuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "nn/layer.h"
#include "savepoint/tensor.h"

enum { NPY_LIMIT = 1 << 30 };

/* The value after `'key':` in a numpy header dict, as text up to its end. */
static const char *header_value(const char *header, const char *key) {
  char quoted[32];
  snprintf(quoted, sizeof quoted, "'%s':", key);
  const char *at = strstr(header, quoted);
  if (!at) return NULL;
  at += strlen(quoted);
  while (*at == ' ') at++;
  return at;
}

static sp_status parse_header(const char *header, const char *path, sp_dtype *dtype, int *rank, int64_t *shape) {
  const char *descr = header_value(header, "descr"), *order = header_value(header, "fortran_order");
  const char *dims = header_value(header, "shape");
  if (!descr || !order || !dims || *dims != '(')
    return sp_fail(SP_ERROR_FORMAT, "%s: the npy header lacks descr, fortran_order or shape", path);
  if (strncmp(order, "False", 5) != 0) return sp_fail(SP_ERROR_UNSUPPORTED, "%s: Fortran order is not supported", path);
  static const struct { const char *descr; sp_dtype dtype; } types[] = {
      {"'<f4'", SP_FLOAT32}, {"'<f8'", SP_FLOAT64}, {"'<i4'", SP_INT32}, {"'<i8'", SP_INT64}};
  *dtype = SP_DTYPE_INVALID;
  for (size_t i = 0; i < sizeof types / sizeof *types; i++)
    if (strncmp(descr, types[i].descr, strlen(types[i].descr)) == 0) *dtype = types[i].dtype;
  if (*dtype == SP_DTYPE_INVALID) return sp_fail(SP_ERROR_UNSUPPORTED, "%s: dtype %.8s is not supported", path, descr);
  *rank = 0;
  for (const char *p = dims + 1; *p && *p != ')';) {
    char *end;
    long long value = strtoll(p, &end, 10);
    if (end == p) break;
    if (*rank >= SP_MAX_RANK || value < 0) return sp_fail(SP_ERROR_FORMAT, "%s: bad shape in the npy header", path);
    shape[(*rank)++] = value;
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  return SP_OK;
}

/* Reads a C-order npy file into a new float32 tensor. */
static sp_status read_npy(const char *path, sp_tensor **result) {
  uint8_t *data;
  size_t size;
  SP_TRY(sp_read_file(path, NPY_LIMIT, &data, &size));
  sp_reader reader = sp_reader_make(data, size, path);
  const uint8_t *magic, *header_bytes, *body;
  uint8_t major, minor;
  uint32_t header_length = 0;
  sp_status status = sp_read_bytes(&reader, 6, &magic);
  if (status == SP_OK && memcmp(magic, "\x93NUMPY", 6) != 0) status = sp_fail(SP_ERROR_FORMAT, "%s is not an npy file", path);
  if (status == SP_OK) status = sp_read_u8(&reader, &major);
  if (status == SP_OK) status = sp_read_u8(&reader, &minor);
  if (status == SP_OK && major == 1) {
    const uint8_t *length;
    status = sp_read_bytes(&reader, 2, &length);
    if (status == SP_OK) header_length = (uint32_t)length[0] | (uint32_t)length[1] << 8;
  } else if (status == SP_OK) {
    status = sp_read_u32le(&reader, &header_length);
  }
  if (status == SP_OK) status = sp_read_bytes(&reader, header_length, &header_bytes);
  sp_dtype dtype = SP_DTYPE_INVALID;
  int rank = 0;
  int64_t shape[SP_MAX_RANK], count = 0;
  char *header = status == SP_OK ? sp_strndup((const char *)header_bytes, header_length) : NULL;
  if (status == SP_OK) status = header ? parse_header(header, path, &dtype, &rank, shape) : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = sp_shape_count(rank, shape, &count);
  if (status == SP_OK && (uint64_t)count * sp_dtype_size(dtype) != sp_reader_remaining(&reader))
    status = sp_fail(SP_ERROR_FORMAT, "%s: %zu data bytes for shape of %lld elements", path, sp_reader_remaining(&reader),
                     (long long)count);
  if (status == SP_OK) status = sp_read_bytes(&reader, sp_reader_remaining(&reader), &body);
  sp_tensor *tensor = status == SP_OK ? sp_tensor_new(SP_FLOAT32, rank, shape) : NULL;
  if (status == SP_OK && !tensor) status = SP_ERROR_NO_MEMORY;
  for (int64_t i = 0; status == SP_OK && i < count; i++) {
    const uint8_t *p = body + (size_t)i * sp_dtype_size(dtype);
    uint64_t bits = dtype == SP_FLOAT64 || dtype == SP_INT64 ? sp_load_u64le(p) : sp_load_u32le(p);
    float value;
    if (dtype == SP_FLOAT32) memcpy(&value, &bits, sizeof value);
    else if (dtype == SP_INT32) value = (float)(int32_t)bits;
    else if (dtype == SP_INT64) value = (float)(int64_t)bits;
    else {
      double wide;
      memcpy(&wide, &bits, sizeof wide);
      value = (float)wide;
    }
    sp_tensor_floats(tensor)[i] = value;
  }
  free(header);
  free(data);
  if (status != SP_OK) {
    sp_tensor_free(tensor);
    return status;
  }
  *result = tensor;
  return SP_OK;
}

static sp_status write_npy(const char *path, const sp_tensor *tensor) {
  char shape[256] = "";
  size_t used = 0;
  for (int d = 0; d < tensor->rank; d++)
    used += (size_t)snprintf(shape + used, sizeof shape - used, "%lld,%s", (long long)tensor->shape[d],
                             d + 1 < tensor->rank ? " " : "");
  sp_buffer buffer = {0};
  char header[512];
  int length = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape);
  size_t padded = ((size_t)length + 10 + 1 + 63) / 64 * 64 - 10; /* header + '\n', data 64-byte aligned */
  sp_status status = sp_buffer_append(&buffer, "\x93NUMPY\x01\x00", 8);
  if (status == SP_OK) status = sp_buffer_put_u8(&buffer, (uint8_t)(padded & 0xff));
  if (status == SP_OK) status = sp_buffer_put_u8(&buffer, (uint8_t)(padded >> 8));
  if (status == SP_OK) status = sp_buffer_append(&buffer, header, (size_t)length);
  for (size_t i = (size_t)length; status == SP_OK && i + 1 < padded; i++) status = sp_buffer_put_u8(&buffer, ' ');
  if (status == SP_OK) status = sp_buffer_put_u8(&buffer, '\n');
  for (int64_t i = 0; status == SP_OK && i < sp_tensor_count(tensor); i++) {
    uint32_t bits;
    memcpy(&bits, &sp_tensor_floats(tensor)[i], sizeof bits);
    status = sp_buffer_put_u32le(&buffer, bits);
  }
  if (status == SP_OK) status = sp_write_file_atomic(path, buffer.data, buffer.size);
  sp_buffer_free(&buffer);
  return status;
}

static sp_status load_config(const char *argument, json_object **config) {
  if (argument[0] == '{') return sp_json_parse(argument, strlen(argument), "CONFIG_JSON", config);
  uint8_t *text;
  size_t size;
  SP_TRY(sp_read_file(argument, NPY_LIMIT, &text, &size));
  sp_status status = sp_json_parse((const char *)text, size, argument, config);
  free(text);
  return status;
}

static sp_status set_weights(sp_layer *layer, int count, char **paths) {
  if (count != layer->variable_count)
    return sp_fail(SP_ERROR_MISMATCH, "%s has %d variables, %d weight files were given", sp_layer_describe(layer),
                   layer->variable_count, count);
  for (int v = 0; v < count; v++) {
    sp_tensor *weight;
    SP_TRY(read_npy(paths[v], &weight));
    int same = sp_tensor_same_shape(weight, layer->variables[v]->value);
    if (same) memcpy(layer->variables[v]->value->data, weight->data, weight->size);
    sp_tensor_free(weight);
    if (!same) return sp_fail(SP_ERROR_MISMATCH, "%s: variable '%s' does not have the shape of %s",
                              sp_layer_describe(layer), layer->variables[v]->name, paths[v]);
    layer->variables[v]->initialized = 1;
  }
  return SP_OK;
}

static sp_status evaluate(const char *class_name, json_object *config, int keras_major, int training, sp_tensor *input,
                          const char *prefix, int weight_count, char **weight_paths) {
  sp_layer *layer;
  SP_TRY(sp_layer_create(class_name, config, NULL, keras_major, &layer));
  sp_shape shape = sp_shape_of(input), output_shapes[SP_MAX_LAYER_OUTPUTS];
  sp_tensor *outputs[SP_MAX_LAYER_OUTPUTS] = {0};
  int output_count = 0;
  sp_scratch scratch = {0};
  sp_status status = layer->class->build ? layer->class->build(layer, 1, &shape) : SP_OK;
  layer->built = 1;
  if (status == SP_OK) status = set_weights(layer, weight_count, weight_paths);
  if (status == SP_OK) status = layer->class->compute_shapes(layer, 1, &shape, &output_count, output_shapes);
  for (int o = 0; status == SP_OK && o < output_count; o++)
    if (!(outputs[o] = sp_tensor_new(SP_FLOAT32, output_shapes[o].rank, output_shapes[o].dims))) status = SP_ERROR_NO_MEMORY;
  sp_rng rng;
  sp_rng_seed(&rng, 0);
  sp_call call = {.training = training, .input_count = 1, .inputs = &input, .output_count = output_count,
                  .outputs = outputs, .scratch = &scratch, .rng = &rng};
  if (status == SP_OK) status = layer->class->forward(layer, &call);
  for (int o = 0; status == SP_OK && o < output_count; o++) {
    char *path = sp_strdupf("%s%d.npy", prefix, o);
    status = path ? write_npy(path, outputs[o]) : SP_ERROR_NO_MEMORY;
    free(path);
  }
  for (int o = 0; o < output_count; o++) sp_tensor_free(outputs[o]);
  free(scratch.data);
  sp_layer_release(layer);
  return status;
}

int main(int argc, char **argv) {
  int training = 0, keras_major = 3, first = 1;
  for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
    if (strcmp(argv[first], "--training") == 0) training = 1;
    else if (strcmp(argv[first], "--keras-major") == 0 && first + 1 < argc) keras_major = atoi(argv[++first]);
    else break;
  }
  if (argc - first < 4) {
    fprintf(stderr, "usage: %s [--training] [--keras-major N] CLASS CONFIG_JSON INPUT.npy OUTPUT_PREFIX [WEIGHT.npy ...]\n",
            argv[0]);
    return 2;
  }
  json_object *config = NULL;
  sp_tensor *input = NULL;
  sp_status status = load_config(argv[first + 1], &config);
  if (status == SP_OK) status = read_npy(argv[first + 2], &input);
  if (status == SP_OK)
    status = evaluate(argv[first], config, keras_major, training, input, argv[first + 3], argc - first - 4, argv + first + 4);
  if (status != SP_OK) fprintf(stderr, "sp_layer_eval: %s\n", sp_last_error());
  json_object_put(config);
  sp_tensor_free(input);
  return status == SP_OK ? 0 : 1;
}
