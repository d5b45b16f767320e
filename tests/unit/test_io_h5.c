/* Tests of the legacy Keras HDF5 codecs against every generation in the fixtures (Keras 1.2.2,
 * 2.0.8, 2.1.4, 2.2.4, 2.2.4-tf, 2.3.1, 2.4, 2.10, 2.12, 2.15, and Keras 3's legacy writer):
 * each loads through sp_load and reproduces PROVENANCE.md Appendix F. Also: weights-only files
 * by position and by name, the architecture-mismatch messages, and our own files round-tripping. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "formats/h5io.h"
#include "io_check.h"
#include "savepoint/io.h"

static const float xor_table[] = {0, 0, 0, 1, 1, 0, 1, 1};
static const float iris_rows[] = {5.1f, 3.5f, 1.4f, 0.2f, 6.7f, 3.0f, 5.2f, 2.3f};

static void check_xor(const char *relative, const float expected[4]) {
  sp_model *model = sp_test_load_fixture(relative);
  sp_test_predict_close(model, xor_table, 2, (int64_t[]){4, 2}, expected, 4, relative);
  sp_model_free(model);
}

static void check_iris(const char *relative, const float expected[6]) {
  sp_model *model = sp_test_load_fixture(relative);
  sp_test_predict_close(model, iris_rows, 2, (int64_t[]){2, 4}, expected, 6, relative);
  sp_model_free(model);
}

static void check_gen(const char *relative, int n, const float *expected, size_t count) {
  sp_model *model = sp_test_load_fixture(relative);
  float *rows = sp_test_gen(n);
  sp_test_predict_close(model, rows, 2, (int64_t[]){3, n}, expected, count, relative);
  free(rows);
  sp_model_free(model);
}

Test(legacy_h5, keras_2_2_4_xor) {
  check_xor("keras-h5-xor-k2.2.4/xor.h5", (const float[]){0.08179228f, 0.8161827f, 0.8167741f, 0.2434704f});
}

Test(legacy_h5, tf_keras_2_2_4_tf_xor) {
  check_xor("tfkeras-h5-xor-k2.2.4-tf/xor.h5", (const float[]){0.01501559f, 0.9932898f, 0.9908273f, 0.008242652f});
}

Test(legacy_h5, keras_3_6_legacy_writer_xor) {
  check_xor("keras3.6-h5-xor/xor_model.h5", (const float[]){0.0001922629f, 0.9999747f, 0.999961f, 1.208252e-05f});
}

Test(legacy_h5, keras_1_2_2_iris_with_output_dim_and_W_names) {
  check_iris("keras-h5-dl4j-coursera-k1.2.2-k2.0.8-k2.1.4/model_keras_1.h5",
             (const float[]){0.1504951f, 0.0520287f, 0.9899881f, 0.1815847f, 0.07666665f, 0.9804221f});
}

Test(legacy_h5, keras_2_0_8_iris_bare_list_config) {
  check_iris("keras-h5-dl4j-coursera-k1.2.2-k2.0.8-k2.1.4/model.h5",
             (const float[]){0.9956605f, 0.390642f, 0.1678819f, 0.9998484f, 0.9057136f, 0.2454897f});
}

Test(legacy_h5, keras_2_1_4_iris) {
  check_iris("keras-h5-dl4j-coursera-k1.2.2-k2.0.8-k2.1.4/iris_model.h5",
             (const float[]){0.9532608f, 0.04566183f, 0.00107739f, 0.001249508f, 0.2729306f, 0.7258199f});
}

Test(legacy_h5, keras_2_3_1_iris_with_dropout) {
  check_iris("keras-h5-iris-full-and-weights-k2.3.1/iris_model.h5",
             (const float[]){0.999976f, 2.395744e-05f, 4.361044e-13f, 2.085527e-07f, 0.0051745f, 0.9948254f});
}

Test(legacy_h5, tf_keras_2_4_iris) {
  check_iris("tfkeras-h5-iris-k2.4.0/iris_model.h5",
             (const float[]){0.7505486f, 0.1475718f, 0.1018796f, 0.06731676f, 0.3648139f, 0.5678693f});
}

Test(legacy_h5, tf_keras_2_10_iris) {
  check_iris("tfkeras-h5-iris-k2.10.0/iris_model.h5",
             (const float[]){0.9966132f, 0.003386753f, 5.471722e-11f, 6.1449e-08f, 0.01912244f, 0.9808775f});
}

Test(legacy_h5, hls4ml_keras_2_3_1_functional_three_layers) {
  check_gen("hls4ml-example-models-keras2.3.1-h5/keras/keras_3layer.h5", 16,
            (const float[]){0.02818391f, 0.743912f, 0.05544098f, 0.1371021f, 0.03536102f, 1.456815e-13f, 0.01320548f,
                            7.893241e-07f, 2.181821e-09f, 0.9867937f, 0.01037426f, 0.7177907f, 0.003965395f,
                            0.2678696f, 4.369886e-08f},
            15);
}

Test(legacy_h5, hls4ml_keras_2_3_1_batch_norm) {
  sp_test_require_layer("BatchNormalization", "recurrent");
  check_gen("hls4ml-example-models-keras2.3.1-h5/keras/keras_3layer_batch_norm.h5", 16,
            (const float[]){0.008519157f, 0.02836346f, 0.4440174f, 0.4550098f, 0.06409007f, 0.3201832f, 0.6036791f,
                            0.001737321f, 0.02492054f, 0.04947995f, 0.9853722f, 0.0007747803f, 0.0007560787f,
                            0.002246623f, 0.01085019f},
            15);
}

Test(legacy_h5, keras_2_12_house_price_with_custom_adam) {
  check_gen("keras2.12-house-price-h5-savedmodel-tfjsgraph/savedModel.h5", 99,
            (const float[]){1774.887f, 18915860.0f, 69279.36f}, 3);
}

Test(legacy_h5, keras_2_15_maternal_health_and_its_tfjs_agree) {
  const float expected[] = {0.4647651f, 0.3144669f, 0.2207681f, 0.4159444f, 0.3187284f,
                            0.2653272f, 0.5266374f, 0.2900032f, 0.1833594f};
  check_gen("tfjs-layers-from-keras2.15-maternal-health/notebook/my_keras_model.h5", 5, expected, 9);
  sp_model *h5 = sp_test_load_fixture("tfjs-layers-from-keras2.15-maternal-health/notebook/my_keras_model.h5");
  sp_model *tfjs = sp_test_load_fixture("tfjs-layers-from-keras2.15-maternal-health/tfjs_model/model.json");
  cr_assert(sp_test_same_weights(h5, tfjs), "the .h5 and TF.js copies should hold bit-identical weights");
  sp_model_free(h5);
  sp_model_free(tfjs);
}

Test(legacy_h5, keras_3_7_legacy_writer_churn) {
  check_gen("keras3.7-churn-keras-and-h5-same-model/my_model.h5", 19,
            (const float[]){0.1564455f, 0.6582941f, 0.01416638f}, 3);
}

Test(legacy_h5, conv_fixtures_need_the_conv_layers) {
  sp_test_require_layer("Conv2D", "conv");
  sp_model *model = sp_test_load_fixture("hls4ml-example-models-keras2.3.1-h5/keras/keras_conv2d_model.h5");
  sp_model_free(model);
  model = sp_test_load_fixture("hls4ml-example-models-keras2.3.1-h5/keras/keras_conv1d_small.h5");
  sp_model_free(model);
}

Test(legacy_h5, weights_only_keras_2_0_by_position_matches_its_full_model_twin) {
  char *json = sp_test_fixture("hls4ml-example-models-keras2.0-json-weights/keras/KERAS_3layer.json");
  char *weights = sp_test_fixture("hls4ml-example-models-keras2.0-json-weights/keras/KERAS_3layer_weights.h5");
  sp_model *model = NULL;
  SP_ASSERT_OK(sp_load(json, NULL, &model));
  SP_ASSERT_OK(sp_load_weights(model, weights, NULL));
  float *rows = sp_test_gen(16);
  const float expected[] = {0.02818391f, 0.743912f, 0.05544098f, 0.1371021f, 0.03536102f,
                            1.456815e-13f, 0.01320548f, 7.893241e-07f, 2.181821e-09f, 0.9867937f,
                            0.01037426f, 0.7177907f, 0.003965395f, 0.2678696f, 4.369886e-08f};
  sp_test_predict_close(model, rows, 2, (int64_t[]){3, 16}, expected, 15, "KERAS_3layer json + weights");
  sp_model *twin = sp_test_load_fixture("hls4ml-example-models-keras2.3.1-h5/keras/keras_3layer.h5");
  cr_assert(sp_test_same_weights(model, twin));
  sp_load_options options = sp_load_defaults();
  options.by_name = 1;
  SP_ASSERT_OK(sp_load_weights(model, weights, &options));
  sp_model_free(twin);
  sp_model_free(model);
  free(rows);
  free(json);
  free(weights);
}

Test(legacy_h5, full_and_weights_only_iris_are_identical) {
  sp_model *model = sp_test_load_fixture("keras-h5-iris-full-and-weights-k2.3.1/iris_model.h5");
  sp_model *copy = sp_test_load_fixture("keras-h5-iris-full-and-weights-k2.3.1/iris_model.h5");
  char *weights = sp_test_fixture("keras-h5-iris-full-and-weights-k2.3.1/iris_weight.h5");
  sp_model *loaded = NULL;
  SP_ASSERT_FAILS(sp_load(weights, NULL, &loaded), SP_ERROR_MISMATCH, "sp_load_weights");
  SP_ASSERT_OK(sp_model_initialize(copy));
  SP_ASSERT_OK(sp_load_weights(copy, weights, NULL));
  cr_assert(sp_test_same_weights(model, copy));
  sp_model_free(model);
  sp_model_free(copy);
  free(weights);
}
