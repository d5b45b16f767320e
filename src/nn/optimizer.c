/* optimizer.c — Keras 3 optimizers (contract and variable order in optimizer.h).
 *
 * The update formulas are Keras 3's update_step methods, written out here in float32 the way
 * Keras evaluates them for float32 variables (Python floats such as 1 - beta_1 are computed in
 * double and then cast, as ops do when a Python number meets a float32 tensor):
 *
 *   SGD      m = m * momentum - lr * g;  w += m                 (nesterov: w += m * momentum - lr * g)
 *            without momentum: w -= lr * g                                       (optimizers/sgd.py)
 *   Adam     t = iterations + 1;  alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
 *            m += (g - m) (1 - beta_1);  v += (g^2 - v) (1 - beta_2)
 *            amsgrad: v_hat = max(v_hat, v) and v_hat replaces v
 *            w -= m * alpha / (sqrt(v) + epsilon)                                (optimizers/adam.py)
 *   AdamW    Adam with weight decay (step 4 in optimizer.h)                     (optimizers/adamw.py)
 *   RMSprop  v = rho v + (1 - rho) g^2;  centered: a = rho a + (1 - rho) g, d = v - a^2 + epsilon,
 *            else d = v + epsilon;  i = lr g / sqrt(d);  momentum > 0: m = momentum m + i, w -= m;
 *            else w -= i                                                       (optimizers/rmsprop.py)
 *   Adagrad  s += g^2;  w -= lr g / sqrt(s + epsilon)                         (optimizers/adagrad.py)
 *   Nadam    before the variables: u_product *= beta_1 (1 - 0.5 * 0.96^(iterations + 1));
 *            t = iterations + 1;  u_t = beta_1 (1 - 0.5 * 0.96^t);  u_t1 = beta_1 (1 - 0.5 * 0.96^(t+1))
 *            m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2)
 *            m_hat = u_t1 m / (1 - u_product u_t1) + (1 - u_t) g / (1 - u_product)
 *            v_hat = v / (1 - beta_2^t);  w -= m_hat lr / (sqrt(v_hat) + epsilon) (optimizers/nadam.py)
 * With gradient accumulation, `iterations` in these formulas is iteration // steps, while the
 * learning-rate schedule sees the raw iteration (BaseOptimizer.iterations and _get_current_learning_rate).
 */
#include "nn/optimizer.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mapping.h"
#include "core/json.h"
#include "core/memory.h"
#include "nn/initializer.h"
#include "nn/layer.h"
#include "savepoint/train.h"

/* ---- kinds ---- */

typedef struct optimizer_class {
  sp_optimizer_kind kind;
  const char *class_name;   /* Keras class name */
  const char *default_name; /* the name Keras 3.0–3.6 gives a new instance */
  double learning_rate;     /* Keras default */
} optimizer_class;

static const optimizer_class optimizer_classes[] = {
    {SP_OPTIMIZER_SGD, "SGD", "SGD", 0.01},
    {SP_OPTIMIZER_ADAM, "Adam", "adam", 0.001},
    {SP_OPTIMIZER_ADAMW, "AdamW", "adamw", 0.001},
    {SP_OPTIMIZER_RMSPROP, "RMSprop", "rmsprop", 0.001},
    {SP_OPTIMIZER_ADAGRAD, "Adagrad", "adagrad", 0.001},
    {SP_OPTIMIZER_NADAM, "Nadam", "nadam", 0.001},
};

static const optimizer_class *class_of(sp_optimizer_kind kind) {
  for (size_t i = 0; i < sizeof optimizer_classes / sizeof *optimizer_classes; i++)
    if (optimizer_classes[i].kind == kind) return &optimizer_classes[i];
  return &optimizer_classes[0];
}

static const optimizer_class *class_named(const char *name) {
  if (strncmp(name, "Custom>", 7) == 0) name += 7; /* tf.keras 2.11+ registered names */
  for (size_t i = 0; i < sizeof optimizer_classes / sizeof *optimizer_classes; i++)
    if (strcasecmp(optimizer_classes[i].class_name, name) == 0) return &optimizer_classes[i];
  return NULL;
}

static void set_defaults(sp_optimizer *optimizer, sp_optimizer_kind kind) {
  const optimizer_class *class = class_of(kind);
  optimizer->kind = kind;
  optimizer->learning_rate = class->learning_rate;
  optimizer->ema_momentum = 0.99;
  optimizer->beta_1 = 0.9;
  optimizer->beta_2 = 0.999;
  optimizer->epsilon = 1e-7;
  optimizer->rho = 0.9;
  optimizer->initial_accumulator_value = 0.1;
  if (kind == SP_OPTIMIZER_ADAMW) optimizer->weight_decay = (sp_optional){1, 0.004};
}

sp_status sp_optimizer_create(sp_optimizer_kind kind, double learning_rate, sp_optimizer **result) {
  *result = NULL;
  sp_optimizer *optimizer = sp_alloc_zeroed(1, sizeof *optimizer);
  if (!optimizer) return SP_ERROR_NO_MEMORY;
  set_defaults(optimizer, kind);
  optimizer->learning_rate = learning_rate;
  optimizer->name = sp_strdup(class_of(kind)->default_name);
  if (!optimizer->name) {
    sp_optimizer_free(optimizer);
    return SP_ERROR_NO_MEMORY;
  }
  *result = optimizer;
  return SP_OK;
}

static void schedule_release(sp_schedule *schedule) {
  free(schedule->boundaries);
  free(schedule->values);
  json_object_put(schedule->config);
  memset(schedule, 0, sizeof *schedule);
}

static void release_variables(sp_optimizer *optimizer) {
  for (int i = 0; i < optimizer->variable_count; i++) {
    free(optimizer->variables[i].name);
    sp_tensor_free(optimizer->variables[i].value);
  }
  free(optimizer->variables);
  for (int k = 0; k < SP_OPTIMIZER_MAX_SLOTS; k++) free(optimizer->slots[k]);
  free(optimizer->accumulators);
  free(optimizer->averages);
  free(optimizer->targets);
}

void sp_optimizer_free(sp_optimizer *optimizer) {
  if (!optimizer) return;
  release_variables(optimizer);
  schedule_release(&optimizer->schedule);
  json_object_put(optimizer->extra);
  json_object_put(optimizer->keras2_extra);
  free(optimizer->name);
  free(optimizer);
}

/* ---- options ---- */

static sp_status validate(const sp_optimizer *optimizer, const char *context) {
  if (optimizer->clipnorm.set + optimizer->clipvalue.set + optimizer->global_clipnorm.set > 1)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: only one of clipnorm, clipvalue and global_clipnorm can be set", context);
  if (optimizer->kind == SP_OPTIMIZER_SGD && (optimizer->momentum < 0 || optimizer->momentum > 1))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: SGD momentum must be in [0, 1], found %g", context, optimizer->momentum);
  if (optimizer->kind == SP_OPTIMIZER_RMSPROP && optimizer->momentum < 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: RMSprop momentum must be >= 0, found %g", context, optimizer->momentum);
  if (optimizer->kind == SP_OPTIMIZER_ADAMW && !optimizer->weight_decay.set)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: AdamW needs a weight_decay", context);
  if (optimizer->gradient_accumulation_steps != 0 && optimizer->gradient_accumulation_steps < 2)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: gradient_accumulation_steps must be an integer >= 2, found %lld",
                   context, (long long)optimizer->gradient_accumulation_steps);
  if (!(optimizer->learning_rate >= 0) && optimizer->schedule.kind == SP_SCHEDULE_NONE)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: learning_rate must be a number >= 0", context);
  if (optimizer->use_ema && !(optimizer->ema_momentum >= 0 && optimizer->ema_momentum <= 1))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: ema_momentum must be in [0, 1], found %g", context, optimizer->ema_momentum);
  double overwrite = optimizer->ema_overwrite_frequency.value;
  if (optimizer->use_ema && optimizer->ema_overwrite_frequency.set && (overwrite < 1 || overwrite != floor(overwrite) || overwrite > 1e15))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: ema_overwrite_frequency must be an integer >= 1 or None, found %g", context, overwrite);
  if (optimizer->loss_scale_factor.set && optimizer->loss_scale_factor.value == 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: loss_scale_factor must not be 0", context);
  return SP_OK;
}

/* Options whose change would alter the set of variables cannot change after build. */
static int changes_variables(const char *key) {
  return strcmp(key, "amsgrad") == 0 || strcmp(key, "centered") == 0 || strcmp(key, "momentum") == 0 ||
         strcmp(key, "gradient_accumulation_steps") == 0 || strcmp(key, "use_ema") == 0;
}

typedef struct option_slot {
  const char *key;
  size_t offset;
  enum { DOUBLE, OPTIONAL, FLAG, INTEGER } type;
  int base; /* a BaseOptimizer option every class has */
} option_slot;

#define OPTION(key, member, type, base) {key, offsetof(sp_optimizer, member), type, base}
static const option_slot option_slots[] = {
    OPTION("learning_rate", learning_rate, DOUBLE, 1),
    OPTION("weight_decay", weight_decay, OPTIONAL, 1),
    OPTION("clipnorm", clipnorm, OPTIONAL, 1),
    OPTION("global_clipnorm", global_clipnorm, OPTIONAL, 1),
    OPTION("clipvalue", clipvalue, OPTIONAL, 1),
    OPTION("use_ema", use_ema, FLAG, 1),
    OPTION("ema_momentum", ema_momentum, DOUBLE, 1),
    OPTION("ema_overwrite_frequency", ema_overwrite_frequency, OPTIONAL, 1),
    OPTION("loss_scale_factor", loss_scale_factor, OPTIONAL, 1),
    OPTION("gradient_accumulation_steps", gradient_accumulation_steps, INTEGER, 1),
    OPTION("beta_1", beta_1, DOUBLE, 0),
    OPTION("beta_2", beta_2, DOUBLE, 0),
    OPTION("epsilon", epsilon, DOUBLE, 0),
    OPTION("amsgrad", amsgrad, FLAG, 0),
    OPTION("momentum", momentum, DOUBLE, 0),
    OPTION("nesterov", nesterov, FLAG, 0),
    OPTION("rho", rho, DOUBLE, 0),
    OPTION("centered", centered, FLAG, 0),
    OPTION("initial_accumulator_value", initial_accumulator_value, DOUBLE, 0),
};
#undef OPTION

/* The keys each class's get_config adds to the base keys, in get_config's order. */
static const char *const *class_keys(sp_optimizer_kind kind) {
  static const char *const adam_keys[] = {"beta_1", "beta_2", "epsilon", "amsgrad", NULL};
  static const char *const sgd_keys[] = {"momentum", "nesterov", NULL};
  static const char *const rmsprop_keys[] = {"rho", "momentum", "epsilon", "centered", NULL};
  static const char *const adagrad_keys[] = {"initial_accumulator_value", "epsilon", NULL};
  static const char *const nadam_keys[] = {"beta_1", "beta_2", "epsilon", NULL};
  return kind == SP_OPTIMIZER_SGD ? sgd_keys
         : kind == SP_OPTIMIZER_RMSPROP ? rmsprop_keys
         : kind == SP_OPTIMIZER_ADAGRAD ? adagrad_keys
         : kind == SP_OPTIMIZER_NADAM ? nadam_keys
                                      : adam_keys;
}

static int class_has_key(sp_optimizer_kind kind, const char *key) {
  for (const char *const *keys = class_keys(kind); *keys; keys++)
    if (strcmp(*keys, key) == 0) return 1;
  return 0;
}

static const option_slot *find_option(const sp_optimizer *optimizer, const char *key) {
  for (size_t i = 0; i < sizeof option_slots / sizeof *option_slots; i++)
    if (strcmp(option_slots[i].key, key) == 0)
      return option_slots[i].base || class_has_key(optimizer->kind, key) ? &option_slots[i] : NULL;
  return NULL;
}

static void store_option(sp_optimizer *optimizer, const option_slot *slot, int is_null, double value) {
  char *base = (char *)optimizer + slot->offset;
  switch (slot->type) {
    case DOUBLE: *(double *)base = value; break;
    case OPTIONAL: *(sp_optional *)base = (sp_optional){!is_null, is_null ? 0 : value}; break;
    case FLAG: *(int *)base = value != 0; break;
    case INTEGER: *(int64_t *)base = is_null ? 0 : (int64_t)value; break;
  }
}

sp_status sp_optimizer_set_option(sp_optimizer *optimizer, const char *key, double value) {
  const char *class_name = class_of(optimizer->kind)->class_name;
  const option_slot *slot = find_option(optimizer, key);
  if (!slot) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s has no option '%s'", class_name, key);
  if (optimizer->built && changes_variables(key))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "optimizer '%s': '%s' cannot change after its variables exist", optimizer->name, key);
  sp_optimizer candidate = *optimizer; /* validated before anything changes */
  store_option(&candidate, slot, 0, value);
  SP_TRY(validate(&candidate, class_name));
  *optimizer = candidate;
  if (strcmp(key, "learning_rate") == 0 && optimizer->learning_rate_variable)
    *(float *)optimizer->learning_rate_variable->data = (float)value;
  return SP_OK;
}

/* ---- schedules ---- */

static sp_status parse_schedule(const json_object *spec, const char *context, sp_schedule *schedule) {
  memset(schedule, 0, sizeof *schedule);
  const char *class_name;
  SP_TRY(sp_json_get_string(spec, "class_name", NULL, context, &class_name));
  const json_object *config = sp_json_member(spec, "config");
  if (!class_name || !json_object_is_type(config, json_type_object))
    return sp_fail(SP_ERROR_FORMAT, "%s: a learning-rate schedule needs 'class_name' and a 'config' object", context);
  if (strcmp(class_name, "ExponentialDecay") == 0) {
    schedule->kind = SP_SCHEDULE_EXPONENTIAL_DECAY;
    SP_TRY(sp_json_get_double(config, "decay_rate", NAN, context, &schedule->decay_rate));
    SP_TRY(sp_json_get_bool(config, "staircase", 0, context, &schedule->staircase));
  } else if (strcmp(class_name, "CosineDecay") == 0) {
    schedule->kind = SP_SCHEDULE_COSINE_DECAY;
    SP_TRY(sp_json_get_double(config, "alpha", 0, context, &schedule->alpha));
    SP_TRY(sp_json_get_double(config, "warmup_steps", 0, context, &schedule->warmup_steps));
    json_object *target = sp_json_member(config, "warmup_target");
    schedule->has_warmup_target = target && !json_object_is_type(target, json_type_null);
    SP_TRY(sp_json_get_double(config, "warmup_target", 0, context, &schedule->warmup_target));
  } else if (strcmp(class_name, "PiecewiseConstantDecay") == 0) {
    schedule->kind = SP_SCHEDULE_PIECEWISE_CONSTANT_DECAY;
    json_object *boundaries, *values;
    SP_TRY(sp_json_require(config, "boundaries", json_type_array, context, &boundaries));
    SP_TRY(sp_json_require(config, "values", json_type_array, context, &values));
    size_t count = json_object_array_length(boundaries);
    if (count < 1 || json_object_array_length(values) != count + 1 || count > 1000000)
      return sp_fail(SP_ERROR_FORMAT, "%s: PiecewiseConstantDecay needs one value more than boundaries (%zu boundaries, %zu values)",
                     context, count, json_object_array_length(values));
    schedule->boundaries = sp_alloc_zeroed(count, sizeof *schedule->boundaries);
    schedule->values = sp_alloc_zeroed(count + 1, sizeof *schedule->values);
    if (!schedule->boundaries || !schedule->values) return SP_ERROR_NO_MEMORY;
    schedule->boundary_count = (int)count;
    for (size_t i = 0; i <= count; i++) {
      json_object *value = json_object_array_get_idx(values, i), *boundary = i < count ? json_object_array_get_idx(boundaries, i) : NULL;
      if (!json_object_is_type(value, json_type_double) && !json_object_is_type(value, json_type_int))
        return sp_fail(SP_ERROR_FORMAT, "%s: PiecewiseConstantDecay value %zu is not a number", context, i);
      if (i < count && !json_object_is_type(boundary, json_type_double) && !json_object_is_type(boundary, json_type_int))
        return sp_fail(SP_ERROR_FORMAT, "%s: PiecewiseConstantDecay boundary %zu is not a number", context, i);
      schedule->values[i] = json_object_get_double(value);
      if (i < count) schedule->boundaries[i] = json_object_get_double(boundary);
    }
  } else {
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: learning-rate schedule '%s' is not supported "
                   "(ExponentialDecay, PiecewiseConstantDecay, CosineDecay)", context, class_name);
  }
  if (schedule->kind != SP_SCHEDULE_PIECEWISE_CONSTANT_DECAY) {
    SP_TRY(sp_json_get_double(config, "initial_learning_rate", NAN, context, &schedule->initial_learning_rate));
    SP_TRY(sp_json_get_double(config, "decay_steps", NAN, context, &schedule->decay_steps));
    if (isnan(schedule->initial_learning_rate) || !(schedule->decay_steps > 0) ||
        (schedule->kind == SP_SCHEDULE_EXPONENTIAL_DECAY && isnan(schedule->decay_rate)))
      return sp_fail(SP_ERROR_FORMAT, "%s: %s needs initial_learning_rate, decay_steps > 0%s", context, class_name,
                     schedule->kind == SP_SCHEDULE_EXPONENTIAL_DECAY ? " and decay_rate" : "");
  }
  if (json_object_deep_copy((json_object *)spec, &schedule->config, NULL) != 0) return SP_ERROR_NO_MEMORY;
  return SP_OK;
}

double sp_schedule_value(const sp_schedule *schedule, double step) {
  switch (schedule->kind) {
    case SP_SCHEDULE_EXPONENTIAL_DECAY: {
      double p = step / schedule->decay_steps;
      if (schedule->staircase) p = floor(p);
      return schedule->initial_learning_rate * pow(schedule->decay_rate, p);
    }
    case SP_SCHEDULE_PIECEWISE_CONSTANT_DECAY: {
      int count = schedule->boundary_count;
      if (step <= schedule->boundaries[0]) return schedule->values[0];
      if (step > schedule->boundaries[count - 1]) return schedule->values[count];
      for (int i = 0; i + 1 < count; i++)
        if (step > schedule->boundaries[i] && step <= schedule->boundaries[i + 1]) return schedule->values[i + 1];
      return 0;
    }
    case SP_SCHEDULE_COSINE_DECAY: {
      double decay_steps = schedule->decay_steps, from = schedule->initial_learning_rate;
      if (schedule->has_warmup_target) {
        double warmup = schedule->warmup_steps;
        step = fmin(step, decay_steps + warmup);
        if (step < warmup)
          return (schedule->warmup_target - schedule->initial_learning_rate) * (step / warmup) + schedule->initial_learning_rate;
        step -= warmup;
        from = schedule->warmup_target;
      } else {
        step = fmin(step, decay_steps);
      }
      double cosine = 0.5 * (1.0 + cos(M_PI * step / decay_steps));
      return from * ((1 - schedule->alpha) * cosine + schedule->alpha);
    }
    case SP_SCHEDULE_NONE: break;
  }
  return 0;
}

sp_status sp_optimizer_set_schedule(sp_optimizer *optimizer, const json_object *spec) {
  int had_schedule = optimizer->schedule.kind != SP_SCHEDULE_NONE, has_schedule = spec != NULL;
  if (optimizer->built && had_schedule != has_schedule)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "optimizer '%s': switching between a schedule and a fixed rate "
                   "changes its variables; set it before training", optimizer->name);
  sp_schedule schedule = {0};
  if (spec) SP_TRY(parse_schedule(spec, "learning-rate schedule", &schedule));
  schedule_release(&optimizer->schedule);
  optimizer->schedule = schedule;
  return SP_OK;
}

/* ---- configs in ---- */

static int is_base_key(const char *key) {
  static const char *const keys[] = {"name", "learning_rate", "lr", "weight_decay", "clipnorm", "global_clipnorm",
                                     "clipvalue", "use_ema", "ema_momentum", "ema_overwrite_frequency",
                                     "loss_scale_factor", "gradient_accumulation_steps", NULL};
  for (int i = 0; keys[i]; i++)
    if (strcmp(keys[i], key) == 0) return 1;
  return 0;
}

/* Keys that Keras 2 optimizers wrote and Keras 3 no longer takes. */
static int is_keras2_key(const char *key) {
  return strcmp(key, "decay") == 0 || strcmp(key, "is_legacy_optimizer") == 0 || strcmp(key, "jit_compile") == 0 ||
         strcmp(key, "schedule_decay") == 0;
}

static sp_status keep_key(json_object **bag, const char *key, json_object *value) {
  if (!*bag && !(*bag = json_object_new_object())) return SP_ERROR_NO_MEMORY;
  json_object *copy = NULL;
  if (value && json_object_deep_copy(value, &copy, NULL) != 0) return SP_ERROR_NO_MEMORY;
  json_object_object_add(*bag, key, copy);
  return SP_OK;
}

static sp_status parse_learning_rate(sp_optimizer *optimizer, const json_object *config, const char *context) {
  json_object *rate = sp_json_member(config, "learning_rate");
  if (!rate) rate = sp_json_member(config, "lr"); /* Keras 1 and 2 */
  if (!rate || json_object_is_type(rate, json_type_null)) return SP_OK;
  if (json_object_is_type(rate, json_type_object)) return parse_schedule(rate, context, &optimizer->schedule);
  if (!json_object_is_type(rate, json_type_double) && !json_object_is_type(rate, json_type_int))
    return sp_fail(SP_ERROR_FORMAT, "%s: learning_rate must be a number or a schedule object", context);
  optimizer->learning_rate = json_object_get_double(rate);
  return SP_OK;
}

static sp_status parse_option_value(sp_optimizer *optimizer, const option_slot *slot, const char *key,
                                    json_object *value, const char *context) {
  int is_null = !value || json_object_is_type(value, json_type_null);
  if (is_null) {
    if (slot->type == OPTIONAL || slot->type == INTEGER) store_option(optimizer, slot, 1, 0);
    return SP_OK; /* a None where Keras has a number default (Keras 1 epsilon=None) keeps the default */
  }
  if (slot->type == FLAG) {
    if (!json_object_is_type(value, json_type_boolean))
      return sp_fail(SP_ERROR_FORMAT, "%s: '%s' must be true or false", context, key);
    store_option(optimizer, slot, 0, json_object_get_boolean(value));
    return SP_OK;
  }
  if (!json_object_is_type(value, json_type_double) && !json_object_is_type(value, json_type_int))
    return sp_fail(SP_ERROR_FORMAT, "%s: '%s' must be a number", context, key);
  store_option(optimizer, slot, 0, json_object_get_double(value));
  return SP_OK;
}

static sp_status parse_config(sp_optimizer *optimizer, const json_object *config, const char *context) {
  if (!config) return SP_OK;
  if (!json_object_is_type(config, json_type_object)) return sp_fail(SP_ERROR_FORMAT, "%s: 'config' must be an object", context);
  SP_TRY(parse_learning_rate(optimizer, config, context));
  const char *name;
  SP_TRY(sp_json_get_string(config, "name", NULL, context, &name));
  if (name) {
    char *copy = sp_strdup(name);
    if (!copy) return SP_ERROR_NO_MEMORY;
    free(optimizer->name);
    optimizer->name = copy;
  }
  json_object_object_foreach((json_object *)config, key, value) {
    const option_slot *slot = find_option(optimizer, key);
    if (slot && strcmp(key, "learning_rate") != 0) SP_TRY(parse_option_value(optimizer, slot, key, value, context));
    else if (is_keras2_key(key)) SP_TRY(keep_key(&optimizer->keras2_extra, key, value));
    else if (!is_base_key(key)) SP_TRY(keep_key(&optimizer->extra, key, value));
  }
  return validate(optimizer, context);
}

sp_status sp_optimizer_parse(const json_object *spec, const char *context, sp_optimizer **result) {
  *result = NULL;
  const char *class_name = NULL;
  const json_object *config = NULL;
  if (json_object_is_type(spec, json_type_string)) {
    class_name = json_object_get_string((json_object *)spec);
  } else if (json_object_is_type(spec, json_type_object)) {
    SP_TRY(sp_json_get_string(spec, "class_name", NULL, context, &class_name));
    config = sp_json_member(spec, "config");
  }
  if (!class_name) return sp_fail(SP_ERROR_FORMAT, "%s: an optimizer must be a name or an object {class_name, config}", context);
  const optimizer_class *class = class_named(class_name);
  if (!class)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: optimizer '%s' is not supported (SGD, Adam, AdamW, RMSprop, Adagrad, Nadam)",
                   context, class_name);
  sp_optimizer *optimizer;
  SP_TRY(sp_optimizer_create(class->kind, class->learning_rate, &optimizer));
  sp_status status = parse_config(optimizer, config, context);
  if (status != SP_OK) {
    sp_optimizer_free(optimizer);
    return status;
  }
  *result = optimizer;
  return SP_OK;
}

/* ---- configs out ---- */

static json_object *number(double value) { return json_object_new_double(value); }
static json_object *optional(const sp_optional *option) { return option->set ? number(option->value) : NULL; }

static double live_learning_rate(const sp_optimizer *optimizer) {
  if (optimizer->learning_rate_variable) return *(const float *)optimizer->learning_rate_variable->data;
  return (float)optimizer->learning_rate; /* Keras stores it in a float32 variable from the start */
}

static json_object *schedule_json(const sp_schedule *schedule, int keras_major) {
  json_object *copy = NULL;
  if (json_object_deep_copy(schedule->config, &copy, NULL) != 0) return NULL;
  if (keras_major < 3) {
    json_object_object_del(copy, "module");
    json_object_object_del(copy, "registered_name");
  }
  return copy;
}

static void add_class_keys(const sp_optimizer *optimizer, json_object *config) {
  for (const char *const *key = class_keys(optimizer->kind); *key; key++) {
    const option_slot *slot = find_option(optimizer, *key);
    const char *base = (const char *)optimizer + slot->offset;
    json_object_object_add(config, *key, slot->type == FLAG ? json_object_new_boolean(*(const int *)base)
                                                            : number(*(const double *)base));
  }
}

static void add_kept(json_object *config, const json_object *kept) {
  if (!kept) return;
  json_object_object_foreach((json_object *)kept, key, value) {
    json_object *copy = NULL;
    if (!value || json_object_deep_copy(value, &copy, NULL) == 0) json_object_object_add(config, key, copy);
  }
}

static void add_ema_keys(const sp_optimizer *optimizer, json_object *config) {
  json_object_object_add(config, "use_ema", json_object_new_boolean(optimizer->use_ema));
  json_object_object_add(config, "ema_momentum", number(optimizer->ema_momentum));
  json_object_object_add(config, "ema_overwrite_frequency",
                         optimizer->ema_overwrite_frequency.set ? json_object_new_int64((int64_t)optimizer->ema_overwrite_frequency.value) : NULL);
}

/* Keras 3 BaseOptimizer.get_config order, then the class's keys. */
static json_object *keras3_config(const sp_optimizer *optimizer) {
  json_object *config = json_object_new_object();
  json_object_object_add(config, "name", json_object_new_string(optimizer->name));
  json_object_object_add(config, "learning_rate", optimizer->schedule.kind ? schedule_json(&optimizer->schedule, 3)
                                                                           : number(live_learning_rate(optimizer)));
  json_object_object_add(config, "weight_decay", optional(&optimizer->weight_decay));
  json_object_object_add(config, "clipnorm", optional(&optimizer->clipnorm));
  json_object_object_add(config, "global_clipnorm", optional(&optimizer->global_clipnorm));
  json_object_object_add(config, "clipvalue", optional(&optimizer->clipvalue));
  add_ema_keys(optimizer, config);
  json_object_object_add(config, "loss_scale_factor", optional(&optimizer->loss_scale_factor));
  json_object_object_add(config, "gradient_accumulation_steps",
                         optimizer->gradient_accumulation_steps ? json_object_new_int64(optimizer->gradient_accumulation_steps) : NULL);
  add_class_keys(optimizer, config);
  add_kept(config, optimizer->extra);
  return config;
}

/* tf.keras optimizer_v2 get_config: name, learning_rate, decay, the class's keys; clip options only when set. */
static json_object *keras2_config(const sp_optimizer *optimizer) {
  json_object *config = json_object_new_object();
  json_object_object_add(config, "name", json_object_new_string(optimizer->name));
  json_object_object_add(config, "learning_rate", optimizer->schedule.kind ? schedule_json(&optimizer->schedule, 2)
                                                                           : number(live_learning_rate(optimizer)));
  json_object *decay = sp_json_member(optimizer->keras2_extra, "decay");
  json_object_object_add(config, "decay", decay ? json_object_get(decay) : number(0.0));
  add_class_keys(optimizer, config);
  if (optimizer->clipnorm.set) json_object_object_add(config, "clipnorm", number(optimizer->clipnorm.value));
  if (optimizer->global_clipnorm.set) json_object_object_add(config, "global_clipnorm", number(optimizer->global_clipnorm.value));
  if (optimizer->clipvalue.set) json_object_object_add(config, "clipvalue", number(optimizer->clipvalue.value));
  if (optimizer->weight_decay.set) json_object_object_add(config, "weight_decay", number(optimizer->weight_decay.value));
  if (optimizer->use_ema) add_ema_keys(optimizer, config); /* the tf.keras 2.11+ optimizer's keys */
  add_kept(config, optimizer->extra);
  return config;
}

const char *sp_optimizer_class_name(const sp_optimizer *optimizer) { return class_of(optimizer->kind)->class_name; }

double sp_optimizer_keras2_decay(const sp_optimizer *optimizer) {
  json_object *decay = sp_json_member(optimizer->keras2_extra, "decay");
  return decay ? json_object_get_double(decay) : 0.0;
}

json_object *sp_optimizer_config_json(const sp_optimizer *optimizer, int keras_major) {
  const char *class_name = class_of(optimizer->kind)->class_name;
  json_object *config = keras_major >= 3 ? keras3_config(optimizer) : keras2_config(optimizer);
  return sp_keras_object(keras_major >= 3 ? 3 : 2, "keras.optimizers", class_name, config);
}

/* ---- variables ---- */

static int find_path(const sp_model *model, const sp_variable *variable, const char *scope, char **path) {
  for (int l = 0; l < model->layer_count; l++) {
    const sp_layer *layer = model->layers[l];
    if (layer->inner_model) {
      const sp_model *inner = layer->inner_model;
      if (find_path(inner, variable, strcmp(inner->class_name, "Sequential") == 0 ? inner->name : scope, path)) return 1;
    } else if (layer == variable->layer) {
      *path = scope ? sp_strdupf("%s/%s/%s", scope, layer->name, variable->name)
                    : sp_strdupf("%s/%s", layer->name, variable->name);
      return 1;
    }
  }
  return 0;
}

char *sp_variable_path(const sp_model *model, const sp_variable *variable) {
  char *path = NULL;
  const char *scope = strcmp(model->class_name, "Sequential") == 0 ? model->name : NULL;
  if (!find_path(model, variable, scope, &path)) path = sp_strdupf("%s/%s", variable->layer->name, variable->name);
  return path;
}

static sp_status add_variable(sp_optimizer *optimizer, char *name, sp_tensor *value, const char *slot, int target) {
  size_t capacity = (size_t)optimizer->variable_count;
  if (!name || !value) {
    free(name);
    sp_tensor_free(value);
    return SP_ERROR_NO_MEMORY;
  }
  sp_optimizer_variable *grown = sp_realloc_array(optimizer->variables, capacity + 1, sizeof *grown);
  if (!grown) {
    free(name);
    sp_tensor_free(value);
    return SP_ERROR_NO_MEMORY;
  }
  optimizer->variables = grown;
  optimizer->variables[optimizer->variable_count++] = (sp_optimizer_variable){name, value, slot, target};
  return SP_OK;
}

static sp_tensor *filled_like(const sp_tensor *reference, float value) {
  sp_tensor *tensor = sp_tensor_new(SP_FLOAT32, reference->rank, reference->shape);
  if (tensor && value != 0)
    for (int64_t i = 0; i < sp_tensor_count(tensor); i++) sp_tensor_floats(tensor)[i] = value;
  return tensor;
}

/* add_optimizer_variables: one variable per target for each name, interleaved per target. */
static sp_status add_slot_group(sp_optimizer *optimizer, char **paths, int group_size, const char *const *names,
                                const int *slot_indexes, float initial) {
  for (int k = 0; k < group_size; k++) {
    optimizer->slots[slot_indexes[k]] = sp_alloc_zeroed((size_t)(optimizer->target_count ? optimizer->target_count : 1),
                                                        sizeof(sp_tensor *));
    if (!optimizer->slots[slot_indexes[k]]) return SP_ERROR_NO_MEMORY;
  }
  for (int t = 0; t < optimizer->target_count; t++)
    for (int k = 0; k < group_size; k++) {
      sp_tensor *value = filled_like(optimizer->targets[t]->value, initial);
      SP_TRY(add_variable(optimizer, sp_strdupf("%s/%s_%s", optimizer->name, paths[t], names[k]), value, names[k], t));
      optimizer->slots[slot_indexes[k]][t] = value;
    }
  return SP_OK;
}

static sp_status add_slots(sp_optimizer *optimizer, char **paths) {
  static const char *const adam_pair[] = {"momentum", "velocity"};
  static const int first_two[] = {0, 1}, slot_0[] = {0}, slot_1[] = {1}, slot_2[] = {2};
  switch (optimizer->kind) {
    case SP_OPTIMIZER_SGD:
      if (optimizer->momentum != 0) SP_TRY(add_slot_group(optimizer, paths, 1, (const char *[]){"momentum"}, slot_0, 0));
      return SP_OK;
    case SP_OPTIMIZER_ADAM:
    case SP_OPTIMIZER_ADAMW:
      SP_TRY(add_slot_group(optimizer, paths, 2, adam_pair, first_two, 0));
      if (optimizer->amsgrad) SP_TRY(add_slot_group(optimizer, paths, 1, (const char *[]){"velocity_hat"}, slot_2, 0));
      return SP_OK;
    case SP_OPTIMIZER_NADAM:
      SP_TRY(add_slot_group(optimizer, paths, 2, adam_pair, first_two, 0));
      optimizer->u_product = sp_tensor_new(SP_FLOAT32, 0, NULL);
      if (optimizer->u_product) *sp_tensor_floats(optimizer->u_product) = 1.0f;
      /* an unnamed backend.Variable: Keras auto-names it "variable" */
      return add_variable(optimizer, sp_strdupf("%s/variable", optimizer->name), optimizer->u_product, NULL, -1);
    case SP_OPTIMIZER_RMSPROP:
      SP_TRY(add_slot_group(optimizer, paths, 1, (const char *[]){"velocity"}, slot_0, 0));
      if (optimizer->momentum > 0) SP_TRY(add_slot_group(optimizer, paths, 1, (const char *[]){"momentum"}, slot_1, 0));
      if (optimizer->centered) SP_TRY(add_slot_group(optimizer, paths, 1, (const char *[]){"average_gradient"}, slot_2, 0));
      return SP_OK;
    case SP_OPTIMIZER_ADAGRAD:
      return add_slot_group(optimizer, paths, 1, (const char *[]){"accumulator"}, slot_0,
                            (float)optimizer->initial_accumulator_value);
  }
  return SP_OK;
}

/* BaseOptimizer.build's zero-initialised variables, one per target (averages, accumulators). */
static sp_status add_per_target(sp_optimizer *optimizer, char **paths, const char *name, sp_tensor ***values) {
  *values = sp_alloc_zeroed((size_t)(optimizer->target_count ? optimizer->target_count : 1), sizeof(sp_tensor *));
  if (!*values) return SP_ERROR_NO_MEMORY;
  for (int t = 0; t < optimizer->target_count; t++) {
    sp_tensor *value = filled_like(optimizer->targets[t]->value, 0);
    SP_TRY(add_variable(optimizer, sp_strdupf("%s/%s_%s", optimizer->name, paths[t], name), value, name, t));
    (*values)[t] = value;
  }
  return SP_OK;
}

static sp_status create_variables(sp_optimizer *optimizer, const sp_model *model, char **paths) {
  for (int t = 0; t < optimizer->target_count; t++) { /* add_variable_from_reference: path with '/' → '_' */
    if (!(paths[t] = sp_variable_path(model, optimizer->targets[t]))) return SP_ERROR_NO_MEMORY;
    for (char *c = paths[t]; *c; c++)
      if (*c == '/') *c = '_';
  }
  optimizer->iteration = sp_tensor_new(SP_INT64, 0, NULL);
  SP_TRY(add_variable(optimizer, sp_strdupf("%s/iteration", optimizer->name), optimizer->iteration, NULL, -1));
  if (!optimizer->schedule.kind) {
    optimizer->learning_rate_variable = sp_tensor_new(SP_FLOAT32, 0, NULL);
    if (optimizer->learning_rate_variable) *sp_tensor_floats(optimizer->learning_rate_variable) = (float)optimizer->learning_rate;
    SP_TRY(add_variable(optimizer, sp_strdupf("%s/learning_rate", optimizer->name), optimizer->learning_rate_variable, NULL, -1));
  }
  if (optimizer->use_ema) SP_TRY(add_per_target(optimizer, paths, "average", &optimizer->averages));
  if (optimizer->gradient_accumulation_steps) SP_TRY(add_per_target(optimizer, paths, "gradient_accumulator", &optimizer->accumulators));
  return add_slots(optimizer, paths);
}

sp_status sp_optimizer_build(sp_optimizer *optimizer, const sp_model *model) {
  sp_variable **targets;
  int count = sp_model_collect_variables(model, &targets, 1);
  if (count < 0) return SP_ERROR_NO_MEMORY;
  if (optimizer->built) {
    int same = count == optimizer->target_count;
    for (int i = 0; same && i < count; i++) same = targets[i] == optimizer->targets[i];
    free(targets);
    if (same) return SP_OK;
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "optimizer '%s' was built for %d other variables (model '%s' has %d "
                   "trainable ones); an optimizer serves one set of variables, create a new one",
                   optimizer->name, optimizer->target_count, model->name, count);
  }
  optimizer->targets = targets;
  optimizer->target_count = count;
  char **paths = sp_alloc_zeroed((size_t)(count ? count : 1), sizeof *paths);
  sp_status status = paths ? create_variables(optimizer, model, paths) : SP_ERROR_NO_MEMORY;
  for (int t = 0; paths && t < count; t++) free(paths[t]);
  free(paths);
  if (status != SP_OK) {
    release_variables(optimizer);
    optimizer->variables = NULL;
    optimizer->variable_count = 0;
    optimizer->targets = NULL;
    optimizer->accumulators = optimizer->averages = NULL;
    memset(optimizer->slots, 0, sizeof optimizer->slots);
    optimizer->iteration = optimizer->learning_rate_variable = optimizer->u_product = NULL;
    optimizer->target_count = 0;
    return sp_error_context(status, "creating the variables of optimizer '%s'", optimizer->name);
  }
  optimizer->built = 1;
  return SP_OK;
}

int64_t sp_optimizer_iteration_count(const sp_optimizer *optimizer) {
  return optimizer->iteration ? *(const int64_t *)optimizer->iteration->data : 0;
}

double sp_optimizer_current_learning_rate(const sp_optimizer *optimizer) {
  if (optimizer->schedule.kind) return (float)sp_schedule_value(&optimizer->schedule, (double)sp_optimizer_iteration_count(optimizer));
  return live_learning_rate(optimizer);
}

/* ---- one step ---- */

typedef struct step_context {
  float lr;
  float local_step;   /* iterations + 1 as the update formulas see it */
  int64_t iterations; /* iterations as the update formulas see it */
} step_context;

static void update_sgd(const sp_optimizer *optimizer, int t, const step_context *step, float *w, const float *g, int64_t n) {
  float lr = step->lr, momentum = (float)optimizer->momentum;
  float *m = optimizer->slots[0] ? sp_tensor_floats(optimizer->slots[0][t]) : NULL;
  if (!m) {
    for (int64_t i = 0; i < n; i++) w[i] -= g[i] * lr;
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    m[i] = m[i] * momentum - g[i] * lr;
    w[i] += optimizer->nesterov ? m[i] * momentum - g[i] * lr : m[i];
  }
}

static void update_adam(const sp_optimizer *optimizer, int t, const step_context *step, float *w, const float *g, int64_t n) {
  float beta_1_power = powf((float)optimizer->beta_1, step->local_step);
  float beta_2_power = powf((float)optimizer->beta_2, step->local_step);
  float alpha = step->lr * sqrtf(1 - beta_2_power) / (1 - beta_1_power);
  float one_minus_beta_1 = (float)(1 - optimizer->beta_1), one_minus_beta_2 = (float)(1 - optimizer->beta_2);
  float epsilon = (float)optimizer->epsilon;
  float *restrict m = sp_tensor_floats(optimizer->slots[0][t]), *restrict v = sp_tensor_floats(optimizer->slots[1][t]);
  if (optimizer->amsgrad) {
    float *restrict v_hat = sp_tensor_floats(optimizer->slots[2][t]);
    for (int64_t i = 0; i < n; i++) {
      m[i] += (g[i] - m[i]) * one_minus_beta_1;
      v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2;
      v_hat[i] = fmaxf(v_hat[i], v[i]);
      w[i] -= m[i] * alpha / (sqrtf(v_hat[i]) + epsilon);
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) { /* one pass over each array per step */
    m[i] += (g[i] - m[i]) * one_minus_beta_1;
    v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2;
    w[i] -= m[i] * alpha / (sqrtf(v[i]) + epsilon);
  }
}

static void update_rmsprop(const sp_optimizer *optimizer, int t, const step_context *step, float *w, const float *g, int64_t n) {
  float rho = (float)optimizer->rho, one_minus_rho = (float)(1 - optimizer->rho), epsilon = (float)optimizer->epsilon;
  float momentum = (float)optimizer->momentum, lr = step->lr;
  float *v = sp_tensor_floats(optimizer->slots[0][t]);
  float *m = optimizer->slots[1] ? sp_tensor_floats(optimizer->slots[1][t]) : NULL;
  float *average = optimizer->slots[2] ? sp_tensor_floats(optimizer->slots[2][t]) : NULL;
  for (int64_t i = 0; i < n; i++) {
    v[i] = rho * v[i] + one_minus_rho * (g[i] * g[i]);
    float denominator = v[i] + epsilon;
    if (average) {
      average[i] = rho * average[i] + one_minus_rho * g[i];
      denominator = v[i] - average[i] * average[i] + epsilon;
    }
    float increment = lr * g[i] / sqrtf(denominator);
    if (m) {
      m[i] = momentum * m[i] + increment;
      w[i] -= m[i];
    } else {
      w[i] -= increment;
    }
  }
}

static void update_adagrad(const sp_optimizer *optimizer, int t, const step_context *step, float *w, const float *g, int64_t n) {
  float *accumulator = sp_tensor_floats(optimizer->slots[0][t]), epsilon = (float)optimizer->epsilon, lr = step->lr;
  for (int64_t i = 0; i < n; i++) {
    accumulator[i] += g[i] * g[i];
    w[i] -= lr * g[i] / sqrtf(accumulator[i] + epsilon);
  }
}

static void update_nadam(const sp_optimizer *optimizer, int t, const step_context *step, float *w, const float *g, int64_t n) {
  float beta_1 = (float)optimizer->beta_1, beta_2 = (float)optimizer->beta_2, epsilon = (float)optimizer->epsilon;
  float u_t = beta_1 * (1.0f - 0.5f * powf(0.96f, step->local_step));
  float u_t_1 = beta_1 * (1.0f - 0.5f * powf(0.96f, step->local_step + 1));
  float u_product_t = *sp_tensor_floats(optimizer->u_product), u_product_t_1 = u_product_t * u_t_1;
  float beta_2_power = powf(beta_2, step->local_step), lr = step->lr;
  float one_minus_beta_1 = (float)(1 - optimizer->beta_1), one_minus_beta_2 = (float)(1 - optimizer->beta_2);
  float *m = sp_tensor_floats(optimizer->slots[0][t]), *v = sp_tensor_floats(optimizer->slots[1][t]);
  for (int64_t i = 0; i < n; i++) {
    m[i] += (g[i] - m[i]) * one_minus_beta_1;
    v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2;
    float m_hat = u_t_1 * m[i] / (1 - u_product_t_1) + (1 - u_t) * g[i] / (1 - u_product_t);
    float v_hat = v[i] / (1 - beta_2_power);
    w[i] -= m_hat * lr / (sqrtf(v_hat) + epsilon);
  }
}

static float *gradient_of(const sp_optimizer *optimizer, int t) {
  const sp_tensor *gradient = optimizer->targets[t]->gradient;
  return gradient ? sp_tensor_floats(gradient) : NULL;
}

static int64_t element_count(const sp_optimizer *optimizer, int t) { return sp_tensor_count(optimizer->targets[t]->value); }

/* BaseOptimizer._clip_gradients. Norms are summed in double. */
static void clip_gradients(const sp_optimizer *optimizer) {
  if (optimizer->clipnorm.set && optimizer->clipnorm.value > 0) {
    float limit = (float)optimizer->clipnorm.value;
    for (int t = 0; t < optimizer->target_count; t++) {
      float *g = gradient_of(optimizer, t);
      int64_t n = element_count(optimizer, t);
      double squares = 0;
      for (int64_t i = 0; g && i < n; i++) squares += (double)g[i] * g[i];
      float norm = (float)sqrt(squares);
      for (int64_t i = 0; g && i < n; i++) g[i] = g[i] * limit / fmaxf(norm, limit);
    }
  } else if (optimizer->global_clipnorm.set && optimizer->global_clipnorm.value > 0) {
    double squares = 0, limit = optimizer->global_clipnorm.value;
    for (int t = 0; t < optimizer->target_count; t++) {
      const float *g = gradient_of(optimizer, t);
      for (int64_t i = 0; g && i < element_count(optimizer, t); i++) squares += (double)g[i] * g[i];
    }
    double norm = sqrt(squares);
    /* clip * min(1 / norm, 1 / clip), plus (norm - norm) so that an infinite or NaN norm gives NaN */
    float scale = (float)(limit * fmin(1.0 / norm, 1.0 / limit) + (norm - norm));
    for (int t = 0; t < optimizer->target_count; t++) {
      float *g = gradient_of(optimizer, t);
      for (int64_t i = 0; g && i < element_count(optimizer, t); i++) g[i] *= scale;
    }
  } else if (optimizer->clipvalue.set && optimizer->clipvalue.value > 0) {
    float limit = (float)optimizer->clipvalue.value;
    for (int t = 0; t < optimizer->target_count; t++) {
      float *g = gradient_of(optimizer, t);
      for (int64_t i = 0; g && i < element_count(optimizer, t); i++) g[i] = fminf(fmaxf(g[i], -limit), limit);
    }
  }
}

static void apply_weight_decay(const sp_optimizer *optimizer, float lr) {
  if (!optimizer->weight_decay.set) return;
  float decay = (float)optimizer->weight_decay.value;
  for (int t = 0; t < optimizer->target_count; t++) {
    if (!gradient_of(optimizer, t)) continue;
    float *w = sp_tensor_floats(optimizer->targets[t]->value);
    for (int64_t i = 0; i < element_count(optimizer, t); i++) w[i] = w[i] - w[i] * decay * lr;
  }
}

/* Clip, decay, update every variable (_backend_apply_gradients without EMA). */
static void update_variables(sp_optimizer *optimizer, const step_context *step) {
  clip_gradients(optimizer);
  apply_weight_decay(optimizer, step->lr);
  if (optimizer->kind == SP_OPTIMIZER_NADAM) {
    float *u_product = sp_tensor_floats(optimizer->u_product);
    *u_product = *u_product * (float)optimizer->beta_1 * (1.0f - 0.5f * powf(0.96f, step->local_step));
  }
  for (int t = 0; t < optimizer->target_count; t++) {
    const float *g = gradient_of(optimizer, t);
    if (!g) continue;
    float *w = sp_tensor_floats(optimizer->targets[t]->value);
    int64_t n = element_count(optimizer, t);
    switch (optimizer->kind) {
      case SP_OPTIMIZER_SGD: update_sgd(optimizer, t, step, w, g, n); break;
      case SP_OPTIMIZER_ADAM:
      case SP_OPTIMIZER_ADAMW: update_adam(optimizer, t, step, w, g, n); break;
      case SP_OPTIMIZER_RMSPROP: update_rmsprop(optimizer, t, step, w, g, n); break;
      case SP_OPTIMIZER_ADAGRAD: update_adagrad(optimizer, t, step, w, g, n); break;
      case SP_OPTIMIZER_NADAM: update_nadam(optimizer, t, step, w, g, n); break;
    }
  }
}

/* Returns 1 when this step updates the variables; otherwise adds the gradients to the accumulators. */
static int accumulate_gradients(sp_optimizer *optimizer, int64_t raw_iterations) {
  int64_t steps = optimizer->gradient_accumulation_steps;
  int update = (raw_iterations + 1) % steps == 0;
  for (int t = 0; t < optimizer->target_count; t++) {
    float *g = gradient_of(optimizer, t), *accumulated = sp_tensor_floats(optimizer->accumulators[t]);
    int64_t n = element_count(optimizer, t);
    for (int64_t i = 0; g && i < n; i++) {
      if (update) {
        g[i] = (g[i] + accumulated[i]) / (float)steps;
        accumulated[i] = 0;
      } else {
        accumulated[i] += g[i];
      }
    }
  }
  return update;
}

static float *variable_of(const sp_optimizer *optimizer, int t) { return sp_tensor_floats(optimizer->targets[t]->value); }
static float *average_of(const sp_optimizer *optimizer, int t) { return sp_tensor_floats(optimizer->averages[t]); }

/* Copies every average into its variable (into_variables) or every variable into its average. */
static void copy_averages(sp_optimizer *optimizer, int into_variables) {
  for (int t = 0; t < optimizer->target_count; t++) {
    float *w = variable_of(optimizer, t), *average = average_of(optimizer, t);
    memcpy(into_variables ? w : average, into_variables ? average : w, (size_t)element_count(optimizer, t) * sizeof(float));
  }
}

/* _update_model_variables_moving_average, then the periodic overwrite; iterations as the update
 * formulas see it (divided by gradient_accumulation_steps). */
static void update_averages(sp_optimizer *optimizer, int64_t iterations) {
  float momentum = iterations != 0 ? (float)optimizer->ema_momentum : 0.0f;
  for (int t = 0; t < optimizer->target_count; t++) {
    const float *w = variable_of(optimizer, t);
    float *average = average_of(optimizer, t);
    int64_t n = element_count(optimizer, t);
    for (int64_t i = 0; i < n; i++) average[i] = momentum * average[i] + (1 - momentum) * w[i];
  }
  int64_t frequency = (int64_t)optimizer->ema_overwrite_frequency.value;
  if (optimizer->ema_overwrite_frequency.set && (iterations + 1) % frequency == 0) copy_averages(optimizer, 1);
}

static sp_status require_averages(const sp_optimizer *optimizer) {
  if (optimizer->use_ema && optimizer->built) return SP_OK;
  return sp_fail(SP_ERROR_INVALID_ARGUMENT, "optimizer '%s' keeps no weight averages (%s)", optimizer->name,
                 optimizer->use_ema ? "it has no variables yet" : "use_ema is off");
}

sp_status sp_optimizer_finalize(sp_optimizer *optimizer) {
  if (optimizer->use_ema && optimizer->built) copy_averages(optimizer, 1);
  return SP_OK;
}

sp_status sp_optimizer_swap_averages(sp_optimizer *optimizer) {
  SP_TRY(require_averages(optimizer));
  for (int t = 0; t < optimizer->target_count; t++) {
    float *w = variable_of(optimizer, t), *average = average_of(optimizer, t);
    int64_t n = element_count(optimizer, t);
    for (int64_t i = 0; i < n; i++) {
      float kept = w[i];
      w[i] = average[i];
      average[i] = kept;
    }
  }
  return SP_OK;
}

sp_status sp_optimizer_set_averages_from_variables(sp_optimizer *optimizer) {
  SP_TRY(require_averages(optimizer));
  copy_averages(optimizer, 0);
  return SP_OK;
}

sp_status sp_optimizer_apply(sp_optimizer *optimizer) {
  if (!optimizer->built) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "optimizer '%s' has no variables yet (build it first)", optimizer->name);
  int any = 0;
  for (int t = 0; t < optimizer->target_count; t++) any |= gradient_of(optimizer, t) != NULL;
  if (!any && optimizer->target_count) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "no gradients provided for any variable");
  int64_t *iteration = optimizer->iteration->data;
  if (optimizer->loss_scale_factor.set) {
    float scale = (float)optimizer->loss_scale_factor.value;
    for (int t = 0; t < optimizer->target_count; t++) {
      float *g = gradient_of(optimizer, t);
      for (int64_t i = 0; g && i < element_count(optimizer, t); i++) g[i] /= scale;
    }
  }
  step_context step = {.lr = (float)sp_optimizer_current_learning_rate(optimizer), .iterations = *iteration};
  int update = 1;
  if (optimizer->gradient_accumulation_steps) {
    step.iterations = *iteration / optimizer->gradient_accumulation_steps;
    update = accumulate_gradients(optimizer, *iteration);
  }
  step.local_step = (float)(step.iterations + 1);
  if (update) update_variables(optimizer, &step);
  if (optimizer->use_ema) update_averages(optimizer, step.iterations);
  for (int t = 0; t < optimizer->target_count; t++)
    sp_constraint_apply(&optimizer->targets[t]->constraint, optimizer->targets[t]->value);
  *iteration += 1;
  return SP_OK;
}

/* ---- public API (savepoint/train.h) ---- */

static sp_optimizer *created(sp_optimizer_kind kind, double learning_rate) {
  sp_optimizer *optimizer = NULL;
  if (sp_optimizer_create(kind, learning_rate, &optimizer) != SP_OK) return NULL;
  if (validate(optimizer, class_of(kind)->class_name) != SP_OK) {
    sp_optimizer_free(optimizer);
    return NULL;
  }
  return optimizer;
}

sp_optimizer *sp_sgd(double learning_rate, double momentum, int nesterov) {
  sp_optimizer *optimizer = created(SP_OPTIMIZER_SGD, learning_rate);
  if (optimizer && (sp_optimizer_set_option(optimizer, "momentum", momentum) != SP_OK ||
                    sp_optimizer_set_option(optimizer, "nesterov", nesterov) != SP_OK)) {
    sp_optimizer_free(optimizer);
    return NULL;
  }
  return optimizer;
}

sp_optimizer *sp_adam(double learning_rate) { return created(SP_OPTIMIZER_ADAM, learning_rate); }
sp_optimizer *sp_rmsprop(double learning_rate) { return created(SP_OPTIMIZER_RMSPROP, learning_rate); }
sp_optimizer *sp_adagrad(double learning_rate) { return created(SP_OPTIMIZER_ADAGRAD, learning_rate); }
sp_optimizer *sp_nadam(double learning_rate) { return created(SP_OPTIMIZER_NADAM, learning_rate); }

sp_optimizer *sp_adamw(double learning_rate, double weight_decay) {
  sp_optimizer *optimizer = created(SP_OPTIMIZER_ADAMW, learning_rate);
  if (optimizer && sp_optimizer_set_option(optimizer, "weight_decay", weight_decay) != SP_OK) {
    sp_optimizer_free(optimizer);
    return NULL;
  }
  return optimizer;
}

sp_optimizer *sp_optimizer_from_config(const char *json) {
  json_object *spec;
  if (sp_json_parse(json, strlen(json), "optimizer config", &spec) != SP_OK) return NULL;
  sp_optimizer *optimizer = NULL;
  if (sp_optimizer_parse(spec, "optimizer config", &optimizer) != SP_OK) optimizer = NULL;
  json_object_put(spec);
  return optimizer;
}

sp_status sp_optimizer_set(sp_optimizer *optimizer, const char *option, double value) {
  return sp_optimizer_set_option(optimizer, option, value);
}

sp_status sp_optimizer_set_learning_rate_schedule(sp_optimizer *optimizer, const char *schedule_json) {
  json_object *spec = NULL;
  if (schedule_json) SP_TRY(sp_json_parse(schedule_json, strlen(schedule_json), "learning-rate schedule", &spec));
  sp_status status = sp_optimizer_set_schedule(optimizer, spec);
  json_object_put(spec);
  return status;
}

char *sp_optimizer_to_config(const sp_optimizer *optimizer, int keras_major) {
  json_object *config = sp_optimizer_config_json(optimizer, keras_major);
  char *text = config ? sp_json_dumps(config, 0) : NULL;
  json_object_put(config);
  if (!text) sp_fail(SP_ERROR_NO_MEMORY, "cannot serialize optimizer '%s'", optimizer->name);
  return text;
}

int sp_optimizer_variable_count(const sp_optimizer *optimizer) { return optimizer ? optimizer->variable_count : 0; }

const char *sp_optimizer_variable_name(const sp_optimizer *optimizer, int index) {
  return index >= 0 && index < optimizer->variable_count ? optimizer->variables[index].name : NULL;
}

const sp_tensor *sp_optimizer_variable_value(const sp_optimizer *optimizer, int index) {
  return index >= 0 && index < optimizer->variable_count ? optimizer->variables[index].value : NULL;
}

int64_t sp_optimizer_iterations(const sp_optimizer *optimizer) { return sp_optimizer_iteration_count(optimizer); }

sp_status sp_optimizer_set_variable(sp_optimizer *optimizer, int index, const sp_tensor *value) {
  if (index < 0 || index >= optimizer->variable_count)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "optimizer '%s' has %d variables; there is no variable %d",
                   optimizer->name, optimizer->variable_count, index);
  sp_optimizer_variable *variable = &optimizer->variables[index];
  sp_tensor *target = variable->value;
  int64_t count = sp_tensor_count(value);
  int same_shape = value->rank == target->rank && count == sp_tensor_count(target);
  for (int d = 0; same_shape && d < value->rank; d++) same_shape = value->shape[d] == target->shape[d];
  if (!same_shape || value->dtype == SP_STRING || value->dtype == SP_DTYPE_INVALID) {
    char want[96], got[96];
    return sp_fail(SP_ERROR_MISMATCH, "optimizer variable '%s' has shape %s (%s); the value given has shape %s (%s)",
                   variable->name, sp_shape_format(target->rank, target->shape, want, sizeof want), sp_dtype_name(target->dtype),
                   sp_shape_format(value->rank, value->shape, got, sizeof got), sp_dtype_name(value->dtype));
  }
  if (value->dtype == target->dtype) return sp_tensor_overwrite(target, value);
  SP_TRY(sp_tensor_prepare_overwrite(target));
  for (int64_t i = 0; i < count; i++) sp_tensor_set_double(target, i, sp_tensor_get_double(value, i));
  return SP_OK;
}
