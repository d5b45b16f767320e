/* server.c — the model server assembled: config, registry, metrics, version manager, HTTP front
 * end, and the optional watcher that re-reads --model_config_file (see savepoint/serve.h).
 *
 * Order matters: models are loaded before the port opens; on stop the HTTP side drains before
 * the manager unloads, so no request ever holds a version the manager frees.
 */
#include "savepoint/serve.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/memory.h"
#include "savepoint/registry.h"
#include "serve/sync.h"
#include "serve/http_server.h"
#include "serve/metrics.h"
#include "serve/model_config.h"
#include "serve/model_manager.h"

struct sp_server {
  sp_serve_options options;
  char *config_file;
  char config_sha256[65]; /* of the config file last applied */
  sp_registry *registry;
  sp_metrics *metrics;
  sp_model_manager *manager;
  sp_http_server *http;
  pthread_mutex_t reload_lock;
  pthread_mutex_t watch_lock;
  pthread_cond_t watch_wake;
  pthread_t watcher;
  int watcher_running, stopping;
};

void sp_serve_options_init(sp_serve_options *options) {
  memset(options, 0, sizeof *options);
  options->host = "127.0.0.1";
  options->rest_api_port = 8501;
  options->rest_api_timeout_in_ms = 30000;
  options->rest_api_max_body_bytes = (size_t)64 << 20;
  options->model_name = "default";
  options->file_system_poll_wait_seconds = 1;
  options->saved_model_tags = "serve";
  options->max_batch_size = 32;
  options->batch_timeout_micros = 1000;
  options->enable_warm_up = 1;
}

static void server_log(const sp_server *server, const char *message) {
  if (server->options.log)
    server->options.log(server->options.log_context, message);
  else
    fprintf(stderr, "savepoint serve: %s\n", message);
}

static sp_status load_configs(sp_server *server, sp_model_config_list **configs, char sha256[65]) {
  if (!server->config_file) {
    sha256[0] = '\0';
    return sp_model_config_single(server->options.model_name, server->options.model_base_path, configs);
  }
  SP_TRY(sp_sha256_file(server->config_file, sha256));
  return sp_model_config_read(server->config_file, configs);
}

sp_status sp_server_reload_config(sp_server *server) {
  if (!server->config_file)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "the server was started without --model_config_file: nothing to reload");
  pthread_mutex_lock(&server->reload_lock);
  sp_model_config_list *configs = NULL;
  char sha256[65];
  sp_status status = load_configs(server, &configs, sha256);
  if (status == SP_OK) status = sp_model_manager_configure(server->manager, configs);
  if (status == SP_OK) memcpy(server->config_sha256, sha256, sizeof sha256);
  pthread_mutex_unlock(&server->reload_lock);
  sp_model_config_list_free(configs);
  char message[1200];
  if (status == SP_OK)
    snprintf(message, sizeof message, "model config '%s' re-read", server->config_file);
  else
    snprintf(message, sizeof message, "model config '%s' not applied (the models stay as they are): %s",
             server->config_file, sp_last_error());
  server_log(server, message);
  return status;
}

/* Re-reads the config file every model_config_file_poll_wait_seconds when its bytes changed. */
static void *watch_config(void *argument) {
  sp_server *server = argument;
  pthread_mutex_lock(&server->watch_lock);
  while (!server->stopping) {
    struct timespec deadline = sp_clock_deadline(server->options.model_config_file_poll_wait_seconds);
    while (!server->stopping &&
           pthread_cond_timedwait(&server->watch_wake, &server->watch_lock, &deadline) != ETIMEDOUT) {
    }
    if (server->stopping) break;
    pthread_mutex_unlock(&server->watch_lock);
    char sha256[65];
    if (sp_sha256_file(server->config_file, sha256) == SP_OK) {
      pthread_mutex_lock(&server->reload_lock);
      int changed = strcmp(sha256, server->config_sha256) != 0;
      pthread_mutex_unlock(&server->reload_lock);
      if (changed && sp_server_reload_config(server) != SP_OK) {
        /* reported by reload; remember these bytes so a bad file is reported once */
        pthread_mutex_lock(&server->reload_lock);
        memcpy(server->config_sha256, sha256, sizeof sha256);
        pthread_mutex_unlock(&server->reload_lock);
      }
    }
    pthread_mutex_lock(&server->watch_lock);
  }
  pthread_mutex_unlock(&server->watch_lock);
  return NULL;
}

static sp_status check_options(const sp_serve_options *options) {
  if (options->model_config_file && options->model_base_path)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "give either --model_config_file or --model_base_path, not both");
  if (!options->model_config_file && !options->model_base_path)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "nothing to serve: give --model_base_path (and --model_name) or --model_config_file");
  if (options->file_system_poll_wait_seconds < 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "--file_system_poll_wait_seconds must be 0 or more");
  if (options->rest_api_max_body_bytes == 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "the body limit must be positive");
  return SP_OK;
}

static int default_threads(void) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1) cpus = 1;
  return cpus > 16 ? 64 : (int)(4 * cpus);
}

static sp_status open_registry(const sp_serve_options *options, sp_registry **registry) {
  *registry = NULL;
  if (options->registry_url && *options->registry_url) return sp_registry_open(options->registry_url, registry);
  return sp_registry_open_default(registry);
}

static sp_status start_manager(sp_server *server) {
  char instance[300] = "";
  if (server->options.rest_api_port > 0)
    snprintf(instance, sizeof instance, "%s:%d", server->options.host, server->options.rest_api_port);
  sp_model_manager_options manager_options = {
      .poll_seconds = server->options.file_system_poll_wait_seconds,
      .tag_set = server->options.saved_model_tags,
      .registry = server->registry,
      .instance = instance[0] ? instance : NULL,
      .metrics = server->metrics,
      .enable_batching = server->options.enable_batching,
      .batching = {server->options.max_batch_size, server->options.batch_timeout_micros},
      .warm_up = server->options.enable_warm_up,
      .log = server->options.log,
      .log_context = server->options.log_context,
  };
  SP_TRY(sp_model_manager_new(&manager_options, &server->manager));
  sp_model_config_list *configs = NULL;
  SP_TRY(load_configs(server, &configs, server->config_sha256));
  sp_status status = sp_model_manager_configure(server->manager, configs);
  sp_model_config_list_free(configs);
  SP_TRY(status);
  return sp_model_manager_start(server->manager);
}

static sp_status start_http(sp_server *server) {
  sp_http_options http = {
      .host = server->options.host,
      .port = server->options.rest_api_port,
      .threads = server->options.rest_api_num_threads > 0 ? server->options.rest_api_num_threads : default_threads(),
      .timeout_ms = server->options.rest_api_timeout_in_ms > 0 ? server->options.rest_api_timeout_in_ms : 30000,
      .max_body_bytes = server->options.rest_api_max_body_bytes,
      .enable_cors = server->options.rest_api_enable_cors_support,
  };
  sp_rest_context rest = {server->manager, server->metrics};
  SP_TRY(sp_http_server_start(&http, &rest, &server->http));
  char message[400];
  snprintf(message, sizeof message, "REST API on http://%s:%d/ (%d threads)", server->options.host,
           sp_http_server_port(server->http), http.threads);
  server_log(server, message);
  return SP_OK;
}

static sp_status start_watcher(sp_server *server) {
  if (!server->config_file || server->options.model_config_file_poll_wait_seconds <= 0) return SP_OK;
  if (pthread_create(&server->watcher, NULL, watch_config, server) != 0)
    return sp_fail(SP_ERROR_INTERNAL, "cannot start the config watcher thread");
  server->watcher_running = 1;
  return SP_OK;
}

sp_status sp_server_start(const sp_serve_options *options, sp_server **server) {
  *server = NULL;
  SP_TRY(check_options(options));
  sp_server *created = sp_alloc_zeroed(1, sizeof *created);
  if (!created) return SP_ERROR_NO_MEMORY;
  created->options = *options;
  if (!created->options.host) created->options.host = "127.0.0.1";
  pthread_mutex_init(&created->reload_lock, NULL);
  pthread_mutex_init(&created->watch_lock, NULL);
  sp_clock_condition_init(&created->watch_wake);
  sp_status status = SP_OK;
  if (options->model_config_file && !(created->config_file = sp_strdup(options->model_config_file)))
    status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = open_registry(options, &created->registry);
  if (status == SP_OK) status = sp_metrics_new(&created->metrics);
  if (status == SP_OK) status = start_manager(created);
  if (status == SP_OK) status = start_http(created);
  if (status == SP_OK) status = start_watcher(created);
  if (status != SP_OK) {
    char *message = sp_strdup(sp_last_error());
    sp_server_stop(created, NULL);
    status = sp_fail(status, "%s", message ? message : "the server did not start");
    free(message);
    return status;
  }
  *server = created;
  return SP_OK;
}

int sp_server_port(const sp_server *server) { return server->http ? sp_http_server_port(server->http) : 0; }

void sp_server_stop(sp_server *server, size_t *unfinished) {
  if (unfinished) *unfinished = 0;
  if (!server) return;
  if (server->watcher_running)
    sp_thread_stop(server->watcher, &server->watch_lock, &server->watch_wake, &server->stopping);
  double drain = (server->options.rest_api_timeout_in_ms > 0 ? server->options.rest_api_timeout_in_ms : 30000) / 1000.0;
  size_t left = sp_http_server_stop(server->http, drain);
  if (unfinished) *unfinished = left;
  if (left) {
    char message[160];
    snprintf(message, sizeof message, "%zu request%s still running after %.0f s of draining", left,
             left == 1 ? " was" : "s were", drain);
    server_log(server, message);
  }
  sp_model_manager_free(server->manager);
  sp_metrics_free(server->metrics);
  sp_registry_close(server->registry);
  pthread_cond_destroy(&server->watch_wake);
  pthread_mutex_destroy(&server->watch_lock);
  pthread_mutex_destroy(&server->reload_lock);
  free(server->config_file);
  free(server);
}
