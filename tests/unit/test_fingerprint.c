/* test_fingerprint.c — FarmHash Fingerprint64, FingerprintCat64 and the fingerprint.pb hashes.
 *
 * References: libfarmhash itself (Debian's libfarmhash0, loaded at run time: its
 * util::Fingerprint64 has the C calling convention of (const char *, size_t) → uint64_t), and
 * the fingerprint.pb files TensorFlow wrote next to the fixtures' SavedModels.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "fingerprint.pb-c.h"
#include "formats/fingerprint.h"
#include "formats/proto_read.h"
#include "test_support.h"

typedef uint64_t (*farmhash_fingerprint64)(const char *data, size_t size);

static farmhash_fingerprint64 load_farmhash(void **library) {
  *library = dlopen("libfarmhash.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!*library) return NULL;
  return (farmhash_fingerprint64)dlsym(*library, "_ZN4util13Fingerprint64EPKcm");
}

Test(fingerprint64, agrees_with_libfarmhash_for_every_length_path) {
  void *library;
  farmhash_fingerprint64 reference = load_farmhash(&library);
  if (!reference) cr_skip_test("libfarmhash0 is not installed (apt-get install libfarmhash0)");
  uint8_t data[1100];
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i < sizeof data; i++) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    data[i] = (uint8_t)(state >> 56);
  }
  for (size_t length = 0; length <= sizeof data; length++)
    for (size_t offset = 0; offset < 3; offset++) {
      if (offset + length > sizeof data) continue;
      uint64_t expected = reference((const char *)data + offset, length);
      cr_assert_eq(sp_fingerprint64(data + offset, length), expected, "length %zu offset %zu", length, offset);
    }
  dlclose(library);
}

Test(fingerprint64, cat64_follows_the_formula) {
  /* FingerprintCat64 from formats.md §5.4, evaluated step by step here with other operations. */
  uint64_t a = 0x0123456789abcdefULL, b = 0xfedcba9876543210ULL, mul = 0xc6a4a7935bd1e995ULL;
  uint64_t r = a ^ mul;
  uint64_t t = b * mul;
  t = (t ^ (t >> 47)) * mul;
  r ^= t;
  r *= mul;
  r = (r ^ (r >> 47)) * mul;
  r ^= r >> 47;
  cr_assert_eq(sp_fingerprint_cat64(a, b), r);
  cr_assert_neq(sp_fingerprint_cat64(a, b), sp_fingerprint_cat64(b, a));
}

static Tensorflow__FingerprintDef *read_fingerprint(const char *directory) {
  char *path = sp_path_join(directory, "fingerprint.pb");
  ProtobufCMessage *message;
  SP_ASSERT_OK(sp_proto_read_file(&tensorflow__fingerprint_def__descriptor, path, 1 << 20, &message));
  free(path);
  return (Tensorflow__FingerprintDef *)message;
}

static void check_fixture(const char *relative, sp_fingerprint_rules rules) {
  char *directory = sp_test_fixture(relative);
  Tensorflow__FingerprintDef *expected = read_fingerprint(directory);
  sp_fingerprint actual;
  SP_ASSERT_OK(sp_fingerprint_saved_model_directory(directory, rules, &actual));
  cr_expect_eq(actual.checkpoint_hash, expected->checkpoint_hash, "%s checkpoint_hash", relative);
  cr_expect_eq(actual.signature_def_hash, expected->signature_def_hash, "%s signature_def_hash", relative);
  cr_expect_eq(actual.graph_def_program_hash, expected->graph_def_program_hash, "%s graph_def_program_hash",
               relative);
  cr_expect_eq(actual.saved_object_graph_hash, expected->saved_object_graph_hash, "%s saved_object_graph_hash",
               relative);
  if (rules == SP_FINGERPRINT_TF_2_14)
    cr_expect_eq(actual.saved_model_checksum, expected->saved_model_checksum, "%s saved_model_checksum", relative);
  protobuf_c_message_free_unpacked(&expected->base, NULL);
  free(directory);
}

/* TF 2.14 wrote saved_model.pb deterministically, so every field can be recomputed. */
Test(fingerprint_fixtures, half_plus_two_tf2_all_five_hashes) {
  check_fixture("tfserving-testdata/saved_model_half_plus_two_tf2_cpu/00000123", SP_FINGERPRINT_TF_2_14);
}

/* TF 2.12 computed saved_model_checksum from a serialization that is neither the file it wrote nor
 * its deterministic re-serialization, so that one field cannot be recomputed from the file; the four
 * regularized hashes can (its signature hash leaves the keys out). */
Test(fingerprint_fixtures, keras_tf2_12_savedmodels) {
  check_fixture("keras-savedmodel-mlmath4-tf2.12/model", SP_FINGERPRINT_TF_2_12);
  check_fixture("keras2.12-house-price-h5-savedmodel-tfjsgraph/saved_model", SP_FINGERPRINT_TF_2_12);
}

Test(fingerprint_serialize, round_trips_through_the_proto) {
  sp_fingerprint fingerprint = {1, 2, 3, 4, UINT64_MAX};
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_fingerprint_serialize(&fingerprint, &data, &size));
  ProtobufCMessage *message;
  SP_ASSERT_OK(sp_proto_unpack(&tensorflow__fingerprint_def__descriptor, data, size, "test", &message));
  Tensorflow__FingerprintDef *proto = (Tensorflow__FingerprintDef *)message;
  cr_assert_eq(proto->checkpoint_hash, UINT64_MAX);
  cr_assert_eq(proto->saved_object_graph_hash, 4);
  cr_assert(proto->version && proto->version->producer == 1);
  cr_assert_eq(data[0], 0x08, "field 1 comes first");
  protobuf_c_message_free_unpacked(message, NULL);
  free(data);
}
