/* dataset.h (internal) — the dataset readers' in-memory entry points, for the file readers in
 * savepoint/train.h (sp_idx_read, sp_csv_read), the fuzzers and the tests.
 *
 * Both parsers treat their input as hostile: every size a header declares is checked against
 * the bytes that exist before anything is allocated, and errors name the input, the byte offset
 * (or line and column) and what was expected.
 */
#ifndef SP_TRAIN_DATASET_H
#define SP_TRAIN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "savepoint/train.h"

/* Largest decompressed IDX payload and CSV file accepted (1 GiB each). */
#define SP_DATASET_LIMIT ((size_t)1 << 30)

/* An IDX file's bytes (raw, or gzip with the 1f 8b magic); what names it in errors. */
sp_status sp_idx_parse(const uint8_t *data, size_t size, const char *what, int to_float32, double scale,
                       sp_tensor **tensor) SP_MUST_CHECK;

/* A numeric CSV file's bytes; y is not produced (NULL) with SP_CSV_NO_LABEL. */
sp_status sp_csv_parse(const uint8_t *data, size_t size, const char *what, const sp_csv_options *options, sp_tensor **x,
                       sp_tensor **y) SP_MUST_CHECK;

#endif
