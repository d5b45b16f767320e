/* verify.c — `savepoint verify PATH`: is every byte of an artifact what it claims to be?
 *
 * Runs each check that applies to what PATH holds (cli/artifact.h) and collects problems by
 * name: the TensorFlow checkpoint check (every index block's and every tensor's CRC32C, every
 * entry against its data file) for checkpoints, and for every kind the hash check — SHA-256 of
 * each file, streamed, against the artifact's manifest and the registry's record. Prints each
 * problem on its own line and exits 1 if there is any; otherwise prints a one-line OK summary.
 * --json prints one object instead.
 */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/artifact.h"
#include "cli/cli.h"
#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "formats/tf_bundle.h"
#include "savepoint/registry.h"

typedef struct verify_report {
  json_object *problems; /* [{"name", "message"}] */
  sp_registry *registry; /* NULL when none is configured */
  char *hash_source;     /* what the hashes were compared with, NULL when nothing was */
  char sha256[65];
  size_t checks_run;
  size_t tensors;
  size_t data_files;
  unsigned long long bytes;
} verify_report;

static void print_help(void) {
  printf("usage: savepoint verify PATH [--registry URL] [--json]\n\n"
         "Checks that every byte of PATH is what it claims to be. For a TensorFlow checkpoint (its\n"
         "prefix, .index file, or a checkpoint directory) every block and tensor CRC is checked. For\n"
         "any artifact, the SHA-256 of each file is recomputed and compared with its manifest\n"
         "(savepoint.sha256 or PATH.sha256) and with the registry's record of PATH.\n"
         "Prints each damaged file, tensor or block by name and exits 1 if there is any.\n\n"
         "  --registry URL  the registry to compare with (default: $SAVEPOINT_REGISTRY)\n"
         "  --json          print {\"path\", \"ok\", \"tensors\", \"data_files\", \"bytes\", \"sha256\",\n"
         "                  \"hashes_compared_with\", \"problems\": [{\"name\", \"message\"}]}\n");
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

static void add_integrity_problem(const sp_integrity_problem *problem, void *context) {
  char name[1024], message[512];
  snprintf(name, sizeof name, "%s%s%s", problem->artifact, problem->file[0] ? "/" : "", problem->file);
  snprintf(message, sizeof message, "%s (per %s)", sp_integrity_problem_name(problem->kind), problem->source);
  add_problem(context, name, message);
}

/* SHA-256 of every file against the manifest and the registry; nothing to compare with is not a failure. */
static sp_status check_hashes(const sp_cli_artifact *artifact, verify_report *report) {
  sp_verify_result result;
  sp_status status = sp_verify_artifact_detailed(artifact->path, report->registry, add_integrity_problem, report, &result);
  if (status == SP_ERROR_NOT_FOUND) return SP_OK;
  if (status != SP_OK && result.problem_count == 0) return status;
  memcpy(report->sha256, result.sha256, sizeof report->sha256);
  report->hash_source = result.manifest_checked && result.artifact_id
                            ? sp_strdupf("its manifest and registry artifact %lld", (long long)result.artifact_id)
                        : result.manifest_checked ? sp_strdup("its manifest")
                                                  : sp_strdupf("registry artifact %lld", (long long)result.artifact_id);
  return SP_OK;
}

typedef sp_status (*verify_check)(const sp_cli_artifact *artifact, verify_report *report);

enum { EVERY_KIND = -1 };

/* Which checks apply to which kind. */
static const struct {
  int kind;
  verify_check check;
} checks[] = {
    {SP_CLI_ARTIFACT_CHECKPOINT, check_checkpoint},
    {EVERY_KIND, check_hashes},
};

static sp_status run_checks(const sp_cli_artifact *artifact, verify_report *report) {
  for (size_t i = 0; i < sizeof checks / sizeof *checks; i++) {
    if (checks[i].kind != EVERY_KIND && checks[i].kind != (int)artifact->kind) continue;
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
    json_object_object_add(object, "sha256", report->hash_source ? json_object_new_string(report->sha256) : NULL);
    json_object_object_add(object, "hashes_compared_with",
                           report->hash_source ? json_object_new_string(report->hash_source) : NULL);
    json_object_object_add(object, "problems", json_object_get(report->problems));
    char *text = sp_json_dumps(object, 0);
    json_object_put(object);
    if (!text) return sp_cli_report("verify", SP_ERROR_NO_MEMORY);
    puts(text);
    free(text);
  } else if (problem_count == 0) {
    printf("OK %s:", artifact->path);
    if (report->data_files)
      printf(" %zu tensors in %zu data file%s, %llu bytes, all checksums match%s", report->tensors, report->data_files,
             report->data_files == 1 ? "" : "s", report->bytes, report->hash_source ? ";" : "");
    if (report->hash_source) printf(" sha256 %s matches %s", report->sha256, report->hash_source);
    printf("\n");
  } else {
    for (size_t i = 0; i < problem_count; i++) {
      json_object *problem = json_object_array_get_idx(report->problems, i);
      printf("BAD %s: %s\n", json_object_get_string(json_object_object_get(problem, "name")),
             json_object_get_string(json_object_object_get(problem, "message")));
    }
  }
  if (problem_count == 0) return 0;
  fprintf(stderr, "savepoint verify: '%s': %zu problem%s found\n", artifact->path, problem_count,
          problem_count == 1 ? "" : "s");
  return 1;
}

static int parse_arguments(int argc, char **argv, const char **path, const char **registry, int *json) {
  *path = NULL;
  *registry = NULL;
  *json = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      print_help();
      return 0;
    }
    if (strcmp(argv[i], "--json") == 0) *json = 1;
    else if (strcmp(argv[i], "--registry") == 0 && i + 1 < argc) *registry = argv[++i];
    else if (strncmp(argv[i], "--registry=", 11) == 0) *registry = argv[i] + 11;
    else if (argv[i][0] == '-' && argv[i][1] == '-') return sp_cli_usage_error("verify", "unknown option '%s'", argv[i]);
    else if (*path) return sp_cli_usage_error("verify", "one PATH only (got '%s' and '%s')", *path, argv[i]);
    else *path = argv[i];
  }
  if (!*path) return sp_cli_usage_error("verify", "missing PATH");
  return -1;
}

int sp_cli_verify(int argc, char **argv) {
  const char *path, *registry_url;
  int json;
  int exit_code = parse_arguments(argc, argv, &path, &registry_url, &json);
  if (exit_code >= 0) return exit_code;
  sp_cli_artifact artifact;
  sp_status status = sp_cli_artifact_probe(path, &artifact);
  if (status != SP_OK) return sp_cli_report("verify", status);
  verify_report report = {.problems = json_object_new_array()};
  status = registry_url ? sp_registry_open(registry_url, &report.registry) : sp_registry_open_default(&report.registry);
  if (status == SP_OK) status = run_checks(&artifact, &report);
  int nothing_checked = report.data_files == 0 && !report.hash_source && json_object_array_length(report.problems) == 0;
  if (status != SP_OK) exit_code = sp_cli_report("verify", status);
  else if (nothing_checked && artifact.kind != SP_CLI_ARTIFACT_CHECKPOINT)
    exit_code = sp_cli_report("verify", sp_fail(SP_ERROR_NOT_FOUND,
                              "'%s' is %s with no manifest (savepoint.sha256 or %s.sha256) and no registry record to "
                              "compare with; record it with 'savepoint manifest %s' or 'savepoint registry add'",
                              artifact.path, artifact.description, sp_path_basename(artifact.path), artifact.path));
  else exit_code = print_report(&artifact, &report, json);
  json_object_put(report.problems);
  free(report.hash_source);
  sp_registry_close(report.registry);
  sp_cli_artifact_free(&artifact);
  return exit_code;
}
