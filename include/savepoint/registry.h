/* registry.h — the artifact registry: an audit store of training runs, saved artifacts (with
 * the SHA-256 of every file), labels with their full history, and an append-only event log
 * (saved, converted, verified, loaded/unloaded by a server, label moved, deleted).
 *
 * A registry is opened from a URL:
 *   sqlite:///abs/path/registry.db   SQLite file (created with its directory on first use; WAL mode)
 *   sqlite:relative/registry.db      SQLite file relative to the working directory
 *   /path/registry.db, ./x.db        a plain path is a SQLite file too
 *   postgresql://user@host:port/db   PostgreSQL through libpq (also postgres://, any libpq URI)
 * Both backends hold the same schema, created and migrated forward by savepoint itself, and
 * behave the same. Timestamps are UTC ISO-8601 with microseconds ("2025-01-31T12:00:00.000001Z"),
 * taken from the recording machine's clock.
 *
 * Concurrency: many processes may record into one registry at once; each operation is one
 * transaction, retried on SQLite "busy" and PostgreSQL serialization failures, so no event is
 * lost. One sp_registry handle may be used from several threads (calls are serialized); after
 * fork() the child must open its own handle.
 *
 * Append-only: events, label history, artifacts and their file hashes are never updated or
 * deleted; triggers in the database refuse UPDATE and DELETE on them on both backends.
 */
#ifndef SAVEPOINT_REGISTRY_H
#define SAVEPOINT_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "savepoint/manifest.h"
#include "savepoint/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The environment variable sp_registry_open_default reads. */
#define SP_REGISTRY_ENVIRONMENT "SAVEPOINT_REGISTRY"
/* The schema version this savepoint creates and understands. */
#define SP_REGISTRY_SCHEMA_VERSION 2

typedef struct sp_registry sp_registry;

/* Opens (creating or migrating its schema when needed) the registry at url. */
sp_status sp_registry_open(const char *url, sp_registry **registry);
/* Opens $SAVEPOINT_REGISTRY. When it is unset or empty, *registry is NULL and the result is
 * SP_OK: recording is disabled, and every sp_registry_record_* / append function accepts a NULL
 * registry and does nothing. */
sp_status sp_registry_open_default(sp_registry **registry);
void sp_registry_close(sp_registry *registry);

/* The URL with any password replaced by "***" (for messages). */
const char *sp_registry_url(const sp_registry *registry);
/* "sqlite" or "postgresql". */
const char *sp_registry_backend_name(const sp_registry *registry);
sp_status sp_registry_schema_version(sp_registry *registry, int *version);

/* --- runs ------------------------------------------------------------------------------- */

/* Starts a run (status "running"). command_line as the user typed it (see
 * sp_registry_join_command_line); hyperparameters_json a JSON object or NULL. The host, user,
 * process id and savepoint version are filled in. *run_id is 0 when registry is NULL.
 * Runs of the same host left "running" by a process that no longer exists (killed, crashed)
 * are marked "interrupted" first. */
sp_status sp_registry_begin_run(sp_registry *registry, const char *command_line, const char *hyperparameters_json,
                                int64_t *run_id);
/* Ends a run: status such as "completed", "failed", "interrupted"; metrics_json a JSON object
 * (final accuracy, val_loss, …) or NULL. */
sp_status sp_registry_end_run(sp_registry *registry, int64_t run_id, const char *status, const char *metrics_json);
/* argv joined with POSIX shell quoting where needed (a new string, NULL on allocation failure). */
char *sp_registry_join_command_line(int argc, char *const *argv);

/* --- artifacts -------------------------------------------------------------------------- */

typedef enum sp_artifact_kind {
  SP_ARTIFACT_MODEL = 0,      /* a whole model: .keras, .h5, a loaded file recorded as a parent */
  SP_ARTIFACT_WEIGHTS = 1,    /* weights only: .weights.h5 */
  SP_ARTIFACT_CHECKPOINT = 2, /* a TF checkpoint (prefix) written during training */
  SP_ARTIFACT_EXPORT = 3      /* a SavedModel / TF.js export, usually a serving version directory */
} sp_artifact_kind;

/* "model", "weights", "checkpoint", "export". */
const char *sp_artifact_kind_name(sp_artifact_kind kind);
sp_status sp_artifact_kind_from_name(const char *name, sp_artifact_kind *kind);

typedef struct sp_artifact_record {
  int64_t run_id;               /* the run that produced it, 0 for none */
  sp_artifact_kind kind;
  const char *name;             /* model name (a serving model name, a file stem) or NULL */
  int64_t version;              /* serving version number (the version directory), < 0 or 0 for none */
  const char *format;           /* "keras", "h5", "weights_h5", "saved_model", "tf_checkpoint", "tfjs", … */
  const char *format_version;   /* e.g. "3" for Keras v3 archives, or NULL */
  const char *producer;         /* "savepoint" for ours, "keras" / "tensorflow" for loaded files */
  const char *producer_version; /* "0.1.0", "3.7.0", or NULL */
  const char *path;             /* storage path, version directory included; made absolute when recorded */
  const sp_manifest *manifest;  /* files, sizes and hashes; NULL: computed from path (streaming) */
  const char *signature_json;   /* {"inputs":[{"name","dtype","shape"}],"outputs":[…]} or NULL */
  const char *metrics_json;     /* {"accuracy":0.97,"val_loss":0.08} or NULL */
  int64_t parent_id;            /* the artifact this one was converted from, 0 for none */
} sp_artifact_record;

/* Records an artifact, its files and a "saved" event ("converted" when parent_id is set), all in
 * one transaction. *artifact_id (may be NULL) is 0 when registry is NULL. */
sp_status sp_registry_record_artifact(sp_registry *registry, const sp_artifact_record *record,
                                      int64_t *artifact_id);

/* The newest artifact recorded with this path (made absolute) and/or whole-artifact sha256;
 * either may be NULL, not both. When both are given, the hash must match and an artifact at the
 * same path is preferred. SP_ERROR_NOT_FOUND when none. */
sp_status sp_registry_find_artifact(sp_registry *registry, const char *path, const char *sha256,
                                    int64_t *artifact_id);

/* The files and hashes recorded for an artifact, and its recorded path (new string). */
sp_status sp_registry_artifact_manifest(sp_registry *registry, int64_t artifact_id, sp_manifest **manifest,
                                        char **path);

/* --- events ----------------------------------------------------------------------------- */

typedef enum sp_registry_event_type {
  SP_EVENT_SAVED = 0,
  SP_EVENT_CONVERTED = 1,
  SP_EVENT_VERIFIED = 2,
  SP_EVENT_LOADED = 3,       /* a server loaded a version and serves it */
  SP_EVENT_UNLOADED = 4,     /* a server stopped serving a version */
  SP_EVENT_LOAD_REFUSED = 5, /* a server refused a version (failed verification, unreadable) */
  SP_EVENT_LABEL_MOVED = 6,
  SP_EVENT_DELETED = 7       /* removed by retention or found gone by `registry gc` */
} sp_registry_event_type;

/* "saved", "converted", "verified", "loaded", "unloaded", "load_refused", "label_moved", "deleted". */
const char *sp_registry_event_type_name(sp_registry_event_type type);

typedef struct sp_registry_event {
  sp_registry_event_type type;
  int64_t artifact_id;     /* 0 for none */
  int64_t run_id;          /* 0 for none */
  const char *model_name;  /* serving: the model name; NULL otherwise */
  int64_t model_version;   /* serving: the version number (stored only with model_name) */
  const char *label;       /* label events */
  const char *path;        /* the path concerned, when there is one */
  const char *sha256;      /* the whole-artifact hash seen (verified, served) */
  const char *instance;    /* who acted, e.g. a server "host:port"; NULL gives "host:pid" */
  const char *detail_json; /* a JSON object with anything else, or NULL */
} sp_registry_event;

/* Appends one event. *event_id may be NULL. */
sp_status sp_registry_append_event(sp_registry *registry, const sp_registry_event *event, int64_t *event_id);

/* For servers: a "loaded", "unloaded" or "load_refused" event for model_name/version served from
 * path with whole-artifact hash sha256; the artifact is found by hash (preferring the same
 * path). reason (refusals) goes into the detail. instance as in sp_registry_event. */
sp_status sp_registry_record_serving(sp_registry *registry, sp_registry_event_type type, const char *model_name,
                                     int64_t version, const char *path, const char *sha256, const char *instance,
                                     const char *reason);

/* For retention and cleanup: a "deleted" event for the newest artifact recorded at path. */
sp_status sp_registry_record_deletion(sp_registry *registry, const char *path, const char *reason);

/* --- labels ----------------------------------------------------------------------------- */

/* Points label at artifact_id: updates the label, appends a label-history row and a
 * "label_moved" event (from → to) in one transaction. Moving a label to where it already points
 * records nothing. */
sp_status sp_registry_set_label(sp_registry *registry, const char *label, int64_t artifact_id);
/* The artifact a label points to now; SP_ERROR_NOT_FOUND when the label does not exist. */
sp_status sp_registry_resolve_label(sp_registry *registry, const char *label, int64_t *artifact_id);

/* --- queries ---------------------------------------------------------------------------- */

typedef enum sp_registry_column_type {
  SP_REGISTRY_COLUMN_TEXT = 0,
  SP_REGISTRY_COLUMN_INTEGER = 1,
  SP_REGISTRY_COLUMN_JSON = 2 /* text holding a JSON value */
} sp_registry_column_type;

/* A query result: column names and types, and row-major cells as text (NULL for SQL NULL). */
typedef struct sp_registry_table {
  size_t column_count;
  size_t row_count;
  char **column_names;
  sp_registry_column_type *column_types;
  char **cells;
} sp_registry_table;

/* The cell of row in the named column, or NULL (SQL NULL, or no such column). */
const char *sp_registry_table_get(const sp_registry_table *table, size_t row, const char *column);
/* The rows as a JSON array of objects (integers as numbers, JSON columns embedded). New string. */
char *sp_registry_table_json(const sp_registry_table *table);
void sp_registry_table_free(sp_registry_table *table);

typedef struct sp_registry_filter {
  const char *kind;   /* artifact kind name, or NULL */
  const char *name;   /* model name, or NULL */
  int64_t run_id;     /* 0 for any */
  int64_t limit;      /* 0 for no limit */
} sp_registry_filter;

/* Artifacts, newest first: id, created_at, kind, name, version, format, producer, size, sha256,
 * path, run_id, parent_id, deleted_at. filter may be NULL. */
sp_status sp_registry_list_artifacts(sp_registry *registry, const sp_registry_filter *filter,
                                     sp_registry_table **table);
/* Runs, newest first. */
sp_status sp_registry_list_runs(sp_registry *registry, int64_t limit, sp_registry_table **table);
/* Labels with the artifact each points to now. */
sp_status sp_registry_list_labels(sp_registry *registry, sp_registry_table **table);
/* Events in order (artifact_id 0: all). */
sp_status sp_registry_list_events(sp_registry *registry, int64_t artifact_id, int64_t limit,
                                  sp_registry_table **table);

/* Everything about one artifact. */
typedef struct sp_registry_artifact_details {
  sp_registry_table *artifact; /* one row */
  sp_registry_table *run;      /* the producing run: zero or one row */
  sp_registry_table *files;    /* path, size, sha256 */
  sp_registry_table *lineage;  /* ancestors through parent_id, nearest first */
  sp_registry_table *labels;   /* labels pointing at it now */
  sp_registry_table *events;   /* its events in order */
} sp_registry_artifact_details;

sp_status sp_registry_show_artifact(sp_registry *registry, int64_t artifact_id,
                                    sp_registry_artifact_details *details);
void sp_registry_artifact_details_free(sp_registry_artifact_details *details);

/* Serving history of model_name: its loaded/unloaded/load_refused events in order. */
sp_status sp_registry_serving_history(sp_registry *registry, const char *model_name, sp_registry_table **table);
/* What served model_name at time at (ISO-8601; without a zone it is UTC): one row per
 * (instance, version) whose last load/unload event at or before that time is "loaded":
 * instance, model_version, artifact_id, sha256, path, loaded_at. */
sp_status sp_registry_serving_at(sp_registry *registry, const char *model_name, const char *at,
                                 sp_registry_table **table);
/* Every move of label, in order: label, artifact_id, previous_artifact_id, moved_at, host, user_name. */
sp_status sp_registry_label_history(sp_registry *registry, const char *label, sp_registry_table **table);
/* The artifact label pointed to at time at (zero or one row, same columns). */
sp_status sp_registry_label_at(sp_registry *registry, const char *label, const char *at,
                               sp_registry_table **table);

/* --- integrity -------------------------------------------------------------------------- */

typedef struct sp_verify_result {
  size_t problem_count;
  char sha256[65];          /* the whole-artifact hash as it is on disk now */
  int manifest_checked;     /* a manifest inside or beside the artifact was compared */
  int64_t artifact_id;      /* the registry artifact compared, 0 when none */
} sp_verify_result;

/* Recomputes the hashes of the artifact at path (streaming) and compares them with its manifest
 * (when it has one) and, when registry is not NULL, with the newest artifact recorded at that
 * path; reports every changed, missing and unexpected file through report (may be NULL); records
 * a "verified" event. SP_OK when nothing differs; SP_ERROR_CHECKSUM naming the first file that
 * differs (and the count) otherwise; SP_ERROR_NOT_FOUND when there is nothing to compare with. A
 * directory with no manifest of its own, not in the registry, is checked through the checkpoint
 * manifests ("*.sha256") it holds. */
sp_status sp_verify_artifact(const char *path, sp_registry *registry, sp_integrity_report_function report,
                             void *context, size_t *problems);
/* The same, with the hash on disk and what was compared (result may be NULL). */
sp_status sp_verify_artifact_detailed(const char *path, sp_registry *registry, sp_integrity_report_function report,
                                      void *context, sp_verify_result *result);
/* Verifies registry artifact artifact_id at its recorded path against its recorded hashes. */
sp_status sp_registry_verify_artifact(sp_registry *registry, int64_t artifact_id,
                                      sp_integrity_report_function report, void *context, sp_verify_result *result);

/* Appends a "deleted" event for every artifact whose path no longer exists and has none yet; with
 * dry_run only counts them. *found receives how many. */
sp_status sp_registry_collect_garbage(sp_registry *registry, int dry_run, sp_registry_table **missing,
                                      size_t *found);

#ifdef __cplusplus
}
#endif
#endif
