/* sp_layer_eval.c — runs one layer on one input, for peer tests written in Python.
 *
 *   sp_layer_eval CLASS CONFIG_JSON INPUT.npy OUTPUT.npy [VARIABLE.npy ...]
 *
 * Creates the layer from its Keras config (sp_layer_new), builds it in a Sequential model for the
 * input's shape, fills its variables from the given .npy files in creation order (each must
 * match the variable's shape), predicts, and writes the output. Float32, C-order, little-endian
 * .npy only. Prints the error and exits 1 on failure, 2 on usage errors.
 *
 * The .npy reading and writing here is deliberately minimal and test-only; it gives way to
 * core/npy.h once that is on main.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "nn/model.h"
#include "savepoint/model.h"

enum { NPY_LIMIT = 1 << 30 };

/* The shape tuple of a .npy header ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"). */
static sp_status parse_header(const char *path, const char *header, int *rank, int64_t *shape) {
  if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False"))
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: only C-order float32 ('<f4') arrays are read here: %s", path, header);
  const char *cursor = strstr(header, "'shape': (");
  if (!cursor) return sp_fail(SP_ERROR_FORMAT, "%s: no shape in the header %s", path, header);
  for (cursor += 10, *rank = 0; *cursor != ')'; (*rank)++) {
    char *end;
    if (*rank == SP_MAX_RANK) return sp_fail(SP_ERROR_UNSUPPORTED, "%s: rank above %d", path, SP_MAX_RANK);
    shape[*rank] = strtoll(cursor, &end, 10);
    if (end == cursor) return sp_fail(SP_ERROR_FORMAT, "%s: bad shape in %s", path, header);
    cursor = end + strspn(end, ", ");
  }
  return SP_OK;
}

static sp_status npy_read(const char *path, sp_tensor **tensor) {
  uint8_t *data;
  size_t size;
  *tensor = NULL;
  SP_TRY(sp_read_file(path, NPY_LIMIT, &data, &size));
  int wide = size >= 12 && data[6] >= 2; /* versions 2 and 3 have a 4-byte header length */
  size_t start = wide ? 12 : 10, length = 0;
  for (size_t i = 8; i < start && i < size; i++) length |= (size_t)data[i] << (8 * (i - 8));
  int64_t shape[SP_MAX_RANK];
  int rank = 0;
  char *header = NULL;
  sp_status status = SP_OK;
  if (size < start || memcmp(data, "\x93NUMPY", 6) != 0 || length > size - start)
    status = sp_fail(SP_ERROR_FORMAT, "%s is not a .npy file", path);
  else if (!(header = sp_strndup((const char *)data + start, length)))
    status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = parse_header(path, header, &rank, shape);
  if (status == SP_OK && !(*tensor = sp_tensor_new(SP_FLOAT32, rank, shape))) status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK && size - start - length != (*tensor)->size)
    status = sp_fail(SP_ERROR_FORMAT, "%s: %zu data bytes for a shape of %zu", path, size - start - length, (*tensor)->size);
  if (status == SP_OK) memcpy((*tensor)->data, data + start + length, (*tensor)->size);
  if (status != SP_OK) {
    sp_tensor_free(*tensor);
    *tensor = NULL;
  }
  free(header);
  free(data);
  return status;
}

/* Version 1.0: magic, version, header length, a header padded with spaces to 64 bytes, the data. */
static sp_status npy_write(const char *path, const sp_tensor *tensor) {
  char header[256];
  int used = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  for (int d = 0; d < tensor->rank; d++)
    used += snprintf(header + used, sizeof header - (size_t)used, "%lld%s", (long long)tensor->shape[d],
                     tensor->rank == 1 ? "," : d + 1 < tensor->rank ? ", " : "");
  used += snprintf(header + used, sizeof header - (size_t)used, "), }");
  while ((10 + used + 1) % 64 != 0) header[used++] = ' ';
  header[used++] = '\n';
  size_t total = 10 + (size_t)used + tensor->size;
  uint8_t *bytes = sp_alloc(total);
  if (!bytes) return SP_ERROR_NO_MEMORY;
  memcpy(bytes, "\x93NUMPY\x01\x00", 8);
  bytes[8] = (uint8_t)(used & 0xff);
  bytes[9] = (uint8_t)(used >> 8);
  memcpy(bytes + 10, header, (size_t)used);
  memcpy(bytes + 10 + used, tensor->data, tensor->size);
  sp_status status = sp_write_file_atomic(path, bytes, total);
  free(bytes);
  return status;
}

static sp_status fill_variables(sp_layer *layer, int count, char **paths) {
  if (count != layer->variable_count)
    return sp_fail(SP_ERROR_MISMATCH, "%s has %d variables, %d files were given", sp_layer_describe(layer),
                   layer->variable_count, count);
  for (int v = 0; v < count; v++) {
    sp_tensor *value;
    SP_TRY(npy_read(paths[v], &value));
    sp_variable *variable = layer->variables[v];
    int same = value->rank == variable->value->rank && value->size == variable->value->size;
    for (int d = 0; same && d < value->rank; d++) same = value->shape[d] == variable->value->shape[d];
    if (same) memcpy(variable->value->data, value->data, value->size);
    sp_tensor_free(value);
    if (!same)
      return sp_fail(SP_ERROR_MISMATCH, "%s: '%s' does not have the shape of variable '%s'", sp_layer_describe(layer),
                     paths[v], variable->name);
    variable->initialized = 1;
  }
  return SP_OK;
}

static sp_status evaluate(char **argv, int variable_count, char **variable_paths) {
  sp_tensor *input = NULL, **outputs = NULL;
  SP_TRY(npy_read(argv[3], &input));
  sp_model *model = sp_sequential("layer_eval");
  sp_status status = model ? sp_model_add(model, sp_input(input->rank - 1, input->shape + 1)) : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = sp_model_add(model, sp_layer_new(argv[1], argv[2]));
  if (status == SP_OK) status = sp_model_build(model);
  if (status == SP_OK) status = fill_variables(model->layers[model->layer_count - 1], variable_count, variable_paths);
  int output_count = 0;
  if (status == SP_OK)
    status = sp_model_predict(model, 1, (const sp_tensor *const *)&input, &output_count, &outputs);
  if (status == SP_OK) status = npy_write(argv[4], outputs[0]);
  for (int i = 0; i < output_count; i++) sp_tensor_free(outputs[i]);
  free(outputs);
  sp_model_free(model);
  sp_tensor_free(input);
  return status;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s CLASS CONFIG_JSON INPUT.npy OUTPUT.npy [VARIABLE.npy ...]\n", argv[0]);
    return 2;
  }
  if (evaluate(argv, argc - 5, argv + 5) != SP_OK) {
    fprintf(stderr, "sp_layer_eval: %s\n", sp_last_error());
    return 1;
  }
  return 0;
}
