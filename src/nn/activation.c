/* activation.c — Keras activations (see activation.h). Formulas follow keras.activations. */
#include "nn/activation.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/memory.h"
#include "nn/custom_objects.h"

static const float selu_alpha = 1.6732632423543772848170429916717f;
static const float selu_scale = 1.0507009873554804934193349852946f;

typedef struct named_kind {
  const char *name;
  sp_activation_kind kind;
} named_kind;

static const named_kind names[] = {
    {"linear", SP_ACTIVATION_LINEAR},       {"relu", SP_ACTIVATION_RELU},
    {"relu6", SP_ACTIVATION_RELU6},         {"leaky_relu", SP_ACTIVATION_LEAKY_RELU},
    {"elu", SP_ACTIVATION_ELU},             {"selu", SP_ACTIVATION_SELU},
    {"gelu", SP_ACTIVATION_GELU},           {"gelu_approximate", SP_ACTIVATION_GELU_APPROXIMATE},
    {"sigmoid", SP_ACTIVATION_SIGMOID},     {"hard_sigmoid", SP_ACTIVATION_HARD_SIGMOID_KERAS3},
    {"tanh", SP_ACTIVATION_TANH},           {"softmax", SP_ACTIVATION_SOFTMAX},
    {"log_softmax", SP_ACTIVATION_LOG_SOFTMAX}, {"softplus", SP_ACTIVATION_SOFTPLUS},
    {"softsign", SP_ACTIVATION_SOFTSIGN},   {"swish", SP_ACTIVATION_SWISH},
    {"silu", SP_ACTIVATION_SWISH},          {"exponential", SP_ACTIVATION_EXPONENTIAL},
};

static pthread_mutex_t custom_lock = PTHREAD_MUTEX_INITIALIZER;
static const sp_custom_activation **custom_activations;
static size_t custom_count, custom_capacity;

static const sp_custom_activation *find_custom(const char *name) {
  const sp_custom_activation *found = sp_custom_objects_find_activation(name); /* the running load's table first */
  if (found) return found;
  pthread_mutex_lock(&custom_lock);
  for (size_t i = 0; i < custom_count && !found; i++)
    if (strcmp(custom_activations[i]->name, name) == 0) found = custom_activations[i];
  pthread_mutex_unlock(&custom_lock);
  return found;
}

/* The names of registered custom activations (process-wide, then this load's table). */
static void list_custom(char *out, size_t capacity) {
  size_t used = 0;
  pthread_mutex_lock(&custom_lock);
  for (size_t i = 0; i < custom_count && used + 1 < capacity; i++) {
    int written = snprintf(out + used, capacity - used, "%s%s", used ? ", " : "", custom_activations[i]->name);
    if (written < 0) break;
    used += (size_t)written < capacity - used ? (size_t)written : capacity - used - 1;
  }
  pthread_mutex_unlock(&custom_lock);
  sp_custom_objects_append_names(0, out, capacity);
}

sp_status sp_register_activation(const sp_custom_activation *activation) {
  if (!activation || !activation->name || !activation->forward)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a custom activation needs a name and a forward function");
  if (find_custom(activation->name))
    return sp_fail(SP_ERROR_EXISTS, "an activation named '%s' is already registered", activation->name);
  pthread_mutex_lock(&custom_lock);
  sp_status status = SP_RESERVE(custom_activations, custom_capacity, custom_count + 1);
  if (status == SP_OK) custom_activations[custom_count++] = activation;
  pthread_mutex_unlock(&custom_lock);
  return status;
}

sp_status sp_activation_from_name(const char *name, int keras_major, const char *context, sp_activation *activation) {
  memset(activation, 0, sizeof *activation);
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    if (strcmp(name, names[i].name) != 0) continue;
    activation->kind = names[i].kind;
    if (activation->kind == SP_ACTIVATION_HARD_SIGMOID_KERAS3 && keras_major < 3)
      activation->kind = SP_ACTIVATION_HARD_SIGMOID_KERAS2;
    activation->alpha = activation->kind == SP_ACTIVATION_ELU ? 1.0f : 0.2f;
    return SP_OK;
  }
  const sp_custom_activation *custom = find_custom(name);
  if (custom) {
    activation->kind = SP_ACTIVATION_CUSTOM;
    activation->custom = custom;
    return SP_OK;
  }
  char registered[2048] = "";
  list_custom(registered, sizeof registered);
  return sp_fail(SP_ERROR_UNSUPPORTED,
                 "%s: unknown activation '%s' (known: linear, relu, relu6, leaky_relu, elu, selu, gelu, sigmoid, "
                 "hard_sigmoid, tanh, softmax, log_softmax, softplus, softsign, swish, silu, exponential; registered: "
                 "%s). Register a custom one under its Keras registered_name with sp_register_activation(), or pass "
                 "it in the load's custom-objects table (sp_custom_objects_add_activation())",
                 context, name, registered[0] ? registered : "none");
}

sp_status sp_activation_parse(const json_object *spec, int keras_major, const char *context, sp_activation *activation) {
  if (!spec || json_object_is_type(spec, json_type_null))
    return sp_activation_from_name("linear", keras_major, context, activation);
  if (json_object_is_type(spec, json_type_string))
    return sp_activation_from_name(json_object_get_string((json_object *)spec), keras_major, context, activation);
  /* Keras 3 may serialize a function as {"module": "keras.activations", "class_name": "function",
   * "config": "relu", "registered_name": "relu"}. */
  const char *registered = NULL, *class_name = NULL;
  SP_TRY(sp_json_get_string(spec, "registered_name", NULL, context, &registered));
  SP_TRY(sp_json_get_string(spec, "class_name", NULL, context, &class_name));
  json_object *config = sp_json_member(spec, "config");
  if (class_name && strcmp(class_name, "function") == 0 && config && json_object_is_type(config, json_type_string))
    return sp_activation_from_name(json_object_get_string(config), keras_major, context, activation);
  if (registered) return sp_activation_from_name(registered, keras_major, context, activation);
  char preview[80];
  return sp_fail(SP_ERROR_UNSUPPORTED, "%s: unsupported activation spec %s", context,
                 sp_json_preview(spec, preview, sizeof preview));
}

const char *sp_activation_name(const sp_activation *activation) {
  if (activation->kind == SP_ACTIVATION_CUSTOM) return activation->custom->name;
  if (activation->kind == SP_ACTIVATION_HARD_SIGMOID_KERAS2) return "hard_sigmoid";
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (names[i].kind == activation->kind) return names[i].name;
  return "linear";
}

int sp_activation_needs_input(const sp_activation *activation) {
  switch (activation->kind) {
    case SP_ACTIVATION_LINEAR:
    case SP_ACTIVATION_RELU:
    case SP_ACTIVATION_SIGMOID:
    case SP_ACTIVATION_TANH:
    case SP_ACTIVATION_SOFTMAX:
    case SP_ACTIVATION_LOG_SOFTMAX:
    case SP_ACTIVATION_EXPONENTIAL:
      return 0;
    default:
      return 1;
  }
}

static float sigmoid(float x) { return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)); }

static float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

static const float sqrt_2_over_pi = 0.7978845608028654f;

static float element_forward(const sp_activation *a, float x) {
  switch (a->kind) {
    case SP_ACTIVATION_RELU: return x > 0 ? x : 0;
    case SP_ACTIVATION_RELU6: return x > 0 ? (x < 6 ? x : 6) : 0;
    case SP_ACTIVATION_LEAKY_RELU: return x > 0 ? x : a->alpha * x;
    case SP_ACTIVATION_ELU: return x > 0 ? x : a->alpha * expm1f(x);
    case SP_ACTIVATION_SELU: return selu_scale * (x > 0 ? x : selu_alpha * expm1f(x));
    case SP_ACTIVATION_GELU: return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case SP_ACTIVATION_GELU_APPROXIMATE:
      return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));
    case SP_ACTIVATION_SIGMOID: return sigmoid(x);
    case SP_ACTIVATION_HARD_SIGMOID_KERAS2: return fminf(1.0f, fmaxf(0.0f, 0.2f * x + 0.5f));
    case SP_ACTIVATION_HARD_SIGMOID_KERAS3: return fminf(6.0f, fmaxf(0.0f, x + 3.0f)) / 6.0f;
    case SP_ACTIVATION_TANH: return tanhf(x);
    case SP_ACTIVATION_SOFTPLUS: return softplus(x);
    case SP_ACTIVATION_SOFTSIGN: return x / (1.0f + fabsf(x));
    case SP_ACTIVATION_SWISH: return x * sigmoid(x);
    case SP_ACTIVATION_EXPONENTIAL: return expf(x);
    default: return x;
  }
}

/* f'(x) for element-wise activations, given x and y = f(x). */
static float element_derivative(const sp_activation *a, float x, float y) {
  switch (a->kind) {
    case SP_ACTIVATION_RELU: return y > 0 ? 1.0f : 0.0f;
    case SP_ACTIVATION_RELU6: return x > 0 && x < 6 ? 1.0f : 0.0f;
    case SP_ACTIVATION_LEAKY_RELU: return x > 0 ? 1.0f : a->alpha;
    case SP_ACTIVATION_ELU: return x > 0 ? 1.0f : a->alpha * expf(x);
    case SP_ACTIVATION_SELU: return x > 0 ? selu_scale : selu_scale * selu_alpha * expf(x);
    case SP_ACTIVATION_GELU: {
      float cdf = 0.5f * (1.0f + erff(x * 0.7071067811865476f));
      float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
      return cdf + x * pdf;
    }
    case SP_ACTIVATION_GELU_APPROXIMATE: {
      float inner = sqrt_2_over_pi * (x + 0.044715f * x * x * x);
      float t = tanhf(inner);
      return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * sqrt_2_over_pi * (1.0f + 3.0f * 0.044715f * x * x);
    }
    case SP_ACTIVATION_SIGMOID: return y * (1.0f - y);
    case SP_ACTIVATION_HARD_SIGMOID_KERAS2: return x > -2.5f && x < 2.5f ? 0.2f : 0.0f;
    case SP_ACTIVATION_HARD_SIGMOID_KERAS3: return x > -3.0f && x < 3.0f ? 1.0f / 6.0f : 0.0f;
    case SP_ACTIVATION_TANH: return 1.0f - y * y;
    case SP_ACTIVATION_SOFTPLUS: return sigmoid(x);
    case SP_ACTIVATION_SOFTSIGN: {
      float d = 1.0f + fabsf(x);
      return 1.0f / (d * d);
    }
    case SP_ACTIVATION_SWISH: {
      float s = sigmoid(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case SP_ACTIVATION_EXPONENTIAL: return y;
    default: return 1.0f;
  }
}

static void softmax_rows(const float *x, float *y, int64_t count, int64_t inner, int logarithm) {
  for (int64_t row = 0; row + inner <= count; row += inner) {
    float maximum = -INFINITY;
    for (int64_t i = 0; i < inner; i++) maximum = fmaxf(maximum, x[row + i]);
    double sum = 0;
    for (int64_t i = 0; i < inner; i++) sum += exp((double)x[row + i] - maximum);
    if (logarithm) {
      float log_sum = (float)log(sum);
      for (int64_t i = 0; i < inner; i++) y[row + i] = x[row + i] - maximum - log_sum;
    } else {
      for (int64_t i = 0; i < inner; i++) y[row + i] = (float)(exp((double)x[row + i] - maximum) / sum);
    }
  }
}

void sp_activation_forward(const sp_activation *a, const float *x, float *y, int64_t count, int64_t inner) {
  switch (a->kind) {
    case SP_ACTIVATION_LINEAR:
      if (x != y) memcpy(y, x, (size_t)count * sizeof *x);
      return;
    case SP_ACTIVATION_SOFTMAX: softmax_rows(x, y, count, inner, 0); return;
    case SP_ACTIVATION_LOG_SOFTMAX: softmax_rows(x, y, count, inner, 1); return;
    case SP_ACTIVATION_CUSTOM: a->custom->forward(x, y, count, a->custom->context); return;
    case SP_ACTIVATION_RELU:
      for (int64_t i = 0; i < count; i++) y[i] = x[i] > 0 ? x[i] : 0;
      return;
    default:
      for (int64_t i = 0; i < count; i++) y[i] = element_forward(a, x[i]);
  }
}

void sp_activation_backward(const sp_activation *a, const float *x, const float *y, const float *dy, float *dx,
                            int64_t count, int64_t inner) {
  switch (a->kind) {
    case SP_ACTIVATION_LINEAR:
      if (dx != dy) memcpy(dx, dy, (size_t)count * sizeof *dy);
      return;
    case SP_ACTIVATION_SOFTMAX:
      for (int64_t row = 0; row + inner <= count; row += inner) {
        double dot = 0;
        for (int64_t i = 0; i < inner; i++) dot += (double)dy[row + i] * y[row + i];
        for (int64_t i = 0; i < inner; i++) dx[row + i] = (float)(y[row + i] * (dy[row + i] - dot));
      }
      return;
    case SP_ACTIVATION_LOG_SOFTMAX:
      for (int64_t row = 0; row + inner <= count; row += inner) {
        double total = 0;
        for (int64_t i = 0; i < inner; i++) total += dy[row + i];
        for (int64_t i = 0; i < inner; i++) dx[row + i] = (float)(dy[row + i] - expf(y[row + i]) * total);
      }
      return;
    case SP_ACTIVATION_CUSTOM:
      if (a->custom->backward) a->custom->backward(x, y, dy, dx, count, a->custom->context);
      return;
    default:
      for (int64_t i = 0; i < count; i++) dx[i] = dy[i] * element_derivative(a, x ? x[i] : 0, y[i]);
  }
}
