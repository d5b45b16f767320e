/* servable.c — the format table and the format-independent parts of a servable (see servable.h).
 *
 * The built-in formats are listed once, below; registered formats are tried first so a test or an
 * embedder can serve something the built-ins do not know.
 */
#include "serve/servable.h"

#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "serve/servable_formats.h"

enum { MAX_REGISTERED_FORMATS = 8 };

static const sp_servable_format *registered_formats[MAX_REGISTERED_FORMATS];
static size_t registered_format_count;

static const sp_servable_format *const builtin_formats[] = {
    &sp_servable_format_saved_model,
    &sp_servable_format_keras,
};

sp_status sp_servable_register_format(const sp_servable_format *format) {
  if (registered_format_count == MAX_REGISTERED_FORMATS)
    return sp_fail(SP_ERROR_UNSAFE, "cannot register servable format '%s': %d are registered already", format->name,
                   MAX_REGISTERED_FORMATS);
  registered_formats[registered_format_count++] = format;
  return SP_OK;
}

static const sp_servable_format *find_format(const char *directory) {
  for (size_t i = 0; i < registered_format_count; i++)
    if (registered_formats[i]->probe(directory)) return registered_formats[i];
  for (size_t i = 0; i < sizeof builtin_formats / sizeof *builtin_formats; i++)
    if (builtin_formats[i]->probe(directory)) return builtin_formats[i];
  return NULL;
}

sp_status sp_servable_load(const char *directory, const sp_servable_options *options, sp_servable **servable) {
  *servable = NULL;
  const sp_servable_format *format = find_format(directory);
  if (!format)
    return sp_fail(SP_ERROR_NOT_FOUND,
                   "'%s' holds no model to serve: expected a SavedModel (saved_model.pb), a Keras model (*.keras, "
                   "*.h5) or a TF.js model (model.json)",
                   directory);
  sp_servable_options defaults = {0};
  return format->load(directory, options ? options : &defaults, servable);
}

static void tensor_specs_free(sp_tensor_spec *specs, size_t count) {
  for (size_t i = 0; specs && i < count; i++) {
    free(specs[i].key);
    free(specs[i].tensor_name);
    free(specs[i].dims);
  }
  free(specs);
}

void sp_signatures_free(sp_signature *signatures, size_t count) {
  for (size_t i = 0; signatures && i < count; i++) {
    free(signatures[i].key);
    free(signatures[i].method_name);
    tensor_specs_free(signatures[i].inputs, signatures[i].input_count);
    tensor_specs_free(signatures[i].outputs, signatures[i].output_count);
  }
  free(signatures);
}

static int compare_specs(const void *a, const void *b) {
  return strcmp(((const sp_tensor_spec *)a)->key, ((const sp_tensor_spec *)b)->key);
}

static int compare_signatures(const void *a, const void *b) {
  return strcmp(((const sp_signature *)a)->key, ((const sp_signature *)b)->key);
}

void sp_signature_sort(sp_signature *signature) {
  if (signature->input_count > 1)
    qsort(signature->inputs, signature->input_count, sizeof *signature->inputs, compare_specs);
  if (signature->output_count > 1)
    qsort(signature->outputs, signature->output_count, sizeof *signature->outputs, compare_specs);
}

sp_status sp_servable_create(const char *format, char *description, sp_signature *signatures, size_t signature_count,
                             const sp_servable_operations *operations, void *state, sp_servable **servable) {
  *servable = sp_alloc_zeroed(1, sizeof **servable);
  if (!*servable) {
    free(description);
    sp_signatures_free(signatures, signature_count);
    operations->free(state);
    return SP_ERROR_NO_MEMORY;
  }
  for (size_t i = 0; i < signature_count; i++) sp_signature_sort(&signatures[i]);
  if (signature_count > 1) qsort(signatures, signature_count, sizeof *signatures, compare_signatures);
  (*servable)->format = format;
  (*servable)->description = description;
  (*servable)->signatures = signatures;
  (*servable)->signature_count = signature_count;
  (*servable)->operations = operations;
  (*servable)->state = state;
  return SP_OK;
}

void sp_servable_free(sp_servable *servable) {
  if (!servable) return;
  if (servable->operations) servable->operations->free(servable->state);
  sp_signatures_free(servable->signatures, servable->signature_count);
  free(servable->description);
  free(servable);
}

const sp_signature *sp_servable_signature(const sp_servable *servable, const char *key) {
  size_t low = 0, high = servable->signature_count;
  while (low < high) {
    size_t middle = low + (high - low) / 2;
    int order = strcmp(servable->signatures[middle].key, key);
    if (order == 0) return &servable->signatures[middle];
    if (order < 0)
      low = middle + 1;
    else
      high = middle;
  }
  return NULL;
}

const sp_tensor_spec *sp_tensor_spec_find(const sp_tensor_spec *specs, size_t count, const char *key) {
  for (size_t i = 0; i < count; i++)
    if (strcmp(specs[i].key, key) == 0) return &specs[i];
  return NULL;
}

sp_status sp_servable_run(const sp_servable *servable, const sp_signature *signature, size_t input_count,
                          const char *const *input_keys, const sp_tensor *const *inputs, size_t *output_count,
                          char ***output_keys, sp_tensor ***outputs) {
  *output_count = 0;
  *output_keys = NULL;
  *outputs = NULL;
  return servable->operations->run(servable->state, signature, input_count, input_keys, inputs, output_count,
                                   output_keys, outputs);
}

void sp_servable_outputs_free(size_t count, char **keys, sp_tensor **outputs) {
  for (size_t i = 0; i < count; i++) {
    if (keys) free(keys[i]);
    if (outputs) sp_tensor_free(outputs[i]);
  }
  free(keys);
  free(outputs);
}

int sp_data_type_value(int data_type) { return data_type > 100 ? data_type - 100 : data_type; }
