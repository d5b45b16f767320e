/* config.h (internal) — Keras config JSON ↔ sp_model, in both layouts.
 *
 * Keras 3 (config.json): objects are {module, class_name, config, registered_name,
 * build_config?}; Functional layers carry inbound_nodes as [{"args": [...], "kwargs": {...}}]
 * with __keras_tensor__ references. Keras 2 (model.to_json(), .h5 model_config): objects are
 * {class_name, config}; inbound_nodes are [[[layer, node, tensor, kwargs], …], …]; Keras 1/2.0
 * Sequential configs are a bare list of layers. Both read into one model; unknown keys are
 * kept and written back. Code is never executed: __lambda__, Lambda layers and modules
 * outside the Keras namespaces are refused before anything is built.
 */
#ifndef SP_NN_CONFIG_H
#define SP_NN_CONFIG_H

#include <json.h>

#include "nn/model.h"

typedef struct sp_config_options {
  int keras_major; /* 0: detect from the layout; 1–3: the Keras version that wrote it */
} sp_config_options;

/* Refuses configs that name code (see file comment). context names the file in messages. */
sp_status sp_config_check_safe(const json_object *root, const char *context) SP_MUST_CHECK;
/* Builds (and builds/plans) a model from a parsed config object. */
sp_status sp_model_from_config_object(const json_object *root, const sp_config_options *options,
                                      sp_model **model) SP_MUST_CHECK;
/* The config tree for keras_major 3 (config.json layout, without compile_config) or 2
 * ({class_name, config} as model.to_json() writes it). Caller owns the result. */
json_object *sp_model_config_json(const sp_model *model, int keras_major);

#endif
