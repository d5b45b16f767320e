/* program.h — a GraphDef and its FunctionDefLibrary compiled for execution.
 *
 * Compiling resolves every input reference ("node:1", "^node", and inside functions "arg",
 * "node:out_arg:2") to a (node, output) edge, counts each node's outputs, decodes Const values
 * once, and links call nodes to the functions they call. A plan is the topologically ordered set
 * of nodes some fetches need, stopping at fed tensors; building one detects cycles. Nothing here
 * runs a kernel, so compiling a hostile graph costs time and memory linear in its size (constants
 * are bounded by the limits).
 */
#ifndef SP_GRAPH_PROGRAM_H
#define SP_GRAPH_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "graph.pb-c.h"
#include "graph/kernel.h"

typedef struct sp_graph_edge {
  int32_t node;
  int32_t output;
} sp_graph_edge;

typedef struct sp_graph_program sp_graph_program;

typedef struct sp_graph_node {
  const char *name;
  const Tensorflow__NodeDef *def; /* NULL for a function's argument nodes */
  const sp_op *op;                /* NULL: unsupported */
  const sp_graph_program *callee; /* the function a call node runs */
  const char *callee_name;        /* the function a call node names (it may be missing) */
  sp_graph_edge *inputs;
  int32_t input_count;
  int32_t *controls;
  int32_t control_count;
  int32_t output_count;
  int32_t first_slot;       /* outputs live in run slots first_slot .. first_slot + output_count */
  sp_graph_value *constant; /* a Const node's decoded value */
} sp_graph_node;

typedef struct sp_graph_plan {
  int32_t *order; /* nodes to run, each after everything it depends on */
  int32_t count;
} sp_graph_plan;

struct sp_graph_program {
  char *name;                /* "graph" or the function's name */
  sp_graph_node *nodes;      /* a function's arguments come first, as nodes without a NodeDef */
  int32_t node_count;
  int32_t *by_name;          /* node indexes sorted by name */
  int32_t slot_count;
  const Tensorflow__OpDef *signature; /* functions: names and types of arguments and outputs */
  int32_t argument_count;    /* functions: nodes[0 .. argument_count) */
  sp_graph_edge *returns;    /* functions: the output args, in signature order */
  int32_t return_count;
  sp_graph_plan plan;        /* functions: returns, control returns and side effects */
  int compiled;
};

typedef struct sp_graph_library {
  sp_graph_program main;
  sp_graph_program *functions;
  size_t function_count;
  sp_graph_limits limits;
} sp_graph_library;

/* Compiles a graph and its function library. */
sp_status sp_graph_library_compile(const Tensorflow__GraphDef *graph, const sp_graph_limits *limits,
                                   sp_graph_library **library) SP_MUST_CHECK;
void sp_graph_library_free(sp_graph_library *library);

/* A node by name, or -1. */
int32_t sp_graph_program_find(const sp_graph_program *program, const char *name);
/* Parses "name" or "name:index" into an edge of the main graph; SP_ERROR_NOT_FOUND names what is missing. */
sp_status sp_graph_program_tensor(const sp_graph_program *program, const char *tensor_name,
                                  sp_graph_edge *edge) SP_MUST_CHECK;

/* The plan computing fetches and running targets, with fed tensors given (their nodes do not run). */
sp_status sp_graph_plan_build(const sp_graph_program *program, const sp_graph_edge *fetches, size_t fetch_count,
                              const int32_t *targets, size_t target_count, const sp_graph_edge *feeds,
                              size_t feed_count, sp_graph_plan *plan) SP_MUST_CHECK;
void sp_graph_plan_free(sp_graph_plan *plan);

/* What plans would need that savepoint lacks: one entry per op (or missing function), with the
 * first node that uses it and how many more do. */
typedef struct sp_graph_missing {
  char *what;  /* "Foo" or "function 'f'" */
  char *where; /* "node 'a/b'" or "node 'x' in function 'g'" */
  size_t more;
} sp_graph_missing;

typedef struct sp_graph_missing_list {
  sp_graph_missing *items;
  size_t count, capacity;
  unsigned char *seen; /* functions already checked, one flag per library function */
} sp_graph_missing_list;

/* Adds what plan would reach that is missing, following calls into functions (each once). */
sp_status sp_graph_plan_check(const sp_graph_library *library, const sp_graph_program *program,
                              const sp_graph_plan *plan, sp_graph_missing_list *list) SP_MUST_CHECK;
/* "unsupported ops: Foo (node 'a/b'), Bar (node 'c' and 2 more)" into out (NUL-terminated). */
sp_status sp_graph_missing_format(const sp_graph_missing_list *list, sp_buffer *out) SP_MUST_CHECK;
void sp_graph_missing_free(sp_graph_missing_list *list);

#endif
