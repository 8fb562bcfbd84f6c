// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's terminal view: plain ANSI escapes and termios (no curses).
// It shows the model, its styles (the current one marked), transport, tempo,
// bar, temperature, xruns, a scrolling piano roll of the last bars (its rows
// scaled to the range of the notes played lately) and the controls, with a
// message area at the bottom, and reads single keys.  A frame never has
// more lines than the terminal, so the header never scrolls away.  Thread
// class: non-RT (main thread).
#ifndef CANTUS_JACK_UI_H
#define CANTUS_JACK_UI_H

#include "jack_app.h"
#include "jack_rec.h"

#include <stdbool.h>
#include <stdint.h>

enum {
  CANTUS_KEY_UP = 0x1000,
  CANTUS_KEY_DOWN,
  CANTUS_KEY_LEFT,
  CANTUS_KEY_RIGHT,
  CANTUS_KEY_ENTER,
  CANTUS_KEY_BACKSPACE,
  CANTUS_KEY_ESC,
};

typedef struct {
  const char *client_name;
  const char *model_path;
  const CantusModel *model;
  const CantusControls *controls;
  int selected;                   // control index with the cursor
  const CantusJackStatus *status; // NULL before the first cycle
  uint64_t xruns;
  const CantusJackRec *rec;
  const char *mode;            // "following JACK master", "own tempo" ...
  const char *const *messages; // the last few, oldest first (the area shows
                               // as many of the newest as fit)
  int n_messages;
  const char *prompt; // non-NULL: a line being typed (model path)
} CantusJackView;

// Raw, no-echo input and the alternate screen; false when stdin or stdout
// is not a terminal.  close restores the terminal (safe to call twice).
bool cantus_jackui_open(void);
void cantus_jackui_close(void);
// One key if available (non-blocking): a byte, a CANTUS_KEY_*, or -1.
int cantus_jackui_key(void);
void cantus_jackui_draw(const CantusJackView *v);

#endif
