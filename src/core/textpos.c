/* textpos.c: character/byte/line position conversions (see textpos.h).
 * Uses only the C library. */
#include "textpos.h"

#include <string.h>

size_t ms_textpos_char_to_byte(const char *s, size_t len, unsigned long charpos) {
  size_t i;
  unsigned long seen = 0;
  if (charpos <= 1) return 0;
  for (i = 0; i < len; i++) {
    if (((unsigned char)s[i] & 0xC0) != 0x80 && ++seen == charpos) return i;
  }
  return len;
}

void ms_textpos_line_col(const char *buf, size_t len, size_t off,
                         unsigned long *line, unsigned long *col) {
  size_t p = 0, bol = 0;
  unsigned long l = 1;
  if (off > len) off = len;
  while (p < off) {
    const char *nl = memchr(buf + p, '\n', off - p);
    if (!nl) break;
    l++;
    p = bol = (size_t)(nl - buf) + 1;
  }
  *line = l;
  *col = (unsigned long)(off - bol) + 1;
}
