/* serve.h — the model server: TensorFlow Serving's REST API over versioned model directories,
 * with hot reload that never serves a half-written version.
 *
 *   sp_serve_options options;
 *   sp_serve_options_init(&options);
 *   options.model_name = "half";
 *   options.model_base_path = "/models/half";     // /models/half/00000123/saved_model.pb, ...
 *   sp_server *server;
 *   if (sp_server_start(&options, &server) != SP_OK) { ... sp_last_error() ... }
 *   ...                                            // serve until told to stop
 *   sp_server_stop(server, NULL);                  // drain in-flight requests, unload, free
 *
 * sp_server_start loads what is ready before it listens, so the first request finds the model.
 * Versions appearing later are verified, loaded and warmed up off the request path and take
 * over atomically; the version they replace keeps answering until then and is freed after its
 * last request. Every loaded version's SHA-256 shows in status and metadata, and in the registry
 * (SAVEPOINT_REGISTRY or registry_url) as loaded/unloaded/load_refused events.
 */
#ifndef SAVEPOINT_SERVE_H
#define SAVEPOINT_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "savepoint/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sp_serve_options {
  const char *host;           /* address to bind, "127.0.0.1" unless set */
  int rest_api_port;          /* 8501; 0: any free port (see sp_server_port) */
  int rest_api_num_threads;   /* HTTP workers; 0: 4 per CPU, as TF Serving */
  int rest_api_timeout_in_ms; /* idle connections, slow uploads, shutdown drain (30000) */
  int rest_api_enable_cors_support;
  size_t rest_api_max_body_bytes; /* larger request bodies get 413 (64 MiB) */
  const char *model_name;         /* with model_base_path: one model ("default") */
  const char *model_base_path;
  const char *model_config_file;                   /* a ModelServerConfig text file instead */
  int model_config_file_poll_wait_seconds;         /* re-read the file this often; 0: at start and on reload */
  double file_system_poll_wait_seconds;            /* look for new versions this often (1); 0: once at start */
  const char *saved_model_tags;                    /* SavedModel meta graph tags ("serve") */
  const char *registry_url;                        /* NULL: $SAVEPOINT_REGISTRY (unset: no recording) */
  int enable_batching;                             /* server-side batching of concurrent predicts */
  int64_t max_batch_size;                          /* rows per batch (32) */
  int64_t batch_timeout_micros;                    /* how long a batch waits to fill (1000) */
  int enable_warm_up;                              /* warm-up prediction before a version serves (1) */
  void (*log)(void *context, const char *message); /* NULL: "savepoint serve: …" lines on stderr */
  void *log_context;
} sp_serve_options;

/* The defaults above. */
void sp_serve_options_init(sp_serve_options *options);

typedef struct sp_server sp_server;

sp_status sp_server_start(const sp_serve_options *options, sp_server **server);
/* The port the server listens on. */
int sp_server_port(const sp_server *server);
/* Re-reads model_config_file and applies it (models removed from it are unloaded). An invalid
 * file changes nothing and is reported. SP_ERROR_INVALID_ARGUMENT without a config file. */
sp_status sp_server_reload_config(sp_server *server);
/* Stops accepting connections, waits for requests in flight (up to rest_api_timeout_in_ms),
 * unloads every version and frees the server. *unfinished (may be NULL) receives how many
 * requests were still running at the deadline. */
void sp_server_stop(sp_server *server, size_t *unfinished);

#ifdef __cplusplus
}
#endif
#endif
