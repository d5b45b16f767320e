/* tensor.c — dtypes, shapes and the sp_tensor lifecycle.
 *
 * Invariant: size == count * sp_dtype_size(dtype) for every tensor made here, and
 * an owned SP_STRING tensor owns each element's bytes too.
 */
#include "savepoint/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mapping.h"
#include "core/memory.h"

typedef struct dtype_info {
  sp_dtype dtype;
  const char *name;
  const char *tf_name;
  size_t size;
} dtype_info;

static const dtype_info dtype_table[] = {
    {SP_FLOAT32, "float32", "DT_FLOAT", 4},     {SP_FLOAT64, "float64", "DT_DOUBLE", 8},
    {SP_INT32, "int32", "DT_INT32", 4},         {SP_UINT8, "uint8", "DT_UINT8", 1},
    {SP_INT16, "int16", "DT_INT16", 2},         {SP_INT8, "int8", "DT_INT8", 1},
    {SP_STRING, "string", "DT_STRING", sizeof(sp_string)},
    {SP_COMPLEX64, "complex64", "DT_COMPLEX64", 8}, {SP_INT64, "int64", "DT_INT64", 8},
    {SP_BOOL, "bool", "DT_BOOL", 1},            {SP_BFLOAT16, "bfloat16", "DT_BFLOAT16", 2},
    {SP_UINT16, "uint16", "DT_UINT16", 2},      {SP_COMPLEX128, "complex128", "DT_COMPLEX128", 16},
    {SP_FLOAT16, "float16", "DT_HALF", 2},      {SP_UINT32, "uint32", "DT_UINT32", 4},
    {SP_UINT64, "uint64", "DT_UINT64", 8},
};

static const dtype_info *find_dtype(sp_dtype dtype) {
  for (size_t i = 0; i < sizeof dtype_table / sizeof *dtype_table; i++)
    if (dtype_table[i].dtype == dtype) return &dtype_table[i];
  return NULL;
}

const char *sp_dtype_name(sp_dtype dtype) {
  const dtype_info *info = find_dtype(dtype);
  return info ? info->name : "invalid";
}

const char *sp_dtype_tf_name(sp_dtype dtype) {
  const dtype_info *info = find_dtype(dtype);
  return info ? info->tf_name : "DT_INVALID";
}

size_t sp_dtype_size(sp_dtype dtype) {
  const dtype_info *info = find_dtype(dtype);
  return info ? info->size : 0;
}

sp_status sp_dtype_from_name(const char *name, sp_dtype *dtype) {
  for (size_t i = 0; i < sizeof dtype_table / sizeof *dtype_table; i++) {
    if (strcmp(name, dtype_table[i].name) == 0 || strcmp(name, dtype_table[i].tf_name) == 0) {
      *dtype = dtype_table[i].dtype;
      return SP_OK;
    }
  }
  if (strcmp(name, "half") == 0) {
    *dtype = SP_FLOAT16;
    return SP_OK;
  }
  return sp_fail(SP_ERROR_UNSUPPORTED, "unknown dtype '%s'", name);
}

sp_status sp_shape_count(int rank, const int64_t *shape, int64_t *count) {
  if (rank < 0 || rank > SP_MAX_RANK)
    return sp_fail(SP_ERROR_FORMAT, "rank %d is outside 0..%d", rank, (int)SP_MAX_RANK);
  int64_t total = 1;
  for (int i = 0; i < rank; i++) {
    if (shape[i] < 0) return sp_fail(SP_ERROR_FORMAT, "dimension %d is negative (%lld)", i, (long long)shape[i]);
    if (shape[i] != 0 && total > (INT64_C(1) << 62) / shape[i])
      return sp_fail(SP_ERROR_FORMAT, "shape with %d dimensions has more than 2^62 elements", rank);
    total *= shape[i];
  }
  *count = total;
  return SP_OK;
}

char *sp_shape_format(int rank, const int64_t *shape, char *out, size_t capacity) {
  size_t used = 0;
  used += (size_t)snprintf(out, capacity, "[");
  for (int i = 0; i < rank && used < capacity; i++)
    used += (size_t)snprintf(out + used, capacity - used, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (used < capacity) snprintf(out + used, capacity - used, "]");
  return out;
}

static sp_tensor *tensor_header(sp_dtype dtype, int rank, const int64_t *shape, size_t *bytes) {
  size_t element_size = sp_dtype_size(dtype);
  if (element_size == 0) {
    sp_fail(SP_ERROR_UNSUPPORTED, "cannot make a tensor of dtype %d", (int)dtype);
    return NULL;
  }
  int64_t count;
  if (sp_shape_count(rank, shape, &count) != SP_OK) return NULL;
  if (!sp_multiply_size((size_t)count, element_size, bytes)) {
    sp_fail(SP_ERROR_NO_MEMORY, "tensor of %lld elements is too large", (long long)count);
    return NULL;
  }
  sp_tensor *tensor = sp_alloc_zeroed(1, sizeof *tensor);
  if (!tensor) return NULL;
  tensor->dtype = dtype;
  tensor->rank = rank;
  if (rank) memcpy(tensor->shape, shape, (size_t)rank * sizeof *shape);
  tensor->size = *bytes;
  return tensor;
}

sp_tensor *sp_tensor_new_unfaulted(sp_dtype dtype, int rank, const int64_t *shape) {
  size_t bytes;
  sp_tensor *tensor = tensor_header(dtype, rank, shape, &bytes);
  if (!tensor) return NULL;
  tensor->data = sp_alloc_zeroed(1, bytes);
  if (!tensor->data) {
    free(tensor);
    return NULL;
  }
  tensor->owns_data = 1;
  return tensor;
}

sp_tensor *sp_tensor_new(sp_dtype dtype, int rank, const int64_t *shape) {
  sp_tensor *tensor = sp_tensor_new_unfaulted(dtype, rank, shape);
  if (tensor) sp_memory_prefault(tensor->data, tensor->size); /* a tensor is made to be filled: fault it in at once */
  return tensor;
}

sp_tensor *sp_tensor_wrap(sp_dtype dtype, int rank, const int64_t *shape, void *data) {
  size_t bytes;
  sp_tensor *tensor = tensor_header(dtype, rank, shape, &bytes);
  if (!tensor) return NULL;
  tensor->data = data;
  tensor->owns_data = 0;
  return tensor;
}

sp_tensor *sp_tensor_copy(const sp_tensor *source) {
  sp_tensor *copy = sp_tensor_new(source->dtype, source->rank, source->shape);
  if (!copy) return NULL;
  if (source->dtype != SP_STRING) {
    if (source->size) memcpy(copy->data, source->data, source->size);
    return copy;
  }
  const sp_string *strings = source->data;
  int64_t count = sp_tensor_count(source);
  for (int64_t i = 0; i < count; i++) {
    if (sp_tensor_set_string(copy, i, strings[i].bytes, strings[i].length) != SP_OK) {
      sp_tensor_free(copy);
      return NULL;
    }
  }
  return copy;
}

sp_tensor *sp_tensor_cast(const sp_tensor *source, sp_dtype dtype) {
  if (source->dtype == SP_STRING || dtype == SP_STRING) {
    sp_fail(SP_ERROR_UNSUPPORTED, "cannot cast %s to %s", sp_dtype_name(source->dtype), sp_dtype_name(dtype));
    return NULL;
  }
  sp_tensor *cast = sp_tensor_new(dtype, source->rank, source->shape);
  if (!cast) return NULL;
  int64_t count = sp_tensor_count(source);
  for (int64_t i = 0; i < count; i++) sp_tensor_set_double(cast, i, sp_tensor_get_double(source, i));
  return cast;
}

/* Releases what the tensor's data belongs to: its own storage (and strings), or its mapping. */
static void release_data(sp_tensor *tensor) {
  if (tensor->owns_data) {
    if (tensor->dtype == SP_STRING && tensor->data) {
      sp_string *strings = tensor->data;
      size_t count = tensor->size / sizeof(sp_string);
      for (size_t i = 0; i < count; i++) free(strings[i].bytes);
    }
    free(tensor->data);
  }
  sp_mapping_release(tensor->mapping);
  tensor->data = NULL;
  tensor->owns_data = 0;
  tensor->mapping = NULL;
}

void sp_tensor_free(sp_tensor *tensor) {
  if (!tensor) return;
  release_data(tensor);
  free(tensor);
}

void sp_tensor_view(sp_tensor *tensor, sp_mapping *mapping, const void *data) {
  sp_mapping_retain(mapping); /* first: the tensor may already view this mapping */
  release_data(tensor);
  tensor->data = (void *)data;
  tensor->mapping = mapping;
}

sp_status sp_tensor_prepare_overwrite(sp_tensor *tensor) {
  if (tensor->mapping) {
    void *storage = sp_alloc(tensor->size);
    if (!storage) return SP_ERROR_NO_MEMORY;
    release_data(tensor);
    tensor->data = storage;
    tensor->owns_data = 1;
  }
  sp_memory_prefault(tensor->data, tensor->size);
  return SP_OK;
}

sp_status sp_tensor_overwrite(sp_tensor *target, const sp_tensor *source) {
  if (target->size != source->size || target->dtype != source->dtype)
    return sp_fail(SP_ERROR_MISMATCH, "cannot overwrite a %s tensor of %zu bytes with a %s one of %zu bytes",
                   sp_dtype_name(target->dtype), target->size, sp_dtype_name(source->dtype), source->size);
  SP_TRY(sp_tensor_prepare_overwrite(target));
  if (source->size) memcpy(target->data, source->data, source->size);
  return SP_OK;
}

int64_t sp_tensor_count(const sp_tensor *tensor) {
  int64_t count = 1;
  for (int i = 0; i < tensor->rank; i++) count *= tensor->shape[i];
  return count;
}

int sp_tensor_same_shape(const sp_tensor *a, const sp_tensor *b) {
  if (a->dtype != b->dtype || a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

sp_status sp_tensor_reshape(sp_tensor *tensor, int rank, const int64_t *shape) {
  int64_t count;
  SP_TRY(sp_shape_count(rank, shape, &count));
  if (count != sp_tensor_count(tensor)) {
    char from[96], to[96];
    return sp_fail(SP_ERROR_MISMATCH, "cannot reshape %s to %s: element counts differ",
                   sp_shape_format(tensor->rank, tensor->shape, from, sizeof from),
                   sp_shape_format(rank, shape, to, sizeof to));
  }
  tensor->rank = rank;
  if (rank) memcpy(tensor->shape, shape, (size_t)rank * sizeof *shape);
  return SP_OK;
}

sp_status sp_tensor_set_string(sp_tensor *tensor, int64_t index, const void *bytes, size_t length) {
  if (tensor->dtype != SP_STRING || !tensor->owns_data || index < 0 || index >= sp_tensor_count(tensor))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "string element %lld is not in an owned string tensor", (long long)index);
  char *copy = sp_alloc(length + 1);
  if (!copy) return SP_ERROR_NO_MEMORY;
  if (length) memcpy(copy, bytes, length);
  copy[length] = '\0';
  sp_string *element = (sp_string *)tensor->data + index;
  free(element->bytes);
  element->bytes = copy;
  element->length = length;
  return SP_OK;
}

double sp_tensor_get_double(const sp_tensor *tensor, int64_t i) {
  const void *d = tensor->data;
  switch (tensor->dtype) {
    case SP_FLOAT32: return ((const float *)d)[i];
    case SP_FLOAT64: return ((const double *)d)[i];
    case SP_INT32: return ((const int32_t *)d)[i];
    case SP_UINT8: return ((const uint8_t *)d)[i];
    case SP_INT16: return ((const int16_t *)d)[i];
    case SP_INT8: return ((const int8_t *)d)[i];
    case SP_INT64: return (double)((const int64_t *)d)[i];
    case SP_BOOL: return ((const uint8_t *)d)[i] != 0;
    case SP_BFLOAT16: return sp_bfloat16_to_float(((const uint16_t *)d)[i]);
    case SP_UINT16: return ((const uint16_t *)d)[i];
    case SP_FLOAT16: return sp_half_to_float(((const uint16_t *)d)[i]);
    case SP_UINT32: return ((const uint32_t *)d)[i];
    case SP_UINT64: return (double)((const uint64_t *)d)[i];
    case SP_COMPLEX64: return ((const float *)d)[2 * i];
    case SP_COMPLEX128: return ((const double *)d)[2 * i];
    default: return 0.0;
  }
}

/* Integer conversion that saturates instead of invoking undefined behaviour. */
static int64_t clamp_to_int64(double value, double low, double high) {
  if (isnan(value)) return 0;
  if (value <= low) return (int64_t)low;
  if (value >= high) return (int64_t)high;
  return (int64_t)value;
}

void sp_tensor_set_double(sp_tensor *tensor, int64_t i, double v) {
  void *d = tensor->data;
  switch (tensor->dtype) {
    case SP_FLOAT32: ((float *)d)[i] = (float)v; break;
    case SP_FLOAT64: ((double *)d)[i] = v; break;
    case SP_INT32: ((int32_t *)d)[i] = (int32_t)clamp_to_int64(v, INT32_MIN, INT32_MAX); break;
    case SP_UINT8: ((uint8_t *)d)[i] = (uint8_t)clamp_to_int64(v, 0, UINT8_MAX); break;
    case SP_INT16: ((int16_t *)d)[i] = (int16_t)clamp_to_int64(v, INT16_MIN, INT16_MAX); break;
    case SP_INT8: ((int8_t *)d)[i] = (int8_t)clamp_to_int64(v, INT8_MIN, INT8_MAX); break;
    case SP_INT64: ((int64_t *)d)[i] = clamp_to_int64(v, -9223372036854775808.0, 9223372036854774784.0); break;
    case SP_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    case SP_BFLOAT16: ((uint16_t *)d)[i] = sp_float_to_bfloat16((float)v); break;
    case SP_UINT16: ((uint16_t *)d)[i] = (uint16_t)clamp_to_int64(v, 0, UINT16_MAX); break;
    case SP_FLOAT16: ((uint16_t *)d)[i] = sp_float_to_half((float)v); break;
    case SP_UINT32: ((uint32_t *)d)[i] = (uint32_t)clamp_to_int64(v, 0, UINT32_MAX); break;
    case SP_UINT64: ((uint64_t *)d)[i] = (uint64_t)clamp_to_int64(v, 0, 9223372036854774784.0); break;
    case SP_COMPLEX64: ((float *)d)[2 * i] = (float)v; ((float *)d)[2 * i + 1] = 0; break;
    case SP_COMPLEX128: ((double *)d)[2 * i] = v; ((double *)d)[2 * i + 1] = 0; break;
    default: break;
  }
}

static uint32_t float_bits(float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  return bits;
}

static float bits_float(uint32_t bits) {
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

float sp_half_to_float(uint16_t half) {
  uint32_t sign = (uint32_t)(half >> 15) << 31;
  uint32_t exponent = (half >> 10) & 0x1f;
  uint32_t mantissa = half & 0x3ff;
  if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    float magnitude = ldexpf((float)mantissa, -24);
    return sign ? -magnitude : magnitude;
  }
  return bits_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t sp_float_to_half(float value) {
  uint32_t bits = float_bits(value);
  uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) /* inf or nan */
    return (uint16_t)(sign | 0x7c00 | (magnitude > 0x7f800000u ? 0x200 : 0));
  if (magnitude >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to infinity */
  if (magnitude < 0x38800000u) {                                   /* subnormal or zero */
    float scaled = bits_float(magnitude) * 16777216.0f;            /* 2^24 */
    return (uint16_t)(sign | (uint16_t)lrintf(scaled));
  }
  uint32_t rounded = magnitude + 0xfff + ((magnitude >> 13) & 1); /* round to nearest even */
  return (uint16_t)(sign | ((rounded - 0x38000000u) >> 13));
}

float sp_bfloat16_to_float(uint16_t value) { return bits_float((uint32_t)value << 16); }

uint16_t sp_float_to_bfloat16(float value) {
  uint32_t bits = float_bits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return (uint16_t)(bits >> 16);
}
