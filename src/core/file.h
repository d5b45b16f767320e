/* file.h — reading files and the one durable way to write them.
 *
 * Durability rule (DESIGN.md): every artifact is written under a temporary name in
 * its destination directory, flushed and fsynced, renamed over the final name, and
 * the directory is fsynced. A crash leaves the old artifact or the new one, never a
 * torn one. Temporary names look like ".<name>.tmp-XXXXXX"; sp_path_is_temporary()
 * recognises them so loaders and retention can skip them.
 */
#ifndef SP_CORE_FILE_H
#define SP_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Reads a whole file. Refuses files larger than limit bytes (SP_ERROR_UNSAFE). */
sp_status sp_read_file(const char *path, size_t limit, uint8_t **data, size_t *size) SP_MUST_CHECK;

/* Passes length bytes at offset of path (UINT64_MAX: up to its end) to consume, one chunk of
 * at most 1 MiB at a time, through one buffer; SP_ERROR_FORMAT when the range is not inside. */
sp_status sp_read_file_chunks(const char *path, uint64_t offset, uint64_t length,
                              void (*consume)(void *context, const uint8_t *bytes, size_t size),
                              void *context) SP_MUST_CHECK;

/* Reads a file of exactly size bytes into buffer (SP_ERROR_FORMAT when its size differs). */
sp_status sp_read_file_into(const char *path, void *buffer, size_t size) SP_MUST_CHECK;
int sp_path_exists(const char *path);
int sp_is_directory(const char *path);
/* 1 when path is a directory with no entries (0 when it has some, or cannot be listed). */
int sp_directory_is_empty(const char *path);
int sp_is_regular_file(const char *path);
/* File size in bytes, or an error naming the path. */
sp_status sp_file_size(const char *path, uint64_t *size);

/* Opens path read-only after checking that it is a regular file; *length receives its size. */
sp_status sp_open_regular(const char *path, int *fd, size_t *length) SP_MUST_CHECK;

/* A view of length bytes at offset of a file, mapped rather than copied (core/mapping.h: a
 * private mapping whose page tables are filled up front, so a large view costs one pass over
 * the page cache). Mapped files are ones being loaded, never ones savepoint writes in place:
 * atomic publishing replaces files by rename, so a published file does not change under its
 * view. Tensors may view the bytes too, with their own reference to the mapping. */
typedef struct sp_file_view {
  const uint8_t *data; /* length bytes; not NULL even when length is 0 */
  size_t size;
  struct sp_mapping *mapping; /* NULL for an empty view */
} sp_file_view;

/* Maps [offset, offset + length) of path; SP_ERROR_FORMAT when the range is not inside the file. */
sp_status sp_file_view_open(const char *path, uint64_t offset, uint64_t length, sp_file_view *view) SP_MUST_CHECK;
/* Drops the view's reference to its mapping (a zeroed or already-closed view is allowed). */
void sp_file_view_close(sp_file_view *view);

/* "a" + "/" + "b" as a new string (NULL on allocation failure). */
char *sp_path_join(const char *directory, const char *name);
/* The final component of a path (a pointer into path). */
const char *sp_path_basename(const char *path);
/* A new string holding the directory part of a path ("." when there is none). */
char *sp_path_dirname(const char *path);
/* 1 if path ends with suffix. */
int sp_path_has_suffix(const char *path, const char *suffix);
/* 1 for names savepoint uses for files and directories still being written. */
int sp_path_is_temporary(const char *path);

/* The names in a directory (no "." or ".."), sorted bytewise; caller frees with sp_free_names.
 * At most limit names are returned; a directory with more is an SP_ERROR_UNSAFE error. */
sp_status sp_list_directory(const char *path, size_t limit, char ***names, size_t *count) SP_MUST_CHECK;
void sp_free_names(char **names, size_t count);

/* mkdir -p. */
sp_status sp_make_directories(const char *path);
/* rm -rf; a missing path is not an error. */
sp_status sp_remove_tree(const char *path);
/* fsync a directory so that renames and creations inside it are durable. */
sp_status sp_fsync_directory(const char *path);

/* A file being written under a temporary name next to its final path. */
typedef struct sp_atomic_file {
  char *final_path;
  char *temp_path;
  int fd;
} sp_atomic_file;

sp_status sp_atomic_open(const char *final_path, sp_atomic_file *file) SP_MUST_CHECK;
/* Writes all bytes (retrying short writes); ENOSPC and friends become clear SP_ERROR_IO messages. */
sp_status sp_atomic_write(sp_atomic_file *file, const void *data, size_t size) SP_MUST_CHECK;
/* Writes all of data to fd (retrying short and interrupted writes; large writes through a small
 * buffer, see file.c); an error names path and how far it got. For files whose publishing is
 * handled elsewhere (sp_atomic_write, core/file_parts.h's staged files). */
sp_status sp_write_fd(int fd, const void *data, size_t size, const char *path) SP_MUST_CHECK;
/* Overwrites size bytes at offset of what was written so far (a header patched once the
 * bytes after it are known); the write position stays where it was. */
sp_status sp_atomic_write_at(sp_atomic_file *file, uint64_t offset, const void *data, size_t size) SP_MUST_CHECK;
/* fsync, close, rename over the final path, fsync the directory. Releases the handle either way. */
sp_status sp_atomic_commit(sp_atomic_file *file) SP_MUST_CHECK;
/* Closes and removes the temporary file; the final path is untouched. Safe after a failed commit. */
void sp_atomic_abort(sp_atomic_file *file);
/* Open, write, commit in one call. */
sp_status sp_write_file_atomic(const char *final_path, const void *data, size_t size) SP_MUST_CHECK;

/* For libraries that write by path (HDF5, libzip): a fresh temporary path beside final_path.
 * The file is created empty so the name is reserved. */
sp_status sp_temp_path_for(const char *final_path, char **temp_path) SP_MUST_CHECK;
/* fsyncs temp_path, renames it over final_path, fsyncs the directory. On failure temp_path is removed. */
sp_status sp_publish_file(const char *temp_path, const char *final_path) SP_MUST_CHECK;

/* A new empty temporary directory beside final_directory. */
sp_status sp_temp_directory_for(const char *final_directory, char **temp_directory) SP_MUST_CHECK;
/* fsyncs every file and directory under temp_directory, then publishes it as final_directory.
 * Without replace an existing final_directory is an SP_ERROR_EXISTS error; with replace the
 * old tree is swapped out atomically (renameat2 RENAME_EXCHANGE) and then removed. */
sp_status sp_publish_directory(const char *temp_directory, const char *final_directory, int replace) SP_MUST_CHECK;

#endif
