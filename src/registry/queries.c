/* queries.c — the read side of the registry: lists, one artifact's details and lineage, and the
 * audit questions "what served model X at time T, from which bytes" and "which artifact held
 * label L at time T". Every answer is a table (see registry.h); JSON-valued columns are marked
 * so that --json output embeds them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry_internal.h"

static const char *const json_columns[] = {"hyperparameters", "metrics", "signature", "detail", NULL};

static const char event_columns[] =
    "id, at, type, artifact_id, run_id, model_name, model_version, label, path, sha256, instance, host, user_name,"
    " pid, detail";

static sp_status run_query(sp_registry *registry, const char *sql, const sp_sql_value *parameters, size_t count,
                           sp_registry_table **table) {
  *table = NULL;
  sp_registry_lock(registry);
  sp_status status = registry->backend->operations->execute(registry->backend, sql, parameters, count, table);
  sp_registry_unlock(registry);
  if (status == SP_OK) sp_registry_table_mark_json(*table, json_columns);
  return status;
}

static int64_t limit_or_all(int64_t limit) { return limit > 0 ? limit : INT64_MAX; }

sp_status sp_registry_list_artifacts(sp_registry *registry, const sp_registry_filter *filter,
                                     sp_registry_table **table) {
  sp_registry_filter none = {0};
  if (!filter) filter = &none;
  sp_sql_value values[] = {sp_sql_text(filter->kind), sp_sql_text(filter->name), sp_sql_id(filter->run_id),
                           sp_sql_integer(limit_or_all(filter->limit))};
  return run_query(registry,
                   "SELECT a.id, a.created_at, a.kind, a.name, a.version, a.format, a.producer, a.producer_version,"
                   " a.size, a.sha256, a.path, a.run_id, a.parent_id,"
                   " (SELECT MIN(d.at) FROM events d WHERE d.artifact_id = a.id AND d.type = 'deleted') AS deleted_at"
                   " FROM artifacts a"
                   " WHERE ($1 IS NULL OR a.kind = $1) AND ($2 IS NULL OR a.name = $2) AND ($3 IS NULL OR a.run_id = $3)"
                   " ORDER BY a.id DESC LIMIT $4",
                   values, 4, table);
}

sp_status sp_registry_list_runs(sp_registry *registry, int64_t limit, sp_registry_table **table) {
  sp_sql_value value = sp_sql_integer(limit_or_all(limit));
  return run_query(registry,
                   "SELECT r.id, r.started_at, r.ended_at, r.status, r.host, r.user_name, r.savepoint_version,"
                   " r.command_line, r.hyperparameters, r.metrics,"
                   " (SELECT COUNT(*) FROM artifacts a WHERE a.run_id = r.id) AS artifacts"
                   " FROM runs r ORDER BY r.id DESC LIMIT $1",
                   &value, 1, table);
}

sp_status sp_registry_list_labels(sp_registry *registry, sp_registry_table **table) {
  return run_query(registry,
                   "SELECT l.name AS label, l.artifact_id, l.updated_at, a.sha256, a.path"
                   " FROM labels l JOIN artifacts a ON a.id = l.artifact_id ORDER BY l.name",
                   NULL, 0, table);
}

sp_status sp_registry_list_events(sp_registry *registry, int64_t artifact_id, int64_t limit,
                                  sp_registry_table **table) {
  static const char sql_head[] = "SELECT * FROM (SELECT ";
  static const char sql_tail[] = " FROM events WHERE ($1 IS NULL OR artifact_id = $1) ORDER BY id DESC LIMIT $2)"
                                 " recent ORDER BY id";
  char sql[sizeof sql_head + sizeof event_columns + sizeof sql_tail];
  strcpy(stpcpy(stpcpy(sql, sql_head), event_columns), sql_tail);
  sp_sql_value values[] = {sp_sql_id(artifact_id), sp_sql_integer(limit_or_all(limit))};
  return run_query(registry, sql, values, 2, table);
}

sp_status sp_registry_show_artifact(sp_registry *registry, int64_t artifact_id,
                                    sp_registry_artifact_details *details) {
  memset(details, 0, sizeof *details);
  char events_sql[sizeof event_columns + 96];
  strcpy(stpcpy(stpcpy(events_sql, "SELECT "), event_columns), " FROM events WHERE artifact_id = $1 ORDER BY id");
  const struct {
    const char *sql;
    sp_registry_table **table;
  } parts[] = {
      {"SELECT a.id, a.created_at, a.kind, a.name, a.version, a.format, a.format_version, a.producer,"
       " a.producer_version, a.path, a.layout, a.size, a.sha256, a.file_count, a.signature, a.metrics, a.run_id,"
       " a.parent_id, a.host,"
       " (SELECT MIN(d.at) FROM events d WHERE d.artifact_id = a.id AND d.type = 'deleted') AS deleted_at"
       " FROM artifacts a WHERE a.id = $1",
       &details->artifact},
      {"SELECT r.id, r.started_at, r.ended_at, r.status, r.host, r.user_name, r.savepoint_version,"
       " r.command_line, r.hyperparameters, r.metrics FROM runs r JOIN artifacts a ON a.run_id = r.id WHERE a.id = $1",
       &details->run},
      {"SELECT path, size, sha256 FROM artifact_files WHERE artifact_id = $1 ORDER BY path", &details->files},
      {"WITH RECURSIVE ancestors (id, depth) AS ("
       " SELECT parent_id, 1 FROM artifacts WHERE id = $1 AND parent_id IS NOT NULL"
       " UNION ALL"
       " SELECT a.parent_id, ancestors.depth + 1 FROM artifacts a JOIN ancestors ON a.id = ancestors.id"
       " WHERE a.parent_id IS NOT NULL AND ancestors.depth < 1000)"
       " SELECT ancestors.depth, a.id, a.kind, a.format, a.producer, a.producer_version, a.sha256,"
       " a.path, a.created_at, a.run_id FROM ancestors JOIN artifacts a ON a.id = ancestors.id"
       " ORDER BY ancestors.depth",
       &details->lineage},
      {"SELECT name AS label, updated_at FROM labels WHERE artifact_id = $1 ORDER BY name", &details->labels},
      {events_sql, &details->events},
  };
  sp_sql_value id = sp_sql_integer(artifact_id);
  sp_status status = SP_OK;
  for (size_t i = 0; status == SP_OK && i < sizeof parts / sizeof *parts; i++) {
    status = run_query(registry, parts[i].sql, &id, 1, parts[i].table);
    if (status == SP_OK && i == 0 && details->artifact->row_count == 0)
      status = sp_fail(SP_ERROR_NOT_FOUND, "no artifact %lld in registry '%s'", (long long)artifact_id, registry->url);
  }
  if (status != SP_OK) sp_registry_artifact_details_free(details);
  return status;
}

void sp_registry_artifact_details_free(sp_registry_artifact_details *details) {
  sp_registry_table_free(details->artifact);
  sp_registry_table_free(details->run);
  sp_registry_table_free(details->files);
  sp_registry_table_free(details->lineage);
  sp_registry_table_free(details->labels);
  sp_registry_table_free(details->events);
  memset(details, 0, sizeof *details);
}

sp_status sp_registry_serving_history(sp_registry *registry, const char *model_name, sp_registry_table **table) {
  sp_sql_value value = sp_sql_text(model_name);
  return run_query(registry,
                   "SELECT id, at, type, model_version, artifact_id, sha256, path, instance, host, detail FROM events"
                   " WHERE model_name = $1 AND type IN ('loaded', 'unloaded', 'load_refused') ORDER BY at, id",
                   &value, 1, table);
}

sp_status sp_registry_serving_at(sp_registry *registry, const char *model_name, const char *at,
                                 sp_registry_table **table) {
  char when[SP_TIMESTAMP_SIZE];
  SP_TRY(sp_registry_timestamp_normalize(at, when));
  sp_sql_value values[] = {sp_sql_text(model_name), sp_sql_text(when)};
  return run_query(registry,
                   "SELECT instance, model_version, artifact_id, sha256, path, at AS loaded_at FROM ("
                   " SELECT e.*, ROW_NUMBER() OVER (PARTITION BY instance, model_version ORDER BY at DESC, id DESC)"
                   " AS recency FROM events e"
                   " WHERE model_name = $1 AND type IN ('loaded', 'unloaded') AND at <= $2) latest"
                   " WHERE recency = 1 AND type = 'loaded' ORDER BY model_version, instance",
                   values, 2, table);
}

static const char label_history_columns[] =
    "SELECT label, artifact_id, previous_artifact_id, moved_at, host, user_name FROM label_history WHERE label = $1";

sp_status sp_registry_label_history(sp_registry *registry, const char *label, sp_registry_table **table) {
  char sql[sizeof label_history_columns + 32];
  strcpy(stpcpy(sql, label_history_columns), " ORDER BY moved_at, id");
  sp_sql_value value = sp_sql_text(label);
  return run_query(registry, sql, &value, 1, table);
}

sp_status sp_registry_label_at(sp_registry *registry, const char *label, const char *at, sp_registry_table **table) {
  char when[SP_TIMESTAMP_SIZE];
  SP_TRY(sp_registry_timestamp_normalize(at, when));
  char sql[sizeof label_history_columns + 64];
  strcpy(stpcpy(sql, label_history_columns), " AND moved_at <= $2 ORDER BY moved_at DESC, id DESC LIMIT 1");
  sp_sql_value values[] = {sp_sql_text(label), sp_sql_text(when)};
  return run_query(registry, sql, values, 2, table);
}
