// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's model loader and hand-over (see loader.h).  Thread class:
// non-RT: the public functions run on the main thread, load_main() on the
// loader thread, which only reads and validates a file: it never touches a
// ring, so the main thread is the one producer of to_rt.
#include "loader.h"

#include <stdio.h>

// The rings carry bare model pointers, one message each.
#define MSG_SIZE sizeof(CantusModel *)

static void *load_main(void *arg)
{
  CantusJackLoader *l = arg;
  CantusError err = { { 0 } };
  CantusModel *m = NULL;
  if (cantus_engine_load_model(l->path, &m, &err) != CANTUS_OK) {
    snprintf(l->msg, sizeof l->msg, "model not changed: %s", err.msg);
    l->result = NULL;
  } else {
    snprintf(l->msg,
             sizeof l->msg,
             "model %.500s: %s, %u styles, loaded while playing",
             l->path,
             m->name,
             m->dims.n_styles);
    l->result = m;
  }
  atomic_store(&l->done, 1);
  return NULL;
}

// The only place a model goes to the audio thread: pushed and made the
// main thread's model in one step, so the main thread has already moved
// on from a model before the audio thread can hand it back.
static bool hand_over(CantusJackApp *a, CantusModel *m, const CantusModel **current)
{
  if (jack_ringbuffer_write_space(a->to_rt) < MSG_SIZE) {
    return false;
  }
  jack_ringbuffer_write(a->to_rt, (const char *)&m, MSG_SIZE);
  *current = m;
  return true;
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
  CantusModel *m = l->result;
  l->result = NULL;
  if (!m) {
    snprintf(msg, msg_size, "%s", l->msg);
    return CANTUS_JACKLOADER_REFUSED;
  }
  if (!hand_over(l->app, m, current)) {
    cantus_model_free(m);
    snprintf(msg, msg_size, "model not changed: %.500s: the audio thread is busy", l->path);
    return CANTUS_JACKLOADER_REFUSED;
  }
  snprintf(msg, msg_size, "%s", l->msg);
  return CANTUS_JACKLOADER_HANDED;
}

// A model comes back through from_rt only after the audio thread installed
// a newer one, which hand_over() had already made the main thread's model:
// nothing the main thread reads can be among these.
int cantus_jackloader_free_retired(CantusJackLoader *l)
{
  jack_ringbuffer_t *from_rt = l->app->from_rt;
  CantusModel *m;
  int n = 0;
  while (jack_ringbuffer_read_space(from_rt) >= MSG_SIZE) {
    jack_ringbuffer_read(from_rt, (char *)&m, MSG_SIZE);
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
    cantus_model_free(l->result);
    l->result = NULL;
  }
}
