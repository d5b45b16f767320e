/* servable_saved_model.c — the SavedModel adapter: a version directory holding saved_model.pb
 * (or .pbtxt) becomes a servable through the GraphDef interpreter (graph/session.h).
 *
 * Loading checks what TF Serving's loader checks and more, before the version may serve:
 * saved_model.pb parses and has the requested tag set; every asset the meta graph names exists
 * under assets/; the variables bundle passes a full check (every index block and every tensor
 * CRC32C) when the bundle reader is in the build; the session restores the variables and runs
 * the init op. Signatures are described from the meta graph's SignatureDefs, all of them
 * (including __saved_model_init_op, as TF Serving's metadata lists it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "formats/saved_model.h"
#include "serve/servable_formats.h"
#include "formats/tf_bundle.h"
#include "graph/session.h"

static int probe_saved_model(const char *directory) {
  char *binary = sp_path_join(directory, "saved_model.pb"), *text = sp_path_join(directory, "saved_model.pbtxt");
  int found = (binary && sp_is_regular_file(binary)) || (text && sp_is_regular_file(text));
  free(binary);
  free(text);
  return found;
}

/* ---------- signatures from SignatureDefs ---------- */

static sp_status describe_tensor(const char *key, const sp_tensor_info_proto *info, sp_tensor_spec *spec) {
  spec->key = sp_strdup(key);
  spec->tensor_name =
      sp_strdup(info->encoding_case == TENSORFLOW__TENSOR_INFO__ENCODING_NAME && info->name ? info->name : "");
  if (!spec->key || !spec->tensor_name) return SP_ERROR_NO_MEMORY;
  spec->dtype = (int)info->dtype;
  const Tensorflow__TensorShapeProto *shape = info->tensor_shape;
  if (!shape || shape->unknown_rank) {
    spec->rank = -1;
    return SP_OK;
  }
  if (shape->n_dim > 4096)
    return sp_fail(SP_ERROR_UNSAFE, "signature tensor '%s' declares %zu dimensions", key, shape->n_dim);
  spec->rank = (int)shape->n_dim;
  spec->dims = sp_alloc_zeroed(shape->n_dim + 1, sizeof *spec->dims);
  if (!spec->dims) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < shape->n_dim; i++) spec->dims[i] = shape->dim[i]->size;
  return SP_OK;
}

static sp_status describe_tensors(const sp_signature_proto *proto, int outputs, sp_tensor_spec **specs, size_t *count) {
  sp_signature_tensor *list = NULL;
  size_t listed = 0;
  SP_TRY(sp_signature_tensors(proto, outputs, &list, &listed));
  *specs = sp_alloc_zeroed(listed + 1, sizeof **specs);
  sp_status status = *specs ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) *count = listed; /* zeroed entries free safely if a later one fails */
  for (size_t i = 0; status == SP_OK && i < listed; i++)
    status = describe_tensor(list[i].key, list[i].info, &(*specs)[i]);
  free(list);
  return status;
}

static sp_status describe_signatures(const sp_saved_model_meta_graph *meta_graph, sp_signature **signatures,
                                     size_t *count) {
  *count = 0;
  *signatures = sp_alloc_zeroed(meta_graph->signature_count + 1, sizeof **signatures);
  if (!*signatures) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < meta_graph->signature_count; i++) {
    const char *key = meta_graph->signature_keys[i];
    const sp_signature_proto *proto = sp_meta_graph_signature(meta_graph, key);
    sp_signature *signature = &(*signatures)[(*count)++];
    signature->key = sp_strdup(key);
    signature->method_name = sp_strdup(proto && proto->method_name ? proto->method_name : "");
    if (!signature->key || !signature->method_name) return SP_ERROR_NO_MEMORY;
    if (!proto) continue;
    SP_TRY(describe_tensors(proto, 0, &signature->inputs, &signature->input_count));
    SP_TRY(describe_tensors(proto, 1, &signature->outputs, &signature->output_count));
  }
  return SP_OK;
}

/* ---------- completeness checks that need no interpreter ---------- */

static sp_status check_assets(const sp_saved_model *model, const sp_saved_model_meta_graph *meta_graph) {
  for (size_t i = 0; i < meta_graph->asset_count; i++) {
    const char *name = meta_graph->assets[i].filename;
    int present = 0;
    for (size_t j = 0; j < model->asset_file_count && !present; j++) present = strcmp(model->asset_files[j], name) == 0;
    if (!present)
      return sp_fail(SP_ERROR_NOT_FOUND, "asset 'assets/%s' named by the meta graph is missing from '%s'", name,
                     model->directory);
  }
  return SP_OK;
}

static void report_bundle_problem(void *context, const char *where, const char *message) {
  char *first = context;
  if (!first[0]) snprintf(first, 512, "%s: %s", where, message);
}

static sp_status check_variables(const sp_saved_model *model) {
  if (!model->has_variables) return SP_OK;
  char *prefix = sp_saved_model_variables_prefix(model);
  if (!prefix) return SP_ERROR_NO_MEMORY;
  char first[512] = "";
  size_t problems = 0;
  sp_status status = sp_bundle_verify(prefix, report_bundle_problem, first, &problems);
  if (status != SP_OK && first[0])
    status = sp_fail(status, "variables bundle '%s' failed its checksums (%zu problem%s; first: %s)", prefix, problems,
                     problems == 1 ? "" : "s", first);
  free(prefix);
  return status;
}

/* ---------- the servable ---------- */

static sp_status run_session(void *state, const sp_signature *signature, size_t input_count,
                             const char *const *input_keys, const sp_tensor *const *inputs, size_t *output_count,
                             char ***output_keys, sp_tensor ***outputs) {
  return sp_graph_session_run(state, signature->key, input_count, input_keys, inputs, output_count, output_keys,
                              outputs);
}

static void close_session(void *state) { sp_graph_session_close(state); }

static const sp_servable_operations session_operations = {run_session, close_session};

static char *describe_model(const sp_saved_model *model, size_t signature_count) {
  const Tensorflow__MetaGraphDef__MetaInfoDef *info =
      model->meta_graph_count ? model->proto->meta_graphs[0]->meta_info_def : NULL;
  return sp_strdupf("SavedModel%s%s%s, %zu signature%s",
                    info && info->tensorflow_version && *info->tensorflow_version ? " (TF " : "",
                    info && info->tensorflow_version ? info->tensorflow_version : "",
                    info && info->tensorflow_version && *info->tensorflow_version ? ")" : "", signature_count,
                    signature_count == 1 ? "" : "s");
}

static sp_status load_saved_model(const char *directory, const sp_servable_options *options, sp_servable **servable) {
  const char *tag_set = options->tag_set ? options->tag_set : "serve";
  sp_graph_session *session = NULL;
  SP_TRY(sp_graph_session_open(directory, tag_set, &session));
  const sp_saved_model *model = sp_graph_session_model(session);
  const sp_saved_model_meta_graph *meta_graph = sp_graph_session_meta_graph(session);
  sp_signature *signatures = NULL;
  size_t count = 0;
  sp_status status = check_assets(model, meta_graph);
  if (status == SP_OK) status = check_variables(model);
  if (status == SP_OK) status = describe_signatures(meta_graph, &signatures, &count);
  char *description = status == SP_OK ? describe_model(model, count) : NULL;
  if (status == SP_OK && !description) status = SP_ERROR_NO_MEMORY;
  if (status != SP_OK) {
    sp_signatures_free(signatures, count);
    sp_graph_session_close(session);
    return sp_error_context(status, "loading SavedModel '%s'", directory);
  }
  return sp_servable_create("saved_model", description, signatures, count, &session_operations, session, servable);
}

sp_status sp_saved_model_signatures(const sp_saved_model *model, const char *tag_set, sp_signature **signatures,
                                    size_t *count) {
  *signatures = NULL;
  *count = 0;
  const sp_saved_model_meta_graph *meta_graph = NULL;
  SP_TRY(sp_saved_model_find_meta_graph(model, tag_set ? tag_set : "serve", &meta_graph));
  sp_status status = describe_signatures(meta_graph, signatures, count);
  if (status != SP_OK) {
    sp_signatures_free(*signatures, *count);
    *signatures = NULL;
    *count = 0;
    return status;
  }
  for (size_t i = 0; i < *count; i++) sp_signature_sort(&(*signatures)[i]);
  return SP_OK;
}

const sp_servable_format sp_servable_format_saved_model = {"saved_model", probe_saved_model, load_saved_model};
