/* checksum_fuzz.c: libFuzzer target for the checksum normaliser
 * (ms_sha256_add_norm in src/core/checksum.c). The first input byte picks chunk
 * sizes; the rest is a file. Aborts unless the digest is the same however
 * the file is cut into chunks (a BOM or a CRLF split across two chunks
 * included), and equals the SHA-256 of the file normalised the plain way:
 * a leading UTF-8 BOM left out, every CRLF read as LF. Built and run by
 * `make fuzz` (spec/support/fuzz.sh). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void digest_chunks(const char *p, size_t n, unsigned step, char hex[65]) {
  ms_sha256 *h = ms_sha256_new();
  ms_norm st = { 0, 0, 0 };
  CHECK(h != NULL);
  for (size_t off = 0; off < n;) {
    size_t k = step ? step : n;
    if (k > n - off) k = n - off;
    ms_sha256_add_norm(h, &st, p + off, k);
    off += k;
    if (step) step = step % 7 + 1;   /* vary the cut points */
  }
  ms_sha256_norm_end(h, &st);
  ms_sha256_hex(h, hex);
}

static void digest_plain(const char *p, size_t n, char hex[65]) {
  char *out = malloc(n + 1);
  size_t w = 0, i = n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
  CHECK(out != NULL);
  for (; i < n; i++) {
    if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') continue;
    out[w++] = p[i];
  }
  ms_sha256 *h = ms_sha256_new();
  CHECK(h != NULL);
  ms_sha256_add(h, out, w);
  ms_sha256_hex(h, hex);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char whole[65], cut[65], plain[65];
  if (size < 1) return 0;
  unsigned step = data[0] % 9;   /* 0: one chunk */
  const char *p = (const char *)data + 1;
  size_t n = size - 1;
  digest_chunks(p, n, 0, whole);
  digest_chunks(p, n, step ? step : 1, cut);
  digest_plain(p, n, plain);
  CHECK(strcmp(whole, cut) == 0);
  CHECK(strcmp(whole, plain) == 0);
  return 0;
}
