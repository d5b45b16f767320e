/* schema.c — the registry schema and its forward-only migrations, the same on both backends.
 *
 * Guarantees: migrations run in order, each version once, all pending ones in one transaction
 * under the schema lock (SQLite's write lock, a PostgreSQL advisory lock), and each applied
 * version is recorded in schema_version; a database newer than this code is refused, never
 * downgraded. A released migration is never edited: a change to the schema is a new version.
 *
 * Dialect differences are confined to the {identity} placeholder (the backend's 64-bit
 * auto-assigned key) and the append-only triggers, which each backend words its own way.
 */
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "registry/registry_internal.h"
#include "savepoint/version.h"

/* One step of a migration: SQL for both backends, or a table to make append-only. */
typedef struct schema_step {
  const char *sql;
  const char *append_only_table;
} schema_step;

typedef struct migration {
  int version;
  const char *description;
  const schema_step *steps;
  size_t step_count;
} migration;

static const schema_step version_1[] = {
    {.sql = "CREATE TABLE runs ("
            " id {identity},"
            " started_at TEXT NOT NULL,"
            " ended_at TEXT,"
            " status TEXT NOT NULL,"
            " command_line TEXT,"
            " hyperparameters TEXT,"
            " metrics TEXT,"
            " savepoint_version TEXT NOT NULL,"
            " host TEXT NOT NULL,"
            " user_name TEXT,"
            " pid BIGINT)"},
    {.sql = "CREATE TABLE artifacts ("
            " id {identity},"
            " run_id BIGINT REFERENCES runs(id),"
            " kind TEXT NOT NULL,"
            " name TEXT,"
            " version BIGINT,"
            " format TEXT NOT NULL,"
            " format_version TEXT,"
            " producer TEXT NOT NULL,"
            " producer_version TEXT,"
            " path TEXT NOT NULL,"
            " layout TEXT NOT NULL,"
            " size BIGINT,"
            " sha256 TEXT NOT NULL,"
            " file_count BIGINT NOT NULL,"
            " signature TEXT,"
            " metrics TEXT,"
            " parent_id BIGINT REFERENCES artifacts(id),"
            " created_at TEXT NOT NULL,"
            " host TEXT NOT NULL)"},
    {.sql = "CREATE INDEX artifacts_path ON artifacts (path)"},
    {.sql = "CREATE INDEX artifacts_sha256 ON artifacts (sha256)"},
    {.sql = "CREATE INDEX artifacts_run ON artifacts (run_id)"},
    {.sql = "CREATE TABLE artifact_files ("
            " artifact_id BIGINT NOT NULL REFERENCES artifacts(id),"
            " path TEXT NOT NULL,"
            " size BIGINT,"
            " sha256 TEXT NOT NULL,"
            " PRIMARY KEY (artifact_id, path))"},
    {.sql = "CREATE TABLE labels ("
            " name TEXT PRIMARY KEY,"
            " artifact_id BIGINT NOT NULL REFERENCES artifacts(id),"
            " updated_at TEXT NOT NULL)"},
    {.sql = "CREATE TABLE events ("
            " id {identity},"
            " at TEXT NOT NULL,"
            " type TEXT NOT NULL,"
            " artifact_id BIGINT REFERENCES artifacts(id),"
            " run_id BIGINT REFERENCES runs(id),"
            " model_name TEXT,"
            " model_version BIGINT,"
            " label TEXT,"
            " path TEXT,"
            " sha256 TEXT,"
            " instance TEXT NOT NULL,"
            " host TEXT NOT NULL,"
            " user_name TEXT,"
            " pid BIGINT,"
            " detail TEXT)"},
    {.sql = "CREATE INDEX events_artifact ON events (artifact_id)"},
    {.append_only_table = "events"},
};

/* Version 2: label history as its own append-only table (backfilled from the label_moved events
 * version 1 kept), serving-history index, and artifacts with their file hashes made immutable. */
static const schema_step version_2[] = {
    {.sql = "CREATE TABLE label_history ("
            " id {identity},"
            " label TEXT NOT NULL,"
            " artifact_id BIGINT NOT NULL REFERENCES artifacts(id),"
            " previous_artifact_id BIGINT REFERENCES artifacts(id),"
            " moved_at TEXT NOT NULL,"
            " host TEXT,"
            " user_name TEXT)"},
    {.sql = "CREATE INDEX label_history_label ON label_history (label, moved_at)"},
    {.sql = "INSERT INTO label_history (label, artifact_id, previous_artifact_id, moved_at, host, user_name)"
            " SELECT label, artifact_id, LAG(artifact_id) OVER (PARTITION BY label ORDER BY id), at, host, user_name"
            " FROM events WHERE type = 'label_moved' AND label IS NOT NULL AND artifact_id IS NOT NULL"
            " ORDER BY id"},
    {.sql = "INSERT INTO label_history (label, artifact_id, previous_artifact_id, moved_at)"
            " SELECT name, artifact_id, NULL, updated_at FROM labels l"
            " WHERE NOT EXISTS (SELECT 1 FROM label_history h WHERE h.label = l.name)"},
    {.sql = "CREATE INDEX events_model ON events (model_name, at)"},
    {.append_only_table = "label_history"},
    {.append_only_table = "artifacts"},
    {.append_only_table = "artifact_files"},
};

static const migration migrations[] = {
    {1, "runs, artifacts, files, labels, append-only events", version_1, sizeof version_1 / sizeof *version_1},
    {2, "label history, serving index, immutable artifacts", version_2, sizeof version_2 / sizeof *version_2},
};

_Static_assert(sizeof migrations / sizeof *migrations == SP_REGISTRY_SCHEMA_VERSION,
               "one migration per schema version");

/* Replaces {identity} with the backend's key column. */
static char *substitute_identity(const char *sql, const char *identity) {
  static const char placeholder[] = "{identity}";
  size_t count = 0, placeholder_length = sizeof placeholder - 1;
  for (const char *p = strstr(sql, placeholder); p; p = strstr(p + placeholder_length, placeholder)) count++;
  char *result = sp_alloc(strlen(sql) + count * strlen(identity) + 1);
  if (!result) return NULL;
  char *out = result;
  for (const char *p = sql;;) {
    const char *next = strstr(p, placeholder);
    size_t length = next ? (size_t)(next - p) : strlen(p);
    memcpy(out, p, length);
    out += length;
    if (!next) break;
    memcpy(out, identity, strlen(identity));
    out += strlen(identity);
    p = next + placeholder_length;
  }
  *out = '\0';
  return result;
}

static char *append_only_sql(const char *backend_name, const char *table) {
  if (strcmp(backend_name, "postgresql") == 0)
    return sp_strdupf(
        "CREATE OR REPLACE FUNCTION savepoint_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " RAISE EXCEPTION 'table %% is append-only: %% refused', TG_TABLE_NAME, TG_OP"
        " USING ERRCODE = 'restrict_violation'; END $$;"
        "CREATE TRIGGER %s_append_only BEFORE UPDATE OR DELETE ON %s"
        " FOR EACH ROW EXECUTE FUNCTION savepoint_refuse_change();"
        "CREATE TRIGGER %s_no_truncate BEFORE TRUNCATE ON %s"
        " FOR EACH STATEMENT EXECUTE FUNCTION savepoint_refuse_change();",
        table, table, table, table);
  return sp_strdupf("CREATE TRIGGER %s_no_update BEFORE UPDATE ON %s"
                    " BEGIN SELECT RAISE(ABORT, 'table %s is append-only: UPDATE refused'); END;"
                    "CREATE TRIGGER %s_no_delete BEFORE DELETE ON %s"
                    " BEGIN SELECT RAISE(ABORT, 'table %s is append-only: DELETE refused'); END;",
                    table, table, table, table, table, table);
}

static sp_status run_step(sp_registry_backend *backend, const schema_step *step) {
  const sp_registry_backend_operations *operations = backend->operations;
  char *sql = step->append_only_table ? append_only_sql(operations->name, step->append_only_table)
                                      : substitute_identity(step->sql, operations->identity_column);
  if (!sql) return SP_ERROR_NO_MEMORY;
  sp_status status = operations->execute_script(backend, sql);
  free(sql);
  return status;
}

static const char create_version_table[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " applied_at TEXT NOT NULL,"
    " savepoint_version TEXT NOT NULL,"
    " description TEXT NOT NULL)";

static const char select_version[] = "SELECT COALESCE(MAX(version), 0) FROM schema_version";

sp_status sp_registry_read_schema_version(sp_registry_backend *backend, int *version) {
  int64_t value = 0;
  int found = 0;
  SP_TRY(sp_registry_query_integer(backend, select_version, NULL, 0, &value, &found));
  *version = (int)value;
  return SP_OK;
}

static sp_status migrate_body(sp_registry_backend *backend, void *context) {
  int target = *(const int *)context, current = 0;
  SP_TRY(backend->operations->execute(backend, create_version_table, NULL, 0, NULL));
  SP_TRY(sp_registry_read_schema_version(backend, &current));
  if (current > SP_REGISTRY_SCHEMA_VERSION)
    return sp_fail(SP_ERROR_UNSUPPORTED, "the registry's schema is version %d, newer than this savepoint %s "
                   "understands (up to %d): upgrade savepoint", current, SP_VERSION, SP_REGISTRY_SCHEMA_VERSION);
  for (size_t i = 0; i < sizeof migrations / sizeof *migrations; i++) {
    const migration *step = &migrations[i];
    if (step->version <= current || step->version > target) continue;
    for (size_t j = 0; j < step->step_count; j++) {
      sp_status status = run_step(backend, &step->steps[j]);
      if (status != SP_OK) return sp_error_context(status, "migrating the registry schema to version %d", step->version);
    }
    char now[SP_TIMESTAMP_SIZE];
    sp_registry_timestamp_now(now);
    sp_sql_value values[] = {sp_sql_integer(step->version), sp_sql_text(now), sp_sql_text(SP_VERSION),
                             sp_sql_text(step->description)};
    SP_TRY(backend->operations->execute(
        backend, "INSERT INTO schema_version (version, applied_at, savepoint_version, description)"
                 " VALUES ($1, $2, $3, $4)", values, 4, NULL));
  }
  return SP_OK;
}

sp_status sp_registry_migrate(sp_registry_backend *backend, int target_version) {
  if (target_version < 1 || target_version > SP_REGISTRY_SCHEMA_VERSION)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "no registry schema version %d (this savepoint knows 1 to %d)",
                   target_version, SP_REGISTRY_SCHEMA_VERSION);
  /* The common case, a registry already at this version, needs no lock (and so no write access). */
  int current = 0;
  if (sp_registry_read_schema_version(backend, &current) == SP_OK && current == target_version) return SP_OK;
  return sp_registry_run_transaction(backend, SP_TRANSACTION_SCHEMA, migrate_body, &target_version);
}
