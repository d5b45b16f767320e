/* model_manager.h — the version manager: for every configured model, which versions exist on
 * disk, which the policy wants, which are loaded, and the one pointer a request follows.
 *
 * Lifecycle of a version (TF Serving's states, shown by GET /v1/models/{name}):
 *   START      the policy wants it; waiting until its directory is ready
 *   LOADING    being verified and loaded on the manager thread (off the request path)
 *   AVAILABLE  serving
 *   UNLOADING  no longer given to new requests; freed when its last in-flight request ends
 *   END        unloaded, or failed to load (status carries the error; the previous version
 *              keeps serving)
 *
 * Readiness: a version directory is loaded only once its listing fingerprint (version_watch.h)
 * is unchanged across two polls, or at once when it carries a savepoint manifest, which the
 * load then verifies file by file (a directory published by rename is complete when it appears).
 * A version whose load failed is retried when its directory changes (a copy that paused longer
 * than a poll and then went on).
 *
 * Loading a version: verify its files (sp_verify_artifact_detailed when it has a manifest or the
 * registry knows it; otherwise hash it), load the servable (every file parses, checksums),
 * run a warm-up prediction with zeros, and check the directory did not change meanwhile. Only then
 * does it become AVAILABLE, atomically for requests. Versions the policy no longer wants are
 * unloaded only when no wanted version is still pending and one is AVAILABLE (or their directory
 * is gone): availability first.
 *
 * Threads: one manager thread polls, loads and unloads; request threads only acquire and release
 * versions (a mutex held for a few pointer reads, then a reference count).
 */
#ifndef SP_SERVE_MODEL_MANAGER_H
#define SP_SERVE_MODEL_MANAGER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "core/status.h"
#include "savepoint/manifest.h"
#include "savepoint/registry.h"
#include "serve/batcher.h"
#include "serve/metrics.h"
#include "serve/model_config.h"
#include "serve/servable.h"

typedef enum sp_version_state {
  SP_VERSION_UNKNOWN = 0,
  SP_VERSION_START = 10,
  SP_VERSION_LOADING = 20,
  SP_VERSION_AVAILABLE = 30,
  SP_VERSION_UNLOADING = 40,
  SP_VERSION_END = 50
} sp_version_state;

/* "START", "LOADING", "AVAILABLE", "UNLOADING", "END", "UNKNOWN". */
const char *sp_version_state_name(sp_version_state state);
/* TensorFlow's canonical code name for a status: "OK", "INVALID_ARGUMENT", "DATA_LOSS", ... */
const char *sp_status_code_name(sp_status status);

typedef struct sp_model_manager sp_model_manager;

/* A loaded version. Immutable while anyone holds a reference. */
typedef struct sp_loaded_version {
  atomic_int references;
  sp_model_manager *manager;
  char *model_name;
  int64_t version;
  char *path;
  sp_servable *servable;
  sp_batcher *batcher;    /* NULL without --enable_batching */
  char sha256[65];        /* whole-artifact SHA-256 (manifest.h) as verified at load */
  sp_manifest *files;     /* every file with its SHA-256 */
  char *verified_against; /* "manifest", "registry artifact 12", "manifest and registry artifact 12", "nothing" */
  double load_seconds;
  char loaded_at[40]; /* ISO-8601 UTC */
  sp_request_series *series[SP_API_COUNT];
} sp_loaded_version;

typedef struct sp_model_manager_options {
  double poll_seconds;   /* --file_system_poll_wait_seconds (default 1; 0: poll once at start) */
  const char *tag_set;   /* SavedModel tags, "serve" */
  sp_registry *registry; /* record loads/unloads/refusals; may be NULL */
  const char *instance;  /* "host:port" for the registry */
  sp_metrics *metrics;   /* not NULL */
  int enable_batching;
  sp_batching_options batching;
  int warm_up;                                     /* run a warm-up prediction before serving (default 1) */
  void (*log)(void *context, const char *message); /* NULL: stderr */
  void *log_context;
} sp_model_manager_options;

sp_status sp_model_manager_new(const sp_model_manager_options *options, sp_model_manager **manager) SP_MUST_CHECK;
/* Declares the models to serve (copied). Before start it is the initial set; afterwards the
 * manager thread applies it at its next wake-up: new models are added, removed ones unloaded,
 * changed policies and labels take effect. */
sp_status sp_model_manager_configure(sp_model_manager *manager, const sp_model_config_list *configs) SP_MUST_CHECK;
/* Polls and loads what is ready (waiting one poll interval when a directory needs its second
 * look), then starts the manager thread. */
sp_status sp_model_manager_start(sp_model_manager *manager) SP_MUST_CHECK;
/* Stops the thread, unloads every version (waiting for in-flight requests) and frees. */
void sp_model_manager_free(sp_model_manager *manager);
/* Wakes the manager thread now (after configure, or to poll early). */
void sp_model_manager_wake(sp_model_manager *manager);

/* What a request asks for. */
typedef enum sp_version_choice { SP_CHOOSE_LATEST = 0, SP_CHOOSE_VERSION, SP_CHOOSE_LABEL } sp_version_choice;
typedef struct sp_version_request {
  sp_version_choice choice;
  int64_t version;
  const char *label;
} sp_version_request;

/* The version a request should use, with a reference the caller releases. Errors as TF Serving
 * words them: SP_ERROR_NOT_FOUND "Servable not found for request: Latest(name)", an unknown label
 * SP_ERROR_INVALID_ARGUMENT "Unrecognized servable version label: l". */
sp_status sp_model_manager_acquire(sp_model_manager *manager, const char *name, const sp_version_request *request,
                                   sp_loaded_version **version) SP_MUST_CHECK;
void sp_loaded_version_release(sp_loaded_version *version);

/* Appends the GetModelStatusResponse JSON of name (all versions, or the requested one). */
sp_status sp_model_manager_status_json(sp_model_manager *manager, const char *name, const sp_version_request *request,
                                       sp_buffer *out) SP_MUST_CHECK;
/* Appends Prometheus gauges: one per version with its state and SHA-256. */
sp_status sp_model_manager_metrics(sp_model_manager *manager, sp_buffer *out) SP_MUST_CHECK;

#endif
