/* compile.c — model.compile(): losses, loss weights and metrics per output, the optimizer, and
 * the compile/training config in Keras 3 and Keras 2 layouts (see compile.h).
 *
 * Structure rules follow keras/src/trainers/compile_utils.py: one loss for every output, a list
 * with one entry per output, or a dict keyed by output names; metrics as a flat list for a
 * single output, and a per-output list or a dict for several outputs.
 */
#include "nn/compile.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/memory.h"
#include "nn/initializer.h"
#include "savepoint/train.h"

void sp_training_config_free(sp_training_config *training) {
  if (!training) return;
  sp_optimizer_free(training->optimizer);
  free(training->losses);
  free(training->loss_weights);
  free(training->metrics);
  json_object_put(training->loss_spec);
  json_object_put(training->loss_weights_spec);
  json_object_put(training->metrics_spec);
  json_object_put(training->weighted_metrics_spec);
  json_object_put(training->jit_compile);
  free(training);
}

sp_training_config *sp_model_training_config(const sp_model *model) { return model ? model->training : NULL; }

static json_object *copy_json(const json_object *value) {
  json_object *copy = NULL;
  if (value && json_object_deep_copy((json_object *)value, &copy, NULL) != 0) return NULL;
  return copy;
}

static int is_null(const json_object *value) { return !value || json_object_is_type(value, json_type_null); }

/* A dict keyed by output names, as opposed to a single loss/metric object. */
static int is_output_dict(const json_object *value) {
  return json_object_is_type(value, json_type_object) && !sp_json_member(value, "class_name");
}

static int output_index(const sp_model *model, const char *name) {
  for (int i = 0; i < model->output_count; i++)
    if (strcmp(sp_model_output_name(model, i), name) == 0) return i;
  return -1;
}

static sp_status unknown_output(const sp_model *model, const char *what, const char *key) {
  char names[512] = "";
  for (int i = 0; i < model->output_count; i++) {
    size_t used = strlen(names);
    snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", sp_model_output_name(model, i));
  }
  return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s names output '%s', but model '%s' has outputs: %s", what, key,
                 model->name, names);
}

/* The spec for output `index`: the one spec, its list entry, or its dict entry. */
static sp_status per_output(const sp_model *model, const json_object *spec, int index, const char *what,
                            const json_object **entry) {
  *entry = NULL;
  if (is_null(spec)) return SP_OK;
  int outputs = model->output_count;
  if (json_object_is_type(spec, json_type_array) && outputs > 1) {
    if ((int)json_object_array_length(spec) != outputs)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s has %zu entries but model '%s' has %d outputs", what,
                     json_object_array_length(spec), model->name, outputs);
    *entry = json_object_array_get_idx(spec, (size_t)index);
    return SP_OK;
  }
  if (is_output_dict(spec)) {
    json_object_object_foreach((json_object *)spec, key, value) {
      (void)value;
      if (output_index(model, key) < 0) return unknown_output(model, what, key);
    }
    *entry = sp_json_member(spec, sp_model_output_name(model, index));
    return SP_OK;
  }
  *entry = spec;
  return SP_OK;
}

static sp_status parse_losses(sp_model *model, sp_training_config *training, const json_object *loss,
                              const json_object *weights) {
  int outputs = training->output_count;
  training->losses = sp_alloc_zeroed((size_t)outputs, sizeof *training->losses);
  training->loss_weights = sp_alloc_zeroed((size_t)outputs, sizeof *training->loss_weights);
  if (!training->losses || !training->loss_weights) return SP_ERROR_NO_MEMORY;
  if (json_object_is_type(loss, json_type_array) && outputs == 1 && json_object_array_length(loss) == 1)
    loss = json_object_array_get_idx(loss, 0);
  for (int o = 0; o < outputs; o++) {
    const json_object *spec, *weight;
    char context[160];
    snprintf(context, sizeof context, "the loss of output '%s'", sp_model_output_name(model, o));
    SP_TRY(per_output(model, loss, o, "loss", &spec));
    SP_TRY(sp_loss_parse(spec, context, &training->losses[o]));
    training->loss_weights[o] = 1;
    const json_object *weights_spec = weights;
    if (json_object_is_type(weights, json_type_array) && outputs == 1 && json_object_array_length(weights) == 1)
      weights_spec = json_object_array_get_idx(weights, 0);
    SP_TRY(per_output(model, weights_spec, o, "loss_weights", &weight));
    if (!is_null(weight)) {
      if (!json_object_is_type(weight, json_type_double) && !json_object_is_type(weight, json_type_int))
        return sp_fail(SP_ERROR_FORMAT, "loss_weights: the weight of output '%s' must be a number", sp_model_output_name(model, o));
      training->loss_weights[o] = json_object_get_double(weight);
    }
  }
  return SP_OK;
}

static sp_status append_metric(sp_training_config *training, const sp_metric *metric, int output, int output_loss) {
  sp_tracked_metric *grown = sp_realloc_array(training->metrics, (size_t)training->metric_count + 1, sizeof *grown);
  if (!grown) return SP_ERROR_NO_MEMORY;
  training->metrics = grown;
  training->metrics[training->metric_count++] = (sp_tracked_metric){*metric, output, output_loss};
  return SP_OK;
}

static int name_taken(const sp_training_config *training, const char *name) {
  for (int i = 0; i < training->metric_count; i++)
    if (strcmp(training->metrics[i].metric.name, name) == 0) return 1;
  return 0;
}

/* "<output>_<infix><name>" into out, truncated to SP_METRIC_NAME_MAX - 1 characters. */
static void compose_name(char *out, const char *output_name, const char *infix, const char *name) {
  int length = snprintf(out, SP_METRIC_NAME_MAX, "%s%s%s%s", output_name ? output_name : "", output_name ? "_" : "",
                        infix, name);
  if (length < 0) out[0] = '\0';
}

/* CompileMetrics.result naming: "<output>_<name>", then "_<n>" (or "weighted_" first) on collisions. */
static void name_metric(const sp_training_config *training, sp_metric *metric, const char *output_name, int weighted) {
  char base[SP_METRIC_NAME_MAX], candidate[SP_METRIC_NAME_MAX];
  compose_name(base, output_name, "", metric->name);
  memcpy(candidate, base, sizeof candidate);
  if (weighted && name_taken(training, candidate)) {
    compose_name(base, output_name, "weighted_", metric->name);
    memcpy(candidate, base, sizeof candidate);
  }
  for (int index = 1; name_taken(training, candidate); index++) {
    char suffix[16];
    int length = snprintf(suffix, sizeof suffix, "_%d", index);
    size_t keep = strlen(base) + (size_t)length < sizeof candidate ? strlen(base) : sizeof candidate - 1 - (size_t)length;
    memcpy(candidate, base, keep);
    memcpy(candidate + keep, suffix, (size_t)length + 1);
  }
  memcpy(metric->name, candidate, sizeof metric->name);
}

static sp_status add_metric_list(sp_training_config *training, const json_object *list, int output,
                                 const char *output_name, int weighted) {
  if (is_null(list)) return SP_OK;
  if (json_object_is_type(list, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(list); i++)
      SP_TRY(add_metric_list(training, json_object_array_get_idx(list, i), output, output_name, weighted));
    return SP_OK;
  }
  sp_metric metric;
  SP_TRY(sp_metric_parse(list, weighted ? "weighted_metrics" : "metrics", &metric));
  name_metric(training, &metric, output_name, weighted);
  return append_metric(training, &metric, output, 0);
}

static sp_status parse_metrics(sp_model *model, sp_training_config *training, const json_object *metrics, int weighted) {
  const char *what = weighted ? "weighted_metrics" : "metrics";
  if (is_null(metrics)) return SP_OK;
  if (!json_object_is_type(metrics, json_type_array) && !is_output_dict(metrics))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s must be a list or a dict keyed by output names", what);
  if (training->output_count == 1) {
    if (is_output_dict(metrics)) {
      const json_object *entry;
      SP_TRY(per_output(model, metrics, 0, what, &entry));
      return add_metric_list(training, entry, 0, NULL, weighted);
    }
    return add_metric_list(training, metrics, 0, NULL, weighted);
  }
  for (int o = 0; o < training->output_count; o++) {
    const json_object *entry;
    SP_TRY(per_output(model, metrics, o, what, &entry));
    SP_TRY(add_metric_list(training, entry, o, sp_model_output_name(model, o), weighted));
  }
  return SP_OK;
}

static sp_status add_loss_trackers(sp_model *model, sp_training_config *training) {
  int with_loss = 0;
  for (int o = 0; o < training->output_count; o++) with_loss += training->losses[o].kind != SP_LOSS_NONE;
  if (with_loss < 2) return SP_OK;
  for (int o = 0; o < training->output_count; o++) {
    if (training->losses[o].kind == SP_LOSS_NONE) continue;
    sp_metric tracker;
    char name[SP_METRIC_NAME_MAX];
    snprintf(name, sizeof name, "%s_loss", sp_model_output_name(model, o));
    sp_metric_init_mean(&tracker, name);
    SP_TRY(append_metric(training, &tracker, o, 1));
  }
  return SP_OK;
}

static sp_status build_training(sp_model *model, sp_training_config *training, const json_object *loss,
                                const json_object *loss_weights, const json_object *metrics,
                                const json_object *weighted_metrics) {
  SP_TRY(sp_model_build(model));
  training->output_count = model->output_count;
  training->steps_per_execution = 1;
  SP_TRY(parse_losses(model, training, loss, loss_weights));
  sp_metric total;
  sp_metric_init_mean(&total, "loss");
  SP_TRY(append_metric(training, &total, -1, 0));
  SP_TRY(parse_metrics(model, training, metrics, 0));
  SP_TRY(parse_metrics(model, training, weighted_metrics, 1));
  SP_TRY(add_loss_trackers(model, training));
  training->loss_spec = copy_json(loss);
  training->loss_weights_spec = copy_json(loss_weights);
  training->metrics_spec = copy_json(metrics);
  training->weighted_metrics_spec = copy_json(weighted_metrics);
  return SP_OK;
}

static void install(sp_model *model, sp_training_config *training) {
  if (model->training && model->training_release) model->training_release(model->training);
  model->training = training;
  model->training_release = sp_training_config_free;
}

sp_status sp_model_compile_specs(sp_model *model, sp_optimizer *optimizer, const json_object *loss,
                                 const json_object *loss_weights, const json_object *metrics,
                                 const json_object *weighted_metrics) {
  if (!optimizer) {
    sp_status status = sp_last_status();
    return sp_error_context(status != SP_OK ? status : sp_fail(SP_ERROR_INVALID_ARGUMENT, "no optimizer given"),
                            "compiling model '%s'", model->name);
  }
  sp_training_config *training = sp_alloc_zeroed(1, sizeof *training);
  if (!training) {
    sp_optimizer_free(optimizer);
    return SP_ERROR_NO_MEMORY;
  }
  training->optimizer = optimizer;
  sp_status status = build_training(model, training, loss, loss_weights, metrics, weighted_metrics);
  if (status != SP_OK) {
    sp_training_config_free(training);
    return sp_error_context(status, "compiling model '%s'", model->name);
  }
  install(model, training);
  return SP_OK;
}

sp_status sp_model_build_optimizer(sp_model *model) {
  if (!model->training)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' is not compiled: it has no optimizer", model->name);
  SP_TRY(sp_model_build(model));
  return sp_optimizer_build(model->training->optimizer, model);
}

/* ---- configs ---- */

sp_status sp_model_compile_from_config(sp_model *model, const json_object *config, const char *context) {
  if (!json_object_is_type(config, json_type_object))
    return sp_fail(SP_ERROR_FORMAT, "%s: the compile config must be an object", context);
  const json_object *optimizer_spec = sp_json_member(config, "optimizer_config");
  if (!optimizer_spec) optimizer_spec = sp_json_member(config, "optimizer");
  json_object *fallback = is_null(optimizer_spec) ? json_object_new_string("rmsprop") : NULL; /* compile()'s default */
  sp_optimizer *optimizer;
  char optimizer_context[300];
  snprintf(optimizer_context, sizeof optimizer_context, "%s: optimizer", context);
  sp_status status = sp_optimizer_parse(fallback ? fallback : optimizer_spec, optimizer_context, &optimizer);
  json_object_put(fallback);
  if (status != SP_OK) return status;
  SP_TRY(sp_model_compile_specs(model, optimizer, sp_json_member(config, "loss"), sp_json_member(config, "loss_weights"),
                                sp_json_member(config, "metrics"), sp_json_member(config, "weighted_metrics")));
  sp_training_config *training = model->training;
  status = sp_json_get_bool(config, "run_eagerly", 0, context, &training->run_eagerly);
  if (status == SP_OK) status = sp_json_get_int(config, "steps_per_execution", 1, context, &training->steps_per_execution);
  if (status == SP_OK && sp_json_member(config, "jit_compile")) training->jit_compile = copy_json(sp_json_member(config, "jit_compile"));
  if (status == SP_OK) status = sp_model_build_optimizer(model);
  return status == SP_OK ? SP_OK : sp_error_context(status, "%s", context);
}

/* Keras 2 objects have no module / registered_name keys. */
static void strip_keras3_keys(json_object *value) {
  if (json_object_is_type(value, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(value); i++) strip_keras3_keys(json_object_array_get_idx(value, i));
  } else if (json_object_is_type(value, json_type_object)) {
    json_object_object_del(value, "module");
    json_object_object_del(value, "registered_name");
    json_object_object_foreach(value, key, child) {
      (void)key;
      strip_keras3_keys(child);
    }
  }
}

static json_object *spec_for(const json_object *spec, sp_training_layout layout) {
  json_object *copy = copy_json(spec);
  if (layout == SP_LAYOUT_KERAS2_TRAINING_CONFIG) strip_keras3_keys(copy);
  return copy;
}

json_object *sp_training_config_json(const sp_model *model, sp_training_layout layout) {
  const sp_training_config *training = model->training;
  if (!training) {
    sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' is not compiled", model->name);
    return NULL;
  }
  json_object *root = json_object_new_object();
  if (!root) return NULL;
  if (layout == SP_LAYOUT_KERAS3_COMPILE_CONFIG)
    json_object_object_add(root, "optimizer", sp_optimizer_config_json(training->optimizer, 3));
  json_object_object_add(root, "loss", spec_for(training->loss_spec, layout));
  if (layout == SP_LAYOUT_KERAS2_TRAINING_CONFIG) {
    json_object_object_add(root, "metrics", spec_for(training->metrics_spec, layout));
    json_object_object_add(root, "weighted_metrics", spec_for(training->weighted_metrics_spec, layout));
    json_object_object_add(root, "loss_weights", spec_for(training->loss_weights_spec, layout));
  } else {
    json_object_object_add(root, "loss_weights", spec_for(training->loss_weights_spec, layout));
    json_object_object_add(root, "metrics", spec_for(training->metrics_spec, layout));
    json_object_object_add(root, "weighted_metrics", spec_for(training->weighted_metrics_spec, layout));
    json_object_object_add(root, "run_eagerly", json_object_new_boolean(training->run_eagerly));
    json_object_object_add(root, "steps_per_execution", json_object_new_int64(training->steps_per_execution));
    json_object_object_add(root, "jit_compile", training->jit_compile ? copy_json(training->jit_compile) : json_object_new_boolean(0));
  }
  if (layout != SP_LAYOUT_KERAS3_COMPILE_CONFIG) {
    json_object *optimizer = sp_optimizer_config_json(training->optimizer, layout == SP_LAYOUT_KERAS2_TRAINING_CONFIG ? 2 : 3);
    json_object_object_del(optimizer, "module");
    json_object_object_del(optimizer, "registered_name");
    json_object_object_add(root, "optimizer_config", optimizer);
  }
  return root;
}

/* ---- shapes and regularization ---- */

sp_status sp_training_config_resolve(sp_training_config *training, int count, const sp_tensor *const *y_true,
                                     const sp_tensor *const *y_pred) {
  if (count != training->output_count)
    return sp_fail(SP_ERROR_MISMATCH, "the model has %d output%s but %d target array%s were given", training->output_count,
                   training->output_count == 1 ? "" : "s", count, count == 1 ? "" : "s");
  for (int o = 0; o < count; o++)
    SP_TRY(sp_loss_resolve(&training->losses[o], y_true[o], y_pred[o]));
  for (int m = 0; m < training->metric_count; m++) {
    sp_tracked_metric *tracked = &training->metrics[m];
    if (tracked->output >= 0 && !tracked->output_loss)
      SP_TRY(sp_metric_resolve(&tracked->metric, y_true[tracked->output], y_pred[tracked->output]));
  }
  training->resolved = 1;
  return SP_OK;
}

double sp_model_regularization(const sp_model *model, int with_gradients) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  double penalty = 0;
  for (int i = 0; i < count; i++) {
    sp_variable *variable = variables[i];
    if (variable->regularizer.l1 == 0 && variable->regularizer.l2 == 0) continue;
    sp_tensor *gradient = with_gradients ? sp_variable_gradient(variable) : NULL;
    penalty += sp_regularizer_apply(&variable->regularizer, variable->value, gradient);
  }
  free(variables);
  return penalty;
}

/* ---- public API (savepoint/train.h) ---- */

/* A name becomes a JSON string; text starting with '{' or '[' is parsed as Keras JSON. */
static sp_status spec_from_text(const char *text, const char *what, json_object **spec) {
  *spec = NULL;
  if (!text) return SP_OK;
  const char *start = text;
  while (*start == ' ' || *start == '\t' || *start == '\n') start++;
  if (*start == '{' || *start == '[') return sp_json_parse(text, strlen(text), what, spec);
  *spec = json_object_new_string(text);
  return *spec ? SP_OK : SP_ERROR_NO_MEMORY;
}

/* A NULL-terminated list of metric names/objects; a single entry that is a JSON list or a dict
 * keyed by output names is the whole metrics argument (one entry per output). */
static sp_status metrics_from_list(const char *const *metrics, json_object **list) {
  *list = NULL;
  if (!metrics) return SP_OK;
  if (metrics[0] && !metrics[1]) {
    json_object *only;
    SP_TRY(spec_from_text(metrics[0], "metrics", &only));
    if (json_object_is_type(only, json_type_array) || is_output_dict(only)) {
      *list = only;
      return SP_OK;
    }
    json_object_put(only);
  }
  if (!(*list = json_object_new_array())) return SP_ERROR_NO_MEMORY;
  for (int i = 0; metrics[i]; i++) {
    json_object *metric;
    SP_TRY(spec_from_text(metrics[i], "metric", &metric));
    json_object_array_add(*list, metric);
  }
  return SP_OK;
}

/* A model compiled anew writes its new compile config, not the one a file gave it when loaded. */
static sp_status forget_loaded_compile_config(sp_model *model, sp_status status) {
  if (status == SP_OK && model->object_extra) json_object_object_del(model->object_extra, "compile_config");
  return status;
}

sp_status sp_model_compile(sp_model *model, sp_optimizer *optimizer, const char *loss, const char *const *metrics) {
  json_object *loss_spec = NULL, *metric_list = NULL;
  sp_status status = spec_from_text(loss, "loss", &loss_spec);
  if (status == SP_OK) status = metrics_from_list(metrics, &metric_list);
  if (status == SP_OK) {
    status = sp_model_compile_specs(model, optimizer, loss_spec, NULL, metric_list, NULL);
    optimizer = NULL;
  }
  sp_optimizer_free(optimizer);
  json_object_put(loss_spec);
  json_object_put(metric_list);
  return forget_loaded_compile_config(model, status);
}

sp_status sp_model_compile_json(sp_model *model, const char *config_json) {
  json_object *config;
  SP_TRY(sp_json_parse(config_json, strlen(config_json), "compile config", &config));
  sp_status status = sp_model_compile_from_config(model, config, "compile config");
  json_object_put(config);
  return forget_loaded_compile_config(model, status);
}

char *sp_model_compile_config(const sp_model *model) {
  json_object *config = sp_training_config_json(model, SP_LAYOUT_KERAS3_COMPILE_CONFIG);
  char *text = config ? sp_json_dumps(config, 0) : NULL;
  json_object_put(config);
  return text;
}

sp_optimizer *sp_model_optimizer(sp_model *model) { return model->training ? model->training->optimizer : NULL; }

sp_status sp_model_build_optimizer_variables(sp_model *model) { return sp_model_build_optimizer(model); }
