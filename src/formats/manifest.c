/* manifest.c — artifact hashing and the sha256sum-compatible manifest format (see savepoint/manifest.h).
 *
 * Guarantees: files are hashed by streaming (sp_sha256_file), never loaded whole; entries are
 * always sorted by path with no duplicates, so the canonical listing, and with it the
 * whole-artifact hash, depends only on the artifact's files and bytes; a manifest read from disk
 * is hostile input: every line is checked, and no listed name can point outside the artifact.
 */
#include "savepoint/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/memory.h"

enum {
  MAX_DIRECTORY_DEPTH = 64,                   /* deeper trees are refused, not recursed into */
  MAX_MANIFEST_BYTES = 64 * 1024 * 1024       /* about 700,000 files */
};

typedef struct entry_list {
  sp_manifest_entry *entries;
  size_t count, capacity;
} entry_list;

const char *sp_artifact_layout_name(sp_artifact_layout layout) {
  switch (layout) {
    case SP_ARTIFACT_LAYOUT_FILE: return "file";
    case SP_ARTIFACT_LAYOUT_DIRECTORY: return "directory";
    case SP_ARTIFACT_LAYOUT_PREFIX: return "prefix";
  }
  return "unknown";
}

const char *sp_integrity_problem_name(sp_integrity_problem_kind kind) {
  switch (kind) {
    case SP_INTEGRITY_CHANGED: return "changed";
    case SP_INTEGRITY_MISSING: return "missing";
    case SP_INTEGRITY_UNEXPECTED: return "unexpected";
    case SP_INTEGRITY_ARTIFACT: return "artifact hash differs";
  }
  return "unknown";
}

sp_status sp_artifact_layout_of(const char *path, sp_artifact_layout *layout) {
  if (sp_is_directory(path)) {
    *layout = SP_ARTIFACT_LAYOUT_DIRECTORY;
    return SP_OK;
  }
  if (sp_is_regular_file(path)) {
    *layout = SP_ARTIFACT_LAYOUT_FILE;
    return SP_OK;
  }
  char *index = sp_strdupf("%s.index", path);
  if (!index) return SP_ERROR_NO_MEMORY;
  int is_prefix = sp_is_regular_file(index);
  free(index);
  if (!is_prefix)
    return sp_fail(SP_ERROR_NOT_FOUND, "'%s' is not a file, a directory or a checkpoint prefix (no '%s.index')",
                   path, path);
  *layout = SP_ARTIFACT_LAYOUT_PREFIX;
  return SP_OK;
}

char *sp_manifest_path(const char *artifact_path, sp_artifact_layout layout) {
  if (layout == SP_ARTIFACT_LAYOUT_DIRECTORY) return sp_path_join(artifact_path, SP_MANIFEST_DIRECTORY_NAME);
  return sp_strdupf("%s%s", artifact_path, SP_MANIFEST_SIDECAR_SUFFIX);
}

/* ---- entries ---- */

static void entries_release(sp_manifest_entry *entries, size_t count) {
  for (size_t i = 0; i < count; i++) free(entries[i].path);
  free(entries);
}

void sp_manifest_free(sp_manifest *manifest) {
  if (!manifest) return;
  entries_release(manifest->entries, manifest->count);
  free(manifest);
}

/* Names the sha256sum format would have to escape, or that would escape the artifact. */
static sp_status check_relative_path(const char *path, const char *where) {
  if (path[0] == '\0') return sp_fail(SP_ERROR_FORMAT, "%s: empty file name", where);
  if (path[0] == '/') return sp_fail(SP_ERROR_UNSAFE, "%s: '%s' is an absolute path", where, path);
  if (strpbrk(path, "\n\r\\"))
    return sp_fail(SP_ERROR_UNSAFE, "%s: the name '%s' holds a newline, carriage return or backslash, which "
                   "manifests do not carry", where, path);
  for (const char *component = path; component;) {
    const char *slash = strchr(component, '/');
    size_t length = slash ? (size_t)(slash - component) : strlen(component);
    if (length == 0 || (length == 1 && component[0] == '.') ||
        (length == 2 && component[0] == '.' && component[1] == '.'))
      return sp_fail(SP_ERROR_UNSAFE, "%s: '%s' has an empty, '.' or '..' component; names must stay inside "
                     "the artifact", where, path);
    component = slash ? slash + 1 : NULL;
  }
  return SP_OK;
}

static int is_lower_hex_digest(const char *text) {
  for (int i = 0; i < 64; i++)
    if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f'))) return 0;
  return text[64] == '\0';
}

static sp_status entry_list_add(entry_list *list, const char *path, uint64_t size, const char *sha256) {
  SP_TRY(SP_RESERVE(list->entries, list->capacity, list->count + 1));
  sp_manifest_entry *entry = &list->entries[list->count];
  entry->path = sp_strdup(path);
  if (!entry->path) return SP_ERROR_NO_MEMORY;
  entry->size = size;
  memcpy(entry->sha256, sha256, 64);
  entry->sha256[64] = '\0';
  list->count++;
  return SP_OK;
}

static int compare_entries(const void *a, const void *b) {
  return strcmp(((const sp_manifest_entry *)a)->path, ((const sp_manifest_entry *)b)->path);
}

static char *format_entries(const sp_manifest_entry *entries, size_t count, size_t *length) {
  size_t total = 1;
  for (size_t i = 0; i < count; i++) total += 64 + 2 + strlen(entries[i].path) + 1;
  char *text = sp_alloc(total);
  if (!text) return NULL;
  size_t used = 0;
  for (size_t i = 0; i < count; i++) {
    size_t path_length = strlen(entries[i].path);
    memcpy(text + used, entries[i].sha256, 64);
    memcpy(text + used + 64, "  ", 2);
    memcpy(text + used + 66, entries[i].path, path_length);
    text[used + 66 + path_length] = '\n';
    used += 67 + path_length;
  }
  text[used] = '\0';
  if (length) *length = used;
  return text;
}

char *sp_manifest_format(const sp_manifest *manifest, size_t *length) {
  return format_entries(manifest->entries, manifest->count, length);
}

/* Sorts, refuses duplicates and sets size and the whole-artifact hash. Takes the list. */
static sp_status manifest_from_list(sp_artifact_layout layout, entry_list *list, const char *what,
                                    sp_manifest **result) {
  *result = NULL;
  sp_status status = SP_OK;
  if (list->count > 1) qsort(list->entries, list->count, sizeof *list->entries, compare_entries);
  for (size_t i = 1; i < list->count && status == SP_OK; i++)
    if (strcmp(list->entries[i - 1].path, list->entries[i].path) == 0)
      status = sp_fail(SP_ERROR_FORMAT, "%s: '%s' is listed twice", what, list->entries[i].path);
  if (status == SP_OK && layout == SP_ARTIFACT_LAYOUT_FILE && list->count != 1)
    status = sp_fail(SP_ERROR_FORMAT, "%s: a single-file artifact lists exactly one file, found %zu", what,
                     list->count);
  sp_manifest *manifest = status == SP_OK ? sp_alloc_zeroed(1, sizeof *manifest) : NULL;
  if (status == SP_OK && !manifest) status = SP_ERROR_NO_MEMORY;
  if (status != SP_OK) {
    entries_release(list->entries, list->count);
    return status;
  }
  manifest->layout = layout;
  manifest->entries = list->entries;
  manifest->count = list->count;
  for (size_t i = 0; i < list->count; i++) {
    if (list->entries[i].size == SP_MANIFEST_SIZE_UNKNOWN || manifest->size == SP_MANIFEST_SIZE_UNKNOWN)
      manifest->size = SP_MANIFEST_SIZE_UNKNOWN;
    else
      manifest->size += list->entries[i].size;
  }
  if (layout == SP_ARTIFACT_LAYOUT_FILE) {
    memcpy(manifest->sha256, list->entries[0].sha256, sizeof manifest->sha256);
  } else {
    size_t length = 0;
    char *listing = sp_manifest_format(manifest, &length);
    if (!listing) {
      sp_manifest_free(manifest);
      return SP_ERROR_NO_MEMORY;
    }
    uint8_t digest[SP_SHA256_BYTES];
    sp_sha256_bytes(listing, length, digest);
    sp_sha256_hex(digest, manifest->sha256);
    free(listing);
  }
  *result = manifest;
  return SP_OK;
}

sp_status sp_manifest_from_entries(sp_artifact_layout layout, const sp_manifest_entry *entries, size_t count,
                                   sp_manifest **manifest) {
  *manifest = NULL;
  entry_list list = {0};
  sp_status status = SP_OK;
  for (size_t i = 0; i < count && status == SP_OK; i++) {
    status = check_relative_path(entries[i].path, "manifest entry");
    if (status == SP_OK && !is_lower_hex_digest(entries[i].sha256))
      status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "manifest entry '%s': the SHA-256 must be 64 lower-case hex "
                       "digits", entries[i].path);
    if (status == SP_OK) status = entry_list_add(&list, entries[i].path, entries[i].size, entries[i].sha256);
  }
  if (status != SP_OK) {
    entries_release(list.entries, list.count);
    return status;
  }
  return manifest_from_list(layout, &list, "manifest", manifest);
}

/* ---- hashing what is on disk ---- */

static sp_status hash_into_list(entry_list *list, const char *full_path, const char *relative_path) {
  struct stat info;
  if (lstat(full_path, &info) != 0) {
    int error = errno;
    return sp_fail(SP_ERROR_IO, "cannot stat '%s': %s", full_path, strerror(error));
  }
  if (!S_ISREG(info.st_mode))
    return sp_fail(SP_ERROR_UNSAFE, "'%s' is a %s; artifacts hold regular files only", full_path,
                   S_ISLNK(info.st_mode) ? "symbolic link" : "special file");
  SP_TRY(check_relative_path(relative_path, full_path));
  char hex[SP_SHA256_HEX];
  SP_TRY(sp_sha256_file(full_path, hex));
  return entry_list_add(list, relative_path, (uint64_t)info.st_size, hex);
}

static sp_status walk_directory(entry_list *list, const char *root, const char *relative, int depth);

static sp_status walk_child(entry_list *list, const char *root, const char *relative, const char *name, int depth) {
  char *child_relative = relative[0] ? sp_strdupf("%s/%s", relative, name) : sp_strdup(name);
  char *child_full = child_relative ? sp_path_join(root, child_relative) : NULL;
  sp_status status = child_full ? SP_OK : SP_ERROR_NO_MEMORY;
  struct stat info;
  if (status == SP_OK && lstat(child_full, &info) != 0) {
    int error = errno;
    status = sp_fail(SP_ERROR_IO, "cannot stat '%s': %s", child_full, strerror(error));
  }
  if (status == SP_OK) {
    status = S_ISDIR(info.st_mode) ? walk_directory(list, root, child_relative, depth + 1)
                                   : hash_into_list(list, child_full, child_relative);
  }
  free(child_relative);
  free(child_full);
  return status;
}

static sp_status walk_directory(entry_list *list, const char *root, const char *relative, int depth) {
  char *path = relative[0] ? sp_path_join(root, relative) : sp_strdup(root);
  if (!path) return SP_ERROR_NO_MEMORY;
  if (depth > MAX_DIRECTORY_DEPTH) {
    sp_status status = sp_fail(SP_ERROR_UNSAFE, "'%s' is nested more than %d directories deep", path,
                               MAX_DIRECTORY_DEPTH);
    free(path);
    return status;
  }
  DIR *directory = opendir(path);
  if (!directory) {
    int error = errno;
    sp_status status = sp_fail(SP_ERROR_IO, "cannot open directory '%s': %s", path, strerror(error));
    free(path);
    return status;
  }
  sp_status status = SP_OK;
  struct dirent *item;
  while (status == SP_OK && (item = readdir(directory)) != NULL) {
    const char *name = item->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || sp_path_is_temporary(name)) continue;
    if (depth == 0 && strcmp(name, SP_MANIFEST_DIRECTORY_NAME) == 0) continue;
    status = walk_child(list, root, relative, name, depth);
  }
  closedir(directory);
  free(path);
  return status;
}

/* The files "<base>.*" beside a checkpoint prefix, except its own manifest. */
static sp_status walk_prefix(entry_list *list, const char *prefix) {
  char *parent = sp_path_dirname(prefix);
  char *stem = sp_strdupf("%s.", sp_path_basename(prefix));
  char *manifest_name = sp_strdupf("%s%s", sp_path_basename(prefix), SP_MANIFEST_SIDECAR_SUFFIX);
  sp_status status = parent && stem && manifest_name ? SP_OK : SP_ERROR_NO_MEMORY;
  DIR *directory = status == SP_OK ? opendir(parent) : NULL;
  if (status == SP_OK && !directory) {
    int error = errno;
    status = sp_fail(SP_ERROR_IO, "cannot open directory '%s': %s", parent, strerror(error));
  }
  struct dirent *item;
  while (status == SP_OK && (item = readdir(directory)) != NULL) {
    const char *name = item->d_name;
    if (strncmp(name, stem, strlen(stem)) != 0 || strcmp(name, manifest_name) == 0 || sp_path_is_temporary(name))
      continue;
    char *full = sp_path_join(parent, name);
    status = full ? hash_into_list(list, full, name) : SP_ERROR_NO_MEMORY;
    free(full);
  }
  if (directory) closedir(directory);
  free(parent);
  free(stem);
  free(manifest_name);
  return status;
}

sp_status sp_manifest_compute(const char *artifact_path, sp_manifest **manifest) {
  *manifest = NULL;
  sp_artifact_layout layout;
  SP_TRY(sp_artifact_layout_of(artifact_path, &layout));
  entry_list list = {0};
  sp_status status;
  if (layout == SP_ARTIFACT_LAYOUT_DIRECTORY) {
    status = walk_directory(&list, artifact_path, "", 0);
  } else if (layout == SP_ARTIFACT_LAYOUT_PREFIX) {
    status = walk_prefix(&list, artifact_path);
  } else {
    status = hash_into_list(&list, artifact_path, sp_path_basename(artifact_path));
  }
  if (status != SP_OK) {
    entries_release(list.entries, list.count);
    return sp_error_context(status, "hashing artifact '%s'", artifact_path);
  }
  return manifest_from_list(layout, &list, artifact_path, manifest);
}

/* ---- reading and writing manifest files ---- */

static sp_status parse_line(entry_list *list, const char *line, size_t length, size_t number, const char *what) {
  if (length > 0 && line[0] == '\\')
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: line %zu: escaped file names (a leading backslash) are not supported",
                   what, number);
  if (length < 67 || (line[64] != ' ') || (line[65] != ' ' && line[65] != '*'))
    return sp_fail(SP_ERROR_FORMAT, "%s: line %zu: expected '<64 hex digits>  <file name>'", what, number);
  char hex[65];
  for (int i = 0; i < 64; i++) {
    char c = line[i];
    if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return sp_fail(SP_ERROR_FORMAT, "%s: line %zu: byte %d of the digest is not a hex digit", what, number, i + 1);
    hex[i] = c;
  }
  hex[64] = '\0';
  const char *name = line + 66;
  size_t name_length = length - 66;
  if (memchr(name, '\0', name_length))
    return sp_fail(SP_ERROR_FORMAT, "%s: line %zu: the file name holds a NUL byte", what, number);
  if (name_length >= 2 && name[0] == '.' && name[1] == '/') {
    name += 2;
    name_length -= 2;
  }
  char *path = sp_strndup(name, name_length);
  if (!path) return SP_ERROR_NO_MEMORY;
  char *where = sp_strdupf("%s: line %zu", what, number);
  sp_status status = where ? check_relative_path(path, where) : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = entry_list_add(list, path, SP_MANIFEST_SIZE_UNKNOWN, hex);
  free(where);
  free(path);
  return status;
}

sp_status sp_manifest_parse(const char *text, size_t length, const char *what, sp_manifest **manifest) {
  *manifest = NULL;
  if (length > MAX_MANIFEST_BYTES)
    return sp_fail(SP_ERROR_UNSAFE, "%s: manifest of %zu bytes is over the limit of %d bytes", what, length,
                   MAX_MANIFEST_BYTES);
  entry_list list = {0};
  sp_status status = SP_OK;
  size_t number = 0;
  for (size_t start = 0; start < length && status == SP_OK;) {
    const char *newline = memchr(text + start, '\n', length - start);
    size_t end = newline ? (size_t)(newline - text) : length;
    number++;
    status = parse_line(&list, text + start, end - start, number, what);
    start = end + 1;
  }
  if (status != SP_OK) {
    entries_release(list.entries, list.count);
    return status;
  }
  return manifest_from_list(SP_ARTIFACT_LAYOUT_DIRECTORY, &list, what, manifest);
}

sp_status sp_manifest_read(const char *artifact_path, sp_manifest **manifest) {
  *manifest = NULL;
  sp_artifact_layout layout;
  SP_TRY(sp_artifact_layout_of(artifact_path, &layout));
  char *path = sp_manifest_path(artifact_path, layout);
  if (!path) return SP_ERROR_NO_MEMORY;
  uint8_t *data = NULL;
  size_t size = 0;
  sp_status status = sp_read_file(path, MAX_MANIFEST_BYTES, &data, &size);
  sp_manifest *parsed = NULL;
  if (status == SP_OK) status = sp_manifest_parse((const char *)data, size, path, &parsed);
  free(data);
  if (status == SP_OK && layout != SP_ARTIFACT_LAYOUT_DIRECTORY) {
    /* Re-derive the whole hash under the artifact's real layout (a file's hash is its own). */
    sp_manifest *relaid = NULL;
    status = sp_manifest_from_entries(layout, parsed->entries, parsed->count, &relaid);
    if (status != SP_OK) status = sp_error_context(status, "reading '%s'", path);
    sp_manifest_free(parsed);
    parsed = relaid;
  }
  free(path);
  if (status != SP_OK) return status;
  *manifest = parsed;
  return SP_OK;
}

sp_status sp_manifest_write(const char *artifact_path, const sp_manifest *manifest) {
  char *path = sp_manifest_path(artifact_path, manifest->layout);
  size_t length = 0;
  char *text = path ? sp_manifest_format(manifest, &length) : NULL;
  sp_status status = text ? sp_write_file_atomic(path, text, length) : SP_ERROR_NO_MEMORY;
  free(text);
  free(path);
  return status;
}

sp_status sp_manifest_create(const char *artifact_path, sp_manifest **manifest) {
  sp_manifest *computed = NULL;
  SP_TRY(sp_manifest_compute(artifact_path, &computed));
  sp_status status = sp_manifest_write(artifact_path, computed);
  if (status != SP_OK || !manifest) {
    sp_manifest_free(computed);
    return status;
  }
  *manifest = computed;
  return SP_OK;
}

/* ---- comparing ---- */

static void report_problem(sp_integrity_report_function report, void *context, sp_integrity_problem problem) {
  if (report) report(&problem, context);
}

size_t sp_manifest_compare(const sp_manifest *expected, const sp_manifest *actual, const char *artifact,
                           const char *source, sp_integrity_report_function report, void *context) {
  size_t problems = 0, i = 0, j = 0;
  while (i < expected->count || j < actual->count) {
    int order = i == expected->count ? 1
                : j == actual->count ? -1
                                     : strcmp(expected->entries[i].path, actual->entries[j].path);
    sp_integrity_problem problem = {.artifact = artifact, .source = source};
    if (order < 0) {
      problem.kind = SP_INTEGRITY_MISSING;
      problem.file = expected->entries[i].path;
      problem.expected_sha256 = expected->entries[i++].sha256;
    } else if (order > 0) {
      problem.kind = SP_INTEGRITY_UNEXPECTED;
      problem.file = actual->entries[j].path;
      problem.actual_sha256 = actual->entries[j++].sha256;
    } else {
      problem.kind = SP_INTEGRITY_CHANGED;
      problem.file = expected->entries[i].path;
      problem.expected_sha256 = expected->entries[i++].sha256;
      problem.actual_sha256 = actual->entries[j++].sha256;
      if (strcmp(problem.expected_sha256, problem.actual_sha256) == 0) continue;
    }
    problems++;
    report_problem(report, context, problem);
  }
  if (problems == 0 && expected->sha256[0] && strcmp(expected->sha256, actual->sha256) != 0) {
    problems++;
    report_problem(report, context,
                   (sp_integrity_problem){.kind = SP_INTEGRITY_ARTIFACT, .artifact = artifact, .file = "",
                                          .expected_sha256 = expected->sha256,
                                          .actual_sha256 = actual->sha256, .source = source});
  }
  return problems;
}
