/* model_loading.h — the one place the training commands (train, evaluate, predict, demo's
 * later steps) turn a path into a model.
 *
 * Today it reads a Keras config JSON (config.json of a .keras archive, model.to_json(), Keras 2
 * or 3 layout); a compile_config inside it is kept on the model for the commands to honour.
 * When the format codecs land, sp_cli_load_model() becomes a call to their sp_load(path, …)
 * (weights, optimizer state and all) and nothing else in the commands changes.
 */
#ifndef SP_CLI_MODEL_LOADING_H
#define SP_CLI_MODEL_LOADING_H

#include <json.h>

#include "savepoint/model.h"

/* Loads the model at path. */
sp_status sp_cli_load_model(const char *path, sp_model **model);
/* The compile_config stored with the model (borrowed; NULL when there is none). */
const json_object *sp_cli_model_compile_config(const sp_model *model);

#endif
