/* fuzz_checkpoint_graph.c — libFuzzer target for restoring from a checkpoint's object graph.
 *
 * The input is a serialized TrackableObjectGraph. It is written, as _CHECKPOINTABLE_OBJECT_GRAPH,
 * into a bundle that also holds every tensor savepoint writes for a small compiled model
 * (Dense weights, Adam's iter, hyperparameters and slots), and that bundle is read back into
 * the model with sp_checkpoint_read: node ids, slot references, keys and shapes all come from
 * the input. Whatever it holds, a failed read must leave the weights as they were (a change
 * aborts). The seed corpus (fuzz/corpus/checkpoint_graph) holds the graph savepoint writes for
 * this model; mutations reach the optimizer_v2 and Keras 2.11+ optimizer paths from there. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/memory.h"
#include "formats/tf_bundle.h"
#include "formats/tf_checkpoint.h"
#include "savepoint/model.h"
#include "savepoint/train.h"

static sp_model *model;
static sp_checkpoint_snapshot *snapshot;
static char prefix[256];

/* Removes the bundle and its directory when the fuzzer exits. */
static void clean_up(void) {
  char *index = sp_bundle_index_path(prefix), *data = sp_bundle_data_path(prefix, 0, 1);
  if (index) remove(index);
  if (data) remove(data);
  free(index);
  free(data);
  char *slash = strrchr(prefix, '/');
  if (slash) *slash = '\0';
  rmdir(prefix);
}

static void set_up(void) {
  model = sp_sequential("fuzz");
  if (sp_model_add(model, sp_input(1, (int64_t[]){3})) != SP_OK ||
      sp_model_add(model, sp_layer_new("Dense", "{\"name\": \"d\", \"units\": 2}")) != SP_OK ||
      sp_model_build(model) != SP_OK || sp_model_compile(model, sp_adam(1e-3), "mse", NULL) != SP_OK ||
      sp_model_build_optimizer_variables(model) != SP_OK ||
      sp_checkpoint_snapshot_capture(model, NULL, 1, &snapshot) != SP_OK)
    abort();
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(prefix, sizeof prefix, "%s/sp-fuzz-checkpoint-graph-%d/ckpt", base, (int)getpid());
  atexit(clean_up);
}

/* The model's weights, concatenated, to compare before and after a read. */
static uint8_t *weights(size_t *size) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  *size = 0;
  for (int i = 0; i < count; i++) *size += variables[i]->value->size;
  uint8_t *bytes = malloc(*size ? *size : 1), *out = bytes;
  for (int i = 0; i < count; i++) {
    memcpy(out, variables[i]->value->data, variables[i]->value->size);
    out += variables[i]->value->size;
  }
  free(variables);
  return bytes;
}

static int write_bundle(const uint8_t *data, size_t size) {
  sp_bundle_writer *writer;
  if (sp_bundle_writer_open(prefix, &writer) != SP_OK) return 0;
  size_t tensors = sp_checkpoint_snapshot_count(snapshot);
  sp_status status = SP_OK;
  for (size_t i = 0; status == SP_OK && i < tensors; i++) {
    const char *key = sp_checkpoint_snapshot_key(snapshot, i);
    if (strcmp(key, SP_CHECKPOINT_OBJECT_GRAPH_KEY) == 0) continue;
    status = sp_bundle_add(writer, key, sp_checkpoint_snapshot_value(snapshot, i));
  }
  sp_tensor *graph = sp_tensor_new(SP_STRING, 0, NULL);
  if (status == SP_OK && graph && sp_tensor_set_string(graph, 0, data, size) == SP_OK)
    status = sp_bundle_add(writer, SP_CHECKPOINT_OBJECT_GRAPH_KEY, graph);
  sp_tensor_free(graph);
  if (status != SP_OK) {
    sp_bundle_writer_abort(writer);
    return 0;
  }
  return sp_bundle_writer_finish(writer) == SP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!model) set_up();
  if (!write_bundle(data, size)) return 0;
  size_t before_size, after_size;
  uint8_t *before = weights(&before_size);
  if (sp_checkpoint_read(model, prefix, NULL) != SP_OK) {
    uint8_t *after = weights(&after_size);
    if (after_size != before_size || memcmp(before, after, before_size) != 0) abort();
    free(after);
  }
  free(before);
  return 0;
}
