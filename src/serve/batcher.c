/* batcher.c — leader/follower server-side batching (see batcher.h).
 *
 * Invariants: only the batcher's mutex guards `open` and every batch's fields; a batch is freed
 * by whichever of its requests collects last (`references`); a follower's result slot is written
 * by the leader before `done` is set, and read by the follower only after it sees `done`.
 */
#include "serve/batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/memory.h"
#include "serve/sync.h"

typedef struct batch_member {
  size_t input_count;
  const char *const *keys;
  const sp_tensor *const *inputs;
  int64_t rows;
  size_t output_count;
  char **output_keys;
  sp_tensor **outputs;
} batch_member;

typedef struct batch {
  const sp_servable *servable;
  const sp_signature *signature;
  batch_member **members;
  size_t count, capacity;
  int64_t rows;
  int closed, done, run_alone, references;
  sp_status status;
  char *error;
  pthread_cond_t changed;
} batch;

struct sp_batcher {
  sp_batching_options options;
  sp_metrics *metrics;
  pthread_mutex_t lock;
  batch *open;
};

sp_status sp_batcher_new(const sp_batching_options *options, sp_metrics *metrics, sp_batcher **batcher) {
  *batcher = sp_alloc_zeroed(1, sizeof **batcher);
  if (!*batcher) return SP_ERROR_NO_MEMORY;
  (*batcher)->options = *options;
  if ((*batcher)->options.max_batch_size <= 0) (*batcher)->options.max_batch_size = 32;
  if ((*batcher)->options.batch_timeout_micros < 0) (*batcher)->options.batch_timeout_micros = 0;
  (*batcher)->metrics = metrics;
  pthread_mutex_init(&(*batcher)->lock, NULL);
  return SP_OK;
}

void sp_batcher_free(sp_batcher *batcher) {
  if (!batcher) return;
  pthread_mutex_destroy(&batcher->lock);
  free(batcher);
}

/* Rows of a request: the common dimension 0 of its inputs, or -1 when it has none. */
static int64_t request_rows(size_t input_count, const sp_tensor *const *inputs) {
  if (input_count == 0) return -1;
  for (size_t i = 0; i < input_count; i++)
    if (inputs[i]->rank < 1 || inputs[i]->shape[0] != inputs[0]->shape[0]) return -1;
  return inputs[0]->shape[0];
}

static int compatible(const batch *open, const sp_servable *servable, const sp_signature *signature,
                      const batch_member *member) {
  const batch_member *first = open->members[0];
  if (open->servable != servable || open->signature != signature || first->input_count != member->input_count) return 0;
  for (size_t i = 0; i < member->input_count; i++) {
    const sp_tensor *a = first->inputs[i], *b = member->inputs[i];
    if (strcmp(first->keys[i], member->keys[i]) != 0 || a->dtype != b->dtype || a->rank != b->rank) return 0;
    for (int d = 1; d < a->rank; d++)
      if (a->shape[d] != b->shape[d]) return 0;
  }
  return 1;
}

static sp_status add_member(batch *open, batch_member *member) {
  SP_TRY(SP_RESERVE(open->members, open->capacity, open->count + 1));
  open->members[open->count++] = member;
  open->rows += member->rows;
  open->references++;
  return SP_OK;
}

static void free_batch(batch *finished) {
  pthread_cond_destroy(&finished->changed);
  free(finished->members);
  free(finished->error);
  free(finished);
}

/* ---------- concatenating inputs and splitting outputs ---------- */

static sp_status copy_rows(sp_tensor *to, int64_t to_row, const sp_tensor *from, int64_t from_row, int64_t rows) {
  int64_t per_row = from->shape[0] ? sp_tensor_count(from) / from->shape[0] : 0;
  if (from->dtype != SP_STRING) {
    size_t element = sp_dtype_size(from->dtype);
    memcpy((char *)to->data + (size_t)(to_row * per_row) * element,
           (const char *)from->data + (size_t)(from_row * per_row) * element, (size_t)(rows * per_row) * element);
    return SP_OK;
  }
  const sp_string *strings = from->data;
  for (int64_t i = 0; i < rows * per_row; i++) {
    const sp_string *string = &strings[from_row * per_row + i];
    SP_TRY(sp_tensor_set_string(to, to_row * per_row + i, string->bytes, string->length));
  }
  return SP_OK;
}

static sp_status concatenate(const batch *full, size_t input, sp_tensor **joined) {
  const sp_tensor *first = full->members[0]->inputs[input];
  int64_t shape[SP_MAX_RANK];
  memcpy(shape, first->shape, sizeof shape);
  shape[0] = full->rows;
  *joined = sp_tensor_new(first->dtype, first->rank, shape);
  if (!*joined) return sp_last_status();
  int64_t row = 0;
  for (size_t m = 0; m < full->count; m++) {
    const batch_member *member = full->members[m];
    SP_TRY(copy_rows(*joined, row, member->inputs[input], 0, member->rows));
    row += member->rows;
  }
  return SP_OK;
}

static int splittable(const batch *full, size_t count, sp_tensor **outputs) {
  for (size_t j = 0; j < count; j++)
    if (outputs[j]->rank < 1 || outputs[j]->shape[0] != full->rows) return 0;
  return 1;
}

static sp_status split_outputs(batch *full, size_t count, char **keys, sp_tensor **outputs) {
  int64_t row = 0;
  for (size_t m = 0; m < full->count; m++) {
    batch_member *member = full->members[m];
    member->output_keys = sp_alloc_zeroed(count + 1, sizeof *member->output_keys);
    member->outputs = sp_alloc_zeroed(count + 1, sizeof *member->outputs);
    if (!member->output_keys || !member->outputs) return SP_ERROR_NO_MEMORY;
    member->output_count = count;
    for (size_t j = 0; j < count; j++) {
      int64_t shape[SP_MAX_RANK];
      memcpy(shape, outputs[j]->shape, sizeof shape);
      shape[0] = member->rows;
      member->outputs[j] = sp_tensor_new(outputs[j]->dtype, outputs[j]->rank, shape);
      member->output_keys[j] = sp_strdup(keys[j]);
      if (!member->outputs[j] || !member->output_keys[j]) return SP_ERROR_NO_MEMORY;
      SP_TRY(copy_rows(member->outputs[j], 0, outputs[j], row, member->rows));
    }
    row += member->rows;
  }
  return SP_OK;
}

/* Runs the closed batch (unlocked) and fills every member's result. */
static void run_batch(sp_batcher *batcher, batch *full) {
  size_t input_count = full->members[0]->input_count;
  sp_tensor **joined = sp_alloc_zeroed(input_count + 1, sizeof *joined);
  sp_status status = joined ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; status == SP_OK && i < input_count; i++) status = concatenate(full, i, &joined[i]);
  size_t count = 0;
  char **keys = NULL;
  sp_tensor **outputs = NULL;
  if (status == SP_OK)
    status = sp_servable_run(full->servable, full->signature, input_count, full->members[0]->keys,
                             (const sp_tensor *const *)joined, &count, &keys, &outputs);
  if (status == SP_OK && !splittable(full, count, outputs))
    full->run_alone = 1;
  else if (status == SP_OK)
    status = split_outputs(full, count, keys, outputs);
  if (status == SP_OK && !full->run_alone) sp_metrics_record_batch(batcher->metrics, full->rows, (int64_t)full->count);
  full->status = status;
  if (status != SP_OK) full->error = sp_strdup(sp_last_error());
  sp_servable_outputs_free(count, keys, outputs);
  for (size_t i = 0; joined && i < input_count; i++) sp_tensor_free(joined[i]);
  free(joined);
}

/* The member's share of a finished batch (under the lock); releases the batch when last. */
static sp_status collect(batch *finished, batch_member *member, int *alone) {
  sp_status status = finished->status;
  *alone = finished->run_alone;
  if (status != SP_OK) {
    sp_servable_outputs_free(member->output_count, member->output_keys, member->outputs);
    member->output_count = 0;
    member->output_keys = NULL;
    member->outputs = NULL;
    sp_fail(status, "%s", finished->error ? finished->error : "batched run failed");
  }
  if (--finished->references == 0) free_batch(finished);
  return status;
}

static sp_status new_batch(const sp_servable *servable, const sp_signature *signature, batch **created) {
  *created = sp_alloc_zeroed(1, sizeof **created);
  if (!*created) return SP_ERROR_NO_MEMORY;
  sp_clock_condition_init(&(*created)->changed);
  (*created)->servable = servable;
  (*created)->signature = signature;
  return SP_OK;
}

/* Joins the open batch as a follower (lock held); returns 0 when it cannot. */
static int follow(sp_batcher *batcher, const sp_servable *servable, const sp_signature *signature, batch_member *member,
                  sp_status *status, int *alone) {
  batch *open = batcher->open;
  if (!open || !compatible(open, servable, signature, member) ||
      open->rows + member->rows > batcher->options.max_batch_size || add_member(open, member) != SP_OK)
    return 0;
  if (open->rows == batcher->options.max_batch_size) {
    open->closed = 1;
    batcher->open = NULL;
    pthread_cond_broadcast(&open->changed);
  }
  while (!open->done) pthread_cond_wait(&open->changed, &batcher->lock);
  *status = collect(open, member, alone);
  return 1;
}

/* Starts a batch as its leader (lock held on entry, released on return). */
static sp_status lead(sp_batcher *batcher, const sp_servable *servable, const sp_signature *signature,
                      batch_member *member, int *alone) {
  batch *own = NULL;
  sp_status status = new_batch(servable, signature, &own);
  if (status == SP_OK && (status = add_member(own, member)) != SP_OK) {
    free_batch(own);
    own = NULL;
  }
  if (status != SP_OK) {
    pthread_mutex_unlock(&batcher->lock);
    *alone = 1;
    return SP_OK;
  }
  own->references++; /* the leader's own hold, released after it has handed out the results */
  batcher->open = own;
  struct timespec deadline = sp_clock_deadline((double)batcher->options.batch_timeout_micros / 1e6);
  while (!own->closed && pthread_cond_timedwait(&own->changed, &batcher->lock, &deadline) != ETIMEDOUT) {
  }
  if (batcher->open == own) batcher->open = NULL;
  own->closed = 1;
  pthread_mutex_unlock(&batcher->lock);
  if (own->count == 1)
    own->run_alone = 1; /* nobody joined: no copies */
  else
    run_batch(batcher, own);
  pthread_mutex_lock(&batcher->lock);
  own->done = 1;
  pthread_cond_broadcast(&own->changed);
  own->references--;
  status = collect(own, member, alone);
  pthread_mutex_unlock(&batcher->lock);
  return status;
}

sp_status sp_batcher_run(sp_batcher *batcher, const sp_servable *servable, const sp_signature *signature,
                         size_t input_count, const char *const *input_keys, const sp_tensor *const *inputs,
                         size_t *output_count, char ***output_keys, sp_tensor ***outputs) {
  batch_member member = {input_count, input_keys, inputs, request_rows(input_count, inputs), 0, NULL, NULL};
  int alone = member.rows < 1 || member.rows >= batcher->options.max_batch_size;
  sp_status status = SP_OK;
  if (!alone) {
    pthread_mutex_lock(&batcher->lock);
    if (follow(batcher, servable, signature, &member, &status, &alone))
      pthread_mutex_unlock(&batcher->lock);
    else if (batcher->open) {
      pthread_mutex_unlock(&batcher->lock); /* another kind of request is gathering: don't wait */
      alone = 1;
    } else {
      status = lead(batcher, servable, signature, &member, &alone);
    }
  }
  if (status == SP_OK && alone)
    return sp_servable_run(servable, signature, input_count, input_keys, inputs, output_count, output_keys, outputs);
  *output_count = member.output_count;
  *output_keys = member.output_keys;
  *outputs = member.outputs;
  return status;
}
