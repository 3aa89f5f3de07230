/* buf.h: a growable byte buffer for building messages and SQL text. */
#ifndef MS_BUF_H
#define MS_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include "ms.h"

typedef struct ms_buf {
  char *data;   /* always NUL-terminated once anything was added */
  size_t len, cap;
  int oom;      /* set when an allocation failed; later appends are no-ops */
} ms_buf;

void ms_buf_add(ms_buf *b, const char *s, size_t n);
void ms_buf_puts(ms_buf *b, const char *s);
void ms_buf_printf(ms_buf *b, const char *fmt, ...) MS_PRINTF(2, 3);
void ms_buf_vprintf(ms_buf *b, const char *fmt, va_list ap);
void ms_buf_free(ms_buf *b);

#endif
