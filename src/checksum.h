/* checksum.h: SHA-256 (OpenSSL libcrypto) of migration files. */
#ifndef MS_CHECKSUM_H
#define MS_CHECKSUM_H

#include <stddef.h>

typedef struct ms_sha256 ms_sha256;

/* Incremental SHA-256. ms_sha256_new returns NULL on allocation failure;
 * ms_sha256_hex writes 64 hex digits and a NUL into hex and frees h. */
ms_sha256 *ms_sha256_new(void);
void ms_sha256_add(ms_sha256 *h, const void *data, size_t len);
void ms_sha256_hex(ms_sha256 *h, char hex[65]);

/* One-shot digest into raw bytes (32). */
void ms_sha256_raw(const void *data, size_t len, unsigned char out[32]);

#endif
