/* tensor.h — the tensor every part of savepoint passes around.
 *
 * A tensor is a dtype, a shape (outermost dimension first) and row-major,
 * little-endian element bytes. It owns its data (freed with it), views a file mapping
 * (a loaded weight: the tensor holds a reference to the mapping, released with it), or
 * borrows the data from somewhere that outlives it (a caller's array).
 * dtype values are TensorFlow's DataType numbers, so checkpoint and SavedModel
 * codecs store them unchanged.
 */
#ifndef SAVEPOINT_TENSOR_H
#define SAVEPOINT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "savepoint/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sp_dtype {
  SP_DTYPE_INVALID = 0,
  SP_FLOAT32 = 1,
  SP_FLOAT64 = 2,
  SP_INT32 = 3,
  SP_UINT8 = 4,
  SP_INT16 = 5,
  SP_INT8 = 6,
  SP_STRING = 7,
  SP_COMPLEX64 = 8,
  SP_INT64 = 9,
  SP_BOOL = 10,
  SP_BFLOAT16 = 14,
  SP_UINT16 = 17,
  SP_COMPLEX128 = 18,
  SP_FLOAT16 = 19,
  SP_UINT32 = 22,
  SP_UINT64 = 23
} sp_dtype;

enum { SP_MAX_RANK = 8 };

/* One element of an SP_STRING tensor: arbitrary bytes, owned by the tensor. */
typedef struct sp_string {
  char *bytes;
  size_t length;
} sp_string;

typedef struct sp_tensor {
  sp_dtype dtype;
  int rank;                    /* 0 for a scalar */
  int64_t shape[SP_MAX_RANK];  /* shape[0] is the outermost (batch) dimension */
  void *data;                  /* elements; for SP_STRING an array of sp_string */
  size_t size;                 /* bytes at data */
  int owns_data;               /* 1: sp_tensor_free releases data (and strings) */
  struct sp_mapping *mapping;  /* set when data lies in a file mapping; released with the tensor */
} sp_tensor;

/* "float32", "int64", "string", ... (numpy / Keras names). */
const char *sp_dtype_name(sp_dtype dtype);
/* "DT_FLOAT", "DT_INT64", ... (TensorFlow names). */
const char *sp_dtype_tf_name(sp_dtype dtype);
/* Bytes per element; sizeof(sp_string) for SP_STRING; 0 for an unknown dtype. */
size_t sp_dtype_size(sp_dtype dtype);
/* Parses either naming ("float32" or "DT_FLOAT"). */
sp_status sp_dtype_from_name(const char *name, sp_dtype *dtype);

/* Element count of a shape; fails on negative dimensions or overflow past 2^62. */
sp_status sp_shape_count(int rank, const int64_t *shape, int64_t *count);
/* Writes "[2, 3]" (or "[]" for a scalar) into out. Returns out. */
char *sp_shape_format(int rank, const int64_t *shape, char *out, size_t capacity);

/* A new zero-filled tensor that owns its data. NULL on failure (see sp_last_error). */
sp_tensor *sp_tensor_new(sp_dtype dtype, int rank, const int64_t *shape);
/* A tensor that borrows data (not freed with it). */
sp_tensor *sp_tensor_wrap(sp_dtype dtype, int rank, const int64_t *shape, void *data);
/* A deep copy that owns its data. */
sp_tensor *sp_tensor_copy(const sp_tensor *tensor);
/* A copy converted to another numeric dtype (values cast as C casts them). */
sp_tensor *sp_tensor_cast(const sp_tensor *tensor, sp_dtype dtype);
void sp_tensor_free(sp_tensor *tensor);

int64_t sp_tensor_count(const sp_tensor *tensor);
/* 1 when dtype and shape are equal. */
int sp_tensor_same_shape(const sp_tensor *a, const sp_tensor *b);
/* Changes the shape in place; the element count must stay the same. */
sp_status sp_tensor_reshape(sp_tensor *tensor, int rank, const int64_t *shape);
/* Sets element index of an owned SP_STRING tensor to a copy of bytes. */
sp_status sp_tensor_set_string(sp_tensor *tensor, int64_t index, const void *bytes, size_t length);

/* Element i as a double, whatever the numeric dtype. */
double sp_tensor_get_double(const sp_tensor *tensor, int64_t index);
/* Sets element i from a double, converting to the tensor's dtype. */
void sp_tensor_set_double(sp_tensor *tensor, int64_t index, double value);

static inline float *sp_tensor_floats(const sp_tensor *tensor) { return (float *)tensor->data; }

/* IEEE half and bfloat16 conversions (round to nearest even). */
float sp_half_to_float(uint16_t half);
uint16_t sp_float_to_half(float value);
float sp_bfloat16_to_float(uint16_t value);
uint16_t sp_float_to_bfloat16(float value);

#ifdef __cplusplus
}
#endif
#endif
