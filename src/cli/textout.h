/* textout.h: the CLI's text reporter: results on stdout, everything else on
 * stderr; on a terminal a running migration shows "applying ..." until its
 * result line replaces it. */
#ifndef MS_TEXTOUT_H
#define MS_TEXTOUT_H

#include "report.h"

typedef struct ms_textout {
  ms_reporter rep;     /* its callbacks; rep.ud points back here */
  int quiet;           /* --quiet: no target line */
  int verbose;         /* -v: the lock holder's query */
  int tty;             /* stdout is a terminal */
  int batch;           /* lines wait in stdout's buffer */
  int applying;        /* an "applying ..." line is on the terminal */
  char applying_text[160];
} ms_textout;

/* Sets up t (stdout's terminal state read now). */
void ms_textout_init(ms_textout *t, int quiet, int verbose);

/* The stderr part of an event, as the text reporter shows it; for the JSON
 * reporter, which keeps stdout for its document. */
void ms_textout_side(ms_textout *t, const ms_event *e);

#endif
