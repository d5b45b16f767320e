/* tf_checkpoint.c — models as tf.keras object-based checkpoints, and TF1 name-based reading
 * (see tf_checkpoint.h; formats.md §4.7).
 *
 * Writing builds the objects tf.keras would track (the model; its layers reached through
 * layer_with_weights-k and layer-i edges; variables; the optimizer with its hyperparameters and
 * slot variables; save_counter; the "root" self-edge that Keras's tf.train.Checkpoint(root=model)
 * adds), numbers them breadth first as TensorFlow's ObjectGraphView does, and serializes the
 * TrackableObjectGraph. A variable's key is the escaped path of local names by which the
 * traversal first reached it.
 *
 * Reading never trusts the graph: node ids are checked against the node count before use, and a
 * model variable is assigned only after every value was read, CRC-checked by the bundle reader
 * and found to have the variable's shape.
 */
#include "formats/tf_checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mapping.h"
#include "core/file.h"
#include "core/memory.h"
#include "formats/codec.h"
#include "formats/tf_bundle.h"
#include "nn/layer.h"
#include "nn/optimizer.h"
#include "savepoint/train.h"
#include "trackable_object_graph.pb-c.h"
#include "wrappers.pb-c.h"

#define ATTRIBUTE_SUFFIX "/.ATTRIBUTES/VARIABLE_VALUE"
#define VARIABLE_VALUE "VARIABLE_VALUE"

typedef Tensorflow__TrackableObjectGraph ObjectGraph;
typedef Tensorflow__TrackableObjectGraph__TrackableObject TrackableObject;
typedef Tensorflow__TrackableObjectGraph__TrackableObject__ObjectReference ObjectReference;
typedef Tensorflow__TrackableObjectGraph__TrackableObject__SerializedTensor SerializedTensor;
typedef Tensorflow__TrackableObjectGraph__TrackableObject__SlotVariableReference SlotVariableReference;

sp_checkpoint_options sp_checkpoint_defaults(void) {
  sp_checkpoint_options options = {0};
  options.include_optimizer = 1;
  return options;
}

char *sp_checkpoint_escape_local_name(const char *name) {
  size_t length = 0;
  for (const char *c = name; *c; c++) length += (*c == '.' || *c == '/') ? 2 : 1;
  char *escaped = sp_alloc(length + 1), *out = escaped;
  if (!escaped) return NULL;
  for (const char *c = name; *c; c++) {
    if (*c == '.') *out++ = '.', *out++ = '.';
    else if (*c == '/') *out++ = '.', *out++ = 'S';
    else *out++ = *c;
  }
  *out = '\0';
  return escaped;
}

/* ======================================================================================
 * The object graph being written
 * ====================================================================================== */

typedef struct graph_edge {
  char *name;
  int target; /* object index */
} graph_edge;

typedef struct graph_object {
  const void *identity;      /* the layer, model or variable it stands for (shared layers are one object) */
  graph_edge *edges;
  size_t edge_count, edge_capacity;
  const sp_tensor *value;    /* a variable's value, NULL for containers */
  sp_tensor *owned_value;    /* values made for the checkpoint (hyperparameters, save_counter) */
  char *full_name;           /* the variable's TF name, "dense/kernel" */
  int slot_of;               /* slot variables: object of the original variable, else -1 */
  int slot_optimizer;        /* slot variables: object of the optimizer */
  int slot_rank;             /* slot variables: order of the slot name in the optimizer */
  char *slot_name;
  int node;                  /* node id after numbering, -1 when unreachable */
  char *path;                /* escaped object path after numbering */
} graph_object;

typedef struct object_graph {
  graph_object *objects;
  size_t count, capacity;
  int *nodes;                /* node id -> object index */
  size_t node_count;
} object_graph;

static void object_graph_release(object_graph *graph) {
  for (size_t i = 0; i < graph->count; i++) {
    graph_object *object = &graph->objects[i];
    for (size_t e = 0; e < object->edge_count; e++) free(object->edges[e].name);
    free(object->edges);
    sp_tensor_free(object->owned_value);
    free(object->full_name);
    free(object->slot_name);
    free(object->path);
  }
  free(graph->objects);
  free(graph->nodes);
  memset(graph, 0, sizeof *graph);
}

static sp_status add_object(object_graph *graph, const void *identity, int *index) {
  SP_TRY(SP_RESERVE(graph->objects, graph->capacity, graph->count + 1));
  graph_object *object = &graph->objects[graph->count];
  memset(object, 0, sizeof *object);
  object->identity = identity;
  object->slot_of = -1;
  object->node = -1;
  *index = (int)graph->count++;
  return SP_OK;
}

static sp_status add_edge(object_graph *graph, int from, const char *name, int to) {
  graph_object *object = &graph->objects[from];
  SP_TRY(SP_RESERVE(object->edges, object->edge_capacity, object->edge_count + 1));
  object->edges[object->edge_count].name = sp_strdup(name);
  if (!object->edges[object->edge_count].name) return SP_ERROR_NO_MEMORY;
  object->edges[object->edge_count++].target = to;
  return SP_OK;
}

/* The object standing for identity, or -1. */
static int find_object(const object_graph *graph, const void *identity) {
  for (size_t i = 0; identity && i < graph->count; i++)
    if (graph->objects[i].identity == identity) return (int)i;
  return -1;
}

/* The object standing for identity, creating it when new. */
static sp_status object_for(object_graph *graph, const void *identity, int *index, int *created) {
  *index = find_object(graph, identity);
  *created = *index < 0;
  return *created ? add_object(graph, identity, index) : SP_OK;
}

/* A variable object under parent, reached through the edge name. */
static sp_status add_variable(object_graph *graph, int parent, const char *edge, const sp_tensor *value,
                              const char *full_name, int *index) {
  SP_TRY(add_object(graph, value, index));
  graph->objects[*index].value = value;
  graph->objects[*index].full_name = sp_strdup(full_name);
  if (!graph->objects[*index].full_name) return SP_ERROR_NO_MEMORY;
  return add_edge(graph, parent, edge, *index);
}

/* ---- what tf.keras tracks ---- */

/* Keras 2 model.layers: a Sequential model's list leaves its InputLayer out; Functional keeps it. */
static int keras2_layer_listed(const sp_model *model, const sp_layer *layer) {
  return !(sp_layer_is_input(layer) && strcmp(model->class_name, "Sequential") == 0);
}

static int layer_has_weights(const sp_layer *layer);

static int model_has_weights(const sp_model *model) {
  for (int i = 0; i < model->layer_count; i++)
    if (layer_has_weights(model->layers[i])) return 1;
  return 0;
}

static int layer_has_weights(const sp_layer *layer) {
  return layer->inner_model ? model_has_weights(layer->inner_model) : layer->variable_count > 0;
}

/* Keras 2 recurrent layers keep their variables on a "cell" object. */
static const char *variable_container(const sp_layer *layer) {
  static const char *const cell_layers[] = {"SimpleRNN", "GRU", "LSTM"};
  for (size_t i = 0; i < sizeof cell_layers / sizeof *cell_layers; i++)
    if (strcmp(layer->class->class_name, cell_layers[i]) == 0) return "cell";
  return NULL;
}

static sp_status add_model_objects(object_graph *graph, const sp_model *model, int model_object);

static sp_status add_layer_objects(object_graph *graph, const sp_layer *layer, int layer_object) {
  if (layer->inner_model) return add_model_objects(graph, layer->inner_model, layer_object);
  int parent = layer_object;
  const char *container = variable_container(layer);
  if (container && layer->variable_count > 0) {
    SP_TRY(add_object(graph, NULL, &parent));
    SP_TRY(add_edge(graph, layer_object, container, parent));
  }
  for (int v = 0; v < layer->variable_count; v++) {
    const sp_variable *variable = layer->variables[v];
    char *full_name = sp_strdupf("%s/%s", layer->name, variable->name);
    if (!full_name) return SP_ERROR_NO_MEMORY;
    int index;
    sp_status status = add_variable(graph, parent, variable->name, variable->value, full_name, &index);
    free(full_name);
    SP_TRY(status);
  }
  return SP_OK;
}

/* Functional._layer_checkpoint_dependencies: per listed layer, layer_with_weights-k (when it has
 * weights) then layer-i, both edges to the same object. */
static sp_status add_model_objects(object_graph *graph, const sp_model *model, int model_object) {
  int listed = 0, with_weights = 0;
  for (int i = 0; i < model->layer_count; i++) {
    const sp_layer *layer = model->layers[i];
    if (!keras2_layer_listed(model, layer)) continue;
    int index, created;
    SP_TRY(object_for(graph, layer, &index, &created));
    char name[48];
    if (layer_has_weights(layer)) {
      snprintf(name, sizeof name, "layer_with_weights-%d", with_weights++);
      SP_TRY(add_edge(graph, model_object, name, index));
    }
    snprintf(name, sizeof name, "layer-%d", listed++);
    SP_TRY(add_edge(graph, model_object, name, index));
    if (created) SP_TRY(add_layer_objects(graph, layer, index));
  }
  return SP_OK;
}

/* A variable whose value the graph made (and owns): hyperparameters, save_counter. */
static sp_status add_owned_variable(object_graph *graph, int parent, const char *edge, sp_tensor *value,
                                    const char *full_name) {
  if (!value) return SP_ERROR_NO_MEMORY;
  int index = -1;
  sp_status status = add_variable(graph, parent, edge, value, full_name, &index);
  if (index >= 0) graph->objects[index].owned_value = value;
  else sp_tensor_free(value);
  return status;
}

static sp_status add_save_counter(object_graph *graph, int64_t value) {
  sp_tensor *counter = sp_tensor_new(SP_INT64, 0, NULL);
  if (counter) *(int64_t *)counter->data = value;
  return add_owned_variable(graph, 0, "save_counter", counter, "save_counter");
}

/* ---- the optimizer, as tf.keras 2's optimizer_v2 tracks it ---- */

/* optimizer_v2's slot name for a Keras 3 slot: Adam's and Nadam's m, v, vhat; RMSprop's rms,
 * momentum, mg; SGD's momentum; Adagrad's accumulator. Gradient accumulators, which tf.keras 2
 * does not have, keep Keras 3's name. */
static const char *optimizer_v2_slot_name(const sp_optimizer *optimizer, const char *slot) {
  int rmsprop = optimizer->kind == SP_OPTIMIZER_RMSPROP;
  if (strcmp(slot, "momentum") == 0) return rmsprop || optimizer->kind == SP_OPTIMIZER_SGD ? "momentum" : "m";
  if (strcmp(slot, "velocity") == 0) return rmsprop ? "rms" : "v";
  if (strcmp(slot, "velocity_hat") == 0) return "vhat";
  if (strcmp(slot, "average_gradient") == 0) return "mg";
  return slot;
}

/* _create_hypers: the hyperparameters optimizer_v2 keeps as variables, in the sorted order it
 * creates them (epsilon, amsgrad, nesterov and centered are plain attributes there). */
static const char *const *keras2_hyperparameters(sp_optimizer_kind kind) {
  static const char *const sgd[] = {"decay", "learning_rate", "momentum", NULL};
  static const char *const adam[] = {"beta_1", "beta_2", "decay", "learning_rate", NULL};
  static const char *const adamw[] = {"beta_1", "beta_2", "decay", "learning_rate", "weight_decay", NULL};
  static const char *const rmsprop[] = {"decay", "learning_rate", "momentum", "rho", NULL};
  static const char *const adagrad[] = {"decay", "learning_rate", NULL};
  switch (kind) {
    case SP_OPTIMIZER_SGD: return sgd;
    case SP_OPTIMIZER_ADAMW: return adamw;
    case SP_OPTIMIZER_RMSPROP: return rmsprop;
    case SP_OPTIMIZER_ADAGRAD: return adagrad;
    case SP_OPTIMIZER_ADAM:
    case SP_OPTIMIZER_NADAM: break;
  }
  return adam;
}

static double keras2_hyperparameter(const sp_optimizer *optimizer, const char *name) {
  if (strcmp(name, "beta_1") == 0) return optimizer->beta_1;
  if (strcmp(name, "beta_2") == 0) return optimizer->beta_2;
  if (strcmp(name, "momentum") == 0) return optimizer->momentum;
  if (strcmp(name, "rho") == 0) return optimizer->rho;
  if (strcmp(name, "weight_decay") == 0) return optimizer->weight_decay.value;
  return sp_optimizer_keras2_decay(optimizer);
}

/* iter, then the hyperparameters (learning_rate is the live variable; a schedule has none), then
 * Nadam's momentum_cache, all children of the optimizer. */
static sp_status add_optimizer_variables(object_graph *graph, const sp_optimizer *optimizer, int parent) {
  const char *class_name = sp_optimizer_class_name(optimizer);
  char full_name[128];
  snprintf(full_name, sizeof full_name, "%s/iter", class_name);
  int index;
  SP_TRY(add_variable(graph, parent, "iter", optimizer->iteration, full_name, &index));
  for (const char *const *name = keras2_hyperparameters(optimizer->kind); *name; name++) {
    snprintf(full_name, sizeof full_name, "%s/%s", class_name, *name);
    if (strcmp(*name, "learning_rate") == 0) {
      if (optimizer->learning_rate_variable)
        SP_TRY(add_variable(graph, parent, *name, optimizer->learning_rate_variable, full_name, &index));
      continue;
    }
    sp_tensor *value = sp_tensor_new(SP_FLOAT32, 0, NULL);
    if (value) *sp_tensor_floats(value) = (float)keras2_hyperparameter(optimizer, *name);
    SP_TRY(add_owned_variable(graph, parent, *name, value, full_name));
  }
  if (!optimizer->u_product) return SP_OK;
  snprintf(full_name, sizeof full_name, "%s/momentum_cache", class_name);
  return add_variable(graph, parent, "momentum_cache", optimizer->u_product, full_name, &index);
}

/* Slot variables belong to no parent: the optimizer's slot_variables name them, ranked by the
 * order in which the optimizer creates each slot name. */
static sp_status add_slot_variables(object_graph *graph, const sp_optimizer *optimizer, int optimizer_object) {
  const char *seen[8];
  int seen_count = 0;
  for (int i = 0; i < optimizer->variable_count; i++) {
    const sp_optimizer_variable *variable = &optimizer->variables[i];
    if (variable->target < 0 || !variable->slot) continue;
    int original = find_object(graph, optimizer->targets[variable->target]->value);
    if (original < 0) continue; /* not tracked by this checkpoint */
    const char *slot_name = optimizer_v2_slot_name(optimizer, variable->slot);
    int rank = 0;
    while (rank < seen_count && strcmp(seen[rank], slot_name) != 0) rank++;
    if (rank == seen_count && seen_count < (int)(sizeof seen / sizeof *seen)) seen[seen_count++] = slot_name;
    int index;
    SP_TRY(add_object(graph, variable->value, &index));
    graph_object *slot = &graph->objects[index];
    slot->value = variable->value;
    slot->slot_of = original;
    slot->slot_optimizer = optimizer_object;
    slot->slot_rank = rank;
    slot->slot_name = sp_strdup(slot_name);
    slot->full_name = sp_strdupf("%s/%s/%s", sp_optimizer_class_name(optimizer), graph->objects[original].full_name,
                                 slot_name);
    if (!slot->slot_name || !slot->full_name) return SP_ERROR_NO_MEMORY;
  }
  return SP_OK;
}

/* The model's "optimizer" child. tf.keras tracks a compiled model's optimizer before it has
 * variables: then the object has no children, as in a checkpoint saved before training. */
static sp_status add_optimizer_objects(object_graph *graph, const sp_optimizer *optimizer, int root) {
  int object;
  SP_TRY(add_object(graph, optimizer, &object));
  SP_TRY(add_edge(graph, root, "optimizer", object));
  if (optimizer->variable_count == 0) return SP_OK;
  SP_TRY(add_optimizer_variables(graph, optimizer, object));
  return add_slot_variables(graph, optimizer, object);
}

/* ---- numbering (TensorFlow's breadth-first traversal) ---- */

static sp_status join_path(const char *parent, const char *local_name, char **path) {
  char *escaped = sp_checkpoint_escape_local_name(local_name);
  if (!escaped) return SP_ERROR_NO_MEMORY;
  *path = *parent ? sp_strdupf("%s/%s", parent, escaped) : sp_strdup(escaped);
  free(escaped);
  return *path ? SP_OK : SP_ERROR_NO_MEMORY;
}

static int compare_slots(const void *a, const void *b, void *context) {
  const object_graph *graph = context;
  const graph_object *x = &graph->objects[*(const int *)a], *y = &graph->objects[*(const int *)b];
  if (x->slot_rank != y->slot_rank) return x->slot_rank - y->slot_rank;
  return graph->objects[x->slot_of].node - graph->objects[y->slot_of].node;
}

static sp_status number_slots(object_graph *graph) {
  size_t slot_count = 0;
  for (size_t i = 0; i < graph->count; i++) slot_count += graph->objects[i].slot_of >= 0;
  if (slot_count == 0) return SP_OK;
  int *slots = sp_alloc_zeroed(slot_count, sizeof *slots);
  if (!slots) return SP_ERROR_NO_MEMORY;
  size_t n = 0;
  for (size_t i = 0; i < graph->count; i++)
    if (graph->objects[i].slot_of >= 0) slots[n++] = (int)i;
  qsort_r(slots, slot_count, sizeof *slots, compare_slots, graph);
  sp_status status = SP_OK;
  for (size_t s = 0; s < slot_count && status == SP_OK; s++) {
    graph_object *slot = &graph->objects[slots[s]];
    const graph_object *original = &graph->objects[slot->slot_of];
    const graph_object *optimizer = &graph->objects[slot->slot_optimizer];
    if (original->node < 0 || optimizer->node < 0) continue; /* not in this checkpoint */
    char *escaped = sp_checkpoint_escape_local_name(slot->slot_name);
    slot->path = escaped ? sp_strdupf("%s/.OPTIMIZER_SLOT/%s/%s", original->path, optimizer->path, escaped) : NULL;
    free(escaped);
    if (!slot->path) status = SP_ERROR_NO_MEMORY;
    slot->node = (int)graph->node_count;
    graph->nodes[graph->node_count++] = slots[s];
  }
  free(slots);
  return status;
}

static sp_status number_objects(object_graph *graph) {
  graph->nodes = sp_alloc_zeroed(graph->count, sizeof *graph->nodes);
  if (!graph->nodes) return SP_ERROR_NO_MEMORY;
  graph->objects[0].node = 0;
  graph->objects[0].path = sp_strdup("");
  if (!graph->objects[0].path) return SP_ERROR_NO_MEMORY;
  graph->nodes[0] = 0;
  graph->node_count = 1;
  for (size_t visit = 0; visit < graph->node_count; visit++) {
    graph_object *object = &graph->objects[graph->nodes[visit]];
    for (size_t e = 0; e < object->edge_count; e++) {
      graph_object *child = &graph->objects[object->edges[e].target];
      if (child->node >= 0) continue;
      SP_TRY(join_path(object->path, object->edges[e].name, &child->path));
      child->node = (int)graph->node_count;
      graph->nodes[graph->node_count++] = object->edges[e].target;
    }
  }
  return number_slots(graph);
}

/* ---- serializing the TrackableObjectGraph ---- */

/* _add_checkpoint_values_check: a node has checkpoint values when it or anything below it does. */
static void mark_checkpoint_values(const object_graph *graph, int *has_values) {
  for (size_t n = 0; n < graph->node_count; n++) {
    const graph_object *object = &graph->objects[graph->nodes[n]];
    has_values[n] = object->value != NULL;
    for (size_t i = 0; i < graph->count && !has_values[n]; i++)
      has_values[n] = graph->objects[i].slot_of >= 0 && graph->objects[i].slot_optimizer == graph->nodes[n] &&
                      graph->objects[i].node >= 0;
  }
  for (int changed = 1; changed;) {
    changed = 0;
    for (size_t n = 0; n < graph->node_count; n++) {
      const graph_object *object = &graph->objects[graph->nodes[n]];
      for (size_t e = 0; e < object->edge_count && !has_values[n]; e++)
        if (has_values[graph->objects[object->edges[e].target].node]) has_values[n] = changed = 1;
    }
  }
}

static char *attribute_key(const graph_object *object) { return sp_strdupf("%s" ATTRIBUTE_SUFFIX, object->path); }

/* All proto pieces live in arrays sized up front and freed together. */
typedef struct graph_proto {
  TrackableObject *nodes, **node_pointers;
  ObjectReference *references, **reference_pointers;
  SerializedTensor *attributes, **attribute_pointers;
  SlotVariableReference *slots, **slot_pointers;
  Google__Protobuf__BoolValue *flags;
  char **keys;
  size_t key_count;
} graph_proto;

static void graph_proto_release(graph_proto *proto) {
  for (size_t i = 0; i < proto->key_count; i++) free(proto->keys[i]);
  free(proto->keys);
  free(proto->nodes);
  free(proto->node_pointers);
  free(proto->references);
  free(proto->reference_pointers);
  free(proto->attributes);
  free(proto->attribute_pointers);
  free(proto->slots);
  free(proto->slot_pointers);
  free(proto->flags);
}

static sp_status graph_proto_allocate(graph_proto *proto, size_t nodes, size_t edges, size_t slots) {
  proto->nodes = sp_alloc_zeroed(nodes, sizeof *proto->nodes);
  proto->node_pointers = sp_alloc_zeroed(nodes, sizeof *proto->node_pointers);
  proto->references = sp_alloc_zeroed(edges + 1, sizeof *proto->references);
  proto->reference_pointers = sp_alloc_zeroed(edges + 1, sizeof *proto->reference_pointers);
  proto->attributes = sp_alloc_zeroed(nodes, sizeof *proto->attributes);
  proto->attribute_pointers = sp_alloc_zeroed(nodes, sizeof *proto->attribute_pointers);
  proto->slots = sp_alloc_zeroed(slots + 1, sizeof *proto->slots);
  proto->slot_pointers = sp_alloc_zeroed(slots + 1, sizeof *proto->slot_pointers);
  proto->flags = sp_alloc_zeroed(nodes, sizeof *proto->flags);
  proto->keys = sp_alloc_zeroed(nodes, sizeof *proto->keys);
  if (!proto->nodes || !proto->node_pointers || !proto->references || !proto->reference_pointers ||
      !proto->attributes || !proto->attribute_pointers || !proto->slots || !proto->slot_pointers || !proto->flags ||
      !proto->keys)
    return SP_ERROR_NO_MEMORY;
  return SP_OK;
}

static sp_status fill_node(const object_graph *graph, size_t n, graph_proto *proto, size_t *reference, size_t *slot) {
  const graph_object *object = &graph->objects[graph->nodes[n]];
  TrackableObject *node = &proto->nodes[n];
  tensorflow__trackable_object_graph__trackable_object__init(node);
  node->children = &proto->reference_pointers[*reference];
  for (size_t e = 0; e < object->edge_count; e++) {
    ObjectReference *child = &proto->references[*reference];
    tensorflow__trackable_object_graph__trackable_object__object_reference__init(child);
    child->node_id = graph->objects[object->edges[e].target].node;
    child->local_name = object->edges[e].name;
    proto->reference_pointers[(*reference)++] = child;
    node->n_children++;
  }
  if (object->value) {
    SerializedTensor *attribute = &proto->attributes[n];
    tensorflow__trackable_object_graph__trackable_object__serialized_tensor__init(attribute);
    proto->keys[proto->key_count] = attribute_key(object);
    if (!proto->keys[proto->key_count]) return SP_ERROR_NO_MEMORY;
    attribute->name = VARIABLE_VALUE;
    attribute->full_name = object->full_name ? object->full_name : "";
    attribute->checkpoint_key = proto->keys[proto->key_count++];
    proto->attribute_pointers[n] = attribute;
    node->attributes = &proto->attribute_pointers[n];
    node->n_attributes = 1;
  }
  node->slot_variables = &proto->slot_pointers[*slot];
  for (size_t s = 0; s < graph->node_count; s++) {
    const graph_object *candidate = &graph->objects[graph->nodes[s]];
    if (candidate->slot_of < 0 || candidate->slot_optimizer != graph->nodes[n]) continue;
    SlotVariableReference *reference_proto = &proto->slots[*slot];
    tensorflow__trackable_object_graph__trackable_object__slot_variable_reference__init(reference_proto);
    reference_proto->original_variable_node_id = graph->objects[candidate->slot_of].node;
    reference_proto->slot_name = candidate->slot_name;
    reference_proto->slot_variable_node_id = candidate->node;
    proto->slot_pointers[(*slot)++] = reference_proto;
    node->n_slot_variables++;
  }
  return SP_OK;
}

static sp_status serialize_graph(const object_graph *graph, uint8_t **bytes, size_t *size) {
  size_t edges = 0, slots = 0;
  for (size_t n = 0; n < graph->node_count; n++) {
    edges += graph->objects[graph->nodes[n]].edge_count;
    slots += graph->objects[graph->nodes[n]].slot_of >= 0;
  }
  graph_proto proto = {0};
  int *has_values = sp_alloc_zeroed(graph->node_count, sizeof *has_values);
  sp_status status = has_values ? graph_proto_allocate(&proto, graph->node_count, edges, slots) : SP_ERROR_NO_MEMORY;
  size_t reference = 0, slot = 0;
  if (status == SP_OK) mark_checkpoint_values(graph, has_values);
  for (size_t n = 0; status == SP_OK && n < graph->node_count; n++) {
    status = fill_node(graph, n, &proto, &reference, &slot);
    google__protobuf__bool_value__init(&proto.flags[n]);
    proto.flags[n].value = has_values[n];
    proto.nodes[n].has_checkpoint_values = &proto.flags[n];
    proto.node_pointers[n] = &proto.nodes[n];
  }
  if (status == SP_OK) {
    ObjectGraph message = TENSORFLOW__TRACKABLE_OBJECT_GRAPH__INIT;
    message.n_nodes = graph->node_count;
    message.nodes = proto.node_pointers;
    *size = tensorflow__trackable_object_graph__get_packed_size(&message);
    *bytes = sp_alloc(*size ? *size : 1);
    if (*bytes) tensorflow__trackable_object_graph__pack(&message, *bytes);
    else status = SP_ERROR_NO_MEMORY;
  }
  graph_proto_release(&proto);
  free(has_values);
  return status;
}

/* ======================================================================================
 * Snapshots: keys and values in write order
 * ====================================================================================== */

typedef struct snapshot_entry {
  char *key;
  const sp_tensor *source; /* in the model (or owned by the graph) */
  sp_tensor *copy;         /* with copy_values: a view of the arena */
} snapshot_entry;

/* With copy_values the values live in one arena mapped up front (sp_alloc_populated), kept from
 * capture to capture while the layout is unchanged: a save then costs one memcpy per variable and
 * no page faults. Offsets are 64-byte aligned. */
struct sp_checkpoint_snapshot {
  snapshot_entry *entries;
  size_t count, capacity;
  uint8_t *arena;
  size_t arena_size;
  sp_tensor *graph_tensor;  /* DT_STRING scalar: the serialized TrackableObjectGraph */
  sp_tensor *state_tensor;  /* DT_STRING scalar: the training state, or NULL */
  object_graph graph;       /* owns hyperparameter and save_counter values */
  int copied;
};

enum { ARENA_ALIGNMENT = 64 };

static void release_copies(sp_checkpoint_snapshot *snapshot) {
  for (size_t i = 0; i < snapshot->capacity; i++) {
    sp_tensor_free(snapshot->entries[i].copy);
    snapshot->entries[i].copy = NULL;
  }
  sp_free_populated(snapshot->arena, snapshot->arena_size);
  snapshot->arena = NULL;
  snapshot->arena_size = 0;
}

/* Forgets keys, sources and the graph; the copies and their arena stay for reuse. */
static void snapshot_clear(sp_checkpoint_snapshot *snapshot) {
  for (size_t i = 0; i < snapshot->count; i++) {
    free(snapshot->entries[i].key);
    snapshot->entries[i].key = NULL;
    snapshot->entries[i].source = NULL;
  }
  snapshot->count = 0;
  sp_tensor_free(snapshot->graph_tensor);
  sp_tensor_free(snapshot->state_tensor);
  snapshot->graph_tensor = snapshot->state_tensor = NULL;
  object_graph_release(&snapshot->graph);
}

void sp_checkpoint_snapshot_free(sp_checkpoint_snapshot *snapshot) {
  if (!snapshot) return;
  snapshot_clear(snapshot);
  release_copies(snapshot);
  free(snapshot->entries);
  free(snapshot);
}

static sp_tensor *string_scalar(const void *bytes, size_t length) {
  sp_tensor *tensor = sp_tensor_new(SP_STRING, 0, NULL);
  if (tensor && sp_tensor_set_string(tensor, 0, bytes, length) != SP_OK) {
    sp_tensor_free(tensor);
    return NULL;
  }
  return tensor;
}

static size_t aligned(size_t offset) { return (offset + ARENA_ALIGNMENT - 1) & ~(size_t)(ARENA_ALIGNMENT - 1); }

static int arena_fits(const sp_checkpoint_snapshot *snapshot, size_t needed) {
  if (!snapshot->arena || snapshot->arena_size != needed) return 0;
  for (size_t i = 0; i < snapshot->count; i++) {
    const sp_tensor *copy = snapshot->entries[i].copy;
    if (!copy || !sp_tensor_same_shape(copy, snapshot->entries[i].source)) return 0;
  }
  return 1;
}

static sp_status layout_arena(sp_checkpoint_snapshot *snapshot, size_t needed) {
  release_copies(snapshot);
  snapshot->arena = sp_alloc_populated(needed);
  if (!snapshot->arena) return SP_ERROR_NO_MEMORY;
  snapshot->arena_size = needed;
  size_t offset = 0;
  for (size_t i = 0; i < snapshot->count; i++) {
    const sp_tensor *source = snapshot->entries[i].source;
    offset = aligned(offset);
    snapshot->entries[i].copy = sp_tensor_wrap(source->dtype, source->rank, source->shape, snapshot->arena + offset);
    if (!snapshot->entries[i].copy) return SP_ERROR_NO_MEMORY;
    offset += source->size;
  }
  return SP_OK;
}

/* Copies every source value into the arena, laying it out anew when the model changed. */
static sp_status copy_values_to_arena(sp_checkpoint_snapshot *snapshot) {
  size_t needed = 0;
  for (size_t i = 0; i < snapshot->count; i++) needed = aligned(needed) + snapshot->entries[i].source->size;
  if (!arena_fits(snapshot, needed)) SP_TRY(layout_arena(snapshot, needed));
  for (size_t i = 0; i < snapshot->count; i++)
    if (snapshot->entries[i].source->size)
      memcpy(snapshot->entries[i].copy->data, snapshot->entries[i].source->data, snapshot->entries[i].source->size);
  return SP_OK;
}

static sp_status snapshot_add(sp_checkpoint_snapshot *snapshot, const char *key, const sp_tensor *source) {
  if (snapshot->count == snapshot->capacity) {
    size_t old_capacity = snapshot->capacity;
    SP_TRY(SP_RESERVE(snapshot->entries, snapshot->capacity, snapshot->count + 1));
    memset(&snapshot->entries[old_capacity], 0, (snapshot->capacity - old_capacity) * sizeof *snapshot->entries);
  }
  snapshot_entry *entry = &snapshot->entries[snapshot->count++];
  entry->key = sp_strdup(key);
  entry->source = source;
  return entry->key ? SP_OK : SP_ERROR_NO_MEMORY;
}

static sp_status build_graph(const sp_model *model, const sp_checkpoint_options *options, object_graph *graph) {
  int root;
  SP_TRY(add_object(graph, model, &root));
  SP_TRY(add_model_objects(graph, model, root));
  const sp_optimizer *optimizer = sp_model_optimizer((sp_model *)model);
  if (options->include_optimizer && optimizer) SP_TRY(add_optimizer_objects(graph, optimizer, root));
  SP_TRY(add_edge(graph, root, "root", root));
  if (options->save_counter > 0) SP_TRY(add_save_counter(graph, options->save_counter));
  return number_objects(graph);
}

static sp_status capture(sp_checkpoint_snapshot *snapshot, const sp_model *model, const sp_checkpoint_options *options,
                         int copy_values) {
  SP_TRY(build_graph(model, options, &snapshot->graph));
  const object_graph *graph = &snapshot->graph;
  for (size_t n = 0; n < graph->node_count; n++) {
    const graph_object *object = &graph->objects[graph->nodes[n]];
    if (!object->value) continue;
    char *key = attribute_key(object);
    if (!key) return SP_ERROR_NO_MEMORY;
    sp_status status = snapshot_add(snapshot, key, object->value);
    free(key);
    SP_TRY(status);
  }
  if (copy_values) SP_TRY(copy_values_to_arena(snapshot));
  if (options->training_state) {
    snapshot->state_tensor = string_scalar(options->training_state, strlen(options->training_state));
    if (!snapshot->state_tensor) return SP_ERROR_NO_MEMORY;
  }
  uint8_t *bytes = NULL;
  size_t size = 0;
  SP_TRY(serialize_graph(graph, &bytes, &size));
  snapshot->graph_tensor = string_scalar(bytes, size);
  free(bytes);
  return snapshot->graph_tensor ? SP_OK : SP_ERROR_NO_MEMORY;
}

sp_status sp_checkpoint_snapshot_capture(const sp_model *model, const sp_checkpoint_options *options, int copy_values,
                                         sp_checkpoint_snapshot **snapshot) {
  sp_checkpoint_options defaults = sp_checkpoint_defaults();
  if (!options) options = &defaults;
  if (!model->built)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' is not built: it has no variables to checkpoint yet",
                   model->name);
  sp_checkpoint_snapshot *result = *snapshot;
  if (!result) {
    result = sp_alloc_zeroed(1, sizeof *result);
    if (!result) return SP_ERROR_NO_MEMORY;
  }
  snapshot_clear(result);
  if (!copy_values) release_copies(result);
  result->copied = copy_values;
  sp_status status = capture(result, model, options, copy_values);
  if (status != SP_OK) {
    sp_checkpoint_snapshot_free(result);
    *snapshot = NULL;
    return sp_error_context(status, "checkpointing model '%s'", model->name);
  }
  *snapshot = result;
  return SP_OK;
}

static const sp_tensor *entry_value(const sp_checkpoint_snapshot *snapshot, size_t index) {
  const snapshot_entry *entry = &snapshot->entries[index];
  return snapshot->copied ? entry->copy : entry->source;
}

size_t sp_checkpoint_snapshot_count(const sp_checkpoint_snapshot *snapshot) {
  return snapshot->count + 1 + (snapshot->state_tensor != NULL);
}

const char *sp_checkpoint_snapshot_key(const sp_checkpoint_snapshot *snapshot, size_t index) {
  if (index < snapshot->count) return snapshot->entries[index].key;
  if (index == snapshot->count && snapshot->state_tensor) return SP_CHECKPOINT_TRAINING_STATE_KEY;
  return index < sp_checkpoint_snapshot_count(snapshot) ? SP_CHECKPOINT_OBJECT_GRAPH_KEY : NULL;
}

const sp_tensor *sp_checkpoint_snapshot_value(const sp_checkpoint_snapshot *snapshot, size_t index) {
  if (index < snapshot->count) return entry_value(snapshot, index);
  if (index == snapshot->count && snapshot->state_tensor) return snapshot->state_tensor;
  return index < sp_checkpoint_snapshot_count(snapshot) ? snapshot->graph_tensor : NULL;
}

const uint8_t *sp_checkpoint_snapshot_graph(const sp_checkpoint_snapshot *snapshot, size_t *size) {
  const sp_string *graph = snapshot->graph_tensor->data;
  *size = graph->length;
  return (const uint8_t *)graph->bytes;
}

uint64_t sp_checkpoint_snapshot_bytes(const sp_checkpoint_snapshot *snapshot) {
  uint64_t total = 0;
  for (size_t i = 0; i < snapshot->count; i++) total += entry_value(snapshot, i)->size;
  return total;
}

sp_status sp_checkpoint_snapshot_write(const sp_checkpoint_snapshot *snapshot, const char *prefix) {
  sp_bundle_writer *writer;
  SP_TRY(sp_bundle_writer_open(prefix, &writer));
  sp_status status = SP_OK;
  for (size_t i = 0; status == SP_OK && i < sp_checkpoint_snapshot_count(snapshot); i++)
    status = sp_bundle_add(writer, sp_checkpoint_snapshot_key(snapshot, i), sp_checkpoint_snapshot_value(snapshot, i));
  if (status != SP_OK) {
    sp_bundle_writer_abort(writer);
    return status;
  }
  return sp_bundle_writer_finish(writer);
}

sp_status sp_checkpoint_write(const sp_model *model, const char *prefix, const sp_checkpoint_options *options) {
  sp_checkpoint_snapshot *snapshot = NULL;
  SP_TRY(sp_checkpoint_snapshot_capture(model, options, 0, &snapshot));
  sp_status status = sp_checkpoint_snapshot_write(snapshot, prefix);
  sp_checkpoint_snapshot_free(snapshot);
  return status;
}

/* ======================================================================================
 * Reading
 * ====================================================================================== */

/* One value to read: from key into destination (a model variable), described for messages. */
typedef struct staged_value {
  sp_tensor *destination;
  char *key;
  char *what;
  int node; /* the saved object graph's node for a model variable, else -1 */
  sp_tensor *value;
} staged_value;

typedef struct restore_plan {
  sp_bundle_reader *reader;
  const char *prefix;
  staged_value *values;
  size_t count, capacity;
} restore_plan;

/* Drops the values staged from first on. */
static void unstage_from(restore_plan *plan, size_t first) {
  for (size_t i = first; i < plan->count; i++) {
    free(plan->values[i].key);
    free(plan->values[i].what);
    sp_tensor_free(plan->values[i].value);
  }
  plan->count = first;
}

static void restore_plan_release(restore_plan *plan) {
  unstage_from(plan, 0);
  free(plan->values);
}

/* Takes ownership of key and what. */
static sp_status stage(restore_plan *plan, sp_tensor *destination, char *key, char *what, int node) {
  sp_status status = key && what ? SP_RESERVE(plan->values, plan->capacity, plan->count + 1) : SP_ERROR_NO_MEMORY;
  if (status != SP_OK) {
    free(key);
    free(what);
    return status;
  }
  plan->values[plan->count++] = (staged_value){destination, key, what, node, NULL};
  return SP_OK;
}

static char *variable_description(const sp_variable *variable) {
  return sp_strdupf("%s variable '%s'", sp_layer_describe(variable->layer), variable->name);
}

/* Whether the checkpoint's tensor at key can fill destination: present, same shape, a number. */
static sp_status check_fits(const restore_plan *plan, const sp_tensor *destination, const char *key, const char *what) {
  const sp_bundle_entry *entry = sp_bundle_find(plan->reader, key);
  if (!entry) return sp_fail(SP_ERROR_NOT_FOUND, "%s: the checkpoint has no tensor '%s'", what, key);
  char expected[96], found[96];
  sp_shape_format(destination->rank, destination->shape, expected, sizeof expected);
  sp_shape_format(entry->rank, entry->shape, found, sizeof found);
  if (entry->rank != destination->rank ||
      memcmp(entry->shape, destination->shape, sizeof(int64_t) * (size_t)entry->rank) != 0)
    return sp_fail(SP_ERROR_MISMATCH, "%s: the model expects shape %s, the checkpoint's '%s' has shape %s", what,
                   expected, key, found);
  int numeric = sp_dtype_size(entry->dtype) != 0 && entry->dtype != SP_STRING;
  if (!numeric)
    return sp_fail(SP_ERROR_MISMATCH, "%s: the checkpoint's '%s' is %s, not a number", what, key,
                   sp_bundle_dtype_name(entry->dtype));
  return SP_OK;
}

/* Reads one staged value, converting float widths, and checks its shape. */
static sp_status read_staged(restore_plan *plan, staged_value *staged) {
  SP_TRY(check_fits(plan, staged->destination, staged->key, staged->what));
  SP_TRY(sp_bundle_read(plan->reader, staged->key, &staged->value));
  if (staged->value->dtype != staged->destination->dtype) {
    sp_tensor *cast = sp_tensor_cast(staged->value, staged->destination->dtype);
    if (!cast) return SP_ERROR_NO_MEMORY;
    sp_tensor_free(staged->value);
    staged->value = cast;
  }
  return SP_OK;
}

static sp_status execute_plan(restore_plan *plan) {
  for (size_t i = 0; i < plan->count; i++) SP_TRY(read_staged(plan, &plan->values[i]));
  for (size_t i = 0; i < plan->count; i++) SP_TRY(sp_tensor_overwrite(plan->values[i].destination, plan->values[i].value));
  return SP_OK;
}

/* ---- object-based: walk the saved graph ---- */

typedef struct saved_graph {
  ObjectGraph *proto;
  const char *prefix;
} saved_graph;

static sp_status check_saved_graph(const saved_graph *graph) {
  size_t count = graph->proto->n_nodes;
  if (count == 0) return sp_fail(SP_ERROR_FORMAT, "checkpoint '%s': the object graph has no nodes", graph->prefix);
  for (size_t n = 0; n < count; n++) {
    const TrackableObject *node = graph->proto->nodes[n];
    for (size_t c = 0; c < node->n_children; c++)
      if (node->children[c]->node_id < 0 || (size_t)node->children[c]->node_id >= count)
        return sp_fail(SP_ERROR_FORMAT, "checkpoint '%s': object graph node %zu: child '%s' names node %d of %zu",
                       graph->prefix, n, node->children[c]->local_name, node->children[c]->node_id, count);
    for (size_t s = 0; s < node->n_slot_variables; s++) {
      const SlotVariableReference *slot = node->slot_variables[s];
      if (slot->original_variable_node_id < 0 || (size_t)slot->original_variable_node_id >= count ||
          slot->slot_variable_node_id < 0 || (size_t)slot->slot_variable_node_id >= count)
        return sp_fail(SP_ERROR_FORMAT, "checkpoint '%s': object graph node %zu: slot '%s' names a node out of 0..%zu",
                       graph->prefix, n, slot->slot_name, count - 1);
    }
  }
  return SP_OK;
}

static int saved_child(const saved_graph *graph, int node, const char *name) {
  const TrackableObject *object = graph->proto->nodes[node];
  for (size_t c = 0; c < object->n_children; c++)
    if (strcmp(object->children[c]->local_name, name) == 0) return object->children[c]->node_id;
  return -1;
}

static const char *saved_variable_key(const saved_graph *graph, int node) {
  const TrackableObject *object = graph->proto->nodes[node];
  for (size_t a = 0; a < object->n_attributes; a++)
    if (strcmp(object->attributes[a]->name, VARIABLE_VALUE) == 0) return object->attributes[a]->checkpoint_key;
  return NULL;
}

static int count_saved_layers_with_weights(const saved_graph *graph, int node) {
  int count = 0;
  char name[48];
  for (;; count++) {
    snprintf(name, sizeof name, "layer_with_weights-%d", count);
    if (saved_child(graph, node, name) < 0) return count;
  }
}

/* "dense, dense_1" — the model's layers that have weights. */
static void list_weighted_layers(const sp_model *model, char *out, size_t capacity) {
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i < model->layer_count && used < capacity; i++)
    if (keras2_layer_listed(model, model->layers[i]) && layer_has_weights(model->layers[i]))
      used += (size_t)snprintf(out + used, capacity - used, "%s%s", used ? ", " : "", model->layers[i]->name);
}

static sp_status layer_count_mismatch(const saved_graph *graph, const sp_model *model, int saved, int ours) {
  char layers[1024];
  list_weighted_layers(model, layers, sizeof layers);
  return sp_fail(SP_ERROR_MISMATCH,
                 "loading a checkpoint with %d layers with weights into model '%s' with %d (model: %s; %s "
                 "layer_with_weights-%d)",
                 saved, model->name, ours, *layers ? layers : "none", saved > ours ? "the checkpoint adds" : "missing",
                 saved > ours ? ours : saved);
}

static sp_status plan_model(restore_plan *plan, const saved_graph *graph, int node, const sp_model *model);

static sp_status plan_layer(restore_plan *plan, const saved_graph *graph, int node, const sp_layer *layer) {
  if (layer->inner_model) return plan_model(plan, graph, node, layer->inner_model);
  const char *container = variable_container(layer);
  if (container) {
    int cell = saved_child(graph, node, container);
    if (cell < 0)
      return sp_fail(SP_ERROR_MISMATCH, "%s: the checkpoint's object has no '%s' child", sp_layer_describe(layer),
                     container);
    node = cell;
  }
  for (int v = 0; v < layer->variable_count; v++) {
    sp_variable *variable = layer->variables[v];
    int child = saved_child(graph, node, variable->name);
    const char *key = child >= 0 ? saved_variable_key(graph, child) : NULL;
    if (!key)
      return sp_fail(SP_ERROR_MISMATCH, "%s: the checkpoint has no variable '%s' for it (node %d)",
                     sp_layer_describe(layer), variable->name, node);
    SP_TRY(stage(plan, variable->value, sp_strdup(key), variable_description(variable), child));
  }
  return SP_OK;
}

static sp_status plan_model(restore_plan *plan, const saved_graph *graph, int node, const sp_model *model) {
  int ours = 0;
  for (int i = 0; i < model->layer_count; i++) ours += keras2_layer_listed(model, model->layers[i]) &&
                                                       layer_has_weights(model->layers[i]);
  int saved = count_saved_layers_with_weights(graph, node);
  if (saved != ours) return layer_count_mismatch(graph, model, saved, ours);
  int index = 0;
  for (int i = 0; i < model->layer_count; i++) {
    const sp_layer *layer = model->layers[i];
    if (!keras2_layer_listed(model, layer) || !layer_has_weights(layer)) continue;
    char name[48];
    snprintf(name, sizeof name, "layer_with_weights-%d", index++);
    SP_TRY(plan_layer(plan, graph, saved_child(graph, node, name), layer));
  }
  return SP_OK;
}

/* The node holding the model: the root (Keras save_weights), or the root's "model" child
 * (tf.train.Checkpoint(model=…)). */
static int saved_model_node(const saved_graph *graph) {
  if (saved_child(graph, 0, "layer_with_weights-0") >= 0 || saved_child(graph, 0, "layer-0") >= 0) return 0;
  int model = saved_child(graph, 0, "model");
  return model >= 0 ? model : 0;
}

static sp_status read_object_graph(sp_bundle_reader *reader, const char *prefix, ObjectGraph **graph) {
  sp_tensor *tensor;
  SP_TRY(sp_bundle_read(reader, SP_CHECKPOINT_OBJECT_GRAPH_KEY, &tensor));
  sp_status status = SP_OK;
  if (tensor->dtype != SP_STRING || sp_tensor_count(tensor) != 1)
    status = sp_fail(SP_ERROR_FORMAT, "checkpoint '%s': %s is not one string", prefix, SP_CHECKPOINT_OBJECT_GRAPH_KEY);
  if (status == SP_OK) {
    const sp_string *bytes = tensor->data;
    *graph = tensorflow__trackable_object_graph__unpack(NULL, bytes->length, (const uint8_t *)bytes->bytes);
    if (!*graph)
      status = sp_fail(SP_ERROR_FORMAT, "checkpoint '%s': %s is not a TrackableObjectGraph", prefix,
                       SP_CHECKPOINT_OBJECT_GRAPH_KEY);
  }
  sp_tensor_free(tensor);
  return status;
}

/* ---- the optimizer: optimizer_v2's state (iter, hyperparameters, slot variables) or the
 * Keras 2.11+ optimizer's (_iterations, _learning_rate, _variables/<i>) ---- */

/* The saved node the plan matched to a model variable's value, or -1. */
static int staged_node(const restore_plan *plan, const sp_tensor *destination) {
  for (size_t i = 0; i < plan->count; i++)
    if (plan->values[i].destination == destination) return plan->values[i].node;
  return -1;
}

static const char *saved_child_key(const saved_graph *graph, int node, const char *name) {
  int child = saved_child(graph, node, name);
  return child >= 0 ? saved_variable_key(graph, child) : NULL;
}

/* optimizer_v2: the slot variable the optimizer node lists for (original node, slot name). */
static const char *saved_slot_key(const saved_graph *graph, int optimizer_node, int original, const char *slot_name) {
  const TrackableObject *object = graph->proto->nodes[optimizer_node];
  for (size_t s = 0; s < object->n_slot_variables; s++) {
    const SlotVariableReference *slot = object->slot_variables[s];
    if (slot->original_variable_node_id == original && strcmp(slot->slot_name, slot_name) == 0)
      return saved_variable_key(graph, slot->slot_variable_node_id);
  }
  return NULL;
}

/* Variables kept per trainable variable (slots, gradient accumulators): what a saved state must
 * hold beyond iteration, learning rate, hyperparameters and Nadam's product. */
static int per_variable_count(const sp_optimizer *optimizer) {
  int count = 0;
  for (int i = 0; i < optimizer->variable_count; i++) count += optimizer->variables[i].target >= 0;
  return count;
}

static int saved_per_variable_count(const saved_graph *graph, int node, int keras2) {
  if (keras2) return (int)graph->proto->nodes[node]->n_slot_variables;
  int list = saved_child(graph, node, "_variables");
  return list >= 0 ? (int)graph->proto->nodes[list]->n_children - 1 : 0; /* _variables/0 is the iteration */
}

/* Where optimizer variable index was saved, or NULL. ordinal counts the per-variable ones, which
 * the Keras 2.11+ optimizer lists in Keras 3's order as _variables/1, 2, … */
static const char *saved_optimizer_key(const saved_graph *graph, int node, int keras2, const restore_plan *plan,
                                       const sp_optimizer *optimizer, int index, int *ordinal) {
  const sp_optimizer_variable *variable = &optimizer->variables[index];
  if (variable->value == optimizer->iteration) return saved_child_key(graph, node, keras2 ? "iter" : "_iterations");
  if (variable->value == optimizer->learning_rate_variable)
    return saved_child_key(graph, node, keras2 ? "learning_rate" : "_learning_rate");
  if (variable->value == optimizer->u_product)
    return saved_child_key(graph, node, keras2 ? "momentum_cache" : "_u_product");
  if (variable->target < 0) return NULL;
  if (!keras2) {
    char name[24];
    snprintf(name, sizeof name, "%d", ++*ordinal);
    int list = saved_child(graph, node, "_variables");
    return list >= 0 ? saved_child_key(graph, list, name) : NULL;
  }
  int original = staged_node(plan, optimizer->targets[variable->target]->value);
  return original >= 0 ? saved_slot_key(graph, node, original, optimizer_v2_slot_name(optimizer, variable->slot)) : NULL;
}

/* Stages every optimizer variable, or fails with SP_ERROR_MISMATCH saying what does not fit. */
static sp_status stage_optimizer(restore_plan *plan, const saved_graph *graph, int node, const sp_optimizer *optimizer) {
  int keras2 = saved_child(graph, node, "iter") >= 0;
  int saved = saved_per_variable_count(graph, node, keras2), ours = per_variable_count(optimizer);
  if (saved != ours)
    return sp_fail(SP_ERROR_MISMATCH, "the checkpoint's optimizer keeps %d slot variables, the model's %s keeps %d",
                   saved, sp_optimizer_class_name(optimizer), ours);
  int ordinal = 0;
  for (int i = 0; i < optimizer->variable_count; i++) {
    const sp_optimizer_variable *variable = &optimizer->variables[i];
    const char *key = saved_optimizer_key(graph, node, keras2, plan, optimizer, i, &ordinal);
    if (!key)
      return sp_fail(SP_ERROR_MISMATCH, "the checkpoint's optimizer has nothing for '%s'", variable->name);
    char *what = sp_strdupf("optimizer variable '%s'", variable->name);
    if (!what) return SP_ERROR_NO_MEMORY;
    sp_status status = check_fits(plan, variable->value, key, what);
    if (status != SP_OK) {
      free(what);
      return status == SP_ERROR_NO_MEMORY ? status : SP_ERROR_MISMATCH;
    }
    SP_TRY(stage(plan, variable->value, sp_strdup(key), what, -1));
  }
  return SP_OK;
}

/* The optimizer's state is restored whole or not at all: a checkpoint written for another
 * optimizer (or none) still gives its weights, with a warning, as Keras skips a mismatched
 * optimizer. The optimizer is the model's "optimizer" child, or the root's
 * (tf.train.Checkpoint(model=…, optimizer=…)). */
static sp_status plan_optimizer(restore_plan *plan, const saved_graph *graph, int model_node, sp_model *model) {
  sp_optimizer *optimizer = sp_model_optimizer(model);
  int node = saved_child(graph, model_node, "optimizer");
  if (node < 0) node = saved_child(graph, 0, "optimizer");
  if (!optimizer || node < 0 || graph->proto->nodes[node]->n_children == 0) return SP_OK; /* no state saved */
  if (optimizer->variable_count == 0) SP_TRY(sp_model_build_optimizer_variables(model));
  size_t first = plan->count;
  sp_status status = stage_optimizer(plan, graph, node, optimizer);
  if (status != SP_ERROR_MISMATCH) return status;
  sp_load_warn(NULL, "checkpoint '%s': the optimizer's state is not restored: %s", plan->prefix, sp_last_error());
  unstage_from(plan, first);
  return SP_OK;
}

/* Drops the first count staged values (the model's, when only the optimizer is restored). */
static void unstage_first(restore_plan *plan, size_t count) {
  for (size_t i = 0; i < count; i++) {
    free(plan->values[i].key);
    free(plan->values[i].what);
  }
  memmove(plan->values, plan->values + count, (plan->count - count) * sizeof *plan->values);
  plan->count -= count;
}

static sp_status plan_object_based(restore_plan *plan, sp_model *model, const sp_checkpoint_options *options) {
  saved_graph graph = {NULL, plan->prefix};
  SP_TRY(read_object_graph(plan->reader, plan->prefix, &graph.proto));
  int model_node = 0;
  sp_status status = check_saved_graph(&graph);
  if (status == SP_OK) status = plan_model(plan, &graph, model_node = saved_model_node(&graph), model);
  size_t model_values = plan->count;
  if (status == SP_OK && (options->include_optimizer || options->optimizer_only))
    status = plan_optimizer(plan, &graph, model_node, model);
  if (status == SP_OK && options->optimizer_only) unstage_first(plan, model_values);
  tensorflow__trackable_object_graph__free_unpacked(graph.proto, NULL);
  return status;
}

/* ---- TF1 name-based: "<layer>/<variable>" ---- */

static sp_status name_not_found(const restore_plan *plan, const sp_variable *variable, const char *key) {
  char keys[512];
  size_t used = 0;
  keys[0] = '\0';
  for (size_t i = 0; i < sp_bundle_count(plan->reader) && i < 8 && used < sizeof keys; i++)
    used += (size_t)snprintf(keys + used, sizeof keys - used, "%s'%s'", i ? ", " : "",
                             sp_bundle_entry_at(plan->reader, i)->key);
  return sp_fail(SP_ERROR_MISMATCH,
                 "%s: the name-based checkpoint has no variable '%s' (it holds %zu tensors: %s%s); layer names must "
                 "match the names the variables were saved under",
                 sp_layer_describe(variable->layer), key, sp_bundle_count(plan->reader), keys,
                 sp_bundle_count(plan->reader) > 8 ? ", …" : "");
}

static sp_status plan_name_based(restore_plan *plan, sp_model *model) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  if (count < 0) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  for (int i = 0; i < count && status == SP_OK; i++) {
    char *key = sp_strdupf("%s/%s", variables[i]->layer->name, variables[i]->name);
    if (key && !sp_bundle_find(plan->reader, key)) {
      status = name_not_found(plan, variables[i], key);
      free(key);
      break;
    }
    status = stage(plan, variables[i]->value, key, variable_description(variables[i]), -1);
  }
  free(variables);
  return status;
}

sp_status sp_checkpoint_read(sp_model *model, const char *prefix, const sp_checkpoint_options *options) {
  sp_checkpoint_options defaults = sp_checkpoint_defaults();
  if (!options) options = &defaults;
  if (!model->built)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "loading checkpoint '%s': build model '%s' first", prefix, model->name);
  restore_plan plan = {0};
  plan.prefix = prefix;
  SP_TRY(sp_error_context(sp_bundle_open(prefix, &plan.reader), "loading checkpoint"));
  int object_based = sp_bundle_find(plan.reader, SP_CHECKPOINT_OBJECT_GRAPH_KEY) != NULL;
  sp_status status = object_based            ? plan_object_based(&plan, model, options)
                     : options->optimizer_only ? SP_OK /* TF1 optimizer slots are not read */
                                               : plan_name_based(&plan, model);
  if (status == SP_OK) status = execute_plan(&plan);
  if (status == SP_OK && !options->optimizer_only) {
    sp_variable **variables;
    int count = sp_model_collect_variables(model, &variables, 0);
    for (int i = 0; i < count; i++) variables[i]->initialized = 1;
    free(variables);
  }
  restore_plan_release(&plan);
  sp_bundle_close(plan.reader);
  return sp_error_context(status, "loading checkpoint '%s' into model '%s'", prefix, model->name);
}

sp_status sp_checkpoint_read_training_state(const char *prefix, char **json) {
  *json = NULL;
  sp_bundle_reader *reader;
  SP_TRY(sp_bundle_open(prefix, &reader));
  sp_tensor *tensor = NULL;
  sp_status status = sp_bundle_find(reader, SP_CHECKPOINT_TRAINING_STATE_KEY)
                         ? sp_bundle_read(reader, SP_CHECKPOINT_TRAINING_STATE_KEY, &tensor)
                         : sp_fail(SP_ERROR_NOT_FOUND, "checkpoint '%s' holds no savepoint training state", prefix);
  if (status == SP_OK && (tensor->dtype != SP_STRING || sp_tensor_count(tensor) != 1))
    status = sp_fail(SP_ERROR_FORMAT, "checkpoint '%s': %s is not one string", prefix, SP_CHECKPOINT_TRAINING_STATE_KEY);
  if (status == SP_OK) {
    const sp_string *text = tensor->data;
    *json = sp_strndup(text->bytes, text->length);
    if (!*json) status = SP_ERROR_NO_MEMORY;
  }
  sp_tensor_free(tensor);
  sp_bundle_close(reader);
  return status;
}

int sp_checkpoint_exists(const char *prefix) {
  char *index = sp_bundle_index_path(prefix);
  int exists = index && sp_is_regular_file(index);
  free(index);
  return exists;
}

/* ---- the codec row: weights (and optimizer state) at a checkpoint prefix ---- */

static sp_status codec_load_weights(sp_model *model, const char *prefix, const sp_load_options *options) {
  (void)options;
  return sp_checkpoint_read(model, prefix, NULL);
}

static sp_status codec_save_weights(const sp_model *model, const char *prefix, const sp_save_options *options) {
  sp_checkpoint_options checkpoint = sp_checkpoint_defaults();
  checkpoint.include_optimizer = options ? options->include_optimizer : 1;
  return sp_checkpoint_write(model, prefix, &checkpoint);
}

/* probe.c recognises checkpoints (a prefix, its .index or .data files, a directory with a
 * `checkpoint` state file) and resolves them to the prefix; the codec only loads and saves. */
const sp_codec sp_tf_checkpoint_codec = {
    .format = SP_FORMAT_CHECKPOINT,
    .name = "ckpt",
    .description = "a TensorFlow checkpoint (tf.keras save_weights in TF format)",
    .load_weights = codec_load_weights,
    .save_weights = codec_save_weights,
};
