/* Tests of src/ckpt/template: the ModelCheckpoint file name templates. Expected strings are
 * Python's (str.format; the peer test tests/peer/test_format_template.py compares many more
 * specs with Python itself); here the error messages. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/template.h"
#include "test_support.h"

static const sp_template_value values[] = {
    {"epoch", 1, 12, 0}, {"loss", 0, 0, 0.2987000048160553}, {"val_loss", 0, 0, 0.32410001754760742}};

Test(template, formats_what_keras_passes) {
  char *text;
  SP_ASSERT_OK(sp_format_template("ckpt/weights.{epoch:02d}-{val_loss:.4f}.weights.h5", values, 3, "filepath", &text));
  cr_assert_str_eq(text, "ckpt/weights.12-0.3241.weights.h5"); /* Python: same call */
  free(text);
  SP_ASSERT_OK(sp_format_template("{epoch}/{loss}", values, 3, "filepath", &text));
  cr_assert_str_eq(text, "12/0.2987000048160553");
  free(text);
}

Test(template, a_missing_key_is_named_with_what_exists) {
  char *text;
  SP_ASSERT_FAILS(sp_format_template("model-{epoch:02d}-{val_accuracy:.2f}.keras", values, 3, "ModelCheckpoint filepath",
                                     &text),
                  SP_ERROR_NOT_FOUND,
                  "ModelCheckpoint filepath 'model-{epoch:02d}-{val_accuracy:.2f}.keras': no value named "
                  "'val_accuracy' to fill {val_accuracy:.2f} (available: epoch, loss, val_loss)");
  cr_assert_null(text);
}

Test(template, refuses_what_python_refuses) {
  char *text;
  SP_ASSERT_FAILS(sp_format_template("{loss:d}", values, 3, "filepath", &text), SP_ERROR_INVALID_ARGUMENT,
                  "unknown format code for a float value");
  SP_ASSERT_FAILS(sp_format_template("{epoch:.2}", values, 3, "filepath", &text), SP_ERROR_INVALID_ARGUMENT,
                  "precision not allowed in integer format specifier");
  SP_ASSERT_FAILS(sp_format_template("{0}", values, 3, "filepath", &text), SP_ERROR_INVALID_ARGUMENT,
                  "positional fields are not supported");
  SP_ASSERT_FAILS(sp_format_template("{epoch", values, 3, "filepath", &text), SP_ERROR_INVALID_ARGUMENT,
                  "'{' without its '}'");
}
