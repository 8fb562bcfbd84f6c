// SPDX-License-Identifier: GPL-3.0-or-later
// The MIDI CC map of cantus-jack: CC number -> engine control (a row of
// the control table, dsp/controls.h) and the range the CC's 0..127 spans,
// with its text format (plugin/jack/ccmap documents it and holds the
// default, which the table's cc columns define).
//
// Allocation contract: none; a CantusCcMap is a plain value the caller
// owns.  Thread class: cantus_ctlmap_cc() is [RT] (bounded arithmetic); the
// map builders and loaders are non-RT.
#ifndef CANTUS_CTLMAP_H
#define CANTUS_CTLMAP_H

#include "controls.h"
#include "engine.h"
#include "status.h"

#include <stdbool.h>
#include <stddef.h>

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

// The built-in default map: the control table's cc, cc_min and cc_max
// columns; plugin/jack/ccmap is the same map as text, documented.
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

// Applies CC `cc` with `value` (0..127) to c (an enumeration goes to its
// nearest point: hold_bars 1, 2, 4 or 8).  Returns the control changed, or
// -1 when the CC is unmapped; *v receives its new user value.  A toggle is
// on at value >= 64; a trigger is set to 1 at value >= 64, or at any value
// on CC 120..127 (the host clears it after the block).  [RT]
CANTUS_RT int cantus_ctlmap_cc(const CantusCcMap *map,
                               CantusControls *c,
                               int n_styles,
                               int cc,
                               int value,
                               double *v);

#endif
