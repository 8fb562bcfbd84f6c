// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's private state, shared by its files: the [RT] half, engine.c
// (controls, transport, the block loop, the rest of the RT API) and one
// file per subsystem (engine_timeline.c, engine_gen.c, engine_voices.c,
// engine_hold.c, engine_listen.c, engine_chord.c), and the non-RT half, engine_setup.c.
// Each subsystem keeps its state in its own sub-struct of CantusEngineImpl;
// the controls of the block (ctl), the counters (st) and the model are
// shared.  The helpers one file calls in another are declared at the end,
// all [RT], named engine_<part>_<verb> after the part of the subsystem they
// belong to (snap/ckpt/ring, gen, sched/voices, hist/hold, fifo/listen);
// the small ones the step loop calls are static inline here.  Not part of
// the public API.
//
// Allocation contract: CantusEngineImpl is one calloc'd object (engine_new);
// the timeline memory (bar checkpoints and the rollback ring) lives in the
// installed model's extra region, laid out by cantus_engine_snap_layout().
#ifndef CANTUS_ENGINE_IMPL_H
#define CANTUS_ENGINE_IMPL_H

#include "chord.h"
#include "engine.h"
#include "lookback.h"
#include "sample.h"
#include "schedule.h"

#include <math.h>

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
  uint32_t ended;     // 1 once the model played END (a piece with an end): no more steps
  int32_t last_note;  // the last NOTE token consumed (format 2), -1 none
} EngineGen;

// A snapshot: this header, then (format 2 models) the form tracker
// (CantusLookback) at hdr_size, then cantus_lstm_state_floats() floats at
// state_off.  (Which bar a checkpoint slot holds, and whether it is valid,
// is kept in the engine: ck_bar, ck_id.)
typedef struct {
  EngineGen g;
} EngineSnapHdr;

typedef struct {
  size_t hdr_size;     // bytes of the header, rounded to 64
  size_t lb_size;      // bytes of the form tracker (0 for format 1 models), rounded to 64
  size_t state_off;    // hdr_size + lb_size
  size_t state_floats; // 2*L*H
  size_t snap_size;    // bytes of one snapshot, a multiple of 64
  size_t total;        // (CANTUS_TIMELINE_BARS + ENGINE_RING_CAP) * snap_size
} EngineLayout;

// FIFO_NOTE (format 2): a player's NOTE, fed with its DUR once the
// note-off gives its length (dur >= 0); the generator waits for it.
enum { FIFO_TOKEN = 0, FIFO_MOVE = 1, FIFO_NOTE = 2 };
typedef struct {
  int64_t tick;  // play tick of the observed token / the cursor target
  int32_t token; // FIFO_TOKEN, FIFO_NOTE: token id
  int32_t kind;
  int64_t dur; // FIFO_NOTE: length in ticks, -1 while the note is held
} EngineFifoEntry;

// A note's key: its model pitch | part << 7 (part 0 in format 1).
typedef struct {
  int64_t on, off; // play ticks; off < 0 while open
  uint16_t key;
  uint8_t vel;
} EngineHistNote;

typedef struct {
  int64_t on, off; // relative to the loop start
  int64_t hum;     // original onset (humanise seed)
  uint16_t key;
  uint8_t vel;
} EngineHoldNote;

typedef struct {
  int64_t tick;   // theme tick from bar 0
  uint16_t token; // NOTE_ON, NOTE_OFF or VELOCITY; format 2: NOTE, DUR or VELOCITY
} EngineThemeEvent;

enum { LISTEN_GEN = 0, LISTEN_FOLLOW, LISTEN_ANSWER, LISTEN_WAIT };
enum { HOLD_OFF = 0, HOLD_FILL, HOLD_LOOP };
#define THEME_ABANDONED UINT32_MAX // theme_pos once a player replaced the theme

// Timeline memory: bar checkpoints and the rollback ring (engine_timeline.c).
typedef struct {
  EngineLayout lay;
  uint8_t *ckpt; // CANTUS_TIMELINE_BARS snapshots (slot = bar mod N)
  uint8_t *ring; // ENGINE_RING_CAP snapshots, a FIFO ring
  uint32_t ring_head, ring_n;
  uint64_t id;                          // bumped to invalidate every checkpoint
  int64_t ck_bar[CANTUS_TIMELINE_BARS]; // bar held by each checkpoint slot
  uint64_t ck_id[CANTUS_TIMELINE_BARS]; // valid when == id
} EngineTimeline;

// Transport and clock (engine.c).
typedef struct {
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
  // Free run (no host position): the metre played, the style's usual one
  // (cantus_model_style_meter); 0 before the first block.
  int free_num, free_den;
} EngineTransport;

// What the controls did last block, and the style and sampler settings
// derived from them (engine.c).
typedef struct {
  CantusControls prev; // clamped, previous block
  bool have_prev;
  bool style_valid; // style vector applied to the model's state
  int style_a, style_b;
  float blend;
  float style_vec[CANTUS_MAX_EMBED];
  CantusSampleParams sp;
  uint64_t epoch; // regenerate count, mixed into reseeds
} EngineControlState;

// The generator (engine_gen.c).
typedef struct {
  EngineGen cur;           // where the token stream stands; snapshots copy it
  int64_t suppress_before; // tokens before this tick are replayed silently
  float scratch[CANTUS_MAX_VOCAB];
  // Format 2: the form inputs of the stream (lookback, phrase bar, bars
  // left); it has seen every token consumed, so its features are those of
  // the next step's input.  Snapshots copy it with cur.
  bool form;
  CantusLookback lb;
  int64_t end_bar; // the piece's last bar (cantus_engine_set_end), or END_UNKNOWN
  // The key of a piece with an end, for its requested cadence
  // (engine_chord_step): estimated from the notes before its last two bars
  // when the cursor first reaches them; end_tonic -1 = not yet (reset at
  // every fresh start, new end, and rollback before those bars).
  int8_t end_tonic;
  bool end_minor;
  bool rolled_back; // a rollback in this block (engine_rollback*): full step budget to catch up
  // Test tap (cantus_engine_tap_steps): each step's input token and form
  // features, written while n < cap.
  uint16_t *tap_tok;
  CantusLookbackFeatures *tap_form;
  size_t tap_cap, tap_n;
} EngineGenerator;

// Lookahead queue and output note tracker (engine_voices.c).
typedef struct {
  CantusSchedQueue q;
  CantusNoteTracker tr;
} EngineVoices;

// Note history and the held loop (engine_hold.c).
typedef struct {
  EngineHistNote hist[ENGINE_HIST_CAP]; // recent notes, what a held loop repeats
  uint32_t hist_head, hist_n;
  int state;           // HOLD_*
  int64_t ls, le, len; // loop start, loop end (a bar line), length, in ticks
  int64_t rep_base;    // replay: start of the current repetition
  uint32_t rep_idx;    // replay: next note
  uint32_t n_notes;
  EngineHoldNote notes[ENGINE_HOLD_CAP];
} EngineHold;

// Listen and call-and-response (engine_listen.c).
typedef struct {
  int mode; // LISTEN_*
  EngineFifoEntry fifo[ENGINE_FIFO_CAP];
  uint32_t fifo_head, fifo_n;
  double last_input_tick;
  bool have_input;
  uint8_t held_in[128]; // player notes held, by MIDI pitch
  int n_held_in;
  int64_t answer_end;
} EngineListen;

// Chords (engine_chord.c): the chord in force at every tick, from the live
// source (the reader's changes), a known timeline (progression, chord
// track) or, answering a call, the chords of the call.  Chords are kept in
// player pitch space; a step rotates them by -transpose.
#define ENGINE_CHORD_RING 64 // live chord changes remembered
#define ENGINE_CALL_CAP 256  // notes of a player's call remembered
#define ENGINE_CALL_SPANS 64 // chord spans of a call
enum { CHORDS_NONE = 0, CHORDS_PROGRESSION, CHORDS_TRACK };
typedef struct {
  int source;               // chord_source in force (live reading when != 0)
  CantusChordReader reader; // live chords
  CantusChord base;         // the live chord before the oldest change kept
  uint32_t head, n;         // the change ring
  int64_t ch_tick[ENGINE_CHORD_RING];
  CantusChord ch_chord[ENGINE_CHORD_RING];
  int known; // CHORDS_*
  CantusProgression prog;
  CantusChordTrack track;
  // A player's call (listen, call and response): its notes, and when the
  // model answers, the chords of its spans (cycled by bars) and its key.
  uint32_t n_call;
  int64_t call_on[ENGINE_CALL_CAP], call_off[ENGINE_CALL_CAP]; // off < 0 while held
  uint8_t call_pitch[ENGINE_CALL_CAP];
  bool answer;
  int64_t ans_start, ans_end; // the answer's ticks
  int64_t call_bar0, span;    // first bar of the call, span length
  int call_bars, spans_per_bar;
  CantusChord call_chord[ENGINE_CALL_SPANS];
  uint16_t key_pcs; // the call's key's scale, player pitch space
} EngineChords;

// The theme, as timed events (set by cantus_engine_set_theme, played by
// the generator).
typedef struct {
  bool set;
  CantusVocab vocab;
  uint32_t n;
  int64_t end;
  EngineThemeEvent ev[CANTUS_MAX_THEME];
} EngineTheme;

struct CantusEngineImpl {
  double lookahead_beats;
  CantusModel *model;
  bool model_ok; // a model with room for the timeline is installed

  // pending work for the next block
  bool reset_pending; // model installed: silence, new timeline
  bool panic_pending;
  bool restart_pending; // theme set: restart the generator at the play head
  bool regen_pending;   // regenerate pressed while stopped: applied when rolling

  CantusControls ctl; // clamped, this block; read by every subsystem
  float surprise;     // output: -log p of the last sampled note-on
  CantusStats st;     // counters, bumped by every subsystem

  EngineTransport transport;
  EngineControlState ctrl;
  EngineTimeline timeline;
  EngineGenerator gen;
  EngineVoices voices;
  EngineHold hold;
  EngineListen listen;
  EngineTheme theme;
  EngineChords chords;
};

// Snapshot layout for a model of these sizes (engine_setup.c; arithmetic
// only, so [RT]).
CANTUS_RT EngineLayout cantus_engine_snap_layout(const CantusDims *d);

// ---- small helpers shared by the [RT] files (inline: they sit in the
// step loop)

CANTUS_RT static inline int64_t floor_div(int64_t a, int64_t b)
{
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) {
    q--;
  }
  return q;
}

CANTUS_RT static inline int64_t mod64(int64_t a, int64_t b)
{
  const int64_t r = a % b;
  return r < 0 ? r + b : r;
}

// Smallest integer tick >= t, forgiving float rounding just above a tick.
CANTUS_RT static inline int64_t ceil_tick(double t)
{
  return (int64_t)ceil(t - 1e-6);
}

CANTUS_RT static inline const CantusVocab *vocab(const CantusEngine *e)
{
  return &e->model->net.dims.vocab;
}

// The scheduling key of a note: model pitch | part << 7.
CANTUS_RT static inline uint16_t note_key(int pitch, int part)
{
  return (uint16_t)(pitch | part << 7);
}

// Keys in use: 128 per part (format 1: one part).
CANTUS_RT static inline int n_keys(const CantusEngine *e)
{
  const int n = e->model->net.dims.vocab.n_parts;
  return 128 * (n > 0 ? n : 1);
}

CANTUS_RT static inline bool listening(const CantusControls *c)
{
  return c->listen || c->call_response;
}

CANTUS_RT static inline EngineSnapHdr *snap_hdr(uint8_t *slot)
{
  return (EngineSnapHdr *)(void *)slot;
}

CANTUS_RT static inline uint8_t *ckpt_slot(CantusEngine *e, int64_t bar)
{
  return e->timeline.ckpt + (size_t)mod64(bar, CANTUS_TIMELINE_BARS) * e->timeline.lay.snap_size;
}

CANTUS_RT static inline uint8_t *ring_slot(CantusEngine *e, uint32_t i)
{
  return e->timeline.ring +
         (size_t)((e->timeline.ring_head + i) % ENGINE_RING_CAP) * e->timeline.lay.snap_size;
}

// Swing: a monotone warp of each quarter note that moves its second 8th
// later by swing * an 8th; the first half stretches, the second compresses.
CANTUS_RT static inline double warp(const CantusEngine *e, double t)
{
  const double sw = (double)e->ctl.swing;
  if (!(sw > 0.0)) {
    return t;
  }
  const double q = (double)vocab(e)->tpq;
  const double base = floor(t / q) * q;
  const double x = t - base, h = 0.5 * q, h2 = h * (1.0 + sw);
  return base + (x < h ? x * h2 / h : h2 + (x - h) * (q - h2) / (q - h));
}

CANTUS_RT static inline double max_note_ticks(const CantusEngine *e)
{
  return e->ctl.max_note_beats * e->transport.tpb;
}

CANTUS_RT static inline uint32_t queue_free(const CantusEngine *e)
{
  return CANTUS_SCHED_CAP - e->voices.q.n;
}

// ---- engine_timeline.c: snapshots, bar checkpoints, the rollback ring (all [RT])

CANTUS_RT void engine_snap_store(CantusEngine *e, uint8_t *slot);
CANTUS_RT void engine_snap_load(CantusEngine *e, uint8_t *slot);
CANTUS_RT bool engine_ckpt_valid(CantusEngine *e, int64_t bar);
CANTUS_RT void engine_ckpt_store(CantusEngine *e, int64_t bar);
CANTUS_RT void engine_ckpt_invalidate_after(CantusEngine *e, int64_t bar);
CANTUS_RT void engine_ckpt_invalidate_ahead(CantusEngine *e, int64_t bar);
CANTUS_RT void engine_ring_trim(CantusEngine *e, int64_t tick);
CANTUS_RT void engine_rollback(CantusEngine *e, int64_t tick);
// The same without feeding the undone shift again as an observed one: the
// generator decides again from the newest snapshot before `tick` (a chord
// change, whose decisions must equal those made with the chord known).
CANTUS_RT void engine_rollback_redecide(CantusEngine *e, int64_t tick);

// ---- engine_gen.c: the generator and its loop (all [RT])

CANTUS_RT void engine_gen_reseed(CantusEngine *e, uint64_t index);
CANTUS_RT void engine_gen_fresh_start(CantusEngine *e, int64_t bar);
CANTUS_RT void engine_gen_form_skip(CantusEngine *e, int64_t ticks);
CANTUS_RT void engine_gen_run(CantusEngine *e, uint32_t n_frames, double sample_rate);

// ---- engine_voices.c: scheduling into the lookahead queue, note output (all [RT])

CANTUS_RT void engine_voices_all_off(CantusEngine *e, CantusBlockOut *out, uint32_t frame);
CANTUS_RT void engine_sched_push(CantusEngine *e,
                                 double time,
                                 int64_t src,
                                 int64_t hum,
                                 uint8_t kind,
                                 uint16_t key,
                                 uint8_t vel,
                                 uint8_t flags);
CANTUS_RT void engine_sched_on(CantusEngine *e,
                               int64_t tick,
                               int64_t hum,
                               uint16_t key,
                               uint8_t vel,
                               uint8_t flags);
CANTUS_RT void engine_sched_off(CantusEngine *e,
                                int64_t on,
                                int64_t off,
                                int64_t src,
                                uint16_t key,
                                uint8_t flags);
CANTUS_RT void engine_voices_emit(CantusEngine *e, CantusBlockOut *out, uint32_t n);
CANTUS_RT void engine_voices_guard(CantusEngine *e, CantusBlockOut *out, uint32_t n);

// ---- engine_hold.c: note history and the held loop (all [RT])

CANTUS_RT void engine_hist_add(CantusEngine *e, int64_t on, uint16_t key, uint8_t vel);
CANTUS_RT void engine_hist_close(CantusEngine *e, uint16_t key, int64_t off);
CANTUS_RT void engine_hist_cut(CantusEngine *e, int64_t tick);
CANTUS_RT void engine_hold_engage(CantusEngine *e);
CANTUS_RT void engine_hold_freeze(CantusEngine *e);
CANTUS_RT void engine_hold_align(CantusEngine *e, int64_t tick);
CANTUS_RT void engine_hold_replay(CantusEngine *e);
CANTUS_RT void engine_hold_release(CantusEngine *e);

// ---- engine_listen.c: listen and call-and-response (all [RT])

CANTUS_RT void engine_fifo_push(CantusEngine *e, int64_t tick, int token, int kind);
CANTUS_RT EngineFifoEntry *engine_fifo_front(CantusEngine *e);
CANTUS_RT void engine_fifo_pop(CantusEngine *e);
CANTUS_RT void engine_listen_silence(CantusEngine *e, int64_t tick);
CANTUS_RT void engine_listen_input(CantusEngine *e, const CantusBlockIn *in);

// ---- engine_chord.c: chords in force, live chord input, call chords (all [RT])

CANTUS_RT bool engine_chord_heard(const CantusEngine *e, int note); // not a chord-split note
CANTUS_RT void engine_chord_input(CantusEngine *e, const CantusBlockIn *in);
CANTUS_RT void engine_chord_restart(CantusEngine *e, int64_t tick);
CANTUS_RT void engine_chord_step(CantusEngine *e, int64_t tick, CantusLookbackFeatures *f);
CANTUS_RT void engine_chord_ending_forget(CantusEngine *e, int64_t tick);
CANTUS_RT int engine_chord_split(const CantusEngine *e, int64_t tick, int token);
CANTUS_RT bool engine_chord_live(const CantusEngine *e);
CANTUS_RT void engine_chord_call_start(CantusEngine *e);
CANTUS_RT void engine_chord_call_note(CantusEngine *e, int64_t tick, int pitch, bool on);
CANTUS_RT void engine_chord_answer(CantusEngine *e, int64_t start, int64_t end);

#endif
