/* h5io.c — HDF5 access over libhdf5, shaped by what Keras and h5py write (see h5io.h).
 *
 * Guarantees kept here:
 *   - every object is reached by walking its path one link at a time and refusing any
 *     link that is not a hard link, so no read ever leaves the file;
 *   - a dataset's storage, filters, type and sizes are checked before anything is
 *     allocated for it, and only HDF5's built-in filters run (never a plugin);
 *   - in-memory images are neither copied on open (file-image callbacks lend HDF5 the
 *     caller's buffer) nor on take (the buffer HDF5 grew is handed over);
 *   - written files carry the exact HDF5 types h5py 3.7 gives the Python values Keras
 *     assigns (checked with h5dump and h5py; docs/ARCHITECTURE.md lists them).
 */
#include "formats/h5io.h"

#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/mapping.h"
#include "core/memory.h"

#define GIB (UINT64_C(1) << 30)
/* formats.md §1.4: a dataset declaring more than 4 GiB must store at least 1/1000 of it. */
static const uint64_t absurd_size_floor = 4 * GIB;
static const uint64_t absurd_size_factor = 1000;
/* No Keras attribute comes near this; a larger one is hostile. */
static const uint64_t attribute_read_limit = UINT64_C(64) << 20;
/* A chunk this large is always accepted when reading into an existing tensor. */
static const uint64_t chunk_floor = UINT64_C(1) << 20;
/* The core driver grows in-memory files by at least this much. */
static const size_t image_increment = (size_t)1 << 20;

/* An in-memory file: either a caller's buffer lent to HDF5 (reading) or the buffer HDF5
 * writes into, grown by our callbacks so that it can be handed over whole (writing). */
typedef struct h5_image {
  const uint8_t *lent;
  size_t lent_size;
  uint8_t *buffer;
  size_t capacity;
  size_t used; /* the core driver's end of file */
  sp_mapping *mapping; /* reading: the file mapping lent lies in, when tensors may view it */
} h5_image;

struct sp_h5_file {
  hid_t id;
  char *name;
  int writable;
  h5_image *image; /* NULL for files on disk */
};

/* ---------------------------------------------------------------- errors ---- */

static _Thread_local int hdf5_printing_silenced;

/* Called on entry to every public function: HDF5's automatic error printing is per thread. */
static void h5_prepare(void) {
  if (!hdf5_printing_silenced) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hdf5_printing_silenced = 1;
  }
  H5Eclear2(H5E_DEFAULT);
}

typedef struct hdf5_error_detail {
  char text[512];
  int found;
} hdf5_error_detail;

/* Walking upward, the first entry is the innermost one: where HDF5 saw the problem. */
static herr_t keep_innermost_error(unsigned depth, const H5E_error2_t *error, void *data) {
  (void)depth;
  hdf5_error_detail *detail = data;
  if (detail->found) return 0;
  char major[128] = "", minor[128] = "";
  H5Eget_msg(error->maj_num, NULL, major, sizeof major);
  H5Eget_msg(error->min_num, NULL, minor, sizeof minor);
  snprintf(detail->text, sizeof detail->text, "%s (%s: %s)", error->desc ? error->desc : "error", major, minor);
  detail->found = 1;
  return 0;
}

/* Records "<file>: <what>", adding the innermost entry of HDF5's error stack when a
 * libhdf5 call failed (with_hdf5_stack), and clears that stack. */
static sp_status fail_at(sp_status status, const char *file_name, int with_hdf5_stack, const char *format, ...)
    SP_PRINTF(4, 5);
static sp_status fail_at(sp_status status, const char *file_name, int with_hdf5_stack, const char *format, ...) {
  char what[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(what, sizeof what, format, args);
  va_end(args);
  hdf5_error_detail detail = {{0}, 0};
  if (with_hdf5_stack) {
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost_error, &detail);
    H5Eclear2(H5E_DEFAULT);
  }
  if (detail.found) return sp_fail(status, "%s: %s: HDF5: %s", file_name, what, detail.text);
  return sp_fail(status, "%s: %s", file_name, what);
}

/* A problem we detected ourselves. */
#define file_fail(status, file_name, ...) fail_at(status, file_name, 0, __VA_ARGS__)
/* A libhdf5 call failed: the message ends with HDF5's own explanation. Call it before any
 * other HDF5 call, which would clear the stack. */
#define hdf5_fail(status, file_name, ...) fail_at(status, file_name, 1, __VA_ARGS__)

static void close_id(hid_t id) {
  if (id >= 0) H5Idec_ref(id);
}

static const char *shown_path(const char *path) { return (path && *path) ? path : "/"; }

static const char *type_class_name(H5T_class_t type_class) {
  switch (type_class) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length sequence";
    case H5T_ARRAY: return "array";
    default: return "unknown";
  }
}

/* ----------------------------------------------------------------- types ---- */

/* h5py's float16: IEEE binary16 built from a float32 description (h5t.pyx IEEE_F16LE). */
static hid_t make_half_type(void) {
  hid_t type = H5Tcopy(H5T_IEEE_F32LE);
  if (type < 0) return -1;
  if (H5Tset_fields(type, 15, 10, 5, 0, 10) < 0 || H5Tset_size(type, 2) < 0 || H5Tset_ebias(type, 15) < 0) {
    H5Tclose(type);
    return -1;
  }
  return type;
}

/* h5py's bool: an enum over int8 with FALSE=0 and TRUE=1. */
static hid_t make_bool_type(void) {
  hid_t type = H5Tenum_create(H5T_NATIVE_INT8);
  if (type < 0) return -1;
  int8_t no = 0, yes = 1;
  if (H5Tenum_insert(type, "FALSE", &no) < 0 || H5Tenum_insert(type, "TRUE", &yes) < 0) {
    H5Tclose(type);
    return -1;
  }
  return type;
}

/* h5py's complex numbers: a compound of two floats named r and i. */
static hid_t make_complex_type(hid_t part, size_t part_size) {
  hid_t type = H5Tcreate(H5T_COMPOUND, 2 * part_size);
  if (type < 0) return -1;
  if (H5Tinsert(type, "r", 0, part) < 0 || H5Tinsert(type, "i", part_size, part) < 0) {
    H5Tclose(type);
    return -1;
  }
  return type;
}

/* The HDF5 type a tensor of dtype is written as (and read into): little-endian, as h5py
 * writes numpy's native types on x86. Returns -1 for dtypes HDF5 files do not hold. */
static hid_t type_for_dtype(sp_dtype dtype) {
  switch (dtype) {
    case SP_FLOAT32: return H5Tcopy(H5T_IEEE_F32LE);
    case SP_FLOAT64: return H5Tcopy(H5T_IEEE_F64LE);
    case SP_INT8: return H5Tcopy(H5T_STD_I8LE);
    case SP_INT16: return H5Tcopy(H5T_STD_I16LE);
    case SP_INT32: return H5Tcopy(H5T_STD_I32LE);
    case SP_INT64: return H5Tcopy(H5T_STD_I64LE);
    case SP_UINT8: return H5Tcopy(H5T_STD_U8LE);
    case SP_UINT16: return H5Tcopy(H5T_STD_U16LE);
    case SP_UINT32: return H5Tcopy(H5T_STD_U32LE);
    case SP_UINT64: return H5Tcopy(H5T_STD_U64LE);
    case SP_BOOL: return make_bool_type();
    case SP_FLOAT16: return make_half_type();
    case SP_BFLOAT16: return H5Tcreate(H5T_OPAQUE, 2); /* numpy kind 'V' -> h5py opaque, no tag */
    case SP_COMPLEX64: return make_complex_type(H5T_IEEE_F32LE, 4);
    case SP_COMPLEX128: return make_complex_type(H5T_IEEE_F64LE, 8);
    default: return -1;
  }
}

static int float_layout_is(hid_t type, size_t exponent_position, size_t exponent_size, size_t mantissa_size,
                           size_t bias) {
  size_t sign, exponent, exponent_bits, mantissa, mantissa_bits;
  if (H5Tget_fields(type, &sign, &exponent, &exponent_bits, &mantissa, &mantissa_bits) < 0) return 0;
  return H5Tget_size(type) == 2 && H5Tget_offset(type) == 0 && sign == 15 && exponent == exponent_position &&
         exponent_bits == exponent_size && mantissa == 0 && mantissa_bits == mantissa_size &&
         H5Tget_ebias(type) == bias;
}

static int is_h5py_bool(hid_t type) {
  if (H5Tget_nmembers(type) != 2) return 0;
  hid_t base = H5Tget_super(type);
  int small_integer = base >= 0 && H5Tget_class(base) == H5T_INTEGER && H5Tget_size(base) == 1;
  close_id(base);
  if (!small_integer) return 0;
  int seen_false = 0, seen_true = 0;
  for (unsigned member = 0; member < 2; member++) {
    int8_t value = -1;
    char *name = H5Tget_member_name(type, member);
    if (name && H5Tget_member_value(type, member, &value) >= 0) {
      if (strcmp(name, "FALSE") == 0 && value == 0) seen_false = 1;
      if (strcmp(name, "TRUE") == 0 && value == 1) seen_true = 1;
    }
    if (name) H5free_memory(name);
  }
  return seen_false && seen_true;
}

/* h5py's complex: two float members "r" and "i" of the same size (4 or 8 bytes). */
static size_t h5py_complex_part_size(hid_t type) {
  if (H5Tget_nmembers(type) != 2) return 0;
  size_t part_size = 0;
  int named = 1;
  for (unsigned member = 0; member < 2; member++) {
    char *name = H5Tget_member_name(type, member);
    hid_t part = H5Tget_member_type(type, member);
    size_t size = (part >= 0 && H5Tget_class(part) == H5T_FLOAT) ? H5Tget_size(part) : 0;
    if (!name || (strcmp(name, "r") != 0 && strcmp(name, "i") != 0)) named = 0;
    if (member == 0) part_size = size;
    if (size != part_size) part_size = 0;
    if (name) H5free_memory(name);
    close_id(part);
  }
  if (!named || (part_size != 4 && part_size != 8) || H5Tget_size(type) != 2 * part_size) return 0;
  return part_size;
}

static hid_t little_endian_copy(hid_t type) {
  hid_t copy = H5Tcopy(type);
  if (copy >= 0 && H5Tset_order(copy, H5T_ORDER_LE) < 0) {
    H5Tclose(copy);
    return -1;
  }
  return copy;
}

/* Maps a file type to a dtype and the type HDF5 should convert it to in memory (owned by
 * the caller). flagged_bfloat16 is set when the object carries Keras's dtype="bfloat16". */
static sp_status classify_type(const char *file_name, const char *where, hid_t type, int flagged_bfloat16,
                               sp_dtype *dtype, hid_t *memory_type) {
  H5T_class_t type_class = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  *memory_type = -1;
  *dtype = SP_DTYPE_INVALID;
  if (flagged_bfloat16 || (type_class == H5T_FLOAT && float_layout_is(type, 7, 8, 7, 127))) {
    if (size == 2 && type_class == H5T_OPAQUE) *memory_type = H5Tcopy(type);
    else if (size == 2 && type_class == H5T_INTEGER) *memory_type = H5Tcopy(H5T_STD_U16LE);
    else if (type_class == H5T_FLOAT && float_layout_is(type, 7, 8, 7, 127)) *memory_type = little_endian_copy(type);
    else
      return file_fail(SP_ERROR_UNSUPPORTED, file_name,
                       "%s: flagged dtype=\"bfloat16\" but stored as a %zu-byte %s; expected 2-byte opaque data",
                       where, size, type_class_name(type_class));
    *dtype = SP_BFLOAT16;
  } else if (type_class == H5T_INTEGER && (size == 1 || size == 2 || size == 4 || size == 8)) {
    int is_signed = H5Tget_sign(type) == H5T_SGN_2;
    static const sp_dtype signed_types[9] = {[1] = SP_INT8, [2] = SP_INT16, [4] = SP_INT32, [8] = SP_INT64};
    static const sp_dtype unsigned_types[9] = {[1] = SP_UINT8, [2] = SP_UINT16, [4] = SP_UINT32, [8] = SP_UINT64};
    *dtype = is_signed ? signed_types[size] : unsigned_types[size];
  } else if (type_class == H5T_FLOAT && size == 2 && float_layout_is(type, 10, 5, 10, 15)) {
    *dtype = SP_FLOAT16;
  } else if (type_class == H5T_FLOAT && (size == 4 || size == 8)) {
    *dtype = size == 4 ? SP_FLOAT32 : SP_FLOAT64;
  } else if (type_class == H5T_ENUM && is_h5py_bool(type)) {
    *dtype = SP_BOOL;
  } else if (type_class == H5T_COMPOUND && h5py_complex_part_size(type)) {
    *dtype = h5py_complex_part_size(type) == 4 ? SP_COMPLEX64 : SP_COMPLEX128;
  } else {
    return file_fail(SP_ERROR_UNSUPPORTED, file_name,
                     "%s: unsupported HDF5 type %s of %zu bytes (savepoint reads integers, IEEE floats, h5py "
                     "booleans and complex numbers, and bfloat16 data flagged by a dtype attribute)",
                     where, type_class_name(type_class), size);
  }
  if (*memory_type < 0) *memory_type = type_for_dtype(*dtype);
  if (*memory_type < 0) return hdf5_fail(SP_ERROR_INTERNAL, file_name, "%s: building a memory type", where);
  if (H5Tget_size(*memory_type) != sp_dtype_size(*dtype)) {
    H5Tclose(*memory_type);
    *memory_type = -1;
    return file_fail(SP_ERROR_INTERNAL, file_name, "%s: memory type size does not match %s", where,
                     sp_dtype_name(*dtype));
  }
  return SP_OK;
}

/* Rank and shape of a dataspace, refusing NULL dataspaces and ranks over SP_MAX_RANK. */
static sp_status read_extent(const char *file_name, const char *where, hid_t space, int *rank, int64_t *shape,
                             uint64_t *count) {
  H5S_class_t space_class = H5Sget_simple_extent_type(space);
  *rank = 0;
  *count = 1;
  if (space_class == H5S_SCALAR) return SP_OK;
  if (space_class != H5S_SIMPLE)
    return file_fail(SP_ERROR_UNSUPPORTED, file_name, "%s: has no dataspace (an h5py Empty value)", where);
  int dimensions = H5Sget_simple_extent_ndims(space);
  if (dimensions < 0) return hdf5_fail(SP_ERROR_FORMAT, file_name, "%s: reading its dataspace", where);
  if (dimensions > SP_MAX_RANK)
    return file_fail(SP_ERROR_UNSUPPORTED, file_name, "%s: rank %d exceeds the maximum of %d", where, dimensions,
                     SP_MAX_RANK);
  hsize_t sizes[SP_MAX_RANK];
  if (H5Sget_simple_extent_dims(space, sizes, NULL) < 0)
    return hdf5_fail(SP_ERROR_FORMAT, file_name, "%s: reading its dataspace", where);
  for (int axis = 0; axis < dimensions; axis++) {
    if (sizes[axis] > (hsize_t)INT64_MAX || __builtin_mul_overflow(*count, (uint64_t)sizes[axis], count))
      return file_fail(SP_ERROR_UNSAFE, file_name, "%s: its shape overflows 64 bits", where);
    shape[axis] = (int64_t)sizes[axis];
  }
  *rank = dimensions;
  return SP_OK;
}

static sp_status declared_bytes(const char *file_name, const char *where, uint64_t count, size_t element_size,
                                uint64_t *bytes) {
  if (__builtin_mul_overflow(count, (uint64_t)element_size, bytes))
    return file_fail(SP_ERROR_UNSAFE, file_name, "%s: its size overflows 64 bits", where);
  return SP_OK;
}

/* ----------------------------------------------------------------- paths ---- */

/* Steps from group to its child `name` (length bytes of path), refusing non-hard links. */
static sp_status open_child(const sp_h5_file *file, const char *path, size_t prefix_length, hid_t group,
                            const char *name, hid_t *child) {
  if (strcmp(name, ".") == 0)
    return file_fail(SP_ERROR_NOT_FOUND, file->name, "'%s': '.' is not a link name", path);
  htri_t exists = H5Lexists(group, name, H5P_DEFAULT);
  if (exists < 0) return hdf5_fail(SP_ERROR_FORMAT, file->name, "'%.*s': looking up the link", (int)prefix_length, path);
  if (exists == 0) return file_fail(SP_ERROR_NOT_FOUND, file->name, "'%.*s' does not exist", (int)prefix_length, path);
  H5L_info_t link;
  if (H5Lget_info(group, name, &link, H5P_DEFAULT) < 0)
    return hdf5_fail(SP_ERROR_FORMAT, file->name, "'%.*s': reading the link", (int)prefix_length, path);
  if (link.type != H5L_TYPE_HARD) {
    const char *kind = link.type == H5L_TYPE_SOFT ? "a soft link" : link.type == H5L_TYPE_EXTERNAL ? "an external link"
                                                                                                     : "a user-defined link";
    return file_fail(SP_ERROR_UNSAFE, file->name, "'%.*s' is %s; savepoint follows hard links only",
                     (int)prefix_length, path, kind);
  }
  *child = H5Oopen(group, name, H5P_DEFAULT);
  if (*child < 0) return hdf5_fail(SP_ERROR_FORMAT, file->name, "'%.*s': opening the object", (int)prefix_length, path);
  return SP_OK;
}

/* Opens the object at path, walking one hard link at a time from the root. */
static sp_status open_object(const sp_h5_file *file, const char *path, hid_t *object) {
  *object = -1;
  if (!path) path = "";
  hid_t current = H5Oopen(file->id, "/", H5P_DEFAULT);
  if (current < 0) return hdf5_fail(SP_ERROR_FORMAT, file->name, "opening the root group");
  const char *cursor = path;
  while (*cursor) {
    if (*cursor == '/') {
      cursor++;
      continue;
    }
    size_t length = strcspn(cursor, "/");
    if (H5Iget_type(current) != H5I_GROUP) {
      close_id(current);
      return file_fail(SP_ERROR_NOT_FOUND, file->name, "'%.*s' is not a group", (int)(cursor - path - 1), path);
    }
    char *name = sp_strndup(cursor, length);
    if (!name) {
      close_id(current);
      return SP_ERROR_NO_MEMORY;
    }
    hid_t child = -1;
    sp_status status = open_child(file, path, (size_t)(cursor - path) + length, current, name, &child);
    free(name);
    close_id(current);
    if (status != SP_OK) return status;
    current = child;
    cursor += length;
  }
  *object = current;
  return SP_OK;
}

static sp_h5_kind kind_of_object(hid_t object) {
  switch (H5Iget_type(object)) {
    case H5I_GROUP: return SP_H5_GROUP;
    case H5I_DATASET: return SP_H5_DATASET;
    default: return SP_H5_OTHER;
  }
}

static sp_status open_dataset(const sp_h5_file *file, const char *path, hid_t *dataset) {
  SP_TRY(open_object(file, path, dataset));
  if (kind_of_object(*dataset) == SP_H5_DATASET) return SP_OK;
  close_id(*dataset);
  *dataset = -1;
  return file_fail(SP_ERROR_NOT_FOUND, file->name, "'%s' is a group, not a dataset", shown_path(path));
}

static sp_status require_writable(const sp_h5_file *file) {
  if (file->writable) return SP_OK;
  return file_fail(SP_ERROR_INVALID_ARGUMENT, file->name, "the file was opened for reading");
}

/* Link creation as h5py does it: missing parents are created, names are UTF-8. */
static hid_t make_link_list(void) {
  hid_t list = H5Pcreate(H5P_LINK_CREATE);
  if (list >= 0 && (H5Pset_create_intermediate_group(list, 1) < 0 || H5Pset_char_encoding(list, H5T_CSET_UTF8) < 0)) {
    H5Pclose(list);
    return -1;
  }
  return list;
}

/* ---------------------------------------------------------- open & close ---- */

static _Atomic unsigned long image_counter;

/* The core driver identifies files by name; a path under /dev/null can never exist on
 * disk, so neither an open nor a create can touch a real file. */
static void image_driver_name(char *out, size_t capacity) {
  snprintf(out, capacity, "/dev/null/savepoint-h5-image-%lu", ++image_counter);
}

/* Reading: every allocation and copy HDF5 asks for is answered with the lent buffer itself. */
static void *lent_image_malloc(size_t size, H5FD_file_image_op_t operation, void *user_data) {
  (void)operation;
  h5_image *image = user_data;
  return size == image->lent_size ? (void *)image->lent : NULL;
}
static void *lent_image_memcpy(void *target, const void *source, size_t size, H5FD_file_image_op_t operation,
                               void *user_data) {
  (void)size, (void)operation, (void)user_data;
  return target == source ? target : NULL;
}
static void *lent_image_realloc(void *block, size_t size, H5FD_file_image_op_t operation, void *user_data) {
  (void)block, (void)size, (void)operation, (void)user_data;
  return NULL; /* a read-only file never grows */
}
static herr_t lent_image_free(void *block, H5FD_file_image_op_t operation, void *user_data) {
  (void)block, (void)operation, (void)user_data;
  return 0;
}

/* Writing: HDF5's buffer grows geometrically in our hands and is kept at close. */
static void *growing_image_realloc(void *block, size_t size, H5FD_file_image_op_t operation, void *user_data) {
  (void)operation;
  h5_image *image = user_data;
  if (block != image->buffer) return NULL;
  if (size > image->capacity) {
    size_t grown = image->capacity + image->capacity / 2;
    if (grown < size) grown = size;
    uint8_t *larger = realloc(image->buffer, grown);
    if (!larger) return NULL;
    image->buffer = larger;
    image->capacity = grown;
  }
  /* HDF5 writes every byte it grows the file by (zeros, then data): fault them in at once */
  if (size > image->used) sp_memory_prefault(image->buffer + image->used, size - image->used);
  image->used = size;
  return image->buffer;
}
static void *growing_image_malloc(size_t size, H5FD_file_image_op_t operation, void *user_data) {
  h5_image *image = user_data;
  return image->buffer ? NULL : growing_image_realloc(NULL, size, operation, user_data);
}
static void *growing_image_memcpy(void *target, const void *source, size_t size, H5FD_file_image_op_t operation,
                                  void *user_data) {
  (void)operation, (void)user_data;
  return memcpy(target, source, size);
}
static herr_t growing_image_free(void *block, H5FD_file_image_op_t operation, void *user_data) {
  (void)operation;
  h5_image *image = user_data;
  if (block != image->buffer) free(block);
  return 0; /* image->buffer is taken or freed by us after H5Fclose */
}

static void *share_user_data(void *user_data) { return user_data; }
static herr_t keep_user_data(void *user_data) {
  (void)user_data;
  return 0;
}

/* Access properties shared by every open: closing the file closes every object in it, and
 * file locking is used where the filesystem supports it. */
static hid_t make_access_list(void) {
  hid_t list = H5Pcreate(H5P_FILE_ACCESS);
  if (list < 0) return -1;
  if (H5Pset_fclose_degree(list, H5F_CLOSE_STRONG) < 0 || H5Pset_file_locking(list, 1, 1) < 0) {
    H5Pclose(list);
    return -1;
  }
  return list;
}

static hid_t make_image_access_list(h5_image *image, int lent) {
  hid_t list = make_access_list();
  if (list < 0) return -1;
  H5FD_file_image_callbacks_t callbacks = {
      lent ? lent_image_malloc : growing_image_malloc,   lent ? lent_image_memcpy : growing_image_memcpy,
      lent ? lent_image_realloc : growing_image_realloc, lent ? lent_image_free : growing_image_free,
      share_user_data,                                   keep_user_data,
      image};
  if (H5Pset_fapl_core(list, image_increment, 0) < 0 || H5Pset_file_image_callbacks(list, &callbacks) < 0 ||
      (lent && H5Pset_file_image(list, (void *)image->lent, image->lent_size) < 0)) {
    H5Pclose(list);
    return -1;
  }
  return list;
}

static sp_status new_handle(const char *name, int writable, int with_image, sp_h5_file **file) {
  sp_h5_file *handle = sp_alloc_zeroed(1, sizeof *handle);
  if (!handle) return SP_ERROR_NO_MEMORY;
  handle->id = -1;
  handle->writable = writable;
  handle->name = sp_strdup(name);
  if (with_image) handle->image = sp_alloc_zeroed(1, sizeof *handle->image);
  if (!handle->name || (with_image && !handle->image)) {
    free(handle->name);
    free(handle->image);
    free(handle);
    return SP_ERROR_NO_MEMORY;
  }
  *file = handle;
  return SP_OK;
}

static void release_handle(sp_h5_file *file) {
  if (file->image) free(file->image->buffer);
  if (file->image) sp_mapping_release(file->image->mapping);
  free(file->image);
  free(file->name);
  free(file);
}

/* Finishes an open or create: on failure the handle is released and the HDF5 reason kept. */
static sp_status finish_open(sp_h5_file *handle, hid_t id, hid_t access, const char *action, sp_h5_file **file) {
  handle->id = id;
  if (id < 0) { /* read HDF5's reason before any other call clears it */
    sp_status status = hdf5_fail(handle->writable ? SP_ERROR_IO : SP_ERROR_FORMAT, handle->name, "%s", action);
    close_id(access);
    release_handle(handle);
    return status;
  }
  close_id(access);
  *file = handle;
  return SP_OK;
}

sp_status sp_h5_open(const char *path, sp_h5_file **file) {
  h5_prepare();
  *file = NULL;
  if (!sp_is_regular_file(path))
    return sp_fail(sp_path_exists(path) ? SP_ERROR_INVALID_ARGUMENT : SP_ERROR_NOT_FOUND,
                   "%s: %s", path, sp_path_exists(path) ? "not a regular file" : "no such file");
  sp_h5_file *handle;
  SP_TRY(new_handle(path, 0, 0, &handle));
  hid_t access = make_access_list();
  hid_t id = access < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, access);
  return finish_open(handle, id, access, "not a readable HDF5 file", file);
}

sp_status sp_h5_open_image(const void *data, size_t size, const char *name, sp_h5_file **file) {
  h5_prepare();
  *file = NULL;
  if (!data || size < 8) return sp_fail(SP_ERROR_FORMAT, "%s: %zu bytes is not an HDF5 file", name, size);
  sp_h5_file *handle;
  SP_TRY(new_handle(name, 0, 1, &handle));
  handle->image->lent = data;
  handle->image->lent_size = size;
  char driver_name[64];
  image_driver_name(driver_name, sizeof driver_name);
  hid_t access = make_image_access_list(handle->image, 1);
  hid_t id = access < 0 ? -1 : H5Fopen(driver_name, H5F_ACC_RDONLY, access);
  return finish_open(handle, id, access, "not a readable HDF5 image", file);
}

void sp_h5_allow_views(sp_h5_file *file, sp_mapping *mapping) {
  if (!file->image || file->writable) return;
  sp_mapping_release(file->image->mapping);
  file->image->mapping = sp_mapping_retain(mapping);
}

sp_status sp_h5_open_mapped(const char *path, sp_h5_file **file) {
  *file = NULL;
  uint64_t size;
  SP_TRY(sp_file_size(path, &size));
  if (size < 8) return sp_fail(SP_ERROR_FORMAT, "%s: %llu bytes is not an HDF5 file", path, (unsigned long long)size);
  sp_file_view view;
  SP_TRY(sp_file_view_open(path, 0, size, &view));
  sp_status status = sp_h5_open_image(view.data, view.size, path, file);
  if (status == SP_OK) sp_h5_allow_views(*file, view.mapping);
  sp_file_view_close(&view);
  return status;
}

sp_status sp_h5_create(const char *path, sp_h5_file **file) {
  h5_prepare();
  *file = NULL;
  sp_h5_file *handle;
  SP_TRY(new_handle(path, 1, 0, &handle));
  hid_t access = make_access_list();
  hid_t id = access < 0 ? -1 : H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, access);
  return finish_open(handle, id, access, "creating the file", file);
}

sp_status sp_h5_create_image(const char *name, sp_h5_file **file) {
  h5_prepare();
  *file = NULL;
  sp_h5_file *handle;
  SP_TRY(new_handle(name, 1, 1, &handle));
  char driver_name[64];
  image_driver_name(driver_name, sizeof driver_name);
  hid_t access = make_image_access_list(handle->image, 0);
  hid_t id = access < 0 ? -1 : H5Fcreate(driver_name, H5F_ACC_TRUNC, H5P_DEFAULT, access);
  return finish_open(handle, id, access, "creating an in-memory file", file);
}

const char *sp_h5_name(const sp_h5_file *file) { return file->name; }

sp_status sp_h5_close(sp_h5_file *file) {
  if (!file) return SP_OK;
  h5_prepare();
  sp_status status = SP_OK;
  if (file->id >= 0 && H5Fclose(file->id) < 0)
    status = hdf5_fail(SP_ERROR_IO, file->name, "%s", file->writable ? "flushing and closing the file" : "closing the file");
  release_handle(file);
  return status;
}

/* The real length of a closed in-memory file: the end-of-file address its version 0
 * superblock records (we create every image that way: no user block, 8-byte offsets). */
static sp_status image_length(const sp_h5_file *file, uint64_t *length) {
  static const uint8_t signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  const h5_image *image = file->image;
  if (image->used < 56 || memcmp(image->buffer, signature, 8) != 0 || image->buffer[8] != 0 ||
      image->buffer[13] != 8 || sp_load_u64le(image->buffer + 24) != 0)
    return file_fail(SP_ERROR_INTERNAL, file->name, "the in-memory file does not start with a version 0 superblock");
  *length = sp_load_u64le(image->buffer + 40);
  if (*length < 56 || *length > image->used)
    return file_fail(SP_ERROR_INTERNAL, file->name, "superblock end of file %llu is outside the %zu bytes written",
                     (unsigned long long)*length, image->used);
  return SP_OK;
}

sp_status sp_h5_take_image(sp_h5_file *file, uint8_t **data, size_t *size) {
  *data = NULL;
  *size = 0;
  if (!file->image || !file->writable) {
    sp_status status = file_fail(SP_ERROR_INVALID_ARGUMENT, file->name, "not an in-memory file being written");
    sp_h5_close(file);
    return status;
  }
  h5_prepare();
  if (H5Fclose(file->id) < 0) {
    sp_status status = hdf5_fail(SP_ERROR_IO, file->name, "flushing and closing the in-memory file");
    file->id = -1;
    release_handle(file);
    return status;
  }
  file->id = -1;
  uint64_t length = 0;
  sp_status status = image_length(file, &length);
  if (status == SP_OK) {
    uint8_t *exact = realloc(file->image->buffer, (size_t)length);
    *data = exact ? exact : file->image->buffer;
    *size = (size_t)length;
    file->image->buffer = NULL;
  }
  release_handle(file);
  return status;
}

/* ------------------------------------------------------------- structure ---- */

sp_h5_kind sp_h5_kind_at(sp_h5_file *file, const char *path) {
  h5_prepare();
  hid_t object;
  sp_status status = open_object(file, path, &object);
  if (status == SP_ERROR_UNSAFE) return SP_H5_OTHER;
  if (status != SP_OK) return SP_H5_MISSING;
  sp_h5_kind kind = kind_of_object(object);
  close_id(object);
  return kind;
}

int sp_h5_exists(sp_h5_file *file, const char *path) {
  sp_h5_kind kind = sp_h5_kind_at(file, path);
  return kind == SP_H5_GROUP || kind == SP_H5_DATASET;
}

int sp_h5_is_group(sp_h5_file *file, const char *path) { return sp_h5_kind_at(file, path) == SP_H5_GROUP; }

typedef struct child_list {
  sp_h5_child *children;
  size_t count;
  size_t capacity;
  sp_status status;
} child_list;

static herr_t collect_child(hid_t group, const char *name, const H5L_info_t *link, void *data) {
  child_list *list = data;
  sp_h5_kind kind = SP_H5_OTHER;
  if (link->type == H5L_TYPE_HARD) {
    H5O_info_t object;
    if (H5Oget_info_by_name2(group, name, &object, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
      list->status = SP_ERROR_FORMAT;
      return -1;
    }
    if (object.type == H5O_TYPE_GROUP) kind = SP_H5_GROUP;
    if (object.type == H5O_TYPE_DATASET) kind = SP_H5_DATASET;
  }
  char *copy = sp_strdup(name);
  if (!copy || SP_RESERVE(list->children, list->capacity, list->count + 1) != SP_OK) {
    free(copy);
    list->status = SP_ERROR_NO_MEMORY;
    return -1;
  }
  list->children[list->count].name = copy;
  list->children[list->count].kind = kind;
  list->count++;
  return 0;
}

sp_status sp_h5_list(sp_h5_file *file, const char *group_path, sp_h5_child **children, size_t *count) {
  h5_prepare();
  *children = NULL;
  *count = 0;
  hid_t group;
  SP_TRY(open_object(file, group_path, &group));
  if (kind_of_object(group) != SP_H5_GROUP) {
    close_id(group);
    return file_fail(SP_ERROR_NOT_FOUND, file->name, "'%s' is not a group", shown_path(group_path));
  }
  child_list list = {NULL, 0, 0, SP_OK};
  herr_t result = H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_child, &list);
  if (result < 0) {
    sp_status status = list.status == SP_ERROR_NO_MEMORY
                           ? list.status
                           : hdf5_fail(SP_ERROR_FORMAT, file->name, "'%s': listing the group", shown_path(group_path));
    close_id(group);
    sp_h5_children_free(list.children, list.count);
    return status;
  }
  close_id(group);
  *children = list.children;
  *count = list.count;
  return SP_OK;
}

void sp_h5_children_free(sp_h5_child *children, size_t count) {
  if (!children) return;
  for (size_t index = 0; index < count; index++) free(children[index].name);
  free(children);
}

sp_status sp_h5_create_group(sp_h5_file *file, const char *path) {
  h5_prepare();
  SP_TRY(require_writable(file));
  sp_h5_kind kind = sp_h5_kind_at(file, path);
  if (kind == SP_H5_GROUP) return SP_OK;
  if (kind != SP_H5_MISSING)
    return file_fail(SP_ERROR_EXISTS, file->name, "cannot create group '%s': something else is there", path);
  hid_t links = make_link_list();
  hid_t group = links < 0 ? -1 : H5Gcreate2(file->id, path, links, H5P_DEFAULT, H5P_DEFAULT);
  sp_status status = group < 0 ? hdf5_fail(SP_ERROR_IO, file->name, "creating group '%s'", path) : SP_OK;
  close_id(group);
  close_id(links);
  return status;
}

/* ------------------------------------------------------ reading datasets ---- */

static int is_builtin_filter(H5Z_filter_t filter) {
  return filter == H5Z_FILTER_DEFLATE || filter == H5Z_FILTER_SHUFFLE || filter == H5Z_FILTER_FLETCHER32 ||
         filter == H5Z_FILTER_NBIT || filter == H5Z_FILTER_SCALEOFFSET;
}

/* Storage checks made before anything is allocated for a dataset; *contiguous tells its layout. */
static sp_status check_dataset_storage(const sp_h5_file *file, const char *where, hid_t dataset, size_t element_size,
                                       uint64_t limit, int *contiguous) {
  hid_t creation = H5Dget_create_plist(dataset);
  if (creation < 0) return hdf5_fail(SP_ERROR_FORMAT, file->name, "%s: reading its creation properties", where);
  sp_status status = SP_OK;
  H5D_layout_t layout = H5Pget_layout(creation);
  int filters = H5Pget_nfilters(creation);
  *contiguous = layout == H5D_CONTIGUOUS;
  if (layout < 0 || filters < 0) {
    status = hdf5_fail(SP_ERROR_FORMAT, file->name, "%s: reading its layout", where);
  } else if (layout == H5D_VIRTUAL) {
    status = file_fail(SP_ERROR_UNSAFE, file->name, "%s: is a virtual dataset (its data lives in other files)", where);
  } else if (H5Pget_external_count(creation) > 0) {
    status = file_fail(SP_ERROR_UNSAFE, file->name, "%s: keeps its data in external files", where);
  }
  for (int index = 0; status == SP_OK && index < filters; index++) {
    unsigned flags, configuration;
    size_t value_count = 0;
    char name[64] = "";
    H5Z_filter_t filter = H5Pget_filter2(creation, (unsigned)index, &flags, &value_count, NULL, sizeof name, name,
                                         &configuration);
    if (!is_builtin_filter(filter))
      status = file_fail(SP_ERROR_UNSUPPORTED, file->name,
                         "%s: uses filter %d ('%s'); savepoint runs only HDF5's built-in filters", where, (int)filter,
                         name);
  }
  if (status == SP_OK && layout == H5D_CHUNKED) {
    hsize_t chunk[H5S_MAX_RANK];
    int chunk_rank = H5Pget_chunk(creation, H5S_MAX_RANK, chunk);
    uint64_t chunk_bytes = element_size;
    for (int axis = 0; axis < chunk_rank; axis++)
      if (__builtin_mul_overflow(chunk_bytes, (uint64_t)chunk[axis], &chunk_bytes)) chunk_bytes = UINT64_MAX;
    if (chunk_rank < 0) status = hdf5_fail(SP_ERROR_FORMAT, file->name, "%s: reading its chunk shape", where);
    else if (chunk_bytes > limit)
      status = file_fail(SP_ERROR_UNSAFE, file->name, "%s: chunks of %llu bytes exceed the limit of %llu bytes",
                         where, (unsigned long long)chunk_bytes, (unsigned long long)limit);
  }
  H5Pclose(creation);
  return status;
}

/* What a dataset holds and how to read it (memory_type is owned). */
typedef struct dataset_view {
  sp_h5_dataset_info info;
  hid_t memory_type;
  int contiguous;       /* contiguous storage: one run of bytes in the file */
  int stored_as_memory; /* the file's type is memory_type itself: the bytes need no conversion */
} dataset_view;

static int has_bfloat16_flag(hid_t object);

static sp_status inspect_dataset(const sp_h5_file *file, const char *path, hid_t dataset, uint64_t limit,
                                 dataset_view *view) {
  char where[512];
  snprintf(where, sizeof where, "dataset '%s'", shown_path(path));
  memset(view, 0, sizeof *view);
  view->memory_type = -1;
  hid_t type = H5Dget_type(dataset), space = H5Dget_space(dataset);
  sp_status status = SP_OK;
  uint64_t count = 0;
  if (type < 0 || space < 0) status = hdf5_fail(SP_ERROR_FORMAT, file->name, "%s: reading its type", where);
  if (status == SP_OK)
    status = classify_type(file->name, where, type, has_bfloat16_flag(dataset), &view->info.dtype, &view->memory_type);
  if (status == SP_OK) status = read_extent(file->name, where, space, &view->info.rank, view->info.shape, &count);
  if (status == SP_OK)
    status = declared_bytes(file->name, where, count, sp_dtype_size(view->info.dtype), &view->info.declared_bytes);
  if (status == SP_OK)
    status = check_dataset_storage(file, where, dataset, sp_dtype_size(view->info.dtype), limit, &view->contiguous);
  if (status == SP_OK) view->stored_as_memory = H5Tequal(type, view->memory_type) > 0;
  if (status == SP_OK) {
    view->info.stored_bytes = H5Dget_storage_size(dataset);
    uint64_t declared = view->info.declared_bytes, stored = view->info.stored_bytes;
    if (declared > absurd_size_floor && declared / absurd_size_factor > stored)
      status = file_fail(SP_ERROR_UNSAFE, file->name,
                         "%s: declares %llu bytes but stores only %llu (over 4 GiB and more than %llux); refusing it",
                         where, (unsigned long long)declared, (unsigned long long)stored,
                         (unsigned long long)absurd_size_factor);
    else if (declared > limit)
      status = file_fail(SP_ERROR_UNSAFE, file->name, "%s: %llu bytes exceed the limit of %llu bytes", where,
                         (unsigned long long)declared, (unsigned long long)limit);
  }
  close_id(type);
  close_id(space);
  if (status != SP_OK) {
    close_id(view->memory_type);
    view->memory_type = -1;
  }
  return status;
}

sp_status sp_h5_describe_dataset(sp_h5_file *file, const char *path, sp_h5_dataset_info *info) {
  h5_prepare();
  hid_t dataset;
  SP_TRY(open_dataset(file, path, &dataset));
  dataset_view view;
  sp_status status = inspect_dataset(file, path, dataset, SP_H5_NO_LIMIT, &view);
  if (status == SP_OK) *info = view.info;
  close_id(view.memory_type);
  close_id(dataset);
  return status;
}

/* A large tensor read from or written to a file on disk moves in pieces of whole rows of about
 * 256 KiB through a small buffer, rather than by one read() or write() straight into or out of
 * the tensor: on the VMs we measured, the kernel touching a large user buffer costs about 1 s
 * per GiB the first time (see sp_atomic_write in core/file.c), a copy in user space through a
 * buffer it keeps touching does not. Images (the core driver copies in user space anyway),
 * tensors under 1 MiB, rows over 256 KiB and, when reading, datasets that are not contiguous
 * (chunks would be decoded once per piece) move whole. The bytes are the same either way. */
enum { PIECE_BYTES = 256 << 10 };

static int worth_moving_in_pieces(const sp_h5_file *file, const sp_tensor *tensor) {
  return !file->image && tensor->rank >= 1 && tensor->size >= 4 * PIECE_BYTES && tensor->shape[0] > 0 &&
         tensor->size / (size_t)tensor->shape[0] <= PIECE_BYTES;
}

/* Reads (reading) or writes the whole dataset from or to tensor, a piece of rows at a time. */
static herr_t move_in_pieces(hid_t dataset, hid_t memory_type, sp_tensor *tensor, int reading) {
  size_t rows = (size_t)tensor->shape[0], row_bytes = tensor->size / rows, piece_rows = PIECE_BYTES / row_bytes;
  uint8_t *piece = malloc(piece_rows * row_bytes), *data = tensor->data;
  hid_t file_space = piece ? H5Dget_space(dataset) : -1;
  if (file_space < 0) {
    free(piece);
    return reading ? H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data)
                   : H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  }
  hsize_t start[SP_MAX_RANK] = {0}, count[SP_MAX_RANK];
  for (int axis = 0; axis < tensor->rank; axis++) count[axis] = (hsize_t)tensor->shape[axis];
  herr_t result = 0;
  for (size_t row = 0; result >= 0 && row < rows; row += piece_rows) {
    size_t taken = rows - row < piece_rows ? rows - row : piece_rows;
    start[0] = row;
    count[0] = taken;
    if (!reading) memcpy(piece, data + row * row_bytes, taken * row_bytes);
    hid_t memory_space = H5Screate_simple(tensor->rank, count, NULL);
    result = memory_space < 0 ? -1 : H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, count, NULL);
    if (result >= 0)
      result = reading ? H5Dread(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, piece)
                       : H5Dwrite(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, piece);
    if (result >= 0 && reading) memcpy(data + row * row_bytes, piece, taken * row_bytes);
    if (memory_space >= 0) H5Sclose(memory_space);
  }
  H5Sclose(file_space);
  free(piece);
  return result;
}

/* H5Dread of the whole dataset into target, in pieces where that pays. */
static herr_t read_whole(const sp_h5_file *file, hid_t dataset, const dataset_view *view, sp_tensor *target) {
  if (worth_moving_in_pieces(file, target) && view->contiguous)
    return move_in_pieces(dataset, view->memory_type, target, 1);
  return H5Dread(dataset, view->memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, target->data);
}

sp_status sp_h5_read_tensor(sp_h5_file *file, const char *path, uint64_t limit, sp_tensor **tensor) {
  h5_prepare();
  *tensor = NULL;
  hid_t dataset;
  SP_TRY(open_dataset(file, path, &dataset));
  dataset_view view;
  sp_status status = inspect_dataset(file, path, dataset, limit, &view);
  sp_tensor *result = NULL;
  if (status == SP_OK) {
    result = sp_tensor_new(view.info.dtype, view.info.rank, view.info.shape);
    if (!result) status = sp_error_context(SP_ERROR_NO_MEMORY, "%s: dataset '%s'", file->name, shown_path(path));
  }
  if (status == SP_OK && result->size &&
      read_whole(file, dataset, &view, result) < 0)
    status = hdf5_fail(SP_ERROR_FORMAT, file->name, "dataset '%s': reading its data", shown_path(path));
  if (status == SP_OK && result->dtype == SP_BOOL) {
    uint8_t *values = result->data;
    for (size_t index = 0; index < result->size; index++) values[index] = values[index] != 0;
  }
  close_id(view.memory_type);
  close_id(dataset);
  if (status != SP_OK) {
    sp_tensor_free(result);
    return status;
  }
  *tensor = result;
  return SP_OK;
}

/* Where a dataset's elements lie in the mapped image, when a tensor can view them there as they
 * are: contiguous storage inside the image, stored exactly as they are kept in memory (type
 * equal to the memory type; not booleans, which are normalised) and aligned for the dtype. */
static const uint8_t *viewable_elements(const sp_h5_file *file, hid_t dataset, const dataset_view *view,
                                        const sp_tensor *target) {
  const h5_image *image = file->image;
  if (!image || !image->mapping || !target->size || target->dtype == SP_BOOL || !view->contiguous ||
      !view->stored_as_memory)
    return NULL;
  haddr_t offset = H5Dget_offset(dataset);
  if (offset == HADDR_UNDEF || offset > image->lent_size || target->size > image->lent_size - offset)
    return NULL;
  const uint8_t *elements = image->lent + offset;
  return (uintptr_t)elements % sp_dtype_size(target->dtype) == 0 ? elements : NULL;
}

sp_status sp_h5_read_tensor_into(sp_h5_file *file, const char *path, sp_tensor *target) {
  h5_prepare();
  hid_t dataset;
  SP_TRY(open_dataset(file, path, &dataset));
  dataset_view view;
  /* The target's size bounds the dataset (its shape must match); chunks, which may be larger
   * than the data they hold, get at least the floor every read allows. */
  uint64_t limit = target->size > chunk_floor ? target->size : chunk_floor;
  sp_status status = inspect_dataset(file, path, dataset, limit, &view);
  if (status == SP_OK && (view.info.dtype != target->dtype || view.info.rank != target->rank ||
                          memcmp(view.info.shape, target->shape, (size_t)target->rank * sizeof *target->shape) != 0)) {
    char found[128], expected[128];
    status = file_fail(SP_ERROR_MISMATCH, file->name, "dataset '%s' is %s %s, not the %s %s expected", shown_path(path),
                       sp_dtype_name(view.info.dtype), sp_shape_format(view.info.rank, view.info.shape, found, sizeof found),
                       sp_dtype_name(target->dtype), sp_shape_format(target->rank, target->shape, expected, sizeof expected));
  }
  const uint8_t *elements = status == SP_OK ? viewable_elements(file, dataset, &view, target) : NULL;
  if (elements) {
    sp_tensor_view(target, file->image->mapping, elements);
  } else if (status == SP_OK && target->size) {
    status = sp_tensor_prepare_overwrite(target);
    if (status == SP_OK && read_whole(file, dataset, &view, target) < 0)
      status = hdf5_fail(SP_ERROR_FORMAT, file->name, "dataset '%s': reading its data", shown_path(path));
  }
  if (status == SP_OK && target->dtype == SP_BOOL) {
    uint8_t *values = target->data;
    for (size_t index = 0; index < target->size; index++) values[index] = values[index] != 0;
  }
  close_id(view.memory_type);
  close_id(dataset);
  return status;
}

/* ---------------------------------------------------- reading attributes ---- */

static sp_status open_attribute(const sp_h5_file *file, const char *object_path, hid_t object, const char *name,
                                hid_t *attribute) {
  *attribute = -1;
  htri_t exists = H5Aexists(object, name);
  if (exists < 0)
    return hdf5_fail(SP_ERROR_FORMAT, file->name, "'%s': looking up attribute '%s'", shown_path(object_path), name);
  if (exists == 0)
    return file_fail(SP_ERROR_NOT_FOUND, file->name, "'%s' has no attribute '%s'", shown_path(object_path), name);
  *attribute = H5Aopen(object, name, H5P_DEFAULT);
  if (*attribute < 0)
    return hdf5_fail(SP_ERROR_FORMAT, file->name, "'%s': opening attribute '%s'", shown_path(object_path), name);
  return SP_OK;
}

/* The logical length of a fixed-length string as its padding defines it. */
static size_t fixed_string_length(const char *text, size_t size, H5T_str_t padding) {
  if (padding == H5T_STR_NULLPAD || padding == H5T_STR_SPACEPAD) {
    char pad = padding == H5T_STR_NULLPAD ? '\0' : ' ';
    while (size > 0 && text[size - 1] == pad) size--;
    return size;
  }
  const char *end = memchr(text, '\0', size);
  return end ? (size_t)(end - text) : size;
}

static sp_status read_fixed_strings(const char *file_name, const char *where, hid_t attribute, hid_t type,
                                    size_t count, sp_tensor *strings) {
  size_t size = H5Tget_size(type);
  char *buffer = sp_alloc_zeroed(count ? count : 1, size ? size : 1);
  if (!buffer) return SP_ERROR_NO_MEMORY;
  hid_t memory = H5Tcopy(type);
  sp_status status = SP_OK;
  if (memory < 0 || H5Aread(attribute, memory, buffer) < 0)
    status = hdf5_fail(SP_ERROR_FORMAT, file_name, "%s: reading its strings", where);
  H5T_str_t padding = H5Tget_strpad(type);
  for (size_t index = 0; status == SP_OK && index < count; index++) {
    const char *text = buffer + index * size;
    status = sp_tensor_set_string(strings, (int64_t)index, text, fixed_string_length(text, size, padding));
  }
  close_id(memory);
  free(buffer);
  return status;
}

static sp_status read_variable_strings(const char *file_name, const char *where, hid_t attribute, hid_t type,
                                       hid_t space, size_t count, sp_tensor *strings) {
  char **pointers = sp_alloc_zeroed(count ? count : 1, sizeof *pointers);
  if (!pointers) return SP_ERROR_NO_MEMORY;
  hid_t memory = H5Tcopy(H5T_C_S1);
  sp_status status = SP_OK;
  if (memory < 0 || H5Tset_size(memory, H5T_VARIABLE) < 0 || H5Tset_cset(memory, H5Tget_cset(type)) < 0 ||
      H5Aread(attribute, memory, pointers) < 0) {
    status = hdf5_fail(SP_ERROR_FORMAT, file_name, "%s: reading its strings", where);
  } else {
    for (size_t index = 0; status == SP_OK && index < count; index++) {
      const char *text = pointers[index] ? pointers[index] : "";
      status = sp_tensor_set_string(strings, (int64_t)index, text, strlen(text));
    }
    H5Dvlen_reclaim(memory, space, H5P_DEFAULT, pointers);
  }
  close_id(memory);
  free(pointers);
  return status;
}

/* Reads a string attribute (scalar or 1-D) into a new rank-1 SP_STRING tensor. */
static sp_status read_attribute_strings(const char *file_name, const char *where, hid_t attribute, sp_tensor **strings,
                                        int *scalar) {
  *strings = NULL;
  hid_t type = H5Aget_type(attribute), space = H5Aget_space(attribute);
  sp_status status = SP_OK;
  int rank = 0;
  int64_t shape[SP_MAX_RANK];
  uint64_t count = 0, bytes = 0;
  if (type < 0 || space < 0) status = hdf5_fail(SP_ERROR_FORMAT, file_name, "%s: reading its type", where);
  else if (H5Tget_class(type) != H5T_STRING)
    status = file_fail(SP_ERROR_FORMAT, file_name, "%s: expected strings, found %s values", where,
                       type_class_name(H5Tget_class(type)));
  if (status == SP_OK) status = read_extent(file_name, where, space, &rank, shape, &count);
  if (status == SP_OK && rank > 1)
    status = file_fail(SP_ERROR_FORMAT, file_name, "%s: expected a scalar or 1-D list of strings, found rank %d",
                       where, rank);
  int variable = status == SP_OK && H5Tis_variable_str(type) > 0;
  if (status == SP_OK)
    status = declared_bytes(file_name, where, count, variable ? sizeof(char *) : H5Tget_size(type), &bytes);
  if (status == SP_OK && bytes > attribute_read_limit)
    status = file_fail(SP_ERROR_UNSAFE, file_name, "%s: %llu bytes of strings exceed the limit of %llu", where,
                       (unsigned long long)bytes, (unsigned long long)attribute_read_limit);
  if (status == SP_OK) {
    int64_t length = (int64_t)count;
    *strings = sp_tensor_new(SP_STRING, 1, &length);
    if (!*strings) status = SP_ERROR_NO_MEMORY;
  }
  if (status == SP_OK)
    status = variable ? read_variable_strings(file_name, where, attribute, type, space, (size_t)count, *strings)
                      : read_fixed_strings(file_name, where, attribute, type, (size_t)count, *strings);
  if (status == SP_OK) *scalar = rank == 0;
  close_id(type);
  close_id(space);
  if (status != SP_OK) {
    sp_tensor_free(*strings);
    *strings = NULL;
  }
  return status;
}

/* Reads the string attribute `name` of object; the string list form allows an empty
 * numeric array, which is how h5py stores an empty Python list. */
static sp_status read_named_strings(const sp_h5_file *file, const char *object_path, hid_t object, const char *name,
                                    int want_list, sp_tensor **strings) {
  char where[512];
  snprintf(where, sizeof where, "attribute '%s' of '%s'", name, shown_path(object_path));
  hid_t attribute;
  SP_TRY(open_attribute(file, object_path, object, name, &attribute));
  sp_status status = SP_OK;
  hid_t type = H5Aget_type(attribute), space = H5Aget_space(attribute);
  int empty_numeric_list = want_list && type >= 0 && space >= 0 && H5Tget_class(type) != H5T_STRING &&
                           H5Sget_simple_extent_type(space) == H5S_SIMPLE && H5Sget_simple_extent_ndims(space) == 1 &&
                           H5Sget_simple_extent_npoints(space) == 0;
  close_id(type);
  close_id(space);
  if (empty_numeric_list) {
    int64_t none = 0;
    *strings = sp_tensor_new(SP_STRING, 1, &none);
    if (!*strings) status = SP_ERROR_NO_MEMORY;
  } else {
    int scalar = 0;
    status = read_attribute_strings(file->name, where, attribute, strings, &scalar);
    if (status == SP_OK && scalar == want_list) {
      sp_tensor_free(*strings);
      *strings = NULL;
      status = file_fail(SP_ERROR_FORMAT, file->name, "%s: expected %s, found %s", where,
                         want_list ? "a 1-D list of strings" : "a scalar string",
                         scalar ? "a scalar string" : "a 1-D list of strings");
    }
  }
  close_id(attribute);
  return status;
}

/* The flag Keras 3 puts on bfloat16 datasets. */
static int has_bfloat16_flag(hid_t object) {
  if (H5Aexists(object, "dtype") <= 0) return 0;
  hid_t attribute = H5Aopen(object, "dtype", H5P_DEFAULT);
  sp_tensor *strings = NULL;
  int scalar = 0, flagged = 0;
  if (attribute >= 0 && read_attribute_strings("", "", attribute, &strings, &scalar) == SP_OK && scalar)
    flagged = strcmp(((sp_string *)strings->data)[0].bytes, "bfloat16") == 0;
  sp_tensor_free(strings);
  close_id(attribute);
  H5Eclear2(H5E_DEFAULT);
  return flagged;
}

int sp_h5_has_attribute(sp_h5_file *file, const char *object_path, const char *name) {
  h5_prepare();
  hid_t object;
  if (open_object(file, object_path, &object) != SP_OK) return 0;
  int exists = H5Aexists(object, name) > 0;
  close_id(object);
  return exists;
}

sp_status sp_h5_read_string_attribute(sp_h5_file *file, const char *object_path, const char *name, char **value,
                                      size_t *length) {
  h5_prepare();
  *value = NULL;
  if (length) *length = 0;
  hid_t object;
  SP_TRY(open_object(file, object_path, &object));
  sp_tensor *strings = NULL;
  sp_status status = read_named_strings(file, object_path, object, name, 0, &strings);
  close_id(object);
  if (status != SP_OK) return status;
  sp_string *only = strings->data;
  *value = only->bytes;
  if (length) *length = only->length;
  only->bytes = NULL;
  sp_tensor_free(strings);
  return SP_OK;
}

/* Appends the strings of part to *list (moving them), creating *list on first use. */
static sp_status append_strings(sp_tensor **list, sp_tensor *part) {
  if (!*list) {
    *list = part;
    return SP_OK;
  }
  int64_t total = (*list)->shape[0] + part->shape[0];
  sp_tensor *joined = sp_tensor_new(SP_STRING, 1, &total);
  if (!joined) {
    sp_tensor_free(part);
    return SP_ERROR_NO_MEMORY;
  }
  size_t first = (*list)->size, second = part->size;
  memcpy(joined->data, (*list)->data, first);
  memcpy((uint8_t *)joined->data + first, part->data, second);
  memset((*list)->data, 0, first);
  memset(part->data, 0, second);
  sp_tensor_free(*list);
  sp_tensor_free(part);
  *list = joined;
  return SP_OK;
}

sp_status sp_h5_read_string_list_attribute(sp_h5_file *file, const char *object_path, const char *name,
                                           sp_tensor **strings) {
  h5_prepare();
  *strings = NULL;
  hid_t object;
  SP_TRY(open_object(file, object_path, &object));
  sp_status status = SP_OK;
  if (H5Aexists(object, name) > 0) {
    status = read_named_strings(file, object_path, object, name, 1, strings);
  } else {
    /* Keras's split form: name0, name1, ... until one is missing. */
    size_t name_length = strlen(name) + 24;
    char *part_name = sp_alloc(name_length);
    if (!part_name) status = SP_ERROR_NO_MEMORY;
    for (size_t part_index = 0; status == SP_OK; part_index++) {
      snprintf(part_name, name_length, "%s%zu", name, part_index);
      if (H5Aexists(object, part_name) <= 0) break;
      sp_tensor *part = NULL;
      status = read_named_strings(file, object_path, object, part_name, 1, &part);
      if (status == SP_OK) status = append_strings(strings, part);
    }
    free(part_name);
    if (status == SP_OK && !*strings)
      status = file_fail(SP_ERROR_NOT_FOUND, file->name, "'%s' has no attribute '%s' (nor '%s0', '%s1', ...)",
                         shown_path(object_path), name, name, name);
  }
  close_id(object);
  if (status != SP_OK) {
    sp_tensor_free(*strings);
    *strings = NULL;
  }
  return status;
}

sp_status sp_h5_read_attribute_tensor(sp_h5_file *file, const char *object_path, const char *name,
                                      sp_tensor **tensor) {
  h5_prepare();
  *tensor = NULL;
  char where[512];
  snprintf(where, sizeof where, "attribute '%s' of '%s'", name, shown_path(object_path));
  hid_t object, attribute = -1, memory = -1;
  SP_TRY(open_object(file, object_path, &object));
  sp_status status = open_attribute(file, object_path, object, name, &attribute);
  hid_t type = attribute < 0 ? -1 : H5Aget_type(attribute), space = attribute < 0 ? -1 : H5Aget_space(attribute);
  sp_dtype dtype = SP_DTYPE_INVALID;
  int rank = 0;
  int64_t shape[SP_MAX_RANK];
  uint64_t count = 0, bytes = 0;
  if (status == SP_OK && (type < 0 || space < 0))
    status = hdf5_fail(SP_ERROR_FORMAT, file->name, "%s: reading its type", where);
  if (status == SP_OK) status = classify_type(file->name, where, type, 0, &dtype, &memory);
  if (status == SP_OK) status = read_extent(file->name, where, space, &rank, shape, &count);
  if (status == SP_OK) status = declared_bytes(file->name, where, count, sp_dtype_size(dtype), &bytes);
  if (status == SP_OK && bytes > attribute_read_limit)
    status = file_fail(SP_ERROR_UNSAFE, file->name, "%s: %llu bytes exceed the limit of %llu", where,
                       (unsigned long long)bytes, (unsigned long long)attribute_read_limit);
  if (status == SP_OK && !(*tensor = sp_tensor_new(dtype, rank, shape))) status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK && (*tensor)->size && H5Aread(attribute, memory, (*tensor)->data) < 0)
    status = hdf5_fail(SP_ERROR_FORMAT, file->name, "%s: reading its values", where);
  close_id(memory);
  close_id(type);
  close_id(space);
  close_id(attribute);
  close_id(object);
  if (status != SP_OK) {
    sp_tensor_free(*tensor);
    *tensor = NULL;
  }
  return status;
}

/* ------------------------------------------------------- writing ---- */

static hid_t make_string_type(size_t size, sp_h5_encoding encoding) {
  hid_t type = H5Tcopy(H5T_C_S1);
  if (type < 0) return -1;
  int fixed = size != H5T_VARIABLE;
  if (H5Tset_size(type, size) < 0 || (fixed && H5Tset_strpad(type, H5T_STR_NULLPAD) < 0) ||
      H5Tset_cset(type, encoding == SP_H5_STR ? H5T_CSET_UTF8 : H5T_CSET_ASCII) < 0) {
    H5Tclose(type);
    return -1;
  }
  return type;
}

/* Creates (replacing any previous one) attribute name on the object at object_path and
 * writes buffer, whose memory layout is type. */
static sp_status write_attribute(sp_h5_file *file, const char *object_path, const char *name, hid_t type, hid_t space,
                                 const void *buffer) {
  hid_t object;
  SP_TRY(open_object(file, object_path, &object));
  sp_status status = SP_OK;
  if (H5Aexists(object, name) > 0 && H5Adelete(object, name) < 0)
    status = hdf5_fail(SP_ERROR_IO, file->name, "'%s': replacing attribute '%s'", shown_path(object_path), name);
  hid_t attribute = status == SP_OK ? H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT) : -1;
  if (status == SP_OK && attribute < 0)
    status = hdf5_fail(SP_ERROR_IO, file->name, "'%s': creating attribute '%s'", shown_path(object_path), name);
  if (status == SP_OK && H5Sget_simple_extent_npoints(space) > 0 && H5Awrite(attribute, type, buffer) < 0)
    status = hdf5_fail(SP_ERROR_IO, file->name, "'%s': writing attribute '%s'", shown_path(object_path), name);
  close_id(attribute);
  close_id(object);
  return status;
}

sp_status sp_h5_write_string_attribute(sp_h5_file *file, const char *object_path, const char *name, const char *value,
                                       size_t length, sp_h5_encoding encoding) {
  h5_prepare();
  SP_TRY(require_writable(file));
  if (memchr(value, '\0', length))
    return file_fail(SP_ERROR_INVALID_ARGUMENT, file->name,
                     "'%s': attribute '%s': variable-length HDF5 strings cannot hold NUL bytes", shown_path(object_path),
                     name);
  char *text = sp_strndup(value, length);
  if (!text) return SP_ERROR_NO_MEMORY;
  hid_t type = make_string_type(H5T_VARIABLE, encoding), space = H5Screate(H5S_SCALAR);
  sp_status status = (type < 0 || space < 0)
                         ? hdf5_fail(SP_ERROR_INTERNAL, file->name, "building a string type")
                         : write_attribute(file, object_path, name, type, space, &text);
  close_id(type);
  close_id(space);
  free(text);
  return status;
}

static sp_status write_attribute_array(sp_h5_file *file, const char *object_path, const char *name, hid_t type,
                                       size_t count, const void *buffer) {
  hsize_t length = count;
  hid_t space = H5Screate_simple(1, &length, NULL);
  if (space < 0) return hdf5_fail(SP_ERROR_INTERNAL, file->name, "building a dataspace");
  sp_status status = write_attribute(file, object_path, name, type, space, buffer);
  close_id(space);
  return status;
}

/* One chunk of Keras's split form: fixed-length NULLPAD strings of width bytes. */
static sp_status write_fixed_chunk(sp_h5_file *file, const char *object_path, const char *name,
                                   const char *const *values, size_t count, size_t width, sp_h5_encoding encoding) {
  char *buffer = sp_alloc_zeroed(count, width);
  if (!buffer) return SP_ERROR_NO_MEMORY;
  for (size_t index = 0; index < count; index++) memcpy(buffer + index * width, values[index], strlen(values[index]));
  hid_t type = make_string_type(width, encoding);
  sp_status status = type < 0 ? hdf5_fail(SP_ERROR_INTERNAL, file->name, "building a string type")
                              : write_attribute_array(file, object_path, name, type, count, buffer);
  close_id(type);
  free(buffer);
  return status;
}

sp_status sp_h5_write_string_list_attribute(sp_h5_file *file, const char *object_path, const char *name,
                                            const char *const *values, size_t count, sp_h5_encoding encoding) {
  h5_prepare();
  SP_TRY(require_writable(file));
  if (count == 0) { /* h5py stores [] as numpy's default: float64, shape (0,) */
    hid_t type = H5Tcopy(H5T_IEEE_F64LE);
    sp_status status = write_attribute_array(file, object_path, name, type, 0, NULL);
    close_id(type);
    return status;
  }
  size_t width = 1; /* numpy's fixed-width itemsize: the longest value, at least 1 */
  for (size_t index = 0; index < count; index++) {
    size_t length = strlen(values[index]);
    if (length > SP_H5_ATTRIBUTE_SPLIT_BYTES)
      return file_fail(SP_ERROR_UNSUPPORTED, file->name,
                       "'%s': attribute '%s': value %zu is %zu bytes; Keras cannot store values over %d bytes",
                       shown_path(object_path), name, index, length, SP_H5_ATTRIBUTE_SPLIT_BYTES);
    if (length > width) width = length;
  }
  size_t per_chunk = SP_H5_ATTRIBUTE_SPLIT_BYTES / width;
  if (count <= per_chunk) {
    hid_t type = make_string_type(H5T_VARIABLE, encoding);
    sp_status status = type < 0 ? hdf5_fail(SP_ERROR_INTERNAL, file->name, "building a string type")
                                : write_attribute_array(file, object_path, name, type, count, values);
    close_id(type);
    return status;
  }
  /* numpy.array_split into the fewest chunks that fit: the first count % chunks chunks
   * hold one value more than the rest. */
  size_t chunks = (count + per_chunk - 1) / per_chunk, offset = 0;
  size_t chunk_name_length = strlen(name) + 24;
  char *chunk_name = sp_alloc(chunk_name_length);
  if (!chunk_name) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  for (size_t chunk = 0; status == SP_OK && chunk < chunks; chunk++) {
    size_t size = count / chunks + (chunk < count % chunks ? 1 : 0);
    snprintf(chunk_name, chunk_name_length, "%s%zu", name, chunk);
    status = write_fixed_chunk(file, object_path, chunk_name, values + offset, size, width, encoding);
    offset += size;
  }
  free(chunk_name);
  return status;
}

sp_status sp_h5_write_tensor(sp_h5_file *file, const char *path, const sp_tensor *tensor) {
  h5_prepare();
  SP_TRY(require_writable(file));
  int64_t count = 0;
  if (!path || !*path || strcmp(path, "/") == 0)
    return file_fail(SP_ERROR_INVALID_ARGUMENT, file->name, "a dataset needs a name");
  if (tensor->rank < 0 || tensor->rank > SP_MAX_RANK || sp_shape_count(tensor->rank, tensor->shape, &count) != SP_OK ||
      (uint64_t)count * sp_dtype_size(tensor->dtype) != tensor->size)
    return file_fail(SP_ERROR_INVALID_ARGUMENT, file->name, "dataset '%s': the tensor's shape and size disagree", path);
  if (sp_h5_kind_at(file, path) != SP_H5_MISSING)
    return file_fail(SP_ERROR_EXISTS, file->name, "dataset '%s': something is already there", path);
  hid_t type = type_for_dtype(tensor->dtype);
  if (type < 0)
    return file_fail(SP_ERROR_UNSUPPORTED, file->name, "dataset '%s': cannot store %s tensors in HDF5", path,
                     sp_dtype_name(tensor->dtype));
  hsize_t dimensions[SP_MAX_RANK];
  for (int axis = 0; axis < tensor->rank; axis++) dimensions[axis] = (hsize_t)tensor->shape[axis];
  hid_t space = tensor->rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(tensor->rank, dimensions, NULL);
  hid_t links = make_link_list(), creation = H5Pcreate(H5P_DATASET_CREATE);
  sp_status status = SP_OK;
  if (space < 0 || links < 0 || creation < 0 || H5Pset_obj_track_times(creation, 0) < 0)
    status = hdf5_fail(SP_ERROR_INTERNAL, file->name, "dataset '%s': building its properties", path);
  hid_t dataset = status == SP_OK ? H5Dcreate2(file->id, path, type, space, links, creation, H5P_DEFAULT) : -1;
  if (status == SP_OK && dataset < 0) status = hdf5_fail(SP_ERROR_IO, file->name, "creating dataset '%s'", path);
  herr_t written = 0;
  if (status == SP_OK && tensor->size)
    written = worth_moving_in_pieces(file, tensor) ? move_in_pieces(dataset, type, (sp_tensor *)tensor, 0)
                                                   : H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, tensor->data);
  if (written < 0) status = hdf5_fail(SP_ERROR_IO, file->name, "writing dataset '%s'", path);
  close_id(dataset);
  close_id(creation);
  close_id(links);
  close_id(space);
  close_id(type);
  if (status == SP_OK && tensor->dtype == SP_BFLOAT16)
    status = sp_h5_write_string_attribute(file, path, "dtype", "bfloat16", 8, SP_H5_STR);
  return status;
}
