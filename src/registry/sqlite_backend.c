/* sqlite_backend.c — the registry backend over an embedded SQLite file.
 *
 * Guarantees: the database runs in WAL mode (readers never block the writer) with foreign keys
 * on and synchronous=FULL (a committed event survives power loss); every write transaction starts
 * with BEGIN IMMEDIATE, so it takes the write lock up front and waits for it (busy timeout)
 * instead of failing half-way on a lock upgrade; a lock still held after the timeout is reported
 * as transient so registry.c retries the whole transaction.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/file.h"
#include "core/memory.h"
#include "registry/backend.h"

enum { BUSY_TIMEOUT_MILLISECONDS = 30000, JOURNAL_MODE_ATTEMPTS = 300 };

typedef struct sqlite_backend {
  sp_registry_backend base;
  sqlite3 *database;
  char *path;
} sqlite_backend;

static sqlite_backend *from_base(sp_registry_backend *backend) { return (sqlite_backend *)backend; }

static int is_transient(int code) {
  int primary = code & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

static sp_status sqlite_failure(sqlite_backend *backend, int code, const char *sql) {
  backend->base.transient_failure = is_transient(code);
  int primary = code & 0xff;
  sp_status status = primary == SQLITE_CONSTRAINT ? SP_ERROR_INVALID_ARGUMENT : SP_ERROR_IO;
  char statement[72];
  snprintf(statement, sizeof statement, "%s", sql);
  return sp_fail(status, "registry '%s': %s (in \"%s%s\")", backend->path, sqlite3_errmsg(backend->database),
                 statement, strlen(sql) >= sizeof statement ? "…" : "");
}

static int bind_parameters(sqlite3_stmt *statement, const sp_sql_value *parameters, size_t count) {
  for (size_t i = 0; i < count; i++) {
    char name[24];
    snprintf(name, sizeof name, "$%zu", i + 1);
    int index = sqlite3_bind_parameter_index(statement, name);
    if (index == 0) continue; /* the statement does not use this one */
    const sp_sql_value *value = &parameters[i];
    int code = value->is_null                    ? sqlite3_bind_null(statement, index)
               : value->type == SP_SQL_INTEGER ? sqlite3_bind_int64(statement, index, value->integer)
                                               : sqlite3_bind_text(statement, index, value->text, -1, SQLITE_STATIC);
    if (code != SQLITE_OK) return code;
  }
  return SQLITE_OK;
}

static sp_status start_table(sqlite3_stmt *statement, sp_registry_table **rows) {
  int columns = sqlite3_column_count(statement);
  sp_registry_table *table = sp_registry_table_new((size_t)columns);
  if (!table) return SP_ERROR_NO_MEMORY;
  for (int column = 0; column < columns; column++) {
    if (sp_registry_table_set_column(table, (size_t)column, sqlite3_column_name(statement, column),
                                     SP_REGISTRY_COLUMN_TEXT) != SP_OK) {
      sp_registry_table_free(table);
      return SP_ERROR_NO_MEMORY;
    }
  }
  *rows = table;
  return SP_OK;
}

static sp_status add_row(sqlite3_stmt *statement, sp_registry_table *table) {
  char **cells = NULL;
  SP_TRY(sp_registry_table_add_row(table, &cells));
  for (size_t column = 0; column < table->column_count; column++) {
    int type = sqlite3_column_type(statement, (int)column);
    if (type == SQLITE_NULL) continue;
    if (type == SQLITE_INTEGER) table->column_types[column] = SP_REGISTRY_COLUMN_INTEGER;
    const unsigned char *text = sqlite3_column_text(statement, (int)column);
    int length = sqlite3_column_bytes(statement, (int)column);
    cells[column] = sp_strndup(text ? (const char *)text : "", (size_t)length);
    if (!cells[column]) return SP_ERROR_NO_MEMORY;
  }
  return SP_OK;
}

static sp_status sqlite_execute(sp_registry_backend *base, const char *sql, const sp_sql_value *parameters,
                                size_t parameter_count, sp_registry_table **rows) {
  sqlite_backend *backend = from_base(base);
  backend->base.transient_failure = 0;
  if (rows) *rows = NULL;
  sqlite3_stmt *statement = NULL;
  int code = sqlite3_prepare_v2(backend->database, sql, -1, &statement, NULL);
  if (code == SQLITE_OK) code = bind_parameters(statement, parameters, parameter_count);
  if (code != SQLITE_OK) {
    sp_status status = sqlite_failure(backend, code, sql);
    sqlite3_finalize(statement);
    return status;
  }
  sp_registry_table *table = NULL;
  sp_status status = rows ? start_table(statement, &table) : SP_OK;
  while (status == SP_OK && (code = sqlite3_step(statement)) == SQLITE_ROW)
    if (table) status = add_row(statement, table);
  if (status == SP_OK && code != SQLITE_DONE) status = sqlite_failure(backend, code, sql);
  sqlite3_finalize(statement);
  if (status != SP_OK) {
    sp_registry_table_free(table);
    return status;
  }
  if (rows) *rows = table;
  return SP_OK;
}

static sp_status sqlite_execute_script(sp_registry_backend *base, const char *sql) {
  sqlite_backend *backend = from_base(base);
  backend->base.transient_failure = 0;
  int code = sqlite3_exec(backend->database, sql, NULL, NULL, NULL);
  return code == SQLITE_OK ? SP_OK : sqlite_failure(backend, code, sql);
}

static sp_status sqlite_begin(sp_registry_backend *base, sp_transaction_mode mode) {
  (void)mode; /* both modes need the write lock from the start */
  return sqlite_execute_script(base, "BEGIN IMMEDIATE");
}

static sp_status sqlite_commit(sp_registry_backend *base) { return sqlite_execute_script(base, "COMMIT"); }

static void sqlite_rollback(sp_registry_backend *base) {
  sqlite_backend *backend = from_base(base);
  if (!sqlite3_get_autocommit(backend->database)) sqlite3_exec(backend->database, "ROLLBACK", NULL, NULL, NULL);
}

static void sqlite_close(sp_registry_backend *base) {
  sqlite_backend *backend = from_base(base);
  if (!backend) return;
  sqlite3_close_v2(backend->database);
  free(backend->path);
  free(backend);
}

static const sp_registry_backend_operations sqlite_operations = {
    .name = "sqlite",
    .identity_column = "INTEGER PRIMARY KEY AUTOINCREMENT",
    .execute = sqlite_execute,
    .execute_script = sqlite_execute_script,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .close = sqlite_close,
};

/* Switching to WAL needs a moment with no other connection in a transaction; the busy handler is
 * not always consulted for it, so several processes opening a new registry at once retry here. */
static sp_status enable_write_ahead_log(sqlite_backend *backend) {
  sp_status status = SP_OK;
  for (int attempt = 0; attempt < JOURNAL_MODE_ATTEMPTS; attempt++) {
    status = sqlite_execute(&backend->base, "PRAGMA journal_mode=WAL", NULL, 0, NULL);
    if (status == SP_OK || !backend->base.transient_failure) return status;
    nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
  }
  return status;
}

sp_status sp_registry_sqlite_open(const char *path, sp_registry_backend **result) {
  *result = NULL;
  char *parent = sp_path_dirname(path);
  if (!parent) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_make_directories(parent);
  free(parent);
  SP_TRY(status);
  sqlite_backend *backend = sp_alloc_zeroed(1, sizeof *backend);
  if (!backend) return SP_ERROR_NO_MEMORY;
  backend->base.operations = &sqlite_operations;
  backend->path = sp_strdup(path);
  if (!backend->path) {
    sqlite_close(&backend->base);
    return SP_ERROR_NO_MEMORY;
  }
  int code = sqlite3_open_v2(path, &backend->database, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (code != SQLITE_OK) {
    status = sp_fail(SP_ERROR_IO, "cannot open registry database '%s': %s", path,
                     backend->database ? sqlite3_errmsg(backend->database) : sqlite3_errstr(code));
    sqlite_close(&backend->base);
    return status;
  }
  sqlite3_extended_result_codes(backend->database, 1);
  sqlite3_busy_timeout(backend->database, BUSY_TIMEOUT_MILLISECONDS);
  status = enable_write_ahead_log(backend);
  if (status == SP_OK)
    status = sqlite_execute_script(&backend->base, "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL");
  if (status != SP_OK) {
    sqlite_close(&backend->base);
    return status;
  }
  *result = &backend->base;
  return SP_OK;
}
