/* mask.h: keeping passwords out of the text moonshift shows. */
#ifndef MS_MASK_H
#define MS_MASK_H

#include "buf.h"

/* Appends s to b with every password in it replaced: the password of a
 * URL's userinfo and of its password= query parameters (by "***"), and
 * conninfo password = value pairs (by "password=***"), read as libpq reads
 * them wherever they start in s; and, when s is a whole connection string,
 * every spelling in s of the password libpq reads from it. Never raises;
 * out of memory, b gets "***" or b->oom is set, never s unmasked. */
void ms_mask_secrets(ms_buf *b, const char *s);

/* Appends msg to b with every double-quoted token that is part of a password
 * of connstr replaced by "***": libpq quotes the token it cannot read, such
 * as a password with a bare '%' or the port it read from one holding '/', in
 * its error message. A token is masked when it is a stretch of connstr that
 * overlaps a password or a piece of the password libpq reads. connstr (NULL:
 * nothing is masked) is read as one connection string, a URL or conninfo as
 * libpq tells them apart. msg is not otherwise masked. */
void ms_mask_quoted(ms_buf *b, const char *msg, const char *connstr);

/* Appends s to b, or "(a connection string: not shown)" when s could be
 * one (holds "://", "@" or "="): for echoing an argument a user gave in the
 * wrong place, where masking by libpq's reading could miss a password that
 * is not spelled the way libpq reads it. */
void ms_mask_argument(ms_buf *b, const char *s);

#endif
