/* version_watch.h — what a model's base path holds, poll after poll: its version directories
 * and, for each, a fingerprint of its complete listing.
 *
 * A version directory is a child of the base path whose whole name is decimal digits (as
 * TF Serving parses it: "00000123" is version 123); other names — temporary ".x.tmp-…" names
 * savepoint writes, "tmp", files — are ignored. Two names for one number ("123" and "0123")
 * are ambiguous: the first in byte order is used and the other reported.
 *
 * The fingerprint is the SHA-256 of every entry under the directory (relative path, type,
 * size, modification time to the nanosecond, inode), walked in sorted order. A directory is
 * "unchanged across two polls" when two consecutive fingerprints are equal: no file was added,
 * removed, grown or rewritten in between. That is the readiness rule for directories copied
 * in without a manifest.
 */
#ifndef SP_SERVE_VERSION_WATCH_H
#define SP_SERVE_VERSION_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

enum {
  SP_WATCH_MAX_VERSIONS = 100000, /* entries in a base path */
  SP_WATCH_MAX_FILES = 100000,    /* entries under one version directory */
  SP_WATCH_MAX_DEPTH = 32
};

typedef struct sp_version_directory {
  int64_t version;
  char *path; /* base_path/<name> */
} sp_version_directory;

/* The version directories of base_path, highest version first. A missing base path is an
 * SP_ERROR_NOT_FOUND. note (may be NULL) receives a new string about ignored ambiguous names. */
sp_status sp_watch_versions(const char *base_path, sp_version_directory **versions, size_t *count,
                            char **note) SP_MUST_CHECK;
void sp_version_directories_free(sp_version_directory *versions, size_t count);

typedef struct sp_directory_fingerprint {
  char sha256[65];
  uint64_t files;
  uint64_t bytes;
  int has_manifest; /* savepoint.sha256 at the top */
} sp_directory_fingerprint;

/* Fingerprints the tree under directory (see above). */
sp_status sp_watch_fingerprint(const char *directory, sp_directory_fingerprint *fingerprint) SP_MUST_CHECK;

/* 1 when name is all decimal digits and fits int64; *version receives the number. */
int sp_watch_parse_version(const char *name, int64_t *version);

#endif
