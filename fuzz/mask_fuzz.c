/* mask_fuzz.c: libFuzzer target for the password masker (ms_mask_secrets in
 * src/db/mask.c). Reads the input (up to its first NUL) as a connection string
 * the way libpq does: a postgresql:// or postgres:// URL, whose password is
 * the userinfo after its first ':' or a query parameter password=, or else
 * a conninfo string of keyword = value pairs (values quoted or not, with
 * backslash escapes), read up to a keyword libpq cannot know. Aborts unless
 * the masked text is a proper string that keeps none of any such password:
 * every 4-byte piece of the password that occurs once in the input must be
 * gone from the output. And libpq's own reading: whatever password libpq
 * (PQconninfoParse) reads from the masked text must hold no such piece of
 * the one it reads from the input. Pieces that could be formed with the
 * "***" text the masker writes are not checked. Input with no "://" and no
 * "password" must come out unchanged.
 * Built and run by `make fuzz` (spec/support/fuzz.sh). */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "buf.h"
#include "mask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

#define GRAM 4

typedef struct span { size_t off, len; } span;

typedef struct secrets {
  span v[64];
  size_t n;
} secrets;

static void add(secrets *s, size_t off, size_t len) {
  if (len > 0 && s->n < sizeof s->v / sizeof s->v[0]) {
    s->v[s->n].off = off;
    s->v[s->n].len = len;
    s->n++;
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* 1 when s[0..n), percent-decoded as libpq decodes URL parts, is "password". */
static int is_password_key(const char *s, size_t n) {
  static const char want[] = "password";
  size_t k = 0;
  for (size_t i = 0; i < n; i++, k++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= n) return 0;
      int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
      if (hi < 0 || lo < 0) return 0;
      c = hi * 16 + lo;
      i += 2;
    }
    if (k >= sizeof want - 1 || c != want[k]) return 0;
  }
  return k == sizeof want - 1;
}

/* libpq's URL: userinfo up to the first '@' before any '/', the password
 * after its first ':'; then key=value&... after the first '?'. */
static void url_secrets(const char *s, size_t n, size_t start, secrets *out) {
  size_t p = start;
  while (p < n && s[p] != '@' && s[p] != '/') p++;
  if (p < n && s[p] == '@') {
    const char *colon = memchr(s + start, ':', p - start);
    if (colon) add(out, (size_t)(colon - s) + 1, p - (size_t)(colon - s) - 1);
    start = p + 1;
  }
  const char *q = memchr(s + start, '?', n - start);
  if (!q) return;
  for (size_t i = (size_t)(q - s) + 1; i < n;) {
    size_t key = i, eq = 0;
    while (i < n && s[i] != '&') {
      if (s[i] == '=' && !eq) eq = i;
      i++;
    }
    if (eq && is_password_key(s + key, eq - key)) add(out, eq + 1, i - eq - 1);
    i++;
  }
}

/* libpq's conninfo: pairs until the first syntax error or the first
 * keyword libpq cannot know (they are all lower-case letters and '_'). */
static void conninfo_secrets(const char *s, size_t n, secrets *out) {
  size_t p = 0;
  while (p < n) {
    if (isspace((unsigned char)s[p])) { p++; continue; }
    size_t key = p;
    while (p < n && s[p] != '=' && !isspace((unsigned char)s[p])) {
      if ((s[p] < 'a' || s[p] > 'z') && s[p] != '_') return;
      p++;
    }
    size_t key_end = p;
    while (p < n && isspace((unsigned char)s[p])) p++;
    if (p >= n || s[p] != '=') return;
    p++;
    while (p < n && isspace((unsigned char)s[p])) p++;
    int is_pw = key_end - key == 8 && memcmp(s + key, "password", 8) == 0;
    size_t val = p;
    if (p < n && s[p] == '\'') {
      val = ++p;
      while (p < n && s[p] != '\'') p += s[p] == '\\' && p + 1 < n ? 2 : 1;
      if (p >= n) return;  /* unterminated: libpq refuses the string */
      if (is_pw) add(out, val, p - val);
      p++;
    } else {
      while (p < n && !isspace((unsigned char)s[p])) p += s[p] == '\\' && p + 1 < n ? 2 : 1;
      if (p > n) p = n;
      if (is_pw) add(out, val, p - val);
    }
  }
}

static size_t count(const char *hay, size_t n, const char *needle, size_t k) {
  size_t c = 0;
  for (size_t i = 0; i + k <= n; i++) c += memcmp(hay + i, needle, k) == 0;
  return c;
}

/* 1 when the piece could be made up with text the masker writes itself. */
static int could_be_mask(const char *g) {
  static const char written[] = ":password=*";
  return memchr(g, '*', GRAM) != NULL || strchr(written, g[0]) || strchr(written, g[GRAM - 1]);
}

/* Aborts if a 4-byte piece of pw[0..len) that occurs once in the input
 * s[0..n) is in the output out[0..m). */
static void check_gone(const char *pw, size_t len, const char *s, size_t n, const char *out, size_t m) {
  for (size_t i = 0; i + GRAM <= len; i++) {
    const char *g = pw + i;
    if (could_be_mask(g) || count(s, n, g, GRAM) != 1) continue;
    CHECK(count(out, m, g, GRAM) == 0);
  }
}

/* The password libpq reads from s (malloc'd), or NULL. */
static char *libpq_password(const char *s) {
  char *err = NULL, *pw = NULL;
  PQconninfoOption *opts = PQconninfoParse(s, &err);
  for (PQconninfoOption *o = opts; o && o->keyword; o++)
    if (strcmp(o->keyword, "password") == 0 && o->val) pw = strdup(o->val);
  PQconninfoFree(opts);
  PQfreemem(err);
  return pw;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  size_t n = strlen(s);
  ms_buf b = {0};
  ms_mask_secrets(&b, s);
  CHECK(b.data != NULL && !b.oom && strlen(b.data) == b.len);

  int plain = strstr(s, "://") == NULL;
  for (size_t i = 0; plain && i + 8 <= n; i++)
    if (strncasecmp(s + i, "password", 8) == 0) plain = 0;
  if (plain) CHECK(b.len == n && memcmp(b.data, s, n) == 0);

  secrets found = {0};
  if (strncmp(s, "postgresql://", 13) == 0) url_secrets(s, n, 13, &found);
  else if (strncmp(s, "postgres://", 11) == 0) url_secrets(s, n, 11, &found);
  else if (strchr(s, '=')) conninfo_secrets(s, n, &found);
  for (size_t k = 0; k < found.n; k++)
    check_gone(s + found.v[k].off, found.v[k].len, s, n, b.data, b.len);
  /* libpq's own reading: whatever password it reads from the masked text
   * holds no piece of the one it reads from the input (a piece that occurs
   * once in the input: masking may move where libpq's reading of the
   * masked text ends, into other text that shares pieces with it) */
  char *pw = libpq_password(s), *left = pw ? libpq_password(b.data) : NULL;
  if (left) check_gone(pw, strlen(pw), s, n, left, strlen(left));
  free(left);
  free(pw);
  ms_buf_free(&b);
  free(s);
  return 0;
}
