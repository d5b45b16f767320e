/* file_parts.c — span reads and staged writes (see file_parts.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sync_file_range */
#endif
#include "core/file_parts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/memory.h"

sp_status sp_read_file_span(const char *path, uint64_t file_size, uint64_t offset, void *buffer, size_t size) {
  if (offset > file_size || size > file_size - offset)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "reading %zu bytes at offset %llu of '%s', which holds %llu", size,
                   (unsigned long long)offset, path, (unsigned long long)file_size);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int error = errno;
    return sp_fail(SP_ERROR_IO, "cannot open '%s': %s", path, strerror(error));
  }
  struct stat info;
  sp_status status = SP_OK;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || (uint64_t)info.st_size != file_size)
    status = sp_fail(SP_ERROR_IO, "'%s' changed while it was read (expected a regular file of %llu bytes)", path,
                     (unsigned long long)file_size);
  uint8_t *cursor = buffer;
  size_t done = 0;
  while (status == SP_OK && done < size) {
    ssize_t got = pread(fd, cursor + done, size - done, (off_t)(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int error = errno;
      status = sp_fail(SP_ERROR_IO, "reading '%s' at offset %llu failed: %s", path,
                       (unsigned long long)(offset + done), strerror(error));
    } else if (got == 0) {
      status = sp_fail(SP_ERROR_IO, "'%s' ended at offset %llu while it was read (expected %llu bytes)", path,
                       (unsigned long long)(offset + done), (unsigned long long)file_size);
    } else {
      done += (size_t)got;
    }
  }
  close(fd);
  return status;
}

sp_status sp_staged_file_open(const char *temp_directory, const char *name, sp_staged_file *file) {
  file->path = NULL;
  file->fd = -1;
  if (!sp_path_is_temporary(temp_directory))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "'%s' is not a temporary directory; staged files are only written "
                   "inside one (final paths are written through core/file.h's atomic helpers)", temp_directory);
  file->path = sp_path_join(temp_directory, name);
  if (!file->path) return SP_ERROR_NO_MEMORY;
  file->fd = open(file->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (file->fd < 0) {
    int error = errno;
    sp_status status = sp_fail(SP_ERROR_IO, "cannot create '%s': %s", file->path, strerror(error));
    free(file->path);
    file->path = NULL;
    return status;
  }
  return SP_OK;
}

sp_status sp_staged_file_write(sp_staged_file *file, const void *data, size_t size) {
  if (file->fd < 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "write to a closed staged file");
  return sp_write_fd(file->fd, data, size, file->path);
}

sp_status sp_staged_file_close(sp_staged_file *file) {
  if (file->fd < 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "close of a closed staged file");
  /* Only a hint that the pages can go to disk now, while the next file is written; errors that
   * matter are reported by the fsync that publishing does. */
  (void)sync_file_range(file->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  sp_status status = SP_OK;
  if (close(file->fd) != 0) {
    int error = errno;
    status = sp_fail(SP_ERROR_IO, "cannot close '%s': %s", file->path, strerror(error));
  }
  file->fd = -1;
  free(file->path);
  file->path = NULL;
  return status;
}

void sp_staged_file_abort(sp_staged_file *file) {
  if (file->fd >= 0) close(file->fd);
  if (file->path) unlink(file->path);
  free(file->path);
  file->fd = -1;
  file->path = NULL;
}
