/* mapping.c — reference-counted private file mappings and the tensors that view them
 * (see mapping.h). */
#include "core/mapping.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/memory.h"

struct sp_mapping {
  void *base; /* page-aligned */
  size_t size;
  atomic_int references;
};

static const int map_protection = PROT_READ | PROT_WRITE;

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static sp_status map_failure(const char *path) {
  int error = errno;
  return sp_fail(error == ENOMEM ? SP_ERROR_NO_MEMORY : SP_ERROR_IO, "cannot map '%s': %s", path, strerror(error));
}

/* Fills the page tables for reading: the page cache's pages are mapped, none is copied (a
 * private writable mapping populated for writing, as MAP_POPULATE would, copies every page). */
static void populate_for_reading(void *base, size_t size) {
#ifdef MADV_POPULATE_READ
  int saved_errno = errno;
  (void)madvise(base, size, MADV_POPULATE_READ);
  errno = saved_errno;
#else
  (void)base, (void)size;
#endif
}

static sp_status wrap_region(void *base, size_t size, sp_mapping **mapping) {
  *mapping = sp_alloc_zeroed(1, sizeof **mapping);
  if (!*mapping) {
    munmap(base, size);
    return SP_ERROR_NO_MEMORY;
  }
  (*mapping)->base = base;
  (*mapping)->size = size;
  atomic_init(&(*mapping)->references, 1);
  populate_for_reading(base, size);
  return SP_OK;
}

sp_status sp_mapping_open(const char *path, uint64_t offset, uint64_t length, sp_mapping **mapping,
                          const uint8_t **data) {
  *mapping = NULL;
  *data = NULL;
  int fd;
  size_t file_length;
  SP_TRY(sp_open_regular(path, &fd, &file_length));
  sp_status status = SP_OK;
  if (length == 0 || offset > file_length || length > file_length - offset)
    status = sp_fail(SP_ERROR_FORMAT, "'%s': %llu bytes at byte %llu are not inside its %llu bytes", path,
                     (unsigned long long)length, (unsigned long long)offset, (unsigned long long)file_length);
  uint64_t start = offset - offset % page_size();
  if (status == SP_OK && offset + length - start > SIZE_MAX)
    status = sp_fail(SP_ERROR_NO_MEMORY, "'%s': %llu bytes cannot be mapped", path, (unsigned long long)length);
  if (status == SP_OK) {
    size_t size = (size_t)(offset + length - start);
    void *base = mmap(NULL, size, map_protection, MAP_PRIVATE, fd, (off_t)start);
    if (base == MAP_FAILED) status = map_failure(path);
    else status = wrap_region(base, size, mapping);
    if (status == SP_OK) *data = (const uint8_t *)base + (offset - start);
  }
  close(fd);
  return status;
}

/* Maps path over [at, at + size) of a reserved region, after checking its size. */
static sp_status place_file(uint8_t *at, const char *path, uint64_t size) {
  int fd;
  size_t file_length;
  SP_TRY(sp_open_regular(path, &fd, &file_length));
  sp_status status = SP_OK;
  if (file_length != size)
    status = sp_fail(SP_ERROR_FORMAT, "'%s' is %llu bytes, expected %llu (it changed while being read)", path,
                     (unsigned long long)file_length, (unsigned long long)size);
  if (status == SP_OK && size > 0 && mmap(at, (size_t)size, map_protection, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED)
    status = map_failure(path);
  close(fd);
  return status;
}

sp_status sp_mapping_join(const char *const *paths, const uint64_t *sizes, size_t count, sp_mapping **mapping,
                          const uint8_t **data) {
  *mapping = NULL;
  *data = NULL;
  uint64_t total = 0;
  for (size_t i = 0; i < count; i++) {
    if (i + 1 < count && sizes[i] % page_size() != 0)
      return sp_fail(SP_ERROR_UNSUPPORTED, "'%s' is %llu bytes, not a whole number of pages: it cannot be mapped "
                     "beside the next file", paths[i], (unsigned long long)sizes[i]);
    if (sizes[i] > SIZE_MAX / 2 - total) return sp_fail(SP_ERROR_NO_MEMORY, "the files are too large to map");
    total += sizes[i];
  }
  if (total == 0) return sp_fail(SP_ERROR_FORMAT, "nothing to map: the files are empty");
  /* Reserve the whole region first, so that each file lands right after the one before. */
  void *base = mmap(NULL, (size_t)total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return sp_fail(SP_ERROR_NO_MEMORY, "cannot reserve %llu bytes to map", (unsigned long long)total);
  uint64_t at = 0;
  for (size_t i = 0; i < count; i++) {
    sp_status status = place_file((uint8_t *)base + at, paths[i], sizes[i]);
    if (status != SP_OK) {
      munmap(base, (size_t)total);
      return status;
    }
    at += sizes[i];
  }
  SP_TRY(wrap_region(base, (size_t)total, mapping));
  *data = base;
  return SP_OK;
}

sp_mapping *sp_mapping_retain(sp_mapping *mapping) {
  if (mapping) atomic_fetch_add_explicit(&mapping->references, 1, memory_order_relaxed);
  return mapping;
}

void sp_mapping_release(sp_mapping *mapping) {
  if (!mapping || atomic_fetch_sub_explicit(&mapping->references, 1, memory_order_acq_rel) != 1) return;
  munmap(mapping->base, mapping->size);
  free(mapping);
}
