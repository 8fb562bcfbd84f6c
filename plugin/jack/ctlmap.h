// SPDX-License-Identifier: GPL-3.0-or-later
// The control table of cantus-jack: one row per CantusControls field (name,
// kind, range), so the command line (--temperature 0.8), the stdin commands
// (set temperature 0.8), the terminal view and MIDI CC all reach every
// engine control the same way; and the CC map (CC number -> control and
// range) with its text format (plugin/jack/ccmap documents the default).
//
// Allocation contract: none; a CantusCcMap is a plain value the caller
// owns.  Thread class: cantus_ctlmap_set(), cantus_ctlmap_get() and
// cantus_ctlmap_cc() are [RT] (bounded arithmetic); the parsers, the
// formatter and the map loaders are non-RT.
#ifndef CANTUS_CTLMAP_H
#define CANTUS_CTLMAP_H

#include "engine.h"
#include "status.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  CANTUS_CTL_FLOAT, // real value in [lo, hi]
  CANTUS_CTL_INT,   // integer in [lo, hi]
  CANTUS_CTL_BOOL,  // 0 or 1 (CC: >= 64 is on)
  CANTUS_CTL_PULSE, // edge-triggered action: 1 for one block (panic, regenerate)
  CANTUS_CTL_STYLE, // style index, 0..n_styles-1 of the installed model (names accepted)
  CANTUS_CTL_SCALE, // CantusScale (names accepted)
  CANTUS_CTL_KEY,   // pitch class 0..11 (C, C#, Db ... accepted)
} CantusCtlKind;

// Control indices, in table order.
typedef enum {
  CANTUS_CTLID_STYLE,
  CANTUS_CTLID_STYLE_B,
  CANTUS_CTLID_BLEND,
  CANTUS_CTLID_TEMPERATURE,
  CANTUS_CTLID_TOP_P,
  CANTUS_CTLID_DENSITY,
  CANTUS_CTLID_TRANSPOSE,
  CANTUS_CTLID_KEY_ROOT,
  CANTUS_CTLID_SCALE,
  CANTUS_CTLID_NOTE_LO,
  CANTUS_CTLID_NOTE_HI,
  CANTUS_CTLID_MAX_VOICES,
  CANTUS_CTLID_VELOCITY,
  CANTUS_CTLID_HUMANISE,
  CANTUS_CTLID_GATE,
  CANTUS_CTLID_SWING,
  CANTUS_CTLID_CHANNEL,
  CANTUS_CTLID_SEED,
  CANTUS_CTLID_HOLD,
  CANTUS_CTLID_HOLD_BARS,
  CANTUS_CTLID_REGENERATE,
  CANTUS_CTLID_LISTEN,
  CANTUS_CTLID_CALL_RESPONSE,
  CANTUS_CTLID_RESPONSE_BARS,
  CANTUS_CTLID_WAIT_BEATS,
  CANTUS_CTLID_BPM,
  CANTUS_CTLID_PANIC,
  CANTUS_CTLID_MAX_NOTE_BEATS,
  CANTUS_CTLID_COUNT
} CantusCtlId;

typedef struct {
  const char *name; // control name, as in CantusControls ("top_p"); CLI uses dashes
  CantusCtlKind kind;
  double lo, hi;    // range (STYLE: hi is replaced by n_styles-1)
  double step;      // terminal-view increment
  const char *help; // one line
} CantusCtlInfo;

// Number of controls and the row of control i (0 <= i < count).
int cantus_ctlmap_count(void);
const CantusCtlInfo *cantus_ctlmap_info(int i);

// Index of a control by name; '-' and '_' are interchangeable, case is
// ignored.  -1 if none.
int cantus_ctlmap_find(const char *name);

// Reads / writes control i of c as a double.  set clamps into the row's
// range (STYLE into 0..n_styles-1 when n_styles > 0) and rounds integers.
// [RT]
CANTUS_RT double cantus_ctlmap_get(const CantusControls *c, int i);
CANTUS_RT void cantus_ctlmap_set(CantusControls *c, int i, double v, int n_styles);

// Parses a value for control i: numbers, on/off/true/false/yes/no for
// bools, style names (needs the model m, may be NULL for numeric styles),
// scale names, key names.  Out-of-range numbers are refused.  On failure
// writes one line (without the control name) to err and returns false.
// Non-RT.
bool cantus_ctlmap_parse(int i,
                         const char *text,
                         const CantusModel *m,
                         double *v,
                         char *err,
                         size_t err_size);

// Human-readable value ("0.80", "on", "beta", "minor", "D#").  Non-RT.
void cantus_ctlmap_format(int i, double v, const CantusModel *m, char *buf, size_t size);

// One CC number's mapping: control index (-1 = unmapped) and the range the
// CC's 0..127 spans (lo > hi inverts; STYLE with lo = hi = -1 spans all
// styles of the installed model).
typedef struct {
  short ctl;
  float lo, hi;
} CantusCcSlot;

typedef struct {
  CantusCcSlot cc[128]; // by CC number; omni (any channel)
} CantusCcMap;

// The built-in default map; plugin/jack/ccmap holds the same text, documented.
const char *cantus_ctlmap_default_text(void);
void cantus_ctlmap_default(CantusCcMap *map);

// Parses a map: lines "CC CONTROL [LO HI]", '#' starts a comment, blank
// lines ignored; a CC not listed is unmapped.  name is used in messages.
// Refuses (CANTUS_ERR_FORMAT, one line "NAME:LINE: problem") a bad CC
// number, an unknown control, a bad or out-of-range bound, extra words, a
// CC listed twice.  The map is only written on success.  Non-RT.
CantusStatus cantus_ctlmap_parse_map(const char *text,
                                     const char *name,
                                     CantusCcMap *map,
                                     CantusError *err);
CantusStatus cantus_ctlmap_load_map(const char *path, CantusCcMap *map, CantusError *err);

// Applies CC `cc` with `value` (0..127) to c.  Returns the control index
// changed, or -1 when the CC is unmapped; *v receives the new value.  A
// PULSE control is set to 1 when value >= 64 (the host clears it after the
// block).  [RT]
CANTUS_RT int cantus_ctlmap_cc(const CantusCcMap *map,
                               CantusControls *c,
                               int n_styles,
                               int cc,
                               int value,
                               double *v);

#endif
