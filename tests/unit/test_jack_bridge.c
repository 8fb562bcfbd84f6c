// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's pieces that run without a JACK server or MIDI hardware:
// the JACK <-> PortMidi ring-buffer bridge (plugin/jack/midibridge.c: order,
// whole records, drops, wrap-around, frame placement, timestamps, a real
// two-thread run, no allocation or lock on the RT side), the control
// table and CC map (plugin/jack/ctlmap.c, against the documented plugin/jack/ccmap
// file) and the musical clock (plugin/jack/jackclock.c: following a drifting
// jack_transport master, relocation, tempo change, own tempo, the
// timebase master's published position), and the process callback's model
// hand-over (plugin/jack/jack_rt.c: one model per cycle, retry while from_rt is
// full, nothing lost, no allocation).
#include "alloc_guard.h"
#include "ctlmap.h"
#include "jack_app.h"
#include "jackclock.h"
#include "midibridge.h"
#include "test.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

// ---- bridge ---------------------------------------------------------------------------------

static CantusMidiBridge *bridge(size_t cap)
{
  CantusMidiBridge *b = NULL;
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_midibridge_new(cap, &b, &err), CANTUS_OK);
  return b;
}

TEST(jack_bridge_order_and_fields)
{
  CantusMidiBridge *b = bridge(64);
  for (int i = 0; i < 40; i++) {
    const uint8_t d[3] = { 0x90, (uint8_t)(40 + i), (uint8_t)(i + 1) };
    CHECK(cantus_midibridge_send(b, 1000 + i * 7, d, i % 3 == 0 ? 2 : 3));
  }
  CHECK_EQ(cantus_midibridge_pending(b), 40);
  CantusBridgeEvent ev[64];
  size_t n = cantus_midibridge_take(b, ev, 25);
  n += cantus_midibridge_take(b, ev + n, 64 - n);
  CHECK_EQ(n, 40);
  for (int i = 0; i < (int)n; i++) {
    CHECK_EQ(ev[i].time, 1000 + i * 7);
    CHECK_EQ(ev[i].size, i % 3 == 0 ? 2 : 3);
    CHECK_EQ(ev[i].data[0], 0x90);
    CHECK_EQ(ev[i].data[1], 40 + i);
  }
  CantusBridgeStats s;
  cantus_midibridge_stats(b, &s);
  CHECK_EQ(s.out_sent, 40);
  CHECK_EQ(s.out_dropped, 0);
  cantus_midibridge_free(b);
}

TEST(jack_bridge_full_ring_drops_whole_records)
{
  CantusMidiBridge *b = bridge(8);
  const uint8_t d[3] = { 0x90, 60, 100 };
  int sent = 0;
  for (int i = 0; i < 20; i++) {
    sent += cantus_midibridge_send(b, i, d, 3);
  }
  // capacity 8 records, at least that many fit, never more than the ring
  CHECK(sent >= 8 && sent < 20);
  CantusBridgeStats s;
  cantus_midibridge_stats(b, &s);
  CHECK_EQ(s.out_sent, (uint64_t)sent);
  CHECK_EQ(s.out_dropped, (uint64_t)(20 - sent));
  CantusBridgeEvent ev[32];
  const size_t n = cantus_midibridge_take(b, ev, 32);
  CHECK_EQ(n, (size_t)sent);
  for (size_t i = 0; i < n; i++) {
    CHECK_EQ(ev[i].time, (int64_t)i); // the first ones, whole and in order
  }
  // bad sizes are refused, not truncated
  CHECK(!cantus_midibridge_send(b, 0, d, 0));
  CHECK(!cantus_midibridge_send(b, 0, d, 4));
  CHECK_EQ(cantus_midibridge_pending(b), 0);
  cantus_midibridge_free(b);
}

TEST(jack_bridge_wraps_many_times)
{
  CantusMidiBridge *b = bridge(16);
  int64_t next_sent = 0, next_taken = 0;
  for (int round = 0; round < 1000; round++) {
    const int k = 1 + round % 13;
    for (int i = 0; i < k; i++) {
      const uint8_t d[3] = { 0x80, (uint8_t)(next_sent & 0x7F), 0 };
      CHECK(cantus_midibridge_send(b, next_sent, d, 3));
      next_sent++;
    }
    CantusBridgeEvent ev[16];
    const size_t n = cantus_midibridge_take(b, ev, 16);
    CHECK_EQ(n, (size_t)k);
    for (size_t i = 0; i < n; i++) {
      CHECK_EQ(ev[i].time, next_taken);
      CHECK_EQ(ev[i].data[1], next_taken & 0x7F);
      next_taken++;
    }
  }
  cantus_midibridge_free(b);
}

TEST(jack_bridge_input_direction)
{
  CantusMidiBridge *b = bridge(32);
  const uint8_t cc[3] = { 0xB0, 1, 64 }, pc[2] = { 0xC0, 2 };
  CHECK(cantus_midibridge_post(b, 5000000, cc, 3));
  CHECK(cantus_midibridge_post(b, 5000500, pc, 2));
  CantusBridgeEvent ev[4];
  CHECK_EQ(cantus_midibridge_receive(b, ev, 4), 2);
  CHECK_EQ(ev[0].time, 5000000);
  CHECK_EQ(ev[0].data[0], 0xB0);
  CHECK_EQ(ev[1].size, 2);
  CHECK_EQ(ev[1].data[1], 2);
  CHECK_EQ(cantus_midibridge_receive(b, ev, 4), 0);
  cantus_midibridge_free(b);
}

TEST(jack_bridge_place_in_cycle)
{
  const uint32_t n = 256, c = 100000;
  // an event during the previous period keeps its position, one period late
  CHECK_EQ(cantus_midibridge_place(c - 256, c, n, 0), 0);
  CHECK_EQ(cantus_midibridge_place(c - 100, c, n, 0), 156);
  CHECK_EQ(cantus_midibridge_place(c - 1, c, n, 0), 255);
  // older ones come at the start, later ones at the end of the block
  CHECK_EQ(cantus_midibridge_place(c - 5000, c, n, 0), 0);
  CHECK_EQ(cantus_midibridge_place(c + 10, c, n, 0), 255);
  // sorted: never before the previous event
  CHECK_EQ(cantus_midibridge_place(c - 200, c, n, 120), 120);
  // the 32-bit frame clock wraps
  CHECK_EQ(cantus_midibridge_place(0xFFFFFFF0u, 0x10u, n, 0), 256 - 32);
  CHECK_EQ(cantus_midibridge_place(5, 10, 0, 0), 0);
}

TEST(jack_bridge_timestamps)
{
  // event at t0 + 2.5 s plus a 5.333 ms period -> 2505 ms on the PortMidi clock
  CHECK_EQ(cantus_midibridge_timestamp(1000000000 + 2500000, 1000000000, 5333), 2505);
  CHECK_EQ(cantus_midibridge_timestamp(10, 1000000, 0), 0); // before the origin: now
  // 1 ms resolution: two events 10.6 ms apart stay 10 or 11 ms apart
  const int32_t a = cantus_midibridge_timestamp(123456789, 0, 0);
  const int32_t b = cantus_midibridge_timestamp(123456789 + 10600, 0, 0);
  CHECK(b - a == 10 || b - a == 11);
}

typedef struct {
  CantusMidiBridge *b;
  int n;
} Producer;

static void *produce(void *arg)
{
  Producer *p = arg;
  for (int i = 0; i < p->n; i++) {
    const uint8_t d[3] = { 0x90, (uint8_t)(i & 0x7F), (uint8_t)((i >> 7) & 0x7F) };
    while (!cantus_midibridge_send(p->b, i, d, 3)) {
      sched_yield(); // full: the consumer catches up (drops counted, retried)
    }
  }
  return NULL;
}

TEST(jack_bridge_two_threads)
{
  Producer p = { bridge(128), 50000 };
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, produce, &p), 0);
  int64_t expect = 0;
  int bad = 0;
  CantusBridgeEvent ev[64];
  while (expect < p.n) {
    const size_t n = cantus_midibridge_take(p.b, ev, 64);
    if (n == 0) {
      sched_yield();
    }
    for (size_t i = 0; i < n; i++) {
      bad += ev[i].time != expect || ev[i].data[1] != (expect & 0x7F) ||
             ev[i].data[2] != ((expect >> 7) & 0x7F) || ev[i].size != 3;
      expect++;
    }
  }
  pthread_join(t, NULL);
  CHECK_EQ(bad, 0);
  CHECK_EQ(expect, p.n);
  CantusBridgeStats s;
  cantus_midibridge_stats(p.b, &s);
  CHECK_EQ(s.out_sent, (uint64_t)p.n);
  cantus_midibridge_free(p.b);
}

TEST(jack_bridge_rt_side_allocates_nothing)
{
  CantusMidiBridge *b = bridge(64);
  const uint8_t d[3] = { 0x90, 60, 100 };
  CantusBridgeEvent ev[64];
  CHECK(cantus_midibridge_post(b, 1, d, 3));
  cantus_guard_arm();
  for (int i = 0; i < 1000; i++) {
    cantus_midibridge_send(b, i, d, 3);
    (void)cantus_midibridge_receive(b, ev, 64);
    (void)cantus_midibridge_place((uint32_t)i, 500, 256, 0);
  }
  CantusGuardCounts g = cantus_guard_disarm();
  CHECK_EQ(g.allocs, 0);
  CHECK_EQ(g.frees, 0);
  CHECK_EQ(g.locks, 0);
  cantus_midibridge_free(b);
}

// ---- control table and CC map ---------------------------------------------------------------

TEST(jack_ccmap_file_matches_builtin)
{
  CantusCcMap file, builtin;
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_ctlmap_load_map("plugin/jack/ccmap", &file, &err), CANTUS_OK);
  cantus_ctlmap_default(&builtin);
  int mapped = 0;
  for (int cc = 0; cc < 128; cc++) {
    CHECK_MSG(file.cc[cc].ctl == builtin.cc[cc].ctl && file.cc[cc].lo == builtin.cc[cc].lo &&
                file.cc[cc].hi == builtin.cc[cc].hi,
              "CC %d differs between plugin/jack/ccmap and the built-in map",
              cc);
    mapped += builtin.cc[cc].ctl >= 0;
  }
  CHECK(mapped >= 20);
  // every non-action control is reachable from the default map
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    int found = 0;
    for (int cc = 0; cc < 128; cc++) {
      found |= builtin.cc[cc].ctl == i;
    }
    CHECK_MSG(found, "control %s has no default CC", cantus_controls_info(i)->symbol);
  }
  // the table's CC columns: seed on CC 85 spans 1..128, panic on 120 and 123
  CHECK_EQ(builtin.cc[85].ctl, CANTUS_CONTROL_SEED);
  CHECK(builtin.cc[85].lo == 1 && builtin.cc[85].hi == 128);
  CHECK_EQ(builtin.cc[120].ctl, CANTUS_CONTROL_PANIC);
  CHECK_EQ(builtin.cc[123].ctl, CANTUS_CONTROL_PANIC);
  CHECK(builtin.cc[14].ctl == CANTUS_CONTROL_STYLE && builtin.cc[14].lo == -1);
}

TEST(jack_ccmap_rejects_bad_lines)
{
  static const struct {
    const char *text, *msg;
  } cases[] = {
    { "1 temperature\n7 tempx\n", "m:2: unknown control 'tempx'" },
    { "128 temperature\n", "m:1: '128' is not a CC number" },
    { "x temperature\n", "m:1: 'x' is not a CC number" },
    { "1 temperature\n\n# c\n1 density\n", "m:4: CC 1 is mapped twice" },
    { "1 temperature 0 5\n", "m:1: range 0..5 is outside" },
    { "1 temperature 0\n", "m:1: expected 'CC CONTROL [LO HI]'" },
    { "1 temperature 0 1 2\n", "m:1: expected 'CC CONTROL [LO HI]'" },
    { "1 temperature a b\n", "m:1: bounds 'a b' are not numbers" },
    { "5\n", "m:1: CC 5 names no control" },
    { "14 style 0 3\n", "m:1: style bound: style 0 is outside 1..64" },
    { "20 note_lo C2 H5\n", "m:1: note_lo bound: 'H5' is not a note" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CantusCcMap map;
    memset(&map, 0x5A, sizeof map);
    CantusError err = { { 0 } };
    CHECK_EQ(cantus_ctlmap_parse_map(cases[i].text, "m", &map, &err), CANTUS_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s'", i, err.msg);
    CHECK_MSG(!strchr(err.msg, '\n'), "one line: '%s'", err.msg);
    CHECK_EQ(map.cc[0].ctl, 0x5A5A); // untouched on failure
  }
  CantusCcMap map;
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_ctlmap_load_map("/nonexistent/map", &map, &err), CANTUS_ERR_IO);
  CHECK(strstr(err.msg, "/nonexistent/map") != NULL);
}

TEST(jack_ccmap_applies_cc)
{
  CantusCcMap map;
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_ctlmap_parse_map("1 temperature\n2 temperature 1.5 0.5\n14 style\n64 hold\n"
                                   "123 panic\n67 regenerate\n17 transpose -12 12\n",
                                   "m",
                                   &map,
                                   &err),
           CANTUS_OK);
  CantusControls c = cantus_controls_default();
  double v = -1;
  CHECK_EQ(cantus_ctlmap_cc(&map, &c, 3, 1, 0, &v), CANTUS_CONTROL_TEMPERATURE);
  CHECK_NEAR(c.temperature, 0, 1e-6);
  cantus_ctlmap_cc(&map, &c, 3, 1, 127, &v);
  CHECK_NEAR(c.temperature, 2, 1e-6);
  CHECK_NEAR(v, 2, 1e-6);
  cantus_ctlmap_cc(&map, &c, 3, 2, 127, &v); // inverted knob
  CHECK_NEAR(c.temperature, 0.5, 1e-6);
  // style: three equal zones of the knob
  cantus_ctlmap_cc(&map, &c, 3, 14, 0, &v);
  CHECK_EQ(c.style, 0);
  cantus_ctlmap_cc(&map, &c, 3, 14, 50, &v);
  CHECK_EQ(c.style, 1);
  cantus_ctlmap_cc(&map, &c, 3, 14, 127, &v);
  CHECK_EQ(c.style, 2);
  cantus_ctlmap_cc(&map, &c, 3, 64, 63, &v);
  CHECK(!c.hold);
  cantus_ctlmap_cc(&map, &c, 3, 64, 64, &v);
  CHECK(c.hold);
  // actions: All Notes Off fires at value 0, a pedal only when pressed
  CHECK_EQ(cantus_ctlmap_cc(&map, &c, 3, 123, 0, &v), CANTUS_CONTROL_PANIC);
  CHECK(c.panic);
  CHECK_EQ(cantus_ctlmap_cc(&map, &c, 3, 67, 10, &v), -1);
  CHECK(!c.regenerate);
  CHECK_EQ(cantus_ctlmap_cc(&map, &c, 3, 67, 127, &v), CANTUS_CONTROL_REGENERATE);
  CHECK(c.regenerate);
  cantus_ctlmap_cc(&map, &c, 3, 17, 127, &v);
  CHECK_EQ(c.transpose, 12);
  CHECK_EQ(cantus_ctlmap_cc(&map, &c, 3, 5, 100, &v), -1); // unmapped
  // Style bounds numbered from 1 as everywhere, pitch bounds by name.
  CHECK_EQ(cantus_ctlmap_parse_map("14 style 2 3\n20 note_lo C3 C5\n", "m", &map, &err), CANTUS_OK);
  CHECK(map.cc[14].lo == 1 && map.cc[14].hi == 2); // the 2nd and 3rd styles
  CHECK(map.cc[20].lo == 48 && map.cc[20].hi == 72);
  cantus_ctlmap_cc(&map, &c, 3, 14, 0, &v);
  CHECK_EQ(c.style, 1);
  cantus_ctlmap_cc(&map, &c, 3, 20, 127, &v);
  CHECK_EQ(c.note_lo, 72);
  // the default map: hold_bars goes to the nearest of 1, 2, 4, 8; the
  // channel's CC spans the user values 1..16 (fields 0..15)
  cantus_ctlmap_default(&map);
  cantus_ctlmap_cc(&map, &c, 3, 28, 40, &v); // 1 + 7 * 40 / 127 = 3.2
  CHECK_EQ(c.hold_bars, 4);
  CHECK_EQ(v, 4);
  cantus_ctlmap_cc(&map, &c, 3, 28, 5, &v);
  CHECK_EQ(c.hold_bars, 1);
  cantus_ctlmap_cc(&map, &c, 3, 27, 0, &v);
  CHECK_EQ(c.channel, 0);
  CHECK_EQ(v, 1);
  cantus_ctlmap_cc(&map, &c, 3, 27, 127, &v);
  CHECK_EQ(c.channel, 15);
  cantus_ctlmap_cc(&map, &c, 3, 3, 127, &v); // bpm 60..180
  CHECK_NEAR(c.bpm, 180, 1e-4);
}

// ---- the clock --------------------------------------------------------------------------------

static double beats_of(const CantusTransport *t)
{
  return (double)t->bar * t->beats_per_bar + t->bar_beat;
}

// jack_transport's timebase callback, as in jack2's example-clients/transport.c:
// BBT from the frame on a new position or tempo, then an integer tick
// accumulator that truncates nframes*ticks_per_beat*bpm/(rate*60) per cycle.
typedef struct {
  CantusJackPos p;
  double bpm;
  int reset;
} FakeMaster;

static void master_cycle(FakeMaster *m, uint32_t frame, uint32_t n_prev)
{
  CantusJackPos *p = &m->p;
  p->frame = frame;
  p->bbt = true;
  p->ticks_per_beat = 1920;
  p->beats_per_bar = 4;
  p->beat_type = 4;
  if (m->reset) {
    p->bpm = m->bpm;
    const long abs_tick = (long)(frame / (p->sample_rate * 60.0) * p->bpm * 1920);
    const long abs_beat = abs_tick / 1920;
    p->bar = (int32_t)(abs_beat / 4) + 1;
    p->beat = (int32_t)(abs_beat - (p->bar - 1) * 4) + 1;
    p->tick = (double)(abs_tick - abs_beat * 1920);
    m->reset = 0;
  } else {
    int tick = (int)p->tick;
    tick += (int)(n_prev * 1920 * p->bpm / (p->sample_rate * 60));
    while (tick >= 1920) {
      tick -= 1920;
      if (++p->beat > 4) {
        p->beat = 1;
        ++p->bar;
      }
    }
    p->tick = tick;
  }
}

TEST(jack_clock_follows_master_without_its_drift)
{
  CantusJackClock c;
  cantus_jackclock_reset(&c);
  FakeMaster m = { .p = { .rolling = true, .sample_rate = 48000 }, .bpm = 120, .reset = 1 };
  const CantusJackTempo own = { 100, 4, 4 };
  const uint32_t n = 256;
  double worst_ours = 0, worst_master = 0;
  for (uint32_t k = 0; k < 2000; k++) { // 10.7 s
    const uint32_t f = k * n;
    master_cycle(&m, f, n);
    CantusTransport t;
    cantus_jackclock_cycle(&c, &m.p, true, &own, n, &t);
    const double exact = f * 120.0 / (60.0 * 48000);
    const double master = (m.p.bar - 1) * 4 + (m.p.beat - 1) + m.p.tick / 1920;
    worst_ours = fmax(worst_ours, fabs(beats_of(&t) - exact));
    worst_master = fmax(worst_master, fabs(master - exact));
    CHECK(t.valid && t.rolling);
    CHECK_NEAR(t.bpm, 120, 0);
  }
  CHECK(worst_master > 0.2); // the master's own BBT drifts by beats
  CHECK(worst_ours < 1e-9);  // we stay on the frame grid
  CHECK_EQ(c.source, CANTUS_CLOCK_FOLLOW);
}

TEST(jack_clock_follow_relocation_and_tempo_change)
{
  CantusJackClock c;
  cantus_jackclock_reset(&c);
  FakeMaster m = { .p = { .rolling = true, .sample_rate = 48000 }, .bpm = 120, .reset = 1 };
  const CantusJackTempo own = { 100, 4, 4 };
  CantusTransport t;
  for (uint32_t k = 0; k < 100; k++) {
    master_cycle(&m, k * 256, 256);
    cantus_jackclock_cycle(&c, &m.p, true, &own, 256, &t);
  }
  // relocate to 3 s: the master recomputes from the frame
  m.reset = 1;
  master_cycle(&m, 144000, 256);
  cantus_jackclock_cycle(&c, &m.p, true, &own, 256, &t);
  CHECK_NEAR(beats_of(&t), 6.0, 1e-9);
  CHECK_EQ(t.bar, 1);
  // tempo change to 150: the position jumps to frame * 150 (as jack_transport does)
  m.bpm = 150;
  m.reset = 1;
  master_cycle(&m, 144256, 256);
  cantus_jackclock_cycle(&c, &m.p, true, &own, 256, &t);
  CHECK_NEAR(t.bpm, 150, 0);
  CHECK_NEAR(beats_of(&t), 144256 * 150.0 / 2880000, 1.0 / 1920);
  const double b0 = beats_of(&t);
  master_cycle(&m, 144512, 256);
  cantus_jackclock_cycle(&c, &m.p, true, &own, 256, &t);
  CHECK_NEAR(beats_of(&t) - b0, 256 * 150.0 / 2880000, 1e-9);
  // stop: not rolling; start again at the same place continues
  m.p.rolling = false;
  master_cycle(&m, 144768, 256);
  cantus_jackclock_cycle(&c, &m.p, true, &own, 256, &t);
  CHECK(!t.rolling);
}

TEST(jack_clock_own_tempo)
{
  CantusJackClock c;
  cantus_jackclock_reset(&c);
  CantusJackPos p = { .rolling = true, .sample_rate = 48000 };
  CantusJackTempo own = { 120, 4, 4 };
  CantusTransport t;
  for (uint32_t k = 0; k < 375; k++) { // 96000 frames = 4 beats
    p.frame = k * 256;
    cantus_jackclock_cycle(&c, &p, true, &own, 256, &t);
    CHECK_NEAR(beats_of(&t), p.frame / 24000.0, 1e-9);
  }
  // a tempo change keeps the position and continues at the new tempo
  p.frame = 96000;
  own.bpm = 240;
  cantus_jackclock_cycle(&c, &p, true, &own, 256, &t);
  CHECK_NEAR(beats_of(&t), 4.0, 1e-9);
  p.frame = 96000 + 12000;
  cantus_jackclock_cycle(&c, &p, true, &own, 256, &t); // a relocation forward
  CHECK_NEAR(beats_of(&t), 5.0, 1e-9);
  // back to frame 0 after the speed-up: bar 1 again, not a negative bar
  p.frame = 0;
  cantus_jackclock_cycle(&c, &p, true, &own, 256, &t);
  CHECK_NEAR(beats_of(&t), 0.0, 1e-9);
  CHECK_EQ(t.bar, 0);
  // stopped: the position stays
  p.rolling = false;
  p.frame = 48000;
  cantus_jackclock_cycle(&c, &p, true, &own, 256, &t);
  CHECK(!t.rolling);
  CHECK_NEAR(beats_of(&t), 4.0, 1e-9);
  // meter 3/4
  CantusJackClock c3;
  cantus_jackclock_reset(&c3);
  const CantusJackTempo waltz = { 120, 3, 4 };
  p.rolling = true;
  p.frame = 3 * 24000 + 12000; // 3.5 beats
  cantus_jackclock_cycle(&c3, &p, true, &waltz, 256, &t);
  CHECK_EQ(t.bar, 1);
  CHECK_NEAR(t.bar_beat, 0.5, 1e-9);
  CHECK_NEAR(t.beats_per_bar, 3, 0);
}

TEST(jack_clock_master_publishes_what_it_plays)
{
  // As timebase master (use_bbt false), the position published for a frame
  // equals the position the next cycle plays, across a tempo change.
  CantusJackClock c;
  cantus_jackclock_reset(&c);
  CantusJackPos p = { .rolling = true, .sample_rate = 44100 };
  CantusJackTempo own = { 90, 3, 4 };
  CantusTransport t;
  for (uint32_t k = 0; k < 600; k++) {
    if (k == 300) {
      own.bpm = 133;
    }
    p.frame = k * 128;
    int64_t bar;
    double bb;
    cantus_jackclock_position(&c, &own, p.frame, p.sample_rate, &bar, &bb);
    cantus_jackclock_cycle(&c, &p, false, &own, 128, &t);
    CHECK_EQ(bar, t.bar);
    CHECK_NEAR(bb, t.bar_beat, 1e-9);
  }
  CHECK_NEAR(t.bpm, 133, 0);
}

// ---- the model hand-over (to_rt / from_rt) ------------------------------------------------

static CantusModel *load_tiny(void)
{
  CantusModel *m = NULL;
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_engine_load_model("tests/data/tiny.cantus", &m, &err), CANTUS_OK);
  return m;
}

static void put_ptr(jack_ringbuffer_t *r, void *p)
{
  CHECK(jack_ringbuffer_write_space(r) >= sizeof p);
  jack_ringbuffer_write(r, (const char *)&p, sizeof p);
}

static void *get_ptr(jack_ringbuffer_t *r)
{
  void *p = NULL;
  if (jack_ringbuffer_read_space(r) >= sizeof p) {
    jack_ringbuffer_read(r, (char *)&p, sizeof p);
  }
  return p;
}

TEST(jack_model_handover_one_per_cycle_and_retry)
{
  static CantusJackApp a;
  memset(&a, 0, sizeof a);
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_engine_new(1.0, &a.engine, &err), CANTUS_OK);
  a.to_rt = jack_ringbuffer_create(64); // 63 bytes usable: 7 pointers
  a.from_rt = jack_ringbuffer_create(64);
  CantusModel *m0 = load_tiny(), *m1 = load_tiny(), *m2 = load_tiny();
  CHECK(cantus_engine_install_model(a.engine, m0) == NULL);
  put_ptr(a.to_rt, m1);
  put_ptr(a.to_rt, m2);
  // one per cycle: m1 installed, m0 handed back, m2 still waiting
  cantus_jack_swap_model(&a);
  CHECK(cantus_engine_model(a.engine) == m1);
  CHECK(get_ptr(a.from_rt) == m0);
  CHECK_EQ(jack_ringbuffer_read_space(a.to_rt), sizeof(void *));
  // from_rt full: m1 is kept as retired, and m2 waits (nothing lost)
  static int dummy[7];
  for (int i = 0; i < 7; i++) {
    put_ptr(a.from_rt, &dummy[i]);
  }
  CHECK(jack_ringbuffer_write_space(a.from_rt) < sizeof(void *));
  cantus_jack_swap_model(&a);
  CHECK(cantus_engine_model(a.engine) == m2);
  CHECK(a.retired == m1);
  CHECK_EQ(jack_ringbuffer_read_space(a.to_rt), 0);
  CantusModel *m3 = load_tiny();
  put_ptr(a.to_rt, m3);
  cantus_guard_arm();
  cantus_jack_swap_model(&a); // still full: retry later, m3 not taken
  CantusGuardCounts g = cantus_guard_disarm();
  CHECK_EQ(g.allocs + g.frees + g.locks, 0);
  CHECK(a.retired == m1);
  CHECK(cantus_engine_model(a.engine) == m2);
  // the main thread drains one slot: m1 goes back and m3 comes in; from_rt
  // is full again, so m2 waits as the retired one
  CHECK(get_ptr(a.from_rt) == &dummy[0]);
  cantus_jack_swap_model(&a);
  CHECK(cantus_engine_model(a.engine) == m3);
  CHECK(a.retired == m2);
  void *p;
  int got_m1 = 0, got_dummies = 0;
  while ((p = get_ptr(a.from_rt)) != NULL) {
    got_m1 += p == m1;
    got_dummies += p != m1;
  }
  CHECK_EQ(got_m1, 1);
  CHECK_EQ(got_dummies, 6);
  cantus_jack_swap_model(&a); // room again: m2 goes back
  CHECK(a.retired == NULL);
  CHECK(get_ptr(a.from_rt) == m2);
  CHECK(cantus_engine_model(a.engine) == m3);
  CHECK_EQ(atomic_load(&a.models_swapped), 3);
  cantus_model_free(cantus_engine_install_model(a.engine, NULL));
  cantus_model_free(m0);
  cantus_model_free(m1);
  cantus_model_free(m2);
  cantus_engine_free(a.engine);
  jack_ringbuffer_free(a.to_rt);
  jack_ringbuffer_free(a.from_rt);
}

// cantus-jack's own metre (jack_rt.c, cantus_jack_clock_cycle): without
// --meter it is the style's usual metre from the model, a style change
// switching at the next bar line of the old metre; --meter wins; a master
// rules while there is one.  120 bpm at 48 kHz: a beat is 24000 frames.
static void own_cycles_until(CantusJackApp *a, uint32_t *frame, double beats, CantusTransport *t)
{
  while (*frame + 256 <= (uint32_t)llround(beats * 24000.0)) {
    const CantusJackPos p = { .rolling = true, .frame = *frame, .sample_rate = 48000 };
    cantus_jack_clock_cycle(a, &p, true, 256, t);
    *frame += 256;
  }
}

TEST(jack_own_metre_follows_the_style)
{
  static CantusJackApp a;
  memset(&a, 0, sizeof a);
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_engine_new(1.0, &a.engine, &err), CANTUS_OK);
  CantusModel *m = load_tiny(); // styles alpha, beta, gamma
  CHECK_EQ(cantus_model_set_meta(m, "meter: beta=3/4,gamma=6/8\n", &err), CANTUS_OK);
  CHECK(cantus_engine_install_model(a.engine, m) == NULL);
  a.sample_rate = 48000;
  a.controls = cantus_controls_default();
  a.controls.bpm = 120;
  a.controls.style = 0; // alpha: no metre named, 4/4
  a.beats_per_bar = 3;  // as if started on another style
  a.beat_unit = 4;
  cantus_jackclock_reset(&a.clock);
  CantusTransport t;
  uint32_t frame = 0;
  cantus_guard_arm();
  own_cycles_until(&a, &frame, 6.0, &t); // the first cycle takes the style's at once
  CantusGuardCounts g = cantus_guard_disarm();
  CHECK_EQ(g.allocs + g.frees + g.locks, 0);
  CHECK(t.beats_per_bar == 4 && t.beat_unit == 4 && t.bar == 1);
  a.controls.style = 1; // beta, 3/4: from beat 8, where bar 2 starts
  own_cycles_until(&a, &frame, 7.95, &t);
  CHECK(t.beats_per_bar == 4 && t.bar == 1);
  own_cycles_until(&a, &frame, 8.1, &t);
  CHECK(t.beats_per_bar == 3 && t.beat_unit == 4 && t.bar == 2);
  CHECK_MSG(t.bar_beat < 0.1, "bar 2 starts on the old bar line (beat %g)", t.bar_beat);
  own_cycles_until(&a, &frame, 10.9, &t);
  CHECK(t.bar == 2);
  own_cycles_until(&a, &frame, 11.1, &t);
  CHECK(t.bar == 3 && t.bar_beat < 0.1);
  a.controls.style = 2; // gamma, 6/8 (eighth-note beats) at bar 4 (beat 14)
  own_cycles_until(&a, &frame, 13.9, &t);
  CHECK(t.beats_per_bar == 3 && t.bar == 3);
  own_cycles_until(&a, &frame, 14.1, &t);
  CHECK(t.beats_per_bar == 6 && t.beat_unit == 8 && t.bar == 4);
  // --meter wins: the style no longer moves it.
  a.meter_fixed = true;
  a.controls.style = 1;
  own_cycles_until(&a, &frame, 20.0, &t);
  CHECK(t.beats_per_bar == 6 && t.beat_unit == 8);
  // Following a master: its metre rules; the own one follows the style at
  // once (used when the master goes away).
  a.meter_fixed = false;
  const CantusJackPos mp = { .rolling = true,
                             .frame = frame,
                             .sample_rate = 48000,
                             .bbt = true,
                             .bar = 3,
                             .beat = 1,
                             .ticks_per_beat = 1920,
                             .beats_per_bar = 5,
                             .beat_type = 4,
                             .bpm = 100 };
  cantus_jack_clock_cycle(&a, &mp, true, 256, &t);
  CHECK(t.beats_per_bar == 5 && t.bar == 2);
  CHECK(a.beats_per_bar == 3 && a.beat_unit == 4);
  cantus_model_free(cantus_engine_install_model(a.engine, NULL));
  cantus_engine_free(a.engine);
}
