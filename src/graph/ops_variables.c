/* ops_variables.c — TF1 reference variables and TF2 resource variables.
 *
 * Both designate a session variable by shared_name (or node name); the executor's runtime owns it.
 * Assignments replace the variable's value whole under its lock, so concurrent runs read either the
 * old or the new tensor. A stored value always owns its data (a fed tensor is copied first).
 */
#include <stdlib.h>
#include <string.h>

#include "graph/executor.h"
#include "graph/ops.h"

static sp_status variable_name(sp_kernel_context *context, char *name, size_t capacity) {
  SP_TRY(sp_kernel_attr_string(context, "shared_name", "", name, capacity));
  if (!*name) {
    size_t length = strlen(context->node->name);
    if (length >= capacity) return sp_kernel_fail(context, SP_ERROR_FORMAT, "name is too long");
    memcpy(name, context->node->name, length + 1);
  }
  return SP_OK;
}

static sp_status designate(sp_kernel_context *context, int is_reference) {
  char name[512];
  SP_TRY(variable_name(context, name, sizeof name));
  sp_graph_run *run = context->run;
  sp_graph_variable *variable;
  SP_TRY(sp_graph_runtime_variable(run->runtime, name, &variable));
  sp_graph_value *value = sp_graph_value_for_variable(variable, is_reference);
  if (!value) return SP_ERROR_NO_MEMORY;
  sp_kernel_set_output(context, 0, value);
  return SP_OK;
}

static sp_status variable_v2(sp_kernel_context *context) { return designate(context, 1); }
static sp_status var_handle(sp_kernel_context *context) { return designate(context, 0); }

static sp_status read_variable(sp_kernel_context *context) {
  sp_graph_variable *variable;
  SP_TRY(sp_kernel_input_variable(context, 0, &variable));
  sp_graph_value *value;
  sp_status status = sp_graph_variable_read(variable, &value);
  if (status != SP_OK) return sp_kernel_fail(context, status, "%s", sp_last_error());
  sp_dtype dtype;
  SP_TRY(sp_kernel_attr_type(context, "dtype", value->tensor->dtype, &dtype));
  if (dtype != value->tensor->dtype) {
    sp_graph_value_release(value);
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "reads %s from variable '%s', which holds %s",
                          sp_dtype_name(dtype), variable->name, sp_dtype_name(value->tensor->dtype));
  }
  sp_kernel_set_output(context, 0, value);
  return SP_OK;
}

/* A value safe to keep in a variable after the run: owned data (feeds may borrow the caller's). */
static sp_status storable(sp_kernel_context *context, size_t index, sp_graph_value **value) {
  const sp_tensor *tensor;
  SP_TRY(sp_kernel_input(context, index, &tensor));
  sp_graph_value *input = context->inputs[index];
  if (input->tensor == tensor && tensor->owns_data) {
    *value = sp_graph_value_retain(input);
    return SP_OK;
  }
  *value = sp_graph_value_from_tensor(sp_tensor_copy(tensor));
  return *value ? SP_OK : SP_ERROR_NO_MEMORY;
}

static sp_status assign_variable(sp_kernel_context *context) {
  sp_graph_variable *variable;
  SP_TRY(sp_kernel_input_variable(context, 0, &variable));
  sp_graph_value *value;
  SP_TRY(storable(context, 1, &value));
  sp_dtype dtype;
  sp_status status = sp_kernel_attr_type(context, "dtype", value->tensor->dtype, &dtype);
  if (status == SP_OK && dtype != value->tensor->dtype)
    status = sp_kernel_fail(context, SP_ERROR_MISMATCH, "assigns %s to a %s variable", sp_dtype_name(value->tensor->dtype),
                            sp_dtype_name(dtype));
  if (status != SP_OK) {
    sp_graph_value_release(value);
    return status;
  }
  sp_graph_variable_assign(variable, value);
  if (context->output_count) /* Assign (TF1) outputs the reference */
    sp_kernel_set_output(context, 0, sp_graph_value_retain(context->inputs[0]));
  return SP_OK;
}

/* variable = variable <op> delta, atomically with respect to other updates of the same variable. */
static sp_status update_variable(sp_kernel_context *context, const char *op, const sp_tensor *delta,
                                 sp_graph_value **updated) {
  sp_graph_variable *variable;
  SP_TRY(sp_kernel_input_variable(context, 0, &variable));
  pthread_mutex_lock(&variable->lock);
  sp_status status = SP_OK;
  sp_tensor *result = NULL;
  if (!variable->value)
    status = sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "variable '%s' is updated before it was assigned",
                            variable->name);
  if (status == SP_OK) status = sp_graph_binary(context, op, variable->value->tensor, delta, &result);
  if (status == SP_OK && !sp_tensor_same_shape(result, variable->value->tensor))
    status = sp_kernel_fail(context, SP_ERROR_MISMATCH, "the update would change the shape of variable '%s'",
                            variable->name);
  sp_graph_value *value = NULL;
  if (status == SP_OK) {
    value = sp_graph_value_from_tensor(result); /* frees result when it fails */
    result = NULL;
    if (!value) status = SP_ERROR_NO_MEMORY;
  }
  if (status == SP_OK) {
    sp_graph_value *old = variable->value;
    variable->value = sp_graph_value_retain(value);
    sp_graph_value_release(old);
  }
  sp_tensor_free(result);
  pthread_mutex_unlock(&variable->lock);
  if (updated) *updated = value;
  else sp_graph_value_release(value);
  return status;
}

static sp_status assign_add_or_sub(sp_kernel_context *context, const char *op) {
  const sp_tensor *delta;
  SP_TRY(sp_kernel_input(context, 1, &delta));
  sp_graph_value *updated = NULL;
  SP_TRY(update_variable(context, op, delta, context->output_count ? &updated : NULL));
  if (context->output_count) sp_kernel_set_output(context, 0, updated); /* the new value */
  return SP_OK;
}

static sp_status assign_add(sp_kernel_context *context) { return assign_add_or_sub(context, "Add"); }
static sp_status assign_sub(sp_kernel_context *context) { return assign_add_or_sub(context, "Sub"); }

/* var -= alpha * delta */
static sp_status apply_gradient_descent(sp_kernel_context *context) {
  const sp_tensor *alpha, *delta;
  SP_TRY(sp_kernel_input(context, 1, &alpha));
  SP_TRY(sp_kernel_input(context, 2, &delta));
  if (alpha->rank != 0) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "alpha must be a scalar");
  sp_tensor *step;
  SP_TRY(sp_graph_binary(context, "Mul", alpha, delta, &step));
  sp_graph_value *updated = NULL;
  sp_status status = update_variable(context, "Sub", step, context->output_count ? &updated : NULL);
  sp_tensor_free(step);
  SP_TRY(status);
  if (context->output_count) sp_kernel_set_output(context, 0, sp_graph_value_retain(context->inputs[0]));
  sp_graph_value_release(updated);
  return SP_OK;
}

static sp_status is_initialized(sp_kernel_context *context) {
  sp_graph_variable *variable;
  SP_TRY(sp_kernel_input_variable(context, 0, &variable));
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, SP_BOOL, 0, NULL, &out));
  pthread_mutex_lock(&variable->lock);
  ((uint8_t *)out->data)[0] = variable->value != NULL;
  pthread_mutex_unlock(&variable->lock);
  return SP_OK;
}

static sp_status resource_only(sp_kernel_context *context) {
  sp_graph_variable *variable;
  return sp_kernel_input_variable(context, 0, &variable);
}

/* ResourceGather: rows of a variable (axis 0), as Embedding layers read them. */
static sp_status resource_gather(sp_kernel_context *context) {
  sp_graph_variable *variable;
  SP_TRY(sp_kernel_input_variable(context, 0, &variable));
  int64_t batch_dims;
  SP_TRY(sp_kernel_attr_int(context, "batch_dims", 0, &batch_dims));
  if (batch_dims != 0) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "batch_dims %lld", (long long)batch_dims);
  sp_graph_value *value;
  SP_TRY(sp_graph_variable_read(variable, &value));
  const sp_tensor *params = value->tensor, *indices;
  sp_status status = sp_kernel_input(context, 1, &indices);
  int64_t *rows = NULL, row_count = 0;
  if (status == SP_OK) status = sp_kernel_tensor_ints(context, indices, "indices", &rows, &row_count);
  if (status == SP_OK && (params->rank < 1 || indices->rank + params->rank - 1 > SP_MAX_RANK))
    status = sp_kernel_fail(context, SP_ERROR_MISMATCH, "cannot gather from a rank-%d variable", params->rank);
  sp_tensor *out = NULL;
  if (status == SP_OK) {
    int64_t shape[SP_MAX_RANK];
    int rank = 0;
    for (int i = 0; i < indices->rank; i++) shape[rank++] = indices->shape[i];
    for (int i = 1; i < params->rank; i++) shape[rank++] = params->shape[i];
    status = sp_kernel_output_new(context, 0, params->dtype, rank, shape, &out);
  }
  int64_t inner = 1;
  for (int i = 1; status == SP_OK && i < params->rank; i++) inner *= params->shape[i];
  for (int64_t r = 0; status == SP_OK && r < row_count; r++) {
    if (rows[r] < 0 || rows[r] >= params->shape[0]) {
      status = sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "index %lld is outside [0, %lld)", (long long)rows[r],
                              (long long)params->shape[0]);
      break;
    }
    for (int64_t j = 0; j < inner && status == SP_OK; j++)
      status = sp_tensor_copy_element(out, r * inner + j, params, rows[r] * inner + j);
  }
  free(rows);
  sp_graph_value_release(value);
  return status;
}

const sp_op sp_graph_ops_variables[] = {
    {"VariableV2", variable_v2, NULL, 0},
    {"Variable", variable_v2, NULL, 0},
    {"VarHandleOp", var_handle, NULL, 0},
    {"ReadVariableOp", read_variable, NULL, 0},
    {"AssignVariableOp", assign_variable, "", SP_OP_SIDE_EFFECT},
    {"Assign", assign_variable, NULL, SP_OP_SIDE_EFFECT},
    {"AssignAddVariableOp", assign_add, "", SP_OP_SIDE_EFFECT},
    {"AssignSubVariableOp", assign_sub, "", SP_OP_SIDE_EFFECT},
    {"AssignAdd", assign_add, NULL, SP_OP_SIDE_EFFECT},
    {"AssignSub", assign_sub, NULL, SP_OP_SIDE_EFFECT},
    {"ApplyGradientDescent", apply_gradient_descent, NULL, SP_OP_SIDE_EFFECT},
    {"ResourceApplyGradientDescent", apply_gradient_descent, "", SP_OP_SIDE_EFFECT},
    {"VarIsInitializedOp", is_initialized, NULL, 0},
    {"IsVariableInitialized", is_initialized, NULL, 0},
    {"DisableCopyOnRead", resource_only, "", 0},
    {"DestroyResourceOp", resource_only, "", 0},
    {"ResourceGather", resource_gather, NULL, 0},
    {NULL, NULL, NULL, 0},
};
