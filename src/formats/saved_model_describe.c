/* saved_model_describe.c — `show` output for SavedModels (see saved_model_describe.h).
 *
 * The text mirrors tensorflow/python/tools/saved_model_cli.py line for line (tag-sets as Python
 * reprs of ', '.join(sorted(tags)), keys sorted, two-space indent steps) so scripts written against
 * saved_model_cli keep working; our additions come after, under their own heading.
 */
#include "formats/saved_model_describe.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"

/* ---------- text ---------- */

sp_status sp_tensor_shape_proto_text(const Tensorflow__TensorShapeProto *shape, sp_buffer *out) {
  if (shape && shape->unknown_rank) return sp_buffer_append_text(out, "unknown_rank");
  SP_TRY(sp_buffer_append_text(out, "("));
  for (size_t i = 0; shape && i < shape->n_dim; i++)
    SP_TRY(sp_buffer_printf(out, i ? ", %" PRId64 : "%" PRId64, shape->dim[i]->size));
  return sp_buffer_append_text(out, ")");
}

static sp_status indent(sp_buffer *out, int level) {
  for (int i = 0; i < level; i++) SP_TRY(sp_buffer_append_text(out, "  "));
  return SP_OK;
}

static const char *tensor_name(const sp_tensor_info_proto *info) {
  if (info->encoding_case == TENSORFLOW__TENSOR_INFO__ENCODING_NAME) return info->name;
  return "";
}

static sp_status show_tensor_info(const sp_tensor_info_proto *info, int level, sp_buffer *out) {
  char scratch[24];
  SP_TRY(indent(out, level));
  SP_TRY(sp_buffer_printf(out, "    dtype: %s\n", sp_data_type_name(info->dtype, scratch, sizeof scratch)));
  SP_TRY(indent(out, level));
  SP_TRY(sp_buffer_append_text(out, "    shape: "));
  SP_TRY(sp_tensor_shape_proto_text(info->tensor_shape, out));
  SP_TRY(sp_buffer_append_text(out, "\n"));
  SP_TRY(indent(out, level));
  return sp_buffer_printf(out, "    name: %s\n", tensor_name(info));
}

static sp_status show_tensor_list(const sp_signature_proto *signature, int outputs, int level, sp_buffer *out) {
  sp_signature_tensor *list;
  size_t count;
  SP_TRY(sp_signature_tensors(signature, outputs, &list, &count));
  sp_status status = SP_OK;
  for (size_t i = 0; i < count && status == SP_OK; i++) {
    if ((status = indent(out, level)) != SP_OK) break;
    if ((status = sp_buffer_printf(out, "  %s['%s'] tensor_info:\n", outputs ? "outputs" : "inputs", list[i].key)) != SP_OK)
      break;
    status = show_tensor_info(list[i].info, level + 1, out);
  }
  free(list);
  return status;
}

static sp_status show_inputs_outputs(const sp_signature_proto *signature, int level, sp_buffer *out) {
  SP_TRY(indent(out, level));
  SP_TRY(sp_buffer_append_text(out, "The given SavedModel SignatureDef contains the following input(s):\n"));
  SP_TRY(show_tensor_list(signature, 0, level, out));
  SP_TRY(indent(out, level));
  SP_TRY(sp_buffer_append_text(out, "The given SavedModel SignatureDef contains the following output(s):\n"));
  SP_TRY(show_tensor_list(signature, 1, level, out));
  SP_TRY(indent(out, level));
  return sp_buffer_printf(out, "Method name is: %s\n", signature->method_name);
}

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ', '.join(sorted(tags)) — how saved_model_cli names a tag-set. */
static char *sorted_tag_text(const sp_saved_model_meta_graph *meta_graph) {
  const Tensorflow__MetaGraphDef__MetaInfoDef *info = meta_graph->proto->meta_info_def;
  size_t count = info ? info->n_tags : 0;
  char **tags = sp_alloc_zeroed(count ? count : 1, sizeof *tags);
  if (!tags) return NULL;
  for (size_t i = 0; i < count; i++) tags[i] = info->tags[i];
  qsort(tags, count, sizeof *tags, compare_strings);
  sp_buffer text = {0};
  sp_status status = SP_OK;
  for (size_t i = 0; i < count && status == SP_OK; i++) status = sp_buffer_printf(&text, i ? ", %s" : "%s", tags[i]);
  if (status == SP_OK) status = sp_buffer_append(&text, "", 1);
  free(tags);
  if (status != SP_OK) {
    sp_buffer_free(&text);
    return NULL;
  }
  return (char *)sp_buffer_detach(&text, NULL);
}

/* Meta graph indexes sorted by their sorted tag text, as saved_model_cli iterates them. */
typedef struct ordered_meta_graph {
  char *tags;
  size_t index;
} ordered_meta_graph;

static int compare_ordered(const void *a, const void *b) {
  return strcmp(((const ordered_meta_graph *)a)->tags, ((const ordered_meta_graph *)b)->tags);
}

static void free_ordered(ordered_meta_graph *order, size_t count) {
  for (size_t i = 0; order && i < count; i++) free(order[i].tags);
  free(order);
}

static sp_status order_meta_graphs(const sp_saved_model *model, ordered_meta_graph **order) {
  ordered_meta_graph *result = sp_alloc_zeroed(model->meta_graph_count, sizeof *result);
  if (!result) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < model->meta_graph_count; i++) {
    result[i].index = i;
    if (!(result[i].tags = sorted_tag_text(&model->meta_graphs[i]))) {
      free_ordered(result, model->meta_graph_count);
      return SP_ERROR_NO_MEMORY;
    }
  }
  qsort(result, model->meta_graph_count, sizeof *result, compare_ordered);
  *order = result;
  return SP_OK;
}

static sp_status show_tag_sets(const sp_saved_model *model, sp_buffer *out) {
  ordered_meta_graph *order;
  SP_TRY(order_meta_graphs(model, &order));
  sp_status status = sp_buffer_append_text(out, "The given SavedModel contains the following tag-sets:\n");
  for (size_t i = 0; i < model->meta_graph_count && status == SP_OK; i++)
    status = sp_buffer_printf(out, "'%s'\n", order[i].tags);
  free_ordered(order, model->meta_graph_count);
  return status;
}

static sp_status show_signature_keys(const sp_saved_model_meta_graph *meta_graph, sp_buffer *out) {
  SP_TRY(sp_buffer_append_text(out,
                               "The given SavedModel MetaGraphDef contains SignatureDefs with the following keys:\n"));
  for (size_t i = 0; i < meta_graph->signature_count; i++)
    SP_TRY(sp_buffer_printf(out, "SignatureDef key: \"%s\"\n", meta_graph->signature_keys[i]));
  return SP_OK;
}

static sp_status show_meta_graph_all(const sp_saved_model_meta_graph *meta_graph, sp_buffer *out) {
  SP_TRY(sp_buffer_append_text(out, "\nMetaGraphDef with tag-set: '"));
  const Tensorflow__MetaGraphDef__MetaInfoDef *info = meta_graph->proto->meta_info_def;
  for (size_t i = 0; info && i < info->n_tags; i++) SP_TRY(sp_buffer_printf(out, i ? ", %s" : "%s", info->tags[i]));
  SP_TRY(sp_buffer_append_text(out, "' contains the following SignatureDefs:\n"));
  for (size_t i = 0; i < meta_graph->signature_count; i++) {
    SP_TRY(sp_buffer_printf(out, "\nsignature_def['%s']:\n", meta_graph->signature_keys[i]));
    SP_TRY(show_inputs_outputs(sp_meta_graph_signature(meta_graph, meta_graph->signature_keys[i]), 1, out));
  }
  return SP_OK;
}

/* ---------- details saved_model_cli lacks ---------- */

static sp_status show_fingerprint(const sp_fingerprint_proto *fingerprint, sp_buffer *out) {
  if (!fingerprint) return sp_buffer_append_text(out, "  Fingerprint: none (no fingerprint.pb; written before TF 2.12)\n");
  SP_TRY(sp_buffer_append_text(out, "  Fingerprint (fingerprint.pb):\n"));
  SP_TRY(sp_buffer_printf(out, "    saved_model_checksum: %" PRIu64 "\n", fingerprint->saved_model_checksum));
  SP_TRY(sp_buffer_printf(out, "    graph_def_program_hash: %" PRIu64 "\n", fingerprint->graph_def_program_hash));
  SP_TRY(sp_buffer_printf(out, "    signature_def_hash: %" PRIu64 "\n", fingerprint->signature_def_hash));
  SP_TRY(sp_buffer_printf(out, "    saved_object_graph_hash: %" PRIu64 "\n", fingerprint->saved_object_graph_hash));
  SP_TRY(sp_buffer_printf(out, "    checkpoint_hash: %" PRIu64 "\n", fingerprint->checkpoint_hash));
  SP_TRY(sp_buffer_printf(out, "    singleprint: %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n",
                          fingerprint->graph_def_program_hash, fingerprint->signature_def_hash,
                          fingerprint->saved_object_graph_hash, fingerprint->checkpoint_hash));
  if (*fingerprint->uuid) SP_TRY(sp_buffer_printf(out, "    uuid: %s\n", fingerprint->uuid));
  return SP_OK;
}

static sp_status show_variables(const sp_saved_model *model, sp_buffer *out) {
  if (!model->has_variables) return sp_buffer_append_text(out, "  Variables: none (no variables/variables.index)\n");
  if (!model->variables_listed)
    return sp_buffer_printf(out, "  Variables (variables/variables): %s\n",
                            model->variables_note ? model->variables_note : "not listed");
  SP_TRY(sp_buffer_printf(out, "  Variables (variables/variables): %zu tensors\n", model->variable_count));
  for (size_t i = 0; i < model->variable_count; i++) {
    const sp_saved_model_variable *variable = &model->variables[i];
    SP_TRY(sp_buffer_printf(out, "    %s: %s (", variable->key, sp_dtype_tf_name(variable->dtype)));
    for (int d = 0; d < variable->rank; d++)
      SP_TRY(sp_buffer_printf(out, d ? ", %" PRId64 : "%" PRId64, variable->shape[d]));
    SP_TRY(sp_buffer_append_text(out, ")\n"));
  }
  return SP_OK;
}

static const ThirdParty__Py__Keras__Protobuf__SavedObject *keras_root(const sp_keras_metadata_proto *metadata) {
  for (size_t i = 0; metadata && i < metadata->n_nodes; i++)
    if (strcmp(metadata->nodes[i]->node_path, "root") == 0) return metadata->nodes[i];
  return NULL;
}

static sp_status show_meta_graph_details(const sp_saved_model_meta_graph *meta_graph, sp_buffer *out) {
  const sp_meta_graph_proto *proto = meta_graph->proto;
  const Tensorflow__MetaGraphDef__MetaInfoDef *info = proto->meta_info_def;
  SP_TRY(sp_buffer_printf(out, "  MetaGraphDef '%s':\n", meta_graph->tag_set));
  SP_TRY(sp_buffer_printf(out, "    Written by TensorFlow %s (git %s)\n",
                          info && *info->tensorflow_version ? info->tensorflow_version : "(unrecorded)",
                          info && *info->tensorflow_git_version ? info->tensorflow_git_version : "unrecorded"));
  const Tensorflow__GraphDef *graph = proto->graph_def;
  SP_TRY(sp_buffer_printf(out, "    Graph: %zu nodes, %zu library functions%s\n", graph ? graph->n_node : 0,
                          graph && graph->library ? graph->library->n_function : 0,
                          proto->object_graph_def ? ", TF2 object graph" : ""));
  if (proto->saver_def)
    SP_TRY(sp_buffer_printf(out, "    Saver: restore_op %s, filename_tensor %s\n", proto->saver_def->restore_op_name,
                            proto->saver_def->filename_tensor_name));
  const char *init_op = NULL;
  if (sp_meta_graph_init_op(meta_graph, &init_op) == SP_OK && init_op)
    SP_TRY(sp_buffer_printf(out, "    Init op: %s\n", init_op));
  for (size_t i = 0; i < meta_graph->asset_count; i++)
    SP_TRY(sp_buffer_printf(out, "    Asset: assets/%s (fed to %s)\n", meta_graph->assets[i].filename,
                            meta_graph->assets[i].tensor_name));
  return SP_OK;
}

static sp_status show_details(const sp_saved_model *model, sp_buffer *out) {
  SP_TRY(sp_buffer_printf(out, "\nSavedModel details (savepoint):\n  Source: %s (%s)\n", model->source_path,
                          model->text_format ? "text format" : "binary"));
  for (size_t i = 0; i < model->meta_graph_count; i++) SP_TRY(show_meta_graph_details(&model->meta_graphs[i], out));
  SP_TRY(show_fingerprint(model->fingerprint, out));
  SP_TRY(sp_buffer_append_text(out, "  Files in assets/:"));
  for (size_t i = 0; i < model->asset_file_count; i++) SP_TRY(sp_buffer_printf(out, " %s", model->asset_files[i]));
  SP_TRY(sp_buffer_append_text(out, model->asset_file_count ? "\n" : " none\n"));
  SP_TRY(show_variables(model, out));
  const ThirdParty__Py__Keras__Protobuf__SavedObject *root = keras_root(model->keras_metadata);
  if (model->keras_metadata)
    SP_TRY(sp_buffer_printf(out, "  Keras metadata (keras_metadata.pb): %zu objects, root %s\n",
                            model->keras_metadata->n_nodes, root ? root->identifier : "(none)"));
  return SP_OK;
}

sp_status sp_saved_model_show_text(const sp_saved_model *model, const sp_saved_model_show_options *options,
                                   sp_buffer *out) {
  if (options->all) {
    ordered_meta_graph *order;
    SP_TRY(order_meta_graphs(model, &order));
    sp_status status = SP_OK;
    for (size_t i = 0; i < model->meta_graph_count && status == SP_OK; i++)
      status = show_meta_graph_all(&model->meta_graphs[order[i].index], out);
    free_ordered(order, model->meta_graph_count);
    SP_TRY(status);
    return show_details(model, out);
  }
  if (!options->tag_set) {
    if (options->signature_def)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "--signature_def needs --tag_set (e.g. --tag_set serve)");
    return show_tag_sets(model, out);
  }
  const sp_saved_model_meta_graph *meta_graph;
  SP_TRY(sp_saved_model_find_meta_graph(model, options->tag_set, &meta_graph));
  if (!options->signature_def) return show_signature_keys(meta_graph, out);
  const sp_signature_proto *signature;
  SP_TRY(sp_meta_graph_find_signature(meta_graph, options->signature_def, &signature));
  return show_inputs_outputs(signature, 0, out);
}

/* ---------- JSON ---------- */

typedef struct json_builder {
  int failed;
} json_builder;

static json_object *checked(json_builder *builder, json_object *value) {
  if (!value) builder->failed = 1;
  return value;
}

static void put(json_builder *builder, json_object *object, const char *key, json_object *value) {
  if (!object || !value || json_object_object_add(object, key, value) != 0) {
    builder->failed = 1;
    json_object_put(value);
  }
}

static void append(json_builder *builder, json_object *array, json_object *value) {
  if (!array || !value || json_object_array_add(array, value) != 0) {
    builder->failed = 1;
    json_object_put(value);
  }
}

static json_object *string_value(json_builder *builder, const char *text) {
  return checked(builder, json_object_new_string(text ? text : ""));
}

static json_object *uint64_text(json_builder *builder, uint64_t value) {
  char text[24];
  snprintf(text, sizeof text, "%" PRIu64, value);
  return string_value(builder, text);
}

static json_object *shape_json(json_builder *builder, const Tensorflow__TensorShapeProto *shape) {
  if (shape && shape->unknown_rank) return NULL;
  json_object *dims = checked(builder, json_object_new_array());
  for (size_t i = 0; shape && i < shape->n_dim; i++) append(builder, dims, json_object_new_int64(shape->dim[i]->size));
  return dims;
}

static json_object *tensor_info_json(json_builder *builder, const sp_tensor_info_proto *info) {
  char scratch[24];
  json_object *object = checked(builder, json_object_new_object());
  put(builder, object, "name", string_value(builder, tensor_name(info)));
  put(builder, object, "dtype", string_value(builder, sp_data_type_name(info->dtype, scratch, sizeof scratch)));
  json_object *shape = shape_json(builder, info->tensor_shape);
  if (shape) put(builder, object, "shape", shape);
  else if (object) json_object_object_add(object, "shape", NULL);
  if (info->encoding_case == TENSORFLOW__TENSOR_INFO__ENCODING_COO_SPARSE) {
    json_object *sparse = checked(builder, json_object_new_object());
    put(builder, sparse, "values", string_value(builder, info->coo_sparse->values_tensor_name));
    put(builder, sparse, "indices", string_value(builder, info->coo_sparse->indices_tensor_name));
    put(builder, sparse, "dense_shape", string_value(builder, info->coo_sparse->dense_shape_tensor_name));
    put(builder, object, "coo_sparse", sparse);
  }
  return object;
}

static json_object *tensor_map_json(json_builder *builder, const sp_signature_proto *signature, int outputs) {
  json_object *map = checked(builder, json_object_new_object());
  sp_signature_tensor *list;
  size_t count;
  if (sp_signature_tensors(signature, outputs, &list, &count) != SP_OK) {
    builder->failed = 1;
    return map;
  }
  for (size_t i = 0; i < count; i++) put(builder, map, list[i].key, tensor_info_json(builder, list[i].info));
  free(list);
  return map;
}

static json_object *signature_json(json_builder *builder, const sp_signature_proto *signature) {
  json_object *object = checked(builder, json_object_new_object());
  put(builder, object, "method_name", string_value(builder, signature->method_name));
  put(builder, object, "inputs", tensor_map_json(builder, signature, 0));
  put(builder, object, "outputs", tensor_map_json(builder, signature, 1));
  return object;
}

static json_object *meta_graph_json(json_builder *builder, const sp_saved_model_meta_graph *meta_graph,
                                    const char *only_signature) {
  const sp_meta_graph_proto *proto = meta_graph->proto;
  const Tensorflow__MetaGraphDef__MetaInfoDef *info = proto->meta_info_def;
  json_object *object = checked(builder, json_object_new_object());
  json_object *tags = checked(builder, json_object_new_array());
  for (size_t i = 0; info && i < info->n_tags; i++) append(builder, tags, string_value(builder, info->tags[i]));
  put(builder, object, "tags", tags);
  put(builder, object, "tensorflow_version", string_value(builder, info ? info->tensorflow_version : ""));
  put(builder, object, "tensorflow_git_version", string_value(builder, info ? info->tensorflow_git_version : ""));
  json_object *signatures = checked(builder, json_object_new_object());
  for (size_t i = 0; i < meta_graph->signature_count; i++) {
    const char *key = meta_graph->signature_keys[i];
    if (only_signature && strcmp(key, only_signature) != 0) continue;
    put(builder, signatures, key, signature_json(builder, sp_meta_graph_signature(meta_graph, key)));
  }
  put(builder, object, "signature_defs", signatures);
  json_object *assets = checked(builder, json_object_new_array());
  for (size_t i = 0; i < meta_graph->asset_count; i++) {
    json_object *asset = checked(builder, json_object_new_object());
    put(builder, asset, "filename", string_value(builder, meta_graph->assets[i].filename));
    put(builder, asset, "tensor_name", string_value(builder, meta_graph->assets[i].tensor_name));
    append(builder, assets, asset);
  }
  put(builder, object, "assets", assets);
  const char *init_op = NULL;
  if (sp_meta_graph_init_op(meta_graph, &init_op) == SP_OK && init_op)
    put(builder, object, "init_op", string_value(builder, init_op));
  if (proto->saver_def) {
    json_object *saver = checked(builder, json_object_new_object());
    put(builder, saver, "filename_tensor_name", string_value(builder, proto->saver_def->filename_tensor_name));
    put(builder, saver, "save_tensor_name", string_value(builder, proto->saver_def->save_tensor_name));
    put(builder, saver, "restore_op_name", string_value(builder, proto->saver_def->restore_op_name));
    put(builder, object, "saver_def", saver);
  }
  const Tensorflow__GraphDef *graph = proto->graph_def;
  put(builder, object, "graph_nodes", checked(builder, json_object_new_int64(graph ? (int64_t)graph->n_node : 0)));
  put(builder, object, "library_functions",
      checked(builder, json_object_new_int64(graph && graph->library ? (int64_t)graph->library->n_function : 0)));
  put(builder, object, "object_graph_nodes",
      checked(builder, json_object_new_int64(proto->object_graph_def ? (int64_t)proto->object_graph_def->n_nodes : 0)));
  return object;
}

static json_object *fingerprint_json(json_builder *builder, const sp_fingerprint_proto *fingerprint) {
  json_object *object = checked(builder, json_object_new_object());
  put(builder, object, "saved_model_checksum", uint64_text(builder, fingerprint->saved_model_checksum));
  put(builder, object, "graph_def_program_hash", uint64_text(builder, fingerprint->graph_def_program_hash));
  put(builder, object, "signature_def_hash", uint64_text(builder, fingerprint->signature_def_hash));
  put(builder, object, "saved_object_graph_hash", uint64_text(builder, fingerprint->saved_object_graph_hash));
  put(builder, object, "checkpoint_hash", uint64_text(builder, fingerprint->checkpoint_hash));
  if (*fingerprint->uuid) put(builder, object, "uuid", string_value(builder, fingerprint->uuid));
  return object;
}

static json_object *variables_json(json_builder *builder, const sp_saved_model *model) {
  json_object *list = checked(builder, json_object_new_array());
  for (size_t i = 0; i < model->variable_count; i++) {
    const sp_saved_model_variable *variable = &model->variables[i];
    json_object *object = checked(builder, json_object_new_object());
    put(builder, object, "key", string_value(builder, variable->key));
    put(builder, object, "dtype", string_value(builder, sp_dtype_tf_name(variable->dtype)));
    json_object *shape = checked(builder, json_object_new_array());
    for (int d = 0; d < variable->rank; d++) append(builder, shape, json_object_new_int64(variable->shape[d]));
    put(builder, object, "shape", shape);
    append(builder, list, object);
  }
  return list;
}

static json_object *names_json(json_builder *builder, char *const *names, size_t count) {
  json_object *list = checked(builder, json_object_new_array());
  for (size_t i = 0; i < count; i++) append(builder, list, string_value(builder, names[i]));
  return list;
}

static void add_model_details(json_builder *builder, const sp_saved_model *model, json_object *object) {
  if (model->fingerprint) put(builder, object, "fingerprint", fingerprint_json(builder, model->fingerprint));
  put(builder, object, "asset_files", names_json(builder, model->asset_files, model->asset_file_count));
  put(builder, object, "has_variables", checked(builder, json_object_new_boolean(model->has_variables)));
  if (model->variables_listed) put(builder, object, "variables", variables_json(builder, model));
  else if (model->variables_note) put(builder, object, "variables_note", string_value(builder, model->variables_note));
  const ThirdParty__Py__Keras__Protobuf__SavedObject *root = keras_root(model->keras_metadata);
  if (model->keras_metadata) {
    json_object *keras = checked(builder, json_object_new_object());
    put(builder, keras, "objects", checked(builder, json_object_new_int64((int64_t)model->keras_metadata->n_nodes)));
    put(builder, keras, "root_identifier", string_value(builder, root ? root->identifier : ""));
    put(builder, object, "keras_metadata", keras);
  }
}

sp_status sp_saved_model_show_json(const sp_saved_model *model, const sp_saved_model_show_options *options,
                                   json_object **out) {
  *out = NULL;
  const sp_saved_model_meta_graph *only = NULL;
  if (options->tag_set) SP_TRY(sp_saved_model_find_meta_graph(model, options->tag_set, &only));
  if (only && options->signature_def) {
    const sp_signature_proto *signature;
    SP_TRY(sp_meta_graph_find_signature(only, options->signature_def, &signature));
  }
  json_builder builder = {0};
  json_object *object = checked(&builder, json_object_new_object());
  put(&builder, object, "directory", string_value(&builder, model->directory));
  put(&builder, object, "source", string_value(&builder, model->source_path));
  put(&builder, object, "format", string_value(&builder, model->text_format ? "text" : "binary"));
  put(&builder, object, "saved_model_schema_version",
      checked(&builder, json_object_new_int64(model->proto->saved_model_schema_version)));
  json_object *meta_graphs = checked(&builder, json_object_new_array());
  for (size_t i = 0; i < model->meta_graph_count; i++)
    if (!only || only == &model->meta_graphs[i])
      append(&builder, meta_graphs, meta_graph_json(&builder, &model->meta_graphs[i], options->signature_def));
  put(&builder, object, "meta_graphs", meta_graphs);
  add_model_details(&builder, model, object);
  if (builder.failed) {
    json_object_put(object);
    return sp_fail(SP_ERROR_NO_MEMORY, "out of memory building the JSON description of '%s'", model->directory);
  }
  *out = object;
  return SP_OK;
}
