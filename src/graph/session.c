/* session.c — SavedModel loading and signature runs (see session.h).
 *
 * Plans for signatures are built once at open, with every signature input fed; a run that leaves an
 * input out (one with a default) gets a plan of its own. Everything a run shares is immutable after
 * open except the variables, which guard themselves.
 */
#include "graph/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "formats/proto_read.h"
#include "graph/executor.h"
#include "graph/program.h"

typedef struct signature_entry {
  const char *key;
  const sp_signature_proto *proto;
  sp_signature_tensor *inputs, *outputs; /* sorted by key */
  size_t input_count, output_count;
  sp_graph_edge *input_edges, *output_edges;
  sp_graph_plan plan; /* every input fed */
  char *unusable;     /* why the signature cannot run (sparse or composite tensors), or NULL */
} signature_entry;

struct sp_graph_session {
  sp_saved_model *model;
  Tensorflow__GraphDef *graph; /* sessions over a bare GraphDef own it */
  const sp_saved_model_meta_graph *meta_graph;
  sp_graph_library *library;
  sp_graph_runtime runtime;
  int runtime_ready;
  signature_entry *signatures;
  size_t signature_count;
};

/* ---------- signatures ---------- */

static int is_internal_signature(const char *key) {
  return strcmp(key, "__saved_model_init_op") == 0 || strcmp(key, "__saved_model_train_op") == 0;
}

static sp_status resolve_tensors(const sp_graph_program *program, signature_entry *entry, const sp_signature_tensor *list,
                                 size_t count, sp_graph_edge *edges, const char *direction) {
  for (size_t i = 0; i < count; i++) {
    const sp_tensor_info_proto *info = list[i].info;
    if (!info || info->encoding_case != TENSORFLOW__TENSOR_INFO__ENCODING_NAME) {
      if (!entry->unusable &&
          !(entry->unusable = sp_strdupf("%s '%s' is a sparse or composite tensor, which savepoint does not run",
                                         direction, list[i].key)))
        return SP_ERROR_NO_MEMORY;
      continue;
    }
    sp_status status = sp_graph_program_tensor(program, info->name, &edges[i]);
    if (status != SP_OK)
      return sp_error_context(status, "signature '%s' %s '%s'", entry->key, direction, list[i].key);
  }
  return SP_OK;
}

static sp_status prepare_signature(sp_graph_session *session, signature_entry *entry, sp_graph_missing_list *missing) {
  const sp_graph_program *program = &session->library->main;
  SP_TRY(sp_signature_tensors(entry->proto, 0, &entry->inputs, &entry->input_count));
  SP_TRY(sp_signature_tensors(entry->proto, 1, &entry->outputs, &entry->output_count));
  entry->input_edges = sp_alloc_zeroed(entry->input_count + 1, sizeof *entry->input_edges);
  entry->output_edges = sp_alloc_zeroed(entry->output_count + 1, sizeof *entry->output_edges);
  if (!entry->input_edges || !entry->output_edges) return SP_ERROR_NO_MEMORY;
  SP_TRY(resolve_tensors(program, entry, entry->inputs, entry->input_count, entry->input_edges, "input"));
  SP_TRY(resolve_tensors(program, entry, entry->outputs, entry->output_count, entry->output_edges, "output"));
  if (entry->unusable) return SP_OK;
  sp_status status = sp_graph_plan_build(program, entry->output_edges, entry->output_count, NULL, 0, entry->input_edges,
                                         entry->input_count, &entry->plan);
  if (status != SP_OK) return sp_error_context(status, "signature '%s'", entry->key);
  return sp_graph_plan_check(session->library, program, &entry->plan, missing);
}

static sp_status prepare_signatures(sp_graph_session *session, sp_graph_missing_list *missing) {
  const sp_saved_model_meta_graph *meta_graph = session->meta_graph;
  session->signatures = sp_alloc_zeroed(meta_graph->signature_count + 1, sizeof *session->signatures);
  if (!session->signatures) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < meta_graph->signature_count; i++) {
    const char *key = meta_graph->signature_keys[i];
    if (is_internal_signature(key)) continue;
    signature_entry *entry = &session->signatures[session->signature_count++];
    entry->key = key;
    entry->proto = sp_meta_graph_signature(meta_graph, key);
    SP_TRY(prepare_signature(session, entry, missing));
  }
  return SP_OK;
}

static void free_signatures(sp_graph_session *session) {
  for (size_t i = 0; i < session->signature_count; i++) {
    signature_entry *entry = &session->signatures[i];
    free(entry->inputs);
    free(entry->outputs);
    free(entry->input_edges);
    free(entry->output_edges);
    free(entry->unusable);
    sp_graph_plan_free(&entry->plan);
  }
  free(session->signatures);
}

/* ---------- running by names ---------- */

/* A value wrapping a caller's tensor without copying it (runs never write their inputs). */
static sp_graph_value *borrow(const sp_tensor *tensor) {
  sp_tensor *view = sp_tensor_wrap(tensor->dtype, tensor->rank, tensor->shape, tensor->data);
  if (!view) return NULL;
  return sp_graph_value_from_tensor(view);
}

/* A new tensor the caller owns, for a fetched value (references read their variable). */
static sp_status export_value(sp_graph_value *value, const char *name, sp_tensor **tensor) {
  *tensor = NULL;
  if (!value->tensor && !value->is_reference)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "'%s' is a resource handle, which cannot be fetched", name);
  sp_graph_value *resolved;
  SP_TRY(sp_graph_value_resolve(value, &resolved));
  *tensor = sp_tensor_copy(resolved->tensor);
  sp_graph_value_release(resolved);
  return *tensor ? SP_OK : SP_ERROR_NO_MEMORY;
}

typedef struct run_request {
  size_t feed_count;
  const sp_graph_edge *feeds;
  const sp_tensor *const *feed_tensors;
  size_t fetch_count;
  const sp_graph_edge *fetches;
  size_t target_count;
  const int32_t *targets;
  const sp_graph_plan *plan; /* NULL: build one for this request */
} run_request;

static sp_status execute_request(sp_graph_session *session, const run_request *request, sp_graph_value **fetched) {
  const sp_graph_program *program = &session->library->main;
  sp_graph_plan own = {0};
  const sp_graph_plan *plan = request->plan;
  sp_status status = SP_OK;
  if (!plan) {
    status = sp_graph_plan_build(program, request->fetches, request->fetch_count, request->targets,
                                 request->target_count, request->feeds, request->feed_count, &own);
    sp_graph_missing_list missing = {0};
    if (status == SP_OK) status = sp_graph_plan_check(session->library, program, &own, &missing);
    if (status == SP_OK && missing.count) {
      sp_buffer text = {0};
      status = sp_graph_missing_format(&missing, &text);
      if (status == SP_OK) status = sp_fail(SP_ERROR_UNSUPPORTED, "%s", (char *)text.data);
      sp_buffer_free(&text);
    }
    sp_graph_missing_free(&missing);
    plan = &own;
  }
  sp_graph_value **feed_values = sp_alloc_zeroed(request->feed_count + 1, sizeof *feed_values);
  if (status == SP_OK && !feed_values) status = SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < request->feed_count && status == SP_OK; i++)
    if (!(feed_values[i] = borrow(request->feed_tensors[i]))) status = SP_ERROR_NO_MEMORY;
  sp_graph_run run = {&session->runtime, 0};
  if (status == SP_OK)
    status = sp_graph_execute(&run, program, plan, request->feeds, feed_values, request->feed_count, request->fetches,
                              request->fetch_count, fetched);
  for (size_t i = 0; feed_values && i < request->feed_count; i++) sp_graph_value_release(feed_values[i]);
  free(feed_values);
  sp_graph_plan_free(&own);
  return status;
}

/* ---------- restore and init ---------- */

typedef struct asset_feeds {
  sp_graph_edge *edges;
  sp_tensor **tensors;
  size_t count;
} asset_feeds;

static void free_asset_feeds(asset_feeds *feeds) {
  for (size_t i = 0; i < feeds->count; i++) sp_tensor_free(feeds->tensors[i]);
  free(feeds->edges);
  free(feeds->tensors);
}

static sp_status string_scalar(const char *text, sp_tensor **tensor) {
  *tensor = sp_tensor_new(SP_STRING, 0, NULL);
  if (!*tensor) return SP_ERROR_NO_MEMORY;
  return sp_tensor_set_string(*tensor, 0, text, strlen(text));
}

/* Feeds for the restore and init runs: each asset's tensor gets "<dir>/assets/<file>"; slot 0 is
 * left for the restore run's file name. */
static sp_status build_asset_feeds(sp_graph_session *session, asset_feeds *feeds) {
  const sp_saved_model_meta_graph *meta_graph = session->meta_graph;
  size_t count = meta_graph->asset_count;
  feeds->edges = sp_alloc_zeroed(count + 2, sizeof *feeds->edges);
  feeds->tensors = sp_alloc_zeroed(count + 2, sizeof *feeds->tensors);
  if (!feeds->edges || !feeds->tensors) return SP_ERROR_NO_MEMORY;
  feeds->count = 1;
  for (size_t i = 0; i < count; i++) {
    const sp_saved_model_asset *asset = &meta_graph->assets[i];
    SP_TRY(sp_graph_program_tensor(&session->library->main, asset->tensor_name, &feeds->edges[feeds->count]));
    char *path = sp_strdupf("%s/assets/%s", session->model->directory, asset->filename);
    if (!path) return SP_ERROR_NO_MEMORY;
    sp_status status = string_scalar(path, &feeds->tensors[feeds->count]);
    free(path);
    feeds->count++;
    SP_TRY(status);
  }
  return SP_OK;
}

static sp_status node_for_target(const sp_graph_program *program, const char *name, int32_t *node) {
  char *plain = sp_strdup(name[0] == '^' ? name + 1 : name);
  if (!plain) return SP_ERROR_NO_MEMORY;
  char *colon = strrchr(plain, ':');
  if (colon) *colon = '\0';
  *node = sp_graph_program_find(program, plain);
  free(plain);
  if (*node < 0) return sp_fail(SP_ERROR_NOT_FOUND, "the graph has no node '%s'", name);
  return SP_OK;
}

/* The restore or init run: a target node with the asset feeds (and the variables prefix first when
 * restoring). check only builds the plan and notes what is missing. */
static sp_status loader_run(sp_graph_session *session, const char *target_name, asset_feeds *feeds, int with_prefix,
                            sp_graph_missing_list *missing) {
  const sp_graph_program *program = &session->library->main;
  int32_t target;
  SP_TRY(node_for_target(program, target_name, &target));
  size_t first = with_prefix ? 0 : 1;
  sp_graph_plan plan;
  SP_TRY(sp_graph_plan_build(program, NULL, 0, &target, 1, feeds->edges + first, feeds->count - first, &plan));
  sp_status status = SP_OK;
  if (missing) {
    status = sp_graph_plan_check(session->library, program, &plan, missing);
  } else {
    run_request request = {feeds->count - first, feeds->edges + first, (const sp_tensor *const *)feeds->tensors + first,
                           0, NULL, 1, &target, &plan};
    status = execute_request(session, &request, NULL);
  }
  sp_graph_plan_free(&plan);
  return status;
}

static const char *restore_op(const sp_graph_session *session) {
  const sp_meta_graph_proto *proto = session->meta_graph->proto;
  if (!session->model->has_variables || !proto->saver_def || !*proto->saver_def->restore_op_name) return NULL;
  return proto->saver_def->restore_op_name;
}

static sp_status restore_and_init(sp_graph_session *session, sp_graph_missing_list *missing) {
  asset_feeds feeds = {0};
  sp_status status = build_asset_feeds(session, &feeds);
  const char *restore = restore_op(session);
  const char *init = NULL;
  if (status == SP_OK) status = sp_meta_graph_init_op(session->meta_graph, &init);
  if (status == SP_OK && session->model->has_variables && !restore)
    status = sp_fail(SP_ERROR_UNSUPPORTED, "the SavedModel has variables but no saver_def to restore them with");
  if (status == SP_OK && restore) {
    const char *filename = session->meta_graph->proto->saver_def->filename_tensor_name;
    char *prefix = sp_saved_model_variables_prefix(session->model);
    status = prefix ? sp_graph_program_tensor(&session->library->main, filename, &feeds.edges[0]) : SP_ERROR_NO_MEMORY;
    if (status == SP_OK) status = string_scalar(prefix, &feeds.tensors[0]);
    free(prefix);
    if (status == SP_OK) status = loader_run(session, restore, &feeds, 1, missing);
    if (status != SP_OK) status = sp_error_context(status, "restoring variables with '%s'", restore);
  }
  if (status == SP_OK && init) {
    status = loader_run(session, init, &feeds, 0, missing);
    if (status != SP_OK) status = sp_error_context(status, "running init op '%s'", init);
  }
  free_asset_feeds(&feeds);
  return status;
}

/* ---------- open and close ---------- */

static sp_status report_missing(const sp_graph_missing_list *missing) {
  if (!missing->count) return SP_OK;
  sp_buffer text = {0};
  sp_status status = sp_graph_missing_format(missing, &text);
  if (status == SP_OK) status = sp_fail(SP_ERROR_UNSUPPORTED, "%s", (char *)text.data);
  sp_buffer_free(&text);
  return status;
}

static sp_status open_session(sp_graph_session *session, const char *tag_set, const sp_graph_limits *limits) {
  SP_TRY(sp_saved_model_find_meta_graph(session->model, tag_set, &session->meta_graph));
  const sp_meta_graph_proto *proto = session->meta_graph->proto;
  if (!proto->graph_def) return sp_fail(SP_ERROR_FORMAT, "the meta graph '%s' has no graph_def", tag_set);
  SP_TRY(sp_graph_library_compile(proto->graph_def, limits, &session->library));
  SP_TRY(sp_graph_runtime_init(&session->runtime, session->library));
  session->runtime_ready = 1;
  sp_graph_missing_list missing = {0};
  sp_status status = prepare_signatures(session, &missing);
  if (status == SP_OK) status = restore_and_init(session, &missing);
  if (status == SP_OK) status = report_missing(&missing);
  sp_graph_missing_free(&missing);
  SP_TRY(status);
  return restore_and_init(session, NULL);
}

sp_status sp_graph_session_open_with_limits(const char *directory, const char *tag_set, const sp_graph_limits *limits,
                                            sp_graph_session **session) {
  *session = NULL;
  sp_graph_limits defaults = {SP_GRAPH_DEFAULT_MAX_TENSOR_BYTES, SP_GRAPH_DEFAULT_MAX_CALL_DEPTH};
  if (!limits) limits = &defaults;
  if (!tag_set) tag_set = "serve";
  sp_graph_session *result = sp_alloc_zeroed(1, sizeof *result);
  if (!result) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_saved_model_read(directory, &result->model);
  if (status == SP_OK) {
    status = open_session(result, tag_set, limits);
    if (status != SP_OK) status = sp_error_context(status, "loading SavedModel '%s' [%s]", directory, tag_set);
  }
  if (status != SP_OK) {
    sp_graph_session_close(result);
    return status;
  }
  *session = result;
  return SP_OK;
}

sp_status sp_graph_session_open(const char *directory, const char *tag_set, sp_graph_session **session) {
  return sp_graph_session_open_with_limits(directory, tag_set, NULL, session);
}

sp_status sp_graph_session_open_graph(const uint8_t *data, size_t size, const char *what, const sp_graph_limits *limits,
                                      sp_graph_session **session) {
  *session = NULL;
  sp_graph_limits defaults = {SP_GRAPH_DEFAULT_MAX_TENSOR_BYTES, SP_GRAPH_DEFAULT_MAX_CALL_DEPTH};
  sp_graph_session *result = sp_alloc_zeroed(1, sizeof *result);
  if (!result) return SP_ERROR_NO_MEMORY;
  ProtobufCMessage *message = NULL;
  sp_status status = sp_proto_unpack(&tensorflow__graph_def__descriptor, data, size, what, &message);
  result->graph = (Tensorflow__GraphDef *)message;
  if (status == SP_OK) status = sp_graph_library_compile(result->graph, limits ? limits : &defaults, &result->library);
  if (status == SP_OK && (status = sp_graph_runtime_init(&result->runtime, result->library)) == SP_OK)
    result->runtime_ready = 1;
  if (status != SP_OK) {
    sp_graph_session_close(result);
    return sp_error_context(status, "loading graph '%s'", what);
  }
  *session = result;
  return SP_OK;
}

void sp_graph_session_close(sp_graph_session *session) {
  if (!session) return;
  free_signatures(session);
  if (session->runtime_ready) sp_graph_runtime_destroy(&session->runtime);
  sp_graph_library_free(session->library);
  if (session->graph) protobuf_c_message_free_unpacked(&session->graph->base, NULL);
  sp_saved_model_free(session->model);
  free(session);
}

const sp_saved_model *sp_graph_session_model(const sp_graph_session *session) { return session->model; }

const sp_saved_model_meta_graph *sp_graph_session_meta_graph(const sp_graph_session *session) {
  return session->meta_graph;
}

/* ---------- signature runs ---------- */

static const signature_entry *find_signature(const sp_graph_session *session, const char *key) {
  for (size_t i = 0; i < session->signature_count; i++)
    if (strcmp(session->signatures[i].key, key) == 0) return &session->signatures[i];
  return NULL;
}

static sp_status unknown_signature(const sp_graph_session *session, const char *key) {
  sp_buffer keys = {0};
  for (size_t i = 0; i < session->signature_count; i++)
    if (sp_buffer_printf(&keys, "%s'%s'", i ? ", " : "", session->signatures[i].key) != SP_OK) break;
  sp_status status = sp_fail(SP_ERROR_NOT_FOUND, "no signature '%s'; the model has: %.*s", key, (int)keys.size,
                             keys.data ? (char *)keys.data : "(none)");
  sp_buffer_free(&keys);
  return status;
}

/* Inputs must have the signature's dtype. Shapes are not enforced: like TensorFlow's C++ runtime (and
 * so TF Serving), a run accepts any shape the kernels accept; the tfjs-node fixtures rely on this,
 * feeding vectors to signatures that declare scalars. */
static sp_status check_input(const signature_entry *entry, const sp_signature_tensor *input, const sp_tensor *tensor) {
  const sp_tensor_info_proto *info = input->info;
  char wanted[24];
  if ((int)tensor->dtype != (int)info->dtype)
    return sp_fail(SP_ERROR_MISMATCH, "signature '%s' input '%s' must be %s, got %s", entry->key, input->key,
                   sp_data_type_name(info->dtype, wanted, sizeof wanted), sp_dtype_tf_name(tensor->dtype));
  return SP_OK;
}

/* Orders the caller's inputs like the signature's and checks them; missing entries stay NULL. */
static sp_status match_inputs(const signature_entry *entry, size_t input_count, const char *const *input_keys,
                              const sp_tensor *const *inputs, const sp_tensor **ordered) {
  for (size_t i = 0; i < input_count; i++) {
    size_t j = 0;
    while (j < entry->input_count && strcmp(entry->inputs[j].key, input_keys[i]) != 0) j++;
    if (j == entry->input_count) {
      sp_buffer keys = {0};
      for (size_t k = 0; k < entry->input_count; k++)
        if (sp_buffer_printf(&keys, "%s\"%s\"", k ? ", " : "", entry->inputs[k].key) != SP_OK) break;
      sp_status status = sp_fail(SP_ERROR_NOT_FOUND, "\"%s\" is not an input of signature '%s'; choose from %.*s",
                                 input_keys[i], entry->key, (int)keys.size,
                                 keys.data ? (char *)keys.data : "(none: it takes no inputs)");
      sp_buffer_free(&keys);
      return status;
    }
    if (ordered[j]) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "input '%s' is given twice", input_keys[i]);
    SP_TRY(check_input(entry, &entry->inputs[j], inputs[i]));
    ordered[j] = inputs[i];
  }
  return SP_OK;
}

static sp_status run_signature(sp_graph_session *session, const signature_entry *entry, const sp_tensor **ordered,
                               sp_graph_value **fetched) {
  const sp_graph_program *program = &session->library->main;
  sp_graph_edge *feeds = sp_alloc_zeroed(entry->input_count + 1, sizeof *feeds);
  const sp_tensor **tensors = sp_alloc_zeroed(entry->input_count + 1, sizeof *tensors);
  if (!feeds || !tensors) {
    free(feeds);
    free(tensors);
    return SP_ERROR_NO_MEMORY;
  }
  size_t fed = 0;
  sp_status status = SP_OK;
  for (size_t i = 0; i < entry->input_count && status == SP_OK; i++) {
    if (ordered[i]) {
      feeds[fed] = entry->input_edges[i];
      tensors[fed++] = ordered[i];
    } else if (strcmp(program->nodes[entry->input_edges[i].node].def->op, "Placeholder") == 0) {
      status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "signature '%s' needs input '%s' (tensor %s)", entry->key,
                       entry->inputs[i].key, entry->inputs[i].info->name);
    }
  }
  run_request request = {fed, feeds, tensors, entry->output_count, entry->output_edges, 0, NULL,
                         fed == entry->input_count ? &entry->plan : NULL};
  if (status == SP_OK) status = execute_request(session, &request, fetched);
  free(feeds);
  free(tensors);
  return status;
}

void sp_graph_outputs_free(size_t count, char **keys, sp_tensor **outputs) {
  for (size_t i = 0; i < count; i++) {
    if (keys) free(keys[i]);
    if (outputs) sp_tensor_free(outputs[i]);
  }
  free(keys);
  free(outputs);
}

static sp_status export_outputs(const signature_entry *entry, sp_graph_value **fetched, char ***output_keys,
                                sp_tensor ***outputs) {
  char **keys = sp_alloc_zeroed(entry->output_count + 1, sizeof *keys);
  sp_tensor **tensors = sp_alloc_zeroed(entry->output_count + 1, sizeof *tensors);
  sp_status status = keys && tensors ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < entry->output_count && status == SP_OK; i++) {
    if (!(keys[i] = sp_strdup(entry->outputs[i].key))) status = SP_ERROR_NO_MEMORY;
    else status = export_value(fetched[i], entry->outputs[i].info->name, &tensors[i]);
  }
  if (status != SP_OK) {
    sp_graph_outputs_free(entry->output_count, keys, tensors);
    return status;
  }
  *output_keys = keys;
  *outputs = tensors;
  return SP_OK;
}

sp_status sp_graph_session_run(sp_graph_session *session, const char *signature_key, size_t input_count,
                               const char *const *input_keys, const sp_tensor *const *inputs, size_t *output_count,
                               char ***output_keys, sp_tensor ***outputs) {
  *output_count = 0;
  *output_keys = NULL;
  *outputs = NULL;
  const signature_entry *entry = find_signature(session, signature_key);
  if (!entry) return unknown_signature(session, signature_key);
  if (entry->unusable) return sp_fail(SP_ERROR_UNSUPPORTED, "signature '%s': %s", entry->key, entry->unusable);
  const sp_tensor **ordered = sp_alloc_zeroed(entry->input_count + 1, sizeof *ordered);
  sp_graph_value **fetched = sp_alloc_zeroed(entry->output_count + 1, sizeof *fetched);
  sp_status status = ordered && fetched ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = match_inputs(entry, input_count, input_keys, inputs, ordered);
  if (status == SP_OK) status = run_signature(session, entry, ordered, fetched);
  if (status == SP_OK) status = export_outputs(entry, fetched, output_keys, outputs);
  if (status == SP_OK) *output_count = entry->output_count;
  for (size_t i = 0; fetched && i < entry->output_count; i++) sp_graph_value_release(fetched[i]);
  free(fetched);
  free(ordered);
  if (status != SP_OK) return sp_error_context(status, "running signature '%s'", signature_key);
  return SP_OK;
}

sp_status sp_graph_session_run_tensors(sp_graph_session *session, size_t feed_count, const char *const *feed_names,
                                       const sp_tensor *const *feeds, size_t fetch_count,
                                       const char *const *fetch_names, size_t target_count,
                                       const char *const *target_names, sp_tensor **fetched) {
  const sp_graph_program *program = &session->library->main;
  for (size_t i = 0; i < fetch_count; i++) fetched[i] = NULL;
  sp_graph_edge *feed_edges = sp_alloc_zeroed(feed_count + 1, sizeof *feed_edges);
  sp_graph_edge *fetch_edges = sp_alloc_zeroed(fetch_count + 1, sizeof *fetch_edges);
  int32_t *targets = sp_alloc_zeroed(target_count + 1, sizeof *targets);
  sp_graph_value **values = sp_alloc_zeroed(fetch_count + 1, sizeof *values);
  sp_status status = feed_edges && fetch_edges && targets && values ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < feed_count && status == SP_OK; i++)
    status = sp_graph_program_tensor(program, feed_names[i], &feed_edges[i]);
  for (size_t i = 0; i < fetch_count && status == SP_OK; i++)
    status = sp_graph_program_tensor(program, fetch_names[i], &fetch_edges[i]);
  for (size_t i = 0; i < target_count && status == SP_OK; i++)
    status = node_for_target(program, target_names[i], &targets[i]);
  run_request request = {feed_count, feed_edges, feeds, fetch_count, fetch_edges, target_count, targets, NULL};
  if (status == SP_OK) status = execute_request(session, &request, values);
  for (size_t i = 0; i < fetch_count && status == SP_OK; i++) status = export_value(values[i], fetch_names[i], &fetched[i]);
  for (size_t i = 0; values && i < fetch_count; i++) sp_graph_value_release(values[i]);
  if (status != SP_OK)
    for (size_t i = 0; i < fetch_count; i++) {
      sp_tensor_free(fetched[i]);
      fetched[i] = NULL;
    }
  free(feed_edges);
  free(fetch_edges);
  free(targets);
  free(values);
  return status;
}
