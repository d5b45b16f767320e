/* Tests of the artifact registry (savepoint/registry.h), the same suite on SQLite and on a real
 * PostgreSQL server (a throwaway cluster the ctest fixture starts; see scripts/with-postgres.sh):
 * schema creation and the forward migration 1 → 2, recording and querying, append-only
 * enforcement by the database, label history, "what served model X at time T", verification
 * against recorded hashes, garbage collection, and 4 processes × 200 artifacts recorded at once. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/memory.h"
#include "registry/registry_internal.h"
#include "savepoint/registry.h"
#include "test_support.h"

/* ---- one registry per test, on either backend ---- */

typedef struct target {
  char *url;
  char *directory;
  char *database; /* PostgreSQL: the database created for this test */
  char *admin_url;
  sp_registry *registry; /* open for REGISTRY_TEST bodies; closed after them */
} target;

static char *read_first_line(const char *path) {
  FILE *file = fopen(path, "r");
  if (!file) return NULL;
  char buffer[1024] = {0};
  char *line = fgets(buffer, sizeof buffer, file) ? sp_strndup(buffer, strcspn(buffer, "\n")) : NULL;
  fclose(file);
  return line;
}

/* The URL of the test cluster's "postgres" database; skips the test when PostgreSQL is absent. */
static char *postgres_admin_url(void) {
  const char *url = getenv("SP_TEST_POSTGRES_URL");
  if (url && *url) return sp_strdup(url);
  const char *state = getenv("SP_TEST_POSTGRES_STATE");
  if (!state) cr_skip_test("PostgreSQL half skipped: run through ctest (its fixture starts a server) or "
                           "scripts/with-postgres.sh run");
  char *url_file = sp_path_join(state, "url"), *skip_file = sp_path_join(state, "skip");
  char *found = read_first_line(url_file), *reason = read_first_line(skip_file);
  free(url_file);
  free(skip_file);
  if (!found && reason) cr_skip_test("PostgreSQL half skipped: %s", reason);
  cr_assert_not_null(found, "the postgres.start fixture left neither %s/url nor %s/skip", state, state);
  return found;
}

static void postgres_admin(const char *admin_url, const char *sql) {
  PGconn *connection = PQconnectdb(admin_url);
  cr_assert_eq(PQstatus(connection), CONNECTION_OK, "%s", PQerrorMessage(connection));
  PGresult *result = PQexec(connection, sql);
  cr_assert_eq(PQresultStatus(result), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(connection));
  PQclear(result);
  PQfinish(connection);
}

static void target_open(target *t, const char *backend, const char *name) {
  memset(t, 0, sizeof *t);
  t->directory = sp_test_temp_dir(name);
  if (strcmp(backend, "sqlite") == 0) {
    t->url = sp_strdupf("sqlite://%s/registry/registry.db", t->directory);
    cr_assert(t->url[9] == '/', "SP_TEST_TMP must be absolute for a sqlite:/// URL: %s", t->url);
    return;
  }
  t->admin_url = postgres_admin_url();
  t->database = sp_strdupf("sp_%s_%d", name, (int)getpid());
  for (char *p = t->database; *p; p++)
    if (*p == '-') *p = '_';
  char *create = sp_strdupf("CREATE DATABASE %s", t->database);
  postgres_admin(t->admin_url, create);
  free(create);
  const char *path = strstr(t->admin_url + strlen("postgresql://"), "/");
  cr_assert_not_null(path);
  const char *query = strchr(path, '?');
  t->url = sp_strdupf("%.*s/%s%s", (int)(path - t->admin_url), t->admin_url, t->database, query ? query : "");
}

static void target_close(target *t) {
  if (t->database) {
    char *drop = sp_strdupf("DROP DATABASE IF EXISTS %s WITH (FORCE)", t->database);
    postgres_admin(t->admin_url, drop);
    free(drop);
  }
  sp_remove_tree(t->directory);
  free(t->url), free(t->directory), free(t->database), free(t->admin_url);
}

static void run_on(const char *backend, const char *name, int open, void (*body)(target *t)) {
  target t;
  target_open(&t, backend, name);
  if (open) SP_ASSERT_OK(sp_registry_open(t.url, &t.registry));
  body(&t);
  sp_registry_close(t.registry);
  target_close(&t);
}

/* Defines a test body once and runs it as registry_sqlite::name and registry_postgres::name, with
 * t->registry open (REGISTRY_TEST) or not yet created (REGISTRY_TEST_UNOPENED). */
#define REGISTRY_TEST_WITH(name, open)                                                          \
  static void name##_body(target *t);                                                           \
  Test(registry_sqlite, name, .timeout = 600) { run_on("sqlite", #name, open, name##_body); }     \
  Test(registry_postgres, name, .timeout = 600) { run_on("postgresql", #name, open, name##_body); } \
  static void name##_body(target *t)
#define REGISTRY_TEST(name) REGISTRY_TEST_WITH(name, 1)
#define REGISTRY_TEST_UNOPENED(name) REGISTRY_TEST_WITH(name, 0)

/* ---- helpers ---- */

static void write_text(const char *directory, const char *name, const char *text) {
  char *path = sp_path_join(directory, name);
  char *parent = sp_path_dirname(path);
  SP_ASSERT_OK(sp_make_directories(parent));
  SP_ASSERT_OK(sp_write_file_atomic(path, text, strlen(text)));
  free(parent);
  free(path);
}

/* A SavedModel-shaped directory with distinct weights. */
static char *make_export(const char *root, const char *name, const char *weights) {
  char *directory = sp_path_join(root, name);
  write_text(directory, "saved_model.pb", "graph");
  write_text(directory, "variables/variables.index", "index");
  write_text(directory, "variables/variables.data-00000-of-00001", weights);
  return directory;
}

static int64_t record(sp_registry *registry, const char *path, sp_artifact_kind kind, int64_t run, int64_t parent) {
  sp_artifact_record entry = {.run_id = run, .kind = kind, .name = "mnist", .version = 1, .format = "saved_model",
                              .format_version = "1", .producer = "savepoint", .producer_version = "0.1.0",
                              .path = path, .parent_id = parent,
                              .signature_json = "{\"inputs\": [{\"name\": \"x\", \"dtype\": \"float32\", \"shape\": [null, 784]}],"
                                                " \"outputs\": [{\"name\": \"y\", \"dtype\": \"float32\", \"shape\": [null, 10]}]}",
                              .metrics_json = "{\"accuracy\": 0.97, \"val_loss\": 0.08}"};
  int64_t id = 0;
  SP_ASSERT_OK(sp_registry_record_artifact(registry, &entry, &id));
  cr_assert_gt(id, 0);
  return id;
}

static sp_registry_table *raw_query(sp_registry *registry, const char *sql) {
  sp_registry_backend *backend = sp_registry_backend_of(registry);
  sp_registry_table *table = NULL;
  SP_ASSERT_OK(backend->operations->execute(backend, sql, NULL, 0, &table));
  return table;
}

static int64_t raw_count(sp_registry *registry, const char *sql) {
  sp_registry_table *table = raw_query(registry, sql);
  cr_assert_eq(table->row_count, 1);
  int64_t value = strtoll(table->cells[0], NULL, 10);
  sp_registry_table_free(table);
  return value;
}

static sp_status raw_execute(sp_registry *registry, const char *sql) {
  sp_registry_backend *backend = sp_registry_backend_of(registry);
  return backend->operations->execute(backend, sql, NULL, 0, NULL);
}

static const char *cell(const sp_registry_table *table, size_t row, const char *column) {
  cr_assert_lt(row, table->row_count, "row %zu of %zu", row, table->row_count);
  const char *value = sp_registry_table_get(table, row, column);
  return value ? value : "(null)";
}

static int64_t cell_integer(const sp_registry_table *table, size_t row, const char *column) {
  return strtoll(cell(table, row, column), NULL, 10);
}

/* The whole-artifact hash by its definition: SHA-256 of "<hex>  <path>\n" lines sorted by path. */
static void expected_directory_hash(const char *const *paths, const char *const *contents, size_t count,
                                    char out[SP_SHA256_HEX]) {
  char listing[4096] = {0};
  for (size_t i = 0; i < count; i++) {
    uint8_t digest[SP_SHA256_BYTES];
    char hex[SP_SHA256_HEX];
    sp_sha256_bytes(contents[i], strlen(contents[i]), digest);
    sp_sha256_hex(digest, hex);
    snprintf(listing + strlen(listing), sizeof listing - strlen(listing), "%s  %s\n", hex, paths[i]);
  }
  uint8_t digest[SP_SHA256_BYTES];
  sp_sha256_bytes(listing, strlen(listing), digest);
  sp_sha256_hex(digest, out);
}

/* ---- schema ---- */

REGISTRY_TEST(creates_schema_at_current_version) {
  sp_registry *registry = t->registry;
  int version = 0;
  SP_ASSERT_OK(sp_registry_schema_version(registry, &version));
  cr_assert_eq(version, SP_REGISTRY_SCHEMA_VERSION);
  static const char *const tables[] = {"runs", "artifacts", "artifact_files", "labels", "label_history", "events",
                                       "schema_version"};
  for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
    char *sql = sp_strdupf("SELECT COUNT(*) FROM %s", tables[i]);
    cr_assert_geq(raw_count(registry, sql), 0);
    free(sql);
  }
  sp_registry_close(registry);
  /* Opening again changes nothing. */
  SP_ASSERT_OK(sp_registry_open(t->url, &t->registry));
  registry = t->registry;
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM schema_version"), SP_REGISTRY_SCHEMA_VERSION);
  cr_assert_str_eq(sp_registry_backend_name(registry), strncmp(t->url, "sqlite", 6) == 0 ? "sqlite" : "postgresql");
}

REGISTRY_TEST_UNOPENED(migrates_version_1_to_2) {
  /* A registry as version 1 left it: labels moved through label_moved events, no label_history. */
  sp_registry_backend *backend = NULL;
  char *display = NULL;
  SP_ASSERT_OK(sp_registry_open_backend(t->url, &backend, &display));
  SP_ASSERT_OK(sp_registry_migrate(backend, 1));
  int version = 0;
  SP_ASSERT_OK(sp_registry_read_schema_version(backend, &version));
  cr_assert_eq(version, 1);
  static const char *const version_1_data[] = {
      "INSERT INTO artifacts (kind, format, producer, path, layout, sha256, file_count, created_at, host)"
      " VALUES ('model', 'keras', 'keras', '/m/a.keras', 'file', 'aa', 1, '2025-01-01T00:00:00.000000Z', 'h')",
      "INSERT INTO artifacts (kind, format, producer, path, layout, sha256, file_count, created_at, host)"
      " VALUES ('model', 'keras', 'keras', '/m/b.keras', 'file', 'bb', 1, '2025-01-02T00:00:00.000000Z', 'h')",
      "INSERT INTO events (at, type, artifact_id, label, instance, host)"
      " VALUES ('2025-01-03T00:00:00.000000Z', 'label_moved', 1, 'prod', 'h:1', 'h')",
      "INSERT INTO events (at, type, artifact_id, label, instance, host)"
      " VALUES ('2025-01-04T00:00:00.000000Z', 'label_moved', 2, 'prod', 'h:1', 'h')",
      "INSERT INTO labels (name, artifact_id, updated_at) VALUES ('prod', 2, '2025-01-04T00:00:00.000000Z')",
      "INSERT INTO labels (name, artifact_id, updated_at) VALUES ('legacy', 1, '2025-01-05T00:00:00.000000Z')",
      /* version 1 did not protect artifacts yet */
      "UPDATE artifacts SET host = 'h2' WHERE id = 2",
  };
  for (size_t i = 0; i < sizeof version_1_data / sizeof *version_1_data; i++)
    SP_ASSERT_OK(backend->operations->execute(backend, version_1_data[i], NULL, 0, NULL));
  backend->operations->close(backend);
  free(display);

  SP_ASSERT_OK(sp_registry_open(t->url, &t->registry));
  sp_registry *registry = t->registry;
  SP_ASSERT_OK(sp_registry_schema_version(registry, &version));
  cr_assert_eq(version, 2);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM schema_version"), 2);
  sp_registry_table *history = NULL;
  SP_ASSERT_OK(sp_registry_label_history(registry, "prod", &history));
  cr_assert_eq(history->row_count, 2);
  cr_assert_eq(cell_integer(history, 0, "artifact_id"), 1);
  cr_assert_null(sp_registry_table_get(history, 0, "previous_artifact_id"));
  cr_assert_eq(cell_integer(history, 1, "artifact_id"), 2);
  cr_assert_eq(cell_integer(history, 1, "previous_artifact_id"), 1);
  cr_assert_str_eq(cell(history, 1, "moved_at"), "2025-01-04T00:00:00.000000Z");
  sp_registry_table_free(history);
  SP_ASSERT_OK(sp_registry_label_history(registry, "legacy", &history)); /* no events: from the labels table */
  cr_assert_eq(history->row_count, 1);
  cr_assert_str_eq(cell(history, 0, "moved_at"), "2025-01-05T00:00:00.000000Z");
  sp_registry_table_free(history);
  /* Version 2 made artifacts immutable. */
  SP_ASSERT_FAILS(raw_execute(registry, "UPDATE artifacts SET host = 'h3' WHERE id = 2"), SP_ERROR_INVALID_ARGUMENT,
                  "append-only");
}

REGISTRY_TEST(refuses_a_newer_schema) {
  sp_registry *registry = t->registry;
  SP_ASSERT_OK(raw_execute(registry, "INSERT INTO schema_version (version, applied_at, savepoint_version, description)"
                                     " VALUES (99, '2030-01-01T00:00:00.000000Z', '9.9.9', 'from the future')"));
  sp_registry_close(registry);
  t->registry = NULL;
  SP_ASSERT_FAILS(sp_registry_open(t->url, &t->registry), SP_ERROR_UNSUPPORTED, "version 99, newer");
  cr_assert_null(t->registry);
}

/* ---- recording and querying ---- */

REGISTRY_TEST(records_run_artifact_files_and_lineage) {
  sp_registry *registry = t->registry;
  int64_t run = 0;
  SP_ASSERT_OK(sp_registry_begin_run(registry, "savepoint train --epochs 3", "{\"epochs\": 3, \"lr\": 0.001}", &run));
  cr_assert_gt(run, 0);
  char *model = make_export(t->directory, "1", "weights-1");
  int64_t saved = record(registry, model, SP_ARTIFACT_EXPORT, run, 0);
  int64_t converted = record(registry, model, SP_ARTIFACT_EXPORT, 0, saved);
  SP_ASSERT_OK(sp_registry_end_run(registry, run, "completed", "{\"accuracy\": 0.97}"));

  sp_registry_artifact_details details;
  SP_ASSERT_OK(sp_registry_show_artifact(registry, saved, &details));
  static const char *const paths[] = {"saved_model.pb", "variables/variables.data-00000-of-00001",
                                      "variables/variables.index"};
  static const char *const contents[] = {"graph", "weights-1", "index"};
  char expected[SP_SHA256_HEX];
  expected_directory_hash(paths, contents, 3, expected);
  cr_assert_str_eq(cell(details.artifact, 0, "sha256"), expected);
  cr_assert_str_eq(cell(details.artifact, 0, "kind"), "export");
  cr_assert_str_eq(cell(details.artifact, 0, "layout"), "directory");
  cr_assert_eq(cell_integer(details.artifact, 0, "size"), 5 + 9 + 5);
  cr_assert_eq(cell_integer(details.artifact, 0, "run_id"), run);
  cr_assert_eq(details.artifact->column_types[0], SP_REGISTRY_COLUMN_INTEGER);
  cr_assert_eq(details.files->row_count, 3);
  for (size_t i = 0; i < 3; i++) {
    uint8_t digest[SP_SHA256_BYTES];
    char hex[SP_SHA256_HEX];
    sp_sha256_bytes(contents[i], strlen(contents[i]), digest);
    sp_sha256_hex(digest, hex);
    cr_assert_str_eq(cell(details.files, i, "path"), paths[i]);
    cr_assert_str_eq(cell(details.files, i, "sha256"), hex);
  }
  cr_assert_str_eq(cell(details.run, 0, "command_line"), "savepoint train --epochs 3");
  cr_assert_str_eq(cell(details.run, 0, "status"), "completed");
  cr_assert_eq(details.events->row_count, 1);
  cr_assert_str_eq(cell(details.events, 0, "type"), "saved");
  sp_registry_artifact_details_free(&details);

  SP_ASSERT_OK(sp_registry_show_artifact(registry, converted, &details));
  cr_assert_eq(details.lineage->row_count, 1);
  cr_assert_eq(cell_integer(details.lineage, 0, "id"), saved);
  cr_assert_str_eq(cell(details.events, 0, "type"), "converted");
  char *json = sp_registry_table_json(details.artifact);
  cr_assert(strstr(json, "\"accuracy\": 0.97,"), "metrics are embedded as JSON: %s", json);
  char *parent = sp_strdupf("\"parent_id\": %lld,", (long long)saved);
  cr_assert(strstr(json, parent), "integers are JSON numbers: %s", json);
  free(parent);
  free(json);
  sp_registry_artifact_details_free(&details);

  sp_registry_filter filter = {.kind = "export", .run_id = run};
  sp_registry_table *list = NULL;
  SP_ASSERT_OK(sp_registry_list_artifacts(registry, &filter, &list));
  cr_assert_eq(list->row_count, 1);
  cr_assert_eq(cell_integer(list, 0, "id"), saved);
  sp_registry_table_free(list);
  int64_t found = 0;
  SP_ASSERT_OK(sp_registry_find_artifact(registry, model, NULL, &found));
  cr_assert_eq(found, converted); /* the newest at that path */
  SP_ASSERT_OK(sp_registry_find_artifact(registry, NULL, expected, &found));
  cr_assert_eq(found, converted);
  SP_ASSERT_FAILS(sp_registry_find_artifact(registry, "/nowhere", NULL, &found), SP_ERROR_NOT_FOUND, "/nowhere");
  free(model);
}

/* The status of run id in sp_registry_list_runs. */
static char *run_status(sp_registry *registry, int64_t id) {
  sp_registry_table *runs;
  SP_ASSERT_OK(sp_registry_list_runs(registry, 100, &runs));
  char *status = NULL;
  for (size_t r = 0; r < runs->row_count; r++)
    if (cell_integer(runs, r, "id") == id) status = strdup(cell(runs, r, "status"));
  sp_registry_table_free(runs);
  cr_assert_not_null(status, "run %lld not listed", (long long)id);
  return status;
}

REGISTRY_TEST(marks_runs_whose_process_is_gone_as_interrupted) {
  sp_registry *registry = t->registry;
  pid_t child = fork(); /* a process id that no longer exists once reaped */
  if (child == 0) _exit(0);
  cr_assert_gt(child, 0);
  waitpid(child, NULL, 0);
  int64_t killed = 0, alive = 0, elsewhere = 0, next = 0;
  SP_ASSERT_OK(sp_registry_begin_run(registry, "killed", NULL, &killed));
  SP_ASSERT_OK(sp_registry_begin_run(registry, "alive", NULL, &alive));
  SP_ASSERT_OK(sp_registry_begin_run(registry, "on another host", NULL, &elsewhere));
  char sql[160];
  snprintf(sql, sizeof sql, "UPDATE runs SET pid = %d WHERE id = %lld", (int)child, (long long)killed);
  SP_ASSERT_OK(raw_execute(registry, sql));
  snprintf(sql, sizeof sql, "UPDATE runs SET pid = %d, host = 'another-host' WHERE id = %lld", (int)child,
           (long long)elsewhere);
  SP_ASSERT_OK(raw_execute(registry, sql));
  SP_ASSERT_OK(sp_registry_begin_run(registry, "next", NULL, &next));
  const int64_t ids[] = {killed, alive, elsewhere, next};
  const char *const expected[] = {"interrupted", "running", "running", "running"};
  for (int i = 0; i < 4; i++) {
    char *status = run_status(registry, ids[i]);
    cr_assert_str_eq(status, expected[i], "run %d", i);
    free(status);
  }
}

REGISTRY_TEST(refuses_bad_records) {
  sp_registry *registry = t->registry;
  char *model = make_export(t->directory, "1", "w");
  sp_artifact_record entry = {.kind = SP_ARTIFACT_MODEL, .format = "keras", .producer = "savepoint", .path = model,
                              .metrics_json = "{\"accuracy\": "};
  int64_t id = 0;
  SP_ASSERT_FAILS(sp_registry_record_artifact(registry, &entry, &id), SP_ERROR_FORMAT, "artifact metrics");
  entry.metrics_json = "[1, 2]";
  SP_ASSERT_FAILS(sp_registry_record_artifact(registry, &entry, &id), SP_ERROR_INVALID_ARGUMENT, "JSON object");
  entry.metrics_json = NULL;
  entry.parent_id = 12345;
  SP_ASSERT_FAILS(sp_registry_record_artifact(registry, &entry, &id), SP_ERROR_NOT_FOUND, "parent artifact 12345");
  entry.parent_id = 0;
  entry.run_id = 777;
  SP_ASSERT_FAILS(sp_registry_record_artifact(registry, &entry, &id), SP_ERROR_NOT_FOUND, "run 777");
  SP_ASSERT_FAILS(sp_registry_set_label(registry, "prod", 4242), SP_ERROR_NOT_FOUND, "artifact 4242");
  SP_ASSERT_FAILS(sp_registry_set_label(registry, "has space", 1), SP_ERROR_INVALID_ARGUMENT, "no spaces");
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM artifacts"), 0);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM events"), 0);
  free(model);
}

REGISTRY_TEST(events_and_hashes_are_append_only) {
  sp_registry *registry = t->registry;
  char *model = make_export(t->directory, "1", "w");
  int64_t id = record(registry, model, SP_ARTIFACT_EXPORT, 0, 0);
  SP_ASSERT_OK(sp_registry_set_label(registry, "prod", id));
  int64_t events = raw_count(registry, "SELECT COUNT(*) FROM events");
  cr_assert_eq(events, 2);
  static const char *const forbidden[] = {
      "UPDATE events SET type = 'loaded'",
      "DELETE FROM events",
      "UPDATE artifacts SET sha256 = 'forged'",
      "DELETE FROM artifacts",
      "UPDATE artifact_files SET sha256 = 'forged'",
      "DELETE FROM artifact_files",
      "UPDATE label_history SET artifact_id = 1",
      "DELETE FROM label_history",
  };
  for (size_t i = 0; i < sizeof forbidden / sizeof *forbidden; i++)
    SP_ASSERT_FAILS(raw_execute(registry, forbidden[i]), SP_ERROR_INVALID_ARGUMENT, "append-only");
  if (strcmp(sp_registry_backend_name(registry), "postgresql") == 0)
    SP_ASSERT_FAILS(raw_execute(registry, "TRUNCATE events"), SP_ERROR_INVALID_ARGUMENT, "append-only");
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM events"), events);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM artifact_files"), 3);
  free(model);
}

REGISTRY_TEST(label_history_keeps_every_holder) {
  sp_registry *registry = t->registry;
  int64_t ids[3];
  for (int i = 0; i < 3; i++) {
    char name[8], weights[16];
    snprintf(name, sizeof name, "%d", i + 1);
    snprintf(weights, sizeof weights, "w%d", i + 1);
    char *model = make_export(t->directory, name, weights);
    ids[i] = record(registry, model, SP_ARTIFACT_EXPORT, 0, 0);
    free(model);
  }
  SP_ASSERT_OK(sp_registry_set_label(registry, "champion", ids[0]));
  SP_ASSERT_OK(sp_registry_set_label(registry, "champion", ids[1]));
  SP_ASSERT_OK(sp_registry_set_label(registry, "champion", ids[1])); /* already there: nothing recorded */
  SP_ASSERT_OK(sp_registry_set_label(registry, "champion", ids[0]));
  SP_ASSERT_OK(sp_registry_set_label(registry, "challenger", ids[2]));
  int64_t holder = 0;
  SP_ASSERT_OK(sp_registry_resolve_label(registry, "champion", &holder));
  cr_assert_eq(holder, ids[0]);
  SP_ASSERT_FAILS(sp_registry_resolve_label(registry, "nobody", &holder), SP_ERROR_NOT_FOUND, "nobody");
  sp_registry_table *history = NULL;
  SP_ASSERT_OK(sp_registry_label_history(registry, "champion", &history));
  cr_assert_eq(history->row_count, 3);
  int64_t expected_holders[] = {ids[0], ids[1], ids[0]};
  for (size_t i = 0; i < 3; i++) cr_assert_eq(cell_integer(history, i, "artifact_id"), expected_holders[i]);
  cr_assert_eq(cell_integer(history, 2, "previous_artifact_id"), ids[1]);
  /* Who held it at each moment, including just before the first move. */
  for (size_t i = 0; i < 3; i++) {
    sp_registry_table *at = NULL;
    SP_ASSERT_OK(sp_registry_label_at(registry, "champion", cell(history, i, "moved_at"), &at));
    cr_assert_eq(at->row_count, 1);
    cr_assert_eq(cell_integer(at, 0, "artifact_id"), expected_holders[i]);
    sp_registry_table_free(at);
  }
  sp_registry_table *before = NULL;
  SP_ASSERT_OK(sp_registry_label_at(registry, "champion", "2000-01-01", &before));
  cr_assert_eq(before->row_count, 0);
  sp_registry_table_free(before);
  sp_registry_table_free(history);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM events WHERE type = 'label_moved'"), 4);
  sp_registry_table *labels = NULL;
  SP_ASSERT_OK(sp_registry_list_labels(registry, &labels));
  cr_assert_eq(labels->row_count, 2);
  cr_assert_str_eq(cell(labels, 0, "label"), "challenger");
  sp_registry_table_free(labels);
}

REGISTRY_TEST(history_answers_what_served_a_model_at_a_time) {
  sp_registry *registry = t->registry;
  char *first = make_export(t->directory, "1", "weights one");
  char *second = make_export(t->directory, "2", "weights two");
  int64_t first_id = record(registry, first, SP_ARTIFACT_EXPORT, 0, 0);
  int64_t second_id = record(registry, second, SP_ARTIFACT_EXPORT, 0, 0);
  sp_manifest *first_hashes = NULL, *second_hashes = NULL;
  SP_ASSERT_OK(sp_manifest_compute(first, &first_hashes));
  SP_ASSERT_OK(sp_manifest_compute(second, &second_hashes));
  const char *server = "host-a:8501";
  SP_ASSERT_OK(sp_registry_record_serving(registry, SP_EVENT_LOADED, "mnist", 1, first, first_hashes->sha256, server, NULL));
  SP_ASSERT_OK(sp_registry_record_serving(registry, SP_EVENT_LOADED, "mnist", 2, second, second_hashes->sha256, server, NULL));
  SP_ASSERT_OK(sp_registry_record_serving(registry, SP_EVENT_UNLOADED, "mnist", 1, first, first_hashes->sha256, server, NULL));
  SP_ASSERT_OK(sp_registry_record_serving(registry, SP_EVENT_LOAD_REFUSED, "mnist", 3, second, "0000", server,
                                          "variables.data changed"));
  SP_ASSERT_OK(sp_registry_record_serving(registry, SP_EVENT_LOADED, "other", 1, first, first_hashes->sha256, server, NULL));
  sp_registry_table *history = NULL;
  SP_ASSERT_OK(sp_registry_serving_history(registry, "mnist", &history));
  cr_assert_eq(history->row_count, 4);
  cr_assert_eq(cell_integer(history, 0, "artifact_id"), first_id);
  cr_assert_str_eq(cell(history, 3, "type"), "load_refused");
  cr_assert(strstr(cell(history, 3, "detail"), "variables.data changed"));
  cr_assert_null(sp_registry_table_get(history, 3, "artifact_id")); /* no artifact has that hash */

  /* Just after each of the first three events: {1}, {1, 2}, {2}; the refusal changes nothing. */
  int64_t expected_versions[3][2] = {{1, 0}, {1, 2}, {2, 0}};
  size_t expected_rows[3] = {1, 2, 1};
  for (size_t i = 0; i < 4; i++) {
    sp_registry_table *at = NULL;
    SP_ASSERT_OK(sp_registry_serving_at(registry, "mnist", cell(history, i, "at"), &at));
    size_t step = i < 3 ? i : 2;
    cr_assert_eq(at->row_count, expected_rows[step], "after event %zu", i);
    for (size_t row = 0; row < at->row_count; row++) {
      int64_t version = cell_integer(at, row, "model_version");
      cr_assert_eq(version, expected_versions[step][row]);
      cr_assert_str_eq(cell(at, row, "sha256"), version == 1 ? first_hashes->sha256 : second_hashes->sha256);
      cr_assert_eq(cell_integer(at, row, "artifact_id"), version == 1 ? first_id : second_id);
      cr_assert_str_eq(cell(at, row, "instance"), server);
    }
    sp_registry_table_free(at);
  }
  sp_registry_table *before = NULL;
  SP_ASSERT_OK(sp_registry_serving_at(registry, "mnist", "1999-12-31T23:59:59+01:00", &before));
  cr_assert_eq(before->row_count, 0);
  sp_registry_table_free(before);
  SP_ASSERT_FAILS(sp_registry_serving_at(registry, "mnist", "yesterday", &before), SP_ERROR_INVALID_ARGUMENT,
                  "'yesterday' is not a time");
  sp_registry_table_free(history);
  sp_manifest_free(first_hashes);
  sp_manifest_free(second_hashes);
  free(first), free(second);
}

/* ---- integrity ---- */

typedef struct problem_log {
  int count;
  char files[8][128];
  char sources[8][64];
} problem_log;

static void log_problem(const sp_integrity_problem *problem, void *context) {
  problem_log *log = context;
  if (log->count == 8) return;
  snprintf(log->files[log->count], sizeof log->files[0], "%s", problem->file);
  snprintf(log->sources[log->count], sizeof log->sources[0], "%s", problem->source);
  log->count++;
}

REGISTRY_TEST(verify_compares_with_the_registry_and_names_the_file) {
  sp_registry *registry = t->registry;
  char *model = make_export(t->directory, "1", "0123456789");
  int64_t id = record(registry, model, SP_ARTIFACT_EXPORT, 0, 0);
  sp_verify_result result;
  SP_ASSERT_OK(sp_verify_artifact_detailed(model, registry, NULL, NULL, &result));
  cr_assert_eq(result.artifact_id, id);
  cr_assert_eq(result.problem_count, 0);
  cr_assert_eq(result.manifest_checked, 0);

  /* Flip one byte of the variables. */
  char *weights = sp_path_join(model, "variables/variables.data-00000-of-00001");
  SP_ASSERT_OK(sp_write_file_atomic(weights, "0123456788", 10));
  problem_log log = {0};
  SP_ASSERT_FAILS(sp_verify_artifact_detailed(model, registry, log_problem, &log, &result), SP_ERROR_CHECKSUM,
                  "'variables/variables.data-00000-of-00001' changed (per registry artifact");
  cr_assert_eq(log.count, 1);
  cr_assert_str_eq(log.files[0], "variables/variables.data-00000-of-00001");
  SP_ASSERT_FAILS(sp_registry_verify_artifact(registry, id, NULL, NULL, &result), SP_ERROR_CHECKSUM,
                  "variables/variables.data-00000-of-00001");

  /* Replace the version directory with another model's, complete with its own valid manifest. */
  SP_ASSERT_OK(sp_remove_tree(model));
  char *impostor = make_export(t->directory, "1", "other model weights");
  SP_ASSERT_OK(sp_manifest_create(impostor, NULL));
  memset(&log, 0, sizeof log);
  SP_ASSERT_FAILS(sp_verify_artifact_detailed(model, registry, log_problem, &log, &result), SP_ERROR_CHECKSUM,
                  "variables/variables.data-00000-of-00001");
  cr_assert_eq(result.manifest_checked, 1); /* the impostor's manifest agrees with itself … */
  cr_assert_eq(log.count, 1);               /* … so only the registry catches it */
  cr_assert(strstr(log.sources[0], "registry artifact"));

  /* Gone entirely: every recorded file is missing. */
  SP_ASSERT_OK(sp_remove_tree(model));
  memset(&log, 0, sizeof log);
  SP_ASSERT_FAILS(sp_registry_verify_artifact(registry, id, log_problem, &log, &result), SP_ERROR_CHECKSUM,
                  "missing");
  cr_assert_eq(log.count, 3);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM events WHERE type = 'verified'"), 5);
  free(weights), free(impostor), free(model);
}

REGISTRY_TEST(deletions_and_garbage_collection_are_events) {
  sp_registry *registry = t->registry;
  char *prefix = sp_path_join(t->directory, "ckpt-1");
  write_text(t->directory, "ckpt-1.index", "index");
  write_text(t->directory, "ckpt-1.data-00000-of-00001", "data");
  int64_t checkpoint = record(registry, prefix, SP_ARTIFACT_CHECKPOINT, 0, 0);
  char *keras = sp_path_join(t->directory, "model.keras");
  write_text(t->directory, "model.keras", "zip");
  int64_t model = record(registry, keras, SP_ARTIFACT_MODEL, 0, 0);
  /* Retention deletes the checkpoint and says so. */
  char *index = sp_strdupf("%s.index", prefix), *data = sp_strdupf("%s.data-00000-of-00001", prefix);
  cr_assert_eq(unlink(index), 0);
  cr_assert_eq(unlink(data), 0);
  SP_ASSERT_OK(sp_registry_record_deletion(registry, prefix, "retention: max_to_keep=1"));
  /* Someone removes the .keras file behind our back; gc finds it. */
  cr_assert_eq(unlink(keras), 0);
  sp_registry_table *missing = NULL;
  size_t found = 0;
  SP_ASSERT_OK(sp_registry_collect_garbage(registry, 1, &missing, &found));
  cr_assert_eq(found, 1);
  cr_assert_eq(cell_integer(missing, 0, "id"), model);
  sp_registry_table_free(missing);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM events WHERE type = 'deleted'"), 1); /* dry run */
  SP_ASSERT_OK(sp_registry_collect_garbage(registry, 0, &missing, &found));
  cr_assert_eq(found, 1);
  sp_registry_table_free(missing);
  SP_ASSERT_OK(sp_registry_collect_garbage(registry, 0, &missing, &found));
  cr_assert_eq(found, 0);
  sp_registry_table_free(missing);
  sp_registry_table *list = NULL;
  SP_ASSERT_OK(sp_registry_list_artifacts(registry, NULL, &list));
  cr_assert_eq(list->row_count, 2);
  for (size_t row = 0; row < 2; row++) cr_assert_not_null(sp_registry_table_get(list, row, "deleted_at"));
  sp_registry_table_free(list);
  sp_registry_table *events = NULL;
  SP_ASSERT_OK(sp_registry_list_events(registry, checkpoint, 0, &events));
  cr_assert_eq(events->row_count, 2);
  cr_assert_str_eq(cell(events, 1, "type"), "deleted");
  cr_assert(strstr(cell(events, 1, "detail"), "max_to_keep=1"));
  sp_registry_table_free(events);
  free(index), free(data), free(keras), free(prefix);
}

/* ---- concurrency ---- */

enum { WRITERS = 4, ARTIFACTS_PER_WRITER = 200 };

/* One writer process: saves ARTIFACTS_PER_WRITER small files and records each. Exit status 0 on success. */
static int write_artifacts(const char *url, const char *directory, int writer) {
  sp_registry *registry = NULL;
  if (sp_registry_open(url, &registry) != SP_OK) {
    fprintf(stderr, "writer %d: %s\n", writer, sp_last_error());
    return 1;
  }
  int64_t run = 0;
  char name[32];
  snprintf(name, sizeof name, "writer-%d", writer);
  sp_status status = sp_registry_begin_run(registry, name, NULL, &run);
  for (int i = 0; status == SP_OK && i < ARTIFACTS_PER_WRITER; i++) {
    char file[64], contents[64];
    snprintf(file, sizeof file, "w%d-%03d.weights.h5", writer, i);
    snprintf(contents, sizeof contents, "writer %d artifact %d", writer, i);
    char *path = sp_path_join(directory, file);
    status = path ? sp_write_file_atomic(path, contents, strlen(contents)) : SP_ERROR_NO_MEMORY;
    sp_artifact_record entry = {.run_id = run, .kind = SP_ARTIFACT_WEIGHTS, .name = name, .format = "weights_h5",
                                .producer = "savepoint", .path = path};
    if (status == SP_OK) status = sp_registry_record_artifact(registry, &entry, NULL);
    free(path);
  }
  if (status == SP_OK) status = sp_registry_end_run(registry, run, "completed", NULL);
  if (status != SP_OK) fprintf(stderr, "writer %d: %s\n", writer, sp_last_error());
  sp_registry_close(registry);
  return status == SP_OK ? 0 : 1;
}

REGISTRY_TEST_UNOPENED(concurrent_writers_lose_nothing) {
  sp_registry *registry = NULL;
  SP_ASSERT_OK(sp_registry_open(t->url, &registry)); /* created before the writers start … */
  sp_registry_close(registry);                      /* … and closed: children open their own */
  pid_t children[WRITERS];
  for (int writer = 0; writer < WRITERS; writer++) {
    children[writer] = fork();
    cr_assert_geq(children[writer], 0);
    if (children[writer] == 0) _exit(write_artifacts(t->url, t->directory, writer));
  }
  for (int writer = 0; writer < WRITERS; writer++) {
    int status = 0;
    cr_assert_eq(waitpid(children[writer], &status, 0), children[writer]);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d failed (status %d)", writer, status);
  }
  SP_ASSERT_OK(sp_registry_open(t->url, &t->registry));
  registry = t->registry;
  int64_t total = WRITERS * ARTIFACTS_PER_WRITER;
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM artifacts"), total);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(DISTINCT id) FROM artifacts"), total);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(DISTINCT path) FROM artifacts"), total);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM artifact_files"), total);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM events WHERE type = 'saved'"), total);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(DISTINCT artifact_id) FROM events WHERE type = 'saved'"), total);
  cr_assert_eq(raw_count(registry, "SELECT COUNT(*) FROM runs WHERE status = 'completed'"), WRITERS);
  for (int writer = 0; writer < WRITERS; writer++) {
    char name[32];
    snprintf(name, sizeof name, "writer-%d", writer);
    sp_registry_filter filter = {.name = name};
    sp_registry_table *list = NULL;
    SP_ASSERT_OK(sp_registry_list_artifacts(registry, &filter, &list));
    cr_assert_eq(list->row_count, ARTIFACTS_PER_WRITER, "%s has %zu artifacts", name, list->row_count);
    sp_registry_table_free(list);
  }
}

/* ---- backend-independent ---- */

Test(registry, disabled_when_unconfigured) {
  unsetenv(SP_REGISTRY_ENVIRONMENT);
  sp_registry *registry = (sp_registry *)1;
  SP_ASSERT_OK(sp_registry_open_default(&registry));
  cr_assert_null(registry);
  int64_t id = 5;
  sp_artifact_record entry = {.path = "/nowhere", .format = "keras", .producer = "savepoint"};
  SP_ASSERT_OK(sp_registry_record_artifact(NULL, &entry, &id));
  cr_assert_eq(id, 0);
  SP_ASSERT_OK(sp_registry_begin_run(NULL, "x", NULL, &id));
  SP_ASSERT_OK(sp_registry_record_serving(NULL, SP_EVENT_LOADED, "m", 1, "/p", "00", NULL, NULL));
  SP_ASSERT_OK(sp_registry_record_deletion(NULL, "/p", NULL));
}

Test(registry, urls_are_checked_and_passwords_never_shown) {
  sp_registry *registry = NULL;
  SP_ASSERT_FAILS(sp_registry_open("mysql://db/x", &registry), SP_ERROR_UNSUPPORTED, "unknown scheme");
  SP_ASSERT_FAILS(sp_registry_open("sqlite://host/x.db", &registry), SP_ERROR_INVALID_ARGUMENT, "sqlite:///absolute");
  SP_ASSERT_FAILS(sp_registry_open("", &registry), SP_ERROR_INVALID_ARGUMENT, "empty registry URL");
  sp_status status = sp_registry_open("postgresql://alice:s3cret@127.0.0.1:1/db?connect_timeout=2", &registry);
  cr_assert_eq(status, SP_ERROR_IO);
  cr_assert(strstr(sp_last_error(), "alice:***@127.0.0.1") != NULL, "%s", sp_last_error());
  cr_assert(strstr(sp_last_error(), "s3cret") == NULL, "%s", sp_last_error());
  /* A relative sqlite: URL and a plain path both mean a SQLite file. */
  char *directory = sp_test_temp_dir("registry-urls");
  char *url = sp_strdupf("sqlite:%s/relative.db", directory);
  SP_ASSERT_OK(sp_registry_open(url, &registry));
  cr_assert_str_eq(sp_registry_backend_name(registry), "sqlite");
  sp_registry_close(registry);
  free(url);
  free(directory);
}

Test(registry, timestamps_normalize_to_utc_microseconds) {
  static const struct {
    const char *input, *expected;
  } cases[] = {
      {"2025-01-31", "2025-01-31T00:00:00.000000Z"},
      {"2025-01-31T12:34", "2025-01-31T12:34:00.000000Z"},
      {"2025-01-31 12:34:56", "2025-01-31T12:34:56.000000Z"},
      {"2025-01-31T12:34:56.5Z", "2025-01-31T12:34:56.500000Z"},
      {"2025-01-31T12:34:56.1234567Z", "2025-01-31T12:34:56.123456Z"},
      {"2025-01-31T01:00:00+02:00", "2025-01-30T23:00:00.000000Z"},
      {"2025-12-31T23:30:00-0100", "2026-01-01T00:30:00.000000Z"},
      {"2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000000Z"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char out[SP_TIMESTAMP_SIZE];
    SP_ASSERT_OK(sp_registry_timestamp_normalize(cases[i].input, out));
    cr_assert_str_eq(out, cases[i].expected, "%s", cases[i].input);
  }
  static const char *const bad[] = {"2025-13-01", "2025-01-31T25:00", "31/01/2025", "2025-01-31T12:00Zjunk", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char out[SP_TIMESTAMP_SIZE];
    SP_ASSERT_FAILS(sp_registry_timestamp_normalize(bad[i], out), SP_ERROR_INVALID_ARGUMENT, "is not a time");
  }
  char now[SP_TIMESTAMP_SIZE];
  sp_registry_timestamp_now(now);
  cr_assert_eq(strlen(now), 27);
  cr_assert_eq(now[26], 'Z');
}

Test(registry, command_lines_are_shell_quoted) {
  char *argv[] = {"savepoint", "train", "--name", "my model", "it's", ""};
  char *line = sp_registry_join_command_line(6, argv);
  cr_assert_str_eq(line, "savepoint train --name 'my model' 'it'\\''s' ''");
  free(line);
}
