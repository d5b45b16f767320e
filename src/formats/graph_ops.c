/* graph_ops.c — the OpDefs of every op the SavedModel exporter emits, for stripped_op_list.
 *
 * Each op is written in the notation of TensorFlow's REGISTER_OP (inputs "a: T", "values: N * T",
 * "ref: Ref(T)"; attrs "T: {float, double}", "N: int >= 1", "padding: {'SAME', 'VALID'}",
 * "dilations: list(int) = [1, 1, 1, 1]") and turned into an OpDef the way TF's OpDefBuilder does,
 * so the table reads like TF's op registry and the result is what TF 2.14 writes in
 * stripped_op_list (no docs). Definitions of ops that appear in the fixtures' stripped_op_lists are
 * compared with them in tests/unit/test_saved_model_export.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "formats/graph_builder.h"

enum { STATEFUL = 1, COMMUTATIVE = 2, AGGREGATE = 4, UNINITIALIZED = 8 };

typedef struct op_spec {
  const char *name;
  const char *inputs;  /* comma separated */
  const char *outputs; /* comma separated */
  const char *attrs;   /* semicolon separated */
  int flags;
} op_spec;

#define REAL_NUMBER_TYPES "{float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, uint64}"
#define NUMBER_TYPES                                                                                              \
  "{float, double, int32, uint8, int16, int8, complex64, int64, qint8, quint8, qint32, bfloat16, qint16, "        \
  "quint16, uint16, complex128, half, uint32, uint64}"
#define FLOAT_TYPES "{half, bfloat16, float, double}"
#define UNARY_COMPLEX "{bfloat16, half, float, double, complex64, complex128}"
#define UNARY_REAL "{bfloat16, half, float, double}"
#define BINARY_ARITHMETIC                                                                                         \
  "{bfloat16, half, float, double, uint8, int8, uint16, int16, int32, uint32, uint64, int64, complex64, "         \
  "complex128}"
#define MIN_MAX_TYPES "{bfloat16, half, float, double, int8, uint8, int16, uint16, int32, uint32, int64, uint64}"

/* By name. */
static const op_spec op_specs[] = {
    {"AddV2", "x: T, y: T", "z: T",
     "T: {bfloat16, half, float, double, uint8, uint16, uint32, uint64, int8, int16, int32, int64, complex64, "
     "complex128}",
     AGGREGATE | COMMUTATIVE},
    {"Assign", "ref: Ref(T), value: T", "output_ref: Ref(T)",
     "T: type; validate_shape: bool = true; use_locking: bool = true", UNINITIALIZED},
    {"AvgPool", "value: T", "output: T",
     "ksize: list(int) >= 4; strides: list(int) >= 4; padding: {'SAME', 'VALID'}; data_format: {'NHWC', 'NCHW'} = "
     "'NHWC'; T: " FLOAT_TYPES,
     0},
    {"BiasAdd", "value: T, bias: T", "output: T", "T: " NUMBER_TYPES "; data_format: {'NHWC', 'NCHW'} = 'NHWC'", 0},
    {"Cast", "x: SrcT", "y: DstT", "SrcT: type; DstT: type; Truncate: bool = false", 0},
    {"ConcatV2", "values: N * T, axis: Tidx", "output: T", "N: int >= 2; T: type; Tidx: {int32, int64} = DT_INT32", 0},
    {"Const", "", "output: dtype", "value: tensor; dtype: type", 0},
    {"Conv2D", "input: T, filter: T", "output: T",
     "T: {half, bfloat16, float, double, int32}; strides: list(int); use_cudnn_on_gpu: bool = true; padding: "
     "{'SAME', 'VALID', 'EXPLICIT'}; explicit_paddings: list(int) = []; data_format: {'NHWC', 'NCHW'} = 'NHWC'; "
     "dilations: list(int) = [1, 1, 1, 1]",
     0},
    {"DepthwiseConv2dNative", "input: T, filter: T", "output: T",
     "T: " FLOAT_TYPES "; strides: list(int); padding: {'SAME', 'VALID', 'EXPLICIT'}; explicit_paddings: list(int) "
     "= []; data_format: {'NHWC', 'NCHW'} = 'NHWC'; dilations: list(int) = [1, 1, 1, 1]",
     0},
    {"Elu", "features: T", "activations: T", "T: " FLOAT_TYPES, 0},
    {"Erf", "x: T", "y: T", "T: " UNARY_REAL, 0},
    {"Exp", "x: T", "y: T", "T: " UNARY_COMPLEX, 0},
    {"ExpandDims", "input: T, dim: Tdim", "output: T", "T: type; Tdim: {int32, int64} = DT_INT32", 0},
    {"GatherV2", "params: Tparams, indices: Tindices, axis: Taxis", "output: Tparams",
     "batch_dims: int = 0; Tparams: type; Tindices: {int16, int32, int64}; Taxis: {int32, int64}", 0},
    {"Greater", "x: T, y: T", "z: bool", "T: " REAL_NUMBER_TYPES, 0},
    {"Identity", "input: T", "output: T", "T: type", 0},
    {"LeakyRelu", "features: T", "activations: T", "alpha: float = 0.2; T: " FLOAT_TYPES " = DT_FLOAT", 0},
    {"LogSoftmax", "logits: T", "logsoftmax: T", "T: " FLOAT_TYPES, 0},
    {"MatMul", "a: T, b: T", "product: T",
     "transpose_a: bool = false; transpose_b: bool = false; T: {bfloat16, half, float, double, int32, int64, "
     "uint8, uint16, uint32, uint64, complex64, complex128}",
     0},
    {"MaxPool", "input: T", "output: T",
     "T: {half, bfloat16, float, double, int32, int64, uint8, int16, int8, uint16, qint8} = DT_FLOAT; ksize: "
     "list(int) >= 4; strides: list(int) >= 4; padding: {'SAME', 'VALID', 'EXPLICIT'}; explicit_paddings: "
     "list(int) = []; data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'",
     0},
    {"Max", "input: T, reduction_indices: Tidx", "output: T",
     "keep_dims: bool = false; T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
     "uint64, qint8, quint8, qint32, qint16, quint16}; Tidx: {int32, int64} = DT_INT32",
     0},
    {"Maximum", "x: T, y: T", "z: T", "T: " MIN_MAX_TYPES, COMMUTATIVE},
    {"Mean", "input: T, reduction_indices: Tidx", "output: T",
     "keep_dims: bool = false; T: " NUMBER_TYPES "; Tidx: {int32, int64} = DT_INT32", 0},
    {"MergeV2Checkpoints", "checkpoint_prefixes: string, destination_prefix: string", "",
     "delete_old_dirs: bool = true; allow_missing_files: bool = false", STATEFUL},
    {"Minimum", "x: T, y: T", "z: T", "T: " MIN_MAX_TYPES, COMMUTATIVE},
    {"Mul", "x: T, y: T", "z: T", "T: " BINARY_ARITHMETIC, COMMUTATIVE},
    {"NoOp", "", "", "", 0},
    {"Pack", "values: N * T", "output: T", "N: int >= 1; T: type; axis: int = 0", 0},
    {"Pad", "input: T, paddings: Tpaddings", "output: T", "T: type; Tpaddings: {int32, int64} = DT_INT32", 0},
    {"Placeholder", "", "output: dtype", "dtype: type; shape: shape = { unknown_rank: true }", 0},
    {"PlaceholderWithDefault", "input: dtype", "output: dtype", "dtype: type; shape: shape", 0},
    {"Relu", "features: T", "activations: T", "T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, "
     "half, uint32, uint64, qint8}", 0},
    {"Relu6", "features: T", "activations: T", "T: " REAL_NUMBER_TYPES, 0},
    {"Reshape", "tensor: T, shape: Tshape", "output: T", "T: type; Tshape: {int32, int64} = DT_INT32", 0},
    {"RestoreV2", "prefix: string, tensor_names: string, shape_and_slices: string", "tensors: dtypes",
     "dtypes: list(type) >= 1", STATEFUL},
    {"Rsqrt", "x: T", "y: T", "T: " UNARY_COMPLEX, 0},
    {"SaveV2", "prefix: string, tensor_names: string, shape_and_slices: string, tensors: dtypes", "",
     "dtypes: list(type) >= 1", STATEFUL},
    {"Selu", "features: T", "activations: T", "T: " FLOAT_TYPES, 0},
    {"ShardedFilename", "basename: string, shard: int32, num_shards: int32", "filename: string", "", 0},
    {"Sigmoid", "x: T", "y: T", "T: " UNARY_COMPLEX, 0},
    {"Softmax", "logits: T", "softmax: T", "T: " FLOAT_TYPES, 0},
    {"Softplus", "features: T", "activations: T", "T: " FLOAT_TYPES, 0},
    {"Softsign", "features: T", "activations: T", "T: " FLOAT_TYPES, 0},
    {"SquaredDifference", "x: T, y: T", "z: T",
     "T: {bfloat16, half, float, double, int8, int16, int32, int64, complex64, complex128}", COMMUTATIVE},
    {"Squeeze", "input: T", "output: T", "T: type; squeeze_dims: list(int) >= 0 = []", 0},
    {"StridedSlice", "input: T, begin: Index, end: Index, strides: Index", "output: T",
     "T: type; Index: {int32, int64}; begin_mask: int = 0; end_mask: int = 0; ellipsis_mask: int = 0; "
     "new_axis_mask: int = 0; shrink_axis_mask: int = 0",
     0},
    {"StringJoin", "inputs: N * string", "output: string", "N: int >= 0; separator: string = ''", 0},
    {"Sub", "x: T, y: T", "z: T",
     "T: {bfloat16, half, float, double, uint8, int8, uint16, int16, int32, int64, complex64, complex128, uint32, "
     "uint64}",
     0},
    {"Tanh", "x: T", "y: T", "T: " UNARY_COMPLEX, 0},
    {"VariableV2", "", "ref: Ref(dtype)", "shape: shape; dtype: type; container: string = ''; shared_name: string = ''",
     STATEFUL},
};

/* ---- parsing the notation ---- */

typedef struct parser {
  sp_graph_builder *builder;
  const char *op;
  sp_status status;
} parser;

static void parse_fail(parser *p, const char *what, const char *text) {
  if (p->status == SP_OK)
    p->status = sp_graph_builder_fail(p->builder,
                                      sp_fail(SP_ERROR_INTERNAL, "op '%s': cannot read %s '%s'", p->op, what, text));
}

static char *trimmed(parser *p, const char *start, size_t length) {
  while (length && isspace((unsigned char)*start)) start++, length--;
  while (length && isspace((unsigned char)start[length - 1])) length--;
  char *text = sp_graph_alloc(p->builder, length + 1);
  if (text) memcpy(text, start, length);
  return text;
}

/* TensorFlow's DataType numbers by the names REGISTER_OP uses. */
static const struct {
  const char *name;
  int number;
} dtype_names[] = {
    {"float", 1},   {"double", 2},  {"int32", 3},    {"uint8", 4},     {"int16", 5},       {"int8", 6},
    {"string", 7},  {"complex64", 8}, {"int64", 9},  {"bool", 10},     {"qint8", 11},      {"quint8", 12},
    {"qint32", 13}, {"bfloat16", 14}, {"qint16", 15}, {"quint16", 16}, {"uint16", 17},     {"complex128", 18},
    {"half", 19},   {"resource", 20}, {"uint32", 22}, {"uint64", 23},
};

/* The DataType number of "float" or "DT_FLOAT", 0 when text names none. */
static int dtype_number(const char *text) {
  char lower[32];
  size_t n = 0;
  for (const char *c = strncmp(text, "DT_", 3) == 0 ? text + 3 : text; *c && n + 1 < sizeof lower; c++)
    lower[n++] = (char)tolower((unsigned char)*c);
  lower[n] = 0;
  for (size_t i = 0; i < sizeof dtype_names / sizeof *dtype_names; i++)
    if (strcmp(dtype_names[i].name, lower) == 0) return dtype_names[i].number;
  return 0;
}

/* Splits text at separator (outside braces and brackets); calls each on every trimmed piece. */
static void split(parser *p, const char *text, char separator, void (*each)(parser *, char *, void *), void *context) {
  int depth = 0;
  const char *start = text;
  for (const char *c = text;; c++) {
    if (*c == '{' || *c == '[' || *c == '(') depth++;
    if (*c == '}' || *c == ']' || *c == ')') depth--;
    if (*c == 0 || (*c == separator && depth == 0)) {
      char *piece = trimmed(p, start, (size_t)(c - start));
      if (piece && *piece) each(p, piece, context);
      if (*c == 0) return;
      start = c + 1;
    }
  }
}

typedef struct list_builder {
  Tensorflow__AttrValue__ListValue *list;
  int strings;
} list_builder;

static void add_list_item(parser *p, char *item, void *context) {
  list_builder *target = context;
  Tensorflow__AttrValue__ListValue *list = target->list;
  if (item[0] == '\'') {
    size_t length = strlen(item);
    if (length < 2 || item[length - 1] != '\'') return parse_fail(p, "string", item);
    item[length - 1] = 0;
    ProtobufCBinaryData *grown = sp_graph_alloc(p->builder, (list->n_s + 1) * sizeof *grown);
    if (!grown) return;
    if (list->n_s) memcpy(grown, list->s, list->n_s * sizeof *grown);
    grown[list->n_s].data = (uint8_t *)item + 1;
    grown[list->n_s].len = length - 2;
    list->s = grown;
    list->n_s++;
  } else if (isdigit((unsigned char)item[0]) || item[0] == '-') {
    int64_t *grown = sp_graph_alloc(p->builder, (list->n_i + 1) * sizeof *grown);
    if (!grown) return;
    if (list->n_i) memcpy(grown, list->i, list->n_i * sizeof *grown);
    grown[list->n_i] = strtoll(item, NULL, 10);
    list->i = grown;
    list->n_i++;
  } else {
    int number = dtype_number(item);
    if (!number) return parse_fail(p, "type", item);
    Tensorflow__DataType *grown = sp_graph_alloc(p->builder, (list->n_type + 1) * sizeof *grown);
    if (!grown) return;
    if (list->n_type) memcpy(grown, list->type, list->n_type * sizeof *grown);
    grown[list->n_type] = (Tensorflow__DataType)number;
    list->type = grown;
    list->n_type++;
  }
}

/* "{a, b}" or "[1, 2]" as an AttrValue holding a list. */
static Tensorflow__AttrValue *list_value(parser *p, const char *text) {
  size_t length = strlen(text);
  Tensorflow__AttrValue *value = sp_graph_alloc(p->builder, sizeof *value);
  Tensorflow__AttrValue__ListValue *list = sp_graph_alloc(p->builder, sizeof *list);
  char *inner = trimmed(p, text + 1, length >= 2 ? length - 2 : 0);
  if (!value || !list || !inner) return NULL;
  tensorflow__attr_value__init(value);
  tensorflow__attr_value__list_value__init(list);
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_LIST;
  value->list = list;
  list_builder target = {list, 0};
  split(p, inner, ',', add_list_item, &target);
  return value;
}

/* The default after '=' for an attr of the given type. */
static Tensorflow__AttrValue *default_value(parser *p, const char *type, const char *text) {
  if (text[0] == '[') return list_value(p, text);
  Tensorflow__AttrValue *value = sp_graph_alloc(p->builder, sizeof *value);
  if (!value) return NULL;
  tensorflow__attr_value__init(value);
  if (strcmp(type, "bool") == 0) {
    value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_B;
    value->b = strcmp(text, "true") == 0;
  } else if (strcmp(type, "int") == 0) {
    value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_I;
    value->i = strtoll(text, NULL, 10);
  } else if (strcmp(type, "float") == 0) {
    value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_F;
    value->f = strtof(text, NULL);
  } else if (strcmp(type, "type") == 0) {
    value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_TYPE;
    value->type = (Tensorflow__DataType)dtype_number(text);
    if (!value->type) parse_fail(p, "default type", text);
  } else if (strcmp(type, "string") == 0) {
    size_t length = strlen(text);
    if (length < 2 || text[0] != '\'' || text[length - 1] != '\'') parse_fail(p, "default string", text);
    value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_S;
    value->s.data = (uint8_t *)trimmed(p, text + 1, length >= 2 ? length - 2 : 0);
    value->s.len = length >= 2 ? length - 2 : 0;
  } else if (strcmp(type, "shape") == 0 && strstr(text, "unknown_rank")) {
    value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_SHAPE;
    value->shape = sp_graph_shape(p->builder, -1, NULL);
  } else {
    parse_fail(p, "default", text);
  }
  return value;
}

static void add_attr_def(parser *p, char *text, void *context) {
  Tensorflow__OpDef *op = context;
  char *colon = strchr(text, ':');
  if (!colon) return parse_fail(p, "attr", text);
  Tensorflow__OpDef__AttrDef *attr = sp_graph_alloc(p->builder, sizeof *attr);
  Tensorflow__OpDef__AttrDef **grown = sp_graph_alloc(p->builder, (op->n_attr + 1) * sizeof *grown);
  if (!attr || !grown) return;
  tensorflow__op_def__attr_def__init(attr);
  attr->name = trimmed(p, text, (size_t)(colon - text));
  char *rest = trimmed(p, colon + 1, strlen(colon + 1));
  if (!attr->name || !rest) return;
  char *equals = NULL;
  int depth = 0;
  for (char *c = rest; *c; c++) { /* '=' outside braces, not part of '>=' */
    if (*c == '{' || *c == '[') depth++;
    if (*c == '}' || *c == ']') depth--;
    if (*c == '=' && depth == 0 && (c == rest || c[-1] != '>')) {
      equals = c;
      break;
    }
  }
  char *fallback = equals ? trimmed(p, equals + 1, strlen(equals + 1)) : NULL;
  char *kind = trimmed(p, rest, equals ? (size_t)(equals - rest) : strlen(rest));
  if (!kind) return;
  char *minimum = strstr(kind, ">=");
  if (minimum) {
    attr->has_minimum = 1;
    attr->minimum = strtoll(minimum + 2, NULL, 10);
    *minimum = 0;
    kind = trimmed(p, kind, strlen(kind));
    if (!kind) return;
  }
  if (kind[0] == '{') {
    attr->allowed_values = list_value(p, kind);
    attr->type = sp_graph_strdup(p->builder, kind[1] == '\'' || strchr(kind, '\'') ? "string" : "type");
  } else {
    attr->type = kind;
  }
  if (fallback && attr->type) attr->default_value = default_value(p, attr->type, fallback);
  if (op->n_attr) memcpy(grown, op->attr, op->n_attr * sizeof *grown);
  grown[op->n_attr++] = attr;
  op->attr = grown;
}

static const Tensorflow__OpDef__AttrDef *find_attr_def(const Tensorflow__OpDef *op, const char *name) {
  for (size_t i = 0; i < op->n_attr; i++)
    if (strcmp(op->attr[i]->name, name) == 0) return op->attr[i];
  return NULL;
}

typedef struct arg_target {
  Tensorflow__OpDef *op;
  int outputs;
} arg_target;

static void add_arg_def(parser *p, char *text, void *context) {
  arg_target *target = context;
  char *colon = strchr(text, ':');
  if (!colon) return parse_fail(p, "argument", text);
  Tensorflow__OpDef__ArgDef *arg = sp_graph_alloc(p->builder, sizeof *arg);
  if (!arg) return;
  tensorflow__op_def__arg_def__init(arg);
  arg->name = trimmed(p, text, (size_t)(colon - text));
  char *type = trimmed(p, colon + 1, strlen(colon + 1));
  if (!arg->name || !type) return;
  if (strncmp(type, "Ref(", 4) == 0) {
    arg->is_ref = 1;
    type = trimmed(p, type + 4, strlen(type) - 5);
    if (!type) return;
  }
  char *star = strchr(type, '*');
  if (star) {
    arg->number_attr = trimmed(p, type, (size_t)(star - type));
    type = trimmed(p, star + 1, strlen(star + 1));
    if (!type) return;
  }
  const Tensorflow__OpDef__AttrDef *attr = find_attr_def(target->op, type);
  if (attr && strcmp(attr->type, "list(type)") == 0) arg->type_list_attr = type;
  else if (attr) arg->type_attr = type;
  else if (!(arg->type = (Tensorflow__DataType)dtype_number(type))) return parse_fail(p, "argument type", type);
  size_t *count = target->outputs ? &target->op->n_output_arg : &target->op->n_input_arg;
  Tensorflow__OpDef__ArgDef ***args = target->outputs ? &target->op->output_arg : &target->op->input_arg;
  Tensorflow__OpDef__ArgDef **grown = sp_graph_alloc(p->builder, (*count + 1) * sizeof *grown);
  if (!grown) return;
  if (*count) memcpy(grown, *args, *count * sizeof *grown);
  grown[(*count)++] = arg;
  *args = grown;
}

Tensorflow__OpDef *sp_graph_op_def(sp_graph_builder *builder, const char *name) {
  const op_spec *spec = NULL;
  for (size_t i = 0; !spec && i < sizeof op_specs / sizeof *op_specs; i++)
    if (strcmp(op_specs[i].name, name) == 0) spec = &op_specs[i];
  Tensorflow__OpDef *op = spec ? sp_graph_alloc(builder, sizeof *op) : NULL;
  if (!op) return NULL;
  tensorflow__op_def__init(op);
  op->name = sp_graph_strdup(builder, spec->name);
  parser p = {builder, spec->name, SP_OK};
  split(&p, spec->attrs, ';', add_attr_def, op);
  split(&p, spec->inputs, ',', add_arg_def, &(arg_target){op, 0});
  split(&p, spec->outputs, ',', add_arg_def, &(arg_target){op, 1});
  op->is_stateful = (spec->flags & STATEFUL) != 0;
  op->is_commutative = (spec->flags & COMMUTATIVE) != 0;
  op->is_aggregate = (spec->flags & AGGREGATE) != 0;
  op->allows_uninitialized_input = (spec->flags & UNINITIALIZED) != 0;
  return p.status == SP_OK && sp_graph_builder_status(builder) == SP_OK ? op : NULL;
}

sp_status sp_graph_op_list(sp_graph_builder *builder, size_t count, const char *const *names,
                           Tensorflow__OpList **list) {
  *list = sp_graph_alloc(builder, sizeof **list);
  Tensorflow__OpDef **ops = sp_graph_alloc(builder, (count ? count : 1) * sizeof *ops);
  if (!*list || !ops) return sp_graph_builder_status(builder);
  tensorflow__op_list__init(*list);
  for (size_t i = 0; i < count; i++) {
    ops[i] = sp_graph_op_def(builder, names[i]);
    if (!ops[i]) {
      SP_TRY(sp_graph_builder_status(builder));
      return sp_graph_builder_fail(builder, sp_fail(SP_ERROR_INTERNAL, "no OpDef for op '%s'", names[i]));
    }
  }
  (*list)->op = ops;
  (*list)->n_op = count;
  return SP_OK;
}
