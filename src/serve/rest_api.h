/* rest_api.h — TF Serving's REST API (formats.md §6) as a function from (method, path, body) to
 * (HTTP status, JSON body): routing, model-name decoding and validation, the status, metadata,
 * predict, classify and regress handlers, the Prometheus endpoint, and TF Serving's mapping of
 * errors to {"error": "…"} with HTTP codes. Independent of the HTTP library, so it is tested
 * without sockets and fuzzed directly.
 *
 * Routes (paths matched case-insensitively, names URL-decoded):
 *   GET  /v1/models/{name}[/versions/{v}|/labels/{l}]              model status
 *   GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata     signature defs (+ hashes)
 *   POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict      also :classify, :regress
 *   GET  /monitoring/prometheus/metrics                            Prometheus text format
 * Answers from a model version carry X-Savepoint-Model-Version and X-Savepoint-Model-Sha256, so
 * a client can tell which artifact answered.
 */
#ifndef SP_SERVE_REST_API_H
#define SP_SERVE_REST_API_H

#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "serve/metrics.h"
#include "serve/model_manager.h"

#define SP_PROMETHEUS_PATH "/monitoring/prometheus/metrics"

typedef struct sp_rest_context {
  sp_model_manager *manager;
  sp_metrics *metrics;
} sp_rest_context;

typedef struct sp_rest_response {
  int status; /* HTTP status */
  sp_buffer body;
  const char *content_type; /* static */
  int64_t model_version;    /* >= 0 when a version answered */
  char sha256[65];          /* of that version, or "" */
} sp_rest_response;

/* Handles one complete request. Never fails: problems become error responses. */
void sp_rest_handle(const sp_rest_context *context, const char *method, const char *path, const char *body,
                    size_t body_length, sp_rest_response *response);
void sp_rest_response_release(sp_rest_response *response);

/* Fills response with {"error": message} and status. */
void sp_rest_error(sp_rest_response *response, int status, const char *message);

/* TF Serving's HTTP code for a failure (formats.md §6.2), through the canonical code the status
 * maps to (request errors such as malformed bodies are INVALID_ARGUMENT, so 400). */
int sp_http_status_for(sp_status status);

#endif
