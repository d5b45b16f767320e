/* model.c — building the model graph: Sequential and Functional models, shared layers,
 * nested models, shape inference, variable creation and initialization.
 *
 * Invariants: nodes are in topological order (a node's inputs come from earlier nodes);
 * model.layers holds each layer once, in the order Keras lists them; a layer is built
 * (its variables created) on its first call and its variables never change shape after.
 */
#include "nn/model.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/memory.h"
#include "nn/initializer.h"
#include "nn/plan.h"

/* ---- nested models are layers too ---- */

static sp_status nested_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                       int *output_count, sp_shape *outputs) {
  const sp_model *inner = layer->inner_model;
  SP_TRY(sp_layer_expect_inputs(layer, input_count, inner->input_count, inner->input_count));
  for (int i = 0; i < input_count; i++) {
    const sp_shape *expected = &inner->nodes[inner->inputs[i].node].outputs[inner->inputs[i].output];
    int compatible = expected->rank == inputs[i].rank;
    for (int d = 1; compatible && d < expected->rank; d++)
      compatible = expected->dims[d] < 0 || inputs[i].dims[d] < 0 || expected->dims[d] == inputs[i].dims[d];
    if (!compatible) {
      char want[96], got[96];
      return sp_fail(SP_ERROR_MISMATCH, "%s: input %d should have shape %s, got %s", sp_layer_describe(layer), i,
                     sp_shape_describe(expected, want, sizeof want), sp_shape_describe(&inputs[i], got, sizeof got));
    }
  }
  *output_count = inner->output_count;
  for (int i = 0; i < inner->output_count; i++) {
    outputs[i] = inner->nodes[inner->outputs[i].node].outputs[inner->outputs[i].output];
    if (input_count) outputs[i].dims[0] = inputs[0].dims[0];
  }
  return SP_OK;
}

static sp_status nested_forward(const sp_layer *layer, sp_call *call) {
  return sp_fail(SP_ERROR_INTERNAL, "%s: nested models run inlined in their parent's plan", sp_layer_describe(layer));
}

static void nested_release(sp_layer *layer) { sp_model_free(layer->inner_model); }

static const sp_layer_class functional_class = {
    .class_name = "Functional", .module = "keras.src.models.functional",
    .compute_shapes = nested_compute_shapes, .forward = nested_forward, .release = nested_release};
static const sp_layer_class sequential_class = {
    .class_name = "Sequential", .module = "keras",
    .compute_shapes = nested_compute_shapes, .forward = nested_forward, .release = nested_release};

sp_layer *sp_model_as_layer(sp_model *model) {
  if (!model) return NULL;
  if (sp_model_build(model) != SP_OK) {
    sp_model_free(model);
    return NULL;
  }
  sp_layer *layer = sp_alloc_zeroed(1, sizeof *layer);
  if (!layer || !(layer->name = sp_strdup(model->name)) || !(layer->config = json_object_new_object())) {
    if (layer) free(layer->name);
    free(layer);
    sp_model_free(model);
    return NULL;
  }
  layer->class = strcmp(model->class_name, "Sequential") == 0 ? &sequential_class : &functional_class;
  layer->inner_model = model;
  layer->trainable = 1;
  layer->built = 1;
  layer->keras_major = model->keras_major;
  layer->reference_count = 1;
  return layer;
}

/* ---- creation and naming ---- */

sp_status sp_model_new(const char *name, const char *class_name, sp_model **result) {
  sp_model *model = sp_alloc_zeroed(1, sizeof *model);
  if (!model) return SP_ERROR_NO_MEMORY;
  model->name = sp_strdup(name);
  model->class_name = sp_strdup(class_name);
  model->keras_major = 3;
  sp_rng_seed(&model->rng, 1337);
  if (!model->name || !model->class_name) {
    sp_model_free(model);
    return SP_ERROR_NO_MEMORY;
  }
  *result = model;
  return SP_OK;
}

sp_model *sp_sequential(const char *name) {
  sp_model *model = NULL;
  return sp_model_new(name ? name : "sequential", "Sequential", &model) == SP_OK ? model : NULL;
}

sp_model *sp_functional(const char *name) {
  sp_model *model = NULL;
  return sp_model_new(name ? name : "functional", "Functional", &model) == SP_OK ? model : NULL;
}

/* Keras's naming.to_snake_case exactly: drop non-word characters, then
 * (.)([A-Z][a-z]+) → \1_\2 and ([a-z])([A-Z]) → \1_\2, then lower-case.
 * "Conv2D" → "conv2d", "SimpleRNN" → "simple_rnn", "ReLU" → "re_lu". */
void sp_snake_case(const char *name, char *out, size_t capacity) {
  char word[256], first[512];
  size_t length = 0, used = 0;
  for (size_t i = 0; name[i] && length + 1 < sizeof word; i++)
    if (isalnum((unsigned char)name[i]) || name[i] == '_') word[length++] = name[i];
  word[length] = '\0';
  /* Non-overlapping left-to-right matches of (.)([A-Z][a-z]+), as re.sub scans. */
  for (size_t i = 0; i < length && used + 3 < sizeof first;) {
    if (i + 2 < length && isupper((unsigned char)word[i + 1]) && islower((unsigned char)word[i + 2])) {
      size_t end = i + 2;
      while (end < length && islower((unsigned char)word[end])) end++;
      first[used++] = word[i];
      first[used++] = '_';
      for (size_t k = i + 1; k < end && used + 1 < sizeof first; k++) first[used++] = word[k];
      i = end;
      continue;
    }
    first[used++] = word[i++];
  }
  first[used] = '\0';
  size_t written = 0;
  for (size_t i = 0; first[i] && written + 2 < capacity; i++) {
    if (i > 0 && isupper((unsigned char)first[i]) && islower((unsigned char)first[i - 1])) out[written++] = '_';
    out[written++] = (char)tolower((unsigned char)first[i]);
  }
  out[written] = '\0';
}

int sp_model_find_layer(const sp_model *model, const char *name) {
  for (int i = 0; i < model->layer_count; i++)
    if (model->layers[i]->name && strcmp(model->layers[i]->name, name) == 0) return i;
  return -1;
}

char *sp_model_unique_layer_name(const sp_model *model, const char *class_name) {
  char base[256];
  sp_snake_case(class_name, base, sizeof base);
  if (sp_model_find_layer(model, base) < 0) return sp_strdup(base);
  for (int suffix = 1;; suffix++) {
    char candidate[300];
    snprintf(candidate, sizeof candidate, "%s_%d", base, suffix);
    if (sp_model_find_layer(model, candidate) < 0) return sp_strdup(candidate);
  }
}

int sp_layer_is_input(const sp_layer *layer) { return strcmp(layer->class->class_name, "InputLayer") == 0; }

static sp_status name_layer(sp_model *model, sp_layer *layer) {
  if (!layer->name) {
    layer->name = sp_model_unique_layer_name(model, layer->class->class_name);
    if (!layer->name) return SP_ERROR_NO_MEMORY;
    json_object_object_add(layer->config, "name", json_object_new_string(layer->name));
    return SP_OK;
  }
  if (sp_model_find_layer(model, layer->name) >= 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "model '%s' already has a layer named '%s'; layer names must be unique within a model",
                   model->name, layer->name);
  return SP_OK;
}

sp_status sp_model_track_layer(sp_model *model, sp_layer *layer) {
  for (int i = 0; i < model->layer_count; i++)
    if (model->layers[i] == layer) return SP_OK;
  SP_TRY(name_layer(model, layer));
  SP_TRY(SP_RESERVE(model->layers, model->layer_capacity, (size_t)model->layer_count + 1));
  model->layers[model->layer_count++] = layer;
  return SP_OK;
}

/* ---- nodes ---- */

static sp_status build_layer(sp_layer *layer, int input_count, const sp_shape *inputs) {
  if (layer->built) return SP_OK;
  if (layer->class->build) SP_TRY(layer->class->build(layer, input_count, inputs));
  layer->build_inputs = sp_alloc_zeroed((size_t)(input_count ? input_count : 1), sizeof *layer->build_inputs);
  if (!layer->build_inputs) return SP_ERROR_NO_MEMORY;
  if (input_count) memcpy(layer->build_inputs, inputs, (size_t)input_count * sizeof *inputs);
  layer->build_input_count = input_count;
  layer->built = 1;
  return SP_OK;
}

sp_status sp_model_add_node(sp_model *model, sp_layer *layer, int input_count, const sp_symbol *inputs,
                            int list_argument, const json_object *arguments, int *node_index) {
  if (input_count > SP_MAX_LAYER_INPUTS)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: %d inputs is more than the %d supported", sp_layer_describe(layer),
                   input_count, (int)SP_MAX_LAYER_INPUTS);
  sp_shape shapes[SP_MAX_LAYER_INPUTS];
  for (int i = 0; i < input_count; i++) {
    if (inputs[i].node < 0 || inputs[i].node >= model->node_count ||
        inputs[i].output >= model->nodes[inputs[i].node].output_count || inputs[i].output < 0)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: input %d refers to no tensor of model '%s'",
                     sp_layer_describe(layer), i, model->name);
    shapes[i] = model->nodes[inputs[i].node].outputs[inputs[i].output];
  }
  SP_TRY(SP_RESERVE(model->nodes, model->node_capacity, (size_t)model->node_count + 1));
  sp_node *node = &model->nodes[model->node_count];
  memset(node, 0, sizeof *node);
  SP_TRY(build_layer(layer, input_count, shapes));
  SP_TRY(layer->class->compute_shapes(layer, input_count, shapes, &node->output_count, node->outputs));
  if (node->output_count < 1 || node->output_count > SP_MAX_LAYER_OUTPUTS)
    return sp_fail(SP_ERROR_INTERNAL, "%s produced %d outputs", sp_layer_describe(layer), node->output_count);
  node->inputs = sp_alloc_zeroed((size_t)(input_count ? input_count : 1), sizeof *node->inputs);
  if (!node->inputs) return SP_ERROR_NO_MEMORY;
  if (input_count) memcpy(node->inputs, inputs, (size_t)input_count * sizeof *inputs);
  node->input_count = input_count;
  node->layer = layer;
  node->list_argument = list_argument;
  if (arguments && json_object_deep_copy((json_object *)arguments, &node->arguments, NULL) != 0)
    return sp_fail(SP_ERROR_NO_MEMORY, "cannot copy call arguments");
  node->layer_node_index = layer->call_count++;
  *node_index = model->node_count++;
  model->built = 0;
  return SP_OK;
}

/* Takes the caller's reference to layer when the layer is new to the model. */
static sp_status adopt_layer(sp_model *model, sp_layer *layer) {
  sp_status status = sp_model_track_layer(model, layer);
  if (status != SP_OK) sp_layer_release(layer);
  return status;
}

static sp_status add_input_node(sp_model *model, sp_layer *input_layer, sp_symbol *symbol) {
  if (!sp_layer_is_input(input_layer))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s is not an InputLayer", sp_layer_describe(input_layer));
  int node_index;
  SP_TRY(sp_model_add_node(model, input_layer, 0, NULL, 0, NULL, &node_index));
  sp_symbol *grown = sp_realloc_array(model->inputs, (size_t)model->input_count + 1, sizeof *grown);
  if (!grown) return SP_ERROR_NO_MEMORY;
  model->inputs = grown;
  model->inputs[model->input_count++] = (sp_symbol){node_index, 0};
  if (symbol) *symbol = (sp_symbol){node_index, 0};
  return SP_OK;
}

/* A NULL layer means its constructor failed: report that failure. */
static sp_status failed_constructor(const char *action, const sp_model *model) {
  sp_status status = sp_last_status();
  if (status == SP_OK) status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "no layer given");
  return sp_error_context(status, "%s '%s'", action, model ? model->name : "?");
}

/* Keras 2 style: the first layer of a Sequential model may carry its own input shape. */
static sp_status implicit_input_layer(const sp_layer *first, sp_layer **input_layer) {
  int64_t dims[SP_MAX_RANK];
  int rank = 0;
  *input_layer = NULL;
  const char *context = sp_layer_describe(first);
  if (sp_json_member(first->config, "batch_input_shape")) {
    SP_TRY(sp_json_get_int_list(first->config, "batch_input_shape", SP_MAX_RANK, context, dims, &rank));
  } else if (sp_json_member(first->config, "batch_shape")) {
    SP_TRY(sp_json_get_int_list(first->config, "batch_shape", SP_MAX_RANK, context, dims, &rank));
  } else if (sp_json_member(first->config, "input_shape")) {
    SP_TRY(sp_json_get_int_list(first->config, "input_shape", SP_MAX_RANK - 1, context, dims + 1, &rank));
    dims[0] = -1;
    rank++;
  } else if (sp_json_member(first->config, "input_dim")) {
    int64_t input_dim;
    SP_TRY(sp_json_get_int(first->config, "input_dim", 0, context, &input_dim));
    dims[0] = -1;
    dims[1] = input_dim;
    rank = 2;
  } else {
    return SP_OK;
  }
  if (rank < 1) return sp_fail(SP_ERROR_FORMAT, "%s: its input shape has no dimensions", context);
  *input_layer = sp_input(rank - 1, dims + 1);
  return *input_layer ? SP_OK : SP_ERROR_NO_MEMORY;
}

sp_status sp_model_add(sp_model *model, sp_layer *layer) {
  if (!layer) return failed_constructor("adding a layer to model", model);
  if (!model || strcmp(model->class_name, "Sequential") != 0) {
    sp_layer_release(layer);
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "sp_model_add needs a Sequential model; use sp_model_call for Functional models");
  }
  if (model->input_count == 0) {
    sp_layer *input_layer = NULL;
    if (sp_layer_is_input(layer)) {
      input_layer = layer;
      layer = NULL;
    } else {
      sp_status status = implicit_input_layer(layer, &input_layer);
      if (status != SP_OK || !input_layer) {
        sp_layer_release(layer);
        return status != SP_OK ? status
                               : sp_fail(SP_ERROR_INVALID_ARGUMENT,
                                         "Sequential model '%s' has no input shape: add sp_input(...) first, or give "
                                         "the first layer an input_shape",
                                         model->name);
      }
    }
    sp_status status = adopt_layer(model, input_layer);
    if (status == SP_OK) status = add_input_node(model, input_layer, NULL);
    if (status != SP_OK || !layer) {
      sp_layer_release(layer);
      return status;
    }
  } else if (sp_layer_is_input(layer)) {
    sp_layer_release(layer);
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Sequential model '%s' already has an input", model->name);
  }
  SP_TRY(adopt_layer(model, layer));
  const sp_node *last = &model->nodes[model->node_count - 1];
  if (last->output_count != 1)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: a Sequential model needs single-output layers, '%s' has %d outputs",
                   sp_layer_describe(layer), last->layer->name, last->output_count);
  sp_symbol previous = {model->node_count - 1, 0};
  int node_index;
  return sp_model_add_node(model, layer, 1, &previous, 0, NULL, &node_index);
}

sp_status sp_model_input(sp_model *model, sp_layer *input_layer, sp_symbol *symbol) {
  if (!input_layer) return failed_constructor("adding an input to model", model);
  SP_TRY(adopt_layer(model, input_layer));
  return add_input_node(model, input_layer, symbol);
}

sp_status sp_model_call(sp_model *model, sp_layer *layer, int input_count, const sp_symbol *inputs,
                        int output_capacity, sp_symbol *outputs, int *output_count) {
  if (!layer) return failed_constructor("calling a layer in model", model);
  SP_TRY(adopt_layer(model, layer));
  int node_index;
  SP_TRY(sp_model_add_node(model, layer, input_count, inputs, input_count > 1, NULL, &node_index));
  const sp_node *node = &model->nodes[node_index];
  if (node->output_count > output_capacity)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s has %d outputs but room for %d was given", sp_layer_describe(layer),
                   node->output_count, output_capacity);
  for (int i = 0; i < node->output_count; i++) outputs[i] = (sp_symbol){node_index, i};
  if (output_count) *output_count = node->output_count;
  return SP_OK;
}

sp_status sp_model_set_outputs(sp_model *model, int output_count, const sp_symbol *outputs) {
  if (output_count < 1) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' needs at least one output", model->name);
  for (int i = 0; i < output_count; i++)
    if (outputs[i].node < 0 || outputs[i].node >= model->node_count ||
        outputs[i].output >= model->nodes[outputs[i].node].output_count)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "output %d of model '%s' refers to no tensor", i, model->name);
  sp_symbol *copy = sp_alloc_zeroed((size_t)output_count, sizeof *copy);
  if (!copy) return SP_ERROR_NO_MEMORY;
  memcpy(copy, outputs, (size_t)output_count * sizeof *copy);
  free(model->outputs);
  model->outputs = copy;
  model->output_count = output_count;
  model->built = 0;
  return sp_model_build(model);
}

/* ---- build and initialization ---- */

sp_status sp_model_build(sp_model *model) {
  if (model->built) return SP_OK;
  if (model->input_count == 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' has no inputs", model->name);
  if (strcmp(model->class_name, "Sequential") == 0) {
    sp_symbol last = {model->node_count - 1, 0};
    free(model->outputs);
    model->outputs = sp_alloc_zeroed(1, sizeof *model->outputs);
    if (!model->outputs) return SP_ERROR_NO_MEMORY;
    model->outputs[0] = last;
    model->output_count = 1;
  }
  if (model->output_count == 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Functional model '%s' has no outputs: call sp_model_set_outputs", model->name);
  sp_plan *plan;
  SP_TRY(sp_plan_create(model, &plan));
  sp_plan_free(model->plan);
  model->plan = plan;
  model->built = 1;
  return SP_OK;
}

void sp_model_set_seed(sp_model *model, uint64_t seed) { sp_rng_seed(&model->rng, seed); }

static sp_status collect(const sp_model *model, sp_variable ***variables, int *count, int *capacity,
                         int trainable_only) {
  for (int l = 0; l < model->layer_count; l++) {
    const sp_layer *layer = model->layers[l];
    if (layer->inner_model) {
      SP_TRY(collect(layer->inner_model, variables, count, capacity, trainable_only));
      continue;
    }
    for (int v = 0; v < layer->variable_count; v++) {
      sp_variable *variable = layer->variables[v];
      if (trainable_only && !(variable->trainable && layer->trainable)) continue;
      int seen = 0;
      for (int k = 0; k < *count && !seen; k++) seen = (*variables)[k] == variable;
      if (seen) continue;
      size_t capacity_size = (size_t)*capacity;
      SP_TRY(sp_reserve((void **)variables, &capacity_size, (size_t)*count + 1, sizeof **variables));
      *capacity = (int)capacity_size;
      (*variables)[(*count)++] = variable;
    }
  }
  return SP_OK;
}

int sp_model_collect_variables(const sp_model *model, sp_variable ***variables, int trainable_only) {
  int count = 0, capacity = 0;
  *variables = NULL;
  if (collect(model, variables, &count, &capacity, trainable_only) != SP_OK) {
    free(*variables);
    *variables = NULL;
    return -1;
  }
  return count;
}

sp_status sp_model_initialize(sp_model *model) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  if (count < 0) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  for (int i = 0; i < count && status == SP_OK; i++) {
    sp_variable *variable = variables[i];
    if (variable->initialized) continue;
    char context[300];
    snprintf(context, sizeof context, "%s: variable '%s'", sp_layer_describe(variable->layer), variable->name);
    json_object *fallback = !variable->initializer && variable->default_initializer
                                ? json_object_new_string(variable->default_initializer) : NULL;
    status = sp_initializer_fill(variable->initializer ? variable->initializer : fallback, variable->value, &model->rng,
                                 context);
    json_object_put(fallback);
    variable->initialized = status == SP_OK;
  }
  free(variables);
  return status;
}

/* ---- teardown and accessors ---- */

void sp_model_free(sp_model *model) {
  if (!model) return;
  if (model->training && model->training_release) model->training_release(model->training);
  sp_plan_free(model->plan);
  for (int i = 0; i < model->node_count; i++) {
    free(model->nodes[i].inputs);
    json_object_put(model->nodes[i].arguments);
  }
  free(model->nodes);
  for (int i = 0; i < model->layer_count; i++) sp_layer_release(model->layers[i]);
  free(model->layers);
  free(model->inputs);
  free(model->outputs);
  json_object_put(model->config_extra);
  json_object_put(model->object_extra);
  json_object_put(model->input_structure);
  json_object_put(model->output_structure);
  free(model->name);
  free(model->class_name);
  free(model);
}

void sp_layer_free(sp_layer *layer) { sp_layer_release(layer); }

const char *sp_model_name(const sp_model *model) { return model->name; }
int sp_model_input_count(const sp_model *model) { return model->input_count; }
int sp_model_output_count(const sp_model *model) { return model->output_count; }

const char *sp_model_input_name(const sp_model *model, int index) {
  if (index < 0 || index >= model->input_count) return NULL;
  return model->nodes[model->inputs[index].node].layer->name;
}

const char *sp_model_output_name(const sp_model *model, int index) {
  if (index < 0 || index >= model->output_count) return NULL;
  return model->nodes[model->outputs[index].node].layer->name;
}

static sp_status symbol_shape(const sp_model *model, const sp_symbol *symbols, int count, int index, int *rank,
                              int64_t *shape) {
  if (index < 0 || index >= count) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' has no tensor %d", model->name, index);
  const sp_shape *found = &model->nodes[symbols[index].node].outputs[symbols[index].output];
  *rank = found->rank;
  memcpy(shape, found->dims, (size_t)found->rank * sizeof *shape);
  return SP_OK;
}

sp_status sp_model_input_shape(const sp_model *model, int index, int *rank, int64_t *shape) {
  return symbol_shape(model, model->inputs, model->input_count, index, rank, shape);
}

sp_status sp_model_output_shape(const sp_model *model, int index, int *rank, int64_t *shape) {
  if (!model->output_count) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' is not built", model->name);
  return symbol_shape(model, model->outputs, model->output_count, index, rank, shape);
}

int64_t sp_model_parameter_count(const sp_model *model, int trainable_only) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, trainable_only);
  int64_t total = 0;
  for (int i = 0; i < count; i++) total += sp_tensor_count(variables[i]->value);
  free(variables);
  return total;
}
