/* checksum.c: SHA-256 through OpenSSL's EVP interface (libcrypto), used for
 * the tracking table's checksum column and the advisory lock key. */
#include "checksum.h"

#include <openssl/evp.h>

struct ms_sha256 { EVP_MD_CTX *md; };

ms_sha256 *ms_sha256_new(void) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!md) return NULL;
  if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(md);
    return NULL;
  }
  return (ms_sha256 *)md;
}

void ms_sha256_add(ms_sha256 *h, const void *data, size_t len) {
  if (len) EVP_DigestUpdate((EVP_MD_CTX *)h, data, len);
}

void ms_sha256_hex(ms_sha256 *h, char hex[65]) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  static const char digits[] = "0123456789abcdef";
  EVP_DigestFinal_ex((EVP_MD_CTX *)h, d, &n);
  EVP_MD_CTX_free((EVP_MD_CTX *)h);
  for (unsigned i = 0; i < 32; i++) {
    hex[2 * i] = digits[d[i] >> 4];
    hex[2 * i + 1] = digits[d[i] & 15];
  }
  hex[64] = '\0';
}

void ms_sha256_raw(const void *data, size_t len, unsigned char out[32]) {
  unsigned int n = 0;
  EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}
