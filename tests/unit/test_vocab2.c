// SPDX-License-Identifier: GPL-3.0-or-later
// The version 2 vocabulary (dsp/vocab.c) beside version 1: the v1 layout
// unchanged, the v2 layout (NOTE(part, pitch) part-major, DUR bins, SHIFT,
// VELOCITY), every token decoding back to what encoded it, the duration
// rule and its nearest-bin rounding against a brute-force search, the
// validity rules, names and transposition.
#include "test.h"
#include "vocab.h"

#include <stdlib.h>
#include <string.h>

TEST(vocab_v1_layout_is_unchanged)
{
  const CantusVocab v = cantus_vocab_default();
  CHECK_EQ(v.n_parts, 0);
  CHECK_EQ(v.n_dur, 0);
  CHECK(!cantus_vocab_is_v2(&v));
  CHECK(cantus_vocab_valid(&v));
  // The layout of DESIGN.md: 2 + 2*88 + 48 tokens.
  CHECK_EQ(cantus_vocab_size(&v), 226);
  CHECK_EQ(cantus_vocab_on_base(&v), 2);
  CHECK_EQ(cantus_vocab_off_base(&v), 90);
  CHECK_EQ(cantus_vocab_shift_base(&v), 178);
  CHECK_EQ(cantus_vocab_vel_base(&v), 226);
  for (int t = 0; t < 226; t++) {
    int val = -7, part = -7;
    const CantusEventKind k = cantus_vocab_decode_part(&v, t, &val, &part);
    int val2 = -7;
    CHECK_EQ(cantus_vocab_decode(&v, t, &val2), k);
    CHECK_EQ(val2, val);
    if (t < 2) {
      CHECK_EQ(k, t == 0 ? CANTUS_EV_START : CANTUS_EV_END);
    } else if (t < 90) {
      CHECK_EQ(k, CANTUS_EV_NOTE_ON);
      CHECK_EQ(val, 21 + t - 2);
      CHECK_EQ(part, 0);
      CHECK_EQ(cantus_vocab_note_on(&v, val), t);
    } else if (t < 178) {
      CHECK_EQ(k, CANTUS_EV_NOTE_OFF);
      CHECK_EQ(val, 21 + t - 90);
      CHECK_EQ(cantus_vocab_note_off(&v, val), t);
    } else {
      CHECK_EQ(k, CANTUS_EV_SHIFT);
      CHECK_EQ(val, t - 177);
      CHECK_EQ(part, -1);
      CHECK_EQ(cantus_vocab_shift(&v, val), t);
    }
  }
  int val;
  CHECK_EQ(cantus_vocab_decode(&v, 226, &val), CANTUS_EV_INVALID);
  // No v2 tokens in a v1 layout.
  CHECK_EQ(cantus_vocab_note(&v, 0, 60), -1);
  CHECK_EQ(cantus_vocab_dur(&v, 0), -1);
  CHECK_EQ(cantus_vocab_dur_bin(&v, 12), -1);
  CHECK_EQ(cantus_vocab_dur_ticks(&v, 0), 0);
}

TEST(vocab_v2_layout_encodes_and_decodes_every_token)
{
  CantusVocab v = cantus_vocab_default_v2(4);
  v.n_vel = 4;
  CHECK(cantus_vocab_valid(&v));
  CHECK(cantus_vocab_is_v2(&v));
  CHECK_EQ(v.n_dur, 38);
  const int np = 88;
  CHECK_EQ(cantus_vocab_size(&v), 2 + 4 * np + 38 + 48 + 4);
  CHECK_EQ(cantus_vocab_dur_base(&v), 2 + 4 * np);
  CHECK_EQ(cantus_vocab_off_base(&v), 2 + 4 * np); // no NOTE_OFF: the note block's end
  CHECK_EQ(cantus_vocab_shift_base(&v), 2 + 4 * np + 38);
  CHECK_EQ(cantus_vocab_vel_base(&v), 2 + 4 * np + 38 + 48);
  // Part-major: part 1's lowest pitch follows part 0's highest.
  CHECK_EQ(cantus_vocab_note(&v, 0, 108) + 1, cantus_vocab_note(&v, 1, 21));
  CHECK_EQ(cantus_vocab_note(&v, 3, 108) + 1, cantus_vocab_dur(&v, 0));
  CHECK_EQ(cantus_vocab_note(&v, 4, 60), -1);
  CHECK_EQ(cantus_vocab_note(&v, -1, 60), -1);
  CHECK_EQ(cantus_vocab_note(&v, 0, 20), -1);
  CHECK_EQ(cantus_vocab_note_on(&v, 60), -1);
  CHECK_EQ(cantus_vocab_note_off(&v, 60), -1);
  CHECK_EQ(cantus_vocab_dur(&v, 38), -1);
  int counts[CANTUS_EV_INVALID + 1] = { 0 };
  for (int t = 0; t < cantus_vocab_size(&v); t++) {
    int val = -7, part = -7;
    const CantusEventKind k = cantus_vocab_decode_part(&v, t, &val, &part);
    counts[k]++;
    switch (k) {
    case CANTUS_EV_NOTE:
      CHECK_EQ(cantus_vocab_note(&v, part, val), t);
      break;
    case CANTUS_EV_DUR:
      CHECK_EQ(part, -1);
      CHECK_EQ(val, cantus_vocab_dur_ticks(&v, t - cantus_vocab_dur_base(&v)));
      CHECK_EQ(cantus_vocab_dur(&v, cantus_vocab_dur_bin(&v, val)), t);
      break;
    case CANTUS_EV_SHIFT:
      CHECK_EQ(cantus_vocab_shift(&v, val), t);
      break;
    case CANTUS_EV_VELOCITY:
      CHECK_EQ(cantus_vocab_velocity(&v, val), t);
      break;
    default:
      CHECK(t < 2);
      break;
    }
  }
  CHECK_EQ(counts[CANTUS_EV_NOTE], 4 * np);
  CHECK_EQ(counts[CANTUS_EV_DUR], 38);
  CHECK_EQ(counts[CANTUS_EV_SHIFT], 48);
  CHECK_EQ(counts[CANTUS_EV_VELOCITY], 4);
  CHECK_EQ(counts[CANTUS_EV_NOTE_ON] + counts[CANTUS_EV_NOTE_OFF], 0);
  CHECK_EQ(counts[CANTUS_EV_INVALID], 0);
}

TEST(vocab_v2_duration_bins_follow_the_rule)
{
  const CantusVocab v = cantus_vocab_default_v2(1);
  // At tpq 12: 1..24, then 36, 48, ..., 192.
  CHECK_EQ(cantus_vocab_dur_rule_len(12), 38);
  CHECK_EQ(cantus_vocab_dur_ticks(&v, 0), 1);
  CHECK_EQ(cantus_vocab_dur_ticks(&v, 23), 24);
  CHECK_EQ(cantus_vocab_dur_ticks(&v, 24), 36);
  CHECK_EQ(cantus_vocab_dur_ticks(&v, 25), 48);
  CHECK_EQ(cantus_vocab_dur_ticks(&v, 37), 192);
  CHECK_EQ(cantus_vocab_dur_ticks(&v, 38), 0);
  CHECK_EQ(cantus_vocab_dur_bin(&v, 0), 0);
  CHECK_EQ(cantus_vocab_dur_bin(&v, -5), 0);
  CHECK_EQ(cantus_vocab_dur_bin(&v, 29), 23);  // nearer 24
  CHECK_EQ(cantus_vocab_dur_bin(&v, 30), 24);  // tie 24/36: the longer
  CHECK_EQ(cantus_vocab_dur_bin(&v, 42), 25);  // tie 36/48: the longer
  CHECK_EQ(cantus_vocab_dur_bin(&v, 41), 24);  // nearer 36
  CHECK_EQ(cantus_vocab_dur_bin(&v, 500), 37); // over the last bin
  // Against a brute-force nearest bin (ties to the longer) for several
  // grids and truncated bin lists.
  const int tpqs[] = { 1, 3, 4, 12, 24 };
  for (size_t g = 0; g < sizeof tpqs / sizeof tpqs[0]; g++) {
    const int t = tpqs[g];
    const int rule = cantus_vocab_dur_rule_len(t);
    const int nds[] = { 1, 2 * t, 2 * t + 1, rule };
    for (size_t d = 0; d < sizeof nds / sizeof nds[0]; d++) {
      CantusVocab w = { .pitch_lo = 60,
                        .pitch_hi = 72,
                        .n_shift = (uint16_t)t,
                        .n_vel = 0,
                        .tpq = (uint16_t)t,
                        .n_parts = 2,
                        .n_dur = (uint16_t)nds[d] };
      CHECK(cantus_vocab_valid(&w));
      int prev = 0;
      for (int j = 0; j < w.n_dur; j++) {
        CHECK(cantus_vocab_dur_ticks(&w, j) > prev);
        prev = cantus_vocab_dur_ticks(&w, j);
      }
      CHECK_EQ(prev, nds[d] == rule ? 16 * t : prev);
      for (int len = 0; len <= 20 * t; len++) {
        int best = 0;
        for (int j = 1; j < w.n_dur; j++) {
          const int a = abs(cantus_vocab_dur_ticks(&w, j) - len);
          const int b = abs(cantus_vocab_dur_ticks(&w, best) - len);
          if (a <= b) {
            best = j;
          }
        }
        CHECK_MSG(cantus_vocab_dur_bin(&w, len) == best,
                  "tpq %d n_dur %d len %d: got %d want %d",
                  t,
                  nds[d],
                  len,
                  cantus_vocab_dur_bin(&w, len),
                  best);
      }
    }
  }
}

TEST(vocab_v2_validity_names_and_transposition)
{
  CantusVocab v = cantus_vocab_default_v2(2);
  CHECK(cantus_vocab_valid(&v));
  v.n_parts = 0; // a duration layout needs parts
  CHECK(!cantus_vocab_valid(&v));
  v.n_parts = CANTUS_MAX_PARTS + 1;
  CHECK(!cantus_vocab_valid(&v));
  v.n_parts = CANTUS_MAX_PARTS;
  CHECK(cantus_vocab_valid(&v));
  v.n_dur = 39; // over the rule at tpq 12
  CHECK(!cantus_vocab_valid(&v));
  CantusVocab w = cantus_vocab_default();
  w.n_parts = 1; // parts without the duration layout
  CHECK(!cantus_vocab_valid(&w));
  // 4 parts of 128 pitches at tpq 96 exceed CANTUS_MAX_VOCAB.
  CantusVocab big = {
    .pitch_lo = 0, .pitch_hi = 127, .n_shift = 48, .n_vel = 0, .tpq = 12, .n_parts = 4, .n_dur = 38
  };
  CHECK_EQ(cantus_vocab_size(&big), 2 + 512 + 38 + 48);
  CHECK(cantus_vocab_valid(&big));
  big.tpq = 96;
  big.n_dur = (uint16_t)cantus_vocab_dur_rule_len(96);
  big.pitch_hi = 127;
  big.n_shift = 384;
  CHECK(!cantus_vocab_valid(&big));

  const CantusVocab x = cantus_vocab_default_v2(2);
  char buf[16];
  cantus_vocab_name(&x, cantus_vocab_note(&x, 1, 60), buf, sizeof buf);
  CHECK(strcmp(buf, "N1:60") == 0);
  cantus_vocab_name(&x, cantus_vocab_dur(&x, 24), buf, sizeof buf);
  CHECK(strcmp(buf, "D36") == 0);
  cantus_vocab_name(&x, cantus_vocab_shift(&x, 5), buf, sizeof buf);
  CHECK(strcmp(buf, "SHIFT5") == 0);

  CHECK_EQ(cantus_vocab_transpose(&x, cantus_vocab_note(&x, 1, 60), 2),
           cantus_vocab_note(&x, 1, 62));
  CHECK_EQ(cantus_vocab_transpose(&x, cantus_vocab_note(&x, 0, 107), 2), -1);
  CHECK_EQ(cantus_vocab_transpose(&x, cantus_vocab_dur(&x, 3), 2), cantus_vocab_dur(&x, 3));
  CHECK_EQ(cantus_vocab_transpose(&x, cantus_vocab_shift(&x, 3), -5), cantus_vocab_shift(&x, 3));
  const CantusVocab d = cantus_vocab_default();
  CHECK_EQ(cantus_vocab_transpose(&d, cantus_vocab_note_off(&d, 60), -3),
           cantus_vocab_note_off(&d, 57));
  CHECK_EQ(cantus_vocab_transpose(&d, cantus_vocab_note_on(&d, 60), 3),
           cantus_vocab_note_on(&d, 63));
}
