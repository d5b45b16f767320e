/* fuzz_saved_model.c — libFuzzer target for the binary SavedModel reader: guarded unpacking,
 * validation, meta graph views, and the show text/JSON renderers over whatever parses. */
#include <stdint.h>
#include <stdlib.h>

#include "core/bytes.h"
#include "formats/saved_model.h"
#include "formats/saved_model_describe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_saved_model *model = NULL;
  if (sp_saved_model_parse(data, size, "fuzz", &model) != SP_OK) return 0;
  const sp_saved_model_meta_graph *meta_graph;
  if (sp_saved_model_find_meta_graph(model, "serve", &meta_graph) == SP_OK) {
    const char *init_op;
    (void)sp_meta_graph_init_op(meta_graph, &init_op);
    for (size_t i = 0; i < meta_graph->signature_count; i++) {
      sp_saved_model_show_options options = {"serve", meta_graph->signature_keys[i], 0};
      sp_buffer out = {0};
      (void)sp_saved_model_show_text(model, &options, &out);
      sp_buffer_free(&out);
    }
  }
  sp_saved_model_show_options all = {NULL, NULL, 1};
  sp_buffer out = {0};
  (void)sp_saved_model_show_text(model, &all, &out);
  sp_buffer_free(&out);
  json_object *json = NULL;
  if (sp_saved_model_show_json(model, &all, &json) == SP_OK) json_object_put(json);
  sp_saved_model_free(model);
  return 0;
}
