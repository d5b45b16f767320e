/* backend.h — the one interface the registry logic talks to a database through.
 *
 * The registry logic (registry.c, queries.c, schema.c) is written once against these few
 * operations; sqlite_backend.c and postgres_backend.c implement them. SQL text uses PostgreSQL's
 * "$1, $2, …" placeholders on both backends, and values are always bound, never spliced in.
 * Every result comes back as an sp_registry_table of text cells.
 */
#ifndef SP_REGISTRY_BACKEND_H
#define SP_REGISTRY_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "savepoint/registry.h"

typedef enum sp_sql_type { SP_SQL_INTEGER = 0, SP_SQL_TEXT = 1 } sp_sql_type;

/* A bound parameter. The type is kept even for NULL so PostgreSQL can type "$1 IS NULL". */
typedef struct sp_sql_value {
  sp_sql_type type;
  int is_null;
  int64_t integer;
  const char *text;
} sp_sql_value;

static inline sp_sql_value sp_sql_integer(int64_t value) {
  return (sp_sql_value){.type = SP_SQL_INTEGER, .integer = value};
}
/* An id column: 0 or less is NULL. */
static inline sp_sql_value sp_sql_id(int64_t id) {
  return (sp_sql_value){.type = SP_SQL_INTEGER, .is_null = id <= 0, .integer = id};
}
/* Text; a NULL pointer is SQL NULL. */
static inline sp_sql_value sp_sql_text(const char *text) {
  return (sp_sql_value){.type = SP_SQL_TEXT, .is_null = text == NULL, .text = text};
}

typedef enum sp_transaction_mode {
  SP_TRANSACTION_WRITE = 0, /* SQLite BEGIN IMMEDIATE; PostgreSQL SERIALIZABLE */
  SP_TRANSACTION_SCHEMA = 1 /* SQLite BEGIN IMMEDIATE; PostgreSQL READ COMMITTED + an advisory lock */
} sp_transaction_mode;

typedef struct sp_registry_backend sp_registry_backend;

typedef struct sp_registry_backend_operations {
  const char *name; /* "sqlite", "postgresql" */
  /* DDL for an auto-assigned 64-bit primary key column; schema text writes it as {identity}. */
  const char *identity_column;
  /* Runs one statement with bound parameters. rows, when not NULL, receives the result rows. */
  sp_status (*execute)(sp_registry_backend *backend, const char *sql, const sp_sql_value *parameters,
                       size_t parameter_count, sp_registry_table **rows);
  /* Runs several statements without parameters (schema scripts). */
  sp_status (*execute_script)(sp_registry_backend *backend, const char *sql);
  sp_status (*begin)(sp_registry_backend *backend, sp_transaction_mode mode);
  sp_status (*commit)(sp_registry_backend *backend);
  void (*rollback)(sp_registry_backend *backend);
  void (*close)(sp_registry_backend *backend);
} sp_registry_backend_operations;

struct sp_registry_backend {
  const sp_registry_backend_operations *operations;
  /* Set by a failing operation when retrying the whole transaction may succeed (SQLite busy or
   * locked, PostgreSQL serialization failure or deadlock). */
  int transient_failure;
};

/* path: a file name for sqlite3_open_v2 (created when missing). */
sp_status sp_registry_sqlite_open(const char *path, sp_registry_backend **backend);
/* url: a libpq connection string or URI; display_url: the same without password, for messages. */
sp_status sp_registry_postgres_open(const char *url, const char *display_url, sp_registry_backend **backend);

/* --- result tables (table.c) --- */

sp_registry_table *sp_registry_table_new(size_t column_count);
/* Copies name. */
sp_status sp_registry_table_set_column(sp_registry_table *table, size_t column, const char *name,
                                       sp_registry_column_type type);
/* Appends a row of NULL cells and points *row at it; the caller fills cells with new strings. */
sp_status sp_registry_table_add_row(sp_registry_table *table, char ***row);
/* Marks the named columns (a NULL-terminated list) as holding JSON. */
void sp_registry_table_mark_json(sp_registry_table *table, const char *const *columns);

#endif
