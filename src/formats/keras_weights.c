/* keras_weights.c — Keras's variable naming for every format, and checked assignment of loaded
 * values (keras_weights.h). The Keras 3 walk mirrors saving_lib._save_state: the object's own
 * variables, then the `layers` container with per-class numbering, depth first. */
#include "formats/keras_weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mapping.h"
#include "core/memory.h"

/* Layers whose variables Keras 3 keeps on a sub-layer attribute (the RNN cell). */
typedef struct child_rule {
  const char *class_name;
  const char *attribute;  /* the Python attribute, the path component */
  const char *child_name; /* the sub-layer's .name */
} child_rule;

static const child_rule child_rules[] = {
    {"SimpleRNN", "cell", "simple_rnn_cell"},
    {"GRU", "cell", "gru_cell"},
    {"LSTM", "cell", "lstm_cell"},
};

static const child_rule *rule_for(const sp_layer *layer) {
  for (size_t i = 0; i < sizeof child_rules / sizeof *child_rules; i++)
    if (strcmp(layer->class->class_name, child_rules[i].class_name) == 0) return &child_rules[i];
  return NULL;
}

/* ---- Keras 3 ---- */

typedef struct walk {
  sp_keras3_layout *layout;
  size_t capacity;
  const sp_layer **visited;
  size_t visited_count, visited_capacity;
} walk;

static sp_status add_object(walk *state, char *path, const char *name, const sp_layer *layer) {
  sp_status status = SP_RESERVE(state->layout->objects, state->capacity, (size_t)state->layout->count + 1);
  char *name_copy = status == SP_OK ? sp_strdup(name ? name : "") : NULL;
  if (!name_copy) {
    free(path);
    return status == SP_OK ? SP_ERROR_NO_MEMORY : status;
  }
  sp_keras3_object *object = &state->layout->objects[state->layout->count++];
  *object = (sp_keras3_object){.path = path, .name = name_copy, .layer = layer};
  if (layer && layer->variable_count > 0) {
    object->variables = sp_alloc_zeroed((size_t)layer->variable_count, sizeof *object->variables);
    if (!object->variables) return SP_ERROR_NO_MEMORY;
    memcpy(object->variables, layer->variables, (size_t)layer->variable_count * sizeof *object->variables);
    object->variable_count = layer->variable_count;
  }
  return SP_OK;
}

static char *join(const char *prefix, const char *name) {
  return prefix[0] ? sp_strdupf("%s/%s", prefix, name) : sp_strdup(name);
}

static int visit_once(walk *state, const sp_layer *layer, sp_status *status) {
  for (size_t i = 0; i < state->visited_count; i++)
    if (state->visited[i] == layer) return 0;
  *status = SP_RESERVE(state->visited, state->visited_capacity, state->visited_count + 1);
  if (*status != SP_OK) return 0;
  state->visited[state->visited_count++] = layer;
  return 1;
}

static const char *saved_class_name(const sp_layer *layer) {
  if (!layer->inner_model) return layer->class->class_name;
  return strcmp(layer->inner_model->class_name, "Sequential") == 0 ? "Sequential" : "Functional";
}

static sp_status walk_model(walk *state, const sp_model *model, const char *prefix);

static sp_status walk_layer(walk *state, const sp_layer *layer, const char *path) {
  if (layer->inner_model) return walk_model(state, layer->inner_model, path);
  const child_rule *rule = rule_for(layer);
  if (!rule) {
    char *own = sp_strdup(path);
    return own ? add_object(state, own, layer->name, layer) : SP_ERROR_NO_MEMORY;
  }
  char *own = sp_strdup(path), *child = join(path, rule->attribute);
  if (!own || !child) {
    free(own);
    free(child);
    return SP_ERROR_NO_MEMORY;
  }
  sp_status status = add_object(state, own, layer->name, NULL);
  if (status != SP_OK) {
    free(child);
    return status;
  }
  return add_object(state, child, rule->child_name, layer);
}

/* The `layers` container: each saveable named snake_case(class), made unique per class by _N. */
static sp_status walk_layers(walk *state, const sp_model *model, const char *prefix) {
  int sequential = strcmp(model->class_name, "Sequential") == 0;
  char (*used)[128] = sp_alloc_zeroed((size_t)model->layer_count + 1, sizeof *used);
  int *counts = sp_alloc_zeroed((size_t)model->layer_count + 1, sizeof *counts);
  sp_status status = used && counts ? SP_OK : SP_ERROR_NO_MEMORY;
  int distinct = 0;
  for (int i = 0; i < model->layer_count && status == SP_OK; i++) {
    const sp_layer *layer = model->layers[i];
    if (sequential && i == 0 && sp_layer_is_input(layer)) continue;
    char base[128];
    sp_snake_case(saved_class_name(layer), base, sizeof base);
    int slot = 0;
    while (slot < distinct && strcmp(used[slot], base) != 0) slot++;
    if (slot == distinct) snprintf(used[distinct++], sizeof *used, "%s", base);
    else counts[slot]++;
    char name[160];
    if (counts[slot] == 0) snprintf(name, sizeof name, "%s", base);
    else snprintf(name, sizeof name, "%s_%d", base, counts[slot]);
    if (!visit_once(state, layer, &status)) continue; /* a shared layer is saved where first met */
    char *path = sp_strdupf("%s%slayers/%s", prefix, prefix[0] ? "/" : "", name);
    if (!path) {
      status = SP_ERROR_NO_MEMORY;
      break;
    }
    status = walk_layer(state, layer, path);
    free(path);
  }
  free(used);
  free(counts);
  return status;
}

static sp_status walk_model(walk *state, const sp_model *model, const char *prefix) {
  char *own = sp_strdup(prefix);
  if (!own) return SP_ERROR_NO_MEMORY;
  SP_TRY(add_object(state, own, model->name, NULL));
  return walk_layers(state, model, prefix);
}

sp_status sp_keras3_layout_of(const sp_model *model, sp_keras3_layout *layout) {
  *layout = (sp_keras3_layout){0};
  walk state = {.layout = layout};
  sp_status status = walk_model(&state, model, "");
  free(state.visited);
  if (status != SP_OK) sp_keras3_layout_free(layout);
  return status;
}

void sp_keras3_layout_free(sp_keras3_layout *layout) {
  for (int i = 0; i < layout->count; i++) {
    free(layout->objects[i].path);
    free(layout->objects[i].name);
    free(layout->objects[i].variables);
  }
  free(layout->objects);
  *layout = (sp_keras3_layout){0};
}

int sp_keras3_layout_weighted_count(const sp_keras3_layout *layout) {
  int count = 0;
  for (int i = 0; i < layout->count; i++) count += layout->objects[i].variable_count > 0;
  return count;
}

/* ---- Keras 2 ---- */

static int counts_as_trainable(const sp_variable *variable) { return variable->trainable && variable->layer->trainable; }

static sp_status append_variables(const sp_layer *layer, int trainable, sp_variable ***list,
                                  int *count, size_t *capacity) {
  if (layer->inner_model) {
    for (int i = 0; i < layer->inner_model->layer_count; i++)
      SP_TRY(append_variables(layer->inner_model->layers[i], trainable, list, count, capacity));
    return SP_OK;
  }
  for (int v = 0; v < layer->variable_count; v++) {
    sp_variable *variable = layer->variables[v];
    if (counts_as_trainable(variable) != trainable) continue;
    int seen = 0;
    for (int k = 0; k < *count && !seen; k++) seen = (*list)[k] == variable;
    if (seen) continue; /* a layer shared inside a nested model */
    SP_TRY(SP_RESERVE(*list, *capacity, (size_t)*count + 1));
    (*list)[(*count)++] = variable;
  }
  return SP_OK;
}

sp_status sp_keras2_layer_weights(const sp_layer *layer, sp_variable ***variables, int *count) {
  *variables = NULL;
  *count = 0;
  size_t capacity = 0;
  sp_status status = append_variables(layer, 1, variables, count, &capacity);
  if (status == SP_OK) status = append_variables(layer, 0, variables, count, &capacity);
  if (status != SP_OK) {
    free(*variables);
    *variables = NULL;
    *count = 0;
  }
  return status;
}

char *sp_keras2_weight_name(const sp_variable *variable) {
  const child_rule *rule = rule_for(variable->layer);
  if (rule) return sp_strdupf("%s/%s/%s:0", variable->layer->name, rule->child_name, variable->name);
  return sp_strdupf("%s/%s:0", variable->layer->name, variable->name);
}

char *sp_tfjs_weight_name(const sp_variable *variable) {
  return sp_strdupf("%s/%s", variable->layer->name, variable->name);
}

/* ---- assignment ---- */

static int numeric(sp_dtype dtype) {
  switch (dtype) {
    case SP_FLOAT32: case SP_FLOAT64: case SP_FLOAT16: case SP_BFLOAT16: case SP_INT8: case SP_INT16: case SP_INT32:
    case SP_INT64: case SP_UINT8: case SP_UINT16: case SP_UINT32: case SP_UINT64: case SP_BOOL:
      return 1;
    default:
      return 0;
  }
}

sp_status sp_variable_assign(sp_variable *variable, const sp_tensor *value, const char *source) {
  sp_tensor *target = variable->value;
  if (value->rank != target->rank || memcmp(value->shape, target->shape, (size_t)value->rank * sizeof *value->shape) != 0) {
    char found[160], expected[160];
    sp_shape a = sp_shape_of(value), b = sp_shape_of(target);
    return sp_fail(SP_ERROR_MISMATCH, "%s has shape %s but %s variable '%s' has shape %s", source,
                   sp_shape_describe(&a, found, sizeof found), sp_layer_describe(variable->layer), variable->name,
                   sp_shape_describe(&b, expected, sizeof expected));
  }
  if (!numeric(value->dtype))
    return sp_fail(SP_ERROR_FORMAT, "%s holds %s values; %s variable '%s' needs numbers", source,
                   sp_dtype_name(value->dtype), sp_layer_describe(variable->layer), variable->name);
  if (value->dtype == SP_FLOAT32) {
    SP_TRY(sp_tensor_overwrite(target, value));
  } else {
    SP_TRY(sp_tensor_prepare_overwrite(target));
    int64_t count = sp_tensor_count(target);
    for (int64_t i = 0; i < count; i++) sp_tensor_set_double(target, i, sp_tensor_get_double(value, i));
  }
  variable->initialized = 1;
  return SP_OK;
}

void sp_layer_names_text(const sp_layer *const *layers, int count, char *out, size_t capacity) {
  size_t used = strlen(out);
  for (int i = 0; i < count && used + 1 < capacity; i++) {
    int written = snprintf(out + used, capacity - used, "%s%s", i ? ", " : "", layers[i]->name ? layers[i]->name : "?");
    if (written < 0) break;
    used += (size_t)written < capacity - used ? (size_t)written : capacity - used - 1;
  }
}
