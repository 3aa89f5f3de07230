/* invalidx.h: the INVALID index a failed CREATE INDEX CONCURRENTLY leaves. */
#ifndef MS_INVALIDX_H
#define MS_INVALIDX_H

#include <stddef.h>
#include "ms.h"

/* When stmt (len bytes) is CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT
 * EXISTS] name ON table, and that table has an INVALID index of that name,
 * drops it concurrently (saying so on stderr). Anything else is left
 * alone: MS_OK. A failed lookup or drop returns its status with c->err. */
ms_status ms_invalid_index_drop(ms_ctx *c, const char *stmt, size_t len) MS_MUST_CHECK;

#endif
