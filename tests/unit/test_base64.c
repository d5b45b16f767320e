/* Tests of core/base64: the RFC 4648 §10 test vectors both ways, optional padding as
 * absl::Base64Unescape accepts it, and refusal of characters and lengths that are not base64. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "test_support.h"

static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const encoded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

Test(base64, encodes_rfc4648_vectors) {
  for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
    sp_buffer out = {0};
    SP_ASSERT_OK(sp_base64_encode(plain[i], strlen(plain[i]), &out));
    cr_assert_eq(out.size, strlen(encoded[i]));
    cr_assert(out.size == 0 || memcmp(out.data, encoded[i], out.size) == 0, "vector %zu", i);
    sp_buffer_free(&out);
  }
}

Test(base64, decodes_rfc4648_vectors_with_and_without_padding) {
  for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
    unsigned char out[16];
    size_t size = 99;
    SP_ASSERT_OK(sp_base64_decode(encoded[i], strlen(encoded[i]), out, &size));
    cr_assert_eq(size, strlen(plain[i]));
    cr_assert(memcmp(out, plain[i], size) == 0);
    size_t unpadded = strlen(encoded[i]);
    while (unpadded && encoded[i][unpadded - 1] == '=') unpadded--;
    SP_ASSERT_OK(sp_base64_decode(encoded[i], unpadded, out, &size));
    cr_assert_eq(size, strlen(plain[i]));
  }
}

Test(base64, decodes_all_byte_values) {
  unsigned char bytes[256], back[sizeof bytes + 3];
  for (int i = 0; i < 256; i++) bytes[i] = (unsigned char)(255 - i);
  sp_buffer text = {0};
  SP_ASSERT_OK(sp_base64_encode(bytes, sizeof bytes, &text));
  size_t size = 0;
  SP_ASSERT_OK(sp_base64_decode((const char *)text.data, text.size, back, &size));
  cr_assert_eq(size, sizeof bytes);
  cr_assert(memcmp(back, bytes, size) == 0);
  sp_buffer_free(&text);
}

Test(base64, refuses_garbage) {
  unsigned char out[32];
  size_t size;
  SP_ASSERT_FAILS(sp_base64_decode("Zm9v!", 5, out, &size), SP_ERROR_FORMAT, "'!' at offset 4");
  SP_ASSERT_FAILS(sp_base64_decode("Zm 9v", 5, out, &size), SP_ERROR_FORMAT, "offset 2");
  SP_ASSERT_FAILS(sp_base64_decode("Zm9vY", 5, out, &size), SP_ERROR_FORMAT, "whole bytes");
  SP_ASSERT_FAILS(sp_base64_decode("Zg=", 3, out, &size), SP_ERROR_FORMAT, "multiple of 4");
  SP_ASSERT_FAILS(sp_base64_decode("Z===", 4, out, &size), SP_ERROR_FORMAT, "not a base64 character");
  SP_ASSERT_FAILS(sp_base64_decode("Zh==", 4, out, &size), SP_ERROR_FORMAT, "bits past the end");
  SP_ASSERT_FAILS(sp_base64_decode("Zm\x80v", 4, out, &size), SP_ERROR_FORMAT, "0x80");
}
