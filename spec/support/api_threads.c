/* api_threads.c: two moonshift handles (src/embed/moonshift.h) used at the same
 * time from two threads, each running status on its own database again and
 * again. For run_model_spec.lua; built there with
 *   cc -Isrc spec/support/api_threads.c build/libmoonshift.a \
 *      $(pkg-config --cflags --libs lua5.4 libpq libcrypto jansson) -lm -lpthread
 *
 *   api_threads ROUNDS URL1 DIR1 DBNAME1 URL2 DIR2 DBNAME2
 *
 * Every moonshift_json() document must parse (jansson), be an object for the
 * command "status" whose exit_code is the call's status and whose
 * database.dbname is the thread's own database. Prints one line per thread,
 * "thread N: K of ROUNDS documents valid", from the main thread after both
 * joined, and nothing else on stdout; the first bad document of a thread
 * goes to stderr. Exits 0 when every document of both threads was valid. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "moonshift.h"

typedef struct worker {
  int n, rounds;
  const char *url, *dir, *dbname;
  int valid;
  char why[600];
} worker;

/* NULL when doc is a valid status document of w's database, else why not. */
static const char *check_doc(const worker *w, int rc, const char *text, char *why, size_t size) {
  if (!text) return "moonshift_json() returned NULL";
  json_error_t err;
  json_t *doc = json_loads(text, 0, &err);
  if (!doc) {
    snprintf(why, size, "not JSON (%s at line %d): %.200s", err.text, err.line, text);
    return why;
  }
  const char *bad = NULL;
  json_t *db = json_object_get(doc, "database");
  const char *cmd = json_string_value(json_object_get(doc, "command"));
  const char *dbname = json_string_value(json_object_get(db, "dbname"));
  if (!json_is_object(doc)) bad = "not a JSON object";
  else if (!cmd || strcmp(cmd, "status") != 0) bad = "command is not \"status\"";
  else if (!json_is_integer(json_object_get(doc, "exit_code"))
           || json_integer_value(json_object_get(doc, "exit_code")) != rc)
    bad = "exit_code is not the call's status";
  else if (!json_is_object(db)) bad = "no database object";
  else if (!dbname || strcmp(dbname, w->dbname) != 0) bad = "database.dbname is not this thread's database";
  if (bad) {
    snprintf(why, size, "%s: %.300s", bad, text);
    bad = why;
  }
  json_decref(doc);
  return bad;
}

static void *run(void *arg) {
  worker *w = arg;
  moonshift_options o;
  memset(&o, 0, sizeof o);
  o.url = w->url;
  o.dir = w->dir;
  moonshift *m = moonshift_open(&o);
  if (!m) {
    snprintf(w->why, sizeof w->why, "moonshift_open failed");
    return NULL;
  }
  for (int i = 0; i < w->rounds; i++) {
    int rc = moonshift_status(m);
    char why[512];
    const char *bad = check_doc(w, rc, moonshift_json(m), why, sizeof why);
    if (!bad && rc != 0) {
      snprintf(why, sizeof why, "status returned %d: %s", rc,
               moonshift_error(m) ? moonshift_error(m) : "(no message)");
      bad = why;
    }
    if (!bad) w->valid++;
    else if (!w->why[0]) snprintf(w->why, sizeof w->why, "round %d: %s", i + 1, bad);
  }
  moonshift_close(m);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: api_threads ROUNDS URL1 DIR1 DBNAME1 URL2 DIR2 DBNAME2\n");
    return 2;
  }
  int rounds = atoi(argv[1]);
  worker w[2] = {
    { 1, rounds, argv[2], argv[3], argv[4], 0, "" },
    { 2, rounds, argv[5], argv[6], argv[7], 0, "" },
  };
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    if (pthread_create(&t[i], NULL, run, &w[i]) != 0) {
      fprintf(stderr, "api_threads: cannot start thread %d\n", i + 1);
      return 1;
    }
  }
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  int ok = 1;
  for (int i = 0; i < 2; i++) {
    printf("thread %d: %d of %d documents valid\n", w[i].n, w[i].valid, rounds);
    if (w[i].why[0]) fprintf(stderr, "api_threads: thread %d, %s\n", w[i].n, w[i].why);
    if (w[i].valid != rounds) ok = 0;
  }
  return ok ? 0 : 1;
}
