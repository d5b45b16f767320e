/* metrics.h — the server's counters and latency histograms, rendered in the Prometheus text
 * exposition format at GET /monitoring/prometheus/metrics.
 *
 * A series is created once per (model, version, API) when a version loads and lives until the
 * server stops, so counters never go backwards while the process lives. Recording is lock-free
 * (relaxed atomics); only creating a series and rendering take the registry's mutex. Requests
 * that never resolve to a version (unknown model, malformed URL) are counted by HTTP code only,
 * so request URLs cannot create series.
 */
#ifndef SP_SERVE_METRICS_H
#define SP_SERVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "core/status.h"

typedef enum sp_api { SP_API_PREDICT = 0, SP_API_CLASSIFY, SP_API_REGRESS, SP_API_METADATA, SP_API_COUNT } sp_api;

/* "predict", "classify", "regress", "metadata". */
const char *sp_api_name(sp_api api);

typedef struct sp_metrics sp_metrics;
typedef struct sp_request_series sp_request_series;

sp_status sp_metrics_new(sp_metrics **metrics) SP_MUST_CHECK;
void sp_metrics_free(sp_metrics *metrics);

/* The series of (model, version, api), created on first use. NULL only when out of memory. */
sp_request_series *sp_metrics_series(sp_metrics *metrics, const char *model, int64_t version, sp_api api);
/* One request answered with http_status after seconds. series may be NULL (not counted per model). */
void sp_metrics_record_request(sp_metrics *metrics, sp_request_series *series, int http_status, double seconds);
/* One load attempt of model/version: success or not, and how long it took. */
void sp_metrics_record_load(sp_metrics *metrics, const char *model, int64_t version, int success, double seconds);
/* One server-side batch of rows requests. */
void sp_metrics_record_batch(sp_metrics *metrics, int64_t rows, int64_t requests);

/* Appends every metric in the Prometheus text format. */
sp_status sp_metrics_render(sp_metrics *metrics, sp_buffer *out) SP_MUST_CHECK;
/* Appends a label value escaped as Prometheus requires (\\, \", \n). */
sp_status sp_metrics_append_label(sp_buffer *out, const char *value) SP_MUST_CHECK;

#endif
