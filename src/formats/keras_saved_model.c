/* keras_saved_model.c — rebuilding the Keras model inside a tf.keras SavedModel (see the header).
 *
 * Guarantees: every node id and child reference taken from the files is checked against the node
 * counts before use; the object-graph walk visits each node once; a model variable that no
 * checkpoint tensor matches, or matches ambiguously, is an error naming the layer and variable
 * (never a silently initialized weight); each tensor's dtype and shape are checked before copying.
 */
#include "formats/keras_saved_model.h"

#include <stdlib.h>
#include <string.h>

#include "core/mapping.h"
#include "core/json.h"
#include "core/memory.h"
#include "formats/proto_read.h"
#include "formats/saved_model.h"
#include "formats/codec.h"
#include "formats/keras_config.h"
#include "formats/tf_bundle.h"
#include "formats/tf_checkpoint.h"
#include "nn/config.h"
#include "savepoint/saved_model.h"
#include "trackable_object_graph.pb-c.h"

enum { MAX_METADATA_BYTES = 64 << 20 };

/* ---- the Keras metadata records ---- */

typedef struct keras_record {
  int node_id;
  const char *json;
} keras_record;

/* From keras_metadata.pb, else from the object graph's SavedUserObject.metadata (TF < 2.5). */
static sp_status collect_records(const sp_saved_model *saved, const sp_saved_model_meta_graph *meta_graph,
                                 keras_record **records, size_t *count) {
  *records = NULL;
  *count = 0;
  const sp_keras_metadata_proto *metadata = saved->keras_metadata;
  const Tensorflow__SavedObjectGraph *objects = meta_graph->proto->object_graph_def;
  size_t capacity = metadata ? metadata->n_nodes : objects ? objects->n_nodes : 0;
  *records = sp_alloc_zeroed(capacity + 1, sizeof **records);
  if (!*records) return SP_ERROR_NO_MEMORY;
  if (metadata) {
    for (size_t i = 0; i < metadata->n_nodes; i++)
      if (metadata->nodes[i]->metadata && *metadata->nodes[i]->metadata)
        (*records)[(*count)++] = (keras_record){metadata->nodes[i]->node_id, metadata->nodes[i]->metadata};
  } else if (objects) {
/* SavedUserObject.metadata is deprecated because keras_metadata.pb replaced it, which is exactly
 * why SavedModels written before TF 2.5 must be read through it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    for (size_t i = 0; i < objects->n_nodes; i++) {
      const Tensorflow__SavedObject *node = objects->nodes[i];
      if (node->kind_case == TENSORFLOW__SAVED_OBJECT__KIND_USER_OBJECT && node->user_object->metadata &&
          *node->user_object->metadata)
        (*records)[(*count)++] = (keras_record){(int)i, node->user_object->metadata};
    }
#pragma GCC diagnostic pop
  }
  return SP_OK;
}

/* Keras's SavedModel JSON encoder writes tuples and TensorShapes as {"class_name": "__tuple__" |
 * "TensorShape", "items": [...]}; a config reader wants the plain lists. A new tree (or NULL). */
static json_object *decode_special(const json_object *value, int depth) {
  if (depth > 200) return NULL; /* the parser caps nesting already; this keeps the recursion bounded */
  if (json_object_is_type(value, json_type_array)) {
    json_object *array = json_object_new_array();
    for (size_t i = 0; array && i < json_object_array_length(value); i++) {
      json_object *item = json_object_array_get_idx(value, i);
      json_object *decoded = item ? decode_special(item, depth + 1) : NULL;
      if (item && !decoded) {
        json_object_put(array);
        return NULL;
      }
      json_object_array_add(array, decoded);
    }
    return array;
  }
  if (!json_object_is_type(value, json_type_object)) return json_object_get((json_object *)value);
  json_object *class_name = sp_json_member(value, "class_name"), *items = sp_json_member(value, "items");
  if (class_name && json_object_is_type(class_name, json_type_string) && items &&
      json_object_is_type(items, json_type_array) &&
      (strcmp(json_object_get_string(class_name), "__tuple__") == 0 ||
       strcmp(json_object_get_string(class_name), "TensorShape") == 0))
    return decode_special(items, depth + 1);
  json_object *object = json_object_new_object();
  json_object_object_foreach((json_object *)value, key, child) {
    json_object *decoded = child ? decode_special(child, depth + 1) : NULL;
    if (!object || (child && !decoded)) {
      json_object_put(object);
      return NULL;
    }
    json_object_object_add(object, key, decoded);
  }
  return object;
}

sp_status sp_keras_metadata_model_config(const json_object *root, const char *what, json_object **config) {
  *config = NULL;
  json_object *model_config = sp_json_member(root, "model_config");
  if (model_config && json_object_is_type(model_config, json_type_object)) {
    *config = decode_special(model_config, 0);
    return *config ? SP_OK : sp_fail(SP_ERROR_NO_MEMORY, "%s: decoding the model config", what);
  }
  /* TF < 2.5 kept {class_name, config} of the model at the top level of its metadata */
  json_object *class_name = sp_json_member(root, "class_name"), *inner = sp_json_member(root, "config");
  if (!class_name || !json_object_is_type(class_name, json_type_string) || !inner ||
      !json_object_is_type(inner, json_type_object))
    return sp_fail(SP_ERROR_FORMAT, "%s: the root metadata has no model_config (nor class_name and config)", what);
  const char *name = json_object_get_string(class_name);
  if (strcmp(name, "Sequential") != 0 && strcmp(name, "Functional") != 0 && strcmp(name, "Model") != 0)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: the root object is a '%s', not a Sequential or Functional Keras model "
                   "(subclassed models keep no architecture)", what, name);
  *config = json_object_new_object();
  json_object *decoded = decode_special(inner, 0);
  if (!*config || !decoded) {
    json_object_put(*config);
    json_object_put(decoded);
    *config = NULL;
    return sp_fail(SP_ERROR_NO_MEMORY, "%s: decoding the model config", what);
  }
  json_object_object_add(*config, "class_name", json_object_get(class_name));
  json_object_object_add(*config, "config", decoded);
  return SP_OK;
}

static sp_status parse_root(const keras_record *records, size_t count, const char *what, json_object **root) {
  for (size_t i = 0; i < count; i++)
    if (records[i].node_id == 0)
      return sp_json_parse(records[i].json, strlen(records[i].json), what, root);
  return sp_fail(SP_ERROR_UNSUPPORTED, "%s holds no Keras model: no Keras metadata for the root object (a tf.Module "
                 "or a TF1 graph); run it with the graph interpreter instead", what);
}

sp_status sp_keras_metadata_root(const uint8_t *data, size_t size, const char *what, json_object **root) {
  *root = NULL;
  ProtobufCMessage *message;
  SP_TRY(sp_proto_unpack(&third_party__py__keras__protobuf__saved_metadata__descriptor, data, size, what, &message));
  const sp_keras_metadata_proto *metadata = (const sp_keras_metadata_proto *)message;
  keras_record *records = sp_alloc_zeroed(metadata->n_nodes + 1, sizeof *records);
  size_t count = 0;
  sp_status status = records ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; status == SP_OK && i < metadata->n_nodes; i++)
    if (metadata->nodes[i]->metadata && *metadata->nodes[i]->metadata)
      records[count++] = (keras_record){metadata->nodes[i]->node_id, metadata->nodes[i]->metadata};
  if (status == SP_OK) status = parse_root(records, count, what, root);
  free(records);
  protobuf_c_message_free_unpacked(message, NULL);
  return status;
}

/* ---- weights through the checkpoint's object graph ---- */

typedef struct weight_source {
  const char *what;
  sp_bundle_reader *bundle;
  Tensorflow__TrackableObjectGraph *graph;
  unsigned char *visited;
} weight_source;

static sp_status open_weights(const sp_saved_model *saved, weight_source *source) {
  char *prefix = sp_saved_model_variables_prefix(saved);
  if (!prefix) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_bundle_open(prefix, &source->bundle);
  sp_tensor *serialized = NULL;
  if (status == SP_OK) status = sp_bundle_read(source->bundle, "_CHECKPOINTABLE_OBJECT_GRAPH", &serialized);
  if (status == SP_OK && (serialized->dtype != SP_STRING || sp_tensor_count(serialized) != 1))
    status = sp_fail(SP_ERROR_FORMAT, "%s: _CHECKPOINTABLE_OBJECT_GRAPH is not a scalar string", prefix);
  ProtobufCMessage *message = NULL;
  if (status == SP_OK) {
    const sp_string *text = serialized->data;
    status = sp_proto_unpack(&tensorflow__trackable_object_graph__descriptor, (const uint8_t *)text->bytes,
                             text->length, "_CHECKPOINTABLE_OBJECT_GRAPH", &message);
  }
  sp_tensor_free(serialized);
  if (status == SP_OK) {
    source->graph = (Tensorflow__TrackableObjectGraph *)message;
    source->visited = sp_alloc_zeroed(source->graph->n_nodes + 1, 1);
    if (!source->visited) status = SP_ERROR_NO_MEMORY;
  }
  status = sp_error_context(status, "reading the variables of '%s'", source->what);
  free(prefix);
  return status;
}

static void close_weights(weight_source *source) {
  if (source->graph) protobuf_c_message_free_unpacked(&source->graph->base, NULL);
  if (source->bundle) sp_bundle_close(source->bundle);
  free(source->visited);
}

/* A variable of the checkpoint below a layer's node. */
typedef struct found_variable {
  const char *full_name; /* "lstm/lstm_cell/kernel" */
  const char *key;       /* "layer_with_weights-0/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE" */
} found_variable;

typedef struct variable_list {
  found_variable *items;
  size_t count, capacity;
} variable_list;

/* Depth-first through children of node (each node once per walk), collecting VARIABLE_VALUE tensors. */
static sp_status collect_variables(weight_source *source, int node_id, int depth, variable_list *list) {
  if (node_id < 0 || (size_t)node_id >= source->graph->n_nodes)
    return sp_fail(SP_ERROR_FORMAT, "%s: object graph references node %d of %zu", source->what, node_id,
                   source->graph->n_nodes);
  if (source->visited[node_id] || depth > 64) return SP_OK;
  source->visited[node_id] = 1;
  const Tensorflow__TrackableObjectGraph__TrackableObject *node = source->graph->nodes[node_id];
  for (size_t a = 0; a < node->n_attributes; a++) {
    const Tensorflow__TrackableObjectGraph__TrackableObject__SerializedTensor *attribute = node->attributes[a];
    if (!attribute->name || strcmp(attribute->name, "VARIABLE_VALUE") != 0 || !attribute->checkpoint_key) continue;
    SP_TRY(SP_RESERVE(list->items, list->capacity, list->count + 1));
    list->items[list->count++] = (found_variable){attribute->full_name ? attribute->full_name : "", attribute->checkpoint_key};
  }
  for (size_t c = 0; c < node->n_children; c++)
    SP_TRY(collect_variables(source, node->children[c]->node_id, depth + 1, list));
  return SP_OK;
}

/* "lstm/lstm_cell/kernel:0" → "kernel". */
static const char *short_name(const char *full_name, size_t *length) {
  const char *slash = strrchr(full_name, '/');
  const char *name = slash ? slash + 1 : full_name;
  const char *colon = strchr(name, ':');
  *length = colon ? (size_t)(colon - name) : strlen(name);
  return name;
}

/* The checkpoint variable for a model variable: the one below the layer with its short name;
 * among several, the one under the layer's own name scope. */
static const found_variable *match_variable(const variable_list *list, const sp_variable *variable) {
  const found_variable *any = NULL, *scoped = NULL;
  int any_count = 0, scoped_count = 0;
  size_t layer_length = strlen(variable->layer->name);
  for (size_t i = 0; i < list->count; i++) {
    size_t length;
    const char *name = short_name(list->items[i].full_name, &length);
    if (length != strlen(variable->name) || strncmp(name, variable->name, length) != 0) continue;
    any = &list->items[i], any_count++;
    if (strncmp(list->items[i].full_name, variable->layer->name, layer_length) == 0 &&
        list->items[i].full_name[layer_length] == '/')
      scoped = &list->items[i], scoped_count++;
  }
  return scoped_count == 1 ? scoped : any_count == 1 ? any : NULL;
}

static sp_status load_variable(weight_source *source, sp_variable *variable, const found_variable *found) {
  sp_tensor *value;
  SP_TRY(sp_bundle_read(source->bundle, found->key, &value));
  sp_status status = SP_OK;
  if (value->dtype != variable->value->dtype || value->rank != variable->value->rank ||
      memcmp(value->shape, variable->value->shape, (size_t)value->rank * sizeof *value->shape) != 0) {
    char expected[96], found_shape[96];
    status = sp_fail(SP_ERROR_MISMATCH, "%s: variable '%s' of %s is %s %s in the checkpoint ('%s'), the model expects %s %s",
                     source->what, variable->name, sp_layer_describe(variable->layer), sp_dtype_name(value->dtype),
                     sp_shape_format(value->rank, value->shape, found_shape, sizeof found_shape), found->key,
                     sp_dtype_name(variable->value->dtype),
                     sp_shape_format(variable->value->rank, variable->value->shape, expected, sizeof expected));
  } else {
    status = sp_tensor_overwrite(variable->value, value);
    variable->initialized = status == SP_OK;
  }
  sp_tensor_free(value);
  return status;
}

static sp_layer *find_layer(const sp_model *model, const char *name) {
  for (int i = 0; i < model->layer_count; i++) {
    sp_layer *layer = model->layers[i];
    if (strcmp(layer->name, name) == 0) return layer;
    if (layer->inner_model) {
      sp_layer *inner = find_layer(layer->inner_model, name);
      if (inner) return inner;
    }
  }
  return NULL;
}

static sp_status load_layer(weight_source *source, sp_layer *layer, int node_id) {
  if (layer->inner_model || layer->variable_count == 0) return SP_OK;
  variable_list list = {0};
  memset(source->visited, 0, source->graph->n_nodes);
  sp_status status = collect_variables(source, node_id, 0, &list);
  for (int v = 0; status == SP_OK && v < layer->variable_count; v++) {
    sp_variable *variable = layer->variables[v];
    const found_variable *found = match_variable(&list, variable);
    if (!found)
      status = sp_fail(SP_ERROR_MISMATCH, "%s: no single checkpoint tensor below object %d holds variable '%s' of %s "
                       "(%zu variables there)", source->what, node_id, variable->name, sp_layer_describe(layer),
                       list.count);
    else
      status = load_variable(source, variable, found);
  }
  free(list.items);
  return status;
}

static sp_status load_weights(const sp_saved_model *saved, sp_model *model, const keras_record *records, size_t count) {
  weight_source source = {saved->directory, NULL, NULL, NULL};
  sp_status status = open_weights(saved, &source);
  for (size_t i = 0; status == SP_OK && i < count; i++) {
    if (records[i].node_id == 0) continue;
    json_object *metadata;
    status = sp_json_parse(records[i].json, strlen(records[i].json), saved->directory, &metadata);
    if (status != SP_OK) break;
    json_object *name = sp_json_member(metadata, "name");
    sp_layer *layer = name && json_object_is_type(name, json_type_string) ? find_layer(model, json_object_get_string(name)) : NULL;
    if (layer) status = load_layer(&source, layer, records[i].node_id);
    json_object_put(metadata);
  }
  /* every variable of the model must have come from the checkpoint */
  sp_variable **variables = NULL;
  int variable_count = status == SP_OK ? sp_model_collect_variables(model, &variables, 0) : 0;
  for (int v = 0; status == SP_OK && v < variable_count; v++)
    if (!variables[v]->initialized)
      status = sp_fail(SP_ERROR_MISMATCH, "%s: no Keras metadata names %s, so its variable '%s' has no value",
                       saved->directory, sp_layer_describe(variables[v]->layer), variables[v]->name);
  free(variables);
  close_weights(&source);
  return status;
}

/* ---- the model ---- */

/* tf.keras's load_model(compile=True): compile from the root's training_config, then restore the
 * optimizer's state from variables/ (tf_checkpoint.c reads optimizer_v2's slot variables and the
 * Keras 2.11+ optimizer's list). A training config or optimizer state savepoint cannot apply is
 * a warning: the model still loads, uncompiled or with a fresh optimizer. */
static sp_status restore_training(const sp_saved_model *saved, const json_object *root, const sp_load_options *options,
                                  sp_model *model) {
  json_object *training = sp_json_member(root, "training_config");
  if (!training || !json_object_is_type(training, json_type_object)) return SP_OK;
  int compiled = 0;
  SP_TRY(sp_keras_model_restore_training(model, training, options, saved->directory, &compiled));
  if (!compiled) return SP_OK;
  char *prefix = sp_saved_model_variables_prefix(saved);
  if (!prefix) return SP_ERROR_NO_MEMORY;
  sp_checkpoint_options checkpoint = sp_checkpoint_defaults();
  checkpoint.optimizer_only = 1;
  sp_status status = sp_checkpoint_read(model, prefix, &checkpoint);
  free(prefix);
  if (status == SP_OK || status == SP_ERROR_NO_MEMORY) return status;
  sp_load_warn(options, "'%s': the optimizer's state is not restored: %s", saved->directory, sp_last_error());
  sp_clear_error();
  return SP_OK;
}

static sp_status rebuild(const sp_saved_model *saved, const sp_load_options *options, sp_model **model) {
  const sp_saved_model_meta_graph *meta_graph;
  SP_TRY(sp_saved_model_find_meta_graph(saved, "serve", &meta_graph));
  keras_record *records;
  size_t count;
  SP_TRY(collect_records(saved, meta_graph, &records, &count));
  json_object *root = NULL, *config = NULL;
  sp_status status = parse_root(records, count, saved->directory, &root);
  if (status == SP_OK) status = sp_keras_metadata_model_config(root, saved->directory, &config);
  if (status == SP_OK) status = sp_config_check_safe(config, saved->directory);
  sp_config_options config_options = {.keras_major = 2};
  if (status == SP_OK) status = sp_model_from_config_object(config, &config_options, model);
  if (status == SP_OK && !saved->has_variables)
    status = sp_fail(SP_ERROR_FORMAT, "%s has no variables/variables.index to read the weights from", saved->directory);
  if (status == SP_OK) status = load_weights(saved, *model, records, count);
  if (status == SP_OK && options->compile) status = restore_training(saved, root, options, *model);
  if (status != SP_OK && *model) {
    sp_model_free(*model);
    *model = NULL;
  }
  json_object_put(config);
  json_object_put(root);
  free(records);
  return status;
}

sp_status sp_keras_saved_model_load(const char *directory, const sp_load_options *options, sp_model **model) {
  *model = NULL;
  sp_load_options resolved = sp_load_options_resolved(options);
  sp_saved_model *saved;
  SP_TRY(sp_error_context(sp_saved_model_read(directory, &saved), "loading the Keras model in '%s'", directory));
  sp_status status = rebuild(saved, &resolved, model);
  sp_saved_model_free(saved);
  return sp_error_context(status, "loading the Keras model in '%s'", directory);
}

sp_status sp_load_keras_saved_model(const char *directory, sp_model **model) {
  return sp_keras_saved_model_load(directory, NULL, model);
}
