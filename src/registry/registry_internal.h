/* registry_internal.h — what the files of src/registry share: the handle, the transaction runner,
 * schema migration, timestamps and path normalization. Not part of the public API. */
#ifndef SP_REGISTRY_INTERNAL_H
#define SP_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "registry/backend.h"

enum { SP_TIMESTAMP_SIZE = 28 }; /* "2025-01-31T12:00:00.000001Z" + NUL */

struct sp_registry {
  sp_registry_backend *backend;
  char *url;              /* password removed */
  char host[256];
  char *user;
  int64_t pid;
  char *default_instance; /* "host:pid" */
  pthread_mutex_t lock;   /* one operation at a time per handle */
};

/* Parses a registry URL and opens its backend without touching the schema. */
sp_status sp_registry_open_backend(const char *url, sp_registry_backend **backend, char **display_url);
/* The backend of an open registry (tests run raw SQL through it). */
sp_registry_backend *sp_registry_backend_of(sp_registry *registry);

typedef sp_status (*sp_registry_transaction_body)(sp_registry_backend *backend, void *context);
/* Runs body inside a transaction, retrying the whole of it (with a randomized back-off) while the
 * backend reports a transient failure. body must be safe to run again from the start. */
sp_status sp_registry_run_transaction(sp_registry_backend *backend, sp_transaction_mode mode,
                                      sp_registry_transaction_body body, void *context);

/* Brings the schema forward to target_version (at most SP_REGISTRY_SCHEMA_VERSION) in one
 * transaction; refuses a database whose schema is newer than this savepoint knows. (schema.c) */
sp_status sp_registry_migrate(sp_registry_backend *backend, int target_version);
/* The version recorded in schema_version (0 for an empty database). (schema.c) */
sp_status sp_registry_read_schema_version(sp_registry_backend *backend, int *version);

/* Runs a query that yields at most one integer; *found says whether a row came back. */
sp_status sp_registry_query_integer(sp_registry_backend *backend, const char *sql, const sp_sql_value *parameters,
                                    size_t parameter_count, int64_t *value, int *found);

/* Now, UTC, with microseconds. (timestamp.c) */
void sp_registry_timestamp_now(char out[SP_TIMESTAMP_SIZE]);
/* Any accepted ISO-8601 form (or "now") to the stored form; a clear error otherwise. (timestamp.c) */
sp_status sp_registry_timestamp_normalize(const char *text, char out[SP_TIMESTAMP_SIZE]);

/* An absolute form of path: the real path of its directory plus its final component (the final
 * component itself may be a checkpoint prefix that does not exist as a file). New string. */
char *sp_registry_absolute_path(const char *path);

/* Validates that text (may be NULL) is a JSON object; what names it in the message. */
sp_status sp_registry_check_json_object(const char *text, const char *what);

/* Appends one event inside the caller's transaction. */
sp_status sp_registry_insert_event(sp_registry *registry, const sp_registry_event *event, int64_t *event_id);

void sp_registry_lock(sp_registry *registry);
void sp_registry_unlock(sp_registry *registry);

#endif
