/* session.h — loading a SavedModel the way TensorFlow Serving does and running its signatures.
 *
 *   sp_graph_session *session;
 *   SP_TRY(sp_graph_session_open("export/00000123", "serve", &session));
 *   const char *keys[] = {"x"};
 *   const sp_tensor *inputs[] = {x};
 *   size_t count; char **names; sp_tensor **outputs;
 *   SP_TRY(sp_graph_session_run(session, "serving_default", 1, keys, inputs, &count, &names, &outputs));
 *   ...
 *   sp_graph_outputs_free(count, names, outputs);
 *   sp_graph_session_close(session);
 *
 * Opening selects the MetaGraphDef whose tags equal tag_set, compiles its graph and functions, checks
 * that every op the signatures, the restore op and the init op need is supported (listing all that
 * are not in one error), restores the variables by running saver_def.restore_op_name with the
 * variables prefix fed (assets fed too), then runs the init op (signature __saved_model_init_op,
 * else collection saved_model_main_op, else legacy_init_op).
 *
 * A session may be run from many threads at once: runs share the compiled graph and the variables,
 * and keep their intermediate values to themselves. Variables are updated (counter models,
 * training signatures) under their own locks.
 */
#ifndef SP_GRAPH_SESSION_H
#define SP_GRAPH_SESSION_H

#include <stddef.h>

#include "core/status.h"
#include "formats/saved_model.h"
#include "graph/kernel.h"
#include "savepoint/tensor.h"

typedef struct sp_graph_session sp_graph_session;

/* tag_set NULL means "serve". */
sp_status sp_graph_session_open(const char *directory, const char *tag_set, sp_graph_session **session) SP_MUST_CHECK;
/* Like sp_graph_session_open with explicit limits (NULL: defaults). */
sp_status sp_graph_session_open_with_limits(const char *directory, const char *tag_set, const sp_graph_limits *limits,
                                            sp_graph_session **session) SP_MUST_CHECK;
/* A session over a bare serialized GraphDef (a frozen graph, a test graph): no signatures, no
 * variables restored; run it with sp_graph_session_run_tensors. Unsupported ops are reported when a
 * run needs them. limits NULL: defaults. */
sp_status sp_graph_session_open_graph(const uint8_t *data, size_t size, const char *what, const sp_graph_limits *limits,
                                      sp_graph_session **session) SP_MUST_CHECK;
void sp_graph_session_close(sp_graph_session *session);

/* The SavedModel and meta graph a session runs (NULL for sp_graph_session_open_graph sessions). */
const sp_saved_model *sp_graph_session_model(const sp_graph_session *session);
const sp_saved_model_meta_graph *sp_graph_session_meta_graph(const sp_graph_session *session);

/* Runs a signature. input_keys name signature inputs (inputs whose graph node has a default may be
 * left out); each input must have the signature's dtype (shapes are left to the kernels, as in TF's C++ runtime). Outputs come back
 * sorted by key, as new tensors: free them with sp_graph_outputs_free. */
sp_status sp_graph_session_run(sp_graph_session *session, const char *signature_key, size_t input_count,
                               const char *const *input_keys, const sp_tensor *const *inputs, size_t *output_count,
                               char ***output_keys, sp_tensor ***outputs) SP_MUST_CHECK;
void sp_graph_outputs_free(size_t count, char **keys, sp_tensor **outputs);

/* Runs the graph by tensor names ("x:0"), as Session::Run does: feeds, fetches (new tensors in
 * fetched[]) and target nodes that run for their effects. */
sp_status sp_graph_session_run_tensors(sp_graph_session *session, size_t feed_count, const char *const *feed_names,
                                       const sp_tensor *const *feeds, size_t fetch_count,
                                       const char *const *fetch_names, size_t target_count,
                                       const char *const *target_names, sp_tensor **fetched) SP_MUST_CHECK;

#endif
