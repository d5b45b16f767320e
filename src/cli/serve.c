/* serve.c — `savepoint serve`: TF Serving's REST API over versioned model directories.
 *
 * Flags are tensorflow_model_server's (--flag=value or --flag value); the few additions are
 * marked "savepoint:" in --help. The process runs until SIGTERM or SIGINT (drain in-flight
 * requests, unload, exit 0); SIGHUP re-reads --model_config_file.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "savepoint/serve.h"

static const char command[] = "serve";

static void print_help(FILE *out) {
  fprintf(
      out,
      "usage: savepoint serve --model_base_path=DIR [--model_name=NAME] [options]\n"
      "       savepoint serve --model_config_file=FILE [options]\n\n"
      "Serves TensorFlow Serving's REST API (GET /v1/models/NAME[/versions/V|/labels/L][/metadata],\n"
      "POST …:predict|:classify|:regress, GET /monitoring/prometheus/metrics) over DIR/<version>/\n"
      "directories holding a SavedModel (or a .keras/.h5/TF.js model). New versions are verified,\n"
      "loaded and warmed up before they take over; a directory still being copied is never served.\n\n"
      "options:\n"
      "  --rest_api_port=N                       port (default 8501; 0: any free port)\n"
      "  --host=ADDRESS                          address to bind (default 127.0.0.1)\n"
      "  --rest_api_num_threads=N                HTTP worker threads (default 4 per CPU)\n"
      "  --rest_api_timeout_in_ms=N              idle/slow-upload cut-off and shutdown drain (default 30000)\n"
      "  --rest_api_enable_cors_support          add CORS headers\n"
      "  --rest_api_max_body_bytes=N             savepoint: bodies above this get 413 (default 67108864)\n"
      "  --model_name=NAME                       model name (default \"default\")\n"
      "  --model_base_path=DIR                   the model's versions: DIR/1, DIR/00000123, ...\n"
      "  --model_config_file=FILE                ModelServerConfig text file (several models, policies, labels)\n"
      "  --model_config_file_poll_wait_seconds=N re-read the config file every N s (default 0: only on SIGHUP)\n"
      "  --file_system_poll_wait_seconds=S       look for new versions every S s (default 1; 0: only at start)\n"
      "  --saved_model_tags=TAGS                 SavedModel meta graph tags (default serve)\n"
      "  --enable_batching                       batch concurrent predict requests\n"
      "  --max_batch_size=N                      rows per batch (default 32)\n"
      "  --batch_timeout_micros=N                how long a batch waits to fill (default 1000)\n"
      "  --registry=URL                          savepoint: record loads/unloads here (default $SAVEPOINT_REGISTRY)\n"
      "  --nowarm_up                             savepoint: skip the warm-up prediction before serving\n"
      "  --port=N                                accepted for compatibility; gRPC is not served\n"
      "signals: SIGTERM/SIGINT drain and exit 0; SIGHUP re-reads --model_config_file.\n");
}

/* --name=value or --name value; booleans also as --name, --name=true/false, --noname. */
typedef struct flag_reader {
  int argc, index;
  char **argv;
} flag_reader;

static int match_flag(flag_reader *reader, const char *name, const char **value) {
  const char *argument = reader->argv[reader->index];
  size_t length = strlen(name);
  if (strncmp(argument, "--", 2) != 0 || strncmp(argument + 2, name, length) != 0) return 0;
  const char *rest = argument + 2 + length;
  if (*rest == '=') {
    *value = rest + 1;
    return 1;
  }
  if (*rest != '\0') return 0;
  *value = reader->index + 1 < reader->argc ? reader->argv[++reader->index] : NULL;
  return 1;
}

static int match_boolean(flag_reader *reader, const char *name, int *value) {
  const char *argument = reader->argv[reader->index];
  size_t length = strlen(name);
  if (strncmp(argument, "--no", 4) == 0 && strcmp(argument + 4, name) == 0) {
    *value = 0;
    return 1;
  }
  if (strncmp(argument, "--", 2) != 0 || strncmp(argument + 2, name, length) != 0) return 0;
  const char *rest = argument + 2 + length;
  if (*rest == '\0')
    *value = 1;
  else if (strcmp(rest, "=true") == 0 || strcmp(rest, "=1") == 0)
    *value = 1;
  else if (strcmp(rest, "=false") == 0 || strcmp(rest, "=0") == 0)
    *value = 0;
  else
    return 0;
  return 1;
}

static int parse_integer(const char *flag, const char *text, long long minimum, long long maximum, long long *value) {
  char *end = NULL;
  errno = 0;
  long long parsed = text ? strtoll(text, &end, 10) : 0;
  if (!text || !*text || *end || errno || parsed < minimum || parsed > maximum) {
    sp_cli_usage_error(command, "--%s needs an integer in %lld..%lld, got '%s'", flag, minimum, maximum,
                       text ? text : "");
    return 0;
  }
  *value = parsed;
  return 1;
}

static int parse_seconds(const char *flag, const char *text, double *value) {
  char *end = NULL;
  double parsed = text ? strtod(text, &end) : -1;
  if (!text || !*text || *end || parsed < 0 || parsed > 86400) {
    sp_cli_usage_error(command, "--%s needs seconds in 0..86400, got '%s'", flag, text ? text : "");
    return 0;
  }
  *value = parsed;
  return 1;
}

/* Returns 1 when the argument was a known flag (parsed into options), 0 when unknown, -1 on a
 * bad value (reported). */
static int read_flag(flag_reader *reader, sp_serve_options *options) {
  const char *value = NULL;
  long long number = 0;
  int boolean = 0;
  struct {
    const char *name;
    long long minimum, maximum;
    int *target;
  } integers[] = {
      {"rest_api_port", 0, 65535, &options->rest_api_port},
      {"rest_api_num_threads", 0, 1024, &options->rest_api_num_threads},
      {"rest_api_timeout_in_ms", 1, 3600000, &options->rest_api_timeout_in_ms},
      {"model_config_file_poll_wait_seconds", 0, 86400, &options->model_config_file_poll_wait_seconds},
  };
  for (size_t i = 0; i < sizeof integers / sizeof *integers; i++)
    if (match_flag(reader, integers[i].name, &value)) {
      if (!parse_integer(integers[i].name, value, integers[i].minimum, integers[i].maximum, &number)) return -1;
      *integers[i].target = (int)number;
      return 1;
    }
  struct {
    const char *name;
    const char **target;
  } strings[] = {
      {"host", &options->host},
      {"model_name", &options->model_name},
      {"model_base_path", &options->model_base_path},
      {"model_config_file", &options->model_config_file},
      {"saved_model_tags", &options->saved_model_tags},
      {"registry", &options->registry_url},
  };
  for (size_t i = 0; i < sizeof strings / sizeof *strings; i++)
    if (match_flag(reader, strings[i].name, &value)) {
      if (!value || !*value) {
        sp_cli_usage_error(command, "--%s needs a value", strings[i].name);
        return -1;
      }
      *strings[i].target = value;
      return 1;
    }
  if (match_flag(reader, "file_system_poll_wait_seconds", &value))
    return parse_seconds("file_system_poll_wait_seconds", value, &options->file_system_poll_wait_seconds) ? 1 : -1;
  if (match_flag(reader, "rest_api_max_body_bytes", &value)) {
    if (!parse_integer("rest_api_max_body_bytes", value, 1, (long long)1 << 40, &number)) return -1;
    options->rest_api_max_body_bytes = (size_t)number;
    return 1;
  }
  if (match_flag(reader, "max_batch_size", &value)) {
    if (!parse_integer("max_batch_size", value, 1, 1 << 20, &number)) return -1;
    options->max_batch_size = number;
    return 1;
  }
  if (match_flag(reader, "batch_timeout_micros", &value)) {
    if (!parse_integer("batch_timeout_micros", value, 0, 60000000, &number)) return -1;
    options->batch_timeout_micros = number;
    return 1;
  }
  if (match_flag(reader, "port", &value)) return parse_integer("port", value, 0, 65535, &number) ? 1 : -1;
  if (match_boolean(reader, "enable_batching", &boolean)) {
    options->enable_batching = boolean;
    return 1;
  }
  if (match_boolean(reader, "rest_api_enable_cors_support", &boolean)) {
    options->rest_api_enable_cors_support = boolean;
    return 1;
  }
  if (match_boolean(reader, "warm_up", &boolean)) {
    options->enable_warm_up = boolean;
    return 1;
  }
  return 0;
}

/* Signals reach this thread through a pipe: libraries start threads before main (OpenBLAS) that
 * do not block signals, so sigwait alone could miss a signal delivered to one of them — and its
 * default action would kill the process mid-drain. */
static int signal_pipe[2] = {-1, -1};

static void forward_signal(int number) {
  int saved = errno;
  unsigned char byte = (unsigned char)number;
  ssize_t ignored = write(signal_pipe[1], &byte, 1);
  (void)ignored;
  errno = saved;
}

static int install_signal_handlers(void) {
  if (pipe(signal_pipe) != 0) return 0;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = forward_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  int numbers[] = {SIGTERM, SIGINT, SIGHUP};
  for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
    if (sigaction(numbers[i], &action, NULL) != 0) return 0;
  signal(SIGPIPE, SIG_IGN);
  return 1;
}

static int wait_for_signals(sp_server *server) {
  for (;;) {
    unsigned char received = 0;
    ssize_t got = read(signal_pipe[0], &received, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got != 1) received = SIGTERM;
    if (received == SIGHUP) {
      (void)sp_server_reload_config(server); /* reported by the server either way */
      continue;
    }
    fprintf(stderr, "savepoint serve: %s received: draining requests in flight\n",
            received == SIGINT ? "SIGINT" : "SIGTERM");
    size_t unfinished = 0;
    sp_server_stop(server, &unfinished);
    fprintf(stderr, "savepoint serve: stopped\n");
    return unfinished ? 1 : 0;
  }
}

int sp_cli_serve(int argc, char **argv) {
  sp_serve_options options;
  sp_serve_options_init(&options);
  flag_reader reader = {argc, 1, argv};
  for (; reader.index < argc; reader.index++) {
    const char *argument = argv[reader.index];
    if (strcmp(argument, "--help") == 0 || strcmp(argument, "-h") == 0) {
      print_help(stdout);
      return 0;
    }
    int known = read_flag(&reader, &options);
    if (known < 0) return 2;
    if (known == 0) return sp_cli_usage_error(command, "unknown argument '%s'", argument);
  }
  if (!options.model_base_path && !options.model_config_file)
    return sp_cli_usage_error(command, "give --model_base_path (and --model_name) or --model_config_file");
  if (!install_signal_handlers()) {
    fprintf(stderr, "savepoint serve: cannot install signal handlers: %s\n", strerror(errno));
    return 1;
  }
  sp_server *server = NULL;
  sp_status status = sp_server_start(&options, &server);
  if (status != SP_OK) return sp_cli_report(command, status);
  return wait_for_signals(server);
}
