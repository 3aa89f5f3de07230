/* sqlscan.h: what checking a SQL migration found, remembered for the run. */
#ifndef MS_SQLSCAN_H
#define MS_SQLSCAN_H

#include "file.h"
#include "source.h"
#include "sqlfile.h"

/* The facts of one direction's file: its sections, how many statements the
 * section holds, and whether it must be sent statement by statement (COPY
 * data, a skipped meta-command) whatever the options say. */
typedef struct ms_scan_facts {
  ms_sqlfile sf;
  int statements;
  int stepwise;
} ms_scan_facts;

/* The facts remembered for m's file of that direction, or NULL when none
 * were, or when f (just opened) is no longer the file they were taken from
 * (size, modification time or inode changed). */
const ms_scan_facts *ms_sqlscan_get(const ms_migration *m, int down, const ms_file *f);

/* Remembers facts for m's file of that direction as f is now, when the file
 * is large enough for a second pass to matter. On allocation failure
 * nothing is remembered (the next use scans again). */
void ms_sqlscan_put(ms_migration *m, int down, const ms_file *f, const ms_scan_facts *facts);

#endif
