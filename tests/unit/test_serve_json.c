/* Tests of the model server's JSON codec (src/serve/json_body.c, json_tensor.c).
 *
 * Expected values: the JSON grammar (RFC 8259) for the reader; TF Serving's documented REST
 * encoding (formats.md §6.3) and the expectations of its own json_tensor_test.cc for the tensor
 * mapping — float output "9e+06, 999999.0, 0.5, 0.0003, 3e-05, 555557.5", NaN/Infinity tokens,
 * "_bytes" outputs as {"b64": …}, the "loss of precision" limits 16777217 (float) and
 * 9007199254740993 (double), "Expecting shape" / "Expecting tensor size" / "Expecting object but
 * got list" errors; Python's json module (through the test's own literal arithmetic) for the
 * values; the protobuf wire format for tf.Example records (unpacked back with protobuf-c).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "example.pb-c.h"
#include "serve/json_body.h"
#include "serve/json_tensor.h"
#include "serve/servable.h"
#include "test_support.h"

/* ---------- helpers ---------- */

static sp_json_document *parse(const char *text) {
  sp_json_document *document = NULL;
  SP_ASSERT_OK(sp_json_document_parse(text, strlen(text), &document));
  return document;
}

static void expect_parse_error(const char *text, size_t length, const char *fragment) {
  sp_json_document *document = NULL;
  SP_ASSERT_FAILS(sp_json_document_parse(text, length, &document), SP_ERROR_FORMAT, fragment);
  cr_assert_null(document);
}

/* A signature with inputs given as (key, dtype) pairs, shapes unknown. */
typedef struct test_signature {
  sp_signature signature;
  sp_tensor_spec specs[4];
} test_signature;

static void make_signature(test_signature *test, size_t count, const char *const *keys, const int *dtypes) {
  memset(test, 0, sizeof *test);
  for (size_t i = 0; i < count; i++) {
    test->specs[i].key = (char *)keys[i];
    test->specs[i].tensor_name = (char *)"";
    test->specs[i].dtype = dtypes[i];
    test->specs[i].rank = -1;
  }
  test->signature.key = (char *)"serving_default";
  test->signature.method_name = (char *)SP_METHOD_PREDICT;
  test->signature.inputs = test->specs;
  test->signature.input_count = count;
}

static void convert(const char *body, const sp_signature *signature, sp_predict_format *format, sp_named_tensors *out) {
  sp_json_document *document = parse(body);
  SP_ASSERT_OK(sp_json_predict_inputs(sp_json_document_root(document), signature, format, out));
  sp_json_document_free(document);
}

static void expect_conversion_error(const char *body, const sp_signature *signature, const char *fragment) {
  sp_json_document *document = parse(body);
  sp_predict_format format;
  sp_named_tensors out;
  sp_status status = sp_json_predict_inputs(sp_json_document_root(document), signature, &format, &out);
  cr_assert_neq(status, SP_OK, "%s was accepted", body);
  cr_assert(strstr(sp_last_error(), fragment), "message '%s' lacks '%s'", sp_last_error(), fragment);
  cr_assert_null(out.tensors);
  sp_json_document_free(document);
}

static char *render(sp_predict_format format, size_t count, const char **names, sp_tensor **tensors) {
  char **keys = calloc(count, sizeof *keys);
  for (size_t i = 0; i < count; i++) keys[i] = (char *)names[i];
  sp_buffer out = {0};
  SP_ASSERT_OK(sp_json_predict_outputs(format, count, keys, tensors, &out));
  SP_ASSERT_OK(sp_buffer_append(&out, "", 1));
  free(keys);
  return (char *)sp_buffer_detach(&out, NULL);
}

/* ---------- the body reader ---------- */

Test(json_body, numbers_keep_int64_and_uint64_exactly) {
  sp_json_document *document = parse("[9223372036854775807, -9223372036854775808, 18446744073709551615, 0.5, -0, 1e2]");
  const sp_json_node *root = sp_json_document_root(document);
  cr_assert_eq(root->type, SP_JSON_ARRAY);
  cr_assert_eq(root->length, 6);
  cr_assert_eq(root->value.items[0].number_kind, SP_JSON_INTEGER);
  cr_assert_eq(root->value.items[0].value.integer, INT64_MAX);
  cr_assert_eq(root->value.items[1].value.integer, INT64_MIN);
  cr_assert_eq(root->value.items[2].number_kind, SP_JSON_UNSIGNED);
  cr_assert_eq(root->value.items[2].value.unsigned_integer, UINT64_MAX);
  cr_assert_eq(root->value.items[3].number_kind, SP_JSON_DECIMAL);
  cr_assert_eq(root->value.items[3].value.number, 0.5);
  cr_assert_eq(root->value.items[4].value.integer, 0);
  cr_assert_eq(root->value.items[5].value.number, 100.0);
  sp_json_document_free(document);
}

Test(json_body, accepts_tf_serving_non_finite_tokens) {
  sp_json_document *document = parse("[NaN, Infinity, -Infinity, Inf, -Inf]");
  const sp_json_node *items = sp_json_document_root(document)->value.items;
  cr_assert(isnan(sp_json_node_double(&items[0])));
  cr_assert(isinf(sp_json_node_double(&items[1])) && sp_json_node_double(&items[1]) > 0);
  cr_assert(isinf(sp_json_node_double(&items[2])) && sp_json_node_double(&items[2]) < 0);
  cr_assert_eq(items[3].number_kind, SP_JSON_INFINITY);
  cr_assert_eq(items[4].number_kind, SP_JSON_NEGATIVE_INFINITY);
  sp_json_document_free(document);
}

Test(json_body, decodes_escapes_and_surrogate_pairs) {
  sp_json_document *document = parse("{\"k\\u00e9y\": \"a\\n\\\"\\ud83d\\ude00\\u0000z\", \"plain\": \"h\xc3\xa9\"}");
  const sp_json_node *root = sp_json_document_root(document);
  const sp_json_node *value = sp_json_node_member(root, "k\xc3\xa9y");
  cr_assert_not_null(value);
  cr_assert_eq(value->length, 9);
  cr_assert(memcmp(value->value.string, "a\n\"\xf0\x9f\x98\x80\0z", 9) == 0);
  cr_assert_str_eq(sp_json_node_member(root, "plain")->value.string, "h\xc3\xa9");
  sp_json_document_free(document);
}

Test(json_body, refuses_malformed_documents) {
  expect_parse_error("", 0, "The document is empty");
  expect_parse_error("[1,]", 4, "Invalid value");
  expect_parse_error("[1 2]", 5, "Missing a comma");
  expect_parse_error("{\"a\" 1}", 7, "Missing a colon");
  expect_parse_error("[01]", 4, "leading zero");
  expect_parse_error("[1.]", 4, "Missing fraction");
  expect_parse_error("[1e]", 4, "Missing exponent");
  expect_parse_error("[1e999]", 7, "too big");
  expect_parse_error("[nan]", 5, "Invalid value");
  expect_parse_error("{} x", 4, "must not be followed");
  expect_parse_error("\"abc", 4, "closing quotation");
  expect_parse_error("\"a\\qb\"", 6, "Invalid escape");
  expect_parse_error("\"\\ud800\"", 8, "surrogate");
  expect_parse_error("\"\\udc00\"", 8, "surrogate");
  expect_parse_error("\"\\u12G4\"", 8, "hex digit");
  expect_parse_error("\"a\tb\"", 5, "control character");
  expect_parse_error("[1]\0", 4, "must not be followed");
}

Test(json_body, refuses_invalid_utf8) {
  expect_parse_error("\"\xff\"", 3, "not UTF-8");
  expect_parse_error("\"\xc0\xaf\"", 4, "not UTF-8");         /* overlong '/' */
  expect_parse_error("\"\xed\xa0\x80\"", 5, "not UTF-8");     /* UTF-8 encoded surrogate */
  expect_parse_error("\"\xf4\x90\x80\x80\"", 6, "not UTF-8"); /* past U+10FFFF */
  expect_parse_error("\"\xe2\x82\"", 4, "not UTF-8");         /* truncated */
  cr_assert(sp_utf8_valid("\xe2\x82\xac", 3));
  cr_assert(!sp_utf8_valid("\xe2\x82", 2));
}

Test(json_body, limits_nesting_depth) {
  char deep[200], ok[140];
  memset(deep, '[', 100);
  memset(deep + 100, ']', 100);
  expect_parse_error(deep, sizeof deep, "Nesting too deep");
  memset(ok, '[', 64);
  memset(ok + 64, ']', 64);
  sp_json_document *document = NULL;
  SP_ASSERT_OK(sp_json_document_parse(ok, 128, &document));
  sp_json_document_free(document);
}

Test(json_body, big_arrays_and_objects) {
  sp_buffer text = {0};
  SP_ASSERT_OK(sp_buffer_append_text(&text, "{\"a\": ["));
  for (int i = 0; i < 100000; i++) SP_ASSERT_OK(sp_buffer_printf(&text, i ? ",%d" : "%d", i));
  SP_ASSERT_OK(sp_buffer_append_text(&text, "], \"b\": true}"));
  sp_json_document *document = NULL;
  SP_ASSERT_OK(sp_json_document_parse((const char *)text.data, text.size, &document));
  const sp_json_node *a = sp_json_node_member(sp_json_document_root(document), "a");
  cr_assert_eq(a->length, 100000);
  cr_assert_eq(a->value.items[99999].value.integer, 99999);
  cr_assert_eq(sp_json_node_member(sp_json_document_root(document), "b")->type, SP_JSON_TRUE);
  sp_json_document_free(document);
  sp_buffer_free(&text);
}

/* ---------- requests to tensors ---------- */

Test(json_tensor, row_format_half_plus_two_request) {
  /* TF Serving's README request for half_plus_two: {"instances": [1.0, 2.0, 5.0]}. */
  test_signature test;
  make_signature(&test, 1, (const char *[]){"x"}, (const int[]){SP_FLOAT32});
  sp_predict_format format;
  sp_named_tensors inputs;
  convert("{\"instances\": [1.0, 2.0, 5.0]}", &test.signature, &format, &inputs);
  cr_assert_eq(format, SP_PREDICT_ROW);
  cr_assert_eq(inputs.count, 1);
  cr_assert_str_eq(inputs.keys[0], "x");
  cr_assert_eq(inputs.tensors[0]->rank, 1);
  cr_assert_eq(inputs.tensors[0]->shape[0], 3);
  float expected[] = {1.0f, 2.0f, 5.0f};
  sp_assert_close(sp_tensor_floats(inputs.tensors[0]), expected, 3, 0, 0, "x");
  sp_named_tensors_free(&inputs);
}

Test(json_tensor, row_format_named_inputs_batch_along_dimension_zero) {
  test_signature test;
  make_signature(&test, 2, (const char *[]){"int_tensor", "str_tensor"}, (const int[]){SP_INT32, SP_STRING});
  sp_predict_format format;
  sp_named_tensors inputs;
  convert(
      "{\"instances\": [{\"int_tensor\": [[1,2],[3,4],[5,6]], \"str_tensor\": [\"foo\", \"bar\"]},"
      "{\"int_tensor\": [[7,8],[9,0],[1,2]], \"str_tensor\": [\"baz\", {\"b64\": \"YmF0\"}]}]}",
      &test.signature, &format, &inputs);
  const sp_tensor *ints = inputs.tensors[0], *strings = inputs.tensors[1];
  cr_assert_eq(ints->rank, 3);
  cr_assert(ints->shape[0] == 2 && ints->shape[1] == 3 && ints->shape[2] == 2);
  int32_t expected[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2};
  cr_assert(memcmp(ints->data, expected, sizeof expected) == 0);
  cr_assert(strings->rank == 2 && strings->shape[0] == 2 && strings->shape[1] == 2);
  const sp_string *values = strings->data;
  cr_assert(values[3].length == 3 && memcmp(values[3].bytes, "bat", 3) == 0);
  cr_assert(values[0].length == 3 && memcmp(values[0].bytes, "foo", 3) == 0);
  sp_named_tensors_free(&inputs);
}

Test(json_tensor, columnar_format) {
  test_signature test;
  make_signature(&test, 2, (const char *[]){"a", "b"}, (const int[]){SP_INT64, SP_BOOL});
  sp_predict_format format;
  sp_named_tensors inputs;
  convert("{\"inputs\": {\"a\": [[9007199254740993, -1]], \"b\": true, \"ignored\": 1}}", &test.signature, &format,
          &inputs);
  cr_assert_eq(format, SP_PREDICT_COLUMNAR);
  cr_assert(inputs.tensors[0]->rank == 2 && inputs.tensors[0]->shape[1] == 2);
  cr_assert_eq(((int64_t *)inputs.tensors[0]->data)[0], INT64_C(9007199254740993));
  cr_assert_eq(inputs.tensors[1]->rank, 0);
  cr_assert_eq(((uint8_t *)inputs.tensors[1]->data)[0], 1);
  sp_named_tensors_free(&inputs);
}

Test(json_tensor, non_finite_values_and_half_precision) {
  test_signature test;
  make_signature(&test, 1, (const char *[]){"x"}, (const int[]){SP_FLOAT16});
  sp_predict_format format;
  sp_named_tensors inputs;
  convert("{\"inputs\": [NaN, -Infinity, 0.5]}", &test.signature, &format, &inputs);
  const uint16_t *halves = inputs.tensors[0]->data;
  cr_assert(isnan(sp_half_to_float(halves[0])));
  cr_assert(isinf(sp_half_to_float(halves[1])));
  cr_assert_eq(sp_half_to_float(halves[2]), 0.5f);
  sp_named_tensors_free(&inputs);
}

Test(json_tensor, errors_name_the_input_and_what_was_expected) {
  test_signature ints, floats, doubles, strings, pair, unsigned_bytes;
  make_signature(&ints, 1, (const char *[]){"count"}, (const int[]){SP_INT32});
  make_signature(&floats, 1, (const char *[]){"x"}, (const int[]){SP_FLOAT32});
  make_signature(&doubles, 1, (const char *[]){"d"}, (const int[]){SP_FLOAT64});
  make_signature(&strings, 1, (const char *[]){"s"}, (const int[]){SP_STRING});
  make_signature(&unsigned_bytes, 1, (const char *[]){"u"}, (const int[]){SP_UINT8});
  make_signature(&pair, 2, (const char *[]){"int_tensor", "str_tensor"}, (const int[]){SP_INT32, SP_STRING});
  expect_conversion_error("{\"instances\": [[1,2],[\"a\", \"b\"]]}", &ints.signature, "input 'count'");
  expect_conversion_error("{\"instances\": [[1,2],[\"a\", \"b\"]]}", &ints.signature, "not of expected type: DT_INT32");
  expect_conversion_error("{\"instances\": [1.5]}", &ints.signature, "not of expected type");
  expect_conversion_error("{\"instances\": [3000000000]}", &ints.signature, "out of range for DT_INT32");
  expect_conversion_error("{\"instances\": [300]}", &unsigned_bytes.signature, "out of range for DT_UINT8");
  expect_conversion_error("{\"instances\": [-1]}", &unsigned_bytes.signature, "out of range");
  expect_conversion_error("{\"instances\": [16777217]}", &floats.signature, "loss of precision");
  expect_conversion_error("{\"instances\": [1.7976931348623157e308]}", &floats.signature, "loss of precision");
  expect_conversion_error("{\"instances\": [9007199254740993]}", &doubles.signature, "loss of precision");
  expect_conversion_error("{\"instances\": [[1,2],[3]]}", &floats.signature, "Expecting tensor size");
  expect_conversion_error("{\"instances\": [[[1,2]],[[3],[4]]]}", &floats.signature, "Expecting shape");
  expect_conversion_error("{\"inputs\": [[1,2],[3]]}", &floats.signature, "lists must be rectangular");
  expect_conversion_error("{\"inputs\": [[1,2],3]}", &floats.signature, "incorrect level");
  expect_conversion_error("{\"inputs\": [[[[[[[[[1]]]]]]]]]}", &floats.signature, "nested deeper than 8");
  expect_conversion_error("{\"instances\": [{\"b64\": \"!!\"}]}", &strings.signature, "base64");
  expect_conversion_error("{\"instances\": [{\"b65\": \"YQ==\"}]}", &strings.signature, "'b65' is not an input");
  expect_conversion_error("{\"inputs\": {\"b65\": \"YQ==\"}}", &strings.signature, "Missing named input: s");
  expect_conversion_error("{\"instances\": [1], \"inputs\": [1]}", &floats.signature, "only one of");
  expect_conversion_error("{\"signature_name\": \"x\"}", &floats.signature, "Missing 'inputs' or 'instances'");
  expect_conversion_error("{\"instances\": []}", &floats.signature, "No values");
  expect_conversion_error("{\"instances\": 1}", &floats.signature, "list/array");
  expect_conversion_error("{\"instances\": [1, 2]}", &pair.signature, "expecting list of objects");
  expect_conversion_error("{\"instances\": [{\"int_tensor\": 1, \"str_tensor\": \"a\"}, [1, 20, 30]]}", &pair.signature,
                          "Expecting object but got list");
  expect_conversion_error("{\"instances\": [{\"int_tensor\": 1}]}", &pair.signature, "missing: str_tensor");
  expect_conversion_error("{\"instances\": [{\"int_tensor\": 1, \"str_tensor\": \"a\", \"int_tensor\": 2}]}",
                          &pair.signature, "repeated");
}

Test(json_tensor, ragged_lists_allocate_nothing_large) {
  /* The first row claims 5 x 4; the rest of the document does not back it. */
  test_signature test;
  make_signature(&test, 1, (const char *[]){"x"}, (const int[]){SP_FLOAT32});
  expect_conversion_error("{\"inputs\": [[1,2,3,4],[1],[1],[1],[1]]}", &test.signature, "unexpected size: 1");
}

Test(json_tensor, signature_name_must_be_a_string) {
  sp_json_document *document = parse("{\"signature_name\": 3}");
  const char *name = NULL;
  SP_ASSERT_FAILS(sp_json_request_signature(sp_json_document_root(document), &name), SP_ERROR_INVALID_ARGUMENT,
                  "must be a string");
  sp_json_document_free(document);
  document = parse("[1]");
  SP_ASSERT_FAILS(sp_json_request_signature(sp_json_document_root(document), &name), SP_ERROR_INVALID_ARGUMENT,
                  "Is not object");
  sp_json_document_free(document);
}

/* ---------- tensors to responses ---------- */

Test(json_tensor, float_output_as_tf_serving_writes_it) {
  float values[] = {9000000.0f, 999999.0f, 0.5f, 0.0003f, 0.00003f, 555557.5f, 2.5f, 3.0f, 4.5f};
  sp_tensor *tensor = sp_tensor_wrap(SP_FLOAT32, 2, (int64_t[]){3, 3}, values);
  char *json = render(SP_PREDICT_ROW, 1, (const char *[]){"y"}, &tensor);
  cr_assert_str_eq(json, "{\"predictions\": [[9e+06, 999999.0, 0.5], [0.0003, 3e-05, 555557.5], [2.5, 3.0, 4.5]]}");
  free(json);
  sp_tensor_free(tensor);
  char text[40];
  sp_json_format_decimal(1.0f / 3.0f, 1, text, sizeof text);
  cr_assert_str_eq(text, "0.333333343");
  sp_json_format_decimal(1.0 / 3.0, 0, text, sizeof text);
  cr_assert_str_eq(text, "0.33333333333333331");
  sp_json_format_decimal(NAN, 1, text, sizeof text);
  cr_assert_str_eq(text, "NaN");
  sp_json_format_decimal(-INFINITY, 0, text, sizeof text);
  cr_assert_str_eq(text, "-Infinity");
}

Test(json_tensor, multiple_outputs_row_and_columnar) {
  int32_t ints[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2};
  double doubles[] = {8.0, 9.0};
  sp_tensor *int_tensor = sp_tensor_wrap(SP_INT32, 3, (int64_t[]){2, 3, 2}, ints);
  sp_tensor *double_tensor = sp_tensor_wrap(SP_FLOAT64, 1, (int64_t[]){2}, doubles);
  int64_t shape[] = {2, 2};
  sp_tensor *bytes = sp_tensor_new(SP_STRING, 2, shape);
  const char *words[] = {"hello", "world", "tf", "serving"};
  for (int i = 0; i < 4; i++) SP_ASSERT_OK(sp_tensor_set_string(bytes, i, words[i], strlen(words[i])));
  sp_tensor *tensors[] = {int_tensor, double_tensor, bytes};
  char *row =
      render(SP_PREDICT_ROW, 3, (const char *[]){"int_tensor", "double_scalar_tensor", "str_tensor_bytes"}, tensors);
  cr_assert_str_eq(row,
                   "{\"predictions\": [{\"double_scalar_tensor\": 8.0, \"int_tensor\": [[1, 2], [3, 4], [5, 6]], "
                   "\"str_tensor_bytes\": [{\"b64\": \"aGVsbG8=\"}, {\"b64\": \"d29ybGQ=\"}]}, "
                   "{\"double_scalar_tensor\": 9.0, \"int_tensor\": [[7, 8], [9, 0], [1, 2]], "
                   "\"str_tensor_bytes\": [{\"b64\": \"dGY=\"}, {\"b64\": \"c2VydmluZw==\"}]}]}");
  free(row);
  char *columns =
      render(SP_PREDICT_COLUMNAR, 3, (const char *[]){"double_scalar_tensor", "int_tensor", "str_tensor_bytes"},
             (sp_tensor *[]){double_tensor, int_tensor, bytes});
  cr_assert(strstr(columns, "\"double_scalar_tensor\": [8.0, 9.0]"));
  cr_assert(strstr(columns, "\"int_tensor\": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]"));
  free(columns);
  sp_tensor_free(int_tensor);
  sp_tensor_free(double_tensor);
  sp_tensor_free(bytes);
}

Test(json_tensor, output_errors) {
  int32_t a[] = {1, 2, 3, 4, 5, 6}, scalar[] = {1};
  sp_tensor *two = sp_tensor_wrap(SP_INT32, 2, (int64_t[]){2, 3}, a);
  sp_tensor *one = sp_tensor_wrap(SP_INT32, 2, (int64_t[]){1, 3}, a);
  sp_tensor *zero_rank = sp_tensor_wrap(SP_INT32, 0, NULL, scalar);
  char *keys[] = {(char *)"int_tensor", (char *)"str_tensor"};
  sp_buffer out = {0};
  SP_ASSERT_FAILS(sp_json_predict_outputs(SP_PREDICT_ROW, 2, keys, (sp_tensor *[]){two, one}, &out),
                  SP_ERROR_INVALID_ARGUMENT, "inconsistent batch size");
  SP_ASSERT_FAILS(sp_json_predict_outputs(SP_PREDICT_ROW, 1, keys, (sp_tensor *[]){zero_rank}, &out),
                  SP_ERROR_INVALID_ARGUMENT, "no shape information");
  SP_ASSERT_FAILS(sp_json_predict_outputs(SP_PREDICT_ROW, 0, keys, NULL, &out), SP_ERROR_INVALID_ARGUMENT,
                  "empty tensor map");
  SP_ASSERT_OK(sp_json_predict_outputs(SP_PREDICT_COLUMNAR, 1, keys, (sp_tensor *[]){zero_rank}, &out));
  SP_ASSERT_OK(sp_buffer_append(&out, "", 1));
  cr_assert_str_eq((char *)out.data, "{\"outputs\": 1}");
  sp_buffer_free(&out);
  sp_tensor_free(two);
  sp_tensor_free(one);
  sp_tensor_free(zero_rank);
}

Test(json_tensor, strings_that_are_not_utf8_come_back_as_base64) {
  sp_tensor *strings = sp_tensor_new(SP_STRING, 1, (int64_t[]){2});
  SP_ASSERT_OK(sp_tensor_set_string(strings, 0, "ok \"quoted\"\n", 12));
  SP_ASSERT_OK(sp_tensor_set_string(strings, 1, "\xff\x00", 2));
  char *json = render(SP_PREDICT_COLUMNAR, 1, (const char *[]){"s"}, &strings);
  cr_assert_str_eq(json, "{\"outputs\": [\"ok \\\"quoted\\\"\\n\", {\"b64\": \"/wA=\"}]}");
  free(json);
  sp_tensor_free(strings);
}

/* ---------- classify / regress ---------- */

Test(json_tensor, examples_become_tf_example_records) {
  sp_json_document *document = parse(
      "{\"context\": {\"shared\": 7, \"x\": 0.0}, \"examples\": [{\"x\": 2.0, \"tags\": [\"a\", {\"b64\": \"Yg==\"}]},"
      " {\"flag\": [true, false]}]}");
  sp_tensor *examples = NULL;
  SP_ASSERT_OK(sp_json_examples(sp_json_document_root(document), &examples));
  cr_assert_eq(examples->shape[0], 2);
  const sp_string *records = examples->data;
  Tensorflow__Example *first = tensorflow__example__unpack(NULL, records[0].length, (const uint8_t *)records[0].bytes);
  cr_assert_not_null(first);
  int found_x = 0, found_shared = 0, found_tags = 0;
  for (size_t i = 0; i < first->features->n_feature; i++) {
    const Tensorflow__Features__FeatureEntry *entry = first->features->feature[i];
    if (strcmp(entry->key, "x") == 0) {
      found_x = 1;
      cr_assert_eq(entry->value->kind_case, TENSORFLOW__FEATURE__KIND_FLOAT_LIST);
      cr_assert_eq(entry->value->float_list->n_value, 1);
      cr_assert_eq(entry->value->float_list->value[0], 2.0f); /* the example's own x wins over the context's */
    } else if (strcmp(entry->key, "shared") == 0) {
      found_shared = 1;
      cr_assert_eq(entry->value->kind_case, TENSORFLOW__FEATURE__KIND_INT64_LIST);
      cr_assert_eq(entry->value->int64_list->value[0], 7);
    } else if (strcmp(entry->key, "tags") == 0) {
      found_tags = 1;
      cr_assert_eq(entry->value->bytes_list->n_value, 2);
      cr_assert(entry->value->bytes_list->value[1].len == 1 && entry->value->bytes_list->value[1].data[0] == 'b');
    }
  }
  cr_assert(found_x && found_shared && found_tags);
  tensorflow__example__free_unpacked(first, NULL);
  Tensorflow__Example *second = tensorflow__example__unpack(NULL, records[1].length, (const uint8_t *)records[1].bytes);
  cr_assert_not_null(second);
  cr_assert_eq(second->features->n_feature, 3);
  tensorflow__example__free_unpacked(second, NULL);
  sp_tensor_free(examples);
  sp_json_document_free(document);
}

Test(json_tensor, example_errors) {
  const char *bodies[] = {"{\"examples\": [{\"x\": [1, \"a\"]}]}",
                          "{\"examples\": [{\"x\": null}]}",
                          "{\"examples\": [{\"x\": 18446744073709551615}]}",
                          "{\"examples\": []}",
                          "{}",
                          "{\"examples\": [[1]]}"};
  const char *fragments[] = {"expecting type: int64", "unexpected JSON type: Null", "uint64",
                             "empty array",           "'examples' is expected",     "must be JSON object"};
  for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
    sp_json_document *document = parse(bodies[i]);
    sp_tensor *examples = NULL;
    SP_ASSERT_FAILS(sp_json_examples(sp_json_document_root(document), &examples), SP_ERROR_INVALID_ARGUMENT,
                    fragments[i]);
    cr_assert_null(examples);
    sp_json_document_free(document);
  }
}

Test(json_tensor, classify_and_regress_results) {
  float scores[] = {3.0f, 0.25f};
  sp_tensor *score_tensor = sp_tensor_wrap(SP_FLOAT32, 2, (int64_t[]){2, 1}, scores);
  char *keys[] = {(char *)"scores"};
  sp_buffer out = {0};
  SP_ASSERT_OK(sp_json_classify_results(1, keys, &score_tensor, 2, &out));
  SP_ASSERT_OK(sp_buffer_append(&out, "", 1));
  cr_assert_str_eq((char *)out.data, "{\"results\": [[[\"\", 3.0]], [[\"\", 0.25]]]}");
  out.size = 0;
  char *regress_keys[] = {(char *)"outputs"};
  SP_ASSERT_OK(sp_json_regress_results(1, regress_keys, &score_tensor, 2, &out));
  SP_ASSERT_OK(sp_buffer_append(&out, "", 1));
  cr_assert_str_eq((char *)out.data, "{\"results\": [3.0, 0.25]}");
  SP_ASSERT_FAILS(sp_json_regress_results(1, keys, &score_tensor, 2, &out), SP_ERROR_INVALID_ARGUMENT, "'outputs'");
  SP_ASSERT_FAILS(sp_json_classify_results(1, regress_keys, &score_tensor, 2, &out), SP_ERROR_INVALID_ARGUMENT,
                  "'classes' or 'scores'");
  sp_buffer_free(&out);
  sp_tensor_free(score_tensor);
}
