

/* Tests of SimpleRNN, GRU, LSTM and Embedding: outputs against the Keras cell formulas
 * evaluated here in double precision (one step by hand, whole sequences by a plain loop),
 * backward through time against finite differences for every option combination, dropout
 * masks, variable layouts, refused configs, and the Keras-trained TF.js Embedding+GRU
 * fixture (tfjs-e2e-load-predict) against its test-stated output. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/json.h"
#include "gradient_check.h"
#include "layer_run.h"
#include "nn/model.h"
#include "savepoint/model.h"
#include "test_support.h"

static sp_layer *configured(const char *class_name, const char *json) {
  sp_layer *layer = sp_layer_new(class_name, json);
  cr_assert_not_null(layer, "%s: %s", class_name, sp_last_error());
  return layer;
}

/* ---- reference cells (Keras formulas, double precision, activations tanh and sigmoid) ---- */

typedef enum { SIMPLE, GRU_AFTER, GRU_BEFORE, LSTM } cell;

typedef struct reference {
  cell kind;
  int features, units;
  const float *kernel, *recurrent, *bias; /* Keras layouts; bias may be NULL */
} reference;

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

/* Σ_f v[f]·m[f][column] for an m with `width` columns. */
static double dot_column(const double *v, int count, const float *m, int width, int column) {
  double sum = 0;
  for (int i = 0; i < count; i++) sum += v[i] * m[i * width + column];
  return sum;
}

static double bias_at(const reference *ref, int index) { return ref->bias ? ref->bias[index] : 0; }

static void simple_step(const reference *ref, const double *x, double *h) {
  int U = ref->units;
  double next[16];
  for (int u = 0; u < U; u++)
    next[u] = tanh(dot_column(x, ref->features, ref->kernel, U, u) + dot_column(h, U, ref->recurrent, U, u) + bias_at(ref, u));
  memcpy(h, next, (size_t)U * sizeof *h);
}

/* GRU gates z, r, h. reset_after: bias (2, 3U) with the recurrent bias in row 1; r multiplies
 * (h·U_h + b_rh). reset_before: bias (3U,), r multiplies h before U_h. */
static void gru_step(const reference *ref, const double *x, double *h) {
  int U = ref->units, W = 3 * U, after = ref->kind == GRU_AFTER;
  double z[16], r[16], next[16];
  for (int u = 0; u < U; u++) {
    double rz = dot_column(h, U, ref->recurrent, W, u) + (after ? bias_at(ref, W + u) : 0);
    double rr = dot_column(h, U, ref->recurrent, W, U + u) + (after ? bias_at(ref, W + U + u) : 0);
    z[u] = sigmoid(dot_column(x, ref->features, ref->kernel, W, u) + bias_at(ref, u) + rz);
    r[u] = sigmoid(dot_column(x, ref->features, ref->kernel, W, U + u) + bias_at(ref, U + u) + rr);
  }
  double reset_h[16];
  for (int j = 0; j < U; j++) reset_h[j] = r[j] * h[j];
  for (int u = 0; u < U; u++) {
    double xh = dot_column(x, ref->features, ref->kernel, W, 2 * U + u) + bias_at(ref, 2 * U + u);
    double recurrent = after ? r[u] * (dot_column(h, U, ref->recurrent, W, 2 * U + u) + bias_at(ref, W + 2 * U + u))
                             : dot_column(reset_h, U, ref->recurrent, W, 2 * U + u);
    next[u] = z[u] * h[u] + (1 - z[u]) * tanh(xh + recurrent);
  }
  memcpy(h, next, (size_t)U * sizeof *h);
}

/* LSTM gates i, f, c, o. */
static void lstm_step(const reference *ref, const double *x, double *h, double *c) {
  int U = ref->units, W = 4 * U;
  double a[64];
  for (int g = 0; g < W; g++)
    a[g] = dot_column(x, ref->features, ref->kernel, W, g) + dot_column(h, U, ref->recurrent, W, g) + bias_at(ref, g);
  for (int u = 0; u < U; u++) {
    c[u] = sigmoid(a[U + u]) * c[u] + sigmoid(a[u]) * tanh(a[2 * U + u]);
    h[u] = sigmoid(a[3 * U + u]) * tanh(c[u]);
  }
}

/* Runs the reference over x (batch, steps, features); sequence gets h after each processed
 * step in processing order; h and c end with the final states. */
static void reference_run(const reference *ref, const float *x, int batch, int steps, int go_backwards,
                          double *sequence, double *h_final, double *c_final) {
  int F = ref->features, U = ref->units;
  for (int b = 0; b < batch; b++) {
    double h[16] = {0}, c[16] = {0}, input[16];
    for (int s = 0; s < steps; s++) {
      int t = go_backwards ? steps - 1 - s : s;
      for (int f = 0; f < F; f++) input[f] = x[(b * steps + t) * F + f];
      if (ref->kind == SIMPLE) simple_step(ref, input, h);
      else if (ref->kind == LSTM) lstm_step(ref, input, h, c);
      else gru_step(ref, input, h);
      for (int u = 0; u < U; u++) sequence[(b * steps + s) * U + u] = h[u];
    }
    for (int u = 0; u < U; u++) {
      h_final[b * U + u] = h[u];
      c_final[b * U + u] = c[u];
    }
  }
}

static void assert_close_double(const float *actual, const double *expected, int count, const char *what) {
  for (int i = 0; i < count; i++)
    cr_assert(fabs(actual[i] - expected[i]) <= 1e-5 + 1e-5 * fabs(expected[i]), "%s[%d]: %.8g, formula %.8g", what, i,
              actual[i], expected[i]);
}

static const char *class_of(cell kind) { return kind == SIMPLE ? "SimpleRNN" : kind == LSTM ? "LSTM" : "GRU"; }

static sp_layer *cell_layer(cell kind, const char *options) {
  char config[512];
  snprintf(config, sizeof config, "{\"units\": 3%s%s}", kind == GRU_AFTER ? ", \"reset_after\": true"
                                                        : kind == GRU_BEFORE ? ", \"reset_after\": false" : "",
           options);
  return configured(class_of(kind), config);
}

/* Fills every variable with N(0, 0.5²) values. */
static void randomize(sp_layer *layer, uint64_t seed) {
  for (int v = 0; v < layer->variable_count; v++) {
    sp_tensor *random = sp_test_random_tensor(layer->variables[v]->value->rank, layer->variables[v]->value->shape, 0.5,
                                              seed + (uint64_t)v);
    memcpy(layer->variables[v]->value->data, random->data, random->size);
    sp_tensor_free(random);
  }
}

static void check_against_reference(cell kind, int go_backwards) {
  enum { B = 2, T = 4, F = 3, U = 3 };
  char options[160];
  snprintf(options, sizeof options, ", \"return_sequences\": true, \"return_state\": true, \"go_backwards\": %s",
           go_backwards ? "true" : "false");
  sp_layer *layer = cell_layer(kind, options);
  sp_tensor *x = sp_test_random_tensor(3, (int64_t[]){B, T, F}, 1.0, 17);
  sp_test_build_layer(layer, 1, &x);
  randomize(layer, 100 + kind);
  sp_test_layer_run run = {0};
  sp_test_forward(layer, 1, &x, 0, 0, &run);
  cr_assert_eq(run.output_count, kind == LSTM ? 3 : 2, "return_state adds h (and c for LSTM)");
  reference ref = {kind, F, U, sp_tensor_floats(sp_test_variable(layer, "kernel")->value),
                   sp_tensor_floats(sp_test_variable(layer, "recurrent_kernel")->value),
                   sp_tensor_floats(sp_test_variable(layer, "bias")->value)};
  double sequence[B * T * U], h[B * U], c[B * U];
  reference_run(&ref, sp_tensor_floats(x), B, T, go_backwards, sequence, h, c);
  assert_close_double(sp_tensor_floats(run.outputs[0]), sequence, B * T * U, "sequence");
  assert_close_double(sp_tensor_floats(run.outputs[1]), h, B * U, "state h");
  if (kind == LSTM) assert_close_double(sp_tensor_floats(run.outputs[2]), c, B * U, "state c");
  sp_test_layer_run_free(&run);
  sp_tensor_free(x);
  sp_layer_release(layer);
}

Test(recurrent, simple_rnn_one_and_two_steps_by_hand) {
  sp_layer *layer = configured("SimpleRNN", "{\"units\": 1, \"return_sequences\": true}");
  float xs[] = {1, 2, 0, 1}; /* one sample, two steps, two features */
  sp_tensor *x = sp_test_tensor(3, (int64_t[]){1, 2, 2}, xs);
  sp_test_build_layer(layer, 1, &x);
  sp_test_set_variable(layer, "kernel", (float[]){0.5f, -1});
  sp_test_set_variable(layer, "recurrent_kernel", (float[]){2});
  sp_test_set_variable(layer, "bias", (float[]){0.1f});
  sp_test_layer_run run = {0};
  sp_test_forward(layer, 1, &x, 0, 0, &run);
  double h1 = tanh(1 * 0.5 + 2 * -1 + 0.1), h2 = tanh(0 * 0.5 + 1 * -1 + 2 * h1 + 0.1);
  assert_close_double(sp_tensor_floats(run.outputs[0]), (double[]){h1, h2}, 2, "SimpleRNN");
  sp_test_layer_run_free(&run);
  sp_tensor_free(x);
  sp_layer_release(layer);
}

Test(recurrent, lstm_one_step_by_hand_in_gate_order_i_f_c_o) {
  sp_layer *layer = configured("LSTM", "{\"units\": 1, \"return_state\": true}");
  sp_tensor *x = sp_test_tensor(3, (int64_t[]){1, 1, 1}, (float[]){2});
  sp_test_build_layer(layer, 1, &x);
  sp_test_set_variable(layer, "kernel", (float[]){0.1f, 0.2f, 0.3f, 0.4f}); /* i, f, c, o */
  sp_test_set_variable(layer, "recurrent_kernel", (float[]){9, 9, 9, 9});   /* h0 = 0: no effect */
  sp_test_set_variable(layer, "bias", (float[]){0, 1, 0, -0.5f});
  sp_test_layer_run run = {0};
  sp_test_forward(layer, 1, &x, 0, 0, &run);
  double i = sigmoid(0.2), f = sigmoid(0.4 + 1), g = tanh(0.6), o = sigmoid(0.8 - 0.5);
  double c = f * 0 + i * g, h = o * tanh(c);
  assert_close_double(sp_tensor_floats(run.outputs[0]), &h, 1, "LSTM output");
  assert_close_double(sp_tensor_floats(run.outputs[1]), &h, 1, "LSTM h");
  assert_close_double(sp_tensor_floats(run.outputs[2]), &c, 1, "LSTM c");
  sp_test_layer_run_free(&run);
  sp_tensor_free(x);
  sp_layer_release(layer);
}

Test(recurrent, gru_one_step_by_hand_reset_after_and_before) {
  /* units 1, x = 1, h0 = 0: z = σ(wz + bz + brz), r = σ(wr + br + brr);
     after:  hh = tanh(wh + bh + r·brh);  before: hh = tanh(wh + bh) (r·h0 = 0); h = (1 − z)·hh */
  for (int after = 0; after < 2; after++) {
    sp_layer *layer = configured("GRU", after ? "{\"units\": 1, \"reset_after\": true}" : "{\"units\": 1, \"reset_after\": false}");
    sp_tensor *x = sp_test_tensor(3, (int64_t[]){1, 1, 1}, (float[]){1});
    sp_test_build_layer(layer, 1, &x);
    sp_variable *bias = sp_test_variable(layer, "bias");
    cr_assert_eq(bias->value->rank, after ? 2 : 1, "reset_after bias is (2, 3·units), else (3·units,)");
    sp_test_set_variable(layer, "kernel", (float[]){0.3f, -0.2f, 0.7f});
    sp_test_set_variable(layer, "recurrent_kernel", (float[]){5, 5, 5});
    sp_test_set_variable(layer, "bias", after ? (float[]){0.1f, 0.2f, 0.3f, -0.4f, 0.5f, 0.6f} : (float[]){0.1f, 0.2f, 0.3f});
    sp_test_layer_run run = {0};
    sp_test_forward(layer, 1, &x, 0, 0, &run);
    double z = sigmoid(0.3 + 0.1 + (after ? -0.4 : 0)), r = sigmoid(-0.2 + 0.2 + (after ? 0.5 : 0));
    double hh = tanh(0.7 + 0.3 + (after ? r * 0.6 : 0)), h = (1 - z) * hh;
    assert_close_double(sp_tensor_floats(run.outputs[0]), &h, 1, after ? "GRU reset_after" : "GRU reset_before");
    sp_test_layer_run_free(&run);
    sp_tensor_free(x);
    sp_layer_release(layer);
  }
}

Test(recurrent, sequences_and_states_match_the_cell_formulas) {
  cell kinds[] = {SIMPLE, GRU_AFTER, GRU_BEFORE, LSTM};
  for (int k = 0; k < 4; k++)
    for (int backwards = 0; backwards < 2; backwards++) check_against_reference(kinds[k], backwards);
}

Test(recurrent, go_backwards_returns_the_sequence_in_processing_order) {
  /* Output step 0 has seen only the last input step; the final output equals a forward run on
     the time-reversed input. */
  sp_layer *backward = configured("GRU", "{\"units\": 2, \"go_backwards\": true, \"return_sequences\": true}");
  sp_layer *forward = configured("GRU", "{\"units\": 2, \"return_sequences\": true}");
  sp_tensor *x = sp_test_random_tensor(3, (int64_t[]){1, 3, 2}, 1.0, 4);
  float reversed_values[6], *values = sp_tensor_floats(x);
  for (int t = 0; t < 3; t++) memcpy(reversed_values + 2 * t, values + 2 * (2 - t), 2 * sizeof(float));
  sp_tensor *reversed = sp_test_tensor(3, (int64_t[]){1, 3, 2}, reversed_values);
  sp_tensor *last = sp_test_tensor(3, (int64_t[]){1, 1, 2}, values + 4);
  sp_test_build_layer(backward, 1, &x);
  sp_test_build_layer(forward, 1, &x);
  randomize(backward, 9);
  randomize(forward, 9);
  sp_test_layer_run a = {0}, b = {0}, c = {0};
  sp_test_forward(backward, 1, &x, 0, 0, &a);
  sp_test_forward(forward, 1, &reversed, 0, 0, &b);
  sp_assert_close(sp_tensor_floats(a.outputs[0]), sp_tensor_floats(b.outputs[0]), 6, 1e-6, 1e-7,
                  "go_backwards = forward on reversed time");
  sp_test_forward(forward, 1, &last, 0, 0, &c);
  sp_assert_close(sp_tensor_floats(a.outputs[0]), sp_tensor_floats(c.outputs[0]), 2, 1e-6, 1e-7,
                  "output step 0 follows the last input step");
  sp_test_layer_run_free(&a);
  sp_test_layer_run_free(&b);
  sp_test_layer_run_free(&c);
  sp_tensor_free(x);
  sp_tensor_free(reversed);
  sp_tensor_free(last);
  sp_layer_release(backward);
  sp_layer_release(forward);
}

/* ---- backward through time ---- */

/* Steps of 3e-3 keep float32 rounding in the loss (sums over whole sequences) well below the
 * tolerance; every activation used here is smooth or has its kinks far from the samples. */
static void check_gradients(const char *class_name, const char *config, uint64_t seed) {
  sp_layer *layer = configured(class_name, config);
  sp_tensor *x = sp_test_random_tensor(3, (int64_t[]){2, 4, 3}, 1.0, seed);
  sp_gradient_check_options options = {.seed = seed, .skip_input_index = -1, .samples = 30, .step = 3e-3};
  sp_check_layer_gradients(layer, 1, &x, &options);
  sp_tensor_free(x);
  sp_layer_release(layer);
}

Test(recurrent_gradients, every_cell_and_output_option) {
  const char *cells[][2] = {{"SimpleRNN", ""},
                            {"GRU", ", \"reset_after\": true"},
                            {"GRU", ", \"reset_after\": false"},
                            {"LSTM", ""}};
  uint64_t seed = 1;
  for (int c = 0; c < 4; c++)
    for (int options = 0; options < 8; options++) {
      char config[256];
      snprintf(config, sizeof config, "{\"units\": 3, \"return_sequences\": %s, \"return_state\": %s, "
               "\"go_backwards\": %s%s}", options & 1 ? "true" : "false", options & 2 ? "true" : "false",
               options & 4 ? "true" : "false", cells[c][1]);
      check_gradients(cells[c][0], config, seed++);
    }
}

Test(recurrent_gradients, without_bias_and_with_other_activations) {
  check_gradients("SimpleRNN", "{\"units\": 2, \"activation\": \"softplus\", \"use_bias\": false, \"return_sequences\": true}", 50);
  check_gradients("GRU", "{\"units\": 2, \"use_bias\": false, \"reset_after\": true}", 51);
  check_gradients("GRU", "{\"units\": 2, \"use_bias\": false, \"reset_after\": false, \"return_sequences\": true}", 52);
  check_gradients("LSTM", "{\"units\": 2, \"use_bias\": false, \"activation\": \"softsign\"}", 53);
  check_gradients("GRU", "{\"units\": 3, \"recurrent_activation\": \"hard_sigmoid\", \"activation\": \"elu\"}", 54);
  check_gradients("LSTM", "{\"units\": 3, \"recurrent_activation\": \"hard_sigmoid\", \"return_sequences\": true}", 55);
}

Test(recurrent_gradients, with_dropout_masks_shared_and_per_gate) {
  /* The check re-seeds the generator before every forward, so the masks are fixed. */
  const char *dropouts[] = {", \"dropout\": 0.3", ", \"recurrent_dropout\": 0.3",
                            ", \"dropout\": 0.25, \"recurrent_dropout\": 0.4", ", \"dropout\": 0.3, \"implementation\": 1"};
  const char *cells[][2] = {{"SimpleRNN", ""}, {"GRU", ", \"reset_after\": true"},
                            {"GRU", ", \"reset_after\": false"}, {"LSTM", ""}};
  uint64_t seed = 60;
  for (int c = 0; c < 4; c++)
    for (int d = 0; d < 4; d++) {
      char config[256];
      snprintf(config, sizeof config, "{\"units\": 3, \"return_sequences\": true%s%s}", cells[c][1], dropouts[d]);
      check_gradients(cells[c][0], config, seed++);
    }
}

/* ---- dropout ---- */

Test(recurrent, dropout_uses_one_input_mask_per_sequence_and_only_in_training) {
  /* Linear SimpleRNN with kernel = I, recurrent kernel = 0, no bias: output[t] = x[t] ⊙ mask. With x
     equal at every step, each output step must equal the others, each element 0 or x/(1 − rate). */
  sp_layer *layer = configured("SimpleRNN", "{\"units\": 4, \"activation\": \"linear\", \"use_bias\": false, "
                                            "\"return_sequences\": true, \"dropout\": 0.5}");
  enum { B = 8, T = 5, F = 4 };
  float values[B * T * F];
  for (int i = 0; i < B * T * F; i++) values[i] = (float)(1 + (i % F));
  sp_tensor *x = sp_test_tensor(3, (int64_t[]){B, T, F}, values);
  sp_test_build_layer(layer, 1, &x);
  float identity[F * F] = {0}, zeros[F * F] = {0};
  for (int f = 0; f < F; f++) identity[f * F + f] = 1;
  sp_test_set_variable(layer, "kernel", identity);
  sp_test_set_variable(layer, "recurrent_kernel", zeros);
  sp_test_layer_run run = {0};
  sp_test_forward(layer, 1, &x, 0, 0, &run);
  sp_assert_close(sp_tensor_floats(run.outputs[0]), values, B * T * F, 0, 1e-6, "inference ignores dropout");
  sp_test_forward(layer, 1, &x, 1, 11, &run);
  const float *y = sp_tensor_floats(run.outputs[0]);
  int dropped = 0;
  for (int b = 0; b < B; b++)
    for (int f = 0; f < F; f++) {
      float first = y[(b * T) * F + f];
      cr_assert(first == 0 || fabsf(first - 2 * values[f]) < 1e-5f, "kept inputs are scaled by 1/(1 − rate)");
      dropped += first == 0;
      for (int t = 1; t < T; t++) cr_assert_eq(y[(b * T + t) * F + f], first, "the mask is reused at every step");
    }
  cr_assert(dropped > 0 && dropped < B * F, "some but not all of %d inputs dropped (%d)", B * F, dropped);
  sp_test_layer_run_free(&run);
  sp_tensor_free(x);
  sp_layer_release(layer);
}

/* ---- variables and configs ---- */

Test(recurrent, variables_follow_keras_names_shapes_and_forget_bias) {
  sp_model *model = sp_sequential("rnn");
  SP_ASSERT_OK(sp_model_add(model, sp_input(2, (int64_t[]){7, 5})));
  SP_ASSERT_OK(sp_model_add(model, sp_lstm(4, 1)));
  SP_ASSERT_OK(sp_model_add(model, sp_gru(3, 1)));
  SP_ASSERT_OK(sp_model_add(model, sp_simple_rnn(2, "tanh", 0)));
  SP_ASSERT_OK(sp_model_build(model));
  SP_ASSERT_OK(sp_model_initialize(model));
  const sp_layer *lstm = model->layers[1], *gru = model->layers[2], *simple = model->layers[3];
  const char *names[] = {"kernel", "recurrent_kernel", "bias"};
  for (int v = 0; v < 3; v++) {
    cr_assert_str_eq(lstm->variables[v]->name, names[v]);
    cr_assert_str_eq(gru->variables[v]->name, names[v]);
  }
  cr_assert_eq(lstm->variables[0]->value->shape[1], 16);
  cr_assert_eq(lstm->variables[1]->value->shape[0], 4);
  cr_assert_eq(gru->variables[0]->value->shape[0], 4, "the GRU reads the LSTM's 4 units");
  cr_assert(gru->variables[2]->value->rank == 2 && gru->variables[2]->value->shape[0] == 2 &&
            gru->variables[2]->value->shape[1] == 9, "Keras 3 GRU bias is (2, 3·units)");
  cr_assert_eq(simple->variables[1]->value->shape[1], 2);
  const float *bias = sp_tensor_floats(lstm->variables[2]->value);
  for (int u = 0; u < 16; u++) cr_assert_eq(bias[u], u >= 4 && u < 8 ? 1.0f : 0.0f, "unit_forget_bias: ones on f");
  cr_assert_eq(sp_model_parameter_count(model, 0), (5 * 16 + 4 * 16 + 16) + (4 * 9 + 3 * 9 + 18) + (3 * 2 + 2 * 2 + 2));
  int rank;
  int64_t shape[SP_MAX_RANK];
  SP_ASSERT_OK(sp_model_output_shape(model, 0, &rank, shape));
  cr_assert(rank == 2 && shape[1] == 2);
  sp_model_free(model);
}

Test(recurrent, built_models_round_trip_through_keras_configs) {
  sp_model *model = sp_sequential("round_trip");
  SP_ASSERT_OK(sp_model_add(model, sp_input(2, (int64_t[]){6, 3})));
  SP_ASSERT_OK(sp_model_add(model, sp_lstm(4, 1)));
  SP_ASSERT_OK(sp_model_add(model, sp_batch_normalization()));
  SP_ASSERT_OK(sp_model_add(model, sp_layer_normalization()));
  SP_ASSERT_OK(sp_model_add(model, sp_simple_rnn(3, "tanh", 1)));
  SP_ASSERT_OK(sp_model_add(model, sp_gru(2, 0)));
  SP_ASSERT_OK(sp_model_build(model));
  for (int major = 2; major <= 3; major++) {
    char *text = sp_model_to_config(model, major);
    cr_assert_not_null(text, "%s", sp_last_error());
    sp_model *copy;
    SP_ASSERT_OK(sp_model_from_config(text, strlen(text), &copy));
    SP_ASSERT_OK(sp_model_build(copy));
    cr_assert_eq(sp_model_parameter_count(copy, 0), sp_model_parameter_count(model, 0), "Keras %d config", major);
    cr_assert_eq(sp_model_parameter_count(copy, 1), sp_model_parameter_count(model, 1), "Keras %d config", major);
    const sp_layer *gru = copy->layers[copy->layer_count - 1];
    cr_assert_eq(gru->variables[2]->value->rank, 2, "reset_after=true survives the Keras %d config", major);
    sp_model_free(copy);
    free(text);
  }
  sp_model_free(model);
}

/* A layer from config text as a Keras 2 file would give it. */
static sp_layer *keras2_layer(const char *class_name, const char *text) {
  json_object *config;
  SP_ASSERT_OK(sp_json_parse(text, strlen(text), "config", &config));
  sp_layer *layer;
  SP_ASSERT_OK(sp_layer_create(class_name, config, NULL, 2, &layer));
  json_object_put(config);
  return layer;
}

Test(recurrent, keras2_configs_default_to_reset_before_and_keras1_names_work) {
  sp_layer *gru = keras2_layer("GRU", "{\"output_dim\": 3, \"inner_activation\": \"hard_sigmoid\", \"dropout_W\": 0.2}");
  sp_tensor *x = sp_test_random_tensor(3, (int64_t[]){1, 2, 4}, 1.0, 3);
  sp_test_build_layer(gru, 1, &x);
  cr_assert_eq(sp_test_variable(gru, "bias")->value->rank, 1, "a Keras 2 config without reset_after is reset-before");
  cr_assert_eq(sp_test_variable(gru, "kernel")->value->shape[1], 9);
  sp_tensor_free(x);
  sp_layer_release(gru);
}

Test(recurrent, refuses_what_it_cannot_do_and_names_the_key) {
  sp_model *model = sp_sequential("m");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){5})));
  SP_ASSERT_FAILS(sp_model_add(model, sp_lstm(2, 0)), SP_ERROR_MISMATCH,
                  "expects inputs of shape (batch, time, features), got (None, 5)");
  sp_model_free(model);
  sp_test_refused("LSTM", "{\"units\": 2, \"stateful\": true, \"name\": \"memory\"}",
                  "layer 'memory' (LSTM): 'stateful' is not supported");
  sp_test_refused("GRU", "{\"units\": 0}", "'units' must be a positive integer");
  sp_test_refused("SimpleRNN", "{\"units\": 2, \"activation\": \"wobble\"}", "unknown activation 'wobble'");
  sp_test_refused("GRU", "{\"units\": 2, \"time_major\": true}", "'time_major' is not supported");
  sp_test_refused("LSTM", "{\"units\": 2, \"recurrent_initializer\": \"spiral\"}", "unknown initializer 'spiral'");
  sp_layer *layer = configured("GRU", "{\"units\": 2, \"name\": \"g\"}");
  sp_shape shapes[2] = {{.rank = 3, .dims = {-1, 4, 3}}, {.rank = 2, .dims = {-1, 2}}};
  int count;
  sp_shape outputs[SP_MAX_LAYER_OUTPUTS];
  SP_ASSERT_FAILS(layer->class->compute_shapes(layer, 2, shapes, &count, outputs), SP_ERROR_UNSUPPORTED,
                  "layer 'g' (GRU): initial_state");
  sp_layer_release(layer);
}

Test(recurrent, trains_inside_a_model_through_the_runner) {
  sp_model *model = sp_sequential("seq");
  SP_ASSERT_OK(sp_model_add(model, sp_input(2, (int64_t[]){-1, 3})));
  SP_ASSERT_OK(sp_model_add(model, sp_lstm(4, 1)));
  SP_ASSERT_OK(sp_model_add(model, sp_gru(2, 0)));
  SP_ASSERT_OK(sp_model_build(model));
  sp_runner *runner;
  SP_ASSERT_OK(sp_runner_new(model, &runner));
  sp_tensor *x = sp_test_random_tensor(3, (int64_t[]){2, 5, 3}, 1.0, 8);
  sp_rng rng;
  sp_rng_seed(&rng, 1);
  SP_ASSERT_OK(sp_runner_forward(runner, 1, &rng, 1, (const sp_tensor *const *)&x));
  sp_tensor *dy = sp_test_random_tensor(2, (int64_t[]){2, 2}, 1.0, 9);
  SP_ASSERT_OK(sp_runner_backward(runner, &dy));
  sp_tensor *gradient = model->layers[1]->variables[0]->gradient;
  cr_assert_not_null(gradient, "the LSTM kernel received a gradient through the GRU");
  double norm = 0;
  for (int64_t i = 0; i < sp_tensor_count(gradient); i++) norm += fabs(sp_tensor_floats(gradient)[i]);
  cr_assert(norm > 0);
  sp_tensor_free(dy);
  sp_tensor_free(x);
  sp_runner_free(runner);
  sp_model_free(model);
}

/* ---- Embedding ---- */

Test(embedding, looks_up_rows_and_names_bad_ids) {
  sp_layer *layer = configured("Embedding", "{\"input_dim\": 3, \"output_dim\": 2, \"name\": \"words\"}");
  sp_tensor *ids = sp_test_tensor(2, (int64_t[]){2, 2}, (float[]){2, 0, 1, 2});
  sp_test_build_layer(layer, 1, &ids);
  sp_test_set_variable(layer, "embeddings", (float[]){0, 1, 10, 11, 20, 21});
  sp_test_layer_run run = {0};
  sp_test_forward(layer, 1, &ids, 0, 0, &run);
  cr_assert(run.outputs[0]->rank == 3 && run.outputs[0]->shape[2] == 2);
  const float expected[] = {20, 21, 0, 1, 10, 11, 20, 21};
  sp_assert_close(sp_tensor_floats(run.outputs[0]), expected, 8, 0, 0, "rows of the table");
  sp_tensor *bad = sp_test_tensor(2, (int64_t[]){1, 2}, (float[]){1, 3});
  sp_tensor *out = sp_test_tensor(3, (int64_t[]){1, 2, 2}, NULL);
  sp_call call = {.input_count = 1, .inputs = &bad, .output_count = 1, .outputs = &out, .scratch = &run.scratch};
  SP_ASSERT_FAILS(layer->class->forward(layer, &call), SP_ERROR_INVALID_ARGUMENT,
                  "layer 'words' (Embedding): input id 3 is out of range: ids must be in [0, 3) (input_dim)");
  sp_tensor_floats(bad)[1] = -1;
  SP_ASSERT_FAILS(layer->class->forward(layer, &call), SP_ERROR_INVALID_ARGUMENT, "input id -1 is out of range");
  sp_tensor_free(bad);
  sp_tensor_free(out);
  sp_test_layer_run_free(&run);
  sp_tensor_free(ids);
  sp_layer_release(layer);
}

Test(embedding, table_gradient_and_refused_options) {
  sp_layer *layer = configured("Embedding", "{\"input_dim\": 5, \"output_dim\": 3}");
  sp_tensor *ids = sp_test_tensor(2, (int64_t[]){3, 4}, (float[]){0, 4, 4, 1, 2, 2, 3, 0, 1, 1, 1, 4});
  sp_gradient_check_options options = {.seed = 3, .skip_input_index = 0};
  sp_check_layer_gradients(layer, 1, &ids, &options);
  sp_tensor_free(ids);
  sp_layer_release(layer);
  sp_test_refused("Embedding", "{\"input_dim\": 5, \"output_dim\": 3, \"mask_zero\": true}", "'mask_zero' is not supported");
  sp_test_refused("Embedding", "{\"input_dim\": 0, \"output_dim\": 3}", "'input_dim' must be a positive integer");
}

/* ---- the Keras-trained fixture: TF.js Embedding(100, 20) + GRU(4, go_backwards, hard_sigmoid) ---- */

static char *read_whole(const char *path, size_t *size) {
  FILE *file = fopen(path, "rb");
  cr_assert_not_null(file, "cannot open %s", path);
  fseek(file, 0, SEEK_END);
  long length = ftell(file);
  fseek(file, 0, SEEK_SET);
  char *data = malloc((size_t)length + 1);
  cr_assert_eq(fread(data, 1, (size_t)length, file), (size_t)length);
  fclose(file);
  data[length] = '\0';
  *size = (size_t)length;
  return data;
}

Test(fixture, tfjs_embedding_gru_predicts_the_stated_output) {
  char *json_path = sp_test_fixture("tfjs-e2e-load-predict/load_predict_data/layers_model/model.json");
  char *bin_path = sp_test_fixture("tfjs-e2e-load-predict/load_predict_data/layers_model/weights.bin");
  size_t json_size, bin_size;
  char *text = read_whole(json_path, &json_size), *bin = read_whole(bin_path, &bin_size);
  json_object *root;
  SP_ASSERT_OK(sp_json_parse(text, json_size, "model.json", &root));
  const char *topology = json_object_to_json_string_ext(sp_json_member(root, "modelTopology"), JSON_C_TO_STRING_PLAIN);
  sp_model *model;
  SP_ASSERT_OK(sp_model_from_config(topology, strlen(topology), &model));
  /* weightsManifest lists the variables in model order; the .bin is their little-endian float32 values */
  json_object *weights = sp_json_member(json_object_array_get_idx(sp_json_member(root, "weightsManifest"), 0), "weights");
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  cr_assert_eq(count, (int)json_object_array_length(weights));
  sp_reader reader = sp_reader_make(bin, bin_size, "weights.bin");
  for (int v = 0; v < count; v++) {
    const char *name = json_object_get_string(sp_json_member(json_object_array_get_idx(weights, (size_t)v), "name"));
    cr_assert(strstr(name, variables[v]->name), "manifest %s for variable %s", name, variables[v]->name);
    float *values = sp_tensor_floats(variables[v]->value);
    for (int64_t i = 0; i < sp_tensor_count(variables[v]->value); i++) {
      uint32_t bits;
      SP_ASSERT_OK(sp_read_u32le(&reader, &bits));
      memcpy(&values[i], &bits, sizeof bits);
    }
    variables[v]->initialized = 1;
  }
  cr_assert_eq(sp_reader_remaining(&reader), 0, "every weight byte used");
  cr_assert_eq(variables[3]->value->rank, 1, "the GRU bias is (12,): reset_after false");
  float ids[] = {86, 11, 62, 40, 36, 75, 82, 94, 67, 75};
  sp_tensor *input = sp_test_tensor(2, (int64_t[]){1, 10}, ids);
  /* e2e/integration_tests/load_predict_test.ts (PROVENANCE section 10) */
  const float expected[] = {-0.003578941337764263f, 0.0028922036290168762f, -0.002957976423203945f,
                            0.00955402385443449f};
  sp_test_expect_prediction(model, input, expected, 4, 1e-5, 1e-9, "TF.js Embedding+GRU");
  sp_tensor_free(input);
  free(variables);
  sp_model_free(model);
  json_object_put(root);
  free(text);
  free(bin);
  free(json_path);
  free(bin_path);
}
