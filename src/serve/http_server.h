/* http_server.h — the HTTP front end of the model server, on libmicrohttpd.
 *
 * One internal polling thread per worker (--rest_api_num_threads, epoll), keep-alive connections
 * (the access handler remembers the request on its first call and answers on a later one, which
 * is what keeps MHD from closing every connection), bodies gathered up to max_body_bytes (larger
 * ones get 413 without being read), percent-encoding left to the REST layer (so "%2F" in a
 * model name is refused there, not turned into a path separator).
 *
 * Slow clients: reading is non-blocking, so a client trickling bytes occupies a connection slot,
 * never a worker; a connection idle longer than the timeout is closed, and a request whose body
 * is still arriving after timeout_ms is cut off.
 *
 * Shutdown: quiesce (stop accepting), drain (wait until every request that reached a handler has
 * been answered, up to a deadline; requests arriving meanwhile on open keep-alive connections
 * get 503 and "Connection: close"), then stop.
 */
#ifndef SP_SERVE_HTTP_SERVER_H
#define SP_SERVE_HTTP_SERVER_H

#include <stddef.h>

#include "core/status.h"
#include "serve/rest_api.h"

typedef struct sp_http_options {
  const char *host;      /* numeric IPv4 or IPv6 address to bind; "127.0.0.1" by default */
  int port;              /* 0: any free port */
  int threads;           /* worker threads */
  int timeout_ms;        /* idle connections and slow uploads */
  size_t max_body_bytes; /* larger bodies get 413 */
  int enable_cors;       /* Access-Control-Allow-* headers, OPTIONS answered */
} sp_http_options;

typedef struct sp_http_server sp_http_server;

sp_status sp_http_server_start(const sp_http_options *options, const sp_rest_context *rest,
                               sp_http_server **server) SP_MUST_CHECK;
/* The port actually bound (useful with port 0). */
int sp_http_server_port(const sp_http_server *server);
/* Stops accepting connections, waits up to drain_seconds for requests in flight, then stops and
 * frees. Returns how many requests were still in flight at the deadline (0 on a clean drain). */
size_t sp_http_server_stop(sp_http_server *server, double drain_seconds);

#endif
