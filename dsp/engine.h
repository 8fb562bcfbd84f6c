// SPDX-License-Identifier: GPL-3.0-or-later
// CantusEngine: the single real-time object.  Every host (LV2 run(), the JACK
// process callback, cantus-gen's offline loop) makes the same call per block:
//     cantus_engine_process(engine, &in, &out);
// The engine generates notes ahead of the play head (lookahead, a bounded
// number of LSTM steps per block), schedules them by tick, and emits the
// events whose tick falls inside the block, converted to frames with the
// block's tempo.  Decisions depend only on model, seed, controls and the tick
// timeline, never on block size or sample rate.
//
// Allocation contract: cantus_engine_new() allocates the engine; models are
// loaded by cantus_engine_load_model() (one allocation each, with the
// engine's timeline memory in the model's extra region) and handed to the
// audio thread with cantus_engine_install_model(), which returns the model
// it replaces for a non-RT thread to free.  Nothing in engine.c (or the
// subsystem files beside it, engine_*.c) allocates.
// Thread class: engine.c and engine_{gen,voices,timeline,hold,listen,chord}.c
// are [RT] (process, install, set_theme, set_progression, set_chord_track,
// panic); engine_setup.c is non-RT (new,
// free, load_model, theme_from_midi).
//
// Behaviour (time, continuity, lookahead, notes, controls, timeline memory,
// hold, theme, listen, call and response, chords): dsp/ENGINE.md.
#ifndef CANTUS_ENGINE_H
#define CANTUS_ENGINE_H

#include "chord.h"
#include "midifile.h"
#include "model.h"
#include "rt.h"
#include "status.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct CantusEngineImpl CantusEngine;

typedef enum {
  CANTUS_SCALE_CHROMATIC = 0,
  CANTUS_SCALE_MAJOR,
  CANTUS_SCALE_MINOR, // natural minor
  CANTUS_SCALE_HARMONIC_MINOR,
  CANTUS_SCALE_DORIAN,
  CANTUS_SCALE_MIXOLYDIAN,
  CANTUS_SCALE_MAJOR_PENTATONIC,
  CANTUS_SCALE_MINOR_PENTATONIC,
  CANTUS_SCALE_BLUES,
  CANTUS_N_SCALES
} CantusScale;

// Pitch-class bitmask (bit 0 = root) of a scale.
uint16_t cantus_scale_mask(CantusScale scale);
const char *cantus_scale_name(CantusScale scale);
// Name of a key root: "C", "C#", "D" .. "B" (sharps), pitch_class mod 12.
const char *cantus_key_name(int pitch_class);
// Pitch class 0..11 of a key name: a letter A..G in either case, then
// optionally '#' or 's' (sharp) or 'b' (flat): "C", "c#", "Db", "Fs", "Cb"
// (= 11); -1 for anything else.
int cantus_key_parse(const char *name);

// Every control.  Hosts fill it from ports / CLI / CC each block; the engine
// clamps every value into range, so any float a host passes is safe.  The
// names, ranges and defaults are in the control table, dsp/controls.h.
typedef struct {
  int style;            // 0..n_styles-1
  int style_b;          // second style for the blend
  float blend;          // 0 = style, 1 = style_b (live morph of the style vectors)
  float temperature;    // 0 = argmax .. 2; default 1
  float top_p;          // nucleus 0.05..1; default 0.95
  float density;        // -1 .. 1: bias against / towards shorter shifts (more notes); 0 = model
  int transpose;        // -24..24 semitones applied to output
  int key_root;         // 0..11 pitch class (0 = C)
  CantusScale scale;    // mask of allowed pitch classes
  int note_lo, note_hi; // output pitch range (after transpose), 0..127
  int max_voices;       // 1..CANTUS_MAX_VOICES
  int velocity;         // 1..127 fixed velocity; 0 = the model's (velocity tokens), else 96
  float humanise;       // 0..1 random velocity spread
  float gate;           // 0.1..2 note length scale (1 = as generated)
  float swing;          // 0..0.75: delay of off-beat 8ths as a share of an 8th
  int channel;          // 0..15 output channel
  uint32_t seed;        // RNG seed of the timeline, 0..65535
  bool hold;            // repeat the last hold_bars bars exactly while set
  int hold_bars;        // 1, 2, 4 or 8
  bool regenerate;      // rising edge: forget the timeline ahead of the play head
  bool listen;          // MIDI input notes are fed to the network as observed tokens
  bool call_response;   // answer after the player pauses
  int response_bars;    // bars answered, 1..16
  int wait_beats;       // beats of player silence before answering, 1..16
  float bpm;            // free-run tempo, 20..300 (used when the transport carries none)
  bool panic;           // rising edge: all notes off now
  int max_note_beats;   // longest allowed note in beats (forced note-off), 1..32
  // Output channels of parts 2..4 of a format 2 model, 1..16; 0 mutes the
  // part.  Part 1 plays on `channel`; a model without parts uses only that.
  int part2_channel, part3_channel, part4_channel;
  // Chord following (issue 11, dsp/chord.h).  chord_source: 0 off, 1 the
  // Chords input (CantusBlockIn.chord_in), 2 the MIDI input's notes below
  // chord_split.  chord_strength 0..1: a soft pull toward chord tones on
  // top of the network's own chord input (0 = the network alone).
  int chord_source;
  int chord_split;
  float chord_strength;
} CantusControls;

// Every control at its default, from the control table (dsp/controls.h,
// which also holds each control's range).  Non-RT.
CantusControls cantus_controls_default(void);

typedef struct {
  bool valid;           // the host supplied a position; false = free-run on controls.bpm
  bool rolling;         // transport moving (speed != 0)
  double bpm;           // tempo; <= 0 means unknown (use controls.bpm)
  int64_t bar;          // bar index at frame 0 (0-based)
  double bar_beat;      // beat within the bar at frame 0, in beat units, >= 0
  double beats_per_bar; // time-signature numerator, > 0
  int beat_unit;        // time-signature denominator (4 = quarter)
} CantusTransport;

typedef struct {
  uint32_t frame; // offset in the block, 0..n_frames-1
  uint8_t size;   // 1..3
  uint8_t data[3];
} CantusMidiEvent;

typedef struct {
  uint32_t n_frames;         // may be 0 (then only outputs are refreshed)
  double sample_rate;        // Hz
  CantusTransport transport; // state at frame 0 of this block
  CantusControls controls;
  const CantusMidiEvent *midi_in; // sorted by frame
  uint32_t n_midi_in;
  // The Chords input (issue 11: the LV2 "Chords" port, cantus-jack
  // --chord-in / --chord-device), sorted by frame; read when the chord
  // source control says so.  NULL / 0 when the host has none.
  const CantusMidiEvent *chord_in;
  uint32_t n_chord_in;
} CantusBlockIn;

typedef struct {
  CantusMidiEvent events[CANTUS_MAX_EVENTS]; // sorted by frame, all < n_frames
  uint32_t n_events;
  int64_t bar;    // current bar (output control)
  float surprise; // -log p of the last generated note-on, nats
  bool rolling;   // the engine is playing
} CantusBlockOut;

// Problems counted on the audio thread, read by a non-RT thread.
typedef struct {
  uint64_t events_dropped; // output overflowed CANTUS_MAX_EVENTS
  uint64_t steps_starved;  // blocks whose step budget ran out before the lookahead was full
  uint64_t late_events;    // events scheduled before the block start (emitted at frame 0)
  uint64_t relocations;    // transport jumps handled
  uint64_t models_installed;
  // Added with the first implementation (append-only):
  uint64_t steps;           // LSTM steps run in total
  uint32_t max_block_steps; // most steps any one block ran (<= CANTUS_MAX_STEPS_PER_RUN)
  uint64_t input_dropped;   // observed input tokens dropped (listen backlog full)
} CantusStats;

// Creates an engine with default controls and no model (it then emits
// nothing).  lookahead_beats: how far ahead of the play head notes are
// generated (default 1.0 when <= 0).
CantusStatus cantus_engine_new(double lookahead_beats, CantusEngine **out, CantusError *err);
void cantus_engine_free(CantusEngine *e); // does not free an installed model

// Loads and checks a model file, with room for this engine version's
// timeline memory (CANTUS_TIMELINE_BARS checkpoints; with a format 2 model
// each also holds the form tracker).  Non-RT.  Formats 1 and 2.
CantusStatus cantus_engine_load_model(const char *path, CantusModel **out, CantusError *err);
// The same for a model already in memory (the trainer, tests): allocates a
// copy with the timeline region.  Non-RT.
CantusStatus cantus_engine_adopt_model(const CantusModel *src, CantusModel **out, CantusError *err);

// Installs m (may be NULL), silencing the old model's notes in the next
// block and resetting the timeline; returns the previous model, which the
// caller frees off the audio thread.  m must come from
// cantus_engine_load_model() or _adopt_model() (the timeline lives in its
// extra region); a model without that room, or NULL, leaves the engine
// silent.  In free-run the play head keeps its place (in beats).  [RT]
CANTUS_RT CantusModel *cantus_engine_install_model(CantusEngine *e, CantusModel *m);

// A piece with an end (offline rendering: cantus-gen --bars N): bar
// last_bar (counted from 0) is the last, which a format 2 model sees as its
// bars-left input; < 0 = no end (live play, the default).  No effect on a
// format 1 model.  Call between blocks; like a theme it restarts the
// timeline.
void cantus_engine_set_end(CantusEngine *e, int64_t last_bar);

// Test tap: from now on, each LSTM step of a format 2 model writes its
// input token to tok[n] and its form inputs to form[n] while n < cap
// (caller-owned arrays; NULL, 0 stops).  Returns the steps tapped so far
// with cantus_engine_tapped.  Call between blocks.
void cantus_engine_tap_steps(CantusEngine *e,
                             uint16_t *tok,
                             CantusLookbackFeatures *form,
                             size_t cap);
size_t cantus_engine_tapped(const CantusEngine *e);
const CantusModel *cantus_engine_model(const CantusEngine *e);

// Processes one block.  [RT]: no allocation, no locks, no I/O; at most
// CANTUS_MAX_STEPS_PER_RUN LSTM steps.
CANTUS_RT void cantus_engine_process(CantusEngine *e, const CantusBlockIn *in, CantusBlockOut *out);

// Note-offs for everything sounding go out in the next processed block
// (deactivate, shutdown).  cantus_engine_flush writes them into `out` at
// frame 0 right now instead (JACK shutdown, LV2 deactivate paths); it
// replaces out's events (out->n_events starts from 0).  [RT]
CANTUS_RT void cantus_engine_panic(CantusEngine *e);
CANTUS_RT void cantus_engine_flush(CantusEngine *e, CantusBlockOut *out);

// A primer theme: tokens on the model's grid, played first and continued by
// the network.  Fixed size, so setting it is a bounded copy.
typedef struct {
  uint32_t n_tokens;
  uint16_t tokens[CANTUS_MAX_THEME];
  CantusVocab vocab; // the vocabulary the tokens belong to
} CantusTheme;

// Builds a theme from a MIDI file's notes (all tracks, drums skipped),
// tokenised by cantus_tokens_from_notes() (dsp/tokens.h, the same stream the
// trainer sees) with pitches outside the vocabulary folded by octaves, at
// most max_bars bars (0 = all that fit in CANTUS_MAX_THEME tokens, every
// note closed).  Non-RT.
CantusStatus cantus_theme_from_midi(const CantusMidiFile *mf,
                                    const CantusVocab *v,
                                    int max_bars,
                                    CantusTheme *theme,
                                    CantusError *err);
// The same for model m: with a format 2 model, notes go to the part whose
// name (m->part_names) their track bears, when any track bears one (notes
// of other tracks are then left out); else all to part 1.  Non-RT.
CantusStatus cantus_theme_for_model(const CantusMidiFile *mf,
                                    const CantusModel *m,
                                    int max_bars,
                                    CantusTheme *theme,
                                    CantusError *err);
// Sets (theme non-NULL) or clears the theme; takes effect from bar 0 of the
// timeline, which it resets.  A theme whose vocabulary differs from the
// model's is ignored.  [RT] (bounded copy)
CANTUS_RT void cantus_engine_set_theme(CantusEngine *e, const CantusTheme *theme);

// A known chord timeline (offline rendering: cantus-gen --chords), in
// output pitch space like the player's chords.  A progression cycles with
// the engine's metre from bar 0 (a chord of 0 beats lasts a bar); a chord
// track gives each chord's start tick on the model's grid (no chord before
// the first).  Setting one replaces the other; NULL clears.  Like a theme
// it restarts the timeline.  A live chord source (chord_source) takes
// precedence while it is on.  [RT] (bounded copies)
CANTUS_RT void cantus_engine_set_progression(CantusEngine *e, const CantusProgression *p);
CANTUS_RT void cantus_engine_set_chord_track(CantusEngine *e, const CantusChordTrack *t);

// Soft pull toward chord tones at chord_strength 1, in nats added to the
// logits of chord-tone notes (dsp/sample.h, pull): e^2 = 7.4 times the odds
// of a chord tone against another pitch, the notes' total probability
// unchanged.  An answer in the player's key pulls toward the key's scale
// by CANTUS_KEY_PULL (models without chord input).
#define CANTUS_CHORD_PULL 2.0f
#define CANTUS_KEY_PULL 2.0f

CANTUS_RT void cantus_engine_get_stats(const CantusEngine *e, CantusStats *stats);

// LSTM steps one block of n_frames at sample_rate may run: one step per
// 1/CANTUS_STEPS_PER_SECOND s of audio (floor), at least 1, at most
// CANTUS_MAX_STEPS_PER_RUN.  750 steps/s is 1 step per 64-frame block at
// 48 kHz (a 2x256 step is ~35 us, under 3% of that block's period) and
// outruns the densest corpus piece at 300 bpm (~60 tokens/s) tenfold.  [RT]
#define CANTUS_STEPS_PER_SECOND 750
// A block whose stream is behind its own end (catching up after a jump)
// may run this many times the steady budget, still capped at
// CANTUS_MAX_STEPS_PER_RUN.
#define CANTUS_CATCHUP_FACTOR 4
CANTUS_RT uint32_t cantus_engine_step_budget(uint32_t n_frames, double sample_rate);

// The tempo the engine plays at, in beats per minute: host_bpm when it is
// finite and > 0, else control_bpm (NaN -> 120), clamped to 1..999.  A host
// that extrapolates its transport between position updates uses it, so it
// moves at the engine's pace whatever values it was given.  [RT]
CANTUS_RT double cantus_engine_bpm(double host_bpm, float control_bpm);

// The metric position input of a step at stream tick `tick` (ticks since bar
// 0's downbeat, bar_ticks per bar): pos_tick = tick within the quarter note
// (scaled into n_pos_tick classes when that differs from tpq), pos_beat =
// quarter note within the bar (clamped to n_pos_beat - 1).  A step is given
// the position of the tick at which the token it consumes occurs (a SHIFT's
// start), as the trainer's corpus reader does.  [RT]
static inline void cantus_engine_position(int64_t tick,
                                          int64_t bar_ticks,
                                          int tpq,
                                          int n_pos_tick,
                                          int n_pos_beat,
                                          int *pos_tick,
                                          int *pos_beat)
{
  int64_t in_bar = tick % bar_ticks;
  in_bar = in_bar < 0 ? in_bar + bar_ticks : in_bar;
  int64_t pt = in_bar % tpq;
  if (n_pos_tick != tpq) {
    pt = pt * n_pos_tick / tpq;
  }
  int64_t pb = in_bar / tpq;
  *pos_tick = (int)(pt < n_pos_tick ? pt : n_pos_tick - 1);
  *pos_beat = (int)(pb < n_pos_beat ? pb : n_pos_beat - 1);
}

#endif
