/* Tests of the model server core in-process: version manager, REST API and HTTP front end,
 * independent of the SavedModel interpreter.
 *
 * A test-only servable format ("fake": a version directory holding model.fake with the text
 * "scale offset") computes y = scale * x + offset through a serving_default signature shaped like
 * half_plus_two's (x, y: DT_FLOAT [-1, 1]), so expected answers come from that formula. The
 * server runs on a free loopback port; requests go through a minimal HTTP/1.1 client over a
 * socket. What is checked: TF Serving's status and error bodies and codes, the readiness rule
 * (a version appears only after two equal polls, or at once with a manifest that verifies),
 * swaps to a new version, a broken version leaving the old one AVAILABLE, unloads after the
 * policy moves on, version policies and labels, request limits (413), metrics, and keep-alive.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "core/memory.h"
#include "savepoint/manifest.h"
#include "savepoint/registry.h"
#include "savepoint/serve.h"
#include "serve/model_manager.h"
#include "serve/rest_api.h"
#include "serve/servable.h"
#include "test_support.h"

/* ---------- the fake format ---------- */

typedef struct fake_model {
  float scale, offset;
} fake_model;

static int probe_fake(const char *directory) {
  char *path = sp_path_join(directory, "model.fake");
  int found = sp_is_regular_file(path);
  free(path);
  return found;
}

static sp_status run_fake(void *state, const sp_signature *signature, size_t input_count, const char *const *keys,
                          const sp_tensor *const *inputs, size_t *output_count, char ***output_keys,
                          sp_tensor ***outputs) {
  const fake_model *model = state;
  if (input_count != 1 || strcmp(keys[0], "x") != 0 || inputs[0]->dtype != SP_FLOAT32)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "signature '%s' needs one float input 'x'", signature->key);
  sp_tensor *y = sp_tensor_copy(inputs[0]);
  for (int64_t i = 0; i < sp_tensor_count(y); i++)
    sp_tensor_floats(y)[i] = model->scale * sp_tensor_floats(y)[i] + model->offset;
  *output_keys = sp_alloc_zeroed(1, sizeof **output_keys);
  *outputs = sp_alloc_zeroed(1, sizeof **outputs);
  (*output_keys)[0] = sp_strdup("y");
  (*outputs)[0] = y;
  *output_count = 1;
  return SP_OK;
}

static void free_fake(void *state) { free(state); }

static const sp_servable_operations fake_operations = {run_fake, free_fake};

static sp_status fake_spec(const char *key, sp_tensor_spec *spec) {
  spec->key = sp_strdup(key);
  spec->tensor_name = sp_strdupf("%s:0", key);
  spec->dtype = SP_FLOAT32;
  spec->rank = 2;
  spec->dims = sp_alloc_zeroed(2, sizeof *spec->dims);
  spec->dims[0] = -1;
  spec->dims[1] = 1;
  return SP_OK;
}

static sp_status load_fake(const char *directory, const sp_servable_options *options, sp_servable **servable) {
  (void)options;
  char *path = sp_path_join(directory, "model.fake");
  uint8_t *data = NULL;
  size_t size = 0;
  sp_status status = sp_read_file(path, 1024, &data, &size);
  free(path);
  SP_TRY(status);
  fake_model *model = sp_alloc_zeroed(1, sizeof *model);
  char text[64] = "";
  memcpy(text, data, size < sizeof text - 1 ? size : sizeof text - 1);
  free(data);
  if (sscanf(text, "%f %f", &model->scale, &model->offset) != 2) {
    free(model);
    return sp_fail(SP_ERROR_FORMAT, "model.fake in '%s' does not hold 'scale offset'", directory);
  }
  sp_signature *signature = sp_alloc_zeroed(1, sizeof *signature);
  signature->key = sp_strdup(SP_DEFAULT_SIGNATURE);
  signature->method_name = sp_strdup(SP_METHOD_PREDICT);
  signature->inputs = sp_alloc_zeroed(1, sizeof *signature->inputs);
  signature->outputs = sp_alloc_zeroed(1, sizeof *signature->outputs);
  signature->input_count = signature->output_count = 1;
  fake_spec("x", signature->inputs);
  fake_spec("y", signature->outputs);
  return sp_servable_create("fake", sp_strdup("fake model"), signature, 1, &fake_operations, model, servable);
}

static const sp_servable_format fake_format = {"fake", probe_fake, load_fake};

/* ---------- files ---------- */

static void write_text(const char *directory, const char *name, const char *text) {
  char *path = sp_path_join(directory, name);
  SP_ASSERT_OK(sp_write_file_atomic(path, text, strlen(text)));
  free(path);
}

/* BASE/<version>/model.fake with "scale offset". */
static char *add_version(const char *base, const char *name, const char *content) {
  char *directory = sp_path_join(base, name);
  SP_ASSERT_OK(sp_make_directories(directory));
  write_text(directory, "model.fake", content);
  return directory;
}

static void pause_seconds(double seconds) {
  struct timespec pause = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  nanosleep(&pause, NULL);
}

/* ---------- a minimal HTTP/1.1 client ---------- */

typedef struct reply {
  int status;
  char *headers;
  char *body;
} reply;

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  cr_assert_eq(connect(fd, (struct sockaddr *)&address, sizeof address), 0, "connect: %s", strerror(errno));
  return fd;
}

static void send_all(int fd, const char *data, size_t size) {
  while (size) {
    ssize_t sent = send(fd, data, size, MSG_NOSIGNAL);
    if (sent <= 0) return;
    data += sent;
    size -= (size_t)sent;
  }
}

/* Reads one response (Content-Length framed) from fd. */
static reply read_reply(int fd) {
  sp_buffer in = {0};
  reply result = {0};
  char chunk[4096];
  size_t header_end = 0, content_length = 0;
  for (;;) {
    if (header_end == 0 && in.size >= 4) {
      char *end = memmem(in.data, in.size, "\r\n\r\n", 4);
      if (end) {
        header_end = (size_t)(end - (char *)in.data) + 4;
        char *length = strcasestr((char *)in.data, "Content-Length:");
        content_length = length && length < end ? strtoul(length + 15, NULL, 10) : 0;
      }
    }
    if (header_end && in.size >= header_end + content_length) break;
    ssize_t got = recv(fd, chunk, sizeof chunk, 0);
    if (got <= 0) break;
    SP_ASSERT_OK(sp_buffer_append(&in, chunk, (size_t)got));
    SP_ASSERT_OK(sp_buffer_reserve(&in, 1));
    in.data[in.size] = '\0'; /* the header search below reads a C string */
  }
  cr_assert(header_end > 0, "no complete response");
  sscanf((char *)in.data, "HTTP/1.1 %d", &result.status);
  result.headers = sp_strndup((char *)in.data, header_end);
  result.body = sp_strndup((char *)in.data + header_end, content_length);
  sp_buffer_free(&in);
  return result;
}

static reply request_on(int fd, const char *method, const char *path, const char *body) {
  char head[1024];
  size_t length = body ? strlen(body) : 0;
  snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n", method, path, length);
  send_all(fd, head, strlen(head));
  if (length) send_all(fd, body, length);
  return read_reply(fd);
}

static reply http(int port, const char *method, const char *path, const char *body) {
  int fd = connect_to(port);
  reply result = request_on(fd, method, path, body);
  close(fd);
  return result;
}

static void reply_free(reply *result) {
  free(result->headers);
  free(result->body);
}

static void expect(int port, const char *method, const char *path, const char *body, int status, const char *fragment) {
  reply result = http(port, method, path, body);
  cr_assert_eq(result.status, status, "%s %s: HTTP %d, body %s", method, path, result.status, result.body);
  cr_assert(strstr(result.body, fragment), "%s %s: body %s lacks %s", method, path, result.body, fragment);
  reply_free(&result);
}

/* Polls the status of model until version shows state (bounded). */
static void wait_for_state(int port, const char *model, int version, const char *state) {
  char path[256], wanted[128];
  snprintf(path, sizeof path, "/v1/models/%s/versions/%d", model, version);
  snprintf(wanted, sizeof wanted, "\"state\": \"%s\"", state);
  for (int attempt = 0; attempt < 200; attempt++) {
    reply result = http(port, "GET", path, NULL);
    int found = result.status == 200 && strstr(result.body, wanted);
    reply_free(&result);
    if (found) return;
    pause_seconds(0.05);
  }
  cr_assert_fail("model %s version %d never reached %s", model, version, state);
}

/* A server for model "half" at base on a free port; max_body_bytes 0 keeps the default. */
static sp_server *start_with(const char *base, double poll_seconds, size_t max_body_bytes) {
  sp_serve_options options;
  sp_serve_options_init(&options);
  options.rest_api_port = 0;
  options.model_name = "half";
  options.model_base_path = base;
  options.file_system_poll_wait_seconds = poll_seconds;
  options.rest_api_num_threads = 4;
  if (max_body_bytes) options.rest_api_max_body_bytes = max_body_bytes;
  sp_server *server = NULL;
  SP_ASSERT_OK(sp_server_start(&options, &server));
  return server;
}

static sp_server *start(const char *base) { return start_with(base, 0.1, 0); }

/* Stops the server and removes the model directory. */
static void finish(sp_server *server, char *base) {
  sp_server_stop(server, NULL);
  SP_ASSERT_OK(sp_remove_tree(base));
  free(base);
}

static void register_fake(void) { SP_ASSERT_OK(sp_servable_register_format(&fake_format)); }

/* ---------- tests ---------- */

TestSuite(serve_server, .init = register_fake);

Test(serve_server, status_metadata_and_predict_like_tf_serving) {
  char *base = sp_test_temp_dir("serve_basic");
  free(add_version(base, "00000123", "0.5 2"));
  write_text(base, "not_a_version", "x");
  char *ignored = sp_path_join(base, ".00000999.tmp-abcdef");
  SP_ASSERT_OK(sp_make_directories(ignored));
  free(ignored);
  sp_server *server = start(base);
  int port = sp_server_port(server);
  /* The version was loaded before the port opened. */
  expect(port, "GET", "/v1/models/half", NULL, 200, "\"version\": \"123\",\n   \"state\": \"AVAILABLE\"");
  expect(port, "GET", "/v1/models/half", NULL, 200, "\"error_code\": \"OK\"");
  expect(port, "GET", "/V1/MODELS/half/versions/123", NULL, 200, "\"sha256\": \"");
  expect(port, "POST", "/v1/models/half:predict", "{\"instances\": [1.0, 2.0, 5.0]}", 200,
         "{\"predictions\": [2.5, 3.0, 4.5]}");
  expect(port, "POST", "/v1/models/half/versions/123:predict", "{\"inputs\": [[1.0], [2.0]]}", 200,
         "{\"outputs\": [[2.5], [3.0]]}");
  expect(port, "GET", "/v1/models/half/metadata", NULL, 200, "\"signature_def\": {\n   \"signature_def\": {");
  expect(port, "GET", "/v1/models/half/metadata", NULL, 200, "\"name\": \"x:0\"");
  expect(port, "GET", "/v1/models/half/metadata", NULL, 200, "\"path\": \"model.fake\"");
  /* Which bytes answer: the response headers name the version and its hash. */
  reply answered = http(port, "POST", "/v1/models/half:predict", "{\"instances\": [1.0]}");
  cr_assert(strstr(answered.headers, "X-Savepoint-Model-Version: 123"));
  cr_assert(strstr(answered.headers, "X-Savepoint-Model-Sha256: "));
  reply_free(&answered);
  /* TF Serving's errors and codes. */
  expect(port, "GET", "/v1/models/nothing", NULL, 404, "Could not find any versions of model nothing");
  expect(port, "GET", "/v1/models/half/versions/7", NULL, 404, "Could not find version 7 of model half");
  expect(port, "POST", "/v1/models/nothing:predict", "{\"instances\": [1.0]}", 404,
         "Servable not found for request: Latest(nothing)");
  expect(port, "POST", "/v1/models/half/versions/7:predict", "{\"instances\": [1.0]}", 404,
         "Servable not found for request: Specific(half, 7)");
  expect(port, "POST", "/v1/models/half/labels/stable:predict", "{\"instances\": [1.0]}", 400,
         "Unrecognized servable version label: stable");
  expect(port, "POST", "/v1/models/half:predict", "{\"instances\": [1.0", 400, "JSON Parse error");
  expect(port, "POST", "/v1/models/half:predict", "{\"instances\": [\"a\"]}", 400, "input 'x'");
  expect(port, "POST", "/v1/models/half:predict", "{\"signature_name\": \"nope\", \"instances\": [1.0]}", 400,
         "Serving signature name: \\\"nope\\\" not found");
  expect(port, "POST", "/v1/models/half:classify", "{\"examples\": [{\"x\": 1.0}]}", 400,
         "Expected classification signature method_name");
  expect(port, "GET", "/v1/models/half:predict", NULL, 400, "Malformed request: GET /v1/models/half:predict");
  expect(port, "GET", "/v1/models", NULL, 400, "Missing model name");
  expect(port, "GET", "/v1/models/a%2Fb", NULL, 400, "may not contain '/'");
  expect(port, "GET", "/v1/models/..", NULL, 400, "is not allowed");
  expect(port, "GET", "/v1/models/a%00b", NULL, 400, "control characters");
  expect(port, "GET", "/v1/models/%ff", NULL, 400, "not valid UTF-8");
  expect(port, "GET", "/elsewhere", NULL, 404, "error");
  expect(port, "GET", SP_PROMETHEUS_PATH, NULL, 200,
         "savepoint_serving_requests_total{model_name=\"half\",model_version=\"123\",api=\"predict\",code=\"200\"} 3");
  expect(port, "GET", SP_PROMETHEUS_PATH, NULL, 200,
         "savepoint_serving_model_loads_total{model_name=\"half\",model_version=\"123\",result=\"success\"} 1");
  expect(port, "GET", SP_PROMETHEUS_PATH, NULL, 200, "state=\"AVAILABLE\",sha256=\"");
  finish(server, base);
}

Test(serve_server, keep_alive_answers_several_requests_on_one_connection) {
  char *base = sp_test_temp_dir("serve_keepalive");
  free(add_version(base, "1", "1 0"));
  sp_server *server = start(base);
  int fd = connect_to(sp_server_port(server));
  for (int i = 0; i < 5; i++) {
    reply result = request_on(fd, "POST", "/v1/models/half:predict", "{\"instances\": [7.0]}");
    cr_assert_eq(result.status, 200);
    cr_assert_str_eq(result.body, "{\"predictions\": [7.0]}");
    cr_assert_null(strcasestr(result.headers, "Connection: close"));
    reply_free(&result);
  }
  close(fd);
  finish(server, base);
}

Test(serve_server, bodies_over_the_limit_get_413) {
  char *base = sp_test_temp_dir("serve_limit");
  free(add_version(base, "1", "1 0"));
  sp_server *server = start_with(base, 0.1, 100);
  char big[400];
  memset(big, ' ', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  memcpy(big, "{\"instances\": [1.0]}", 20);
  expect(sp_server_port(server), "POST", "/v1/models/half:predict", big, 413, "larger than the limit of 100 bytes");
  expect(sp_server_port(server), "POST", "/v1/models/half:predict", "{\"instances\": [1.0]}", 200, "[1.0]");
  finish(server, base);
}

Test(serve_server, new_version_takes_over_and_the_old_one_is_unloaded) {
  char *base = sp_test_temp_dir("serve_swap");
  free(add_version(base, "1", "0.5 2"));
  sp_server *server = start(base);
  int port = sp_server_port(server);
  expect(port, "POST", "/v1/models/half:predict", "{\"instances\": [2.0]}", 200, "[3.0]");
  free(add_version(base, "2", "0.5 3"));
  wait_for_state(port, "half", 2, "AVAILABLE");
  expect(port, "POST", "/v1/models/half:predict", "{\"instances\": [2.0]}", 200, "[4.0]");
  wait_for_state(port, "half", 1, "END");
  expect(port, "GET", "/v1/models/half", NULL, 200, "\"version\": \"2\"");
  finish(server, base);
}

Test(serve_server, broken_version_is_reported_and_the_old_one_keeps_serving) {
  char *base = sp_test_temp_dir("serve_broken");
  free(add_version(base, "1", "0.5 2"));
  sp_server *server = start(base);
  int port = sp_server_port(server);
  char *broken = add_version(base, "2", "not numbers");
  wait_for_state(port, "half", 2, "END");
  expect(port, "GET", "/v1/models/half/versions/2", NULL, 200, "\"error_code\": \"DATA_LOSS\"");
  expect(port, "GET", "/v1/models/half/versions/2", NULL, 200, "does not hold 'scale offset'");
  expect(port, "GET", "/v1/models/half/versions/1", NULL, 200, "\"state\": \"AVAILABLE\"");
  expect(port, "POST", "/v1/models/half:predict", "{\"instances\": [2.0]}", 200, "[3.0]");
  /* Fixing the directory in place makes it a candidate again. */
  write_text(broken, "model.fake", "0.5 3");
  wait_for_state(port, "half", 2, "AVAILABLE");
  expect(port, "POST", "/v1/models/half:predict", "{\"instances\": [2.0]}", 200, "[4.0]");
  free(broken);
  finish(server, base);
}

Test(serve_server, a_directory_still_changing_is_not_loaded) {
  char *base = sp_test_temp_dir("serve_copying");
  free(add_version(base, "1", "0.5 2"));
  sp_server *server = start_with(base, 0.3, 0);
  int port = sp_server_port(server);
  /* Version 2 keeps changing faster than the poll interval: it must never be loaded. */
  char *copying = sp_path_join(base, "2");
  SP_ASSERT_OK(sp_make_directories(copying));
  for (int i = 0; i < 12; i++) {
    char name[32];
    snprintf(name, sizeof name, "part-%d", i);
    write_text(copying, name, "data");
    if (i == 0) write_text(copying, "model.fake", "0.5 3");
    expect(port, "POST", "/v1/models/half:predict", "{\"instances\": [2.0]}", 200, "[3.0]");
    pause_seconds(0.1);
  }
  expect(port, "GET", "/v1/models/half/versions/2", NULL, 200, "\"state\": \"START\"");
  /* Once it stops changing it is loaded. */
  wait_for_state(port, "half", 2, "AVAILABLE");
  expect(port, "POST", "/v1/models/half:predict", "{\"instances\": [2.0]}", 200, "[4.0]");
  free(copying);
  finish(server, base);
}

Test(serve_server, manifest_admits_at_first_sight_and_refuses_mismatches) {
  char *base = sp_test_temp_dir("serve_manifest");
  free(add_version(base, "1", "0.5 2"));
  sp_server *server = start_with(base, 0.2, 0);
  int port = sp_server_port(server);
  /* A version published with a manifest, then damaged: the manifest check refuses it. */
  char *staging = sp_path_join(base, ".staging");
  SP_ASSERT_OK(sp_make_directories(staging));
  write_text(staging, "model.fake", "0.5 3");
  SP_ASSERT_OK(sp_manifest_create(staging, NULL));
  write_text(staging, "model.fake", "0.5 9");
  char *published = sp_path_join(base, "2");
  cr_assert_eq(rename(staging, published), 0);
  wait_for_state(port, "half", 2, "END");
  expect(port, "GET", "/v1/models/half/versions/2", NULL, 200, "failed verification");
  expect(port, "POST", "/v1/models/half:predict", "{\"instances\": [2.0]}", 200, "[3.0]");
  /* A good one is verified and served, and status says it was checked against its manifest. */
  SP_ASSERT_OK(sp_make_directories(staging));
  write_text(staging, "model.fake", "0.5 4");
  sp_manifest *manifest = NULL;
  SP_ASSERT_OK(sp_manifest_create(staging, &manifest));
  char *good = sp_path_join(base, "3");
  cr_assert_eq(rename(staging, good), 0);
  wait_for_state(port, "half", 3, "AVAILABLE");
  expect(port, "GET", "/v1/models/half/versions/3", NULL, 200, "\"verified_against\": \"manifest\"");
  expect(port, "GET", "/v1/models/half/versions/3", NULL, 200, manifest->sha256);
  expect(port, "POST", "/v1/models/half:predict", "{\"instances\": [2.0]}", 200, "[5.0]");
  sp_manifest_free(manifest);
  free(staging);
  free(published);
  free(good);
  finish(server, base);
}

static const char *history_cell(const sp_registry_table *table, size_t row, const char *column) {
  const char *value = sp_registry_table_get(table, row, column);
  return value ? value : "";
}

Test(serve_server, registry_records_loads_refusals_and_unloads_with_hashes) {
  char *base = sp_test_temp_dir("serve_registry");
  char *url = sp_strdupf("sqlite://%s.db", base);
  char *one = add_version(base, "1", "0.5 2");
  char *staged = sp_path_join(base, ".staged"), *two = sp_path_join(base, "2");
  SP_ASSERT_OK(sp_make_directories(staged));
  write_text(staged, "model.fake", "0.5 3");
  /* Versions 1 and 2 are recorded as exports; version 2 is then changed before it is published. */
  sp_registry *registry = NULL;
  SP_ASSERT_OK(sp_registry_open(url, &registry));
  sp_manifest *first = NULL, *second = NULL;
  SP_ASSERT_OK(sp_manifest_compute(one, &first));
  SP_ASSERT_OK(sp_manifest_compute(staged, &second));
  sp_artifact_record record = {.kind = SP_ARTIFACT_EXPORT,
                               .name = "half",
                               .version = 1,
                               .format = "fake",
                               .producer = "test",
                               .path = one,
                               .manifest = first};
  SP_ASSERT_OK(sp_registry_record_artifact(registry, &record, NULL));
  record.version = 2;
  record.path = two;
  record.manifest = second;
  SP_ASSERT_OK(sp_registry_record_artifact(registry, &record, NULL));
  sp_registry_close(registry);
  write_text(staged, "model.fake", "0.5 9");

  sp_serve_options options;
  sp_serve_options_init(&options);
  options.rest_api_port = 0;
  options.model_name = "half";
  options.model_base_path = base;
  options.file_system_poll_wait_seconds = 0.1;
  options.registry_url = url;
  sp_server *server = NULL;
  SP_ASSERT_OK(sp_server_start(&options, &server));
  int port = sp_server_port(server);
  expect(port, "GET", "/v1/models/half/versions/1", NULL, 200, "\"verified_against\": \"registry artifact");
  cr_assert_eq(rename(staged, two), 0);
  wait_for_state(port, "half", 2, "END");
  expect(port, "GET", "/v1/models/half/versions/2", NULL, 200, "failed verification");
  free(add_version(base, "3", "0.5 4"));
  wait_for_state(port, "half", 3, "AVAILABLE");
  wait_for_state(port, "half", 1, "END");
  sp_server_stop(server, NULL);

  SP_ASSERT_OK(sp_registry_open(url, &registry));
  sp_registry_table *history = NULL;
  SP_ASSERT_OK(sp_registry_serving_history(registry, "half", &history));
  const char *expected[][2] = {
      {"loaded", "1"}, {"load_refused", "2"}, {"loaded", "3"}, {"unloaded", "1"}, {"unloaded", "3"}};
  cr_assert_eq(history->row_count, 5, "%zu serving events", history->row_count);
  for (size_t row = 0; row < 5; row++) {
    cr_assert_str_eq(history_cell(history, row, "type"), expected[row][0], "event %zu", row);
    cr_assert_str_eq(history_cell(history, row, "model_version"), expected[row][1], "event %zu", row);
  }
  cr_assert_str_eq(history_cell(history, 0, "sha256"), first->sha256);
  cr_assert_str_eq(history_cell(history, 3, "sha256"), first->sha256);
  cr_assert_neq(history_cell(history, 0, "artifact_id")[0], '\0', "the load is tied to the recorded artifact");
  cr_assert(strstr(history_cell(history, 1, "detail"), "failed verification"), "%s",
            history_cell(history, 1, "detail"));
  sp_registry_table_free(history);
  sp_registry_close(registry);
  sp_manifest_free(first);
  sp_manifest_free(second);
  free(staged);
  free(two);
  free(one);
  char *database = sp_strdupf("%s.db", base);
  remove(database);
  free(database);
  free(url);
  SP_ASSERT_OK(sp_remove_tree(base));
  free(base);
}

/* ---------- the manager and REST layer directly: policies and labels ---------- */

static sp_model_manager *manager_for(sp_metrics *metrics, const sp_model_config_list *configs) {
  sp_model_manager_options options = {.poll_seconds = 0.1, .metrics = metrics, .warm_up = 1};
  sp_model_manager *manager = NULL;
  SP_ASSERT_OK(sp_model_manager_new(&options, &manager));
  SP_ASSERT_OK(sp_model_manager_configure(manager, configs));
  SP_ASSERT_OK(sp_model_manager_start(manager));
  return manager;
}

static void expect_rest(const sp_rest_context *context, const char *method, const char *path, const char *body,
                        int status, const char *fragment) {
  sp_rest_response response;
  sp_rest_handle(context, method, path, body, body ? strlen(body) : 0, &response);
  SP_ASSERT_OK(sp_buffer_append(&response.body, "", 1));
  cr_assert_eq(response.status, status, "%s %s: %d %s", method, path, response.status, (char *)response.body.data);
  cr_assert(strstr((char *)response.body.data, fragment), "%s %s: %s lacks %s", method, path,
            (char *)response.body.data, fragment);
  sp_rest_response_release(&response);
}

Test(serve_server, version_policies_and_labels) {
  char *base = sp_test_temp_dir("serve_policies");
  free(add_version(base, "1", "1 1"));
  free(add_version(base, "2", "1 2"));
  free(add_version(base, "3", "1 3"));
  sp_model_config_list *configs = NULL;
  SP_ASSERT_OK(sp_model_config_single("all", base, &configs));
  /* Three models over one base path: all, specific{1,3} with labels, latest{2}. */
  sp_model_config_list list = {0};
  sp_model_config models[3];
  memset(models, 0, sizeof models);
  for (int i = 0; i < 3; i++) SP_ASSERT_OK(sp_model_config_copy(&configs->models[0], &models[i]));
  free(models[1].name);
  models[1].name = sp_strdup("specific");
  free(models[2].name);
  models[2].name = sp_strdup("latest2");
  models[0].policy.kind = SP_POLICY_ALL;
  models[1].policy.kind = SP_POLICY_SPECIFIC;
  models[1].policy.versions = realloc(models[1].policy.versions, 2 * sizeof(int64_t));
  models[1].policy.versions[0] = 1;
  models[1].policy.versions[1] = 3;
  models[1].policy.version_count = 2;
  models[1].labels = realloc(models[1].labels, 2 * sizeof *models[1].labels);
  models[1].labels[0] = (sp_version_label){sp_strdup("stable"), 1};
  models[1].labels[1] = (sp_version_label){sp_strdup("canary"), 3};
  models[1].label_count = 2;
  models[2].policy.num_versions = 2;
  list.models = models;
  list.count = 3;
  sp_metrics *metrics = NULL;
  SP_ASSERT_OK(sp_metrics_new(&metrics));
  sp_model_manager *manager = manager_for(metrics, &list);
  sp_rest_context context = {manager, metrics};
  expect_rest(&context, "GET", "/v1/models/all/versions/1", NULL, 200, "AVAILABLE");
  expect_rest(&context, "GET", "/v1/models/all/versions/2", NULL, 200, "AVAILABLE");
  expect_rest(&context, "POST", "/v1/models/all:predict", "{\"instances\": [0.0]}", 200, "[3.0]");
  expect_rest(&context, "POST", "/v1/models/all/versions/1:predict", "{\"instances\": [0.0]}", 200, "[1.0]");
  expect_rest(&context, "GET", "/v1/models/specific/versions/2", NULL, 404, "Could not find version 2");
  expect_rest(&context, "POST", "/v1/models/specific/labels/stable:predict", "{\"instances\": [0.0]}", 200, "[1.0]");
  expect_rest(&context, "POST", "/v1/models/specific/labels/canary:predict", "{\"instances\": [0.0]}", 200, "[3.0]");
  expect_rest(&context, "GET", "/v1/models/specific/labels/canary", NULL, 200, "\"version\": \"3\"");
  expect_rest(&context, "GET", "/v1/models/specific/labels/canary/metadata", NULL, 200, "\"version\": \"3\"");
  expect_rest(&context, "GET", "/v1/models/latest2/versions/1", NULL, 404, "Could not find version 1");
  expect_rest(&context, "GET", "/v1/models/latest2/versions/2", NULL, 200, "AVAILABLE");
  /* Reconfiguring (what SIGHUP does): drop "all", move the canary label. */
  models[1].labels[1].version = 1;
  list.models = &models[1];
  list.count = 2;
  SP_ASSERT_OK(sp_model_manager_configure(manager, &list));
  sp_model_manager_wake(manager);
  for (int attempt = 0; attempt < 100; attempt++) {
    sp_rest_response response;
    sp_rest_handle(&context, "GET", "/v1/models/all", NULL, 0, &response);
    int gone = response.status == 404;
    sp_rest_response_release(&response);
    if (gone) break;
    pause_seconds(0.05);
  }
  expect_rest(&context, "GET", "/v1/models/all", NULL, 404, "Could not find any versions of model all");
  expect_rest(&context, "POST", "/v1/models/specific/labels/canary:predict", "{\"instances\": [0.0]}", 200, "[1.0]");
  sp_model_manager_free(manager);
  sp_metrics_free(metrics);
  for (int i = 0; i < 3; i++) sp_model_config_release(&models[i]);
  sp_model_config_list_free(configs);
  SP_ASSERT_OK(sp_remove_tree(base));
  free(base);
}

Test(serve_server, config_names_are_checked) {
  sp_model_config_list *configs = NULL;
  SP_ASSERT_FAILS(sp_model_config_single("a/b", "/tmp", &configs), SP_ERROR_INVALID_ARGUMENT, "may not contain '/'");
  SP_ASSERT_FAILS(sp_model_config_single("a:b", "/tmp", &configs), SP_ERROR_INVALID_ARGUMENT, "':'");
  SP_ASSERT_FAILS(sp_model_config_single("..", "/tmp", &configs), SP_ERROR_INVALID_ARGUMENT, "not allowed");
  SP_ASSERT_FAILS(sp_model_config_single("", "/tmp", &configs), SP_ERROR_INVALID_ARGUMENT, "empty");
  SP_ASSERT_OK(sp_model_config_single("ok", "relative/dir", &configs));
  cr_assert_eq(configs->models[0].base_path[0], '/');
  sp_model_config_list_free(configs);
}
