/* optimizer.h — Keras 3 optimizers: update rules, variables in Keras order, configs.
 *
 * Update rules are those of keras/src/optimizers/<name>.py (Keras 3), computed in float32 as Keras
 * computes them for float32 variables. One step (BaseOptimizer.apply) is:
 *   1. gradients /= loss_scale_factor                                   (when set)
 *   2. gradient accumulation: every step adds into the accumulators; only each
 *      gradient_accumulation_steps-th step updates, with (g + accumulated) / steps
 *   3. clipping: clipnorm (each tensor to norm <= c), global_clipnorm (all tensors
 *      together), or clipvalue (each element into [-c, c])
 *   4. weight decay: w -= w * weight_decay * lr                          (when set)
 *   5. the optimizer's update_step for every variable (formulas in optimizer.c)
 *   6. use_ema: average = m * average + (1 - m) * variable, with m = ema_momentum except on the
 *      first step (iterations == 0), where m = 0; every ema_overwrite_frequency-th step (when set)
 *      the variables take their averages. This runs on every call, accumulating or not.
 *   7. each variable's constraint projects it
 *   8. iteration += 1
 * At the end of fit (finalize_variable_values) a use_ema optimizer gives the variables their averages.
 * The learning rate is the learning_rate variable, or a schedule evaluated at `iteration`.
 *
 * Variables, in Keras 3's order (optimizer.variables, what .keras/.weights.h5 files store as
 * optimizer/vars/0..n): iteration (int64 scalar), learning_rate (float32 scalar; absent with a
 * schedule), weight averages (use_ema; one per trainable variable, "<path>_average"), gradient
 * accumulators (one per trainable variable, when enabled), then slot variables
 * in the groups each optimizer creates them, interleaved per trainable variable within a group:
 *   SGD      momentum (only when momentum != 0)
 *   Adam     momentum, velocity interleaved; then velocity_hat for each (amsgrad)
 *   AdamW    as Adam
 *   RMSprop  velocity; then momentum (momentum > 0); then average_gradient (centered)
 *   Adagrad  accumulator (initialised to initial_accumulator_value)
 *   Nadam    momentum, velocity interleaved; then Nadam's u_product scalar (Keras names it "variable")
 * Names are Keras variable paths: "<optimizer name>/iteration", "<optimizer name>/<reference
 * variable path with '/' as '_'>_<slot>", e.g. "adam/sequential_dense_kernel_momentum".
 */
#ifndef SP_NN_OPTIMIZER_H
#define SP_NN_OPTIMIZER_H

#include <json.h>
#include <stdint.h>

#include "core/status.h"
#include "nn/model.h"

typedef enum sp_optimizer_kind {
  SP_OPTIMIZER_SGD,
  SP_OPTIMIZER_ADAM,
  SP_OPTIMIZER_ADAMW,
  SP_OPTIMIZER_RMSPROP,
  SP_OPTIMIZER_ADAGRAD,
  SP_OPTIMIZER_NADAM
} sp_optimizer_kind;

typedef enum sp_schedule_kind {
  SP_SCHEDULE_NONE = 0,
  SP_SCHEDULE_EXPONENTIAL_DECAY,
  SP_SCHEDULE_PIECEWISE_CONSTANT_DECAY,
  SP_SCHEDULE_COSINE_DECAY
} sp_schedule_kind;

/* A Keras learning-rate schedule (keras/src/optimizers/schedules/learning_rate_schedule.py). */
typedef struct sp_schedule {
  sp_schedule_kind kind;
  double initial_learning_rate, decay_steps, decay_rate, alpha, warmup_target, warmup_steps;
  int staircase, has_warmup_target;
  int boundary_count;   /* PiecewiseConstantDecay: values has boundary_count + 1 entries */
  double *boundaries, *values;
  json_object *config;  /* the schedule's serialized object as read or built; written back */
} sp_schedule;

/* A float option that may be None in the Keras config. */
typedef struct sp_optional {
  int set;
  double value;
} sp_optional;

typedef struct sp_optimizer_variable {
  char *name;       /* Keras path, see above */
  sp_tensor *value; /* owned */
  const char *slot; /* "momentum", "velocity", … ; NULL for iteration, learning_rate, u_product */
  int target;       /* index of the trainable variable it follows, -1 for optimizer-wide ones */
} sp_optimizer_variable;

enum { SP_OPTIMIZER_MAX_SLOTS = 3 };

struct sp_optimizer {
  sp_optimizer_kind kind;
  char *name;
  double learning_rate; /* the configured float rate (the variable holds the live value) */
  sp_schedule schedule;
  sp_optional weight_decay, clipnorm, global_clipnorm, clipvalue, loss_scale_factor, ema_overwrite_frequency;
  int use_ema;                         /* keep moving averages of the trainable variables */
  double ema_momentum;
  int64_t gradient_accumulation_steps; /* 0 = None */
  double beta_1, beta_2, epsilon;      /* Adam, AdamW, Nadam (epsilon also RMSprop, Adagrad) */
  int amsgrad;
  double momentum;                     /* SGD, RMSprop */
  int nesterov;
  double rho;
  int centered;
  double initial_accumulator_value;
  json_object *extra;                  /* config keys savepoint does not interpret, written back */
  json_object *keras2_extra;           /* Keras 2 only keys (decay, is_legacy_optimizer, …) */

  /* ---- state, after sp_optimizer_build ---- */
  int built;
  int target_count;
  sp_variable **targets;               /* the model's trainable variables, Keras order */
  int variable_count;
  sp_optimizer_variable *variables;    /* Keras order */
  sp_tensor *iteration;                /* int64 scalar (borrowed from variables) */
  sp_tensor *learning_rate_variable;   /* float32 scalar, NULL with a schedule */
  sp_tensor *u_product;                /* Nadam */
  sp_tensor **slots[SP_OPTIMIZER_MAX_SLOTS]; /* slots[k][target], NULL where the slot is absent */
  sp_tensor **accumulators;            /* gradient accumulation, per target */
  sp_tensor **averages;                /* use_ema, per target */
};

typedef struct sp_optimizer sp_optimizer;

/* A new optimizer with Keras's defaults for kind and the given learning rate. */
sp_status sp_optimizer_create(sp_optimizer_kind kind, double learning_rate, sp_optimizer **optimizer) SP_MUST_CHECK;
/* From a name ("adam", "SGD") or a config object: Keras 3 ({module, class_name, config,
 * registered_name}) or Keras 2 ({class_name, config} with "lr", "decay", "Custom>Adam", …). */
sp_status sp_optimizer_parse(const json_object *spec, const char *context, sp_optimizer **optimizer) SP_MUST_CHECK;
/* The serialized optimizer: Keras 3 object (keras_major 3) or Keras 2 {class_name, config} in
 * tf.keras optimizer_v2's keys (keras_major 2). Caller owns the result. */
json_object *sp_optimizer_config_json(const sp_optimizer *optimizer, int keras_major);
/* Sets one hyperparameter by its Keras config key (learning_rate, beta_1, momentum, clipnorm, …). */
sp_status sp_optimizer_set_option(sp_optimizer *optimizer, const char *key, double value) SP_MUST_CHECK;
/* Replaces the learning rate by a schedule given as its Keras config object. */
sp_status sp_optimizer_set_schedule(sp_optimizer *optimizer, const json_object *schedule) SP_MUST_CHECK;
void sp_optimizer_free(sp_optimizer *optimizer);

/* Creates the optimizer's variables for the model's trainable variables (Optimizer.build).
 * Idempotent for the same model; a different set of variables is refused. */
sp_status sp_optimizer_build(sp_optimizer *optimizer, const sp_model *model) SP_MUST_CHECK;
/* One step from the gradients held by the trainable variables (sp_variable->gradient). */
sp_status sp_optimizer_apply(sp_optimizer *optimizer) SP_MUST_CHECK;
/* finalize_variable_values: a use_ema optimizer overwrites the variables with their averages. */
sp_status sp_optimizer_finalize(sp_optimizer *optimizer) SP_MUST_CHECK;
/* SwapEMAWeights: exchanges each trainable variable's value with its average (use_ema). */
sp_status sp_optimizer_swap_averages(sp_optimizer *optimizer) SP_MUST_CHECK;
/* SwapEMAWeights' _finalize_ema_values: each average takes its variable's value. */
sp_status sp_optimizer_set_averages_from_variables(sp_optimizer *optimizer) SP_MUST_CHECK;
/* The Keras class name: "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam". */
const char *sp_optimizer_class_name(const sp_optimizer *optimizer);
/* tf.keras 2's time-based `decay` as a Keras 2 config gave it (Keras 3 has none): 0 when absent. */
double sp_optimizer_keras2_decay(const sp_optimizer *optimizer);
/* The learning rate the next step uses. */
double sp_optimizer_current_learning_rate(const sp_optimizer *optimizer);
/* Raw step count (the iteration variable); 0 before build. */
int64_t sp_optimizer_iteration_count(const sp_optimizer *optimizer);
/* Evaluates a schedule at a step. */
double sp_schedule_value(const sp_schedule *schedule, double step);

/* The Keras variable path of a model variable ("sequential/dense/kernel"): the nearest enclosing
 * Sequential model's name (Keras builds its layers in that name scope), the layer, the variable.
 * Caller frees. */
char *sp_variable_path(const sp_model *model, const sp_variable *variable);

#endif
