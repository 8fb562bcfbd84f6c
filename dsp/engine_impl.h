// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's private state, shared by engine.c (the [RT] half) and
// engine_setup.c (the non-RT half).  Not part of the public API.
//
// Allocation contract: CantusEngineImpl is one calloc'd object (engine_new);
// the timeline memory (bar checkpoints and the rollback ring) lives in the
// installed model's extra region, laid out by cantus_engine_snap_layout().
#ifndef CANTUS_ENGINE_IMPL_H
#define CANTUS_ENGINE_IMPL_H

#include "engine.h"
#include "sample.h"
#include "schedule.h"

#define ENGINE_RING_CAP 256  // rollback snapshots (one per step ahead of the play head)
#define ENGINE_FIFO_CAP 256  // observed input tokens waiting for their step
#define ENGINE_HIST_CAP 2048 // recent notes, for hold
#define ENGINE_HOLD_CAP 1024 // notes of a held loop

// Everything the generator needs to continue from a point of the timeline,
// apart from the LSTM's h and c (which follow the header in a snapshot).
typedef struct {
  CantusNoteState ns; // ns.tick is the generation cursor, in play ticks
  CantusRng rng;
  int32_t last_token; // the input of the next step
  int32_t vel;        // model velocity from VELOCITY tokens, 0 = none yet
  uint32_t theme_pos; // next theme event
  uint32_t reserved;
} EngineGen;

// A snapshot: this header, then cantus_lstm_state_floats() floats at
// hdr_size.  (Which bar a checkpoint slot holds, and whether it is valid,
// is kept in the engine: ck_bar, ck_id.)
typedef struct {
  EngineGen g;
} EngineSnapHdr;

typedef struct {
  size_t hdr_size;     // bytes of the header, rounded to 64
  size_t state_floats; // 2*L*H
  size_t snap_size;    // bytes of one snapshot, a multiple of 64
  size_t total;        // (CANTUS_TIMELINE_BARS + ENGINE_RING_CAP) * snap_size
} EngineLayout;

enum { FIFO_TOKEN = 0, FIFO_MOVE = 1 };
typedef struct {
  int64_t tick;  // play tick of the observed token / the cursor target
  int32_t token; // FIFO_TOKEN: token id
  int32_t kind;
} EngineFifoEntry;

typedef struct {
  int64_t on, off; // play ticks; off < 0 while open
  uint8_t key, vel;
} EngineHistNote;

typedef struct {
  int64_t on, off; // relative to the loop start
  int64_t hum;     // original onset (humanise seed)
  uint8_t key, vel;
} EngineHoldNote;

typedef struct {
  int64_t tick;   // theme tick from bar 0
  uint16_t token; // NOTE_ON, NOTE_OFF or VELOCITY
} EngineThemeEvent;

enum { LISTEN_GEN = 0, LISTEN_FOLLOW, LISTEN_ANSWER, LISTEN_WAIT };
enum { HOLD_OFF = 0, HOLD_FILL, HOLD_LOOP };

struct CantusEngineImpl {
  double lookahead_beats;

  // model and its timeline memory
  CantusModel *model;
  bool model_ok; // a model with room for the timeline is installed
  EngineLayout lay;
  uint8_t *ckpt; // CANTUS_TIMELINE_BARS snapshots (slot = bar mod N)
  uint8_t *ring; // ENGINE_RING_CAP snapshots, a FIFO ring
  uint32_t ring_head, ring_n;
  uint64_t timeline_id;                 // bumped to invalidate every checkpoint
  int64_t ck_bar[CANTUS_TIMELINE_BARS]; // bar held by each checkpoint slot
  uint64_t ck_id[CANTUS_TIMELINE_BARS]; // valid when == timeline_id

  // pending work for the next block
  bool reset_pending; // model installed: silence, new timeline
  bool panic_pending;
  bool restart_pending; // theme set: restart the generator at the play head
  bool regen_pending;   // regenerate pressed while stopped: applied when rolling

  // controls
  CantusControls ctl;  // clamped, this block
  CantusControls prev; // clamped, previous block
  bool have_prev;
  bool style_valid; // style vector applied to the model's state
  int style_a, style_b;
  float blend;
  float style_vec[CANTUS_MAX_EMBED];
  CantusSampleParams sp;
  uint64_t epoch; // regenerate count, mixed into reseeds

  // transport and clock
  bool started;
  bool rolling;
  CantusSchedClock clock;
  int64_t frame_now; // absolute frame at the start of the current block
  double tpb;        // ticks per beat
  int64_t bar_ticks;
  double stop_tick;   // where the timeline stands when the transport stops
  double shown_tick;  // position reported in the bar output
  double start_beats; // free-run start after a model swap, in beats
  double play_tick;   // block start (P) of the current block
  double end_tick;    // block end of the current block

  // generator
  EngineGen g;
  int64_t suppress_before; // tokens before this tick are replayed silently

  // lookahead queue, output tracker, outputs
  CantusSchedQueue q;
  CantusNoteTracker tr;
  float surprise;
  CantusStats st;

  // note history (hold)
  EngineHistNote hist[ENGINE_HIST_CAP];
  uint32_t hist_head, hist_n;

  // hold
  int hold_state;
  int64_t hold_ls, hold_le, hold_len, hold_end;
  int64_t rep_base;
  uint32_t rep_idx;
  uint32_t n_hold;
  EngineHoldNote hold[ENGINE_HOLD_CAP];

  // listen / call and response
  int listen_mode;
  EngineFifoEntry fifo[ENGINE_FIFO_CAP];
  uint32_t fifo_head, fifo_n;
  double last_input_tick;
  bool have_input;
  uint8_t held_in[128]; // player notes held, by MIDI pitch
  int n_held_in;
  int64_t answer_end;

  // theme
  bool theme_set;
  CantusVocab theme_vocab;
  uint32_t n_theme;
  int64_t theme_end;
  EngineThemeEvent theme[CANTUS_MAX_THEME];

  // step scratch
  float scratch[CANTUS_MAX_VOCAB];
};

// Snapshot layout for a model of these sizes (engine_setup.c; arithmetic
// only, so [RT]).
CANTUS_RT EngineLayout cantus_engine_snap_layout(const CantusDims *d);

#endif
