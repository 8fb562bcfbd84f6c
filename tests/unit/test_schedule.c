// SPDX-License-Identifier: GPL-3.0-or-later
// dsp/schedule: the tick <-> frame clock (mid-block, across blocks, tempo
// change), the sorted queue (time order, offs before ons, stable order,
// rollback drops, re-strike clipping, capacity), the note tracker and the
// host output gate.
#include "schedule.h"
#include "test.h"

TEST(schedule_clock_maps_ticks_and_frames)
{
  CantusSchedClock c;
  // 120 bpm, 12 ticks a beat, 48 kHz: 24 ticks a second, 2000 frames a tick
  const double tpf = cantus_schedule_ticks_per_frame(120, 12, 48000);
  CHECK_NEAR(tpf, 1.0 / 2000, 1e-15);
  cantus_schedule_clock_set(&c, 0, 0, tpf);
  CHECK_EQ(cantus_schedule_clock_frame(&c, 0), 0);
  CHECK_EQ(cantus_schedule_clock_frame(&c, 1), 2000);
  CHECK_EQ(cantus_schedule_clock_frame(&c, 1.00001), 2001); // first frame at or after
  CHECK_NEAR(cantus_schedule_clock_tick(&c, 3000), 1.5, 1e-12);
  // grid ticks land exactly on frames at awkward rates too
  const double rates[] = { 44100, 96000, 22050 };
  for (int r = 0; r < 3; r++) {
    const double t2 = cantus_schedule_ticks_per_frame(137, 12, rates[r]);
    cantus_schedule_clock_set(&c, 480, 123456, t2);
    for (int k = 0; k < 1000; k++) {
      const int64_t f = cantus_schedule_clock_frame(&c, 480 + k);
      CHECK(cantus_schedule_clock_tick(&c, f) >= 480 + k - 1e-6);
      CHECK(cantus_schedule_clock_tick(&c, f - 1) < 480 + k);
    }
  }
  // a tempo change re-anchors at the current position: no jump
  cantus_schedule_clock_set(&c, 0, 0, tpf);
  const double at = cantus_schedule_clock_tick(&c, 5000);
  cantus_schedule_clock_set(&c, at, 5000, tpf * 2);
  CHECK_NEAR(cantus_schedule_clock_tick(&c, 5000), 2.5, 1e-12);
  CHECK_EQ(cantus_schedule_clock_frame(&c, 3.5), 6000);
}

static CantusSchedEvent ev(double time, int kind, int key, int64_t src)
{
  return (
    CantusSchedEvent){ .time = time, .src_tick = src, .kind = (uint8_t)kind, .key = (uint8_t)key };
}

TEST(schedule_queue_keeps_time_order)
{
  static CantusSchedQueue q;
  cantus_schedule_queue_clear(&q);
  CHECK(cantus_schedule_queue_push(
    &q, &(CantusSchedEvent){ .time = 5, .kind = CANTUS_SCHED_ON, .key = 1 }));
  const CantusSchedEvent in[] = { ev(3, CANTUS_SCHED_ON, 2, 3),
                                  ev(5, CANTUS_SCHED_OFF, 3, 5),
                                  ev(5, CANTUS_SCHED_ON, 4, 5),
                                  ev(1, CANTUS_SCHED_OFF, 5, 1),
                                  ev(5, CANTUS_SCHED_OFF, 6, 5) };
  for (int i = 0; i < 5; i++) {
    CHECK(cantus_schedule_queue_push(&q, &in[i]));
  }
  // 1 off(5), 3 on(2), 5: offs (3, 6 in insertion order), then ons (1, 4)
  const int want[] = { 5, 2, 3, 6, 1, 4 };
  CHECK_EQ(q.n, 6);
  for (int i = 0; i < 6; i++) {
    CHECK_EQ(cantus_schedule_queue_at(&q, 0)->key, want[i]);
    cantus_schedule_queue_pop(&q);
  }
  CHECK_EQ(q.n, 0);
  cantus_schedule_queue_pop(&q); // empty: no-op
  CHECK_EQ(q.n, 0);
}

TEST(schedule_queue_wraps_drops_and_clips)
{
  static CantusSchedQueue q;
  cantus_schedule_queue_clear(&q);
  // push/pop through the ring several times
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < 700; i++) {
      const CantusSchedEvent e = ev(round * 1000 + i, i % 2, i % 100, round * 1000 + i);
      CHECK(cantus_schedule_queue_push(&q, &e));
    }
    for (int i = 0; i < 700; i++) {
      CHECK_EQ((long)cantus_schedule_queue_at(&q, 0)->time, round * 1000 + i);
      cantus_schedule_queue_pop(&q);
    }
  }
  // full: refused, nothing changes
  for (int i = 0; i < CANTUS_SCHED_CAP; i++) {
    const CantusSchedEvent e = ev(i, 1, 1, i);
    CHECK(cantus_schedule_queue_push(&q, &e));
  }
  const CantusSchedEvent extra = ev(-1, 0, 9, 0);
  CHECK(!cantus_schedule_queue_push(&q, &extra));
  CHECK_EQ(q.n, CANTUS_SCHED_CAP);
  CHECK_EQ((long)cantus_schedule_queue_at(&q, 0)->time, 0);
  // rollback drop: src >= 500 goes, unless KEEP
  cantus_schedule_queue_at(&q, 700)->flags = CANTUS_SCHED_KEEP;
  CHECK_EQ(cantus_schedule_queue_drop_from(&q, 500, CANTUS_SCHED_OFF), 0); // all are ons
  CHECK_EQ(cantus_schedule_queue_drop_from(&q, 500, -1), CANTUS_SCHED_CAP - 501);
  CHECK_EQ(q.n, 501);
  CHECK_EQ((long)cantus_schedule_queue_at(&q, 500)->time, 700);
  // remove one in the middle
  cantus_schedule_queue_remove(&q, 10);
  CHECK_EQ(q.n, 500);
  CHECK_EQ((long)cantus_schedule_queue_at(&q, 10)->time, 11);
  // re-strike clip: the offs of key 7 later than 20.5 move to 20.5, in order
  cantus_schedule_queue_clear(&q);
  const CantusSchedEvent clip[] = { ev(10, 0, 7, 0), ev(20, 1, 8, 0), ev(25, 0, 7, 0),
                                    ev(30, 1, 7, 0), ev(40, 0, 7, 0), ev(21, 0, 9, 0) };
  for (int i = 0; i < 6; i++) {
    cantus_schedule_queue_push(&q, &clip[i]);
  }
  cantus_schedule_queue_clip_off(&q, 7, 20.5);
  const double want[] = { 10, 20, 20.5, 20.5, 21, 30 };
  const int kinds[] = { 0, 1, 0, 0, 0, 1 };
  CHECK_EQ(q.n, 6);
  for (uint32_t i = 0; i < q.n && i < 6; i++) {
    CHECK_NEAR(cantus_schedule_queue_at(&q, i)->time, want[i], 0);
    CHECK_EQ(cantus_schedule_queue_at(&q, i)->kind, kinds[i]);
  }
}

TEST(schedule_tracker_finds_and_limits_voices)
{
  CantusNoteTracker t;
  cantus_schedule_tracker_clear(&t);
  for (int i = 0; i < CANTUS_MAX_VOICES; i++) {
    const CantusSchedVoice v = {
      .key = (uint8_t)(40 + i), .channel = (uint8_t)(i % 2), .pitch = (uint8_t)(60 + i), .onset = i
    };
    CHECK(cantus_schedule_tracker_add(&t, &v));
  }
  const CantusSchedVoice more = { .key = 1, .channel = 0, .pitch = 1 };
  CHECK(!cantus_schedule_tracker_add(&t, &more));
  CHECK_EQ(cantus_schedule_tracker_find_key(&t, 45), 5);
  CHECK_EQ(cantus_schedule_tracker_find_out(&t, 1, 65), 5);
  CHECK_EQ(cantus_schedule_tracker_find_out(&t, 0, 65), -1);
  cantus_schedule_tracker_remove(&t, 5);
  CHECK_EQ(t.n, CANTUS_MAX_VOICES - 1);
  CHECK_EQ(cantus_schedule_tracker_find_key(&t, 45), -1);
  CHECK_EQ(cantus_schedule_tracker_find_key(&t, 46), 5);
  cantus_schedule_tracker_remove(&t, 99); // out of range: no-op
  CHECK_EQ(t.n, CANTUS_MAX_VOICES - 1);
}

static bool gate(CantusSchedGate *g, uint8_t status, uint8_t pitch, uint8_t vel, uint32_t room)
{
  const uint8_t msg[3] = { status, pitch, vel };
  return cantus_schedule_gate_pass(g, msg, 3, room);
}

TEST(schedule_gate_keeps_room_for_every_note_off)
{
  CantusSchedGate g;
  cantus_schedule_gate_clear(&g);
  // A buffer of 4 events: a note-on needs room for itself and every owed off.
  CHECK(gate(&g, 0x90, 60, 100, 4));  // 1 owed
  CHECK(gate(&g, 0x90, 62, 100, 3));  // 2 owed, room 2 left
  CHECK(!gate(&g, 0x91, 64, 100, 2)); // would leave 1 slot for 3 offs: held back
  CHECK_EQ(g.held_back, 1);
  CHECK(gate(&g, 0x80, 60, 0, 2)); // an owed off always fits
  CHECK(gate(&g, 0x90, 62, 0, 1)); // (note-on with velocity 0 is an off)
  CHECK_EQ(g.n_sent, 0);
  // The held-back note's off is held back too (no stray off), not counted.
  CHECK(!gate(&g, 0x81, 64, 0, 100));
  CHECK_EQ(g.held_back, 1);
  // ... and the next note-on of that pitch is a fresh note.
  CHECK(gate(&g, 0x91, 64, 90, 2));
  CHECK_EQ(g.n_sent, 1);
  // A re-strike of a sounding note, or another message, takes only free room.
  CHECK(!gate(&g, 0x91, 64, 90, 1));
  CHECK_EQ(g.n_sent, 1);
  CHECK(!gate(&g, 0xB0, 7, 100, 1));
  CHECK(gate(&g, 0xB0, 7, 100, 2));
  CHECK(gate(&g, 0x81, 64, 0, 1)); // the one off ends it
  CHECK_EQ(g.n_sent, 0);
  CHECK(gate(&g, 0x80, 30, 0, 1)); // a stray off with free room
  CHECK(!gate(&g, 0x90, 30, 9, 0)); // nothing fits
  CHECK_EQ(g.held_back, 4);
}
