/* version_watch.c — version directories and their listing fingerprints (see version_watch.h).
 *
 * Nothing here opens a file for reading: a fingerprint is metadata only (lstat), so polling a
 * large model costs one stat per file. Symbolic links are fingerprinted as links, never followed.
 */
#include "serve/version_watch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/memory.h"
#include "savepoint/manifest.h"

int sp_watch_parse_version(const char *name, int64_t *version) {
  if (!name[0]) return 0;
  int64_t value = 0;
  for (const char *c = name; *c; c++) {
    if (*c < '0' || *c > '9') return 0;
    if (value > (INT64_MAX - (*c - '0')) / 10) return 0;
    value = value * 10 + (*c - '0');
  }
  *version = value;
  return 1;
}

void sp_version_directories_free(sp_version_directory *versions, size_t count) {
  for (size_t i = 0; versions && i < count; i++) free(versions[i].path);
  free(versions);
}

static int compare_descending(const void *a, const void *b) {
  int64_t x = ((const sp_version_directory *)a)->version, y = ((const sp_version_directory *)b)->version;
  return (x < y) - (x > y);
}

sp_status sp_watch_versions(const char *base_path, sp_version_directory **versions, size_t *count, char **note) {
  *versions = NULL;
  *count = 0;
  if (note) *note = NULL;
  char **names = NULL;
  size_t name_count = 0;
  SP_TRY(sp_list_directory(base_path, SP_WATCH_MAX_VERSIONS, &names, &name_count));
  sp_version_directory *found = sp_alloc_zeroed(name_count + 1, sizeof *found);
  sp_status status = found ? SP_OK : SP_ERROR_NO_MEMORY;
  size_t used = 0;
  for (size_t i = 0; status == SP_OK && i < name_count; i++) {
    int64_t version;
    if (!sp_watch_parse_version(names[i], &version)) continue;
    char *path = sp_path_join(base_path, names[i]);
    if (!path) {
      status = SP_ERROR_NO_MEMORY;
      break;
    }
    int duplicate = 0;
    for (size_t j = 0; j < used && !duplicate; j++) duplicate = found[j].version == version;
    if (!sp_is_directory(path) || duplicate) {
      if (duplicate && note && !*note)
        *note = sp_strdupf("'%s' names version %" PRId64 " again; it is ignored", path, version);
      free(path);
      continue;
    }
    found[used].version = version;
    found[used++].path = path;
  }
  sp_free_names(names, name_count);
  if (status != SP_OK) {
    sp_version_directories_free(found, used);
    return status;
  }
  qsort(found, used, sizeof *found, compare_descending);
  *versions = found;
  *count = used;
  return SP_OK;
}

/* ---------- fingerprints ---------- */

typedef struct walk {
  sp_sha256 *hash;
  sp_directory_fingerprint *result;
} walk;

static sp_status walk_tree(walk *state, const char *path, const char *relative, int depth) {
  if (depth > SP_WATCH_MAX_DEPTH)
    return sp_fail(SP_ERROR_UNSAFE, "'%s' is nested more than %d directories deep", path, SP_WATCH_MAX_DEPTH);
  char **names = NULL;
  size_t count = 0;
  SP_TRY(sp_list_directory(path, SP_WATCH_MAX_FILES, &names, &count));
  sp_status status = SP_OK;
  for (size_t i = 0; status == SP_OK && i < count; i++) {
    char *child = sp_path_join(path, names[i]);
    char *child_relative = relative[0] ? sp_strdupf("%s/%s", relative, names[i]) : sp_strdup(names[i]);
    struct stat info;
    if (!child || !child_relative)
      status = SP_ERROR_NO_MEMORY;
    else if (lstat(child, &info) != 0)
      status = SP_OK; /* vanished between listing and stat: the next poll differs */
    else if (++state->result->files > SP_WATCH_MAX_FILES)
      status = sp_fail(SP_ERROR_UNSAFE, "'%s' holds more than %d entries", path, SP_WATCH_MAX_FILES);
    else {
      char type = S_ISDIR(info.st_mode) ? 'd' : S_ISREG(info.st_mode) ? 'f' : S_ISLNK(info.st_mode) ? 'l' : 'o';
      char line[128];
      int length = snprintf(line, sizeof line, "%c %" PRIu64 " %lld.%09ld %" PRIu64 "\n", type, (uint64_t)info.st_size,
                            (long long)info.st_mtim.tv_sec, (long)info.st_mtim.tv_nsec, (uint64_t)info.st_ino);
      sp_sha256_update(state->hash, child_relative, strlen(child_relative) + 1);
      sp_sha256_update(state->hash, line, (size_t)length);
      if (type == 'f') state->result->bytes += (uint64_t)info.st_size;
      if (depth == 0 && type == 'f' && strcmp(names[i], SP_MANIFEST_DIRECTORY_NAME) == 0)
        state->result->has_manifest = 1;
      if (type == 'd') status = walk_tree(state, child, child_relative, depth + 1);
    }
    free(child);
    free(child_relative);
  }
  sp_free_names(names, count);
  return status;
}

sp_status sp_watch_fingerprint(const char *directory, sp_directory_fingerprint *fingerprint) {
  memset(fingerprint, 0, sizeof *fingerprint);
  walk state = {sp_sha256_new(), fingerprint};
  if (!state.hash) return sp_fail(SP_ERROR_NO_MEMORY, "cannot start a SHA-256");
  sp_status status = walk_tree(&state, directory, "", 0);
  uint8_t digest[SP_SHA256_BYTES];
  sp_sha256_finish(state.hash, digest);
  if (status == SP_OK) sp_sha256_hex(digest, fingerprint->sha256);
  return status;
}
