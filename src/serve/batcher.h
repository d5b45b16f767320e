/* batcher.h — optional server-side batching (--enable_batching): concurrent predict requests for
 * the same signature of the same loaded version are concatenated along dimension 0, run once,
 * and the outputs split back, trading up to batch_timeout_micros of latency for throughput.
 *
 * No extra threads: the first request of a batch leads it. It waits until the batch holds
 * max_batch_size rows or batch_timeout_micros have passed, closes it, runs it and hands each
 * follower its slice. A request joins the open batch only when it is compatible (same
 * signature, same input keys and dtypes, same dimensions after the first) and fits; otherwise it
 * runs alone, unbatched. Outputs that cannot be split along dimension 0 (a dimension 0 other
 * than the batch's rows) make every request of that batch run alone, so batching never changes
 * an answer. A failed batched run fails each of its requests with the same error.
 */
#ifndef SP_SERVE_BATCHER_H
#define SP_SERVE_BATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "serve/metrics.h"
#include "serve/servable.h"

typedef struct sp_batching_options {
  int64_t max_batch_size;       /* rows per batch (default 32) */
  int64_t batch_timeout_micros; /* how long a batch waits for more rows (default 1000) */
} sp_batching_options;

typedef struct sp_batcher sp_batcher;

sp_status sp_batcher_new(const sp_batching_options *options, sp_metrics *metrics, sp_batcher **batcher) SP_MUST_CHECK;
/* Only when no request uses the batcher any more. */
void sp_batcher_free(sp_batcher *batcher);

/* Runs a signature like sp_servable_run, batched with concurrent compatible requests. */
sp_status sp_batcher_run(sp_batcher *batcher, const sp_servable *servable, const sp_signature *signature,
                         size_t input_count, const char *const *input_keys, const sp_tensor *const *inputs,
                         size_t *output_count, char ***output_keys, sp_tensor ***outputs) SP_MUST_CHECK;

#endif
