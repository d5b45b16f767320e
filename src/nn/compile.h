/* compile.h — what model.compile() sets up, and its config as Keras writes it.
 *
 * sp_training_config (model->training) holds the optimizer, one loss and loss weight per model
 * output, and the metrics Keras would report, in Keras's model.metrics order:
 *   "loss"                        the total loss (weighted sum of the output losses + regularization)
 *   compile metrics               per output, then weighted_metrics; named "<output>_<metric>" when
 *                                 the model has several outputs, de-duplicated as Keras does
 *   "<output>_loss"               one per output loss, only when there are several
 * The specs given to compile (loss, loss_weights, metrics, weighted_metrics) are kept as JSON and
 * written back unchanged, so a load → save round trip keeps them.
 *
 * For the format codecs: sp_model_compile_from_config() reads a Keras 3 compile_config
 * (config.json) or a training_config (.h5 attribute, Keras 2 or 3); sp_training_config_json()
 * writes either layout; the optimizer's variables are built and enumerated through
 * sp_model_build_optimizer() and the sp_optimizer_variable list (nn/optimizer.h, Keras 3 order).
 */
#ifndef SP_NN_COMPILE_H
#define SP_NN_COMPILE_H

#include <json.h>

#include "nn/loss.h"
#include "nn/metric.h"
#include "nn/model.h"
#include "nn/optimizer.h"

typedef enum sp_training_layout {
  SP_LAYOUT_KERAS3_COMPILE_CONFIG,  /* "compile_config" in a .keras config.json */
  SP_LAYOUT_KERAS3_TRAINING_CONFIG, /* "training_config" attribute of a Keras 3 legacy .h5 */
  SP_LAYOUT_KERAS2_TRAINING_CONFIG  /* "training_config" of a tf.keras 2 .h5 (optimizer_v2 keys) */
} sp_training_layout;

typedef struct sp_tracked_metric {
  sp_metric metric;
  int output;      /* the model output it reads; -1 for the total loss */
  int output_loss; /* 1 for a "<output>_loss" tracker (fed the output's unweighted loss) */
} sp_tracked_metric;

struct sp_training_config {
  sp_optimizer *optimizer;
  int output_count;
  sp_loss *losses;       /* per output; kind SP_LOSS_NONE when an output has no loss */
  double *loss_weights;  /* per output; 1 when none was given */
  int metric_count;
  sp_tracked_metric *metrics; /* Keras model.metrics order (see above); [0] is "loss" */
  int resolved;          /* losses and metrics checked against real shapes */
  json_object *loss_spec, *loss_weights_spec, *metrics_spec, *weighted_metrics_spec, *jit_compile;
  int run_eagerly;
  int64_t steps_per_execution;
};

/* Compiles model from compile() arguments given as Keras JSON values (any may be NULL except
 * optimizer, which the model takes, also on failure). Replaces an earlier compile. */
sp_status sp_model_compile_specs(sp_model *model, sp_optimizer *optimizer, const json_object *loss,
                                 const json_object *loss_weights, const json_object *metrics,
                                 const json_object *weighted_metrics) SP_MUST_CHECK;
/* Compiles from a Keras 3 compile_config or a Keras 2/3 training_config; context names the source. */
sp_status sp_model_compile_from_config(sp_model *model, const json_object *config, const char *context) SP_MUST_CHECK;
/* The compile config in the given layout; NULL (with an error) when the model is not compiled. */
json_object *sp_training_config_json(const sp_model *model, sp_training_layout layout);
/* model->training, or NULL when the model is not compiled. */
sp_training_config *sp_model_training_config(const sp_model *model);
/* Creates the optimizer's variables for the model's trainable variables (compile_from_config does
 * this too, as Keras does, so that a loader can then set them). */
sp_status sp_model_build_optimizer(sp_model *model) SP_MUST_CHECK;

/* Resolves "accuracy"/"crossentropy" and checks every loss and metric against real y shapes. */
sp_status sp_training_config_resolve(sp_training_config *training, int count, const sp_tensor *const *y_true,
                                     const sp_tensor *const *y_pred) SP_MUST_CHECK;
/* Total regularization penalty of the model's variables (and, with gradients, its gradient added
 * into the trainable variables' gradients). */
double sp_model_regularization(const sp_model *model, int with_gradients);

void sp_training_config_free(sp_training_config *training);

#endif
