/* file.c — file reading and the write-fsync-rename path (see file.h). */
#include "core/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mapping.h"
#include "core/memory.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static const char temporary_marker[] = ".tmp-";

static sp_status io_failure(const char *action, const char *path) {
  int error = errno;
  return sp_fail(SP_ERROR_IO, "%s '%s': %s", action, path, strerror(error));
}

sp_status sp_open_regular(const char *path, int *fd, size_t *length) {
  *fd = open(path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0) {
    if (errno == ENOENT) return sp_fail(SP_ERROR_NOT_FOUND, "no such file '%s'", path);
    return io_failure("cannot open", path);
  }
  struct stat info;
  sp_status status = SP_OK;
  if (fstat(*fd, &info) != 0) status = io_failure("cannot stat", path);
  else if (!S_ISREG(info.st_mode)) status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "'%s' is not a regular file", path);
  if (status != SP_OK) {
    close(*fd);
    *fd = -1;
    return status;
  }
  *length = (size_t)info.st_size;
  return SP_OK;
}

/* Reads exactly length bytes from fd into buffer. */
static sp_status read_exactly(int fd, const char *path, uint8_t *buffer, size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t got = read(fd, buffer + done, length - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0)
      return got < 0 ? io_failure("cannot read", path) : sp_fail(SP_ERROR_IO, "'%s' shrank while being read", path);
    done += (size_t)got;
  }
  return SP_OK;
}

sp_status sp_read_file(const char *path, size_t limit, uint8_t **data, size_t *size) {
  *data = NULL;
  *size = 0;
  int fd;
  size_t length;
  SP_TRY(sp_open_regular(path, &fd, &length));
  if (length > limit) {
    close(fd);
    return sp_fail(SP_ERROR_UNSAFE, "'%s' is %zu bytes, over the limit of %zu bytes", path, length, limit);
  }
  uint8_t *buffer = sp_alloc(length + 1);
  sp_status status = buffer ? read_exactly(fd, path, buffer, length) : SP_ERROR_NO_MEMORY;
  close(fd);
  if (status != SP_OK) {
    free(buffer);
    return status;
  }
  buffer[length] = '\0'; /* convenient for text; not counted in size */
  *data = buffer;
  *size = length;
  return SP_OK;
}

sp_status sp_read_file_chunks(const char *path, uint64_t offset, uint64_t length,
                              void (*consume)(void *context, const uint8_t *bytes, size_t size), void *context) {
  enum { CHUNK = 1 << 20 };
  int fd;
  size_t file_length;
  SP_TRY(sp_open_regular(path, &fd, &file_length));
  if (length == UINT64_MAX) length = offset < file_length ? file_length - offset : 0;
  uint8_t *buffer = sp_alloc(CHUNK);
  sp_status status = buffer ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK && (offset > file_length || length > file_length - offset))
    status = sp_fail(SP_ERROR_FORMAT, "'%s': %llu bytes at byte %llu are not inside its %zu bytes", path,
                     (unsigned long long)length, (unsigned long long)offset, file_length);
  while (status == SP_OK && length > 0) {
    size_t wanted = length < CHUNK ? (size_t)length : CHUNK;
    ssize_t got = pread(fd, buffer, wanted, (off_t)offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      status = got < 0 ? io_failure("cannot read", path) : sp_fail(SP_ERROR_IO, "'%s' shrank while being read", path);
      break;
    }
    consume(context, buffer, (size_t)got);
    offset += (uint64_t)got;
    length -= (uint64_t)got;
  }
  free(buffer);
  close(fd);
  return status;
}

sp_status sp_read_file_into(const char *path, void *buffer, size_t size) {
  int fd;
  size_t length;
  SP_TRY(sp_open_regular(path, &fd, &length));
  sp_status status = length == size ? read_exactly(fd, path, buffer, size)
                                    : sp_fail(SP_ERROR_FORMAT, "'%s' is %zu bytes, expected %zu", path, length, size);
  close(fd);
  return status;
}

int sp_path_exists(const char *path) {
  struct stat info;
  return lstat(path, &info) == 0;
}

int sp_is_directory(const char *path) {
  struct stat info;
  return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

int sp_directory_is_empty(const char *path) {
  DIR *directory = opendir(path);
  if (!directory) return 0;
  int empty = 1;
  for (struct dirent *entry; empty && (entry = readdir(directory));)
    empty = strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0;
  closedir(directory);
  return empty;
}

int sp_is_regular_file(const char *path) {
  struct stat info;
  return stat(path, &info) == 0 && S_ISREG(info.st_mode);
}

sp_status sp_file_size(const char *path, uint64_t *size) {
  struct stat info;
  if (stat(path, &info) != 0) {
    if (errno == ENOENT) return sp_fail(SP_ERROR_NOT_FOUND, "no such file '%s'", path);
    return io_failure("cannot stat", path);
  }
  *size = (uint64_t)info.st_size;
  return SP_OK;
}

sp_status sp_file_view_open(const char *path, uint64_t offset, uint64_t length, sp_file_view *view) {
  static const uint8_t empty[1];
  *view = (sp_file_view){.data = empty};
  if (length > 0) {
    const uint8_t *data;
    SP_TRY(sp_mapping_open(path, offset, length, &view->mapping, &data));
    *view = (sp_file_view){.data = data, .size = (size_t)length, .mapping = view->mapping};
    return SP_OK;
  }
  uint64_t file_length;
  SP_TRY(sp_file_size(path, &file_length));
  if (offset > file_length)
    return sp_fail(SP_ERROR_FORMAT, "'%s': byte %llu is past its end (%llu bytes)", path, (unsigned long long)offset,
                   (unsigned long long)file_length);
  return SP_OK;
}

void sp_file_view_close(sp_file_view *view) {
  sp_mapping_release(view->mapping);
  view->mapping = NULL;
  view->size = 0;
}

char *sp_path_join(const char *directory, const char *name) {
  size_t length = strlen(directory);
  if (length == 0) return sp_strdup(name);
  const char *separator = directory[length - 1] == '/' ? "" : "/";
  return sp_strdupf("%s%s%s", directory, separator, name);
}

const char *sp_path_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

char *sp_path_dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return sp_strdup(".");
  if (slash == path) return sp_strdup("/");
  return sp_strndup(path, (size_t)(slash - path));
}

int sp_path_has_suffix(const char *path, const char *suffix) {
  size_t path_length = strlen(path), suffix_length = strlen(suffix);
  return path_length >= suffix_length && strcmp(path + path_length - suffix_length, suffix) == 0;
}

int sp_path_is_temporary(const char *path) {
  const char *name = sp_path_basename(path);
  return name[0] == '.' && strstr(name, temporary_marker) != NULL;
}

sp_status sp_make_directories(const char *path) {
  char *copy = sp_strdup(path);
  if (!copy) return SP_ERROR_NO_MEMORY;
  for (char *cursor = copy + 1; ; cursor++) {
    if (*cursor != '/' && *cursor != '\0') continue;
    char saved = *cursor;
    *cursor = '\0';
    if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
      sp_status status = io_failure("cannot create directory", copy);
      free(copy);
      return status;
    }
    *cursor = saved;
    if (saved == '\0') break;
  }
  free(copy);
  if (!sp_is_directory(path)) return sp_fail(SP_ERROR_IO, "'%s' exists and is not a directory", path);
  return SP_OK;
}

static sp_status fsync_tree(const char *path);

/* Calls visit on every entry of a directory but "." and "..", stopping at the first failure. */
static sp_status for_each_child(const char *path, sp_status (*visit)(const char *child)) {
  DIR *directory = opendir(path);
  if (!directory) return io_failure("cannot open directory", path);
  sp_status status = SP_OK;
  struct dirent *entry;
  while (status == SP_OK && (entry = readdir(directory)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    char *child = sp_path_join(path, entry->d_name);
    status = child ? visit(child) : SP_ERROR_NO_MEMORY;
    free(child);
  }
  closedir(directory);
  return status;
}

sp_status sp_remove_tree(const char *path) {
  struct stat info;
  if (lstat(path, &info) != 0) return errno == ENOENT ? SP_OK : io_failure("cannot stat", path);
  if (!S_ISDIR(info.st_mode)) return unlink(path) == 0 ? SP_OK : io_failure("cannot remove", path);
  sp_status status = for_each_child(path, sp_remove_tree);
  if (status == SP_OK && rmdir(path) != 0) status = io_failure("cannot remove directory", path);
  return status;
}

static sp_status fsync_path(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0) return io_failure("cannot open for fsync", path);
  sp_status status = SP_OK;
  if (fsync(fd) != 0 && errno != EINVAL) status = io_failure("cannot fsync", path);
  close(fd);
  return status;
}

sp_status sp_fsync_directory(const char *path) { return fsync_path(path, O_RDONLY | O_DIRECTORY); }

static sp_status fsync_parent(const char *path) {
  char *parent = sp_path_dirname(path);
  if (!parent) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_fsync_directory(parent);
  free(parent);
  return status;
}

/* mkstemp/mkdtemp template ".<base>.tmp-XXXXXX" in the directory of final_path. */
static char *temporary_template(const char *final_path) {
  char *parent = sp_path_dirname(final_path);
  if (!parent) return NULL;
  char *name = sp_strdupf("%s/.%s%sXXXXXX", parent, sp_path_basename(final_path), temporary_marker);
  free(parent);
  return name;
}

sp_status sp_atomic_open(const char *final_path, sp_atomic_file *file) {
  memset(file, 0, sizeof *file);
  file->fd = -1;
  file->final_path = sp_strdup(final_path);
  file->temp_path = temporary_template(final_path);
  if (!file->final_path || !file->temp_path) {
    sp_atomic_abort(file);
    return SP_ERROR_NO_MEMORY;
  }
  file->fd = mkstemp(file->temp_path);
  if (file->fd < 0) {
    sp_status status = io_failure("cannot create a temporary file for", final_path);
    free(file->temp_path);
    file->temp_path = NULL;
    sp_atomic_abort(file);
    return status;
  }
  fchmod(file->fd, 0644);
  return SP_OK;
}

static sp_status write_all(int fd, const void *data, size_t size, const char *path) {
  const uint8_t *cursor = data;
  size_t done = 0;
  while (done < size) {
    ssize_t wrote = write(fd, cursor + done, size - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) {
      int error = errno;
      return sp_fail(SP_ERROR_IO, "writing '%s' failed after %zu of %zu bytes: %s", path, done, size,
                     strerror(error));
    }
    done += (size_t)wrote;
  }
  return SP_OK;
}

/* Large writes go out through a small buffer rather than in one write() from the caller's
 * memory: on the VMs we measured (bench/bench_save, 1 GiB .keras save), the kernel copying
 * straight from a large user buffer took 3.0 s of write() where copying it in user space into
 * a 256 KiB buffer that the kernel keeps reading took 1.6 s in all. */
enum { BOUNCE_BYTES = 256 << 10 };

sp_status sp_write_fd(int fd, const void *data, size_t size, const char *path) {
  uint8_t *bounce = size >= 4 * BOUNCE_BYTES ? malloc(BOUNCE_BYTES) : NULL;
  if (!bounce) return write_all(fd, data, size, path);
  const uint8_t *bytes = data;
  sp_status status = SP_OK;
  for (size_t done = 0; status == SP_OK && done < size; done += BOUNCE_BYTES) {
    size_t length = size - done < BOUNCE_BYTES ? size - done : BOUNCE_BYTES;
    memcpy(bounce, bytes + done, length);
    status = write_all(fd, bounce, length, path);
  }
  free(bounce);
  return status;
}

sp_status sp_atomic_write(sp_atomic_file *file, const void *data, size_t size) {
  if (file->fd < 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "write to a closed atomic file");
  return sp_write_fd(file->fd, data, size, file->final_path);
}

sp_status sp_atomic_write_at(sp_atomic_file *file, uint64_t offset, const void *data, size_t size) {
  if (file->fd < 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "write to a closed atomic file");
  const uint8_t *cursor = data;
  for (size_t done = 0; done < size;) {
    ssize_t wrote = pwrite(file->fd, cursor + done, size - done, (off_t)(offset + done));
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) {
      int error = errno;
      return sp_fail(SP_ERROR_IO, "writing '%s' at byte %llu failed: %s", file->final_path,
                     (unsigned long long)offset, strerror(error));
    }
    done += (size_t)wrote;
  }
  return SP_OK;
}

sp_status sp_atomic_commit(sp_atomic_file *file) {
  sp_status status = SP_OK;
  if (fsync(file->fd) != 0) status = io_failure("cannot fsync", file->final_path);
  if (close(file->fd) != 0 && status == SP_OK) status = io_failure("cannot close", file->final_path);
  file->fd = -1;
  if (status == SP_OK && rename(file->temp_path, file->final_path) != 0)
    status = io_failure("cannot rename temporary file over", file->final_path);
  if (status == SP_OK) status = fsync_parent(file->final_path);
  if (status == SP_OK) {
    free(file->temp_path);
    file->temp_path = NULL;
  }
  sp_atomic_abort(file);
  return status;
}

void sp_atomic_abort(sp_atomic_file *file) {
  if (file->fd >= 0) close(file->fd);
  if (file->temp_path) unlink(file->temp_path);
  free(file->temp_path);
  free(file->final_path);
  file->fd = -1;
  file->temp_path = NULL;
  file->final_path = NULL;
}

sp_status sp_write_file_atomic(const char *final_path, const void *data, size_t size) {
  sp_atomic_file file;
  SP_TRY(sp_atomic_open(final_path, &file));
  sp_status status = sp_atomic_write(&file, data, size);
  if (status != SP_OK) {
    sp_atomic_abort(&file);
    return status;
  }
  return sp_atomic_commit(&file);
}

sp_status sp_temp_path_for(const char *final_path, char **temp_path) {
  sp_atomic_file file;
  SP_TRY(sp_atomic_open(final_path, &file));
  close(file.fd);
  file.fd = -1;
  *temp_path = file.temp_path;
  file.temp_path = NULL;
  sp_atomic_abort(&file);
  return SP_OK;
}

sp_status sp_publish_file(const char *temp_path, const char *final_path) {
  sp_status status = fsync_path(temp_path, O_RDONLY);
  if (status == SP_OK && rename(temp_path, final_path) != 0)
    status = io_failure("cannot rename temporary file over", final_path);
  if (status != SP_OK) {
    unlink(temp_path);
    return status;
  }
  return fsync_parent(final_path);
}

sp_status sp_temp_directory_for(const char *final_directory, char **temp_directory) {
  char *name = temporary_template(final_directory);
  if (!name) return SP_ERROR_NO_MEMORY;
  if (!mkdtemp(name)) {
    sp_status status = io_failure("cannot create a temporary directory for", final_directory);
    free(name);
    return status;
  }
  /* mkdtemp makes it 0700; once published it is an artifact others read (a model server running as
   * another user), so it gets the permissions files get (0644) plus search. */
  chmod(name, 0755);
  *temp_directory = name;
  return SP_OK;
}

/* fsync every regular file and directory below path (inclusive). */
static sp_status fsync_tree(const char *path) {
  struct stat info;
  if (lstat(path, &info) != 0) return io_failure("cannot stat", path);
  if (S_ISREG(info.st_mode)) return fsync_path(path, O_RDONLY);
  if (!S_ISDIR(info.st_mode)) return SP_OK;
  sp_status status = for_each_child(path, fsync_tree);
  return status == SP_OK ? sp_fsync_directory(path) : status;
}

static int rename_with_flags(const char *from, const char *to, unsigned flags) {
  return renameat2(AT_FDCWD, from, AT_FDCWD, to, flags);
}

sp_status sp_publish_directory(const char *temp_directory, const char *final_directory, int replace) {
  SP_TRY(fsync_tree(temp_directory));
  if (rename_with_flags(temp_directory, final_directory, RENAME_NOREPLACE) == 0)
    return fsync_parent(final_directory);
  if (errno != EEXIST) return io_failure("cannot publish directory", final_directory);
  if (!replace)
    return sp_fail(SP_ERROR_EXISTS, "'%s' already exists; refusing to overwrite it", final_directory);
  if (rename_with_flags(temp_directory, final_directory, RENAME_EXCHANGE) != 0)
    return io_failure("cannot swap in the new directory", final_directory);
  SP_TRY(fsync_parent(final_directory));
  /* temp_directory now holds the previous tree. */
  return sp_remove_tree(temp_directory);
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void sp_free_names(char **names, size_t count) {
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
}

sp_status sp_list_directory(const char *path, size_t limit, char ***names, size_t *count) {
  *names = NULL;
  *count = 0;
  DIR *directory = opendir(path);
  if (!directory) {
    if (errno == ENOENT) return sp_fail(SP_ERROR_NOT_FOUND, "no such directory '%s'", path);
    return io_failure("cannot list", path);
  }
  char **list = NULL;
  size_t used = 0, capacity = 0;
  sp_status status = SP_OK;
  struct dirent *entry;
  while ((entry = readdir(directory)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    if (used == limit) {
      status = sp_fail(SP_ERROR_UNSAFE, "'%s' holds more than %zu entries", path, limit);
      break;
    }
    if ((status = SP_RESERVE(list, capacity, used + 1)) != SP_OK) break;
    if (!(list[used] = sp_strdup(entry->d_name))) {
      status = SP_ERROR_NO_MEMORY;
      break;
    }
    used++;
  }
  closedir(directory);
  if (status != SP_OK) {
    sp_free_names(list, used);
    return status;
  }
  if (used) qsort(list, used, sizeof *list, compare_names);
  *names = list;
  *count = used;
  return SP_OK;
}
