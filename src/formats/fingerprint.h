/* fingerprint.h — SavedModel fingerprint.pb (formats.md §5.4): FarmHash Fingerprint64, TensorFlow's
 * FingerprintCat64, protobuf's deterministic serialization, and the five FingerprintDef hashes.
 *
 * sp_fingerprint64 is FarmHash's Fingerprint64 (farmhashna::Hash64), which TensorFlow calls through
 * tsl::Fingerprint64; its value is part of the file format, so it must never change. It is tested
 * against libfarmhash itself and against the checkpoint_hash of TF-written fingerprint.pb files.
 *
 * Deterministic serialization = protobuf-c's packing (fields in field-number order) after every
 * map field has been sorted by key, which is what C++ protobuf's SetSerializationDeterministic does.
 */
#ifndef SP_FORMATS_FINGERPRINT_H
#define SP_FORMATS_FINGERPRINT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* The FingerprintDef fields 1–5. */
typedef struct sp_fingerprint {
  uint64_t saved_model_checksum;    /* Fingerprint64(saved_model.pb as written, deterministically) */
  uint64_t graph_def_program_hash;  /* Fingerprint64(regularized graph_def of meta graph 0) */
  uint64_t signature_def_hash;      /* Cat over sorted (key, SignatureDef) */
  uint64_t saved_object_graph_hash; /* Cat over concrete functions by name UID */
  uint64_t checkpoint_hash;         /* Fingerprint64(variables/variables.index), 0 when unreadable */
} sp_fingerprint;

uint64_t sp_fingerprint64(const void *data, size_t size);
uint64_t sp_fingerprint_cat64(uint64_t first, uint64_t second);

/* Sorts every map field of message (and of every message inside it) by key, in place. Map fields
 * are repeated "…Entry" messages with exactly the fields key = 1 and value = 2. */
void sp_proto_sort_maps(ProtobufCMessage *message);
/* sp_proto_sort_maps, then packs; *data is a new buffer the caller frees. */
sp_status sp_proto_pack_deterministic(ProtobufCMessage *message, uint8_t **data, size_t *size) SP_MUST_CHECK;

/* Which TensorFlow release's definitions apply. They differ in two places, both found by
 * recomputing TF-written fingerprint.pb files: TF 2.14 hashes the saved_model.pb bytes as written
 * and Cat()s each signature key before its SignatureDef; TF 2.12 hashed a re-serialization we
 * cannot reproduce from the file and Cat()ed the SignatureDefs alone (sorted by key). */
typedef enum sp_fingerprint_rules {
  SP_FINGERPRINT_TF_2_14 = 0, /* what savepoint writes */
  SP_FINGERPRINT_TF_2_12 = 1
} sp_fingerprint_rules;

/* The fingerprint of a SavedModel from the bytes of its saved_model.pb; the checkpoint hash reads
 * <directory>/variables/variables.index (directory may be NULL: checkpoint_hash 0). */
sp_status sp_fingerprint_saved_model(const uint8_t *saved_model, size_t size, const char *directory,
                                     sp_fingerprint_rules rules, sp_fingerprint *fingerprint) SP_MUST_CHECK;
/* Reads <directory>/saved_model.pb and computes its fingerprint. */
sp_status sp_fingerprint_saved_model_directory(const char *directory, sp_fingerprint_rules rules,
                                               sp_fingerprint *fingerprint) SP_MUST_CHECK;

/* The serialized FingerprintDef (version producer 1, no uuid, as TF 2.12–2.14 write it). */
sp_status sp_fingerprint_serialize(const sp_fingerprint *fingerprint, uint8_t **data, size_t *size) SP_MUST_CHECK;

#endif
