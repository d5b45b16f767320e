/* training_output.c — JSON output of the training commands (see training_output.h). */
#include "cli/training_output.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/json.h"

json_object *sp_cli_history_json(const sp_history *history, int last_only) {
  json_object *root = json_object_new_object();
  for (int k = 0; history && k < sp_history_key_count(history); k++) {
    int count;
    const char *key = sp_history_key(history, k);
    const double *values = sp_history_values(history, key, &count);
    if (last_only) {
      if (count) json_object_object_add(root, key, json_object_new_double(values[count - 1]));
      continue;
    }
    json_object *list = json_object_new_array();
    for (int e = 0; e < count; e++) json_object_array_add(list, json_object_new_double(values[e]));
    json_object_object_add(root, key, list);
  }
  return root;
}

json_object *sp_cli_logs_json(const sp_logs *logs) {
  json_object *root = json_object_new_object();
  for (int i = 0; i < logs->count; i++) json_object_object_add(root, logs->entries[i].name, json_object_new_double(logs->entries[i].value));
  return root;
}

void sp_cli_print_json(json_object *value) {
  char *text = sp_json_dumps(value, 0);
  if (text) printf("%s\n", text);
  free(text);
  json_object_put(value);
}
