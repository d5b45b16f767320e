/* Tests of the nn core: Dense/Activation/ReLU/Dropout/Flatten/Reshape against their formulas
 * and finite differences, the Sequential/Functional/nested graph, the runner's gradient
 * accumulation, initializer statistics, regularizers, constraints and config errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "gradient_check.h"
#include "nn/activation.h"
#include "nn/initializer.h"
#include "nn/model.h"
#include "savepoint/model.h"
#include "test_support.h"

static sp_layer *configured(const char *class_name, const char *json) {
  sp_layer *layer = sp_layer_new(class_name, json);
  cr_assert_not_null(layer, "%s: %s", class_name, sp_last_error());
  return layer;
}

static void set_values(sp_tensor *tensor, const float *values) { memcpy(tensor->data, values, tensor->size); }

Test(dense, forward_matches_formula) {
  sp_model *model = sp_sequential("m");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){3})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(2, "relu")));
  SP_ASSERT_OK(sp_model_build(model));
  sp_layer *dense = model->layers[1];
  const float kernel[] = {1, -1, 2, 0.5f, -3, 1}, bias[] = {0.5f, -0.25f};
  set_values(dense->variables[0]->value, kernel);
  set_values(dense->variables[1]->value, bias);
  dense->variables[0]->initialized = dense->variables[1]->initialized = 1;
  float x[] = {1, 2, 3, -1, 0, 1};
  sp_tensor *input = sp_tensor_wrap(SP_FLOAT32, 2, (int64_t[]){2, 3}, x);
  int count;
  sp_tensor **outputs;
  SP_ASSERT_OK(sp_model_predict(model, 1, (const sp_tensor *const *)&input, &count, &outputs));
  /* row 0: [1*1+2*2+3*-3+0.5, 1*-1+2*0.5+3*1-0.25] = [-3.5, 2.75] → relu [0, 2.75]
     row 1: [-1*1+0+1*-3+0.5, 1+0+1-0.25] = [-3.5, 1.75] → [0, 1.75] */
  const float expected[] = {0, 2.75f, 0, 1.75f};
  sp_assert_close(sp_tensor_floats(outputs[0]), expected, 4, 1e-6, 1e-6, "dense");
  cr_assert_eq(sp_model_parameter_count(model, 0), 3 * 2 + 2);
  sp_tensor_free(outputs[0]);
  free(outputs);
  sp_tensor_free(input);
  sp_model_free(model);
}

Test(dense, gradients_match_finite_differences) {
  const char *activations[] = {"linear", "relu", "tanh", "sigmoid", "softmax", "gelu", "elu", "swish"};
  for (size_t a = 0; a < sizeof activations / sizeof *activations; a++) {
    char config[128];
    snprintf(config, sizeof config, "{\"units\": 4, \"activation\": \"%s\"}", activations[a]);
    sp_layer *layer = configured("Dense", config);
    sp_tensor *x = sp_test_random_tensor(2, (int64_t[]){3, 5}, 1.0, 11 + a);
    sp_check_layer_gradients(layer, 1, &x, NULL);
    sp_tensor_free(x);
    sp_layer_release(layer);
  }
}

Test(dense, applies_to_the_last_axis_of_rank_3_inputs) {
  sp_layer *layer = configured("Dense", "{\"units\": 2, \"activation\": \"tanh\"}");
  sp_tensor *x = sp_test_random_tensor(3, (int64_t[]){2, 3, 4}, 1.0, 5);
  sp_check_layer_gradients(layer, 1, &x, NULL);
  sp_tensor_free(x);
  sp_layer_release(layer);
}

/* Reference values from the Keras formulas, evaluated by hand in double precision. */
static double reference(const char *name, double x) {
  if (!strcmp(name, "relu")) return x > 0 ? x : 0;
  if (!strcmp(name, "relu6")) return fmin(fmax(x, 0), 6);
  if (!strcmp(name, "leaky_relu")) return x > 0 ? x : 0.2 * x;
  if (!strcmp(name, "elu")) return x > 0 ? x : exp(x) - 1;
  if (!strcmp(name, "selu")) return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (exp(x) - 1));
  if (!strcmp(name, "gelu")) return 0.5 * x * (1 + erf(x / sqrt(2)));
  if (!strcmp(name, "sigmoid")) return 1 / (1 + exp(-x));
  if (!strcmp(name, "tanh")) return tanh(x);
  if (!strcmp(name, "softplus")) return log(1 + exp(x));
  if (!strcmp(name, "softsign")) return x / (1 + fabs(x));
  if (!strcmp(name, "swish") || !strcmp(name, "silu")) return x / (1 + exp(-x));
  if (!strcmp(name, "exponential")) return exp(x);
  return x;
}

Test(activation, element_wise_values_match_formulas) {
  const char *names[] = {"relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "tanh",
                         "softplus", "softsign", "swish", "silu", "exponential", "linear"};
  const float xs[] = {-3.5f, -1.0f, -0.25f, 0.3f, 1.0f, 2.5f, 7.0f};
  for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
    sp_activation activation;
    SP_ASSERT_OK(sp_activation_from_name(names[n], 3, "test", &activation));
    float y[7];
    sp_activation_forward(&activation, xs, y, 7, 7);
    for (int i = 0; i < 7; i++) {
      double want = reference(names[n], xs[i]);
      cr_assert(fabs(y[i] - want) <= 1e-5 * fmax(1, fabs(want)), "%s(%g) = %g, formula %g", names[n], xs[i], y[i], want);
    }
  }
}

Test(activation, hard_sigmoid_follows_the_keras_version) {
  sp_activation keras2, keras3;
  SP_ASSERT_OK(sp_activation_from_name("hard_sigmoid", 2, "t", &keras2));
  SP_ASSERT_OK(sp_activation_from_name("hard_sigmoid", 3, "t", &keras3));
  float x[] = {-4, 1, 2.8f}, y2[3], y3[3];
  sp_activation_forward(&keras2, x, y2, 3, 3);
  sp_activation_forward(&keras3, x, y3, 3, 3);
  /* Keras 2: clip(0.2x + 0.5); Keras 3: relu6(x + 3) / 6 */
  cr_assert_float_eq(y2[0], 0.0f, 1e-7);
  cr_assert_float_eq(y2[1], 0.7f, 1e-6);
  cr_assert_float_eq(y2[2], 1.0f, 1e-6);
  cr_assert_float_eq(y3[1], 4.0f / 6.0f, 1e-6);
  cr_assert_float_eq(y3[2], 5.8f / 6.0f, 1e-6);
}

Test(activation, softmax_and_log_softmax_normalise_the_last_axis) {
  sp_activation softmax, log_softmax;
  SP_ASSERT_OK(sp_activation_from_name("softmax", 3, "t", &softmax));
  SP_ASSERT_OK(sp_activation_from_name("log_softmax", 3, "t", &log_softmax));
  float x[] = {1, 2, 3, 1000, 1000, 1000}, y[6], z[6];
  sp_activation_forward(&softmax, x, y, 6, 3);
  sp_activation_forward(&log_softmax, x, z, 6, 3);
  double denominator = exp(1) + exp(2) + exp(3);
  cr_assert_float_eq(y[0], exp(1) / denominator, 1e-6);
  cr_assert_float_eq(y[4], 1.0f / 3.0f, 1e-6); /* large logits stay finite */
  cr_assert_float_eq(z[2], 3 - log(denominator), 1e-5);
}

Test(activation, every_activation_layer_passes_gradient_checks) {
  const char *names[] = {"relu6", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid", "tanh",
                         "softmax", "log_softmax", "softplus", "softsign", "swish", "exponential"};
  for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
    char config[96];
    snprintf(config, sizeof config, "{\"activation\": \"%s\"}", names[n]);
    sp_layer *layer = configured("Activation", config);
    sp_tensor *x = sp_test_random_tensor(2, (int64_t[]){4, 5}, 1.5, 31 + n);
    sp_check_layer_gradients(layer, 1, &x, NULL);
    sp_tensor_free(x);
    sp_layer_release(layer);
  }
}

Test(activation, gelu_approximate_uses_the_tanh_form) {
  sp_activation activation = {.kind = SP_ACTIVATION_GELU_APPROXIMATE};
  float x = 1.5f, y;
  sp_activation_forward(&activation, &x, &y, 1, 1);
  double want = 0.5 * 1.5 * (1 + tanh(sqrt(2 / M_PI) * (1.5 + 0.044715 * pow(1.5, 3))));
  cr_assert_float_eq(y, want, 1e-6);
}

Test(relu_layer, max_value_slope_and_threshold) {
  sp_layer *layer = configured("ReLU", "{\"max_value\": 6.0, \"negative_slope\": 0.1, \"threshold\": 0.5}");
  float values[] = {-2, 0.25f, 3, 9};
  sp_tensor *x = sp_tensor_wrap(SP_FLOAT32, 2, (int64_t[]){1, 4}, values);
  sp_tensor *y = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){1, 4});
  sp_scratch scratch = {0};
  sp_call call = {.input_count = 1, .inputs = &x, .output_count = 1, .outputs = &y, .scratch = &scratch};
  SP_ASSERT_OK(layer->class->forward(layer, &call));
  /* below threshold: 0.1*(x-0.5); above: min(x, 6) */
  const float expected[] = {-0.25f, -0.025f, 3, 6};
  sp_assert_close(sp_tensor_floats(y), expected, 4, 1e-6, 1e-7, "ReLU");
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_tensor *random = sp_test_random_tensor(2, (int64_t[]){3, 4}, 3.0, 2);
  sp_check_layer_gradients(layer, 1, &random, NULL);
  sp_tensor_free(random);
  sp_layer_release(layer);
}

Test(dropout, identity_at_inference_and_inverted_scaling_in_training) {
  sp_layer *layer = configured("Dropout", "{\"rate\": 0.25}");
  int64_t shape[] = {100, 100};
  sp_tensor *x = sp_tensor_new(SP_FLOAT32, 2, shape), *y = sp_tensor_new(SP_FLOAT32, 2, shape);
  for (int i = 0; i < 10000; i++) sp_tensor_floats(x)[i] = 1.0f;
  sp_scratch scratch = {0};
  sp_rng rng;
  sp_rng_seed(&rng, 3);
  sp_call call = {.input_count = 1, .inputs = &x, .output_count = 1, .outputs = &y, .scratch = &scratch, .rng = &rng};
  SP_ASSERT_OK(layer->class->forward(layer, &call));
  for (int i = 0; i < 10000; i++) cr_assert_eq(sp_tensor_floats(y)[i], 1.0f);
  call.training = 1;
  SP_ASSERT_OK(layer->class->forward(layer, &call));
  int dropped = 0;
  for (int i = 0; i < 10000; i++) {
    float v = sp_tensor_floats(y)[i];
    cr_assert(v == 0.0f || fabsf(v - 1.0f / 0.75f) < 1e-6f, "kept values are scaled by 1/(1-rate)");
    dropped += v == 0.0f;
  }
  /* Binomial(10000, 0.25): mean 2500, sd 43.3; 5 sd either side. */
  cr_assert(dropped > 2283 && dropped < 2717, "dropped %d of 10000 at rate 0.25", dropped);
  free(scratch.data);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_tensor *random = sp_test_random_tensor(2, (int64_t[]){4, 5}, 1.0, 9);
  sp_check_layer_gradients(layer, 1, &random, NULL);
  sp_tensor_free(random);
  sp_layer_release(layer);
}

Test(reshape, flatten_and_reshape_shapes) {
  sp_model *model = sp_sequential("r");
  SP_ASSERT_OK(sp_model_add(model, sp_input(3, (int64_t[]){2, 3, 4})));
  SP_ASSERT_OK(sp_model_add(model, sp_flatten()));
  SP_ASSERT_OK(sp_model_add(model, sp_reshape(2, (int64_t[]){-1, 6})));
  SP_ASSERT_OK(sp_model_build(model));
  int rank;
  int64_t shape[SP_MAX_RANK];
  SP_ASSERT_OK(sp_model_output_shape(model, 0, &rank, shape));
  cr_assert_eq(rank, 3);
  cr_assert_eq(shape[1], 4);
  cr_assert_eq(shape[2], 6);
  sp_model_free(model);
  model = sp_sequential("bad");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){10})));
  SP_ASSERT_FAILS(sp_model_add(model, sp_reshape(1, (int64_t[]){3})), SP_ERROR_MISMATCH, "cannot reshape input (None, 10)");
  sp_model_free(model);
}

/* Model-level gradient check through the runner: L = sum(R ⊙ outputs). */
static double model_loss(sp_runner *runner, sp_model *model, sp_tensor *input, sp_tensor **weights, sp_rng *rng) {
  sp_rng copy = *rng;
  cr_assert_eq(sp_runner_forward(runner, 1, &copy, 1, (const sp_tensor *const *)&input), SP_OK, "%s", sp_last_error());
  double total = 0;
  for (int o = 0; o < model->output_count; o++) {
    const sp_tensor *y = sp_runner_output(runner, o);
    for (int64_t i = 0; i < sp_tensor_count(y); i++) total += (double)sp_tensor_floats(y)[i] * sp_tensor_floats(weights[o])[i];
  }
  return total;
}

static void check_model_gradients(sp_model *model, sp_tensor *input) {
  sp_runner *runner;
  SP_ASSERT_OK(sp_runner_new(model, &runner));
  sp_rng rng;
  sp_rng_seed(&rng, 5);
  sp_tensor *weights[8];
  sp_rng sizing = rng;
  SP_ASSERT_OK(sp_runner_forward(runner, 1, &sizing, 1, (const sp_tensor *const *)&input));
  for (int o = 0; o < model->output_count; o++) {
    const sp_tensor *y = sp_runner_output(runner, o);
    weights[o] = sp_test_random_tensor(y->rank, y->shape, 1.0, 40 + (uint64_t)o);
  }
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 1);
  for (int v = 0; v < count; v++) memset(sp_variable_gradient(variables[v])->data, 0, variables[v]->value->size);
  model_loss(runner, model, input, weights, &rng);
  SP_ASSERT_OK(sp_runner_backward(runner, weights));
  for (int v = 0; v < count; v++) {
    float *values = sp_tensor_floats(variables[v]->value);
    sp_tensor *analytic = sp_tensor_copy(variables[v]->gradient);
    for (int64_t i = 0; i < sp_tensor_count(analytic); i++) {
      float original = values[i];
      values[i] = original + 1e-3f;
      double plus = model_loss(runner, model, input, weights, &rng);
      values[i] = original - 1e-3f;
      double minus = model_loss(runner, model, input, weights, &rng);
      values[i] = original;
      double numeric = (plus - minus) / 2e-3, a = sp_tensor_floats(analytic)[i];
      cr_assert(fabs(numeric - a) <= 2e-2 * fmax(fmax(fabs(numeric), fabs(a)), 1e-2),
                "%s/%s[%lld]: analytic %g numeric %g", variables[v]->layer->name, variables[v]->name, (long long)i, a, numeric);
    }
    sp_tensor_free(analytic);
  }
  for (int o = 0; o < model->output_count; o++) sp_tensor_free(weights[o]);
  free(variables);
  sp_runner_free(runner);
}

Test(graph, shared_layer_accumulates_gradients_from_every_call) {
  sp_model *model = sp_functional("shared");
  sp_symbol x, h, a, b, sum[1];
  SP_ASSERT_OK(sp_model_input(model, sp_input(1, (int64_t[]){3}), &x));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(3, "tanh"), 1, &x, 1, &h, NULL));
  sp_layer *shared = sp_dense(3, "sigmoid");
  SP_ASSERT_OK(sp_model_call(model, shared, 1, &x, 1, &a, NULL));
  SP_ASSERT_OK(sp_model_call(model, shared, 1, &h, 1, &b, NULL)); /* second call of the same layer */
  cr_assert_eq(model->layer_count, 3, "a shared layer is listed once");
  cr_assert_eq(model->nodes[b.node].layer_node_index, 1);
  sp_symbol outputs[] = {a, b};
  SP_ASSERT_OK(sp_model_set_outputs(model, 2, outputs));
  (void)sum;
  SP_ASSERT_OK(sp_model_initialize(model));
  sp_tensor *input = sp_test_random_tensor(2, (int64_t[]){4, 3}, 1.0, 77);
  check_model_gradients(model, input);
  sp_tensor_free(input);
  sp_model_free(model);
}

Test(graph, fan_out_tensor_sums_gradients) {
  sp_model *model = sp_sequential("fan");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){4})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(5, "elu")));
  SP_ASSERT_OK(sp_model_add(model, sp_dropout(0.3)));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(2, "softmax")));
  SP_ASSERT_OK(sp_model_build(model));
  sp_tensor *input = sp_test_random_tensor(2, (int64_t[]){6, 4}, 1.0, 78);
  check_model_gradients(model, input);
  sp_tensor_free(input);
  sp_model_free(model);
}

Test(graph, nested_model_runs_inlined_and_trains) {
  sp_model *inner = sp_sequential("inner");
  SP_ASSERT_OK(sp_model_add(inner, sp_input(1, (int64_t[]){3})));
  SP_ASSERT_OK(sp_model_add(inner, sp_dense(4, "relu")));
  sp_model *outer = sp_functional("outer");
  sp_symbol x, h, y;
  SP_ASSERT_OK(sp_model_input(outer, sp_input(1, (int64_t[]){3}), &x));
  SP_ASSERT_OK(sp_model_call(outer, sp_model_as_layer(inner), 1, &x, 1, &h, NULL));
  SP_ASSERT_OK(sp_model_call(outer, sp_dense(2, NULL), 1, &h, 1, &y, NULL));
  SP_ASSERT_OK(sp_model_set_outputs(outer, 1, &y));
  cr_assert_eq(outer->plan->step_count, 2, "the nested model's Dense and the outer Dense");
  cr_assert_eq(sp_model_parameter_count(outer, 0), 3 * 4 + 4 + 4 * 2 + 2);
  sp_tensor *input = sp_test_random_tensor(2, (int64_t[]){5, 3}, 1.0, 79);
  SP_ASSERT_OK(sp_model_initialize(outer));
  check_model_gradients(outer, input);
  sp_tensor_free(input);
  sp_model_free(outer);
}

Test(graph, names_layers_like_keras_and_refuses_duplicates) {
  sp_model *model = sp_sequential(NULL);
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){2})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(2, NULL)));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(2, NULL)));
  cr_assert_str_eq(model->layers[0]->name, "input_layer");
  cr_assert_str_eq(model->layers[1]->name, "dense");
  cr_assert_str_eq(model->layers[2]->name, "dense_1");
  SP_ASSERT_FAILS(sp_model_add(model, sp_layer_new("Dense", "{\"units\": 1, \"name\": \"dense\"}")),
                  SP_ERROR_INVALID_ARGUMENT, "already has a layer named 'dense'");
  sp_model_free(model);
}

Test(graph, predict_names_the_input_on_a_shape_mismatch) {
  sp_model *model = sp_sequential("classifier");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){784})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(10, NULL)));
  sp_tensor *input = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){32, 785});
  int count;
  sp_tensor **outputs;
  SP_ASSERT_FAILS(sp_model_predict(model, 1, (const sp_tensor *const *)&input, &count, &outputs), SP_ERROR_MISMATCH,
                  "input 'input_layer' of model 'classifier' expects shape (None, 784), got (32, 785)");
  sp_tensor_free(input);
  sp_model_free(model);
}

Test(config_errors, name_the_layer_and_the_problem) {
  cr_assert_null(sp_layer_new("Dense", "{\"units\": \"ten\", \"name\": \"d\"}"));
  cr_assert(strstr(sp_last_error(), "layer 'd' (Dense): 'units' must be an integer, found \"ten\""), "%s", sp_last_error());
  cr_assert_null(sp_layer_new("Dense", "{\"name\": \"d2\"}"));
  cr_assert(strstr(sp_last_error(), "'units' must be a positive integer"), "%s", sp_last_error());
  cr_assert_null(sp_layer_new("Dense", "{\"units\": 2, \"activation\": \"wiggle\"}"));
  cr_assert(strstr(sp_last_error(), "unknown activation 'wiggle'"), "%s", sp_last_error());
  cr_assert_null(sp_layer_new("Dense", "{\"units\": 2, \"kernel_initializer\": \"golden\"}"));
  cr_assert(strstr(sp_last_error(), "unknown initializer 'golden'"), "%s", sp_last_error());
  cr_assert_null(sp_layer_new("Conv9D", "{}"));
  cr_assert(strstr(sp_last_error(), "unknown layer class 'Conv9D'") && strstr(sp_last_error(), "Dense") &&
            strstr(sp_last_error(), "sp_register_layer_class"), "%s", sp_last_error());
  sp_model *model = sp_sequential("m");
  SP_ASSERT_FAILS(sp_model_add(model, sp_layer_new("Dropout", "{\"rate\": 1.5}")), SP_ERROR_FORMAT, "rate must be in [0, 1)");
  sp_model_free(model);
}

/* ---- initializers ---- */

static void moments(const sp_tensor *t, double *mean, double *variance, double *low, double *high) {
  const float *v = sp_tensor_floats(t);
  int64_t n = sp_tensor_count(t);
  double sum = 0, squares = 0;
  *low = INFINITY;
  *high = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    sum += v[i];
    squares += (double)v[i] * v[i];
    *low = fmin(*low, v[i]);
    *high = fmax(*high, v[i]);
  }
  *mean = sum / n;
  *variance = squares / n - *mean * *mean;
}

static sp_tensor *filled(const char *spec_text, int rank, const int64_t *shape) {
  json_object *spec;
  SP_ASSERT_OK(sp_json_parse(spec_text, strlen(spec_text), "spec", &spec));
  sp_tensor *t = sp_tensor_new(SP_FLOAT32, rank, shape);
  sp_rng rng;
  sp_rng_seed(&rng, 2024);
  SP_ASSERT_OK(sp_initializer_fill(spec, t, &rng, "test"));
  json_object_put(spec);
  return t;
}

Test(initializer, variance_scaling_family_has_keras_statistics) {
  int64_t shape[] = {400, 600}; /* fan_in 400, fan_out 600, fan_avg 500 */
  double mean, variance, low, high;
  sp_tensor *t = filled("\"glorot_uniform\"", 2, shape);
  moments(t, &mean, &variance, &low, &high);
  double limit = sqrt(6.0 / 1000.0);
  cr_assert(low >= -limit && high <= limit, "glorot_uniform within ±sqrt(6/(fan_in+fan_out))");
  cr_assert(fabs(variance - limit * limit / 3) < 0.03 * limit * limit / 3, "variance %g", variance);
  sp_tensor_free(t);
  t = filled("{\"class_name\": \"HeNormal\", \"config\": {\"seed\": null}}", 2, shape);
  moments(t, &mean, &variance, &low, &high);
  cr_assert(fabs(variance - 2.0 / 400) < 0.03 * 2.0 / 400, "he_normal variance %g, expected 2/fan_in", variance);
  double deviation = sqrt(2.0 / 400) / 0.87962566103423978;
  cr_assert(low >= -2 * deviation && high <= 2 * deviation, "truncated at two standard deviations");
  sp_tensor_free(t);
  t = filled("{\"class_name\": \"VarianceScaling\", \"config\": {\"scale\": 3.0, \"mode\": \"fan_out\", \"distribution\": \"untruncated_normal\"}}", 2, shape);
  moments(t, &mean, &variance, &low, &high);
  cr_assert(fabs(variance - 3.0 / 600) < 0.03 * 3.0 / 600, "untruncated normal variance %g", variance);
  sp_tensor_free(t);
}

Test(initializer, conv_kernels_use_the_receptive_field_in_fans) {
  double fan_in, fan_out;
  sp_compute_fans(4, (int64_t[]){3, 3, 16, 32}, &fan_in, &fan_out);
  cr_assert_eq(fan_in, 9 * 16);
  cr_assert_eq(fan_out, 9 * 32);
}

Test(initializer, orthogonal_columns_are_orthonormal) {
  sp_tensor *t = filled("{\"class_name\": \"Orthogonal\", \"config\": {\"gain\": 1.0}}", 2, (int64_t[]){20, 8});
  const float *q = sp_tensor_floats(t);
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) {
      double dot = 0;
      for (int r = 0; r < 20; r++) dot += (double)q[r * 8 + i] * q[r * 8 + j];
      cr_assert(fabs(dot - (i == j)) < 1e-5, "QᵀQ[%d][%d] = %g", i, j, dot);
    }
  sp_tensor_free(t);
}

Test(initializer, constant_uniform_normal_and_seeds) {
  double mean, variance, low, high;
  sp_tensor *t = filled("{\"class_name\": \"Constant\", \"config\": {\"value\": 0.25}}", 1, (int64_t[]){10});
  moments(t, &mean, &variance, &low, &high);
  cr_assert(low == 0.25 && high == 0.25);
  sp_tensor_free(t);
  t = filled("{\"class_name\": \"RandomUniform\", \"config\": {\"minval\": -1.0, \"maxval\": 3.0}}", 1, (int64_t[]){100000});
  moments(t, &mean, &variance, &low, &high);
  cr_assert(low >= -1 && high < 3 && fabs(mean - 1) < 0.02 && fabs(variance - 16.0 / 12) < 0.03);
  sp_tensor_free(t);
  t = filled("{\"class_name\": \"TruncatedNormal\", \"config\": {\"mean\": 1.0, \"stddev\": 0.5}}", 1, (int64_t[]){100000});
  moments(t, &mean, &variance, &low, &high);
  cr_assert(low >= 0 && high <= 2 && fabs(mean - 1) < 0.01, "truncated normal within mean ± 2 stddev");
  sp_tensor_free(t);
  sp_tensor *a = filled("{\"class_name\": \"RandomNormal\", \"config\": {\"seed\": 42}}", 1, (int64_t[]){16});
  sp_tensor *b = filled("{\"class_name\": \"RandomNormal\", \"config\": {\"seed\": 42}}", 1, (int64_t[]){16});
  cr_assert_eq(memcmp(a->data, b->data, a->size), 0, "the same seed gives the same values");
  sp_tensor_free(a);
  sp_tensor_free(b);
}

Test(regularizer, l1_l2_penalties_and_gradients) {
  json_object *spec;
  const char *text = "{\"class_name\": \"L1L2\", \"config\": {\"l1\": 0.1, \"l2\": 0.01}}";
  SP_ASSERT_OK(sp_json_parse(text, strlen(text), "t", &spec));
  sp_regularizer regularizer;
  SP_ASSERT_OK(sp_regularizer_parse(spec, "t", &regularizer));
  float w[] = {2, -1};
  sp_tensor *value = sp_tensor_wrap(SP_FLOAT32, 1, (int64_t[]){2}, w);
  sp_tensor *gradient = sp_tensor_new(SP_FLOAT32, 1, (int64_t[]){2});
  double penalty = sp_regularizer_apply(&regularizer, value, gradient);
  cr_assert_float_eq(penalty, 0.1 * 3 + 0.01 * 5, 1e-9);
  cr_assert_float_eq(sp_tensor_floats(gradient)[0], 0.1 + 0.02 * 2, 1e-7);
  cr_assert_float_eq(sp_tensor_floats(gradient)[1], -0.1 - 0.02, 1e-7);
  json_object_put(spec);
  sp_tensor_free(value);
  sp_tensor_free(gradient);
}

Test(constraint, max_norm_and_unit_norm_project_columns) {
  json_object *spec;
  const char *text = "{\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 1.0, \"axis\": 0}}";
  SP_ASSERT_OK(sp_json_parse(text, strlen(text), "t", &spec));
  sp_constraint constraint;
  SP_ASSERT_OK(sp_constraint_parse(spec, "t", &constraint));
  float w[] = {3, 0.1f, 4, 0.1f}; /* columns: (3,4) norm 5 → scaled to norm 1; (0.1,0.1) kept */
  sp_tensor *value = sp_tensor_wrap(SP_FLOAT32, 2, (int64_t[]){2, 2}, w);
  sp_constraint_apply(&constraint, value);
  cr_assert_float_eq(w[0], 0.6f, 1e-5);
  cr_assert_float_eq(w[2], 0.8f, 1e-5);
  cr_assert_float_eq(w[1], 0.1f, 1e-5);
  json_object_put(spec);
  sp_tensor_free(value);
}
