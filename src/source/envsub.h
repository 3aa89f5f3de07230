/* envsub.h: goose's environment substitution (-- +goose ENVSUB ON), one
 * line at a time as goose does it: ${VAR}, ${VAR:-default}, ${VAR-default},
 * ${VAR?message} and $VAR, read as goose's interpolation library reads
 * them. Constructs that goose fails on, or that its versions read
 * differently, are refused rather than guessed (see ms_envsub_line). C
 * library only: values come from a lookup the caller passes. */
#ifndef MS_ENVSUB_H
#define MS_ENVSUB_H

#include <stddef.h>

#include "buf.h"

/* The value of the variable name[0..len), or NULL when it is unset. The
 * string must stay valid until the next call. */
typedef const char *(*ms_envsub_lookup)(void *ud, const char *name, size_t len);

/* A lookup that reads the process environment (getenv); ud is unused. */
const char *ms_envsub_getenv(void *ud, const char *name, size_t len);

/* Substitutes the line s[0..n) (without its '\n') and appends the result
 * to out. Returns 0, or -1 with the cause in err (no path or line). With
 * lookup NULL only the syntax is checked: nothing is appended and
 * ${VAR?message} does not fail.
 *   ${VAR}, $VAR     the value; "" when VAR is unset (goose's reading)
 *   ${VAR:-word}     the value, or word when VAR is unset or empty
 *   ${VAR-word}      the value, or word when VAR is unset
 *   ${VAR?message}   the value; an error naming VAR and message when unset
 *   \$               a '$';  \\ stays \\;  $( and a '$' ending the line stay
 *   $$               stays $$ (a dollar quote; goose versions differ)
 * word and message are themselves substituted. A name starts with a letter
 * (or a byte >= 0x80) and goes on with letters, digits and '_'. Refused:
 * '$' before anything else ($1, "$ "), a dollar-quote tag ($body$: goose
 * would substitute $body), ${VAR:offset} substrings, and a '${' left open.
 * Time is linear in n; nesting is limited to 16 levels. */
int ms_envsub_line(const char *s, size_t n, ms_envsub_lookup lookup, void *ud, ms_buf *out,
                   ms_buf *err);

#endif
