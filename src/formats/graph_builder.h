/* graph_builder.h — building a TensorFlow GraphDef node by node, as protobuf-c messages.
 *
 *   sp_graph_builder *graph;
 *   SP_TRY(sp_graph_builder_new(&graph));
 *   const char *x = sp_graph_placeholder(graph, "x", SP_FLOAT32, 2, (int64_t[]){-1, 3});
 *   const char *y = sp_graph_op(graph, "dense/MatMul", "MatMul", SP_FLOAT32, x, kernel, NULL);
 *   SP_TRY(sp_graph_builder_status(graph));
 *
 * Everything lives in the builder's arena and is freed with it. Helpers never fail loudly: the
 * first failure is recorded and every later call does nothing (returning NULL), so emitters read
 * top to bottom and check sp_graph_builder_status once. Node names are made unique the way TF's
 * name scopes do it ("MatMul", "MatMul_1", …). Tensor names follow GraphDef inputs: "node" for
 * output 0, "node:1" for others, "^node" for control inputs. Node attrs are kept sorted by key,
 * so the GraphDef packs deterministically.
 */
#ifndef SP_FORMATS_GRAPH_BUILDER_H
#define SP_FORMATS_GRAPH_BUILDER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "graph.pb-c.h"
#include "op_def.pb-c.h"
#include "savepoint/tensor.h"

typedef struct sp_graph_builder sp_graph_builder;

sp_status sp_graph_builder_new(sp_graph_builder **builder) SP_MUST_CHECK;
void sp_graph_builder_free(sp_graph_builder *builder);
/* SP_OK, or the first failure of any helper (its message is the thread's last error). */
sp_status sp_graph_builder_status(const sp_graph_builder *builder);
/* Records a failure (the first one wins) and returns it; for emitters that detect problems. */
sp_status sp_graph_builder_fail(sp_graph_builder *builder, sp_status status);

/* ---- arena ---- */
void *sp_graph_alloc(sp_graph_builder *builder, size_t size); /* zeroed */
char *sp_graph_strdup(sp_graph_builder *builder, const char *text);
char *sp_graph_printf(sp_graph_builder *builder, const char *format, ...) SP_PRINTF(2, 3);
/* "name:index" ("name" for index 0). */
const char *sp_graph_output(sp_graph_builder *builder, const char *node, int index);

/* ---- nodes ---- */
/* A new node running op, named name or name_<n> when taken. */
Tensorflow__NodeDef *sp_graph_node(sp_graph_builder *builder, const char *name, const char *op);
void sp_graph_input(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *tensor);
void sp_graph_control_input(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *node_name);

void sp_graph_attr_type(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, sp_dtype dtype);
void sp_graph_attr_int(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, int64_t value);
void sp_graph_attr_float(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, float value);
void sp_graph_attr_bool(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, int value);
void sp_graph_attr_string(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, const char *value);
/* rank < 0: unknown rank; dims of -1 are unknown. */
void sp_graph_attr_shape(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, int rank,
                         const int64_t *dims);
void sp_graph_attr_int_list(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, size_t count,
                            const int64_t *values);
void sp_graph_attr_type_list(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key, size_t count,
                             const sp_dtype *dtypes);
void sp_graph_attr_tensor(sp_graph_builder *builder, Tensorflow__NodeDef *node, const char *key,
                          Tensorflow__TensorProto *tensor);

/* ---- tensors and constants ---- */
Tensorflow__TensorShapeProto *sp_graph_shape(sp_graph_builder *builder, int rank, const int64_t *dims);
/* A TensorProto holding tensor's bytes (tensor_content; one value for scalars, as TF writes them). */
Tensorflow__TensorProto *sp_graph_tensor_proto(sp_graph_builder *builder, const sp_tensor *tensor);
/* A Const node; returns its name. */
const char *sp_graph_const(sp_graph_builder *builder, const char *name, Tensorflow__TensorProto *value);
const char *sp_graph_const_tensor(sp_graph_builder *builder, const char *name, const sp_tensor *tensor);
/* int32 (or int64) values of the given shape (rank 0 or 1). */
const char *sp_graph_const_ints(sp_graph_builder *builder, const char *name, sp_dtype dtype, int rank, size_t count,
                                const int64_t *values);
const char *sp_graph_const_float(sp_graph_builder *builder, const char *name, float value);
/* A scalar string (scalar = 1) or a vector of count strings. */
const char *sp_graph_const_strings(sp_graph_builder *builder, const char *name, int scalar, size_t count,
                                   const char *const *values);
/* A float32 constant of the given shape whose every element is value, stored as one value (TF
 * repeats the last value of a short TensorProto). */
const char *sp_graph_const_fill(sp_graph_builder *builder, const char *name, sp_dtype dtype, int rank,
                                const int64_t *dims, float value);

/* ---- ops ---- */
/* A node of op with the given inputs (a NULL-terminated list) and, when dtype is not
 * SP_DTYPE_INVALID, attr T = dtype. Returns the node's name (its output 0). */
const char *sp_graph_op(sp_graph_builder *builder, const char *name, const char *op, sp_dtype dtype, ...);
const char *sp_graph_op_v(sp_graph_builder *builder, const char *name, const char *op, sp_dtype dtype, va_list inputs);
/* The last node created (to add attrs after sp_graph_op). */
Tensorflow__NodeDef *sp_graph_last(sp_graph_builder *builder);
const char *sp_graph_placeholder(sp_graph_builder *builder, const char *name, sp_dtype dtype, int rank,
                                 const int64_t *dims);

/* ---- results ---- */
/* The GraphDef (owned by the builder) with versions {producer, min_consumer}. */
Tensorflow__GraphDef *sp_graph_builder_graph(sp_graph_builder *builder, int producer, int min_consumer);
/* Names of the ops used, sorted, owned by the builder. */
size_t sp_graph_builder_ops(sp_graph_builder *builder, const char ***names);

/* ---- op definitions (graph_ops.c) ---- */
/* The OpList TensorFlow writes as stripped_op_list for these ops (sorted names); an op savepoint
 * has no definition for is an SP_ERROR_INTERNAL naming it. */
sp_status sp_graph_op_list(sp_graph_builder *builder, size_t count, const char *const *names,
                           Tensorflow__OpList **list) SP_MUST_CHECK;
/* The definition of one op (NULL when savepoint has none), for tests. */
Tensorflow__OpDef *sp_graph_op_def(sp_graph_builder *builder, const char *name);

#endif
