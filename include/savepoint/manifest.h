/* manifest.h — artifact hashing and integrity manifests (file → SHA-256).
 *
 * An artifact is one of three layouts:
 *   file       a single file (model.keras, model.h5, model.weights.h5);
 *   directory  a tree (a SavedModel export, a serving version directory, a TF.js model);
 *   prefix     a TF checkpoint "<dir>/ckpt-3": the files "<dir>/ckpt-3.*" (index and data shards).
 *
 * A manifest lists every file of the artifact with its SHA-256, in the format sha256sum
 * writes ("<64 lower-case hex>  <relative path>\n", one line per file, sorted by path
 * bytewise), so `sha256sum -c` checks it with no savepoint installed. It is stored:
 *   directory  DIR/savepoint.sha256        (paths relative to DIR; run sha256sum -c inside DIR)
 *   file       FILE.sha256                 (the file's base name; run sha256sum -c beside it)
 *   prefix     PREFIX.sha256               (base names "ckpt-3.index", …; beside them)
 * Temporary names (".x.tmp-XXXXXX", see sp_path_is_temporary) and the manifest itself are
 * never listed.
 *
 * The whole-artifact SHA-256:
 *   file       the SHA-256 of the file itself (what `sha256sum model.keras` prints);
 *   directory, prefix   the SHA-256 of the canonical listing above, i.e. of the manifest
 *              file savepoint writes (what `sha256sum savepoint.sha256` prints).
 * Renaming a single file keeps its hash; renaming a file inside a directory changes it.
 */
#ifndef SAVEPOINT_MANIFEST_H
#define SAVEPOINT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "savepoint/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SP_MANIFEST_DIRECTORY_NAME "savepoint.sha256"
#define SP_MANIFEST_SIDECAR_SUFFIX ".sha256"
/* Size of an entry read from a manifest file (the sha256sum format carries no sizes). */
#define SP_MANIFEST_SIZE_UNKNOWN UINT64_MAX

typedef enum sp_artifact_layout {
  SP_ARTIFACT_LAYOUT_FILE = 0,
  SP_ARTIFACT_LAYOUT_DIRECTORY = 1,
  SP_ARTIFACT_LAYOUT_PREFIX = 2
} sp_artifact_layout;

/* "file", "directory", "prefix". */
const char *sp_artifact_layout_name(sp_artifact_layout layout);

typedef struct sp_manifest_entry {
  char *path;       /* relative, '/'-separated, never absolute, never with ".." */
  uint64_t size;    /* bytes, or SP_MANIFEST_SIZE_UNKNOWN */
  char sha256[65];  /* 64 lower-case hex digits */
} sp_manifest_entry;

typedef struct sp_manifest {
  sp_artifact_layout layout;
  sp_manifest_entry *entries; /* sorted by path (strcmp), no duplicates */
  size_t count;
  uint64_t size;              /* sum of entry sizes, or SP_MANIFEST_SIZE_UNKNOWN */
  char sha256[65];            /* the whole-artifact hash defined above */
} sp_manifest;

/* Which layout path has: a directory, a regular file, or a checkpoint prefix (PATH.index
 * exists). SP_ERROR_NOT_FOUND when it is none of them. */
sp_status sp_artifact_layout_of(const char *path, sp_artifact_layout *layout);

/* Hashes every file of the artifact at path (streaming; nothing is loaded whole).
 * Symbolic links and special files inside an artifact are refused (SP_ERROR_UNSAFE), as are
 * names the sha256sum format cannot carry unescaped (newline, carriage return, backslash). */
sp_status sp_manifest_compute(const char *artifact_path, sp_manifest **manifest);

/* Where the manifest of an artifact with this layout lives (a new string). */
char *sp_manifest_path(const char *artifact_path, sp_artifact_layout layout);

/* Writes the manifest of the artifact at artifact_path atomically (see core/file.h). For a
 * directory being built under a temporary name, call it on the temporary directory before
 * publishing it, so the manifest appears with the artifact. */
sp_status sp_manifest_write(const char *artifact_path, const sp_manifest *manifest);

/* sp_manifest_compute + sp_manifest_write; *manifest (when not NULL) receives the result. */
sp_status sp_manifest_create(const char *artifact_path, sp_manifest **manifest);

/* Reads the manifest stored with the artifact. SP_ERROR_NOT_FOUND when there is none. */
sp_status sp_manifest_read(const char *artifact_path, sp_manifest **manifest);

/* Parses manifest text (hostile input: every line is checked; names may not escape the
 * artifact). what names the text in messages. The layout is set to directory. */
sp_status sp_manifest_parse(const char *text, size_t length, const char *what, sp_manifest **manifest);

/* The canonical listing (the manifest file's bytes) as a new NUL-terminated string. */
char *sp_manifest_format(const sp_manifest *manifest, size_t *length);

/* A new manifest from entries (copied, sorted, checked); the whole hash is computed. */
sp_status sp_manifest_from_entries(sp_artifact_layout layout, const sp_manifest_entry *entries, size_t count,
                                   sp_manifest **manifest);

void sp_manifest_free(sp_manifest *manifest);

/* --- comparing what was recorded with what is on disk --- */

typedef enum sp_integrity_problem_kind {
  SP_INTEGRITY_CHANGED = 0,    /* the file's bytes differ */
  SP_INTEGRITY_MISSING = 1,    /* listed but absent */
  SP_INTEGRITY_UNEXPECTED = 2, /* present but not listed */
  SP_INTEGRITY_ARTIFACT = 3    /* the whole-artifact hash differs from the recorded one */
} sp_integrity_problem_kind;

/* "changed", "missing", "unexpected", "artifact hash differs". */
const char *sp_integrity_problem_name(sp_integrity_problem_kind kind);

typedef struct sp_integrity_problem {
  sp_integrity_problem_kind kind;
  const char *artifact;        /* the artifact path as given */
  const char *file;            /* relative path inside the artifact ("" for SP_INTEGRITY_ARTIFACT) */
  const char *expected_sha256; /* NULL for an unexpected file */
  const char *actual_sha256;   /* NULL for a missing file */
  const char *source;          /* what held the expectation: "manifest", "registry artifact 12" */
} sp_integrity_problem;

typedef void (*sp_integrity_report_function)(const sp_integrity_problem *problem, void *context);

/* Reports every difference between expected and actual (report may be NULL); returns how many. */
size_t sp_manifest_compare(const sp_manifest *expected, const sp_manifest *actual, const char *artifact,
                           const char *source, sp_integrity_report_function report, void *context);

#ifdef __cplusplus
}
#endif
#endif
