/* checksum.c: SHA-256 through OpenSSL's EVP interface (libcrypto), used for
 * the tracking table's checksum column and the advisory lock key. */
#include "checksum.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

struct ms_sha256 { EVP_MD_CTX *md; };

/* The SHA-256 implementation, fetched once: OpenSSL 3 looks it up again on
 * every EVP_sha256() init, which cost more than hashing a small file. */
static EVP_MD *fetched;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch(void) { fetched = EVP_MD_fetch(NULL, "SHA256", NULL); }

/* Thread-safe: the first caller (often a sumpool.c worker, while the main
 * thread connects) pays for OpenSSL's initialisation. */
static const EVP_MD *sha256_md(void) {
  pthread_once(&fetch_once, fetch);
  return fetched ? fetched : EVP_sha256();
}

/* Frees the fetched implementation when the program (or the Lua module)
 * is unloaded, so nothing is left for a leak checker. */
__attribute__((destructor)) static void sha256_md_free(void) {
  EVP_MD_free(fetched);
  fetched = NULL;
}

ms_sha256 *ms_sha256_new(void) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!md) return NULL;
  if (EVP_DigestInit_ex(md, sha256_md(), NULL) != 1) {
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

void ms_sha256_add_norm(ms_sha256 *h, ms_norm *st, const char *p, size_t n) {
  static const char bom[3] = { '\xEF', '\xBB', '\xBF' };
  size_t i = 0, from;
  if (!st->decided) {
    /* a BOM may be split across chunks: hold its bytes until decided */
    while (st->held < 3 && i < n && p[i] == bom[st->held]) { st->held++; i++; }
    if (st->held == 3) st->decided = 1;
    else if (i < n) { ms_sha256_add(h, bom, st->held); st->decided = 1; }
  }
  from = i;
  if (st->cr && i < n) {
    st->cr = 0;
    if (p[i] != '\n') ms_sha256_add(h, "\r", 1);
  }
  /* jump from one CR to the next: most files have none */
  for (const char *cr; i < n && (cr = memchr(p + i, '\r', n - i)) != NULL;) {
    i = (size_t)(cr - p);
    ms_sha256_add(h, p + from, i - from);
    from = ++i;
    if (i == n) { st->cr = 1; break; }
    if (p[i] != '\n') ms_sha256_add(h, "\r", 1);
  }
  if (!st->cr) ms_sha256_add(h, p + from, n - from);
}

void ms_sha256_norm_end(ms_sha256 *h, ms_norm *st) {
  if (!st->decided && st->held < 3) ms_sha256_add(h, "\xEF\xBB\xBF", st->held);
  if (st->cr) ms_sha256_add(h, "\r", 1);
  memset(st, 0, sizeof *st);
}

void ms_sha256_raw(const void *data, size_t len, unsigned char out[32]) {
  unsigned int n = 0;
  EVP_Digest(data, len, out, &n, sha256_md(), NULL);
}

/* Feeds one file, normalised; 0 or an errno value. */
static int add_file(ms_sha256 *h, const char *path, const atomic_int *stop) {
  char buf[32 * 1024];
  ms_norm norm = { 0, 0, 0 };
  ssize_t n;
  int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
  if (fd < 0) return errno;
  while ((n = read(fd, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { rc = errno; break; }
    if (stop && *stop) { rc = ECANCELED; break; }
    ms_sha256_add_norm(h, &norm, buf, (size_t)n);
  }
  ms_sha256_norm_end(h, &norm);
  close(fd);
  return rc;
}

int ms_checksum_files(const char *const *paths, int n, char out[MS_CHECKSUM_LEN], int *bad,
                      const atomic_int *stop) {
  char hex[65];
  int rc = 0;
  ms_sha256 *h = ms_sha256_new();
  if (!h) return ENOMEM;
  for (int i = 0; i < n && rc == 0; i++)
    if (paths[i] && (rc = add_file(h, paths[i], stop)) != 0) *bad = i;
  ms_sha256_hex(h, hex);
  memcpy(out, MS_CHECKSUM_TAG, sizeof MS_CHECKSUM_TAG - 1);
  memcpy(out + sizeof MS_CHECKSUM_TAG - 1, hex, sizeof hex);
  return rc;
}
