/* buf.c: a growable byte buffer (see buf.h). An allocation failure is
 * remembered in the buffer instead of being reported by every append. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(ms_buf *b, size_t extra) {
  if (b->oom) return -1;
  if (b->len + extra + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *d = realloc(b->data, cap);
  if (!d) { b->oom = 1; return -1; }
  b->data = d;
  b->cap = cap;
  return 0;
}

void ms_buf_add(ms_buf *b, const char *s, size_t n) {
  if (reserve(b, n) != 0) return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void ms_buf_puts(ms_buf *b, const char *s) { ms_buf_add(b, s, strlen(s)); }

void ms_buf_vprintf(ms_buf *b, const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  if (n >= 0 && reserve(b, (size_t)n) == 0) {
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    b->len += (size_t)n;
  }
  va_end(again);
}

void ms_buf_printf(ms_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ms_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

void ms_buf_free(ms_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}
