/* kernel.c — values, variables and the helpers kernels use (see kernel.h). */
#include "graph/kernel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"

/* ---------- values ---------- */

sp_graph_value *sp_graph_value_from_tensor(sp_tensor *tensor) {
  if (!tensor) return NULL;
  sp_graph_value *value = sp_alloc_zeroed(1, sizeof *value);
  if (!value) {
    sp_tensor_free(tensor);
    return NULL;
  }
  atomic_init(&value->references, 1);
  value->tensor = tensor;
  return value;
}

sp_graph_value *sp_graph_value_for_variable(sp_graph_variable *variable, int is_reference) {
  sp_graph_value *value = sp_alloc_zeroed(1, sizeof *value);
  if (!value) return NULL;
  atomic_init(&value->references, 1);
  value->variable = variable;
  value->is_reference = is_reference;
  return value;
}

void sp_graph_value_release(sp_graph_value *value) {
  if (!value) return;
  if (atomic_fetch_sub_explicit(&value->references, 1, memory_order_acq_rel) != 1) return;
  sp_tensor_free(value->tensor);
  free(value);
}

sp_status sp_graph_variable_read(sp_graph_variable *variable, sp_graph_value **value) {
  pthread_mutex_lock(&variable->lock);
  *value = sp_graph_value_retain(variable->value);
  pthread_mutex_unlock(&variable->lock);
  if (!*value)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "variable '%s' is read before it was assigned (was it restored from "
                   "variables/?)", variable->name);
  return SP_OK;
}

void sp_graph_variable_assign(sp_graph_variable *variable, sp_graph_value *value) {
  pthread_mutex_lock(&variable->lock);
  sp_graph_value *old = variable->value;
  variable->value = value;
  pthread_mutex_unlock(&variable->lock);
  sp_graph_value_release(old);
}

/* ---------- failing ---------- */

sp_status sp_kernel_fail(const sp_kernel_context *context, sp_status status, const char *format, ...) {
  char message[1024];
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(message, sizeof message, format, arguments);
  va_end(arguments);
  return sp_fail(status, "%s node '%s': %s", context->node->op, context->node->name, message);
}

/* ---------- inputs ---------- */

sp_status sp_kernel_input(sp_kernel_context *context, size_t index, const sp_tensor **tensor) {
  if (index >= context->input_count)
    return sp_kernel_fail(context, SP_ERROR_FORMAT, "expects at least %zu inputs, has %zu", index + 1,
                          context->input_count);
  sp_graph_value *value = context->inputs[index];
  if (value->tensor) {
    *tensor = value->tensor;
    return SP_OK;
  }
  if (!value->is_reference)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "input %zu is a resource handle, not a tensor", index);
  SP_TRY(SP_RESERVE(context->borrowed, context->borrowed_capacity, context->borrowed_count + 1));
  sp_graph_value *snapshot;
  SP_TRY(sp_graph_variable_read(value->variable, &snapshot));
  context->borrowed[context->borrowed_count++] = snapshot;
  *tensor = snapshot->tensor;
  return SP_OK;
}

sp_status sp_kernel_input_typed(sp_kernel_context *context, size_t index, sp_dtype dtype, const sp_tensor **tensor) {
  SP_TRY(sp_kernel_input(context, index, tensor));
  if ((*tensor)->dtype != dtype)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "input %zu must be %s, found %s", index, sp_dtype_name(dtype),
                          sp_dtype_name((*tensor)->dtype));
  return SP_OK;
}

sp_status sp_kernel_input_variable(sp_kernel_context *context, size_t index, sp_graph_variable **variable) {
  if (index >= context->input_count)
    return sp_kernel_fail(context, SP_ERROR_FORMAT, "expects at least %zu inputs, has %zu", index + 1,
                          context->input_count);
  sp_graph_value *value = context->inputs[index];
  if (!value->variable)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "input %zu must be a variable (a resource handle or a reference)",
                          index);
  *variable = value->variable;
  return SP_OK;
}

int64_t sp_tensor_get_int(const sp_tensor *tensor, int64_t index) {
  const void *data = tensor->data;
  switch (tensor->dtype) {
    case SP_INT64: return ((const int64_t *)data)[index];
    case SP_INT32: return ((const int32_t *)data)[index];
    case SP_INT16: return ((const int16_t *)data)[index];
    case SP_INT8: return ((const int8_t *)data)[index];
    case SP_UINT8: return ((const uint8_t *)data)[index];
    case SP_UINT16: return ((const uint16_t *)data)[index];
    case SP_UINT32: return ((const uint32_t *)data)[index];
    case SP_UINT64: return (int64_t)((const uint64_t *)data)[index];
    case SP_BOOL: return ((const uint8_t *)data)[index] != 0;
    default: return (int64_t)sp_tensor_get_double(tensor, index);
  }
}

void sp_tensor_set_int(sp_tensor *tensor, int64_t index, int64_t value) {
  void *data = tensor->data;
  switch (tensor->dtype) {
    case SP_INT64: ((int64_t *)data)[index] = value; break;
    case SP_INT32: ((int32_t *)data)[index] = (int32_t)value; break;
    case SP_INT16: ((int16_t *)data)[index] = (int16_t)value; break;
    case SP_INT8: ((int8_t *)data)[index] = (int8_t)value; break;
    case SP_UINT8: ((uint8_t *)data)[index] = (uint8_t)value; break;
    case SP_UINT16: ((uint16_t *)data)[index] = (uint16_t)value; break;
    case SP_UINT32: ((uint32_t *)data)[index] = (uint32_t)value; break;
    case SP_UINT64: ((uint64_t *)data)[index] = (uint64_t)value; break;
    case SP_BOOL: ((uint8_t *)data)[index] = value != 0; break;
    default: sp_tensor_set_double(tensor, index, (double)value); break;
  }
}

void sp_index_advance(int rank, const int64_t *shape, int64_t *counter) {
  for (int d = rank - 1; d >= 0; d--) {
    if (++counter[d] < shape[d]) return;
    counter[d] = 0;
  }
}

int sp_dtype_is_float(sp_dtype dtype) {
  return dtype == SP_FLOAT32 || dtype == SP_FLOAT64 || dtype == SP_FLOAT16 || dtype == SP_BFLOAT16;
}

int sp_dtype_is_integer(sp_dtype dtype) {
  return dtype == SP_INT8 || dtype == SP_INT16 || dtype == SP_INT32 || dtype == SP_INT64 || dtype == SP_UINT8 ||
         dtype == SP_UINT16 || dtype == SP_UINT32 || dtype == SP_UINT64;
}

sp_status sp_kernel_tensor_ints(sp_kernel_context *context, const sp_tensor *tensor, const char *what,
                                int64_t **values, int64_t *count) {
  if (tensor->dtype != SP_INT32 && tensor->dtype != SP_INT64)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "%s must be int32 or int64, found %s", what,
                          sp_dtype_name(tensor->dtype));
  *count = sp_tensor_count(tensor);
  *values = sp_alloc_zeroed((size_t)*count + 1, sizeof **values);
  if (!*values) return SP_ERROR_NO_MEMORY;
  for (int64_t i = 0; i < *count; i++) (*values)[i] = sp_tensor_get_int(tensor, i);
  return SP_OK;
}

sp_status sp_kernel_input_ints(sp_kernel_context *context, size_t index, int64_t *values, size_t capacity,
                               size_t *count) {
  const sp_tensor *tensor;
  SP_TRY(sp_kernel_input(context, index, &tensor));
  if (tensor->dtype != SP_INT32 && tensor->dtype != SP_INT64)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "input %zu must be int32 or int64, found %s", index,
                          sp_dtype_name(tensor->dtype));
  if (tensor->rank > 1)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "input %zu must be a scalar or a vector, has rank %d", index,
                          tensor->rank);
  int64_t n = sp_tensor_count(tensor);
  if ((uint64_t)n > capacity)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "input %zu has %lld values, at most %zu allowed", index,
                          (long long)n, capacity);
  for (int64_t i = 0; i < n; i++) values[i] = sp_tensor_get_int(tensor, i);
  *count = (size_t)n;
  return SP_OK;
}

/* ---------- outputs ---------- */

sp_status sp_kernel_check_shape(const sp_kernel_context *context, sp_dtype dtype, int rank, const int64_t *shape) {
  int64_t count;
  sp_status status = sp_shape_count(rank, shape, &count);
  if (status != SP_OK) return sp_kernel_fail(context, status, "%s", sp_last_error());
  size_t bytes;
  size_t element = sp_dtype_size(dtype);
  if (element == 0) return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "dtype %d is not supported", (int)dtype);
  if (!sp_multiply_size((size_t)count, element, &bytes) || bytes > context->limits->max_tensor_bytes) {
    char text[160];
    return sp_kernel_fail(context, SP_ERROR_UNSAFE, "an output of shape %s is over the %zu-byte limit",
                          sp_shape_format(rank, shape, text, sizeof text), context->limits->max_tensor_bytes);
  }
  return SP_OK;
}

void sp_kernel_set_output(sp_kernel_context *context, size_t index, sp_graph_value *value) {
  if (index >= context->output_count) { /* the executor reports the missing outputs */
    sp_graph_value_release(value);
    return;
  }
  sp_graph_value_release(context->outputs[index]);
  context->outputs[index] = value;
}

sp_status sp_kernel_output_tensor(sp_kernel_context *context, size_t index, sp_tensor *tensor) {
  if (index >= context->output_count) {
    sp_tensor_free(tensor);
    return sp_kernel_fail(context, SP_ERROR_INTERNAL, "output %zu is beyond the node's %zu outputs", index,
                          context->output_count);
  }
  sp_graph_value *value = sp_graph_value_from_tensor(tensor);
  if (!value) return SP_ERROR_NO_MEMORY;
  sp_kernel_set_output(context, index, value);
  return SP_OK;
}

sp_status sp_kernel_output_new(sp_kernel_context *context, size_t index, sp_dtype dtype, int rank,
                               const int64_t *shape, sp_tensor **tensor) {
  SP_TRY(sp_kernel_check_shape(context, dtype, rank, shape));
  sp_tensor *created = sp_tensor_new(dtype, rank, shape);
  if (!created) return SP_ERROR_NO_MEMORY;
  SP_TRY(sp_kernel_output_tensor(context, index, created));
  *tensor = created;
  return SP_OK;
}

sp_status sp_kernel_forward(sp_kernel_context *context, size_t output_index, size_t input_index) {
  if (input_index >= context->input_count || output_index >= context->output_count)
    return sp_kernel_fail(context, SP_ERROR_FORMAT, "has %zu inputs and %zu outputs", context->input_count,
                          context->output_count);
  sp_kernel_set_output(context, output_index, sp_graph_value_retain(context->inputs[input_index]));
  return SP_OK;
}

sp_status sp_tensor_copy_element(sp_tensor *target, int64_t to, const sp_tensor *source, int64_t from) {
  if (target->dtype != source->dtype) /* a safety net: kernels check dtypes before copying */
    return sp_fail(SP_ERROR_MISMATCH, "cannot copy a %s element into a %s tensor", sp_dtype_name(source->dtype),
                   sp_dtype_name(target->dtype));
  if (target->dtype == SP_STRING) {
    const sp_string *value = &((const sp_string *)source->data)[from];
    return sp_tensor_set_string(target, to, value->bytes, value->length);
  }
  size_t size = sp_dtype_size(target->dtype);
  memcpy((char *)target->data + (size_t)to * size, (const char *)source->data + (size_t)from * size, size);
  return SP_OK;
}

/* ---------- attrs ---------- */

const Tensorflow__AttrValue *sp_kernel_attr(const sp_kernel_context *context, const char *name) {
  return sp_node_attr(context->node, name);
}

static sp_status attr_kind_error(const sp_kernel_context *context, const char *name, const char *kind) {
  return sp_kernel_fail(context, SP_ERROR_FORMAT, "attr '%s' must be %s", name, kind);
}

sp_status sp_kernel_attr_int(const sp_kernel_context *context, const char *name, int64_t fallback, int64_t *value) {
  const Tensorflow__AttrValue *attr = sp_kernel_attr(context, name);
  if (!attr) {
    *value = fallback;
    return SP_OK;
  }
  if (attr->value_case != TENSORFLOW__ATTR_VALUE__VALUE_I) return attr_kind_error(context, name, "an int");
  *value = attr->i;
  return SP_OK;
}

sp_status sp_kernel_attr_float(const sp_kernel_context *context, const char *name, double fallback, double *value) {
  const Tensorflow__AttrValue *attr = sp_kernel_attr(context, name);
  if (!attr) {
    *value = fallback;
    return SP_OK;
  }
  if (attr->value_case != TENSORFLOW__ATTR_VALUE__VALUE_F) return attr_kind_error(context, name, "a float");
  *value = attr->f;
  return SP_OK;
}

sp_status sp_kernel_attr_bool(const sp_kernel_context *context, const char *name, int fallback, int *value) {
  const Tensorflow__AttrValue *attr = sp_kernel_attr(context, name);
  if (!attr) {
    *value = fallback;
    return SP_OK;
  }
  if (attr->value_case != TENSORFLOW__ATTR_VALUE__VALUE_B) return attr_kind_error(context, name, "a bool");
  *value = attr->b;
  return SP_OK;
}

sp_status sp_kernel_attr_type(const sp_kernel_context *context, const char *name, sp_dtype fallback, sp_dtype *value) {
  const Tensorflow__AttrValue *attr = sp_kernel_attr(context, name);
  if (!attr) {
    *value = fallback;
    return SP_OK;
  }
  if (attr->value_case != TENSORFLOW__ATTR_VALUE__VALUE_TYPE) return attr_kind_error(context, name, "a type");
  *value = (sp_dtype)attr->type;
  return SP_OK;
}

sp_status sp_kernel_attr_string(const sp_kernel_context *context, const char *name, const char *fallback, char *out,
                                size_t capacity) {
  const Tensorflow__AttrValue *attr = sp_kernel_attr(context, name);
  const char *text = fallback;
  size_t length = strlen(fallback);
  if (attr) {
    if (attr->value_case != TENSORFLOW__ATTR_VALUE__VALUE_S) return attr_kind_error(context, name, "a string");
    if (attr->s.len && memchr(attr->s.data, 0, attr->s.len))
      return attr_kind_error(context, name, "a string without NUL bytes");
    text = (const char *)attr->s.data;
    length = attr->s.len;
  }
  if (length >= capacity)
    return sp_kernel_fail(context, SP_ERROR_FORMAT, "attr '%s' is longer than %zu bytes", name, capacity - 1);
  if (length) memcpy(out, text, length);
  out[length] = '\0';
  return SP_OK;
}

sp_status sp_kernel_attr_ints(const sp_kernel_context *context, const char *name, int64_t *values, size_t capacity,
                              size_t *count) {
  const Tensorflow__AttrValue *attr = sp_kernel_attr(context, name);
  *count = 0;
  if (!attr) return SP_OK;
  if (attr->value_case != TENSORFLOW__ATTR_VALUE__VALUE_LIST) return attr_kind_error(context, name, "a list of ints");
  if (attr->list->n_i > capacity)
    return sp_kernel_fail(context, SP_ERROR_FORMAT, "attr '%s' has %zu values, at most %zu allowed", name,
                          attr->list->n_i, capacity);
  for (size_t i = 0; i < attr->list->n_i; i++) values[i] = attr->list->i[i];
  *count = attr->list->n_i;
  return SP_OK;
}
