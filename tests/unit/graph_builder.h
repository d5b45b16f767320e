/* graph_builder.h — building small GraphDefs in C for the graph interpreter tests (header-only;
 * every allocation is tracked and freed by graph_builder_free). */
#ifndef SP_TEST_GRAPH_BUILDER_H
#define SP_TEST_GRAPH_BUILDER_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "graph.pb-c.h"
#include "savepoint/tensor.h"

typedef struct graph_builder {
  void **blocks;
  size_t block_count;
  Tensorflow__NodeDef **nodes;
  size_t node_count;
  Tensorflow__FunctionDef **functions;
  size_t function_count;
} graph_builder;

static __attribute__((unused)) void *builder_alloc(graph_builder *b, size_t size) {
  void *block = calloc(1, size ? size : 1);
  cr_assert_not_null(block);
  b->blocks = realloc(b->blocks, (b->block_count + 1) * sizeof *b->blocks);
  cr_assert_not_null(b->blocks);
  b->blocks[b->block_count++] = block;
  return block;
}

static __attribute__((unused)) char *builder_string(graph_builder *b, const char *text) {
  char *copy = builder_alloc(b, strlen(text) + 1);
  strcpy(copy, text);
  return copy;
}

static __attribute__((unused)) void *builder_grow(graph_builder *b, void *array, size_t count, size_t element) {
  void *grown = builder_alloc(b, (count + 1) * element);
  if (count) memcpy(grown, array, count * element);
  return grown;
}

static __attribute__((unused)) void graph_builder_free(graph_builder *b) {
  for (size_t i = 0; i < b->block_count; i++) free(b->blocks[i]);
  free(b->blocks);
  memset(b, 0, sizeof *b);
}

/* A node with inputs given as a NULL-terminated list of strings. */
static __attribute__((unused)) Tensorflow__NodeDef *add_node_to(graph_builder *b, Tensorflow__NodeDef ***list, size_t *count, const char *name,
                                        const char *op, va_list inputs) {
  Tensorflow__NodeDef *node = builder_alloc(b, sizeof *node);
  *node = (Tensorflow__NodeDef)TENSORFLOW__NODE_DEF__INIT;
  node->name = builder_string(b, name);
  node->op = builder_string(b, op);
  for (const char *input; (input = va_arg(inputs, const char *)) != NULL;) {
    node->input = builder_grow(b, node->input, node->n_input, sizeof *node->input);
    node->input[node->n_input++] = builder_string(b, input);
  }
  *list = builder_grow(b, *list, *count, sizeof **list);
  (*list)[(*count)++] = node;
  return node;
}

static __attribute__((unused)) Tensorflow__NodeDef *add_node(graph_builder *b, const char *name, const char *op, ...) {
  va_list inputs;
  va_start(inputs, op);
  Tensorflow__NodeDef *node = add_node_to(b, &b->nodes, &b->node_count, name, op, inputs);
  va_end(inputs);
  return node;
}

static __attribute__((unused)) Tensorflow__AttrValue *add_attr(graph_builder *b, Tensorflow__NodeDef *node, const char *key) {
  Tensorflow__NodeDef__AttrEntry *entry = builder_alloc(b, sizeof *entry);
  *entry = (Tensorflow__NodeDef__AttrEntry)TENSORFLOW__NODE_DEF__ATTR_ENTRY__INIT;
  entry->key = builder_string(b, key);
  entry->value = builder_alloc(b, sizeof *entry->value);
  tensorflow__attr_value__init(entry->value);
  node->attr = builder_grow(b, node->attr, node->n_attr, sizeof *node->attr);
  node->attr[node->n_attr++] = entry;
  return entry->value;
}

static __attribute__((unused)) void attr_type(graph_builder *b, Tensorflow__NodeDef *node, const char *key, sp_dtype dtype) {
  Tensorflow__AttrValue *value = add_attr(b, node, key);
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_TYPE;
  value->type = (Tensorflow__DataType)dtype;
}

static __attribute__((unused)) void attr_int(graph_builder *b, Tensorflow__NodeDef *node, const char *key, int64_t number) {
  Tensorflow__AttrValue *value = add_attr(b, node, key);
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_I;
  value->i = number;
}

static __attribute__((unused)) void attr_float(graph_builder *b, Tensorflow__NodeDef *node, const char *key, float number) {
  Tensorflow__AttrValue *value = add_attr(b, node, key);
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_F;
  value->f = number;
}

static __attribute__((unused)) void attr_bool(graph_builder *b, Tensorflow__NodeDef *node, const char *key, int flag) {
  Tensorflow__AttrValue *value = add_attr(b, node, key);
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_B;
  value->b = flag;
}

static __attribute__((unused)) void attr_string(graph_builder *b, Tensorflow__NodeDef *node, const char *key, const char *text) {
  Tensorflow__AttrValue *value = add_attr(b, node, key);
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_S;
  value->s.data = (uint8_t *)builder_string(b, text);
  value->s.len = strlen(text);
}

static __attribute__((unused)) Tensorflow__AttrValue__ListValue *attr_list(graph_builder *b, Tensorflow__NodeDef *node, const char *key) {
  Tensorflow__AttrValue *value = add_attr(b, node, key);
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_LIST;
  value->list = builder_alloc(b, sizeof *value->list);
  *value->list = (Tensorflow__AttrValue__ListValue)TENSORFLOW__ATTR_VALUE__LIST_VALUE__INIT;
  return value->list;
}

static __attribute__((unused)) void attr_ints(graph_builder *b, Tensorflow__NodeDef *node, const char *key, size_t count, const int64_t *values) {
  Tensorflow__AttrValue__ListValue *list = attr_list(b, node, key);
  list->i = builder_alloc(b, (count + 1) * sizeof *list->i);
  memcpy(list->i, values, count * sizeof *values);
  list->n_i = count;
}

static __attribute__((unused)) void attr_types(graph_builder *b, Tensorflow__NodeDef *node, const char *key, size_t count, const sp_dtype *types) {
  Tensorflow__AttrValue__ListValue *list = attr_list(b, node, key);
  list->type = builder_alloc(b, (count + 1) * sizeof *list->type);
  for (size_t i = 0; i < count; i++) list->type[i] = (Tensorflow__DataType)types[i];
  list->n_type = count;
}

static __attribute__((unused)) void attr_func(graph_builder *b, Tensorflow__NodeDef *node, const char *key, const char *name) {
  Tensorflow__AttrValue *value = add_attr(b, node, key);
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_FUNC;
  value->func = builder_alloc(b, sizeof *value->func);
  *value->func = (Tensorflow__NameAttrList)TENSORFLOW__NAME_ATTR_LIST__INIT;
  value->func->name = builder_string(b, name);
}

static __attribute__((unused)) Tensorflow__TensorShapeProto *shape_proto(graph_builder *b, int rank, const int64_t *dims) {
  Tensorflow__TensorShapeProto *shape = builder_alloc(b, sizeof *shape);
  *shape = (Tensorflow__TensorShapeProto)TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
  shape->dim = builder_alloc(b, ((size_t)rank + 1) * sizeof *shape->dim);
  for (int i = 0; i < rank; i++) {
    shape->dim[i] = builder_alloc(b, sizeof **shape->dim);
    *shape->dim[i] = (Tensorflow__TensorShapeProto__Dim)TENSORFLOW__TENSOR_SHAPE_PROTO__DIM__INIT;
    shape->dim[i]->size = dims[i];
  }
  shape->n_dim = (size_t)rank;
  return shape;
}

/* A Const node holding a tensor's bytes as tensor_content (strings as string_val). */
static __attribute__((unused)) Tensorflow__NodeDef *add_const(graph_builder *b, const char *name, const sp_tensor *tensor) {
  Tensorflow__NodeDef *node = add_node(b, name, "Const", NULL);
  attr_type(b, node, "dtype", tensor->dtype);
  Tensorflow__AttrValue *value = add_attr(b, node, "value");
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE_TENSOR;
  Tensorflow__TensorProto *proto = builder_alloc(b, sizeof *proto);
  *proto = (Tensorflow__TensorProto)TENSORFLOW__TENSOR_PROTO__INIT;
  proto->dtype = (Tensorflow__DataType)tensor->dtype;
  proto->tensor_shape = shape_proto(b, tensor->rank, tensor->shape);
  if (tensor->dtype == SP_STRING) {
    int64_t count = sp_tensor_count(tensor);
    proto->string_val = builder_alloc(b, ((size_t)count + 1) * sizeof *proto->string_val);
    for (int64_t i = 0; i < count; i++) {
      const sp_string *s = &((const sp_string *)tensor->data)[i];
      proto->string_val[i].data = (uint8_t *)builder_string(b, s->bytes);
      proto->string_val[i].len = s->length;
    }
    proto->n_string_val = (size_t)count;
  } else {
    proto->tensor_content.data = builder_alloc(b, tensor->size);
    memcpy(proto->tensor_content.data, tensor->data, tensor->size);
    proto->tensor_content.len = tensor->size;
  }
  value->tensor = proto;
  return node;
}

static __attribute__((unused)) Tensorflow__NodeDef *add_placeholder(graph_builder *b, const char *name, sp_dtype dtype) {
  Tensorflow__NodeDef *node = add_node(b, name, "Placeholder", NULL);
  attr_type(b, node, "dtype", dtype);
  return node;
}

/* A function with float32 arguments and outputs; body nodes are added with add_function_node. */
static __attribute__((unused)) Tensorflow__FunctionDef *add_function(graph_builder *b, const char *name, size_t argument_count,
                                             const char *const *arguments, size_t output_count,
                                             const char *const *outputs, const char *const *returns) {
  Tensorflow__FunctionDef *function = builder_alloc(b, sizeof *function);
  *function = (Tensorflow__FunctionDef)TENSORFLOW__FUNCTION_DEF__INIT;
  function->signature = builder_alloc(b, sizeof *function->signature);
  *function->signature = (Tensorflow__OpDef)TENSORFLOW__OP_DEF__INIT;
  function->signature->name = builder_string(b, name);
  function->signature->input_arg = builder_alloc(b, (argument_count + 1) * sizeof(void *));
  for (size_t i = 0; i < argument_count; i++) {
    Tensorflow__OpDef__ArgDef *arg = builder_alloc(b, sizeof *arg);
    *arg = (Tensorflow__OpDef__ArgDef)TENSORFLOW__OP_DEF__ARG_DEF__INIT;
    arg->name = builder_string(b, arguments[i]);
    arg->type = TENSORFLOW__DATA_TYPE__DT_FLOAT;
    function->signature->input_arg[i] = arg;
  }
  function->signature->n_input_arg = argument_count;
  function->signature->output_arg = builder_alloc(b, (output_count + 1) * sizeof(void *));
  function->ret = builder_alloc(b, (output_count + 1) * sizeof(void *));
  for (size_t i = 0; i < output_count; i++) {
    Tensorflow__OpDef__ArgDef *arg = builder_alloc(b, sizeof *arg);
    *arg = (Tensorflow__OpDef__ArgDef)TENSORFLOW__OP_DEF__ARG_DEF__INIT;
    arg->name = builder_string(b, outputs[i]);
    arg->type = TENSORFLOW__DATA_TYPE__DT_FLOAT;
    function->signature->output_arg[i] = arg;
    Tensorflow__FunctionDef__RetEntry *entry = builder_alloc(b, sizeof *entry);
    *entry = (Tensorflow__FunctionDef__RetEntry)TENSORFLOW__FUNCTION_DEF__RET_ENTRY__INIT;
    entry->key = builder_string(b, outputs[i]);
    entry->value = builder_string(b, returns[i]);
    function->ret[i] = entry;
  }
  function->signature->n_output_arg = output_count;
  function->n_ret = output_count;
  b->functions = builder_grow(b, b->functions, b->function_count, sizeof *b->functions);
  b->functions[b->function_count++] = function;
  return function;
}

static __attribute__((unused)) Tensorflow__NodeDef *add_function_node(graph_builder *b, Tensorflow__FunctionDef *function, const char *name,
                                              const char *op, ...) {
  va_list inputs;
  va_start(inputs, op);
  Tensorflow__NodeDef *node = add_node_to(b, &function->node_def, &function->n_node_def, name, op, inputs);
  va_end(inputs);
  return node;
}

/* The serialized GraphDef (free with free()). */
static __attribute__((unused)) uint8_t *graph_builder_pack(graph_builder *b, size_t *size) {
  Tensorflow__GraphDef graph;
  Tensorflow__FunctionDefLibrary library;
  tensorflow__graph_def__init(&graph);
  tensorflow__function_def_library__init(&library);
  graph.node = b->nodes;
  graph.n_node = b->node_count;
  if (b->function_count) {
    library.function = b->functions;
    library.n_function = b->function_count;
    graph.library = &library;
  }
  *size = tensorflow__graph_def__get_packed_size(&graph);
  uint8_t *data = malloc(*size + 1);
  cr_assert_not_null(data);
  tensorflow__graph_def__pack(&graph, data);
  return data;
}

#endif
