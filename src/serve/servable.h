/* servable.h — what the server serves, whatever the file format: a loaded version directory with
 * named signatures and a thread-safe run.
 *
 *   sp_servable *servable;
 *   SP_TRY(sp_servable_load("models/half/00000123", &options, &servable));
 *   const sp_signature *signature = sp_servable_signature(servable, "serving_default");
 *   SP_TRY(sp_servable_run(servable, signature, 1, keys, inputs, &count, &names, &outputs));
 *   sp_servable_outputs_free(count, names, outputs);
 *   sp_servable_free(servable);
 *
 * One adapter per kind of model turns a directory into a servable (servable_saved_model.c:
 * SavedModel through the GraphDef interpreter; servable_keras.c: .keras/.h5/TF.js through the
 * Keras-model runtime). The server core (version manager, REST API, batching) only sees this
 * interface, so adding a format touches one adapter and one line in the format table.
 *
 * Thread safety: after load, a servable is immutable from the server's point of view and
 * sp_servable_run may be called from many threads at once.
 */
#ifndef SP_SERVE_SERVABLE_H
#define SP_SERVE_SERVABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "savepoint/tensor.h"

/* Method names of TF Serving signatures (formats.md §5.1). */
#define SP_METHOD_PREDICT "tensorflow/serving/predict"
#define SP_METHOD_CLASSIFY "tensorflow/serving/classify"
#define SP_METHOD_REGRESS "tensorflow/serving/regress"
#define SP_DEFAULT_SIGNATURE "serving_default"

/* One input or output of a signature as TensorInfo describes it. */
typedef struct sp_tensor_spec {
  char *key;         /* the signature's name for it: "x", "inputs", "scores" */
  char *tensor_name; /* the graph tensor: "x:0" ("" when the format has none) */
  int dtype;         /* TensorFlow DataType number; may be a _REF type (value + 100) */
  int rank;          /* -1: unknown rank */
  int64_t *dims;     /* rank entries, -1 for unknown sizes */
} sp_tensor_spec;

typedef struct sp_signature {
  char *key;              /* "serving_default" */
  char *method_name;      /* SP_METHOD_PREDICT, ... ("" when absent) */
  sp_tensor_spec *inputs; /* sorted by key */
  size_t input_count;
  sp_tensor_spec *outputs; /* sorted by key */
  size_t output_count;
} sp_signature;

typedef struct sp_servable sp_servable;

/* What an adapter implements. run receives inputs ordered as the caller gave them (keys are
 * signature input keys) and returns outputs as new tensors with their keys (new strings), in
 * any order. */
typedef struct sp_servable_operations {
  sp_status (*run)(void *state, const sp_signature *signature, size_t input_count, const char *const *input_keys,
                   const sp_tensor *const *inputs, size_t *output_count, char ***output_keys, sp_tensor ***outputs);
  void (*free)(void *state);
} sp_servable_operations;

struct sp_servable {
  const char *format;       /* "saved_model", "keras", "h5", "tfjs" (static) */
  char *description;        /* one line for logs: "SavedModel (TF 1.14.0), 5 signatures" */
  sp_signature *signatures; /* sorted by key */
  size_t signature_count;
  const sp_servable_operations *operations;
  void *state;
};

typedef struct sp_servable_options {
  const char *tag_set; /* SavedModel meta graph tags; NULL: "serve" */
} sp_servable_options;

/* A format the server can load: probe says whether a version directory holds it (by its file
 * names, cheaply), load builds the servable and checks everything it can (every file parses,
 * checksums). */
typedef struct sp_servable_format {
  const char *name;
  int (*probe)(const char *directory);
  sp_status (*load)(const char *directory, const sp_servable_options *options, sp_servable **servable);
} sp_servable_format;

/* Loads the version directory with the first format whose probe accepts it; a directory no
 * format recognises is an SP_ERROR_NOT_FOUND saying what was expected. */
sp_status sp_servable_load(const char *directory, const sp_servable_options *options,
                           sp_servable **servable) SP_MUST_CHECK;
/* Adds a format tried before the built-in ones (tests, embedders). At most 8. Not thread-safe:
 * call before starting a server. */
sp_status sp_servable_register_format(const sp_servable_format *format) SP_MUST_CHECK;
void sp_servable_free(sp_servable *servable);

/* The signature called key, or NULL. */
const sp_signature *sp_servable_signature(const sp_servable *servable, const char *key);
/* The spec called key among count specs, or NULL. */
const sp_tensor_spec *sp_tensor_spec_find(const sp_tensor_spec *specs, size_t count, const char *key);

/* Runs a signature. */
sp_status sp_servable_run(const sp_servable *servable, const sp_signature *signature, size_t input_count,
                          const char *const *input_keys, const sp_tensor *const *inputs, size_t *output_count,
                          char ***output_keys, sp_tensor ***outputs) SP_MUST_CHECK;
void sp_servable_outputs_free(size_t count, char **keys, sp_tensor **outputs);

/* A servable around adapter state, taking ownership of signatures (sorted here) and state; on
 * failure the signatures and the state (through operations->free) are released. */
sp_status sp_servable_create(const char *format, char *description, sp_signature *signatures, size_t signature_count,
                             const sp_servable_operations *operations, void *state,
                             sp_servable **servable) SP_MUST_CHECK;
/* Releases what an sp_signature array owns. */
void sp_signatures_free(sp_signature *signatures, size_t count);
/* Sorts a signature's inputs and outputs by key. */
void sp_signature_sort(sp_signature *signature);

/* The value type of a DataType: _REF types (value + 100) map to their value type. */
int sp_data_type_value(int data_type);

#endif
