/* config.c — reading and writing Keras model configs (layouts described in config.h).
 *
 * Keras 1 configs (output_dim, init, nb_filter, border_mode, Convolution2D, …) are upgraded to
 * Keras 2 names on read, as Keras 2 does when it loads them, so what is written back loads in
 * Keras 2 and 3.
 *
 * Reading never trusts the JSON: every key is type-checked with a message naming the layer,
 * references between layers are resolved by name with bounds checks, and a Functional graph
 * is assembled with Keras's own deferred-node algorithm (a node waits until the nodes it
 * reads exist), so configs listing layers out of dependency order load too.
 */
#include "nn/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/memory.h"
#include "nn/activation.h"

typedef struct loader {
  const char *context;
  int keras_major;
  json_object *shared_ids; /* Keras 3 shared_object_id → created layer index (as int), per load */
} loader;

/* ---- safety ---- */

static int module_allowed(const char *module) {
  static const char *const roots[] = {"keras", "tf_keras", "keras_hub", "keras_cv", "keras_nlp", "tensorflow.keras",
                                      "tensorflow.python.keras", "builtins"};
  for (size_t i = 0; i < sizeof roots / sizeof *roots; i++) {
    size_t length = strlen(roots[i]);
    if (strncmp(module, roots[i], length) == 0 && (module[length] == '\0' || module[length] == '.')) return 1;
  }
  return 0;
}

static int registered_somewhere(const char *name) {
  sp_activation ignored;
  if (sp_find_layer_class(name)) return 1;
  int known = sp_activation_from_name(name, 3, "", &ignored) == SP_OK;
  sp_clear_error();
  return known;
}

static sp_status check_value(const json_object *value, const char *context, char *path, size_t used, size_t capacity,
                             int depth) {
  if (depth > SP_JSON_MAX_DEPTH) return sp_fail(SP_ERROR_UNSAFE, "%s: config nests too deeply at %s", context, path);
  if (json_object_is_type(value, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(value); i++) {
      size_t extra = (size_t)snprintf(path + used, capacity - used, "[%zu]", i);
      SP_TRY(check_value(json_object_array_get_idx(value, i), context, path, used + extra < capacity ? used + extra : used,
                         capacity, depth + 1));
      path[used] = '\0';
    }
    return SP_OK;
  }
  if (!json_object_is_type(value, json_type_object)) return SP_OK;
  const char *class_name = NULL, *module = NULL, *registered = NULL;
  json_object *member;
  if ((member = sp_json_member(value, "class_name")) && json_object_is_type(member, json_type_string))
    class_name = json_object_get_string(member);
  if ((member = sp_json_member(value, "module")) && json_object_is_type(member, json_type_string))
    module = json_object_get_string(member);
  if ((member = sp_json_member(value, "registered_name")) && json_object_is_type(member, json_type_string))
    registered = json_object_get_string(member);
  if (class_name && strcmp(class_name, "__lambda__") == 0)
    return sp_fail(SP_ERROR_UNSAFE,
                   "%s: the config holds Python bytecode (a __lambda__ object at %s); savepoint never runs code from "
                   "a model file — rewrite the lambda as a registered custom layer or activation",
                   context, path[0] ? path : "the top level");
  if (class_name && strcmp(class_name, "Lambda") == 0 && sp_json_member(value, "config"))
    return sp_fail(SP_ERROR_UNSAFE,
                   "%s: a Lambda layer at %s holds Python code; savepoint never runs code from a model file — "
                   "replace it with a registered custom layer (sp_register_layer_class)",
                   context, path[0] ? path : "the top level");
  if (module && !module_allowed(module) && !(registered && registered_somewhere(registered)) &&
      !(class_name && registered_somewhere(class_name)))
    return sp_fail(SP_ERROR_UNSAFE,
                   "%s: %s refers to module '%s', outside the Keras namespaces; only keras.* objects and classes "
                   "registered in C are loaded",
                   context, path[0] ? path : "the top level", module);
  json_object_object_foreach((json_object *)value, key, child) {
    if (!child) continue;
    size_t extra = (size_t)snprintf(path + used, capacity - used, "%s%s", used ? "." : "", key);
    SP_TRY(check_value(child, context, path, used + extra < capacity ? used + extra : used, capacity, depth + 1));
    path[used] = '\0';
  }
  return SP_OK;
}

sp_status sp_config_check_safe(const json_object *root, const char *context) {
  char path[512] = "";
  return check_value(root, context, path, 0, sizeof path, 0);
}

/* ---- reading ---- */

static int is_model_class(const char *class_name) {
  return strcmp(class_name, "Sequential") == 0 || strcmp(class_name, "Functional") == 0 || strcmp(class_name, "Model") == 0;
}

static sp_status build_model(loader *state, const json_object *root, sp_model **result);

/* A copy of object without the listed keys; NULL when nothing remains. */
static json_object *without_keys(const json_object *object, const char *const *keys, size_t key_count) {
  json_object *copy = json_object_new_object();
  json_object_object_foreach((json_object *)object, key, value) {
    int skip = 0;
    for (size_t i = 0; i < key_count && !skip; i++) skip = strcmp(key, keys[i]) == 0;
    if (skip) continue;
    json_object *duplicate = NULL;
    if (value) json_object_deep_copy(value, &duplicate, NULL);
    json_object_object_add(copy, key, duplicate);
  }
  if (json_object_object_length(copy) == 0) {
    json_object_put(copy);
    return NULL;
  }
  return copy;
}

static json_object *copy_or_null(const json_object *value) {
  json_object *copy = NULL;
  if (value) json_object_deep_copy((json_object *)value, &copy, NULL);
  return copy;
}

/* ---- Keras 1 configs are upgraded on read, as Keras 2 itself does (keras/legacy/interfaces.py) ---- */

typedef struct key_rename {
  const char *classes; /* comma-separated classes it applies to; NULL = every class */
  const char *from, *to;
} key_rename;

static const key_rename keras1_renames[] = {
    {"Dense,SimpleRNN,GRU,LSTM", "output_dim", "units"},
    {"Embedding", "init", "embeddings_initializer"},
    {"Embedding", "W_regularizer", "embeddings_regularizer"},
    {"Embedding", "W_constraint", "embeddings_constraint"},
    {"BatchNormalization", "gamma_init", "gamma_initializer"},
    {"BatchNormalization", "beta_init", "beta_initializer"},
    {"Dropout", "p", "rate"},
    {"Conv1D,Conv2D", "nb_filter", "filters"},
    {"Conv1D", "filter_length", "kernel_size"},
    {"Conv1D", "subsample_length", "strides"},
    {"Conv2D", "subsample", "strides"},
    {"MaxPooling1D,AveragePooling1D", "pool_length", "pool_size"},
    {"MaxPooling1D,AveragePooling1D", "stride", "strides"},
    {NULL, "border_mode", "padding"},
    {NULL, "dim_ordering", "data_format"},
    {NULL, "init", "kernel_initializer"},
    {NULL, "inner_init", "recurrent_initializer"},
    {NULL, "inner_activation", "recurrent_activation"},
    {NULL, "W_regularizer", "kernel_regularizer"},
    {NULL, "U_regularizer", "recurrent_regularizer"},
    {NULL, "b_regularizer", "bias_regularizer"},
    {NULL, "W_constraint", "kernel_constraint"},
    {NULL, "U_constraint", "recurrent_constraint"},
    {NULL, "b_constraint", "bias_constraint"},
    {NULL, "dropout_W", "dropout"},
    {NULL, "dropout_U", "recurrent_dropout"},
    {NULL, "bias", "use_bias"},
    {NULL, "input_dtype", "dtype"},
};

static int class_listed(const char *classes, const char *class_name) {
  if (!classes) return 1;
  size_t length = strlen(class_name);
  for (const char *cursor = classes; cursor;) {
    const char *comma = strchr(cursor, ',');
    size_t span = comma ? (size_t)(comma - cursor) : strlen(cursor);
    if (span == length && strncmp(cursor, class_name, length) == 0) return 1;
    cursor = comma ? comma + 1 : NULL;
  }
  return 0;
}

static json_object *keras1_value(const char *key, json_object *value) {
  if (strcmp(key, "dim_ordering") == 0 && value && json_object_is_type(value, json_type_string)) {
    const char *ordering = json_object_get_string(value);
    return json_object_new_string(strcmp(ordering, "th") == 0 ? "channels_first" : "channels_last");
  }
  return copy_or_null(value);
}

/* A Keras 2 config for a Keras 1 one, or NULL when config has no Keras 1 keys. *class_name may change. */
static json_object *upgrade_keras1(const char **class_name, const json_object *config) {
  if (strcmp(*class_name, "Convolution1D") == 0) *class_name = "Conv1D";
  else if (strcmp(*class_name, "Convolution2D") == 0) *class_name = "Conv2D";
  int changed = 0;
  json_object *upgraded = json_object_new_object();
  json_object_object_foreach((json_object *)config, key, value) {
    const char *target = key;
    for (size_t i = 0; i < sizeof keras1_renames / sizeof *keras1_renames; i++)
      if (strcmp(key, keras1_renames[i].from) == 0 && class_listed(keras1_renames[i].classes, *class_name) &&
          !sp_json_member(config, keras1_renames[i].to)) {
        target = keras1_renames[i].to;
        break;
      }
    if (strcmp(key, "nb_row") == 0 || strcmp(key, "nb_col") == 0) continue;
    changed |= target != key;
    json_object_object_add(upgraded, target, keras1_value(key, value));
  }
  json_object *rows = sp_json_member(config, "nb_row"), *columns = sp_json_member(config, "nb_col");
  if (rows && columns && !sp_json_member(config, "kernel_size")) {
    json_object *size = json_object_new_array();
    json_object_array_add(size, copy_or_null(rows));
    json_object_array_add(size, copy_or_null(columns));
    json_object_object_add(upgraded, "kernel_size", size);
    changed = 1;
  }
  if (!changed) {
    json_object_put(upgraded);
    return NULL;
  }
  return upgraded;
}

static sp_status parse_layer(loader *state, const json_object *object, sp_layer **result) {
  const char *class_name;
  json_object *config;
  SP_TRY(sp_json_get_string(object, "class_name", NULL, state->context, &class_name));
  if (!class_name) return sp_fail(SP_ERROR_FORMAT, "%s: a layer entry has no class_name", state->context);
  json_object *shared = sp_json_member(object, "shared_object_id");
  if (shared && state->shared_ids) {
    json_object *previous = sp_json_member(state->shared_ids, json_object_get_string(shared));
    if (previous) {
      *result = (sp_layer *)(uintptr_t)json_object_get_int64(previous);
      (*result)->reference_count++;
      return SP_OK;
    }
  }
  if (is_model_class(class_name)) {
    sp_model *inner;
    SP_TRY(build_model(state, object, &inner));
    *result = sp_model_as_layer(inner);
    if (!*result) return sp_error_context(SP_ERROR_NO_MEMORY, "%s: nested model", state->context);
  } else {
    config = sp_json_member(object, "config");
    if (!config || !json_object_is_type(config, json_type_object))
      return sp_fail(SP_ERROR_FORMAT, "%s: the %s layer entry has no config object", state->context, class_name);
    static const char *const known[] = {"class_name", "config", "name", "inbound_nodes", "shared_object_id"};
    json_object *extra = without_keys(object, known, sizeof known / sizeof *known);
    const char *registered = NULL;
    if (sp_json_get_string(object, "registered_name", NULL, state->context, &registered) != SP_OK) registered = NULL;
    const char *effective = registered && strcmp(registered, class_name) != 0 && sp_find_layer_class(registered)
                                ? registered : class_name;
    json_object *upgraded = state->keras_major < 3 ? upgrade_keras1(&effective, config) : NULL;
    sp_status status = sp_layer_create(effective, upgraded ? upgraded : config, extra, state->keras_major, result);
    json_object_put(upgraded);
    json_object_put(extra);
    if (status != SP_OK) {
      const char *name = NULL;
      if (sp_json_get_string(config, "name", NULL, state->context, &name) != SP_OK) name = NULL;
      return sp_error_context(status, "%s: layer '%s'", state->context, name ? name : "?");
    }
  }
  if (shared && state->shared_ids)
    json_object_object_add(state->shared_ids, json_object_get_string(shared), json_object_new_int64((int64_t)(uintptr_t)*result));
  return SP_OK;
}


/* An InputLayer for a Sequential model whose config only records build_input_shape. */
static sp_status input_from_build_shape(loader *state, sp_model *model, const json_object *build_shape,
                                        const char *first_name) {
  int64_t dims[SP_MAX_RANK];
  int rank;
  json_object *holder = json_object_new_object();
  json_object_object_add(holder, "shape", copy_or_null(build_shape));
  sp_status status = sp_json_get_int_list(holder, "shape", SP_MAX_RANK, state->context, dims, &rank);
  json_object_put(holder);
  SP_TRY(status);
  if (rank < 1) return sp_fail(SP_ERROR_FORMAT, "%s: build_input_shape has no dimensions", state->context);
  sp_layer *input = sp_input(rank - 1, dims + 1);
  if (!input) return SP_ERROR_NO_MEMORY;
  if (first_name) {
    free(input->name);
    input->name = sp_strdupf("%s_input", first_name);
    json_object_object_add(input->config, "name", json_object_new_string(input->name));
  }
  return sp_model_add(model, input);
}

static int declares_input_shape(const json_object *layer_object) {
  const json_object *config = sp_json_member(layer_object, "config");
  return sp_json_member(config, "batch_input_shape") || sp_json_member(config, "batch_shape") ||
         sp_json_member(config, "input_shape") || sp_json_member(config, "input_dim");
}

static sp_status build_sequential(loader *state, const json_object *root, sp_model *model) {
  const json_object *config = sp_json_member(root, "config");
  const json_object *layers = json_object_is_type(config, json_type_array) ? config : sp_json_member(config, "layers");
  if (!layers || !json_object_is_type(layers, json_type_array))
    return sp_fail(SP_ERROR_FORMAT, "%s: Sequential config has no 'layers' list", state->context);
  size_t count = json_object_array_length(layers);
  const json_object *build_shape = sp_json_member(config, "build_input_shape");
  for (size_t i = 0; i < count; i++) {
    const json_object *entry = json_object_array_get_idx(layers, i);
    if (!entry || !json_object_is_type(entry, json_type_object))
      return sp_fail(SP_ERROR_FORMAT, "%s: layers[%zu] is not an object", state->context, i);
    const char *class_name = NULL;
    SP_TRY(sp_json_get_string(entry, "class_name", NULL, state->context, &class_name));
    if (i == 0 && class_name && strcmp(class_name, "InputLayer") != 0 && !declares_input_shape(entry) && build_shape &&
        !json_object_is_type(build_shape, json_type_null)) {
      const char *first = NULL;
      if (sp_json_get_string(sp_json_member(entry, "config"), "name", NULL, state->context, &first) != SP_OK) first = NULL;
      SP_TRY(input_from_build_shape(state, model, build_shape, first));
    }
    sp_layer *layer;
    SP_TRY(parse_layer(state, entry, &layer));
    if (i == 0 && !sp_layer_is_input(layer) && declares_input_shape(entry)) {
      /* Keras 2 names the implicit input "<first layer>_input". */
      sp_layer *input = NULL;
      sp_status status = sp_model_add(model, layer);
      if (status != SP_OK) return status;
      input = model->layers[0];
      if (input->name && layer->name && strcmp(input->name, "input_layer") == 0) {
        char *name = sp_strdupf("%s_input", layer->name);
        if (name) {
          free(input->name);
          input->name = name;
          json_object_object_add(input->config, "name", json_object_new_string(name));
        }
      }
      continue;
    }
    SP_TRY(sp_model_add(model, layer));
  }
  if (model->input_count == 0)
    return sp_fail(SP_ERROR_FORMAT, "%s: Sequential model '%s' has no input shape (no InputLayer, batch_input_shape or "
                   "build_input_shape)", state->context, model->name);
  return SP_OK;
}

/* ---- Functional graphs ---- */

typedef struct reference {
  const char *layer;
  int64_t node, tensor;
} reference;

typedef struct pending {
  int layer;                /* index into the model's layers */
  const json_object *node;  /* the inbound node entry */
  int done;
} pending;

typedef struct graph_state {
  loader *state;
  sp_model *model;
  int *first_config_node; /* per layer: the config node index of its first call (1 for nested models) */
  int **node_of_call;     /* per layer: model node index of each call */
  int *call_count;
} graph_state;

static sp_status parse_reference(const graph_state *graph, const json_object *triple, reference *out) {
  if (!json_object_is_type(triple, json_type_array) || json_object_array_length(triple) < 3)
    return sp_fail(SP_ERROR_FORMAT, "%s: a tensor reference must be [layer_name, node_index, tensor_index]",
                   graph->state->context);
  json_object *name = json_object_array_get_idx(triple, 0), *node = json_object_array_get_idx(triple, 1),
              *tensor = json_object_array_get_idx(triple, 2);
  if (!json_object_is_type(name, json_type_string) || !json_object_is_type(node, json_type_int) ||
      !json_object_is_type(tensor, json_type_int))
    return sp_fail(SP_ERROR_FORMAT, "%s: a tensor reference must be [string, integer, integer]", graph->state->context);
  out->layer = json_object_get_string(name);
  out->node = json_object_get_int64(node);
  out->tensor = json_object_get_int64(tensor);
  return SP_OK;
}

/* Resolves a reference to a symbol; *ready = 0 when the referenced node does not exist yet. */
static sp_status resolve(const graph_state *graph, const reference *ref, sp_symbol *symbol, int *ready) {
  int layer = sp_model_find_layer(graph->model, ref->layer);
  if (layer < 0)
    return sp_fail(SP_ERROR_FORMAT, "%s: a node reads from layer '%s', which the model does not have",
                   graph->state->context, ref->layer);
  int64_t call = ref->node - graph->first_config_node[layer];
  if (sp_layer_is_input(graph->model->layers[layer])) call = 0;
  if (call < 0 || call >= graph->call_count[layer]) {
    *ready = 0;
    return SP_OK;
  }
  int node = graph->node_of_call[layer][call];
  if (ref->tensor < 0 || ref->tensor >= graph->model->nodes[node].output_count)
    return sp_fail(SP_ERROR_FORMAT, "%s: layer '%s' has no output %lld", graph->state->context, ref->layer,
                   (long long)ref->tensor);
  *symbol = (sp_symbol){node, (int)ref->tensor};
  *ready = 1;
  return SP_OK;
}

/* Collects __keras_tensor__ references from a Keras 3 args structure, depth first. */
static sp_status collect_keras3(const graph_state *graph, const json_object *value, sp_symbol *symbols, int *count,
                                int *ready, int depth) {
  if (depth > 8) return sp_fail(SP_ERROR_FORMAT, "%s: call arguments nest too deeply", graph->state->context);
  if (json_object_is_type(value, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(value); i++)
      SP_TRY(collect_keras3(graph, json_object_array_get_idx(value, i), symbols, count, ready, depth + 1));
    return SP_OK;
  }
  const char *class_name = NULL;
  if (!json_object_is_type(value, json_type_object)) return SP_OK;
  SP_TRY(sp_json_get_string(value, "class_name", NULL, graph->state->context, &class_name));
  if (!class_name || strcmp(class_name, "__keras_tensor__") != 0) return SP_OK;
  json_object *history = sp_json_member(sp_json_member(value, "config"), "keras_history");
  reference ref;
  SP_TRY(parse_reference(graph, history, &ref));
  if (*count >= SP_MAX_LAYER_INPUTS) return sp_fail(SP_ERROR_UNSUPPORTED, "%s: too many call inputs", graph->state->context);
  int resolved = 0;
  SP_TRY(resolve(graph, &ref, &symbols[*count], &resolved));
  if (!resolved) *ready = 0;
  (*count)++;
  return SP_OK;
}

static sp_status node_inputs(const graph_state *graph, const json_object *node, sp_symbol *symbols, int *count,
                             int *list_argument, const json_object **arguments, int *ready) {
  *count = 0;
  *ready = 1;
  *arguments = NULL;
  *list_argument = 0;
  if (json_object_is_type(node, json_type_object)) { /* Keras 3: {"args": [...], "kwargs": {...}} */
    json_object *args = sp_json_member(node, "args"), *kwargs = sp_json_member(node, "kwargs");
    if (!args || !json_object_is_type(args, json_type_array))
      return sp_fail(SP_ERROR_FORMAT, "%s: an inbound node has no 'args' list", graph->state->context);
    *list_argument = json_object_array_length(args) == 1 &&
                     json_object_is_type(json_object_array_get_idx(args, 0), json_type_array);
    SP_TRY(collect_keras3(graph, args, symbols, count, ready, 0));
    if (kwargs) {
      int before = *count;
      SP_TRY(collect_keras3(graph, kwargs, symbols, count, ready, 0));
      if (*count != before)
        return sp_fail(SP_ERROR_UNSUPPORTED, "%s: tensors passed as keyword arguments are not supported",
                       graph->state->context);
      if (json_object_object_length(kwargs) > 0) *arguments = kwargs;
    }
    return SP_OK;
  }
  if (!json_object_is_type(node, json_type_array))
    return sp_fail(SP_ERROR_FORMAT, "%s: an inbound node must be a list or an object", graph->state->context);
  size_t length = json_object_array_length(node); /* Keras 2: [[name, node, tensor, kwargs], …] */
  if (length > SP_MAX_LAYER_INPUTS) return sp_fail(SP_ERROR_UNSUPPORTED, "%s: too many call inputs", graph->state->context);
  for (size_t i = 0; i < length; i++) {
    json_object *entry = json_object_array_get_idx(node, i);
    reference ref;
    SP_TRY(parse_reference(graph, entry, &ref));
    if (strcmp(ref.layer, "_CONSTANT_VALUE") == 0)
      return sp_fail(SP_ERROR_UNSUPPORTED, "%s: constant call arguments are not supported", graph->state->context);
    int resolved = 0;
    SP_TRY(resolve(graph, &ref, &symbols[*count], &resolved));
    if (!resolved) *ready = 0;
    (*count)++;
    json_object *kwargs = json_object_array_length(entry) > 3 ? json_object_array_get_idx(entry, 3) : NULL;
    if (i == 0 && kwargs && json_object_is_type(kwargs, json_type_object) && json_object_object_length(kwargs) > 0)
      *arguments = kwargs;
  }
  *list_argument = length > 1;
  return SP_OK;
}

static sp_status record_call(graph_state *graph, int layer, int node) {
  int *grown = sp_realloc_array(graph->node_of_call[layer], (size_t)graph->call_count[layer] + 1, sizeof(int));
  if (!grown) return SP_ERROR_NO_MEMORY;
  graph->node_of_call[layer] = grown;
  grown[graph->call_count[layer]++] = node;
  return SP_OK;
}

/* Reads input_layers / output_layers: a list of triples, one bare triple, or a dict of triples. */
static sp_status endpoint_list(const graph_state *graph, const json_object *value, const char *key, sp_symbol **symbols,
                               int *count, json_object **structure) {
  json_object *list = sp_json_member(value, key);
  if (!list) return sp_fail(SP_ERROR_FORMAT, "%s: Functional config has no '%s'", graph->state->context, key);
  json_object *triples = json_object_new_array();
  if (json_object_is_type(list, json_type_object)) {
    *structure = copy_or_null(list);
    json_object_object_foreach(list, name, triple) { (void)name; json_object_array_add(triples, copy_or_null(triple)); }
  } else if (json_object_is_type(list, json_type_array) && json_object_array_length(list) > 0 &&
             json_object_is_type(json_object_array_get_idx(list, 0), json_type_string)) {
    *structure = copy_or_null(list); /* one bare triple */
    json_object_array_add(triples, copy_or_null(list));
  } else if (json_object_is_type(list, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(list); i++)
      json_object_array_add(triples, copy_or_null(json_object_array_get_idx(list, i)));
  } else {
    json_object_put(triples);
    return sp_fail(SP_ERROR_FORMAT, "%s: '%s' must be a list", graph->state->context, key);
  }
  size_t length = json_object_array_length(triples);
  *symbols = sp_alloc_zeroed(length ? length : 1, sizeof **symbols);
  sp_status status = *symbols ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < length && status == SP_OK; i++) {
    reference ref;
    int ready = 0;
    status = parse_reference(graph, json_object_array_get_idx(triples, i), &ref);
    if (status == SP_OK) status = resolve(graph, &ref, &(*symbols)[i], &ready);
    if (status == SP_OK && !ready)
      status = sp_fail(SP_ERROR_FORMAT, "%s: %s names node %lld of layer '%s', which is never called",
                       graph->state->context, key, (long long)ref.node, ref.layer);
  }
  json_object_put(triples);
  *count = (int)length;
  return status;
}

static sp_status build_functional(loader *state, const json_object *root, sp_model *model) {
  const json_object *config = sp_json_member(root, "config");
  json_object *layers = sp_json_member(config, "layers");
  if (!layers || !json_object_is_type(layers, json_type_array))
    return sp_fail(SP_ERROR_FORMAT, "%s: Functional config has no 'layers' list", state->context);
  size_t layer_count = json_object_array_length(layers);
  graph_state graph = {.state = state, .model = model};
  graph.first_config_node = sp_alloc_zeroed(layer_count + 1, sizeof(int));
  graph.node_of_call = sp_alloc_zeroed(layer_count + 1, sizeof(int *));
  graph.call_count = sp_alloc_zeroed(layer_count + 1, sizeof(int));
  pending *queue = NULL;
  size_t queue_count = 0, queue_capacity = 0;
  sp_status status = graph.first_config_node && graph.node_of_call && graph.call_count ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < layer_count && status == SP_OK; i++) {
    const json_object *entry = json_object_array_get_idx(layers, i);
    if (!entry || !json_object_is_type(entry, json_type_object)) {
      status = sp_fail(SP_ERROR_FORMAT, "%s: layers[%zu] is not an object", state->context, i);
      break;
    }
    sp_layer *layer;
    status = parse_layer(state, entry, &layer);
    if (status != SP_OK) break;
    const char *name = NULL;
    if (sp_json_get_string(entry, "name", NULL, state->context, &name) == SP_OK && name && !layer->name)
      layer->name = sp_strdup(name);
    int before = model->layer_count;
    status = sp_model_track_layer(model, layer);
    if (status != SP_OK) {
      sp_layer_release(layer);
      break;
    }
    if (model->layer_count == before) sp_layer_release(layer); /* a shared object already tracked */
    graph.first_config_node[i] = layer->inner_model ? 1 : 0;
    json_object *inbound = sp_json_member(entry, "inbound_nodes");
    if (sp_layer_is_input(layer)) {
      status = sp_model_input(model, layer, NULL); /* already tracked: no reference changes hands */
      if (status == SP_OK) status = record_call(&graph, (int)i, model->node_count - 1);
      continue;
    }
    for (size_t n = 0; inbound && json_object_is_type(inbound, json_type_array) && n < json_object_array_length(inbound) && status == SP_OK; n++) {
      status = SP_RESERVE(queue, queue_capacity, queue_count + 1);
      if (status == SP_OK) queue[queue_count++] = (pending){(int)i, json_object_array_get_idx(inbound, n), 0};
    }
  }
  /* Deferred processing: a node is created once every tensor it reads exists. */
  for (int progress = 1; status == SP_OK && progress;) {
    progress = 0;
    for (size_t q = 0; q < queue_count && status == SP_OK; q++) {
      if (queue[q].done) continue;
      int layer_index = queue[q].layer;
      /* A layer's calls must be created in their config order. */
      int earlier_pending = 0;
      for (size_t p = 0; p < q && !earlier_pending; p++) earlier_pending = !queue[p].done && queue[p].layer == layer_index;
      if (earlier_pending) continue;
      sp_symbol inputs[SP_MAX_LAYER_INPUTS];
      int count, list_argument, ready;
      const json_object *arguments;
      status = node_inputs(&graph, queue[q].node, inputs, &count, &list_argument, &arguments, &ready);
      if (status != SP_OK || !ready) continue;
      int node;
      status = sp_model_add_node(model, model->layers[layer_index], count, inputs, list_argument, arguments, &node);
      if (status != SP_OK) {
        status = sp_error_context(status, "%s: calling %s", state->context, sp_layer_describe(model->layers[layer_index]));
        break;
      }
      status = record_call(&graph, layer_index, node);
      queue[q].done = 1;
      progress = 1;
    }
  }
  for (size_t q = 0; q < queue_count && status == SP_OK; q++)
    if (!queue[q].done)
      status = sp_fail(SP_ERROR_FORMAT, "%s: a call of %s reads tensors that no layer produces (a cycle or a missing layer)",
                       state->context, sp_layer_describe(model->layers[queue[q].layer]));
  if (status == SP_OK) {
    free(model->inputs);
    model->inputs = NULL;
    status = endpoint_list(&graph, config, "input_layers", &model->inputs, &model->input_count, &model->input_structure);
  }
  sp_symbol *outputs = NULL;
  int output_count = 0;
  if (status == SP_OK)
    status = endpoint_list(&graph, config, "output_layers", &outputs, &output_count, &model->output_structure);
  if (status == SP_OK) status = sp_model_set_outputs(model, output_count, outputs);
  free(outputs);
  free(queue);
  for (size_t i = 0; i < layer_count && graph.node_of_call; i++) free(graph.node_of_call[i]);
  free(graph.node_of_call);
  free(graph.first_config_node);
  free(graph.call_count);
  return status;
}

static sp_status build_model(loader *state, const json_object *root, sp_model **result) {
  *result = NULL;
  const char *class_name = NULL, *name = NULL;
  SP_TRY(sp_json_get_string(root, "class_name", NULL, state->context, &class_name));
  const json_object *config = sp_json_member(root, "config");
  if (!class_name || !config)
    return sp_fail(SP_ERROR_FORMAT, "%s: a model config needs 'class_name' and 'config'", state->context);
  if (!is_model_class(class_name))
    return sp_fail(SP_ERROR_FORMAT, "%s: the top-level class '%s' is not a model (Sequential or Functional); "
                   "subclassed models cannot be rebuilt from a config", state->context, class_name);
  if (json_object_is_type(config, json_type_object))
    SP_TRY(sp_json_get_string(config, "name", NULL, state->context, &name));
  int sequential = strcmp(class_name, "Sequential") == 0;
  sp_model *model;
  SP_TRY(sp_model_new(name ? name : sequential ? "sequential" : "model", class_name, &model));
  model->keras_major = state->keras_major;
  static const char *const root_keys[] = {"class_name", "config", "name", "inbound_nodes", "shared_object_id"};
  static const char *const sequential_keys[] = {"name", "layers", "build_input_shape"};
  static const char *const functional_keys[] = {"name", "layers", "input_layers", "output_layers"};
  model->object_extra = without_keys(root, root_keys, sizeof root_keys / sizeof *root_keys);
  if (json_object_is_type(config, json_type_object))
    model->config_extra = sequential ? without_keys(config, sequential_keys, 3) : without_keys(config, functional_keys, 4);
  sp_status status = sequential ? build_sequential(state, root, model) : build_functional(state, root, model);
  if (status == SP_OK) status = sp_model_build(model);
  if (status != SP_OK) {
    sp_model_free(model);
    return status;
  }
  *result = model;
  return SP_OK;
}

static int detect_keras_major(const json_object *root) {
  if (sp_json_member(root, "module")) return 3;
  const json_object *layers = sp_json_member(sp_json_member(root, "config"), "layers");
  const json_object *first = layers && json_object_is_type(layers, json_type_array) && json_object_array_length(layers)
                                 ? json_object_array_get_idx(layers, 0) : NULL;
  if (first && (sp_json_member(first, "module") || sp_json_member(sp_json_member(first, "config"), "batch_shape"))) return 3;
  return 2;
}

sp_status sp_model_from_config_object(const json_object *root, const sp_config_options *options, sp_model **model) {
  const char *context = "model config";
  SP_TRY(sp_config_check_safe(root, context));
  loader state = {.context = context, .keras_major = options && options->keras_major ? options->keras_major : detect_keras_major(root)};
  state.shared_ids = json_object_new_object();
  sp_status status = build_model(&state, root, model);
  json_object_put(state.shared_ids);
  return status;
}

sp_status sp_model_from_config(const char *json, size_t length, sp_model **model) {
  json_object *root;
  SP_TRY(sp_json_parse(json, length, "model config", &root));
  sp_status status = sp_model_from_config_object(root, NULL, model);
  json_object_put(root);
  return status;
}

/* ---- writing ---- */

static json_object *shape_json(const sp_shape *shape) {
  json_object *list = json_object_new_array();
  for (int i = 0; i < shape->rank; i++)
    json_object_array_add(list, shape->dims[i] < 0 ? NULL : json_object_new_int64(shape->dims[i]));
  return list;
}

static int has_suffix(const char *key, const char *suffix) {
  size_t key_length = strlen(key), suffix_length = strlen(suffix);
  return key_length >= suffix_length && strcmp(key + key_length - suffix_length, suffix) == 0;
}

static const char *module_for_key(const char *key) {
  if (has_suffix(key, "_initializer")) return "keras.initializers";
  if (has_suffix(key, "_regularizer")) return "keras.regularizers";
  if (has_suffix(key, "_constraint")) return "keras.constraints";
  return NULL;
}

/* tf.keras 2.15's objects from Keras 3 ones: DTypePolicy → its name, no shared_object_id or
 * build_config. Nested objects (initializers, regularizers, constraints) keep module and
 * registered_name, as tf.keras >= 2.13 writes them (TF.js and older tf.keras ignore the keys). */
static json_object *to_keras2(const json_object *value) {
  if (!value) return NULL;
  if (json_object_is_type(value, json_type_array)) {
    json_object *list = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(value); i++)
      json_object_array_add(list, to_keras2(json_object_array_get_idx(value, i)));
    return list;
  }
  if (!json_object_is_type(value, json_type_object)) return copy_or_null(value);
  const char *class_name = NULL;
  json_object *member = sp_json_member(value, "class_name");
  if (member && json_object_is_type(member, json_type_string)) class_name = json_object_get_string(member);
  if (class_name && strcmp(class_name, "DTypePolicy") == 0) {
    json_object *name = sp_json_member(sp_json_member(value, "config"), "name");
    return name ? copy_or_null(name) : json_object_new_string("float32");
  }
  json_object *object = json_object_new_object();
  json_object_object_foreach((json_object *)value, key, child) {
    if (strcmp(key, "shared_object_id") == 0 || strcmp(key, "build_config") == 0) continue;
    json_object_object_add(object, key, to_keras2(child));
  }
  return object;
}

/* Keras 3 object from a {class_name, config} one: module first, registered_name last. */
static json_object *with_module(const json_object *value, const char *module) {
  if (!value || !json_object_is_type(value, json_type_object) || sp_json_member(value, "module")) return copy_or_null(value);
  json_object *object = json_object_new_object();
  json_object_object_add(object, "module", json_object_new_string(module));
  json_object_object_foreach((json_object *)value, key, child) json_object_object_add(object, key, copy_or_null(child));
  if (!sp_json_member(object, "registered_name")) json_object_object_add(object, "registered_name", NULL);
  return object;
}

static json_object *dtype_policy(const char *name) {
  json_object *config = json_object_new_object();
  json_object_object_add(config, "name", json_object_new_string(name));
  return sp_keras_object(3, "keras", "DTypePolicy", config);
}

/* The layer's config in the requested layout; keys we do not know are carried over. */
static json_object *layer_config(const sp_layer *layer, int keras_major) {
  int input = sp_layer_is_input(layer);
  if (keras_major < 3) {
    if (layer->keras_major < 3) return copy_or_null(layer->config); /* a Keras 2 config goes back as it came */
    json_object *converted = to_keras2(layer->config);
    json_object *renamed = json_object_new_object();
    json_object_object_foreach(converted, key, child) {
      json_object_object_add(renamed, input && strcmp(key, "batch_shape") == 0 ? "batch_input_shape" : key,
                             copy_or_null(child));
    }
    json_object_put(converted);
    return renamed;
  }
  json_object *config = json_object_new_object();
  json_object_object_foreach(layer->config, key, child) {
    if (input && strcmp(key, "batch_input_shape") == 0) {
      json_object_object_add(config, "batch_shape", copy_or_null(child));
    } else if (input && strcmp(key, "ragged") == 0 && layer->keras_major < 3) {
      continue; /* Keras 2's key; a Keras 3 config that has it (3.8+) keeps it */
    } else if (!input && (strcmp(key, "batch_input_shape") == 0 || strcmp(key, "input_dim") == 0)) {
      continue; /* the explicit InputLayer carries the shape */
    } else if (!input && strcmp(key, "dtype") == 0 && child && json_object_is_type(child, json_type_string)) {
      json_object_object_add(config, key, dtype_policy(json_object_get_string(child)));
    } else if (module_for_key(key) && child && json_object_is_type(child, json_type_object)) {
      json_object_object_add(config, key, with_module(child, module_for_key(key)));
    } else {
      json_object_object_add(config, key, copy_or_null(child));
    }
  }
  return config;
}

static json_object *build_config(const sp_layer *layer) {
  json_object *config = json_object_new_object();
  if (layer->build_input_count == 1) {
    json_object_object_add(config, "input_shape", shape_json(&layer->build_inputs[0]));
  } else {
    json_object *shapes = json_object_new_array();
    for (int i = 0; i < layer->build_input_count; i++) json_object_array_add(shapes, shape_json(&layer->build_inputs[i]));
    json_object_object_add(config, "input_shape", shapes);
  }
  return config;
}

static json_object *model_config_tree(const sp_model *model, int keras_major);

static json_object *layer_object(const sp_layer *layer, int keras_major) {
  if (layer->inner_model) return model_config_tree(layer->inner_model, keras_major);
  json_object *object = json_object_new_object();
  const json_object *module = sp_json_member(layer->extra, "module");
  if (keras_major >= 3)
    json_object_object_add(object, "module", module ? copy_or_null(module) : json_object_new_string(layer->class->module ? layer->class->module : "keras.layers"));
  json_object_object_add(object, "class_name", json_object_new_string(layer->class->class_name));
  json_object_object_add(object, "config", layer_config(layer, keras_major));
  if (keras_major >= 3) {
    json_object_object_add(object, "registered_name", copy_or_null(sp_json_member(layer->extra, "registered_name")));
    if (!sp_layer_is_input(layer) && layer->built && layer->build_input_count > 0)
      json_object_object_add(object, "build_config", build_config(layer));
  }
  if (layer->extra) {
    json_object_object_foreach(layer->extra, key, child) {
      if (strcmp(key, "module") == 0 || strcmp(key, "registered_name") == 0 || strcmp(key, "build_config") == 0) continue;
      if (keras_major < 3) continue;
      json_object_object_add(object, key, copy_or_null(child));
    }
  }
  return object;
}

/* Keras node index of a symbol's producer (nested models count their own construction node). */
static json_object *history_triple(const sp_model *model, sp_symbol symbol) {
  const sp_node *node = &model->nodes[symbol.node];
  json_object *triple = json_object_new_array();
  json_object_array_add(triple, json_object_new_string(node->layer->name));
  json_object_array_add(triple, json_object_new_int(node->layer_node_index + (node->layer->inner_model ? 1 : 0)));
  json_object_array_add(triple, json_object_new_int(symbol.output));
  return triple;
}

static json_object *keras_tensor(const sp_model *model, sp_symbol symbol) {
  json_object *config = json_object_new_object();
  json_object_object_add(config, "shape", shape_json(&model->nodes[symbol.node].outputs[symbol.output]));
  json_object_object_add(config, "dtype", json_object_new_string("float32"));
  json_object_object_add(config, "keras_history", history_triple(model, symbol));
  json_object *tensor = json_object_new_object();
  json_object_object_add(tensor, "class_name", json_object_new_string("__keras_tensor__"));
  json_object_object_add(tensor, "config", config);
  return tensor;
}

static json_object *inbound_node(const sp_model *model, const sp_node *node, int keras_major) {
  if (keras_major >= 3) {
    json_object *tensors = json_object_new_array();
    for (int i = 0; i < node->input_count; i++) json_object_array_add(tensors, keras_tensor(model, node->inputs[i]));
    json_object *args;
    if (node->list_argument) {
      args = json_object_new_array();
      json_object_array_add(args, tensors);
    } else {
      args = tensors;
    }
    json_object *entry = json_object_new_object();
    json_object_object_add(entry, "args", args);
    json_object_object_add(entry, "kwargs", node->arguments ? copy_or_null(node->arguments) : json_object_new_object());
    return entry;
  }
  json_object *entry = json_object_new_array();
  for (int i = 0; i < node->input_count; i++) {
    json_object *triple = history_triple(model, node->inputs[i]);
    json_object_array_add(triple, i == 0 && node->arguments ? copy_or_null(node->arguments) : json_object_new_object());
    json_object_array_add(entry, triple);
  }
  return entry;
}

static json_object *endpoints(const sp_model *model, const sp_symbol *symbols, int count, const json_object *structure) {
  if (structure) return copy_or_null(structure);
  json_object *list = json_object_new_array();
  for (int i = 0; i < count; i++) json_object_array_add(list, history_triple(model, symbols[i]));
  return list;
}

static void add_extra_keys(json_object *config, const json_object *extra, int keras_major) {
  if (!extra) return;
  json_object_object_foreach((json_object *)extra, key, child) {
    if (sp_json_member(config, key)) continue;
    json_object_object_add(config, key, keras_major >= 3 ? copy_or_null(child) : to_keras2(child));
  }
}

static json_object *model_config_tree(const sp_model *model, int keras_major) {
  int sequential = strcmp(model->class_name, "Sequential") == 0;
  json_object *config = json_object_new_object();
  json_object_object_add(config, "name", json_object_new_string(model->name));
  if (model->config_extra) {
    add_extra_keys(config, model->config_extra, keras_major);
  } else if (keras_major >= 3) {
    json_object_object_add(config, "trainable", json_object_new_boolean(1));
    if (sequential) json_object_object_add(config, "dtype", dtype_policy("float32"));
  }
  json_object *layers = json_object_new_array();
  for (int i = 0; i < model->layer_count; i++) {
    const sp_layer *layer = model->layers[i];
    json_object *object = layer_object(layer, keras_major);
    if (!sequential) {
      json_object_object_add(object, "name", json_object_new_string(layer->name));
      json_object *inbound = json_object_new_array();
      for (int n = 0; n < model->node_count; n++)
        if (model->nodes[n].layer == layer && !sp_layer_is_input(layer))
          json_object_array_add(inbound, inbound_node(model, &model->nodes[n], keras_major));
      json_object_object_add(object, "inbound_nodes", inbound);
    }
    json_object_array_add(layers, object);
  }
  json_object_object_add(config, "layers", layers);
  const sp_shape *input_shape = model->input_count ? &model->nodes[model->inputs[0].node].outputs[0] : NULL;
  if (sequential) {
    if (input_shape && keras_major >= 3) json_object_object_add(config, "build_input_shape", shape_json(input_shape));
  } else {
    json_object_object_add(config, "input_layers", endpoints(model, model->inputs, model->input_count, model->input_structure));
    json_object_object_add(config, "output_layers", endpoints(model, model->outputs, model->output_count, model->output_structure));
  }
  json_object *root = json_object_new_object();
  const char *class_name = keras_major >= 3 && !sequential ? "Functional" : model->class_name;
  if (keras_major >= 3) json_object_object_add(root, "module", json_object_new_string(sequential ? "keras" : "keras.src.models.functional"));
  json_object_object_add(root, "class_name", json_object_new_string(class_name));
  json_object_object_add(root, "config", config);
  if (keras_major >= 3) {
    json_object_object_add(root, "registered_name", sequential ? NULL : json_object_new_string("Functional"));
    json_object *built = json_object_new_object();
    json_object_object_add(built, "input_shape", sequential && input_shape ? shape_json(input_shape) : NULL);
    json_object_object_add(root, "build_config", built);
  }
  if (model->object_extra) {
    json_object_object_foreach(model->object_extra, key, child) {
      if (strcmp(key, "module") == 0 || strcmp(key, "registered_name") == 0 || strcmp(key, "build_config") == 0 ||
          strcmp(key, "compile_config") == 0 || sp_json_member(root, key) || keras_major < 3)
        continue;
      json_object_object_add(root, key, copy_or_null(child));
    }
  }
  return root;
}

json_object *sp_model_config_json(const sp_model *model, int keras_major) {
  return model_config_tree(model, keras_major >= 3 ? 3 : 2);
}

char *sp_model_to_config(const sp_model *model, int keras_major) {
  json_object *tree = sp_model_config_json(model, keras_major);
  if (!tree) {
    sp_fail(SP_ERROR_NO_MEMORY, "cannot serialize model '%s'", model->name);
    return NULL;
  }
  char *text = sp_json_dumps(tree, 0);
  json_object_put(tree);
  return text;
}
