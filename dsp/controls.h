// SPDX-License-Identifier: GPL-3.0-or-later
// The one table of engine controls.  Every CantusControls field has one row
// here: its symbol (the LV2 port symbol, the `set NAME` of cantus-jack and,
// with '-' for '_', the command-line option), LV2 port index and label,
// kind, the field it is stored in, range, default, unit, scale points, CC
// default and a one-line help.  Everything else derives from it: the
// defaults, the engine's clamping, the LV2 port reading, the TTL control
// ports (generated at build time), the options and --help of cantus-gen and
// cantus-jack, the CC map and the terminal view.  Adding a control is one
// row in CANTUS_CONTROL_TABLE plus the code that uses the new field.
//
// Values are "user values": what a port, an option or `set` carries.  They
// equal the field's value except for a row with a base (channel: the user
// counts 1..16, the field holds 0..15).
//
// Text is read one way in every tool (_parse: options, `set`, the CC map):
// styles by name or by their number counted from 1, as the terminal view
// lists them ("1:ashover ... 11:slide"), while the user value (the LV2 port,
// a CC, a program change) stays the 0-based index: text "11" is value 10.
// Pitches (the midiNote rows) by number 0..127 or by name, C4 = 60 (C-1 =
// 0 .. G9 = 127), sharps '#' or 's', flats 'b'.
//
// Allocation contract: none; the table is static and read-only.  Thread
// class: _info, _get, _set, _clamp and _snap are [RT] (bounded arithmetic on
// the table); _default, _find, _parse, _format and the pitch and style text
// helpers (_is_pitch, _parse_note, _parse_note_range, _note_name,
// _style_list) are non-RT but allocate nothing and do no I/O (messages go
// into the caller's buffer).
#ifndef CANTUS_CONTROLS_H
#define CANTUS_CONTROLS_H

#include "engine.h"
#include "rt.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  CANTUS_KIND_FLOAT,   // real value in [min, max]
  CANTUS_KIND_INT,     // whole number in [min, max]
  CANTUS_KIND_ENUM,    // whole number, one of the scale points (names accepted)
  CANTUS_KIND_STYLE,   // style index; the names come from the model at run time
  CANTUS_KIND_TOGGLE,  // on / off
  CANTUS_KIND_TRIGGER, // edge-triggered action: on for one block (panic, regenerate)
} CantusControlKind;

// How the CantusControls field is stored.
typedef enum {
  CANTUS_FIELD_FLOAT, // float
  CANTUS_FIELD_INT,   // int, or an enum type (CantusScale)
  CANTUS_FIELD_U32,   // uint32_t
  CANTUS_FIELD_BOOL,  // bool
} CantusFieldType;

// A named value: an LV2 scale point, and for ENUM rows a name accepted by
// the parsers (name NULL: numbers only).
typedef struct {
  int value;
  const char *label; // LV2 rdfs:label ("C#/Db", "Natural minor")
  const char *name;  // parser and display name ("C#", "minor"), or NULL
} CantusControlPoint;

typedef struct {
  const char *symbol; // LV2 symbol and `set` name ("top_p"); option --top-p
  const char *label;  // LV2 port name ("Top-p")
  int port;           // LV2 port index (plugin/lv2/ports.h), -1 for none
  CantusControlKind kind;
  size_t offset;        // of the field in CantusControls
  CantusFieldType type; // of the field
  double min, max;      // user values
  double dflt;          // user value
  int base;             // user value = field + base (channel: 1)
  const char *unit;     // LV2 units: local name ("bpm", "midiNote"), or NULL
  const CantusControlPoint *points;
  int n_points;
  double step;      // terminal-view increment
  short cc[2];      // default MIDI CCs (0 = none; CC 0 is bank select)
  float cc_min;     // the default CCs' 0..127 span cc_min..cc_max;
  float cc_max;     // equal: the whole range (styles: all of the model's)
  const char *help; // one line: --help, TTL rdfs:comment, terminal view
} CantusControlInfo;

// The table.  One row per control, in CantusControls order; X(ID, fields)
// with fields as designated initializers of CantusControlInfo.  FIELD()
// names the CantusControls member and its type, POINTS() a point array of
// dsp/controls.c.
// clang-format off
#define CANTUS_CONTROL_TABLE(X) \
  X(STYLE,          .symbol = "style",          .label = "Style",             .port = 3,  .kind = CANTUS_KIND_STYLE,   FIELD(style, INT),            .min = 0,    .max = CANTUS_MAX_STYLES - 1, .dflt = 0,    .step = 1,    .cc = { 14 },       .help = "style the model plays") \
  X(STYLE_B,        .symbol = "style_b",        .label = "Style B",           .port = 4,  .kind = CANTUS_KIND_STYLE,   FIELD(style_b, INT),          .min = 0,    .max = CANTUS_MAX_STYLES - 1, .dflt = 0,    .step = 1,    .cc = { 9 },        .help = "second style, morphed in by blend") \
  X(BLEND,          .symbol = "blend",          .label = "Blend",             .port = 5,  .kind = CANTUS_KIND_FLOAT,   FIELD(blend, FLOAT),          .min = 0,    .max = 1,     .dflt = 0,    .step = 0.05, .cc = { 15 },       .help = "0 = style .. 1 = style_b") \
  X(TEMPERATURE,    .symbol = "temperature",    .label = "Temperature",       .port = 6,  .kind = CANTUS_KIND_FLOAT,   FIELD(temperature, FLOAT),    .min = 0,    .max = 2,     .dflt = 1,    .step = 0.05, .cc = { 1 },        .help = "0 = argmax .. 2 = wild") \
  X(TOP_P,          .symbol = "top_p",          .label = "Top-p",             .port = 7,  .kind = CANTUS_KIND_FLOAT,   FIELD(top_p, FLOAT),          .min = 0.05, .max = 1,     .dflt = 0.95, .step = 0.05, .cc = { 16 },       .help = "nucleus sampling mass") \
  X(DENSITY,        .symbol = "density",        .label = "Density",           .port = 8,  .kind = CANTUS_KIND_FLOAT,   FIELD(density, FLOAT),        .min = -1,   .max = 1,     .dflt = 0,    .step = 0.1,  .cc = { 2 },        .help = "fewer (-1) .. more (+1) notes") \
  X(TRANSPOSE,      .symbol = "transpose",      .label = "Transpose",         .port = 9,  .kind = CANTUS_KIND_INT,     FIELD(transpose, INT),        .min = -24,  .max = 24,    .dflt = 0,    .step = 1,    .cc = { 17 }, .cc_min = -12, .cc_max = 12, .unit = "semitone12TET", .help = "semitones up or down") \
  X(KEY_ROOT,       .symbol = "key_root",       .label = "Key",               .port = 10, .kind = CANTUS_KIND_ENUM,    FIELD(key_root, INT),         .min = 0,    .max = 11,    .dflt = 0,    .step = 1,    .cc = { 18 },       POINTS(key_points), .help = "key root (flats too: Db)") \
  X(SCALE,          .symbol = "scale",          .label = "Scale",             .port = 11, .kind = CANTUS_KIND_ENUM,    FIELD(scale, INT),            .min = 0,    .max = CANTUS_N_SCALES - 1, .dflt = 0, .step = 1, .cc = { 19 },       POINTS(scale_points), .help = "allowed pitch classes on the key") \
  X(NOTE_LO,        .symbol = "note_lo",        .label = "Lowest note",       .port = 12, .kind = CANTUS_KIND_INT,     FIELD(note_lo, INT),          .min = 0,    .max = 127,   .dflt = 0,    .step = 1,    .cc = { 20 },       .unit = "midiNote", .help = "lowest output note") \
  X(NOTE_HI,        .symbol = "note_hi",        .label = "Highest note",      .port = 13, .kind = CANTUS_KIND_INT,     FIELD(note_hi, INT),          .min = 0,    .max = 127,   .dflt = 127,  .step = 1,    .cc = { 21 },       .unit = "midiNote", .help = "highest output note") \
  X(MAX_VOICES,     .symbol = "max_voices",     .label = "Max voices",        .port = 14, .kind = CANTUS_KIND_INT,     FIELD(max_voices, INT),       .min = 1,    .max = CANTUS_MAX_VOICES, .dflt = 8, .step = 1, .cc = { 22 },       .help = "most notes sounding at once") \
  X(VELOCITY,       .symbol = "velocity",       .label = "Velocity",          .port = 15, .kind = CANTUS_KIND_INT,     FIELD(velocity, INT),         .min = 0,    .max = 127,   .dflt = 0,    .step = 1,    .cc = { 23 },       POINTS(velocity_points), .help = "fixed velocity, 0 = the model's") \
  X(HUMANISE,       .symbol = "humanise",       .label = "Humanise",          .port = 16, .kind = CANTUS_KIND_FLOAT,   FIELD(humanise, FLOAT),       .min = 0,    .max = 1,     .dflt = 0,    .step = 0.05, .cc = { 24 },       .help = "random velocity spread") \
  X(GATE,           .symbol = "gate",           .label = "Gate",              .port = 17, .kind = CANTUS_KIND_FLOAT,   FIELD(gate, FLOAT),           .min = 0.1,  .max = 2,     .dflt = 1,    .step = 0.05, .cc = { 25 },       .help = "note length scale") \
  X(SWING,          .symbol = "swing",          .label = "Swing",             .port = 18, .kind = CANTUS_KIND_FLOAT,   FIELD(swing, FLOAT),          .min = 0,    .max = 0.75,  .dflt = 0,    .step = 0.05, .cc = { 26 },       .help = "delay of off-beat eighths") \
  X(CHANNEL,        .symbol = "channel",        .label = "Channel",           .port = 19, .kind = CANTUS_KIND_ENUM,    FIELD(channel, INT),          .min = 1,    .max = 16,    .dflt = 1,    .step = 1,    .cc = { 27 },       .base = 1, POINTS(channel_points), .help = "output MIDI channel") \
  X(SEED,           .symbol = "seed",           .label = "Seed",              .port = 20, .kind = CANTUS_KIND_INT,     FIELD(seed, U32),             .min = 0,    .max = 65535, .dflt = 1,    .step = 1,    .cc = { 85 }, .cc_min = 1, .cc_max = 128, .help = "seed of the timeline") \
  X(HOLD,           .symbol = "hold",           .label = "Hold",              .port = 21, .kind = CANTUS_KIND_TOGGLE,  FIELD(hold, BOOL),            .min = 0,    .max = 1,     .dflt = 0,    .step = 1,    .cc = { 64 },       .help = "loop the phrase of hold_bars bars") \
  X(HOLD_BARS,      .symbol = "hold_bars",      .label = "Hold length",       .port = 22, .kind = CANTUS_KIND_ENUM,    FIELD(hold_bars, INT),        .min = 1,    .max = 8,     .dflt = 4,    .step = 1,    .cc = { 28 },       .unit = "bar", POINTS(hold_points), .help = "bars held") \
  X(REGENERATE,     .symbol = "regenerate",     .label = "Regenerate",        .port = 23, .kind = CANTUS_KIND_TRIGGER, FIELD(regenerate, BOOL),      .min = 0,    .max = 1,     .dflt = 0,    .step = 1,    .cc = { 67 },       .help = "forget the notes ahead") \
  X(LISTEN,         .symbol = "listen",         .label = "Listen",            .port = 24, .kind = CANTUS_KIND_TOGGLE,  FIELD(listen, BOOL),          .min = 0,    .max = 1,     .dflt = 0,    .step = 1,    .cc = { 65 },       .help = "feed MIDI input notes to the model") \
  X(CALL_RESPONSE,  .symbol = "call_response",  .label = "Call and response", .port = 25, .kind = CANTUS_KIND_TOGGLE,  FIELD(call_response, BOOL),   .min = 0,    .max = 1,     .dflt = 0,    .step = 1,    .cc = { 66 },       .help = "answer after the player pauses") \
  X(RESPONSE_BARS,  .symbol = "response_bars",  .label = "Response length",   .port = 26, .kind = CANTUS_KIND_INT,     FIELD(response_bars, INT),    .min = 1,    .max = 16,    .dflt = 2,    .step = 1,    .cc = { 29 },       .unit = "bar", .help = "bars answered") \
  X(WAIT_BEATS,     .symbol = "wait_beats",     .label = "Response wait",     .port = 27, .kind = CANTUS_KIND_INT,     FIELD(wait_beats, INT),       .min = 1,    .max = 16,    .dflt = 2,    .step = 1,    .cc = { 30 },       .unit = "beat", .help = "beats of silence before answering") \
  X(BPM,            .symbol = "bpm",            .label = "Free-run tempo",    .port = 28, .kind = CANTUS_KIND_FLOAT,   FIELD(bpm, FLOAT),            .min = 20,   .max = 300,   .dflt = 120,  .step = 1,    .cc = { 3 }, .cc_min = 60, .cc_max = 180, .unit = "bpm", .help = "own tempo (no host transport)") \
  X(PANIC,          .symbol = "panic",          .label = "Panic",             .port = 31, .kind = CANTUS_KIND_TRIGGER, FIELD(panic, BOOL),           .min = 0,    .max = 1,     .dflt = 0,    .step = 1,    .cc = { 120, 123 }, .help = "all notes off now") \
  X(MAX_NOTE_BEATS, .symbol = "max_note_beats", .label = "Longest note",      .port = 30, .kind = CANTUS_KIND_INT,     FIELD(max_note_beats, INT),   .min = 1,    .max = 32,    .dflt = 8,    .step = 1,    .cc = { 31 },       .unit = "beat", .help = "longest note in beats") \
  X(PART2_CHANNEL,  .symbol = "part2_channel",  .label = "Part 2 channel",   .port = 34, .kind = CANTUS_KIND_INT,     FIELD(part2_channel, INT),    .min = 0,    .max = 16,    .dflt = 2,    .step = 1,    .cc = { 102 },      .help = "output MIDI channel of part 2 of a model with parts, 0 mutes it") \
  X(PART3_CHANNEL,  .symbol = "part3_channel",  .label = "Part 3 channel",   .port = 35, .kind = CANTUS_KIND_INT,     FIELD(part3_channel, INT),    .min = 0,    .max = 16,    .dflt = 3,    .step = 1,    .cc = { 103 },      .help = "output MIDI channel of part 3 of a model with parts, 0 mutes it") \
  X(PART4_CHANNEL,  .symbol = "part4_channel",  .label = "Part 4 channel",   .port = 36, .kind = CANTUS_KIND_INT,     FIELD(part4_channel, INT),    .min = 0,    .max = 16,    .dflt = 4,    .step = 1,    .cc = { 104 },      .help = "output MIDI channel of part 4 of a model with parts, 0 mutes it") \
  X(CHORD_SOURCE,   .symbol = "chord_source",   .label = "Chord source",      .port = 37, .kind = CANTUS_KIND_ENUM,    FIELD(chord_source, INT),     .min = 0,    .max = 2,     .dflt = 0,    .step = 1,    .cc = { 106 },      POINTS(chord_source_points), .help = "chords from: off, the chord input, or the MIDI input below the split note") \
  X(CHORD_SPLIT,    .symbol = "chord_split",    .label = "Chord split",       .port = 38, .kind = CANTUS_KIND_INT,     FIELD(chord_split, INT),      .min = 0,    .max = 127,   .dflt = 60,   .step = 1,    .cc = { 107 },      .unit = "midiNote", .help = "with chord source split: input notes below this are chords") \
  X(CHORD_STRENGTH, .symbol = "chord_strength", .label = "Chord strength",    .port = 39, .kind = CANTUS_KIND_FLOAT,   FIELD(chord_strength, FLOAT), .min = 0,    .max = 1,     .dflt = 0,    .step = 0.05, .cc = { 105 },      .help = "extra pull toward chord tones, 0 = the network alone")
// clang-format on

#define CANTUS_CONTROL_ID(id, ...) CANTUS_CONTROL_##id,
typedef enum { CANTUS_CONTROL_TABLE(CANTUS_CONTROL_ID) CANTUS_N_CONTROLS } CantusControlId;
#undef CANTUS_CONTROL_ID

// Row `id`, or NULL when id is not a control.  [RT]
CANTUS_RT const CantusControlInfo *cantus_controls_info(int id);

// The control named `name` ('-' and '_' are the same, case is ignored), or
// -1.  Three older spellings are aliases of the table's names: "humanize"
// (humanise), "key" (key_root) and "voices" (max_voices).  Non-RT.
int cantus_controls_find(const char *name);

// cantus_controls_default() (declared in engine.h) fills every field from
// the table's dflt column.

// User value of control id in c (0 for a bad id).  [RT]
CANTUS_RT double cantus_controls_get(const CantusControls *c, int id);

// Sets control id of c from a user value: NaN is ignored, the value is
// clamped into [min, max] (style controls into 0..n_styles-1 when
// n_styles > 0), whole-number kinds are rounded to the nearest (half to
// even), toggles and triggers are on above 0.5.  [RT]
CANTUS_RT void cantus_controls_set(CantusControls *c, int id, double v, int n_styles);

// Clamps every field of c into its row's range: a NaN float becomes its
// default, style controls go into 0..n_styles-1 (n_styles >= 1).  The rules
// particular to one control (key wrap, scale reset, note range order, hold
// length) are the engine's.  [RT]
CANTUS_RT void cantus_controls_clamp(CantusControls *c, int n_styles);

// The scale point of an ENUM row nearest to v (ties go up), else v.  [RT]
CANTUS_RT double cantus_controls_snap(int id, double v);

// Parses text as a user value of control id: numbers in [min, max] (whole
// for every kind but FLOAT); for ENUM rows a point's name (key_root also
// takes flats and 's': "Db", "fs") or value; for the midiNote rows a pitch
// (cantus_controls_parse_note); for styles a name of model m or a number
// counted from 1 (1..n_styles; m may be NULL: numbers 1..max+1 only), the
// value being the 0-based index; for toggles and triggers on, off, true,
// false, yes, no, 1, 0.  Returns false and one line (without the control's
// name) in msg on failure: "5 is outside 0..2", "'x' is not a number
// (0..2)", "unknown style 'x' (1:alpha 2:beta 3:gamma)".  Non-RT.
bool cantus_controls_parse(int id,
                           const char *text,
                           const CantusModel *m,
                           double *v,
                           char *msg,
                           size_t msg_size);

// Human-readable user value ("0.80", "on", "beta", "minor", "D#", "3",
// pitches "C4 (60)"; a style by name, or without the model by its number
// from 1).  Non-RT.
void cantus_controls_format(int id, double v, const CantusModel *m, char *buf, size_t size);

// True for a row whose values are MIDI pitches (unit midiNote: note_lo,
// note_hi).  Non-RT.
bool cantus_controls_is_pitch(int id);

// Reads text as a pitch: a whole number, or a note name: a letter A..G in
// either case, optionally '#' or 's' (sharp) or 'b' (flat), then the octave
// -1..9, C4 = 60 ("C4", "c#3", "Db5", "B-1", "Cs2").  *note may lie outside
// 0..127 ("G#9" is 128): the caller checks the range.  False when text is
// neither.  Non-RT.
bool cantus_controls_parse_note(const char *text, int *note);

// Reads "LO-HI", two pitches (numbers or names: "48-72", "C3-C5", "C-1-G9")
// with 0 <= LO <= HI <= 127.  Returns false and one line in msg otherwise.
// Non-RT.
bool cantus_controls_parse_note_range(const char *text,
                                      int *lo,
                                      int *hi,
                                      char *msg,
                                      size_t msg_size);

// The name of MIDI note 0..127 with sharps ("C4", "F#-1"), "?" outside.
// Non-RT.
void cantus_controls_note_name(int note, char *buf, size_t size);

// The styles of m as every tool lists them, numbered from 1: "1:ashover
// 2:hornpipe ... 11:slide" (cut to fit size).  Non-RT.
void cantus_controls_style_list(const CantusModel *m, char *buf, size_t size);

#endif
