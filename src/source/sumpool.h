/* sumpool.h: the checksums of a folder's migrations, computed on worker
 * threads while the main thread connects and reads the tracking table. */
#ifndef MS_SUMPOOL_H
#define MS_SUMPOOL_H

#include "ms.h"

/* Starts hashing every migration of c->src (at most one pool per context):
 * one worker per core, at most 4, never more than files. Does nothing for
 * an empty folder, or when no thread can be started: each checksum is then
 * computed on first use. c->src must not change until ms_sumpool_finish. */
void ms_sumpool_start(ms_ctx *c);

/* Waits for the workers and frees the pool. With keep, every checksum they
 * computed is stored in its migration's checksum field (one that failed is
 * left unset, so first use computes it again and reports the cause);
 * without, the workers stop at their next read and the results are
 * dropped. Safe to call without a pool. */
void ms_sumpool_finish(ms_ctx *c, int keep);

#endif
