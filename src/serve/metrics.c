/* metrics.c — Prometheus counters and histograms of the model server (see metrics.h).
 *
 * Histogram buckets are cumulative only when rendered: each observation increments exactly one
 * bucket, so recording is one relaxed atomic add per counter and never takes a lock.
 */
#include "serve/metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"

static const double latency_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
enum { LATENCY_BUCKETS = sizeof latency_bounds / sizeof *latency_bounds + 1 };
static const double load_bounds[] = {0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300};
enum { LOAD_BUCKETS = sizeof load_bounds / sizeof *load_bounds + 1 };
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
enum { BATCH_BUCKETS = sizeof batch_bounds / sizeof *batch_bounds + 1 };

/* HTTP status codes counted separately; anything else is "other". */
static const int tracked_codes[] = {200, 400, 401, 403, 404, 408, 409, 413, 429, 499, 500, 501, 503, 504};
enum { CODE_SLOTS = sizeof tracked_codes / sizeof *tracked_codes + 1 };

typedef struct histogram {
  atomic_uint_fast64_t buckets[LATENCY_BUCKETS]; /* sized for the largest bucket set */
  atomic_uint_fast64_t count;
  atomic_uint_fast64_t sum_nanoseconds;
} histogram;

struct sp_request_series {
  char *model;
  int64_t version;
  sp_api api;
  atomic_uint_fast64_t codes[CODE_SLOTS];
  histogram latency;
};

typedef struct load_series {
  char *model;
  int64_t version;
  atomic_uint_fast64_t successes, failures;
  histogram duration;
  double last_seconds;
} load_series;

struct sp_metrics {
  pthread_mutex_t lock; /* guards the series arrays (not their counters) */
  sp_request_series **requests;
  size_t request_count, request_capacity;
  load_series **loads;
  size_t load_count, load_capacity;
  atomic_uint_fast64_t http_codes[CODE_SLOTS];
  histogram batch_rows;
  atomic_uint_fast64_t batched_requests;
};

const char *sp_api_name(sp_api api) {
  static const char *const names[] = {"predict", "classify", "regress", "metadata"};
  return api < SP_API_COUNT ? names[api] : "?";
}

static int code_slot(int code) {
  for (int i = 0; i < CODE_SLOTS - 1; i++)
    if (tracked_codes[i] == code) return i;
  return CODE_SLOTS - 1;
}

static void histogram_observe(histogram *h, const double *bounds, size_t bound_count, double value) {
  size_t bucket = 0;
  while (bucket < bound_count && value > bounds[bucket]) bucket++;
  atomic_fetch_add_explicit(&h->buckets[bucket], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum_nanoseconds, (uint_fast64_t)(value * 1e9), memory_order_relaxed);
}

sp_status sp_metrics_new(sp_metrics **metrics) {
  *metrics = sp_alloc_zeroed(1, sizeof **metrics);
  if (!*metrics) return SP_ERROR_NO_MEMORY;
  pthread_mutex_init(&(*metrics)->lock, NULL);
  return SP_OK;
}

void sp_metrics_free(sp_metrics *metrics) {
  if (!metrics) return;
  for (size_t i = 0; i < metrics->request_count; i++) {
    free(metrics->requests[i]->model);
    free(metrics->requests[i]);
  }
  for (size_t i = 0; i < metrics->load_count; i++) {
    free(metrics->loads[i]->model);
    free(metrics->loads[i]);
  }
  free(metrics->requests);
  free(metrics->loads);
  pthread_mutex_destroy(&metrics->lock);
  free(metrics);
}

sp_request_series *sp_metrics_series(sp_metrics *metrics, const char *model, int64_t version, sp_api api) {
  pthread_mutex_lock(&metrics->lock);
  sp_request_series *found = NULL;
  for (size_t i = 0; i < metrics->request_count && !found; i++) {
    sp_request_series *series = metrics->requests[i];
    if (series->version == version && series->api == api && strcmp(series->model, model) == 0) found = series;
  }
  if (!found && SP_RESERVE(metrics->requests, metrics->request_capacity, metrics->request_count + 1) == SP_OK &&
      (found = sp_alloc_zeroed(1, sizeof *found)) != NULL) {
    found->model = sp_strdup(model);
    found->version = version;
    found->api = api;
    if (found->model) {
      metrics->requests[metrics->request_count++] = found;
    } else {
      free(found);
      found = NULL;
    }
  }
  pthread_mutex_unlock(&metrics->lock);
  return found;
}

void sp_metrics_record_request(sp_metrics *metrics, sp_request_series *series, int http_status, double seconds) {
  int slot = code_slot(http_status);
  atomic_fetch_add_explicit(&metrics->http_codes[slot], 1, memory_order_relaxed);
  if (!series) return;
  atomic_fetch_add_explicit(&series->codes[slot], 1, memory_order_relaxed);
  histogram_observe(&series->latency, latency_bounds, LATENCY_BUCKETS - 1, seconds);
}

void sp_metrics_record_load(sp_metrics *metrics, const char *model, int64_t version, int success, double seconds) {
  pthread_mutex_lock(&metrics->lock);
  load_series *found = NULL;
  for (size_t i = 0; i < metrics->load_count && !found; i++)
    if (metrics->loads[i]->version == version && strcmp(metrics->loads[i]->model, model) == 0)
      found = metrics->loads[i];
  if (!found && SP_RESERVE(metrics->loads, metrics->load_capacity, metrics->load_count + 1) == SP_OK &&
      (found = sp_alloc_zeroed(1, sizeof *found)) != NULL) {
    if ((found->model = sp_strdup(model)) != NULL) {
      found->version = version;
      metrics->loads[metrics->load_count++] = found;
    } else {
      free(found);
      found = NULL;
    }
  }
  if (found) {
    atomic_fetch_add_explicit(success ? &found->successes : &found->failures, 1, memory_order_relaxed);
    histogram_observe(&found->duration, load_bounds, LOAD_BUCKETS - 1, seconds);
    found->last_seconds = seconds;
  }
  pthread_mutex_unlock(&metrics->lock);
}

void sp_metrics_record_batch(sp_metrics *metrics, int64_t rows, int64_t requests) {
  histogram_observe(&metrics->batch_rows, batch_bounds, BATCH_BUCKETS - 1, (double)rows);
  atomic_fetch_add_explicit(&metrics->batched_requests, (uint_fast64_t)requests, memory_order_relaxed);
}

/* ---------- rendering ---------- */

sp_status sp_metrics_append_label(sp_buffer *out, const char *value) {
  for (const char *c = value; *c; c++) {
    if (*c == '\\')
      SP_TRY(sp_buffer_append(out, "\\\\", 2));
    else if (*c == '"')
      SP_TRY(sp_buffer_append(out, "\\\"", 2));
    else if (*c == '\n')
      SP_TRY(sp_buffer_append(out, "\\n", 2));
    else
      SP_TRY(sp_buffer_append(out, c, 1));
  }
  return SP_OK;
}

static sp_status append_model_labels(sp_buffer *out, const char *model, int64_t version) {
  SP_TRY(sp_buffer_append_text(out, "model_name=\""));
  SP_TRY(sp_metrics_append_label(out, model));
  return sp_buffer_printf(out, "\",model_version=\"%" PRId64 "\"", version);
}

static sp_status append_histogram(sp_buffer *out, const char *name, sp_status (*labels)(sp_buffer *, const void *),
                                  const void *context, const histogram *h, const double *bounds, size_t bound_count) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bound_count; i++) {
    cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    SP_TRY(sp_buffer_printf(out, "%s_bucket{", name));
    SP_TRY(labels(out, context));
    const char *separator = out->data[out->size - 1] == '{' ? "" : ",";
    if (i < bound_count)
      SP_TRY(sp_buffer_printf(out, "%sle=\"%g\"} %" PRIu64 "\n", separator, bounds[i], cumulative));
    else
      SP_TRY(sp_buffer_printf(out, "%sle=\"+Inf\"} %" PRIu64 "\n", separator, cumulative));
  }
  SP_TRY(sp_buffer_printf(out, "%s_sum{", name));
  SP_TRY(labels(out, context));
  SP_TRY(
      sp_buffer_printf(out, "} %.9f\n", (double)atomic_load_explicit(&h->sum_nanoseconds, memory_order_relaxed) / 1e9));
  SP_TRY(sp_buffer_printf(out, "%s_count{", name));
  SP_TRY(labels(out, context));
  return sp_buffer_printf(out, "} %" PRIu64 "\n", (uint64_t)atomic_load_explicit(&h->count, memory_order_relaxed));
}

static sp_status request_labels(sp_buffer *out, const void *context) {
  const sp_request_series *series = context;
  SP_TRY(append_model_labels(out, series->model, series->version));
  return sp_buffer_printf(out, ",api=\"%s\"", sp_api_name(series->api));
}

static sp_status load_labels(sp_buffer *out, const void *context) {
  const load_series *series = context;
  return append_model_labels(out, series->model, series->version);
}

static sp_status no_labels(sp_buffer *out, const void *context) {
  (void)out;
  (void)context;
  return SP_OK;
}

static sp_status append_family(sp_buffer *out, const char *name, const char *type, const char *help) {
  return sp_buffer_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static sp_status append_code(sp_buffer *out, int slot) {
  if (slot == CODE_SLOTS - 1) return sp_buffer_append_text(out, "code=\"other\"");
  return sp_buffer_printf(out, "code=\"%d\"", tracked_codes[slot]);
}

static sp_status render_requests(sp_metrics *metrics, sp_buffer *out) {
  SP_TRY(append_family(out, "savepoint_serving_requests_total", "counter",
                       "Requests answered, by model version, API and HTTP code."));
  for (size_t i = 0; i < metrics->request_count; i++) {
    const sp_request_series *series = metrics->requests[i];
    for (int slot = 0; slot < CODE_SLOTS; slot++) {
      uint64_t count = atomic_load_explicit(&series->codes[slot], memory_order_relaxed);
      if (count == 0 && slot != 0) continue;
      SP_TRY(sp_buffer_append_text(out, "savepoint_serving_requests_total{"));
      SP_TRY(request_labels(out, series));
      SP_TRY(sp_buffer_append(out, ",", 1));
      SP_TRY(append_code(out, slot));
      SP_TRY(sp_buffer_printf(out, "} %" PRIu64 "\n", count));
    }
  }
  SP_TRY(append_family(out, "savepoint_serving_request_latency_seconds", "histogram",
                       "Time from a complete request to its response."));
  for (size_t i = 0; i < metrics->request_count; i++)
    SP_TRY(append_histogram(out, "savepoint_serving_request_latency_seconds", request_labels, metrics->requests[i],
                            &metrics->requests[i]->latency, latency_bounds, LATENCY_BUCKETS - 1));
  return SP_OK;
}

static sp_status render_loads(sp_metrics *metrics, sp_buffer *out) {
  SP_TRY(append_family(out, "savepoint_serving_model_loads_total", "counter",
                       "Load attempts of a model version, by result."));
  for (size_t i = 0; i < metrics->load_count; i++) {
    const load_series *series = metrics->loads[i];
    for (int success = 1; success >= 0; success--) {
      SP_TRY(sp_buffer_append_text(out, "savepoint_serving_model_loads_total{"));
      SP_TRY(load_labels(out, series));
      SP_TRY(sp_buffer_printf(
          out, ",result=\"%s\"} %" PRIu64 "\n", success ? "success" : "failure",
          (uint64_t)atomic_load_explicit(success ? &series->successes : &series->failures, memory_order_relaxed)));
    }
  }
  SP_TRY(append_family(out, "savepoint_serving_model_load_seconds", "histogram",
                       "Duration of load attempts (verify, load, warm up)."));
  for (size_t i = 0; i < metrics->load_count; i++)
    SP_TRY(append_histogram(out, "savepoint_serving_model_load_seconds", load_labels, metrics->loads[i],
                            &metrics->loads[i]->duration, load_bounds, LOAD_BUCKETS - 1));
  return SP_OK;
}

sp_status sp_metrics_render(sp_metrics *metrics, sp_buffer *out) {
  pthread_mutex_lock(&metrics->lock);
  sp_status status = render_requests(metrics, out);
  if (status == SP_OK) status = render_loads(metrics, out);
  if (status == SP_OK)
    status = append_family(out, "savepoint_http_requests_total", "counter", "HTTP responses by status code.");
  for (int slot = 0; status == SP_OK && slot < CODE_SLOTS; slot++) {
    uint64_t count = atomic_load_explicit(&metrics->http_codes[slot], memory_order_relaxed);
    if (count == 0 && slot != 0) continue;
    status = sp_buffer_append_text(out, "savepoint_http_requests_total{");
    if (status == SP_OK) status = append_code(out, slot);
    if (status == SP_OK) status = sp_buffer_printf(out, "} %" PRIu64 "\n", count);
  }
  if (status == SP_OK && atomic_load_explicit(&metrics->batch_rows.count, memory_order_relaxed) > 0) {
    status = append_family(out, "savepoint_serving_batch_rows", "histogram", "Rows per server-side batch.");
    if (status == SP_OK)
      status = append_histogram(out, "savepoint_serving_batch_rows", no_labels, NULL, &metrics->batch_rows,
                                batch_bounds, BATCH_BUCKETS - 1);
    if (status == SP_OK)
      status = sp_buffer_printf(out,
                                "# TYPE savepoint_serving_batched_requests_total counter\n"
                                "savepoint_serving_batched_requests_total %" PRIu64 "\n",
                                (uint64_t)atomic_load_explicit(&metrics->batched_requests, memory_order_relaxed));
  }
  pthread_mutex_unlock(&metrics->lock);
  return status;
}
