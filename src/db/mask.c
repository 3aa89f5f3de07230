/* mask.c: finds passwords in a text the way libpq reads connection strings,
 * wherever one may start (after every "://" a URL, at every word "password"
 * a conninfo pair), asks libpq itself (PQconninfoParse) which password a
 * text that is a whole connection string holds, and writes the text back
 * with each of them masked (see mask.h). Masking too much is the safe
 * mistake: every reading of the text is masked at once. Uses buf and libpq. */
#include "mask.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

static const char STARS[] = "***";
static const char PAIR[] = "password=***";

/* [from, to) of the text is written as mask; the password is [secret, to). */
typedef struct span {
  size_t from, secret, to;
  const char *mask;
} span;

typedef struct spans {
  span *v;
  size_t n, cap;
  int oom;
  char *libpq;  /* the password libpq reads from the whole text, or NULL */
} spans;

static void add(spans *sp, size_t from, size_t secret, size_t to, const char *mask) {
  if (secret >= to || sp->oom) return;
  if (sp->n == sp->cap) {
    size_t cap = sp->cap ? 2 * sp->cap : 16;
    span *v = realloc(sp->v, cap * sizeof *v);
    if (!v) { sp->oom = 1; return; }
    sp->v = v;
    sp->cap = cap;
  }
  sp->v[sp->n++] = (span){ from, secret, to, mask };
}

static int space(char c) { return isspace((unsigned char)c); }

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = (char)tolower((unsigned char)c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The next place at or after p where "password" starts, in any case. */
static const char *find_password(const char *p) {
  for (; *p; p++)
    if (strncasecmp(p, "password", 8) == 0) return p;
  return NULL;
}

/* Where a conninfo value starting at p ends, as libpq reads it: a quoted
 * value after its closing quote (unterminated, libpq refuses the string,
 * but it is still a password: the end of the text), else at white space; a
 * backslash takes the next character into the value either way. */
static const char *value_end(const char *p) {
  int quoted = *p == '\'';
  for (p += quoted; *p; p++) {
    if (*p == '\\') {
      if (p[1]) p++;
    } else if (quoted ? *p == '\'' : space(*p)) {
      return p + quoted;
    }
  }
  return p;
}

/* Every conninfo pair password [spaces] = [spaces] value whose key is not
 * the tail of a longer word. */
static void conninfo_pairs(spans *sp, const char *s) {
  for (const char *p = s; (p = find_password(p)) != NULL; p += 8) {
    if (p > s && isalnum((unsigned char)p[-1])) continue;
    const char *v = p + 8;
    while (space(*v)) v++;
    if (*v != '=') continue;
    for (v++; space(*v); v++) {}
    add(sp, (size_t)(p - s), (size_t)(v - s), (size_t)(value_end(v) - s), PAIR);
  }
}

/* 1 when [k, end), percent-decoded as libpq decodes a URL query key, is
 * "password" in any case. */
static int password_key(const char *k, const char *end) {
  const char *want = "password";
  for (; k < end; k++, want++) {
    int c = (unsigned char)*k;
    if (c == '%') {
      if (end - k < 3 || hexval(k[1]) < 0 || hexval(k[2]) < 0) return 0;
      c = hexval(k[1]) * 16 + hexval(k[2]);
      k += 2;
    }
    if (!*want || tolower(c) != *want) return 0;
  }
  return !*want;
}

/* The URL whose "://" ends at auth, read as libpq reads one: the userinfo
 * runs to the first '@' before any '/' (white space included), its password
 * from its first ':'; after the next '?' come key=value parameters split at
 * '&', the value running to the next '&' or the end of the text. Also
 * masked: a password holding an unencoded '@' (to the last '@' of its
 * token), and a parameter whose key follows a later '?' (an IPv6 host may
 * hold the first). whole (the text is this URL): a password holding an
 * unencoded '/', which libpq reads as host, port and path. */
static void url_parts(spans *sp, const char *s, const char *auth, int whole) {
  const char *p = auth, *host = auth;
  while (*p && *p != '@' && *p != '/') p++;
  if (*p != '@' && whole) {
    const char *at = NULL;
    for (const char *q = p; *q && !space(*q); q++)
      if (*q == '@') at = q;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) add(sp, (size_t)(colon + 1 - s), (size_t)(colon + 1 - s), (size_t)(at - s), STARS);
  }
  if (*p == '@') {
    const char *colon = memchr(auth, ':', (size_t)(p - auth)), *last = p;
    for (const char *q = p; *q && *q != '/' && !space(*q); q++)
      if (*q == '@') last = q;
    if (colon) add(sp, (size_t)(colon + 1 - s), (size_t)(colon + 1 - s), (size_t)(last - s), STARS);
    host = p + 1;
  }
  const char *k = strchr(host, '?');
  while (k) {
    k++;
    const char *end = k + strcspn(k, "&"), *eq = memchr(k, '=', (size_t)(end - k));
    for (const char *q = k; eq && q < eq; q++)
      if (*q == '?') k = q + 1;
    if (eq && password_key(k, eq)) add(sp, (size_t)(eq + 1 - s), (size_t)(eq + 1 - s), (size_t)(end - s), STARS);
    k = *end ? end : NULL;
  }
}

/* The password libpq reads from s as a whole connection string (malloc'd,
 * NULL when s is none or holds no password). */
static char *libpq_password(const char *s) {
  char *err = NULL, *pw = NULL;
  PQconninfoOption *opts = PQconninfoParse(s, &err);
  for (PQconninfoOption *o = opts; o && o->keyword; o++)
    if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) pw = strdup(o->val);
  PQconninfoFree(opts);
  PQfreemem(err);
  return pw;
}

/* Length of the text at p that spells v, or 0: byte by byte as itself or,
 * when pct, as libpq decodes a URL (every '%' starts a %XX), else as it
 * unescapes conninfo (every '\' takes the next byte as itself). */
static size_t spelled(const char *p, const char *v, int pct) {
  const char *start = p;
  for (; *v; v++) {
    if (pct && *p == '%') {
      if (hexval(p[1]) < 0 || hexval(p[2]) < 0 || hexval(p[1]) * 16 + hexval(p[2]) != (unsigned char)*v) return 0;
      p += 3;
    } else {
      if (!pct && *p == '\\' && p[1]) p++;
      if (*p != *v) return 0;
      p++;
    }
  }
  return (size_t)(p - start);
}

/* Every spelling in s of the password libpq reads from all of s. */
static void libpq_spellings(spans *sp, const char *s) {
  if (!sp->libpq) return;
  for (size_t i = 0; s[i]; i++)
    for (int pct = 0; pct < 2; pct++) {
      size_t n = spelled(s + i, sp->libpq, pct);
      if (n) add(sp, i, i, i + n, STARS);
    }
}

/* Fills sp with every password of s; the caller frees sp->v and sp->libpq.
 * whole: s is one connection string, read only as libpq reads it: a URL when
 * it starts postgresql:// or postgres://, else conninfo. */
static void find_secrets(spans *sp, const char *s, int whole) {
  size_t uri = strncmp(s, "postgresql://", 13) == 0 ? 13 : strncmp(s, "postgres://", 11) == 0 ? 11 : 0;
  if (whole && uri) {
    url_parts(sp, s, s + uri, 1);
  } else if (whole) {
    conninfo_pairs(sp, s);
  } else {
    for (const char *p = strstr(s, "://"); p; p = strstr(p + 1, "://")) url_parts(sp, s, p + 3, 0);
    conninfo_pairs(sp, s);
  }
  if (strstr(s, "://") || find_password(s)) sp->libpq = libpq_password(s);
  libpq_spellings(sp, s);
}

static int by_start(const void *a, const void *b) {
  const span *x = a, *y = b;
  if (x->from != y->from) return x->from < y->from ? -1 : 1;
  return x->to > y->to ? -1 : x->to < y->to;
}

void ms_mask_secrets(ms_buf *b, const char *s) {
  spans sp = {0};
  find_secrets(&sp, s, 0);
  if (sp.oom) {
    ms_buf_puts(b, STARS);
    goto done;
  }
  if (sp.n > 0) qsort(sp.v, sp.n, sizeof *sp.v, by_start);
  size_t at = 0;
  for (size_t i = 0; i < sp.n;) {
    span m = sp.v[i];
    for (i++; i < sp.n && sp.v[i].from < m.to; i++)
      if (sp.v[i].to > m.to) m.to = sp.v[i].to;
    ms_buf_add(b, s + at, m.from - at);
    ms_buf_puts(b, m.mask);
    at = m.to;
  }
  ms_buf_puts(b, s + at);
done:
  if (!b->data) ms_buf_puts(b, "");
  free(sp.v);
  free(sp.libpq);
}

/* 1 when the n bytes at t are a stretch of s (or NULL) that overlaps a
 * password of sp (over s), or occur in the password libpq reads. */
static int part_of_secret(const spans *sp, const char *s, const char *t, size_t n) {
  for (size_t j = 0; s && s[j]; j++) {
    if (strncmp(s + j, t, n) != 0) continue;
    for (size_t i = 0; i < sp->n; i++)
      if (j < sp->v[i].to && sp->v[i].secret < j + n) return 1;
  }
  size_t len = sp->libpq ? strlen(sp->libpq) : 0;
  for (size_t j = 0; j + n <= len; j++)
    if (memcmp(sp->libpq + j, t, n) == 0) return 1;
  return 0;
}

/* 1 when tok[0..n) lies inside what a person meant as the password of a
 * URL whose password holds an unencoded '@' or '/': everything from the
 * userinfo's ':' to the URL's last '@' (libpq reads less, and shows the
 * rest as a host or a database name). */
static int in_written_password(const char *connstr, const char *tok, size_t n) {
  const char *start = connstr ? strstr(connstr, "://") : NULL;
  const char *last = start ? strrchr(start, '@') : NULL;
  if (!last) return 0;
  const char *colon = memchr(start + 3, ':', (size_t)(last - start - 3));
  if (!colon) return 0;
  for (const char *p = colon + 1; p + n <= last; p++)
    if (memcmp(p, tok, n) == 0) return 1;
  return 0;
}

void ms_mask_quoted(ms_buf *b, const char *msg, const char *connstr) {
  spans sp = {0};
  if (connstr) find_secrets(&sp, connstr, 1);
  for (const char *p = msg; *p;) {
    const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;
    size_t n = close ? (size_t)(close - p - 1) : 0;
    if (n > 0 && (sp.oom || part_of_secret(&sp, connstr, p + 1, n) || in_written_password(connstr, p + 1, n))) {
      ms_buf_puts(b, "\"***\"");
      p = close + 1;
    } else {
      ms_buf_add(b, p, 1);
      p++;
    }
  }
  if (!b->data) ms_buf_puts(b, "");
  free(sp.v);
  free(sp.libpq);
}

void ms_mask_argument(ms_buf *b, const char *s) {
  if (strstr(s, "://") || strchr(s, '@') || strchr(s, '=')) ms_buf_puts(b, "(a connection string: not shown)");
  else ms_buf_puts(b, s);
  if (!b->data) ms_buf_puts(b, "");
}
