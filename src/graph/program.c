/* program.c — compiling GraphDefs and FunctionDefs, and building plans (see program.h).
 *
 * Invariants after compiling: every edge names an existing node and an output index below that
 * node's output_count; slots are numbered densely; a call node either links to a compiled
 * function or records the missing name for sp_graph_plan_check to report. Plans are built with an
 * explicit stack, so a graph a million nodes deep cannot overflow the C stack.
 */
#include "graph/program.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "graph/tensor_proto.h"

enum { MAX_NODE_OUTPUTS = 1 << 16, MAX_NODES = 1 << 24 };

const Tensorflow__AttrValue *sp_node_attr(const Tensorflow__NodeDef *node, const char *name) {
  if (!node) return NULL;
  for (size_t i = node->n_attr; i-- > 0;)
    if (strcmp(node->attr[i]->key, name) == 0) return node->attr[i]->value;
  return NULL;
}

/* ---------- lookup ---------- */

static int compare_by_name(const void *a, const void *b, void *program) {
  const sp_graph_program *p = program;
  return strcmp(p->nodes[*(const int32_t *)a].name, p->nodes[*(const int32_t *)b].name);
}

int32_t sp_graph_program_find(const sp_graph_program *program, const char *name) {
  int32_t low = 0, high = program->node_count - 1;
  while (low <= high) {
    int32_t middle = low + (high - low) / 2;
    int order = strcmp(program->nodes[program->by_name[middle]].name, name);
    if (order == 0) return program->by_name[middle];
    if (order < 0) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}

static sp_status index_names(sp_graph_program *program) {
  program->by_name = sp_alloc_zeroed(program->node_count ? (size_t)program->node_count : 1, sizeof *program->by_name);
  if (!program->by_name) return SP_ERROR_NO_MEMORY;
  for (int32_t i = 0; i < program->node_count; i++) program->by_name[i] = i;
  qsort_r(program->by_name, (size_t)program->node_count, sizeof *program->by_name, compare_by_name, program);
  for (int32_t i = 1; i < program->node_count; i++)
    if (strcmp(program->nodes[program->by_name[i - 1]].name, program->nodes[program->by_name[i]].name) == 0)
      return sp_fail(SP_ERROR_FORMAT, "%s: two nodes are named '%s'", program->name,
                     program->nodes[program->by_name[i]].name);
  return SP_OK;
}

static int parse_index(const char *text, int32_t *index) {
  if (!*text) return 0;
  int64_t value = 0;
  for (const char *p = text; *p; p++) {
    if (*p < '0' || *p > '9' || value > MAX_NODE_OUTPUTS) return 0;
    value = value * 10 + (*p - '0');
  }
  *index = (int32_t)value;
  return 1;
}

sp_status sp_graph_program_tensor(const sp_graph_program *program, const char *tensor_name, sp_graph_edge *edge) {
  const char *colon = strrchr(tensor_name, ':');
  int32_t index = 0;
  size_t length = strlen(tensor_name);
  if (colon && parse_index(colon + 1, &index)) length = (size_t)(colon - tensor_name);
  char *name = sp_strndup(tensor_name, length);
  if (!name) return SP_ERROR_NO_MEMORY;
  int32_t node = sp_graph_program_find(program, name);
  free(name);
  if (node < 0) return sp_fail(SP_ERROR_NOT_FOUND, "the graph has no node for tensor '%s'", tensor_name);
  if (index >= program->nodes[node].output_count)
    return sp_fail(SP_ERROR_NOT_FOUND, "tensor '%s': node '%s' has %d outputs", tensor_name,
                   program->nodes[node].name, program->nodes[node].output_count);
  edge->node = node;
  edge->output = index;
  return SP_OK;
}

/* ---------- output counting ---------- */

/* How many tensors an output argument with this attr holds: an int attr's value or a list's length. */
static sp_status count_from_attr(const Tensorflow__NodeDef *node, const char *attr_name, int32_t *count) {
  const Tensorflow__AttrValue *attr = sp_node_attr(node, attr_name);
  int64_t value = -1;
  if (attr && attr->value_case == TENSORFLOW__ATTR_VALUE__VALUE_I) value = attr->i;
  if (attr && attr->value_case == TENSORFLOW__ATTR_VALUE__VALUE_LIST) {
    const Tensorflow__AttrValue__ListValue *list = attr->list;
    value = (int64_t)(list->n_type + list->n_i + list->n_s + list->n_f + list->n_b + list->n_shape + list->n_tensor +
                      list->n_func);
  }
  if (!attr) value = 0; /* stripped SavedModels omit list attrs whose default is [] */
  if (value < 0 || value > MAX_NODE_OUTPUTS)
    return sp_fail(SP_ERROR_FORMAT, "node '%s' (%s): attr '%s' must give an output count (found %s)", node->name,
                   node->op, attr_name, attr ? "an unusable value" : "nothing");
  *count = (int32_t)value;
  return SP_OK;
}

/* Walks an op's output spec "a,b*N,c*T": reports the offset of arg (or the total when arg is NULL). */
static sp_status walk_output_spec(const sp_graph_node *node, const char *arg, int32_t *offset, int *found) {
  const char *spec = node->op->outputs;
  *offset = 0;
  *found = 0;
  while (*spec) {
    const char *end = strchr(spec, ',');
    size_t length = end ? (size_t)(end - spec) : strlen(spec);
    const char *star = memchr(spec, '*', length);
    size_t name_length = star ? (size_t)(star - spec) : length;
    if (arg && strlen(arg) == name_length && memcmp(arg, spec, name_length) == 0) {
      *found = 1;
      return SP_OK;
    }
    int32_t count = 1;
    if (star) {
      char attr_name[64];
      size_t attr_length = length - name_length - 1;
      if (attr_length >= sizeof attr_name) return sp_fail(SP_ERROR_INTERNAL, "output spec too long");
      memcpy(attr_name, star + 1, attr_length);
      attr_name[attr_length] = '\0';
      SP_TRY(count_from_attr(node->def, attr_name, &count));
    }
    if (*offset > MAX_NODE_OUTPUTS) return sp_fail(SP_ERROR_FORMAT, "node '%s' has too many outputs", node->name);
    *offset += count;
    spec += length + (end ? 1 : 0);
  }
  return SP_OK;
}

static int32_t callee_output_count(const sp_graph_node *node) {
  return node->callee ? node->callee->return_count : -1;
}

static sp_status count_outputs(sp_graph_node *node) {
  if (!node->def) {
    node->output_count = 1; /* a function argument */
    return SP_OK;
  }
  if (!node->op) {
    node->output_count = 1; /* at least one; grown while resolving references to it */
    return SP_OK;
  }
  if (node->op->flags & SP_OP_CALL) {
    int32_t from_callee = callee_output_count(node);
    if (from_callee >= 0) {
      node->output_count = from_callee;
      return SP_OK;
    }
  }
  if (!node->op->outputs) {
    node->output_count = 1;
    return SP_OK;
  }
  int found;
  return walk_output_spec(node, NULL, &node->output_count, &found);
}

/* The first output index of output argument arg of node. */
static sp_status output_argument_offset(const sp_graph_node *node, const char *arg, int32_t *offset) {
  *offset = 0;
  if (!node->def || !node->op) return SP_OK;
  if ((node->op->flags & SP_OP_CALL) && node->callee && strcmp(node->def->op, node->callee->name) == 0) {
    /* a direct call: its output args are the function's, one tensor each */
    const Tensorflow__OpDef *signature = node->callee->signature;
    for (size_t i = 0; i < signature->n_output_arg; i++)
      if (strcmp(signature->output_arg[i]->name, arg) == 0) {
        *offset = (int32_t)i;
        return SP_OK;
      }
    return sp_fail(SP_ERROR_FORMAT, "node '%s' calls '%s', which has no output '%s'", node->name, node->callee->name, arg);
  }
  if (!node->op->outputs) return SP_OK;
  int found;
  SP_TRY(walk_output_spec(node, arg, offset, &found));
  if (!found && !(node->op->flags & SP_OP_CALL))
    return sp_fail(SP_ERROR_FORMAT, "node '%s' (%s) has no output argument '%s'", node->name, node->def->op, arg);
  if (!found) *offset = 0;
  return SP_OK;
}

/* ---------- references ---------- */

static sp_status reference_error(const sp_graph_program *program, const sp_graph_node *node, const char *text,
                                 const char *problem) {
  return sp_fail(SP_ERROR_FORMAT, "%s: node '%s' (%s): input '%s' %s", program->name, node->name,
                 node->def ? node->def->op : "argument", text, problem);
}

/* Resolves "name", "name:3" or, in functions, "name:out_arg:3" to an edge. */
static sp_status resolve_reference(const sp_graph_program *program, const sp_graph_node *consumer, const char *text,
                                   int function_body, sp_graph_edge *edge) {
  const char *first = strchr(text, ':');
  const char *second = first ? strchr(first + 1, ':') : NULL;
  size_t name_length = first ? (size_t)(first - text) : strlen(text);
  char name[512];
  if (name_length == 0 || name_length >= sizeof name) return reference_error(program, consumer, text, "is malformed");
  memcpy(name, text, name_length);
  name[name_length] = '\0';
  int32_t producer = sp_graph_program_find(program, name);
  if (producer < 0) return reference_error(program, consumer, text, "names no node");
  int32_t index = 0, offset = 0;
  if (second) {
    char arg[128];
    size_t arg_length = (size_t)(second - first - 1);
    if (!function_body || arg_length == 0 || arg_length >= sizeof arg || !parse_index(second + 1, &index))
      return reference_error(program, consumer, text, "is malformed");
    memcpy(arg, first + 1, arg_length);
    arg[arg_length] = '\0';
    SP_TRY(output_argument_offset(&program->nodes[producer], arg, &offset));
  } else if (first && !parse_index(first + 1, &index)) {
    return reference_error(program, consumer, text, "is malformed");
  }
  edge->node = producer;
  edge->output = offset + index;
  sp_graph_node *target = &((sp_graph_program *)program)->nodes[producer];
  if (!target->op && target->def) {
    if (edge->output >= MAX_NODE_OUTPUTS) return reference_error(program, consumer, text, "has an absurd index");
    if (edge->output >= target->output_count) target->output_count = edge->output + 1;
  } else if (edge->output >= target->output_count) {
    return reference_error(program, consumer, text, "names an output the node does not have");
  }
  return SP_OK;
}

static sp_status resolve_inputs(sp_graph_program *program, sp_graph_node *node, int function_body) {
  const Tensorflow__NodeDef *def = node->def;
  if (!def) return SP_OK;
  size_t controls = 0;
  for (size_t i = 0; i < def->n_input; i++) controls += def->input[i][0] == '^';
  node->inputs = sp_alloc_zeroed(def->n_input - controls + 1, sizeof *node->inputs);
  node->controls = sp_alloc_zeroed(controls + 1, sizeof *node->controls);
  if (!node->inputs || !node->controls) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < def->n_input; i++) {
    const char *text = def->input[i];
    if (text[0] == '^') {
      int32_t control = sp_graph_program_find(program, text + 1);
      if (control < 0) return reference_error(program, node, text, "names no node");
      node->controls[node->control_count++] = control;
    } else {
      if (node->control_count) return reference_error(program, node, text, "follows a control input");
      SP_TRY(resolve_reference(program, node, text, function_body, &node->inputs[node->input_count]));
      node->input_count++;
    }
  }
  return SP_OK;
}

/* ---------- compiling ---------- */

static sp_graph_program *find_function(sp_graph_library *library, const char *name) {
  for (size_t i = 0; i < library->function_count; i++)
    if (strcmp(library->functions[i].name, name) == 0) return &library->functions[i];
  return NULL;
}

static sp_status link_call(sp_graph_library *library, sp_graph_node *node) {
  const sp_op *call = sp_graph_find_op("PartitionedCall");
  sp_graph_program *direct = find_function(library, node->def->op);
  if (direct) {
    node->op = call;
    node->callee = direct;
    node->callee_name = direct->name;
    return SP_OK;
  }
  node->op = sp_graph_find_op(node->def->op);
  if (!node->op || !(node->op->flags & SP_OP_CALL)) return SP_OK;
  const Tensorflow__AttrValue *f = sp_node_attr(node->def, "f");
  if (!f || f->value_case != TENSORFLOW__ATTR_VALUE__VALUE_FUNC || !f->func->name)
    return sp_fail(SP_ERROR_FORMAT, "node '%s' (%s) has no function attr 'f'", node->name, node->def->op);
  node->callee_name = f->func->name;
  node->callee = find_function(library, f->func->name);
  return SP_OK;
}

static sp_status decode_constant(const sp_graph_library *library, sp_graph_node *node) {
  if (!node->op || strcmp(node->def->op, "Const") != 0) return SP_OK;
  const Tensorflow__AttrValue *value = sp_node_attr(node->def, "value");
  if (!value || value->value_case != TENSORFLOW__ATTR_VALUE__VALUE_TENSOR)
    return sp_fail(SP_ERROR_FORMAT, "Const node '%s' has no tensor value", node->name);
  char what[600];
  snprintf(what, sizeof what, "Const node '%s'", node->name);
  sp_tensor *tensor;
  SP_TRY(sp_tensor_from_proto(value->tensor, library->limits.max_tensor_bytes, what, &tensor));
  if (!(node->constant = sp_graph_value_from_tensor(tensor))) return SP_ERROR_NO_MEMORY;
  return SP_OK;
}

static sp_status assign_slots(sp_graph_program *program) {
  int64_t slot = 0;
  for (int32_t i = 0; i < program->node_count; i++) {
    program->nodes[i].first_slot = (int32_t)slot;
    slot += program->nodes[i].output_count;
    if (slot > INT32_MAX / 2) return sp_fail(SP_ERROR_UNSAFE, "%s: too many node outputs", program->name);
  }
  program->slot_count = (int32_t)slot;
  return SP_OK;
}

/* Node records for arguments (functions) and NodeDefs; names indexed; calls linked; Consts decoded. */
static sp_status create_nodes(sp_graph_library *library, sp_graph_program *program, const Tensorflow__OpDef *signature,
                              Tensorflow__NodeDef *const *defs, size_t def_count) {
  size_t arguments = signature ? signature->n_input_arg : 0;
  if (def_count + arguments > MAX_NODES) return sp_fail(SP_ERROR_UNSAFE, "%s: too many nodes", program->name);
  program->nodes = sp_alloc_zeroed(def_count + arguments + 1, sizeof *program->nodes);
  if (!program->nodes) return SP_ERROR_NO_MEMORY;
  program->argument_count = (int32_t)arguments;
  program->node_count = (int32_t)(def_count + arguments);
  for (size_t i = 0; i < arguments; i++) {
    const Tensorflow__OpDef__ArgDef *arg = signature->input_arg[i];
    if (*arg->number_attr || *arg->type_list_attr)
      return sp_fail(SP_ERROR_UNSUPPORTED, "function '%s': argument '%s' is a list", program->name, arg->name);
    program->nodes[i].name = arg->name;
  }
  for (size_t i = 0; i < def_count; i++) {
    sp_graph_node *node = &program->nodes[arguments + i];
    node->def = defs[i];
    node->name = defs[i]->name;
    SP_TRY(link_call(library, node));
  }
  return index_names(program);
}

static sp_status finish_nodes(sp_graph_library *library, sp_graph_program *program, int function_body) {
  for (int32_t i = 0; i < program->node_count; i++) SP_TRY(count_outputs(&program->nodes[i]));
  for (int32_t i = 0; i < program->node_count; i++) SP_TRY(resolve_inputs(program, &program->nodes[i], function_body));
  for (int32_t i = 0; i < program->node_count; i++)
    if (program->nodes[i].def) SP_TRY(decode_constant(library, &program->nodes[i]));
  return assign_slots(program);
}

static const char *map_lookup(Tensorflow__FunctionDef__RetEntry *const *entries, size_t count, const char *key) {
  for (size_t i = count; i-- > 0;)
    if (strcmp(entries[i]->key, key) == 0) return entries[i]->value;
  return NULL;
}

static sp_status function_returns(sp_graph_program *program, const Tensorflow__FunctionDef *function,
                                   sp_graph_edge *fetches) {
  const Tensorflow__OpDef *signature = function->signature;
  for (size_t i = 0; i < signature->n_output_arg; i++) {
    const char *name = signature->output_arg[i]->name;
    const char *reference = map_lookup(function->ret, function->n_ret, name);
    if (!reference) return sp_fail(SP_ERROR_FORMAT, "function '%s': output '%s' has no ret entry", program->name, name);
    sp_graph_node holder = {.name = name};
    SP_TRY(resolve_reference(program, &holder, reference, 1, &fetches[i]));
  }
  return SP_OK;
}

/* Roots of a function's plan: control returns and side-effect nodes (outputs are fetched). */
static sp_status function_targets(sp_graph_program *program, const Tensorflow__FunctionDef *function,
                                  int32_t **targets, size_t *count) {
  *targets = sp_alloc_zeroed((size_t)program->node_count + function->n_control_ret + 1, sizeof **targets);
  if (!*targets) return SP_ERROR_NO_MEMORY;
  *count = 0;
  for (size_t i = 0; i < function->n_control_ret; i++) {
    int32_t node = sp_graph_program_find(program, function->control_ret[i]->value);
    if (node < 0) {
      free(*targets);
      *targets = NULL;
      return sp_fail(SP_ERROR_FORMAT, "function '%s': control return names no node '%s'", program->name,
                     function->control_ret[i]->value);
    }
    (*targets)[(*count)++] = node;
  }
  for (int32_t i = program->argument_count; i < program->node_count; i++)
    if (program->nodes[i].op && (program->nodes[i].op->flags & SP_OP_SIDE_EFFECT)) (*targets)[(*count)++] = i;
  return SP_OK;
}

static sp_status compile_function_body(sp_graph_library *library, sp_graph_program *program,
                                       const Tensorflow__FunctionDef *function) {
  SP_TRY(finish_nodes(library, program, 1));
  const Tensorflow__OpDef *signature = function->signature;
  program->returns = sp_alloc_zeroed(signature->n_output_arg + 1, sizeof *program->returns);
  if (!program->returns) return SP_ERROR_NO_MEMORY;
  SP_TRY(function_returns(program, function, program->returns));
  program->return_count = (int32_t)signature->n_output_arg;
  int32_t *targets;
  size_t target_count;
  SP_TRY(function_targets(program, function, &targets, &target_count));
  sp_graph_edge *feeds = sp_alloc_zeroed((size_t)program->argument_count + 1, sizeof *feeds);
  sp_status status = feeds ? SP_OK : SP_ERROR_NO_MEMORY;
  for (int32_t i = 0; i < program->argument_count && status == SP_OK; i++) feeds[i].node = i;
  if (status == SP_OK)
    status = sp_graph_plan_build(program, program->returns, (size_t)program->return_count, targets, target_count, feeds,
                                 (size_t)program->argument_count, &program->plan);
  free(feeds);
  free(targets);
  return status;
}

static void free_program(sp_graph_program *program) {
  for (int32_t i = 0; i < program->node_count; i++) {
    free(program->nodes[i].inputs);
    free(program->nodes[i].controls);
    sp_graph_value_release(program->nodes[i].constant);
  }
  free(program->nodes);
  free(program->by_name);
  free(program->returns);
  sp_graph_plan_free(&program->plan);
  free(program->name);
}

static sp_status compile_library(sp_graph_library *library, const Tensorflow__FunctionDefLibrary *definitions) {
  size_t count = definitions ? definitions->n_function : 0;
  library->functions = sp_alloc_zeroed(count + 1, sizeof *library->functions);
  if (!library->functions) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < count; i++) {
    const Tensorflow__FunctionDef *function = definitions->function[i];
    if (!function->signature || !*function->signature->name)
      return sp_fail(SP_ERROR_FORMAT, "function library entry %zu has no signature name", i);
    if (!(library->functions[i].name = sp_strdup(function->signature->name))) return SP_ERROR_NO_MEMORY;
    library->function_count = i + 1;
    if (find_function(library, function->signature->name) != &library->functions[i])
      return sp_fail(SP_ERROR_FORMAT, "function '%s' is defined twice", function->signature->name);
  }
  /* Nodes are created for every function before any body is finished, so output counts of calls
   * can use their callee's return count. */
  for (size_t i = 0; i < count; i++) {
    const Tensorflow__FunctionDef *function = definitions->function[i];
    library->functions[i].signature = function->signature;
    SP_TRY(create_nodes(library, &library->functions[i], function->signature, function->node_def, function->n_node_def));
    library->functions[i].return_count = (int32_t)function->signature->n_output_arg;
  }
  for (size_t i = 0; i < count; i++) {
    sp_status status = compile_function_body(library, &library->functions[i], definitions->function[i]);
    if (status != SP_OK) return sp_error_context(status, "compiling function '%s'", library->functions[i].name);
    library->functions[i].compiled = 1;
  }
  return SP_OK;
}

sp_status sp_graph_library_compile(const Tensorflow__GraphDef *graph, const sp_graph_limits *limits,
                                   sp_graph_library **library) {
  *library = NULL;
  sp_graph_library *result = sp_alloc_zeroed(1, sizeof *result);
  if (!result) return SP_ERROR_NO_MEMORY;
  result->limits = *limits;
  sp_status status = (result->main.name = sp_strdup("graph")) ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = compile_library(result, graph->library);
  if (status == SP_OK) status = create_nodes(result, &result->main, NULL, graph->node, graph->n_node);
  if (status == SP_OK) status = finish_nodes(result, &result->main, 0);
  if (status != SP_OK) {
    sp_graph_library_free(result);
    return status;
  }
  result->main.compiled = 1;
  *library = result;
  return SP_OK;
}

void sp_graph_library_free(sp_graph_library *library) {
  if (!library) return;
  free_program(&library->main);
  for (size_t i = 0; i < library->function_count; i++) free_program(&library->functions[i]);
  free(library->functions);
  free(library);
}

/* ---------- plans ---------- */

void sp_graph_plan_free(sp_graph_plan *plan) {
  free(plan->order);
  plan->order = NULL;
  plan->count = 0;
}

enum { UNVISITED = 0, ACTIVE = 1, DONE = 2, FED = 3 };

typedef struct visit {
  int32_t node;
  int32_t next; /* next dependency to look at: data inputs, then controls */
} visit;

static int32_t dependency(const sp_graph_node *node, int32_t position) {
  return position < node->input_count ? node->inputs[position].node : node->controls[position - node->input_count];
}

static sp_status visit_from(const sp_graph_program *program, int32_t root, unsigned char *state, visit *stack,
                            sp_graph_plan *plan) {
  if (state[root] != UNVISITED) return SP_OK;
  int32_t depth = 0;
  stack[depth++] = (visit){root, 0};
  state[root] = ACTIVE;
  while (depth > 0) {
    visit *top = &stack[depth - 1];
    const sp_graph_node *node = &program->nodes[top->node];
    if (top->next < node->input_count + node->control_count) {
      int32_t next = dependency(node, top->next++);
      if (state[next] == ACTIVE)
        return sp_fail(SP_ERROR_FORMAT, "%s: the graph has a cycle through node '%s' (%s)", program->name,
                       program->nodes[next].name, program->nodes[next].def ? program->nodes[next].def->op : "argument");
      if (state[next] == UNVISITED) {
        state[next] = ACTIVE;
        stack[depth++] = (visit){next, 0};
      }
      continue;
    }
    state[top->node] = DONE;
    plan->order[plan->count++] = top->node;
    depth--;
  }
  return SP_OK;
}

sp_status sp_graph_plan_build(const sp_graph_program *program, const sp_graph_edge *fetches, size_t fetch_count,
                              const int32_t *targets, size_t target_count, const sp_graph_edge *feeds,
                              size_t feed_count, sp_graph_plan *plan) {
  plan->order = NULL;
  plan->count = 0;
  size_t n = (size_t)program->node_count;
  unsigned char *state = sp_alloc_zeroed(n + 1, 1);
  visit *stack = sp_alloc_zeroed(n + 1, sizeof *stack);
  plan->order = sp_alloc_zeroed(n + 1, sizeof *plan->order);
  sp_status status = state && stack && plan->order ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < feed_count && status == SP_OK; i++) state[feeds[i].node] = FED;
  for (size_t i = 0; i < fetch_count && status == SP_OK; i++)
    status = visit_from(program, fetches[i].node, state, stack, plan);
  for (size_t i = 0; i < target_count && status == SP_OK; i++)
    status = visit_from(program, targets[i], state, stack, plan);
  free(state);
  free(stack);
  if (status != SP_OK) sp_graph_plan_free(plan);
  return status;
}

/* ---------- what is missing ---------- */

static sp_status note_missing(sp_graph_missing_list *list, const char *what, const sp_graph_program *program,
                              const sp_graph_node *node) {
  for (size_t i = 0; i < list->count; i++)
    if (strcmp(list->items[i].what, what) == 0) {
      list->items[i].more++;
      return SP_OK;
    }
  SP_TRY(SP_RESERVE(list->items, list->capacity, list->count + 1));
  sp_graph_missing *item = &list->items[list->count];
  memset(item, 0, sizeof *item);
  item->what = sp_strdup(what);
  item->where = strcmp(program->name, "graph") == 0 ? sp_strdupf("node '%s'", node->name)
                                                   : sp_strdupf("node '%s' in function '%s'", node->name, program->name);
  if (!item->what || !item->where) {
    free(item->what);
    free(item->where);
    return SP_ERROR_NO_MEMORY;
  }
  list->count++;
  return SP_OK;
}

static sp_status check_nodes(const sp_graph_library *library, const sp_graph_program *program,
                             const sp_graph_plan *plan, sp_graph_missing_list *list, size_t *queue, size_t *queued) {
  for (int32_t i = 0; i < plan->count; i++) {
    const sp_graph_node *node = &program->nodes[plan->order[i]];
    if (!node->def) continue;
    if (!node->op) {
      SP_TRY(note_missing(list, node->def->op, program, node));
      continue;
    }
    if (!(node->op->flags & SP_OP_CALL)) continue;
    if (!node->callee) {
      char what[300];
      snprintf(what, sizeof what, "function '%s'", node->callee_name ? node->callee_name : "");
      SP_TRY(note_missing(list, what, program, node));
      continue;
    }
    size_t index = (size_t)(node->callee - library->functions);
    if (!list->seen[index]) {
      list->seen[index] = 1;
      queue[(*queued)++] = index;
    }
  }
  return SP_OK;
}

sp_status sp_graph_plan_check(const sp_graph_library *library, const sp_graph_program *program,
                              const sp_graph_plan *plan, sp_graph_missing_list *list) {
  if (!list->seen && !(list->seen = sp_alloc_zeroed(library->function_count + 1, 1))) return SP_ERROR_NO_MEMORY;
  size_t *queue = sp_alloc_zeroed(library->function_count + 1, sizeof *queue);
  if (!queue) return SP_ERROR_NO_MEMORY;
  size_t queued = 0, done = 0;
  sp_status status = check_nodes(library, program, plan, list, queue, &queued);
  while (status == SP_OK && done < queued) {
    const sp_graph_program *function = &library->functions[queue[done++]];
    status = check_nodes(library, function, &function->plan, list, queue, &queued);
  }
  free(queue);
  return status;
}

sp_status sp_graph_missing_format(const sp_graph_missing_list *list, sp_buffer *out) {
  int functions = 0, ops = 0;
  for (size_t i = 0; i < list->count; i++) {
    if (strncmp(list->items[i].what, "function '", 10) == 0) functions++;
    else ops++;
  }
  SP_TRY(sp_buffer_append_text(out, ops ? "unsupported ops: " : "missing functions: "));
  for (size_t i = 0; i < list->count; i++) {
    const sp_graph_missing *item = &list->items[i];
    SP_TRY(sp_buffer_printf(out, "%s%s (%s", i ? ", " : "", item->what, item->where));
    if (item->more) SP_TRY(sp_buffer_printf(out, " and %zu more", item->more));
    SP_TRY(sp_buffer_append_text(out, ")"));
  }
  (void)functions;
  return sp_buffer_append(out, "", 1);
}

void sp_graph_missing_free(sp_graph_missing_list *list) {
  for (size_t i = 0; i < list->count; i++) {
    free(list->items[i].what);
    free(list->items[i].where);
  }
  free(list->items);
  free(list->seen);
  memset(list, 0, sizeof *list);
}
