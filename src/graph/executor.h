/* executor.h — running plans: one frame of value slots per program invocation, kernels in plan
 * order, function calls as nested frames. A runtime holds a session's variables; everything else a
 * run touches is immutable, so runs on one runtime may proceed on many threads at once.
 */
#ifndef SP_GRAPH_EXECUTOR_H
#define SP_GRAPH_EXECUTOR_H

#include <pthread.h>

#include "graph/program.h"

typedef struct sp_graph_runtime {
  const sp_graph_library *library;
  pthread_mutex_t lock; /* guards the variable table (not the variables' values) */
  sp_graph_variable **variables;
  size_t variable_count, variable_capacity;
} sp_graph_runtime;

/* State of one run and its nested calls (what sp_kernel_context.run points at). */
typedef struct sp_graph_run {
  sp_graph_runtime *runtime;
  int depth;
} sp_graph_run;

sp_status sp_graph_runtime_init(sp_graph_runtime *runtime, const sp_graph_library *library) SP_MUST_CHECK;
void sp_graph_runtime_destroy(sp_graph_runtime *runtime);
/* The variable called name, created unassigned on first use. */
sp_status sp_graph_runtime_variable(sp_graph_runtime *runtime, const char *name,
                                    sp_graph_variable **variable) SP_MUST_CHECK;

/* Runs plan over program with feeds set, then returns new references to the fetched values. */
sp_status sp_graph_execute(sp_graph_run *run, const sp_graph_program *program, const sp_graph_plan *plan,
                           const sp_graph_edge *feeds, sp_graph_value *const *feed_values, size_t feed_count,
                           const sp_graph_edge *fetches, size_t fetch_count, sp_graph_value **fetched) SP_MUST_CHECK;

/* The value a fetched value stands for: a reference becomes a snapshot of its variable. New reference. */
sp_status sp_graph_value_resolve(sp_graph_value *value, sp_graph_value **resolved) SP_MUST_CHECK;

#endif
