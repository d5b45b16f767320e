/* verify.c — `savepoint verify PATH`: is every byte of an artifact what it claims to be?
 *
 * Runs each check that applies to what PATH holds (cli/artifact.h) and collects problems by
 * name. Today: the TensorFlow checkpoint check (every index block's and every tensor's CRC32C,
 * every entry against its data file). Hash and manifest checks plug in as further entries of
 * `checks`. Prints each problem on its own line and exits 1 if there is any; otherwise prints
 * a one-line OK summary. --json prints one object instead.
 */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/artifact.h"
#include "cli/cli.h"
#include "core/json.h"
#include "core/memory.h"
#include "formats/tf_bundle.h"

typedef struct verify_report {
  json_object *problems; /* [{"name", "message"}] */
  size_t checks_run;
  size_t tensors;
  size_t data_files;
  unsigned long long bytes;
} verify_report;

static void print_help(void) {
  printf("usage: savepoint verify PATH [--json]\n\n"
         "Reads every block and tensor of PATH and checks every checksum. PATH may be a TensorFlow\n"
         "checkpoint prefix, its .index file, or a checkpoint directory (the latest checkpoint).\n"
         "Prints each damaged tensor or block by name and exits 1 if there is any.\n\n"
         "  --json  print {\"path\", \"ok\", \"tensors\", \"data_files\", \"bytes\", \"problems\": [{\"name\", \"message\"}]}\n");
}

static void add_problem(void *context, const char *name, const char *message) {
  verify_report *report = context;
  json_object *problem = json_object_new_object();
  json_object_object_add(problem, "name", json_object_new_string(name));
  json_object_object_add(problem, "message", json_object_new_string(message));
  json_object_array_add(report->problems, problem);
}

/* ---------- checks ---------- */

static sp_status count_checkpoint(const char *prefix, verify_report *report) {
  sp_bundle_reader *reader;
  SP_TRY(sp_bundle_open(prefix, &reader));
  report->tensors += sp_bundle_count(reader);
  report->data_files += (size_t)sp_bundle_shard_count(reader);
  for (size_t i = 0; i < sp_bundle_count(reader); i++) report->bytes += sp_bundle_entry_at(reader, i)->size;
  sp_bundle_close(reader);
  return SP_OK;
}

/* Problems found are reported; a status is returned only when the check could not run. */
static sp_status check_checkpoint(const sp_cli_artifact *artifact, verify_report *report) {
  size_t problems;
  sp_status status = sp_bundle_verify(artifact->path, add_problem, report, &problems);
  if (problems > 0) return SP_OK; /* each one is in the report, including one that stopped the check */
  if (status != SP_OK) return status;
  return count_checkpoint(artifact->path, report);
}

typedef sp_status (*verify_check)(const sp_cli_artifact *artifact, verify_report *report);

/* Which checks apply to which kind; manifest and hash checks are added here. */
static const struct {
  sp_cli_artifact_kind kind;
  verify_check check;
} checks[] = {
    {SP_CLI_ARTIFACT_CHECKPOINT, check_checkpoint},
};

static sp_status run_checks(const sp_cli_artifact *artifact, verify_report *report) {
  for (size_t i = 0; i < sizeof checks / sizeof *checks; i++) {
    if (checks[i].kind != artifact->kind) continue;
    report->checks_run++;
    SP_TRY(checks[i].check(artifact, report));
  }
  return SP_OK;
}

/* ---------- output ---------- */

static int print_report(const sp_cli_artifact *artifact, const verify_report *report, int json) {
  size_t problem_count = json_object_array_length(report->problems);
  if (json) {
    json_object *object = json_object_new_object();
    json_object_object_add(object, "path", json_object_new_string(artifact->path));
    json_object_object_add(object, "ok", json_object_new_boolean(problem_count == 0));
    json_object_object_add(object, "tensors", json_object_new_uint64(report->tensors));
    json_object_object_add(object, "data_files", json_object_new_uint64(report->data_files));
    json_object_object_add(object, "bytes", json_object_new_uint64(report->bytes));
    json_object_object_add(object, "problems", json_object_get(report->problems));
    char *text = sp_json_dumps(object, 0);
    json_object_put(object);
    if (!text) return sp_cli_report("verify", SP_ERROR_NO_MEMORY);
    puts(text);
    free(text);
  } else if (problem_count == 0) {
    printf("OK %s: %zu tensors in %zu data file%s, %llu bytes, all checksums match\n", artifact->path, report->tensors,
           report->data_files, report->data_files == 1 ? "" : "s", report->bytes);
  } else {
    for (size_t i = 0; i < problem_count; i++) {
      json_object *problem = json_object_array_get_idx(report->problems, i);
      printf("BAD %s: %s\n", json_object_get_string(json_object_object_get(problem, "name")),
             json_object_get_string(json_object_object_get(problem, "message")));
    }
  }
  if (problem_count == 0) return 0;
  fprintf(stderr, "savepoint verify: '%s': %zu damaged tensor%s or block%s\n", artifact->path, problem_count,
          problem_count == 1 ? "" : "s", problem_count == 1 ? "" : "s");
  return 1;
}

static int parse_arguments(int argc, char **argv, const char **path, int *json) {
  *path = NULL;
  *json = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      print_help();
      return 0;
    }
    if (strcmp(argv[i], "--json") == 0) *json = 1;
    else if (argv[i][0] == '-' && argv[i][1] == '-') return sp_cli_usage_error("verify", "unknown option '%s'", argv[i]);
    else if (*path) return sp_cli_usage_error("verify", "one PATH only (got '%s' and '%s')", *path, argv[i]);
    else *path = argv[i];
  }
  if (!*path) return sp_cli_usage_error("verify", "missing PATH");
  return -1;
}

int sp_cli_verify(int argc, char **argv) {
  const char *path;
  int json;
  int exit_code = parse_arguments(argc, argv, &path, &json);
  if (exit_code >= 0) return exit_code;
  sp_cli_artifact artifact;
  sp_status status = sp_cli_artifact_probe(path, &artifact);
  if (status != SP_OK) return sp_cli_report("verify", status);
  verify_report report = {json_object_new_array(), 0, 0, 0, 0};
  status = run_checks(&artifact, &report);
  if (status != SP_OK) exit_code = sp_cli_report("verify", status);
  else if (report.checks_run == 0) exit_code = sp_cli_artifact_unsupported("verify", &artifact);
  else exit_code = print_report(&artifact, &report, json);
  json_object_put(report.problems);
  sp_cli_artifact_free(&artifact);
  return exit_code;
}
