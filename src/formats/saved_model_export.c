/* saved_model_export.c — a model as a SavedModel that TensorFlow Serving loads (see
 * saved_model_export.h for the graph's structure and savepoint/saved_model.h for the API).
 *
 * Guarantees:
 *   - the directory appears complete or not at all: everything is written into
 *     sp_temp_directory_for(final), fsynced and renamed into place; a version directory is published
 *     with RENAME_NOREPLACE, so an existing version is never touched;
 *   - the bytes are deterministic: the same model and options give the same saved_model.pb,
 *     variables/ and fingerprint.pb (attrs and maps sorted, no random names, no timestamps);
 *   - bundle keys are exactly the variable node names, which the saver's tensor_names list.
 */
#include "formats/saved_model_export.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "formats/fingerprint.h"
#include "formats/graph_builder.h"
#include "formats/graph_layers.h"
#include "formats/tf_bundle.h"
#include "meta_graph.pb-c.h"
#include "nn/model.h"
#include "saved_model.pb-c.h"
#include "savepoint/manifest.h"
#include "savepoint/version.h"
#include "saver.pb-c.h"
#include "variable.pb-c.h"

sp_export_options sp_export_defaults(void) {
  sp_export_options options;
  memset(&options, 0, sizeof options);
  return options;
}

char *sp_export_path(const char *directory, const sp_export_options *options) {
  if (options && options->version > 0) return sp_strdupf("%s/%" PRId64, directory, options->version);
  return sp_strdup(directory);
}

/* ---- names ---- */

/* A TF node name from any text: [A-Za-z0-9.][A-Za-z0-9_./-]*, other bytes become '_'. */
static char *node_name_for(sp_graph_builder *graph, const char *text) {
  char *name = sp_graph_strdup(graph, *text ? text : "_");
  if (!name) return NULL;
  for (char *c = name; *c; c++) {
    int valid = isalnum((unsigned char)*c) || *c == '.' || (c != name && (*c == '_' || *c == '/' || *c == '-'));
    if (!valid) *c = c == name && *c == '_' ? '.' : '_';
  }
  return name;
}

/* ---- the graph ---- */

typedef struct variable_node {
  const sp_variable *variable;
  const char *name;    /* the VariableV2 node = the bundle key */
  const char *read;    /* "<name>/read" */
  const char *assign;  /* "<name>/Assign" */
  const char *initial; /* "<name>/initial_value" */
} variable_node;

typedef struct exporter {
  const sp_model *model;
  const sp_export_options *options;
  sp_graph_builder *graph;
  variable_node *variables; /* sorted by name once created */
  size_t variable_count;
  const char **input_keys, **output_keys; /* default signature keys */
  sp_graph_value *inputs;   /* placeholders */
  const char **outputs;     /* output Identity nodes */
  sp_graph_value *output_values; /* what they copy (dtype, shape with a fixed time dimension) */
  sp_dtype *input_dtypes;
} exporter;

static int compare_variable_nodes(const void *a, const void *b) {
  return strcmp(((const variable_node *)a)->name, ((const variable_node *)b)->name);
}

static sp_status emit_variables(exporter *e) {
  sp_variable **variables;
  int count = sp_model_collect_variables(e->model, &variables, 0);
  if (count < 0) return SP_ERROR_NO_MEMORY;
  e->variables = sp_graph_alloc(e->graph, ((size_t)count + 1) * sizeof *e->variables);
  for (int i = 0; e->variables && i < count; i++) {
    const sp_variable *variable = variables[i];
    const sp_tensor *value = variable->value;
    variable_node *node = &e->variables[e->variable_count++];
    node->variable = variable;
    const char *base = node_name_for(e->graph, sp_graph_printf(e->graph, "%s/%s", variable->layer->name, variable->name));
    Tensorflow__NodeDef *def = base ? sp_graph_node(e->graph, base, "VariableV2") : NULL;
    if (!def) break;
    node->name = def->name;
    sp_graph_attr_string(e->graph, def, "container", "");
    sp_graph_attr_type(e->graph, def, "dtype", value->dtype);
    sp_graph_attr_shape(e->graph, def, "shape", value->rank, value->shape);
    sp_graph_attr_string(e->graph, def, "shared_name", "");
    /* The initializer is zeros (one value, repeated by TF): weights come only from variables/. */
    node->initial = sp_graph_const_fill(e->graph, sp_graph_printf(e->graph, "%s/initial_value", node->name),
                                        value->dtype, value->rank, value->shape, 0.0f);
    node->assign = sp_graph_op(e->graph, sp_graph_printf(e->graph, "%s/Assign", node->name), "Assign", value->dtype,
                               node->name, node->initial, NULL);
    sp_graph_attr_bool(e->graph, sp_graph_last(e->graph), "use_locking", 1);
    sp_graph_attr_bool(e->graph, sp_graph_last(e->graph), "validate_shape", 1);
    node->read = sp_graph_op(e->graph, sp_graph_printf(e->graph, "%s/read", node->name), "Identity", value->dtype,
                             node->name, NULL);
  }
  free(variables);
  SP_TRY(sp_graph_builder_status(e->graph));
  qsort(e->variables, e->variable_count, sizeof *e->variables, compare_variable_nodes);
  return SP_OK;
}

/* The dtype an InputLayer declares (float32 unless it says an integer type). */
static sp_dtype input_dtype(const sp_model *model, int index) {
  const sp_layer *layer = model->nodes[model->inputs[index].node].layer;
  const char *name = NULL;
  if (sp_json_member(layer->config, "dtype") &&
      json_object_is_type(sp_json_member(layer->config, "dtype"), json_type_string))
    name = json_object_get_string(sp_json_member(layer->config, "dtype"));
  sp_dtype dtype;
  if (name && sp_dtype_from_name(name, &dtype) == SP_OK &&
      (dtype == SP_INT32 || dtype == SP_INT64 || dtype == SP_FLOAT32))
    return dtype;
  return SP_FLOAT32;
}

static sp_status emit_inputs(exporter *e) {
  const sp_plan *plan = e->model->plan;
  e->inputs = sp_graph_alloc(e->graph, ((size_t)plan->input_count + 1) * sizeof *e->inputs);
  for (int i = 0; e->inputs && i < plan->input_count; i++) {
    sp_shape shape = plan->slot_shapes[plan->input_slots[i]];
    shape.dims[0] = -1;
    if (shape.rank >= 2 && shape.dims[1] < 0 && e->options->sequence_length > 0)
      shape.dims[1] = e->options->sequence_length; /* unrolled recurrent layers need the time steps */
    sp_dtype dtype = input_dtype(e->model, i);
    const char *name = sp_graph_placeholder(e->graph, node_name_for(e->graph, e->input_keys[i]), dtype, shape.rank,
                                            shape.dims);
    e->inputs[i] = (sp_graph_value){name, dtype, shape};
  }
  return sp_graph_builder_status(e->graph);
}

static const char *variable_read(const exporter *e, const sp_variable *variable) {
  for (size_t i = 0; i < e->variable_count; i++)
    if (e->variables[i].variable == variable) return e->variables[i].read;
  return NULL;
}

/* Runs the model's execution plan symbolically: every slot becomes a graph tensor. */
static sp_status emit_layers(exporter *e) {
  const sp_plan *plan = e->model->plan;
  sp_graph_value *slots = sp_alloc_zeroed((size_t)plan->slot_count + 1, sizeof *slots);
  const sp_variable **variables = sp_alloc_zeroed(e->variable_count + 1, sizeof *variables);
  const char **reads = sp_alloc_zeroed(e->variable_count + 1, sizeof *reads);
  sp_status status = slots && variables && reads ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; status == SP_OK && i < e->variable_count; i++) {
    variables[i] = e->variables[i].variable;
    reads[i] = variable_read(e, variables[i]);
  }
  sp_graph_emitter emitter = {e->graph, e->variable_count, variables, reads};
  for (int i = 0; status == SP_OK && i < plan->input_count; i++) slots[plan->input_slots[i]] = e->inputs[i];
  for (int s = 0; status == SP_OK && s < plan->step_count; s++) {
    const sp_step *step = &plan->steps[s];
    sp_graph_value inputs[SP_MAX_LAYER_INPUTS], outputs[SP_MAX_LAYER_OUTPUTS];
    for (int i = 0; i < step->input_count; i++) inputs[i] = slots[step->input_slots[i]];
    int output_count = 0;
    status = sp_graph_emit_layer(&emitter, step->layer, step->input_count, inputs, &output_count, outputs);
    for (int o = 0; status == SP_OK && o < step->output_count && o < output_count; o++)
      slots[step->output_slots[o]] = outputs[o];
  }
  e->outputs = status == SP_OK ? sp_graph_alloc(e->graph, ((size_t)plan->output_count + 1) * sizeof *e->outputs) : NULL;
  e->output_values = e->outputs ? sp_graph_alloc(e->graph, ((size_t)plan->output_count + 1) * sizeof *e->output_values) : NULL;
  for (int i = 0; e->output_values && i < plan->output_count; i++) {
    const sp_graph_value *value = &slots[plan->output_slots[i]];
    e->output_values[i] = *value;
    e->outputs[i] = sp_graph_op(e->graph, node_name_for(e->graph, e->output_keys[i]), "Identity", value->dtype,
                                value->tensor, NULL);
  }
  if (status == SP_OK) status = sp_graph_builder_status(e->graph);
  free(slots);
  free(variables);
  free(reads);
  return status;
}

/* ---- the saver (TF's sharded V2 Saver, as in saved_model_half_plus_two_cpu) ---- */

static sp_status emit_saver(exporter *e, Tensorflow__SaverDef *saver) {
  sp_graph_builder *g = e->graph;
  size_t count = e->variable_count;
  const char **names = sp_graph_alloc(g, (count + 1) * sizeof *names);
  const char **empty = sp_graph_alloc(g, (count + 1) * sizeof *empty);
  sp_dtype *dtypes = sp_graph_alloc(g, (count + 1) * sizeof *dtypes);
  if (!names || !empty || !dtypes) return sp_graph_builder_status(g);
  uint64_t identity = 0;
  for (size_t i = 0; i < count; i++) {
    names[i] = e->variables[i].name;
    empty[i] = "";
    dtypes[i] = e->variables[i].variable->value->dtype;
    identity = sp_fingerprint_cat64(identity, sp_fingerprint64(names[i], strlen(names[i])));
  }
  const char *model_name = "model";
  const char *filename_input = sp_graph_const_strings(g, "save/filename/input", 1, 1, &model_name);
  const char *filename = sp_graph_op(g, "save/filename", "PlaceholderWithDefault", SP_DTYPE_INVALID, filename_input, NULL);
  sp_graph_attr_type(g, sp_graph_last(g), "dtype", SP_STRING);
  sp_graph_attr_shape(g, sp_graph_last(g), "shape", 0, NULL);
  const char *prefix = sp_graph_op(g, "save/Const", "PlaceholderWithDefault", SP_DTYPE_INVALID, filename, NULL);
  sp_graph_attr_type(g, sp_graph_last(g), "dtype", SP_STRING);
  sp_graph_attr_shape(g, sp_graph_last(g), "shape", 0, NULL);
  /* TF names the temporary shard directory with a random UUID; a hash of the variable names keeps
   * exports reproducible. */
  const char *temporary = sp_graph_printf(g, "_temp_%016" PRIx64 "%016" PRIx64 "/part", identity, ~identity);
  const char *part = sp_graph_const_strings(g, "save/StringJoin/inputs_1", 1, 1, &temporary);
  const char *joined = sp_graph_op(g, "save/StringJoin", "StringJoin", SP_DTYPE_INVALID, prefix, part, NULL);
  sp_graph_attr_int(g, sp_graph_last(g), "N", 2);
  sp_graph_attr_string(g, sp_graph_last(g), "separator", "");
  const char *shards = sp_graph_const_ints(g, "save/num_shards", SP_INT32, 0, 1, (int64_t[]){1});
  const char *shard = sp_graph_const_ints(g, "save/ShardedFilename/shard", SP_INT32, 0, 1, (int64_t[]){0});
  const char *sharded = sp_graph_op(g, "save/ShardedFilename", "ShardedFilename", SP_DTYPE_INVALID, joined, shard,
                                    shards, NULL);
  const char *save_names = sp_graph_const_strings(g, "save/SaveV2/tensor_names", 0, count, names);
  const char *save_slices = sp_graph_const_strings(g, "save/SaveV2/shape_and_slices", 0, count, empty);
  Tensorflow__NodeDef *save = sp_graph_node(g, "save/SaveV2", "SaveV2");
  sp_graph_input(g, save, sharded);
  sp_graph_input(g, save, save_names);
  sp_graph_input(g, save, save_slices);
  for (size_t i = 0; i < count; i++) sp_graph_input(g, save, e->variables[i].name);
  sp_graph_attr_type_list(g, save, "dtypes", count, dtypes);
  Tensorflow__NodeDef *dependency = sp_graph_node(g, "save/control_dependency", "Identity");
  sp_graph_input(g, dependency, sharded);
  sp_graph_control_input(g, dependency, save ? save->name : NULL);
  sp_graph_attr_type(g, dependency, "T", SP_STRING);
  Tensorflow__NodeDef *prefixes = sp_graph_node(g, "save/MergeV2Checkpoints/checkpoint_prefixes", "Pack");
  sp_graph_input(g, prefixes, sharded);
  sp_graph_control_input(g, prefixes, dependency ? dependency->name : NULL);
  sp_graph_attr_int(g, prefixes, "N", 1);
  sp_graph_attr_type(g, prefixes, "T", SP_STRING);
  sp_graph_attr_int(g, prefixes, "axis", 0);
  Tensorflow__NodeDef *merge = sp_graph_node(g, "save/MergeV2Checkpoints", "MergeV2Checkpoints");
  sp_graph_input(g, merge, prefixes ? prefixes->name : NULL);
  sp_graph_input(g, merge, prefix);
  sp_graph_attr_bool(g, merge, "delete_old_dirs", 1);
  Tensorflow__NodeDef *saved = sp_graph_node(g, "save/Identity", "Identity");
  sp_graph_input(g, saved, prefix);
  sp_graph_control_input(g, saved, merge ? merge->name : NULL);
  sp_graph_control_input(g, saved, dependency ? dependency->name : NULL);
  sp_graph_attr_type(g, saved, "T", SP_STRING);

  const char *restore_names = sp_graph_const_strings(g, "save/RestoreV2/tensor_names", 0, count, names);
  const char *restore_slices = sp_graph_const_strings(g, "save/RestoreV2/shape_and_slices", 0, count, empty);
  const char *restore = sp_graph_op(g, "save/RestoreV2", "RestoreV2", SP_DTYPE_INVALID, prefix, restore_names,
                                    restore_slices, NULL);
  sp_graph_attr_type_list(g, sp_graph_last(g), "dtypes", count, dtypes);
  Tensorflow__NodeDef *shard_done = NULL;
  const char **assigns = sp_graph_alloc(g, (count + 1) * sizeof *assigns);
  for (size_t i = 0; assigns && i < count; i++) {
    assigns[i] = sp_graph_op(g, "save/Assign", "Assign", dtypes[i], e->variables[i].name,
                             sp_graph_output(g, restore, (int)i), NULL);
    sp_graph_attr_bool(g, sp_graph_last(g), "use_locking", 1);
    sp_graph_attr_bool(g, sp_graph_last(g), "validate_shape", 1);
  }
  shard_done = sp_graph_node(g, "save/restore_shard", "NoOp");
  for (size_t i = 0; assigns && i < count; i++) sp_graph_control_input(g, shard_done, assigns[i]);
  Tensorflow__NodeDef *restore_all = sp_graph_node(g, "save/restore_all", "NoOp");
  sp_graph_control_input(g, restore_all, shard_done ? shard_done->name : NULL);
  SP_TRY(sp_graph_builder_status(g));

  tensorflow__saver_def__init(saver);
  saver->filename_tensor_name = sp_graph_printf(g, "%s:0", prefix);
  saver->save_tensor_name = sp_graph_printf(g, "%s:0", saved->name);
  saver->restore_op_name = restore_all->name;
  saver->max_to_keep = 5;
  saver->sharded = 1;
  saver->keep_checkpoint_every_n_hours = 10000.0f;
  saver->version = TENSORFLOW__SAVER_DEF__CHECKPOINT_FORMAT_VERSION__V2;
  return sp_graph_builder_status(g);
}

static void emit_initializer(exporter *e) {
  Tensorflow__NodeDef *init = sp_graph_node(e->graph, "init", "NoOp");
  for (size_t i = 0; i < e->variable_count; i++) sp_graph_control_input(e->graph, init, e->variables[i].assign);
}

/* ---- signatures and collections ---- */

static Tensorflow__TensorInfo *tensor_info(sp_graph_builder *g, const char *tensor, sp_dtype dtype, const sp_shape *shape) {
  Tensorflow__TensorInfo *info = sp_graph_alloc(g, sizeof *info);
  if (!info) return NULL;
  tensorflow__tensor_info__init(info);
  info->encoding_case = TENSORFLOW__TENSOR_INFO__ENCODING_NAME;
  info->name = strchr(tensor, ':') ? sp_graph_strdup(g, tensor) : sp_graph_printf(g, "%s:0", tensor);
  info->dtype = (Tensorflow__DataType)dtype;
  info->tensor_shape = sp_graph_shape(g, shape->rank, shape->dims);
  return info;
}

/* A map<string, TensorInfo> field's entries, sorted by key; keys[i] NULL leaves entry i out. */
static Tensorflow__SignatureDef__InputsEntry **signature_entries(sp_graph_builder *g, int count, const char *const *keys,
                                                                 const char *const *tensors, const sp_dtype *dtypes,
                                                                 const sp_shape *shapes, size_t *entry_count) {
  Tensorflow__SignatureDef__InputsEntry **entries = sp_graph_alloc(g, ((size_t)count + 1) * sizeof *entries);
  *entry_count = 0;
  for (int i = 0; entries && i < count; i++) {
    if (!keys[i]) continue;
    Tensorflow__SignatureDef__InputsEntry *entry = sp_graph_alloc(g, sizeof *entry);
    if (!entry) return NULL;
    tensorflow__signature_def__inputs_entry__init(entry);
    entry->key = sp_graph_strdup(g, keys[i]);
    entry->value = tensor_info(g, tensors[i], dtypes[i], &shapes[i]);
    size_t n = (*entry_count)++;
    entries[n] = entry;
    for (; n > 0 && strcmp(entries[n - 1]->key, entry->key) > 0; n--) {
      entries[n] = entries[n - 1];
      entries[n - 1] = entry;
    }
  }
  return entries;
}

static sp_status check_keys(const char *signature, const char *what, int count, const char *const *keys) {
  for (int i = 0; i < count; i++) {
    if (keys[i] && !*keys[i]) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "signature '%s': %s key %d is empty", signature, what, i);
    for (int j = 0; keys[i] && j < i; j++)
      if (keys[j] && strcmp(keys[i], keys[j]) == 0)
        return sp_fail(SP_ERROR_INVALID_ARGUMENT, "signature '%s': %s key '%s' is used twice", signature, what, keys[i]);
  }
  return SP_OK;
}

static sp_status signature(exporter *e, const char *key, const char *method, const char *const *input_keys,
                           const char *const *output_keys, Tensorflow__MetaGraphDef__SignatureDefEntry **out) {
  sp_graph_builder *g = e->graph;
  const sp_plan *plan = e->model->plan;
  SP_TRY(check_keys(key, "input", plan->input_count, input_keys));
  SP_TRY(check_keys(key, "output", plan->output_count, output_keys));
  int kept = 0;
  for (int i = 0; i < plan->output_count; i++) kept += output_keys[i] != NULL;
  if (!kept) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "signature '%s' leaves out every output", key);
  const char **tensors = sp_graph_alloc(g, ((size_t)plan->input_count + 1) * sizeof *tensors);
  sp_dtype *dtypes = sp_graph_alloc(g, ((size_t)plan->input_count + 1) * sizeof *dtypes);
  sp_shape *shapes = sp_graph_alloc(g, ((size_t)plan->input_count + 1) * sizeof *shapes);
  const char **output_tensors = sp_graph_alloc(g, ((size_t)plan->output_count + 1) * sizeof *output_tensors);
  sp_dtype *output_dtypes = sp_graph_alloc(g, ((size_t)plan->output_count + 1) * sizeof *output_dtypes);
  sp_shape *output_shapes = sp_graph_alloc(g, ((size_t)plan->output_count + 1) * sizeof *output_shapes);
  Tensorflow__SignatureDef *def = sp_graph_alloc(g, sizeof *def);
  *out = sp_graph_alloc(g, sizeof **out);
  if (!tensors || !dtypes || !shapes || !output_tensors || !output_dtypes || !output_shapes || !def || !*out)
    return sp_graph_builder_status(g);
  for (int i = 0; i < plan->input_count; i++) {
    tensors[i] = e->inputs[i].tensor;
    dtypes[i] = e->inputs[i].dtype;
    shapes[i] = e->inputs[i].shape;
  }
  for (int i = 0; i < plan->output_count; i++) {
    output_tensors[i] = e->outputs[i];
    output_dtypes[i] = e->output_values[i].dtype;
    output_shapes[i] = e->output_values[i].shape;
    output_shapes[i].dims[0] = -1;
  }
  tensorflow__signature_def__init(def);
  def->inputs = signature_entries(g, plan->input_count, input_keys, tensors, dtypes, shapes, &def->n_inputs);
  def->outputs = (Tensorflow__SignatureDef__OutputsEntry **)signature_entries(
      g, plan->output_count, output_keys, output_tensors, output_dtypes, output_shapes, &def->n_outputs);
  def->method_name = sp_graph_strdup(g, method ? method : SP_PREDICT_METHOD);
  tensorflow__meta_graph_def__signature_def_entry__init(*out);
  (*out)->key = sp_graph_strdup(g, key);
  (*out)->value = def;
  return sp_graph_builder_status(g);
}

static sp_status signatures(exporter *e, Tensorflow__MetaGraphDef *meta_graph) {
  sp_graph_builder *g = e->graph;
  size_t count = 1 + (size_t)(e->options->extra_signature_count > 0 ? e->options->extra_signature_count : 0);
  Tensorflow__MetaGraphDef__SignatureDefEntry **entries = sp_graph_alloc(g, (count + 1) * sizeof *entries);
  if (!entries) return sp_graph_builder_status(g);
  const char *name = e->options->signature_name ? e->options->signature_name : SP_DEFAULT_SIGNATURE;
  SP_TRY(signature(e, name, SP_PREDICT_METHOD, e->input_keys, e->output_keys, &entries[0]));
  for (size_t i = 1; i < count; i++) {
    const sp_signature_spec *spec = &e->options->extra_signatures[i - 1];
    if (!spec->key || !*spec->key) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "extra signature %zu has no key", i - 1);
    for (size_t j = 0; j < i; j++)
      if (strcmp(entries[j]->key, spec->key) == 0)
        return sp_fail(SP_ERROR_INVALID_ARGUMENT, "signature key '%s' is used twice", spec->key);
    SP_TRY(signature(e, spec->key, spec->method_name, spec->input_names ? spec->input_names : e->input_keys,
                     spec->output_names ? spec->output_names : e->output_keys, &entries[i]));
  }
  meta_graph->signature_def = entries;
  meta_graph->n_signature_def = count;
  sp_proto_sort_maps(&meta_graph->base);
  return SP_OK;
}

/* "variables" and "trainable_variables": VariableDef bytes, in variable creation order as TF lists them. */
static Tensorflow__MetaGraphDef__CollectionDefEntry *variable_collection(exporter *e, const char *key, int trainable_only) {
  sp_graph_builder *g = e->graph;
  Tensorflow__MetaGraphDef__CollectionDefEntry *entry = sp_graph_alloc(g, sizeof *entry);
  Tensorflow__CollectionDef *collection = sp_graph_alloc(g, sizeof *collection);
  Tensorflow__CollectionDef__BytesList *list = sp_graph_alloc(g, sizeof *list);
  ProtobufCBinaryData *values = sp_graph_alloc(g, (e->variable_count + 1) * sizeof *values);
  if (!entry || !collection || !list || !values) return NULL;
  tensorflow__meta_graph_def__collection_def_entry__init(entry);
  tensorflow__collection_def__init(collection);
  tensorflow__collection_def__bytes_list__init(list);
  for (size_t i = 0; i < e->variable_count; i++) {
    const variable_node *node = &e->variables[i];
    if (trainable_only && !node->variable->trainable) continue;
    Tensorflow__VariableDef def = TENSORFLOW__VARIABLE_DEF__INIT;
    def.variable_name = sp_graph_printf(g, "%s:0", node->name);
    def.initializer_name = (char *)node->assign;
    def.snapshot_name = sp_graph_printf(g, "%s:0", node->read);
    def.initial_value_name = sp_graph_printf(g, "%s:0", node->initial);
    def.trainable = node->variable->trainable != 0;
    if (!def.variable_name || !def.snapshot_name || !def.initial_value_name) return NULL;
    size_t size = tensorflow__variable_def__get_packed_size(&def);
    uint8_t *bytes = sp_graph_alloc(g, size + 1);
    if (!bytes) return NULL;
    tensorflow__variable_def__pack(&def, bytes);
    values[list->n_value].data = bytes;
    values[list->n_value++].len = size;
  }
  list->value = values;
  collection->kind_case = TENSORFLOW__COLLECTION_DEF__KIND_BYTES_LIST;
  collection->bytes_list = list;
  entry->key = sp_graph_strdup(g, key);
  entry->value = collection;
  return entry->key ? entry : NULL;
}

static Tensorflow__MetaGraphDef__MetaInfoDef *meta_info(exporter *e) {
  sp_graph_builder *g = e->graph;
  Tensorflow__MetaGraphDef__MetaInfoDef *info = sp_graph_alloc(g, sizeof *info);
  char **tags = sp_graph_alloc(g, sizeof *tags);
  if (!info || !tags) return NULL;
  tensorflow__meta_graph_def__meta_info_def__init(info);
  const char **ops;
  size_t op_count = sp_graph_builder_ops(g, &ops);
  if (sp_graph_op_list(g, op_count, ops, &info->stripped_op_list) != SP_OK) return NULL;
  tags[0] = sp_graph_strdup(g, "serve");
  info->tags = tags;
  info->n_tags = 1;
  info->tensorflow_version = sp_graph_strdup(g, SP_EXPORT_TENSORFLOW_VERSION);
  info->tensorflow_git_version = sp_graph_printf(g, "savepoint %s", SP_VERSION);
  return info;
}

static sp_status default_keys(exporter *e) {
  const sp_plan *plan = e->model->plan;
  e->input_keys = sp_graph_alloc(e->graph, ((size_t)plan->input_count + 1) * sizeof *e->input_keys);
  e->output_keys = sp_graph_alloc(e->graph, ((size_t)plan->output_count + 1) * sizeof *e->output_keys);
  if (!e->input_keys || !e->output_keys) return sp_graph_builder_status(e->graph);
  for (int i = 0; i < plan->input_count; i++)
    e->input_keys[i] = e->options->input_names ? e->options->input_names[i] : sp_model_input_name(e->model, i);
  for (int i = 0; i < plan->output_count; i++) {
    const char *name = e->options->output_names ? e->options->output_names[i] : sp_model_output_name(e->model, i);
    int repeats = 0; /* a layer with several outputs: "lstm", "lstm_1", … as Keras names them */
    for (int j = 0; !e->options->output_names && j < i; j++) repeats += strcmp(sp_model_output_name(e->model, j), name) == 0;
    e->output_keys[i] = repeats ? sp_graph_printf(e->graph, "%s_%d", name, repeats) : name;
    if (!e->output_keys[i]) return sp_graph_builder_status(e->graph);
  }
  for (int i = 0; i < plan->input_count; i++)
    if (!e->input_keys[i]) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "input %d has no name", i);
  return SP_OK;
}

static sp_status build_meta_graph(exporter *e, Tensorflow__MetaGraphDef *meta_graph) {
  SP_TRY(default_keys(e));
  SP_TRY(emit_inputs(e));
  SP_TRY(emit_variables(e));
  SP_TRY(emit_layers(e));
  emit_initializer(e);
  Tensorflow__SaverDef *saver = sp_graph_alloc(e->graph, sizeof *saver);
  if (!saver) return sp_graph_builder_status(e->graph);
  SP_TRY(emit_saver(e, saver));
  tensorflow__meta_graph_def__init(meta_graph);
  meta_graph->graph_def = sp_graph_builder_graph(e->graph, SP_EXPORT_GRAPH_PRODUCER, SP_EXPORT_GRAPH_MIN_CONSUMER);
  meta_graph->saver_def = saver;
  meta_graph->meta_info_def = meta_info(e);
  Tensorflow__MetaGraphDef__CollectionDefEntry **collections = sp_graph_alloc(e->graph, 2 * sizeof *collections);
  if (collections) {
    collections[0] = variable_collection(e, "trainable_variables", 1);
    collections[1] = variable_collection(e, "variables", 0);
  }
  SP_TRY(sp_graph_builder_status(e->graph));
  if (!meta_graph->meta_info_def || !collections[0] || !collections[1]) return SP_ERROR_NO_MEMORY;
  meta_graph->collection_def = collections;
  meta_graph->n_collection_def = 2;
  return signatures(e, meta_graph);
}

sp_status sp_export_build(const sp_model *model, const sp_export_options *options, sp_export_graph *out) {
  memset(out, 0, sizeof *out);
  sp_export_options defaults = sp_export_defaults();
  if (!options) options = &defaults;
  if (!model->built || !model->plan)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' is not built; call sp_model_build before exporting it",
                   sp_model_name(model));
  exporter e = {.model = model, .options = options};
  SP_TRY(sp_graph_builder_new(&e.graph));
  Tensorflow__MetaGraphDef meta_graph;
  Tensorflow__MetaGraphDef *meta_graphs[1] = {&meta_graph};
  sp_status status = build_meta_graph(&e, &meta_graph);
  if (status == SP_OK) {
    Tensorflow__SavedModel saved_model = TENSORFLOW__SAVED_MODEL__INIT;
    saved_model.saved_model_schema_version = 1;
    saved_model.meta_graphs = meta_graphs;
    saved_model.n_meta_graphs = 1;
    status = sp_proto_pack_deterministic(&saved_model.base, &out->saved_model, &out->saved_model_size);
  }
  if (status == SP_OK) {
    out->keys = sp_alloc_zeroed(e.variable_count + 1, sizeof *out->keys);
    out->values = sp_alloc_zeroed(e.variable_count + 1, sizeof *out->values);
    if (!out->keys || !out->values) status = SP_ERROR_NO_MEMORY;
    for (size_t i = 0; status == SP_OK && i < e.variable_count; i++) {
      out->keys[i] = sp_strdup(e.variables[i].name);
      out->values[i] = e.variables[i].variable->value;
      out->variable_count++;
      if (!out->keys[i]) status = SP_ERROR_NO_MEMORY;
    }
  }
  sp_graph_builder_free(e.graph);
  if (status != SP_OK) sp_export_graph_free(out);
  return sp_error_context(status, "exporting model '%s' as a SavedModel", sp_model_name(model));
}

void sp_export_graph_free(sp_export_graph *graph) {
  free(graph->saved_model);
  for (size_t i = 0; graph->keys && i < graph->variable_count; i++) free(graph->keys[i]);
  free(graph->keys);
  free(graph->values);
  memset(graph, 0, sizeof *graph);
}

/* ---- writing the directory ---- */

static sp_status write_variables(const char *directory, const sp_export_graph *graph) {
  char *prefix = sp_path_join(directory, "variables/variables");
  if (!prefix) return SP_ERROR_NO_MEMORY;
  sp_bundle_writer *writer = NULL;
  sp_status status = sp_bundle_writer_open(prefix, &writer);
  for (size_t i = 0; status == SP_OK && i < graph->variable_count; i++)
    status = sp_bundle_add(writer, graph->keys[i], graph->values[i]);
  if (status == SP_OK) status = sp_bundle_writer_finish(writer);
  else if (writer) sp_bundle_writer_abort(writer);
  free(prefix);
  return status;
}

static sp_status write_in(const char *directory, const char *name, const uint8_t *data, size_t size) {
  char *path = sp_path_join(directory, name);
  if (!path) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_write_file_atomic(path, data, size);
  free(path);
  return status;
}

static sp_status write_directory(const char *directory, const sp_export_graph *graph) {
  SP_TRY(write_variables(directory, graph));
  SP_TRY(write_in(directory, "saved_model.pb", graph->saved_model, graph->saved_model_size));
  sp_fingerprint fingerprint;
  SP_TRY(sp_fingerprint_saved_model(graph->saved_model, graph->saved_model_size, directory, SP_FINGERPRINT_TF_2_14,
                                    &fingerprint));
  uint8_t *bytes;
  size_t size;
  SP_TRY(sp_fingerprint_serialize(&fingerprint, &bytes, &size));
  sp_status status = write_in(directory, "fingerprint.pb", bytes, size);
  free(bytes);
  SP_TRY(status);
  return sp_manifest_create(directory, NULL);
}

sp_status sp_export_saved_model(const sp_model *model, const char *directory, const sp_export_options *options) {
  sp_export_options defaults = sp_export_defaults();
  if (!options) options = &defaults;
  if (options->version < 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "version %" PRId64 " is negative", options->version);
  char *final = sp_export_path(directory, options);
  if (!final) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  if (sp_path_exists(final) && (options->version > 0 || !options->replace))
    status = sp_fail(SP_ERROR_EXISTS, "'%s' already exists; %s", final,
                     options->version > 0 ? "versions are never overwritten: export a new version number"
                                          : "choose another directory or ask to replace it");
  if (status == SP_OK && options->version > 0) status = sp_make_directories(directory);
  sp_export_graph graph = {0};
  if (status == SP_OK) status = sp_export_build(model, options, &graph);
  char *temporary = NULL;
  if (status == SP_OK) status = sp_temp_directory_for(final, &temporary);
  if (status == SP_OK) status = write_directory(temporary, &graph);
  if (status == SP_OK) status = sp_publish_directory(temporary, final, options->version > 0 ? 0 : options->replace);
  if (status != SP_OK && temporary) (void)sp_remove_tree(temporary);
  sp_export_graph_free(&graph);
  free(temporary);
  status = sp_error_context(status, "exporting to '%s'", final);
  free(final);
  return status;
}
