/* saved_model.h — exporting a model as a SavedModel TensorFlow Serving serves, and rebuilding the
 * Keras model inside a SavedModel that tf.keras wrote.
 *
 *   sp_export_options options = sp_export_defaults();
 *   options.version = 1;                               // models/mnist/1/
 *   SP_TRY(sp_export_saved_model(model, "models/mnist", &options));
 *   // tensorflow_model_server --rest_api_port=8501 --model_name=mnist --model_base_path=$PWD/models/mnist
 *
 * The export is a TF1-style graph of standard ops (tag "serve", variables restored through
 * saver_def, a `serving_default` predict signature whose batch dimension stays -1), variables/ as a
 * tensor bundle, fingerprint.pb and savepoint.sha256. The directory appears complete or not at all:
 * it is built under a temporary name and renamed into place; a version directory that exists is
 * never overwritten.
 */
#ifndef SAVEPOINT_SAVED_MODEL_H
#define SAVEPOINT_SAVED_MODEL_H

#include <stdint.h>

#include "savepoint/model.h"
#include "savepoint/status.h"
#include "savepoint/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SP_DEFAULT_SIGNATURE "serving_default"
#define SP_PREDICT_METHOD "tensorflow/serving/predict"

/* One more signature over the same graph: other keys, or a subset of the outputs. */
typedef struct sp_signature_spec {
  const char *key;                  /* signature key, e.g. "probabilities" */
  const char *method_name;          /* NULL: "tensorflow/serving/predict" */
  const char *const *input_names;   /* one per model input; NULL: the default signature's keys */
  const char *const *output_names;  /* one per model output; NULL: the default signature's keys; an
                                       entry NULL leaves that output out of this signature */
} sp_signature_spec;

typedef struct sp_export_options {
  const char *signature_name;       /* key of the default signature; NULL: "serving_default" */
  const char *const *input_names;   /* its input keys, one per model input; NULL: the model's input names */
  const char *const *output_names;  /* its output keys, one per model output; NULL: the model's output names */
  const sp_signature_spec *extra_signatures;
  int extra_signature_count;
  int64_t version;                  /* > 0: write DIR/<version>/ (TF Serving's layout) and refuse an
                                       existing version; 0: write DIR itself */
  int replace;                      /* unversioned only: replace an existing DIR atomically */
  int64_t sequence_length;          /* recurrent layers are unrolled: the time steps to build for when
                                       the model's input leaves them unknown (0: refuse such models) */
} sp_export_options;

sp_export_options sp_export_defaults(void);

/* Exports a built model (loaders return built models; sp_model_build builds one made in C).
 * options may be NULL. A layer class the exporter cannot express in TensorFlow ops fails with
 * SP_ERROR_UNSUPPORTED naming the layer. */
sp_status sp_export_saved_model(const sp_model *model, const char *directory, const sp_export_options *options);

/* The directory an export with these options writes: DIR, or DIR/<version> (caller frees). */
char *sp_export_path(const char *directory, const sp_export_options *options);

/* Rebuilds the Keras model stored in a SavedModel written by tf.keras (the architecture from
 * keras_metadata.pb, or from the object graph's metadata before TF 2.5; the weights from variables/),
 * so that it can be trained further, converted or served. SP_ERROR_UNSUPPORTED when the SavedModel
 * holds no Keras Sequential or Functional model (a tf.Module, a TF1 graph, a subclassed model).
 * Like tf.keras's load_model, the model is compiled from its training config and its optimizer's
 * state restored (sp_load with options.compile = 0 skips both). */
sp_status sp_load_keras_saved_model(const char *directory, sp_model **model);

#ifdef __cplusplus
}
#endif
#endif
