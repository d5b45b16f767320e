/* fuzz_graph_run.c — libFuzzer target for the kernels: the bytes are a bare GraphDef (or a
 * SavedModel, whose first graph is used) compiled with small limits (64 KiB tensors, 4 nested
 * calls) and the first outputs of up to 16 nodes fetched, one run each. Variables are never
 * restored, so reads of them fail cleanly; every kernel sees whatever the mutated Consts hold. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "formats/saved_model.h"
#include "graph/session.h"

static void run_nodes(sp_graph_session *session, const Tensorflow__GraphDef *graph) {
  for (size_t i = 0; i < graph->n_node && i < 16; i++) {
    char fetch[600];
    snprintf(fetch, sizeof fetch, "%s:0", graph->node[i]->name);
    const char *fetches[] = {fetch};
    sp_tensor *value = NULL;
    if (sp_graph_session_run_tensors(session, 0, NULL, NULL, 1, fetches, 0, NULL, &value) == SP_OK) sp_tensor_free(value);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_graph_limits limits = {1 << 16, 4};
  const uint8_t *graph_bytes = data;
  size_t graph_size = size;
  uint8_t *packed = NULL;
  sp_saved_model *model = NULL;
  if (sp_saved_model_parse(data, size, "fuzz", &model) == SP_OK && model->meta_graphs[0].proto->graph_def) {
    const Tensorflow__GraphDef *graph = model->meta_graphs[0].proto->graph_def;
    graph_size = tensorflow__graph_def__get_packed_size(graph);
    if (!(packed = malloc(graph_size + 1))) {
      sp_saved_model_free(model);
      return 0;
    }
    tensorflow__graph_def__pack(graph, packed);
    graph_bytes = packed;
  }
  sp_saved_model_free(model);
  sp_graph_session *session;
  if (sp_graph_session_open_graph(graph_bytes, graph_size, "fuzz", &limits, &session) == SP_OK) {
    ProtobufCMessage *graph = protobuf_c_message_unpack(&tensorflow__graph_def__descriptor, NULL, graph_size, graph_bytes);
    if (graph) {
      run_nodes(session, (Tensorflow__GraphDef *)graph);
      protobuf_c_message_free_unpacked(graph, NULL);
    }
    sp_graph_session_close(session);
  }
  free(packed);
  return 0;
}
