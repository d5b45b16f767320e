/* file_parts.h — files read and written in parts, straight between caller memory and the file.
 *
 * Formats that spread one array over several files (TF.js weight shards) use these to move bytes
 * without an intermediate buffer the size of the model:
 *  - sp_read_file_span copies a span of a file into the caller's memory (pread), after checking
 *    that the file is still a regular file of the size the caller validated against its manifest,
 *    and fails on a short read; nothing is ever read past what the caller asked for.
 *  - sp_staged_file writes a file inside a directory that is still being built under a temporary
 *    name (sp_temp_directory_for, core/file.h). Such a file is never visible under a final name by
 *    itself, so it is not fsynced and renamed one by one: closing it starts the kernel's
 *    writeback (sync_file_range) so the disk sees one stream, and sp_publish_directory fsyncs the
 *    whole tree before the rename that makes it visible. The durability rule of core/file.h holds.
 */
#ifndef SP_CORE_FILE_PARTS_H
#define SP_CORE_FILE_PARTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Reads [offset, offset + size) of path into buffer. The file must be a regular file (not a
 * symbolic link) of exactly file_size bytes and the span must lie inside it; otherwise an
 * SP_ERROR_IO error says the file changed since it was checked. */
sp_status sp_read_file_span(const char *path, uint64_t file_size, uint64_t offset, void *buffer,
                            size_t size) SP_MUST_CHECK;

/* A file being written inside an unpublished temporary directory. */
typedef struct sp_staged_file {
  char *path;
  int fd;
} sp_staged_file;

/* Creates temp_directory/name (which must not exist). temp_directory must be a temporary name
 * (sp_path_is_temporary): final paths are only ever written through core/file.h's atomic helpers. */
sp_status sp_staged_file_open(const char *temp_directory, const char *name, sp_staged_file *file) SP_MUST_CHECK;
/* Writes all bytes (retrying short writes); failures name the file and how far it got. */
sp_status sp_staged_file_write(sp_staged_file *file, const void *data, size_t size) SP_MUST_CHECK;
/* Starts writeback of the file's pages and closes it (no fsync: publishing the directory does
 * that). Releases the handle either way. */
sp_status sp_staged_file_close(sp_staged_file *file) SP_MUST_CHECK;
/* Closes and removes the file (a zeroed or closed file is allowed). */
void sp_staged_file_abort(sp_staged_file *file);

#endif
