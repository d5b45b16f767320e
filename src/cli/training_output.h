/* training_output.h — JSON output shared by the training commands (train, evaluate, predict, demo). */
#ifndef SP_CLI_TRAINING_OUTPUT_H
#define SP_CLI_TRAINING_OUTPUT_H

#include <json.h>

#include "savepoint/train.h"

/* {"loss": [...], ...} as history.history, or with last_only {"loss": <last value>, ...}. */
json_object *sp_cli_history_json(const sp_history *history, int last_only);
/* {"<name>": value, ...} in the order of the logs. */
json_object *sp_cli_logs_json(const sp_logs *logs);
/* Prints value as Python's json.dumps would, with a newline, and releases it. */
void sp_cli_print_json(json_object *value);

#endif
