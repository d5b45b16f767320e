/* test_saved_model_export.c — SavedModel export: round trips through the graph interpreter,
 * structure against TF Serving's saved_model_half_plus_two_cpu, protoc, fingerprints, OpDefs against
 * the fixtures' stripped_op_lists, versioned and atomic publishing.
 *
 * References: the model's own forward pass (sp_model_predict, itself tested against Keras/torch)
 * for predictions, computed independently by the graph interpreter running the exported ops; the
 * TF-written fixtures for structure and OpDefs; protoc for wire-format validity.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/memory.h"
#include "formats/fingerprint.h"
#include "formats/graph_builder.h"
#include "formats/proto_read.h"
#include "formats/saved_model.h"
#include "formats/saved_model_export.h"
#include "formats/tf_bundle.h"
#include "graph/session.h"
#include "nn/activation.h"
#include "nn/model.h"
#include "savepoint/manifest.h"
#include "savepoint/saved_model.h"
#include "test_support.h"
#include "variable.pb-c.h"

/* ---- helpers ---- */

static uint64_t random_state = 0x243f6a8885a308d3ULL;
static float random_uniform(float low, float high) {
  random_state = random_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return low + (high - low) * (float)((random_state >> 40) / 16777216.0);
}

/* Replaces every weight with a random value (positive for variances) so biases and statistics count. */
static void randomize_weights(sp_model *model) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  cr_assert(count >= 0);
  for (int i = 0; i < count; i++) {
    float *values = sp_tensor_floats(variables[i]->value);
    int variance = strcmp(variables[i]->name, "moving_variance") == 0;
    for (int64_t e = 0; e < sp_tensor_count(variables[i]->value); e++)
      values[e] = variance ? random_uniform(0.5f, 1.5f) : random_uniform(-0.5f, 0.5f);
    variables[i]->initialized = 1;
  }
  free(variables);
}

static sp_tensor *random_tensor(int rank, const int64_t *shape, float low, float high) {
  sp_tensor *tensor = sp_tensor_new(SP_FLOAT32, rank, shape);
  cr_assert_not_null(tensor);
  for (int64_t i = 0; i < sp_tensor_count(tensor); i++) sp_tensor_floats(tensor)[i] = random_uniform(low, high);
  return tensor;
}

static void build(sp_model *model) {
  SP_ASSERT_OK(sp_model_build(model));
  SP_ASSERT_OK(sp_model_initialize(model));
  randomize_weights(model);
}

static char *export_to(const sp_model *model, const char *name, const sp_export_options *options) {
  char *root = sp_test_temp_dir(name);
  char *directory = sp_path_join(root, "model");
  SP_ASSERT_OK(sp_export_saved_model(model, directory, options));
  char *path = sp_export_path(directory, options);
  free(directory);
  free(root);
  return path;
}

/* The exported signature predicts what the model predicts, to 1e-5 relative. */
static void check_predictions(sp_model *model, const char *directory, int input_count, sp_tensor **inputs,
                              const char *const *input_keys) {
  int count;
  sp_tensor **expected;
  SP_ASSERT_OK(sp_model_predict(model, input_count, (const sp_tensor *const *)inputs, &count, &expected));
  sp_graph_session *session;
  SP_ASSERT_OK(sp_graph_session_open(directory, "serve", &session));
  const char *keys[16];
  for (int i = 0; i < input_count; i++) keys[i] = input_keys ? input_keys[i] : sp_model_input_name(model, i);
  size_t output_count;
  char **output_keys;
  sp_tensor **actual;
  SP_ASSERT_OK(sp_graph_session_run(session, SP_DEFAULT_SIGNATURE, (size_t)input_count, keys,
                                    (const sp_tensor *const *)inputs, &output_count, &output_keys, &actual));
  cr_assert_eq((int)output_count, count);
  for (size_t o = 0; o < output_count; o++) {
    int index = -1;
    for (int m = 0; m < count; m++) {
      char alternative[256];
      snprintf(alternative, sizeof alternative, "%s_%d", sp_model_output_name(model, m), m);
      if (strcmp(output_keys[o], sp_model_output_name(model, m)) == 0 || strcmp(output_keys[o], alternative) == 0)
        index = index < 0 ? m : index;
    }
    if (count == 1) index = 0;
    cr_assert(index >= 0, "output key '%s' names no model output", output_keys[o]);
    cr_assert_eq(actual[o]->rank, expected[index]->rank, "output '%s' rank", output_keys[o]);
    for (int d = 0; d < actual[o]->rank; d++)
      cr_assert_eq(actual[o]->shape[d], expected[index]->shape[d], "output '%s' dimension %d", output_keys[o], d);
    sp_assert_close(sp_tensor_floats(actual[o]), sp_tensor_floats(expected[index]),
                    (size_t)sp_tensor_count(expected[index]), 1e-5, 1e-6, output_keys[o]);
  }
  sp_graph_outputs_free(output_count, output_keys, actual);
  sp_graph_session_close(session);
  for (int i = 0; i < count; i++) sp_tensor_free(expected[i]);
  free(expected);
}

static Tensorflow__SavedModel *read_saved_model(const char *directory) {
  char *path = sp_path_join(directory, "saved_model.pb");
  ProtobufCMessage *message;
  SP_ASSERT_OK(sp_proto_read_file(&tensorflow__saved_model__descriptor, path, 1 << 30, &message));
  free(path);
  return (Tensorflow__SavedModel *)message;
}

static const Tensorflow__NodeDef *find_node(const Tensorflow__GraphDef *graph, const char *name) {
  for (size_t i = 0; i < graph->n_node; i++)
    if (strcmp(graph->node[i]->name, name) == 0) return graph->node[i];
  return NULL;
}

static sp_model *dense_model(void) {
  sp_model *model = sp_sequential("demo");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){6})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(16, "relu")));
  SP_ASSERT_OK(sp_model_add(model, sp_dropout(0.2)));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(8, "tanh")));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(3, "softmax")));
  build(model);
  return model;
}

/* Builds model's weights, exports it, and checks a random input of the given shape (values in
 * [-range, range]); frees the model. */
static void round_trip(sp_model *model, const char *name, int rank, const int64_t *shape, float range) {
  build(model);
  char *directory = export_to(model, name, NULL);
  sp_tensor *input = random_tensor(rank, shape, -range, range);
  check_predictions(model, directory, 1, &input, NULL);
  sp_tensor_free(input);
  free(directory);
  sp_model_free(model);
}

/* ---- round trips ---- */

Test(export_round_trip, demo_shaped_mlp) {
  sp_model *model = dense_model();
  sp_export_options options = sp_export_defaults();
  options.version = 1;
  char *directory = export_to(model, "export-mlp", &options);
  cr_assert(sp_path_has_suffix(directory, "/model/1"));
  sp_tensor *x = random_tensor(2, (int64_t[]){5, 6}, -2, 2);
  check_predictions(model, directory, 1, &x, NULL);
  sp_tensor *one = random_tensor(2, (int64_t[]){1, 6}, -2, 2); /* the batch dimension stays -1 */
  check_predictions(model, directory, 1, &one, NULL);
  sp_tensor_free(x);
  sp_tensor_free(one);
  free(directory);
  sp_model_free(model);
}

Test(export_round_trip, every_activation) {
  const char *activations[] = {"relu", "relu6", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid", "tanh",
                               "softplus", "softsign", "swish", "exponential", "leaky_relu", "log_softmax", "linear"};
  sp_model *model = sp_sequential("activations");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){5})));
  for (size_t i = 0; i < sizeof activations / sizeof *activations; i++)
    SP_ASSERT_OK(sp_model_add(model, sp_dense(5, activations[i])));
  SP_ASSERT_OK(sp_model_add(model, sp_layer_new("ReLU", "{\"max_value\": 1.5, \"negative_slope\": 0.1, \"threshold\": 0.05}")));
  SP_ASSERT_OK(sp_model_add(model, sp_layer_new("Activation", "{\"activation\": {\"class_name\": \"function\", "
                                                              "\"config\": \"gelu\"}}")));
  round_trip(model, "export-activations", 2, (int64_t[]){4, 5}, 3);
}

Test(export_round_trip, conv2d_pooling_and_batch_norm) {
  sp_model *model = sp_sequential("cnn");
  SP_ASSERT_OK(sp_model_add(model, sp_input(3, (int64_t[]){12, 10, 3})));
  SP_ASSERT_OK(sp_model_add(model, sp_zero_padding2d(1, 0, 2, 1)));
  SP_ASSERT_OK(sp_model_add(model, sp_conv2d(6, 3, 3, "relu")));
  SP_ASSERT_OK(sp_model_add(model, sp_batch_normalization()));
  SP_ASSERT_OK(sp_model_add(model, sp_layer_new("Conv2D", "{\"filters\": 5, \"kernel_size\": [2, 3], \"strides\": 2, "
                                                          "\"padding\": \"same\", \"activation\": \"elu\"}")));
  SP_ASSERT_OK(sp_model_add(model, sp_layer_new("DepthwiseConv2D", "{\"kernel_size\": 3, \"depth_multiplier\": 2, "
                                                                   "\"padding\": \"same\", \"dilation_rate\": 2}")));
  SP_ASSERT_OK(sp_model_add(model, sp_max_pooling2d(2, 2)));
  SP_ASSERT_OK(sp_model_add(model, sp_layer_new("AveragePooling2D", "{\"pool_size\": 3, \"strides\": 1, "
                                                                    "\"padding\": \"same\"}")));
  SP_ASSERT_OK(sp_model_add(model, sp_flatten()));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(4, "softmax")));
  round_trip(model, "export-cnn", 4, (int64_t[]){2, 12, 10, 3}, 1);
}

Test(export_round_trip, conv1d_causal_dilated_and_global_pools) {
  sp_model *model = sp_functional("sequence_cnn");
  sp_symbol x, a, b, c, pooled_max, pooled_average, joined, y;
  SP_ASSERT_OK(sp_model_input(model, sp_input(2, (int64_t[]){16, 4}), &x));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("Conv1D", "{\"filters\": 6, \"kernel_size\": 3, \"padding\": "
                                                           "\"causal\", \"dilation_rate\": 2, \"activation\": \"relu\"}"),
                             1, &x, 1, &a, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("Conv1D", "{\"filters\": 5, \"kernel_size\": 2, \"strides\": 2}"), 1, &a,
                             1, &b, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("MaxPooling1D", "{\"pool_size\": 2, \"padding\": \"same\"}"), 1, &b, 1,
                             &c, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_global_max_pooling1d(), 1, &c, 1, &pooled_max, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("GlobalAveragePooling1D", "{\"keepdims\": false}"), 1, &a, 1,
                             &pooled_average, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_concatenate(-1), 2, (sp_symbol[]){pooled_max, pooled_average}, 1, &joined, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(2, NULL), 1, &joined, 1, &y, NULL));
  SP_ASSERT_OK(sp_model_set_outputs(model, 1, &y));
  round_trip(model, "export-sequence-cnn", 3, (int64_t[]){3, 16, 4}, 1);
}

Test(export_round_trip, gru_model_with_fixed_time_steps) {
  sp_model *model = sp_sequential("gru");
  SP_ASSERT_OK(sp_model_add(model, sp_input(2, (int64_t[]){-1, 3})));
  SP_ASSERT_OK(sp_model_add(model, sp_gru(5, 1)));
  SP_ASSERT_OK(sp_model_add(model, sp_layer_new("GRU", "{\"units\": 4, \"reset_after\": false, \"go_backwards\": true}")));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(2, NULL)));
  build(model);
  sp_export_options options = sp_export_defaults();
  char *root = sp_test_temp_dir("export-gru");
  char *directory = sp_path_join(root, "model");
  SP_ASSERT_FAILS(sp_export_saved_model(model, directory, &options), SP_ERROR_UNSUPPORTED, "sequence length");
  cr_assert(!sp_path_exists(directory), "a failed export leaves nothing behind");
  options.sequence_length = 7;
  SP_ASSERT_OK(sp_export_saved_model(model, directory, &options));
  sp_tensor *x = random_tensor(3, (int64_t[]){3, 7, 3}, -1, 1);
  check_predictions(model, directory, 1, &x, NULL);
  sp_tensor_free(x);
  free(directory);
  free(root);
  sp_model_free(model);
}

Test(export_round_trip, embedding_lstm_and_simple_rnn) {
  sp_model *model = sp_sequential("text");
  SP_ASSERT_OK(sp_model_add(model, sp_layer_new("InputLayer", "{\"batch_shape\": [null, 6], \"dtype\": \"int32\"}")));
  SP_ASSERT_OK(sp_model_add(model, sp_embedding(20, 4)));
  SP_ASSERT_OK(sp_model_add(model, sp_lstm(5, 1)));
  SP_ASSERT_OK(sp_model_add(model, sp_simple_rnn(3, "tanh", 0)));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(1, "sigmoid")));
  build(model);
  char *directory = export_to(model, "export-lstm", NULL);
  sp_tensor *ids = sp_tensor_new(SP_INT32, 2, (int64_t[]){3, 6});
  for (int i = 0; i < 18; i++) ((int32_t *)ids->data)[i] = (i * 7) % 20;
  check_predictions(model, directory, 1, &ids, NULL);
  sp_tensor_free(ids);
  free(directory);
  sp_model_free(model);
}

Test(export_round_trip, lstm_states_and_layer_normalization) {
  sp_model *model = sp_functional("states");
  sp_symbol x, outputs[3], normalized, joined, y;
  int count;
  SP_ASSERT_OK(sp_model_input(model, sp_input(2, (int64_t[]){4, 3}), &x));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("LSTM", "{\"units\": 3, \"return_state\": true}"), 1, &x, 3, outputs,
                             &count));
  cr_assert_eq(count, 3);
  SP_ASSERT_OK(sp_model_call(model, sp_concatenate(-1), 3, outputs, 1, &joined, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_normalization(), 1, &joined, 1, &normalized, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(2, "gelu"), 1, &normalized, 1, &y, NULL));
  SP_ASSERT_OK(sp_model_set_outputs(model, 1, &y));
  round_trip(model, "export-states", 3, (int64_t[]){2, 4, 3}, 1);
}

Test(export_round_trip, multi_input_functional_with_merges_and_batch_norm) {
  sp_model *model = sp_functional("two_towers");
  sp_symbol a, b, ha, hb, sum, difference, product, average, joined, normalized, reshaped, flat, y1, y2;
  SP_ASSERT_OK(sp_model_input(model, sp_layer_new("InputLayer", "{\"batch_shape\": [null, 4], \"name\": \"left\"}"), &a));
  SP_ASSERT_OK(sp_model_input(model, sp_layer_new("InputLayer", "{\"batch_shape\": [null, 3], \"name\": \"right\"}"), &b));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(6, "relu"), 1, &a, 1, &ha, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(6, "elu"), 1, &b, 1, &hb, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_add(), 2, (sp_symbol[]){ha, hb}, 1, &sum, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_subtract(), 2, (sp_symbol[]){ha, hb}, 1, &difference, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_multiply(), 3, (sp_symbol[]){ha, hb, sum}, 1, &product, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_average(), 2, (sp_symbol[]){sum, difference}, 1, &average, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_concatenate(-1), 3, (sp_symbol[]){product, average, difference}, 1, &joined, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_batch_normalization(), 1, &joined, 1, &normalized, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_reshape(2, (int64_t[]){3, 6}), 1, &normalized, 1, &reshaped, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("BatchNormalization", "{\"axis\": 1, \"center\": false}"), 1,
                             &reshaped, 1, &flat, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(2, NULL), 1, &flat, 1, &y1, NULL)); /* Dense on rank 3 */
  sp_symbol flattened;
  SP_ASSERT_OK(sp_model_call(model, sp_flatten(), 1, &y1, 1, &flattened, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(1, "sigmoid"), 1, &flattened, 1, &y2, NULL));
  SP_ASSERT_OK(sp_model_set_outputs(model, 2, (sp_symbol[]){y1, y2}));
  build(model);
  char *directory = export_to(model, "export-towers", NULL);
  sp_tensor *inputs[2] = {random_tensor(2, (int64_t[]){3, 4}, -1, 1), random_tensor(2, (int64_t[]){3, 3}, -1, 1)};
  check_predictions(model, directory, 2, inputs, NULL);
  sp_tensor_free(inputs[0]);
  sp_tensor_free(inputs[1]);
  free(directory);
  sp_model_free(model);
}

/* ---- structure ---- */

/* The ops of the saver subgraph ("save/…") in graph order, Assigns counted once. */
static void saver_ops(const Tensorflow__GraphDef *graph, char *out, size_t capacity) {
  out[0] = 0;
  const char *previous = "";
  for (size_t i = 0; i < graph->n_node; i++) {
    const Tensorflow__NodeDef *node = graph->node[i];
    if (strncmp(node->name, "save/", 5) != 0) continue;
    if (strcmp(node->op, "Assign") == 0 && strcmp(previous, "Assign") == 0) continue;
    strncat(out, node->op, capacity - strlen(out) - 2);
    strncat(out, " ", capacity - strlen(out) - 1);
    previous = node->op;
  }
}

Test(export_structure, mirrors_tf_serving_half_plus_two) {
  char *fixture = sp_test_fixture("tfserving-testdata/saved_model_half_plus_two_cpu/00000123");
  Tensorflow__SavedModel *reference = read_saved_model(fixture);
  sp_model *model = dense_model();
  char *directory = export_to(model, "export-structure", NULL);
  Tensorflow__SavedModel *ours = read_saved_model(directory);
  cr_assert_eq(ours->saved_model_schema_version, 1);
  cr_assert_eq(ours->n_meta_graphs, 1);
  const Tensorflow__MetaGraphDef *a = ours->meta_graphs[0], *b = reference->meta_graphs[0];

  char our_ops[1024], their_ops[1024];
  saver_ops(a->graph_def, our_ops, sizeof our_ops);
  saver_ops(b->graph_def, their_ops, sizeof their_ops);
  cr_assert_str_eq(our_ops, their_ops, "saver subgraph ops");

  const Tensorflow__SaverDef *s = a->saver_def, *t = b->saver_def;
  cr_assert_str_eq(s->filename_tensor_name, t->filename_tensor_name);
  cr_assert_str_eq(s->save_tensor_name, t->save_tensor_name);
  cr_assert_str_eq(s->restore_op_name, t->restore_op_name);
  cr_assert_eq(s->sharded, t->sharded);
  cr_assert_eq(s->version, t->version);
  cr_assert_eq(s->max_to_keep, t->max_to_keep);
  cr_assert_eq(s->keep_checkpoint_every_n_hours, t->keep_checkpoint_every_n_hours);

  cr_assert_eq(a->meta_info_def->n_tags, 1);
  cr_assert_str_eq(a->meta_info_def->tags[0], "serve");
  cr_assert_str_eq(a->meta_info_def->tensorflow_version, SP_EXPORT_TENSORFLOW_VERSION);
  int has_default = 0;
  for (size_t i = 0; i < a->n_signature_def; i++) {
    cr_assert_str_eq(a->signature_def[i]->value->method_name, "tensorflow/serving/predict");
    has_default |= strcmp(a->signature_def[i]->key, "serving_default") == 0;
    const Tensorflow__TensorInfo *input = a->signature_def[i]->value->inputs[0]->value;
    cr_assert_eq(input->tensor_shape->dim[0]->size, -1, "the batch dimension stays -1");
  }
  cr_assert(has_default);

  /* every op used has its OpDef, sorted by name */
  const Tensorflow__OpList *ops = a->meta_info_def->stripped_op_list;
  for (size_t i = 1; i < ops->n_op; i++) cr_assert(strcmp(ops->op[i - 1]->name, ops->op[i]->name) < 0);
  for (size_t n = 0; n < a->graph_def->n_node; n++) {
    int found = 0;
    for (size_t i = 0; i < ops->n_op; i++) found |= strcmp(ops->op[i]->name, a->graph_def->node[n]->op) == 0;
    cr_assert(found, "op %s has an OpDef", a->graph_def->node[n]->op);
  }

  /* variables: VariableV2 nodes = SaveV2/RestoreV2 tensor_names = bundle keys = the collection */
  const Tensorflow__NodeDef *names = find_node(a->graph_def, "save/RestoreV2/tensor_names");
  cr_assert_not_null(names);
  const Tensorflow__TensorProto *list = names->attr[1]->value->tensor;
  char *prefix = sp_path_join(directory, "variables/variables");
  sp_bundle_reader *bundle;
  SP_ASSERT_OK(sp_bundle_open(prefix, &bundle));
  size_t entry_count = sp_bundle_count(bundle);
  cr_assert_eq(entry_count, list->n_string_val);
  size_t variable_nodes = 0;
  for (size_t n = 0; n < a->graph_def->n_node; n++) variable_nodes += strcmp(a->graph_def->node[n]->op, "VariableV2") == 0;
  cr_assert_eq(variable_nodes, entry_count);
  for (size_t i = 0; i < entry_count; i++) {
    const char *key = sp_bundle_entry_at(bundle, i)->key;
    cr_assert_eq(strlen(key), list->string_val[i].len);
    cr_assert(memcmp(key, list->string_val[i].data, list->string_val[i].len) == 0);
    const Tensorflow__NodeDef *variable = find_node(a->graph_def, key);
    cr_assert(variable && strcmp(variable->op, "VariableV2") == 0, "key %s is a VariableV2 node", key);
  }
  sp_bundle_close(bundle);
  free(prefix);
  cr_assert_eq(a->n_collection_def, 2);
  cr_assert_str_eq(a->collection_def[1]->key, "variables");
  cr_assert_eq(a->collection_def[1]->value->bytes_list->n_value, entry_count);
  Tensorflow__VariableDef *first = tensorflow__variable_def__unpack(
      NULL, a->collection_def[1]->value->bytes_list->value[0].len, a->collection_def[1]->value->bytes_list->value[0].data);
  cr_assert_not_null(first);
  cr_assert(find_node(a->graph_def, first->initializer_name));
  tensorflow__variable_def__free_unpacked(first, NULL);

  protobuf_c_message_free_unpacked(&ours->base, NULL);
  protobuf_c_message_free_unpacked(&reference->base, NULL);
  free(directory);
  free(fixture);
  sp_model_free(model);
}

Test(export_structure, protoc_decodes_what_we_write) {
  if (system("command -v protoc >/dev/null 2>&1") != 0) cr_skip_test("protoc is not installed");
  sp_model *model = dense_model();
  char *directory = export_to(model, "export-protoc", NULL);
  char *proto_dir = sp_test_source_path("src/formats/proto");
  char *command = sp_strdupf("protoc --decode_raw < '%s/saved_model.pb' > /dev/null && "
                             "protoc --proto_path='%s' --decode=tensorflow.SavedModel saved_model.proto "
                             "< '%s/saved_model.pb' | grep -q 'restore_op_name: \"save/restore_all\"' && "
                             "protoc --decode_raw < '%s/fingerprint.pb' > /dev/null",
                             directory, proto_dir, directory, directory);
  cr_assert_eq(system(command), 0, "%s", command);
  free(command);
  free(proto_dir);
  free(directory);
  sp_model_free(model);
}

Test(export_structure, deterministic_and_fingerprinted) {
  sp_model *model = dense_model();
  char *first = export_to(model, "export-deterministic-a", NULL);
  char *second = export_to(model, "export-deterministic-b", NULL);
  const char *files[] = {"saved_model.pb", "fingerprint.pb", "variables/variables.index",
                         "variables/variables.data-00000-of-00001"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char *a = sp_path_join(first, files[i]), *b = sp_path_join(second, files[i]);
    uint8_t *x, *y;
    size_t nx, ny;
    SP_ASSERT_OK(sp_read_file(a, 1 << 30, &x, &nx));
    SP_ASSERT_OK(sp_read_file(b, 1 << 30, &y, &ny));
    cr_assert(nx == ny && memcmp(x, y, nx) == 0, "%s is the same in both exports", files[i]);
    free(x);
    free(y);
    free(a);
    free(b);
  }
  /* fingerprint.pb holds the hashes recomputed from the files */
  char *path = sp_path_join(first, "fingerprint.pb");
  ProtobufCMessage *message;
  SP_ASSERT_OK(sp_proto_read_file(&tensorflow__fingerprint_def__descriptor, path, 1 << 20, &message));
  Tensorflow__FingerprintDef *stored = (Tensorflow__FingerprintDef *)message;
  sp_fingerprint computed;
  SP_ASSERT_OK(sp_fingerprint_saved_model_directory(first, SP_FINGERPRINT_TF_2_14, &computed));
  cr_assert_eq(stored->saved_model_checksum, computed.saved_model_checksum);
  cr_assert_eq(stored->graph_def_program_hash, computed.graph_def_program_hash);
  cr_assert_eq(stored->signature_def_hash, computed.signature_def_hash);
  cr_assert_eq(stored->saved_object_graph_hash, 0, "a TF1 graph has no concrete functions");
  char *index = sp_path_join(first, "variables/variables.index");
  uint8_t *bytes;
  size_t size;
  SP_ASSERT_OK(sp_read_file(index, 1 << 30, &bytes, &size));
  cr_assert_eq(stored->checkpoint_hash, sp_fingerprint64(bytes, size));
  cr_assert(stored->version && stored->version->producer == 1);
  free(bytes);
  free(index);
  protobuf_c_message_free_unpacked(message, NULL);
  /* the manifest covers every file */
  sp_manifest *manifest;
  SP_ASSERT_OK(sp_manifest_read(first, &manifest));
  cr_assert_eq(manifest->count, 4);
  sp_manifest_free(manifest);
  free(path);
  free(first);
  free(second);
  sp_model_free(model);
}

/* Our OpDefs equal the ones TF wrote in the fixtures' stripped_op_lists, each compared with the
 * newest TF that wrote it (2.14, else 2.12, else 2.10): definitions grow between releases (StringJoin's
 * N went from >= 1 to >= 0 in 2.14). */
Test(export_structure, op_defs_match_the_fixtures) {
  const char *fixtures[] = {"tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123",
                            "keras-savedmodel-mlmath4-tf2.12/model",
                            "keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/handwritten.model"};
  sp_graph_builder *graph;
  SP_ASSERT_OK(sp_graph_builder_new(&graph));
  int compared = 0;
  const char *seen[64];
  int seen_count = 0;
  for (size_t f = 0; f < sizeof fixtures / sizeof *fixtures; f++) { /* newest TF first: each op once */
    char *directory = sp_test_fixture(fixtures[f]);
    Tensorflow__SavedModel *model = read_saved_model(directory);
    const Tensorflow__OpList *list = model->meta_graphs[0]->meta_info_def->stripped_op_list;
    for (size_t i = 0; i < list->n_op; i++) {
      Tensorflow__OpDef *ours = sp_graph_op_def(graph, list->op[i]->name);
      int repeated = 0;
      for (int s = 0; s < seen_count; s++) repeated |= strcmp(seen[s], list->op[i]->name) == 0;
      if (!ours || repeated || seen_count == 64) continue;
      seen[seen_count++] = ours->name;
      size_t a = tensorflow__op_def__get_packed_size(ours), b = tensorflow__op_def__get_packed_size(list->op[i]);
      uint8_t *x = malloc(a), *y = malloc(b);
      tensorflow__op_def__pack(ours, x);
      tensorflow__op_def__pack(list->op[i], y);
      cr_expect(a == b && memcmp(x, y, a) == 0, "OpDef %s differs from %s's", list->op[i]->name, fixtures[f]);
      compared++;
      free(x);
      free(y);
    }
    protobuf_c_message_free_unpacked(&model->base, NULL);
    free(directory);
  }
  cr_assert_geq(compared, 15, "compared %d OpDefs", compared);
  sp_graph_builder_free(graph);
}

/* ---- signatures and options ---- */

Test(export_options, named_keys_and_extra_signatures) {
  sp_model *model = sp_functional("two_heads");
  sp_symbol x, h, y1, y2;
  SP_ASSERT_OK(sp_model_input(model, sp_input(1, (int64_t[]){3}), &x));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(4, "relu"), 1, &x, 1, &h, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(2, "softmax"), 1, &h, 1, &y1, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(1, NULL), 1, &h, 1, &y2, NULL));
  SP_ASSERT_OK(sp_model_set_outputs(model, 2, (sp_symbol[]){y1, y2}));
  build(model);
  const char *inputs[] = {"features"}, *outputs[] = {"probabilities", "score"};
  const char *only_score[] = {NULL, "value"};
  sp_signature_spec extra = {"score_only", "tensorflow/serving/regress", NULL, only_score};
  sp_export_options options = sp_export_defaults();
  options.signature_name = "predict";
  options.input_names = inputs;
  options.output_names = outputs;
  options.extra_signatures = &extra;
  options.extra_signature_count = 1;
  char *directory = export_to(model, "export-signatures", &options);
  sp_graph_session *session;
  SP_ASSERT_OK(sp_graph_session_open(directory, "serve", &session));
  sp_tensor *input = random_tensor(2, (int64_t[]){2, 3}, -1, 1);
  const char *keys[] = {"features"};
  size_t count;
  char **names;
  sp_tensor **results;
  SP_ASSERT_OK(sp_graph_session_run(session, "score_only", 1, keys, (const sp_tensor *const *)&input, &count, &names,
                                    &results));
  cr_assert_eq(count, 1);
  cr_assert_str_eq(names[0], "value");
  sp_graph_outputs_free(count, names, results);
  SP_ASSERT_OK(sp_graph_session_run(session, "predict", 1, keys, (const sp_tensor *const *)&input, &count, &names, &results));
  cr_assert_eq(count, 2);
  cr_assert_str_eq(names[0], "probabilities");
  cr_assert_str_eq(names[1], "score");
  sp_graph_outputs_free(count, names, results);
  const sp_saved_model_meta_graph *meta_graph = sp_graph_session_meta_graph(session);
  cr_assert_str_eq(sp_meta_graph_signature(meta_graph, "score_only")->method_name, "tensorflow/serving/regress");
  sp_graph_session_close(session);
  sp_tensor_free(input);
  free(directory);

  const char *twice[] = {"same", "same"};
  options = sp_export_defaults();
  options.output_names = twice;
  char *root = sp_test_temp_dir("export-bad-keys");
  char *target = sp_path_join(root, "model");
  SP_ASSERT_FAILS(sp_export_saved_model(model, target, &options), SP_ERROR_INVALID_ARGUMENT, "used twice");
  free(target);
  free(root);
  sp_model_free(model);
}

static void fail_custom(const float *x, float *y, int64_t count, void *context) {
  for (int64_t i = 0; i < count; i++) y[i] = x[i];
}

Test(export_options, unsupported_layers_and_activations_are_named) {
  static const sp_custom_activation custom = {"export_test>identity", fail_custom, NULL, NULL};
  SP_ASSERT_OK(sp_register_activation(&custom));
  sp_model *model = sp_sequential("custom");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){2})));
  SP_ASSERT_OK(sp_model_add(model, sp_layer_new("Dense", "{\"units\": 2, \"name\": \"odd\", "
                                                         "\"activation\": \"export_test>identity\"}")));
  build(model);
  char *root = sp_test_temp_dir("export-unsupported");
  char *target = sp_path_join(root, "model");
  SP_ASSERT_FAILS(sp_export_saved_model(model, target, NULL), SP_ERROR_UNSUPPORTED, "layer 'odd' (Dense)");
  SP_ASSERT_FAILS(sp_export_saved_model(model, target, NULL), SP_ERROR_UNSUPPORTED, "export_test>identity");
  cr_assert(!sp_path_exists(target));
  free(target);
  free(root);
  sp_model_free(model);
}

/* ---- versions and atomic publishing ---- */

Test(export_versions, refuses_an_existing_version_and_keeps_it) {
  sp_model *model = dense_model();
  char *root = sp_test_temp_dir("export-versions");
  char *base = sp_path_join(root, "mnist");
  sp_export_options options = sp_export_defaults();
  options.version = 3;
  SP_ASSERT_OK(sp_export_saved_model(model, base, &options));
  char *version = sp_path_join(base, "3");
  sp_manifest *before;
  SP_ASSERT_OK(sp_manifest_read(version, &before));
  SP_ASSERT_FAILS(sp_export_saved_model(model, base, &options), SP_ERROR_EXISTS, "never overwritten");
  sp_manifest *after;
  SP_ASSERT_OK(sp_manifest_read(version, &after));
  cr_assert_str_eq(before->sha256, after->sha256, "the existing version is untouched");
  options.version = 4;
  SP_ASSERT_OK(sp_export_saved_model(model, base, &options));
  char **names;
  size_t count;
  SP_ASSERT_OK(sp_list_directory(base, 100, &names, &count));
  cr_assert_eq(count, 2, "only the version directories, no temporary leftovers");
  cr_assert_str_eq(names[0], "3");
  cr_assert_str_eq(names[1], "4");
  sp_free_names(names, count);
  /* unversioned: an existing directory is refused unless replace is asked for */
  sp_export_options plain = sp_export_defaults();
  SP_ASSERT_FAILS(sp_export_saved_model(model, version, &plain), SP_ERROR_EXISTS, "already exists");
  plain.replace = 1;
  SP_ASSERT_OK(sp_export_saved_model(model, version, &plain));
  sp_manifest_free(before);
  sp_manifest_free(after);
  free(version);
  free(base);
  free(root);
  sp_model_free(model);
}

typedef struct watcher {
  const char *directory;
  volatile int stop;
  volatile int seen;
  int incomplete;
} watcher;

static void *watch(void *argument) {
  watcher *w = argument;
  const char *files[] = {"saved_model.pb", "fingerprint.pb", "savepoint.sha256", "variables/variables.index"};
  while (!w->stop) {
    if (!sp_path_exists(w->directory)) continue;
    w->seen++;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
      char *path = sp_path_join(w->directory, files[i]);
      if (!sp_path_exists(path)) w->incomplete++;
      free(path);
    }
  }
  return NULL;
}

/* A reader polling the version directory never sees it before it is complete. */
Test(export_versions, the_version_directory_appears_complete) {
  sp_model *model = sp_sequential("wide");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){256})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(512, "relu")));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(512, "relu")));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(10, NULL)));
  build(model);
  char *root = sp_test_temp_dir("export-atomic");
  char *base = sp_path_join(root, "wide");
  char *version = sp_path_join(base, "1");
  watcher w = {version, 0, 0, 0};
  pthread_t thread;
  cr_assert_eq(pthread_create(&thread, NULL, watch, &w), 0);
  sp_export_options options = sp_export_defaults();
  options.version = 1;
  SP_ASSERT_OK(sp_export_saved_model(model, base, &options));
  for (int wait = 0; wait < 5000 && !w.seen; wait++) usleep(1000); /* let a starved watcher look once */
  w.stop = 1;
  pthread_join(thread, NULL);
  cr_assert_gt(w.seen, 0, "the watcher saw the published directory");
  cr_assert_eq(w.incomplete, 0, "it never saw a partial directory");
  free(version);
  free(base);
  free(root);
  sp_model_free(model);
}
