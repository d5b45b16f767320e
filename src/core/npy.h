/* npy.h — NumPy .npy files and NumPy's text rendering of arrays, for sp_tensor.
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0 with little-endian or byte-order-free dtypes
 * ('<f4', '<f8', '<f2', '<i1'..'<i8', '|u1'..'<u8', '|b1', fixed-width '|S<n>' bytes and '<U<n>'
 * text, which become SP_STRING). The header dict is parsed strictly: exactly the keys 'descr',
 * 'fortran_order' and 'shape', no code, every size checked against the bytes present.
 * Fortran order, big-endian data, structured and object (pickled) arrays are refused with a
 * message saying so. Writing produces version 1.0 files (2.0 when the header needs it) with the
 * 64-byte header alignment numpy uses, so numpy.load reads them; SP_STRING tensors are written as
 * '|S<n>' (n = the longest element; numpy drops trailing NUL bytes when reading).
 */
#ifndef SP_CORE_NPY_H
#define SP_CORE_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "core/status.h"
#include "savepoint/tensor.h"

enum { SP_NPY_MAX_HEADER = 1 << 20 };

/* Parses the bytes of a .npy file (what names them in errors) into a new tensor that owns its data. */
sp_status sp_npy_parse(const uint8_t *data, size_t size, const char *what, sp_tensor **tensor) SP_MUST_CHECK;
/* Reads a .npy file (at most limit bytes). */
sp_status sp_npy_read(const char *path, size_t limit, sp_tensor **tensor) SP_MUST_CHECK;

/* Appends the .npy encoding of tensor to out. */
sp_status sp_npy_encode(const sp_tensor *tensor, sp_buffer *out) SP_MUST_CHECK;
/* Writes tensor to path atomically (core/file.h). */
sp_status sp_npy_write(const char *path, const sp_tensor *tensor) SP_MUST_CHECK;

/* Appends what Python's str(array) prints for the tensor with NumPy's default print options
 * (precision 8, 'maxprec' float mode, line width 75, summarised beyond 1000 elements); a rank-0
 * tensor prints as its scalar would ("3.0", "7", "True", "b'x'"). */
sp_status sp_npy_format(const sp_tensor *tensor, sp_buffer *out) SP_MUST_CHECK;

#endif
