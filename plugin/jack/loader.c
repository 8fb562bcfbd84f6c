// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's model loader and hand-over (see loader.h).  Thread class:
// non-RT: the public functions run on the main thread, load_main() on the
// loader thread.
#include "loader.h"

#include <stdio.h>

static void *load_main(void *arg)
{
  CantusJackLoader *l = arg;
  CantusError err = { { 0 } };
  CantusModel *m = NULL;
  jack_ringbuffer_t *to_rt = l->app->to_rt;
  CantusStatus st = cantus_engine_load_model(l->path, &m, &err);
  if (st != CANTUS_OK) {
    snprintf(l->msg, sizeof l->msg, "model not changed: %s", err.msg);
    l->result = NULL;
  } else if (jack_ringbuffer_write_space(to_rt) < sizeof m) {
    cantus_model_free(m);
    snprintf(l->msg, sizeof l->msg, "model not changed: %.500s: the audio thread is busy", l->path);
    l->result = NULL;
  } else {
    l->result = m;
    snprintf(l->msg,
             sizeof l->msg,
             "model %.500s: %s, %u styles, loaded while playing",
             l->path,
             m->name,
             m->dims.n_styles);
    jack_ringbuffer_write(to_rt, (const char *)&m, sizeof m);
  }
  atomic_store(&l->done, 1);
  return NULL;
}

void cantus_jackloader_init(CantusJackLoader *l, CantusJackApp *app)
{
  l->app = app;
  l->busy = false;
  atomic_store(&l->done, 0);
  l->path[0] = '\0';
  l->result = NULL;
  l->msg[0] = '\0';
}

bool cantus_jackloader_start(CantusJackLoader *l, const char *path, char *msg, size_t msg_size)
{
  if (l->busy) {
    snprintf(msg, msg_size, "still loading %s", l->path);
    return false;
  }
  snprintf(l->path, sizeof l->path, "%s", path);
  atomic_store(&l->done, 0);
  l->result = NULL;
  if (pthread_create(&l->thread, NULL, load_main, l) != 0) {
    snprintf(msg, msg_size, "cannot start the loader thread");
    return false;
  }
  l->busy = true;
  return true;
}

CantusJackLoadResult cantus_jackloader_poll(CantusJackLoader *l,
                                            const CantusModel **current,
                                            char *msg,
                                            size_t msg_size)
{
  if (!l->busy || !atomic_load(&l->done)) {
    return CANTUS_JACKLOADER_IDLE;
  }
  pthread_join(l->thread, NULL);
  l->busy = false;
  snprintf(msg, msg_size, "%s", l->msg);
  if (!l->result) {
    return CANTUS_JACKLOADER_REFUSED;
  }
  *current = l->result;
  l->result = NULL;
  return CANTUS_JACKLOADER_HANDED;
}

int cantus_jackloader_free_retired(CantusJackLoader *l)
{
  jack_ringbuffer_t *from_rt = l->app->from_rt;
  CantusModel *m;
  int n = 0;
  while (jack_ringbuffer_read_space(from_rt) >= sizeof m) {
    jack_ringbuffer_read(from_rt, (char *)&m, sizeof m);
    cantus_model_free(m);
    n++;
  }
  return n;
}

void cantus_jackloader_stop(CantusJackLoader *l)
{
  if (l->busy) {
    pthread_join(l->thread, NULL);
    l->busy = false;
  }
}
