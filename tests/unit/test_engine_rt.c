// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's real-time contract: 10,000 worst-case blocks with the
// allocation and lock guard armed around every [RT] call (process, install,
// set_theme, panic, flush): the largest step budget in use, listen mode with
// MIDI input, controls changing every block, relocations, loop wraps, stops,
// tempo changes, hold, a model swap.  Zero allocations, zero locks, and no
// block over the step cap.
#include "alloc_guard.h"
#include "engine_harness.h"

TEST(engine_rt_no_allocation_no_locks_step_cap)
{
  Harness h;
  h_init(&h, 4.0, 48000); // a deep lookahead keeps the generator busy
  CantusModel *spare = h_tiny_model();
  CantusTheme *theme = calloc(1, sizeof *theme);
  theme->vocab = cantus_engine_model(h.e)->dims.vocab;
  for (int i = 0; i < 64; i++) {
    theme->tokens[theme->n_tokens++] = (uint16_t)cantus_vocab_note_on(&theme->vocab, 60 + i % 12);
    theme->tokens[theme->n_tokens++] = (uint16_t)cantus_vocab_shift(&theme->vocab, 3);
    theme->tokens[theme->n_tokens++] = (uint16_t)cantus_vocab_note_off(&theme->vocab, 60 + i % 12);
  }
  CantusControls c = cantus_controls_default();
  c.density = 1.0f;
  c.temperature = 1.5f;
  c.listen = true;
  c.max_voices = 16;
  const uint32_t n = 4096; // budget: the full CANTUS_MAX_STEPS_PER_RUN
  CHECK_EQ(cantus_engine_step_budget(n, 48000.0), CANTUS_MAX_STEPS_PER_RUN);
  double tick = 0, bpm = 140;
  long allocs = 0, frees = 0, locks = 0;
  uint64_t x = 99;
  for (int b = 0; b < 10000; b++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c.transpose = (int)(x % 7) - 3;
    c.temperature = 0.5f + (float)(x % 10) / 10.0f;
    c.style = (int)(x >> 8) % 3;
    c.blend = (float)((x >> 12) % 5) / 4.0f;
    c.gate = 0.5f + (float)((x >> 16) % 3) / 2.0f;
    c.swing = (float)((x >> 20) % 3) / 4.0f;
    c.regenerate = b % 20 == 0;
    c.hold = (b / 300) % 3 == 1;
    c.call_response = (b / 700) % 4 == 2;
    c.seed = 1 + (uint32_t)(b / 500);
    c.panic = b % 333 == 0;
    if (b % 37 == 0) {
      tick = (double)((x >> 24) % 2000); // seek
    } else if (b % 41 == 0 && tick > 200) {
      tick -= 192; // loop wrap
    }
    if (b % 97 == 0) {
      bpm = 60 + (double)((x >> 30) % 200);
    }
    const bool rolling = b % 150 < 140;
    CantusMidiEvent in[CANTUS_MAX_EVENTS];
    uint32_t n_in = 0;
    for (uint32_t k = 0; k < 64; k++) {
      in[n_in++] = (CantusMidiEvent){
        .frame = k * 32,
        .size = 3,
        .data = { (uint8_t)(k % 2 ? 0x80 : 0x90), (uint8_t)(48 + (x >> k % 40) % 36), 100 }
      };
    }
    CantusBlockIn bin = { .n_frames = n,
                          .sample_rate = 48000,
                          .controls = c,
                          .midi_in = in,
                          .n_midi_in = (b % 4 == 0) ? n_in : 0 };
    bin.transport = (CantusTransport){ .valid = true,
                                       .rolling = rolling,
                                       .bpm = bpm,
                                       .bar = (int64_t)(tick / 48),
                                       .bar_beat = fmod(tick, 48) / 12,
                                       .beats_per_bar = 4,
                                       .beat_unit = 4 };
    cantus_guard_arm();
    if (b == 5000) {
      spare = cantus_engine_install_model(h.e, spare); // swap in the spare, keep the old
    }
    if (b % 1000 == 10) {
      cantus_engine_set_theme(h.e, b % 2000 == 10 ? theme : NULL);
    }
    if (b % 777 == 0) {
      cantus_engine_panic(h.e);
    }
    cantus_engine_process(h.e, &bin, &h.out);
    if (b == 9999) {
      cantus_engine_flush(h.e, &h.out);
    }
    const CantusGuardCounts g = cantus_guard_disarm();
    allocs += g.allocs;
    frees += g.frees;
    locks += g.locks;
    if (rolling) {
      tick += n * h_tpf(bpm, 12, 4, 48000);
    }
  }
  CHECK_EQ(allocs, 0);
  CHECK_EQ(frees, 0);
  CHECK_EQ(locks, 0);
  CantusStats st;
  cantus_engine_get_stats(h.e, &st);
  CHECK(st.max_block_steps <= CANTUS_MAX_STEPS_PER_RUN);
  CHECK(st.max_block_steps == CANTUS_MAX_STEPS_PER_RUN); // the budget was really used
  CHECK(st.steps > 50000);
  CHECK(st.relocations > 100);
  if (cantus_test_verbose) {
    printf("  steps %llu, max per block %u, starved %llu, late %llu, dropped %llu\n",
           (unsigned long long)st.steps,
           st.max_block_steps,
           (unsigned long long)st.steps_starved,
           (unsigned long long)st.late_events,
           (unsigned long long)st.events_dropped);
  }
  cantus_model_free(spare);
  free(theme);
  h_free(&h);
}
