/* kernel.h — what an op implementation sees: its node, its inputs, its outputs, and helpers that
 * fail with the op and node named.
 *
 * Values are reference-counted and immutable once produced, so a kernel may forward an input as
 * an output without copying, and many runs may share constants and variable snapshots. A value
 * either holds a tensor, or designates a variable: a DT_RESOURCE handle (VarHandleOp) or a TF1
 * reference (VariableV2, Assign), which ordinary inputs read as the variable's current value.
 */
#ifndef SP_GRAPH_KERNEL_H
#define SP_GRAPH_KERNEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "node_def.pb-c.h"
#include "savepoint/tensor.h"

typedef struct sp_graph_variable sp_graph_variable;

typedef struct sp_graph_value {
  atomic_int references;
  sp_tensor *tensor;           /* the data; NULL for a resource handle or a reference */
  sp_graph_variable *variable; /* the variable a handle or reference designates */
  int is_reference;            /* 1: TF1 ref (read on use); 0 with variable: DT_RESOURCE handle */
} sp_graph_value;

/* A variable of a session: its current value is replaced whole under the lock (copy on write),
 * so readers take a reference to a snapshot and never see a half-written tensor. */
struct sp_graph_variable {
  char *name;
  pthread_mutex_t lock;
  sp_graph_value *value; /* NULL until assigned (restored or initialized) */
};

/* Limits that keep hostile graphs from exhausting memory or the stack. */
typedef struct sp_graph_limits {
  size_t max_tensor_bytes; /* largest tensor a Const or an op may produce */
  int max_call_depth;      /* nested function calls */
} sp_graph_limits;

enum {
  SP_GRAPH_DEFAULT_MAX_TENSOR_BYTES = 1 << 30,
  SP_GRAPH_DEFAULT_MAX_CALL_DEPTH = 64
};

sp_graph_value *sp_graph_value_from_tensor(sp_tensor *tensor); /* takes ownership; NULL on failure */
sp_graph_value *sp_graph_value_for_variable(sp_graph_variable *variable, int is_reference);
static inline sp_graph_value *sp_graph_value_retain(sp_graph_value *value) {
  if (value) atomic_fetch_add_explicit(&value->references, 1, memory_order_relaxed);
  return value;
}
void sp_graph_value_release(sp_graph_value *value);

/* Reads a variable's current value (a new reference), or fails naming it when unassigned. */
sp_status sp_graph_variable_read(sp_graph_variable *variable, sp_graph_value **value) SP_MUST_CHECK;
/* Replaces a variable's value (takes the reference). */
void sp_graph_variable_assign(sp_graph_variable *variable, sp_graph_value *value);

typedef struct sp_kernel_context sp_kernel_context;
typedef sp_status (*sp_kernel_function)(sp_kernel_context *context);

enum {
  SP_OP_SIDE_EFFECT = 1, /* kept in function bodies even when no output uses it (assignments, I/O) */
  SP_OP_CALL = 2         /* calls the function named by attr "f" */
};

/* One supported op. outputs describes its output arguments for "node:arg:index" references and
 * output counts: NULL is a single output; "" is none; otherwise "name[*attr],..." where attr is an
 * int attr (that many tensors) or a list attr (one tensor per element). */
typedef struct sp_op {
  const char *name;
  sp_kernel_function run;
  const char *outputs;
  unsigned flags;
} sp_op;

/* A node's attr by name, or NULL. */
const Tensorflow__AttrValue *sp_node_attr(const Tensorflow__NodeDef *node, const char *name);

/* The op table, looked up by name (NULL when unsupported). */
const sp_op *sp_graph_find_op(const char *name);

struct sp_kernel_context {
  const Tensorflow__NodeDef *node;
  const sp_graph_limits *limits;
  void *run; /* executor state: variables, call frames */
  const void *callee; /* for SP_OP_CALL ops: the compiled function */
  sp_graph_value *constant; /* for Const: the value decoded at compile time */
  size_t input_count;
  sp_graph_value **inputs;
  size_t output_count;
  sp_graph_value **outputs;
  sp_graph_value **borrowed; /* snapshots taken when reading references; released after the kernel */
  size_t borrowed_count, borrowed_capacity;
};

/* ---- failing ---- */
/* Fails with "<op> node '<name>': <message>". */
sp_status sp_kernel_fail(const sp_kernel_context *context, sp_status status, const char *format, ...) SP_PRINTF(3, 4);

/* ---- inputs ---- */
/* Input index as a tensor (a reference input reads the variable). */
sp_status sp_kernel_input(sp_kernel_context *context, size_t index, const sp_tensor **tensor) SP_MUST_CHECK;
/* Like sp_kernel_input, and checks the dtype. */
sp_status sp_kernel_input_typed(sp_kernel_context *context, size_t index, sp_dtype dtype,
                                const sp_tensor **tensor) SP_MUST_CHECK;
/* Input index as the variable a handle or a reference designates. */
sp_status sp_kernel_input_variable(sp_kernel_context *context, size_t index, sp_graph_variable **variable) SP_MUST_CHECK;
/* An integer input (int32 or int64) as int64 values: a scalar or a vector of at most capacity. */
sp_status sp_kernel_input_ints(sp_kernel_context *context, size_t index, int64_t *values, size_t capacity,
                               size_t *count) SP_MUST_CHECK;
/* The elements of an integer tensor as int64 (any size; caller frees). */
sp_status sp_kernel_tensor_ints(sp_kernel_context *context, const sp_tensor *tensor, const char *what,
                                int64_t **values, int64_t *count) SP_MUST_CHECK;

/* ---- outputs ---- */
/* A new zeroed tensor as output index (checked against the size limit). */
sp_status sp_kernel_output_new(sp_kernel_context *context, size_t index, sp_dtype dtype, int rank,
                               const int64_t *shape, sp_tensor **tensor) SP_MUST_CHECK;
/* Passes input_index through as output index (no copy). */
sp_status sp_kernel_forward(sp_kernel_context *context, size_t output_index, size_t input_index) SP_MUST_CHECK;
/* Sets output index to a value (takes the reference). */
void sp_kernel_set_output(sp_kernel_context *context, size_t index, sp_graph_value *value);
/* Takes ownership of tensor as output index. */
sp_status sp_kernel_output_tensor(sp_kernel_context *context, size_t index, sp_tensor *tensor) SP_MUST_CHECK;

/* ---- attrs (defaults apply when the attr is absent, as stripped SavedModels omit defaults) ---- */
const Tensorflow__AttrValue *sp_kernel_attr(const sp_kernel_context *context, const char *name);
sp_status sp_kernel_attr_int(const sp_kernel_context *context, const char *name, int64_t fallback,
                             int64_t *value) SP_MUST_CHECK;
sp_status sp_kernel_attr_float(const sp_kernel_context *context, const char *name, double fallback,
                               double *value) SP_MUST_CHECK;
sp_status sp_kernel_attr_bool(const sp_kernel_context *context, const char *name, int fallback,
                              int *value) SP_MUST_CHECK;
sp_status sp_kernel_attr_type(const sp_kernel_context *context, const char *name, sp_dtype fallback,
                              sp_dtype *value) SP_MUST_CHECK;
/* A string attr copied into out (capacity bytes with the NUL); fallback when absent. */
sp_status sp_kernel_attr_string(const sp_kernel_context *context, const char *name, const char *fallback, char *out,
                                size_t capacity) SP_MUST_CHECK;
/* list(int): at most capacity values. */
sp_status sp_kernel_attr_ints(const sp_kernel_context *context, const char *name, int64_t *values, size_t capacity,
                              size_t *count) SP_MUST_CHECK;

/* ---- shared element helpers ---- */
/* Element count with the limit applied: fails when shape would exceed max_tensor_bytes. */
sp_status sp_kernel_check_shape(const sp_kernel_context *context, sp_dtype dtype, int rank, const int64_t *shape) SP_MUST_CHECK;
/* Steps a row-major multi-index (the last axis fastest) through shape; wraps to all zeros at the end. */
void sp_index_advance(int rank, const int64_t *shape, int64_t *counter);
int sp_dtype_is_float(sp_dtype dtype);
int sp_dtype_is_integer(sp_dtype dtype);
/* Element i of an integer tensor as int64 (no precision loss, unlike sp_tensor_get_double). */
int64_t sp_tensor_get_int(const sp_tensor *tensor, int64_t index);
void sp_tensor_set_int(sp_tensor *tensor, int64_t index, int64_t value);
/* Copies element `from` of source to element `to` of target (strings are duplicated); differing
 * dtypes are an SP_ERROR_MISMATCH. */
sp_status sp_tensor_copy_element(sp_tensor *target, int64_t to, const sp_tensor *source, int64_t from) SP_MUST_CHECK;

#endif
