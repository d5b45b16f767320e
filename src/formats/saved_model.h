/* saved_model.h — reading a SavedModel directory (formats.md §5).
 *
 *   sp_saved_model *model;
 *   SP_TRY(sp_saved_model_read("export/00000123", &model));
 *   const sp_saved_model_meta_graph *serve;
 *   SP_TRY(sp_saved_model_find_meta_graph(model, "serve", &serve));
 *
 * The reader parses saved_model.pb (or saved_model.pbtxt), fingerprint.pb and keras_metadata.pb
 * when present, lists assets/ and variables/, and validates what later layers rely on: asset file
 * names stay inside assets/, signature and tag lists have no duplicates. Everything is read-only
 * after sp_saved_model_read returns, so a model may be shared between threads.
 *
 * Pointing it at something that is not a SavedModel gives an error saying what the path holds
 * (a legacy SessionBundle, a Keras file, a checkpoint, a TF Serving base directory, ...) and what
 * to do instead.
 */
#ifndef SP_FORMATS_SAVED_MODEL_H
#define SP_FORMATS_SAVED_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "fingerprint.pb-c.h"
#include "saved_metadata.pb-c.h"
#include "saved_model.pb-c.h"
#include "savepoint/tensor.h"

typedef Tensorflow__SavedModel sp_saved_model_proto;
typedef Tensorflow__MetaGraphDef sp_meta_graph_proto;
typedef Tensorflow__SignatureDef sp_signature_proto;
typedef Tensorflow__TensorInfo sp_tensor_info_proto;
typedef Tensorflow__FingerprintDef sp_fingerprint_proto;
typedef ThirdParty__Py__Keras__Protobuf__SavedMetadata sp_keras_metadata_proto;

/* Limits on what a SavedModel directory may hold before reading is refused (SP_ERROR_UNSAFE). */
enum {
  SP_SAVED_MODEL_MAX_BYTES = 1 << 30,        /* saved_model.pb / .pbtxt */
  SP_SAVED_MODEL_MAX_SIDE_FILE_BYTES = 64 << 20, /* fingerprint.pb, keras_metadata.pb */
  SP_SAVED_MODEL_MAX_LISTING = 100000        /* entries in assets/ or variables/ */
};

/* An asset a meta graph uses: the file assets/<filename>, fed to tensor_name when loading. */
typedef struct sp_saved_model_asset {
  const char *filename;    /* a plain name inside assets/ (checked) */
  const char *tensor_name; /* "Const:0", "asset_path_initializer:0" */
} sp_saved_model_asset;

/* One input or output of a signature, for sorted iteration. */
typedef struct sp_signature_tensor {
  const char *key;
  const sp_tensor_info_proto *info;
} sp_signature_tensor;

typedef struct sp_saved_model_meta_graph {
  const sp_meta_graph_proto *proto;
  char *tag_set;                /* tags as stored, joined with ",": "serve", "train,serve" */
  const char **signature_keys;  /* sorted bytewise */
  size_t signature_count;
  sp_saved_model_asset *assets; /* from asset_file_def, else collection saved_model_assets (TF1) */
  size_t asset_count;
} sp_saved_model_meta_graph;

/* One tensor of variables/variables.index (filled once the tensor-bundle reader is available). */
typedef struct sp_saved_model_variable {
  char *key;
  sp_dtype dtype;
  int rank;
  int64_t shape[SP_MAX_RANK];
} sp_saved_model_variable;

typedef struct sp_saved_model {
  char *directory;
  char *source_path;        /* the saved_model.pb or saved_model.pbtxt that was read */
  int text_format;          /* 1 when read from saved_model.pbtxt */
  sp_saved_model_proto *proto;
  sp_saved_model_meta_graph *meta_graphs; /* parallel to proto->meta_graphs */
  size_t meta_graph_count;
  sp_fingerprint_proto *fingerprint;       /* NULL without fingerprint.pb */
  sp_keras_metadata_proto *keras_metadata; /* NULL without keras_metadata.pb */
  char **asset_files;       /* names in assets/ (sorted; none when absent) */
  size_t asset_file_count;
  char **variable_files;    /* names in variables/ (sorted; none when absent) */
  size_t variable_file_count;
  int has_variables;        /* variables/variables.index exists */
  sp_saved_model_variable *variables; /* the bundle's tensors, sorted by key */
  size_t variable_count;
  int variables_listed;     /* 0 when the listing was not possible (see variables_note) */
  char *variables_note;     /* why variables were not listed, or NULL */
  /* internal: AssetFileDefs unpacked from TF1 collections, owned by the model */
  Tensorflow__AssetFileDef **owned_assets;
  size_t owned_asset_count, owned_asset_capacity;
} sp_saved_model;

sp_status sp_saved_model_read(const char *directory, sp_saved_model **model) SP_MUST_CHECK;
/* Parses the bytes of a saved_model.pb (what names them in errors) without touching the disk:
 * no side files, no listings. Used by fuzzing and by tools that hold the bytes already. */
sp_status sp_saved_model_parse(const uint8_t *data, size_t size, const char *what, sp_saved_model **model) SP_MUST_CHECK;
void sp_saved_model_free(sp_saved_model *model);

/* The meta graph whose tags, as a set, equal tag_set ("serve", "train,serve"; order and spaces
 * ignored). SP_ERROR_NOT_FOUND names the tag-sets the model has. */
sp_status sp_saved_model_find_meta_graph(const sp_saved_model *model, const char *tag_set,
                                         const sp_saved_model_meta_graph **meta_graph) SP_MUST_CHECK;

/* A signature by key, or NULL. */
const sp_signature_proto *sp_meta_graph_signature(const sp_saved_model_meta_graph *meta_graph, const char *key);
/* Like sp_meta_graph_signature, but a missing key is an SP_ERROR_NOT_FOUND listing the keys. */
sp_status sp_meta_graph_find_signature(const sp_saved_model_meta_graph *meta_graph, const char *key,
                                       const sp_signature_proto **signature) SP_MUST_CHECK;

/* The inputs (outputs = 0) or outputs (outputs = 1) of a signature sorted by key. Caller frees *list. */
sp_status sp_signature_tensors(const sp_signature_proto *signature, int outputs, sp_signature_tensor **list,
                               size_t *count) SP_MUST_CHECK;
/* The TensorInfo of one input or output key, or NULL. */
const sp_tensor_info_proto *sp_signature_tensor_info(const sp_signature_proto *signature, int outputs,
                                                     const char *key);

/* The node a loader runs after restoring (TF's order): signature __saved_model_init_op's output,
 * else the one node of collection saved_model_main_op, else of legacy_init_op; *name is NULL when
 * there is none. A collection holding other than one node name is an SP_ERROR_FORMAT. */
sp_status sp_meta_graph_init_op(const sp_saved_model_meta_graph *meta_graph, const char **name) SP_MUST_CHECK;

/* "DT_FLOAT", "DT_FLOAT_REF", "DT_RESOURCE", ... for a DataType number ("DT_<n>" when unknown;
 * out must hold 24 bytes). */
const char *sp_data_type_name(int data_type, char *out, size_t capacity);

/* The path of the variables bundle prefix: "<directory>/variables/variables" (caller frees). */
char *sp_saved_model_variables_prefix(const sp_saved_model *model);

#endif
