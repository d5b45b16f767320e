/* h5io.h — HDF5 files shaped the way Keras and h5py write them.
 *
 * The container every Keras codec stands on: legacy `.h5` models, `.weights.h5` files and
 * the `model.weights.h5` member of a `.keras` archive. No Keras semantics live here;
 * this layer knows HDF5 objects, dtypes and h5py's string conventions, and guarantees:
 *
 * Reading (hostile input):
 *   - Paths are '/'-separated from the root ("" and "/" name the root). Every link on a
 *     path must be a hard link: soft, external and user-defined links are refused with
 *     SP_ERROR_UNSAFE, so a file can never make us open another file.
 *   - Before allocating, a dataset is checked: no external or virtual storage, only the
 *     built-in filters (deflate, shuffle, fletcher32, nbit, scaleoffset — never a plugin),
 *     rank <= SP_MAX_RANK, a supported type, declared bytes <= the caller's limit, and
 *     (formats.md §1.4) declared bytes over 4 GiB must be within 1000x of the stored bytes.
 *   - Supported dataset types: integers, IEEE float16/32/64 (any byte order), h5py
 *     booleans (enum FALSE=0/TRUE=1 over int8), h5py complex numbers (compound r, i), and
 *     2-byte data flagged bfloat16 by a `dtype="bfloat16"` attribute (Keras 3). Anything
 *     else (compound, variable-length, string, reference, array, opaque...) is refused
 *     with SP_ERROR_UNSUPPORTED naming the object and the HDF5 type.
 *   - String attributes are read in every form real files use: fixed-length (NULLTERM,
 *     NULLPAD, SPACEPAD; ASCII or UTF-8) and variable-length, scalar or 1-D.
 *
 * Writing (what h5py 3.7 writes for what Keras assigns; verified with h5dump, see
 * docs/ARCHITECTURE.md): superblock version 0, contiguous datasets without filters,
 * little-endian types, SCALAR dataspaces for 0-d values, groups without link creation
 * order, datasets without timestamps. Python `str` attributes become scalar
 * variable-length UTF-8 strings, `bytes` become variable-length ASCII strings, lists of
 * bytes become 1-D variable-length ASCII arrays, an empty list becomes a float64 array of
 * shape (0,), and a list over 64512 bytes is split as Keras splits it (name0, name1, ...,
 * fixed-length NULLPAD strings).
 *
 * Errors name the file, the object path and what was expected and found; an HDF5 failure
 * adds the innermost entry of HDF5's error stack. libhdf5's own error printing is switched
 * off for every thread that calls into this module.
 *
 * Threads: Debian's libhdf5 is built thread-safe, which serialises every HDF5 call behind
 * one global lock and keeps error stacks per thread. That is all this module relies on:
 * different sp_h5_file handles may be used from different threads at once (their HDF5
 * calls take turns); one handle must not be used by two threads at the same time.
 */
#ifndef SP_FORMATS_H5IO_H
#define SP_FORMATS_H5IO_H

#include <stddef.h>
#include <stdint.h>

#include "core/mapping.h"
#include "core/status.h"
#include "savepoint/tensor.h"

typedef struct sp_h5_file sp_h5_file;

/* No caller limit on a dataset's size (the 4 GiB / 1000x rule still applies). */
#define SP_H5_NO_LIMIT UINT64_MAX
/* Keras's HDF5_OBJECT_HEADER_LIMIT: string lists larger than this are split. */
enum { SP_H5_ATTRIBUTE_SPLIT_BYTES = 64512 };

typedef enum sp_h5_kind {
  SP_H5_MISSING = 0, /* nothing there (or only reachable through a non-hard link) */
  SP_H5_GROUP,
  SP_H5_DATASET,
  SP_H5_OTHER /* a soft/external link, a named datatype */
} sp_h5_kind;

/* How h5py stores a Python string value. */
typedef enum sp_h5_encoding {
  SP_H5_STR,  /* Python str: variable-length, UTF-8 character set */
  SP_H5_BYTES /* Python bytes: variable-length, ASCII character set */
} sp_h5_encoding;

typedef struct sp_h5_child {
  char *name;
  sp_h5_kind kind;
} sp_h5_child;

typedef struct sp_h5_dataset_info {
  sp_dtype dtype;
  int rank;
  int64_t shape[SP_MAX_RANK];
  uint64_t declared_bytes; /* elements x element size */
  uint64_t stored_bytes;   /* bytes the file holds for it */
} sp_h5_dataset_info;

/* --- opening and closing --- */

/* Opens an HDF5 file read-only. */
sp_status sp_h5_open(const char *path, sp_h5_file **file) SP_MUST_CHECK;
/* Opens an in-memory HDF5 image read-only without copying it: data must stay valid and
 * unchanged until sp_h5_close. name is used in messages (e.g. "m.keras:model.weights.h5"). */
sp_status sp_h5_open_image(const void *data, size_t size, const char *name, sp_h5_file **file) SP_MUST_CHECK;
/* Opens an HDF5 file read-only through a private mapping of it (core/mapping.h), whose bytes
 * sp_h5_read_tensor_into lets tensors view (sp_h5_allow_views). */
sp_status sp_h5_open_mapped(const char *path, sp_h5_file **file) SP_MUST_CHECK;
/* For an image opened with sp_h5_open_image whose bytes lie inside mapping: from now on
 * sp_h5_read_tensor_into points a tensor at a dataset's elements in the mapping, instead of
 * copying them, wherever they are stored contiguously, unfiltered, aligned and exactly as
 * memory holds them; the tensor keeps the mapping alive. No effect on other handles. */
void sp_h5_allow_views(sp_h5_file *file, sp_mapping *mapping);
/* Creates (truncates) an HDF5 file at path for writing. Callers pass a temporary path
 * (sp_temp_path_for) and publish it with sp_publish_file after sp_h5_close succeeds. */
sp_status sp_h5_create(const char *path, sp_h5_file **file) SP_MUST_CHECK;
/* Creates an HDF5 file in memory; take its bytes with sp_h5_take_image. */
sp_status sp_h5_create_image(const char *name, sp_h5_file **file) SP_MUST_CHECK;
/* Closes an in-memory file made by sp_h5_create_image and hands over its bytes without
 * copying them (caller frees *data with free()). The handle is released either way. */
sp_status sp_h5_take_image(sp_h5_file *file, uint8_t **data, size_t *size) SP_MUST_CHECK;
/* Flushes (when writing) and closes. The handle is released either way; a failure means
 * a written file is incomplete. NULL is allowed. */
sp_status sp_h5_close(sp_h5_file *file);
/* The name given at open/create (the path for files on disk). */
const char *sp_h5_name(const sp_h5_file *file);

/* --- structure --- */

/* What path names, following hard links only. Never fails: problems read as MISSING. */
sp_h5_kind sp_h5_kind_at(sp_h5_file *file, const char *path);
/* 1 when path names a group or dataset reached through hard links only. */
int sp_h5_exists(sp_h5_file *file, const char *path);
/* 1 when path names a group reached through hard links only. */
int sp_h5_is_group(sp_h5_file *file, const char *path);
/* The children of a group in name (byte) order, with their kinds. Free with sp_h5_children_free. */
sp_status sp_h5_list(sp_h5_file *file, const char *group_path, sp_h5_child **children, size_t *count) SP_MUST_CHECK;
void sp_h5_children_free(sp_h5_child *children, size_t count);
/* Creates a group and any missing parents (h5py create_group / require_group). An
 * existing group is fine; an existing dataset at path is SP_ERROR_EXISTS. */
sp_status sp_h5_create_group(sp_h5_file *file, const char *path) SP_MUST_CHECK;

/* --- datasets --- */

/* dtype, shape and sizes of a dataset, after the same checks sp_h5_read_tensor makes
 * (except the caller's limit). */
sp_status sp_h5_describe_dataset(sp_h5_file *file, const char *path, sp_h5_dataset_info *info) SP_MUST_CHECK;
/* Reads a whole dataset into a new tensor (a SCALAR dataspace gives rank 0). Refuses,
 * before allocating, a dataset whose declared size exceeds limit bytes. Booleans are
 * normalised to 0/1. */
sp_status sp_h5_read_tensor(sp_h5_file *file, const char *path, uint64_t limit, sp_tensor **tensor) SP_MUST_CHECK;
/* Reads a whole dataset into target, whose dtype and shape must equal the dataset's
 * (SP_ERROR_MISMATCH otherwise), after the same checks as sp_h5_read_tensor: nothing is
 * allocated, so a large weight goes straight into the memory that keeps it. Where the file
 * allows views (sp_h5_allow_views), target views the elements in place instead. */
sp_status sp_h5_read_tensor_into(sp_h5_file *file, const char *path, sp_tensor *target) SP_MUST_CHECK;
/* Writes a tensor as a new contiguous dataset, creating missing parent groups (h5py
 * create_dataset('a/b/c', ...)). The data goes to HDF5 straight from tensor->data, so a
 * large tensor is never copied here: wrap caller memory with sp_tensor_wrap to write it
 * in place. SP_BFLOAT16 is stored as Keras stores it (2-byte opaque + dtype attribute).
 * An existing object at path is SP_ERROR_EXISTS; SP_STRING tensors are unsupported. */
sp_status sp_h5_write_tensor(sp_h5_file *file, const char *path, const sp_tensor *tensor) SP_MUST_CHECK;

/* --- attributes (object_path names a group or dataset; "" or "/" is the root) --- */

/* 1 when the object has an attribute called name. */
int sp_h5_has_attribute(sp_h5_file *file, const char *object_path, const char *name);
/* Reads a scalar string attribute in any storage form. *value is NUL-terminated, owned by
 * the caller (free()); *length excludes the NUL (length may be NULL). */
sp_status sp_h5_read_string_attribute(sp_h5_file *file, const char *object_path, const char *name, char **value,
                                      size_t *length) SP_MUST_CHECK;
/* Reads a 1-D string attribute into a new rank-1 SP_STRING tensor. When `name` is absent
 * but `name0`, `name1`, ... exist (Keras's split form) they are concatenated in numeric
 * order. An empty numeric array (h5py's encoding of []) reads as an empty list. */
sp_status sp_h5_read_string_list_attribute(sp_h5_file *file, const char *object_path, const char *name,
                                           sp_tensor **strings) SP_MUST_CHECK;
/* Reads a numeric attribute (scalar or array) into a new tensor. */
sp_status sp_h5_read_attribute_tensor(sp_h5_file *file, const char *object_path, const char *name,
                                      sp_tensor **tensor) SP_MUST_CHECK;
/* Writes (replaces) a scalar string attribute as h5py writes a str or a bytes value.
 * value holds length bytes and must not contain NUL (HDF5 variable-length strings cannot). */
sp_status sp_h5_write_string_attribute(sp_h5_file *file, const char *object_path, const char *name, const char *value,
                                       size_t length, sp_h5_encoding encoding) SP_MUST_CHECK;
/* Writes a list of strings as Keras's save_attributes_to_hdf5_group does with h5py: a
 * 1-D variable-length array (ASCII for SP_H5_BYTES, UTF-8 for SP_H5_STR); an empty list as
 * a float64 array of shape (0,); a list whose numpy fixed-width size (count x longest)
 * exceeds 64512 bytes as name0, name1, ... fixed-length NULLPAD arrays split like
 * numpy.array_split. A single value over 64512 bytes is refused, as Keras refuses it. */
sp_status sp_h5_write_string_list_attribute(sp_h5_file *file, const char *object_path, const char *name,
                                            const char *const *values, size_t count,
                                            sp_h5_encoding encoding) SP_MUST_CHECK;

#endif
