// SPDX-License-Identifier: GPL-3.0-or-later
// The LV2 ports of the Cantus plugin.  The engine controls' ports (indices
// 3..28, 30, 31 and 34..39) are rows of the control table (dsp/controls.h: index,
// symbol, range, default); this header names the others: the atom ports,
// free_run (a host option, not an engine control) and the two outputs.
// ttl/cantus.ttl.in holds the non-control ports and plugin/lv2/lv2_ttl.c
// generates the control ports into it; tests/unit/test_lv2.c checks the
// indices and symbols through lilv and tests/unit/test_controls.c every
// control port field by field.  Moving an index is a minor-version bump;
// removing a port needs a new plugin URI.  A new control's port takes the
// next free index, CANTUS_N_PORTS and up.
// Thread class: header only (constants and a table lookup).
#ifndef CANTUS_PORTS_H
#define CANTUS_PORTS_H

#include "controls.h"

typedef enum {
  CANTUS_PORT_CONTROL = 0,   // atom in: MIDI, time:Position, patch:Set/Get
  CANTUS_PORT_MIDI_OUT = 1,  // atom out: generated MIDI, frame-accurate
  CANTUS_PORT_NOTIFY = 2,    // atom out: patch:Set notifications (model, styles, theme)
  CANTUS_PORT_FREE_RUN = 29, // toggle: ignore the host transport, play at bpm
  CANTUS_PORT_BAR = 32,      // output: current bar, counted from 1
  CANTUS_PORT_SURPRISE = 33, // output: -log p of the last note-on, nats
  CANTUS_PORT_CHORDS = 40,   // atom in: MIDI whose notes are chords (chord source "input")
  CANTUS_N_PORTS = 41        // 34..36: part2_channel .. part4_channel, 37..39: chord_source,
                             // chord_split, chord_strength (control table)
} CantusPort;

// The free_run port, described as a table row so the TTL generator and the
// tests treat it like the engine controls' ports (it has no engine field).
static const CantusControlInfo cantus_port_free_run = {
  .symbol = "free_run",
  .label = "Free run",
  .port = CANTUS_PORT_FREE_RUN,
  .kind = CANTUS_KIND_TOGGLE,
  .min = 0,
  .max = 1,
  .dflt = 0,
  .help = "ignore the host transport and play at the free-run tempo",
};

// The control-table row of port p (free_run included), or NULL for the
// atom and output ports.
static inline const CantusControlInfo *cantus_port_control(uint32_t p)
{
  if (p == CANTUS_PORT_FREE_RUN) {
    return &cantus_port_free_run;
  }
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    if (cantus_controls_info(i)->port == (int)p) {
      return cantus_controls_info(i);
    }
  }
  return NULL;
}

// The port's lv2:symbol; "" for p >= CANTUS_N_PORTS.
static inline const char *cantus_port_symbol(uint32_t p)
{
  const CantusControlInfo *t = cantus_port_control(p);
  switch (p) {
  case CANTUS_PORT_CONTROL:
    return "control";
  case CANTUS_PORT_MIDI_OUT:
    return "midi_out";
  case CANTUS_PORT_NOTIFY:
    return "notify";
  case CANTUS_PORT_BAR:
    return "bar";
  case CANTUS_PORT_SURPRISE:
    return "surprise";
  case CANTUS_PORT_CHORDS:
    return "chords";
  default:
    return t && p < CANTUS_N_PORTS ? t->symbol : "";
  }
}

#endif
