/* graph_builder.c — GraphDef construction (see graph_builder.h).
 *
 * Memory: one arena of blocks; every message, string and array of the graph comes from it, so the
 * messages are never freed one by one (protobuf_c_message_free_unpacked must not be called on them).
 * Names: a hash set of every node name, so uniqueness costs O(1) per node even for unrolled
 * recurrent layers with thousands of nodes.
 */
#include "formats/graph_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/memory.h"

enum { ARENA_BLOCK = 64 * 1024 };

typedef struct arena_block {
  struct arena_block *next;
  size_t used, capacity;
  _Alignas(16) unsigned char data[];
} arena_block;

struct sp_graph_builder {
  sp_status status;
  arena_block *blocks;
  Tensorflow__NodeDef **nodes;
  size_t node_count, node_capacity;
  char **names; /* open-addressing set of node names */
  size_t name_slots;
  const char **ops;
  size_t op_count, op_capacity;
  Tensorflow__GraphDef graph;
  Tensorflow__VersionDef versions;
};

sp_status sp_graph_builder_new(sp_graph_builder **builder) {
  *builder = sp_alloc_zeroed(1, sizeof **builder);
  if (!*builder) return SP_ERROR_NO_MEMORY;
  return SP_OK;
}

void sp_graph_builder_free(sp_graph_builder *builder) {
  if (!builder) return;
  for (arena_block *block = builder->blocks, *next; block; block = next) {
    next = block->next;
    free(block);
  }
  free(builder->nodes);
  free(builder->names);
  free(builder->ops);
  free(builder);
}

sp_status sp_graph_builder_status(const sp_graph_builder *builder) { return builder->status; }

sp_status sp_graph_builder_fail(sp_graph_builder *builder, sp_status status) {
  if (builder->status == SP_OK) builder->status = status;
  return builder->status;
}

/* ---- arena ---- */

void *sp_graph_alloc(sp_graph_builder *builder, size_t size) {
  if (builder->status != SP_OK) return NULL;
  size = (size + 15) & ~(size_t)15;
  arena_block *block = builder->blocks;
  if (!block || block->capacity - block->used < size) {
    size_t capacity = size > ARENA_BLOCK ? size : ARENA_BLOCK;
    block = sp_alloc(sizeof *block + capacity);
    if (!block) {
      sp_graph_builder_fail(builder, SP_ERROR_NO_MEMORY);
      return NULL;
    }
    block->used = 0;
    block->capacity = capacity;
    block->next = builder->blocks;
    builder->blocks = block;
  }
  void *memory = block->data + block->used;
  block->used += size;
  memset(memory, 0, size);
  return memory;
}

char *sp_graph_strdup(sp_graph_builder *builder, const char *text) {
  size_t length = strlen(text);
  char *copy = sp_graph_alloc(builder, length + 1);
  if (copy) memcpy(copy, text, length + 1);
  return copy;
}

char *sp_graph_printf(sp_graph_builder *builder, const char *format, ...) {
  va_list args;
  va_start(args, format);
  int length = vsnprintf(NULL, 0, format, args);
  va_end(args);
  char *text = length >= 0 ? sp_graph_alloc(builder, (size_t)length + 1) : NULL;
  if (!text) return NULL;
  va_start(args, format);
  vsnprintf(text, (size_t)length + 1, format, args);
  va_end(args);
  return text;
}

const char *sp_graph_output(sp_graph_builder *builder, const char *node, int index) {
  if (!node) return NULL;
  return index == 0 ? node : sp_graph_printf(builder, "%s:%d", node, index);
}

/* Grows an arena array of pointers by one (arrays are reallocated into the arena; the old copy
 * stays there until the builder is freed, which is cheap for the small lists of a node). */
static void **append_pointer(sp_graph_builder *builder, void **array, size_t *count, void *item) {
  size_t n = *count;
  if ((n & (n - 1)) == 0) { /* capacity is the next power of two */
    void **grown = sp_graph_alloc(builder, (n ? 2 * n : 1) * sizeof *grown);
    if (!grown) return array;
    if (n) memcpy(grown, array, n * sizeof *grown);
    array = grown;
  }
  array[n] = item;
  *count = n + 1;
  return array;
}

/* ---- names ---- */

static size_t name_hash(const char *name) { return (size_t)sp_crc32c(name, strlen(name)) * 2654435761u; }

static int name_taken(const sp_graph_builder *builder, const char *name) {
  if (!builder->name_slots) return 0;
  for (size_t i = name_hash(name) & (builder->name_slots - 1);; i = (i + 1) & (builder->name_slots - 1)) {
    if (!builder->names[i]) return 0;
    if (strcmp(builder->names[i], name) == 0) return 1;
  }
}

static void insert_name(char **slots, size_t slot_count, char *name) {
  size_t i = name_hash(name) & (slot_count - 1);
  while (slots[i]) i = (i + 1) & (slot_count - 1);
  slots[i] = name;
}

static int remember_name(sp_graph_builder *builder, char *name) {
  if (2 * (builder->node_count + 1) > builder->name_slots) {
    size_t slots = builder->name_slots ? 2 * builder->name_slots : 256;
    char **grown = sp_alloc_zeroed(slots, sizeof *grown);
    if (!grown) return 0;
    for (size_t i = 0; i < builder->name_slots; i++)
      if (builder->names[i]) insert_name(grown, slots, builder->names[i]);
    free(builder->names);
    builder->names = grown;
    builder->name_slots = slots;
  }
  insert_name(builder->names, builder->name_slots, name);
  return 1;
}

static char *unique_name(sp_graph_builder *builder, const char *base) {
  if (!name_taken(builder, base)) return sp_graph_strdup(builder, base);
  for (unsigned n = 1;; n++) {
    char *candidate = sp_graph_printf(builder, "%s_%u", base, n);
    if (!candidate || !name_taken(builder, candidate)) return candidate;
  }
}

static void record_op(sp_graph_builder *builder, const char *op) {
  for (size_t i = 0; i < builder->op_count; i++)
    if (strcmp(builder->ops[i], op) == 0) return;
  if (SP_RESERVE(builder->ops, builder->op_capacity, builder->op_count + 1) != SP_OK) {
    sp_graph_builder_fail(builder, SP_ERROR_NO_MEMORY);
    return;
  }
  builder->ops[builder->op_count++] = op;
}

/* ---- nodes ---- */

Tensorflow__NodeDef *sp_graph_node(sp_graph_builder *builder, const char *name, const char *op) {
  Tensorflow__NodeDef *node = sp_graph_alloc(builder, sizeof *node);
  if (!node) return NULL;
  tensorflow__node_def__init(node);
  node->name = unique_name(builder, name);
  node->op = sp_graph_strdup(builder, op);
  if (!node->name || !node->op) return NULL;
  if (!remember_name(builder, node->name) ||
      SP_RESERVE(builder->nodes, builder->node_capacity, builder->node_count + 1) != SP_OK) {
    sp_graph_builder_fail(builder, SP_ERROR_NO_MEMORY);
    return NULL;
  }
  builder->nodes[builder->node_count++] = node;
  record_op(builder, node->op);
  return builder->status == SP_OK ? node : NULL;
}

Tensorflow__NodeDef *sp_graph_last(sp_graph_builder *builder) {
  return builder->status == SP_OK && builder->node_count ? builder->nodes[builder->node_count - 1] : NULL;
}

void sp_graph_input(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *tensor) {
  if (!node || !tensor) {
    if (builder->status == SP_OK) sp_graph_builder_fail(builder, sp_fail(SP_ERROR_INTERNAL, "graph: missing input"));
    return;
  }
  char *copy = sp_graph_strdup(builder, tensor);
  if (copy) node->input = (char **)append_pointer(builder, (void **)node->input, &node->n_input, copy);
}

void sp_graph_control_input(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *node_name) {
  if (!node_name) return;
  sp_graph_input(builder, node, sp_graph_printf(builder, "^%s", node_name));
}

/* Adds attr key keeping the entries sorted by key (deterministic serialization). */
static Tensorflow__AttrValue *add_attr(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key) {
  if (!node) return NULL;
  Tensorflow__NodeDef__AttrEntry *entry = sp_graph_alloc(builder, sizeof *entry);
  Tensorflow__AttrValue *value = sp_graph_alloc(builder, sizeof *value);
  if (!entry || !value) return NULL;
  tensorflow__node_def__attr_entry__init(entry);
  tensorflow__attr_value__init(value);
  entry->key = sp_graph_strdup(builder, key);
  entry->value = value;
  size_t before = node->n_attr;
  node->attr = (Tensorflow__NodeDef__AttrEntry **)append_pointer(builder, (void **)node->attr, &node->n_attr, entry);
  if (node->n_attr == before || !entry->key) return NULL;
  for (size_t i = node->n_attr - 1; i > 0 && strcmp(node->attr[i - 1]->key, key) > 0; i--) {
    node->attr[i] = node->attr[i - 1];
    node->attr[i - 1] = entry;
  }
  return value;
}

void sp_graph_attr_type(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, sp_dtype dtype) {
  Tensorflow__AttrValue *value = add_attr(builder, node, key);
  if (!value) return;
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_TYPE;
  value->type = (Tensorflow__DataType)dtype;
}

void sp_graph_attr_int(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, int64_t number) {
  Tensorflow__AttrValue *value = add_attr(builder, node, key);
  if (!value) return;
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_I;
  value->i = number;
}

void sp_graph_attr_float(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, float number) {
  Tensorflow__AttrValue *value = add_attr(builder, node, key);
  if (!value) return;
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_F;
  value->f = number;
}

void sp_graph_attr_bool(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, int flag) {
  Tensorflow__AttrValue *value = add_attr(builder, node, key);
  if (!value) return;
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_B;
  value->b = flag != 0;
}

void sp_graph_attr_string(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, const char *text) {
  Tensorflow__AttrValue *value = add_attr(builder, node, key);
  char *copy = value ? sp_graph_strdup(builder, text) : NULL;
  if (!copy) return;
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_S;
  value->s.data = (uint8_t *)copy;
  value->s.len = strlen(copy);
}

Tensorflow__TensorShapeProto *sp_graph_shape(sp_graph_builder *builder, int rank, const int64_t *dims) {
  Tensorflow__TensorShapeProto *shape = sp_graph_alloc(builder, sizeof *shape);
  if (!shape) return NULL;
  tensorflow__tensor_shape_proto__init(shape);
  if (rank < 0) {
    shape->unknown_rank = 1;
    return shape;
  }
  shape->dim = sp_graph_alloc(builder, ((size_t)rank + 1) * sizeof *shape->dim);
  if (!shape->dim) return NULL;
  for (int d = 0; d < rank; d++) {
    Tensorflow__TensorShapeProto__Dim *dim = sp_graph_alloc(builder, sizeof *dim);
    if (!dim) return NULL;
    tensorflow__tensor_shape_proto__dim__init(dim);
    dim->size = dims[d];
    shape->dim[shape->n_dim++] = dim;
  }
  return shape;
}

void sp_graph_attr_shape(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, int rank,
                         const int64_t *dims) {
  Tensorflow__AttrValue *value = add_attr(builder, node, key);
  Tensorflow__TensorShapeProto *shape = value ? sp_graph_shape(builder, rank, dims) : NULL;
  if (!shape) return;
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_SHAPE;
  value->shape = shape;
}

static Tensorflow__AttrValue__ListValue *add_list_attr(sp_graph_builder *builder, Tensorflow__NodeDef *node,
                                                       const char *key) {
  Tensorflow__AttrValue *value = add_attr(builder, node, key);
  Tensorflow__AttrValue__ListValue *list = value ? sp_graph_alloc(builder, sizeof *list) : NULL;
  if (!list) return NULL;
  tensorflow__attr_value__list_value__init(list);
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_LIST;
  value->list = list;
  return list;
}

void sp_graph_attr_int_list(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, size_t count,
                            const int64_t *values) {
  Tensorflow__AttrValue__ListValue *list = add_list_attr(builder, node, key);
  if (!list || !count) return;
  list->i = sp_graph_alloc(builder, count * sizeof *list->i);
  if (!list->i) return;
  memcpy(list->i, values, count * sizeof *list->i);
  list->n_i = count;
}

void sp_graph_attr_type_list(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, size_t count,
                             const sp_dtype *dtypes) {
  Tensorflow__AttrValue__ListValue *list = add_list_attr(builder, node, key);
  if (!list || !count) return;
  list->type = sp_graph_alloc(builder, count * sizeof *list->type);
  if (!list->type) return;
  for (size_t i = 0; i < count; i++) list->type[i] = (Tensorflow__DataType)dtypes[i];
  list->n_type = count;
}

void sp_graph_attr_tensor(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key,
                          Tensorflow__TensorProto *tensor) {
  Tensorflow__AttrValue *value = tensor ? add_attr(builder, node, key) : NULL;
  if (!value) return;
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_TENSOR;
  value->tensor = tensor;
}

/* ---- tensors and constants ---- */

static Tensorflow__TensorProto *new_tensor_proto(sp_graph_builder *builder, sp_dtype dtype, int rank,
                                                 const int64_t *dims) {
  Tensorflow__TensorProto *proto = sp_graph_alloc(builder, sizeof *proto);
  if (!proto) return NULL;
  tensorflow__tensor_proto__init(proto);
  proto->dtype = (Tensorflow__DataType)dtype;
  proto->tensor_shape = sp_graph_shape(builder, rank, dims);
  return proto->tensor_shape ? proto : NULL;
}

Tensorflow__TensorProto *sp_graph_tensor_proto(sp_graph_builder *builder, const sp_tensor *tensor) {
  if (tensor->dtype == SP_STRING) {
    sp_graph_builder_fail(builder, sp_fail(SP_ERROR_INTERNAL, "graph: string tensors go through sp_graph_const_strings"));
    return NULL;
  }
  Tensorflow__TensorProto *proto = new_tensor_proto(builder, tensor->dtype, tensor->rank, tensor->shape);
  if (!proto) return NULL;
  if (tensor->rank == 0 && tensor->dtype == SP_FLOAT32) {
    proto->float_val = sp_graph_alloc(builder, sizeof *proto->float_val);
    if (!proto->float_val) return NULL;
    proto->float_val[0] = sp_tensor_floats(tensor)[0];
    proto->n_float_val = 1;
    return proto;
  }
  proto->tensor_content.data = sp_graph_alloc(builder, tensor->size ? tensor->size : 1);
  if (!proto->tensor_content.data) return NULL;
  memcpy(proto->tensor_content.data, tensor->data, tensor->size);
  proto->tensor_content.len = tensor->size;
  return proto;
}

const char *sp_graph_const(sp_graph_builder *builder, const char *name, Tensorflow__TensorProto *value) {
  Tensorflow__NodeDef *node = value ? sp_graph_node(builder, name, "Const") : NULL;
  if (!node) return NULL;
  sp_graph_attr_type(builder, node, "dtype", (sp_dtype)value->dtype);
  sp_graph_attr_tensor(builder, node, "value", value);
  return builder->status == SP_OK ? node->name : NULL;
}

const char *sp_graph_const_tensor(sp_graph_builder *builder, const char *name, const sp_tensor *tensor) {
  return sp_graph_const(builder, name, sp_graph_tensor_proto(builder, tensor));
}

const char *sp_graph_const_ints(sp_graph_builder *builder, const char *name, sp_dtype dtype, int rank, size_t count,
                                const int64_t *values) {
  int64_t dims[1] = {(int64_t)count};
  Tensorflow__TensorProto *proto = new_tensor_proto(builder, dtype, rank, dims);
  if (!proto || !count) return sp_graph_const(builder, name, proto);
  if (dtype == SP_INT64) {
    proto->int64_val = sp_graph_alloc(builder, count * sizeof *proto->int64_val);
    if (!proto->int64_val) return NULL;
    memcpy(proto->int64_val, values, count * sizeof *values);
    proto->n_int64_val = count;
  } else {
    proto->int_val = sp_graph_alloc(builder, count * sizeof *proto->int_val);
    if (!proto->int_val) return NULL;
    for (size_t i = 0; i < count; i++) proto->int_val[i] = (int32_t)values[i];
    proto->n_int_val = count;
  }
  return sp_graph_const(builder, name, proto);
}

const char *sp_graph_const_float(sp_graph_builder *builder, const char *name, float value) {
  return sp_graph_const_fill(builder, name, SP_FLOAT32, 0, NULL, value);
}

const char *sp_graph_const_fill(sp_graph_builder *builder, const char *name, sp_dtype dtype, int rank,
                                const int64_t *dims, float value) {
  Tensorflow__TensorProto *proto = new_tensor_proto(builder, dtype, rank, dims);
  if (!proto) return NULL;
  proto->float_val = sp_graph_alloc(builder, sizeof *proto->float_val);
  if (!proto->float_val) return NULL;
  proto->float_val[0] = value;
  proto->n_float_val = 1;
  return sp_graph_const(builder, name, proto);
}

const char *sp_graph_const_strings(sp_graph_builder *builder, const char *name, int scalar, size_t count,
                                   const char *const *values) {
  int64_t dims[1] = {(int64_t)count};
  Tensorflow__TensorProto *proto = new_tensor_proto(builder, SP_STRING, scalar ? 0 : 1, dims);
  if (!proto) return NULL;
  proto->string_val = sp_graph_alloc(builder, (count ? count : 1) * sizeof *proto->string_val);
  if (!proto->string_val) return NULL;
  for (size_t i = 0; i < count; i++) {
    char *copy = sp_graph_strdup(builder, values[i]);
    if (!copy) return NULL;
    proto->string_val[i].data = (uint8_t *)copy;
    proto->string_val[i].len = strlen(copy);
  }
  proto->n_string_val = count;
  return sp_graph_const(builder, name, proto);
}

/* ---- ops ---- */

const char *sp_graph_op_v(sp_graph_builder *builder, const char *name, const char *op, sp_dtype dtype,
                          va_list inputs) {
  Tensorflow__NodeDef *node = sp_graph_node(builder, name, op);
  for (const char *input = va_arg(inputs, const char *); input; input = va_arg(inputs, const char *))
    sp_graph_input(builder, node, input);
  if (dtype != SP_DTYPE_INVALID) sp_graph_attr_type(builder, node, "T", dtype);
  return builder->status == SP_OK && node ? node->name : NULL;
}

const char *sp_graph_op(sp_graph_builder *builder, const char *name, const char *op, sp_dtype dtype, ...) {
  va_list inputs;
  va_start(inputs, dtype);
  const char *result = sp_graph_op_v(builder, name, op, dtype, inputs);
  va_end(inputs);
  return result;
}

const char *sp_graph_placeholder(sp_graph_builder *builder, const char *name, sp_dtype dtype, int rank,
                                 const int64_t *dims) {
  Tensorflow__NodeDef *node = sp_graph_node(builder, name, "Placeholder");
  sp_graph_attr_type(builder, node, "dtype", dtype);
  sp_graph_attr_shape(builder, node, "shape", rank, dims);
  return builder->status == SP_OK && node ? node->name : NULL;
}

/* ---- results ---- */

Tensorflow__GraphDef *sp_graph_builder_graph(sp_graph_builder *builder, int producer, int min_consumer) {
  tensorflow__graph_def__init(&builder->graph);
  tensorflow__version_def__init(&builder->versions);
  builder->versions.producer = producer;
  builder->versions.min_consumer = min_consumer;
  builder->graph.node = builder->nodes;
  builder->graph.n_node = builder->node_count;
  builder->graph.versions = &builder->versions;
  return &builder->graph;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t sp_graph_builder_ops(sp_graph_builder *builder, const char ***names) {
  qsort(builder->ops, builder->op_count, sizeof *builder->ops, compare_names);
  *names = builder->ops;
  return builder->op_count;
}
