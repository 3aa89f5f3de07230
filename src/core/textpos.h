/* textpos.h: converts between the positions PostgreSQL reports (characters
 * of a UTF-8 statement) and byte offsets, lines and columns of a buffer,
 * so errors can point into migration files. C library only. */
#ifndef MS_TEXTPOS_H
#define MS_TEXTPOS_H

#include <stddef.h>

/* Byte offset within s[0..len) of the character at 1-based position
 * charpos, characters counted as UTF-8 (as PostgreSQL reports
 * PG_DIAG_STATEMENT_POSITION): 0 for charpos <= 1, len when past the end.
 * A byte that is not 10xxxxxx starts a character, so invalid UTF-8 still
 * gives an offset inside the range. */
size_t ms_textpos_char_to_byte(const char *s, size_t len, unsigned long charpos);

/* The 1-based line and byte column of offset off in buf[0..len) ('\n' ends
 * a line; an off past len counts as len). */
void ms_textpos_line_col(const char *buf, size_t len, size_t off,
                         unsigned long *line, unsigned long *col);

#endif
