/* envsub.c: goose's ENVSUB substitution of one line (see envsub.h), a
 * recursive-descent reading of the grammar of goose's interpolation
 * library (mfridman/interpolate: Expansion, Brace, EmptyValue, UnsetValue,
 * Required), with the readings that differ between goose versions refused.
 * C library only, plus getenv for ms_envsub_getenv. */
#include "envsub.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 16 };

typedef struct sub {
  const char *s;
  size_t n, p;
  ms_envsub_lookup lookup;   /* NULL: syntax check only */
  void *ud;
  ms_buf *out;               /* where substituted text goes (NULL: nowhere) */
  ms_buf *err;
  int depth;
} sub;

const char *ms_envsub_getenv(void *ud, const char *name, size_t len) {
  char buf[256];
  (void)ud;
  if (len >= sizeof buf) return NULL;
  memcpy(buf, name, len);
  buf[len] = '\0';
  return getenv(buf);
}

static void emit(sub *x, int on, const char *t, size_t k) {
  if (on && x->out) ms_buf_add(x->out, t, k);
}

static int letter(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Length of the variable name at x->p, or 0. */
static size_t name_len(const sub *x) {
  size_t q = x->p;
  if (q >= x->n || !letter((unsigned char)x->s[q])) return 0;
  for (q++; q < x->n; q++) {
    unsigned char c = (unsigned char)x->s[q];
    if (!letter(c) && !(c >= '0' && c <= '9') && c != '_') break;
  }
  return q - x->p;
}

static int fail(sub *x, size_t at, const char *why) {
  size_t k = at;
  while (k < x->n && k - at < 24 && x->s[k] != ' ' && x->s[k] != '\t') k++;
  ms_buf_printf(x->err, "ENVSUB: '%.*s' %s", (int)(k - at), x->s + at, why);
  return -1;
}

static const char *value(sub *x, const char *name, size_t len) {
  return x->lookup ? x->lookup(x->ud, name, len) : NULL;
}

static int expr(sub *x, int on, char stop);

/* ${NAME}, ${NAME:-word}, ${NAME-word}, ${NAME?message}; x->p is past '{'. */
static int brace(sub *x, int on, size_t at) {
  size_t k = name_len(x);
  if (k == 0) return fail(x, at, "does not name a variable (goose reads ${ as the start of one)");
  const char *name = x->s + x->p, *val = value(x, name, k);
  x->p += k;
  if (x->p >= x->n) return fail(x, at, "is not closed with '}' on its line");
  char op = x->s[x->p];
  if (op == '}') {
    x->p++;
    if (val) emit(x, on, val, strlen(val));
    return 0;
  }
  if (op == ':' && (x->p + 1 >= x->n || x->s[x->p + 1] != '-'))
    return fail(x, at, "is a substring expansion, which moonshift does not support");
  if (op != ':' && op != '-' && op != '?')
    return fail(x, at, "is not a ${VAR}, ${VAR:-default}, ${VAR-default} or ${VAR?message}");
  x->p += op == ':' ? 2 : 1;
  if (++x->depth > MAX_DEPTH) return fail(x, at, "nests defaults more than 16 deep");
  int rc;
  if (op == '?') {
    if (val) emit(x, on, val, strlen(val));
    ms_buf msg = {0}, *keep = x->out;
    int missing = on && x->lookup && !val;
    x->out = missing ? &msg : NULL;
    rc = expr(x, missing, '}');
    x->out = keep;
    if (rc == 0 && missing) {
      ms_buf_printf(x->err, "ENVSUB: %.*s is not set: %s", (int)k, name,
                    msg.len ? msg.data : "goose requires it (${VAR?})");
      rc = -1;
    }
    ms_buf_free(&msg);
  } else {
    int use_word = !val || (op == ':' && !*val);
    if (!use_word) emit(x, on, val, strlen(val));
    rc = expr(x, on && use_word, '}');
  }
  x->depth--;
  if (rc != 0) return rc;
  if (x->p >= x->n) return fail(x, at, "is not closed with '}' on its line");
  x->p++;
  return 0;
}

/* A '$' at x->p that is not an escape. */
static int dollar(sub *x, int on) {
  size_t at = x->p++;
  if (x->s[x->p] == '{') {
    x->p++;
    return brace(x, on, at);
  }
  size_t k = name_len(x);
  if (k == 0)
    return fail(x, at, "is not a variable: goose reads '$' as the start of one and fails here; "
                "put -- +goose ENVSUB OFF around it");
  if (x->p + k < x->n && x->s[x->p + k] == '$')
    return fail(x, at, "reads as a dollar-quote tag, but goose would substitute the variable in "
                "it; put -- +goose ENVSUB OFF around the dollar-quoted text");
  const char *val = value(x, x->s + x->p, k);
  if (val) emit(x, on, val, strlen(val));
  x->p += k;
  return 0;
}

/* Text and expansions up to stop (not consumed) or the end of the line. */
static int expr(sub *x, int on, char stop) {
  while (x->p < x->n) {
    const char *s = x->s;
    size_t p = x->p;
    char c = s[p], next = p + 1 < x->n ? s[p + 1] : '\0';
    if (stop && c == stop) return 0;
    if (c == '\\' && (next == '\\' || next == '$')) {
      emit(x, on, next == '$' ? "$" : "\\\\", next == '$' ? 1 : 2);
      x->p += 2;
    } else if (c == '$' && p + 1 >= x->n) {
      emit(x, on, "$", 1);
      x->p++;
    } else if (c == '$' && next == '$') {
      if (p + 2 < x->n && (s[p + 2] == '{' || letter((unsigned char)s[p + 2])))
        return fail(x, p, "is read by some goose versions as an escaped '$' and by others as "
                    "'$$'; write it another way, or put -- +goose ENVSUB OFF around it");
      emit(x, on, "$$", 2);
      x->p += 2;
    } else if (c == '$' && next == '(') {
      emit(x, on, "$(", 2);
      x->p += 2;
    } else if (c == '$') {
      if (dollar(x, on) != 0) return -1;
    } else {
      size_t q = p + 1;
      while (q < x->n && s[q] != '$' && s[q] != '\\' && s[q] != stop) q++;
      emit(x, on, s + p, q - p);
      x->p = q;
    }
  }
  return 0;
}

int ms_envsub_line(const char *s, size_t n, ms_envsub_lookup lookup, void *ud, ms_buf *out,
                   ms_buf *err) {
  sub x = { s, n, 0, lookup, ud, lookup ? out : NULL, err, 0 };
  return expr(&x, 1, '\0');
}
