// SPDX-License-Identifier: GPL-3.0-or-later
// The LV2 port enum of the Cantus plugin: index, symbol, units and range of
// every port.  ttl/cantus.ttl.in declares the same ports with the same
// indices and symbols; tests/test_lv2.c checks the two agree (through lilv),
// and that the TTL defaults are the engine's defaults.  Moving an index is a
// minor-version bump; removing a port needs a new plugin URI.
// Thread class: header only (constants and a table lookup).
#ifndef CANTUS_PORTS_H
#define CANTUS_PORTS_H

typedef enum {
  CANTUS_PORT_CONTROL = 0,        // atom in: MIDI, time:Position, patch:Set/Get
  CANTUS_PORT_MIDI_OUT = 1,       // atom out: generated MIDI, frame-accurate
  CANTUS_PORT_NOTIFY = 2,         // atom out: patch:Set notifications (model, styles, theme)
  CANTUS_PORT_STYLE = 3,          // style index, 0..63 (clamped to the model's styles)
  CANTUS_PORT_STYLE_B = 4,        // second style of the blend, 0..63
  CANTUS_PORT_BLEND = 5,          // 0 = style .. 1 = style B
  CANTUS_PORT_TEMPERATURE = 6,    // 0 (argmax) .. 2
  CANTUS_PORT_TOP_P = 7,          // nucleus, 0.05 .. 1
  CANTUS_PORT_DENSITY = 8,        // -1 (sparser) .. 1 (busier)
  CANTUS_PORT_TRANSPOSE = 9,      // semitones, -24 .. 24
  CANTUS_PORT_KEY_ROOT = 10,      // pitch class 0 (C) .. 11 (B)
  CANTUS_PORT_SCALE = 11,         // CantusScale, 0 .. CANTUS_N_SCALES-1
  CANTUS_PORT_NOTE_LO = 12,       // lowest output note, MIDI 0..127
  CANTUS_PORT_NOTE_HI = 13,       // highest output note, MIDI 0..127
  CANTUS_PORT_MAX_VOICES = 14,    // 1 .. 16
  CANTUS_PORT_VELOCITY = 15,      // 1..127 fixed; 0 = the model's
  CANTUS_PORT_HUMANISE = 16,      // random velocity spread, 0..1
  CANTUS_PORT_GATE = 17,          // note length scale, 0.1 .. 2
  CANTUS_PORT_SWING = 18,         // off-beat 8th delay, share of an 8th, 0 .. 0.75
  CANTUS_PORT_CHANNEL = 19,       // MIDI channel as musicians count it, 1..16
  CANTUS_PORT_SEED = 20,          // timeline seed, 0..65535
  CANTUS_PORT_HOLD = 21,          // toggle: repeat the last hold_bars bars
  CANTUS_PORT_HOLD_BARS = 22,     // 1, 2, 4 or 8 bars
  CANTUS_PORT_REGENERATE = 23,    // trigger: forget the timeline ahead of the play head
  CANTUS_PORT_LISTEN = 24,        // toggle: MIDI input notes feed the model
  CANTUS_PORT_CALL_RESPONSE = 25, // toggle: answer after the player pauses
  CANTUS_PORT_RESPONSE_BARS = 26, // bars answered, 1..16
  CANTUS_PORT_WAIT_BEATS = 27,    // beats of player silence before answering, 1..16
  CANTUS_PORT_BPM = 28,           // free-run tempo, 20..300 BPM
  CANTUS_PORT_FREE_RUN = 29,      // toggle: ignore the host transport, play at bpm
  CANTUS_PORT_MAX_NOTE = 30,      // longest note in beats (forced note-off), 1..32
  CANTUS_PORT_PANIC = 31,         // trigger: all notes off now
  CANTUS_PORT_BAR = 32,           // output: current bar, counted from 1
  CANTUS_PORT_SURPRISE = 33,      // output: -log p of the last note-on, nats
  CANTUS_N_PORTS = 34
} CantusPort;

// The port's lv2:symbol.  Never NULL for p < CANTUS_N_PORTS.
static inline const char *cantus_port_symbol(CantusPort p)
{
  switch (p) {
  case CANTUS_PORT_CONTROL:
    return "control";
  case CANTUS_PORT_MIDI_OUT:
    return "midi_out";
  case CANTUS_PORT_NOTIFY:
    return "notify";
  case CANTUS_PORT_STYLE:
    return "style";
  case CANTUS_PORT_STYLE_B:
    return "style_b";
  case CANTUS_PORT_BLEND:
    return "blend";
  case CANTUS_PORT_TEMPERATURE:
    return "temperature";
  case CANTUS_PORT_TOP_P:
    return "top_p";
  case CANTUS_PORT_DENSITY:
    return "density";
  case CANTUS_PORT_TRANSPOSE:
    return "transpose";
  case CANTUS_PORT_KEY_ROOT:
    return "key_root";
  case CANTUS_PORT_SCALE:
    return "scale";
  case CANTUS_PORT_NOTE_LO:
    return "note_lo";
  case CANTUS_PORT_NOTE_HI:
    return "note_hi";
  case CANTUS_PORT_MAX_VOICES:
    return "max_voices";
  case CANTUS_PORT_VELOCITY:
    return "velocity";
  case CANTUS_PORT_HUMANISE:
    return "humanise";
  case CANTUS_PORT_GATE:
    return "gate";
  case CANTUS_PORT_SWING:
    return "swing";
  case CANTUS_PORT_CHANNEL:
    return "channel";
  case CANTUS_PORT_SEED:
    return "seed";
  case CANTUS_PORT_HOLD:
    return "hold";
  case CANTUS_PORT_HOLD_BARS:
    return "hold_bars";
  case CANTUS_PORT_REGENERATE:
    return "regenerate";
  case CANTUS_PORT_LISTEN:
    return "listen";
  case CANTUS_PORT_CALL_RESPONSE:
    return "call_response";
  case CANTUS_PORT_RESPONSE_BARS:
    return "response_bars";
  case CANTUS_PORT_WAIT_BEATS:
    return "wait_beats";
  case CANTUS_PORT_BPM:
    return "bpm";
  case CANTUS_PORT_FREE_RUN:
    return "free_run";
  case CANTUS_PORT_MAX_NOTE:
    return "max_note_beats";
  case CANTUS_PORT_PANIC:
    return "panic";
  case CANTUS_PORT_BAR:
    return "bar";
  case CANTUS_PORT_SURPRISE:
    return "surprise";
  case CANTUS_N_PORTS:
    break;
  }
  return "";
}

#endif
