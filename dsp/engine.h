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
// it replaces for a non-RT thread to free.  Nothing in engine.c allocates.
// Thread class: engine.c is [RT] (process, install, set_theme, panic);
// engine_setup.c is non-RT (new, free, load_model, theme_from_midi).
//
// BEHAVIOUR (what hosts and tests can rely on)
//
// Time.  Positions are model ticks (vocab.tpq per quarter note).  A beat is
// tpq*4/beat_unit ticks, a bar round(beats_per_bar * beat) ticks, and the
// host position at frame 0 is bar*bar_ticks + bar_beat*beat.  Tempo (bpm, in
// beats per minute) maps ticks to frames within the block.  Without a valid
// transport the engine free-runs in 4/4 at controls.bpm from tick 0 (after a
// model swap: from where it was), always rolling.
// Continuity.  The engine keeps its own play head (the previous block's
// start plus its length).  A host position within 1/8 tick of it is the same
// position (hosts such as Ardour send a rounded position every cycle); the
// engine keeps its own.  A larger difference while rolling, or a position
// that moved while stopped, is a relocation (seek or loop wrap): every
// sounding note ends at frame 0 and playback continues from the new
// position, a position within 1/8 tick of a grid tick snapping onto it, so a
// note exactly there plays at frame 0.  A tempo change alone only re-anchors
// the clock.  A meter change is a relocation that also forgets the timeline.
// Rolling -> stopped ends every note in that block; nothing plays while
// stopped; rolling again at the same position continues the lookahead.
// Lookahead.  Tokens are generated until the generation cursor reaches the
// block end plus lookahead_beats beats, at most cantus_engine_step_budget()
// LSTM steps per block (2 + n_frames/32, capped at CANTUS_MAX_STEPS_PER_RUN);
// a block whose budget ran out first counts steps_starved, and a note that
// thereby comes out after its time goes out at frame 0 (late_events).
// Decisions depend only on the model, seed, controls and ticks, so the same
// (pitch, tick) sequence comes out at any block size and sample rate.
// Metric input.  A step that consumes a token is given the metric position
// of the tick at which that token occurs (for a SHIFT: where it starts), as
// cantus_engine_position() computes it -- the convention of the trainer's
// corpus reader (models/train/corpus.c).
// Notes.  Every note-on gets its note-off.  The output tracker never strikes
// a pitch already sounding on the channel (it ends it first), never exceeds
// max_voices, drops a note-on whose transposed pitch falls outside
// note_lo..note_hi or the key/scale at the time it is played, and ends any
// note that outlived max_note_beats by a quarter note.  Stop, relocation,
// style change, model change, panic and deactivate (cantus_engine_panic /
// _flush) end every sounding note in that block.
// Controls.  Out-of-range values and NaN are clamped (NaN -> default).
//   transpose, note_lo/hi, key_root/scale: the sampler's masks are set in
//     model pitch space so that OUTPUT pitches (model + transpose) obey them.
//   velocity: 1..127 fixed; 0 = VELOCITY tokens when the model has them,
//     else 96.  humanise h adds up to +-32h, drawn from a hash of (seed,
//     onset tick, pitch): the same note gets the same velocity on every pass.
//   gate g: a note's length (from NOTE_ON to its NOTE_OFF token; a
//     zero-length note counts one tick) times g.  Lengthening (g > 1) stops
//     at max_note_beats (or the note's own length if longer); a gated
//     note-off that would fall after the next note-on of its pitch moves to
//     that note-on (offs sort before ons at equal times).  Shortening (g < 1)
//     cannot end a note earlier than lookahead_beats before its NOTE_OFF
//     token (its length is unknown until the token is generated), so with
//     the default one-beat lookahead g < 1 shortens notes by at most a beat.
//   swing s: each quarter note is warped monotonically so that its second
//     8th starts s * (an 8th) later: x -> x*(1+s) for x < 1/2 quarter, and
//     the rest compressed linearly into the remaining time.  Applies to
//     note-ons and note-offs; the beat itself never moves.
//   style/style_b/blend: the style vector is (1-blend)*e[style] +
//     blend*e[style_b], applied when any of them changes.  Changing style
//     (while blend < 1) or style_b (while blend > 0) is a style change: notes
//     off, and everything ahead of the play head is generated again in the
//     new style; moving blend alone morphs without cutting.
//   regenerate (rising edge): everything ahead of the play head is generated
//     again with a fresh random stream.  seed change: the same, and the whole
//     timeline is forgotten.  panic (rising edge): all notes off now.
// Timeline memory.  When generation enters a bar it writes the bar's
// checkpoint (LSTM state, RNG, last token, note state, cursor) into the
// model's extra region (CANTUS_TIMELINE_BARS bars, slot = bar mod that).
// When it enters a bar that already has a checkpoint it continues from the
// checkpoint instead (so a pass over remembered bars replays them), unless
// listen is on (a player shapes the timeline; it is rewritten as it plays).
// A relocation restores the checkpoint of the target bar and replays the bar
// silently up to the target, or starts fresh at that bar (zero state, RNG
// from seed, regenerate count and bar) when there is none.  Hence, with the
// same controls, a relocation to an already played bar replays the same
// notes, a loop stays the same, and an offline bounce equals the live pass.
// Invalidation: seed change and set_theme forget every bar; regenerate and a
// style change forget the bars after the current one (the current bar keeps
// its old start, unless the change comes before the bar's first token, as on
// its line: then the bar too); a meter change or model install starts a new
// timeline;
// releasing hold forgets the held bars and those after them.
// Hold.  While hold is set the last hold_bars bars up to the next bar line
// (the current bar included) repeat exactly from that bar line on: the notes
// are replayed, not regenerated, and the network is paused (no steps).
// Transpose, range, gate, swing, velocity still apply live.  On release the
// loop plays to the next bar line and the network continues from where it
// paused, moved by whole bars.  A relocation while held keeps the loop in
// phase with the bar lines.
// Theme.  cantus_engine_set_theme(): the theme's events are played from
// bar 0 as observed tokens (stepped, not sampled) and emitted as notes; the
// network continues after the theme's last bar.  A relocation into the
// theme's bars resumes the theme from that bar.
// Listen (controls.listen).  MIDI note-on/off input (any channel) becomes
// observed tokens at its tick (rounded to the grid, never before the block
// start); pitch = input - transpose, ignored outside the vocabulary.  While
// the model generates, a player note-on takes over: the model's lookahead
// from that tick is undone, its sounding notes end there, and it follows
// the player (input is not echoed).  When the player has been idle for
// wait_beats beats (no input event, no note held; a note held longer than
// max_note_beats counts as released) the model resumes on the next beat
// and continues the player's music.  Pauses longer than two bars are
// shortened for the network (the cursor skips whole bars).
// Call and response (controls.call_response, implies listening).  The model
// waits for the player first; after the player has been idle as above it
// answers for response_bars bars from the next beat, then ends its notes and
// waits for the player again.
#ifndef CANTUS_ENGINE_H
#define CANTUS_ENGINE_H

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
// timeline memory (CANTUS_TIMELINE_BARS checkpoints).  Non-RT.
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
// Sets (theme non-NULL) or clears the theme; takes effect from bar 0 of the
// timeline, which it resets.  A theme whose vocabulary differs from the
// model's is ignored.  [RT] (bounded copy)
CANTUS_RT void cantus_engine_set_theme(CantusEngine *e, const CantusTheme *theme);

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
