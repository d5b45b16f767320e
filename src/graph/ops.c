/* ops.c — looking ops up by name across the per-file tables (sorted once, then binary search). */
#include "graph/ops.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>


static const sp_op *const op_tables[] = {
    sp_graph_ops_basic, sp_graph_ops_variables, sp_graph_ops_strings, sp_graph_ops_math,
    sp_graph_ops_array, sp_graph_ops_nn,        sp_graph_ops_reduce,  sp_graph_ops_parse,
    sp_graph_ops_random,
};

enum { MAX_OPS = 512 };
static const sp_op *sorted_ops[MAX_OPS];
static size_t sorted_count;
static pthread_once_t sort_once = PTHREAD_ONCE_INIT;

static int compare_ops(const void *a, const void *b) {
  return strcmp((*(const sp_op *const *)a)->name, (*(const sp_op *const *)b)->name);
}

static void sort_ops(void) {
  for (size_t t = 0; t < sizeof op_tables / sizeof *op_tables; t++)
    for (const sp_op *op = op_tables[t]; op->name && sorted_count < MAX_OPS; op++) sorted_ops[sorted_count++] = op;
  qsort(sorted_ops, sorted_count, sizeof *sorted_ops, compare_ops);
}

const sp_op *sp_graph_find_op(const char *name) {
  pthread_once(&sort_once, sort_ops);
  size_t low = 0, high = sorted_count;
  while (low < high) {
    size_t middle = low + (high - low) / 2;
    int order = strcmp(sorted_ops[middle]->name, name);
    if (order == 0) return sorted_ops[middle];
    if (order < 0) low = middle + 1;
    else high = middle;
  }
  return NULL;
}
