/* Tests of the optimizers against Keras 3's published update rules (keras/src/optimizers/<name>.py,
 * BaseOptimizer.apply), written out below in double precision and stepped alongside ours; every
 * option (momentum, nesterov, amsgrad, centered, clipping, weight decay, schedules, gradient
 * accumulation, constraints, weight averages); the variables' Keras order and names; and configs in and out. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "nn/compile.h"
#include "nn/optimizer.h"
#include "savepoint/train.h"
#include "test_support.h"

enum { MAX_PARAMETERS = 64, STEPS = 6 };

typedef struct fixture {
  sp_model *model;
  sp_variable **variables;
  int variable_count;
  int parameter_count;
  int tensor_of[MAX_PARAMETERS]; /* which variable each flattened parameter belongs to */
} fixture;

/* Input(3) → Dense(2) → Dense(1): kernels 3x2 and 2x1, biases 2 and 1 (11 parameters). */
static fixture make_fixture(const char *kernel_constraint) {
  fixture f = {0};
  f.model = sp_sequential("sequential");
  SP_ASSERT_OK(sp_model_add(f.model, sp_input(1, (int64_t[]){3})));
  if (kernel_constraint) {
    char config[256];
    snprintf(config, sizeof config, "{\"units\": 2, \"kernel_constraint\": \"%s\"}", kernel_constraint);
    SP_ASSERT_OK(sp_model_add(f.model, sp_layer_new("Dense", config)));
  } else {
    SP_ASSERT_OK(sp_model_add(f.model, sp_dense(2, "tanh")));
  }
  SP_ASSERT_OK(sp_model_add(f.model, sp_dense(1, NULL)));
  SP_ASSERT_OK(sp_model_build(f.model));
  SP_ASSERT_OK(sp_model_initialize(f.model));
  f.variable_count = sp_model_collect_variables(f.model, &f.variables, 1);
  for (int v = 0; v < f.variable_count; v++) {
    float *w = sp_tensor_floats(f.variables[v]->value);
    for (int64_t i = 0; i < sp_tensor_count(f.variables[v]->value); i++) {
      w[i] += 0.05f; /* biases start at zero; make every weight non-zero for weight decay */
      f.tensor_of[f.parameter_count++] = v;
    }
  }
  return f;
}

static void free_fixture(fixture *f) {
  free(f->variables);
  sp_model_free(f->model);
}

static float gradient_value(int parameter, int step) { return (float)(0.8 * sin(0.7 * parameter + 1.3 * step + 0.2)); }

static void set_gradients(fixture *f, int step) {
  int k = 0;
  for (int v = 0; v < f->variable_count; v++) {
    float *g = sp_tensor_floats(sp_variable_gradient(f->variables[v]));
    for (int64_t i = 0; i < sp_tensor_count(f->variables[v]->value); i++) g[i] = gradient_value(k++, step);
  }
}

static void read_weights(const fixture *f, double *weights) {
  int k = 0;
  for (int v = 0; v < f->variable_count; v++)
    for (int64_t i = 0; i < sp_tensor_count(f->variables[v]->value); i++) weights[k++] = sp_tensor_floats(f->variables[v]->value)[i];
}

static void assert_weights(const fixture *f, const double *expected, int step, const char *what) {
  double actual[MAX_PARAMETERS];
  read_weights(f, actual);
  for (int k = 0; k < f->parameter_count; k++)
    cr_assert(fabs(actual[k] - expected[k]) <= 2e-6 + 2e-5 * fabs(expected[k]),
              "%s: step %d, parameter %d: %.9g, expected %.9g", what, step, k, actual[k], expected[k]);
}

/* The reference state of one run: the weights and up to three slots per parameter, in double. */
typedef struct reference {
  double w[MAX_PARAMETERS], a[MAX_PARAMETERS], b[MAX_PARAMETERS], c[MAX_PARAMETERS];
  double u_product;
} reference;

typedef void (*reference_step)(reference *r, const double *g, int count, int t, double lr);

/* Runs our optimizer and a reference for STEPS steps from the same weights and gradients. */
static void run_against(sp_optimizer *optimizer, fixture *f, reference_step step, double lr, const char *what,
                        void (*prepare)(const fixture *f, double *g, int step)) {
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f->model));
  reference r = {.u_product = 1};
  read_weights(f, r.w);
  for (int s = 0; s < STEPS; s++) {
    set_gradients(f, s);
    double g[MAX_PARAMETERS];
    for (int k = 0; k < f->parameter_count; k++) g[k] = gradient_value(k, s);
    if (prepare) prepare(f, g, s);
    SP_ASSERT_OK(sp_optimizer_apply(optimizer));
    step(&r, g, f->parameter_count, s + 1, lr);
    assert_weights(f, r.w, s, what);
  }
  cr_assert_eq(sp_optimizer_iteration_count(optimizer), STEPS);
}

/* A fresh fixture, our optimizer against the reference, and cleanup. */
static void check_case(sp_optimizer *optimizer, reference_step step, double lr, const char *what,
                       void (*prepare)(const fixture *f, double *g, int step)) {
  cr_assert_not_null(optimizer, "%s: %s", what, sp_last_error());
  fixture f = make_fixture(NULL);
  run_against(optimizer, &f, step, lr, what, prepare);
  sp_optimizer_free(optimizer);
  free_fixture(&f);
}

/* ---- Keras 3 formulas (t = iterations + 1) ---- */

static double momentum_value, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7, rho = 0.9;

/* sgd.py: m = m*momentum - g*lr; w += m (nesterov: w += m*momentum - g*lr); no momentum: w -= g*lr */
static void sgd_plain(reference *r, const double *g, int n, int t, double lr) {
  for (int k = 0; k < n; k++) r->w[k] -= g[k] * lr;
}
static void sgd_momentum(reference *r, const double *g, int n, int t, double lr) {
  for (int k = 0; k < n; k++) {
    r->a[k] = r->a[k] * momentum_value - g[k] * lr;
    r->w[k] += r->a[k];
  }
}
static void sgd_nesterov(reference *r, const double *g, int n, int t, double lr) {
  for (int k = 0; k < n; k++) {
    r->a[k] = r->a[k] * momentum_value - g[k] * lr;
    r->w[k] += r->a[k] * momentum_value - g[k] * lr;
  }
}

/* adam.py: alpha = lr*sqrt(1-b2^t)/(1-b1^t); m += (g-m)(1-b1); v += (g^2-v)(1-b2);
 * amsgrad: v_hat = max(v_hat, v); w -= m*alpha/(sqrt(v or v_hat) + eps) */
static void adam_common(reference *r, const double *g, int n, int t, double lr, int amsgrad) {
  double alpha = lr * sqrt(1 - pow(beta_2, t)) / (1 - pow(beta_1, t));
  for (int k = 0; k < n; k++) {
    r->a[k] += (g[k] - r->a[k]) * (1 - beta_1);
    r->b[k] += (g[k] * g[k] - r->b[k]) * (1 - beta_2);
    double v = r->b[k];
    if (amsgrad) v = r->c[k] = fmax(r->c[k], r->b[k]);
    r->w[k] -= r->a[k] * alpha / (sqrt(v) + epsilon);
  }
}
static void adam(reference *r, const double *g, int n, int t, double lr) { adam_common(r, g, n, t, lr, 0); }
static void adam_amsgrad(reference *r, const double *g, int n, int t, double lr) { adam_common(r, g, n, t, lr, 1); }

/* base_optimizer.py _apply_weight_decay (before the update): w -= w * wd * lr */
static double decay_value;
static void adamw(reference *r, const double *g, int n, int t, double lr) {
  for (int k = 0; k < n; k++) r->w[k] -= r->w[k] * decay_value * lr;
  adam(r, g, n, t, lr);
}

/* rmsprop.py: v = rho v + (1-rho) g^2; centered: a = rho a + (1-rho) g, denominator v - a^2 + eps;
 * increment = lr g / sqrt(denominator); momentum: m = momentum m + increment, w -= m */
static int rms_centered;
static void rmsprop(reference *r, const double *g, int n, int t, double lr) {
  for (int k = 0; k < n; k++) {
    r->a[k] = rho * r->a[k] + (1 - rho) * g[k] * g[k];
    double denominator = r->a[k] + epsilon;
    if (rms_centered) {
      r->c[k] = rho * r->c[k] + (1 - rho) * g[k];
      denominator = r->a[k] - r->c[k] * r->c[k] + epsilon;
    }
    double increment = lr * g[k] / sqrt(denominator);
    if (momentum_value > 0) {
      r->b[k] = momentum_value * r->b[k] + increment;
      r->w[k] -= r->b[k];
    } else {
      r->w[k] -= increment;
    }
  }
}

/* adagrad.py: s starts at initial_accumulator_value; s += g^2; w -= lr g / sqrt(s + eps) */
static void adagrad(reference *r, const double *g, int n, int t, double lr) {
  for (int k = 0; k < n; k++) {
    if (t == 1) r->a[k] = 0.1;
    r->a[k] += g[k] * g[k];
    r->w[k] -= lr * g[k] / sqrt(r->a[k] + epsilon);
  }
}

/* nadam.py: u_product *= b1 (1 - 0.5*0.96^t) once per step; u_t, u_t1 from t and t + 1;
 * m_hat = u_t1 m / (1 - u_product u_t1) + (1 - u_t) g / (1 - u_product); v_hat = v / (1 - b2^t) */
static void nadam(reference *r, const double *g, int n, int t, double lr) {
  r->u_product *= beta_1 * (1 - 0.5 * pow(0.96, t));
  double u_t = beta_1 * (1 - 0.5 * pow(0.96, t)), u_t1 = beta_1 * (1 - 0.5 * pow(0.96, t + 1));
  for (int k = 0; k < n; k++) {
    r->a[k] += (g[k] - r->a[k]) * (1 - beta_1);
    r->b[k] += (g[k] * g[k] - r->b[k]) * (1 - beta_2);
    double m_hat = u_t1 * r->a[k] / (1 - r->u_product * u_t1) + (1 - u_t) * g[k] / (1 - r->u_product);
    double v_hat = r->b[k] / (1 - pow(beta_2, t));
    r->w[k] -= m_hat * lr / (sqrt(v_hat) + epsilon);
  }
}

static sp_optimizer *optimizer_from(const char *json) {
  sp_optimizer *optimizer = sp_optimizer_from_config(json);
  cr_assert_not_null(optimizer, "%s: %s", json, sp_last_error());
  return optimizer;
}

Test(optimizers, sgd_plain_momentum_and_nesterov) {
  check_case(sp_sgd(0.1, 0.0, 0), sgd_plain, 0.1, "sgd", NULL);

  momentum_value = 0.9;
  check_case(sp_sgd(0.05, 0.9, 0), sgd_momentum, 0.05, "sgd momentum", NULL);

  check_case(sp_sgd(0.05, 0.9, 1), sgd_nesterov, 0.05, "sgd nesterov", NULL);
}

Test(optimizers, adam_and_amsgrad) {
  check_case(sp_adam(0.01), adam, 0.01, "adam", NULL);

  check_case(optimizer_from("{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.02, \"amsgrad\": true}}"),
             adam_amsgrad, 0.02, "amsgrad", NULL);
}

Test(optimizers, adamw_decays_weights_before_the_update) {
  decay_value = 0.1;
  check_case(sp_adamw(0.01, 0.1), adamw, 0.01, "adamw", NULL);
}

Test(optimizers, rmsprop_plain_momentum_centered) {
  momentum_value = 0;
  rms_centered = 0;
  check_case(sp_rmsprop(0.01), rmsprop, 0.01, "rmsprop", NULL);

  momentum_value = 0.5;
  rms_centered = 1;
  check_case(optimizer_from("{\"class_name\": \"RMSprop\", \"config\": {\"learning_rate\": 0.01, \"momentum\": 0.5, "
                             "\"centered\": true}}"), rmsprop, 0.01, "rmsprop centered momentum", NULL);
}

Test(optimizers, adagrad_and_nadam) {
  check_case(sp_adagrad(0.1), adagrad, 0.1, "adagrad", NULL);

  check_case(sp_nadam(0.01), nadam, 0.01, "nadam", NULL);
}

/* ---- clipping: g is rewritten before the (plain SGD) update ---- */

static double clip_limit;

static void clip_each_tensor(const fixture *f, double *g, int step) { /* clipnorm */
  for (int v = 0; v < f->variable_count; v++) {
    double squares = 0;
    for (int k = 0; k < f->parameter_count; k++)
      if (f->tensor_of[k] == v) squares += g[k] * g[k];
    double norm = sqrt(squares);
    for (int k = 0; k < f->parameter_count; k++)
      if (f->tensor_of[k] == v) g[k] = g[k] * clip_limit / fmax(norm, clip_limit);
  }
}

static void clip_globally(const fixture *f, double *g, int step) { /* global_clipnorm */
  double squares = 0;
  for (int k = 0; k < f->parameter_count; k++) squares += g[k] * g[k];
  double scale = clip_limit * fmin(1 / sqrt(squares), 1 / clip_limit);
  for (int k = 0; k < f->parameter_count; k++) g[k] *= scale;
}

static void clip_values(const fixture *f, double *g, int step) { /* clipvalue */
  for (int k = 0; k < f->parameter_count; k++) g[k] = fmin(fmax(g[k], -clip_limit), clip_limit);
}

Test(optimizers, clipnorm_global_clipnorm_and_clipvalue) {
  const char *options[] = {"clipnorm", "global_clipnorm", "clipvalue"};
  void (*references[])(const fixture *, double *, int) = {clip_each_tensor, clip_globally, clip_values};
  clip_limit = 0.3;
  for (int i = 0; i < 3; i++) {
    fixture f = make_fixture(NULL);
    sp_optimizer *optimizer = sp_sgd(0.1, 0, 0);
    SP_ASSERT_OK(sp_optimizer_set(optimizer, options[i], clip_limit));
    run_against(optimizer, &f, sgd_plain, 0.1, options[i], references[i]);
    sp_optimizer_free(optimizer);
    free_fixture(&f);
  }
  sp_optimizer *both = sp_sgd(0.1, 0, 0);
  SP_ASSERT_OK(sp_optimizer_set(both, "clipnorm", 1));
  SP_ASSERT_FAILS(sp_optimizer_set(both, "clipvalue", 1), SP_ERROR_INVALID_ARGUMENT, "only one of");
  sp_optimizer_free(both);
}

/* ---- schedules ---- */

static sp_schedule schedule_of(const char *json) {
  sp_optimizer *optimizer = sp_sgd(0.1, 0, 0);
  SP_ASSERT_OK(sp_optimizer_set_learning_rate_schedule(optimizer, json));
  sp_schedule schedule = optimizer->schedule;
  optimizer->schedule = (sp_schedule){0};
  sp_optimizer_free(optimizer);
  return schedule;
}

static void schedule_free(sp_schedule *schedule) {
  free(schedule->boundaries);
  free(schedule->values);
  json_object_put(schedule->config);
}

Test(optimizers, schedules_follow_keras_formulas) {
  sp_schedule exponential = schedule_of("{\"class_name\": \"ExponentialDecay\", \"config\": {\"initial_learning_rate\": 0.1, "
                                        "\"decay_steps\": 10, \"decay_rate\": 0.5, \"staircase\": false}}");
  cr_assert_float_eq(sp_schedule_value(&exponential, 15), 0.1 * pow(0.5, 1.5), 1e-12);
  exponential.staircase = 1;
  cr_assert_float_eq(sp_schedule_value(&exponential, 15), 0.1 * 0.5, 1e-12);
  sp_schedule piecewise = schedule_of("{\"module\": \"keras.optimizers.schedules\", \"class_name\": \"PiecewiseConstantDecay\", "
                                      "\"config\": {\"boundaries\": [10, 20], \"values\": [1.0, 0.5, 0.1]}, \"registered_name\": null}");
  /* step <= 10 → 1.0; 10 < step <= 20 → 0.5; step > 20 → 0.1 */
  cr_assert_eq(sp_schedule_value(&piecewise, 10), 1.0);
  cr_assert_eq(sp_schedule_value(&piecewise, 11), 0.5);
  cr_assert_eq(sp_schedule_value(&piecewise, 20), 0.5);
  cr_assert_eq(sp_schedule_value(&piecewise, 21), 0.1);
  sp_schedule cosine = schedule_of("{\"class_name\": \"CosineDecay\", \"config\": {\"initial_learning_rate\": 0.1, "
                                   "\"decay_steps\": 100, \"alpha\": 0.1}}");
  double fraction = 0.5 * (1 + cos(M_PI * 40 / 100));
  cr_assert_float_eq(sp_schedule_value(&cosine, 40), 0.1 * ((1 - 0.1) * fraction + 0.1), 1e-12);
  cr_assert_float_eq(sp_schedule_value(&cosine, 500), 0.1 * 0.1, 1e-12); /* clamped at decay_steps */
  sp_schedule warmup = schedule_of("{\"class_name\": \"CosineDecay\", \"config\": {\"initial_learning_rate\": 0.0, "
                                   "\"decay_steps\": 100, \"warmup_target\": 0.2, \"warmup_steps\": 10}}");
  cr_assert_float_eq(sp_schedule_value(&warmup, 5), 0.1, 1e-12);
  cr_assert_float_eq(sp_schedule_value(&warmup, 60), 0.2 * 0.5 * (1 + cos(M_PI * 50 / 100)), 1e-12);
  schedule_free(&exponential);
  schedule_free(&piecewise);
  schedule_free(&cosine);
  schedule_free(&warmup);
}

static void sgd_exponential(reference *r, const double *g, int n, int t, double lr) {
  /* the schedule is evaluated at the iteration before the step: t - 1 */
  sgd_plain(r, g, n, t, (float)(0.1 * pow(0.5, (t - 1) / 2.0)));
}

Test(optimizers, a_schedule_drives_the_learning_rate_from_the_iteration) {
  fixture f = make_fixture(NULL);
  sp_optimizer *optimizer = optimizer_from("{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": {\"class_name\": "
                                           "\"ExponentialDecay\", \"config\": {\"initial_learning_rate\": 0.1, "
                                           "\"decay_steps\": 2, \"decay_rate\": 0.5}}}}");
  run_against(optimizer, &f, sgd_exponential, 0, "sgd with ExponentialDecay", NULL);
  /* no learning_rate variable with a schedule */
  cr_assert_eq(sp_optimizer_variable_count(optimizer), 1);
  cr_assert_str_eq(sp_optimizer_variable_name(optimizer, 0), "SGD/iteration");
  sp_optimizer_free(optimizer);
  free_fixture(&f);
}

/* ---- gradient accumulation: every 3rd step updates with the mean of 3 gradients ---- */

static double accumulated[MAX_PARAMETERS];
static int accumulated_steps;

static void accumulate(const fixture *f, double *g, int step) {
  for (int k = 0; k < f->parameter_count; k++) accumulated[k] += g[k];
  accumulated_steps++;
  for (int k = 0; k < f->parameter_count; k++) g[k] = accumulated_steps == 3 ? accumulated[k] / 3 : 0;
  if (accumulated_steps == 3) {
    memset(accumulated, 0, sizeof accumulated);
    accumulated_steps = 0;
  }
}

Test(optimizers, gradient_accumulation_updates_every_n_steps) {
  fixture f = make_fixture(NULL);
  sp_optimizer *optimizer = sp_sgd(0.1, 0, 0);
  SP_ASSERT_OK(sp_optimizer_set(optimizer, "gradient_accumulation_steps", 3));
  run_against(optimizer, &f, sgd_plain, 0.1, "accumulation", accumulate);
  /* iteration, learning_rate, then one accumulator per variable */
  cr_assert_eq(sp_optimizer_variable_count(optimizer), 2 + 4);
  cr_assert_str_eq(sp_optimizer_variable_name(optimizer, 2), "SGD/sequential_dense_kernel_gradient_accumulator");
  sp_optimizer_free(optimizer);
  free_fixture(&f);
}

Test(optimizers, constraints_project_after_each_update) {
  fixture f = make_fixture("non_neg");
  sp_optimizer *optimizer = sp_sgd(1.0, 0, 0);
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  for (int s = 0; s < 3; s++) {
    set_gradients(&f, s);
    SP_ASSERT_OK(sp_optimizer_apply(optimizer));
    const float *kernel = sp_tensor_floats(f.variables[0]->value);
    for (int i = 0; i < 6; i++) cr_assert(kernel[i] >= 0, "kernel[%d] = %g after step %d", i, kernel[i], s);
  }
  sp_optimizer_free(optimizer);
  free_fixture(&f);
}

/* ---- use_ema: base_optimizer.py _update_model_variables_moving_average, after every update:
 * average = m * average + (1 - m) * w with m = ema_momentum, but 0 while iterations == 0; every
 * ema_overwrite_frequency-th step ((iterations + 1) divisible by it) w = average; and
 * finalize_variable_values, at the end of fit: w = average. ---- */

static void assert_averages(const sp_optimizer *optimizer, const fixture *f, const double *expected, int step) {
  int k = 0;
  for (int v = 0; v < f->variable_count; v++) {
    const sp_tensor *average = sp_optimizer_variable_value(optimizer, 2 + v); /* after iteration, learning_rate */
    for (int64_t i = 0; i < sp_tensor_count(average); i++, k++)
      cr_assert(fabs(sp_tensor_floats(average)[i] - expected[k]) <= 2e-6 + 2e-5 * fabs(expected[k]),
                "step %d, average of parameter %d: %.9g, expected %.9g", step, k, sp_tensor_floats(average)[i], expected[k]);
  }
}

static void run_with_averages(sp_optimizer *optimizer, reference_step step, double lr, double momentum, int overwrite_every) {
  cr_assert_not_null(optimizer, "%s", sp_last_error());
  fixture f = make_fixture(NULL);
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  reference r = {.u_product = 1};
  double average[MAX_PARAMETERS] = {0};
  read_weights(&f, r.w);
  for (int s = 0; s < STEPS; s++) {
    set_gradients(&f, s);
    double g[MAX_PARAMETERS];
    for (int k = 0; k < f.parameter_count; k++) g[k] = gradient_value(k, s);
    SP_ASSERT_OK(sp_optimizer_apply(optimizer));
    step(&r, g, f.parameter_count, s + 1, lr);
    double m = s == 0 ? 0 : momentum;
    for (int k = 0; k < f.parameter_count; k++) average[k] = m * average[k] + (1 - m) * r.w[k];
    if (overwrite_every && (s + 1) % overwrite_every == 0) memcpy(r.w, average, sizeof average);
    assert_weights(&f, r.w, s, "use_ema");
    assert_averages(optimizer, &f, average, s);
  }
  SP_ASSERT_OK(sp_optimizer_finalize(optimizer));
  assert_weights(&f, average, STEPS, "finalized");
  sp_optimizer_free(optimizer);
  free_fixture(&f);
}

Test(optimizers, use_ema_keeps_keras_moving_averages) {
  sp_optimizer *optimizer = optimizer_from("{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.05, "
                                           "\"use_ema\": true, \"ema_momentum\": 0.9}}");
  run_with_averages(optimizer, adam, 0.05, 0.9, 0);
  momentum_value = 0.5;
  optimizer = optimizer_from("{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.1, \"momentum\": 0.5, "
                             "\"use_ema\": true, \"ema_momentum\": 0.8, \"ema_overwrite_frequency\": 2}}");
  run_with_averages(optimizer, sgd_momentum, 0.1, 0.8, 2);
}

Test(optimizers, use_ema_with_gradient_accumulation_counts_update_steps) {
  fixture f = make_fixture(NULL);
  sp_optimizer *optimizer = sp_sgd(0.1, 0, 0);
  SP_ASSERT_OK(sp_optimizer_set(optimizer, "gradient_accumulation_steps", 2));
  SP_ASSERT_OK(sp_optimizer_set(optimizer, "use_ema", 1));
  SP_ASSERT_OK(sp_optimizer_set(optimizer, "ema_momentum", 0.5));
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  /* iterations (raw // 2) stays 0 for two raw steps: both copy the weights, the second after its update */
  for (int s = 0; s < 2; s++) {
    set_gradients(&f, s);
    SP_ASSERT_OK(sp_optimizer_apply(optimizer));
  }
  double weights[MAX_PARAMETERS];
  read_weights(&f, weights);
  assert_averages(optimizer, &f, weights, 1);
  SP_ASSERT_FAILS(sp_optimizer_set(optimizer, "use_ema", 0), SP_ERROR_INVALID_ARGUMENT, "use_ema");
  sp_optimizer_free(optimizer);
  free_fixture(&f);
}

Test(optimizers, averages_swap_exactly_and_only_with_use_ema) {
  fixture f = make_fixture(NULL);
  sp_optimizer *optimizer = optimizer_from("{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.05, \"use_ema\": true}}");
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  for (int s = 0; s < 3; s++) {
    set_gradients(&f, s);
    SP_ASSERT_OK(sp_optimizer_apply(optimizer));
  }
  double weights[MAX_PARAMETERS], averages[MAX_PARAMETERS];
  read_weights(&f, weights);
  for (int v = 0, k = 0; v < f.variable_count; v++)
    for (int64_t i = 0; i < sp_tensor_count(f.variables[v]->value); i++)
      averages[k++] = sp_tensor_floats(sp_optimizer_variable_value(optimizer, 2 + v))[i];
  SP_ASSERT_OK(sp_optimizer_swap_averages(optimizer));
  assert_weights(&f, averages, 3, "swapped in");
  assert_averages(optimizer, &f, weights, 3);
  SP_ASSERT_OK(sp_optimizer_swap_averages(optimizer));
  assert_weights(&f, weights, 3, "swapped back");
  SP_ASSERT_OK(sp_optimizer_set_averages_from_variables(optimizer));
  assert_averages(optimizer, &f, weights, 3);
  sp_optimizer_free(optimizer);

  optimizer = sp_adam(0.001);
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  SP_ASSERT_FAILS(sp_optimizer_swap_averages(optimizer), SP_ERROR_INVALID_ARGUMENT, "use_ema is off");
  SP_ASSERT_OK(sp_optimizer_finalize(optimizer)); /* nothing to do without averages */
  sp_optimizer_free(optimizer);
  free_fixture(&f);
}

/* ---- variables: Keras 3 order and names ---- */

static void assert_names(const sp_optimizer *optimizer, const char *const *expected, int count) {
  cr_assert_eq(sp_optimizer_variable_count(optimizer), count, "%d variables, expected %d",
               sp_optimizer_variable_count(optimizer), count);
  for (int i = 0; i < count; i++)
    cr_assert_str_eq(sp_optimizer_variable_name(optimizer, i), expected[i], "variable %d", i);
}

Test(optimizers, variables_are_in_keras_order_with_keras_names) {
  fixture f = make_fixture(NULL);
  sp_optimizer *optimizer = sp_adam(0.001);
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  const char *adam_names[] = {
      "adam/iteration", "adam/learning_rate",
      "adam/sequential_dense_kernel_momentum", "adam/sequential_dense_kernel_velocity",
      "adam/sequential_dense_bias_momentum", "adam/sequential_dense_bias_velocity",
      "adam/sequential_dense_1_kernel_momentum", "adam/sequential_dense_1_kernel_velocity",
      "adam/sequential_dense_1_bias_momentum", "adam/sequential_dense_1_bias_velocity"};
  assert_names(optimizer, adam_names, 10);
  const sp_tensor *iteration = sp_optimizer_variable_value(optimizer, 0), *rate = sp_optimizer_variable_value(optimizer, 1);
  cr_assert(iteration->dtype == SP_INT64 && iteration->rank == 0);
  cr_assert(rate->dtype == SP_FLOAT32 && rate->rank == 0 && *sp_tensor_floats(rate) == 0.001f);
  const sp_tensor *kernel_momentum = sp_optimizer_variable_value(optimizer, 2);
  cr_assert(kernel_momentum->rank == 2 && kernel_momentum->shape[0] == 3 && kernel_momentum->shape[1] == 2);
  sp_optimizer_free(optimizer);

  optimizer = optimizer_from("{\"class_name\": \"Adam\", \"config\": {\"amsgrad\": true}}");
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  /* velocity_hat comes as a second group after every momentum/velocity pair */
  cr_assert_eq(sp_optimizer_variable_count(optimizer), 2 + 8 + 4);
  cr_assert_str_eq(sp_optimizer_variable_name(optimizer, 10), "adam/sequential_dense_kernel_velocity_hat");
  sp_optimizer_free(optimizer);

  optimizer = optimizer_from("{\"class_name\": \"RMSprop\", \"config\": {\"momentum\": 0.9, \"centered\": true}}");
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  const char *rmsprop_names[] = {
      "rmsprop/iteration", "rmsprop/learning_rate",
      "rmsprop/sequential_dense_kernel_velocity", "rmsprop/sequential_dense_bias_velocity",
      "rmsprop/sequential_dense_1_kernel_velocity", "rmsprop/sequential_dense_1_bias_velocity",
      "rmsprop/sequential_dense_kernel_momentum", "rmsprop/sequential_dense_bias_momentum",
      "rmsprop/sequential_dense_1_kernel_momentum", "rmsprop/sequential_dense_1_bias_momentum",
      "rmsprop/sequential_dense_kernel_average_gradient", "rmsprop/sequential_dense_bias_average_gradient",
      "rmsprop/sequential_dense_1_kernel_average_gradient", "rmsprop/sequential_dense_1_bias_average_gradient"};
  assert_names(optimizer, rmsprop_names, 14);
  sp_optimizer_free(optimizer);

  /* use_ema: BaseOptimizer.build adds the averages before the class's slots */
  optimizer = optimizer_from("{\"class_name\": \"Adam\", \"config\": {\"use_ema\": true}}");
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  cr_assert_eq(sp_optimizer_variable_count(optimizer), 2 + 4 + 8);
  cr_assert_str_eq(sp_optimizer_variable_name(optimizer, 2), "adam/sequential_dense_kernel_average");
  cr_assert_str_eq(sp_optimizer_variable_name(optimizer, 5), "adam/sequential_dense_1_bias_average");
  cr_assert_str_eq(sp_optimizer_variable_name(optimizer, 6), "adam/sequential_dense_kernel_momentum");
  sp_optimizer_free(optimizer);

  optimizer = sp_nadam(0.001);
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  cr_assert_eq(sp_optimizer_variable_count(optimizer), 2 + 8 + 1);
  cr_assert_str_eq(sp_optimizer_variable_name(optimizer, 10), "nadam/variable");
  cr_assert_eq(*sp_tensor_floats(sp_optimizer_variable_value(optimizer, 10)), 1.0f);
  sp_optimizer_free(optimizer);

  optimizer = sp_sgd(0.01, 0, 0);
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  cr_assert_eq(sp_optimizer_variable_count(optimizer), 2); /* no momentum slots without momentum */
  sp_optimizer_free(optimizer);
  free_fixture(&f);
}

Test(optimizers, variables_load_with_shape_checks) {
  fixture f = make_fixture(NULL);
  sp_optimizer *optimizer = sp_adam(0.001);
  SP_ASSERT_OK(sp_optimizer_build(optimizer, f.model));
  int32_t steps = 41;
  sp_tensor *iteration = sp_tensor_wrap(SP_INT32, 0, NULL, &steps);
  SP_ASSERT_OK(sp_optimizer_set_variable(optimizer, 0, iteration)); /* JAX writes int32 */
  cr_assert_eq(sp_optimizer_iterations(optimizer), 41);
  float rate = 0.5f;
  sp_tensor *learning_rate = sp_tensor_wrap(SP_FLOAT32, 0, NULL, &rate);
  SP_ASSERT_OK(sp_optimizer_set_variable(optimizer, 1, learning_rate));
  cr_assert_eq(sp_optimizer_current_learning_rate(optimizer), 0.5);
  SP_ASSERT_FAILS(sp_optimizer_set_variable(optimizer, 2, learning_rate), SP_ERROR_MISMATCH,
                  "adam/sequential_dense_kernel_momentum");
  SP_ASSERT_FAILS(sp_optimizer_set_variable(optimizer, 99, learning_rate), SP_ERROR_INVALID_ARGUMENT, "no variable 99");
  sp_tensor_free(iteration);
  sp_tensor_free(learning_rate);
  sp_optimizer_free(optimizer);
  free_fixture(&f);
}

/* ---- configs ---- */

static char *dumps_of(const sp_optimizer *optimizer, int keras_major) {
  char *text = sp_optimizer_to_config(optimizer, keras_major);
  cr_assert_not_null(text);
  return text;
}

Test(optimizers, keras3_config_round_trips) {
  /* the optimizer of ../shared/fixtures/keras3.6-h5-xor (training_config.optimizer_config), as an object */
  const char *config = "{\"module\": \"keras.optimizers\", \"class_name\": \"Adam\", \"config\": {\"name\": \"adam\", "
                       "\"learning_rate\": 0.009999999776482582, \"weight_decay\": null, \"clipnorm\": null, "
                       "\"global_clipnorm\": null, \"clipvalue\": null, \"use_ema\": false, \"ema_momentum\": 0.99, "
                       "\"ema_overwrite_frequency\": null, \"loss_scale_factor\": null, \"gradient_accumulation_steps\": null, "
                       "\"beta_1\": 0.9, \"beta_2\": 0.999, \"epsilon\": 1e-07, \"amsgrad\": false}, \"registered_name\": null}";
  sp_optimizer *optimizer = optimizer_from(config);
  char *written = dumps_of(optimizer, 3);
  cr_assert_str_eq(written, config);
  free(written);
  sp_optimizer_free(optimizer);
  /* a C-built optimizer writes its rate as the float32 variable holds it, as Keras does */
  optimizer = sp_adam(0.001);
  written = dumps_of(optimizer, 3);
  cr_assert(strstr(written, "\"learning_rate\": 0.0010000000474974513") != NULL, "%s", written);
  free(written);
  sp_optimizer_free(optimizer);
  /* weight averages on, as Keras 3 writes them */
  const char *ema = "{\"module\": \"keras.optimizers\", \"class_name\": \"SGD\", \"config\": {\"name\": \"SGD\", "
                    "\"learning_rate\": 0.009999999776482582, \"weight_decay\": null, \"clipnorm\": null, "
                    "\"global_clipnorm\": null, \"clipvalue\": null, \"use_ema\": true, \"ema_momentum\": 0.95, "
                    "\"ema_overwrite_frequency\": 5, \"loss_scale_factor\": null, \"gradient_accumulation_steps\": null, "
                    "\"momentum\": 0.0, \"nesterov\": false}, \"registered_name\": null}";
  optimizer = optimizer_from(ema);
  written = dumps_of(optimizer, 3);
  cr_assert_str_eq(written, ema);
  free(written);
  written = dumps_of(optimizer, 2); /* tf.keras 2.11+'s optimizer has the same three keys */
  cr_assert(strstr(written, "\"use_ema\": true, \"ema_momentum\": 0.95, \"ema_overwrite_frequency\": 5") != NULL, "%s", written);
  free(written);
  sp_optimizer_free(optimizer);
}

Test(optimizers, keras2_configs_are_accepted) {
  /* tf.keras 2.2.4 (../shared/fixtures/keras-h5-xor-k2.2.4) and tf.keras 2.11+ registered names */
  sp_optimizer *sgd = optimizer_from("{\"class_name\": \"SGD\", \"config\": {\"lr\": 0.10000000149011612, \"momentum\": 0.0, "
                                     "\"decay\": 0.0, \"nesterov\": false}}");
  cr_assert_eq(sgd->kind, SP_OPTIMIZER_SGD);
  cr_assert_float_eq(sgd->learning_rate, 0.10000000149011612, 1e-15);
  char *keras2 = dumps_of(sgd, 2);
  cr_assert_str_eq(keras2, "{\"class_name\": \"SGD\", \"config\": {\"name\": \"SGD\", \"learning_rate\": 0.10000000149011612, "
                           "\"decay\": 0.0, \"momentum\": 0.0, \"nesterov\": false}}");
  char *keras3 = dumps_of(sgd, 3);
  cr_assert(strstr(keras3, "\"decay\"") == NULL, "Keras 3 configs have no decay: %s", keras3);
  free(keras2);
  free(keras3);
  sp_optimizer_free(sgd);
  sp_optimizer *custom = optimizer_from("{\"class_name\": \"Custom>Adam\", \"config\": {\"name\": \"Adam\", \"learning_rate\": 0.001, "
                                        "\"is_legacy_optimizer\": false, \"jit_compile\": true, \"beta_1\": 0.8}}");
  cr_assert_eq(custom->kind, SP_OPTIMIZER_ADAM);
  cr_assert_float_eq(custom->beta_1, 0.8, 1e-15);
  sp_optimizer_free(custom);
  sp_optimizer *named = optimizer_from("\"rmsprop\"");
  cr_assert_eq(named->kind, SP_OPTIMIZER_RMSPROP);
  cr_assert_float_eq(named->learning_rate, 0.001, 1e-15);
  sp_optimizer_free(named);
  cr_assert_null(sp_optimizer_from_config("{\"class_name\": \"Adam\", \"config\": {\"use_ema\": true, \"ema_momentum\": 1.5}}"));
  cr_assert(strstr(sp_last_error(), "ema_momentum must be in [0, 1]") != NULL, "%s", sp_last_error());
  cr_assert_null(sp_optimizer_from_config("{\"class_name\": \"Adam\", \"config\": {\"use_ema\": true, \"ema_overwrite_frequency\": 0}}"));
  cr_assert(strstr(sp_last_error(), "ema_overwrite_frequency must be an integer >= 1") != NULL, "%s", sp_last_error());
  cr_assert_null(sp_optimizer_from_config("{\"class_name\": \"Lion\", \"config\": {}}"));
  cr_assert(strstr(sp_last_error(), "Lion") != NULL && strstr(sp_last_error(), "Nadam") != NULL, "%s", sp_last_error());
}
