/* table.c — query results as tables of text cells, and their JSON rendering.
 *
 * Backends fill tables; the CLI prints them as aligned text or JSON. Integer columns become JSON
 * numbers and JSON columns (signatures, metrics, hyperparameters, details) are embedded as
 * values, so `--json` output needs no second parse by scripts.
 */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/memory.h"
#include "registry/backend.h"

sp_registry_table *sp_registry_table_new(size_t column_count) {
  sp_registry_table *table = sp_alloc_zeroed(1, sizeof *table);
  if (!table) return NULL;
  table->column_count = column_count;
  table->column_names = sp_alloc_zeroed(column_count ? column_count : 1, sizeof *table->column_names);
  table->column_types = sp_alloc_zeroed(column_count ? column_count : 1, sizeof *table->column_types);
  if (!table->column_names || !table->column_types) {
    sp_registry_table_free(table);
    return NULL;
  }
  return table;
}

sp_status sp_registry_table_set_column(sp_registry_table *table, size_t column, const char *name,
                                       sp_registry_column_type type) {
  free(table->column_names[column]);
  table->column_names[column] = sp_strdup(name);
  table->column_types[column] = type;
  return table->column_names[column] ? SP_OK : SP_ERROR_NO_MEMORY;
}

sp_status sp_registry_table_add_row(sp_registry_table *table, char ***row) {
  size_t rows = table->row_count;
  if ((rows & (rows - 1)) == 0) { /* capacity doubles at every power of two */
    size_t capacity = rows ? 2 * rows : 1, cells = 0;
    if (!sp_multiply_size(capacity, table->column_count ? table->column_count : 1, &cells))
      return sp_fail(SP_ERROR_NO_MEMORY, "query result too large");
    char **grown = sp_realloc_array(table->cells, cells, sizeof *grown);
    if (!grown) return SP_ERROR_NO_MEMORY;
    table->cells = grown;
  }
  char **cells = table->cells + rows * table->column_count;
  memset(cells, 0, table->column_count * sizeof *cells);
  table->row_count++;
  *row = cells;
  return SP_OK;
}

void sp_registry_table_mark_json(sp_registry_table *table, const char *const *columns) {
  for (const char *const *name = columns; *name; name++)
    for (size_t column = 0; column < table->column_count; column++)
      if (strcmp(table->column_names[column], *name) == 0) table->column_types[column] = SP_REGISTRY_COLUMN_JSON;
}

void sp_registry_table_free(sp_registry_table *table) {
  if (!table) return;
  for (size_t i = 0; i < table->row_count * table->column_count; i++) free(table->cells[i]);
  for (size_t column = 0; column < table->column_count; column++) free(table->column_names[column]);
  free(table->cells);
  free(table->column_names);
  free(table->column_types);
  free(table);
}

const char *sp_registry_table_get(const sp_registry_table *table, size_t row, const char *column) {
  if (!table || row >= table->row_count) return NULL;
  for (size_t i = 0; i < table->column_count; i++)
    if (strcmp(table->column_names[i], column) == 0) return table->cells[row * table->column_count + i];
  return NULL;
}

static json_object *cell_json(const char *cell, sp_registry_column_type type) {
  if (!cell) return NULL;
  if (type == SP_REGISTRY_COLUMN_INTEGER) return json_object_new_int64(strtoll(cell, NULL, 10));
  if (type == SP_REGISTRY_COLUMN_JSON) {
    json_object *value = NULL;
    if (sp_json_parse(cell, strlen(cell), "registry column", &value) == SP_OK) return value;
  }
  return json_object_new_string(cell);
}

char *sp_registry_table_json(const sp_registry_table *table) {
  json_object *array = json_object_new_array();
  if (!array) return NULL;
  for (size_t row = 0; row < table->row_count; row++) {
    json_object *object = json_object_new_object();
    for (size_t column = 0; object && column < table->column_count; column++)
      json_object_object_add(object, table->column_names[column],
                             cell_json(table->cells[row * table->column_count + column], table->column_types[column]));
    json_object_array_add(array, object);
  }
  char *text = sp_json_dumps(array, 2);
  json_object_put(array);
  return text;
}
