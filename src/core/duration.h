/* duration.h: the one reading of durations (30s, 500ms, 1.5h) and sizes
 * (512MB, 2GB) that the command line and the project config share, so a
 * value means the same wherever it is written, and the limits both obey. */
#ifndef MS_DURATION_H
#define MS_DURATION_H

#include <stddef.h>
#include "ms.h"

/* The shortest lock lease (--lock-lease, lock_lease), in seconds: its
 * renewer renews every third of it. */
#define MS_LEASE_MIN_SECONDS 0.5

/* The least memory Lua may be given (--lua-memory, lua_memory), in bytes. */
#define MS_LUA_MEMORY_MIN ((size_t)1 << 20)

/* Reads a duration: digits with an optional fraction (30, 1.5, .5), then one
 * unit of us, ms, s, m (or min), h, d; a bare number is seconds. Returns 0
 * and sets *seconds, or -1 leaving it alone for anything else: empty text, a
 * sign, spaces, an exponent, another unit, trailing text, an overflow. */
int ms_duration_parse(const char *s, double *seconds) MS_MUST_CHECK;

/* Reads a size: a number as above, then kB (or KB), MB, GB (powers of 1024),
 * or nothing for bytes. Returns 0 and sets *bytes (at least 1; fractions of
 * a byte are dropped), or -1 leaving it alone. Minimums are the caller's. */
int ms_size_parse(const char *s, size_t *bytes) MS_MUST_CHECK;

#endif
