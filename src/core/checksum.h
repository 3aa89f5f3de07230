/* checksum.h: SHA-256 (OpenSSL libcrypto) of migration files. */
#ifndef MS_CHECKSUM_H
#define MS_CHECKSUM_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct ms_sha256 ms_sha256;

/* Incremental SHA-256. ms_sha256_new returns NULL on allocation failure;
 * ms_sha256_hex writes 64 hex digits and a NUL into hex and frees h. */
ms_sha256 *ms_sha256_new(void);
void ms_sha256_add(ms_sha256 *h, const void *data, size_t len);
void ms_sha256_hex(ms_sha256 *h, char hex[65]);

/* The stored checksum's algorithm tag. Its meaning never changes: a new
 * normalisation would get a new tag. */
#define MS_CHECKSUM_TAG "sha256-v1:"

/* Feeds one file's bytes, in any number of chunks, normalised: a leading
 * UTF-8 byte order mark is left out and CRLF counts as LF, so an editor's
 * line-ending or BOM change does not count as an edit. Zero the state per
 * file; call ms_sha256_norm_end after the last chunk. */
typedef struct ms_norm { int held, decided, cr; } ms_norm;
void ms_sha256_add_norm(ms_sha256 *h, ms_norm *st, const char *p, size_t n);
void ms_sha256_norm_end(ms_sha256 *h, ms_norm *st);

/* The checksum of a migration: MS_CHECKSUM_TAG and the hex SHA-256 of its
 * files (n of paths, the up file's bytes then the down file's), each
 * normalised as above. Streams the files through a small buffer with
 * read(), so it costs the same memory at any size, and touches nothing
 * shared: worker threads call it (sumpool.c). Returns 0, or an errno value
 * with *bad set to the index of the path that failed; ECANCELED once *stop
 * is set (checked between reads; stop may be NULL). */
#define MS_CHECKSUM_LEN 80
int ms_checksum_files(const char *const *paths, int n, char out[MS_CHECKSUM_LEN], int *bad,
                      const atomic_int *stop);

/* One-shot digest into raw bytes (32). */
void ms_sha256_raw(const void *data, size_t len, unsigned char out[32]);

#endif
