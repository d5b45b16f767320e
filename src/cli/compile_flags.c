/* compile_flags.c — compile flags over a model's compile_config (see compile_flags.h). */
#include "cli/compile_flags.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/model_loading.h"
#include "cli/training_data.h"
#include "core/json.h"
#include "savepoint/train.h"

const char sp_cli_compile_help[] =
    "compile (default: the compile_config stored in the model config):\n"
    "  --optimizer NAME|JSON   sgd, adam, adamw, rmsprop, adagrad, nadam, or a Keras optimizer config\n"
    "                          (default adam when the model has none)\n"
    "  --learning-rate F       the optimizer's learning rate\n"
    "  --loss NAME|JSON        mse, mae, binary_crossentropy, categorical_crossentropy,\n"
    "                          sparse_categorical_crossentropy, or a Keras loss config such as\n"
    "                          '{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": {\"from_logits\": true}}'\n"
    "  --metrics A,B           metric names (accuracy, mae, mse, …) or a JSON list\n";

sp_cli_compile_flags sp_cli_compile_defaults(void) { return (sp_cli_compile_flags){.learning_rate = NAN}; }

int sp_cli_compile_option(const char *command, int option, const char *argument, sp_cli_compile_flags *flags) {
  switch (option) {
    case SP_CLI_OPTION_OPTIMIZER: flags->optimizer = argument; return 1;
    case SP_CLI_OPTION_LOSS: flags->loss = argument; return 1;
    case SP_CLI_OPTION_METRICS: flags->metrics = argument; return 1;
    case SP_CLI_OPTION_LEARNING_RATE:
      if (!sp_cli_parse_double(argument, &flags->learning_rate) || flags->learning_rate < 0) {
        sp_cli_usage_error(command, "--learning-rate needs a number >= 0, got '%s'", argument);
        return -1;
      }
      return 1;
    default: return 0;
  }
}

/* A flag value: JSON when it starts with '{' or '[', else a name. */
static sp_status flag_value(const char *text, const char *what, json_object **value) {
  if (text[0] == '{' || text[0] == '[') return sp_json_parse(text, strlen(text), what, value);
  *value = json_object_new_string(text);
  return SP_OK;
}

static sp_status metric_list(const char *text, json_object **list) {
  if (text[0] == '[') return sp_json_parse(text, strlen(text), "--metrics", list);
  *list = json_object_new_array();
  for (const char *start = text; *start;) {
    const char *end = strchr(start, ',');
    size_t length = end ? (size_t)(end - start) : strlen(start);
    if (length) json_object_array_add(*list, json_object_new_string_len(start, (int)length));
    start += length + (end ? 1 : 0);
  }
  return SP_OK;
}

static sp_status merged_config(const sp_model *model, const sp_cli_compile_flags *flags, json_object *config) {
  json_object *value;
  if (flags->optimizer) {
    SP_TRY(flag_value(flags->optimizer, "--optimizer", &value));
    json_object_object_del(config, "optimizer_config");
    json_object_object_add(config, "optimizer", value);
  } else if (!sp_json_member(config, "optimizer") && !sp_json_member(config, "optimizer_config")) {
    json_object_object_add(config, "optimizer", json_object_new_string("adam"));
  }
  if (flags->loss) {
    SP_TRY(flag_value(flags->loss, "--loss", &value));
    json_object_object_add(config, "loss", value);
  }
  if (flags->metrics) {
    SP_TRY(metric_list(flags->metrics, &value));
    json_object_object_add(config, "metrics", value);
  }
  json_object *loss = sp_json_member(config, "loss");
  if (!loss || json_object_is_type(loss, json_type_null))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' has no loss: give --loss, or a model config with a "
                   "compile_config", sp_model_name(model));
  return SP_OK;
}

sp_status sp_cli_compile(sp_model *model, const sp_cli_compile_flags *flags) {
  const json_object *stored = sp_cli_model_compile_config(model);
  json_object *config = NULL;
  if (stored && json_object_deep_copy((json_object *)stored, &config, NULL) != 0) return SP_ERROR_NO_MEMORY;
  if (!config) config = json_object_new_object();
  sp_status status = merged_config(model, flags, config);
  if (status == SP_OK) {
    char *text = sp_json_dumps(config, 0);
    status = text ? sp_model_compile_json(model, text) : SP_ERROR_NO_MEMORY;
    free(text);
  }
  json_object_put(config);
  if (status == SP_OK && !isnan(flags->learning_rate))
    status = sp_optimizer_set(sp_model_optimizer(model), "learning_rate", flags->learning_rate);
  return status;
}
