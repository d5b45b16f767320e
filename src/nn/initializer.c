/* initializer.c — Keras initializers, regularizers and constraints (see initializer.h).
 *
 * An initializer spec resolves to one of a few families: constant, uniform, normal,
 * truncated normal, variance scaling, orthogonal, identity. Names cover Keras 1–3
 * spellings ("zero", "zeros", "Zeros").
 */
#include "nn/initializer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/mapping.h"
#include "core/memory.h"

typedef enum family {
  FAMILY_CONSTANT,
  FAMILY_UNIFORM,
  FAMILY_NORMAL,
  FAMILY_TRUNCATED_NORMAL,
  FAMILY_VARIANCE_SCALING,
  FAMILY_ORTHOGONAL,
  FAMILY_IDENTITY
} family;

typedef enum fan_mode { FAN_IN, FAN_OUT, FAN_AVG } fan_mode;
typedef enum distribution { DISTRIBUTION_UNIFORM, DISTRIBUTION_TRUNCATED, DISTRIBUTION_UNTRUNCATED } distribution;

typedef struct initializer {
  family family;
  double value;            /* constant value; identity and orthogonal gain */
  double low, high;        /* uniform bounds */
  double mean, deviation;  /* normal parameters */
  double scale;
  fan_mode mode;
  distribution distribution;
  int has_seed;
  int64_t seed;
} initializer;

typedef struct named_initializer {
  const char *snake_name, *class_name;
  initializer defaults;
} named_initializer;

static const named_initializer known[] = {
    {"zeros", "Zeros", {.family = FAMILY_CONSTANT, .value = 0}},
    {"zero", NULL, {.family = FAMILY_CONSTANT, .value = 0}},
    {"ones", "Ones", {.family = FAMILY_CONSTANT, .value = 1}},
    {"one", NULL, {.family = FAMILY_CONSTANT, .value = 1}},
    {"constant", "Constant", {.family = FAMILY_CONSTANT, .value = 0}},
    {"random_uniform", "RandomUniform", {.family = FAMILY_UNIFORM, .low = -0.05, .high = 0.05}},
    {"uniform", NULL, {.family = FAMILY_UNIFORM, .low = -0.05, .high = 0.05}},
    {"random_normal", "RandomNormal", {.family = FAMILY_NORMAL, .deviation = 0.05}},
    {"normal", NULL, {.family = FAMILY_NORMAL, .deviation = 0.05}},
    {"truncated_normal", "TruncatedNormal", {.family = FAMILY_TRUNCATED_NORMAL, .deviation = 0.05}},
    {"variance_scaling", "VarianceScaling",
     {.family = FAMILY_VARIANCE_SCALING, .scale = 1, .mode = FAN_IN, .distribution = DISTRIBUTION_TRUNCATED}},
    {"glorot_uniform", "GlorotUniform",
     {.family = FAMILY_VARIANCE_SCALING, .scale = 1, .mode = FAN_AVG, .distribution = DISTRIBUTION_UNIFORM}},
    {"glorot_normal", "GlorotNormal",
     {.family = FAMILY_VARIANCE_SCALING, .scale = 1, .mode = FAN_AVG, .distribution = DISTRIBUTION_TRUNCATED}},
    {"he_uniform", "HeUniform",
     {.family = FAMILY_VARIANCE_SCALING, .scale = 2, .mode = FAN_IN, .distribution = DISTRIBUTION_UNIFORM}},
    {"he_normal", "HeNormal",
     {.family = FAMILY_VARIANCE_SCALING, .scale = 2, .mode = FAN_IN, .distribution = DISTRIBUTION_TRUNCATED}},
    {"lecun_uniform", "LecunUniform",
     {.family = FAMILY_VARIANCE_SCALING, .scale = 1, .mode = FAN_IN, .distribution = DISTRIBUTION_UNIFORM}},
    {"lecun_normal", "LecunNormal",
     {.family = FAMILY_VARIANCE_SCALING, .scale = 1, .mode = FAN_IN, .distribution = DISTRIBUTION_TRUNCATED}},
    {"orthogonal", "Orthogonal", {.family = FAMILY_ORTHOGONAL, .value = 1}},
    {"identity", "Identity", {.family = FAMILY_IDENTITY, .value = 1}},
};

/* A Keras spec is a name ("glorot_uniform") or an object {"class_name": …, "config": {…}}. */
static sp_status spec_name_and_config(const json_object *spec, const char *kind, const char *context, const char **name,
                                      const json_object **config) {
  *name = NULL;
  *config = NULL;
  if (json_object_is_type(spec, json_type_string)) {
    *name = json_object_get_string((json_object *)spec);
  } else if (json_object_is_type(spec, json_type_object)) {
    SP_TRY(sp_json_get_string(spec, "class_name", NULL, context, name));
    *config = sp_json_member(spec, "config");
  }
  if (!*name) return sp_fail(SP_ERROR_FORMAT, "%s: a%s %s must be a name or {class_name, config}", context,
                             kind[0] == 'i' ? "n" : "", kind);
  return SP_OK;
}

static const named_initializer *find_initializer(const char *name) {
  for (size_t i = 0; i < sizeof known / sizeof *known; i++)
    if (strcmp(name, known[i].snake_name) == 0 || (known[i].class_name && strcmp(name, known[i].class_name) == 0))
      return &known[i];
  return NULL;
}

static sp_status parse_mode(const char *text, const char *context, fan_mode *mode) {
  if (strcmp(text, "fan_in") == 0) *mode = FAN_IN;
  else if (strcmp(text, "fan_out") == 0) *mode = FAN_OUT;
  else if (strcmp(text, "fan_avg") == 0) *mode = FAN_AVG;
  else return sp_fail(SP_ERROR_FORMAT, "%s: mode must be fan_in, fan_out or fan_avg, found '%s'", context, text);
  return SP_OK;
}

static sp_status parse_distribution(const char *text, const char *context, distribution *value) {
  if (strcmp(text, "uniform") == 0) *value = DISTRIBUTION_UNIFORM;
  else if (strcmp(text, "truncated_normal") == 0 || strcmp(text, "normal") == 0) *value = DISTRIBUTION_TRUNCATED;
  else if (strcmp(text, "untruncated_normal") == 0) *value = DISTRIBUTION_UNTRUNCATED;
  else return sp_fail(SP_ERROR_FORMAT, "%s: unknown distribution '%s'", context, text);
  return SP_OK;
}

static sp_status parse_arguments(const json_object *config, const char *context, initializer *spec) {
  const char *text;
  SP_TRY(sp_json_get_double(config, "value", spec->value, context, &spec->value));
  SP_TRY(sp_json_get_double(config, "gain", spec->value, context, &spec->value));
  SP_TRY(sp_json_get_double(config, "minval", spec->low, context, &spec->low));
  SP_TRY(sp_json_get_double(config, "maxval", spec->high, context, &spec->high));
  SP_TRY(sp_json_get_double(config, "mean", spec->mean, context, &spec->mean));
  SP_TRY(sp_json_get_double(config, "stddev", spec->deviation, context, &spec->deviation));
  SP_TRY(sp_json_get_double(config, "scale", spec->scale, context, &spec->scale));
  SP_TRY(sp_json_get_string(config, "mode", NULL, context, &text));
  if (text) SP_TRY(parse_mode(text, context, &spec->mode));
  SP_TRY(sp_json_get_string(config, "distribution", NULL, context, &text));
  if (text) SP_TRY(parse_distribution(text, context, &spec->distribution));
  json_object *seed = sp_json_member(config, "seed");
  if (seed && json_object_is_type(seed, json_type_int)) {
    spec->has_seed = 1;
    spec->seed = json_object_get_int64(seed);
  }
  return SP_OK;
}

static sp_status resolve(const json_object *spec_json, const char *context, initializer *spec) {
  const char *name;
  const json_object *config;
  if (!spec_json || json_object_is_type(spec_json, json_type_null)) {
    *spec = known[0].defaults;
    return SP_OK;
  }
  SP_TRY(spec_name_and_config(spec_json, "initializer", context, &name, &config));
  const named_initializer *found = find_initializer(name);
  if (!found)
    return sp_fail(SP_ERROR_UNSUPPORTED,
                   "%s: unknown initializer '%s' (known: Zeros, Ones, Constant, RandomUniform, RandomNormal, "
                   "TruncatedNormal, VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, "
                   "LecunUniform, LecunNormal, Orthogonal, Identity)",
                   context, name);
  *spec = found->defaults;
  if (config) SP_TRY(parse_arguments(config, context, spec));
  if (spec->scale <= 0 && spec->family == FAMILY_VARIANCE_SCALING)
    return sp_fail(SP_ERROR_FORMAT, "%s: VarianceScaling scale must be positive, found %g", context, spec->scale);
  return SP_OK;
}

sp_status sp_initializer_check(const json_object *spec, const char *context) {
  initializer resolved;
  return resolve(spec, context, &resolved);
}

void sp_compute_fans(int rank, const int64_t *shape, double *fan_in, double *fan_out) {
  if (rank == 0) {
    *fan_in = *fan_out = 1;
  } else if (rank == 1) {
    *fan_in = *fan_out = (double)shape[0];
  } else if (rank == 2) {
    *fan_in = (double)shape[0];
    *fan_out = (double)shape[1];
  } else {
    double receptive_field = 1;
    for (int i = 0; i < rank - 2; i++) receptive_field *= (double)shape[i];
    *fan_in = (double)shape[rank - 2] * receptive_field;
    *fan_out = (double)shape[rank - 1] * receptive_field;
  }
}

static double truncated_normal(sp_rng *rng, double mean, double deviation) {
  for (;;) {
    double draw = sp_rng_normal(rng);
    if (fabs(draw) <= 2.0) return mean + deviation * draw;
  }
}

/* Keras Orthogonal: QR of a normal matrix via modified Gram–Schmidt on the longer side, signs from R. */
static sp_status fill_orthogonal(const initializer *spec, sp_tensor *tensor, sp_rng *rng, const char *context) {
  if (tensor->rank < 2) return sp_fail(SP_ERROR_MISMATCH, "%s: Orthogonal needs a variable of rank >= 2", context);
  int64_t columns = tensor->shape[tensor->rank - 1];
  int64_t rows = sp_tensor_count(tensor) / (columns ? columns : 1);
  int transposed = rows < columns;
  int64_t n = transposed ? columns : rows, k = transposed ? rows : columns; /* n >= k: k orthonormal columns of length n */
  double *basis = sp_alloc_zeroed((size_t)(n * k), sizeof *basis);
  if (!basis) return SP_ERROR_NO_MEMORY;
  for (int64_t i = 0; i < n * k; i++) basis[i] = sp_rng_normal(rng);
  for (int64_t j = 0; j < k; j++) {
    double *column = basis + j * n;
    for (int64_t previous = 0; previous < j; previous++) {
      const double *other = basis + previous * n;
      double dot = 0;
      for (int64_t i = 0; i < n; i++) dot += column[i] * other[i];
      for (int64_t i = 0; i < n; i++) column[i] -= dot * other[i];
    }
    double norm = 0;
    for (int64_t i = 0; i < n; i++) norm += column[i] * column[i];
    norm = sqrt(norm);
    for (int64_t i = 0; i < n; i++) column[i] /= norm > 0 ? norm : 1;
  }
  float *values = sp_tensor_floats(tensor);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < columns; c++)
      values[r * columns + c] = (float)(spec->value * (transposed ? basis[r * n + c] : basis[c * n + r]));
  free(basis);
  return SP_OK;
}

sp_status sp_initializer_fill(const json_object *spec_json, sp_tensor *tensor, sp_rng *rng, const char *context) {
  initializer spec;
  SP_TRY(resolve(spec_json, context, &spec));
  sp_rng seeded;
  if (spec.has_seed) {
    sp_rng_seed(&seeded, (uint64_t)spec.seed);
    rng = &seeded;
  }
  SP_TRY(sp_tensor_prepare_overwrite(tensor));
  float *values = sp_tensor_floats(tensor);
  int64_t count = sp_tensor_count(tensor);
  double fan_in, fan_out, scale, limit, deviation;
  switch (spec.family) {
    case FAMILY_CONSTANT:
      for (int64_t i = 0; i < count; i++) values[i] = (float)spec.value;
      return SP_OK;
    case FAMILY_UNIFORM:
      for (int64_t i = 0; i < count; i++) values[i] = (float)(spec.low + (spec.high - spec.low) * sp_rng_uniform(rng));
      return SP_OK;
    case FAMILY_NORMAL:
      for (int64_t i = 0; i < count; i++) values[i] = (float)(spec.mean + spec.deviation * sp_rng_normal(rng));
      return SP_OK;
    case FAMILY_TRUNCATED_NORMAL:
      for (int64_t i = 0; i < count; i++) values[i] = (float)truncated_normal(rng, spec.mean, spec.deviation);
      return SP_OK;
    case FAMILY_VARIANCE_SCALING:
      sp_compute_fans(tensor->rank, tensor->shape, &fan_in, &fan_out);
      scale = spec.scale / fmax(1.0, spec.mode == FAN_IN ? fan_in : spec.mode == FAN_OUT ? fan_out : (fan_in + fan_out) / 2);
      if (spec.distribution == DISTRIBUTION_UNIFORM) {
        limit = sqrt(3.0 * scale);
        for (int64_t i = 0; i < count; i++) values[i] = (float)(limit * (2.0 * sp_rng_uniform(rng) - 1.0));
      } else if (spec.distribution == DISTRIBUTION_TRUNCATED) {
        deviation = sqrt(scale) / 0.87962566103423978; /* std of a unit normal truncated at ±2 */
        for (int64_t i = 0; i < count; i++) values[i] = (float)truncated_normal(rng, 0, deviation);
      } else {
        deviation = sqrt(scale);
        for (int64_t i = 0; i < count; i++) values[i] = (float)(deviation * sp_rng_normal(rng));
      }
      return SP_OK;
    case FAMILY_ORTHOGONAL:
      return fill_orthogonal(&spec, tensor, rng, context);
    case FAMILY_IDENTITY:
      if (tensor->rank != 2) return sp_fail(SP_ERROR_MISMATCH, "%s: Identity needs a 2-D variable", context);
      memset(values, 0, tensor->size);
      for (int64_t i = 0; i < tensor->shape[0] && i < tensor->shape[1]; i++)
        values[i * tensor->shape[1] + i] = (float)spec.value;
      return SP_OK;
  }
  return sp_fail(SP_ERROR_INTERNAL, "%s: unhandled initializer family", context);
}

/* ---- regularizers ---- */

sp_status sp_regularizer_parse(const json_object *spec, const char *context, sp_regularizer *regularizer) {
  regularizer->l1 = regularizer->l2 = 0;
  if (!spec || json_object_is_type(spec, json_type_null)) return SP_OK;
  const char *name;
  const json_object *config;
  SP_TRY(spec_name_and_config(spec, "regularizer", context, &name, &config));
  int l1 = strcmp(name, "L1") == 0 || strcmp(name, "l1") == 0;
  int l2 = strcmp(name, "L2") == 0 || strcmp(name, "l2") == 0;
  int both = strcmp(name, "L1L2") == 0 || strcmp(name, "l1_l2") == 0;
  if (!l1 && !l2 && !both)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: unknown regularizer '%s' (known: L1, L2, L1L2)", context, name);
  /* Keras defaults: L1(0.01), L2(0.01), L1L2(0, 0); the string forms use 0.01. */
  SP_TRY(sp_json_get_double(config, "l1", l1 ? 0.01 : both && config ? 0 : both ? 0.01 : 0, context, &regularizer->l1));
  SP_TRY(sp_json_get_double(config, "l2", l2 ? 0.01 : both && config ? 0 : both ? 0.01 : 0, context, &regularizer->l2));
  return SP_OK;
}

double sp_regularizer_apply(const sp_regularizer *regularizer, const sp_tensor *value, sp_tensor *gradient) {
  if (regularizer->l1 == 0 && regularizer->l2 == 0) return 0;
  const float *w = sp_tensor_floats(value);
  float *g = gradient ? sp_tensor_floats(gradient) : NULL;
  double penalty = 0;
  for (int64_t i = 0; i < sp_tensor_count(value); i++) {
    penalty += regularizer->l1 * fabs(w[i]) + regularizer->l2 * (double)w[i] * w[i];
    if (g) g[i] += (float)(regularizer->l1 * ((w[i] > 0) - (w[i] < 0)) + 2.0 * regularizer->l2 * w[i]);
  }
  return penalty;
}

/* ---- constraints ---- */

sp_status sp_constraint_parse(const json_object *spec, const char *context, sp_constraint *constraint) {
  memset(constraint, 0, sizeof *constraint);
  if (!spec || json_object_is_type(spec, json_type_null)) return SP_OK;
  const char *name;
  const json_object *config;
  SP_TRY(spec_name_and_config(spec, "constraint", context, &name, &config));
  if (strcmp(name, "NonNeg") == 0 || strcmp(name, "non_neg") == 0) constraint->kind = SP_CONSTRAINT_NON_NEG;
  else if (strcmp(name, "MaxNorm") == 0 || strcmp(name, "max_norm") == 0) constraint->kind = SP_CONSTRAINT_MAX_NORM;
  else if (strcmp(name, "MinMaxNorm") == 0 || strcmp(name, "min_max_norm") == 0) constraint->kind = SP_CONSTRAINT_MIN_MAX_NORM;
  else if (strcmp(name, "UnitNorm") == 0 || strcmp(name, "unit_norm") == 0) constraint->kind = SP_CONSTRAINT_UNIT_NORM;
  else return sp_fail(SP_ERROR_UNSUPPORTED, "%s: unknown constraint '%s' (known: NonNeg, MaxNorm, MinMaxNorm, UnitNorm)", context, name);
  SP_TRY(sp_json_get_double(config, "max_value", constraint->kind == SP_CONSTRAINT_MAX_NORM ? 2.0 : 1.0, context, &constraint->max_value));
  SP_TRY(sp_json_get_double(config, "min_value", 0.0, context, &constraint->min_value));
  SP_TRY(sp_json_get_double(config, "rate", 1.0, context, &constraint->rate));
  json_object *axis = sp_json_member(config, "axis");
  if (axis && json_object_is_type(axis, json_type_int)) {
    constraint->axis_count = 1;
    constraint->axes[0] = json_object_get_int(axis);
  } else if (axis && json_object_is_type(axis, json_type_array)) {
    size_t count = json_object_array_length(axis);
    if (count > SP_MAX_RANK) return sp_fail(SP_ERROR_FORMAT, "%s: too many constraint axes", context);
    for (size_t i = 0; i < count; i++) constraint->axes[i] = json_object_get_int(json_object_array_get_idx(axis, i));
    constraint->axis_count = (int)count;
  } else {
    constraint->axis_count = 1;
    constraint->axes[0] = 0; /* Keras default axis=0 */
  }
  return SP_OK;
}

/* Norms over the constraint axes: each output element of the reduction is one "column". */
void sp_constraint_apply(const sp_constraint *constraint, sp_tensor *value) {
  if (constraint->kind == SP_CONSTRAINT_NONE) return;
  float *w = sp_tensor_floats(value);
  int64_t count = sp_tensor_count(value);
  if (constraint->kind == SP_CONSTRAINT_NON_NEG) {
    for (int64_t i = 0; i < count; i++) if (w[i] < 0) w[i] = 0;
    return;
  }
  int reduced[SP_MAX_RANK] = {0};
  for (int a = 0; a < constraint->axis_count; a++) {
    int axis = constraint->axes[a] < 0 ? constraint->axes[a] + value->rank : constraint->axes[a];
    if (axis >= 0 && axis < value->rank) reduced[axis] = 1;
  }
  /* Map each element to the index of its norm group (the coordinates on non-reduced axes). */
  int64_t groups = 1;
  for (int d = 0; d < value->rank; d++) if (!reduced[d]) groups *= value->shape[d];
  double *norms = calloc((size_t)groups, sizeof *norms);
  if (!norms) return; /* constraints are best-effort under memory exhaustion */
  for (int pass = 0; pass < 2; pass++) {
    for (int64_t i = 0; i < count; i++) {
      int64_t remainder = i, group = 0, group_stride = 1;
      for (int d = value->rank - 1; d >= 0; d--) {
        int64_t coordinate = remainder % value->shape[d];
        remainder /= value->shape[d];
        if (!reduced[d]) {
          group += coordinate * group_stride;
          group_stride *= value->shape[d];
        }
      }
      if (pass == 0) {
        norms[group] += (double)w[i] * w[i];
        continue;
      }
      double norm = sqrt(norms[group]), desired;
      if (constraint->kind == SP_CONSTRAINT_UNIT_NORM) desired = 1.0;
      else if (constraint->kind == SP_CONSTRAINT_MAX_NORM) desired = fmin(norm, constraint->max_value);
      else desired = constraint->rate * fmin(fmax(norm, constraint->min_value), constraint->max_value) + (1 - constraint->rate) * norm;
      w[i] = (float)(w[i] * desired / (1e-7 + norm)); /* Keras epsilon */
    }
  }
  free(norms);
}
