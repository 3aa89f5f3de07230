/* sumpool.c: hashes the migration files on worker threads (POSIX threads)
 * while the main thread waits on the server, so `status` and `up` over
 * thousands of applied files pay the file system's per-file cost in
 * parallel with connecting. Uses checksum.c; touches no shared state but
 * its own slots. */
#include "sumpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checksum.h"
#include "source.h"

#define MAX_WORKERS 4

typedef struct ms_sumpool {
  const ms_source *src;
  char (*sums)[MS_CHECKSUM_LEN];  /* per migration; "" when not computed */
  atomic_size_t next;             /* the next migration to take */
  atomic_int stop;
  pthread_t th[MAX_WORKERS];
  int nth;
} ms_sumpool;

static void *work(void *arg) {
  ms_sumpool *p = arg;
  size_t i;
  while (!p->stop && (i = atomic_fetch_add(&p->next, 1)) < p->src->n) {
    const ms_migration *m = &p->src->v[i];
    const char *paths[2] = { m->path, m->down_path };
    int bad;
    if (ms_checksum_files(paths, 2, p->sums[i], &bad, &p->stop) != 0) p->sums[i][0] = '\0';
  }
  return NULL;
}

void ms_sumpool_start(ms_ctx *c) {
  if (c->sumpool || !c->src || c->src->n == 0) return;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int want = cpus < 1 ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : (int)cpus;
  if ((size_t)want > c->src->n) want = (int)c->src->n;   /* one file: one worker, hashing while it runs */
  ms_sumpool *p = calloc(1, sizeof *p);
  if (p) p->sums = calloc(c->src->n, sizeof *p->sums);
  if (!p || !p->sums) goto fail;
  p->src = c->src;
  atomic_init(&p->next, 0);
  atomic_init(&p->stop, 0);
  while (p->nth < want && pthread_create(&p->th[p->nth], NULL, work, p) == 0) p->nth++;
  if (p->nth == 0) goto fail;
  c->sumpool = p;
  return;
fail:
  if (p) free(p->sums);
  free(p);
}

void ms_sumpool_finish(ms_ctx *c, int keep) {
  ms_sumpool *p = c->sumpool;
  if (!p) return;
  if (!keep) p->stop = 1;
  for (int i = 0; i < p->nth; i++) pthread_join(p->th[i], NULL);
  for (size_t i = 0; keep && i < c->src->n; i++) {
    ms_migration *m = &c->src->v[i];
    if (p->sums[i][0] && !m->checksum) m->checksum = strdup(p->sums[i]);
  }
  free(p->sums);
  free(p);
  c->sumpool = NULL;
}
