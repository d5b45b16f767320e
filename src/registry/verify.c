/* verify.c — integrity checks: an artifact on disk against its own manifest and against the
 * registry, a registry artifact against its files, and garbage collection of records whose files
 * are gone.
 *
 * Guarantees: files are hashed by streaming; every difference is reported (changed, missing,
 * unexpected), each naming the file and what held the expectation; a failed verification is an
 * SP_ERROR_CHECKSUM whose message names the first file that differs; with a registry, every
 * verification is itself recorded as a "verified" event.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "registry/registry_internal.h"

/* Counts problems and remembers the first, passing each on to the caller's report function. */
typedef struct tally {
  sp_integrity_report_function report;
  void *context;
  size_t count;
  char *first;
} tally;

static void tally_problem(const sp_integrity_problem *problem, void *context) {
  tally *counts = context;
  if (counts->count++ == 0)
    counts->first = sp_strdupf("'%s' %s (per %s)", problem->file[0] ? problem->file : problem->artifact,
                               sp_integrity_problem_name(problem->kind), problem->source);
  if (counts->report) counts->report(problem, counts->context);
}

/* ---- the registry's record of an artifact ---- */

static sp_status artifact_manifest(sp_registry *registry, int64_t artifact_id, sp_manifest **manifest, char **path) {
  sp_sql_value id = sp_sql_integer(artifact_id);
  sp_registry_backend *backend = registry->backend;
  sp_registry_table *artifact = NULL, *files = NULL;
  SP_TRY(backend->operations->execute(backend, "SELECT path, layout, sha256 FROM artifacts WHERE id = $1", &id, 1,
                                      &artifact));
  sp_status status = artifact->row_count == 1 ? SP_OK
                                              : sp_fail(SP_ERROR_NOT_FOUND, "no artifact %lld in registry '%s'",
                                                        (long long)artifact_id, registry->url);
  if (status == SP_OK)
    status = backend->operations->execute(backend, "SELECT path, size, sha256 FROM artifact_files WHERE artifact_id = $1",
                                          &id, 1, &files);
  sp_manifest_entry *entries = status == SP_OK ? sp_alloc_zeroed(files->row_count + 1, sizeof *entries) : NULL;
  if (status == SP_OK && !entries) status = SP_ERROR_NO_MEMORY;
  for (size_t row = 0; status == SP_OK && row < files->row_count; row++) {
    const char *size = sp_registry_table_get(files, row, "size");
    entries[row].path = (char *)sp_registry_table_get(files, row, "path");
    entries[row].size = size ? (uint64_t)strtoull(size, NULL, 10) : SP_MANIFEST_SIZE_UNKNOWN;
    snprintf(entries[row].sha256, sizeof entries[row].sha256, "%s", sp_registry_table_get(files, row, "sha256"));
  }
  const char *layout_name = status == SP_OK ? sp_registry_table_get(artifact, 0, "layout") : NULL;
  sp_artifact_layout layout = !layout_name                         ? SP_ARTIFACT_LAYOUT_FILE
                              : strcmp(layout_name, "directory") == 0 ? SP_ARTIFACT_LAYOUT_DIRECTORY
                              : strcmp(layout_name, "prefix") == 0    ? SP_ARTIFACT_LAYOUT_PREFIX
                                                                      : SP_ARTIFACT_LAYOUT_FILE;
  if (status == SP_OK) status = sp_manifest_from_entries(layout, entries, files->row_count, manifest);
  if (status == SP_OK) {
    /* Keep the recorded whole hash: if it disagrees with the recorded files, compare says so. */
    snprintf((*manifest)->sha256, sizeof (*manifest)->sha256, "%s", sp_registry_table_get(artifact, 0, "sha256"));
    *path = sp_strdup(sp_registry_table_get(artifact, 0, "path"));
    if (!*path) status = SP_ERROR_NO_MEMORY;
  }
  if (status != SP_OK && *manifest) {
    sp_manifest_free(*manifest);
    *manifest = NULL;
  }
  free(entries);
  sp_registry_table_free(artifact);
  sp_registry_table_free(files);
  return status;
}

sp_status sp_registry_artifact_manifest(sp_registry *registry, int64_t artifact_id, sp_manifest **manifest,
                                        char **path) {
  *manifest = NULL;
  *path = NULL;
  sp_registry_lock(registry);
  sp_status status = artifact_manifest(registry, artifact_id, manifest, path);
  sp_registry_unlock(registry);
  return status;
}

/* ---- recording a verification ---- */

static sp_status record_verification(sp_registry *registry, const char *path, const sp_verify_result *result,
                                     const char *sources) {
  json_object *detail = json_object_new_object();
  json_object_object_add(detail, "problems", json_object_new_int64((int64_t)result->problem_count));
  json_object_object_add(detail, "compared_with", json_object_new_string(sources));
  char *detail_text = sp_json_dumps(detail, 0);
  json_object_put(detail);
  char *absolute = sp_registry_absolute_path(path);
  sp_registry_event event = {.type = SP_EVENT_VERIFIED, .artifact_id = result->artifact_id, .path = absolute,
                             .sha256 = result->sha256[0] ? result->sha256 : NULL, .detail_json = detail_text};
  sp_status status = detail_text && absolute ? sp_registry_append_event(registry, &event, NULL) : SP_ERROR_NO_MEMORY;
  free(detail_text);
  free(absolute);
  return status;
}

static sp_status verification_outcome(const char *path, const tally *counts) {
  if (counts->count == 0) return SP_OK;
  return sp_fail(SP_ERROR_CHECKSUM, "'%s' failed verification: %zu problem%s; first: %s", path, counts->count,
                 counts->count == 1 ? "" : "s", counts->first ? counts->first : "?");
}

/* ---- one artifact on disk ---- */

typedef struct expectations {
  sp_manifest *manifest;  /* read from inside/beside the artifact, or NULL */
  sp_manifest *recorded;  /* from the registry, or NULL */
  int64_t artifact_id;
  char source[48];
} expectations;

static void expectations_release(expectations *expected) {
  sp_manifest_free(expected->manifest);
  sp_manifest_free(expected->recorded);
}

static sp_status gather_expectations(const char *path, sp_registry *registry, expectations *expected) {
  memset(expected, 0, sizeof *expected);
  sp_status status = sp_manifest_read(path, &expected->manifest);
  if (status == SP_ERROR_NOT_FOUND) status = SP_OK;
  if (status != SP_OK || !registry) return status;
  char *absolute = sp_registry_absolute_path(path);
  if (!absolute) return SP_ERROR_NO_MEMORY;
  int found = 0;
  sp_sql_value value = sp_sql_text(absolute);
  sp_registry_lock(registry);
  status = sp_registry_query_integer(registry->backend, "SELECT MAX(id) FROM artifacts WHERE path = $1", &value, 1,
                                     &expected->artifact_id, &found);
  char *ignored_path = NULL;
  if (status == SP_OK && found) status = artifact_manifest(registry, expected->artifact_id, &expected->recorded, &ignored_path);
  sp_registry_unlock(registry);
  free(ignored_path);
  free(absolute);
  if (!found) expected->artifact_id = 0;
  snprintf(expected->source, sizeof expected->source, "registry artifact %lld", (long long)expected->artifact_id);
  return status;
}

static sp_status verify_sidecars(const char *directory, sp_registry *registry, tally *counts, sp_verify_result *result);

static sp_status verify_one(const char *path, sp_registry *registry, tally *counts, sp_verify_result *result,
                            int allow_sidecars) {
  sp_artifact_layout layout;
  SP_TRY(sp_artifact_layout_of(path, &layout));
  expectations expected;
  sp_status status = gather_expectations(path, registry, &expected);
  if (status == SP_OK && !expected.manifest && !expected.recorded) {
    expectations_release(&expected);
    if (layout == SP_ARTIFACT_LAYOUT_DIRECTORY && allow_sidecars) return verify_sidecars(path, registry, counts, result);
    return sp_fail(SP_ERROR_NOT_FOUND, "nothing to verify '%s' against: it has no manifest ('%s') and %s", path,
                   layout == SP_ARTIFACT_LAYOUT_DIRECTORY ? SP_MANIFEST_DIRECTORY_NAME : "<path>" SP_MANIFEST_SIDECAR_SUFFIX,
                   registry ? "the registry has no record of it" : "no registry was given");
  }
  sp_manifest *actual = NULL;
  if (status == SP_OK) status = sp_manifest_compute(path, &actual);
  if (status == SP_OK) {
    if (expected.manifest) sp_manifest_compare(expected.manifest, actual, path, "manifest", tally_problem, counts);
    if (expected.recorded) sp_manifest_compare(expected.recorded, actual, path, expected.source, tally_problem, counts);
    result->manifest_checked |= expected.manifest != NULL;
    if (expected.artifact_id) result->artifact_id = expected.artifact_id;
    memcpy(result->sha256, actual->sha256, sizeof result->sha256);
  }
  sp_manifest_free(actual);
  expectations_release(&expected);
  return status;
}

/* A directory without a manifest of its own: each "<name>.sha256" in it is the manifest of the
 * artifact "<name>" (a checkpoint prefix or a single file). */
static sp_status verify_sidecars(const char *directory, sp_registry *registry, tally *counts, sp_verify_result *result) {
  DIR *listing = opendir(directory);
  if (!listing) return sp_fail(SP_ERROR_IO, "cannot open directory '%s'", directory);
  sp_status status = SP_OK;
  size_t checked = 0;
  struct dirent *item;
  while (status == SP_OK && (item = readdir(listing)) != NULL) {
    const char *name = item->d_name;
    size_t length = strlen(name), suffix = strlen(SP_MANIFEST_SIDECAR_SUFFIX);
    if (length <= suffix || !sp_path_has_suffix(name, SP_MANIFEST_SIDECAR_SUFFIX) || sp_path_is_temporary(name))
      continue;
    char *sidecar = sp_path_join(directory, name);
    char *artifact = sidecar ? sp_strndup(sidecar, strlen(sidecar) - suffix) : NULL;
    status = artifact ? verify_one(artifact, registry, counts, result, 0) : SP_ERROR_NO_MEMORY;
    if (status == SP_ERROR_NOT_FOUND) status = SP_OK; /* "x.sha256" that is no manifest of ours */
    else if (status == SP_OK) checked++;
    free(sidecar);
    free(artifact);
  }
  closedir(listing);
  if (status == SP_OK && checked == 0)
    status = sp_fail(SP_ERROR_NOT_FOUND, "nothing to verify '%s' against: it has no manifest ('%s'), no "
                     "checkpoint manifests ('*%s') and %s", directory, SP_MANIFEST_DIRECTORY_NAME,
                     SP_MANIFEST_SIDECAR_SUFFIX, registry ? "the registry has no record of it" : "no registry was given");
  if (status == SP_OK) result->manifest_checked = 1;
  return status;
}

sp_status sp_verify_artifact_detailed(const char *path, sp_registry *registry, sp_integrity_report_function report,
                                      void *context, sp_verify_result *result) {
  sp_verify_result local;
  if (!result) result = &local;
  memset(result, 0, sizeof *result);
  tally counts = {report, context, 0, NULL};
  sp_status status = verify_one(path, registry, &counts, result, 1);
  result->problem_count = counts.count;
  if (status == SP_OK && registry) {
    char sources[96];
    snprintf(sources, sizeof sources, "%s%s%s", result->manifest_checked ? "manifest" : "",
             result->manifest_checked && result->artifact_id ? ", " : "", result->artifact_id ? "registry" : "");
    status = record_verification(registry, path, result, sources);
  }
  if (status == SP_OK) status = verification_outcome(path, &counts);
  free(counts.first);
  return status;
}

sp_status sp_verify_artifact(const char *path, sp_registry *registry, sp_integrity_report_function report,
                             void *context, size_t *problems) {
  sp_verify_result result;
  sp_status status = sp_verify_artifact_detailed(path, registry, report, context, &result);
  if (problems) *problems = result.problem_count;
  return status;
}

/* ---- a registry artifact ---- */

sp_status sp_registry_verify_artifact(sp_registry *registry, int64_t artifact_id,
                                      sp_integrity_report_function report, void *context, sp_verify_result *result) {
  sp_verify_result local;
  if (!result) result = &local;
  memset(result, 0, sizeof *result);
  result->artifact_id = artifact_id;
  sp_manifest *recorded = NULL, *actual = NULL;
  char *path = NULL;
  SP_TRY(sp_registry_artifact_manifest(registry, artifact_id, &recorded, &path));
  sp_artifact_layout layout;
  sp_status status = sp_artifact_layout_of(path, &layout);
  if (status == SP_ERROR_NOT_FOUND) /* gone entirely: every recorded file is missing */
    status = sp_manifest_from_entries(recorded->layout, NULL, 0, &actual);
  else if (status == SP_OK)
    status = sp_manifest_compute(path, &actual);
  tally counts = {report, context, 0, NULL};
  if (status == SP_OK) {
    char source[48];
    snprintf(source, sizeof source, "registry artifact %lld", (long long)artifact_id);
    sp_manifest_compare(recorded, actual, path, source, tally_problem, &counts);
    if (actual->count) memcpy(result->sha256, actual->sha256, sizeof result->sha256);
    result->problem_count = counts.count;
    status = record_verification(registry, path, result, "registry");
  }
  if (status == SP_OK) status = verification_outcome(path, &counts);
  free(counts.first);
  free(path);
  sp_manifest_free(recorded);
  sp_manifest_free(actual);
  return status;
}

/* ---- garbage collection ---- */

static int artifact_exists(const char *path, const char *layout) {
  if (layout && strcmp(layout, "prefix") == 0) {
    char *index = sp_strdupf("%s.index", path);
    int exists = index && sp_path_exists(index);
    free(index);
    return exists;
  }
  return sp_path_exists(path);
}

sp_status sp_registry_collect_garbage(sp_registry *registry, int dry_run, sp_registry_table **missing, size_t *found) {
  *found = 0;
  *missing = NULL;
  sp_sql_value host = sp_sql_text(registry->host);
  sp_registry_table *candidates = NULL;
  sp_registry_lock(registry);
  sp_status status = registry->backend->operations->execute(
      registry->backend,
      "SELECT a.id, a.kind, a.path, a.layout, a.sha256, a.created_at FROM artifacts a WHERE a.host = $1 AND NOT EXISTS"
      " (SELECT 1 FROM events d WHERE d.artifact_id = a.id AND d.type = 'deleted') ORDER BY a.id",
      &host, 1, &candidates);
  sp_registry_unlock(registry);
  SP_TRY(status);
  sp_registry_table *gone = sp_registry_table_new(candidates->column_count);
  status = gone ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t column = 0; status == SP_OK && column < candidates->column_count; column++)
    status = sp_registry_table_set_column(gone, column, candidates->column_names[column], candidates->column_types[column]);
  for (size_t row = 0; status == SP_OK && row < candidates->row_count; row++) {
    const char *path = sp_registry_table_get(candidates, row, "path");
    if (artifact_exists(path, sp_registry_table_get(candidates, row, "layout"))) continue;
    char **cells = NULL;
    status = sp_registry_table_add_row(gone, &cells);
    for (size_t column = 0; status == SP_OK && column < candidates->column_count; column++) {
      const char *cell = candidates->cells[row * candidates->column_count + column];
      if (cell && !(cells[column] = sp_strdup(cell))) status = SP_ERROR_NO_MEMORY;
    }
    if (status == SP_OK && !dry_run) {
      sp_registry_event event = {.type = SP_EVENT_DELETED,
                                 .artifact_id = strtoll(sp_registry_table_get(candidates, row, "id"), NULL, 10),
                                 .path = path,
                                 .detail_json = "{\"reason\": \"missing on disk (registry gc)\"}"};
      status = sp_registry_append_event(registry, &event, NULL);
    }
  }
  sp_registry_table_free(candidates);
  if (status != SP_OK) {
    sp_registry_table_free(gone);
    return status;
  }
  *found = gone->row_count;
  *missing = gone;
  return SP_OK;
}
