/* fuzz_checkpoint_state.c — libFuzzer target for the `checkpoint` state file parser.
 *
 * Arbitrary text is parsed as CheckpointState; when accepted, the text we would write for
 * it must parse again and print identically (a fixed point), or the target aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "formats/checkpoint_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_checkpoint_state *state;
  if (sp_checkpoint_state_parse((const char *)data, size, "fuzz", &state) != SP_OK) return 0;
  sp_buffer first = {0}, second = {0};
  if (sp_checkpoint_state_format(state, &first) != SP_OK) abort();
  sp_checkpoint_state *again;
  if (sp_checkpoint_state_parse((const char *)first.data, first.size, "printed", &again) != SP_OK) abort();
  if (sp_checkpoint_state_format(again, &second) != SP_OK) abort();
  if (first.size != second.size || (first.size && memcmp(first.data, second.data, first.size) != 0)) abort();
  sp_checkpoint_state_free(again);
  sp_checkpoint_state_free(state);
  sp_buffer_free(&first);
  sp_buffer_free(&second);
  return 0;
}
