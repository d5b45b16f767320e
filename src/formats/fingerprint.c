/* fingerprint.c — fingerprint.pb hashes (see fingerprint.h; formats.md §5.4).
 *
 * FarmHash Fingerprint64 is written here from its definition (farmhashna's 64-bit hash: separate
 * paths for 0–16, 17–32, 33–64 bytes and a 64-byte block loop above). Its results are pinned by
 * tests against libfarmhash and TF-written files; any change here breaks every fingerprint.
 *
 * The graph regularization follows TF's graph_regularization::SimpleDelete: function-call nodes
 * lose the numeric UID suffix of attr f's name and the bytes of attr config_proto; string Const
 * nodes lose their value; library and versions become present but empty.
 */
#include "formats/fingerprint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/memory.h"
#include "fingerprint.pb-c.h"
#include "formats/proto_read.h"
#include "saved_model.pb-c.h"

/* ---- FarmHash Fingerprint64 ---- */

static const uint64_t k0 = 0xc3a5c85c97cb3127ULL;
static const uint64_t k1 = 0xb492b66fbe98f273ULL;
static const uint64_t k2 = 0x9ae16a3b2f90404fULL;

static uint64_t load64(const uint8_t *p) { return sp_load_u64le(p); }
static uint64_t load32(const uint8_t *p) { return sp_load_u32le(p); }
static uint64_t rotate_right(uint64_t value, int shift) {
  return shift == 0 ? value : (value >> shift) | (value << (64 - shift));
}
static uint64_t shift_mix(uint64_t value) { return value ^ (value >> 47); }

static uint64_t mix16(uint64_t u, uint64_t v, uint64_t multiplier) {
  uint64_t a = (u ^ v) * multiplier;
  a ^= a >> 47;
  uint64_t b = (v ^ a) * multiplier;
  b ^= b >> 47;
  return b * multiplier;
}

static uint64_t hash_up_to_16(const uint8_t *s, size_t length) {
  uint64_t multiplier = k2 + length * 2;
  if (length >= 8) {
    uint64_t a = load64(s) + k2, b = load64(s + length - 8);
    uint64_t c = rotate_right(b, 37) * multiplier + a, d = (rotate_right(a, 25) + b) * multiplier;
    return mix16(c, d, multiplier);
  }
  if (length >= 4) return mix16(length + (load32(s) << 3), load32(s + length - 4), multiplier);
  if (length == 0) return k2;
  uint32_t y = (uint32_t)s[0] + ((uint32_t)s[length >> 1] << 8);
  uint32_t z = (uint32_t)length + ((uint32_t)s[length - 1] << 2);
  return shift_mix(y * k2 ^ z * k0) * k2;
}

static uint64_t hash_17_to_32(const uint8_t *s, size_t length) {
  uint64_t multiplier = k2 + length * 2;
  uint64_t a = load64(s) * k1, b = load64(s + 8);
  uint64_t c = load64(s + length - 8) * multiplier, d = load64(s + length - 16) * k2;
  return mix16(rotate_right(a + b, 43) + rotate_right(c, 30) + d, a + rotate_right(b + k2, 18) + c, multiplier);
}

static uint64_t hash_33_to_64(const uint8_t *s, size_t length) {
  uint64_t multiplier = k2 + length * 2;
  uint64_t a = load64(s) * k2, b = load64(s + 8);
  uint64_t c = load64(s + length - 8) * multiplier, d = load64(s + length - 16) * k2;
  uint64_t y = rotate_right(a + b, 43) + rotate_right(c, 30) + d;
  uint64_t z = mix16(y, a + rotate_right(b + k2, 18) + c, multiplier);
  uint64_t e = load64(s + 16) * multiplier, f = load64(s + 24);
  uint64_t g = (y + load64(s + length - 32)) * multiplier, h = (z + load64(s + length - 24)) * multiplier;
  return mix16(rotate_right(e + f, 43) + rotate_right(g, 30) + h, e + rotate_right(f + a, 18) + g, multiplier);
}

typedef struct pair64 {
  uint64_t first, second;
} pair64;

/* Two 64-bit lanes from 32 bytes at s and the seeds a, b. */
static pair64 weak_hash32(const uint8_t *s, uint64_t a, uint64_t b) {
  uint64_t w = load64(s), x = load64(s + 8), y = load64(s + 16), z = load64(s + 24);
  a += w;
  b = rotate_right(b + a + z, 21);
  uint64_t c = a;
  a += x + y;
  b += rotate_right(a, 44);
  return (pair64){a + z, b + c};
}

typedef struct farm_state {
  uint64_t x, y, z;
  pair64 v, w;
} farm_state;

/* One 64-byte round; the final round uses another multiplier and weights. */
static void farm_round(farm_state *state, const uint8_t *s, uint64_t multiplier, uint64_t weight) {
  state->x = rotate_right(state->x + state->y + state->v.first + load64(s + 8), 37) * multiplier;
  state->y = rotate_right(state->y + state->v.second + load64(s + 48), 42) * multiplier;
  state->x ^= state->w.second * weight;
  state->y += state->v.first * weight + load64(s + 40);
  state->z = rotate_right(state->z + state->w.first, 33) * multiplier;
  state->v = weak_hash32(s, state->v.second * multiplier, state->x + state->w.first);
  state->w = weak_hash32(s + 32, state->z + state->w.second, state->y + load64(s + 16));
  uint64_t swap = state->z;
  state->z = state->x;
  state->x = swap;
}

uint64_t sp_fingerprint64(const void *data, size_t length) {
  const uint8_t *s = data;
  if (length <= 16) return hash_up_to_16(s, length);
  if (length <= 32) return hash_17_to_32(s, length);
  if (length <= 64) return hash_33_to_64(s, length);
  const uint64_t seed = 81;
  farm_state state = {.x = seed, .y = seed * k1 + 113};
  state.z = shift_mix(state.y * k2 + 113) * k2;
  state.x = state.x * k2 + load64(s);
  const uint8_t *end = s + ((length - 1) / 64) * 64;
  const uint8_t *last64 = end + ((length - 1) & 63) - 63;
  do {
    farm_round(&state, s, k1, 1);
    s += 64;
  } while (s != end);
  uint64_t multiplier = k1 + ((state.z & 0xff) << 1);
  state.w.first += (length - 1) & 63;
  state.v.first += state.w.first;
  state.w.first += state.v.first;
  farm_round(&state, last64, multiplier, 9);
  return mix16(mix16(state.v.first, state.w.first, multiplier) + shift_mix(state.y) * k0 + state.z,
               mix16(state.v.second, state.w.second, multiplier) + state.x, multiplier);
}

uint64_t sp_fingerprint_cat64(uint64_t first, uint64_t second) {
  const uint64_t multiplier = 0xc6a4a7935bd1e995ULL;
  uint64_t result = first ^ multiplier;
  result ^= shift_mix(second * multiplier) * multiplier;
  result *= multiplier;
  result = shift_mix(result) * multiplier;
  return shift_mix(result);
}

/* ---- deterministic serialization ---- */

static int is_map_entry(const ProtobufCMessageDescriptor *descriptor) {
  size_t length = strlen(descriptor->name);
  return descriptor->n_fields == 2 && descriptor->fields[0].id == 1 && descriptor->fields[1].id == 2 &&
         strcmp(descriptor->fields[0].name, "key") == 0 && length > 5 &&
         strcmp(descriptor->name + length - 5, "Entry") == 0;
}

/* Orders two map entries by key the way C++ protobuf does: bytewise for strings, numerically else. */
static int compare_entries(const void *a, const void *b) {
  const ProtobufCMessage *left = *(ProtobufCMessage *const *)a, *right = *(ProtobufCMessage *const *)b;
  const ProtobufCFieldDescriptor *key = &left->descriptor->fields[0];
  const char *left_key = (const char *)left + key->offset, *right_key = (const char *)right + key->offset;
  switch (key->type) {
    case PROTOBUF_C_TYPE_STRING: {
      const char *l = *(char *const *)left_key, *r = *(char *const *)right_key;
      return strcmp(l ? l : "", r ? r : "");
    }
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32: {
      int32_t l = *(const int32_t *)left_key, r = *(const int32_t *)right_key;
      return (l > r) - (l < r);
    }
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_BOOL: {
      uint32_t l = *(const uint32_t *)left_key, r = *(const uint32_t *)right_key;
      return (l > r) - (l < r);
    }
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64: {
      int64_t l = *(const int64_t *)left_key, r = *(const int64_t *)right_key;
      return (l > r) - (l < r);
    }
    default: {
      uint64_t l = *(const uint64_t *)left_key, r = *(const uint64_t *)right_key;
      return (l > r) - (l < r);
    }
  }
}

void sp_proto_sort_maps(ProtobufCMessage *message) {
  if (!message) return;
  const ProtobufCMessageDescriptor *descriptor = message->descriptor;
  for (unsigned f = 0; f < descriptor->n_fields; f++) {
    const ProtobufCFieldDescriptor *field = &descriptor->fields[f];
    if (field->type != PROTOBUF_C_TYPE_MESSAGE) continue;
    char *member = (char *)message + field->offset;
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t count = *(size_t *)((char *)message + field->quantifier_offset);
      ProtobufCMessage **items = *(ProtobufCMessage ***)member;
      for (size_t i = 0; i < count; i++) sp_proto_sort_maps(items[i]);
      if (count > 1 && is_map_entry(field->descriptor)) qsort(items, count, sizeof *items, compare_entries);
      continue;
    }
    if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(uint32_t *)((char *)message + field->quantifier_offset) != field->id)
      continue;
    sp_proto_sort_maps(*(ProtobufCMessage **)member);
  }
}

sp_status sp_proto_pack_deterministic(ProtobufCMessage *message, uint8_t **data, size_t *size) {
  sp_proto_sort_maps(message);
  *size = protobuf_c_message_get_packed_size(message);
  *data = sp_alloc(*size ? *size : 1);
  if (!*data) return sp_error_context(SP_ERROR_NO_MEMORY, "serializing %s", message->descriptor->name);
  protobuf_c_message_pack(message, *data);
  return SP_OK;
}

static sp_status hash_message(ProtobufCMessage *message, uint64_t *hash) {
  uint8_t *data;
  size_t size;
  SP_TRY(sp_proto_pack_deterministic(message, &data, &size));
  *hash = sp_fingerprint64(data, size);
  free(data);
  return SP_OK;
}

static uint64_t hash_text(const char *text) { return sp_fingerprint64(text, strlen(text)); }

/* ---- regularization and the five hashes ---- */

/* TF's GetSuffixUID: the text after the last '_' as a (signed) decimal integer. */
static int suffix_uid(const char *name, long long *uid) {
  const char *last = strrchr(name, '_');
  const char *digits = last ? last + 1 : name;
  const char *p = digits + (*digits == '-' || *digits == '+');
  if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 18) return 0;
  *uid = strtoll(digits, NULL, 10);
  return 1;
}

/* name without the decimal text of its UID at the end (TF: StripSuffix(name, to_string(uid))). */
static char *strip_uid(const char *name, long long uid) {
  char text[32];
  snprintf(text, sizeof text, "%lld", uid);
  size_t length = strlen(name), suffix = strlen(text);
  if (suffix <= length && strcmp(name + length - suffix, text) == 0) length -= suffix;
  return sp_strndup(name, length);
}

static Tensorflow__AttrValue *find_attr(Tensorflow__NodeDef *node, const char *key) {
  for (size_t i = 0; i < node->n_attr; i++)
    if (node->attr[i]->key && strcmp(node->attr[i]->key, key) == 0) return node->attr[i]->value;
  return NULL;
}

/* Frees what the oneof holds and leaves the value unset (TF: clear_value()). */
static void clear_attr_value(Tensorflow__AttrValue *value) {
  switch (value->value_case) {
    case TENSORFLOW__ATTR_VALUE__VALUE_S: free(value->s.data); break;
    case TENSORFLOW__ATTR_VALUE__VALUE_PLACEHOLDER: free(value->placeholder); break;
    case TENSORFLOW__ATTR_VALUE__VALUE_SHAPE: protobuf_c_message_free_unpacked(&value->shape->base, NULL); break;
    case TENSORFLOW__ATTR_VALUE__VALUE_TENSOR: protobuf_c_message_free_unpacked(&value->tensor->base, NULL); break;
    case TENSORFLOW__ATTR_VALUE__VALUE_LIST: protobuf_c_message_free_unpacked(&value->list->base, NULL); break;
    case TENSORFLOW__ATTR_VALUE__VALUE_FUNC: protobuf_c_message_free_unpacked(&value->func->base, NULL); break;
    default: break;
  }
  memset(&value->s, 0, sizeof value->s);
  value->value_case = TENSORFLOW__ATTR_VALUE__VALUE__NOT_SET;
}

static sp_status regularize_call(Tensorflow__NodeDef *node) {
  Tensorflow__AttrValue *function = find_attr(node, "f");
  long long uid;
  if (function && function->value_case == TENSORFLOW__ATTR_VALUE__VALUE_FUNC && function->func &&
      function->func->name && suffix_uid(function->func->name, &uid)) {
    char *stripped = strip_uid(function->func->name, uid);
    if (!stripped) return SP_ERROR_NO_MEMORY;
    free(function->func->name);
    function->func->name = stripped;
  }
  Tensorflow__AttrValue *config = find_attr(node, "config_proto");
  if (config) { /* TF: mutable_s()->erase(), i.e. an empty s whatever the attr held */
    clear_attr_value(config);
    config->value_case = TENSORFLOW__ATTR_VALUE__VALUE_S;
  }
  return SP_OK;
}

static sp_status regularize_graph(Tensorflow__GraphDef *graph) {
  for (size_t n = 0; n < graph->n_node; n++) {
    Tensorflow__NodeDef *node = graph->node[n];
    const char *op = node->op ? node->op : "";
    if (strcmp(op, "PartitionedCall") == 0 || strcmp(op, "StatefulPartitionedCall") == 0)
      SP_TRY(regularize_call(node));
    if (strcmp(op, "Const") == 0) {
      Tensorflow__AttrValue *dtype = find_attr(node, "dtype"), *value = find_attr(node, "value");
      if (dtype && dtype->value_case == TENSORFLOW__ATTR_VALUE__VALUE_TYPE &&
          dtype->type == TENSORFLOW__DATA_TYPE__DT_STRING && value)
        clear_attr_value(value);
    }
  }
  if (graph->library) protobuf_c_message_free_unpacked(&graph->library->base, NULL);
  if (graph->versions) protobuf_c_message_free_unpacked(&graph->versions->base, NULL);
  graph->library = sp_alloc(sizeof *graph->library);
  graph->versions = sp_alloc(sizeof *graph->versions);
  if (!graph->library || !graph->versions) return SP_ERROR_NO_MEMORY;
  tensorflow__function_def_library__init(graph->library);
  tensorflow__version_def__init(graph->versions);
  return SP_OK;
}

static sp_status hash_signatures(Tensorflow__MetaGraphDef *meta_graph, sp_fingerprint_rules rules, uint64_t *hash) {
  *hash = 0;
  /* Sorting the map sorts the signatures by key. */
  sp_proto_sort_maps(&meta_graph->base);
  for (size_t i = 0; i < meta_graph->n_signature_def; i++) {
    Tensorflow__MetaGraphDef__SignatureDefEntry *entry = meta_graph->signature_def[i];
    uint64_t signature = 0;
    if (entry->value) SP_TRY(hash_message(&entry->value->base, &signature));
    else signature = sp_fingerprint64("", 0);
    if (rules == SP_FINGERPRINT_TF_2_14) *hash = sp_fingerprint_cat64(*hash, hash_text(entry->key ? entry->key : ""));
    *hash = sp_fingerprint_cat64(*hash, signature);
  }
  return SP_OK;
}

typedef struct function_by_uid {
  long long uid;
  size_t index;
} function_by_uid;

static int compare_uids(const void *a, const void *b) {
  const function_by_uid *left = a, *right = b;
  if (left->uid != right->uid) return (left->uid > right->uid) - (left->uid < right->uid);
  return (left->index > right->index) - (left->index < right->index);
}

static sp_status hash_object_graph(Tensorflow__SavedObjectGraph *graph, uint64_t *hash) {
  *hash = 0;
  if (!graph || graph->n_concrete_functions == 0) return SP_OK;
  size_t count = graph->n_concrete_functions;
  function_by_uid *order = sp_alloc_zeroed(count, sizeof *order);
  if (!order) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  for (size_t i = 0; i < count && status == SP_OK; i++) {
    const char *name = graph->concrete_functions[i]->key ? graph->concrete_functions[i]->key : "";
    order[i].index = i;
    if (!suffix_uid(name, &order[i].uid))
      status = sp_fail(SP_ERROR_FORMAT, "concrete function '%s' does not end in a numeric UID", name);
  }
  if (status == SP_OK) qsort(order, count, sizeof *order, compare_uids);
  for (size_t i = 0; i < count && status == SP_OK; i++) {
    if (i > 0 && order[i].uid == order[i - 1].uid) continue; /* TF keeps the first of equal UIDs */
    Tensorflow__SavedObjectGraph__ConcreteFunctionsEntry *entry = graph->concrete_functions[order[i].index];
    char *stripped = strip_uid(entry->key ? entry->key : "", order[i].uid);
    if (!stripped) status = SP_ERROR_NO_MEMORY;
    uint64_t function = 0;
    if (status == SP_OK && entry->value) status = hash_message(&entry->value->base, &function);
    else if (status == SP_OK) function = sp_fingerprint64("", 0);
    if (status == SP_OK) {
      *hash = sp_fingerprint_cat64(*hash, hash_text(stripped));
      *hash = sp_fingerprint_cat64(*hash, function);
    }
    free(stripped);
  }
  free(order);
  return status;
}

static uint64_t hash_checkpoint_index(const char *directory) {
  if (!directory) return 0;
  char *path = sp_path_join(directory, "variables/variables.index");
  uint8_t *data = NULL;
  size_t size = 0;
  uint64_t hash = 0;
  if (path && sp_path_exists(path) && sp_read_file(path, (size_t)1 << 31, &data, &size) == SP_OK)
    hash = sp_fingerprint64(data, size);
  free(data);
  free(path);
  return hash;
}

static sp_status fingerprint_of(Tensorflow__SavedModel *model, const char *directory, sp_fingerprint_rules rules,
                                sp_fingerprint *out) {
  if (model->n_meta_graphs == 0) return sp_fail(SP_ERROR_FORMAT, "the SavedModel has no meta graphs");
  Tensorflow__MetaGraphDef *meta_graph = model->meta_graphs[0];
  if (meta_graph->graph_def) {
    SP_TRY(regularize_graph(meta_graph->graph_def));
    SP_TRY(hash_message(&meta_graph->graph_def->base, &out->graph_def_program_hash));
  } else {
/* GraphDef's INIT macro sets its deprecated `version` field; nothing here reads it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    Tensorflow__GraphDef empty = TENSORFLOW__GRAPH_DEF__INIT;
#pragma GCC diagnostic pop
    Tensorflow__FunctionDefLibrary library = TENSORFLOW__FUNCTION_DEF_LIBRARY__INIT;
    Tensorflow__VersionDef versions = TENSORFLOW__VERSION_DEF__INIT;
    empty.library = &library;
    empty.versions = &versions;
    SP_TRY(hash_message(&empty.base, &out->graph_def_program_hash));
  }
  SP_TRY(hash_signatures(meta_graph, rules, &out->signature_def_hash));
  SP_TRY(hash_object_graph(meta_graph->object_graph_def, &out->saved_object_graph_hash));
  out->checkpoint_hash = hash_checkpoint_index(directory);
  return SP_OK;
}

sp_status sp_fingerprint_saved_model(const uint8_t *saved_model, size_t size, const char *directory,
                                     sp_fingerprint_rules rules, sp_fingerprint *fingerprint) {
  memset(fingerprint, 0, sizeof *fingerprint);
  ProtobufCMessage *message;
  SP_TRY(sp_proto_unpack(&tensorflow__saved_model__descriptor, saved_model, size, "saved_model.pb", &message));
  if (rules == SP_FINGERPRINT_TF_2_14) fingerprint->saved_model_checksum = sp_fingerprint64(saved_model, size);
  sp_status status = fingerprint_of((Tensorflow__SavedModel *)message, directory, rules, fingerprint);
  protobuf_c_message_free_unpacked(message, NULL);
  return sp_error_context(status, "fingerprinting the SavedModel");
}

sp_status sp_fingerprint_saved_model_directory(const char *directory, sp_fingerprint_rules rules,
                                               sp_fingerprint *fingerprint) {
  char *path = sp_path_join(directory, "saved_model.pb");
  if (!path) return SP_ERROR_NO_MEMORY;
  uint8_t *data = NULL;
  size_t size = 0;
  sp_status status = sp_read_file(path, (size_t)1 << 31, &data, &size);
  if (status == SP_OK) status = sp_fingerprint_saved_model(data, size, directory, rules, fingerprint);
  free(data);
  status = sp_error_context(status, "'%s'", path);
  free(path);
  return status;
}

sp_status sp_fingerprint_serialize(const sp_fingerprint *fingerprint, uint8_t **data, size_t *size) {
  Tensorflow__FingerprintDef proto = TENSORFLOW__FINGERPRINT_DEF__INIT;
  Tensorflow__VersionDef version = TENSORFLOW__VERSION_DEF__INIT;
  version.producer = 1;
  proto.saved_model_checksum = fingerprint->saved_model_checksum;
  proto.graph_def_program_hash = fingerprint->graph_def_program_hash;
  proto.signature_def_hash = fingerprint->signature_def_hash;
  proto.saved_object_graph_hash = fingerprint->saved_object_graph_hash;
  proto.checkpoint_hash = fingerprint->checkpoint_hash;
  proto.version = &version;
  return sp_proto_pack_deterministic(&proto.base, data, size);
}
