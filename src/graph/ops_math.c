/* ops_math.c — element-wise arithmetic, comparison, logic, activations and Cast, with NumPy
 * broadcasting.
 *
 * Floating-point types compute in double and round once to the element type; for float32 the
 * basic arithmetic is then bit-identical to TensorFlow's, and transcendental functions agree to
 * about an ulp. Integers compute in 64 bits with two's-complement wrap-around (never undefined
 * behaviour); integer division by zero is an error, as in TensorFlow.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/ops.h"

/* ---------- broadcasting ---------- */

enum { MAX_OPERANDS = 3 };

typedef struct broadcast {
  int rank;
  int64_t shape[SP_MAX_RANK];
  int64_t count;
  int operands;
  int64_t strides[MAX_OPERANDS][SP_MAX_RANK]; /* 0 along broadcast dimensions */
} broadcast;

static sp_status broadcast_shapes(sp_kernel_context *context, const sp_tensor *const *tensors, int operands,
                                  broadcast *b) {
  memset(b, 0, sizeof *b);
  b->operands = operands;
  for (int i = 0; i < operands; i++)
    if (tensors[i]->rank > b->rank) b->rank = tensors[i]->rank;
  for (int d = 0; d < b->rank; d++) {
    int64_t size = 1;
    for (int i = 0; i < operands; i++) {
      int axis = d - (b->rank - tensors[i]->rank);
      int64_t dim = axis >= 0 ? tensors[i]->shape[axis] : 1;
      if (dim == 1) continue;
      if (size != 1 && size != dim) {
        char first[128], second[128];
        return sp_kernel_fail(context, SP_ERROR_MISMATCH, "shapes %s and %s are not broadcastable",
                              sp_shape_format(tensors[0]->rank, tensors[0]->shape, first, sizeof first),
                              sp_shape_format(tensors[i]->rank, tensors[i]->shape, second, sizeof second));
      }
      size = dim;
    }
    b->shape[d] = size;
  }
  for (int i = 0; i < operands; i++) {
    int64_t stride = 1;
    for (int d = b->rank - 1; d >= 0; d--) {
      int axis = d - (b->rank - tensors[i]->rank);
      int64_t dim = axis >= 0 ? tensors[i]->shape[axis] : 1;
      b->strides[i][d] = dim == 1 ? 0 : stride;
      stride *= dim;
    }
  }
  SP_TRY(sp_shape_count(b->rank, b->shape, &b->count));
  return SP_OK;
}

/* Walks output elements in order, keeping each operand's element offset. */
typedef struct broadcast_cursor {
  int64_t counter[SP_MAX_RANK];
  int64_t offset[MAX_OPERANDS];
} broadcast_cursor;

static void cursor_advance(const broadcast *b, broadcast_cursor *cursor) {
  for (int d = b->rank - 1; d >= 0; d--) {
    cursor->counter[d]++;
    for (int i = 0; i < b->operands; i++) cursor->offset[i] += b->strides[i][d];
    if (cursor->counter[d] < b->shape[d]) return;
    for (int i = 0; i < b->operands; i++) cursor->offset[i] -= b->strides[i][d] * b->shape[d];
    cursor->counter[d] = 0;
  }
}

/* ---------- binary ops ---------- */

typedef enum binary_kind {
  ADD, SUB, MUL, REAL_DIV, DIV, FLOOR_DIV, FLOOR_MOD, TRUNCATE_DIV, TRUNCATE_MOD, MAXIMUM, MINIMUM, POW,
  SQUARED_DIFFERENCE, DIV_NO_NAN, ATAN2, GREATER, GREATER_EQUAL, LESS, LESS_EQUAL, EQUAL, NOT_EQUAL,
  LOGICAL_AND, LOGICAL_OR
} binary_kind;

static int is_comparison(binary_kind kind) { return kind >= GREATER && kind <= NOT_EQUAL; }
static int is_logical(binary_kind kind) { return kind == LOGICAL_AND || kind == LOGICAL_OR; }

static double float_binary(binary_kind kind, double a, double b) {
  switch (kind) {
    case ADD: return a + b;
    case SUB: return a - b;
    case MUL: return a * b;
    case REAL_DIV: case DIV: case TRUNCATE_DIV: return a / b;
    case FLOOR_DIV: return floor(a / b);
    case FLOOR_MOD: {
      double r = fmod(a, b);
      return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
    }
    case TRUNCATE_MOD: return fmod(a, b);
    case MAXIMUM: return isnan(a) || isnan(b) ? NAN : a > b ? a : b;
    case MINIMUM: return isnan(a) || isnan(b) ? NAN : a < b ? a : b;
    case POW: return pow(a, b);
    case SQUARED_DIFFERENCE: return (a - b) * (a - b);
    case DIV_NO_NAN: return b == 0 ? 0 : a / b;
    case ATAN2: return atan2(a, b);
    default: return 0;
  }
}

/* Integer arithmetic in uint64 so that overflow wraps instead of being undefined. */
static int integer_binary(binary_kind kind, int64_t a, int64_t b, int64_t *result) {
  uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
  switch (kind) {
    case ADD: *result = (int64_t)(ua + ub); return 1;
    case SUB: *result = (int64_t)(ua - ub); return 1;
    case MUL: *result = (int64_t)(ua * ub); return 1;
    case SQUARED_DIFFERENCE: *result = (int64_t)((ua - ub) * (ua - ub)); return 1;
    case MAXIMUM: *result = a > b ? a : b; return 1;
    case MINIMUM: *result = a < b ? a : b; return 1;
    case DIV_NO_NAN: if (b == 0) { *result = 0; return 1; } /* fall through */
    case DIV: case TRUNCATE_DIV: case REAL_DIV: case FLOOR_DIV: case FLOOR_MOD: case TRUNCATE_MOD:
      if (b == 0) return 0;
      if (a == INT64_MIN && b == -1) { *result = kind == FLOOR_MOD || kind == TRUNCATE_MOD ? 0 : INT64_MIN; return 1; }
      if (kind == FLOOR_DIV) *result = a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
      else if (kind == FLOOR_MOD) *result = (a % b != 0 && ((a % b < 0) != (b < 0))) ? a % b + b : a % b;
      else if (kind == TRUNCATE_MOD) *result = a % b;
      else *result = a / b;
      return 1;
    case POW: {
      if (b < 0) return 0;
      uint64_t base = ua, power = 1;
      for (int64_t e = b; e > 0; e >>= 1) {
        if (e & 1) power *= base;
        base *= base;
      }
      *result = (int64_t)power;
      return 1;
    }
    default: *result = 0; return 1;
  }
}

/* Whether a comparison holds given the operands' order (-1, 0, 1); unordered (NaN) pairs compare
 * unequal and neither greater nor less, as in IEEE 754. */
static int comparison_holds(binary_kind kind, int order, int unordered) {
  if (unordered) return kind == NOT_EQUAL;
  switch (kind) {
    case GREATER: return order > 0;
    case GREATER_EQUAL: return order >= 0;
    case LESS: return order < 0;
    case LESS_EQUAL: return order <= 0;
    case EQUAL: return order == 0;
    default: return order != 0;
  }
}

static int strings_equal(const sp_string *a, const sp_string *b) {
  return a->length == b->length && memcmp(a->bytes, b->bytes, a->length) == 0;
}

static sp_status check_binary_dtypes(sp_kernel_context *context, binary_kind kind, const sp_tensor *a,
                                     const sp_tensor *b) {
  if (a->dtype != b->dtype)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "operands have different dtypes (%s and %s)",
                          sp_dtype_name(a->dtype), sp_dtype_name(b->dtype));
  sp_dtype dtype = a->dtype;
  if (is_logical(kind) && dtype != SP_BOOL)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "operands must be bool, found %s", sp_dtype_name(dtype));
  if (dtype == SP_STRING && kind != EQUAL && kind != NOT_EQUAL && kind != ADD)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "string operands are not supported");
  if (dtype == SP_BOOL && !is_logical(kind) && kind != EQUAL && kind != NOT_EQUAL)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "bool operands are not supported");
  if (!sp_dtype_is_float(dtype) && !sp_dtype_is_integer(dtype) && dtype != SP_STRING && dtype != SP_BOOL)
    return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "%s operands are not supported", sp_dtype_name(dtype));
  return SP_OK;
}

static sp_status string_element(sp_tensor *out, int64_t i, const sp_string *a, const sp_string *b) {
  char *joined = malloc(a->length + b->length + 1);
  if (!joined) return sp_fail(SP_ERROR_NO_MEMORY, "out of memory joining strings");
  memcpy(joined, a->bytes, a->length);
  memcpy(joined + a->length, b->bytes, b->length);
  sp_status status = sp_tensor_set_string(out, i, joined, a->length + b->length);
  free(joined);
  return status;
}

/* float32 a <op> b for the common ops, without per-element conversion (bit-identical results). */
static int float32_fast(binary_kind kind, const broadcast *b, const float *x, const float *y, float *out) {
  if (kind != ADD && kind != SUB && kind != MUL && kind != REAL_DIV && kind != DIV) return 0;
  broadcast_cursor cursor = {{0}, {0}};
  for (int64_t i = 0; i < b->count; i++) {
    float p = x[cursor.offset[0]], q = y[cursor.offset[1]];
    out[i] = kind == ADD ? p + q : kind == SUB ? p - q : kind == MUL ? p * q : p / q;
    cursor_advance(b, &cursor);
  }
  return 1;
}

static sp_status binary_elements(sp_kernel_context *context, binary_kind kind, const sp_tensor *a, const sp_tensor *b,
                                 const broadcast *shape, sp_tensor *out) {
  if (a->dtype == SP_FLOAT32 && out->dtype == SP_FLOAT32 && float32_fast(kind, shape, a->data, b->data, out->data))
    return SP_OK;
  broadcast_cursor cursor = {{0}, {0}};
  for (int64_t i = 0; i < shape->count; i++) {
    int64_t p = cursor.offset[0], q = cursor.offset[1];
    if (a->dtype == SP_STRING) {
      const sp_string *x = &((const sp_string *)a->data)[p], *y = &((const sp_string *)b->data)[q];
      if (kind == ADD) SP_TRY(string_element(out, i, x, y));
      else ((uint8_t *)out->data)[i] = (uint8_t)(strings_equal(x, y) == (kind == EQUAL));
    } else if (is_logical(kind)) {
      int x = ((const uint8_t *)a->data)[p] != 0, y = ((const uint8_t *)b->data)[q] != 0;
      ((uint8_t *)out->data)[i] = (uint8_t)(kind == LOGICAL_AND ? x && y : x || y);
    } else if (sp_dtype_is_float(a->dtype)) {
      double x = sp_tensor_get_double(a, p), y = sp_tensor_get_double(b, q);
      if (is_comparison(kind))
        ((uint8_t *)out->data)[i] = (uint8_t)comparison_holds(kind, (x > y) - (x < y), isnan(x) || isnan(y));
      else sp_tensor_set_double(out, i, float_binary(kind, x, y));
    } else {
      int64_t x = sp_tensor_get_int(a, p), y = sp_tensor_get_int(b, q), result;
      if (is_comparison(kind)) {
        ((uint8_t *)out->data)[i] = (uint8_t)comparison_holds(kind, (x > y) - (x < y), 0);
      } else {
        if (!integer_binary(kind, x, y, &result))
          return sp_kernel_fail(context, SP_ERROR_INVALID_ARGUMENT,
                                y == 0 ? "integer division by zero" : "negative integer exponent");
        sp_tensor_set_int(out, i, result);
      }
    }
    cursor_advance(shape, &cursor);
  }
  return SP_OK;
}

static sp_status compute_binary(sp_kernel_context *context, binary_kind kind, const sp_tensor *a, const sp_tensor *b,
                                sp_tensor **result) {
  SP_TRY(check_binary_dtypes(context, kind, a, b));
  const sp_tensor *operands[2] = {a, b};
  broadcast shape;
  SP_TRY(broadcast_shapes(context, operands, 2, &shape));
  sp_dtype out_dtype = is_comparison(kind) ? SP_BOOL : a->dtype;
  SP_TRY(sp_kernel_check_shape(context, out_dtype, shape.rank, shape.shape));
  sp_tensor *out = sp_tensor_new(out_dtype, shape.rank, shape.shape);
  if (!out) return SP_ERROR_NO_MEMORY;
  sp_status status = binary_elements(context, kind, a, b, &shape, out);
  if (status != SP_OK) {
    sp_tensor_free(out);
    return status;
  }
  *result = out;
  return SP_OK;
}

static const struct {
  const char *name;
  binary_kind kind;
} binary_names[] = {
    {"Add", ADD}, {"AddV2", ADD}, {"Sub", SUB}, {"Mul", MUL}, {"RealDiv", REAL_DIV}, {"Div", DIV},
    {"FloorDiv", FLOOR_DIV}, {"FloorMod", FLOOR_MOD}, {"TruncateDiv", TRUNCATE_DIV}, {"TruncateMod", TRUNCATE_MOD},
    {"Mod", TRUNCATE_MOD}, {"Maximum", MAXIMUM}, {"Minimum", MINIMUM}, {"Pow", POW},
    {"SquaredDifference", SQUARED_DIFFERENCE}, {"DivNoNan", DIV_NO_NAN}, {"Atan2", ATAN2}, {"Greater", GREATER},
    {"GreaterEqual", GREATER_EQUAL}, {"Less", LESS}, {"LessEqual", LESS_EQUAL}, {"Equal", EQUAL},
    {"NotEqual", NOT_EQUAL}, {"LogicalAnd", LOGICAL_AND}, {"LogicalOr", LOGICAL_OR},
};

static int find_binary(const char *name, binary_kind *kind) {
  for (size_t i = 0; i < sizeof binary_names / sizeof *binary_names; i++)
    if (strcmp(binary_names[i].name, name) == 0) {
      *kind = binary_names[i].kind;
      return 1;
    }
  return 0;
}

sp_status sp_graph_binary(sp_kernel_context *context, const char *op, const sp_tensor *a, const sp_tensor *b,
                          sp_tensor **result) {
  binary_kind kind;
  if (!find_binary(op, &kind)) return sp_kernel_fail(context, SP_ERROR_INTERNAL, "no element-wise op '%s'", op);
  return compute_binary(context, kind, a, b, result);
}

static sp_status binary(sp_kernel_context *context) {
  binary_kind kind;
  if (!find_binary(context->node->op, &kind)) return sp_kernel_fail(context, SP_ERROR_INTERNAL, "unknown binary op");
  if (context->input_count != 2) return sp_kernel_fail(context, SP_ERROR_FORMAT, "needs 2 inputs");
  const sp_tensor *a, *b;
  SP_TRY(sp_kernel_input(context, 0, &a));
  SP_TRY(sp_kernel_input(context, 1, &b));
  sp_tensor *out;
  SP_TRY(compute_binary(context, kind, a, b, &out));
  return sp_kernel_output_tensor(context, 0, out);
}

/* AddN: the sum of N same-shaped tensors. */
static sp_status add_n(sp_kernel_context *context) {
  if (context->input_count == 0) return sp_kernel_fail(context, SP_ERROR_FORMAT, "needs inputs");
  const sp_tensor *first;
  SP_TRY(sp_kernel_input(context, 0, &first));
  sp_tensor *sum = sp_tensor_copy(first);
  if (!sum) return SP_ERROR_NO_MEMORY;
  for (size_t i = 1; i < context->input_count; i++) {
    const sp_tensor *next;
    sp_tensor *added = NULL;
    sp_status status = sp_kernel_input(context, i, &next);
    if (status == SP_OK && !sp_tensor_same_shape(next, sum))
      status = sp_kernel_fail(context, SP_ERROR_MISMATCH, "input %zu differs in shape or dtype", i);
    if (status == SP_OK) status = compute_binary(context, ADD, sum, next, &added);
    sp_tensor_free(sum);
    if (status != SP_OK) return status;
    sum = added;
  }
  return sp_kernel_output_tensor(context, 0, sum);
}

/* ---------- unary ops ---------- */

typedef enum unary_kind {
  NEG, ABS, SQRT, RSQRT, EXP, EXPM1, LOG, LOG1P, SQUARE, RECIPROCAL, SIGN, FLOOR, CEIL, ROUND, SIN, COS, TAN,
  TANH, SIGMOID, RELU, RELU6, ELU, SELU, SOFTPLUS, SOFTSIGN, ERF, LEAKY_RELU, IS_NAN, IS_INF, IS_FINITE, LOGICAL_NOT,
  ZEROS_LIKE, ONES_LIKE
} unary_kind;

static double round_half_even(double x) {
  double r = nearbyint(x); /* default rounding mode: to nearest, ties to even */
  return r;
}

static double float_unary(unary_kind kind, double x, double alpha) {
  switch (kind) {
    case NEG: return -x;
    case ABS: return fabs(x);
    case SQRT: return sqrt(x);
    case RSQRT: return 1 / sqrt(x);
    case EXP: return exp(x);
    case EXPM1: return expm1(x);
    case LOG: return log(x);
    case LOG1P: return log1p(x);
    case SQUARE: return x * x;
    case RECIPROCAL: return 1 / x;
    case SIGN: return isnan(x) ? x : (x > 0) - (x < 0);
    case FLOOR: return floor(x);
    case CEIL: return ceil(x);
    case ROUND: return round_half_even(x);
    case SIN: return sin(x);
    case COS: return cos(x);
    case TAN: return tan(x);
    case TANH: return tanh(x);
    case SIGMOID: return 1 / (1 + exp(-x));
    case RELU: return x > 0 ? x : (isnan(x) ? x : 0);
    case RELU6: return isnan(x) ? x : x < 0 ? 0 : x > 6 ? 6 : x;
    case ELU: return x < 0 ? expm1(x) : x;
    case SELU: return 1.0507009873554804934193349852946 * (x < 0 ? 1.6732632423543772848170429916717 * expm1(x) : x);
    case SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case SOFTSIGN: return x / (1 + fabs(x));
    case ERF: return erf(x);
    case LEAKY_RELU: return x < 0 ? alpha * x : x;
    case ZEROS_LIKE: return 0;
    case ONES_LIKE: return 1;
    default: return x;
  }
}

static int integer_unary(unary_kind kind, int64_t x, int64_t *result) {
  switch (kind) {
    case NEG: *result = (int64_t)(0 - (uint64_t)x); return 1;
    case ABS: *result = x < 0 ? (int64_t)(0 - (uint64_t)x) : x; return 1;
    case SQUARE: *result = (int64_t)((uint64_t)x * (uint64_t)x); return 1;
    case SIGN: *result = (x > 0) - (x < 0); return 1;
    case RELU: *result = x > 0 ? x : 0; return 1;
    case RELU6: *result = x < 0 ? 0 : x > 6 ? 6 : x; return 1;
    case ZEROS_LIKE: *result = 0; return 1;
    case ONES_LIKE: *result = 1; return 1;
    case FLOOR: case CEIL: case ROUND: *result = x; return 1;
    default: return 0;
  }
}

static const struct {
  const char *name;
  unary_kind kind;
} unary_names[] = {
    {"Neg", NEG}, {"Abs", ABS}, {"Sqrt", SQRT}, {"Rsqrt", RSQRT}, {"Exp", EXP}, {"Expm1", EXPM1}, {"Log", LOG},
    {"Log1p", LOG1P}, {"Square", SQUARE}, {"Reciprocal", RECIPROCAL}, {"Inv", RECIPROCAL}, {"Sign", SIGN},
    {"Floor", FLOOR}, {"Ceil", CEIL}, {"Round", ROUND}, {"Rint", ROUND}, {"Sin", SIN}, {"Cos", COS}, {"Tan", TAN},
    {"Tanh", TANH}, {"Sigmoid", SIGMOID}, {"Relu", RELU}, {"Relu6", RELU6}, {"Elu", ELU}, {"Selu", SELU},
    {"Softplus", SOFTPLUS}, {"Softsign", SOFTSIGN}, {"Erf", ERF}, {"LeakyRelu", LEAKY_RELU}, {"IsNan", IS_NAN},
    {"IsInf", IS_INF}, {"IsFinite", IS_FINITE}, {"LogicalNot", LOGICAL_NOT}, {"ZerosLike", ZEROS_LIKE},
    {"OnesLike", ONES_LIKE},
};

static sp_status unary_elements(sp_kernel_context *context, unary_kind kind, const sp_tensor *x, double alpha,
                                sp_tensor *out) {
  int64_t count = sp_tensor_count(x);
  for (int64_t i = 0; i < count; i++) {
    if (kind == IS_NAN || kind == IS_INF || kind == IS_FINITE) {
      double v = sp_tensor_get_double(x, i);
      ((uint8_t *)out->data)[i] = (uint8_t)(kind == IS_NAN ? isnan(v) : kind == IS_INF ? isinf(v) : isfinite(v));
    } else if (kind == LOGICAL_NOT) {
      ((uint8_t *)out->data)[i] = !((const uint8_t *)x->data)[i];
    } else if (sp_dtype_is_float(x->dtype)) {
      sp_tensor_set_double(out, i, float_unary(kind, sp_tensor_get_double(x, i), alpha));
    } else {
      int64_t result;
      if (!integer_unary(kind, sp_tensor_get_int(x, i), &result))
        return sp_kernel_fail(context, SP_ERROR_MISMATCH, "is not defined for %s", sp_dtype_name(x->dtype));
      sp_tensor_set_int(out, i, result);
    }
  }
  return SP_OK;
}

static sp_status unary(sp_kernel_context *context) {
  unary_kind kind = NEG;
  int found = 0;
  for (size_t i = 0; i < sizeof unary_names / sizeof *unary_names && !found; i++)
    if (strcmp(unary_names[i].name, context->node->op) == 0) {
      kind = unary_names[i].kind;
      found = 1;
    }
  if (!found) return sp_kernel_fail(context, SP_ERROR_INTERNAL, "unknown unary op");
  const sp_tensor *x;
  SP_TRY(sp_kernel_input(context, 0, &x));
  int predicate = kind == IS_NAN || kind == IS_INF || kind == IS_FINITE;
  int numeric = sp_dtype_is_float(x->dtype) || sp_dtype_is_integer(x->dtype);
  int allowed = kind == LOGICAL_NOT ? x->dtype == SP_BOOL
                : predicate         ? sp_dtype_is_float(x->dtype)
                : kind == ZEROS_LIKE || kind == ONES_LIKE ? numeric || x->dtype == SP_BOOL
                                                          : numeric;
  if (!allowed) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "is not defined for %s", sp_dtype_name(x->dtype));
  double alpha;
  SP_TRY(sp_kernel_attr_float(context, "alpha", 0.2, &alpha));
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, predicate ? SP_BOOL : x->dtype, x->rank, x->shape, &out));
  if (x->dtype == SP_BOOL && (kind == ZEROS_LIKE || kind == ONES_LIKE)) {
    memset(out->data, kind == ONES_LIKE, out->size);
    return SP_OK;
  }
  return unary_elements(context, kind, x, alpha, out);
}

/* ---------- Cast, Select ---------- */

static sp_status cast(sp_kernel_context *context) {
  const sp_tensor *x;
  SP_TRY(sp_kernel_input(context, 0, &x));
  sp_dtype target;
  SP_TRY(sp_kernel_attr_type(context, "DstT", x->dtype, &target));
  if (x->dtype == target) return sp_kernel_forward(context, 0, 0);
  if (x->dtype == SP_STRING || target == SP_STRING || sp_dtype_size(target) == 0)
    return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "cannot cast %s to %s", sp_dtype_name(x->dtype),
                          sp_dtype_name(target));
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, target, x->rank, x->shape, &out));
  int64_t count = sp_tensor_count(x);
  int integer_source = !sp_dtype_is_float(x->dtype);
  int integer_target = !sp_dtype_is_float(target) && target != SP_BOOL;
  for (int64_t i = 0; i < count; i++) {
    if (integer_source && integer_target) sp_tensor_set_int(out, i, sp_tensor_get_int(x, i));
    else if (target == SP_BOOL) ((uint8_t *)out->data)[i] = sp_tensor_get_double(x, i) != 0;
    else if (integer_source) sp_tensor_set_double(out, i, (double)sp_tensor_get_int(x, i));
    else sp_tensor_set_double(out, i, sp_tensor_get_double(x, i)); /* to integers: truncated, saturated */
  }
  return SP_OK;
}

/* SelectV2 broadcasts condition, t and e together; Select also allows a vector condition that picks
 * whole rows of t and e. */
static sp_status select_op(sp_kernel_context *context) {
  const sp_tensor *condition, *t, *e;
  SP_TRY(sp_kernel_input_typed(context, 0, SP_BOOL, &condition));
  SP_TRY(sp_kernel_input(context, 1, &t));
  SP_TRY(sp_kernel_input(context, 2, &e));
  if (t->dtype != e->dtype) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "t and e differ in dtype");
  int row_select = strcmp(context->node->op, "Select") == 0 && condition->rank == 1 && t->rank > 1;
  sp_tensor *out;
  if (row_select) {
    if (!sp_tensor_same_shape(t, e) || condition->shape[0] != t->shape[0])
      return sp_kernel_fail(context, SP_ERROR_MISMATCH, "condition must have one value per row of t and e");
    SP_TRY(sp_kernel_output_new(context, 0, t->dtype, t->rank, t->shape, &out));
    int64_t inner = sp_tensor_count(t) / (t->shape[0] ? t->shape[0] : 1);
    for (int64_t i = 0; i < sp_tensor_count(t); i++)
      SP_TRY(sp_tensor_copy_element(out, i, ((const uint8_t *)condition->data)[i / inner] ? t : e, i));
    return SP_OK;
  }
  if (strcmp(context->node->op, "Select") == 0 && condition->rank && !sp_tensor_same_shape(t, e))
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "t and e must have one shape");
  const sp_tensor *operands[3] = {condition, t, e};
  broadcast shape;
  SP_TRY(broadcast_shapes(context, operands, 3, &shape));
  SP_TRY(sp_kernel_output_new(context, 0, t->dtype, shape.rank, shape.shape, &out));
  broadcast_cursor cursor = {{0}, {0}};
  for (int64_t i = 0; i < shape.count; i++) {
    int pick = ((const uint8_t *)condition->data)[cursor.offset[0]] != 0;
    SP_TRY(sp_tensor_copy_element(out, i, pick ? t : e, pick ? cursor.offset[1] : cursor.offset[2]));
    cursor_advance(&shape, &cursor);
  }
  return SP_OK;
}

/* ClipByValue(t, min, max) = Minimum(Maximum(t, min), max). */
static sp_status clip_by_value(sp_kernel_context *context) {
  const sp_tensor *t, *low, *high;
  SP_TRY(sp_kernel_input(context, 0, &t));
  SP_TRY(sp_kernel_input(context, 1, &low));
  SP_TRY(sp_kernel_input(context, 2, &high));
  sp_tensor *raised, *clipped;
  SP_TRY(compute_binary(context, MAXIMUM, t, low, &raised));
  sp_status status = compute_binary(context, MINIMUM, raised, high, &clipped);
  sp_tensor_free(raised);
  SP_TRY(status);
  return sp_kernel_output_tensor(context, 0, clipped);
}

const sp_op sp_graph_ops_math[] = {
    {"Add", binary, NULL, 0}, {"AddV2", binary, NULL, 0}, {"Sub", binary, NULL, 0}, {"Mul", binary, NULL, 0},
    {"RealDiv", binary, NULL, 0}, {"Div", binary, NULL, 0}, {"FloorDiv", binary, NULL, 0},
    {"FloorMod", binary, NULL, 0}, {"TruncateDiv", binary, NULL, 0}, {"TruncateMod", binary, NULL, 0},
    {"Mod", binary, NULL, 0}, {"Maximum", binary, NULL, 0}, {"Minimum", binary, NULL, 0}, {"Pow", binary, NULL, 0},
    {"SquaredDifference", binary, NULL, 0}, {"DivNoNan", binary, NULL, 0}, {"Atan2", binary, NULL, 0},
    {"Greater", binary, NULL, 0}, {"GreaterEqual", binary, NULL, 0}, {"Less", binary, NULL, 0},
    {"LessEqual", binary, NULL, 0}, {"Equal", binary, NULL, 0}, {"NotEqual", binary, NULL, 0},
    {"LogicalAnd", binary, NULL, 0}, {"LogicalOr", binary, NULL, 0}, {"AddN", add_n, NULL, 0},
    {"Neg", unary, NULL, 0}, {"Abs", unary, NULL, 0}, {"Sqrt", unary, NULL, 0}, {"Rsqrt", unary, NULL, 0},
    {"Exp", unary, NULL, 0}, {"Expm1", unary, NULL, 0}, {"Log", unary, NULL, 0}, {"Log1p", unary, NULL, 0},
    {"Square", unary, NULL, 0}, {"Reciprocal", unary, NULL, 0}, {"Inv", unary, NULL, 0}, {"Sign", unary, NULL, 0},
    {"Floor", unary, NULL, 0}, {"Ceil", unary, NULL, 0}, {"Round", unary, NULL, 0}, {"Rint", unary, NULL, 0},
    {"Sin", unary, NULL, 0}, {"Cos", unary, NULL, 0}, {"Tan", unary, NULL, 0}, {"Tanh", unary, NULL, 0},
    {"Sigmoid", unary, NULL, 0}, {"Relu", unary, NULL, 0}, {"Relu6", unary, NULL, 0}, {"Elu", unary, NULL, 0},
    {"Selu", unary, NULL, 0}, {"Softplus", unary, NULL, 0}, {"Softsign", unary, NULL, 0}, {"Erf", unary, NULL, 0},
    {"LeakyRelu", unary, NULL, 0}, {"IsNan", unary, NULL, 0}, {"IsInf", unary, NULL, 0},
    {"IsFinite", unary, NULL, 0}, {"LogicalNot", unary, NULL, 0}, {"ZerosLike", unary, NULL, 0},
    {"OnesLike", unary, NULL, 0}, {"Cast", cast, NULL, 0}, {"Select", select_op, NULL, 0},
    {"SelectV2", select_op, NULL, 0}, {"ClipByValue", clip_by_value, NULL, 0},
    {NULL, NULL, NULL, 0},
};
