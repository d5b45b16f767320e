/* Tests of src/formats/tf_checkpoint: models as tf.keras object-based checkpoints.
 *
 * References: the fixture tf-keras-save-weights-tf-format (written by tf.keras 2.10
 * model.save_weights for Sequential[Dense(512, relu, input 784), Dropout(0.2), Dense(10)], see
 * PROVENANCE.md §19): its bundle keys, its TrackableObjectGraph (decoded from the fixture at test
 * time) and its tensor values; formats.md §4.7 for the escaping rule; tf-trt-mnist-ckpt (a TF1
 * tf.train.Saver checkpoint, PROVENANCE.md §8) for name-based reading. Optimizer state: the
 * variables/ checkpoints of two tf.keras SavedModels — tf-rust-keras-savedmodel's
 * keras_single_input_saved_model (optimizer_v2 Adam: optimizer/iter, hyperparameters and
 * .OPTIMIZER_SLOT/optimizer/{m,v} slot variables) and keras2.12-house-price's (the Keras 2.11+
 * optimizer: optimizer/_iterations, _learning_rate, _variables/<i>) — and tf.keras 2's slot and
 * hyperparameter names (keras/optimizers/optimizer_v2/{adam,rmsprop,gradient_descent,adagrad,nadam}.py). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "formats/tf_bundle.h"
#include "formats/tf_checkpoint.h"
#include "nn/model.h"
#include "savepoint/checkpoint.h"
#include "savepoint/io.h"
#include "savepoint/train.h"
#include "test_support.h"
#include "trackable_object_graph.pb-c.h"

#define FIXTURE "tf-keras-save-weights-tf-format/training_2/cp-0000.ckpt"

static char *fixture_prefix(const char *relative) {
  char *index = sp_strdupf("%s.index", relative);
  char *path = sp_test_fixture(index);
  free(index);
  path[strlen(path) - strlen(".index")] = '\0';
  return path;
}

static sp_layer *layer(const char *class_name, const char *json) {
  sp_layer *result = sp_layer_new(class_name, json);
  cr_assert_not_null(result, "%s: %s", class_name, sp_last_error());
  return result;
}

/* A built Sequential of Dense layers on `inputs` features, one per config (NULL-terminated). */
static sp_model *dense_stack(const char *name, int64_t inputs, const char *const *configs) {
  sp_model *model = sp_sequential(name);
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){inputs})));
  for (; *configs; configs++) SP_ASSERT_OK(sp_model_add(model, layer("Dense", *configs)));
  SP_ASSERT_OK(sp_model_build(model));
  return model;
}

/* The TF tutorial's model, with the layer names the fixture's variables carry. */
static sp_model *tutorial_model(void) {
  sp_model *model = sp_sequential("sequential_2");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){784})));
  SP_ASSERT_OK(sp_model_add(model, layer("Dense", "{\"name\": \"dense_4\", \"units\": 512, \"activation\": \"relu\"}")));
  SP_ASSERT_OK(sp_model_add(model, layer("Dropout", "{\"name\": \"dropout_2\", \"rate\": 0.2}")));
  SP_ASSERT_OK(sp_model_add(model, layer("Dense", "{\"name\": \"dense_5\", \"units\": 10}")));
  SP_ASSERT_OK(sp_model_build(model));
  SP_ASSERT_OK(sp_model_initialize(model));
  return model;
}

static sp_variable *variable(sp_model *model, const char *layer_name, const char *name) {
  int index = sp_model_find_layer(model, layer_name);
  cr_assert(index >= 0, "no layer %s", layer_name);
  sp_layer *found = model->layers[index];
  for (int v = 0; v < found->variable_count; v++)
    if (strcmp(found->variables[v]->name, name) == 0) return found->variables[v];
  cr_assert_fail("no variable %s/%s", layer_name, name);
  return NULL;
}

static void assert_tensor_equals_bundle(const sp_tensor *tensor, sp_bundle_reader *reader, const char *key) {
  sp_tensor *stored;
  SP_ASSERT_OK(sp_bundle_read(reader, key, &stored));
  cr_assert(sp_tensor_same_shape(tensor, stored), "%s: shape differs", key);
  cr_assert(memcmp(tensor->data, stored->data, stored->size) == 0, "%s: values differ", key);
  sp_tensor_free(stored);
}

static Tensorflow__TrackableObjectGraph *read_graph(const char *prefix) {
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  sp_tensor *tensor;
  SP_ASSERT_OK(sp_bundle_read(reader, SP_CHECKPOINT_OBJECT_GRAPH_KEY, &tensor));
  const sp_string *bytes = tensor->data;
  Tensorflow__TrackableObjectGraph *graph =
      tensorflow__trackable_object_graph__unpack(NULL, bytes->length, (const uint8_t *)bytes->bytes);
  cr_assert_not_null(graph);
  sp_tensor_free(tensor);
  sp_bundle_close(reader);
  return graph;
}

static int compare_lines(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The graph as sorted lines "path | attribute key, full_name | has_checkpoint_values", one per
 * node reachable from the root by first-found paths, skipping paths that start with skip. */
static char *flatten_graph(const Tensorflow__TrackableObjectGraph *graph, const char *skip) {
  size_t count = graph->n_nodes;
  char **paths = calloc(count, sizeof *paths);
  int *queue = calloc(count, sizeof *queue);
  paths[0] = strdup("");
  size_t head = 0, tail = 1;
  while (head < tail) {
    int node = queue[head++];
    const Tensorflow__TrackableObjectGraph__TrackableObject *object = graph->nodes[node];
    for (size_t c = 0; c < object->n_children; c++) {
      int child = object->children[c]->node_id;
      if (paths[child]) continue;
      paths[child] = sp_strdupf("%s%s%s", paths[node], *paths[node] ? "/" : "", object->children[c]->local_name);
      queue[tail++] = child;
    }
  }
  char **lines = calloc(count, sizeof *lines);
  size_t line_count = 0;
  for (size_t n = 0; n < count; n++) {
    if (!paths[n] || (skip && strncmp(paths[n], skip, strlen(skip)) == 0)) continue;
    const Tensorflow__TrackableObjectGraph__TrackableObject *object = graph->nodes[n];
    char children[512] = "";
    for (size_t c = 0; c < object->n_children; c++)
      if (!skip || strcmp(object->children[c]->local_name, skip) != 0)
        snprintf(children + strlen(children), sizeof children - strlen(children), "%s,",
                 object->children[c]->local_name);
    lines[line_count++] = sp_strdupf(
        "%s | children %s | %s %s | %d", paths[n], children, object->n_attributes ? object->attributes[0]->checkpoint_key : "-",
        object->n_attributes ? object->attributes[0]->full_name : "-",
        object->has_checkpoint_values ? object->has_checkpoint_values->value : -1);
  }
  qsort(lines, line_count, sizeof *lines, compare_lines);
  size_t total = 1;
  for (size_t i = 0; i < line_count; i++) total += strlen(lines[i]) + 1;
  char *text = calloc(total, 1);
  for (size_t i = 0; i < line_count; i++) {
    strcat(text, lines[i]);
    strcat(text, "\n");
    free(lines[i]);
  }
  for (size_t n = 0; n < count; n++) free(paths[n]);
  free(paths);
  free(queue);
  free(lines);
  return text;
}

Test(tf_checkpoint, escapes_local_names_as_tensorflow) {
  char *escaped = sp_checkpoint_escape_local_name("a.b/c..d");
  cr_assert_str_eq(escaped, "a..b.Sc....d");
  free(escaped);
}

Test(tf_checkpoint, reads_the_keras_fixture_into_its_model) {
  char *prefix = fixture_prefix(FIXTURE);
  sp_model *model = tutorial_model();
  SP_ASSERT_OK(sp_checkpoint_read(model, prefix, NULL));
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  assert_tensor_equals_bundle(variable(model, "dense_4", "kernel")->value, reader,
                              "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  assert_tensor_equals_bundle(variable(model, "dense_4", "bias")->value, reader,
                              "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE");
  assert_tensor_equals_bundle(variable(model, "dense_5", "kernel")->value, reader,
                              "layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  /* PROVENANCE: initial weights, so every bias is zero. */
  const sp_tensor *bias = variable(model, "dense_5", "bias")->value;
  for (int64_t i = 0; i < sp_tensor_count(bias); i++) cr_assert_eq(sp_tensor_floats(bias)[i], 0.0f);
  sp_bundle_close(reader);
  sp_model_free(model);
  free(prefix);
}

Test(tf_checkpoint, writes_the_fixture_keys_and_object_graph) {
  char *fixture = fixture_prefix(FIXTURE);
  sp_model *model = tutorial_model();
  SP_ASSERT_OK(sp_checkpoint_read(model, fixture, NULL));
  char *directory = sp_test_temp_dir("tf_checkpoint_keys");
  char *prefix = sp_path_join(directory, "cp-0000.ckpt");
  SP_ASSERT_OK(sp_checkpoint_write(model, prefix, NULL));

  sp_bundle_reader *ours, *theirs;
  SP_ASSERT_OK(sp_bundle_open(prefix, &ours));
  SP_ASSERT_OK(sp_bundle_open(fixture, &theirs));
  cr_assert_eq(sp_bundle_count(ours), sp_bundle_count(theirs));
  for (size_t i = 0; i < sp_bundle_count(ours); i++) {
    const sp_bundle_entry *a = sp_bundle_entry_at(ours, i), *b = sp_bundle_entry_at(theirs, i);
    cr_assert_str_eq(a->key, b->key);
    if (strcmp(a->key, SP_CHECKPOINT_OBJECT_GRAPH_KEY) == 0) continue;
    /* Tensors go to the data file in node order, as TF adds them: same offsets, same CRCs. */
    cr_assert_eq(a->offset, b->offset, "%s: offset %llu, TF wrote %llu", a->key, (unsigned long long)a->offset,
                 (unsigned long long)b->offset);
    cr_assert_eq(a->masked_crc32c, b->masked_crc32c, "%s", a->key);
  }
  sp_bundle_close(ours);
  sp_bundle_close(theirs);

  /* Same graph, node for node, apart from the fixture's (unbuilt) optimizer: this model is not compiled. */
  Tensorflow__TrackableObjectGraph *written = read_graph(prefix), *expected = read_graph(fixture);
  char *written_text = flatten_graph(written, "optimizer"), *expected_text = flatten_graph(expected, "optimizer");
  cr_assert_str_eq(written_text, expected_text);
  cr_assert_eq(written->n_nodes, expected->n_nodes - 1);
  cr_assert_str_eq(written->nodes[0]->children[written->nodes[0]->n_children - 1]->local_name, "root");
  cr_assert_eq(written->nodes[0]->children[written->nodes[0]->n_children - 1]->node_id, 0);
  free(written_text);
  free(expected_text);
  tensorflow__trackable_object_graph__free_unpacked(written, NULL);
  tensorflow__trackable_object_graph__free_unpacked(expected, NULL);
  sp_model_free(model);
  free(prefix);
  free(directory);
  free(fixture);
}

Test(tf_checkpoint, round_trip_with_save_counter_and_training_state) {
  sp_model *model = tutorial_model();
  char *directory = sp_test_temp_dir("tf_checkpoint_round_trip");
  char *prefix = sp_path_join(directory, "ckpt-3");
  sp_checkpoint_options options = sp_checkpoint_defaults();
  options.save_counter = 3;
  options.training_state = "{\"epoch\": 2}";
  SP_ASSERT_OK(sp_checkpoint_write(model, prefix, &options));

  sp_model *other = tutorial_model(); /* different random initial weights */
  sp_model_set_seed(other, 99);
  SP_ASSERT_OK(sp_checkpoint_read(other, prefix, NULL));
  const char *names[][2] = {{"dense_4", "kernel"}, {"dense_4", "bias"}, {"dense_5", "kernel"}, {"dense_5", "bias"}};
  for (size_t i = 0; i < 4; i++) {
    const sp_tensor *a = variable(model, names[i][0], names[i][1])->value;
    const sp_tensor *b = variable(other, names[i][0], names[i][1])->value;
    cr_assert(memcmp(a->data, b->data, a->size) == 0, "%s/%s", names[i][0], names[i][1]);
  }
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  sp_tensor *counter;
  SP_ASSERT_OK(sp_bundle_read(reader, "save_counter/.ATTRIBUTES/VARIABLE_VALUE", &counter));
  cr_assert_eq(counter->dtype, SP_INT64);
  cr_assert_eq(*(int64_t *)counter->data, 3);
  sp_tensor_free(counter);
  sp_bundle_close(reader);
  char *state;
  SP_ASSERT_OK(sp_checkpoint_read_training_state(prefix, &state));
  cr_assert_str_eq(state, "{\"epoch\": 2}");
  free(state);
  Tensorflow__TrackableObjectGraph *graph = read_graph(prefix);
  const Tensorflow__TrackableObjectGraph__TrackableObject *root = graph->nodes[0];
  cr_assert_str_eq(root->children[root->n_children - 1]->local_name, "save_counter");
  tensorflow__trackable_object_graph__free_unpacked(graph, NULL);
  sp_model_free(model);
  sp_model_free(other);
  free(prefix);
  free(directory);
}

Test(tf_checkpoint, a_model_that_does_not_fit_is_refused_and_left_unchanged) {
  char *fixture = fixture_prefix(FIXTURE);
  sp_model *model = dense_stack("bigger", 784,
                                (const char *[]){"{\"name\": \"a\", \"units\": 512}", "{\"name\": \"b\", \"units\": 10}",
                                                 "{\"name\": \"c\", \"units\": 3}", NULL});
  SP_ASSERT_FAILS(sp_checkpoint_read(model, fixture, NULL), SP_ERROR_MISMATCH,
                  "2 layers with weights into model 'bigger' with 3 (model: a, b, c; missing layer_with_weights-2)");
  sp_model_free(model);

  model = dense_stack("narrow", 784,
                      (const char *[]){"{\"name\": \"a\", \"units\": 512}", "{\"name\": \"b\", \"units\": 7}", NULL});
  SP_ASSERT_OK(sp_model_initialize(model));
  sp_tensor *before = sp_tensor_copy(model->layers[1]->variables[0]->value);
  SP_ASSERT_FAILS(sp_checkpoint_read(model, fixture, NULL), SP_ERROR_MISMATCH,
                  "layer 'b' (Dense) variable 'kernel': the model expects shape [512, 7], the checkpoint's "
                  "'layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE' has shape [512, 10]");
  cr_assert(memcmp(before->data, model->layers[1]->variables[0]->value->data, before->size) == 0,
            "a failed read changed the first layer");
  sp_tensor_free(before);
  sp_model_free(model);
  free(fixture);
}

Test(tf_checkpoint, reads_tf1_name_based_checkpoints_by_variable_name) {
  char *prefix = fixture_prefix("tf-trt-mnist-ckpt/model.ckpt-46900");
  sp_model *model = dense_stack("head", 64,
                                (const char *[]){"{\"name\": \"dense\", \"units\": 512, \"activation\": \"relu\"}",
                                                 "{\"name\": \"dense_1\", \"units\": 10}", NULL});
  SP_ASSERT_OK(sp_checkpoint_read(model, prefix, NULL));
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  assert_tensor_equals_bundle(variable(model, "dense", "kernel")->value, reader, "dense/kernel");
  assert_tensor_equals_bundle(variable(model, "dense", "bias")->value, reader, "dense/bias");
  assert_tensor_equals_bundle(variable(model, "dense_1", "kernel")->value, reader, "dense_1/kernel");
  assert_tensor_equals_bundle(variable(model, "dense_1", "bias")->value, reader, "dense_1/bias");
  sp_bundle_close(reader);
  sp_model_free(model);

  model = dense_stack("renamed", 64, (const char *[]){"{\"name\": \"fc\", \"units\": 512}", NULL});
  SP_ASSERT_FAILS(sp_checkpoint_read(model, prefix, NULL), SP_ERROR_MISMATCH,
                  "layer 'fc' (Dense): the name-based checkpoint has no variable 'fc/kernel' (it holds 27 tensors: "
                  "'beta1_power'");
  sp_model_free(model);
  free(prefix);
}

Test(tf_checkpoint, snapshots_copy_values_and_reuse_their_buffers) {
  sp_model *model = tutorial_model();
  sp_checkpoint_snapshot *snapshot = NULL;
  SP_ASSERT_OK(sp_checkpoint_snapshot_capture(model, NULL, 1, &snapshot));
  cr_assert_eq(sp_checkpoint_snapshot_bytes(snapshot), (784 * 512 + 512 + 512 * 10 + 10) * 4);
  cr_assert_eq(sp_checkpoint_snapshot_count(snapshot), 5);
  cr_assert_str_eq(sp_checkpoint_snapshot_key(snapshot, 4), SP_CHECKPOINT_OBJECT_GRAPH_KEY);
  /* The snapshot holds the values of capture time, whatever the model does afterwards. */
  sp_tensor *kernel = variable(model, "dense_4", "kernel")->value;
  float first = sp_tensor_floats(kernel)[0];
  sp_tensor_floats(kernel)[0] = first + 1.0f;
  char *directory = sp_test_temp_dir("tf_checkpoint_snapshot");
  char *prefix = sp_path_join(directory, "snap");
  SP_ASSERT_OK(sp_checkpoint_snapshot_write(snapshot, prefix));
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  sp_tensor *stored;
  SP_ASSERT_OK(sp_bundle_read(reader, "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", &stored));
  cr_assert_eq(sp_tensor_floats(stored)[0], first);
  sp_tensor_free(stored);
  sp_bundle_close(reader);
  /* A second capture reuses the buffers and sees the new value. */
  SP_ASSERT_OK(sp_checkpoint_snapshot_capture(model, NULL, 1, &snapshot));
  SP_ASSERT_OK(sp_checkpoint_snapshot_write(snapshot, prefix));
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  SP_ASSERT_OK(sp_bundle_read(reader, "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", &stored));
  cr_assert_eq(sp_tensor_floats(stored)[0], first + 1.0f);
  sp_tensor_free(stored);
  sp_bundle_close(reader);
  sp_checkpoint_snapshot_free(snapshot);
  sp_model_free(model);
  free(prefix);
  free(directory);
}

Test(tf_checkpoint, is_the_codec_for_weights_saved_without_an_extension) {
  char *directory = sp_test_temp_dir("tf_checkpoint_codec");
  char *prefix = sp_path_join(directory, "weights");
  sp_model *model = tutorial_model(), *copy = tutorial_model();
  sp_variable *kernel = variable(model, "dense_4", "kernel");
  sp_tensor_floats(kernel->value)[0] = 0.625f;
  SP_ASSERT_OK(sp_save_weights(model, prefix, NULL)); /* tf.keras 2's rule: no extension → TF format */
  cr_assert(sp_checkpoint_exists(prefix));
  sp_probe_info info;
  SP_ASSERT_OK(sp_probe(prefix, &info));
  cr_assert_eq(info.format, SP_FORMAT_CHECKPOINT);
  SP_ASSERT_OK(sp_load_weights(copy, prefix, NULL));
  cr_assert_eq(sp_tensor_floats(variable(copy, "dense_4", "kernel")->value)[0], 0.625f);
  sp_model *loaded = NULL;
  SP_ASSERT_FAILS(sp_load(prefix, NULL, &loaded), SP_ERROR_MISMATCH, "sp_load_weights");
  SP_ASSERT_FAILS(sp_save(model, prefix, NULL), SP_ERROR_INVALID_ARGUMENT, "cannot tell how to save");
  sp_model_free(model);
  sp_model_free(copy);
  free(prefix);
  free(directory);
}

/* ---- optimizer state ---- */

static const char *const SPARSE_LOSS = "{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": {\"from_logits\": true}}";

Test(tf_checkpoint, a_compiled_model_writes_the_fixture_graph_node_for_node) {
  /* The fixture was saved from a compiled model before training: its optimizer is tracked but has
   * no variables yet, so the whole graph, optimizer node included, must come out the same. */
  char *fixture = fixture_prefix(FIXTURE);
  sp_model *model = tutorial_model();
  SP_ASSERT_OK(sp_model_compile(model, sp_adam(1e-3), SPARSE_LOSS, NULL));
  SP_ASSERT_OK(sp_checkpoint_read(model, fixture, NULL));
  char *directory = sp_test_temp_dir("tf_checkpoint_compiled");
  char *prefix = sp_path_join(directory, "cp-0000.ckpt");
  SP_ASSERT_OK(sp_checkpoint_write(model, prefix, NULL));
  Tensorflow__TrackableObjectGraph *written = read_graph(prefix), *expected = read_graph(fixture);
  char *written_text = flatten_graph(written, NULL), *expected_text = flatten_graph(expected, NULL);
  cr_assert_str_eq(written_text, expected_text);
  cr_assert_eq(written->n_nodes, expected->n_nodes);
  for (size_t n = 0; n < expected->n_nodes; n++) {
    cr_assert_eq(written->nodes[n]->n_children, expected->nodes[n]->n_children, "node %zu", n);
    for (size_t c = 0; c < expected->nodes[n]->n_children; c++) {
      cr_assert_str_eq(written->nodes[n]->children[c]->local_name, expected->nodes[n]->children[c]->local_name);
      cr_assert_eq(written->nodes[n]->children[c]->node_id, expected->nodes[n]->children[c]->node_id);
    }
  }
  free(written_text);
  free(expected_text);
  tensorflow__trackable_object_graph__free_unpacked(written, NULL);
  tensorflow__trackable_object_graph__free_unpacked(expected, NULL);
  sp_model_free(model);
  free(prefix);
  free(directory);
  free(fixture);
}

#define SINGLE_INPUT "tf-rust-keras-savedmodel/keras_single_input_saved_model/variables/variables"

/* The fixture's model: Sequential[Dense(5) test_in, Dense(5) dense, Dense(1) test_out] on 5 inputs. */
static sp_model *single_input_model(sp_optimizer *optimizer) {
  sp_model *model = dense_stack("single_input", 5,
                                (const char *[]){"{\"name\": \"test_in\", \"units\": 5}", "{\"name\": \"dense\", \"units\": 5}",
                                                 "{\"name\": \"test_out\", \"units\": 1}", NULL});
  SP_ASSERT_OK(sp_model_initialize(model));
  SP_ASSERT_OK(sp_model_compile(model, optimizer, "mse", NULL));
  return model;
}

/* The optimizer variable named "<optimizer>/<suffix>". */
static const sp_tensor *optimizer_value(sp_model *model, const char *suffix) {
  const sp_optimizer *optimizer = sp_model_optimizer(model);
  for (int i = 0; i < sp_optimizer_variable_count(optimizer); i++) {
    const char *name = sp_optimizer_variable_name(optimizer, i);
    const char *slash = strchr(name, '/');
    if (slash && strcmp(slash + 1, suffix) == 0) return sp_optimizer_variable_value(optimizer, i);
  }
  cr_assert_fail("no optimizer variable */%s", suffix);
  return NULL;
}

Test(tf_checkpoint, reads_tf_keras_optimizer_slots_into_our_optimizer) {
  char *prefix = fixture_prefix(SINGLE_INPUT);
  sp_model *model = single_input_model(sp_adam(1e-3));
  SP_ASSERT_OK(sp_checkpoint_read(model, prefix, NULL));
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  assert_tensor_equals_bundle(optimizer_value(model, "iteration"), reader, "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE");
  assert_tensor_equals_bundle(optimizer_value(model, "learning_rate"), reader,
                              "optimizer/learning_rate/.ATTRIBUTES/VARIABLE_VALUE");
  const char *layers[] = {"test_in", "dense", "test_out"}, *variables[] = {"kernel", "bias"};
  const char *slots[][2] = {{"momentum", "m"}, {"velocity", "v"}};
  for (int l = 0; l < 3; l++)
    for (int v = 0; v < 2; v++)
      for (int s = 0; s < 2; s++) {
        char name[96], key[160];
        snprintf(name, sizeof name, "single_input_%s_%s_%s", layers[l], variables[v], slots[s][0]);
        snprintf(key, sizeof key, "layer_with_weights-%d/%s/.OPTIMIZER_SLOT/optimizer/%s/.ATTRIBUTES/VARIABLE_VALUE", l,
                 variables[v], slots[s][1]);
        assert_tensor_equals_bundle(optimizer_value(model, name), reader, key);
      }
  cr_assert_gt(*(const int64_t *)optimizer_value(model, "iteration")->data, 0);
  sp_bundle_close(reader);
  sp_model_free(model);
  free(prefix);
}

/* The fixture's keys other than Keras's metrics and SavedModel-only objects, sorted. */
static int is_model_or_optimizer_key(const char *key) {
  return strncmp(key, "layer_with_weights-", 19) == 0 || strncmp(key, "optimizer/", 10) == 0;
}

Test(tf_checkpoint, writes_optimizer_state_in_tf_keras_layout) {
  char *fixture = fixture_prefix(SINGLE_INPUT);
  sp_model *model = single_input_model(sp_adam(1e-3));
  SP_ASSERT_OK(sp_checkpoint_read(model, fixture, NULL));
  char *directory = sp_test_temp_dir("tf_checkpoint_optimizer_layout");
  char *prefix = sp_path_join(directory, "ckpt");
  SP_ASSERT_OK(sp_checkpoint_write(model, prefix, NULL));

  /* Same keys as tf.keras wrote for the model and its Adam, with the same values (hyperparameters
   * beta_1, beta_2 and decay included: Keras defaults on both sides). */
  sp_bundle_reader *ours, *theirs;
  SP_ASSERT_OK(sp_bundle_open(prefix, &ours));
  SP_ASSERT_OK(sp_bundle_open(fixture, &theirs));
  size_t compared = 0;
  for (size_t i = 0; i < sp_bundle_count(theirs); i++) {
    const char *key = sp_bundle_entry_at(theirs, i)->key;
    if (!is_model_or_optimizer_key(key)) continue;
    sp_tensor *value;
    SP_ASSERT_OK(sp_bundle_read(ours, key, &value));
    assert_tensor_equals_bundle(value, theirs, key);
    sp_tensor_free(value);
    compared++;
  }
  cr_assert_eq(compared, 6 + 5 + 12);
  cr_assert_eq(sp_bundle_count(ours), compared + 1, "only the object graph besides");
  sp_bundle_close(ours);
  sp_bundle_close(theirs);

  /* The optimizer node as tf.keras builds it: iter then the sorted hyperparameters, and the slot
   * variable references in the same order with the same names. */
  Tensorflow__TrackableObjectGraph *written = read_graph(prefix), *expected = read_graph(fixture);
  int ours_node = -1, theirs_node = -1;
  for (size_t c = 0; c < written->nodes[0]->n_children; c++)
    if (strcmp(written->nodes[0]->children[c]->local_name, "optimizer") == 0) ours_node = written->nodes[0]->children[c]->node_id;
  for (size_t c = 0; c < expected->nodes[0]->n_children; c++)
    if (strcmp(expected->nodes[0]->children[c]->local_name, "optimizer") == 0) theirs_node = expected->nodes[0]->children[c]->node_id;
  cr_assert(ours_node > 0 && theirs_node > 0);
  const Tensorflow__TrackableObjectGraph__TrackableObject *a = written->nodes[ours_node], *b = expected->nodes[theirs_node];
  cr_assert_eq(a->n_children, b->n_children);
  for (size_t c = 0; c < a->n_children; c++) {
    cr_assert_str_eq(a->children[c]->local_name, b->children[c]->local_name);
    const Tensorflow__TrackableObjectGraph__TrackableObject *x = written->nodes[a->children[c]->node_id],
                                                              *y = expected->nodes[b->children[c]->node_id];
    cr_assert_str_eq(x->attributes[0]->full_name, y->attributes[0]->full_name);
  }
  cr_assert_eq(a->n_slot_variables, b->n_slot_variables);
  for (size_t s = 0; s < a->n_slot_variables; s++) {
    const Tensorflow__TrackableObjectGraph__TrackableObject__SlotVariableReference *x = a->slot_variables[s],
                                                                                   *y = b->slot_variables[s];
    cr_assert_str_eq(x->slot_name, y->slot_name);
    cr_assert_str_eq(written->nodes[x->original_variable_node_id]->attributes[0]->checkpoint_key,
                     expected->nodes[y->original_variable_node_id]->attributes[0]->checkpoint_key);
    cr_assert_str_eq(written->nodes[x->slot_variable_node_id]->attributes[0]->checkpoint_key,
                     expected->nodes[y->slot_variable_node_id]->attributes[0]->checkpoint_key);
    cr_assert_str_eq(written->nodes[x->slot_variable_node_id]->attributes[0]->full_name,
                     expected->nodes[y->slot_variable_node_id]->attributes[0]->full_name);
    /* Slot variables are numbered after every other object, slot name by slot name, as TF does. */
    cr_assert_eq(x->slot_variable_node_id, (int)(written->n_nodes - a->n_slot_variables + s));
  }
  tensorflow__trackable_object_graph__free_unpacked(written, NULL);
  tensorflow__trackable_object_graph__free_unpacked(expected, NULL);
  sp_model_free(model);
  free(prefix);
  free(directory);
  free(fixture);
}

Test(tf_checkpoint, reads_the_keras_2_11_optimizer_layout) {
  /* Keras 2.11+ optimizers track _iterations, _learning_rate and _variables: [iteration, then the
   * slots in Keras 3's order (m, v interleaved per variable)]. */
  char *prefix = fixture_prefix("keras2.12-house-price-h5-savedmodel-tfjsgraph/saved_model/variables/variables");
  sp_model *model = dense_stack("house_price", 99,
                                (const char *[]){"{\"name\": \"a\", \"units\": 128}", "{\"name\": \"b\", \"units\": 128}",
                                                 "{\"name\": \"c\", \"units\": 1}", NULL});
  SP_ASSERT_OK(sp_model_compile(model, sp_adam(1e-3), "mse", NULL));
  SP_ASSERT_OK(sp_checkpoint_read(model, prefix, NULL));
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  const sp_optimizer *optimizer = sp_model_optimizer(model);
  assert_tensor_equals_bundle(sp_optimizer_variable_value(optimizer, 0), reader,
                              "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE");
  cr_assert_eq(*(const int64_t *)sp_optimizer_variable_value(optimizer, 0)->data, 145200); /* savepoint show of the fixture */
  assert_tensor_equals_bundle(sp_optimizer_variable_value(optimizer, 1), reader,
                              "optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE");
  cr_assert_eq(sp_optimizer_variable_count(optimizer), 14);
  for (int i = 2; i < 14; i++) {
    char key[96];
    snprintf(key, sizeof key, "optimizer/_variables/%d/.ATTRIBUTES/VARIABLE_VALUE", i - 1);
    assert_tensor_equals_bundle(sp_optimizer_variable_value(optimizer, i), reader, key);
  }
  sp_bundle_close(reader);
  sp_model_free(model);
  free(prefix);
}

Test(tf_checkpoint, another_optimizer_keeps_its_state_and_the_weights_still_load) {
  char *prefix = fixture_prefix(SINGLE_INPUT);
  sp_model *model = single_input_model(sp_sgd(0.01, 0.9, 0));
  SP_ASSERT_OK(sp_model_build_optimizer_variables(model));
  SP_ASSERT_OK(sp_checkpoint_read(model, prefix, NULL)); /* a warning: Adam's slots do not fit SGD */
  sp_bundle_reader *reader;
  SP_ASSERT_OK(sp_bundle_open(prefix, &reader));
  assert_tensor_equals_bundle(variable(model, "dense", "kernel")->value, reader,
                              "layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  cr_assert_eq(*(const int64_t *)optimizer_value(model, "iteration")->data, 0);
  const sp_tensor *momentum = optimizer_value(model, "single_input_dense_kernel_momentum");
  for (int64_t i = 0; i < sp_tensor_count(momentum); i++) cr_assert_eq(sp_tensor_floats(momentum)[i], 0.0f);
  sp_bundle_close(reader);
  sp_model_free(model);
  free(prefix);
}

/* One optimizer configuration per case: its tf.keras 2 slot names, in creation order. */
typedef struct optimizer_case {
  const char *config;
  const char *slots[5];
  const char *hyperparameters[8];
} optimizer_case;

Test(tf_checkpoint, every_optimizer_round_trips_bit_exactly_under_tf_keras_names) {
  static const optimizer_case cases[] = {
      {"{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.05, \"momentum\": 0.9, \"nesterov\": true}}",
       {"momentum"}, {"iter", "decay", "learning_rate", "momentum"}},
      {"{\"class_name\": \"Adam\", \"config\": {\"amsgrad\": true}}", {"m", "v", "vhat"},
       {"iter", "beta_1", "beta_2", "decay", "learning_rate"}},
      {"{\"class_name\": \"AdamW\", \"config\": {\"weight_decay\": 0.01}}", {"m", "v"},
       {"iter", "beta_1", "beta_2", "decay", "learning_rate", "weight_decay"}},
      {"{\"class_name\": \"RMSprop\", \"config\": {\"momentum\": 0.5, \"centered\": true}}", {"rms", "momentum", "mg"},
       {"iter", "decay", "learning_rate", "momentum", "rho"}},
      {"{\"class_name\": \"Adagrad\", \"config\": {}}", {"accumulator"}, {"iter", "decay", "learning_rate"}},
      {"{\"class_name\": \"Nadam\", \"config\": {}}", {"m", "v"},
       {"iter", "beta_1", "beta_2", "decay", "learning_rate", "momentum_cache"}},
      {"{\"class_name\": \"Adam\", \"config\": {\"gradient_accumulation_steps\": 2}}",
       {"gradient_accumulator", "m", "v"}, {"iter", "beta_1", "beta_2", "decay", "learning_rate"}},
  };
  sp_tensor *x = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){10, 5}), *y = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){10, 1});
  for (int i = 0; i < 50; i++) sp_tensor_floats(x)[i] = (float)((i * 37) % 11) / 11.0f - 0.4f;
  for (int i = 0; i < 10; i++) sp_tensor_floats(y)[i] = (float)(i % 3) - 1.0f;
  char *directory = sp_test_temp_dir("tf_checkpoint_optimizers");
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    sp_model *model = single_input_model(sp_optimizer_from_config(cases[c].config));
    sp_fit_options options = sp_fit_defaults();
    options.batch_size = 4;
    options.epochs = 2;
    options.verbose = 0;
    options.seed = 5;
    SP_ASSERT_OK(sp_model_fit(model, x, y, &options, NULL));
    char *prefix = sp_path_join(directory, "case");
    SP_ASSERT_OK(sp_checkpoint_write(model, prefix, NULL));

    Tensorflow__TrackableObjectGraph *graph = read_graph(prefix);
    const Tensorflow__TrackableObjectGraph__TrackableObject *root = graph->nodes[0], *node = NULL;
    for (size_t k = 0; k < root->n_children; k++)
      if (strcmp(root->children[k]->local_name, "optimizer") == 0) node = graph->nodes[root->children[k]->node_id];
    cr_assert_not_null(node, "%s", cases[c].config);
    size_t hyperparameters = 0;
    while (cases[c].hyperparameters[hyperparameters]) hyperparameters++;
    cr_assert_eq(node->n_children, hyperparameters, "%s", cases[c].config);
    for (size_t k = 0; k < hyperparameters; k++)
      cr_assert_str_eq(node->children[k]->local_name, cases[c].hyperparameters[k], "%s", cases[c].config);
    size_t slot_names = 0;
    while (cases[c].slots[slot_names]) slot_names++;
    cr_assert_eq(node->n_slot_variables, slot_names * 6, "%s", cases[c].config);
    for (size_t s = 0; s < node->n_slot_variables; s++)
      cr_assert_str_eq(node->slot_variables[s]->slot_name, cases[c].slots[s / 6], "%s", cases[c].config);
    tensorflow__trackable_object_graph__free_unpacked(graph, NULL);

    sp_model *copy = single_input_model(sp_optimizer_from_config(cases[c].config));
    SP_ASSERT_OK(sp_checkpoint_read(copy, prefix, NULL));
    const sp_optimizer *a = sp_model_optimizer(model), *b = sp_model_optimizer(copy);
    cr_assert_eq(sp_optimizer_variable_count(a), sp_optimizer_variable_count(b));
    for (int i = 0; i < sp_optimizer_variable_count(a); i++) {
      const sp_tensor *p = sp_optimizer_variable_value(a, i), *q = sp_optimizer_variable_value(b, i);
      cr_assert(sp_tensor_same_shape(p, q) && memcmp(p->data, q->data, p->size) == 0, "%s: %s",
                cases[c].config, sp_optimizer_variable_name(a, i));
    }
    cr_assert_gt(*(const int64_t *)sp_optimizer_variable_value(b, 0)->data, 0);
    sp_model_free(model);
    sp_model_free(copy);
    free(prefix);
  }
  sp_tensor_free(x);
  sp_tensor_free(y);
  free(directory);
}
