/* ops_basic.c — graph plumbing: constants, placeholders, identities, no-ops and function calls. */
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "graph/executor.h"
#include "graph/ops.h"
#include "graph/program.h"

/* The value was decoded once, when the graph was compiled; every run shares it. */
static sp_status constant(sp_kernel_context *context) {
  if (!context->constant) return sp_kernel_fail(context, SP_ERROR_INTERNAL, "Const without a decoded value");
  sp_kernel_set_output(context, 0, sp_graph_value_retain(context->constant));
  return SP_OK;
}

static sp_status placeholder(sp_kernel_context *context) {
  return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "a value must be fed for placeholder '%s'",
                        context->node->name);
}

static sp_status forward_first(sp_kernel_context *context) {
  if (context->input_count < 1) return sp_kernel_fail(context, SP_ERROR_FORMAT, "needs an input");
  return sp_kernel_forward(context, 0, 0);
}

static sp_status forward_all(sp_kernel_context *context) {
  if (context->input_count != context->output_count)
    return sp_kernel_fail(context, SP_ERROR_FORMAT, "has %zu inputs but %zu outputs", context->input_count,
                          context->output_count);
  for (size_t i = 0; i < context->input_count; i++) SP_TRY(sp_kernel_forward(context, i, i));
  return SP_OK;
}

static sp_status nothing(sp_kernel_context *context) {
  (void)context;
  return SP_OK;
}

/* (Stateful)PartitionedCall and direct calls: a nested run of the callee's plan. */
static sp_status call(sp_kernel_context *context) {
  const sp_graph_program *callee = context->callee;
  sp_graph_run *run = context->run;
  if (!callee) return sp_kernel_fail(context, SP_ERROR_NOT_FOUND, "calls a function missing from the library");
  if ((int32_t)context->input_count != callee->argument_count || (int32_t)context->output_count != callee->return_count)
    return sp_kernel_fail(context, SP_ERROR_FORMAT, "passes %zu arguments and takes %zu results; '%s' has %d and %d",
                          context->input_count, context->output_count, callee->name, callee->argument_count,
                          callee->return_count);
  if (run->depth >= context->limits->max_call_depth)
    return sp_kernel_fail(context, SP_ERROR_UNSAFE, "function calls nest deeper than %d (recursion?)",
                          context->limits->max_call_depth);
  sp_graph_edge *feeds = sp_alloc_zeroed(context->input_count + 1, sizeof *feeds);
  if (!feeds) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < context->input_count; i++) feeds[i].node = (int32_t)i;
  sp_graph_run nested = {run->runtime, run->depth + 1};
  sp_status status = sp_graph_execute(&nested, callee, &callee->plan, feeds, context->inputs, context->input_count,
                                      callee->returns, (size_t)callee->return_count, context->outputs);
  free(feeds);
  if (status != SP_OK) return sp_error_context(status, "in function '%s' called by node '%s'", callee->name,
                                               context->node->name);
  return SP_OK;
}

const sp_op sp_graph_ops_basic[] = {
    {"Const", constant, NULL, 0},
    {"Placeholder", placeholder, NULL, 0},
    {"PlaceholderWithDefault", forward_first, NULL, 0},
    {"Identity", forward_first, NULL, 0},
    {"Snapshot", forward_first, NULL, 0},
    {"StopGradient", forward_first, NULL, 0},
    {"PreventGradient", forward_first, NULL, 0},
    {"IdentityN", forward_all, "output*T", 0},
    {"NoOp", nothing, "", 0},
    {"PartitionedCall", call, "output*Tout", SP_OP_CALL},
    {"StatefulPartitionedCall", call, "output*Tout", SP_OP_CALL | SP_OP_SIDE_EFFECT},
    {NULL, NULL, NULL, 0},
};
