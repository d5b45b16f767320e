/* fuzz_graph_load.c — libFuzzer target for graph preparation: the bytes are a SavedModel (each
 * meta graph's GraphDef is compiled) or a bare GraphDef. Compiling resolves every reference,
 * decodes constants under a small size limit and links functions; then one plan over every node
 * and every function's plan are checked for missing ops. Nothing executes, so no input can make
 * the fuzzer run unbounded work. */
#include <stdint.h>
#include <stdlib.h>

#include "core/memory.h"
#include "formats/proto_read.h"
#include "formats/saved_model.h"
#include "graph/program.h"

static void prepare(const Tensorflow__GraphDef *graph) {
  sp_graph_limits limits = {1 << 20, 8};
  sp_graph_library *library;
  if (sp_graph_library_compile(graph, &limits, &library) != SP_OK) return;
  int32_t count = library->main.node_count;
  int32_t *targets = sp_alloc_zeroed((size_t)count + 1, sizeof *targets);
  if (targets) {
    for (int32_t i = 0; i < count; i++) targets[i] = i;
    sp_graph_plan plan;
    if (sp_graph_plan_build(&library->main, NULL, 0, targets, (size_t)count, NULL, 0, &plan) == SP_OK) {
      sp_graph_missing_list missing = {0};
      if (sp_graph_plan_check(library, &library->main, &plan, &missing) == SP_OK) {
        sp_buffer text = {0};
        (void)sp_graph_missing_format(&missing, &text);
        sp_buffer_free(&text);
      }
      sp_graph_missing_free(&missing);
      sp_graph_plan_free(&plan);
    }
    free(targets);
  }
  sp_graph_library_free(library);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_saved_model *model;
  if (sp_saved_model_parse(data, size, "fuzz", &model) == SP_OK) {
    for (size_t i = 0; i < model->meta_graph_count; i++)
      if (model->meta_graphs[i].proto->graph_def) prepare(model->meta_graphs[i].proto->graph_def);
    sp_saved_model_free(model);
    return 0;
  }
  ProtobufCMessage *graph;
  if (sp_proto_unpack(&tensorflow__graph_def__descriptor, data, size, "fuzz", &graph) == SP_OK) {
    prepare((Tensorflow__GraphDef *)graph);
    protobuf_c_message_free_unpacked(graph, NULL);
  }
  return 0;
}
