/* savepoint.h — the whole public API of libsavepoint in one include. */
#ifndef SAVEPOINT_H
#define SAVEPOINT_H

#include "savepoint/checkpoint.h"
#include "savepoint/manifest.h"
#include "savepoint/registry.h"
#include "savepoint/status.h"
#include "savepoint/tensor.h"
#include "savepoint/version.h"

#endif
