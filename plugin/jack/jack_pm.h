// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's hardware MIDI through PortMidi: device listing and lookup,
// and the PortMidi thread, which drains the bridge's out ring into a
// PortMidi output (each event stamped with its JACK frame's time plus one
// period, PortMidi adding --midi-latency) and feeds a PortMidi input into
// the bridge's in ring (and the --chord-device input into the chord
// bridge's).  The PortMidi clock is JACK's microsecond clock
// (jack_get_time) in milliseconds from an origin, so both sides share one
// time base.  All PortMidi calls happen on the main thread before the
// thread starts and after it stops, or on the thread itself.
//
// Allocation contract: the caller owns the CantusJackPm value; open
// creates the streams, close releases them.  Thread class: non-RT.
#ifndef CANTUS_JACK_PM_H
#define CANTUS_JACK_PM_H

#include "midibridge.h"

#include <jack/jack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
  void *out; // PortMidiStream *, NULL when none
  void *in;
  void *chord_in;                 // --chord-device
  CantusMidiBridge *bridge;       // out and in; NULL when neither is open
  CantusMidiBridge *chord_bridge; // its in ring carries chord_in's events
  jack_client_t *client;
  int64_t t0;           // JACK usecs at the PortMidi clock's zero
  int64_t period_usecs; // one JACK period: added to every out timestamp
  int latency_ms;       // PortMidi output latency (--midi-latency)
  atomic_int finish;    // main: drain the ring, silence, stop
  atomic_int jack_gone; // main: JACK's clock is gone, send now
  bool running;
  pthread_t thread;
  uint8_t sounding[16][128]; // notes on at the hardware output
  uint64_t written, write_errors, notes_silenced;
} CantusJackPm;

// Starts PortMidi (hiding the ALSA library's own complaint when there is no
// sequencer) and returns the number of devices.
int cantus_jackpm_init(void);
void cantus_jackpm_terminate(void);

// Prints the device list (or the no-devices message) to f; returns the
// number of devices.  Call after init.
int cantus_jackpm_list(FILE *f);

// Looks up an output (want_output) or input device by decimal id or by a
// case-insensitive substring of its name.  Returns the id, or -1 with one
// line in msg ("no PortMidi devices ..." / "no MIDI output matches ...").
// *no_devices is set when PortMidi sees no device at all.
int cantus_jackpm_find(const char *spec,
                       bool want_output,
                       bool *no_devices,
                       char *msg,
                       size_t msg_size);

// Opens the streams (out_id / in_id < 0: none) on the JACK clock of client;
// bridge may be NULL when both are < 0.  Returns false with one line in msg.
bool cantus_jackpm_open(CantusJackPm *pm,
                        jack_client_t *client,
                        CantusMidiBridge *bridge,
                        int out_id,
                        int in_id,
                        int latency_ms,
                        char *msg,
                        size_t msg_size);
// Opens the chord input device id (--chord-device; after open), whose
// events go to bridge's in ring.  Returns false with one line in msg.
bool cantus_jackpm_open_chords(CantusJackPm *pm,
                               CantusMidiBridge *bridge,
                               int id,
                               char *msg,
                               size_t msg_size);
// Starts / stops the thread.  stop drains the out ring, sends note-offs for
// every note still sounding on the hardware, waits out the latency and
// closes the streams.
bool cantus_jackpm_start(CantusJackPm *pm);
void cantus_jackpm_stop(CantusJackPm *pm);

#endif
