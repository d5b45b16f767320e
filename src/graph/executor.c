/* executor.c — running plans (see executor.h).
 *
 * A frame's slots hold one reference per produced output; they are released when the frame ends.
 * Kernels never see a missing input: a slot left empty (an output of a fed node that was not fed,
 * or of a node outside the plan) stops the run with the node and input named.
 */
#include "graph/executor.h"

#include <stdlib.h>
#include <string.h>

#include "core/memory.h"

sp_status sp_graph_runtime_init(sp_graph_runtime *runtime, const sp_graph_library *library) {
  memset(runtime, 0, sizeof *runtime);
  runtime->library = library;
  if (pthread_mutex_init(&runtime->lock, NULL) != 0) return sp_fail(SP_ERROR_INTERNAL, "cannot create a mutex");
  return SP_OK;
}

void sp_graph_runtime_destroy(sp_graph_runtime *runtime) {
  for (size_t i = 0; i < runtime->variable_count; i++) {
    sp_graph_variable *variable = runtime->variables[i];
    sp_graph_value_release(variable->value);
    pthread_mutex_destroy(&variable->lock);
    free(variable->name);
    free(variable);
  }
  free(runtime->variables);
  pthread_mutex_destroy(&runtime->lock);
  memset(runtime, 0, sizeof *runtime);
}

static sp_status create_variable(sp_graph_runtime *runtime, const char *name, sp_graph_variable **variable) {
  SP_TRY(SP_RESERVE(runtime->variables, runtime->variable_capacity, runtime->variable_count + 1));
  sp_graph_variable *created = sp_alloc_zeroed(1, sizeof *created);
  if (!created) return SP_ERROR_NO_MEMORY;
  if (!(created->name = sp_strdup(name)) || pthread_mutex_init(&created->lock, NULL) != 0) {
    free(created->name);
    free(created);
    return sp_fail(SP_ERROR_NO_MEMORY, "cannot create variable '%s'", name);
  }
  runtime->variables[runtime->variable_count++] = created;
  *variable = created;
  return SP_OK;
}

sp_status sp_graph_runtime_variable(sp_graph_runtime *runtime, const char *name, sp_graph_variable **variable) {
  sp_status status = SP_OK;
  *variable = NULL;
  pthread_mutex_lock(&runtime->lock);
  for (size_t i = 0; i < runtime->variable_count && !*variable; i++)
    if (strcmp(runtime->variables[i]->name, name) == 0) *variable = runtime->variables[i];
  if (!*variable) status = create_variable(runtime, name, variable);
  pthread_mutex_unlock(&runtime->lock);
  return status;
}

sp_status sp_graph_value_resolve(sp_graph_value *value, sp_graph_value **resolved) {
  if (value->is_reference) return sp_graph_variable_read(value->variable, resolved);
  *resolved = sp_graph_value_retain(value);
  return SP_OK;
}

static void release_slots(sp_graph_value **slots, int32_t count) {
  for (int32_t i = 0; i < count; i++) sp_graph_value_release(slots[i]);
  free(slots);
}

static sp_status gather_inputs(const sp_graph_program *program, const sp_graph_node *node, sp_graph_value **slots,
                               sp_graph_value **inputs) {
  for (int32_t i = 0; i < node->input_count; i++) {
    const sp_graph_node *producer = &program->nodes[node->inputs[i].node];
    inputs[i] = slots[producer->first_slot + node->inputs[i].output];
    if (!inputs[i])
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: node '%s' (%s): input %d ('%s:%d') has no value (was '%s' fed "
                     "without that output?)", program->name, node->name, node->def->op, i, producer->name,
                     node->inputs[i].output, producer->name);
  }
  return SP_OK;
}

static sp_status run_node(sp_graph_run *run, const sp_graph_program *program, const sp_graph_node *node,
                          sp_graph_value **slots) {
  sp_graph_value *stack_inputs[16];
  sp_graph_value **inputs = node->input_count <= 16 ? stack_inputs
                                                    : sp_alloc_zeroed((size_t)node->input_count, sizeof *inputs);
  if (!inputs) return SP_ERROR_NO_MEMORY;
  sp_status status = gather_inputs(program, node, slots, inputs);
  sp_kernel_context context = {
      .node = node->def,
      .limits = &run->runtime->library->limits,
      .run = run,
      .callee = node->callee,
      .constant = node->constant,
      .input_count = (size_t)node->input_count,
      .inputs = inputs,
      .output_count = (size_t)node->output_count,
      .outputs = slots + node->first_slot,
  };
  if (status == SP_OK) status = node->op->run(&context);
  for (size_t i = 0; i < context.borrowed_count; i++) sp_graph_value_release(context.borrowed[i]);
  free(context.borrowed);
  for (int32_t i = 0; i < node->output_count && status == SP_OK; i++)
    if (!context.outputs[i])
      status = sp_fail(SP_ERROR_INTERNAL, "%s node '%s' produced no output %d", node->def->op, node->name, i);
  if (inputs != stack_inputs) free(inputs);
  return status;
}

sp_status sp_graph_execute(sp_graph_run *run, const sp_graph_program *program, const sp_graph_plan *plan,
                           const sp_graph_edge *feeds, sp_graph_value *const *feed_values, size_t feed_count,
                           const sp_graph_edge *fetches, size_t fetch_count, sp_graph_value **fetched) {
  for (size_t i = 0; i < fetch_count; i++) fetched[i] = NULL;
  sp_graph_value **slots = sp_alloc_zeroed((size_t)program->slot_count + 1, sizeof *slots);
  if (!slots) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  for (size_t i = 0; i < feed_count; i++) {
    const sp_graph_node *node = &program->nodes[feeds[i].node];
    int32_t slot = node->first_slot + feeds[i].output;
    sp_graph_value_release(slots[slot]);
    slots[slot] = sp_graph_value_retain(feed_values[i]);
  }
  for (int32_t i = 0; i < plan->count && status == SP_OK; i++) {
    const sp_graph_node *node = &program->nodes[plan->order[i]];
    if (!node->def) continue; /* a function argument without a feed: its slot stays empty */
    status = run_node(run, program, node, slots);
  }
  for (size_t i = 0; i < fetch_count && status == SP_OK; i++) {
    const sp_graph_node *node = &program->nodes[fetches[i].node];
    sp_graph_value *value = slots[node->first_slot + fetches[i].output];
    if (!value)
      status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: tensor '%s:%d' was not computed", program->name, node->name,
                       fetches[i].output);
    else fetched[i] = sp_graph_value_retain(value);
  }
  release_slots(slots, program->slot_count);
  if (status != SP_OK)
    for (size_t i = 0; i < fetch_count; i++) {
      sp_graph_value_release(fetched[i]);
      fetched[i] = NULL;
    }
  return status;
}
