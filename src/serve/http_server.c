/* http_server.c — libmicrohttpd glue for the REST API (see http_server.h).
 *
 * Invariants: every request gets its request_state on the first access-handler call and keeps it
 * until MHD reports the request completed, which frees it; `in_flight` counts requests from the
 * moment their handler runs until MHD has finished sending the answer (the completion callback),
 * so draining never cuts a response off mid-send.
 */
#include "serve/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/memory.h"
#include "serve/sync.h"

struct sp_http_server {
  struct MHD_Daemon *daemon;
  sp_http_options options;
  sp_rest_context rest;
  int port;
  atomic_int in_flight;
  atomic_int draining;
  MHD_socket listener; /* closed after the daemon stops (MHD's rule for quiesced sockets) */
};

typedef struct request_state {
  sp_buffer body;
  double started;
  int too_large, timed_out, counted;
} request_state;

static void add_common_headers(const sp_http_server *server, struct MHD_Response *response, const char *content_type) {
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  if (server->options.enable_cors) {
    MHD_add_response_header(response, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(response, "Access-Control-Allow-Methods", "POST, GET");
    MHD_add_response_header(response, "Access-Control-Allow-Headers", "Content-Type");
  }
  if (atomic_load(&server->draining)) MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* Queues body (taken over) with status. */
static enum MHD_Result send_body(sp_http_server *server, struct MHD_Connection *connection, int status, sp_buffer *body,
                                 const char *content_type, const sp_rest_response *rest) {
  size_t size = body->size;
  uint8_t *bytes = sp_buffer_detach(body, NULL);
  struct MHD_Response *response = MHD_create_response_from_buffer(
      size, bytes ? bytes : (void *)"", bytes ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (!response) {
    free(bytes);
    return MHD_NO;
  }
  add_common_headers(server, response, content_type);
  if (rest && rest->model_version >= 0) {
    char version[32];
    snprintf(version, sizeof version, "%lld", (long long)rest->model_version);
    MHD_add_response_header(response, "X-Savepoint-Model-Version", version);
    if (rest->sha256[0]) MHD_add_response_header(response, "X-Savepoint-Model-Sha256", rest->sha256);
  }
  enum MHD_Result queued = MHD_queue_response(connection, (unsigned int)status, response);
  MHD_destroy_response(response);
  return queued;
}

static enum MHD_Result send_error(sp_http_server *server, struct MHD_Connection *connection, int status,
                                  const char *message) {
  sp_rest_response response = {0};
  sp_rest_error(&response, status, message);
  enum MHD_Result queued = send_body(server, connection, response.status, &response.body, "application/json", NULL);
  sp_rest_response_release(&response);
  sp_metrics_record_request(server->rest.metrics, NULL, status, 0);
  return queued;
}

static enum MHD_Result first_call(sp_http_server *server, struct MHD_Connection *connection, request_state **state) {
  *state = sp_alloc_zeroed(1, sizeof **state);
  if (!*state) return MHD_NO;
  (*state)->started = sp_clock_seconds();
  const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (length && strtoull(length, NULL, 10) > server->options.max_body_bytes) {
    /* Refuse before reading it; answering now makes MHD close the connection afterwards. */
    (*state)->too_large = 1;
    char message[160];
    snprintf(message, sizeof message, "request body of %s bytes is larger than the limit of %zu bytes", length,
             server->options.max_body_bytes);
    return send_error(server, connection, 413, message);
  }
  return MHD_YES;
}

static enum MHD_Result receive(sp_http_server *server, request_state *state, const char *data, size_t *size) {
  if (sp_clock_seconds() - state->started > server->options.timeout_ms / 1000.0) {
    state->timed_out = 1;
    return MHD_NO; /* a client still uploading after the timeout loses its connection */
  }
  if (!state->too_large && state->body.size + *size <= server->options.max_body_bytes &&
      sp_buffer_append(&state->body, data, *size) == SP_OK) {
    *size = 0;
    return MHD_YES;
  }
  state->too_large = 1; /* keep reading and discarding; answer 413 at the end */
  sp_buffer_free(&state->body);
  *size = 0;
  return MHD_YES;
}

static enum MHD_Result answer(sp_http_server *server, struct MHD_Connection *connection, const char *url,
                              const char *method, request_state *state) {
  if (state->too_large) {
    char message[128];
    snprintf(message, sizeof message, "request body is larger than the limit of %zu bytes",
             server->options.max_body_bytes);
    return send_error(server, connection, 413, message);
  }
  if (atomic_load(&server->draining)) return send_error(server, connection, 503, "the server is shutting down");
  if (server->options.enable_cors && strcmp(method, "OPTIONS") == 0) {
    sp_buffer empty = {0};
    return send_body(server, connection, 204, &empty, "application/json", NULL);
  }
  state->counted = 1;
  atomic_fetch_add(&server->in_flight, 1);
  sp_rest_response response;
  const char *body = state->body.data ? (const char *)state->body.data : "";
  sp_rest_handle(&server->rest, method, url, body, state->body.size, &response);
  enum MHD_Result queued =
      send_body(server, connection, response.status, &response.body, response.content_type, &response);
  sp_rest_response_release(&response);
  return queued;
}

static enum MHD_Result access_handler(void *context, struct MHD_Connection *connection, const char *url,
                                      const char *method, const char *version, const char *upload_data,
                                      size_t *upload_data_size, void **request_context) {
  (void)version;
  sp_http_server *server = context;
  request_state *state = *request_context;
  if (!state) {
    enum MHD_Result result = first_call(server, connection, &state);
    *request_context = state;
    return result;
  }
  if (*upload_data_size) return receive(server, state, upload_data, upload_data_size);
  return answer(server, connection, url, method, state);
}

static void request_completed(void *context, struct MHD_Connection *connection, void **request_context,
                              enum MHD_RequestTerminationCode code) {
  (void)connection;
  (void)code;
  sp_http_server *server = context;
  request_state *state = *request_context;
  if (!state) return;
  if (state->counted) atomic_fetch_sub(&server->in_flight, 1);
  sp_buffer_free(&state->body);
  free(state);
  *request_context = NULL;
}

/* Keeps the path as the client sent it: the REST layer decodes each component itself. */
static size_t keep_escaped(void *context, struct MHD_Connection *connection, char *text) {
  (void)context;
  (void)connection;
  return strlen(text);
}

static sp_status bind_address(const char *host, int port, struct sockaddr_storage *address, int *ipv6) {
  memset(address, 0, sizeof *address);
  struct sockaddr_in *v4 = (struct sockaddr_in *)address;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)address;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *ipv6 = 0;
    return SP_OK;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *ipv6 = 1;
    return SP_OK;
  }
  return sp_fail(SP_ERROR_INVALID_ARGUMENT, "--host '%s' is not a numeric IPv4 or IPv6 address", host);
}

sp_status sp_http_server_start(const sp_http_options *options, const sp_rest_context *rest, sp_http_server **server) {
  *server = NULL;
  if (options->port < 0 || options->port > 65535)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "port %d is outside 0..65535", options->port);
  struct sockaddr_storage address;
  int ipv6 = 0;
  SP_TRY(bind_address(options->host ? options->host : "127.0.0.1", options->port, &address, &ipv6));
  sp_http_server *created = sp_alloc_zeroed(1, sizeof *created);
  if (!created) return SP_ERROR_NO_MEMORY;
  created->options = *options;
  created->rest = *rest;
  created->listener = MHD_INVALID_SOCKET;
  unsigned int threads = options->threads > 0 ? (unsigned int)options->threads : 1;
  unsigned int idle = options->timeout_ms > 0 ? (unsigned int)((options->timeout_ms + 999) / 1000) : 30;
  unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | (ipv6 ? MHD_USE_IPv6 : 0);
  created->daemon =
      MHD_start_daemon(flags, (uint16_t)options->port, NULL, NULL, access_handler, created, MHD_OPTION_SOCK_ADDR,
                       (struct sockaddr *)&address, MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
                       idle, MHD_OPTION_NOTIFY_COMPLETED, request_completed, created, MHD_OPTION_UNESCAPE_CALLBACK,
                       keep_escaped, NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
  if (!created->daemon) {
    int error = errno;
    free(created);
    return sp_fail(SP_ERROR_IO, "cannot listen on %s port %d: %s", options->host ? options->host : "127.0.0.1",
                   options->port, error ? strerror(error) : "libmicrohttpd refused to start");
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(created->daemon, MHD_DAEMON_INFO_BIND_PORT);
  created->port = info ? info->port : options->port;
  *server = created;
  return SP_OK;
}

int sp_http_server_port(const sp_http_server *server) { return server->port; }

size_t sp_http_server_stop(sp_http_server *server, double drain_seconds) {
  if (!server) return 0;
  atomic_store(&server->draining, 1);
  server->listener = MHD_quiesce_daemon(server->daemon);
  /* Refuse new connections now rather than leave them waiting in the backlog until the drain
   * ends; the descriptor itself stays open until MHD has stopped, as MHD requires. */
  if (server->listener != MHD_INVALID_SOCKET) shutdown(server->listener, SHUT_RDWR);
  double deadline = sp_clock_seconds() + drain_seconds;
  while (atomic_load(&server->in_flight) > 0 && sp_clock_seconds() < deadline) {
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  size_t left = (size_t)atomic_load(&server->in_flight);
  MHD_stop_daemon(server->daemon);
  if (server->listener != MHD_INVALID_SOCKET) close(server->listener);
  free(server);
  return left;
}
