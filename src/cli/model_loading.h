/* model_loading.h — the one place the training commands (train, evaluate, predict, demo's
 * later steps) turn a path into a model.
 *
 * It is sp_load (savepoint/io.h): any model file savepoint reads — .keras, legacy .h5, TF.js,
 * a Keras SavedModel, or a bare Keras config JSON (config.json of a .keras archive,
 * model.to_json(), Keras 2 or 3 layout) — with its weights and, for full-model files, its
 * training config and optimizer state. A compile_config is kept on the model for the commands
 * to honour (sp_cli_compile keeps a restored optimizer unless flags replace it).
 */
#ifndef SP_CLI_MODEL_LOADING_H
#define SP_CLI_MODEL_LOADING_H

#include <json.h>

#include "savepoint/model.h"

/* Loads the model at path; with map_weights, its weights are viewed in a mapping of the file
 * (sp_load_options.map_weights) — for the commands that only read them. */
sp_status sp_cli_load_model(const char *path, int map_weights, sp_model **model);
/* The help line of the read-only commands' --map-weights. */
extern const char sp_cli_map_weights_help[];
/* The compile_config stored with the model (borrowed; NULL when there is none). */
const json_object *sp_cli_model_compile_config(const sp_model *model);

#endif
