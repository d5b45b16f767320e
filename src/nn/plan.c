/* plan.c — turns a model graph into a flat list of steps over numbered tensor slots.
 *
 * Nested models are inlined: their inputs bind to the caller's argument slots and their
 * outputs become the node's outputs. InputLayers produce no step; a model input is a slot
 * the runner fills. A shared layer appears in several steps; its variables are shared,
 * so gradients from every call accumulate.
 */
#include "nn/plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/memory.h"

typedef struct plan_builder {
  sp_plan *plan;
  size_t shape_capacity, consumer_capacity, step_capacity;
  int depth;
} plan_builder;

static sp_status new_slot(plan_builder *builder, const sp_shape *shape, int *slot) {
  sp_plan *plan = builder->plan;
  SP_TRY(SP_RESERVE(plan->slot_shapes, builder->shape_capacity, (size_t)plan->slot_count + 1));
  SP_TRY(SP_RESERVE(plan->slot_consumers, builder->consumer_capacity, (size_t)plan->slot_count + 1));
  plan->slot_shapes[plan->slot_count] = *shape;
  plan->slot_consumers[plan->slot_count] = 0;
  *slot = plan->slot_count++;
  return SP_OK;
}

static sp_status add_step(plan_builder *builder, const sp_node *node, int node_index, const int *input_slots,
                          int *output_slots) {
  sp_plan *plan = builder->plan;
  SP_TRY(SP_RESERVE(plan->steps, builder->step_capacity, (size_t)plan->step_count + 1));
  sp_step *step = &plan->steps[plan->step_count];
  memset(step, 0, sizeof *step);
  step->layer = node->layer;
  step->node = node_index;
  step->input_count = node->input_count;
  step->input_slots = sp_alloc_zeroed((size_t)(node->input_count ? node->input_count : 1), sizeof(int));
  if (!step->input_slots) return SP_ERROR_NO_MEMORY;
  plan->step_count++;
  for (int i = 0; i < node->input_count; i++) {
    step->input_slots[i] = input_slots[i];
    plan->slot_consumers[input_slots[i]]++;
  }
  step->output_count = node->output_count;
  for (int i = 0; i < node->output_count; i++) {
    SP_TRY(new_slot(builder, &node->outputs[i], &step->output_slots[i]));
    output_slots[i] = step->output_slots[i];
  }
  return SP_OK;
}

static sp_status inline_model(plan_builder *builder, const sp_model *model, const int *argument_slots,
                              int *result_slots) {
  if (++builder->depth > 64)
    return sp_fail(SP_ERROR_FORMAT, "model '%s' nests more than 64 levels deep", model->name);
  int *node_slots = sp_alloc_zeroed((size_t)(model->node_count ? model->node_count : 1) * SP_MAX_LAYER_OUTPUTS, sizeof(int));
  if (!node_slots) return SP_ERROR_NO_MEMORY;
  for (int i = 0; i < model->node_count * SP_MAX_LAYER_OUTPUTS; i++) node_slots[i] = -1;
  for (int i = 0; i < model->input_count; i++)
    node_slots[model->inputs[i].node * SP_MAX_LAYER_OUTPUTS + model->inputs[i].output] = argument_slots[i];
  sp_status status = SP_OK;
  for (int n = 0; n < model->node_count && status == SP_OK; n++) {
    const sp_node *node = &model->nodes[n];
    if (sp_layer_is_input(node->layer)) continue;
    int inputs[SP_MAX_LAYER_INPUTS];
    for (int i = 0; i < node->input_count && status == SP_OK; i++) {
      inputs[i] = node_slots[node->inputs[i].node * SP_MAX_LAYER_OUTPUTS + node->inputs[i].output];
      if (inputs[i] < 0)
        status = sp_fail(SP_ERROR_FORMAT, "model '%s': %s reads from InputLayer '%s', which is not a model input",
                         model->name, sp_layer_describe(node->layer), model->nodes[node->inputs[i].node].layer->name);
    }
    if (status != SP_OK) break;
    int *outputs = node_slots + n * SP_MAX_LAYER_OUTPUTS;
    if (node->layer->inner_model) {
      status = inline_model(builder, node->layer->inner_model, inputs, outputs);
    } else {
      status = add_step(builder, node, n, inputs, outputs);
    }
  }
  for (int i = 0; i < model->output_count && status == SP_OK; i++) {
    result_slots[i] = node_slots[model->outputs[i].node * SP_MAX_LAYER_OUTPUTS + model->outputs[i].output];
    if (result_slots[i] < 0)
      status = sp_fail(SP_ERROR_FORMAT, "model '%s': output %d is not computed from its inputs", model->name, i);
  }
  free(node_slots);
  builder->depth--;
  return status;
}

sp_status sp_plan_create(const sp_model *model, sp_plan **result) {
  plan_builder builder = {0};
  builder.plan = sp_alloc_zeroed(1, sizeof *builder.plan);
  if (!builder.plan) return SP_ERROR_NO_MEMORY;
  sp_plan *plan = builder.plan;
  plan->input_count = model->input_count;
  plan->output_count = model->output_count;
  plan->input_slots = sp_alloc_zeroed((size_t)model->input_count, sizeof(int));
  plan->output_slots = sp_alloc_zeroed((size_t)model->output_count, sizeof(int));
  sp_status status = plan->input_slots && plan->output_slots ? SP_OK : SP_ERROR_NO_MEMORY;
  for (int i = 0; i < model->input_count && status == SP_OK; i++)
    status = new_slot(&builder, &model->nodes[model->inputs[i].node].outputs[0], &plan->input_slots[i]);
  if (status == SP_OK) status = inline_model(&builder, model, plan->input_slots, plan->output_slots);
  if (status != SP_OK) {
    sp_plan_free(plan);
    return status;
  }
  *result = plan;
  return SP_OK;
}

void sp_plan_free(sp_plan *plan) {
  if (!plan) return;
  for (int i = 0; i < plan->step_count; i++) free(plan->steps[i].input_slots);
  free(plan->steps);
  free(plan->slot_shapes);
  free(plan->slot_consumers);
  free(plan->input_slots);
  free(plan->output_slots);
  free(plan);
}
