// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's model loader and hand-over (STYLE.md section 4): a loader
// thread reads and validates one model file while the music plays; the main
// thread collects the result, hands it to the audio thread through `to_rt`
// and frees the models the audio thread hands back through `from_rt`.
// Thread class: non-RT; every function here runs on the main thread (the
// loader thread is internal to loader.c).
#ifndef CANTUS_JACK_LOADER_H
#define CANTUS_JACK_LOADER_H

#include "jack_app.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
  CantusJackApp *app; // its to_rt and from_rt rings (not owned)
  pthread_t thread;
  bool busy;           // main: a load runs or waits to be collected
  atomic_int done;     // loader thread: result and msg are ready
  char path[4096];     // main, before the thread starts: the file to load
  CantusModel *result; // loader thread: the model, NULL when refused
  char msg[700];       // loader thread: the outcome, one line
} CantusJackLoader;

typedef enum {
  CANTUS_JACKLOADER_IDLE,    // no load finished since the last poll
  CANTUS_JACKLOADER_HANDED,  // a new model went to the audio thread
  CANTUS_JACKLOADER_REFUSED, // the file was refused (or to_rt was full)
} CantusJackLoadResult;

// Prepares l for app's rings; no thread runs yet.
void cantus_jackloader_init(CantusJackLoader *l, CantusJackApp *app);

// Starts loading path on a new thread.  Returns false, with the reason in
// msg, while another load is running or when no thread could be started.
bool cantus_jackloader_start(CantusJackLoader *l, const char *path, char *msg, size_t msg_size);

// Collects a finished load.  On HANDED the model is in to_rt and *current
// is that model; l->path names its file.  On HANDED and REFUSED, msg holds
// the line for the user.  Never blocks.
CantusJackLoadResult cantus_jackloader_poll(CantusJackLoader *l,
                                            const CantusModel **current,
                                            char *msg,
                                            size_t msg_size);

// Frees every model the audio thread has handed back through from_rt.
// Returns how many.
int cantus_jackloader_free_retired(CantusJackLoader *l);

// Waits for a running load and frees a result nobody collected (shutdown).
void cantus_jackloader_stop(CantusJackLoader *l);

#endif
