/* json_tensor.c — JSON request bodies to tensors and tensors to JSON responses, by TF Serving's
 * rules (see json_tensor.h; S:util/json_tensor.cc read for the facts: key names, the row and
 * columnar layouts, number formatting, the "_bytes" suffix, the tf.Example mapping).
 *
 * Guarantees: a tensor is allocated only after its shape has been inferred from the document and
 * counted with overflow checks (the document is already bounded by the body limit); every list
 * is checked against the inferred shape before an element is written, so a ragged or
 * over-nested list is an error, never an out-of-bounds write.
 */
#include "serve/json_tensor.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/file.h"
#include "core/memory.h"
#include "example.pb-c.h"

/* ---------- small helpers ---------- */

void sp_named_tensors_free(sp_named_tensors *tensors) {
  for (size_t i = 0; tensors->tensors && i < tensors->count; i++) sp_tensor_free(tensors->tensors[i]);
  free(tensors->tensors);
  free(tensors->keys);
  memset(tensors, 0, sizeof *tensors);
}

static sp_status named_tensors_init(sp_named_tensors *tensors, size_t count) {
  tensors->count = count;
  tensors->keys = sp_alloc_zeroed(count + 1, sizeof *tensors->keys);
  tensors->tensors = sp_alloc_zeroed(count + 1, sizeof *tensors->tensors);
  return tensors->keys && tensors->tensors ? SP_OK : SP_ERROR_NO_MEMORY;
}

static int is_base64_object(const sp_json_node *node) {
  return node->type == SP_JSON_OBJECT && node->length == 1 && node->value.members[0].key_length == 3 &&
         memcmp(node->value.members[0].key, "b64", 3) == 0 && node->value.members[0].node.type == SP_JSON_STRING;
}

static const char *preview(const sp_json_node *node, char *out, size_t capacity) {
  return sp_json_node_preview(node, out, capacity);
}

static const char *data_type_name(int dtype) { return sp_dtype_tf_name((sp_dtype)sp_data_type_value(dtype)); }

/* ---------- request: one JSON value into one tensor element ---------- */

typedef struct fill_context {
  const char *input; /* the signature key, for messages */
  sp_tensor *tensor;
  int64_t index; /* next element */
  int64_t end;   /* one past the last element this value may write */
} fill_context;

static sp_status type_error(const fill_context *context, const sp_json_node *node) {
  char text[96];
  return sp_fail(SP_ERROR_INVALID_ARGUMENT, "input '%s': JSON Value: %s Type: %s is not of expected type: %s",
                 context->input, preview(node, text, sizeof text), sp_json_type_name(node),
                 sp_dtype_tf_name(context->tensor->dtype));
}

static sp_status range_error(const fill_context *context, const sp_json_node *node) {
  char text[96];
  return sp_fail(SP_ERROR_INVALID_ARGUMENT, "input '%s': JSON Value: %s is out of range for %s", context->input,
                 preview(node, text, sizeof text), sp_dtype_tf_name(context->tensor->dtype));
}

static sp_status lossy_error(const fill_context *context, const sp_json_node *node, const char *target) {
  char text[96];
  return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                 "input '%s': Cannot convert JSON value: %s to %s without loss of precision.", context->input,
                 preview(node, text, sizeof text), target);
}

/* The value of a float-typed element; integers beyond the type's exact range and finite decimals
 * beyond its largest value are refused, as TF Serving's IsLosslessDecimal does. */
static sp_status decimal_value(const fill_context *context, const sp_json_node *node, int single, double *value) {
  if (node->type != SP_JSON_NUMBER) return type_error(context, node);
  const int64_t exact = single ? INT64_C(1) << 24 : INT64_C(1) << 53; /* every integer up to here is representable */
  const double largest = single ? FLT_MAX : DBL_MAX;
  *value = sp_json_node_double(node);
  const char *target = single ? "float" : "double";
  if (node->number_kind == SP_JSON_INTEGER && (node->value.integer > exact || node->value.integer < -exact))
    return lossy_error(context, node, target);
  if (node->number_kind == SP_JSON_UNSIGNED) return lossy_error(context, node, target);
  if (node->number_kind == SP_JSON_DECIMAL && fabs(*value) > largest) return lossy_error(context, node, target);
  return SP_OK;
}

static sp_status integer_value(const fill_context *context, const sp_json_node *node, int64_t minimum, int64_t maximum,
                               int64_t *value) {
  if (node->type != SP_JSON_NUMBER || node->number_kind == SP_JSON_DECIMAL || node->number_kind >= SP_JSON_NAN)
    return type_error(context, node);
  if (node->number_kind == SP_JSON_UNSIGNED || node->value.integer < minimum || node->value.integer > maximum)
    return range_error(context, node);
  *value = node->value.integer;
  return SP_OK;
}

static sp_status unsigned_value(const fill_context *context, const sp_json_node *node, uint64_t maximum,
                                uint64_t *value) {
  if (node->type != SP_JSON_NUMBER || node->number_kind == SP_JSON_DECIMAL || node->number_kind >= SP_JSON_NAN)
    return type_error(context, node);
  if (node->number_kind == SP_JSON_INTEGER && node->value.integer < 0) return range_error(context, node);
  uint64_t number =
      node->number_kind == SP_JSON_UNSIGNED ? node->value.unsigned_integer : (uint64_t)node->value.integer;
  if (number > maximum) return range_error(context, node);
  *value = number;
  return SP_OK;
}

static sp_status string_value(const fill_context *context, const sp_json_node *node, int64_t index) {
  if (node->type == SP_JSON_STRING)
    return sp_tensor_set_string(context->tensor, index, node->value.string, node->length);
  if (node->type != SP_JSON_OBJECT) return type_error(context, node);
  char text[96];
  if (!is_base64_object(node))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "input '%s': JSON Value: %s not formatted correctly for base64 data",
                   context->input, preview(node, text, sizeof text));
  const sp_json_node *encoded = &node->value.members[0].node;
  unsigned char *decoded = sp_alloc(sp_base64_decoded_capacity(encoded->length));
  if (!decoded) return SP_ERROR_NO_MEMORY;
  size_t size = 0;
  sp_status status = sp_base64_decode(encoded->value.string, encoded->length, decoded, &size);
  if (status != SP_OK)
    status = sp_error_context(status, "input '%s': Unable to base64 decode", context->input);
  else
    status = sp_tensor_set_string(context->tensor, index, decoded, size);
  free(decoded);
  return status;
}

static sp_status set_element(fill_context *context, const sp_json_node *node) {
  sp_tensor *tensor = context->tensor;
  int64_t i = context->index;
  double decimal;
  int64_t integer;
  uint64_t natural;
  switch (tensor->dtype) {
    case SP_FLOAT32:
      SP_TRY(decimal_value(context, node, 1, &decimal));
      ((float *)tensor->data)[i] = (float)decimal;
      break;
    case SP_FLOAT64:
      SP_TRY(decimal_value(context, node, 0, &decimal));
      ((double *)tensor->data)[i] = decimal;
      break;
    case SP_FLOAT16:
    case SP_BFLOAT16:
      SP_TRY(decimal_value(context, node, 1, &decimal));
      ((uint16_t *)tensor->data)[i] =
          tensor->dtype == SP_FLOAT16 ? sp_float_to_half((float)decimal) : sp_float_to_bfloat16((float)decimal);
      break;
    case SP_INT8:
      SP_TRY(integer_value(context, node, INT8_MIN, INT8_MAX, &integer));
      ((int8_t *)tensor->data)[i] = (int8_t)integer;
      break;
    case SP_INT16:
      SP_TRY(integer_value(context, node, INT16_MIN, INT16_MAX, &integer));
      ((int16_t *)tensor->data)[i] = (int16_t)integer;
      break;
    case SP_INT32:
      SP_TRY(integer_value(context, node, INT32_MIN, INT32_MAX, &integer));
      ((int32_t *)tensor->data)[i] = (int32_t)integer;
      break;
    case SP_INT64:
      SP_TRY(integer_value(context, node, INT64_MIN, INT64_MAX, &integer));
      ((int64_t *)tensor->data)[i] = integer;
      break;
    case SP_UINT8:
      SP_TRY(unsigned_value(context, node, UINT8_MAX, &natural));
      ((uint8_t *)tensor->data)[i] = (uint8_t)natural;
      break;
    case SP_UINT16:
      SP_TRY(unsigned_value(context, node, UINT16_MAX, &natural));
      ((uint16_t *)tensor->data)[i] = (uint16_t)natural;
      break;
    case SP_UINT32:
      SP_TRY(unsigned_value(context, node, UINT32_MAX, &natural));
      ((uint32_t *)tensor->data)[i] = (uint32_t)natural;
      break;
    case SP_UINT64:
      SP_TRY(unsigned_value(context, node, UINT64_MAX, &natural));
      ((uint64_t *)tensor->data)[i] = natural;
      break;
    case SP_BOOL:
      if (node->type != SP_JSON_TRUE && node->type != SP_JSON_FALSE) return type_error(context, node);
      ((uint8_t *)tensor->data)[i] = node->type == SP_JSON_TRUE;
      break;
    case SP_STRING: SP_TRY(string_value(context, node, i)); break;
    default:
      return sp_fail(SP_ERROR_UNSUPPORTED, "input '%s': conversion of JSON values to %s is not supported",
                     context->input, sp_dtype_tf_name(tensor->dtype));
  }
  context->index++;
  return SP_OK;
}

/* ---------- request: nested lists into a tensor ---------- */

typedef struct shape {
  int rank;
  int64_t dims[SP_MAX_RANK];
} shape;

static const char *format_shape(const shape *value, char *out, size_t capacity) {
  return sp_shape_format(value->rank, value->dims, out, capacity);
}

/* The shape of a nested list, following first elements (as TF Serving does); the rest is
 * checked while filling. max_rank leaves room for the batch dimension in the row format. */
static sp_status infer_shape(const sp_json_node *node, int max_rank, const char *input, shape *result) {
  result->rank = 0;
  while (node->type == SP_JSON_ARRAY) {
    if (result->rank == max_rank)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                     "input '%s': lists nested deeper than %d levels (a tensor has at most %d dimensions)", input,
                     max_rank, (int)SP_MAX_RANK);
    result->dims[result->rank++] = node->length;
    if (node->length == 0) break;
    node = &node->value.items[0];
  }
  return SP_OK;
}

/* Checks that node is a rectangular nest of lists of the expected shape (TF Serving's level and
 * size rules) before anything is allocated, so a tensor's size is always backed by values that
 * are really in the document. */
static sp_status check_structure(const char *input, const sp_json_node *node, int level, const shape *expected) {
  if (node->type != SP_JSON_ARRAY) {
    if (level == expected->rank) return SP_OK;
    char text[96];
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "input '%s': JSON Value: %s found at incorrect level: %d in the JSON DOM. Expected at level: %d",
                   input, preview(node, text, sizeof text), level + 1, expected->rank);
  }
  if (level >= expected->rank)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "input '%s': Encountered list at unexpected level: %d expected < %d",
                   input, level, expected->rank);
  if ((int64_t)node->length != expected->dims[level])
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "input '%s': Encountered list at unexpected size: %u at level: %d expected size: %" PRId64
                   " (lists must be rectangular)",
                   input, node->length, level, expected->dims[level]);
  for (uint32_t i = 0; i < node->length; i++)
    SP_TRY(check_structure(input, &node->value.items[i], level + 1, expected));
  return SP_OK;
}

/* Writes the leaves of a checked structure, in row-major order. */
static sp_status fill(fill_context *context, const sp_json_node *node) {
  if (node->type != SP_JSON_ARRAY) {
    if (context->index >= context->end)
      return sp_fail(SP_ERROR_INTERNAL, "input '%s': more values than the shape holds", context->input);
    return set_element(context, node);
  }
  for (uint32_t i = 0; i < node->length; i++) SP_TRY(fill(context, &node->value.items[i]));
  return SP_OK;
}

static sp_status new_input_tensor(const sp_tensor_spec *spec, int rank, const int64_t *dims, sp_tensor **tensor) {
  int dtype = sp_data_type_value(spec->dtype);
  if (sp_dtype_size((sp_dtype)dtype) == 0 || dtype == SP_COMPLEX64 || dtype == SP_COMPLEX128)
    return sp_fail(SP_ERROR_UNSUPPORTED, "input '%s' has dtype %s, which JSON cannot carry", spec->key,
                   data_type_name(spec->dtype));
  *tensor = sp_tensor_new((sp_dtype)dtype, rank, dims);
  return *tensor ? SP_OK : sp_error_context(sp_last_status(), "input '%s'", spec->key);
}

/* The columnar form of one input: the value is the whole tensor. */
static sp_status columnar_tensor(const sp_json_node *value, const sp_tensor_spec *spec, sp_tensor **tensor) {
  shape expected;
  SP_TRY(infer_shape(value, SP_MAX_RANK, spec->key, &expected));
  SP_TRY(check_structure(spec->key, value, 0, &expected));
  SP_TRY(new_input_tensor(spec, expected.rank, expected.dims, tensor));
  fill_context context = {spec->key, *tensor, 0, sp_tensor_count(*tensor)};
  sp_status status = fill(&context, value);
  if (status != SP_OK) {
    sp_tensor_free(*tensor);
    *tensor = NULL;
  }
  return status;
}

static sp_status columnar_inputs(const sp_json_node *value, const sp_signature *signature, sp_named_tensors *inputs) {
  if (value->type != SP_JSON_OBJECT || is_base64_object(value)) {
    if (signature->input_count != 1)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                     "inputs is a plain value/list, but expecting an object as multiple input tensors required as per "
                     "tensorinfo_map (signature '%s' has %zu inputs)",
                     signature->key, signature->input_count);
    SP_TRY(named_tensors_init(inputs, 1));
    inputs->keys[0] = signature->inputs[0].key;
    return columnar_tensor(value, &signature->inputs[0], &inputs->tensors[0]);
  }
  SP_TRY(named_tensors_init(inputs, signature->input_count));
  for (size_t i = 0; i < signature->input_count; i++) {
    const sp_tensor_spec *spec = &signature->inputs[i];
    const sp_json_node *member = sp_json_node_member(value, spec->key);
    if (!member) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Missing named input: %s in 'inputs' object.", spec->key);
    inputs->keys[i] = spec->key;
    SP_TRY(columnar_tensor(member, spec, &inputs->tensors[i]));
  }
  return SP_OK;
}

/* ---------- request: the row format ---------- */

static int is_instance_object(const sp_json_node *node) {
  return node->type == SP_JSON_OBJECT && !is_base64_object(node);
}

/* The value of input spec in instance row (objects: its member; plain values: the row). */
static sp_status instance_value(const sp_json_node *row, const sp_signature *signature, const sp_tensor_spec *spec,
                                size_t row_index, int objects, const sp_json_node **value) {
  if (!objects) {
    if (is_instance_object(row))
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Expecting value/list but got object at item %zu of input list",
                     row_index);
    *value = row;
    return SP_OK;
  }
  if (!is_instance_object(row))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Expecting object but got list at item %zu of input list", row_index);
  for (uint32_t m = 0; m < row->length; m++) {
    const sp_json_member *member = &row->value.members[m];
    if (!sp_tensor_spec_find(signature->inputs, signature->input_count, member->key))
      return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                     "Failed to process element: %zu key: %s of 'instances' list. Error: '%s' is not an input of "
                     "signature '%s'",
                     row_index, member->key, member->key, signature->key);
  }
  *value = sp_json_node_member(row, spec->key);
  if (*value && row->length == signature->input_count) return SP_OK;
  const char *missing = NULL;
  for (size_t i = 0; i < signature->input_count && !missing; i++)
    if (!sp_json_node_member(row, signature->inputs[i].key)) missing = signature->inputs[i].key;
  return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                 "Failed to process element: %zu of 'instances' list. JSON object keys must be equal to the inputs of "
                 "signature '%s' (%s%s)",
                 row_index, signature->key, missing ? "missing: " : "a key is repeated", missing ? missing : "");
}

static sp_status shape_mismatch(uint32_t row, const char *input, const shape *expected, const shape *found) {
  char wanted[128], got[128];
  int64_t expected_count = 0, found_count = 0;
  int counted = sp_shape_count(expected->rank, expected->dims, &expected_count) == SP_OK &&
                sp_shape_count(found->rank, found->dims, &found_count) == SP_OK;
  if (counted && expected_count != found_count)
    return sp_fail(
        SP_ERROR_INVALID_ARGUMENT,
        "Failed to process element: %u of 'instances' list. Error: input '%s': Expecting tensor size: %" PRId64
        " but got: %" PRId64 " (every instance must have the same shape, here %s)",
        row, input, expected_count, found_count, format_shape(expected, wanted, sizeof wanted));
  return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                 "Failed to process element: %u of 'instances' list. Error: input '%s': Expecting shape %s but got: %s "
                 "(every instance must have the same shape)",
                 row, input, format_shape(expected, wanted, sizeof wanted), format_shape(found, got, sizeof got));
}

/* Checks every instance of one input against the first's shape. */
static sp_status check_rows(const sp_json_node *instances, const sp_signature *signature, const sp_tensor_spec *spec,
                            int objects, const shape *row_shape) {
  for (uint32_t row = 0; row < instances->length; row++) {
    const sp_json_node *value = NULL;
    shape found;
    sp_status status = instance_value(&instances->value.items[row], signature, spec, row, objects, &value);
    if (status == SP_OK) status = infer_shape(value, SP_MAX_RANK - 1, spec->key, &found);
    if (status == SP_OK && (found.rank != row_shape->rank ||
                            memcmp(found.dims, row_shape->dims, sizeof *found.dims * (size_t)found.rank) != 0))
      return shape_mismatch(row, spec->key, row_shape, &found);
    if (status == SP_OK) status = check_structure(spec->key, value, 0, row_shape);
    if (status != SP_OK && !strstr(sp_last_error(), "'instances' list"))
      status = sp_error_context(status, "Failed to process element: %u of 'instances' list. Error", row);
    SP_TRY(status);
  }
  return SP_OK;
}

static sp_status row_tensor(const sp_json_node *instances, const sp_signature *signature, const sp_tensor_spec *spec,
                            int objects, sp_tensor **tensor) {
  const sp_json_node *first;
  SP_TRY(instance_value(&instances->value.items[0], signature, spec, 0, objects, &first));
  shape row_shape;
  SP_TRY(infer_shape(first, SP_MAX_RANK - 1, spec->key, &row_shape));
  SP_TRY(check_rows(instances, signature, spec, objects, &row_shape));
  int64_t dims[SP_MAX_RANK] = {instances->length};
  memcpy(dims + 1, row_shape.dims, sizeof *dims * (size_t)row_shape.rank);
  SP_TRY(new_input_tensor(spec, row_shape.rank + 1, dims, tensor));
  int64_t per_row = instances->length ? sp_tensor_count(*tensor) / instances->length : 0;
  sp_status status = SP_OK;
  for (uint32_t row = 0; status == SP_OK && row < instances->length; row++) {
    const sp_json_node *value = NULL;
    status = instance_value(&instances->value.items[row], signature, spec, row, objects, &value);
    fill_context context = {spec->key, *tensor, (int64_t)row * per_row, (int64_t)(row + 1) * per_row};
    if (status == SP_OK) status = fill(&context, value);
    if (status != SP_OK && !strstr(sp_last_error(), "'instances' list"))
      status = sp_error_context(status, "Failed to process element: %u of 'instances' list. Error", row);
  }
  if (status != SP_OK) {
    sp_tensor_free(*tensor);
    *tensor = NULL;
  }
  return status;
}

static sp_status row_inputs(const sp_json_node *instances, const sp_signature *signature, sp_named_tensors *inputs) {
  if (instances->type != SP_JSON_ARRAY)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Excepting 'instances' to be an list/array");
  if (instances->length == 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "No values in 'instances' array");
  int objects = is_instance_object(&instances->value.items[0]);
  if (!objects && signature->input_count > 1)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
                   "tensorinfo_map (signature '%s' has %zu inputs)",
                   signature->key, signature->input_count);
  SP_TRY(named_tensors_init(inputs, signature->input_count));
  for (size_t i = 0; i < signature->input_count; i++) {
    inputs->keys[i] = signature->inputs[i].key;
    SP_TRY(row_tensor(instances, signature, &signature->inputs[i], objects, &inputs->tensors[i]));
  }
  return SP_OK;
}

sp_status sp_json_request_signature(const sp_json_node *root, const char **name) {
  *name = NULL;
  if (root->type != SP_JSON_OBJECT) {
    char text[96];
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "JSON Value: %s Is not object", preview(root, text, sizeof text));
  }
  const sp_json_node *signature = sp_json_node_member(root, "signature_name");
  if (!signature) return SP_OK;
  if (signature->type != SP_JSON_STRING)
    return sp_fail(
        SP_ERROR_INVALID_ARGUMENT,
        "JSON Value: 'signature_name' not formatted correctly. 'signature_name' key must be a string value.");
  *name = signature->value.string;
  return SP_OK;
}

sp_status sp_json_predict_inputs(const sp_json_node *root, const sp_signature *signature, sp_predict_format *format,
                                 sp_named_tensors *inputs) {
  memset(inputs, 0, sizeof *inputs);
  const sp_json_node *instances = sp_json_node_member(root, "instances"),
                     *columns = sp_json_node_member(root, "inputs");
  if (instances && columns)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist");
  if (!instances && !columns) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Missing 'inputs' or 'instances' key");
  *format = instances ? SP_PREDICT_ROW : SP_PREDICT_COLUMNAR;
  if (signature->input_count == 0) {
    /* TF Serving refuses signatures without inputs; an empty "inputs" object runs them here. */
    if (columns && columns->type == SP_JSON_OBJECT && columns->length == 0) return named_tensors_init(inputs, 0);
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "signature '%s' takes no inputs: send {\"inputs\": {}} to run it",
                   signature->key);
  }
  sp_status status = instances ? row_inputs(instances, signature, inputs) : columnar_inputs(columns, signature, inputs);
  if (status != SP_OK) sp_named_tensors_free(inputs);
  return status;
}

/* ---------- responses ---------- */

void sp_json_format_decimal(double value, int single_precision, char *out, size_t capacity) {
  if (isnan(value)) {
    snprintf(out, capacity, "NaN");
    return;
  }
  if (isinf(value)) {
    snprintf(out, capacity, value < 0 ? "-Infinity" : "Infinity");
    return;
  }
  snprintf(out, capacity, "%g", value);
  int round_trips = single_precision ? strtof(out, NULL) == (float)value : strtod(out, NULL) == value;
  if (!round_trips) snprintf(out, capacity, "%.*g", single_precision ? 9 : 17, value);
  if (!strchr(out, '.') && !strchr(out, 'e')) {
    size_t length = strlen(out);
    if (length + 3 <= capacity) memcpy(out + length, ".0", 3);
  }
}

sp_status sp_json_append_string(sp_buffer *out, const char *text, size_t length) {
  SP_TRY(sp_buffer_reserve(out, length + 2));
  out->data[out->size++] = '"';
  size_t plain = 0;
  for (size_t i = 0; i < length; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    SP_TRY(sp_buffer_append(out, text + plain, i - plain));
    if (c == '"')
      SP_TRY(sp_buffer_append(out, "\\\"", 2));
    else if (c == '\\')
      SP_TRY(sp_buffer_append(out, "\\\\", 2));
    else if (c == '\n')
      SP_TRY(sp_buffer_append(out, "\\n", 2));
    else if (c == '\t')
      SP_TRY(sp_buffer_append(out, "\\t", 2));
    else if (c == '\r')
      SP_TRY(sp_buffer_append(out, "\\r", 2));
    else
      SP_TRY(sp_buffer_printf(out, "\\u%04x", c));
    plain = i + 1;
  }
  SP_TRY(sp_buffer_append(out, text + plain, length - plain));
  return sp_buffer_append(out, "\"", 1);
}

static sp_status append_base64_object(sp_buffer *out, const void *bytes, size_t length) {
  SP_TRY(sp_buffer_append_text(out, "{\"b64\": \""));
  SP_TRY(sp_base64_encode(bytes, length, out));
  return sp_buffer_append_text(out, "\"}");
}

static sp_status append_decimal(sp_buffer *out, double value, int single_precision) {
  char text[40];
  sp_json_format_decimal(value, single_precision, text, sizeof text);
  return sp_buffer_append_text(out, text);
}

static int renderable(sp_dtype dtype) {
  switch (dtype) {
    case SP_FLOAT32:
    case SP_FLOAT64:
    case SP_FLOAT16:
    case SP_BFLOAT16:
    case SP_INT8:
    case SP_INT16:
    case SP_INT32:
    case SP_INT64:
    case SP_UINT8:
    case SP_UINT16:
    case SP_UINT32:
    case SP_UINT64:
    case SP_BOOL:
    case SP_STRING: return 1;
    default: return 0;
  }
}

static sp_status append_element(sp_buffer *out, const sp_tensor *tensor, int64_t i, int as_bytes) {
  const void *data = tensor->data;
  switch (tensor->dtype) {
    case SP_FLOAT32: return append_decimal(out, ((const float *)data)[i], 1);
    case SP_FLOAT64: return append_decimal(out, ((const double *)data)[i], 0);
    case SP_FLOAT16: return append_decimal(out, sp_half_to_float(((const uint16_t *)data)[i]), 1);
    case SP_BFLOAT16: return append_decimal(out, sp_bfloat16_to_float(((const uint16_t *)data)[i]), 1);
    case SP_INT8: return sp_buffer_printf(out, "%d", ((const int8_t *)data)[i]);
    case SP_INT16: return sp_buffer_printf(out, "%d", ((const int16_t *)data)[i]);
    case SP_INT32: return sp_buffer_printf(out, "%" PRId32, ((const int32_t *)data)[i]);
    case SP_INT64: return sp_buffer_printf(out, "%" PRId64, ((const int64_t *)data)[i]);
    case SP_UINT8: return sp_buffer_printf(out, "%u", ((const uint8_t *)data)[i]);
    case SP_UINT16: return sp_buffer_printf(out, "%u", ((const uint16_t *)data)[i]);
    case SP_UINT32: return sp_buffer_printf(out, "%" PRIu32, ((const uint32_t *)data)[i]);
    case SP_UINT64: return sp_buffer_printf(out, "%" PRIu64, ((const uint64_t *)data)[i]);
    case SP_BOOL: return sp_buffer_append_text(out, ((const uint8_t *)data)[i] ? "true" : "false");
    case SP_STRING: {
      const sp_string *string = &((const sp_string *)data)[i];
      if (as_bytes || !sp_utf8_valid(string->bytes, string->length))
        return append_base64_object(out, string->bytes, string->length);
      return sp_json_append_string(out, string->bytes, string->length);
    }
    default: return sp_fail(SP_ERROR_INTERNAL, "no JSON form for %s", sp_dtype_tf_name(tensor->dtype));
  }
}

/* Writes dimensions dim.. of tensor starting at element *offset, as nested lists. */
static sp_status append_values(sp_buffer *out, const sp_tensor *tensor, int dim, int as_bytes, int64_t *offset) {
  if (dim >= tensor->rank) return append_element(out, tensor, (*offset)++, as_bytes);
  SP_TRY(sp_buffer_append(out, "[", 1));
  for (int64_t i = 0; i < tensor->shape[dim]; i++) {
    if (i) SP_TRY(sp_buffer_append(out, ", ", 2));
    SP_TRY(append_values(out, tensor, dim + 1, as_bytes, offset));
  }
  return sp_buffer_append(out, "]", 1);
}

static int named_bytes(const char *key, const sp_tensor *tensor) {
  return tensor->dtype == SP_STRING && sp_path_has_suffix(key, "_bytes");
}

static void sort_outputs(size_t count, char **keys, sp_tensor **outputs) {
  for (size_t i = 1; i < count; i++)
    for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
      char *key = keys[j];
      keys[j] = keys[j - 1];
      keys[j - 1] = key;
      sp_tensor *tensor = outputs[j];
      outputs[j] = outputs[j - 1];
      outputs[j - 1] = tensor;
    }
}

static sp_status check_outputs(size_t count, char **keys, sp_tensor **outputs, sp_predict_format format,
                               int64_t *batch) {
  if (count == 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Cannot convert empty tensor map to JSON");
  *batch = -1;
  for (size_t i = 0; i < count; i++) {
    if (!renderable(outputs[i]->dtype))
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Failed to write JSON value for tensor type: %s (output '%s')",
                     sp_dtype_tf_name(outputs[i]->dtype), keys[i]);
    if (format != SP_PREDICT_ROW) continue;
    if (outputs[i]->rank == 0)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Tensor name: %s has no shape information ", keys[i]);
    if (*batch >= 0 && outputs[i]->shape[0] != *batch)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                     "Tensor name: %s has inconsistent batch size: %" PRId64 " expecting: %" PRId64, keys[i],
                     outputs[i]->shape[0], *batch);
    *batch = outputs[i]->shape[0];
  }
  return SP_OK;
}

static sp_status append_rows(sp_buffer *out, size_t count, char **keys, sp_tensor **outputs, int64_t batch) {
  int64_t *offsets = sp_alloc_zeroed(count + 1, sizeof *offsets);
  if (!offsets) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_buffer_append_text(out, "{\"predictions\": [");
  for (int64_t row = 0; status == SP_OK && row < batch; row++) {
    if (row) status = sp_buffer_append(out, ", ", 2);
    if (status == SP_OK && count > 1) status = sp_buffer_append(out, "{", 1);
    for (size_t i = 0; status == SP_OK && i < count; i++) {
      if (count > 1) {
        if (i) status = sp_buffer_append(out, ", ", 2);
        if (status == SP_OK) status = sp_json_append_string(out, keys[i], strlen(keys[i]));
        if (status == SP_OK) status = sp_buffer_append(out, ": ", 2);
      }
      if (status == SP_OK) status = append_values(out, outputs[i], 1, named_bytes(keys[i], outputs[i]), &offsets[i]);
    }
    if (status == SP_OK && count > 1) status = sp_buffer_append(out, "}", 1);
  }
  if (status == SP_OK) status = sp_buffer_append_text(out, "]}");
  free(offsets);
  return status;
}

static sp_status append_columns(sp_buffer *out, size_t count, char **keys, sp_tensor **outputs) {
  SP_TRY(sp_buffer_append_text(out, count > 1 ? "{\"outputs\": {" : "{\"outputs\": "));
  for (size_t i = 0; i < count; i++) {
    if (count > 1) {
      if (i) SP_TRY(sp_buffer_append(out, ", ", 2));
      SP_TRY(sp_json_append_string(out, keys[i], strlen(keys[i])));
      SP_TRY(sp_buffer_append(out, ": ", 2));
    }
    int64_t offset = 0;
    SP_TRY(append_values(out, outputs[i], 0, named_bytes(keys[i], outputs[i]), &offset));
  }
  return sp_buffer_append_text(out, count > 1 ? "}}" : "}");
}

sp_status sp_json_predict_outputs(sp_predict_format format, size_t count, char **keys, sp_tensor **outputs,
                                  sp_buffer *out) {
  sort_outputs(count, keys, outputs);
  int64_t batch = -1;
  SP_TRY(check_outputs(count, keys, outputs, format, &batch));
  return format == SP_PREDICT_ROW ? append_rows(out, count, keys, outputs, batch)
                                  : append_columns(out, count, keys, outputs);
}

/* ---------- classify and regress: tf.Example records ---------- */

/* One feature being built: values point into the document (strings) or into owned buffers. */
typedef struct feature_values {
  const char *name;
  Tensorflow__Feature feature;
  Tensorflow__BytesList bytes_list;
  Tensorflow__FloatList float_list;
  Tensorflow__Int64List int64_list;
  Tensorflow__Features__FeatureEntry entry;
} feature_values;

/* Everything one Example allocates, released together after packing. */
typedef struct example_scratch {
  feature_values *features;
  size_t feature_count, feature_capacity;
  void **blocks;
  size_t block_count, block_capacity;
} example_scratch;

static void *scratch_allocate(example_scratch *scratch, size_t count, size_t size) {
  if (SP_RESERVE(scratch->blocks, scratch->block_capacity, scratch->block_count + 1) != SP_OK) return NULL;
  void *block = sp_alloc_zeroed(count + 1, size);
  if (block) scratch->blocks[scratch->block_count++] = block;
  return block;
}

static void scratch_reset(example_scratch *scratch) {
  for (size_t i = 0; i < scratch->block_count; i++) free(scratch->blocks[i]);
  scratch->block_count = 0;
  scratch->feature_count = 0;
}

static void scratch_free(example_scratch *scratch) {
  scratch_reset(scratch);
  free(scratch->blocks);
  free(scratch->features);
}

static Tensorflow__Feature__KindCase feature_kind(const sp_json_node *value) {
  switch (value->type) {
    case SP_JSON_TRUE:
    case SP_JSON_FALSE: return TENSORFLOW__FEATURE__KIND_INT64_LIST;
    case SP_JSON_STRING: return TENSORFLOW__FEATURE__KIND_BYTES_LIST;
    case SP_JSON_OBJECT:
      return is_base64_object(value) ? TENSORFLOW__FEATURE__KIND_BYTES_LIST : TENSORFLOW__FEATURE__KIND__NOT_SET;
    case SP_JSON_NUMBER:
      return value->number_kind == SP_JSON_INTEGER || value->number_kind == SP_JSON_UNSIGNED
                 ? TENSORFLOW__FEATURE__KIND_INT64_LIST
                 : TENSORFLOW__FEATURE__KIND_FLOAT_LIST;
    default: return TENSORFLOW__FEATURE__KIND__NOT_SET;
  }
}

static const char *kind_name(Tensorflow__Feature__KindCase kind) {
  return kind == TENSORFLOW__FEATURE__KIND_BYTES_LIST   ? "bytes"
         : kind == TENSORFLOW__FEATURE__KIND_FLOAT_LIST ? "float"
         : kind == TENSORFLOW__FEATURE__KIND_INT64_LIST ? "int64"
                                                        : "UNKNOWN";
}

static sp_status add_feature_value(example_scratch *scratch, feature_values *built, const char *name,
                                   const sp_json_node *value, size_t index) {
  Tensorflow__Feature__KindCase kind = feature_kind(value);
  if (kind == TENSORFLOW__FEATURE__KIND__NOT_SET)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Feature: %s has element with unexpected JSON type: %s", name,
                   sp_json_type_name(value));
  if (kind != built->feature.kind_case)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Unexpected element type in feature: %s expecting type: %s", name,
                   kind_name(built->feature.kind_case));
  if (kind == TENSORFLOW__FEATURE__KIND_INT64_LIST) {
    if (value->type == SP_JSON_NUMBER && value->number_kind == SP_JSON_UNSIGNED)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Feature: %s has uint64 element. Only int64 is supported.", name);
    built->int64_list.value[index] = value->type == SP_JSON_NUMBER ? value->value.integer : value->type == SP_JSON_TRUE;
  } else if (kind == TENSORFLOW__FEATURE__KIND_FLOAT_LIST) {
    double number = sp_json_node_double(value);
    if (value->number_kind == SP_JSON_DECIMAL && fabs(number) > FLT_MAX) {
      char text[96];
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Cannot convert JSON value: %s to float without loss of precision.",
                     preview(value, text, sizeof text));
    }
    built->float_list.value[index] = (float)number;
  } else if (value->type == SP_JSON_STRING) {
    built->bytes_list.value[index].data = (uint8_t *)value->value.string;
    built->bytes_list.value[index].len = value->length;
  } else {
    const sp_json_node *encoded = &value->value.members[0].node;
    unsigned char *decoded = scratch_allocate(scratch, sp_base64_decoded_capacity(encoded->length), 1);
    if (!decoded) return SP_ERROR_NO_MEMORY;
    size_t size = 0;
    sp_status status = sp_base64_decode(encoded->value.string, encoded->length, decoded, &size);
    if (status != SP_OK) return sp_error_context(status, "Feature: %s: Unable to base64 decode", name);
    built->bytes_list.value[index].data = decoded;
    built->bytes_list.value[index].len = size;
  }
  return SP_OK;
}

/* The feature named name from content (a value or a list of values). A later definition of the
 * same name (an example's own over the context's) replaces the earlier one. */
static sp_status build_feature(example_scratch *scratch, const char *name, const sp_json_node *content) {
  feature_values *built = NULL;
  for (size_t i = 0; i < scratch->feature_count && !built; i++)
    if (strcmp(scratch->features[i].name, name) == 0) built = &scratch->features[i];
  if (!built) {
    SP_TRY(SP_RESERVE(scratch->features, scratch->feature_capacity, scratch->feature_count + 1));
    built = &scratch->features[scratch->feature_count++];
  }
  memset(built, 0, sizeof *built);
  built->name = name;
  tensorflow__feature__init(&built->feature);
  const sp_json_node *values = content->type == SP_JSON_ARRAY ? content->value.items : content;
  size_t count = content->type == SP_JSON_ARRAY ? content->length : 1;
  if (count == 0) return SP_OK;
  built->feature.kind_case = feature_kind(&values[0]);
  tensorflow__int64_list__init(&built->int64_list);
  tensorflow__float_list__init(&built->float_list);
  tensorflow__bytes_list__init(&built->bytes_list);
  void *list = NULL;
  switch (built->feature.kind_case) {
    case TENSORFLOW__FEATURE__KIND_INT64_LIST:
      built->int64_list.n_value = count;
      list = built->int64_list.value = scratch_allocate(scratch, count, sizeof *built->int64_list.value);
      break;
    case TENSORFLOW__FEATURE__KIND_FLOAT_LIST:
      built->float_list.n_value = count;
      list = built->float_list.value = scratch_allocate(scratch, count, sizeof *built->float_list.value);
      break;
    case TENSORFLOW__FEATURE__KIND_BYTES_LIST:
      built->bytes_list.n_value = count;
      list = built->bytes_list.value = scratch_allocate(scratch, count, sizeof *built->bytes_list.value);
      break;
    default:
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Feature: %s has element with unexpected JSON type: %s", name,
                     sp_json_type_name(&values[0]));
  }
  if (!list) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < count; i++) SP_TRY(add_feature_value(scratch, built, name, &values[i], i));
  return SP_OK;
}

static sp_status add_features(example_scratch *scratch, const sp_json_node *object, const char *what) {
  if (object->type != SP_JSON_OBJECT)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s must be JSON object but got JSON %s", what,
                   sp_json_type_name(object));
  for (uint32_t i = 0; i < object->length; i++)
    SP_TRY(build_feature(scratch, object->value.members[i].key, &object->value.members[i].node));
  return SP_OK;
}

/* Packs the features gathered in scratch as one serialized Example into element index. */
static sp_status pack_example(example_scratch *scratch, sp_tensor *examples, int64_t index) {
  Tensorflow__Features__FeatureEntry **entries = scratch_allocate(scratch, scratch->feature_count, sizeof *entries);
  if (!entries) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < scratch->feature_count; i++) {
    feature_values *built = &scratch->features[i];
    /* Linked only now: the features array may have moved while it grew. */
    if (built->feature.kind_case == TENSORFLOW__FEATURE__KIND_INT64_LIST)
      built->feature.int64_list = &built->int64_list;
    if (built->feature.kind_case == TENSORFLOW__FEATURE__KIND_FLOAT_LIST)
      built->feature.float_list = &built->float_list;
    if (built->feature.kind_case == TENSORFLOW__FEATURE__KIND_BYTES_LIST)
      built->feature.bytes_list = &built->bytes_list;
    tensorflow__features__feature_entry__init(&built->entry);
    built->entry.key = (char *)built->name;
    built->entry.value = &built->feature;
    entries[i] = &built->entry;
  }
  Tensorflow__Features features = TENSORFLOW__FEATURES__INIT;
  features.n_feature = scratch->feature_count;
  features.feature = entries;
  Tensorflow__Example example = TENSORFLOW__EXAMPLE__INIT;
  example.features = &features;
  size_t size = tensorflow__example__get_packed_size(&example);
  uint8_t *bytes = scratch_allocate(scratch, size, 1);
  if (!bytes) return SP_ERROR_NO_MEMORY;
  tensorflow__example__pack(&example, bytes);
  return sp_tensor_set_string(examples, index, bytes, size);
}

sp_status sp_json_examples(const sp_json_node *root, sp_tensor **examples) {
  *examples = NULL;
  const sp_json_node *context = sp_json_node_member(root, "context"), *list = sp_json_node_member(root, "examples");
  if (!list) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "JSON Value: key 'examples' is expected and was not found");
  if (list->type != SP_JSON_ARRAY)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "JSON Value: Expecting 'examples' value to be an list/array");
  if (list->length == 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "JSON Value: 'examples' value is an empty array");
  int64_t count = list->length;
  *examples = sp_tensor_new(SP_STRING, 1, &count);
  if (!*examples) return sp_last_status();
  example_scratch scratch = {0};
  sp_status status = SP_OK;
  for (uint32_t i = 0; status == SP_OK && i < list->length; i++) {
    scratch_reset(&scratch);
    if (context) status = add_features(&scratch, context, "Example context");
    if (status == SP_OK) status = add_features(&scratch, &list->value.items[i], "Example");
    if (status == SP_OK) status = pack_example(&scratch, *examples, i);
    if (status != SP_OK) status = sp_error_context(status, "examples[%u]", i);
  }
  scratch_free(&scratch);
  if (status != SP_OK) {
    sp_tensor_free(*examples);
    *examples = NULL;
  }
  return status;
}

static const sp_tensor *find_output(size_t count, char **keys, sp_tensor **outputs, const char *key) {
  for (size_t i = 0; i < count; i++)
    if (strcmp(keys[i], key) == 0) return outputs[i];
  return NULL;
}

/* A [examples, k] (or [examples] for k = 1) output; its k. */
static sp_status result_columns(const sp_tensor *tensor, const char *key, int64_t examples, int64_t *columns) {
  int shaped =
      (tensor->rank == 2 && tensor->shape[0] == examples) || (tensor->rank == 1 && tensor->shape[0] == examples);
  if (!shaped) {
    char text[128];
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Expected output tensor '%s' shape to be [%" PRId64 ", k] but got %s",
                   key, examples, sp_shape_format(tensor->rank, tensor->shape, text, sizeof text));
  }
  *columns = tensor->rank == 2 ? tensor->shape[1] : 1;
  return SP_OK;
}

sp_status sp_json_classify_results(size_t count, char **keys, sp_tensor **outputs, int64_t examples, sp_buffer *out) {
  const sp_tensor *classes = find_output(count, keys, outputs, "classes"),
                  *scores = find_output(count, keys, outputs, "scores");
  if (!classes && !scores)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "Expected classification signature outputs to contain at least one of 'classes' or 'scores'");
  int64_t class_columns = 0, score_columns = 0;
  if (classes) SP_TRY(result_columns(classes, "classes", examples, &class_columns));
  if (scores) SP_TRY(result_columns(scores, "scores", examples, &score_columns));
  if (classes && classes->dtype != SP_STRING)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Expected classes Tensor of DT_STRING. Got %s",
                   sp_dtype_tf_name(classes->dtype));
  if (scores && scores->dtype != SP_FLOAT32)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Expected scores Tensor of DT_FLOAT. Got %s",
                   sp_dtype_tf_name(scores->dtype));
  if (classes && scores && class_columns != score_columns)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Tensors class and score should match in shape");
  int64_t columns = classes ? class_columns : score_columns;
  SP_TRY(sp_buffer_append_text(out, "{\"results\": ["));
  for (int64_t row = 0; row < examples; row++) {
    SP_TRY(sp_buffer_append_text(out, row ? ", [" : "["));
    for (int64_t column = 0; column < columns; column++) {
      int64_t i = row * columns + column;
      SP_TRY(sp_buffer_append_text(out, column ? ", [" : "["));
      if (classes) {
        const sp_string *label = &((const sp_string *)classes->data)[i];
        if (sp_utf8_valid(label->bytes, label->length))
          SP_TRY(sp_json_append_string(out, label->bytes, label->length));
        else
          SP_TRY(append_base64_object(out, label->bytes, label->length));
      } else {
        SP_TRY(sp_buffer_append_text(out, "\"\""));
      }
      SP_TRY(sp_buffer_append(out, ", ", 2));
      SP_TRY(append_decimal(out, scores ? ((const float *)scores->data)[i] : 0.0, 1));
      SP_TRY(sp_buffer_append(out, "]", 1));
    }
    SP_TRY(sp_buffer_append(out, "]", 1));
  }
  return sp_buffer_append_text(out, "]}");
}

sp_status sp_json_regress_results(size_t count, char **keys, sp_tensor **outputs, int64_t examples, sp_buffer *out) {
  const sp_tensor *values = find_output(count, keys, outputs, "outputs");
  if (!values) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "No output Tensor 'outputs' in the regression signature");
  int64_t columns = 0;
  SP_TRY(result_columns(values, "outputs", examples, &columns));
  if (columns != 1 || values->dtype != SP_FLOAT32) {
    char text[128];
    return sp_fail(
        SP_ERROR_INVALID_ARGUMENT,
        "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] of DT_FLOAT but got %s %s",
        sp_dtype_tf_name(values->dtype), sp_shape_format(values->rank, values->shape, text, sizeof text));
  }
  SP_TRY(sp_buffer_append_text(out, "{\"results\": ["));
  for (int64_t row = 0; row < examples; row++) {
    if (row) SP_TRY(sp_buffer_append(out, ", ", 2));
    SP_TRY(append_decimal(out, ((const float *)values->data)[row], 1));
  }
  return sp_buffer_append_text(out, "]}");
}
