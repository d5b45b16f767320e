/* memory.c — checked allocation helpers (see memory.h). */
#include "core/memory.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void *sp_alloc(size_t size) {
  void *block = malloc(size ? size : 1);
  if (!block) sp_fail(SP_ERROR_NO_MEMORY, "out of memory allocating %zu bytes", size);
  return block;
}

void *sp_alloc_zeroed(size_t count, size_t size) {
  size_t total;
  if (!sp_multiply_size(count, size, &total)) {
    sp_fail(SP_ERROR_NO_MEMORY, "allocation of %zu x %zu bytes overflows", count, size);
    return NULL;
  }
  void *block = calloc(total ? count : 1, total ? size : 1);
  if (!block) sp_fail(SP_ERROR_NO_MEMORY, "out of memory allocating %zu bytes", total);
  return block;
}

void *sp_realloc_array(void *block, size_t count, size_t size) {
  size_t total;
  if (!sp_multiply_size(count, size, &total)) {
    sp_fail(SP_ERROR_NO_MEMORY, "allocation of %zu x %zu bytes overflows", count, size);
    return NULL;
  }
  void *grown = realloc(block, total ? total : 1);
  if (!grown) sp_fail(SP_ERROR_NO_MEMORY, "out of memory allocating %zu bytes", total);
  return grown;
}

void *sp_alloc_populated(size_t size) {
  void *block = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (block == MAP_FAILED) {
    sp_fail(SP_ERROR_NO_MEMORY, "out of memory mapping %zu bytes", size);
    return NULL;
  }
  return block;
}

void sp_free_populated(void *block, size_t size) {
  if (block) munmap(block, size ? size : 1);
}

char *sp_strdup(const char *text) { return sp_strndup(text, strlen(text)); }

char *sp_strndup(const char *text, size_t length) {
  char *copy = sp_alloc(length + 1);
  if (!copy) return NULL;
  memcpy(copy, text, length);
  copy[length] = '\0';
  return copy;
}

char *sp_strdupf(const char *format, ...) {
  va_list args;
  va_start(args, format);
  int length = vsnprintf(NULL, 0, format, args);
  va_end(args);
  if (length < 0) {
    sp_fail(SP_ERROR_INTERNAL, "bad format string '%s'", format);
    return NULL;
  }
  char *text = sp_alloc((size_t)length + 1);
  if (!text) return NULL;
  va_start(args, format);
  vsnprintf(text, (size_t)length + 1, format, args);
  va_end(args);
  return text;
}

sp_status sp_reserve(void **array, size_t *capacity, size_t needed, size_t element_size) {
  if (needed <= *capacity) return SP_OK;
  size_t grown = *capacity ? *capacity : 8;
  while (grown < needed) {
    if (grown > SIZE_MAX / 2) return sp_fail(SP_ERROR_NO_MEMORY, "array of %zu elements is too large", needed);
    grown *= 2;
  }
  void *block = sp_realloc_array(*array, grown, element_size);
  if (!block) return SP_ERROR_NO_MEMORY;
  *array = block;
  *capacity = grown;
  return SP_OK;
}

void sp_memory_prefault(void *block, size_t size) {
#ifdef MADV_POPULATE_WRITE
  if (!block || size < ((size_t)1 << 20)) return;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = ((uintptr_t)block + page - 1) & ~(page - 1), end = ((uintptr_t)block + size) & ~(page - 1);
  int saved_errno = errno; /* a hint must not disturb a caller's errno */
  if (end > start) (void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
  errno = saved_errno;
#else
  (void)block, (void)size;
#endif
}
