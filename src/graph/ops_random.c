/* ops_random.c — RandomUniform, RandomUniformInt, RandomStandardNormal and TruncatedNormal.
 *
 * TF1 exports often run variable initializers in their main op (re-initializing after restore),
 * so loading needs these ops even though serving outputs rarely depend on the values. The stream
 * is our own (splitmix64 seeded from the seed/seed2 attrs and the node name), not TensorFlow's
 * Philox: the same graph gives the same values here, different ones than in TensorFlow.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "graph/ops.h"

typedef struct random_stream {
  uint64_t state;
} random_stream;

static uint64_t next_bits(random_stream *stream) {
  uint64_t z = (stream->state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static double next_uniform(random_stream *stream) { return (double)(next_bits(stream) >> 11) * 0x1.0p-53; }

static double next_normal(random_stream *stream) {
  double u = next_uniform(stream), v = next_uniform(stream);
  return sqrt(-2 * log(u > 0 ? u : 0x1.0p-53)) * cos(2 * M_PI * v);
}

static sp_status seeded_stream(sp_kernel_context *context, random_stream *stream) {
  int64_t seed, seed2;
  SP_TRY(sp_kernel_attr_int(context, "seed", 0, &seed));
  SP_TRY(sp_kernel_attr_int(context, "seed2", 0, &seed2));
  uint64_t hash = 1469598103934665603u;
  for (const char *p = context->node->name; *p; p++) hash = (hash ^ (unsigned char)*p) * 1099511628211u;
  stream->state = hash ^ ((uint64_t)seed * 0x9e3779b97f4a7c15u) ^ (uint64_t)seed2;
  return SP_OK;
}

static sp_status random_output(sp_kernel_context *context, sp_dtype dtype, sp_tensor **out) {
  int64_t shape[SP_MAX_RANK];
  size_t rank;
  SP_TRY(sp_kernel_input_ints(context, 0, shape, SP_MAX_RANK, &rank));
  return sp_kernel_output_new(context, 0, dtype, (int)rank, shape, out);
}

static sp_status random_float(sp_kernel_context *context) {
  sp_dtype dtype;
  SP_TRY(sp_kernel_attr_type(context, "dtype", SP_FLOAT32, &dtype));
  if (!sp_dtype_is_float(dtype)) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "dtype must be floating point");
  sp_tensor *out;
  SP_TRY(random_output(context, dtype, &out));
  random_stream stream;
  SP_TRY(seeded_stream(context, &stream));
  const char *op = context->node->op;
  for (int64_t i = 0; i < sp_tensor_count(out); i++) {
    double value;
    if (strcmp(op, "RandomUniform") == 0) {
      value = next_uniform(&stream);
    } else {
      do value = next_normal(&stream);
      while (strcmp(op, "TruncatedNormal") == 0 && fabs(value) > 2);
    }
    sp_tensor_set_double(out, i, value);
  }
  return SP_OK;
}

static sp_status random_uniform_int(sp_kernel_context *context) {
  const sp_tensor *low, *high;
  SP_TRY(sp_kernel_input(context, 1, &low));
  SP_TRY(sp_kernel_input(context, 2, &high));
  if (low->rank || high->rank || !sp_dtype_is_integer(low->dtype) || low->dtype != high->dtype)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "minval and maxval must be integer scalars");
  int64_t minimum = sp_tensor_get_int(low, 0), maximum = sp_tensor_get_int(high, 0);
  if (minimum >= maximum) return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT, "minval must be below maxval");
  sp_tensor *out;
  SP_TRY(random_output(context, low->dtype, &out));
  random_stream stream;
  SP_TRY(seeded_stream(context, &stream));
  uint64_t span = (uint64_t)maximum - (uint64_t)minimum;
  for (int64_t i = 0; i < sp_tensor_count(out); i++)
    sp_tensor_set_int(out, i, (int64_t)((uint64_t)minimum + next_bits(&stream) % span));
  return SP_OK;
}

const sp_op sp_graph_ops_random[] = {
    {"RandomUniform", random_float, NULL, 0},
    {"RandomStandardNormal", random_float, NULL, 0},
    {"TruncatedNormal", random_float, NULL, 0},
    {"RandomUniformInt", random_uniform_int, NULL, 0},
    {NULL, NULL, NULL, 0},
};
