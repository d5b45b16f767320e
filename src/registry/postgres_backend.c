/* postgres_backend.c — the registry backend over PostgreSQL (libpq), for teams sharing one registry.
 *
 * Guarantees: every value travels as a bound parameter (PQexecParams), typed int8 or text; write
 * transactions run SERIALIZABLE, and a serialization failure or deadlock is reported as transient
 * so registry.c retries the whole transaction; schema changes run under a transaction-scoped
 * advisory lock, so two processes opening a new registry do not both create it.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "registry/backend.h"

enum { INT2_OID = 21, INT4_OID = 23, INT8_OID = 20, TEXT_OID = 25 };

/* Any constant: the key of the advisory lock schema migrations hold. */
#define SCHEMA_LOCK_KEY "7305976288019250483"

typedef struct postgres_backend {
  sp_registry_backend base;
  PGconn *connection;
  char *display_url;
} postgres_backend;

static postgres_backend *from_base(sp_registry_backend *backend) { return (postgres_backend *)backend; }

static void ignore_notice(void *context, const char *message) {
  (void)context;
  (void)message; /* "relation already exists, skipping" and friends are not worth a line on stderr */
}

static sp_status postgres_failure(postgres_backend *backend, const PGresult *result, const char *sql) {
  const char *state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
  const char *message = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (!message) message = PQerrorMessage(backend->connection);
  backend->base.transient_failure = state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
  sp_status status = state && strncmp(state, "23", 2) == 0 ? SP_ERROR_INVALID_ARGUMENT : SP_ERROR_IO;
  char statement[72];
  snprintf(statement, sizeof statement, "%s", sql);
  return sp_fail(status, "registry '%s': %.*s (SQLSTATE %s, in \"%s%s\")", backend->display_url,
                 (int)strcspn(message, "\n"), message, state ? state : "none", statement,
                 strlen(sql) >= sizeof statement ? "…" : "");
}

static sp_status copy_rows(const PGresult *result, sp_registry_table **rows) {
  int columns = PQnfields(result), count = PQntuples(result);
  sp_registry_table *table = sp_registry_table_new((size_t)columns);
  sp_status status = table ? SP_OK : SP_ERROR_NO_MEMORY;
  for (int column = 0; status == SP_OK && column < columns; column++) {
    Oid type = PQftype(result, column);
    int integer = type == INT8_OID || type == INT4_OID || type == INT2_OID;
    status = sp_registry_table_set_column(table, (size_t)column, PQfname(result, column),
                                          integer ? SP_REGISTRY_COLUMN_INTEGER : SP_REGISTRY_COLUMN_TEXT);
  }
  for (int row = 0; status == SP_OK && row < count; row++) {
    char **cells = NULL;
    status = sp_registry_table_add_row(table, &cells);
    for (int column = 0; status == SP_OK && column < columns; column++) {
      if (PQgetisnull(result, row, column)) continue;
      cells[column] = sp_strdup(PQgetvalue(result, row, column));
      if (!cells[column]) status = SP_ERROR_NO_MEMORY;
    }
  }
  if (status != SP_OK) {
    sp_registry_table_free(table);
    return status;
  }
  *rows = table;
  return SP_OK;
}

static sp_status postgres_execute(sp_registry_backend *base, const char *sql, const sp_sql_value *parameters,
                                  size_t parameter_count, sp_registry_table **rows) {
  postgres_backend *backend = from_base(base);
  backend->base.transient_failure = 0;
  if (rows) *rows = NULL;
  size_t slots = parameter_count ? parameter_count : 1;
  const char **values = sp_alloc_zeroed(slots, sizeof *values);
  Oid *types = sp_alloc_zeroed(slots, sizeof *types);
  char(*numbers)[24] = sp_alloc_zeroed(slots, sizeof *numbers);
  if (!values || !types || !numbers) {
    free(values);
    free(types);
    free(numbers);
    return SP_ERROR_NO_MEMORY;
  }
  for (size_t i = 0; i < parameter_count; i++) {
    types[i] = parameters[i].type == SP_SQL_INTEGER ? INT8_OID : TEXT_OID;
    if (parameters[i].is_null) continue;
    if (parameters[i].type == SP_SQL_INTEGER) {
      snprintf(numbers[i], sizeof numbers[i], "%lld", (long long)parameters[i].integer);
      values[i] = numbers[i];
    } else {
      values[i] = parameters[i].text;
    }
  }
  PGresult *result = PQexecParams(backend->connection, sql, (int)parameter_count, types, values, NULL, NULL, 0);
  ExecStatusType outcome = PQresultStatus(result);
  sp_status status = SP_OK;
  if (outcome != PGRES_COMMAND_OK && outcome != PGRES_TUPLES_OK)
    status = postgres_failure(backend, result, sql);
  else if (rows)
    status = copy_rows(result, rows);
  PQclear(result);
  free(values);
  free(types);
  free(numbers);
  return status;
}

static sp_status postgres_execute_script(sp_registry_backend *base, const char *sql) {
  postgres_backend *backend = from_base(base);
  backend->base.transient_failure = 0;
  PGresult *result = PQexec(backend->connection, sql);
  ExecStatusType outcome = PQresultStatus(result);
  sp_status status = outcome == PGRES_COMMAND_OK || outcome == PGRES_TUPLES_OK
                         ? SP_OK
                         : postgres_failure(backend, result, sql);
  PQclear(result);
  return status;
}

static sp_status postgres_begin(sp_registry_backend *base, sp_transaction_mode mode) {
  if (mode == SP_TRANSACTION_SCHEMA)
    return postgres_execute_script(base, "BEGIN; SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")");
  return postgres_execute_script(base, "BEGIN ISOLATION LEVEL SERIALIZABLE");
}

static sp_status postgres_commit(sp_registry_backend *base) { return postgres_execute_script(base, "COMMIT"); }

static void postgres_rollback(sp_registry_backend *base) {
  postgres_backend *backend = from_base(base);
  if (PQtransactionStatus(backend->connection) != PQTRANS_IDLE) PQclear(PQexec(backend->connection, "ROLLBACK"));
}

static void postgres_close(sp_registry_backend *base) {
  postgres_backend *backend = from_base(base);
  if (!backend) return;
  if (backend->connection) PQfinish(backend->connection);
  free(backend->display_url);
  free(backend);
}

static const sp_registry_backend_operations postgres_operations = {
    .name = "postgresql",
    .identity_column = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    .execute = postgres_execute,
    .execute_script = postgres_execute_script,
    .begin = postgres_begin,
    .commit = postgres_commit,
    .rollback = postgres_rollback,
    .close = postgres_close,
};

sp_status sp_registry_postgres_open(const char *url, const char *display_url, sp_registry_backend **result) {
  *result = NULL;
  postgres_backend *backend = sp_alloc_zeroed(1, sizeof *backend);
  if (!backend) return SP_ERROR_NO_MEMORY;
  backend->base.operations = &postgres_operations;
  backend->display_url = sp_strdup(display_url);
  backend->connection = PQconnectdb(url);
  if (!backend->display_url || !backend->connection) {
    postgres_close(&backend->base);
    return sp_fail(SP_ERROR_NO_MEMORY, "cannot allocate a PostgreSQL connection");
  }
  if (PQstatus(backend->connection) != CONNECTION_OK) {
    const char *message = PQerrorMessage(backend->connection);
    sp_status status = sp_fail(SP_ERROR_IO, "cannot connect to registry '%s': %.*s", display_url,
                               (int)strcspn(message, "\n"), message);
    postgres_close(&backend->base);
    return status;
  }
  PQsetNoticeProcessor(backend->connection, ignore_notice, NULL);
  *result = &backend->base;
  return SP_OK;
}
