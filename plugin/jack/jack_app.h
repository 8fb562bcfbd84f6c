// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's shared state: what the main thread (options, loader, stdin
// commands, terminal view, recorder), the JACK process callback and the
// PortMidi thread hold in common, and the fixed-size messages they pass
// through jack_ringbuffers.  No locks anywhere: each ring has one producer
// and one consumer, each flag one writer.
//
// Rings (all mlocked, every write checks write_space first):
//   to_rt    main    -> RT    CantusModel *            new model to install (loader.h)
//   from_rt  RT      -> main  CantusModel *            retired model to free
//   ctl_in   main    -> RT    CantusJackCtlMsg         control set (CLI/keys/stdin)
//   ctl_out  RT      -> main  CantusJackCtlMsg         control changed by MIDI CC/PC
//   played   RT      -> main  CantusJackPlayed         every event sent (record, piano roll)
//   status   RT      -> main  CantusJackStatus         one snapshot per cycle (when room)
// Thread class: cantus_jack_process / cantus_jack_timebase are [RT]; the
// rest of the functions declared here are non-RT.
#ifndef CANTUS_JACK_APP_H
#define CANTUS_JACK_APP_H

#include "ctlmap.h"
#include "engine.h"
#include "jackclock.h"
#include "midibridge.h"
#include "schedule.h"

#include <jack/jack.h>
#include <jack/ringbuffer.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum { CANTUS_JACK_CTL_SRC_MAIN = 0, CANTUS_JACK_CTL_SRC_CC = 1, CANTUS_JACK_CTL_SRC_PROGRAM = 2 };

typedef struct {
  int32_t ctl;    // control (CantusControlId, dsp/controls.h)
  int16_t source; // CANTUS_JACK_CTL_SRC_*
  int16_t number; // CC or program number (MIDI sources)
  double value;
} CantusJackCtlMsg; // 16 bytes

typedef struct {
  int64_t frame;    // JACK frame time of the event
  double perf_beat; // beats played since start (stops while the transport stands)
  int64_t bar;      // transport bar (0-based) at the event
  float bar_beat;   // beat within the bar
  float bpm;
  uint8_t size;
  uint8_t data[3];
  uint8_t pad[4];
} CantusJackPlayed; // 40 bytes

typedef struct {
  uint64_t cycle;
  int64_t bar; // transport bar at the cycle start (0-based)
  double bar_beat;
  double bpm;
  double beats_per_bar;
  int beat_unit;
  int source; // CantusClockSource (0 in --free)
  double perf_beat;
  bool rolling;
  float surprise;
  uint32_t n_frames;
  CantusStats stats;
} CantusJackStatus;

typedef struct {
  // ---- set up before jack_activate(), read-only afterwards ----
  jack_client_t *client;
  jack_port_t *out_port, *in_port;
  jack_port_t *chord_port; // NAME:chord_in, the Chords input (issue 11)
  CantusEngine *engine;
  CantusMidiBridge *bridge;       // NULL without a PortMidi output or input
  CantusMidiBridge *chord_bridge; // --chord-device: its in ring only; else NULL
  CantusCcMap ccmap;
  bool free_run;        // --free: ignore the transport
  bool timebase_master; // --timebase-master
  bool meter_fixed;     // --meter given: the own metre never changes
  double sample_rate;
  jack_ringbuffer_t *to_rt, *from_rt, *ctl_in, *ctl_out, *played, *status;

  // ---- audio thread only (set before jack_activate()) ----
  // The own metre (own tempo, --free, timebase master): --meter, else the
  // style's usual metre, switched at the next bar line when the style
  // changes (follow_style_meter() in jack_rt.c).
  double beats_per_bar;
  int beat_unit;
  int64_t meter_bar; // bar at the last cycle's start, to see a bar line pass
  CantusControls controls;
  CantusJackClock clock;
  CantusModel *retired; // old model waiting for room in from_rt
  int n_styles;         // of the installed model
  double perf_beat;
  uint32_t free_frame; // --free: frames played (the clock's own transport)
  uint64_t cycle;
  CantusMidiEvent midi_in[CANTUS_MAX_EVENTS];
  CantusMidiEvent chord_in[CANTUS_MAX_EVENTS]; // notes of chord_in and --chord-device
  CantusBridgeEvent hw_in[256];
  CantusBlockOut out;
  CantusSchedGate gate; // RT: a full JACK port buffer loses note-ons, never a note-off

  // ---- flags and counters shared between threads ----
  atomic_int flush_request; // main: send note-offs now and go silent
  atomic_int flushed;       // RT: done
  atomic_int jack_gone;     // JACK shut the client down
  char jack_gone_reason[256];
  atomic_uint_fast64_t xruns;
  atomic_uint_fast64_t port_drops; // jack_midi_event_write refused
  atomic_uint_fast64_t ring_drops; // played/ctl_out/from_rt ring full
  atomic_uint_fast64_t in_dropped; // input events beyond CANTUS_MAX_EVENTS
  atomic_uint_fast64_t models_swapped;
} CantusJackApp;

// The model hand-over of one cycle: first returns a retired model through
// from_rt (kept in a->retired while from_rt is full), then, only if none is
// waiting, installs at most one model from to_rt.  [RT]
CANTUS_RT void cantus_jack_swap_model(CantusJackApp *a);

// One cycle of the musical clock (jackclock.h) at transport p: first the
// own metre follows the style when --meter was not given (at the next bar
// line, see jack_rt.c), then the clock fills *t.  use_bbt: follow a
// timebase master when there is one.  [RT]
CANTUS_RT void cantus_jack_clock_cycle(CantusJackApp *a,
                                       const CantusJackPos *p,
                                       bool use_bbt,
                                       uint32_t n_frames,
                                       CantusTransport *t);

// JACK callbacks.  [RT]
CANTUS_RT int cantus_jack_process(jack_nframes_t n_frames, void *arg);
CANTUS_RT void cantus_jack_timebase(jack_transport_state_t state,
                                    jack_nframes_t n_frames,
                                    jack_position_t *pos,
                                    int new_pos,
                                    void *arg);
// Xrun and shutdown callbacks: a counter / a flag and a bounded copy.
int cantus_jack_xrun(void *arg);
void cantus_jack_shutdown(jack_status_t code, const char *reason, void *arg);

#endif
