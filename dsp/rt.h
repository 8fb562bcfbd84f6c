// SPDX-License-Identifier: GPL-3.0-or-later
// Real-time contract shared by every dsp/ module: the CANTUS_RT marker and the
// compile-time caps that bound every loop on the audio thread.  Header only.
#ifndef CANTUS_RT_H
#define CANTUS_RT_H

#if defined(__clang__) && __clang_major__ >= 20
#  define CANTUS_RT __attribute__((nonblocking))
#else
#  define CANTUS_RT
#endif

#define CANTUS_MAX_LAYERS 4         // stacked LSTM layers
#define CANTUS_MAX_HIDDEN 1024      // units per layer
#define CANTUS_MAX_VOCAB 1024       // tokens
#define CANTUS_MAX_PARTS 4          // parts of a version 2 vocabulary
#define CANTUS_MAX_STYLES 64        // style vectors in one model
#define CANTUS_MAX_EMBED 256        // token embedding and style vector widths
#define CANTUS_MAX_POS 96           // metric position classes (tick + beat one-hots)
#define CANTUS_STYLE_NAME_LEN 32    // bytes per style name, NUL padded
#define CANTUS_MAX_EVENTS 1024      // MIDI events into or out of one engine block
#define CANTUS_MAX_STEPS_PER_RUN 32 // LSTM steps one engine block may run
#define CANTUS_MAX_VOICES 16        // simultaneously sounding generated notes
#define CANTUS_MAX_THEME 1024       // tokens in a primer theme
#define CANTUS_TIMELINE_BARS 1024   // bar checkpoints kept by the engine

#endif
