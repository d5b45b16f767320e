/* registry.c — opening a registry, the transaction runner, and everything that writes:
 * runs, artifacts with their files, events, labels.
 *
 * Guarantees: each public write is one transaction (an artifact never appears without its files
 * and its event; a label never moves without its history row and event); transient conflicts
 * (SQLite busy, PostgreSQL serialization failures) retry the whole transaction, so concurrent
 * writers lose nothing; every value is a bound parameter; a NULL registry records nothing.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "registry/registry_internal.h"
#include "savepoint/version.h"

enum { MAX_TRANSACTION_ATTEMPTS = 60, MAX_LABEL_LENGTH = 200 };

/* ---- URLs ---- */

static int has_prefix(const char *text, const char *prefix) { return strncmp(text, prefix, strlen(prefix)) == 0; }

/* The URL with the password of "scheme://user:password@host" and any "password=" value hidden. */
static char *redact_url(const char *url) {
  char *copy = sp_strdup(url);
  if (!copy) return NULL;
  char *authority = strstr(copy, "://");
  if (authority) {
    authority += 3;
    char *end = authority + strcspn(authority, "/?");
    char *at = NULL;
    for (char *p = authority; p < end; p++)
      if (*p == '@') at = p;
    char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
    if (colon) {
      char *redacted = sp_strdupf("%.*s***%s", (int)(colon + 1 - copy), copy, at);
      free(copy);
      copy = redacted;
      if (!copy) return NULL;
    }
  }
  char *password = strstr(copy, "password=");
  if (password) {
    char *value = password + strlen("password=");
    char *redacted = sp_strdupf("%.*s***%s", (int)(value - copy), copy, value + strcspn(value, "& "));
    free(copy);
    copy = redacted;
  }
  return copy;
}

sp_status sp_registry_open_backend(const char *url, sp_registry_backend **backend, char **display_url) {
  *backend = NULL;
  *display_url = NULL;
  if (!url || !*url)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "empty registry URL: use sqlite:///path/registry.db or "
                   "postgresql://user@host:port/database");
  char *display = redact_url(url);
  if (!display) return SP_ERROR_NO_MEMORY;
  sp_status status;
  if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://")) {
    status = sp_registry_postgres_open(url, display, backend);
  } else if (has_prefix(url, "sqlite://")) {
    const char *path = url + strlen("sqlite://");
    status = path[0] == '/' ? sp_registry_sqlite_open(path, backend)
                            : sp_fail(SP_ERROR_INVALID_ARGUMENT, "registry URL '%s': a SQLite URL is "
                                      "sqlite:///absolute/path.db or sqlite:relative/path.db", display);
  } else if (has_prefix(url, "sqlite:")) {
    status = sp_registry_sqlite_open(url + strlen("sqlite:"), backend);
  } else if (strstr(url, "://")) {
    status = sp_fail(SP_ERROR_UNSUPPORTED, "registry URL '%s': unknown scheme (use sqlite:///path/registry.db "
                     "or postgresql://user@host:port/database)", display);
  } else {
    status = sp_registry_sqlite_open(url, backend);
  }
  if (status != SP_OK) {
    free(display);
    return status;
  }
  *display_url = display;
  return SP_OK;
}

/* ---- the handle ---- */

static void fill_identity(sp_registry *registry) {
  if (gethostname(registry->host, sizeof registry->host) != 0) snprintf(registry->host, sizeof registry->host, "unknown");
  registry->host[sizeof registry->host - 1] = '\0';
  const char *user = getenv("USER");
  if (!user || !*user) {
    struct passwd *entry = getpwuid(getuid());
    user = entry ? entry->pw_name : NULL;
  }
  registry->user = user ? sp_strdup(user) : NULL;
  registry->pid = (int64_t)getpid();
  registry->default_instance = sp_strdupf("%s:%lld", registry->host, (long long)registry->pid);
}

sp_status sp_registry_open(const char *url, sp_registry **result) {
  *result = NULL;
  sp_registry *registry = sp_alloc_zeroed(1, sizeof *registry);
  if (!registry) return SP_ERROR_NO_MEMORY;
  pthread_mutex_init(&registry->lock, NULL);
  sp_status status = sp_registry_open_backend(url, &registry->backend, &registry->url);
  if (status == SP_OK) status = sp_registry_migrate(registry->backend, SP_REGISTRY_SCHEMA_VERSION);
  if (status == SP_OK) {
    fill_identity(registry);
    if (!registry->default_instance) status = SP_ERROR_NO_MEMORY;
  }
  if (status != SP_OK) {
    sp_registry_close(registry);
    return status;
  }
  *result = registry;
  return SP_OK;
}

sp_status sp_registry_open_default(sp_registry **registry) {
  *registry = NULL;
  const char *url = getenv(SP_REGISTRY_ENVIRONMENT);
  if (!url || !*url) return SP_OK;
  sp_status status = sp_registry_open(url, registry);
  return status == SP_OK ? SP_OK : sp_error_context(status, "opening the registry named by $" SP_REGISTRY_ENVIRONMENT);
}

void sp_registry_close(sp_registry *registry) {
  if (!registry) return;
  if (registry->backend) registry->backend->operations->close(registry->backend);
  pthread_mutex_destroy(&registry->lock);
  free(registry->url);
  free(registry->user);
  free(registry->default_instance);
  free(registry);
}

const char *sp_registry_url(const sp_registry *registry) { return registry ? registry->url : ""; }

const char *sp_registry_backend_name(const sp_registry *registry) {
  return registry ? registry->backend->operations->name : "";
}

sp_registry_backend *sp_registry_backend_of(sp_registry *registry) { return registry->backend; }

void sp_registry_lock(sp_registry *registry) { pthread_mutex_lock(&registry->lock); }
void sp_registry_unlock(sp_registry *registry) { pthread_mutex_unlock(&registry->lock); }

sp_status sp_registry_schema_version(sp_registry *registry, int *version) {
  sp_registry_lock(registry);
  sp_status status = sp_registry_read_schema_version(registry->backend, version);
  sp_registry_unlock(registry);
  return status;
}

/* ---- transactions and small helpers ---- */

static void back_off(int attempt) {
  static __thread unsigned int seed;
  if (!seed) seed = (unsigned int)getpid() ^ (unsigned int)time(NULL);
  long limit_microseconds = 1000L << (attempt < 7 ? attempt : 7); /* up to 128 ms */
  long pause = 200 + (long)(rand_r(&seed) % (unsigned long)limit_microseconds);
  nanosleep(&(struct timespec){.tv_sec = pause / 1000000, .tv_nsec = (pause % 1000000) * 1000}, NULL);
}

sp_status sp_registry_run_transaction(sp_registry_backend *backend, sp_transaction_mode mode,
                                      sp_registry_transaction_body body, void *context) {
  const sp_registry_backend_operations *operations = backend->operations;
  for (int attempt = 1;; attempt++) {
    sp_status status = operations->begin(backend, mode);
    if (status == SP_OK) status = body(backend, context);
    if (status == SP_OK) status = operations->commit(backend);
    if (status == SP_OK) return SP_OK;
    int transient = backend->transient_failure;
    operations->rollback(backend);
    if (!transient) return status;
    if (attempt == MAX_TRANSACTION_ATTEMPTS)
      return sp_error_context(status, "gave up after %d attempts at a conflicting transaction", attempt);
    back_off(attempt);
  }
}

sp_status sp_registry_query_integer(sp_registry_backend *backend, const char *sql, const sp_sql_value *parameters,
                                    size_t parameter_count, int64_t *value, int *found) {
  sp_registry_table *rows = NULL;
  SP_TRY(backend->operations->execute(backend, sql, parameters, parameter_count, &rows));
  *found = rows->row_count > 0 && rows->column_count > 0 && rows->cells[0] != NULL;
  *value = *found ? strtoll(rows->cells[0], NULL, 10) : 0;
  sp_registry_table_free(rows);
  return SP_OK;
}

char *sp_registry_absolute_path(const char *path) {
  char *parent = sp_path_dirname(path);
  if (!parent) return NULL;
  char *real_parent = realpath(parent, NULL);
  free(parent);
  if (!real_parent) return sp_strdup(path);
  char *result = sp_path_join(real_parent, sp_path_basename(path));
  free(real_parent);
  return result;
}

sp_status sp_registry_check_json_object(const char *text, const char *what) {
  if (!text) return SP_OK;
  json_object *value = NULL;
  SP_TRY(sp_json_parse(text, strlen(text), what, &value));
  int is_object = json_object_is_type(value, json_type_object);
  json_object_put(value);
  return is_object ? SP_OK : sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s must be a JSON object", what);
}

static sp_status check_id_exists(sp_registry_backend *backend, const char *table, int64_t id, const char *what) {
  static const char artifacts_sql[] = "SELECT id FROM artifacts WHERE id = $1";
  static const char runs_sql[] = "SELECT id FROM runs WHERE id = $1";
  sp_sql_value value = sp_sql_integer(id);
  int64_t found_id = 0;
  int found = 0;
  SP_TRY(sp_registry_query_integer(backend, strcmp(table, "runs") == 0 ? runs_sql : artifacts_sql, &value, 1,
                                   &found_id, &found));
  return found ? SP_OK : sp_fail(SP_ERROR_NOT_FOUND, "%s %lld is not in the registry", what, (long long)id);
}

/* ---- names ---- */

static const char *const kind_names[] = {"model", "weights", "checkpoint", "export"};
static const char *const event_names[] = {"saved",        "converted",   "verified", "loaded", "unloaded",
                                          "load_refused", "label_moved", "deleted"};

const char *sp_artifact_kind_name(sp_artifact_kind kind) {
  return (unsigned)kind < sizeof kind_names / sizeof *kind_names ? kind_names[kind] : "unknown";
}

sp_status sp_artifact_kind_from_name(const char *name, sp_artifact_kind *kind) {
  for (size_t i = 0; i < sizeof kind_names / sizeof *kind_names; i++)
    if (strcmp(name, kind_names[i]) == 0) {
      *kind = (sp_artifact_kind)i;
      return SP_OK;
    }
  return sp_fail(SP_ERROR_INVALID_ARGUMENT, "unknown artifact kind '%s' (model, weights, checkpoint, export)", name);
}

const char *sp_registry_event_type_name(sp_registry_event_type type) {
  return (unsigned)type < sizeof event_names / sizeof *event_names ? event_names[type] : "unknown";
}

/* ---- runs ---- */

char *sp_registry_join_command_line(int argc, char *const *argv) {
  size_t capacity = 1;
  for (int i = 0; i < argc; i++) capacity += 4 * strlen(argv[i]) + 3;
  char *line = sp_alloc(capacity), *out = line;
  if (!line) return NULL;
  for (int i = 0; i < argc; i++) {
    const char *argument = argv[i];
    int plain = *argument != '\0';
    for (const char *p = argument; *p; p++)
      if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *p)) plain = 0;
    if (i) *out++ = ' ';
    if (plain) {
      out = stpcpy(out, argument);
      continue;
    }
    *out++ = '\'';
    for (const char *p = argument; *p; p++) out = *p == '\'' ? stpcpy(out, "'\\''") : (*out = *p, out + 1);
    *out++ = '\'';
  }
  *out = '\0';
  return line;
}

typedef struct run_start {
  sp_registry *registry;
  const char *command_line, *hyperparameters, *now;
  int64_t id;
} run_start;

/* Whether process pid of this host still exists (EPERM: it does, under another user). */
static int process_exists(int64_t pid) {
  if (pid <= 0 || pid > INT32_MAX) return 1; /* not a pid of ours to judge */
  return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

/* Runs of this host still "running" whose process is gone (killed, crashed, the machine
 * restarted) become "interrupted" when the next run begins; their end time stays unknown. */
static sp_status mark_interrupted_runs(sp_registry_backend *backend, const sp_registry *registry) {
  sp_sql_value host = sp_sql_text(registry->host);
  sp_registry_table *rows = NULL;
  SP_TRY(backend->operations->execute(backend, "SELECT id, pid FROM runs WHERE status = 'running' AND host = $1",
                                      &host, 1, &rows));
  sp_status status = SP_OK;
  for (size_t r = 0; status == SP_OK && r < rows->row_count; r++) {
    const char *id = sp_registry_table_get(rows, r, "id"), *pid = sp_registry_table_get(rows, r, "pid");
    if (!id || !pid || process_exists(strtoll(pid, NULL, 10))) continue;
    sp_sql_value run = sp_sql_integer(strtoll(id, NULL, 10));
    status = backend->operations->execute(
        backend, "UPDATE runs SET status = 'interrupted' WHERE id = $1 AND status = 'running'", &run, 1, NULL);
  }
  sp_registry_table_free(rows);
  return status;
}

static sp_status begin_run_body(sp_registry_backend *backend, void *context) {
  run_start *run = context;
  sp_registry *registry = run->registry;
  SP_TRY(mark_interrupted_runs(backend, registry));
  sp_sql_value values[] = {sp_sql_text(run->now),        sp_sql_text(run->command_line), sp_sql_text(run->hyperparameters),
                           sp_sql_text(SP_VERSION),      sp_sql_text(registry->host),    sp_sql_text(registry->user),
                           sp_sql_integer(registry->pid)};
  int found = 0;
  return sp_registry_query_integer(backend,
                                   "INSERT INTO runs (started_at, status, command_line, hyperparameters,"
                                   " savepoint_version, host, user_name, pid)"
                                   " VALUES ($1, 'running', $2, $3, $4, $5, $6, $7) RETURNING id",
                                   values, 7, &run->id, &found);
}

sp_status sp_registry_begin_run(sp_registry *registry, const char *command_line, const char *hyperparameters_json,
                                int64_t *run_id) {
  *run_id = 0;
  if (!registry) return SP_OK;
  SP_TRY(sp_registry_check_json_object(hyperparameters_json, "run hyperparameters"));
  char now[SP_TIMESTAMP_SIZE];
  sp_registry_timestamp_now(now);
  run_start run = {registry, command_line, hyperparameters_json, now, 0};
  sp_registry_lock(registry);
  sp_status status = sp_registry_run_transaction(registry->backend, SP_TRANSACTION_WRITE, begin_run_body, &run);
  sp_registry_unlock(registry);
  if (status == SP_OK) *run_id = run.id;
  return status;
}

typedef struct run_end {
  int64_t id;
  const char *status, *metrics, *now;
} run_end;

static sp_status end_run_body(sp_registry_backend *backend, void *context) {
  run_end *run = context;
  SP_TRY(check_id_exists(backend, "runs", run->id, "run"));
  sp_sql_value values[] = {sp_sql_text(run->now), sp_sql_text(run->status), sp_sql_text(run->metrics),
                           sp_sql_integer(run->id)};
  return backend->operations->execute(backend,
                                      "UPDATE runs SET ended_at = $1, status = $2, metrics = $3 WHERE id = $4",
                                      values, 4, NULL);
}

sp_status sp_registry_end_run(sp_registry *registry, int64_t run_id, const char *status, const char *metrics_json) {
  if (!registry) return SP_OK;
  SP_TRY(sp_registry_check_json_object(metrics_json, "run metrics"));
  char now[SP_TIMESTAMP_SIZE];
  sp_registry_timestamp_now(now);
  run_end run = {run_id, status && *status ? status : "completed", metrics_json, now};
  sp_registry_lock(registry);
  sp_status result = sp_registry_run_transaction(registry->backend, SP_TRANSACTION_WRITE, end_run_body, &run);
  sp_registry_unlock(registry);
  return result;
}

/* ---- events ---- */

sp_status sp_registry_insert_event(sp_registry *registry, const sp_registry_event *event, int64_t *event_id) {
  char now[SP_TIMESTAMP_SIZE];
  sp_registry_timestamp_now(now);
  int has_model = event->model_name != NULL;
  sp_sql_value values[] = {
      sp_sql_text(now),
      sp_sql_text(sp_registry_event_type_name(event->type)),
      sp_sql_id(event->artifact_id),
      sp_sql_id(event->run_id),
      sp_sql_text(event->model_name),
      {.type = SP_SQL_INTEGER, .is_null = !has_model, .integer = event->model_version},
      sp_sql_text(event->label),
      sp_sql_text(event->path),
      sp_sql_text(event->sha256),
      sp_sql_text(event->instance ? event->instance : registry->default_instance),
      sp_sql_text(registry->host),
      sp_sql_text(registry->user),
      sp_sql_integer(registry->pid),
      sp_sql_text(event->detail_json),
  };
  int64_t id = 0;
  int found = 0;
  SP_TRY(sp_registry_query_integer(registry->backend,
                                   "INSERT INTO events (at, type, artifact_id, run_id, model_name, model_version,"
                                   " label, path, sha256, instance, host, user_name, pid, detail)"
                                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
                                   values, sizeof values / sizeof *values, &id, &found));
  if (event_id) *event_id = id;
  return SP_OK;
}

typedef struct event_append {
  sp_registry *registry;
  const sp_registry_event *event;
  int64_t id;
} event_append;

static sp_status append_event_body(sp_registry_backend *backend, void *context) {
  event_append *append = context;
  (void)backend;
  return sp_registry_insert_event(append->registry, append->event, &append->id);
}

static sp_status check_event(const sp_registry_event *event) {
  if ((unsigned)event->type >= sizeof event_names / sizeof *event_names)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "unknown registry event type %d", (int)event->type);
  return sp_registry_check_json_object(event->detail_json, "event detail");
}

sp_status sp_registry_append_event(sp_registry *registry, const sp_registry_event *event, int64_t *event_id) {
  if (event_id) *event_id = 0;
  if (!registry) return SP_OK;
  SP_TRY(check_event(event));
  event_append append = {registry, event, 0};
  sp_registry_lock(registry);
  sp_status status = sp_registry_run_transaction(registry->backend, SP_TRANSACTION_WRITE, append_event_body, &append);
  sp_registry_unlock(registry);
  if (status == SP_OK && event_id) *event_id = append.id;
  return status;
}

/* ---- artifacts ---- */

static const char find_artifact_sql[] =
    "SELECT id FROM artifacts WHERE ($1 IS NULL OR sha256 = $1) AND ($1 IS NOT NULL OR path = $2)"
    " ORDER BY CASE WHEN path = $2 THEN 0 ELSE 1 END, id DESC LIMIT 1";

static sp_status find_artifact(sp_registry_backend *backend, const char *absolute_path, const char *sha256,
                               int64_t *artifact_id, int *found) {
  sp_sql_value values[] = {sp_sql_text(sha256), sp_sql_text(absolute_path)};
  return sp_registry_query_integer(backend, find_artifact_sql, values, 2, artifact_id, found);
}

sp_status sp_registry_find_artifact(sp_registry *registry, const char *path, const char *sha256,
                                    int64_t *artifact_id) {
  *artifact_id = 0;
  if (!path && !sha256) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "finding an artifact needs a path or a hash");
  char *absolute = path ? sp_registry_absolute_path(path) : NULL;
  if (path && !absolute) return SP_ERROR_NO_MEMORY;
  int found = 0;
  sp_registry_lock(registry);
  sp_status status = find_artifact(registry->backend, absolute, sha256, artifact_id, &found);
  sp_registry_unlock(registry);
  if (status == SP_OK && !found)
    status = sp_fail(SP_ERROR_NOT_FOUND, "registry '%s' has no artifact with %s%s%s%s", registry->url,
                     absolute ? "path " : "", absolute ? absolute : "", absolute && sha256 ? " and sha256 " : sha256 ? "sha256 " : "",
                     sha256 ? sha256 : "");
  free(absolute);
  return status;
}

typedef struct artifact_insert {
  sp_registry *registry;
  const sp_artifact_record *record;
  const sp_manifest *manifest;
  const char *path, *now;
  int64_t id;
} artifact_insert;

static sp_status insert_files(sp_registry_backend *backend, int64_t artifact_id, const sp_manifest *manifest) {
  for (size_t i = 0; i < manifest->count; i++) {
    const sp_manifest_entry *entry = &manifest->entries[i];
    sp_sql_value values[] = {sp_sql_integer(artifact_id), sp_sql_text(entry->path),
                             {.type = SP_SQL_INTEGER, .is_null = entry->size == SP_MANIFEST_SIZE_UNKNOWN,
                              .integer = (int64_t)entry->size},
                             sp_sql_text(entry->sha256)};
    SP_TRY(backend->operations->execute(
        backend, "INSERT INTO artifact_files (artifact_id, path, size, sha256) VALUES ($1, $2, $3, $4)", values, 4,
        NULL));
  }
  return SP_OK;
}

static sp_status record_artifact_body(sp_registry_backend *backend, void *context) {
  artifact_insert *insert = context;
  const sp_artifact_record *record = insert->record;
  const sp_manifest *manifest = insert->manifest;
  if (record->run_id > 0) SP_TRY(check_id_exists(backend, "runs", record->run_id, "run"));
  if (record->parent_id > 0) SP_TRY(check_id_exists(backend, "artifacts", record->parent_id, "parent artifact"));
  sp_sql_value values[] = {
      sp_sql_id(record->run_id),
      sp_sql_text(sp_artifact_kind_name(record->kind)),
      sp_sql_text(record->name),
      sp_sql_id(record->version),
      sp_sql_text(record->format),
      sp_sql_text(record->format_version),
      sp_sql_text(record->producer),
      sp_sql_text(record->producer_version),
      sp_sql_text(insert->path),
      sp_sql_text(sp_artifact_layout_name(manifest->layout)),
      {.type = SP_SQL_INTEGER, .is_null = manifest->size == SP_MANIFEST_SIZE_UNKNOWN, .integer = (int64_t)manifest->size},
      sp_sql_text(manifest->sha256),
      sp_sql_integer((int64_t)manifest->count),
      sp_sql_text(record->signature_json),
      sp_sql_text(record->metrics_json),
      sp_sql_id(record->parent_id),
      sp_sql_text(insert->now),
      sp_sql_text(insert->registry->host),
  };
  int found = 0;
  SP_TRY(sp_registry_query_integer(backend,
                                   "INSERT INTO artifacts (run_id, kind, name, version, format, format_version,"
                                   " producer, producer_version, path, layout, size, sha256, file_count, signature,"
                                   " metrics, parent_id, created_at, host) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                                   " $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id",
                                   values, sizeof values / sizeof *values, &insert->id, &found));
  SP_TRY(insert_files(backend, insert->id, manifest));
  sp_registry_event event = {.type = record->parent_id > 0 ? SP_EVENT_CONVERTED : SP_EVENT_SAVED,
                             .artifact_id = insert->id,
                             .run_id = record->run_id,
                             .path = insert->path,
                             .sha256 = manifest->sha256};
  return sp_registry_insert_event(insert->registry, &event, NULL);
}

static sp_status check_record(const sp_artifact_record *record) {
  if (!record->path || !*record->path) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "an artifact record needs a path");
  if ((unsigned)record->kind > SP_ARTIFACT_EXPORT)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "artifact '%s': unknown kind %d", record->path, (int)record->kind);
  if (!record->format || !*record->format || !record->producer || !*record->producer)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "artifact '%s': the record needs a format and a producer", record->path);
  SP_TRY(sp_registry_check_json_object(record->signature_json, "artifact signature"));
  return sp_registry_check_json_object(record->metrics_json, "artifact metrics");
}

sp_status sp_registry_record_artifact(sp_registry *registry, const sp_artifact_record *record, int64_t *artifact_id) {
  if (artifact_id) *artifact_id = 0;
  if (!registry) return SP_OK;
  SP_TRY(check_record(record));
  sp_manifest *computed = NULL;
  if (!record->manifest) SP_TRY(sp_manifest_compute(record->path, &computed)); /* hashed before any lock is held */
  char *path = sp_registry_absolute_path(record->path);
  if (!path) {
    sp_manifest_free(computed);
    return SP_ERROR_NO_MEMORY;
  }
  char now[SP_TIMESTAMP_SIZE];
  sp_registry_timestamp_now(now);
  artifact_insert insert = {registry, record, computed ? computed : record->manifest, path, now, 0};
  sp_registry_lock(registry);
  sp_status status = sp_registry_run_transaction(registry->backend, SP_TRANSACTION_WRITE, record_artifact_body, &insert);
  sp_registry_unlock(registry);
  free(path);
  sp_manifest_free(computed);
  if (status != SP_OK) return sp_error_context(status, "recording artifact '%s'", record->path);
  if (artifact_id) *artifact_id = insert.id;
  return SP_OK;
}

/* ---- events that name an artifact by path or hash ---- */

typedef struct resolved_event {
  sp_registry *registry;
  sp_registry_event event;
  const char *find_path, *find_sha256;
} resolved_event;

static sp_status resolved_event_body(sp_registry_backend *backend, void *context) {
  resolved_event *pending = context;
  int found = 0;
  SP_TRY(find_artifact(backend, pending->find_path, pending->find_sha256, &pending->event.artifact_id, &found));
  if (!found) pending->event.artifact_id = 0;
  return sp_registry_insert_event(pending->registry, &pending->event, NULL);
}

static sp_status append_resolved_event(sp_registry *registry, resolved_event *pending) {
  SP_TRY(check_event(&pending->event));
  sp_registry_lock(registry);
  sp_status status = sp_registry_run_transaction(registry->backend, SP_TRANSACTION_WRITE, resolved_event_body, pending);
  sp_registry_unlock(registry);
  return status;
}

static char *reason_detail(const char *reason) {
  if (!reason) return NULL;
  json_object *detail = json_object_new_object();
  json_object_object_add(detail, "reason", json_object_new_string(reason));
  char *text = sp_json_dumps(detail, 0);
  json_object_put(detail);
  return text;
}

sp_status sp_registry_record_serving(sp_registry *registry, sp_registry_event_type type, const char *model_name,
                                     int64_t version, const char *path, const char *sha256, const char *instance,
                                     const char *reason) {
  if (!registry) return SP_OK;
  if (type != SP_EVENT_LOADED && type != SP_EVENT_UNLOADED && type != SP_EVENT_LOAD_REFUSED)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a serving event is loaded, unloaded or load_refused, not %s",
                   sp_registry_event_type_name(type));
  if (!model_name || !*model_name) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a serving event needs a model name");
  char *absolute = path ? sp_registry_absolute_path(path) : NULL;
  char *detail = reason_detail(reason);
  resolved_event pending = {registry,
                            {.type = type, .model_name = model_name, .model_version = version, .path = absolute,
                             .sha256 = sha256, .instance = instance, .detail_json = detail},
                            absolute, sha256};
  sp_status status = (path && !absolute) || (reason && !detail) ? SP_ERROR_NO_MEMORY
                     : sha256 || absolute                       ? append_resolved_event(registry, &pending)
                                                                : sp_fail(SP_ERROR_INVALID_ARGUMENT,
                                                                          "a serving event needs a path or a hash");
  free(absolute);
  free(detail);
  return status;
}

sp_status sp_registry_record_deletion(sp_registry *registry, const char *path, const char *reason) {
  if (!registry) return SP_OK;
  char *absolute = sp_registry_absolute_path(path);
  char *detail = reason_detail(reason);
  resolved_event pending = {registry, {.type = SP_EVENT_DELETED, .path = absolute, .detail_json = detail}, absolute,
                            NULL};
  sp_status status = !absolute || (reason && !detail) ? SP_ERROR_NO_MEMORY : append_resolved_event(registry, &pending);
  free(absolute);
  free(detail);
  return status;
}

/* ---- labels ---- */

typedef struct label_move {
  sp_registry *registry;
  const char *label, *now;
  int64_t artifact_id;
} label_move;

static sp_status set_label_body(sp_registry_backend *backend, void *context) {
  label_move *move = context;
  SP_TRY(check_id_exists(backend, "artifacts", move->artifact_id, "artifact"));
  sp_sql_value name = sp_sql_text(move->label);
  int64_t previous = 0;
  int found = 0;
  SP_TRY(sp_registry_query_integer(backend, "SELECT artifact_id FROM labels WHERE name = $1", &name, 1, &previous,
                                   &found));
  if (found && previous == move->artifact_id) return SP_OK;
  sp_sql_value values[] = {sp_sql_text(move->label), sp_sql_integer(move->artifact_id), sp_sql_text(move->now),
                           sp_sql_id(found ? previous : 0), sp_sql_text(move->registry->host),
                           sp_sql_text(move->registry->user)};
  SP_TRY(backend->operations->execute(backend,
                                      found ? "UPDATE labels SET artifact_id = $2, updated_at = $3 WHERE name = $1"
                                            : "INSERT INTO labels (name, artifact_id, updated_at) VALUES ($1, $2, $3)",
                                      values, 3, NULL));
  SP_TRY(backend->operations->execute(backend,
                                      "INSERT INTO label_history (label, artifact_id, previous_artifact_id, moved_at,"
                                      " host, user_name) VALUES ($1, $2, $3, $4, $5, $6)",
                                      (sp_sql_value[]){values[0], values[1], values[3], values[2], values[4], values[5]},
                                      6, NULL));
  char detail[64];
  if (found)
    snprintf(detail, sizeof detail, "{\"from\": %lld}", (long long)previous);
  else
    snprintf(detail, sizeof detail, "{\"from\": null}");
  sp_registry_event event = {.type = SP_EVENT_LABEL_MOVED, .artifact_id = move->artifact_id, .label = move->label,
                             .detail_json = detail};
  return sp_registry_insert_event(move->registry, &event, NULL);
}

static sp_status check_label(const char *label) {
  size_t length = label ? strlen(label) : 0;
  if (length == 0 || length > MAX_LABEL_LENGTH)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a label is 1 to %d characters", MAX_LABEL_LENGTH);
  for (const unsigned char *p = (const unsigned char *)label; *p; p++)
    if (*p < 0x20 || *p == 0x7f || *p == ' ')
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "label '%s': no spaces or control characters", label);
  return SP_OK;
}

sp_status sp_registry_set_label(sp_registry *registry, const char *label, int64_t artifact_id) {
  if (!registry) return SP_OK;
  SP_TRY(check_label(label));
  char now[SP_TIMESTAMP_SIZE];
  sp_registry_timestamp_now(now);
  label_move move = {registry, label, now, artifact_id};
  sp_registry_lock(registry);
  sp_status status = sp_registry_run_transaction(registry->backend, SP_TRANSACTION_WRITE, set_label_body, &move);
  sp_registry_unlock(registry);
  return status == SP_OK ? SP_OK : sp_error_context(status, "moving label '%s'", label);
}

sp_status sp_registry_resolve_label(sp_registry *registry, const char *label, int64_t *artifact_id) {
  *artifact_id = 0;
  sp_sql_value name = sp_sql_text(label);
  int found = 0;
  sp_registry_lock(registry);
  sp_status status = sp_registry_query_integer(registry->backend, "SELECT artifact_id FROM labels WHERE name = $1",
                                               &name, 1, artifact_id, &found);
  sp_registry_unlock(registry);
  if (status == SP_OK && !found)
    status = sp_fail(SP_ERROR_NOT_FOUND, "no label '%s' in registry '%s'", label, registry->url);
  return status;
}
