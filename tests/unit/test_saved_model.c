/* Tests of formats/saved_model.c and saved_model_describe.c against every SavedModel fixture.
 * Expected tags, TensorFlow versions, signatures and tensor infos are PROVENANCE.md Appendix A;
 * fingerprint values were decoded from fingerprint.pb with `protoc --decode_raw`; the show layout
 * is saved_model_cli.py's (tensorflow/python/tools/saved_model_cli.py). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/json.h"
#include "formats/saved_model.h"
#include "formats/saved_model_describe.h"
#include "test_support.h"

typedef struct expected_model {
  const char *directory;
  const char *tag_set;
  const char *tensorflow_version;
  const char *signatures; /* sorted keys joined with "," */
} expected_model;

static const expected_model appendix_a[] = {
    {"tfserving-testdata/saved_model_counter/00000123", "serve", "1.5.0-rc1",
     "get_counter,incr_counter,incr_counter_by,reset_counter"},
    {"tfserving-testdata/saved_model_half_plus_three/00000123", "serve", "1.0.0-rc2",
     "serving_default,tensorflow/serving/regress"},
    {"tfserving-testdata/saved_model_half_plus_two_2_versions/00000123", "serve", "1.1.0-rc2",
     "classify_x2_to_y3,classify_x_to_y,regress_x2_to_y3,regress_x_to_y,regress_x_to_y2,serving_default"},
    {"tfserving-testdata/saved_model_half_plus_two_2_versions/00000124", "serve", "1.1.0-rc2",
     "classify_x2_to_y3,classify_x_to_y,regress_x2_to_y3,regress_x_to_y,regress_x_to_y2,serving_default"},
    {"tfserving-testdata/saved_model_half_plus_two_cpu/00000123", "serve", "1.14.0",
     "classify_x_to_y,regress_x2_to_y3,regress_x_to_y,regress_x_to_y2,serving_default"},
    {"tfserving-testdata/saved_model_half_plus_two_cpu_with_saved_model_config/00000123", "serve", "2.4.0",
     "classify_x2_to_y3,classify_x_to_y,regress_x2_to_y3,regress_x_to_y,regress_x_to_y2,serving_default"},
    {"tfserving-testdata/saved_model_half_plus_two_gpu/00000123", "serve", "1.9.0",
     "classify_x2_to_y3,classify_x_to_y,regress_x2_to_y3,regress_x_to_y,regress_x_to_y2,serving_default"},
    {"tfserving-testdata/saved_model_half_plus_two_mkl/00000123", "serve", "1.12.0-rc0",
     "classify_x_to_y,regress_x2_to_y3,regress_x_to_y,regress_x_to_y2,serving_default"},
    {"tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123", "serve", "2.14.0",
     "__saved_model_init_op,classify_x2_to_y3,classify_x_to_y,regress_x2_to_y3,regress_x_to_y,regress_x_to_y2,"
     "serving_default"},
    {"tfserving-batching-testdata/matrix_half_plus_two/1", "serve", "1.2.0-rc2", "serving_default"},
    {"tf-cc-saved-model-testdata/half_plus_two/00000123", "serve", "1.1.0-rc2",
     "classify_x2_to_y3,classify_x_to_y,regress_x2_to_y3,regress_x_to_y,regress_x_to_y2,serving_default"},
    {"tf-cc-saved-model-testdata/half_plus_two_main_op/00000123", "serve", "1.1.0-rc2",
     "classify_x2_to_y3,classify_x_to_y,regress_x2_to_y3,regress_x_to_y,regress_x_to_y2,serving_default"},
    {"tf-cc-saved-model-testdata/half_plus_two_v2/00000123", "serve", "1.12.0-rc0",
     "__saved_model_init_op,classify_x_to_y,regress_x2_to_y3,regress_x_to_y,regress_x_to_y2,serving_default"},
    {"tf-cc-saved-model-testdata/x_plus_y_v2_debuginfo", "serve", "1.14.0", "__saved_model_init_op,serving_default"},
    {"tfjs-node-savedmodels/saved_model/int64_multiply", "serve", "2.3.1", "__saved_model_init_op,serving_default"},
    {"tfjs-node-savedmodels/saved_model/model_multi_output", "serve", "2.0.0", "__saved_model_init_op,serving_default"},
    {"tfjs-node-savedmodels/saved_model/model_single_input_multi_output", "serve", "2.0.0",
     "__saved_model_init_op,serving_default"},
    {"tfjs-node-savedmodels/saved_model/module_with_multiple_signatures", "serve", "2.0.0-beta1",
     "__saved_model_init_op,serving_default,timestwo"},
    {"tfjs-node-savedmodels/saved_model/times_three_float", "serve", "2.0.0-beta1",
     "__saved_model_init_op,serving_default"},
    {"tfjs-node-savedmodels/saved_model/times_two_int", "serve", "2.0.0-beta1", "__saved_model_init_op,serving_default"},
    {"tfjs-node-savedmodels/saved_model/uint8_multiply", "serve", "2.3.1", "__saved_model_init_op,serving_default"},
    {"tf-rust-keras-savedmodel/keras_multiple_inputs_saved_model", "serve", "2.3.0",
     "__saved_model_init_op,serving_default"},
    {"tf-rust-keras-savedmodel/keras_single_input_saved_model", "serve", "2.3.0",
     "__saved_model_init_op,serving_default"},
    {"tf-rust-regression-savedmodel/regression-model", "train,serve", "1.2.1", "tensorflow/serving/regress"},
    {"tf-rust-regression-savedmodel/regression_savedmodel", "serve", "2.5.0", "__saved_model_init_op,b,train,w"},
    {"keras-savedmodel-mlmath4-tf2.12/model", "serve", "2.12.0", "__saved_model_init_op,serving_default"},
    {"keras2.12-house-price-h5-savedmodel-tfjsgraph/saved_model", "serve", "2.12.0",
     "__saved_model_init_op,serving_default"},
    {"keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/handwritten.model", "serve", "2.10.1",
     "__saved_model_init_op,serving_default"},
};

static sp_saved_model *read_fixture(const char *relative) {
  char *path = sp_test_fixture(relative);
  sp_saved_model *model = NULL;
  SP_ASSERT_OK(sp_saved_model_read(path, &model));
  free(path);
  return model;
}

static char *joined_signature_keys(const sp_saved_model_meta_graph *meta_graph) {
  sp_buffer text = {0};
  for (size_t i = 0; i < meta_graph->signature_count; i++)
    cr_assert(sp_buffer_printf(&text, i ? ",%s" : "%s", meta_graph->signature_keys[i]) == SP_OK);
  cr_assert(sp_buffer_append(&text, "", 1) == SP_OK);
  return (char *)sp_buffer_detach(&text, NULL);
}

Test(saved_model, every_fixture_matches_appendix_a) {
  for (size_t i = 0; i < sizeof appendix_a / sizeof *appendix_a; i++) {
    const expected_model *expected = &appendix_a[i];
    sp_saved_model *model = read_fixture(expected->directory);
    cr_assert_eq(model->meta_graph_count, 1, "%s", expected->directory);
    const sp_saved_model_meta_graph *meta_graph;
    SP_ASSERT_OK(sp_saved_model_find_meta_graph(model, expected->tag_set, &meta_graph));
    cr_assert_str_eq(meta_graph->tag_set, expected->tag_set, "%s", expected->directory);
    cr_assert_str_eq(meta_graph->proto->meta_info_def->tensorflow_version, expected->tensorflow_version, "%s",
                     expected->directory);
    char *keys = joined_signature_keys(meta_graph);
    cr_assert_str_eq(keys, expected->signatures, "%s", expected->directory);
    free(keys);
    cr_assert_eq(model->proto->saved_model_schema_version, 1, "%s", expected->directory);
    sp_saved_model_free(model);
  }
}

Test(saved_model, tag_sets_compare_as_sets) {
  sp_saved_model *model = read_fixture("tf-rust-regression-savedmodel/regression-model");
  const sp_saved_model_meta_graph *meta_graph;
  SP_ASSERT_OK(sp_saved_model_find_meta_graph(model, "serve, train", &meta_graph));
  SP_ASSERT_OK(sp_saved_model_find_meta_graph(model, "train,serve", &meta_graph));
  SP_ASSERT_FAILS(sp_saved_model_find_meta_graph(model, "serve", &meta_graph), SP_ERROR_NOT_FOUND,
                  "it has: 'train,serve'");
  SP_ASSERT_FAILS(sp_saved_model_find_meta_graph(model, "train,serve,gpu", &meta_graph), SP_ERROR_NOT_FOUND,
                  "tag-set 'train,serve,gpu'");
  sp_saved_model_free(model);
}

Test(saved_model, signature_tensor_infos) {
  sp_saved_model *model = read_fixture("tfserving-testdata/saved_model_half_plus_two_cpu/00000123");
  const sp_saved_model_meta_graph *serve;
  SP_ASSERT_OK(sp_saved_model_find_meta_graph(model, "serve", &serve));
  const sp_signature_proto *signature;
  SP_ASSERT_OK(sp_meta_graph_find_signature(serve, "serving_default", &signature));
  cr_assert_str_eq(signature->method_name, "tensorflow/serving/predict");
  const sp_tensor_info_proto *x = sp_signature_tensor_info(signature, 0, "x");
  cr_assert_not_null(x);
  cr_assert_str_eq(x->name, "x:0");
  cr_assert_eq(x->dtype, TENSORFLOW__DATA_TYPE__DT_FLOAT);
  cr_assert_eq(x->tensor_shape->n_dim, 2);
  cr_assert_eq(x->tensor_shape->dim[0]->size, -1);
  cr_assert_eq(x->tensor_shape->dim[1]->size, 1);
  SP_ASSERT_OK(sp_meta_graph_find_signature(serve, "classify_x_to_y", &signature));
  const sp_tensor_info_proto *inputs = sp_signature_tensor_info(signature, 0, "inputs");
  cr_assert_str_eq(inputs->name, "tf_example:0");
  cr_assert_eq(inputs->dtype, TENSORFLOW__DATA_TYPE__DT_STRING);
  cr_assert(inputs->tensor_shape->unknown_rank);
  SP_ASSERT_FAILS(sp_meta_graph_find_signature(serve, "predict", &signature), SP_ERROR_NOT_FOUND,
                  "it has: 'classify_x_to_y', 'regress_x2_to_y3'");
  cr_assert_str_eq(serve->proto->saver_def->restore_op_name, "save/restore_all");
  cr_assert_str_eq(serve->proto->saver_def->filename_tensor_name, "save/Const:0");
  sp_saved_model_free(model);
}

Test(saved_model, counter_outputs_are_float_refs) {
  sp_saved_model *model = read_fixture("tfserving-testdata/saved_model_counter/00000123");
  const sp_signature_proto *signature;
  SP_ASSERT_OK(sp_meta_graph_find_signature(&model->meta_graphs[0], "incr_counter", &signature));
  const sp_tensor_info_proto *output = sp_signature_tensor_info(signature, 1, "output");
  char scratch[24];
  cr_assert_str_eq(sp_data_type_name(output->dtype, scratch, sizeof scratch), "DT_FLOAT_REF");
  cr_assert_str_eq(output->name, "incr_counter_op/AssignAdd:0");
  sp_saved_model_free(model);
}

Test(saved_model, assets_from_asset_file_def_and_tf1_collection) {
  sp_saved_model *tf2 = read_fixture("tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123");
  cr_assert_eq(tf2->meta_graphs[0].asset_count, 1);
  cr_assert_str_eq(tf2->meta_graphs[0].assets[0].filename, "foo.txt");
  cr_assert_eq(tf2->asset_file_count, 1);
  cr_assert_str_eq(tf2->asset_files[0], "foo.txt");
  sp_saved_model_free(tf2);
  /* TF 1.1 stores the AssetFileDef in collection saved_model_assets (the pbtxt twin shows it). */
  sp_saved_model *tf1 = read_fixture("tf-cc-saved-model-testdata/half_plus_two/00000123");
  cr_assert_eq(tf1->meta_graphs[0].asset_count, 1);
  cr_assert_str_eq(tf1->meta_graphs[0].assets[0].filename, "foo.txt");
  cr_assert_str_eq(tf1->meta_graphs[0].assets[0].tensor_name, "Const:0");
  sp_saved_model_free(tf1);
}

Test(saved_model, init_ops_in_tf_order) {
  const char *name;
  sp_saved_model *model = read_fixture("tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123");
  SP_ASSERT_OK(sp_meta_graph_init_op(&model->meta_graphs[0], &name));
  cr_assert_str_eq(name, "NoOp");
  sp_saved_model_free(model);
  model = read_fixture("tf-cc-saved-model-testdata/half_plus_two_v2/00000123");
  SP_ASSERT_OK(sp_meta_graph_init_op(&model->meta_graphs[0], &name));
  cr_assert_str_eq(name, "group_deps_1");
  sp_saved_model_free(model);
}

Test(saved_model, fingerprint_and_keras_metadata) {
  sp_saved_model *model = read_fixture("tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123");
  cr_assert_not_null(model->fingerprint);
  cr_assert_eq(model->fingerprint->saved_model_checksum, UINT64_C(3202314178945370836));
  cr_assert_eq(model->fingerprint->graph_def_program_hash, UINT64_C(13265581747292989307));
  cr_assert_eq(model->fingerprint->signature_def_hash, UINT64_C(3442878103270210563));
  cr_assert_eq(model->fingerprint->saved_object_graph_hash, UINT64_C(16227935890437681837));
  cr_assert_eq(model->fingerprint->checkpoint_hash, UINT64_C(17568057568585441542));
  cr_assert_eq(model->fingerprint->version->producer, 1);
  cr_assert_null(model->keras_metadata);
  sp_saved_model_free(model);
  model = read_fixture("keras-savedmodel-mlmath4-tf2.12/model");
  cr_assert_not_null(model->fingerprint);
  cr_assert_not_null(model->keras_metadata);
  int found_root = 0;
  for (size_t i = 0; i < model->keras_metadata->n_nodes; i++)
    if (strcmp(model->keras_metadata->nodes[i]->node_path, "root") == 0) {
      found_root = 1;
      cr_assert_str_eq(model->keras_metadata->nodes[i]->identifier, "_tf_keras_sequential");
      cr_assert(strstr(model->keras_metadata->nodes[i]->metadata, "\"keras_version\": \"2.12.0\""));
    }
  cr_assert(found_root);
  sp_saved_model_free(model);
}

static char *show_text(const char *relative, const char *tag_set, const char *signature, int all) {
  sp_saved_model *model = read_fixture(relative);
  sp_saved_model_show_options options = {tag_set, signature, all};
  sp_buffer out = {0};
  SP_ASSERT_OK(sp_saved_model_show_text(model, &options, &out));
  cr_assert(sp_buffer_append(&out, "", 1) == SP_OK);
  sp_saved_model_free(model);
  return (char *)sp_buffer_detach(&out, NULL);
}

Test(show, tag_sets_like_saved_model_cli) {
  char *text = show_text("tf-rust-regression-savedmodel/regression-model", NULL, NULL, 0);
  cr_assert_str_eq(text, "The given SavedModel contains the following tag-sets:\n'serve, train'\n");
  free(text);
}

Test(show, signature_keys_like_saved_model_cli) {
  char *text = show_text("tfjs-node-savedmodels/saved_model/module_with_multiple_signatures", "serve", NULL, 0);
  cr_assert_str_eq(text,
                   "The given SavedModel MetaGraphDef contains SignatureDefs with the following keys:\n"
                   "SignatureDef key: \"__saved_model_init_op\"\n"
                   "SignatureDef key: \"serving_default\"\n"
                   "SignatureDef key: \"timestwo\"\n");
  free(text);
}

Test(show, inputs_outputs_like_saved_model_cli) {
  char *text = show_text("tf-cc-saved-model-testdata/half_plus_two/00000123", "serve", "classify_x_to_y", 0);
  cr_assert_str_eq(text,
                   "The given SavedModel SignatureDef contains the following input(s):\n"
                   "  inputs['inputs'] tensor_info:\n"
                   "      dtype: DT_STRING\n"
                   "      shape: unknown_rank\n"
                   "      name: tf_example:0\n"
                   "The given SavedModel SignatureDef contains the following output(s):\n"
                   "  outputs['scores'] tensor_info:\n"
                   "      dtype: DT_FLOAT\n"
                   "      shape: (-1, 1)\n"
                   "      name: y:0\n"
                   "Method name is: tensorflow/serving/classify\n");
  free(text);
}

Test(show, all_layout_and_details) {
  char *text = show_text("tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123", NULL, NULL, 1);
  cr_assert(strncmp(text, "\nMetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:\n", 74) == 0,
            "%s", text);
  cr_assert(strstr(text,
                   "\nsignature_def['serving_default']:\n"
                   "  The given SavedModel SignatureDef contains the following input(s):\n"
                   "    inputs['x'] tensor_info:\n"
                   "        dtype: DT_FLOAT\n"
                   "        shape: (1)\n"
                   "        name: serving_default_x:0\n"
                   "  The given SavedModel SignatureDef contains the following output(s):\n"
                   "    outputs['y'] tensor_info:\n"
                   "        dtype: DT_FLOAT\n"
                   "        shape: (1)\n"
                   "        name: StatefulPartitionedCall_5:0\n"
                   "  Method name is: tensorflow/serving/predict\n"),
            "%s", text);
  cr_assert(strstr(text, "    outputs['__saved_model_init_op'] tensor_info:\n"
                         "        dtype: DT_INVALID\n"
                         "        shape: unknown_rank\n"
                         "        name: NoOp\n"),
            "%s", text);
  cr_assert(strstr(text, "Written by TensorFlow 2.14.0"), "%s", text);
  cr_assert(strstr(text, "saved_model_checksum: 3202314178945370836"), "%s", text);
  cr_assert(strstr(text, "Asset: assets/foo.txt"), "%s", text);
  free(text);
}

Test(show, json_has_signatures_and_fingerprint) {
  sp_saved_model *model = read_fixture("tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123");
  sp_saved_model_show_options options = {"serve", "serving_default", 0};
  json_object *object;
  SP_ASSERT_OK(sp_saved_model_show_json(model, &options, &object));
  char *text = sp_json_dumps(object, 0);
  cr_assert(strstr(text, "\"serving_default\": {\"method_name\": \"tensorflow/serving/predict\", \"inputs\": "
                         "{\"x\": {\"name\": \"serving_default_x:0\", \"dtype\": \"DT_FLOAT\", \"shape\": [1]}}"),
            "%s", text);
  cr_assert(strstr(text, "\"checkpoint_hash\": \"17568057568585441542\""), "%s", text);
  cr_assert_null(strstr(text, "classify_x_to_y"), "filtered to one signature: %s", text);
  free(text);
  json_object_put(object);
  sp_saved_model_free(model);
}

Test(saved_model, text_format_twin_shows_the_same) {
  /* half_plus_two_pbtxt is the text form of half_plus_two (PROVENANCE.md section 4): saved_model_cli's
   * part of `show --all` is identical; only our "Source:" line differs. */
  char *text = show_text("tf-cc-saved-model-testdata/half_plus_two_pbtxt/00000123", NULL, NULL, 1);
  char *binary = show_text("tf-cc-saved-model-testdata/half_plus_two/00000123", NULL, NULL, 1);
  char *text_details = strstr(text, "\nSavedModel details"), *binary_details = strstr(binary, "\nSavedModel details");
  cr_assert(text_details && binary_details);
  *text_details = *binary_details = '\0';
  cr_assert_str_eq(text, binary);
  cr_assert(strstr(text_details + 1, "saved_model.pbtxt (text format)"));
  free(text);
  free(binary);
  sp_saved_model *model = read_fixture("tf-cc-saved-model-testdata/half_plus_two_pbtxt/00000123");
  cr_assert(model->text_format);
  cr_assert_str_eq(model->meta_graphs[0].assets[0].filename, "foo.txt");
  sp_saved_model_free(model);
}

Test(saved_model, variables_listed_like_appendix_b) {
  sp_saved_model *model = read_fixture("tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123");
  cr_assert(model->variables_listed);
  cr_assert_eq(model->variable_count, 4);
  cr_assert_str_eq(model->variables[0].key, "_CHECKPOINTABLE_OBJECT_GRAPH");
  cr_assert_eq(model->variables[0].dtype, SP_STRING);
  cr_assert_str_eq(model->variables[1].key, "a/.ATTRIBUTES/VARIABLE_VALUE");
  cr_assert_eq(model->variables[1].dtype, SP_FLOAT32);
  cr_assert_eq(model->variables[1].rank, 0);
  sp_saved_model_free(model);
  model = read_fixture("tfserving-testdata/saved_model_half_plus_two_mkl/00000123");
  cr_assert_eq(model->variable_count, 9);
  cr_assert_str_eq(model->variables[4].key, "conv2d/kernel");
  cr_assert_eq(model->variables[4].rank, 4);
  for (int d = 0; d < 4; d++) cr_assert_eq(model->variables[4].shape[d], 1);
  sp_saved_model_free(model);
  model = read_fixture("tfserving-batching-testdata/matrix_half_plus_two/1");
  cr_assert(!model->has_variables);
  cr_assert_eq(model->variable_count, 0);
  sp_saved_model_free(model);
  char *all = show_text("keras2.12-house-price-h5-savedmodel-tfjsgraph/saved_model", NULL, NULL, 1);
  cr_assert(strstr(all, "Variables (variables/variables): 23 tensors\n"), "%s", all);
  cr_assert(strstr(all, "    layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE: DT_FLOAT (99, 128)\n"), "%s", all);
  cr_assert(strstr(all, "    optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE: DT_INT64 ()\n"), "%s", all);
  cr_assert(strstr(all, "Keras metadata (keras_metadata.pb): "), "%s", all);
  free(all);
}

/* ---------- what is not a SavedModel ---------- */

Test(not_saved_model, legacy_session_bundle) {
  char *path = sp_test_fixture("tfserving-session-bundle-legacy/half_plus_two/00000123");
  sp_saved_model *model;
  SP_ASSERT_FAILS(sp_saved_model_read(path, &model), SP_ERROR_UNSUPPORTED,
                  "legacy SessionBundle export (export.meta");
  cr_assert(strstr(sp_last_error(), "not a SavedModel; re-export"));
  free(path);
}

Test(not_saved_model, directory_lists_what_it_holds) {
  char *path = sp_test_fixture("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel");
  sp_saved_model *model;
  SP_ASSERT_FAILS(sp_saved_model_read(path, &model), SP_ERROR_NOT_FOUND, "holds no saved_model.pb");
  cr_assert(strstr(sp_last_error(), "my_model.h5 (an HDF5 file"), "%s", sp_last_error());
  cr_assert(strstr(sp_last_error(), "handwritten.model (a SavedModel directory: pass this one)"), "%s", sp_last_error());
  cr_assert(strstr(sp_last_error(), "my_model (a directory holding a TF.js model.json)"), "%s", sp_last_error());
  cr_assert(strstr(sp_last_error(), "my_model.keras (a Keras .keras archive)"), "%s", sp_last_error());
  cr_assert(strstr(sp_last_error(), "savepoint show <path>"), "%s", sp_last_error());
  free(path);
}

Test(not_saved_model, serving_base_path_names_versions) {
  char *path = sp_test_fixture("tfserving-testdata/saved_model_half_plus_two_2_versions");
  sp_saved_model *model;
  SP_ASSERT_FAILS(sp_saved_model_read(path, &model), SP_ERROR_NOT_FOUND, "versions 00000123, 00000124");
  free(path);
}

Test(not_saved_model, file_given_for_directory) {
  char *path = sp_test_fixture("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model.h5");
  sp_saved_model *model;
  SP_ASSERT_FAILS(sp_saved_model_read(path, &model), SP_ERROR_INVALID_ARGUMENT, "is a file, an HDF5 file");
  free(path);
  path = sp_test_fixture("tfserving-testdata/saved_model_counter/00000123/saved_model.pb");
  SP_ASSERT_FAILS(sp_saved_model_read(path, &model), SP_ERROR_INVALID_ARGUMENT, "the SavedModel protobuf itself");
  free(path);
}

Test(not_saved_model, checkpoint_directory_names_the_prefix) {
  char *path = sp_test_fixture("tf-trt-mnist-ckpt");
  sp_saved_model *model;
  SP_ASSERT_FAILS(sp_saved_model_read(path, &model), SP_ERROR_NOT_FOUND, "contains: TensorFlow checkpoint 'model.ckpt-46900'");
  free(path);
}

Test(not_saved_model, checkpoint_prefix_and_missing_path) {
  char *path = sp_test_fixture("tf-trt-mnist-ckpt");
  char *prefix = sp_path_join(path, "model.ckpt-46900");
  sp_saved_model *model;
  SP_ASSERT_FAILS(sp_saved_model_read(prefix, &model), SP_ERROR_INVALID_ARGUMENT, "TensorFlow checkpoint prefix");
  SP_ASSERT_FAILS(sp_saved_model_read("/nonexistent/model", &model), SP_ERROR_NOT_FOUND,
                  "no such SavedModel directory");
  free(prefix);
  free(path);
}

/* ---------- hostile bytes ---------- */

Test(hostile, garbage_and_truncation_are_format_errors) {
  sp_saved_model *model;
  const uint8_t garbage[] = {0x12, 0xff, 0xff, 0xff, 0x0f, 0x01};
  SP_ASSERT_FAILS(sp_saved_model_parse(garbage, sizeof garbage, "garbage", &model), SP_ERROR_FORMAT,
                  "length runs past the end");
  const uint8_t empty[] = {0};
  SP_ASSERT_FAILS(sp_saved_model_parse(empty, 0, "empty", &model), SP_ERROR_FORMAT, "no meta graph");
  const uint8_t group[] = {0x0b};
  SP_ASSERT_FAILS(sp_saved_model_parse(group, 1, "group", &model), SP_ERROR_FORMAT, "unsupported wire type");
}

/* Wraps data[0..*size) in a length-delimited field with the given tag byte. */
static void wrap(uint8_t *data, size_t *size, uint8_t tag) {
  uint8_t header[6];
  size_t header_size = 0, length = *size;
  header[header_size++] = tag;
  do {
    uint8_t byte = length & 0x7f;
    length >>= 7;
    header[header_size++] = (uint8_t)(byte | (length ? 0x80 : 0));
  } while (length);
  memmove(data + header_size, data, *size);
  memcpy(data, header, header_size);
  *size += header_size;
}

Test(hostile, deep_nesting_is_refused_before_unpacking) {
  /* SavedModel.meta_graphs(2) > MetaGraphDef.graph_def(2) > GraphDef.node(1) > NodeDef.attr(5) > entry.value(2)
   * > [AttrValue.func(10) > NameAttrList.attr(2) > entry.value(2)] repeated: recursion protobuf-c does not bound. */
  enum { cycles = 3000 };
  static uint8_t data[cycles * 3 * 4 + 64];
  size_t size = 0;
  for (int i = 0; i < cycles; i++) {
    wrap(data, &size, 0x12);
    wrap(data, &size, 0x12);
    wrap(data, &size, 0x52);
  }
  const uint8_t outer[] = {0x12, 0x2a, 0x0a, 0x12, 0x12};
  for (int i = 0; i < 5; i++) wrap(data, &size, outer[i]);
  sp_saved_model *model;
  SP_ASSERT_FAILS(sp_saved_model_parse(data, size, "nested", &model), SP_ERROR_UNSAFE, "nested deeper than 100");
}

Test(hostile, asset_names_stay_inside_assets) {
  /* SavedModel { meta_graphs { asset_file_def { tensor_info { name: "a:0" } filename: "../x" } } } */
  const uint8_t asset[] = {0x0a, 0x05, 0x0a, 0x03, 'a', ':', '0', 0x12, 0x04, '.', '.', '/', 'x'};
  uint8_t meta_graph[2 + sizeof asset] = {0x32, sizeof asset};
  memcpy(meta_graph + 2, asset, sizeof asset);
  uint8_t saved_model[2 + sizeof meta_graph] = {0x12, sizeof meta_graph};
  memcpy(saved_model + 2, meta_graph, sizeof meta_graph);
  sp_saved_model *model;
  SP_ASSERT_FAILS(sp_saved_model_parse(saved_model, sizeof saved_model, "escape", &model), SP_ERROR_UNSAFE,
                  "asset file name '../x' is not a plain name");
}
