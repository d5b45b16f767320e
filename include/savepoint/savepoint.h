/* savepoint.h — the whole public API of libsavepoint in one include. */
#ifndef SAVEPOINT_H
#define SAVEPOINT_H

#include "savepoint/checkpoint.h"
#include "savepoint/custom.h"
#include "savepoint/io.h"
#include "savepoint/manifest.h"
#include "savepoint/model.h"
#include "savepoint/registry.h"
#include "savepoint/saved_model.h"
#include "savepoint/serve.h"
#include "savepoint/status.h"
#include "savepoint/tensor.h"
#include "savepoint/train.h"
#include "savepoint/version.h"

#endif
