/* Tests of core/npy.c and npy_print.c. NumPy (/usr/bin/python3) is the peer: it writes the files we
 * read, reads the files we write, and prints the text sp_npy_format must reproduce. Hand-made
 * headers cover what numpy never writes (hostile or unsupported files). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/memory.h"
#include "core/npy.h"
#include "test_support.h"

static const char python[] = "/usr/bin/python3";

static void require_numpy(void) {
  if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    cr_skip_test("/usr/bin/python3 with numpy is not installed: peer check skipped");
}

/* Runs a Python snippet with numpy imported as np and `d` bound to directory; fails on error. */
static void run_python(const char *directory, const char *code) {
  char *script = sp_strdupf("%s/script.py", directory);
  FILE *file = fopen(script, "w");
  cr_assert_not_null(file);
  fprintf(file, "import numpy as np, sys\nd = %s'%s'\n%s\n", "", directory, code);
  fclose(file);
  char *command = sp_strdupf("%s %s", python, script);
  int status = system(command);
  cr_assert_eq(status, 0, "python failed: %s", code);
  free(command);
  free(script);
}

static char *path_in(const char *directory, const char *name) { return sp_path_join(directory, name); }

static char *read_text(const char *path) {
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_read_file(path, 1 << 24, &data, &size));
  return (char *)data;
}

Test(npy, reads_what_numpy_writes) {
  require_numpy();
  char *directory = sp_test_temp_dir("npy-read");
  run_python(directory,
             "arrays = {'f4': np.arange(6, dtype='<f4').reshape(2, 3) / 4, 'f8': np.array([1.5, -2.25]),\n"
             " 'f2': np.array([0.5, 65504], dtype='<f2'), 'i1': np.array([-128, 127], dtype='i1'),\n"
             " 'i2': np.array([[-3]], dtype='<i2'), 'i4': np.array(7, dtype='<i4'),\n"
             " 'i8': np.array([-(2**62), 2**62], dtype='<i8'), 'u1': np.array([0, 255], dtype='u1'),\n"
             " 'u2': np.array([65535], dtype='<u2'), 'u4': np.array([4000000000], dtype='<u4'),\n"
             " 'u8': np.array([2**63], dtype='<u8'), 'b1': np.array([True, False, True]),\n"
             " 'S': np.array([b'ab', b'', b'xyz']), 'U': np.array(['h\\u00e9', 'z']),\n"
             " 'empty': np.zeros((0, 3), dtype='<f4'), 'big': np.ones((300, 400), dtype='<f4')}\n"
             "for name, a in arrays.items(): np.save(d + '/' + name + '.npy', a)\n"
             "np.lib.format.write_array(open(d + '/v2.npy', 'wb'), np.arange(3, dtype='<i4'), version=(2, 0))\n"
             "np.lib.format.write_array(open(d + '/v3.npy', 'wb'), np.arange(3, dtype='<i4'), version=(3, 0))\n");
  sp_tensor *t;
  char *path = path_in(directory, "f4.npy");
  SP_ASSERT_OK(sp_npy_read(path, 1 << 30, &t));
  cr_assert_eq(t->dtype, SP_FLOAT32);
  cr_assert_eq(t->rank, 2);
  cr_assert_eq(t->shape[0], 2);
  cr_assert_eq(t->shape[1], 3);
  cr_assert_eq(sp_tensor_floats(t)[5], 1.25f);
  sp_tensor_free(t);
  free(path);
  struct {
    const char *name;
    sp_dtype dtype;
    int rank;
    int64_t count;
    double last;
  } cases[] = {{"f8", SP_FLOAT64, 1, 2, -2.25},     {"f2", SP_FLOAT16, 1, 2, 65504},
               {"i1", SP_INT8, 1, 2, 127},          {"i2", SP_INT16, 2, 1, -3},
               {"i4", SP_INT32, 0, 1, 7},           {"i8", SP_INT64, 1, 2, 4611686018427387904.0},
               {"u1", SP_UINT8, 1, 2, 255},         {"u2", SP_UINT16, 1, 1, 65535},
               {"u4", SP_UINT32, 1, 1, 4000000000}, {"u8", SP_UINT64, 1, 1, 9223372036854775808.0},
               {"b1", SP_BOOL, 1, 3, 1},            {"empty", SP_FLOAT32, 2, 0, 0},
               {"big", SP_FLOAT32, 2, 120000, 1},   {"v2", SP_INT32, 1, 3, 2},
               {"v3", SP_INT32, 1, 3, 2}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *name = sp_strdupf("%s.npy", cases[i].name);
    path = path_in(directory, name);
    SP_ASSERT_OK(sp_npy_read(path, 1 << 30, &t));
    cr_assert_eq(t->dtype, cases[i].dtype, "%s", name);
    cr_assert_eq(t->rank, cases[i].rank, "%s", name);
    cr_assert_eq(sp_tensor_count(t), cases[i].count, "%s", name);
    if (cases[i].count) cr_assert_eq(sp_tensor_get_double(t, cases[i].count - 1), cases[i].last, "%s", name);
    sp_tensor_free(t);
    free(path);
    free(name);
  }
  path = path_in(directory, "S.npy");
  SP_ASSERT_OK(sp_npy_read(path, 1 << 30, &t));
  cr_assert_eq(t->dtype, SP_STRING);
  sp_string *strings = t->data;
  cr_assert_eq(strings[1].length, 0);
  cr_assert_eq(strings[2].length, 3);
  cr_assert(memcmp(strings[2].bytes, "xyz", 3) == 0);
  sp_tensor_free(t);
  free(path);
  path = path_in(directory, "U.npy");
  SP_ASSERT_OK(sp_npy_read(path, 1 << 30, &t));
  strings = t->data;
  cr_assert_eq(strings[0].length, 3);
  cr_assert(memcmp(strings[0].bytes, "h\xc3\xa9", 3) == 0);
  sp_tensor_free(t);
  free(path);
  sp_remove_tree(directory);
  free(directory);
}

Test(npy, numpy_reads_what_we_write_byte_for_byte) {
  require_numpy();
  char *directory = sp_test_temp_dir("npy-write");
  int64_t shape23[] = {2, 3}, shape1[] = {4}, shape0[] = {0};
  sp_tensor *floats = sp_tensor_new(SP_FLOAT32, 2, shape23);
  for (int i = 0; i < 6; i++) sp_tensor_floats(floats)[i] = (float)i / 4;
  sp_tensor *scalar = sp_tensor_new(SP_INT64, 0, NULL);
  ((int64_t *)scalar->data)[0] = -5;
  sp_tensor *bools = sp_tensor_new(SP_BOOL, 1, shape1);
  ((uint8_t *)bools->data)[2] = 1;
  sp_tensor *strings = sp_tensor_new(SP_STRING, 1, shape1);
  SP_ASSERT_OK(sp_tensor_set_string(strings, 0, "ab", 2));
  SP_ASSERT_OK(sp_tensor_set_string(strings, 3, "xyz", 3));
  sp_tensor *empty = sp_tensor_new(SP_UINT8, 1, shape0);
  const char *names[] = {"floats", "scalar", "bools", "strings", "empty"};
  sp_tensor *tensors[] = {floats, scalar, bools, strings, empty};
  for (int i = 0; i < 5; i++) {
    char *name = sp_strdupf("%s/%s.npy", directory, names[i]);
    SP_ASSERT_OK(sp_npy_write(name, tensors[i]));
    free(name);
    sp_tensor_free(tensors[i]);
  }
  run_python(directory,
             "expected = {'floats': np.arange(6, dtype='<f4').reshape(2, 3) / 4, 'scalar': np.array(-5),\n"
             " 'bools': np.array([False, False, True, False]), 'strings': np.array([b'ab', b'', b'', b'xyz']),\n"
             " 'empty': np.zeros(0, dtype='u1')}\n"
             "import io\n"
             "for name, want in expected.items():\n"
             "    raw = open(d + '/' + name + '.npy', 'rb').read()\n"
             "    got = np.load(d + '/' + name + '.npy')\n"
             "    assert got.dtype == want.dtype and got.shape == want.shape and (got == want).all(), name\n"
             "    buffer = io.BytesIO(); np.save(buffer, want)\n"
             "    assert raw == buffer.getvalue(), (name, raw[:140], buffer.getvalue()[:140])\n");
  sp_remove_tree(directory);
  free(directory);
}

Test(npy, prints_like_numpy_str) {
  require_numpy();
  char *directory = sp_test_temp_dir("npy-print");
  run_python(directory,
             "rng = np.random.default_rng(7)\n"
             "arrays = [np.array([[3.0], [3.5], [4.0]], dtype='f4'), np.float32(3.0), np.float32(0.1),\n"
             " np.float64(1e-5), np.float32(2.5e20), np.array([1e-5, 1.0], dtype='f4'),\n"
             " np.array([1.5e-5, 1.0, -3e3], dtype='f8'), np.array([np.nan, np.inf, -np.inf, 1.25], dtype='f4'),\n"
             " np.array([1e9, 2.0], dtype='f4'), np.array([0.0, -0.0, 7.0]), np.arange(30, dtype='f4') / 7,\n"
             " rng.standard_normal((4, 3, 5)).astype('f4'), rng.standard_normal(2000).astype('f4'),\n"
             " rng.standard_normal((50, 50)).astype('f4') * 1000, np.arange(-5, 40, dtype='i4'),\n"
             " np.array([[1, -200], [3, 4]], dtype='i8'), np.array(7, dtype='i4'), np.array([0, 255], dtype='u1'),\n"
             " np.array([True, False]), np.array(True), np.array([b'a\\'b', b'\\x00\\n', b'plain']),\n"
             " np.array(b'foo.txt'), np.zeros((2, 0), dtype='f4'), np.arange(2000, dtype='i8').reshape(2, 10, 100),\n"
             " np.array([0.5, 65504], dtype='f2'), np.array([1e-4, 1e-4 * 999], dtype='f4')]\n"
             "for i, a in enumerate(arrays):\n"
             "    np.save('%s/a%d.npy' % (d, i), a)\n"
             "    open('%s/a%d.txt' % (d, i), 'w').write(str(a))\n"
             "open(d + '/count', 'w').write(str(len(arrays)))\n");
  char *count_path = path_in(directory, "count");
  char *count_text = read_text(count_path);
  int count = atoi(count_text);
  for (int i = 0; i < count; i++) {
    char *npy = sp_strdupf("%s/a%d.npy", directory, i), *txt = sp_strdupf("%s/a%d.txt", directory, i);
    sp_tensor *t;
    SP_ASSERT_OK(sp_npy_read(npy, 1 << 30, &t));
    sp_buffer out = {0};
    SP_ASSERT_OK(sp_npy_format(t, &out));
    cr_assert(sp_buffer_append(&out, "", 1) == SP_OK);
    char *expected = read_text(txt);
    cr_expect_str_eq((char *)out.data, expected, "array %d:\nours:\n%s\nnumpy:\n%s", i, (char *)out.data, expected);
    free(expected);
    sp_buffer_free(&out);
    sp_tensor_free(t);
    free(npy);
    free(txt);
  }
  free(count_text);
  free(count_path);
  sp_remove_tree(directory);
  free(directory);
}

/* ---------- what numpy never writes ---------- */

static sp_status parse_header(const char *header, const void *data, size_t data_size, sp_tensor **t) {
  sp_buffer file = {0};
  size_t length = strlen(header);
  cr_assert(sp_buffer_append(&file, "\x93NUMPY\x01\x00", 8) == SP_OK);
  cr_assert(sp_buffer_put_u8(&file, (uint8_t)(length & 0xff)) == SP_OK);
  cr_assert(sp_buffer_put_u8(&file, (uint8_t)(length >> 8)) == SP_OK);
  cr_assert(sp_buffer_append(&file, header, length) == SP_OK);
  if (data_size) cr_assert(sp_buffer_append(&file, data, data_size) == SP_OK);
  sp_status status = sp_npy_parse(file.data, file.size, "test.npy", t);
  sp_buffer_free(&file);
  return status;
}

Test(npy_hostile, refuses_what_it_cannot_read_safely) {
  sp_tensor *t;
  float data[4] = {0};
  SP_ASSERT_FAILS(parse_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", data, 16, &t),
                  SP_ERROR_UNSUPPORTED, "Fortran");
  SP_ASSERT_FAILS(parse_header("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }\n", data, 16, &t),
                  SP_ERROR_UNSUPPORTED, "big-endian");
  SP_ASSERT_FAILS(parse_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n", data, 8, &t),
                  SP_ERROR_UNSAFE, "pickle");
  SP_ASSERT_FAILS(parse_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", data, 4, &t),
                  SP_ERROR_UNSUPPORTED, "structured");
  SP_ASSERT_FAILS(parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }\n", data, 16, &t),
                  SP_ERROR_FORMAT, "shape and dtype need 5 x 4");
  SP_ASSERT_FAILS(parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }\n",
                               data, 16, &t),
                  SP_ERROR_FORMAT, "2^62");
  SP_ASSERT_FAILS(parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }\n", data, 4, &t),
                  SP_ERROR_UNSUPPORTED, "more than 8 dimensions");
  SP_ASSERT_FAILS(parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': __import__('os'), }\n", data, 4, &t),
                  SP_ERROR_FORMAT, "expected '('");
  SP_ASSERT_FAILS(parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}\n", data, 4, &t),
                  SP_ERROR_FORMAT, "unexpected or repeated key 'x'");
  SP_ASSERT_FAILS(parse_header("{'descr': '<f4', 'shape': (1,), }\n", data, 4, &t), SP_ERROR_FORMAT,
                  "lacks 'fortran_order'");
  SP_ASSERT_FAILS(parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x\n", data, 4, &t),
                  SP_ERROR_FORMAT, "only spaces after the header");
  const uint8_t short_file[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0xff, '{'};
  SP_ASSERT_FAILS(sp_npy_parse(short_file, sizeof short_file, "short.npy", &t), SP_ERROR_FORMAT, "file is shorter");
  const uint8_t version9[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 9, 0, 0, 0};
  SP_ASSERT_FAILS(sp_npy_parse(version9, sizeof version9, "v9.npy", &t), SP_ERROR_UNSUPPORTED, "version 9.0");
  SP_ASSERT_FAILS(sp_npy_parse((const uint8_t *)"PK\003\004", 4, "zip.npy", &t), SP_ERROR_FORMAT, "not a .npy file");
}

Test(npy_hostile, one_dimensional_fortran_order_is_c_order) {
  sp_tensor *t;
  float data[2] = {1, 2};
  SP_ASSERT_OK(parse_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }\n", data, 8, &t));
  cr_assert_eq(sp_tensor_floats(t)[1], 2.0f);
  sp_tensor_free(t);
}
