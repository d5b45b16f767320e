/* memory.h — checked allocation.
 *
 * Library code never calls malloc and ignores NULL: these helpers fail with
 * SP_ERROR_NO_MEMORY and a message saying how much was asked for, and the array
 * forms refuse products that overflow size_t (sizes often come from files).
 */
#ifndef SP_CORE_MEMORY_H
#define SP_CORE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* malloc that records a message on failure. Returns NULL on failure (size 0 gives a valid pointer). */
void *sp_alloc(size_t size);
/* calloc-like: zeroed, count*size checked for overflow. */
void *sp_alloc_zeroed(size_t count, size_t size);
/* realloc of count elements of size bytes, overflow-checked. On failure the old block is untouched. */
void *sp_realloc_array(void *block, size_t count, size_t size);
/* strdup / strndup that record a message on failure. */
char *sp_strdup(const char *text);
char *sp_strndup(const char *text, size_t length);
/* printf into a new string. */
char *sp_strdupf(const char *format, ...) SP_PRINTF(1, 2);

/* A large buffer that is about to be written whole: its pages are mapped and zeroed up front
 * (mmap MAP_POPULATE) rather than faulted in one at a time by the first write. On virtual
 * machines where a page fault is expensive this is an order of magnitude faster (measured here:
 * 0.5 s instead of 10 s for 1 GB). Release with sp_free_populated and the same size. */
void *sp_alloc_populated(size_t size);
void sp_free_populated(void *block, size_t size);

/* Asks the kernel to back [block, block + size) with pages now, in one call, before it is
 * written: faulting a large fresh buffer in page by page on first write costs several times
 * the write itself on some VMs. Only for memory that is about to be written whole (a tensor
 * being filled, an image being built); blocks under 1 MiB are left alone. A hint: it never
 * fails, and does nothing where the kernel lacks MADV_POPULATE_WRITE (Linux < 5.14). */
void sp_memory_prefault(void *block, size_t size);

/* a*b without overflow: returns false when it would overflow. */
static inline int sp_multiply_size(size_t a, size_t b, size_t *product) {
  return !__builtin_mul_overflow(a, b, product);
}

/* Grows *array (of *capacity elements of element_size) so that it holds at least needed. */
sp_status sp_reserve(void **array, size_t *capacity, size_t needed, size_t element_size);

#define SP_RESERVE(array, capacity, needed) \
  sp_reserve((void **)&(array), &(capacity), (needed), sizeof *(array))

#endif
