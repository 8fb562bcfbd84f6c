// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's audio thread: the JACK process callback (model hand-over,
// control messages, MIDI in from the ports and from PortMidi, main and
// Chords inputs, MIDI CC and program change, the musical clock, one engine
// block, MIDI out to the port, to PortMidi and to the recorder) and the
// timebase callback.  Thread class: [RT] (everything but the xrun and
// shutdown callbacks, which only bump a counter or set a flag).  Every loop
// is bounded by n_frames, the ring capacities or CANTUS_MAX_EVENTS.
#include "jack_app.h"

#include <jack/midiport.h>
#include <string.h>

enum { MAX_CTL_MSGS = 64 }; // control messages applied per cycle

// Hands the retired model back, then installs at most one new one.  A new
// model is taken only when no retired pointer is waiting, so none is lost.
CANTUS_RT void cantus_jack_swap_model(CantusJackApp *a)
{
  if (a->retired) {
    if (jack_ringbuffer_write_space(a->from_rt) >= sizeof a->retired) {
      jack_ringbuffer_write(a->from_rt, (const char *)&a->retired, sizeof a->retired);
      a->retired = NULL;
    } else {
      return; // retry next cycle
    }
  }
  if (jack_ringbuffer_read_space(a->to_rt) < sizeof(CantusModel *)) {
    return;
  }
  CantusModel *m = NULL;
  jack_ringbuffer_read(a->to_rt, (char *)&m, sizeof m);
  a->retired = cantus_engine_install_model(a->engine, m);
  a->n_styles = m ? (int)m->dims.n_styles : 0;
  atomic_fetch_add_explicit(&a->models_swapped, 1, memory_order_relaxed);
  if (a->retired && jack_ringbuffer_write_space(a->from_rt) >= sizeof a->retired) {
    jack_ringbuffer_write(a->from_rt, (const char *)&a->retired, sizeof a->retired);
    a->retired = NULL;
  }
}

static void report_ctl(CantusJackApp *a, int ctl, int source, int number, double v)
{
  CantusJackCtlMsg msg = { ctl, (int16_t)source, (int16_t)number, v };
  if (jack_ringbuffer_write_space(a->ctl_out) >= sizeof msg) {
    jack_ringbuffer_write(a->ctl_out, (const char *)&msg, sizeof msg);
  } else {
    atomic_fetch_add_explicit(&a->ring_drops, 1, memory_order_relaxed);
  }
}

static void apply_ctl_msgs(CantusJackApp *a)
{
  for (int i = 0; i < MAX_CTL_MSGS; i++) {
    CantusJackCtlMsg msg;
    if (jack_ringbuffer_read_space(a->ctl_in) < sizeof msg) {
      break;
    }
    jack_ringbuffer_read(a->ctl_in, (char *)&msg, sizeof msg);
    cantus_controls_set(&a->controls, msg.ctl, msg.value, a->n_styles);
  }
}

// CC and program change steer the controls; note messages go to the
// engine.  Returns true when the event is for the engine.
static bool handle_input(CantusJackApp *a, const uint8_t *d, uint32_t size)
{
  const uint8_t st = d[0] & 0xF0;
  if (st == 0xB0 && size >= 3) {
    double v = 0;
    int ctl = cantus_ctlmap_cc(&a->ccmap, &a->controls, a->n_styles, d[1], d[2], &v);
    if (ctl >= 0) {
      report_ctl(a, ctl, CANTUS_JACK_CTL_SRC_CC, d[1], v);
    }
    return false;
  }
  if (st == 0xC0 && size >= 2) {
    if (d[1] < a->n_styles) {
      const int ctl = CANTUS_CONTROL_STYLE;
      cantus_controls_set(&a->controls, ctl, d[1], a->n_styles);
      report_ctl(a, ctl, CANTUS_JACK_CTL_SRC_PROGRAM, d[1], d[1]);
    }
    return false;
  }
  return (st == 0x80 || st == 0x90) && size == 3;
}

static uint32_t add_event(CantusJackApp *a,
                          uint32_t n,
                          uint32_t frame,
                          const uint8_t *d,
                          uint32_t size)
{
  if (!handle_input(a, d, size)) {
    return n;
  }
  if (n >= CANTUS_MAX_EVENTS) {
    atomic_fetch_add_explicit(&a->in_dropped, 1, memory_order_relaxed);
    return n;
  }
  CantusMidiEvent *e = &a->midi_in[n];
  e->frame = frame;
  e->size = (uint8_t)size;
  memcpy(e->data, d, size);
  return n + 1;
}

// The Chords input keeps note-ons and note-offs only: held notes make the
// chord (dsp/chord.h); a CC or program change there steers nothing.
static uint32_t add_chord_event(CantusJackApp *a,
                                uint32_t n,
                                uint32_t frame,
                                const uint8_t *d,
                                uint32_t size)
{
  const uint8_t st = d[0] & 0xF0;
  if (size != 3 || (st != 0x80 && st != 0x90)) {
    return n;
  }
  if (n >= CANTUS_MAX_EVENTS) {
    atomic_fetch_add_explicit(&a->in_dropped, 1, memory_order_relaxed);
    return n;
  }
  CantusMidiEvent *e = &a->chord_in[n];
  e->frame = frame;
  e->size = 3;
  memcpy(e->data, d, 3);
  return n + 1;
}

// Merges a JACK input port and a PortMidi input (placed one period late),
// sorted by frame: the main input (chords false) into a->midi_in through
// handle_input, the Chords input into a->chord_in.
static uint32_t collect(CantusJackApp *a,
                        void *in_buf,
                        CantusMidiBridge *bridge,
                        jack_nframes_t n_frames,
                        jack_nframes_t cycle_frame,
                        bool chords)
{
  uint32_t n_hw = 0;
  uint32_t hw_frame[256];
  if (bridge) {
    n_hw = cantus_midibridge_receive(bridge, a->hw_in, 256);
    uint32_t prev = 0;
    for (uint32_t i = 0; i < n_hw; i++) {
      jack_nframes_t f = jack_time_to_frames(a->client, (jack_time_t)a->hw_in[i].time);
      prev = cantus_midibridge_place(f, cycle_frame, n_frames, prev);
      hw_frame[i] = prev;
    }
  }
  const uint32_t n_jack = in_buf ? jack_midi_get_event_count(in_buf) : 0;
  uint32_t n = 0, j = 0, h = 0;
  jack_midi_event_t je;
  bool have_je = false;
  while (j < n_jack || h < n_hw || have_je) {
    if (!have_je && j < n_jack) {
      have_je = jack_midi_event_get(&je, in_buf, j++) == 0;
      if (!have_je) {
        continue;
      }
    }
    const uint8_t *d;
    uint32_t frame, size;
    if (have_je && (h >= n_hw || je.time <= hw_frame[h])) {
      have_je = false;
      if (je.size < 1 || je.size > 3) {
        continue;
      }
      d = je.buffer;
      frame = je.time;
      size = (uint32_t)je.size;
    } else if (h < n_hw) {
      d = a->hw_in[h].data;
      frame = hw_frame[h];
      size = a->hw_in[h].size;
      h++;
    } else {
      continue;
    }
    n = chords ? add_chord_event(a, n, frame, d, size) : add_event(a, n, frame, d, size);
  }
  return n;
}

static void post_played(CantusJackApp *a,
                        jack_nframes_t cycle_frame,
                        const CantusMidiEvent *e,
                        const CantusTransport *t,
                        double n_frames_to_beats)
{
  CantusJackPlayed p = {
    .frame = (int64_t)(jack_nframes_t)(cycle_frame + e->frame),
    .perf_beat = a->perf_beat + (t->rolling ? e->frame * n_frames_to_beats : 0),
    .bar = t->bar,
    .bar_beat = (float)(t->bar_beat + (t->rolling ? e->frame * n_frames_to_beats : 0)),
    .bpm = (float)t->bpm,
    .size = e->size,
  };
  memcpy(p.data, e->data, e->size < 3 ? e->size : 3);
  if (jack_ringbuffer_write_space(a->played) >= sizeof p) {
    jack_ringbuffer_write(a->played, (const char *)&p, sizeof p);
  } else {
    atomic_fetch_add_explicit(&a->ring_drops, 1, memory_order_relaxed);
  }
}

static void emit(CantusJackApp *a,
                 void *out_buf,
                 jack_nframes_t n_frames,
                 jack_nframes_t cycle_frame,
                 const CantusTransport *t)
{
  const double bpm = t->bpm > 0 ? t->bpm : (double)a->controls.bpm;
  const double f2b = bpm / (60.0 * a->sample_rate);
  for (uint32_t i = 0; i < a->out.n_events && i < CANTUS_MAX_EVENTS; i++) {
    CantusMidiEvent *e = &a->out.events[i];
    if (e->size < 1 || e->size > 3) {
      continue;
    }
    uint32_t frame = e->frame < n_frames ? e->frame : n_frames - 1;
    // Room in events: JACK2 stores a short event in a 12-byte header; 16
    // bytes each leaves a margin.  The gate keeps room for every owed
    // note-off and holds back note-ons (and their offs) that would not fit;
    // a held-back note goes nowhere, hardware and recording included.
    const uint32_t room = (uint32_t)(jack_midi_max_event_size(out_buf) / 16);
    if (!cantus_schedule_gate_pass(&a->gate, e->data, e->size, room)) {
      atomic_fetch_add_explicit(&a->port_drops, 1, memory_order_relaxed);
      continue;
    }
    if (jack_midi_event_write(out_buf, frame, e->data, e->size) != 0) {
      atomic_fetch_add_explicit(&a->port_drops, 1, memory_order_relaxed);
    }
    if (a->bridge) {
      cantus_midibridge_send(a->bridge, (jack_nframes_t)(cycle_frame + frame), e->data, e->size);
    }
    post_played(a, cycle_frame, e, t, f2b);
  }
}

static void post_status(CantusJackApp *a, const CantusTransport *t, jack_nframes_t n_frames)
{
  if (jack_ringbuffer_write_space(a->status) < sizeof(CantusJackStatus)) {
    return; // the main thread reads the latest; skipping one is harmless
  }
  CantusJackStatus s = {
    .cycle = a->cycle,
    .bar = t->valid ? t->bar : a->out.bar,
    .bar_beat = t->bar_beat,
    .bpm = t->bpm > 0 ? t->bpm : (double)a->controls.bpm,
    .beats_per_bar = t->beats_per_bar,
    .beat_unit = t->beat_unit,
    .source = t->valid ? (int)a->clock.source : 0,
    .perf_beat = a->perf_beat,
    .rolling = a->out.rolling,
    .surprise = a->out.surprise,
    .n_frames = n_frames,
  };
  cantus_engine_get_stats(a->engine, &s.stats);
  jack_ringbuffer_write(a->status, (const char *)&s, sizeof s);
}

// Without --meter the own metre is the usual one of the style played (the
// model's metadata, 4/4 when it names none).  A style change brings its
// metre in at the next bar line: the first cycle that starts in a later
// bar than the last one switches, and the clock keeps bar and beat there
// (jackclock.h), so the new bar starts where the old metre put its line.
// Stopped, or before the own clock runs (first cycle, following a master),
// it switches at once.
static void follow_style_meter(CantusJackApp *a, const CantusJackPos *p)
{
  if (a->meter_fixed) {
    return;
  }
  int num = 4, den = 4;
  cantus_model_style_meter(cantus_engine_model(a->engine), a->controls.style, &num, &den);
  if (num == a->beats_per_bar && den == a->beat_unit) {
    return;
  }
  if (a->clock.source == CANTUS_CLOCK_OWN && p->rolling) {
    const CantusJackTempo own = { a->controls.bpm, a->beats_per_bar, a->beat_unit };
    int64_t bar = 0;
    double bb = 0;
    cantus_jackclock_position(&a->clock, &own, p->frame, p->sample_rate, &bar, &bb);
    if (bar == a->meter_bar) {
      return; // not at a bar line yet
    }
  }
  a->beats_per_bar = num;
  a->beat_unit = den;
}

CANTUS_RT void cantus_jack_clock_cycle(CantusJackApp *a,
                                       const CantusJackPos *p,
                                       bool use_bbt,
                                       uint32_t n_frames,
                                       CantusTransport *t)
{
  follow_style_meter(a, p);
  const CantusJackTempo own = { a->controls.bpm, a->beats_per_bar, a->beat_unit };
  cantus_jackclock_cycle(&a->clock, p, use_bbt, &own, n_frames, t);
  a->meter_bar = t->bar;
}

static void read_transport(CantusJackApp *a, jack_nframes_t n_frames, CantusTransport *t)
{
  if (a->free_run) {
    // Our own clock on our own frame count, always rolling: --bpm and
    // --meter apply, the JACK transport does not.
    const CantusJackPos p = { .rolling = true,
                              .frame = a->free_frame,
                              .sample_rate = a->sample_rate };
    cantus_jack_clock_cycle(a, &p, false, n_frames, t);
    a->free_frame += n_frames;
    return;
  }
  jack_position_t pos;
  const jack_transport_state_t st = jack_transport_query(a->client, &pos);
  CantusJackPos p = {
    .rolling = st == JackTransportRolling,
    .frame = pos.frame,
    .sample_rate = pos.frame_rate ? (double)pos.frame_rate : a->sample_rate,
    .bbt = (pos.valid & JackPositionBBT) != 0,
  };
  if (p.bbt) {
    p.bar = pos.bar;
    p.beat = pos.beat;
    p.tick = (pos.valid & JackTickDouble) ? pos.tick_double : (double)pos.tick;
    p.ticks_per_beat = pos.ticks_per_beat;
    p.beats_per_bar = (double)pos.beats_per_bar;
    p.beat_type = (double)pos.beat_type;
    p.bpm = pos.beats_per_minute;
  }
  cantus_jack_clock_cycle(a, &p, !a->timebase_master, n_frames, t);
}

CANTUS_RT int cantus_jack_process(jack_nframes_t n_frames, void *arg)
{
  CantusJackApp *a = arg;
  void *out_buf = jack_port_get_buffer(a->out_port, n_frames);
  void *in_buf = jack_port_get_buffer(a->in_port, n_frames);
  void *chord_buf = a->chord_port ? jack_port_get_buffer(a->chord_port, n_frames) : NULL;
  jack_midi_clear_buffer(out_buf);
  a->cycle++;
  if (atomic_load_explicit(&a->flushed, memory_order_acquire)) {
    return 0; // shutting down: silent
  }
  const jack_nframes_t cycle_frame = jack_last_frame_time(a->client);
  cantus_jack_swap_model(a);
  apply_ctl_msgs(a);
  const uint32_t n_in = collect(a, in_buf, a->bridge, n_frames, cycle_frame, false);
  const uint32_t n_chord = collect(a, chord_buf, a->chord_bridge, n_frames, cycle_frame, true);
  CantusTransport t;
  read_transport(a, n_frames, &t);
  a->out.n_events = 0;
  if (atomic_load_explicit(&a->flush_request, memory_order_acquire)) {
    cantus_engine_flush(a->engine, &a->out);
    emit(a, out_buf, n_frames, cycle_frame, &t);
    atomic_store_explicit(&a->flushed, 1, memory_order_release);
    return 0;
  }
  const CantusBlockIn in = {
    .n_frames = n_frames,
    .sample_rate = a->sample_rate,
    .transport = t,
    .controls = a->controls,
    .midi_in = a->midi_in,
    .n_midi_in = n_in,
    .chord_in = a->chord_in,
    .n_chord_in = n_chord,
  };
  cantus_engine_process(a->engine, &in, &a->out);
  // Actions are edges: one block each.
  a->controls.panic = false;
  a->controls.regenerate = false;
  emit(a, out_buf, n_frames, cycle_frame, &t);
  post_status(a, &t, n_frames);
  if (t.rolling || a->free_run) {
    const double bpm = t.bpm > 0 ? t.bpm : (double)a->controls.bpm;
    a->perf_beat += n_frames * bpm / (60.0 * a->sample_rate);
  }
  return 0;
}

CANTUS_RT void cantus_jack_timebase(jack_transport_state_t state,
                                    jack_nframes_t n_frames,
                                    jack_position_t *pos,
                                    int new_pos,
                                    void *arg)
{
  (void)state;
  (void)n_frames;
  (void)new_pos;
  CantusJackApp *a = arg;
  const CantusJackTempo own = { a->controls.bpm, a->beats_per_bar, a->beat_unit };
  const double sr = pos->frame_rate ? (double)pos->frame_rate : a->sample_rate;
  int64_t bar = 0;
  double bb = 0;
  cantus_jackclock_position(&a->clock, &own, pos->frame, sr, &bar, &bb);
  const double tpb = 1920.0;
  pos->valid = (jack_position_bits_t)(JackPositionBBT | JackTickDouble);
  pos->bar = (int32_t)(bar + 1);
  pos->beat = (int32_t)bb + 1;
  pos->tick_double = (bb - (int32_t)bb) * tpb;
  pos->tick = (int32_t)pos->tick_double;
  pos->bar_start_tick = (double)bar * a->beats_per_bar * tpb;
  pos->beats_per_bar = (float)a->beats_per_bar;
  pos->beat_type = (float)a->beat_unit;
  pos->ticks_per_beat = tpb;
  pos->beats_per_minute = (double)a->controls.bpm;
}

int cantus_jack_xrun(void *arg)
{
  CantusJackApp *a = arg;
  atomic_fetch_add_explicit(&a->xruns, 1, memory_order_relaxed);
  return 0;
}

void cantus_jack_shutdown(jack_status_t code, const char *reason, void *arg)
{
  (void)code;
  CantusJackApp *a = arg;
  size_t n = 0;
  if (reason) {
    while (n + 1 < sizeof a->jack_gone_reason && reason[n]) {
      a->jack_gone_reason[n] = reason[n];
      n++;
    }
  }
  a->jack_gone_reason[n] = '\0';
  atomic_store(&a->jack_gone, 1);
}
