// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's model loader and hand-over (STYLE.md section 4).  A loader
// thread only reads and validates a model file while the music plays.  The
// main thread collects the result and is the only one that hands a model to
// the audio thread: in one step it writes the pointer to `to_rt` and makes it
// its own current model (the one it formats controls and draws the view
// with).  The audio thread hands a model back through `from_rt` only after
// installing a newer one, so by then the main thread has moved on, and the
// main thread frees what comes back at any point of its pass.  Thread class:
// non-RT; every function here runs on the main thread (the loader thread is
// internal to loader.c).
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
  CantusModel *result; // loader thread: the model, NULL when refused; the
                       // main thread owns it after done
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

// Collects a finished load and hands it over: on HANDED the model is in
// to_rt and *current is that model (set together, nowhere else); l->path
// names its file.  REFUSED: the file was refused, or to_rt was full (the
// model is freed); *current is unchanged.  On HANDED and REFUSED, msg holds
// the line for the user.  Never blocks.
CantusJackLoadResult cantus_jackloader_poll(CantusJackLoader *l,
                                            const CantusModel **current,
                                            char *msg,
                                            size_t msg_size);

// Frees every model the audio thread has handed back through from_rt (never
// the current one: see above).  Returns how many.
int cantus_jackloader_free_retired(CantusJackLoader *l);

// Waits for a running load and frees its result uncollected: nothing more
// goes to the audio thread (shutdown).
void cantus_jackloader_stop(CantusJackLoader *l);

#endif
