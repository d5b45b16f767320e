/* progress.c — Keras's progress output (ProgbarLogger, the Keras 2 look).
 *
 * verbose 1 on a terminal: "Epoch 3/10" and a bar redrawn after every batch (at most every
 * 50 ms), finished as
 *   32/32 [==============================] - 0s 9ms/step - loss: 0.2854 - accuracy: 0.9310 - val_loss: …
 * verbose 2, or verbose 1 when the output is not a terminal: one plain line per epoch,
 *   Epoch 3/10 - 32/32 - 0s 9ms/step - loss: 0.2854 - accuracy: 0.9310 - val_loss: …
 * Values print as Keras prints them: %.4f, or %.4e when |value| <= 1e-3.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/memory.h"
#include "train/loop.h"

typedef struct progress {
  FILE *out;
  int live;          /* redraw a bar in place */
  double start, last_draw;
  int64_t done;      /* batches run since the epoch (or evaluation) began */
  size_t last_width;
} progress;

typedef struct line {
  char text[2048];
  size_t length;
} line;

static void append(line *out, const char *format, ...) {
  if (out->length >= sizeof out->text - 1) return;
  va_list args;
  va_start(args, format);
  int written = vsnprintf(out->text + out->length, sizeof out->text - out->length, format, args);
  va_end(args);
  if (written > 0) out->length = fmin(out->length + (size_t)written, sizeof out->text - 1);
}

static void append_logs(line *out, const sp_logs *logs) {
  for (int i = 0; i < logs->count; i++) {
    double value = logs->entries[i].value;
    append(out, fabs(value) > 1e-3 ? " - %s: %.4f" : " - %s: %.4e", logs->entries[i].name, value);
  }
}

/* Keras 2 Progbar._format_time for the time per step. */
static void append_time_per_step(line *out, double seconds) {
  if (seconds >= 1 || seconds == 0) append(out, " %.0fs/step", seconds);
  else if (seconds >= 1e-3) append(out, " %.0fms/step", seconds * 1e3);
  else append(out, " %.0fus/step", seconds * 1e6);
}

static void append_bar(line *out, int64_t current, int64_t target) {
  int digits = target > 0 ? (int)floor(log10((double)target)) + 1 : 1;
  append(out, "%*lld/%lld [", digits, (long long)current, (long long)target);
  int width = target > 0 ? (int)(30.0 * (double)current / (double)target) : 30;
  for (int i = 0; i + 1 < width; i++) append(out, "=");
  if (width > 0) append(out, current < target ? ">" : "=");
  for (int i = width; i < 30; i++) append(out, ".");
  append(out, "]");
}

static void draw(progress *p, const line *text, int final) {
  fputc('\r', p->out);
  fputs(text->text, p->out);
  for (size_t i = text->length; i < p->last_width; i++) fputc(' ', p->out);
  p->last_width = text->length;
  if (final) fputc('\n', p->out);
  fflush(p->out);
}

static void begin(progress *p) {
  p->start = sp_seconds_now();
  p->last_draw = 0;
  p->done = 0;
  p->last_width = 0;
}

static void batch_done(progress *p, int64_t current, int64_t target, const sp_logs *logs) {
  p->done++;
  double now = sp_seconds_now();
  if (!p->live || current >= target || now - p->last_draw < 0.05) return;
  p->last_draw = now;
  line text = {.length = 0};
  append_bar(&text, current, target);
  double eta = (now - p->start) / (double)p->done * (double)(target - current);
  if (eta > 3600) append(&text, " - ETA: %d:%02d:%02d", (int)(eta / 3600), (int)fmod(eta, 3600) / 60, (int)fmod(eta, 60));
  else if (eta > 60) append(&text, " - ETA: %d:%02d", (int)(eta / 60), (int)fmod(eta, 60));
  else append(&text, " - ETA: %.0fs", eta);
  append_logs(&text, logs);
  draw(p, &text, 0);
}

static void finish(progress *p, const char *prefix, int64_t target, const sp_logs *logs) {
  double elapsed = sp_seconds_now() - p->start;
  line text = {.length = 0};
  if (p->live) append_bar(&text, target, target);
  else append(&text, "%s%lld/%lld", prefix, (long long)target, (long long)target);
  append(&text, " - %.0fs", elapsed);
  append_time_per_step(&text, p->done ? elapsed / (double)p->done : 0);
  append_logs(&text, logs);
  if (p->live) {
    draw(p, &text, 1);
  } else {
    fprintf(p->out, "%s\n", text.text);
    fflush(p->out);
  }
}

/* ---- fit ---- */

static sp_status on_epoch_begin(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  progress *p = self->context;
  begin(p);
  if (p->live) {
    fprintf(p->out, "Epoch %d/%d\n", epoch + 1, training->epochs);
    fflush(p->out);
  }
  return SP_OK;
}

static sp_status on_train_batch_end(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs) {
  batch_done(self->context, batch + 1, training->steps, logs);
  return SP_OK;
}

static sp_status on_epoch_end(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  char prefix[64];
  snprintf(prefix, sizeof prefix, "Epoch %d/%d - ", epoch + 1, training->epochs);
  finish(self->context, prefix, training->steps, logs);
  return SP_OK;
}

/* ---- evaluate ---- */

static sp_status on_test_begin(sp_callback *self, sp_training *training, const sp_logs *logs) {
  begin(self->context);
  return SP_OK;
}

static sp_status on_test_batch_end(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs) {
  batch_done(self->context, batch + 1, training->steps, logs);
  return SP_OK;
}

static sp_status on_test_end(sp_callback *self, sp_training *training, const sp_logs *logs) {
  finish(self->context, "", training->steps, logs);
  return SP_OK;
}

sp_callback *sp_progress_callback(FILE *out, int verbose, int evaluating) {
  progress *p = sp_alloc_zeroed(1, sizeof *p);
  sp_callback *callback = p ? sp_callback_new("progress", p) : NULL;
  if (!callback) {
    free(p);
    return NULL;
  }
  p->out = out ? out : stdout;
  p->live = verbose == 1 && isatty(fileno(p->out));
  callback->release = sp_callback_free_context;
  if (evaluating) {
    callback->on_test_begin = on_test_begin;
    callback->on_test_batch_end = on_test_batch_end;
    callback->on_test_end = on_test_end;
  } else {
    callback->on_epoch_begin = on_epoch_begin;
    callback->on_train_batch_end = on_train_batch_end;
    callback->on_epoch_end = on_epoch_end;
  }
  return callback;
}
